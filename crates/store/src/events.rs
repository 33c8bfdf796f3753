//! After-commit consumers of record events, and a scheduler of jobs to run at a time: the
//! durable base the CRM's modules act through (reminders, e-mails, points, service-level clocks,
//! workflows). The runtime that drives them is `crate::runner`.
//!
//! **The stream.** A record change's event is its audit entry, written in the change's
//! transaction and pending while `published_at` is empty. [`Db::sequence_events`] gives pending
//! entries their place (`seq`) in the order it finds them committed, one sequencer at a time
//! (SQLite's write lock; PostgreSQL an advisory lock held to commit), so a consumer that reads by
//! `seq` misses none, however late a transaction committed.
//!
//! **Invariants:** a consumer keeps its position and advances it only after handling an event
//! (delivery is at least once: a handler that must not act twice checks what it did); one
//! instance runs a consumer at a time (a lease, renewed while it works, taken over when it
//! lapses); a failing event is retried with backoff, then parked where an admin sees it, and the
//! consumer goes on. A job is claimed under a lease (a crashed instance's jobs are claimed again
//! when it lapses), retried with backoff, parked after its attempts; a job's key makes
//! scheduling it twice a no-op.

use crate::sql::{new_id, now};
use crate::{Db, Dialect, Error, Result, WriteTx};
use peyvand_records::value::format_datetime;
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

/// A lock key for PostgreSQL: one sequencer at a time.
const PG_SEQUENCER_LOCK: i64 = 7_277_016;
/// Attempts before an event or a job is parked.
pub const MAX_ATTEMPTS: i64 = 6;

/// A record change, as consumers read it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub seq: i64,
    /// The audit entry's id.
    pub id: String,
    /// The object's API name at the time.
    pub object: String,
    pub record_id: String,
    /// `create`, `update`, `delete`, `restore`.
    pub action: String,
    pub actor: Option<String>,
    pub at: String,
    pub changes: Json,
}

/// An event a consumer could not handle, parked after its attempts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parked {
    pub consumer: String,
    pub seq: i64,
    pub attempts: i64,
    pub error: String,
}

/// A job to run at a time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub key: Option<String>,
    pub run_at: String,
    pub payload: Json,
    /// `pending`, `running` (claimed), `done`, `parked`.
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
}

/// The wait before attempt `n + 1`: 2 s, 8 s, 32 s, … at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let secs = 2i64.saturating_mul(4i64.saturating_pow(attempts.clamp(1, 10) as u32 - 1));
    Duration::seconds(secs.min(3600))
}

fn at(offset: Duration) -> String {
    format_datetime(OffsetDateTime::now_utc() + offset)
}

fn job_from_row(row: &sqlx::any::AnyRow) -> Result<Job> {
    let payload: String = row.try_get("payload_json")?;
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        key: row.try_get("job_key")?,
        run_at: row.try_get("run_at")?,
        payload: serde_json::from_str(&payload).unwrap_or(Json::Null),
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        error: row.try_get("error")?,
    })
}

/// An event's columns, as `event_from_row` reads them (`a.` for the audit log's alias).
const EVENT_COLUMNS: &str = "a.seq, a.id, a.object, a.record_id, a.action, a.actor, a.at, a.changes_json";

fn event_from_row(row: &sqlx::any::AnyRow) -> Result<Event> {
    let changes: String = row.try_get(7)?;
    Ok(Event {
        seq: row.try_get(0)?,
        id: row.try_get(1)?,
        object: row.try_get(2)?,
        record_id: row.try_get(3)?,
        action: row.try_get(4)?,
        actor: row.try_get(5)?,
        at: row.try_get(6)?,
        changes: serde_json::from_str(&changes).unwrap_or(Json::Null),
    })
}

/// The last place given in the stream, read from the end of its index. Written as the one
/// row at that end, not `MAX(seq)`: PostgreSQL plans `MAX` from its statistics, and with none
/// taken since the places were given (a generated data set, a server whose autovacuum is off)
/// it counted the whole index instead, 0.8 s for 1.4 million entries, in every round of every
/// instance's runner (four a second when idle): a core of the database's kept busy.
async fn last_placed(conn: &mut sqlx::AnyConnection) -> Result<Option<i64>> {
    Ok(sqlx::query("SELECT seq FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
}

const JOB_COLUMNS: &str = "id, kind, job_key, run_at, payload_json, status, attempts, error";

impl Db {
    /// Gives up to `max` pending audit entries their place in the stream, in the order of their
    /// ids, after every entry placed before; returns how many it placed.
    pub async fn sequence_events(&self, max: i64) -> Result<usize> {
        let mut tx = self.write().await?;
        if self.dialect() == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_SEQUENCER_LOCK).execute(&mut *tx.tx).await?;
        }
        let last = last_placed(&mut tx.tx).await?;
        // One statement for the batch (a backlog of a million entries is placed in seconds).
        let placed = sqlx::query(
            "UPDATE audit_log SET seq = p.n, published_at = $2 FROM (SELECT id, $1 + ROW_NUMBER() OVER (ORDER BY id) AS n \
             FROM (SELECT id FROM audit_log WHERE published_at IS NULL ORDER BY id LIMIT $3) AS w) AS p \
             WHERE audit_log.id = p.id",
        )
        .bind(last.unwrap_or(0))
        .bind(now())
        .bind(max)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(placed as usize)
    }

    /// Moves the consumers that had handled everything up to `from` (the stream's end before a
    /// bulk load, [`Db::placed_end`]) past the events written since, as if they had handled
    /// them; one still behind keeps its place. For a generated data set (`peyvand generate`):
    /// its records are made to show and to measure, not to set off webhooks, workflows or
    /// notifications, nor to be replayed by a server started on it.
    pub async fn pass_consumers_over_written(&self, from: i64) -> Result<()> {
        let end = self.placed_end().await?;
        let mut tx = self.write().await?;
        sqlx::query("UPDATE event_consumers SET position = $1, updated_at = $2 WHERE position >= $3 AND position < $1")
            .bind(end)
            .bind(now())
            .bind(from)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }

    /// The stream's end after every entry written so far has its place.
    pub async fn placed_end(&self) -> Result<i64> {
        while self.sequence_events(20_000).await? > 0 {}
        self.stream_end().await
    }

    /// The stream's end: the last place given.
    pub async fn stream_end(&self) -> Result<i64> {
        let mut conn = self.pool().acquire().await?;
        Ok(last_placed(&mut conn).await?.unwrap_or(0))
    }

    /// Makes a consumer known, starting at the stream's end (what happened before it existed is
    /// not its business) or, with `from_start`, at its beginning. A known consumer keeps its place.
    pub async fn register_consumer(&self, name: &str, from_start: bool) -> Result<()> {
        let known = sqlx::query("SELECT 1 FROM event_consumers WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(self.pool())
            .await?
            .is_some();
        if known {
            return Ok(());
        }
        // The stream's end is after every entry written so far: entries still waiting for their
        // place are placed first (while no consumer exists, none are).
        let position = if from_start { 0 } else { self.placed_end().await? };
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO event_consumers (name, position, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(position)
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    /// Takes (or renews) the consumer's lease for `owner`; false while another holds it.
    pub async fn claim_consumer(&self, name: &str, owner: &str, lease: Duration) -> Result<bool> {
        let mut tx = self.write().await?;
        let claimed = sqlx::query(
            "UPDATE event_consumers SET lease_owner = $1, lease_until = $2 \
             WHERE name = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)",
        )
        .bind(owner.to_string())
        .bind(at(lease))
        .bind(name.to_string())
        .bind(now())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(claimed == 1)
    }

    /// Gives the lease up (an instance stopping), so another takes over at once.
    pub async fn release_consumer(&self, name: &str, owner: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE event_consumers SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND lease_owner = $2",
        )
        .bind(name.to_string())
        .bind(owner.to_string())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    /// A consumer's position: the last event it is done with.
    pub async fn consumer_position(&self, name: &str) -> Result<i64> {
        let row = sqlx::query("SELECT position FROM event_consumers WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("consumer {name}")))?;
        Ok(row.try_get(0)?)
    }

    /// The events after the consumer's position, oldest first, at most `limit`; an event waiting
    /// for its retry stops the batch there (events are handled in order).
    pub async fn next_events(&self, name: &str, limit: i64) -> Result<Vec<Event>> {
        let position = self.consumer_position(name).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM audit_log a WHERE a.seq > $1 ORDER BY a.seq LIMIT $2"
        )))
        .bind(position)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let waiting = sqlx::query(
            "SELECT seq, next_at FROM event_failures WHERE consumer = $1 AND parked = 0 ORDER BY seq LIMIT 1",
        )
        .bind(name.to_string())
        .fetch_optional(self.pool())
        .await?;
        let hold = match waiting {
            Some(w) if w.try_get::<String, _>(1)? > now() => Some(w.try_get::<i64, _>(0)?),
            _ => None,
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get(0)?;
            if hold.is_some_and(|h| seq >= h) {
                break;
            }
            out.push(event_from_row(row)?);
        }
        Ok(out)
    }

    /// The consumer is done with every event up to `seq` (only its lease holder moves it).
    pub async fn advance_consumer(&self, name: &str, owner: &str, seq: i64) -> Result<()> {
        let mut tx = self.write().await?;
        let held = sqlx::query(
            "UPDATE event_consumers SET position = CASE WHEN position < $1 THEN $1 ELSE position END, updated_at = $2 \
             WHERE name = $3 AND lease_owner = $4",
        )
        .bind(seq)
        .bind(now())
        .bind(name.to_string())
        .bind(owner.to_string())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM event_failures WHERE consumer = $1 AND seq <= $2 AND parked = 0")
            .bind(name.to_string())
            .bind(seq)
            .execute(&mut *tx.tx)
            .await?;
        if held == 0 {
            // Another instance holds the consumer now: this one stops, and changes nothing.
            return Err(Error::conflict("consumer_lease_lost"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A failed attempt at event `seq`: it waits for its retry, or, after [`MAX_ATTEMPTS`], is
    /// parked and the consumer goes past it. Returns whether it was parked.
    pub async fn event_failed(&self, name: &str, owner: &str, seq: i64, error: &str) -> Result<bool> {
        let mut tx = self.write().await?;
        let attempts: i64 = sqlx::query("SELECT attempts FROM event_failures WHERE consumer = $1 AND seq = $2")
            .bind(name.to_string())
            .bind(seq)
            .fetch_optional(&mut *tx.tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0)
            + 1;
        let parked = attempts >= MAX_ATTEMPTS;
        let error: String = error.chars().take(2000).collect();
        sqlx::query(
            "INSERT INTO event_failures (consumer, seq, attempts, next_at, parked, error) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (consumer, seq) DO UPDATE SET attempts = excluded.attempts, next_at = excluded.next_at, \
             parked = excluded.parked, error = excluded.error",
        )
        .bind(name.to_string())
        .bind(seq)
        .bind(attempts)
        .bind(at(backoff(attempts)))
        .bind(i64::from(parked))
        .bind(error)
        .execute(&mut *tx.tx)
        .await?;
        if parked {
            sqlx::query(
                "UPDATE event_consumers SET position = $1, updated_at = $2 WHERE name = $3 AND lease_owner = $4 AND position < $1",
            )
            .bind(seq)
            .bind(now())
            .bind(name.to_string())
            .bind(owner.to_string())
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await?;
        Ok(parked)
    }

    /// Events parked after their attempts, for every consumer.
    pub async fn parked_events(&self) -> Result<Vec<Parked>> {
        let rows = sqlx::query(
            "SELECT consumer, seq, attempts, error FROM event_failures WHERE parked = 1 ORDER BY consumer, seq",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Parked {
                    consumer: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    attempts: r.try_get(2)?,
                    error: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The one parked event a consumer should try again now, if an admin asked for one
    /// ([`Db::retry_parked`]).
    pub async fn retried_event(&self, name: &str) -> Result<Option<Event>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM event_failures f JOIN audit_log a ON a.seq = f.seq \
             WHERE f.consumer = $1 AND f.parked = 2 ORDER BY f.seq LIMIT 1"
        )))
        .bind(name.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// Asks for a parked event to be delivered again (`peyvand jobs retry event:CONSUMER:SEQ`).
    pub async fn retry_parked(&self, name: &str, seq: i64) -> Result<()> {
        let mut tx = self.write().await?;
        let found = sqlx::query("UPDATE event_failures SET parked = 2 WHERE consumer = $1 AND seq = $2 AND parked = 1")
            .bind(name.to_string())
            .bind(seq)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if found == 0 {
            return Err(Error::NotFound(format!("parked event {seq} of {name}")));
        }
        Ok(())
    }

    /// A retried parked event was handled (gone) or failed again (parked again).
    pub async fn retried_outcome(&self, name: &str, seq: i64, error: Option<&str>) -> Result<()> {
        let mut tx = self.write().await?;
        match error {
            None => {
                sqlx::query("DELETE FROM event_failures WHERE consumer = $1 AND seq = $2")
                    .bind(name.to_string())
                    .bind(seq)
                    .execute(&mut *tx.tx)
                    .await?;
            }
            Some(error) => {
                sqlx::query(
                    "UPDATE event_failures SET parked = 1, attempts = attempts + 1, error = $3 WHERE consumer = $1 AND seq = $2",
                )
                .bind(name.to_string())
                .bind(seq)
                .bind(error.chars().take(2000).collect::<String>())
                .execute(&mut *tx.tx)
                .await?;
            }
        }
        tx.commit().await
    }

    /// Schedules a job of `kind` at `run_at` (an RFC 3339 time). With a key, a job of the same
    /// kind and key not yet done is left as it is (its id is returned); once done, the key may be
    /// scheduled again.
    pub async fn schedule_job(&self, kind: &str, key: Option<&str>, run_at: &str, payload: &Json) -> Result<String> {
        let mut tx = self.write().await?;
        let id = self.schedule_job_in(&mut tx, kind, key, run_at, payload).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Forgets the jobs of `kind` not yet claimed with one of `keys` (a task's reminders when its
    /// time changes), inside a write of the caller's; returns how many. Each is found by the
    /// key's unique index (a prefix match would read every waiting job: with 100,000 waiting,
    /// each task's write took milliseconds more).
    pub async fn cancel_jobs_in(&self, tx: &mut WriteTx, kind: &str, keys: &[String]) -> Result<u64> {
        let mut gone = 0;
        for key in keys {
            // The index's own condition, spelled as it is, so that both databases use it.
            gone += sqlx::query(
                "DELETE FROM scheduled_jobs WHERE kind = $1 AND job_key = $2 AND job_key IS NOT NULL \
                 AND status <> 'done' AND status = 'pending'",
            )
            .bind(kind.to_string())
            .bind(key.clone())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        }
        Ok(gone)
    }

    /// [`Db::schedule_job`] inside a write of the caller's (a module's hook schedules with the
    /// change that asks for it, or not at all).
    pub async fn schedule_job_in(
        &self,
        tx: &mut WriteTx,
        kind: &str,
        key: Option<&str>,
        run_at: &str,
        payload: &Json,
    ) -> Result<String> {
        tx.schedule_job(kind, key, run_at, payload).await
    }

    /// Claims up to `limit` jobs of the given kinds due now (or whose claim lapsed: that counts
    /// as an attempt, so a job that stops its instance every time is parked in the end) for
    /// `owner`, for `lease`.
    pub async fn claim_due_jobs(&self, owner: &str, lease: Duration, limit: i64, kinds: &[&str]) -> Result<Vec<Job>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        let skip = if self.dialect() == Dialect::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
        // Due jobs and lapsed claims each from their own partial index: one condition with `OR`
        // read every job ever scheduled (590,000 beside a campaign's sends: a claim took long
        // enough, holding the writer, to hold 10,000 deadlines back by a minute and a half).
        let (mut rows, instant) = (Vec::new(), now());
        for (status, by) in [("pending", "run_at <="), ("running", "lease_until <")] {
            let order = by.split(' ').next().unwrap_or("run_at");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, status, attempts, run_at FROM scheduled_jobs WHERE status = '{status}' AND {by} $1 \
                 AND kind IN ({}) ORDER BY {order} LIMIT $2{skip}",
                marks.join(", ")
            )))
            .bind(instant.clone())
            .bind(limit);
            for kind in kinds {
                query = query.bind(kind.to_string());
            }
            for row in query.fetch_all(&mut *tx.tx).await? {
                let run_at: String = row.try_get(3)?;
                rows.push((run_at, row.try_get::<String, _>(0)?, status == "running", row.try_get::<i64, _>(2)?));
            }
        }
        rows.sort();
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let mut jobs = Vec::with_capacity(rows.len());
        for (_, id, lapsed, attempts) in rows {
            let attempts = attempts + i64::from(lapsed);
            if attempts >= MAX_ATTEMPTS {
                sqlx::query(
                    "UPDATE scheduled_jobs SET status = 'parked', attempts = $1, lease_owner = NULL, lease_until = NULL, \
                     error = 'its instance stopped while running it' WHERE id = $2",
                )
                .bind(attempts)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
                continue;
            }
            sqlx::query(
                "UPDATE scheduled_jobs SET status = 'running', attempts = $1, lease_owner = $2, lease_until = $3 WHERE id = $4",
            )
            .bind(attempts)
            .bind(owner.to_string())
            .bind(at(lease))
            .bind(id.clone())
            .execute(&mut *tx.tx)
            .await?;
            let row =
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM scheduled_jobs WHERE id = $1")))
                    .bind(id)
                    .fetch_one(&mut *tx.tx)
                    .await?;
            jobs.push(job_from_row(&row)?);
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// A claimed job's outcome: done, or failed (due again after its backoff, parked after
    /// [`MAX_ATTEMPTS`]). Only the claim's owner settles it; false if its claim lapsed and
    /// another took it.
    pub async fn finish_job(&self, id: &str, owner: &str, error: Option<&str>) -> Result<bool> {
        let mut tx = self.write().await?;
        let changed = match error {
            None => sqlx::query(
                "UPDATE scheduled_jobs SET status = 'done', done_at = $1, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
            )
            .bind(now())
            .bind(id.to_string())
            .bind(owner.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected(),
            Some(error) => {
                let attempts: i64 = sqlx::query("SELECT attempts FROM scheduled_jobs WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_one(&mut *tx.tx)
                    .await?
                    .try_get::<i64, _>(0)?
                    + 1;
                let status = if attempts >= MAX_ATTEMPTS { "parked" } else { "pending" };
                sqlx::query(
                    "UPDATE scheduled_jobs SET status = $1, attempts = $2, run_at = $3, error = $4, lease_owner = NULL, \
                     lease_until = NULL WHERE id = $5 AND lease_owner = $6 AND status = 'running'",
                )
                .bind(status)
                .bind(attempts)
                .bind(at(backoff(attempts)))
                .bind(error.chars().take(2000).collect::<String>())
                .bind(id.to_string())
                .bind(owner.to_string())
                .execute(&mut *tx.tx)
                .await?
                .rows_affected()
            }
        };
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Marks jobs this owner ran done, in one write (a round's jobs together).
    pub async fn finish_jobs_done(&self, ids: &[String], owner: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        let at = now();
        for id in ids {
            sqlx::query(
                "UPDATE scheduled_jobs SET status = 'done', done_at = $1, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
            )
            .bind(at.clone())
            .bind(id.clone())
            .bind(owner.to_string())
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await
    }

    /// Jobs, newest due first: all, or those of one status.
    pub async fn jobs(&self, status: Option<&str>, limit: i64) -> Result<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM scheduled_jobs WHERE ($1 = '' OR status = $1) ORDER BY run_at DESC LIMIT $2"
        )))
        .bind(status.unwrap_or("").to_string())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Puts a parked job back to run now, its attempts counted afresh.
    pub async fn retry_job(&self, id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let found = sqlx::query(
            "UPDATE scheduled_jobs SET status = 'pending', attempts = 0, run_at = $1, error = NULL WHERE id = $2 AND status = 'parked'",
        )
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if found == 0 {
            return Err(Error::NotFound(format!("parked job {id}")));
        }
        Ok(())
    }
}

impl WriteTx {
    /// Schedules a job in this write (see [`Db::schedule_job_in`]): for a module's code that holds
    /// a write but not the database.
    pub async fn schedule_job(
        &mut self,
        kind: &str,
        key: Option<&str>,
        run_at: &str,
        payload: &Json,
    ) -> Result<String> {
        // Stored in one form (UTC, fixed width), so that times compare as text.
        let run_at = peyvand_records::value::parse_datetime(run_at)
            .map(format_datetime)
            .ok_or_else(|| Error::invalid(peyvand_records::FieldError::new("run_at", "invalid_datetime")))?;
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO scheduled_jobs (id, kind, job_key, run_at, payload_json, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT DO NOTHING",
        )
        .bind(id.clone())
        .bind(kind.to_string())
        .bind(key.map(str::to_string))
        .bind(run_at)
        .bind(payload.to_string())
        .bind(now())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        let id = if inserted == 1 {
            id
        } else {
            sqlx::query("SELECT id FROM scheduled_jobs WHERE kind = $1 AND job_key = $2 AND status <> 'done'")
                .bind(kind.to_string())
                .bind(key.map(str::to_string))
                .fetch_one(&mut *self.tx)
                .await?
                .try_get(0)?
        };
        Ok(id)
    }
}

impl WriteTx {
    /// Schedules many jobs of one kind in this write, a few statements for all: each is
    /// `(key, run_at, payload)`; one whose key is waiting already is left as it is. Returns how
    /// many were scheduled (a campaign queues a hundred thousand messages' sends this way).
    pub async fn schedule_jobs(&mut self, kind: &str, jobs: &[(String, String, Json)]) -> Result<u64> {
        /// Rows per statement (six parameters each, well under both databases' limits).
        const ROWS: usize = 500;
        let mut scheduled = 0;
        let made = now();
        for chunk in jobs.chunks(ROWS) {
            let mut sql = String::from(
                "INSERT INTO scheduled_jobs (id, kind, job_key, run_at, payload_json, status, created_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let n = i * 6;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, 'pending', ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6
                ));
            }
            sql.push_str(" ON CONFLICT DO NOTHING");
            // Only placeholders are formatted into the text.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, run_at, payload) in chunk {
                let run_at = peyvand_records::value::parse_datetime(run_at)
                    .map(format_datetime)
                    .ok_or_else(|| Error::invalid(peyvand_records::FieldError::new("run_at", "invalid_datetime")))?;
                q = q
                    .bind(new_id())
                    .bind(kind.to_string())
                    .bind(key.clone())
                    .bind(run_at)
                    .bind(payload.to_string())
                    .bind(made.clone());
            }
            scheduled += q.execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(scheduled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(2), Duration::seconds(8));
        assert_eq!(backoff(3), Duration::seconds(32));
        assert_eq!(backoff(9), Duration::seconds(3600));
    }
}
