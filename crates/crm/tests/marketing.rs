//! Segments and campaigns on both backends, with a real SMTP server: a segment's conditions on
//! orders, consent and the record's own fields; a filter naming a removed field is a clear
//! error; a newsletter to recent buyers reaches only those who consented, its link is tracked,
//! one recipient unsubscribes with one click, and the report counts it all.

use peyvand_crm::automation::mail;
use peyvand_crm::automation::templates::{self, TemplateInput};
use peyvand_crm::crm_tests;
use peyvand_crm::customers::consent;
use peyvand_crm::marketing::campaigns::{self, CampaignDef};
use peyvand_crm::marketing::segments::{self, SegmentDef};
use peyvand_crm::testing::SmtpServer;
use peyvand_store::runner::Runner;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

crm_tests!(segments_find_their_customers_and_a_newsletter_reaches_only_those_who_consented);

fn input(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("an object")
}

async fn contact(db: &Db, name: &str, city: &str) -> String {
    let fields = input(
        json!({"last_name": name, "city": city, "emails": [format!("{}@customer.example", name.to_lowercase())]}),
    );
    db.create_record(None, "contact", &fields, None).await.expect("contact").0.id
}

async fn order(db: &Db, contact: &str, days_ago: i64, total: i64, status: &str) {
    let at = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() - time::Duration::days(days_ago));
    let fields = input(
        json!({"contact": contact, "ordered_at": at, "status": status, "total": {"amount": total.to_string(), "currency": "IRR"}}),
    );
    db.create_record(None, "order", &fields, None).await.expect("order");
}

async fn opt_in(db: &Db, contact: &str) {
    let mut tx = db.write().await.expect("write");
    consent::record_in(&mut tx, contact, "email", "granted", "confirm_link", Some("Newsletter"), None, None)
        .await
        .expect("consent");
    tx.commit().await.expect("commit");
}

fn def(v: Json) -> SegmentDef {
    serde_json::from_value(v).expect("a segment")
}

async fn members(db: &Db, v: Json) -> Vec<String> {
    let seg = segments::save(db, None, def(v)).await.expect("save the segment");
    let mut m = segments::members(db, &seg).await.expect("members");
    m.sort();
    m
}

fn sorted(mut v: Vec<&String>) -> Vec<String> {
    v.sort();
    v.into_iter().cloned().collect()
}

async fn segments_find_their_customers_and_a_newsletter_reaches_only_those_who_consented(db: &Db) {
    let ana = contact(db, "Ana", "Tehran").await;
    let bob = contact(db, "Bob", "Shiraz").await;
    let cyrus = contact(db, "Cyrus", "Tehran").await;
    let dara = contact(db, "Dara", "Tehran").await;
    order(db, &ana, 30, 5_000_000, "delivered").await;
    order(db, &bob, 120, 9_000_000, "delivered").await;
    order(db, &cyrus, 10, 800_000, "paid").await;
    order(db, &cyrus, 5, 300_000, "cancelled").await;
    opt_in(db, &ana).await;
    opt_in(db, &bob).await;

    let recent = members(db, json!({"name": "Bought in 90 days", "object": "contact", "conditions": [{"kind": "bought_within", "days": 90}]})).await;
    assert_eq!(recent, sorted(vec![&ana, &cyrus]));
    let opted = members(
        db,
        json!({"name": "Bought in 90 days, opted in", "object": "contact",
            "conditions": [{"kind": "bought_within", "days": 90}, {"kind": "consented", "channel": "email"}]}),
    )
    .await;
    assert_eq!(opted, vec![ana.clone()]);
    let big = members(
        db,
        json!({"name": "Spent over 4M in 200 days", "object": "contact",
        "conditions": [{"kind": "spent_more", "amount": "4000000", "days": 200}]}),
    )
    .await;
    assert_eq!(big, sorted(vec![&ana, &bob]), "the cancelled order counts for nothing");
    let lapsed = members(db, json!({"name": "No order for 60 days, in Tehran", "object": "contact",
        "filter": {"field": "city", "op": "eq", "value": "Tehran"}, "conditions": [{"kind": "no_order_for", "days": 60}]}))
    .await;
    assert_eq!(lapsed, vec![dara.clone()], "Tehran, and no order in 60 days (never counts)");

    // A filter naming a field since removed: a clear error, not an empty segment.
    let field: peyvand_store::schema::NewField = serde_json::from_value(
        json!({"api_name": "vip_level", "label_fa": "سطح", "label_en": "VIP level", "type": "text"}),
    )
    .expect("field");
    db.add_field(None, "contact", field).await.expect("add the field");
    let vip = segments::save(
        db,
        None,
        def(json!({"name": "VIPs", "object": "contact", "filter": {"field": "vip_level", "op": "eq", "value": "1"}})),
    )
    .await
    .expect("save");
    db.delete_field(None, "contact", "vip_level").await.expect("remove the field");
    let e = segments::members(db, &vip).await.expect_err("broken");
    assert!(matches!(&e, Error::Validation(list) if list[0].code == "segment_filter_broken"), "{e:?}");

    // The newsletter: to recent buyers; only Ana consented.
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
    .expect("smtp");
    let template = templates::save(
        db,
        None,
        &TemplateInput {
            name: "Yalda".into(),
            channel: "email".into(),
            object: "contact".into(),
            language: "en".into(),
            subject: "Yalda offers for {{ record.last_name }}".into(),
            body: "Dear {{ record.last_name }}, see https://shop.example/yalda today.".into(),
        },
    )
    .await
    .expect("template");
    let all = segments::list(db).await.expect("segments");
    let recent_segment = all.iter().find(|s| s.definition.name == "Bought in 90 days").expect("the segment");
    let c = campaigns::save(
        db,
        None,
        CampaignDef {
            name: "Yalda".into(),
            template: template.id.clone(),
            segment: recent_segment.id.clone(),
            scheduled_at: None,
            per_minute: 6000,
            attribution_days: 7,
        },
    )
    .await
    .expect("campaign");
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    runner.register().await.expect("register");
    campaigns::start(db, &c.id).await.expect("start");
    while runner.round().await.expect("round") > 0 {}
    let report = campaigns::report(db, &c.id).await.expect("report");
    assert_eq!((report.recipients, report.sent, report.suppressed), (2, 1, 1), "{report:?}");
    let sent = server.messages();
    assert_eq!(sent.len(), 1, "Cyrus never agreed: nothing reached him");
    let parsed = mail_parser::MessageParser::default().parse(sent[0].as_bytes()).expect("a message");
    let text = parsed.body_text(0).expect("text").to_string();
    assert!(text.starts_with("Dear Ana") && !text.contains("shop.example"), "the link is tracked: {text}");
    let at = text.find("https://crm.example/c/").expect("a tracked link");
    let token: String =
        text[at + "https://crm.example/c/".len()..].chars().take_while(|c| !c.is_whitespace()).collect();
    assert_eq!(campaigns::click(db, &token).await.expect("click"), "https://shop.example/yalda");
    campaigns::click(db, &token).await.expect("click again");
    assert!(matches!(campaigns::click(db, &format!("{token}x")).await, Err(Error::NotFound(_))));
    // Ana unsubscribes with one click, and orders within the week.
    let header: String = parsed.header_raw("List-Unsubscribe").expect("header").split_whitespace().collect();
    let link = header.strip_prefix("<https://crm.example/u/").and_then(|l| l.strip_suffix('>')).expect("link");
    consent::unsubscribe(db, link).await.expect("unsubscribe");
    order(db, &ana, 0, 2_000_000, "paid").await;
    let report = campaigns::report(db, &c.id).await.expect("report");
    assert_eq!((report.clicked, report.clicks, report.unsubscribed, report.buyers), (1, 2, 1, 1), "{report:?}");
    assert_eq!(report.revenue, vec![("2000000".to_string(), "IRR".to_string())]);
    // Started once: again is refused.
    let e = campaigns::start(db, &c.id).await.expect_err("twice");
    assert!(matches!(&e, Error::Validation(list) if list[0].code == "campaign_started"));
}
