//! Tasks and their reminders on both backends: a task's times are checked, its reminders are
//! scheduled with the write that sets them (moved, cancelled and made again with it), and a
//! reminder that fires tells the task's owner once — not at all if the task was done, moved or
//! given to someone else meanwhile.

use peyvand_crm::crm_tests;
use peyvand_crm::notifications;
use peyvand_records::access::Role;
use peyvand_records::value::format_datetime;
use peyvand_store::events::Job;
use peyvand_store::records::Record;
use peyvand_store::runner::Runner;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};
use time::{Duration, OffsetDateTime};

crm_tests!(
    a_tasks_times_are_checked,
    reminders_follow_the_task,
    a_reminder_tells_the_owner_once,
    whoever_is_given_a_record_is_told,
    a_recurring_task_done_makes_the_next,
    an_attendee_has_the_meeting_on_their_day_week_and_feed
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

fn codes(e: &Error) -> Vec<(String, &'static str)> {
    match e {
        Error::Validation(errors) => errors.iter().map(|e| (e.field.clone(), e.code)).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}

fn in_(d: Duration) -> String {
    format_datetime(OffsetDateTime::now_utc() + d)
}

async fn user(db: &Db, email: &str) -> String {
    db.create_user(email, email, Role::Agent, "x", "fa").await.expect("user").id
}

/// A task of `owner`'s (the system's handle, as a test has, gives a record no owner of itself).
async fn task(db: &Db, owner: &str, fields: Json) -> Result<Record, Error> {
    let mut fields = input(fields);
    fields.insert("owner".into(), json!(owner));
    db.create_record(Some(owner), "task", &fields, None).await.map(|(r, _)| r)
}

/// The reminder jobs waiting, as (task, run_at).
async fn waiting(db: &Db) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = db
        .jobs(Some("pending"), 1000)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.kind == "reminder")
        .map(|j| (j.payload["task"].as_str().unwrap_or_default().to_string(), j.run_at))
        .collect();
    all.sort();
    all
}

async fn a_tasks_times_are_checked(db: &Db) {
    let rep = user(db, "rep@t.ir").await;
    let e = task(db, &rep, json!({"subject": "Call back", "due_at": in_(Duration::hours(-2)), "reminders": ["15m"]}))
        .await
        .expect_err("a reminder in the past");
    assert_eq!(codes(&e), [("reminders".to_string(), "reminder_in_past")]);
    let e = task(
        db,
        &rep,
        json!({"subject": "Visit", "kind": "visit", "due_at": in_(Duration::hours(3)), "ends_at": in_(Duration::hours(2))}),
    )
    .await
    .expect_err("ends before it starts");
    assert_eq!(codes(&e), [("ends_at".to_string(), "ends_before_start")]);
    // An overdue task without reminders is a task like any other; done, it says when.
    let late = task(db, &rep, json!({"subject": "Send the catalogue", "due_at": in_(Duration::hours(-2))})).await;
    let late = late.expect("overdue, no reminder");
    assert_eq!(late.fields["status"], json!("open"));
    let done =
        db.update_record(Some(&rep), "task", &late.id, &input(json!({"status": "done"})), None).await.expect("done");
    assert!(done.fields["done_at"].is_string(), "{done:?}");
    let reopened = db
        .update_record(Some(&rep), "task", &late.id, &input(json!({"status": "open"})), None)
        .await
        .expect("open again");
    assert_eq!(reopened.fields["done_at"], Json::Null);
    assert!(waiting(db).await.is_empty(), "nothing was scheduled");
}

async fn reminders_follow_the_task(db: &Db) {
    let (rep, other) = (user(db, "rep@t.ir").await, user(db, "other@t.ir").await);
    let due = OffsetDateTime::now_utc() + Duration::hours(5);
    let t = task(
        db,
        &rep,
        json!({"subject": "Demo at Pars Steel", "due_at": format_datetime(due), "reminders": ["15m", "1h"]}),
    )
    .await
    .expect("task");
    let at = |d: OffsetDateTime| format_datetime(d);
    let expected = vec![(t.id.clone(), at(due - Duration::hours(1))), (t.id.clone(), at(due - Duration::minutes(15)))];
    assert_eq!(waiting(db).await, expected);
    // Moved a day on: the reminders move with it, none left at the old times.
    let later = due + Duration::days(1);
    let patch = input(json!({"due_at": format_datetime(later)}));
    db.update_record(Some(&rep), "task", &t.id, &patch, None).await.expect("moved");
    assert_eq!(
        waiting(db).await,
        vec![(t.id.clone(), at(later - Duration::hours(1))), (t.id.clone(), at(later - Duration::minutes(15)))]
    );
    // A change that is not about its time leaves them.
    db.update_record(Some(&rep), "task", &t.id, &input(json!({"place": "Tabriz"})), None).await.expect("place");
    assert_eq!(waiting(db).await.len(), 2);
    // Done: none; open again: both; in the trash: none; back: both.
    db.update_record(Some(&rep), "task", &t.id, &input(json!({"status": "done"})), None).await.expect("done");
    assert!(waiting(db).await.is_empty());
    db.update_record(Some(&rep), "task", &t.id, &input(json!({"status": "open"})), None).await.expect("open");
    assert_eq!(waiting(db).await.len(), 2);
    db.delete_record(Some(&rep), "task", &t.id).await.expect("trash");
    assert!(waiting(db).await.is_empty());
    db.restore_record(Some(&rep), "task", &t.id).await.expect("restore");
    assert_eq!(waiting(db).await.len(), 2);
    // Given to someone else: theirs now.
    db.update_record(None, "task", &t.id, &input(json!({"owner": other})), None).await.expect("handed");
    let users: Vec<String> = db
        .jobs(Some("pending"), 100)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.kind == "reminder")
        .map(|j| j.payload["user"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(users, [other.clone(), other]);
}

async fn a_reminder_tells_the_owner_once(db: &Db) {
    let rep = user(db, "rep@t.ir").await;
    let (consumers, jobs) = peyvand_crm::modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, jobs.clone());
    // What start-up asked for (the standard rollups) first.
    runner.round().await.expect("start-up's jobs");
    // Due in two seconds, reminded at the time.
    let due = OffsetDateTime::now_utc() + Duration::seconds(2);
    let t = task(db, &rep, json!({"subject": "Call Kaveh", "due_at": format_datetime(due), "reminders": ["at_time"]}))
        .await
        .expect("task");
    assert_eq!(runner.round().await.expect("round"), 0, "not yet due");
    assert!(notifications::list(db, &rep, false, 10).await.expect("list").is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    runner.round().await.expect("round");
    let told = notifications::list(db, &rep, true, 10).await.expect("list");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((told[0].kind.as_str(), told[0].title.as_str()), ("reminder", "Call Kaveh"));
    assert_eq!(told[0].link.as_deref(), Some(format!("/records/task/{}", t.id).as_str()));
    assert_eq!(notifications::unread_count(db, &rep).await.expect("count"), 1);

    // The same job run again (an instance died after notifying, before saying so): still once.
    let done = db.jobs(Some("done"), 10).await.expect("jobs").into_iter().find(|j| j.kind == "reminder").expect("done");
    let reminder = jobs.iter().find(|k| k.kind() == "reminder").expect("the reminder kind");
    reminder.run(db, &done).await.expect("again");
    assert_eq!(notifications::list(db, &rep, false, 10).await.expect("list").len(), 1);

    // A reminder that no longer fits its task (moved since it was set) tells nobody.
    let stale = Job {
        id: "stale-1".into(),
        payload: json!({"task": t.id, "user": rep, "due_at": in_(Duration::hours(9)), "reminder": "at_time"}),
        ..done.clone()
    };
    reminder.run(db, &stale).await.expect("stale");
    assert_eq!(notifications::list(db, &rep, false, 10).await.expect("list").len(), 1);

    // Read: the count goes down; another user's is not theirs to read.
    let other = user(db, "other@t.ir").await;
    assert!(matches!(notifications::mark_read(db, &other, &told[0].id).await, Err(Error::NotFound(_))));
    let read = notifications::mark_read(db, &rep, &told[0].id).await.expect("read");
    assert!(read.read_at.is_some());
    assert_eq!(notifications::unread_count(db, &rep).await.expect("count"), 0);
}

async fn whoever_is_given_a_record_is_told(db: &Db) {
    let (rep, manager) = (user(db, "rep@t.ir").await, user(db, "manager@t.ir").await);
    db.register_consumer("notifications.assignments", false).await.expect("consumer");
    let (consumers, jobs) = peyvand_crm::modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, jobs);
    let settle = async || while runner.round().await.expect("round") > 0 {};
    let kinds = async |who: &str| -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = notifications::list(db, who, false, 50)
            .await
            .expect("list")
            .into_iter()
            .map(|n| (n.kind, n.title))
            .collect();
        all.sort();
        all
    };
    // The manager gives the rep a task; the rep makes one of their own.
    let given = input(json!({"subject": "Visit Pars Steel", "due_at": in_(Duration::days(1)), "owner": rep}));
    db.create_record(Some(&manager), "task", &given, None).await.expect("given");
    task(db, &rep, json!({"subject": "My own", "due_at": in_(Duration::days(1))})).await.expect("own");
    // A deal made for the rep tells nobody; handed on later, it does.
    let (deal, _) = db
        .create_record(Some(&manager), "deal", &input(json!({"name": "Boilers", "owner": rep})), None)
        .await
        .expect("deal");
    settle().await;
    assert_eq!(kinds(&rep).await, [("assigned".to_string(), "Visit Pars Steel".to_string())]);
    db.update_record(Some(&rep), "deal", &deal.id, &input(json!({"owner": manager})), None).await.expect("handed on");
    settle().await;
    assert_eq!(kinds(&manager).await, [("assigned".to_string(), "Boilers".to_string())]);
    assert!(db.next_events("notifications.assignments", 1).await.expect("events").is_empty(), "every event handled");
    // Every event handled again (an instance died before saying so): each told once still.
    db.register_consumer("test.replay", true).await.expect("replay");
    let (consumers, _) = peyvand_crm::modules().runner_parts();
    let assignments = consumers.iter().find(|c| c.name() == "notifications.assignments").expect("the consumer");
    for event in db.next_events("test.replay", 1000).await.expect("events") {
        assignments.handle(db, &event).await.expect("handled again");
    }
    assert_eq!((kinds(&rep).await.len(), kinds(&manager).await.len()), (1, 1));
}

/// A weekly task twice in all: done, its next is made a week on with the same subject, owner,
/// reminder and one instance left (its reminder scheduled); done again, the series has ended.
/// A rule that is not one, or too often, is refused.
async fn a_recurring_task_done_makes_the_next(db: &Db) {
    let owner = user(db, "weekly@tasks.ir").await;
    let due = OffsetDateTime::now_utc() + Duration::days(2);
    let due = due.replace_nanosecond(0).expect("whole seconds");
    let e = task(
        db,
        &owner,
        json!({"subject": "Weekly call", "due_at": format_datetime(due), "recurrence": "FREQ=MINUTELY"}),
    )
    .await
    .expect_err("too often");
    assert_eq!(codes(&e), vec![("recurrence".to_string(), "recurrence_too_often")]);
    let e =
        task(db, &owner, json!({"subject": "Weekly call", "due_at": format_datetime(due), "recurrence": "every week"}))
            .await
            .expect_err("not a rule");
    assert_eq!(codes(&e), vec![("recurrence".to_string(), "invalid_recurrence")]);
    let first = task(
        db,
        &owner,
        json!({"subject": "Weekly call", "due_at": format_datetime(due), "reminders": ["15m"],
        "recurrence": "FREQ=WEEKLY;COUNT=2", "priority": "high"}),
    )
    .await
    .expect("a recurring task");
    let open = async || -> Vec<Record> {
        let filter = peyvand_records::filter::parse_filter(
            &db.object("task").await.expect("task"),
            &json!({"field": "status", "op": "eq", "value": "open"}),
        )
        .expect("filter");
        let query = peyvand_store::records::ListQuery { filter: Some(filter), ..Default::default() };
        db.list_records("task", &query).await.expect("open tasks").records
    };
    db.update_record(Some(&owner), "task", &first.id, &input(json!({"status": "done"})), None).await.expect("done");
    let next = open().await;
    assert_eq!(next.len(), 1, "the next instance");
    let n = &next[0].fields;
    assert_eq!(n["due_at"], json!(format_datetime(due + Duration::weeks(1))));
    assert_eq!(
        (n["subject"].clone(), n["owner"].clone(), n["priority"].clone()),
        (json!("Weekly call"), json!(owner), json!("high"))
    );
    assert_eq!((n["reminders"].clone(), n["recurrence"].clone()), (json!(["15m"]), json!("FREQ=WEEKLY;COUNT=1")));
    assert!(waiting(db).await.iter().any(|(t, _)| *t == next[0].id), "its reminder is scheduled");
    db.update_record(Some(&owner), "task", &next[0].id, &input(json!({"status": "done"})), None).await.expect("done");
    assert!(open().await.is_empty(), "two in all: the series has ended");
}

/// A meeting's attendees have it too: on their day, their week and their calendar feed, where
/// each attendee with an address is an ATTENDEE (a colleague, a customer's contact); a colleague
/// who does not attend has none of it.
async fn an_attendee_has_the_meeting_on_their_day_week_and_feed(db: &Db) {
    use peyvand_crm::activities::{feed, participants, tasks};
    let owner = user(db, "owner@meet.ir").await;
    let guest = user(db, "guest@meet.ir").await;
    let other = user(db, "other@meet.ir").await;
    let customer = db
        .create_record(
            None,
            "contact",
            &input(json!({"first_name": "Sara", "last_name": "Karimi", "emails": ["sara@customer.ir"]})),
            None,
        )
        .await
        .expect("contact")
        .0;
    let meeting =
        task(db, &owner, json!({"subject": "Quarterly review", "kind": "meeting", "due_at": in_(Duration::hours(3))}))
            .await
            .expect("meeting");
    let who = participants::Participants { contacts: vec![customer.id.clone()], users: vec![guest.clone()] };
    participants::set(db, "task", &meeting.id, &who).await.expect("attendees");
    let day_ends = OffsetDateTime::now_utc() + Duration::days(1);
    for (person, has) in [(&owner, true), (&guest, true), (&other, false)] {
        let (due, _) = tasks::my_day(db, person, day_ends, Duration::days(7)).await.expect("day");
        assert_eq!(due.iter().any(|t| t.id == meeting.id), has, "{person}'s day");
        let week = tasks::between(db, person, OffsetDateTime::now_utc(), day_ends).await.expect("week");
        assert_eq!(week.iter().any(|t| t.id == meeting.id), has, "{person}'s week");
    }
    let cal = feed::calendar(db, &guest, "Guest").await.expect("feed");
    let unfolded = cal.replace("\r\n ", "");
    assert!(unfolded.contains("SUMMARY:Quarterly review"), "{cal}");
    assert!(
        unfolded.contains("mailto:guest@meet.ir") && unfolded.contains("mailto:sara@customer.ir"),
        "each attendee with an address: {cal}"
    );
    assert!(unfolded.contains("ATTENDEE;CN=Sara Karimi") || unfolded.contains("CN=Sara Karimi"), "{cal}");
    let none = feed::calendar(db, &other, "Other").await.expect("feed");
    assert!(!none.contains("Quarterly review"));
}
