//! Automation on both backends, against real servers: a workflow that a won deal sets off
//! (a task for the owner, a thank-you e-mail through a real SMTP server, the manager told, all on
//! the timeline), loops that stop, templates checked at save, webhooks signed, retried, paused
//! and replayed against a real HTTP receiver, and e-mail that bounces or waits for a server that
//! is down, over plain SMTP and STARTTLS.

use axum::http::{HeaderMap, StatusCode};
use peyvand_crm::automation::templates::{self, TemplateInput};
use peyvand_crm::automation::workflows::{self, Action, Definition, Trigger, WorkflowInput};
use peyvand_crm::automation::{mail, webhooks};
use peyvand_crm::crm_tests;
use peyvand_crm::notifications;
use peyvand_crm::testing::{ImapServer, SmtpServer};
use peyvand_records::access::Role;
use peyvand_store::access::TeamInput;
use peyvand_store::runner::Runner;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};
use std::sync::{Arc, Mutex};
use time::Duration;

crm_tests!(
    a_won_deal_creates_a_task_and_thanks_the_customer,
    a_workflow_is_not_set_off_by_its_own_changes,
    templates_refuse_mistakes_at_save,
    webhooks_are_signed_retried_paused_and_replayed,
    refused_mail_bounces_and_a_server_down_loses_nothing,
    mail_goes_over_starttls,
    email_in_joins_tickets_and_timelines,
    letters_print_for_a_selection_and_go_on_the_timeline,
    forms_mail_hooks_and_deadlines_set_off_workflows,
    a_run_waits_until_its_condition_or_gives_up,
    notifications_come_by_email_as_each_user_chose,
    a_saved_view_is_mailed_as_each_recipient_sees_it,
    survey_invitations_reach_their_customers,
    a_condition_reads_the_related_record
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

/// A runner whose consumers start before the test's events.
async fn runner(db: &Db) -> Runner {
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    runner.register().await.expect("register");
    runner
}

async fn settle(runner: &Runner) {
    while runner.round().await.expect("round") > 0 {}
}

/// Makes every waiting job due now (time passing, for retries).
async fn time_passes(db: &Db) {
    let mut tx = db.write().await.expect("write");
    sqlx::query("UPDATE scheduled_jobs SET run_at = $1 WHERE status = 'pending'")
        .bind(peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() - Duration::seconds(1)))
        .execute(&mut *tx.tx)
        .await
        .expect("due now");
    tx.commit().await.expect("commit");
}

async fn smtp(db: &Db, server: &SmtpServer) {
    smtp_at(db, server, "").await;
}

/// The test SMTP server, with links in messages starting at `public_url`.
async fn smtp_at(db: &Db, server: &SmtpServer, public_url: &str) {
    mail::save_smtp(
        db,
        &mail::SmtpSettings {
            host: "127.0.0.1".into(),
            port: server.port,
            security: "none".into(),
            from_address: "crm@peyvand.test".into(),
            from_name: "پیوند".into(),
            public_url: public_url.into(),
            ..mail::SmtpSettings::default()
        },
    )
    .await
    .expect("smtp settings");
}

async fn a_won_deal_creates_a_task_and_thanks_the_customer(db: &Db) {
    let Some(server) = SmtpServer::start(None).await else { return };
    smtp(db, &server).await;
    let manager = db.create_user("boss@t.ir", "مدیر فروش", Role::Manager, "x", "fa").await.expect("manager").id;
    let rep = db.create_user("rep@t.ir", "سارا", Role::Agent, "x", "fa").await.expect("rep").id;
    db.create_team(&TeamInput {
        name: "تهران".into(),
        parent_id: None,
        manager_id: Some(manager.clone()),
        members: vec![rep.clone(), manager.clone()],
    })
    .await
    .expect("team");
    let contact = db
        .create_record(
            None,
            "contact",
            &input(
                json!({"first_name": "رضا", "last_name": "کریمی", "emails": ["reza@customer.example"], "owner": rep}),
            ),
            None,
        )
        .await
        .expect("contact")
        .0;
    let deal = db
        .create_record(None, "deal", &input(json!({"name": "پمپ‌های قم", "contact": contact.id, "owner": rep, "amount": {"amount": "1250000", "currency": "IRR"}})), None)
        .await
        .expect("deal")
        .0;
    let thanks = templates::save(
        db,
        None,
        &TemplateInput {
            name: "سپاس".into(),
            channel: "email".into(),
            object: "deal".into(),
            language: "fa".into(),
            subject: "سپاس از خرید {{ record.name }}".into(),
            body: "{{ record.contact }} عزیز،\nاز اعتماد شما سپاسگزاریم. مبلغ: {{ record.amount }}\n{{ today }}".into(),
        },
    )
    .await
    .expect("template");
    let def = Definition {
        trigger: Trigger::Changed { field: Some("stage".into()), from: None, to: Some(json!("won")) },
        condition: None,
        steps: vec![
            Action::Create {
                object: "task".into(),
                values: input(json!({ "subject": "راه‌اندازی {{ record.name }}" })),
                due_in_days: Some(2),
            },
            Action::SendEmail { template: thanks.id.clone() },
            Action::Notify {
                users: vec!["manager".into()], message: "فرصت {{ record.name }} برنده شد".into()
            },
        ],
    };
    // Tried on the deal first: nothing is done, everything is shown.
    let tried = workflows::test_run(db, "deal", &def, &deal.id).await.expect("test run");
    assert!(tried.condition_met);
    assert_eq!(tried.steps.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["create", "send_email", "notify"]);
    assert_eq!(tried.steps[1].detail["to"], "reza@customer.example");
    assert_eq!(tried.steps[1].detail["subject"], "سپاس از خرید پمپ‌های قم");
    assert!(
        tried.steps[1].detail["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("رضا کریمی عزیز") && b.contains("۱٬۲۵۰٬۰۰۰ ریال"))
    );
    assert_eq!(tried.steps[2].detail["message"], "فرصت پمپ‌های قم برنده شد");

    let runner = runner(db).await;
    let wf = workflows::save(
        db,
        Some(&manager),
        None,
        &WorkflowInput { name: "پس از برد".into(), object: "deal".into(), enabled: true, definition: def },
    )
    .await
    .expect("workflow");
    settle(&runner).await;
    assert!(server.messages().is_empty(), "the test run sent nothing");
    db.update_record(Some(&rep), "deal", &deal.id, &input(json!({"stage": "won", "won_reason": "price"})), None)
        .await
        .expect("won");
    settle(&runner).await;

    let runs = workflows::runs(db, Some(&wf.id), None, 10).await.expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "done", "{:?}", runs[0]);
    assert_eq!(runs[0].steps.iter().map(|s| s.outcome.as_str()).collect::<Vec<_>>(), ["done", "done", "done"]);
    let task_id = runs[0].steps[0].detail["id"].as_str().expect("the task's id").to_string();
    let task = db.get_record("task", &task_id, false).await.expect("task");
    assert_eq!(task.fields["subject"], "راه‌اندازی پمپ‌های قم");
    assert_eq!(task.fields["deal"], json!(deal.id));
    assert_eq!(task.fields["contact"], json!(contact.id));
    assert_eq!(task.fields["owner"], json!(rep));
    let due = task.fields["due_at"].as_str().and_then(peyvand_records::value::parse_datetime).expect("due");
    let days = (due - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((24..=72).contains(&days), "due in two days, at nine: {days} hours");

    let sent = server.messages();
    assert_eq!(sent.len(), 1);
    let event_id = format!("{}.1", runs[0].id);
    assert!(sent[0].contains(&format!("Message-ID: <{event_id}@peyvand.test>")), "{}", sent[0]);
    assert!(sent[0].contains(&format!("Peyvand-Event-Id: {event_id}")));
    assert!(sent[0].contains("To: reza@customer.example"));
    let parsed = mail_parser::MessageParser::default().parse(sent[0].as_bytes()).expect("MIME");
    assert_eq!(parsed.subject(), Some("سپاس از خرید پمپ‌های قم"));
    assert!(parsed.body_text(0).is_some_and(|t| t.starts_with("رضا کریمی عزیز")), "{:?}", parsed.body_text(0));
    assert!(parsed.body_html(0).is_some_and(|h| h.contains("dir=\"rtl\"")), "the HTML part reads right to left");
    let m = mail::message(db, &event_id).await.expect("the outbox row");
    assert_eq!((m.status.as_str(), m.contact_id.as_deref()), ("sent", Some(contact.id.as_str())));
    // On the timeline: an outbound e-mail of the contact and the deal.
    let activity = db.get_record("activity", &mail_activity(db, &event_id).await, false).await.expect("activity");
    assert_eq!(activity.fields["kind"], "email");
    assert_eq!(activity.fields["direction"], "outbound");
    assert_eq!(activity.fields["deal"], json!(deal.id));
    assert_eq!(activity.fields["contact"], json!(contact.id));
    let told = notifications::list(db, &manager, true, 10).await.expect("notifications");
    assert!(told.iter().any(|n| n.title == "فرصت پمپ‌های قم برنده شد"), "{told:?}");

    // Nothing happens twice: another round, and another change that is no win.
    settle(&runner).await;
    db.update_record(Some(&rep), "deal", &deal.id, &input(json!({"name": "پمپ‌های قم و کاشان"})), None)
        .await
        .expect("renamed");
    settle(&runner).await;
    assert_eq!(server.messages().len(), 1);
    assert_eq!(workflows::runs(db, Some(&wf.id), None, 10).await.expect("runs").len(), 1);
}

async fn mail_activity(db: &Db, message: &str) -> String {
    use sqlx::Row;
    sqlx::query("SELECT activity_id FROM outbound_messages WHERE id = $1")
        .bind(message.to_string())
        .fetch_one(db.pool())
        .await
        .expect("message")
        .try_get::<Option<String>, _>(0)
        .expect("column")
        .expect("an activity")
}

async fn a_workflow_is_not_set_off_by_its_own_changes(db: &Db) {
    let runner = runner(db).await;
    let any_change =
        |steps| Definition { trigger: Trigger::Changed { field: None, from: None, to: None }, condition: None, steps };
    let tagger = workflows::save(
        db,
        None,
        None,
        &WorkflowInput {
            name: "برچسب".into(),
            object: "contact".into(),
            enabled: true,
            definition: any_change(vec![Action::AddTag { tag: "seen".into() }]),
        },
    )
    .await
    .expect("tagger");
    let noter = workflows::save(
        db,
        None,
        None,
        &WorkflowInput {
            name: "یادداشت".into(),
            object: "contact".into(),
            enabled: true,
            definition: any_change(vec![Action::Update {
                values: input(json!({"job_title": "{{ raw.last_name }} (checked)"})),
            }]),
        },
    )
    .await
    .expect("noter");
    let c = db.create_record(None, "contact", &input(json!({"last_name": "Rahimi"})), None).await.expect("contact").0;
    db.update_record(None, "contact", &c.id, &input(json!({"first_name": "Ali"})), None).await.expect("changed");
    settle(&runner).await;
    // The person's change sets off both; each one's change sets off the other once, whose change
    // comes back to a workflow already in its chain: four runs, then quiet.
    let (a, b) = (
        workflows::runs(db, Some(&tagger.id), None, 50).await.expect("runs"),
        workflows::runs(db, Some(&noter.id), None, 50).await.expect("runs"),
    );
    assert_eq!((a.len(), b.len()), (2, 2), "{a:?} {b:?}");
    let now = db.get_record("contact", &c.id, false).await.expect("contact");
    assert_eq!(now.fields["tags"], json!(["seen"]));
    assert_eq!(now.fields["job_title"], "Rahimi (checked)");
    // Disabled, it starts nothing.
    workflows::set_enabled(db, &tagger.id, false).await.expect("disabled");
    db.update_record(None, "contact", &c.id, &input(json!({"first_name": "Reza"})), None).await.expect("changed");
    settle(&runner).await;
    assert_eq!(workflows::runs(db, Some(&tagger.id), None, 50).await.expect("runs").len(), 2);
}

async fn templates_refuse_mistakes_at_save(db: &Db) {
    let base = TemplateInput {
        name: "یادآوری".into(),
        channel: "sms".into(),
        object: "contact".into(),
        language: "fa".into(),
        subject: String::new(),
        body: String::new(),
    };
    let e = templates::save(db, None, &TemplateInput { body: "سلام\n{{ record.frist_name }}".into(), ..base.clone() })
        .await
        .expect_err("unknown field");
    let Error::Validation(list) = &e else { panic!("{e:?}") };
    assert_eq!(
        (list[0].code, list[0].params["line"].as_u64(), list[0].params["column"].as_u64()),
        ("template_unknown_field", Some(2), Some(4))
    );
    let e = templates::save(
        db,
        None,
        &TemplateInput { body: "{% for d in related.deal %}{{ d.name }}".into(), ..base.clone() },
    )
    .await
    .expect_err("unclosed loop");
    assert_eq!(codes(&e), [("body".to_string(), "template_syntax")]);
    let e = templates::save(db, None, &TemplateInput { object: "nothing".into(), body: "x".into(), ..base.clone() })
        .await
        .expect_err("unknown object");
    assert_eq!(codes(&e), [("object".to_string(), "unknown_object")]);
    let e = templates::save(db, None, &TemplateInput { channel: "email".into(), body: "x".into(), ..base.clone() })
        .await
        .expect_err("an e-mail needs a subject");
    assert_eq!(codes(&e), [("subject".to_string(), "required")]);

    let t = templates::save(
        db,
        None,
        &TemplateInput {
            body: "{{ record.first_name }} عزیز، {% for d in related.deal %}{{ d.name }} ({{ d.amount }}){% if not loop.last %}، {% endif %}{% endfor %}".into(),
            ..base
        },
    )
    .await
    .expect("saved");
    let c = db
        .create_record(None, "contact", &input(json!({"first_name": "مینا", "last_name": "احمدی"})), None)
        .await
        .expect("contact")
        .0;
    for (name, amount) in [("الف", "1000"), ("ب", "25000")] {
        db.create_record(
            None,
            "deal",
            &input(json!({"name": name, "contact": c.id, "amount": {"amount": amount, "currency": "IRR"}})),
            None,
        )
        .await
        .expect("deal");
    }
    let out = templates::render_for(db, &t, &c.id).await.expect("rendered");
    assert_eq!(out.body, "مینا عزیز، ب (۲۵٬۰۰۰ ریال)، الف (۱٬۰۰۰ ریال)");
}

/// A real HTTP receiver: keeps each request's headers and body, answers the status set.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    status: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start(&self, port: u16) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    me.got.lock().expect("lock").push((headers, body));
                    StatusCode::from_u16(*me.status.lock().expect("lock")).unwrap_or(StatusCode::OK)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("listen");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
    }

    fn events(&self) -> Vec<String> {
        let got = self.got.lock().expect("lock");
        got.iter()
            .map(|(h, _)| h.get("peyvand-event-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string())
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port")
}

async fn webhooks_are_signed_retried_paused_and_replayed(db: &Db) {
    let runner = runner(db).await;
    let receiver = Receiver::default();
    *receiver.status.lock().expect("lock") = 200;
    let port = free_port();
    let server = receiver.start(port).await;
    let e = webhooks::save(
        db,
        None,
        &webhooks::SubscriptionInput { url: "ftp://x".into(), events: vec!["exploded".into()], ..Default::default() },
    )
    .await
    .expect_err("bad");
    assert_eq!(codes(&e), [("url".to_string(), "invalid_url"), ("events".to_string(), "invalid_option")]);
    let sub = webhooks::save(
        db,
        None,
        &webhooks::SubscriptionInput {
            url: format!("http://127.0.0.1:{port}/hook"),
            object: Some("contact".into()),
            events: vec!["created".into(), "updated".into()],
            secret: None,
            active: true,
        },
    )
    .await
    .expect("subscribed");
    assert_eq!(sub.secret.len(), 64);
    let c = db.create_record(None, "contact", &input(json!({"last_name": "Saberi"})), None).await.expect("contact").0;
    db.create_record(None, "company", &input(json!({"name": "Not watched"})), None).await.expect("company");
    settle(&runner).await;
    {
        let got = receiver.got.lock().expect("lock");
        assert_eq!(got.len(), 1, "one event: the company's is not asked for");
        let (headers, body) = &got[0];
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let ts: i64 = header("peyvand-timestamp").parse().expect("a timestamp");
        assert!(webhooks::verify(&sub.secret, &header("peyvand-signature"), ts, body, Duration::minutes(5)), "signed");
        let sent: Json = serde_json::from_str(body).expect("json");
        assert_eq!(sent["type"], "contact.created");
        assert_eq!(sent["id"], json!(header("peyvand-event-id")));
        assert_eq!(sent["data"]["fields"]["last_name"], "Saberi");
    }

    // The receiver fails: the delivery waits and is tried again with the same event id.
    *receiver.status.lock().expect("lock") = 500;
    db.update_record(None, "contact", &c.id, &input(json!({"first_name": "Nima"})), None).await.expect("changed");
    settle(&runner).await;
    let log = webhooks::deliveries(db, &sub.id, 10).await.expect("log");
    assert_eq!((log[0].status.as_str(), log[0].attempts, log[0].response_status), ("pending", 1, Some(500)));
    *receiver.status.lock().expect("lock") = 200;
    time_passes(db).await;
    settle(&runner).await;
    let log = webhooks::deliveries(db, &sub.id, 10).await.expect("log");
    assert_eq!((log[0].status.as_str(), log[0].attempts), ("delivered", 2));
    let events = receiver.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1], events[2], "a retry carries the same event id");

    // Down altogether (nothing listens), then failing until paused: nothing is lost.
    server.abort();
    let _ = server.await;
    {
        let mut tx = db.write().await.expect("write");
        sqlx::query("UPDATE webhook_subscriptions SET failures = $1 WHERE id = $2")
            .bind(webhooks::PAUSE_AFTER - 1)
            .bind(sub.id.clone())
            .execute(&mut *tx.tx)
            .await
            .expect("failures");
        tx.commit().await.expect("commit");
    }
    db.update_record(None, "contact", &c.id, &input(json!({"first_name": "Omid"})), None).await.expect("changed");
    settle(&runner).await;
    let paused = webhooks::get(db, &sub.id).await.expect("sub");
    assert!(!paused.active && paused.paused_at.is_some(), "paused after {} failures", webhooks::PAUSE_AFTER);
    let log = webhooks::deliveries(db, &sub.id, 10).await.expect("log");
    assert_eq!(log[0].status, "pending");
    assert!(
        log[0].error.as_deref().is_some_and(|e| e.contains("refused") || e.contains("unreachable")),
        "{:?}",
        log[0].error
    );
    let _server = receiver.start(port).await;
    time_passes(db).await;
    settle(&runner).await;
    assert_eq!(webhooks::deliveries(db, &sub.id, 10).await.expect("log")[0].status, "pending", "paused: it waits");
    webhooks::resume(db, &sub.id).await.expect("resumed");
    settle(&runner).await;
    let log = webhooks::deliveries(db, &sub.id, 10).await.expect("log");
    assert_eq!(log[0].status, "delivered");
    assert_eq!(receiver.events().len(), 4);

    // A replay sends the delivered event again, under its id.
    let first = log.last().expect("the first delivery").clone();
    webhooks::replay(db, &first.id).await.expect("replayed");
    settle(&runner).await;
    let events = receiver.events();
    assert_eq!(events.len(), 5);
    assert_eq!(events[4], first.event_id);
}

async fn send_on_create(db: &Db) -> String {
    let t = templates::save(
        db,
        None,
        &TemplateInput {
            name: "خوشامد".into(),
            channel: "email".into(),
            object: "contact".into(),
            language: "en".into(),
            subject: "Welcome, {{ record.first_name }}".into(),
            body: "Dear {{ record.first_name }},\nwelcome on {{ today }}.".into(),
        },
    )
    .await
    .expect("template");
    workflows::save(
        db,
        None,
        None,
        &WorkflowInput {
            name: "Welcome".into(),
            object: "contact".into(),
            enabled: true,
            definition: Definition {
                trigger: Trigger::Created,
                condition: None,
                steps: vec![Action::SendEmail { template: t.id }],
            },
        },
    )
    .await
    .expect("workflow")
    .id
}

async fn refused_mail_bounces_and_a_server_down_loses_nothing(db: &Db) {
    let Some(mut server) = SmtpServer::start(None).await else { return };
    smtp(db, &server).await;
    let runner = runner(db).await;
    send_on_create(db).await;
    db.create_record(
        None,
        "contact",
        &input(json!({"first_name": "Nobody", "last_name": "X", "emails": ["nobody@refused.example"]})),
        None,
    )
    .await
    .expect("contact");
    settle(&runner).await;
    let bounced = mail::messages(db, Some("failed"), 10).await.expect("failed");
    assert_eq!(bounced.len(), 1);
    assert!(bounced[0].bounced, "{bounced:?}");
    assert!(bounced[0].error.as_deref().is_some_and(|e| e.contains("550")), "{:?}", bounced[0].error);
    assert!(server.messages().is_empty());

    server.stop().await;
    db.create_record(
        None,
        "contact",
        &input(json!({"first_name": "Leila", "last_name": "Y", "emails": ["leila@customer.example"]})),
        None,
    )
    .await
    .expect("contact");
    settle(&runner).await;
    let waiting = mail::messages(db, Some("queued"), 10).await.expect("queued");
    assert_eq!((waiting.len(), waiting[0].attempts), (1, 1), "{waiting:?}");
    assert!(server.restart().await, "the server is back");
    time_passes(db).await;
    settle(&runner).await;
    let sent = server.messages();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains(&format!("Peyvand-Event-Id: {}", waiting[0].id)));
    assert!(sent[0].contains("Subject: Welcome, Leila"));
    assert_eq!(mail::message(db, &waiting[0].id).await.expect("message").status, "sent");
}

async fn mail_goes_over_starttls(db: &Db) {
    let dir = std::env::temp_dir().join(format!("peyvand-tls-{}", peyvand_store::new_id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (ca, ca_key, cert, key, csr) =
        (dir.join("ca.pem"), dir.join("ca.key"), dir.join("cert.pem"), dir.join("key.pem"), dir.join("cert.csr"));
    let ext = dir.join("ext.cnf");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n").expect("ext");
    let openssl = |args: &[&str]| {
        let ok = std::process::Command::new("openssl").args(args).output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "openssl {args:?}");
    };
    let p = |x: &std::path::Path| x.to_string_lossy().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
        "-days",
        "1",
        "-subj",
        "/CN=Peyvand Test CA",
    ]);
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &p(&key), "-out", &p(&csr), "-subj", "/CN=127.0.0.1"]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-out",
        &p(&cert),
        "-days",
        "1",
        "-extfile",
        &p(&ext),
    ]);
    let Some(server) = SmtpServer::start(Some((cert.clone(), key.clone()))).await else { return };
    let settings = mail::SmtpSettings {
        host: "127.0.0.1".into(),
        port: server.port,
        security: "starttls".into(),
        from_address: "crm@peyvand.test".into(),
        extra_root_pem: std::fs::read_to_string(&ca).expect("ca"),
        ..mail::SmtpSettings::default()
    };
    mail::save_smtp(db, &settings).await.expect("settings");
    let e = mail::save_smtp(db, &mail::SmtpSettings { extra_root_pem: "not a certificate".into(), ..settings.clone() })
        .await
        .expect_err("bad pem");
    assert_eq!(codes(&e), [("extra_root_pem".to_string(), "invalid_certificate")]);
    let runner = runner(db).await;
    send_on_create(db).await;
    db.create_record(
        None,
        "contact",
        &input(json!({"first_name": "Tara", "last_name": "Z", "emails": ["tara@customer.example"]})),
        None,
    )
    .await
    .expect("contact");
    settle(&runner).await;
    let sent = server.messages();
    assert_eq!(sent.len(), 1, "{:?}", mail::messages(db, None, 5).await);
    assert!(sent[0].contains("To: tara@customer.example"));
    let _ = std::fs::remove_dir_all(&dir);
}

async fn email_in_joins_tickets_and_timelines(db: &Db) {
    use peyvand_crm::automation::inbox::{self, ImapSettings};
    use peyvand_crm::service::conversation::{self, Reply};
    let Some(smtp_server) = SmtpServer::start(None).await else { return };
    let Some(imap) = ImapServer::start().await else { return };
    smtp(db, &smtp_server).await;
    let settings = ImapSettings {
        host: "127.0.0.1".into(),
        port: imap.port,
        security: "none".into(),
        username: imap.user.clone(),
        password: imap.password.clone(),
        mailbox: "INBOX".into(),
        support_address: "support@desk.test".into(),
        poll_seconds: 60,
    };
    inbox::save_imap(db, &settings).await.expect("imap settings");
    let runner = runner(db).await;
    let agent = db.create_user("agent@desk.test", "Agent", Role::Agent, "x", "fa").await.expect("agent").id;
    let contact = db
        .create_record(
            None,
            "contact",
            &input(json!({"first_name": "پریسا", "last_name": "نوری", "emails": ["parisa@customer.example"]})),
            None,
        )
        .await
        .expect("contact")
        .0;
    let ticket = db
        .create_record(
            None,
            "ticket",
            &input(json!({"subject": "کولر آب می‌دهد", "contact": contact.id, "owner": agent})),
            None,
        )
        .await
        .expect("ticket")
        .0;
    // The agent's public reply is e-mailed to the customer.
    let reply = Reply {
        body: "لطفاً شلنگ تخلیه را بررسی کنید.".into(),
        public: true,
        status: Some("waiting".into()),
        ..Reply::default()
    };
    let sent = conversation::reply(db, &agent, &ticket.id, &reply).await.expect("reply");
    settle(&runner).await;
    let out = smtp_server.messages();
    assert_eq!(out.len(), 1, "the reply reached the customer");
    let parsed = mail_parser::MessageParser::default().parse(out[0].as_bytes()).expect("mime");
    let their_id = parsed.message_id().expect("a Message-ID").to_string();
    assert!(their_id.starts_with(&sent.id), "{their_id}");
    assert!(parsed.subject().is_some_and(|s| s.contains("کولر آب می‌دهد")));

    // The customer answers with a file; a stranger writes to support; the contact writes to
    // sales; a delivery report comes back about the reply; and a message that is no MIME.
    imap.deliver(&format!(
        "From: Parisa Noori <parisa@customer.example>\nTo: support@desk.test\nSubject: Re: {}\nMessage-ID: <r1@customer.example>\n\
         In-Reply-To: <{their_id}>\nReferences: <{their_id}>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n\
         بررسی کردم، هنوز آب می‌دهد.\n\nOn Sat, 5 Dec 2026 Peyvand wrote:\n> لطفاً شلنگ\n--b1\n\
         Content-Type: text/plain; name=\"log.txt\"\nContent-Disposition: attachment; filename=\"log.txt\"\n\n\
         error 42\n--b1--\n",
        parsed.subject().unwrap_or_default()
    ))
    .await;
    imap.deliver(
        "From: Kaveh <kaveh@unknown.example>\nTo: support@desk.test\nSubject: =?utf-8?b?2qnYp9mE2Kcg2LHYs9uM2K8g2YbYtNiv?=\n\
         Message-ID: <n1@unknown.example>\nContent-Type: text/plain; charset=utf-8\n\nسفارش ۱۲۳ هنوز نرسیده است.\n",
    )
    .await;
    imap.deliver(
        "From: parisa@customer.example\nTo: sales@desk.test\nSubject: Price list\nMessage-ID: <t1@customer.example>\n\n\
         Please send me the new price list.\n",
    )
    .await;
    imap.deliver(&format!(
        "From: MAILER-DAEMON@mx.customer.example\nTo: crm@peyvand.test\nSubject: Undelivered Mail Returned to Sender\n\
         Message-ID: <b1@mx.customer.example>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n\
         --r\nContent-Type: text/plain\n\nThe mail system could not deliver it.\n--r\nContent-Type: text/rfc822-headers\n\n\
         Message-ID: <{their_id}>\n--r--\n"
    ))
    .await;
    imap.deliver("this is not\na message at all").await;

    let handled = inbox::poll(db, &settings).await.expect("poll");
    let outcomes: Vec<&str> = handled.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ticket_reply", "ticket", "timeline", "bounce", "unmatched"], "{handled:?}");
    // The reply joined the ticket: its own words, by the contact, its file kept; the ticket is
    // open again.
    let messages = conversation::messages(db, &ticket.id).await.expect("messages");
    let theirs = messages
        .iter()
        .find(|m| m.author_contact.as_deref() == Some(contact.id.as_str()))
        .expect("the customer's reply");
    assert_eq!(theirs.body, "بررسی کردم، هنوز آب می‌دهد.");
    assert_eq!(theirs.attachments.iter().map(|a| a.file_name.as_str()).collect::<Vec<_>>(), ["log.txt"]);
    assert_eq!(db.get_record("ticket", &ticket.id, false).await.expect("ticket").fields["status"], "open");
    // The stranger's message is a ticket with them as requester.
    let new = db.get_record("ticket", handled[1].record_id.as_deref().expect("id"), false).await.expect("new ticket");
    assert_eq!(new.fields["subject"], "کالا رسید نشد");
    assert_eq!(new.fields["requester_email"], "kaveh@unknown.example");
    assert_eq!(new.fields["channel"], "email");
    // The contact's note to sales is on their timeline.
    let note = db.get_record("activity", handled[2].record_id.as_deref().expect("id"), false).await.expect("activity");
    assert_eq!(
        (note.fields["direction"].as_str(), note.fields["contact"].as_str()),
        (Some("inbound"), Some(contact.id.as_str()))
    );
    // The report marked the reply's e-mail bounced.
    let bounced = mail::message(db, &sent.id).await.expect("the reply's e-mail");
    assert!(bounced.bounced && bounced.status == "failed", "{bounced:?}");
    // Read again: nothing is new, nothing is done twice.
    assert!(inbox::poll(db, &settings).await.expect("poll").is_empty());
    assert_eq!(conversation::messages(db, &ticket.id).await.expect("messages").len(), messages.len());
}

async fn letters_print_for_a_selection_and_go_on_the_timeline(db: &Db) {
    use peyvand_crm::automation::letters::{self, Selection};
    let runner = runner(db).await;
    let mut ids = Vec::new();
    for (first, city) in [("مینا", "tehran"), ("کاوه", "shiraz"), ("Sara", "tehran")] {
        let c = db
            .create_record(
                None,
                "contact",
                &input(json!({"first_name": first, "last_name": "Test", "job_title": city})),
                None,
            )
            .await
            .expect("contact")
            .0;
        ids.push(c.id);
    }
    let sms = templates::save(
        db,
        None,
        &TemplateInput {
            name: "x".into(),
            channel: "sms".into(),
            object: "contact".into(),
            language: "fa".into(),
            subject: String::new(),
            body: "x".into(),
        },
    )
    .await
    .expect("sms");
    let e = letters::render(db, &sms, &Selection::Ids(ids.clone())).await.expect_err("not a letter");
    assert_eq!(codes(&e), [("template".to_string(), "template_mismatch")]);
    let t = templates::save(
        db,
        None,
        &TemplateInput {
            name: "اطلاعیهٔ تعطیلات".into(),
            channel: "letter".into(),
            object: "contact".into(),
            language: "fa".into(),
            subject: "اطلاعیه برای {{ record.first_name }}".into(),
            body: "{{ record.first_name }} گرامی،\n\nدفتر ما از ۱ فروردین تعطیل است.\n{{ today }}".into(),
        },
    )
    .await
    .expect("letter");
    // A whole selection by the list's filter, and one record by its id.
    let some =
        letters::render(db, &t, &Selection::Filter(Some(json!({"field": "job_title", "op": "eq", "value": "tehran"}))))
            .await
            .expect("letters");
    assert_eq!(some.iter().map(|l| l.subject.as_str()).collect::<Vec<_>>(), ["اطلاعیه برای مینا", "اطلاعیه برای Sara"]);
    assert!(some[0].body.starts_with("مینا گرامی،\n\nدفتر ما"), "{}", some[0].body);
    let one = letters::render(db, &t, &Selection::Ids(vec![ids[1].clone()])).await.expect("one letter");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].record_id, ids[1]);
    // The timeline: one letter activity per customer, once however often the jobs run.
    letters::log(db, &t, &some, None).await.expect("logged");
    settle(&runner).await;
    settle(&runner).await;
    let failed: Vec<_> =
        db.jobs(None, 50).await.expect("jobs").into_iter().filter(|j| j.kind == "letter_log").collect();
    assert!(failed.iter().all(|j| j.status == "done"), "{failed:?}");
    for (id, want) in [(&ids[0], 1), (&ids[1], 0), (&ids[2], 1)] {
        let obj = db.object("activity").await.expect("activity");
        let filter = peyvand_records::filter::parse_filter(&obj, &json!({"and": [{"field": "contact", "op": "eq", "value": id}, {"field": "kind", "op": "eq", "value": "letter"}]}))
            .expect("filter");
        let page = db
            .list_records("activity", &peyvand_store::records::ListQuery { filter: Some(filter), ..Default::default() })
            .await
            .expect("activities");
        assert_eq!(page.records.len(), want, "letters on {id}'s timeline");
    }
}

/// A step that makes a task due tomorrow.
fn task_step(subject: &str) -> Action {
    Action::Create { object: "task".into(), values: input(json!({ "subject": subject })), due_in_days: Some(1) }
}

async fn enabled(db: &Db, object: &str, trigger: Trigger, steps: Vec<Action>) -> workflows::Workflow {
    let input = WorkflowInput {
        name: format!("{object} {trigger:?}"),
        object: object.into(),
        enabled: true,
        definition: Definition { trigger, condition: None, steps },
    };
    workflows::save(db, None, None, &input).await.expect("workflow saved")
}

/// The subjects of the tasks linked to a record by `field`.
async fn tasks_of(db: &Db, field: &str, id: &str) -> Vec<String> {
    let filter = peyvand_records::filter::parse_filter(
        &db.object("task").await.expect("task"),
        &json!({ "field": field, "op": "eq", "value": id }),
    )
    .expect("filter");
    let query = peyvand_store::records::ListQuery { filter: Some(filter), ..Default::default() };
    let mut subjects: Vec<String> = db
        .list_records("task", &query)
        .await
        .expect("tasks")
        .records
        .iter()
        .map(|r| r.fields["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    subjects.sort();
    subjects
}

async fn forms_mail_hooks_and_deadlines_set_off_workflows(db: &Db) {
    use peyvand_crm::automation::inbox::{self, ImapSettings};
    use peyvand_crm::forms::{self, Assign, FormField, Submission};
    use peyvand_crm::service::clock::Hours;
    use peyvand_crm::service::levels::{self, Calendar, Escalation, Policy, Target};
    let runner = runner(db).await;
    let agent = db.create_user("desk@flows.test", "Agent", Role::Agent, "x", "fa").await.expect("agent").id;
    // A web form's lead, an e-mail from a contact, another system's signed request, a ticket
    // nearing its deadline: each sets off its workflow, and only its own.
    let form = forms::save(
        db,
        None,
        forms::Definition {
            name: "Enquiry".into(),
            object: "lead".into(),
            fields: vec![FormField { field: "last_name".into(), required: true }],
            intro_fa: String::new(),
            intro_en: String::new(),
            consent_fa: String::new(),
            consent_en: String::new(),
            consent_required: false,
            thanks_fa: String::new(),
            thanks_en: String::new(),
            redirect: None,
            campaign: None,
            assign: Assign::User { user: agent.clone() },
            active: true,
        },
    )
    .await
    .expect("form");
    let hook = webhooks::create_inbound(
        db,
        None,
        &webhooks::InboundInput { name: "Shop".into(), object: "contact".into(), match_field: None },
    )
    .await
    .expect("inbound hook");
    enabled(
        db,
        "lead",
        Trigger::FormSubmitted { form: Some(form.id.clone()) },
        vec![task_step("Call {{ record.last_name }}")],
    )
    .await;
    enabled(db, "contact", Trigger::EmailReceived, vec![task_step("Answer {{ record.first_name }}")]).await;
    enabled(
        db,
        "contact",
        Trigger::HookReceived { hook: Some(hook.id.clone()) },
        vec![task_step("Welcome from the shop")],
    )
    .await;
    let near = enabled(
        db,
        "ticket",
        Trigger::BreachNear { target: Some("first_response".into()) },
        vec![Action::Update { values: input(json!({"priority": "urgent"})) }],
    )
    .await;
    // A trigger that cannot be: a ticket's deadline on contacts, another object's form.
    let bad =
        Definition { trigger: Trigger::BreachNear { target: None }, condition: None, steps: vec![task_step("x")] };
    let e = workflows::save(
        db,
        None,
        None,
        &WorkflowInput { name: "bad".into(), object: "contact".into(), enabled: true, definition: bad },
    )
    .await
    .expect_err("refused");
    assert_eq!(codes(&e), [("trigger.kind".to_string(), "tickets_only")]);
    let other = Definition {
        trigger: Trigger::FormSubmitted { form: Some(form.id.clone()) },
        condition: None,
        steps: vec![task_step("x")],
    };
    let e = workflows::save(
        db,
        None,
        None,
        &WorkflowInput { name: "bad".into(), object: "contact".into(), enabled: true, definition: other },
    )
    .await
    .expect_err("refused");
    assert_eq!(codes(&e), [("trigger.form".to_string(), "form_mismatch")]);

    let submitted = forms::submit(
        db,
        &form.slug,
        &Submission {
            values: [("last_name".to_string(), "Rahimi".to_string())].into(),
            consent: false,
            attribution: Default::default(),
            lang: "en".into(),
        },
    )
    .await
    .expect("submitted");
    let contact = db
        .create_record(
            None,
            "contact",
            &input(json!({"first_name": "Nika", "last_name": "Azadi", "emails": ["nika@customer.example"]})),
            None,
        )
        .await
        .expect("contact")
        .0;
    settle(&runner).await;
    assert_eq!(tasks_of(db, "lead", &submitted.record_id).await, ["Call Rahimi"]);
    assert!(tasks_of(db, "contact", &contact.id).await.is_empty(), "a contact made by hand is no e-mail");

    let settings = ImapSettings {
        host: "127.0.0.1".into(),
        port: 9,
        security: "none".into(),
        username: "x".into(),
        ..ImapSettings::default()
    };
    let mail = "From: Nika <nika@customer.example>\nTo: sales@shop.test\nSubject: Prices\nMessage-ID: <p1@customer.example>\n\nWhat does it cost?\n";
    let handled = inbox::handle(db, &settings, mail.as_bytes()).await.expect("handled");
    assert_eq!(handled.outcome, "timeline");
    // The same message again: seen, nothing set off twice.
    inbox::handle(db, &settings, mail.as_bytes()).await.expect("handled again");
    settle(&runner).await;
    assert_eq!(tasks_of(db, "contact", &contact.id).await, ["Answer Nika"]);

    let body = json!({"fields": {"first_name": "Omid", "last_name": "Shop"}}).to_string();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = webhooks::signature(&hook.secret, ts, &body);
    let got = webhooks::receive(db, &hook.id, &ts.to_string(), &sig, Some("order-1"), &body).await.expect("received");
    webhooks::receive(db, &hook.id, &ts.to_string(), &sig, Some("order-1"), &body).await.expect("repeated");
    settle(&runner).await;
    assert_eq!(tasks_of(db, "contact", &got.record.id).await, ["Welcome from the shop"]);

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
            name: "billing 24/7".into(),
            position: -1,
            categories: vec!["billing".into()],
            customer_groups: vec![],
            calendar: cal.id,
            targets: ["low", "normal", "high", "urgent"]
                .iter()
                .map(|p| Target { priority: p.to_string(), first_response_minutes: 10, resolution_minutes: 600 })
                .collect(),
            warn_minutes: 30,
            escalation: Escalation::default(),
        },
    )
    .await
    .expect("policy");
    // Its first answer is due in ten minutes: the warning (thirty before) is due now.
    let ticket = db
        .create_record(
            None,
            "ticket",
            &input(json!({"subject": "Double charge", "category": "billing", "owner": agent})),
            None,
        )
        .await
        .expect("ticket")
        .0;
    settle(&runner).await;
    let ticket = db.get_record("ticket", &ticket.id, false).await.expect("ticket");
    assert_eq!(ticket.fields["priority"], json!("urgent"), "raised by the workflow");
    let runs = workflows::runs(db, Some(&near.id), None, 10).await.expect("runs");
    assert_eq!(runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(), ["done"]);
}

async fn a_run_waits_until_its_condition_or_gives_up(db: &Db) {
    let runner = runner(db).await;
    let wf = enabled(
        db,
        "deal",
        Trigger::Created,
        vec![
            Action::WaitUntil {
                condition: json!({"field": "stage", "op": "eq", "value": "won"}),
                timeout_minutes: 60 * 24,
            },
            task_step("Deliver {{ record.name }}"),
        ],
    )
    .await;
    let deal = async |name: &str| {
        db.create_record(None, "deal", &input(json!({"name": name, "stage": "negotiation"})), None)
            .await
            .expect("deal")
            .0
            .id
    };
    let (won, silent) = (deal("Pumps").await, deal("Valves").await);
    settle(&runner).await;
    let statuses = async || {
        let mut s: Vec<(String, String)> = workflows::runs(db, Some(&wf.id), None, 10)
            .await
            .expect("runs")
            .into_iter()
            .map(|r| (r.record_id, r.status))
            .collect();
        s.sort();
        s
    };
    assert!(statuses().await.iter().all(|(_, s)| s == "waiting"), "{:?}", statuses().await);
    assert!(tasks_of(db, "deal", &won).await.is_empty());
    // Another change is not the one awaited; the stage to won is, at once (not at the next look).
    db.update_record(None, "deal", &won, &input(json!({"name": "Pumps (12)"})), None).await.expect("renamed");
    settle(&runner).await;
    assert!(tasks_of(db, "deal", &won).await.is_empty());
    db.update_record(None, "deal", &won, &input(json!({"stage": "won", "won_reason": "price"})), None)
        .await
        .expect("won");
    settle(&runner).await;
    assert_eq!(tasks_of(db, "deal", &won).await, ["Deliver Pumps (12)"]);
    // The other looks again every quarter hour and gives up at its deadline, then goes on.
    time_passes(db).await;
    settle(&runner).await;
    assert!(tasks_of(db, "deal", &silent).await.is_empty(), "still waiting");
    let mut tx = db.write().await.expect("write");
    sqlx::query("UPDATE workflow_runs SET wait_deadline = $1 WHERE record_id = $2")
        .bind(peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() - Duration::minutes(1)))
        .bind(silent.clone())
        .execute(&mut *tx.tx)
        .await
        .expect("a day passes");
    tx.commit().await.expect("commit");
    time_passes(db).await;
    settle(&runner).await;
    assert_eq!(tasks_of(db, "deal", &silent).await, ["Deliver Valves"]);
    let runs = workflows::runs(db, Some(&wf.id), None, 10).await.expect("runs");
    assert!(runs.iter().all(|r| r.status == "done"), "{runs:?}");
    let gave_up = runs.iter().find(|r| r.record_id == silent).expect("its run");
    let first = gave_up.steps.iter().find(|s| s.kind == "wait_until").expect("the wait");
    assert_eq!(first.detail["timed_out"], json!(true));
}

async fn notifications_come_by_email_as_each_user_chose(db: &Db) {
    use peyvand_crm::automation::digest;
    use peyvand_crm::notifications::Preference;
    let Some(server) = SmtpServer::start(None).await else { return };
    smtp_at(db, &server, "https://crm.shop.test/").await;
    let runner = runner(db).await;
    let boss = db.create_user("boss@n.test", "Boss", Role::Manager, "x", "en").await.expect("boss").id;
    let quick = db.create_user("quick@n.test", "Quick", Role::Agent, "x", "en").await.expect("quick").id;
    let daily = db.create_user("daily@n.test", "Daily", Role::Agent, "x", "fa").await.expect("daily").id;
    let pref = |bell: bool, email: &str| vec![Preference { kind: "assigned".into(), bell, email: email.into() }];
    notifications::set_preferences(db, &quick, &pref(false, "instant")).await.expect("quick's choice");
    notifications::set_preferences(db, &daily, &pref(true, "daily")).await.expect("daily's choice");
    let e = notifications::set_preferences(
        db,
        &daily,
        &[Preference { kind: "gossip".into(), bell: true, email: "hourly".into() }],
    )
    .await
    .expect_err("refused");
    assert_eq!(codes(&e).len(), 2);
    let chosen = notifications::preferences(db, &quick).await.expect("preferences");
    assert_eq!(chosen.len(), notifications::KINDS.len());
    assert!(chosen.iter().any(|p| p.kind == "assigned" && !p.bell && p.email == "instant"));
    for (owner, subject) in [(&quick, "Call the bank"), (&daily, "Visit Tabriz")] {
        let due = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() + Duration::days(1));
        db.create_record(Some(&boss), "task", &input(json!({"subject": subject, "owner": owner, "due_at": due})), None)
            .await
            .expect("task");
    }
    settle(&runner).await;
    // Quick's came at once by e-mail, with a link, and not under the bell.
    assert_eq!(notifications::unread_count(db, &quick).await.expect("unread"), 0);
    assert_eq!(notifications::list(db, &quick, false, 10).await.expect("kept").len(), 1, "kept, read");
    let sent = server.messages();
    assert_eq!(sent.len(), 1, "only quick's, at once");
    assert!(sent[0].contains("quick@n.test") && sent[0].contains("Call the bank"), "{}", sent[0]);
    assert!(sent[0].contains("https://crm.shop.test/records/task/"), "a full link");
    // Daily's waits under the bell for the morning's digest, which lists it.
    assert_eq!(notifications::unread_count(db, &daily).await.expect("unread"), 1);
    let morning = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() + Duration::minutes(1));
    assert_eq!(digest::send_digests(db, &morning).await.expect("digests"), 1);
    assert_eq!(digest::send_digests(db, &morning).await.expect("digests again"), 1, "queued again, kept once");
    settle(&runner).await;
    let sent = server.messages();
    assert_eq!(sent.len(), 2, "one digest");
    let parsed = mail_parser::MessageParser::default().parse(sent[1].as_bytes()).expect("mime");
    assert!(parsed.subject().is_some_and(|s| s.contains("۱")), "{:?}", parsed.subject());
    assert!(parsed.body_text(0).is_some_and(|b| b.contains("Visit Tabriz")));
    // Nothing about users is on any customer's timeline.
    assert!(db.list_records("activity", &Default::default()).await.expect("activities").records.is_empty());
    // The next morning's digest is scheduled.
    let jobs = db.jobs(Some("pending"), 100).await.expect("jobs");
    assert!(jobs.iter().any(|j| j.kind == digest::DIGEST_JOB), "{jobs:?}");
}

async fn a_saved_view_is_mailed_as_each_recipient_sees_it(db: &Db) {
    use peyvand_crm::automation::reports::{self, ScheduleInput};
    let Some(server) = SmtpServer::start(None).await else { return };
    smtp(db, &server).await;
    let runner = runner(db).await;
    let admin = db.create_user("admin@r.test", "Admin", Role::Admin, "x", "en").await.expect("admin").id;
    let rep = db.create_user("rep@r.test", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let other = db.create_user("other@r.test", "Other", Role::Agent, "x", "fa").await.expect("other").id;
    for (who, name) in [(&rep, "Mina"), (&other, "Kaveh")] {
        db.create_team(&TeamInput {
            name: format!("team {name}"),
            parent_id: None,
            manager_id: None,
            members: vec![who.clone()],
        })
        .await
        .expect("team");
        db.create_record(
            None,
            "contact",
            &input(json!({"first_name": name, "last_name": "Tehrani", "city": "tehran", "owner": who})),
            None,
        )
        .await
        .expect("contact");
    }
    db.create_record(
        None,
        "contact",
        &input(json!({"first_name": "Sara", "last_name": "Shirazi", "city": "shiraz", "owner": rep})),
        None,
    )
    .await
    .expect("contact");
    let view = db
        .create_view(
            &admin,
            &peyvand_records::view::NewView {
                object: "contact".into(),
                name: "Tehran".into(),
                shared: true,
                kind: peyvand_records::view::ViewKind::List,
                filter: Some(json!({"field": "city", "op": "eq", "value": "tehran"})),
                sort: "first_name".into(),
                columns: vec!["city".into()],
                group_by: None,
            },
        )
        .await
        .expect("view");
    let bad = ScheduleInput {
        name: String::new(),
        view_id: "nope".into(),
        report_id: None,
        format: "pdf".into(),
        recipients: vec![],
        weekday: Some(7),
        hour: 8,
        enabled: true,
    };
    let mut got = codes(&reports::save(db, &admin, None, &bad).await.expect_err("refused"));
    got.sort();
    assert_eq!(
        got,
        [
            ("format".to_string(), "invalid_option"),
            ("name".to_string(), "required"),
            ("recipients".to_string(), "required"),
            ("view_id".to_string(), "unknown_view"),
            ("weekday".to_string(), "out_of_range")
        ]
    );
    let schedule = reports::save(
        db,
        &admin,
        None,
        &ScheduleInput {
            name: "Tehran weekly".into(),
            view_id: view.id.clone(),
            report_id: None,
            format: "csv".into(),
            recipients: vec![rep.clone(), admin.clone()],
            weekday: Some(0),
            hour: 8,
            enabled: true,
        },
    )
    .await
    .expect("scheduled");
    // Its Saturday send is scheduled.
    let jobs = db.jobs(Some("pending"), 100).await.expect("jobs");
    assert!(jobs.iter().any(|j| j.kind == reports::REPORT_JOB), "{jobs:?}");
    assert_eq!(reports::send_now(db, &schedule.id).await.expect("sent"), 2);
    settle(&runner).await;
    let sent = server.messages();
    assert_eq!(sent.len(), 2);
    let csv_of = |to: &str| -> String {
        let m = sent.iter().find(|m| m.contains(to)).expect("a message to them");
        let parsed = mail_parser::MessageParser::default().parse(m.as_bytes()).expect("mime");
        use mail_parser::MimeHeaders;
        let file = parsed.attachments().next().expect("an attachment");
        assert!(file.attachment_name().is_some_and(|n| n.ends_with(".csv")));
        String::from_utf8(file.contents().to_vec()).expect("utf-8")
    };
    // The rep sees their team's Tehran customers only, in Persian; the admin every one.
    let reps = csv_of("rep@r.test");
    assert!(reps.contains("Mina") && !reps.contains("Kaveh") && !reps.contains("Sara"), "{reps}");
    assert!(reps.contains("شهر"), "labelled in Persian: {reps}");
    let admins = csv_of("admin@r.test");
    assert!(admins.contains("Mina") && admins.contains("Kaveh") && !admins.contains("Sara"), "{admins}");
    assert!(admins.contains("City"), "in English: {admins}");
    // None of it is on a customer's timeline.
    assert!(db.list_records("activity", &Default::default()).await.expect("activities").records.is_empty());
    // As an Excel workbook, and as a table in the message.
    let mut xlsx = schedule.clone();
    xlsx.format = "xlsx".into();
    let table = reports::table(db, &view.id, &admin, &rep, "fa").await.expect("table");
    assert_eq!(table.rows.len(), 1);
    assert_eq!(&reports::xlsx_bytes(&table, "fa").expect("workbook")[..2], b"PK");
    assert!(reports::html_table(&table, "fa", "").contains("Mina"));

    // A saved report scheduled: contacts counted by city, each recipient their own figures.
    let report: peyvand_crm::insights::reports::ReportDef = serde_json::from_value(
        json!({"name": "By city", "object": "contact", "group": "city", "chart": "table", "shared": true}),
    )
    .expect("report");
    let as_admin = db.for_viewer(db.viewer_for(&admin).await.expect("viewer"));
    let report = peyvand_crm::insights::reports::save(&as_admin, None, report).await.expect("saved");
    let by_city = ScheduleInput {
        name: "Cities".into(),
        view_id: String::new(),
        report_id: Some(report.id.clone()),
        format: "csv".into(),
        recipients: vec![rep.clone(), admin.clone()],
        weekday: None,
        hour: 7,
        enabled: true,
    };
    let both = ScheduleInput { view_id: view.id.clone(), ..by_city.clone() };
    assert_eq!(
        codes(&reports::save(db, &admin, None, &both).await.expect_err("one source")),
        [("view_id".to_string(), "not_allowed")]
    );
    let scheduled = reports::save(db, &admin, None, &by_city).await.expect("scheduled");
    assert_eq!(scheduled.report_id.as_deref(), Some(report.id.as_str()));
    assert_eq!(reports::send_now(db, &scheduled.id).await.expect("sent"), 2);
    settle(&runner).await;
    let sent = server.messages();
    let csv_of = |to: &str| -> String {
        let m = sent.iter().rev().find(|m| m.contains(to)).expect("a message to them");
        let parsed = mail_parser::MessageParser::default().parse(m.as_bytes()).expect("mime");
        String::from_utf8(parsed.attachments().next().expect("an attachment").contents().to_vec()).expect("utf-8")
    };
    let reps = csv_of("rep@r.test");
    assert!(reps.contains("تعداد") && reps.contains("tehran,1") && reps.contains("shiraz,1"), "{reps}");
    let admins = csv_of("admin@r.test");
    assert!(admins.contains("Count") && admins.contains("tehran,2") && admins.contains("shiraz,1"), "{admins}");
}

async fn survey_invitations_reach_their_customers(db: &Db) {
    use peyvand_crm::automation::invitations;
    use peyvand_crm::feedback::surveys::{self, Invitee};
    let Some(server) = SmtpServer::start(None).await else { return };
    smtp(db, &server).await;
    let runner = runner(db).await;
    let contact = db
        .create_record(
            None,
            "contact",
            &input(json!({"first_name": "لیلا", "last_name": "صدری", "emails": ["leila@customer.example"]})),
            None,
        )
        .await
        .expect("contact")
        .0;
    let who = |c: &str| Invitee { contact: Some(c.to_string()), ..Invitee::default() };
    // Without a public address there is nothing to link to: the invitation waits, unsent.
    let first = surveys::invite(db, surveys::CSAT, &[who(&contact.id)]).await.expect("invited");
    settle(&runner).await;
    assert!(server.messages().is_empty());
    smtp_at(db, &server, "https://crm.shop.test").await;
    let (invitation, token) = &first[0];
    assert_eq!(invitations::send(db, &invitation.id).await.expect("sent"), Some("email".to_string()));
    assert_eq!(invitations::send(db, &invitation.id).await.expect("again"), Some("email".to_string()), "queued once");
    settle(&runner).await;
    let sent = server.messages();
    assert_eq!(sent.len(), 1, "one message per invitation");
    assert!(sent[0].contains("leila@customer.example"));
    let parsed = mail_parser::MessageParser::default().parse(sent[0].as_bytes()).expect("mime");
    let text = parsed.body_text(0).expect("a text part").to_string();
    assert!(text.contains(&format!("https://crm.shop.test/s/{token}")), "{text}");
    assert!(text.starts_with("لیلا صدری گرامی"), "{text}");
    // The link opens the survey; once answered, nothing more is sent.
    surveys::open(db, token).await.expect("the link opens");
    surveys::answer(db, token, &input(json!({"score": 5}))).await.expect("answered");
    assert_eq!(invitations::send(db, &invitation.id).await.expect("after"), None);
    // On the customer's timeline.
    let activities = db.list_records("activity", &Default::default()).await.expect("activities").records;
    assert!(activities.iter().any(|a| a.fields["contact"] == json!(contact.id)), "{activities:?}");
}

async fn a_condition_reads_the_related_record(db: &Db) {
    let runner = runner(db).await;
    // Deals of Tehran's customers, of a large amount or with a CEO: the related contact's city,
    // and an "or" over the deal's own amount and the contact's job title.
    let condition = json!({"and": [
        {"field": "contact.city", "op": "eq", "value": "tehran"},
        {"or": [{"field": "amount", "op": "gt", "value": "1000000"}, {"field": "contact.job_title", "op": "eq", "value": "CEO"}]}
    ]});
    let def = Definition {
        trigger: Trigger::Created,
        condition: Some(condition),
        steps: vec![task_step("Welcome {{ record.name }}")],
    };
    workflows::save(
        db,
        None,
        None,
        &WorkflowInput { name: "Tehran".into(), object: "deal".into(), enabled: true, definition: def },
    )
    .await
    .expect("saved");
    // A related field that is not there is refused at save, named with its relation.
    let bad = Definition {
        trigger: Trigger::Created,
        condition: Some(json!({"field": "contact.shoe_size", "op": "eq", "value": "42"})),
        steps: vec![task_step("x")],
    };
    let e = workflows::save(
        db,
        None,
        None,
        &WorkflowInput { name: "bad".into(), object: "deal".into(), enabled: true, definition: bad },
    )
    .await
    .expect_err("refused");
    assert_eq!(codes(&e), [("condition".to_string(), "unknown_field")]);
    let contact = async |city: &str, tier: &str| {
        db.create_record(None, "contact", &input(json!({"last_name": city, "city": city, "job_title": tier})), None)
            .await
            .expect("contact")
            .0
            .id
    };
    let (tehran, tehran_vip, shiraz) =
        (contact("tehran", "Clerk").await, contact("tehran", "CEO").await, contact("shiraz", "CEO").await);
    let deal = async |name: &str, contact: Option<&str>, amount: &str| {
        let mut fields = json!({"name": name, "amount": {"amount": amount, "currency": "IRR"}});
        if let Some(c) = contact {
            fields["contact"] = json!(c);
        }
        db.create_record(None, "deal", &input(fields), None).await.expect("deal").0.id
    };
    let big = deal("big", Some(&tehran), "5000000").await;
    let small = deal("small", Some(&tehran), "1000").await;
    let vip = deal("vip", Some(&tehran_vip), "1000").await;
    let far = deal("far", Some(&shiraz), "5000000").await;
    let nobody = deal("nobody", None, "5000000").await;
    settle(&runner).await;
    assert_eq!(tasks_of(db, "deal", &big).await, ["Welcome big"]);
    assert_eq!(tasks_of(db, "deal", &vip).await, ["Welcome vip"]);
    for (id, why) in [(&small, "small, not a CEO"), (&far, "not Tehran"), (&nobody, "no contact")] {
        assert!(tasks_of(db, "deal", id).await.is_empty(), "{why}");
    }
}
