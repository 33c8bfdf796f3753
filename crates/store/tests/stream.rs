//! Issue 27's base: the event stream and the scheduler, on both backends. Events reach a
//! consumer in the order they were placed, each once while all goes well, after a consumer's
//! start; a transaction that commits late is placed late, not skipped; a failing event waits for
//! its retry, then is parked and the consumer goes on; one instance holds a consumer at a time.
//! Jobs run when due, once per claim, retried with backoff, parked after their attempts; a key
//! makes scheduling idempotent.

use peyvand_store::events::{Event, Job, MAX_ATTEMPTS};
use peyvand_store::runner::{Consumer, JobKind, Outcome, Runner};
use peyvand_store::{Db, Dialect, Error};
use serde_json::{Map, Value as Json, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use time::Duration;

/// The kinds of job these tests run.
const KINDS: &[&str] = &["reminder", "expiry"];

peyvand_crm::crm_tests!(
    consumers_read_every_event_in_order,
    failures_wait_then_park,
    jobs_run_when_due,
    a_runner_that_dies_loses_nothing
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().expect("an object").clone()
}

async fn contact(db: &Db, name: &str) -> String {
    db.create_record(None, "contact", &input(json!({ "last_name": name })), None).await.expect("contact").0.id
}

/// Every event placed so far.
async fn sequence_all(db: &Db) {
    while db.sequence_events(500).await.expect("sequence") > 0 {}
}

async fn consumers_read_every_event_in_order(db: &Db) {
    contact(db, "Before").await;
    sequence_all(db).await;
    db.register_consumer("mailer", false).await.expect("register");
    db.register_consumer("history", true).await.expect("register");
    let first = contact(db, "First").await;
    db.update_record(None, "contact", &first, &input(json!({ "city": "Yazd" })), None).await.expect("update");
    let second = contact(db, "Second").await;
    sequence_all(db).await;

    let lease = Duration::seconds(30);
    assert!(db.claim_consumer("mailer", "instance-a", lease).await.expect("claim"));
    assert!(!db.claim_consumer("mailer", "instance-b", lease).await.expect("claim"), "held by a");
    let events = db.next_events("mailer", 100).await.expect("events");
    let seen: Vec<(String, String)> = events.iter().map(|e| (e.record_id.clone(), e.action.clone())).collect();
    assert_eq!(
        seen,
        [(first.clone(), "create".into()), (first.clone(), "update".into()), (second.clone(), "create".into())]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(events[1].changes.as_array().map(Vec::len), Some(1), "the change itself: {:?}", events[1].changes);
    // Handled one by one: a restart resumes after the last one done.
    db.advance_consumer("mailer", "instance-a", events[0].seq).await.expect("advance");
    let again = db.next_events("mailer", 100).await.expect("events");
    assert_eq!(again.first().map(|e| e.seq), Some(events[1].seq));
    // Only the lease holder moves it; a lapsed lease passes to another instance.
    let refused = db.advance_consumer("mailer", "instance-b", events[2].seq).await;
    assert!(matches!(refused, Err(Error::Conflict { code: "consumer_lease_lost", .. })), "{refused:?}");
    assert!(db.claim_consumer("mailer", "instance-a", Duration::seconds(-1)).await.expect("expire"));
    assert!(db.claim_consumer("mailer", "instance-b", lease).await.expect("take over"));
    db.advance_consumer("mailer", "instance-b", events[2].seq).await.expect("advance");
    assert!(db.next_events("mailer", 100).await.expect("events").is_empty());
    // A consumer from the start reads what happened before it.
    let history = db.next_events("history", 100).await.expect("events");
    assert_eq!(history.len(), 4, "the contact made before, and the three");

    // A transaction that commits after a later one is placed after it, and read.
    if db.dialect() == Dialect::Postgres {
        let obj = db.object("contact").await.expect("contact");
        let last_name = obj.field("last_name").expect("field");
        let mut slow = db.write().await.expect("write");
        let late = db
            .create_in(&mut slow, None, &obj, &[(last_name, peyvand_records::Value::Text("Late".into()))])
            .await
            .expect("insert");
        let quick = contact(db, "Quick").await;
        sequence_all(db).await;
        slow.commit().await.expect("commit");
        sequence_all(db).await;
        let events = db.next_events("mailer", 100).await.expect("events");
        let order: Vec<&str> = events.iter().map(|e| e.record_id.as_str()).collect();
        assert_eq!(order, [quick.as_str(), late.as_str()], "the late one after, not lost");
    }
}

async fn failures_wait_then_park(db: &Db) {
    db.register_consumer("points", false).await.expect("register");
    let id = contact(db, "Fails").await;
    let ok = contact(db, "Fine").await;
    sequence_all(db).await;
    assert!(db.claim_consumer("points", "me", Duration::seconds(30)).await.expect("claim"));
    let events = db.next_events("points", 10).await.expect("events");
    assert_eq!(events[0].record_id, id);
    assert!(!db.event_failed("points", "me", events[0].seq, "the points service is down").await.expect("failed"));
    assert!(db.next_events("points", 10).await.expect("events").is_empty(), "waits for its retry, in order");
    for _ in 1..MAX_ATTEMPTS - 1 {
        assert!(!db.event_failed("points", "me", events[0].seq, "still down").await.expect("failed"));
    }
    assert!(db.event_failed("points", "me", events[0].seq, "still down").await.expect("parked"), "parked at last");
    let next = db.next_events("points", 10).await.expect("events");
    assert_eq!(next.iter().map(|e| e.record_id.as_str()).collect::<Vec<_>>(), [ok.as_str()], "the consumer goes on");
    let parked = db.parked_events().await.expect("parked");
    assert_eq!((parked.len(), parked[0].attempts, parked[0].error.as_str()), (1, MAX_ATTEMPTS, "still down"));
    // An admin retries it: delivered again, and gone once handled.
    assert!(db.retried_event("points").await.expect("retried").is_none());
    db.retry_parked("points", parked[0].seq).await.expect("retry");
    let retried = db.retried_event("points").await.expect("retried").expect("an event");
    assert_eq!(retried.record_id, id);
    db.retried_outcome("points", retried.seq, None).await.expect("handled");
    assert!(db.parked_events().await.expect("parked").is_empty());
    assert!(matches!(db.retry_parked("points", retried.seq).await, Err(Error::NotFound(_))));
}

async fn jobs_run_when_due(db: &Db) {
    let past = "2026-01-01T00:00:00Z";
    let future = "2999-01-01T00:00:00Z";
    let remind = db.schedule_job("reminder", Some("task-1"), past, &json!({ "task": 1 })).await.expect("schedule");
    let same = db.schedule_job("reminder", Some("task-1"), past, &json!({ "task": 1 })).await.expect("again");
    assert_eq!(remind, same, "a key schedules once");
    db.schedule_job("reminder", None, future, &json!({ "task": 2 })).await.expect("later");
    let lease = Duration::seconds(30);
    let claimed = db.claim_due_jobs("a", lease, 10, KINDS).await.expect("claim");
    assert_eq!(claimed.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), [remind.as_str()], "only the due one");
    assert_eq!(claimed[0].payload, json!({ "task": 1 }));
    assert!(db.claim_due_jobs("b", lease, 10, KINDS).await.expect("claim").is_empty(), "claimed once");
    assert!(!db.finish_job(&remind, "b", None).await.expect("not b's"));
    assert!(db.finish_job(&remind, "a", None).await.expect("done"));
    assert_eq!(db.jobs(Some("done"), 10).await.expect("jobs").len(), 1);

    // A claim that lapses (its instance died) is claimed again.
    let crash = db.schedule_job("expiry", None, past, &json!({})).await.expect("schedule");
    assert_eq!(db.claim_due_jobs("dead", Duration::seconds(-1), 10, KINDS).await.expect("claim").len(), 1);
    let again = db.claim_due_jobs("alive", lease, 10, KINDS).await.expect("claim");
    assert_eq!(again.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), [crash.as_str()]);
    assert!(!db.finish_job(&crash, "dead", None).await.expect("the dead one's claim is gone"));
    // Failing: due again later, parked after its attempts (the lapsed claim counted as one),
    // retried by an admin.
    assert!(db.finish_job(&crash, "alive", Some("no SMTP")).await.expect("failed"));
    let pending = db.jobs(Some("pending"), 10).await.expect("jobs");
    let job = pending.iter().find(|j| j.id == crash).expect("pending again");
    assert!(job.run_at.as_str() > past && job.attempts == 2, "{job:?}");
    for _ in 0..MAX_ATTEMPTS {
        if db.jobs(Some("parked"), 10).await.expect("jobs").iter().any(|j| j.id == crash) {
            break;
        }
        // Its backoff passed (the test moves its time rather than waiting).
        sqlx::query("UPDATE scheduled_jobs SET run_at = $1 WHERE id = $2")
            .bind(past)
            .bind(crash.clone())
            .execute(db.pool())
            .await
            .expect("due");
        let claimed = db.claim_due_jobs("alive", lease, 10, KINDS).await.expect("claim");
        assert_eq!(claimed.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), [crash.as_str()]);
        db.finish_job(&crash, "alive", Some("no SMTP")).await.expect("failed");
    }
    let parked = db.jobs(Some("parked"), 10).await.expect("jobs");
    assert_eq!(
        parked.iter().map(|j| (j.id.as_str(), j.attempts)).collect::<Vec<_>>(),
        [(crash.as_str(), MAX_ATTEMPTS)]
    );
    db.retry_job(&crash).await.expect("retry");
    assert_eq!(db.claim_due_jobs("alive", lease, 10, KINDS).await.expect("claim").len(), 1);
    // A kind this instance does not run is left for one that does.
    db.schedule_job("survey", None, past, &json!({})).await.expect("schedule");
    assert!(db.claim_due_jobs("alive", lease, 10, KINDS).await.expect("claim").is_empty());
    // A key is free again once its job is done; a time is kept in one form.
    let next =
        db.schedule_job("reminder", Some("task-1"), "2026-01-02T03:30:00+03:30", &json!({})).await.expect("again");
    assert_ne!(next, remind, "a new job for the key");
    let all = db.jobs(Some("pending"), 10).await.expect("jobs");
    assert_eq!(all.iter().find(|j| j.id == next).map(|j| j.run_at.as_str()), Some("2026-01-02T00:00:00.000000Z"));
    let refused = db.schedule_job("reminder", None, "tomorrow", &json!({})).await;
    assert!(matches!(refused, Err(Error::Validation(_))), "{refused:?}");
}

/// Remembers the records of the events it handled; the first time it meets `slow` it takes
/// long (the instance dies meanwhile).
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
    slow: String,
    slowed: AtomicBool,
}

impl Consumer for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn handle<'a>(&'a self, _db: &'a Db, event: &'a Event) -> Outcome<'a> {
        Box::pin(async move {
            if event.record_id == self.slow && !self.slowed.swap(true, Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
            self.seen.lock().expect("lock").push(event.record_id.clone());
            Ok(())
        })
    }
}

struct Reminder {
    ran: Arc<Mutex<Vec<Json>>>,
}

impl JobKind for Reminder {
    fn kind(&self) -> &'static str {
        "reminder"
    }
    fn run<'a>(&'a self, _db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            self.ran.lock().expect("lock").push(job.payload.clone());
            Ok(())
        })
    }
}

/// An instance dies in the middle of an event: another takes over when its lease lapses and
/// every event is handled, those of the batch in flight again (at least once), none skipped;
/// due jobs run.
async fn a_runner_that_dies_loses_nothing(db: &Db) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let make = |slow: String| {
        let recorder = Recorder { seen: seen.clone(), slow, slowed: AtomicBool::new(false) };
        let reminder = Reminder { ran: ran.clone() };
        let consumers: Vec<Arc<dyn Consumer>> = vec![Arc::new(recorder)];
        let jobs: Vec<Arc<dyn JobKind>> = vec![Arc::new(reminder)];
        Runner::new(db.clone(), consumers, jobs).with_leases(Duration::seconds(1), Duration::seconds(1))
    };
    make(String::new()).register().await.expect("register");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(contact(db, &format!("C{i}")).await);
    }
    db.schedule_job("reminder", Some("call-back"), "2026-01-01T00:00:00Z", &json!({ "to": "rep" })).await.expect("job");
    let first = make(ids[2].clone());
    let dying = tokio::spawn(first.run_until(std::future::pending()));
    // It handles two, then hangs on the third.
    for _ in 0..100 {
        if seen.lock().expect("lock").len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    dying.abort();
    let _ = dying.await;
    assert_eq!(*seen.lock().expect("lock"), ids[..2].to_vec(), "two handled before it died");
    let second = make(String::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(second.run_until(async move {
        let _ = stopped.await;
    }));
    for _ in 0..100 {
        if seen.lock().expect("lock").len() >= 5 && !ran.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    running.await.expect("stopped");
    // The position moves once per batch: the batch it died in is handed over whole, the two it
    // had handled again (at least once), then every event in order, none skipped.
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen[..2], ids[..2]);
    assert_eq!(seen[2..], ids[..], "every event, in order, after the takeover");
    assert_eq!(*ran.lock().expect("lock"), [json!({ "to": "rep" })], "the due job ran once");
    assert_eq!(db.consumer_position("recorder").await.expect("position"), db.stream_end().await.expect("end"));
}
