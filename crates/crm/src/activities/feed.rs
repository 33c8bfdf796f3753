//! A user's calendar feed: their tasks and appointments as an iCalendar document (RFC 5545) at a
//! secret address any calendar app can subscribe to. The address holds a random secret; only its
//! hash is kept, so it is shown once; a new one replaces it and revoking stops it at once. A feed
//! answers only while its user is active.

use super::tasks::Reminder;
use peyvand_records::value::parse_datetime;
use peyvand_store::records::Record;
use peyvand_store::{Db, Error, Result, hex, now};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// How far back and ahead a feed reaches.
const BEHIND: Duration = Duration::days(30);
const AHEAD: Duration = Duration::days(365);
/// Most tasks in one feed.
const MOST: u32 = 2000;
/// An appointment without an end lasts this long in a calendar.
const DEFAULT_LENGTH: Duration = Duration::minutes(30);

fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Makes (or replaces) the user's feed and returns its secret, to be shown once.
pub async fn new_feed(db: &Db, user: &str) -> Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
    let secret = hex(&bytes);
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1").bind(user.to_string()).execute(&mut *tx.tx).await?;
    sqlx::query("INSERT INTO calendar_feeds (user_id, secret_hash, created_at) VALUES ($1, $2, $3)")
        .bind(user.to_string())
        .bind(hash(&secret))
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Stops the user's feed; returns whether there was one.
pub async fn revoke_feed(db: &Db, user: &str) -> Result<bool> {
    let mut tx = db.write().await?;
    let n = sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
        .bind(user.to_string())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}

/// When the user's feed was made, if they have one.
pub async fn feed_made(db: &Db, user: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT created_at FROM calendar_feeds WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The active user whose feed `secret` opens, if any.
pub async fn feed_user(db: &Db, secret: &str) -> Result<Option<String>> {
    if secret.len() != 48 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT f.user_id FROM calendar_feeds f JOIN users u ON u.id = f.user_id WHERE f.secret_hash = $1 AND u.active = 1",
    )
    .bind(hash(secret))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The user's open tasks from a month ago to a year ahead as an iCalendar document: each an
/// event (an appointment from its start to its end, a task half an hour at its due time) with
/// its place, video link and reminders as alarms. `db` reads as the user.
pub async fn calendar(db: &Db, user: &str, name: &str) -> Result<String> {
    use icalendar::{Alarm, Calendar, Component, EventLike};
    let now = OffsetDateTime::now_utc();
    let tasks = super::tasks::owned(db, user, &["open"], Some(now - BEHIND), now + AHEAD, MOST).await?;
    let attendees = attendees_of(db, &tasks).await?;
    let mut cal = Calendar::new();
    cal.name(name).timezone("Asia/Tehran");
    for task in &tasks {
        let field = |f: &str| task.fields.get(f).and_then(Json::as_str).map(str::to_string);
        let Some(start) = field("due_at").as_deref().and_then(parse_datetime) else { continue };
        let end = field("ends_at").as_deref().and_then(parse_datetime).filter(|e| *e > start);
        let mut event = icalendar::Event::new();
        event
            .uid(&format!("task-{}@peyvand", task.id))
            .summary(&task.title)
            .starts(utc(start))
            .ends(utc(end.unwrap_or(start + DEFAULT_LENGTH)))
            .timestamp(utc(updated(task).unwrap_or(now)));
        let place = [field("place"), field("video_link")].into_iter().flatten().collect::<Vec<_>>().join(" · ");
        if !place.is_empty() {
            event.location(&place);
        }
        if let Some(body) = field("body") {
            event.description(&body);
        }
        for (name, address) in attendees.get(&task.id).into_iter().flatten() {
            let who =
                icalendar::Attendee { cn: Some(name.clone()), ..icalendar::Attendee::new(format!("mailto:{address}")) };
            event.attendee(who);
        }
        // A recurring task's series from this instance on (the next is made when it is done).
        if let Some(rule) = field("recurrence").filter(|r| !r.trim().is_empty()) {
            event.add_property("RRULE", rule.trim().trim_start_matches("RRULE:"));
        }
        // Each reminder as an alarm at its own time before the start (the day before at 9 too).
        for r in task.fields.get("reminders").and_then(Json::as_array).into_iter().flatten() {
            let Some(r) = r.as_str().and_then(Reminder::parse) else { continue };
            let before = (start - r.fires(start, db.local_offset())).whole_minutes();
            event.alarm(Alarm::display(&task.title, -chrono::Duration::minutes(before)));
        }
        cal.push(event.done());
    }
    Ok(cal.done().to_string())
}

/// Each task's attendees with an e-mail address (users, and contacts the reader may read),
/// as (name, address), by task id.
async fn attendees_of(db: &Db, tasks: &[Record]) -> Result<HashMap<String, Vec<(String, String)>>> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    if tasks.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=tasks.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT activity_id, kind, participant_id FROM activity_participants WHERE activity_id IN ({}) \
         ORDER BY activity_id, kind, participant_id",
        marks.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for t in tasks {
        q = q.bind(t.id.clone());
    }
    let rows: Vec<(String, String, String)> = q
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_>>()?;
    if rows.is_empty() {
        return Ok(out);
    }
    let users: HashMap<String, (String, String)> =
        db.list_users().await?.into_iter().map(|u| (u.id.clone(), (u.name.clone(), u.email.clone()))).collect();
    let contact_ids: Vec<&str> = rows.iter().filter(|(_, k, _)| k == "contact").map(|(_, _, id)| id.as_str()).collect();
    let mut contacts: HashMap<String, (String, String)> = HashMap::new();
    if !contact_ids.is_empty() {
        let obj = db.object("contact").await?;
        let query = peyvand_store::records::ListQuery {
            filter: Some(
                peyvand_records::filter::parse_filter(
                    &obj,
                    &serde_json::json!({ "field": "id", "op": "in", "value": contact_ids }),
                )
                .map_err(Error::invalid)?,
            ),
            limit: Some(1000),
            ..Default::default()
        };
        for c in db.list_records("contact", &query).await?.records {
            let first = c.fields.get("emails").and_then(Json::as_array).and_then(|e| e.first()).and_then(Json::as_str);
            if let Some(address) = first {
                contacts.insert(c.id.clone(), (c.title.clone(), address.to_string()));
            }
        }
    }
    for (task, kind, id) in rows {
        let found = if kind == "user" { users.get(&id) } else { contacts.get(&id) };
        if let Some(person) = found {
            out.entry(task).or_default().push(person.clone());
        }
    }
    Ok(out)
}

/// When the task was last changed.
fn updated(task: &Record) -> Option<OffsetDateTime> {
    parse_datetime(&task.updated_at)
}

fn utc(t: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}
