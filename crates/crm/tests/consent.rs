//! Consent on both backends, with a real SMTP server: an e-mail grant waits for the person's
//! confirmation (double opt-in); marketing goes only to those who consented, whoever queued it,
//! with RFC 8058 headers; one click on the unsubscribe link withdraws consent and suppresses the
//! address (again: nothing changes); a forged link is not found; a bounce suppresses.

use peyvand_crm::automation::mail::{self, Outgoing};
use peyvand_crm::crm_tests;
use peyvand_crm::customers::consent::{self, ConsentInput, Followed};
use peyvand_crm::testing::SmtpServer;
use peyvand_store::runner::Runner;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;

crm_tests!(marketing_reaches_only_those_who_consented_and_one_click_unsubscribes);

fn input(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("an object")
}

async fn settle(runner: &Runner) {
    while runner.round().await.expect("round") > 0 {}
}

async fn status(db: &Db, id: &str) -> String {
    sqlx::query("SELECT status FROM outbound_messages WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(db.pool())
        .await
        .expect("message")
        .try_get(0)
        .expect("status")
}

async fn marketing(db: &Db, id: &str, contact: &str, to: &str) {
    let m = Outgoing {
        id: id.into(),
        channel: "email".into(),
        to: to.into(),
        subject: "یلدا مبارک — Yalda offers".into(),
        body: "۲۰٪ تخفیف تا پایان هفته".into(),
        language: "fa".into(),
        object: "contact".into(),
        record: contact.into(),
        contact: Some(contact.into()),
        sender: None,
        marketing: true,
    };
    let mut tx = db.write().await.expect("write");
    mail::queue_in(db, &mut tx, &m).await.expect("queue");
    tx.commit().await.expect("commit");
}

async fn marketing_reaches_only_those_who_consented_and_one_click_unsubscribes(db: &Db) {
    let Some(server) = SmtpServer::start(None).await else { return };
    mail::save_smtp(
        db,
        &mail::SmtpSettings {
            host: "127.0.0.1".into(),
            port: server.port,
            security: "none".into(),
            from_address: "news@peyvand.test".into(),
            from_name: "پیوند".into(),
            public_url: "https://crm.example".into(),
            ..mail::SmtpSettings::default()
        },
    )
    .await
    .expect("smtp settings");
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    runner.register().await.expect("register");
    let ana = db
        .create_record(
            None,
            "contact",
            &input(json!({"last_name": "Ahmadi", "emails": ["ana@customer.example"]})),
            None,
        )
        .await
        .expect("contact")
        .0;
    let bob = db
        .create_record(
            None,
            "contact",
            &input(json!({"last_name": "Bahrami", "emails": ["bob@customer.example"]})),
            None,
        )
        .await
        .expect("contact")
        .0;

    // A grant needs the text agreed to; an e-mail grant waits for confirmation.
    let ask = |status: &str, text: Option<&str>| ConsentInput {
        channel: "email".into(),
        status: status.into(),
        source: "staff".into(),
        consent_text: text.map(str::to_string),
    };
    let e = consent::set(db, &ana.id, &ask("granted", None), None).await.expect_err("no text");
    assert!(matches!(&e, Error::Validation(list) if list[0].code == "required"), "{e:?}");
    let c = consent::set(db, &ana.id, &ask("granted", Some("I want the newsletter")), None).await.expect("set");
    assert_eq!(c.status, "pending");
    settle(&runner).await;
    let sent = server.messages();
    let confirmation = sent.iter().find(|m| m.contains("ana@customer.example")).expect("the confirmation e-mail");
    let parsed = mail_parser::MessageParser::default().parse(confirmation.as_bytes()).expect("a message");
    let text = parsed.body_text(0).expect("its text").to_string();
    let start = text.find("https://crm.example/u/confirm/").expect("the link");
    let token: String = text[start + "https://crm.example/u/confirm/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();

    // Before confirming, marketing is held back; so for Bob, who never agreed.
    marketing(db, "m1", &ana.id, "ana@customer.example").await;
    marketing(db, "m2", &bob.id, "bob@customer.example").await;
    settle(&runner).await;
    assert_eq!((status(db, "m1").await, status(db, "m2").await), ("suppressed".into(), "suppressed".into()));

    assert!(matches!(consent::confirm(db, &token).await.expect("confirm"), Followed::Done { .. }));
    assert!(matches!(consent::confirm(db, &token).await.expect("again"), Followed::Already { .. }));
    assert!(matches!(consent::confirm(db, "c.x.email.forged").await, Err(Error::NotFound(_))));
    marketing(db, "m3", &ana.id, "ana@customer.example").await;
    settle(&runner).await;
    assert_eq!(status(db, "m3").await, "sent");
    let offer = server.messages().into_iter().find(|m| m.contains("Peyvand-Event-Id: m3")).expect("the offer");
    let parsed = mail_parser::MessageParser::default().parse(offer.as_bytes()).expect("a message");
    let one_click = parsed.header_raw("List-Unsubscribe-Post").map(str::trim);
    assert_eq!(one_click, Some("List-Unsubscribe=One-Click"), "{offer}");
    let header: String = parsed.header_raw("List-Unsubscribe").expect("the header").split_whitespace().collect();
    let link =
        header.strip_prefix("<https://crm.example/u/").and_then(|l| l.strip_suffix('>')).expect("the link").to_string();

    // One click: consent withdrawn, the address suppressed; again: nothing changes.
    assert!(matches!(consent::unsubscribe(db, &link).await.expect("unsubscribe"), Followed::Done { .. }));
    assert!(matches!(consent::unsubscribe(db, &link).await.expect("replayed"), Followed::Already { .. }));
    assert!(matches!(consent::unsubscribe(db, "u.x.email.forged").await, Err(Error::NotFound(_))));
    let standing = consent::of_contact(db, &ana.id).await.expect("consent");
    assert_eq!(standing[0].status, "withdrawn");
    let history: Vec<(String, String)> =
        consent::history(db, &ana.id, 10).await.expect("history").into_iter().map(|h| (h.status, h.source)).collect();
    assert_eq!(
        history,
        [("withdrawn", "unsubscribe_link"), ("granted", "confirm_link"), ("pending", "staff")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let list = consent::suppressions(db, 10).await.expect("suppressions");
    assert_eq!((list[0].address.as_str(), list[0].reason.as_str()), ("ana@customer.example", "unsubscribed"));
    // Granted again by staff (by mistake): still suppressed, so still nothing goes.
    let mut tx = db.write().await.expect("write");
    consent::record_in(&mut tx, &ana.id, "email", "granted", "staff", Some("again"), None, None).await.expect("record");
    tx.commit().await.expect("commit");
    marketing(db, "m4", &ana.id, "ana@customer.example").await;
    settle(&runner).await;
    assert_eq!(status(db, "m4").await, "suppressed");
}
