//! The support desk on both backends: a ticket's deadlines in working time (evenings, Friday
//! and days off skipped), the clock paused while waiting on the customer, warnings and
//! escalations that happen once even when an instance dies mid-job, replies (first response,
//! taking, reopening, refusing, files), queues that assign, merging, and the compliance report.

use peyvand_crm::crm_tests;
use peyvand_crm::notifications;
use peyvand_crm::service::clock::{Hours, Shift};
use peyvand_crm::service::conversation::{self, Reply, Upload};
use peyvand_crm::service::levels::{self, By, Calendar, Escalation, Holiday, Policy, Target};
use peyvand_crm::service::queues::{self, Mode};
use peyvand_records::access::Role;
use peyvand_records::value::{format_datetime, parse_datetime};
use peyvand_store::access::TeamInput;
use peyvand_store::records::Record;
use peyvand_store::runner::Runner;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

crm_tests!(
    deadlines_count_working_time_only,
    the_clock_stops_while_waiting_on_the_customer,
    a_deadline_warns_and_escalates_once,
    replies_answer_take_and_reopen,
    queues_give_tickets_out,
    two_tickets_merge_into_one,
    compliance_is_counted_per_group,
    bad_setup_is_refused_by_name,
    a_web_forms_complaint_lands_in_its_queue,
    the_knowledge_base_answers_tickets,
    dealers_are_measured_per_ten_thousand_units
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

fn codes(e: &Error) -> Vec<(String, &'static str)> {
    match e {
        Error::Validation(errors) | Error::Conflict { details: errors, .. } => {
            errors.iter().map(|e| (e.field.clone(), e.code)).collect()
        }
        other => panic!("not a validation error: {other:?}"),
    }
}

async fn user(db: &Db, email: &str, role: Role) -> String {
    db.create_user(email, email, role, "x", "fa").await.expect("user").id
}

async fn ticket(db: &Db, fields: Json) -> Record {
    db.create_record(None, "ticket", &input(fields), None).await.expect("a ticket").0
}

async fn update(db: &Db, id: &str, fields: Json) -> Record {
    db.update_record(None, "ticket", id, &input(fields), None).await.expect("updated")
}

fn time(r: &Record, f: &str) -> Option<OffsetDateTime> {
    r.fields.get(f).and_then(Json::as_str).and_then(parse_datetime)
}

/// A calendar open around the clock, and a policy on it for tickets of `category`, first.
async fn around_the_clock(db: &Db, category: &str, first: i64, resolve: i64, escalation: Escalation) -> Policy {
    let cal = levels::save_calendar(
        db,
        None,
        Calendar { id: String::new(), name: "24/7".into(), hours: Hours::always(), is_default: false },
    )
    .await
    .expect("calendar");
    levels::save_policy(
        db,
        None,
        None,
        Policy {
            id: String::new(),
            name: format!("{category} 24/7"),
            position: -1,
            categories: vec![category.into()],
            customer_groups: vec![],
            calendar: cal.id,
            targets: ["low", "normal", "high", "urgent"]
                .iter()
                .map(|p| Target { priority: p.to_string(), first_response_minutes: first, resolution_minutes: resolve })
                .collect(),
            warn_minutes: 30,
            escalation,
        },
    )
    .await
    .expect("policy")
}

async fn deadlines_count_working_time_only(db: &Db) {
    // The shipped desk: office hours Saturday to Wednesday 8–16, Thursday 8–13, this year's
    // holidays and the standard policy (high: an hour to answer, 8 working hours to resolve).
    assert_eq!(levels::holidays(db).await.expect("holidays").len(), 22);
    let policies = levels::policies(db).await.expect("policies");
    assert_eq!(policies.len(), 1);
    // Wednesday 15:00 in Tehran.
    let opened = datetime!(2026-12-02 11:30 UTC);
    let t =
        ticket(db, json!({"subject": "Broken heater", "priority": "high", "opened_at": format_datetime(opened)})).await;
    assert_eq!(t.fields["number"], "T-1");
    assert_eq!(t.fields["sla_policy"], json!(policies[0].id));
    assert_eq!(time(&t, "first_response_due"), Some(datetime!(2026-12-02 12:30 UTC)), "Wednesday 16:00");
    // One hour on Wednesday, five on Thursday, Friday off, two on Saturday: Saturday 10:00.
    assert_eq!(time(&t, "resolution_due"), Some(datetime!(2026-12-05 06:30 UTC)));
    assert_eq!(time(&t, "next_due"), time(&t, "first_response_due"));
    // Saturday made a holiday: Sunday 10:00, for a ticket opened now and for one changed now.
    let mut days = levels::holidays(db).await.expect("holidays");
    days.push(Holiday {
        from: date!(2026 - 12 - 05),
        to: date!(2026 - 12 - 05),
        name_fa: "تعطیل".into(),
        name_en: "Day off".into(),
    });
    days.sort_by_key(|h| h.from);
    levels::set_holidays(db, &days).await.expect("holidays saved");
    let t2 =
        ticket(db, json!({"subject": "Heater again", "priority": "high", "opened_at": format_datetime(opened)})).await;
    assert_eq!(t2.fields["number"], "T-2");
    assert_eq!(time(&t2, "resolution_due"), Some(datetime!(2026-12-06 06:30 UTC)));
    // Lower priority: the standard normal target (24 working hours) from the same opening.
    let t = update(db, &t.id, json!({"priority": "normal"})).await;
    // Wed 1h + Thu 5h + (Sat off) Sun 8h + Mon 8h = 22h; 2 more on Tuesday: 10:00.
    assert_eq!(time(&t, "resolution_due"), Some(datetime!(2026-12-08 06:30 UTC)));
    // Resolved: the clock stops and the deadline stays to be compared.
    let t = update(db, &t.id, json!({"status": "resolved"})).await;
    assert!(time(&t, "resolved_at").is_some());
    assert_eq!(t.fields["next_due"], Json::Null);
    assert_eq!(time(&t, "resolution_due"), Some(datetime!(2026-12-08 06:30 UTC)));
    // A closed ticket only reopens.
    let t = update(db, &t.id, json!({"status": "closed"})).await;
    let e = db.update_record(None, "ticket", &t.id, &input(json!({"status": "open"})), None).await.expect_err("closed");
    assert_eq!(codes(&e), [("status".to_string(), "closed_ticket")]);
    let t = update(db, &t.id, json!({"status": "reopened"})).await;
    assert_eq!(t.fields["closed_at"], Json::Null);
    assert!(time(&t, "next_due").is_some());
}

async fn the_clock_stops_while_waiting_on_the_customer(db: &Db) {
    around_the_clock(db, "billing", 30, 600, Escalation::default()).await;
    // Times are kept to the second.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).expect("a time");
    let opened = now - Duration::hours(1);
    let t =
        ticket(db, json!({"subject": "Double charge", "category": "billing", "opened_at": format_datetime(opened)}))
            .await;
    let due = time(&t, "resolution_due").expect("a deadline");
    assert_eq!(due, opened + Duration::hours(10));
    let t = update(db, &t.id, json!({"status": "waiting"})).await;
    assert_eq!(t.fields["resolution_due"], Json::Null, "no deadline while waiting");
    assert_eq!(t.fields["next_due"], Json::Null);
    // Two hours waiting (the pause's start moved back, as two hours passing would).
    update(db, &t.id, json!({"sla_paused_at": format_datetime(now - Duration::hours(2))})).await;
    let t = update(db, &t.id, json!({"status": "open"})).await;
    let paused = t.fields["sla_paused_seconds"].as_i64().expect("paused seconds");
    assert!((7200..7260).contains(&paused), "{paused}");
    let due = time(&t, "resolution_due").expect("a deadline again");
    assert_eq!(due, opened + Duration::hours(10) + Duration::seconds(paused), "moved by the pause");
    assert_eq!(t.fields["sla_paused_at"], Json::Null);
    // The first response is not paused; answered late, it is marked late.
    let t = update(db, &t.id, json!({"first_response_at": format_datetime(now)})).await;
    assert_eq!(t.fields["first_response_breached"], json!(true));
    assert_eq!(time(&t, "next_due"), Some(due), "only the resolution is ahead");
}

async fn a_deadline_warns_and_escalates_once(db: &Db) {
    let agent = user(db, "agent@t.ir", Role::Agent).await;
    let boss = user(db, "boss@t.ir", Role::Manager).await;
    let team = db
        .create_team(&TeamInput {
            name: "پشتیبانی".into(),
            parent_id: None,
            manager_id: Some(boss.clone()),
            members: vec![agent.clone()],
        })
        .await
        .expect("team");
    queues::save(db, None, &team.id, Mode::Manual).await.expect("queue");
    let escalation = Escalation { notify: true, raise_priority: true, reassign_to: None };
    around_the_clock(db, "delivery", 60, 120, escalation).await;
    let opened = OffsetDateTime::now_utc() - Duration::minutes(100);
    let t = ticket(
        db,
        json!({"subject": "Late parcel", "category": "delivery", "queue": team.id, "owner": agent, "opened_at": format_datetime(opened)}),
    )
    .await;
    // First response: 40 minutes late (breach now); resolution: 20 minutes left (warning now).
    let jobs: Vec<String> = db
        .jobs(Some("pending"), 100)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.kind == "sla")
        .map(|j| {
            format!("{}:{}", j.payload["target"].as_str().unwrap_or(""), j.payload["stage"].as_str().unwrap_or(""))
        })
        .collect();
    let mut sorted = jobs.clone();
    sorted.sort();
    assert_eq!(sorted, ["first_response:breach", "first_response:warn", "resolution:breach", "resolution:warn"]);
    // An instance takes the due jobs and dies before finishing them.
    let dead = db.claim_due_jobs("dead-instance", Duration::seconds(1), 10, &["sla"]).await.expect("claimed");
    assert_eq!(dead.len(), 3, "the two warnings and the first response's breach are due");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    while runner.round().await.expect("round") > 0 {}
    let t = db.get_record("ticket", &t.id, false).await.expect("ticket");
    assert_eq!(t.fields["first_response_breached"], json!(true));
    assert_eq!(t.fields["resolution_breached"], json!(false), "not yet");
    assert_eq!(t.fields["priority"], "high", "raised one step");
    let kinds = async |who: &str| -> Vec<String> {
        let mut k: Vec<String> =
            notifications::list(db, who, false, 50).await.expect("list").into_iter().map(|n| n.kind).collect();
        k.sort();
        k
    };
    // The warning of the first response came too late to matter: its breach was told.
    assert_eq!(kinds(&agent).await, ["sla_breach", "sla_warning"]);
    assert_eq!(kinds(&boss).await, ["sla_breach"]);
    // Again: nothing more (the dead instance's claims were done once).
    while runner.round().await.expect("round") > 0 {}
    assert_eq!(kinds(&agent).await.len(), 2);
    // Answered now, the first response's jobs are gone; resolved, the resolution's too.
    let t = update(
        db,
        &t.id,
        json!({"first_response_at": format_datetime(OffsetDateTime::now_utc()), "status": "resolved"}),
    )
    .await;
    assert_eq!(t.fields["resolution_breached"], json!(false), "resolved in time");
    let left = db.jobs(Some("pending"), 100).await.expect("jobs").into_iter().filter(|j| j.kind == "sla").count();
    assert_eq!(left, 0);
}

async fn replies_answer_take_and_reopen(db: &Db) {
    let agent = user(db, "agent@t.ir", Role::Agent).await;
    let other = user(db, "other@t.ir", Role::Agent).await;
    let as_agent = db.for_viewer(db.viewer_for(&agent).await.expect("viewer"));
    let as_other = db.for_viewer(db.viewer_for(&other).await.expect("viewer"));
    let t = ticket(
        db,
        json!({"subject": "کولر کار نمی‌کند", "requester_name": "مریم احمدی", "requester_email": "maryam@example.ir", "channel": "web_form"}),
    )
    .await;
    // The requester became a contact, found again by e-mail next time.
    let contact = t.fields["contact"].as_str().expect("a contact").to_string();
    let again = ticket(db, json!({"subject": "دوباره", "requester_email": "maryam@example.ir"})).await;
    assert_eq!(again.fields["contact"], json!(contact));
    // A note needs the ticket readable only; the first public reply takes the unassigned ticket.
    let note = Reply { body: "بررسی شود".into(), public: false, ..Reply::default() };
    conversation::reply(&as_other, &other, &t.id, &note).await.expect("a note");
    let file = Upload { file_name: "guide.pdf".into(), bytes: b"%PDF-1.4 guide".to_vec() };
    let answer =
        Reply {
            body: "سلام، راهنما پیوست است.".into(), public: true, status: None, files: vec![file], article: None
        };
    let m = conversation::reply(&as_agent, &agent, &t.id, &answer).await.expect("a reply");
    assert_eq!(m.attachments.len(), 1);
    let t = db.get_record("ticket", &t.id, false).await.expect("ticket");
    assert_eq!(t.fields["owner"], json!(agent), "taken by the reply");
    assert_eq!(t.fields["status"], "open");
    assert!(time(&t, "first_response_at").is_some());
    // Someone else's ticket: their public reply is refused, nothing written.
    let e =
        conversation::reply(&as_other, &other, &t.id, &Reply { body: "x".into(), public: true, ..Reply::default() })
            .await
            .expect_err("not theirs");
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    // A file too large or of a type we do not keep: refused by name, nothing written.
    let big =
        Upload { file_name: "scan.pdf".into(), bytes: [b"%PDF-".as_slice(), &vec![0u8; 5 * 1024 * 1024]].concat() };
    let svg = Upload { file_name: "x.svg".into(), bytes: b"<svg onload=alert(1)>".to_vec() };
    let e = conversation::reply(
        &as_agent,
        &agent,
        &t.id,
        &Reply { body: "files".into(), public: true, status: None, files: vec![big, svg], article: None },
    )
    .await
    .expect_err("bad files");
    assert_eq!(
        codes(&e),
        [("files.0".to_string(), "file_too_large"), ("files.1".to_string(), "file_type_not_allowed")]
    );
    let all = conversation::messages(db, &t.id).await.expect("messages");
    assert_eq!(all.len(), 2);
    assert!(!all[0].public && all[1].public);
    let (kept, bytes) = conversation::attachment(db, &t.id, &all[1].attachments[0].id).await.expect("file");
    assert_eq!((kept.content_type.as_str(), bytes.as_slice()), ("application/pdf", b"%PDF-1.4 guide".as_slice()));
    // A reply to a closed ticket reopens it; refused when the desk says so.
    update(db, &t.id, json!({"status": "closed"})).await;
    conversation::reply(&as_agent, &agent, &t.id, &Reply { body: "باز هم".into(), public: true, ..Reply::default() })
        .await
        .expect("reopens");
    assert_eq!(db.get_record("ticket", &t.id, false).await.expect("t").fields["status"], "reopened");
    update(db, &t.id, json!({"status": "closed"})).await;
    conversation::set_closed_reply(db, "refuse").await.expect("set");
    let e =
        conversation::reply(&as_agent, &agent, &t.id, &Reply { body: "x".into(), public: true, ..Reply::default() })
            .await
            .expect_err("refused");
    assert_eq!(codes(&e), [("status".to_string(), "ticket_closed")]);
    assert_eq!(conversation::messages(db, &t.id).await.expect("messages").len(), 3);
}

async fn queues_give_tickets_out(db: &Db) {
    let a = user(db, "a@t.ir", Role::Agent).await;
    let b = user(db, "b@t.ir", Role::Agent).await;
    let team = db
        .create_team(&TeamInput { name: "Desk".into(), members: vec![a.clone(), b.clone()], ..TeamInput::default() })
        .await
        .expect("team");
    queues::save(db, None, &team.id, Mode::RoundRobin).await.expect("queue");
    let mut owners = Vec::new();
    for i in 0..4 {
        let t = ticket(db, json!({"subject": format!("t{i}"), "queue": team.id})).await;
        owners.push(t.fields["owner"].as_str().expect("assigned").to_string());
    }
    assert_eq!(owners.iter().filter(|o| **o == a).count(), 2, "{owners:?}");
    assert_ne!(owners[0], owners[1]);
    // Least loaded: b closes theirs, so b gets the next two.
    queues::save(db, None, &team.id, Mode::LeastLoaded).await.expect("queue");
    let page = db.list_records("ticket", &Default::default()).await.expect("list");
    for t in page.records.iter().filter(|t| t.fields["owner"] == json!(b)) {
        update(db, &t.id, json!({"status": "closed"})).await;
    }
    let next = ticket(db, json!({"subject": "next", "queue": team.id})).await;
    assert_eq!(next.fields["owner"], json!(b));
    // Manual: nobody.
    queues::save(db, None, &team.id, Mode::Manual).await.expect("queue");
    let manual = ticket(db, json!({"subject": "manual", "queue": team.id})).await;
    assert_eq!(manual.fields["owner"], Json::Null);
    let as_a = db.for_viewer(db.viewer_for(&a).await.expect("viewer"));
    let taken = queues::take(&as_a, &a, &manual.id).await.expect("taken");
    assert_eq!(taken.fields["owner"], json!(a));
    let e = queues::take(&as_a, &a, &manual.id).await.expect_err("already");
    assert_eq!(codes(&e), [("owner".to_string(), "already_assigned")]);
    // The queue choice names the team; a queue in use cannot go.
    let obj = db.object("ticket").await.expect("object");
    let choice = obj.field("queue").expect("queue").options.options.iter().find(|o| o.value == team.id).cloned();
    assert_eq!(choice.map(|c| c.label_en), Some("Desk".to_string()));
    assert!(queues::delete(db, None, &team.id).await.is_err());
}

async fn two_tickets_merge_into_one(db: &Db) {
    let agent = user(db, "agent@t.ir", Role::Agent).await;
    let as_agent = db.for_viewer(db.viewer_for(&agent).await.expect("viewer"));
    let a = ticket(db, json!({"subject": "Refund", "owner": agent})).await;
    let b = ticket(db, json!({"subject": "Refund (again)", "owner": agent})).await;
    conversation::reply(&as_agent, &agent, &a.id, &Reply { body: "first".into(), public: true, ..Reply::default() })
        .await
        .expect("reply");
    let e = conversation::merge(&as_agent, &agent, &a.id, &a.id).await.expect_err("itself");
    assert_eq!(codes(&e), [("into".to_string(), "same_ticket")]);
    conversation::merge(&as_agent, &agent, &a.id, &b.id).await.expect("merged");
    let from = db.get_record("ticket", &a.id, false).await.expect("a");
    assert_eq!(from.fields["status"], "closed");
    assert_eq!(from.fields["merged_into"], json!(b.id));
    let into = conversation::messages(db, &b.id).await.expect("messages");
    assert_eq!(
        into.iter().map(|m| m.event.as_deref().unwrap_or(&m.body)).collect::<Vec<_>>(),
        ["first", "merged_from"]
    );
    assert_eq!(conversation::messages(db, &a.id).await.expect("messages")[0].event.as_deref(), Some("merged_into"));
    let e = conversation::merge(&as_agent, &agent, &a.id, &b.id).await.expect_err("twice");
    assert_eq!(codes(&e), [("id".to_string(), "already_merged")]);
}

async fn compliance_is_counted_per_group(db: &Db) {
    let opened = |days: i64| format_datetime(datetime!(2026-10-10 08:00 UTC) + Duration::days(days));
    for (i, (cat, late)) in
        [("billing", true), ("billing", false), ("delivery", false), ("delivery", false)].iter().enumerate()
    {
        let t =
            ticket(db, json!({"subject": format!("t{i}"), "category": cat, "opened_at": opened(i as i64 * 20)})).await;
        if *late {
            update(db, &t.id, json!({"resolution_breached": true, "first_response_breached": true})).await;
        }
    }
    let rows = levels::compliance(db, By::Category, date!(2026 - 01 - 01), date!(2027 - 01 - 01), false)
        .await
        .expect("report");
    let billing = rows.iter().find(|r| r.key == "billing").expect("billing");
    assert_eq!((billing.tickets, billing.first_response_late, billing.resolution_late), (2, 1, 1));
    assert_eq!(billing.resolution_kept(), Some(50.0));
    assert_eq!(rows.iter().find(|r| r.key == "delivery").map(|r| r.resolution_kept()), Some(Some(100.0)));
    // By month: October, October/November, November, December (Gregorian); Jalali in Persian.
    let months =
        levels::compliance(db, By::Month, date!(2026 - 01 - 01), date!(2027 - 01 - 01), false).await.expect("report");
    assert_eq!(
        months.iter().map(|r| (r.key.as_str(), r.tickets)).collect::<Vec<_>>(),
        [("2026-10", 2), ("2026-11", 1), ("2026-12", 1)]
    );
    let jalali =
        levels::compliance(db, By::Month, date!(2026 - 01 - 01), date!(2027 - 01 - 01), true).await.expect("report");
    // 10 Oct = 18 Mehr, 30 Oct = 8 Aban, 19 Nov = 28 Aban, 9 Dec = 18 Azar.
    assert_eq!(
        jalali.iter().map(|r| (r.key.as_str(), r.tickets)).collect::<Vec<_>>(),
        [("1405-07", 1), ("1405-08", 2), ("1405-09", 1)]
    );
    // Outside the range: none.
    assert!(
        levels::compliance(db, By::Queue, date!(2025 - 01 - 01), date!(2025 - 02 - 01), false)
            .await
            .expect("r")
            .is_empty()
    );
}

async fn bad_setup_is_refused_by_name(db: &Db) {
    let none = Calendar { id: String::new(), name: "Never".into(), hours: Hours { shifts: vec![] }, is_default: false };
    let e = levels::save_calendar(db, None, none).await.expect_err("no hours");
    assert_eq!(codes(&e), [("hours.shifts".to_string(), "no_working_hours")]);
    let odd = Hours { shifts: vec![Shift { day: "friday".into(), from: "18:00".into(), to: "09:00".into() }] };
    let e = levels::save_calendar(
        db,
        None,
        Calendar { id: String::new(), name: "Odd".into(), hours: odd, is_default: false },
    )
    .await
    .expect_err("ends before");
    assert_eq!(codes(&e), [("hours.shifts.0.to".to_string(), "ends_before_start")]);
    let nowruz = |from, to| Holiday { from, to, name_fa: "نوروز".into(), name_en: "Nowruz".into() };
    let e = levels::set_holidays(
        db,
        &[nowruz(date!(2027 - 03 - 21), date!(2027 - 03 - 24)), nowruz(date!(2027 - 03 - 23), date!(2027 - 03 - 23))],
    )
    .await
    .expect_err("overlap");
    assert_eq!(codes(&e), [("holidays.1.from".to_string(), "overlapping_holidays")]);
    assert_eq!(levels::holidays(db).await.expect("kept").len(), 22, "nothing half-written");
    let cal = levels::calendars(db).await.expect("calendars")[0].id.clone();
    let bad = Policy {
        id: String::new(),
        name: String::new(),
        position: 0,
        categories: vec![],
        customer_groups: vec![],
        calendar: "nope".into(),
        targets: vec![Target { priority: "asap".into(), first_response_minutes: 0, resolution_minutes: 10 }],
        warn_minutes: -1,
        escalation: Escalation::default(),
    };
    let e = levels::save_policy(db, None, None, bad.clone()).await.expect_err("bad policy");
    assert_eq!(
        codes(&e),
        [
            ("name".to_string(), "required"),
            ("calendar".to_string(), "unknown_calendar"),
            ("targets.0.priority".to_string(), "invalid_option"),
            ("targets.0.first_response_minutes".to_string(), "out_of_range"),
            ("targets".to_string(), "missing_priority"),
            ("warn_minutes".to_string(), "out_of_range"),
        ]
    );
    let e = levels::delete_calendar(db, &cal).await.expect_err("in use");
    assert_eq!(codes(&e), [("id".to_string(), "calendar_in_use")]);
}

async fn a_web_forms_complaint_lands_in_its_queue(db: &Db) {
    use peyvand_crm::forms::{self, Assign, Definition, FormField, Submission};
    let agent = user(db, "agent@t.ir", Role::Agent).await;
    let team = db
        .create_team(&TeamInput { name: "شکایات".into(), members: vec![agent.clone()], ..TeamInput::default() })
        .await
        .expect("team");
    queues::save(db, None, &team.id, Mode::RoundRobin).await.expect("queue");
    let field = |f: &str, required: bool| FormField { field: f.into(), required };
    let form = forms::save(
        db,
        None,
        Definition {
            name: "ثبت شکایت".into(),
            object: "ticket".into(),
            fields: vec![
                field("requester_name", true),
                field("requester_email", true),
                field("subject", true),
                field("description", false),
            ],
            intro_fa: String::new(),
            intro_en: String::new(),
            consent_fa: String::new(),
            consent_en: String::new(),
            consent_required: false,
            thanks_fa: String::new(),
            thanks_en: String::new(),
            redirect: None,
            campaign: None,
            assign: Assign::RoundRobin { team: team.id.clone() },
            active: true,
        },
    )
    .await
    .expect("a ticket form");
    let values = [
        ("requester_name", "رضا کریمی"),
        ("requester_email", "reza@example.ir"),
        ("subject", "یخچال صدا می‌دهد"),
        ("description", "از دیروز"),
    ];
    let sent = Submission {
        values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        consent: false,
        attribution: Default::default(),
        lang: "fa".into(),
    };
    let made = forms::submit(db, &form.slug, &sent).await.expect("submitted");
    assert_eq!(made.object, "ticket");
    assert_eq!(made.owner.as_deref(), Some(agent.as_str()), "the queue gave it out");
    let t = db.get_record("ticket", &made.record_id, false).await.expect("ticket");
    assert_eq!((t.fields["queue"].as_str(), t.fields["channel"].as_str()), (Some(team.id.as_str()), Some("web_form")));
    let contact =
        db.get_record("contact", t.fields["contact"].as_str().expect("contact"), false).await.expect("contact");
    assert_eq!(contact.fields["emails"], json!(["reza@example.ir"]));
    assert_eq!(contact.fields["last_name"], "کریمی");
    assert!(time(&t, "resolution_due").is_some(), "under the standard service level");
}

async fn the_knowledge_base_answers_tickets(db: &Db) {
    use peyvand_crm::service::knowledge;
    let agent = user(db, "agent@t.ir", Role::Agent).await;
    let as_agent = db.for_viewer(db.viewer_for(&agent).await.expect("viewer"));
    let made = |fields: Map<String, Json>| async move {
        db.create_record(None, "kb_article", &fields, None).await.expect("article").0
    };
    let cooler = made(knowledge::article(
        "کولر گازی آب می‌دهد؟",
        "شلنگ تخلیه را بررسی کنید",
        "۱. دستگاه را خاموش کنید…",
        "fa",
        &["کولر"],
    ))
    .await;
    assert!(cooler.fields["published_at"].is_string(), "published says when");
    made(knowledge::article("Resetting your password", "Forgot it? Reset it", "Open settings…", "en", &[])).await;
    let mut draft = knowledge::article("کولر صدا می‌دهد", "پیش‌نویس", "…", "fa", &[]);
    draft.insert("status".into(), json!("draft"));
    made(draft).await;
    // Found with Arabic letters typed (ي, ك): the Persian normalization; drafts are not found.
    let found = knowledge::search(db, "كولر گازي", None, 5).await.expect("search");
    assert_eq!(found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), [cooler.id.as_str()]);
    assert!(knowledge::search(db, "password", Some("fa"), 5).await.expect("search").is_empty(), "only Persian ones");
    // Suggested for a ticket by its subject, and answered with it.
    let t = ticket(db, json!({"subject": "کولر گازی از دیروز آب می‌دهد", "owner": agent})).await;
    let suggested = knowledge::suggest(&as_agent, &t, 3).await.expect("suggest");
    assert_eq!(suggested.first().map(|a| a.id.clone()), Some(cooler.id.clone()));
    let answer = Reply {
        body: "سلام، این راهنما کمک می‌کند.".into(),
        public: true,
        article: Some(cooler.id.clone()),
        ..Reply::default()
    };
    let m = conversation::reply(&as_agent, &agent, &t.id, &answer).await.expect("answered");
    assert!(m.body.ends_with(&format!("(/kb/{})", cooler.id)), "{}", m.body);
    assert_eq!(db.get_record("ticket", &t.id, false).await.expect("t").fields["kb_article"], json!(cooler.id));
    let bad = Reply { body: "x".into(), public: true, article: Some("nope".into()), ..Reply::default() };
    let e = conversation::reply(&as_agent, &agent, &t.id, &bad).await.expect_err("no such article");
    assert_eq!(codes(&e), [("article".to_string(), "unknown_article")]);
    // Votes add up, a draft takes none.
    knowledge::vote(&as_agent, &cooler.id, true).await.expect("vote");
    let after = knowledge::vote(&as_agent, &cooler.id, false).await.expect("vote");
    assert_eq!((after.fields["helpful_yes"].as_i64(), after.fields["helpful_no"].as_i64()), (Some(1), Some(1)));
}

async fn dealers_are_measured_per_ten_thousand_units(db: &Db) {
    use peyvand_crm::service::dealers;
    let boss = user(db, "boss@t.ir", Role::Manager).await;
    let company = |name: &str| {
        let name = name.to_string();
        async move {
            db.create_record(None, "company", &input(json!({"name": name, "customer_group": "dealer"})), None)
                .await
                .expect("dealer")
                .0
                .id
        }
    };
    let (north, south) = (company("نمایندگی شمال").await, company("نمایندگی جنوب").await);
    let units = async |dealer: &str, month: &str, n: i64| {
        let fields = input(json!({"dealer": dealer, "month": month, "units": n}));
        db.create_record(None, "service_volume", &fields, None).await
    };
    units(&north, "۱۴۰۵/۸", 20_000).await.expect("units");
    units(&north, "1405-09", 5_000).await.expect("units");
    units(&south, "1405-09", 0).await.expect("units");
    // Refused by name: a month that is not one, negative units, the same month twice.
    let e = units(&north, "2026-11", 10).await.expect_err("not Jalali");
    assert_eq!(codes(&e), [("month".to_string(), "invalid_month")]);
    let e = units(&south, "1405-08", -1).await.expect_err("negative");
    assert_eq!(codes(&e), [("units".to_string(), "negative")]);
    let e = units(&north, "1405-09", 1).await.expect_err("twice");
    assert_eq!(codes(&e), [("month".to_string(), "volume_exists")]);
    // Complaints: 4 in Aban (1405-08) and 3 in Azar (1405-09) for the north, 2 for the south;
    // a request is not a complaint.
    let at = |d: time::Date| format_datetime(d.with_hms(7, 0, 0).expect("time").assume_utc());
    for (dealer, day, kind) in [
        (&north, date!(2026 - 10 - 25), "complaint"),
        (&north, date!(2026 - 10 - 30), "complaint"),
        (&north, date!(2026 - 11 - 02), "complaint"),
        (&north, date!(2026 - 11 - 10), "complaint"),
        (&north, date!(2026 - 11 - 25), "complaint"),
        (&north, date!(2026 - 11 - 26), "complaint"),
        (&north, date!(2026 - 12 - 01), "complaint"),
        (&north, date!(2026 - 12 - 01), "request"),
        (&south, date!(2026 - 12 - 02), "complaint"),
        (&south, date!(2026 - 12 - 03), "complaint"),
    ] {
        ticket(db, json!({"subject": "x", "kind": kind, "dealer": dealer, "opened_at": at(day)})).await;
    }
    let rows = dealers::rates(db, (1405, 8), (1405, 9), false).await.expect("rates");
    let get = |d: &str, m: &str| rows.iter().find(|r| r.dealer == d && r.month == m).cloned().expect("a row");
    let aban = get(&north, "1405-08");
    assert_eq!((aban.complaints, aban.units, aban.per_10k), (4, Some(20_000), Some(2.0)));
    let azar = get(&north, "1405-09");
    assert_eq!((azar.complaints, azar.per_10k), (3, Some(6.0)));
    assert_eq!(azar.trend, Some(4.0), "up 4 from the month before");
    let south_row = get(&south, "1405-09");
    assert_eq!(
        (south_row.complaints, south_row.units, south_row.per_10k),
        (2, Some(0), None),
        "no units: no data, no division"
    );
    assert!(rows.iter().all(|r| !r.alert), "no threshold yet");
    // A threshold of 5: the north's Azar is above it; the next complaint tells the managers, once.
    dealers::set_threshold(db, Some(5.0)).await.expect("threshold");
    assert!(dealers::set_threshold(db, Some(-1.0)).await.is_err());
    let rows = dealers::rates(db, (1405, 9), (1405, 9), false).await.expect("rates");
    assert!(rows.iter().any(|r| r.dealer == north && r.alert));
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    runner.register().await.expect("register");
    ticket(
        db,
        json!({"subject": "again", "kind": "complaint", "dealer": north, "opened_at": at(date!(2026 - 12 - 04))}),
    )
    .await;
    ticket(
        db,
        json!({"subject": "and again", "kind": "complaint", "dealer": north, "opened_at": at(date!(2026 - 12 - 04))}),
    )
    .await;
    while runner.round().await.expect("round") > 0 {}
    let told: Vec<String> =
        notifications::list(db, &boss, false, 20).await.expect("list").into_iter().map(|n| n.kind).collect();
    assert_eq!(told, ["dealer_alert"], "once per dealer and month");
    // Units counted from the dealer's orders of the month (a cancelled one counts for nothing).
    for (q, status) in [(3, "delivered"), (4, "paid"), (100, "cancelled")] {
        let order = json!({"company": south, "quantity": q, "status": status, "ordered_at": at(date!(2026 - 11 - 30))});
        db.create_record(None, "order", &input(order), None).await.expect("order");
    }
    let counted = dealers::count_from_orders(db, None, &south, "1405-09").await.expect("counted");
    assert_eq!((counted.fields["units"].as_i64(), counted.fields["source"].as_str()), (Some(7), Some("orders")));
}
