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

crm_tests!(
    segments_find_their_customers_and_a_newsletter_reaches_only_those_who_consented,
    segments_give_points_and_benefits_and_steer_workflows,
    a_customers_last_order_is_kept_through_every_change
);

fn input(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("an object")
}

async fn contact(db: &Db, name: &str, city: &str) -> String {
    let fields = input(
        json!({"last_name": name, "city": city, "emails": [format!("{}@customer.example", name.to_lowercase())]}),
    );
    db.create_record(None, "contact", &fields, None).await.expect("contact").0.id
}

async fn order(db: &Db, contact: &str, days_ago: i64, total: i64, status: &str) -> String {
    let at = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() - time::Duration::days(days_ago));
    let fields = input(
        json!({"contact": contact, "ordered_at": at, "status": status, "total": {"amount": total.to_string(), "currency": "IRR"}}),
    );
    db.create_record(None, "order", &fields, None).await.expect("order").0.id
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
    // A category longer than any kept is refused, naming the condition.
    let long = def(json!({"name": "Long", "object": "contact",
        "conditions": [{"kind": "bought_category", "category": "x".repeat(101)}]}));
    let e = segments::save(db, None, long).await.expect_err("too long");
    assert!(
        matches!(&e, Error::Validation(list) if list[0].field == "conditions.0.category" && list[0].code == "too_long"),
        "{e:?}"
    );

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

/// Segments used elsewhere: one record's membership read alone agrees with the whole list's;
/// a segment's members given loyalty points and a benefit once per grant; a workflow's condition
/// on membership.
async fn segments_give_points_and_benefits_and_steer_workflows(db: &Db) {
    use peyvand_crm::automation::workflows::{self, Definition, Trigger, WorkflowInput};
    use peyvand_crm::loyalty::{ledger, programs};
    use peyvand_crm::marketing::grants::{self, PointsGrant};
    let ana = contact(db, "Ana", "Tehran").await;
    let bob = contact(db, "Bob", "Shiraz").await;
    let cyrus = contact(db, "Cyrus", "Tehran").await;
    let dara = contact(db, "Dara", "Tehran").await;
    order(db, &ana, 10, 2_000_000, "delivered").await;
    order(db, &bob, 200, 9_000_000, "delivered").await;
    order(db, &cyrus, 20, 500_000, "cancelled").await;
    order(db, &dara, 30, 7_000_000, "paid").await;
    opt_in(db, &dara).await;

    // One record's membership, read alone, is what the whole list says.
    let everyone = [&ana, &bob, &cyrus, &dara];
    let defs = [
        json!({"name": "Recent", "object": "contact", "conditions": [{"kind": "bought_within", "days": 90}]}),
        json!({"name": "Tehran, no recent order", "object": "contact", "filter": {"field": "city", "op": "eq", "value": "Tehran"},
            "conditions": [{"kind": "no_order_for", "days": 90}]}),
        json!({"name": "Big and opted in", "object": "contact",
            "conditions": [{"kind": "spent_more", "amount": "5000000", "days": 365}, {"kind": "consented", "channel": "email"}]}),
        json!({"name": "Hand-picked", "object": "contact", "kind": "static"}),
    ];
    let mut saved = Vec::new();
    for d in defs {
        let seg = segments::save(db, None, def(d)).await.expect("segment");
        if seg.definition.kind == "static" {
            segments::set_members(db, &seg.id, std::slice::from_ref(&bob), &[]).await.expect("members");
        }
        let all = segments::members(db, &seg).await.expect("members");
        for c in everyone {
            let alone = segments::contains(db, &seg, c).await.expect("contains");
            assert_eq!(alone, all.contains(c), "{} for {c}", seg.definition.name);
        }
        saved.push((seg, all));
    }
    assert_eq!(sorted(saved[0].1.iter().collect()), sorted(vec![&ana, &dara]));
    assert_eq!(saved[1].1, vec![cyrus.clone()]);
    assert_eq!(saved[2].1, vec![dara.clone()]);
    assert_eq!(saved[3].1, vec![bob.clone()]);
    let recent = saved[0].0.clone();

    // Points for the recent buyers, once per grant.
    let club: programs::Definition = serde_json::from_value(
        json!({"name_fa": "باشگاه", "name_en": "Club", "spend_rules": [{"per": "1000000", "points": 1}]}),
    )
    .expect("program");
    let club = programs::save(db, None, club).await.expect("club");
    let grant = PointsGrant { program: club.id.clone(), points: 100, note: "Yalda bonus".into() };
    let done = grants::award_points(db, None, &recent.id, &grant, Some("yalda-1")).await.expect("grant");
    assert_eq!((done.members, done.given), (2, 2));
    let again = grants::award_points(db, None, &recent.id, &grant, Some("yalda-1")).await.expect("retry");
    assert_eq!((again.members, again.given), (2, 0), "a retry gives nobody anything twice");
    let m = ledger::member(db, &club.id, &ana).await.expect("member").expect("a member");
    assert_eq!(m.balance, 100);
    assert!(ledger::member(db, &club.id, &bob).await.expect("member").is_none(), "not in the segment");
    let bad = PointsGrant { program: "nope".into(), points: 0, note: " ".into() };
    let Err(Error::Validation(e)) = grants::award_points(db, None, &recent.id, &bad, None).await else {
        panic!("refused")
    };
    let mut codes: Vec<(&str, &str)> = e.iter().map(|e| (e.field.as_str(), e.code)).collect();
    codes.sort();
    assert_eq!(codes, [("note", "required"), ("points", "out_of_range"), ("program", "unknown_program")]);

    // A benefit of their own for each recent buyer; what says whom it is for is the grant's.
    let fields = input(json!({"name": "Yalda 10%", "kind": "percent_discount", "percent": "10", "max_uses": 1}));
    let done = grants::grant_benefit(db, None, &recent.id, &fields, Some("yalda-b")).await.expect("benefit");
    assert_eq!((done.members, done.given), (2, 2));
    let again = grants::grant_benefit(db, None, &recent.id, &fields, Some("yalda-b")).await.expect("retry");
    assert_eq!(again.given, 0);
    let hers = peyvand_crm::sales::benefits::for_customer(db, Some(&ana), None).await.expect("benefits");
    assert_eq!(hers.iter().filter(|b| b.record.title == "Yalda 10%").count(), 1, "{hers:?}");
    let his = peyvand_crm::sales::benefits::for_customer(db, Some(&bob), None).await.expect("benefits");
    assert!(his.iter().all(|b| b.record.title != "Yalda 10%"));
    let sneaky = input(json!({"name": "All of it", "applies_to": "group"}));
    let Err(Error::Validation(e)) = grants::grant_benefit(db, None, &recent.id, &sneaky, None).await else {
        panic!("refused")
    };
    assert_eq!((e[0].field.as_str(), e[0].code), ("fields.applies_to", "read_only"));

    // A workflow's condition on membership; a segment that does not exist is refused at save.
    let flow = |segment: &str| Definition {
        trigger: Trigger::Changed { field: None, from: None, to: None },
        condition: Some(json!({"and": [{"in_segment": segment}, {"field": "city", "op": "eq", "value": "Tehran"}]})),
        steps: vec![workflows::Action::Notify {
            users: vec!["owner".into()],
            message: "A recent buyer changed".into(),
        }],
    };
    let met = |id: String| {
        let d = flow(&recent.id);
        async move { workflows::test_run(db, "contact", &d, &id).await.expect("test run").condition_met }
    };
    assert!(met(ana.clone()).await, "recent and in Tehran");
    assert!(!met(cyrus.clone()).await, "in Tehran, not recent");
    assert!(!met(bob.clone()).await);
    let input_wf =
        WorkflowInput { name: "Recent".into(), object: "contact".into(), enabled: false, definition: flow("nope") };
    let Err(Error::Validation(e)) = workflows::save(db, None, None, &input_wf).await else { panic!("refused") };
    assert_eq!((e[0].field.as_str(), e[0].code), ("condition", "unknown_segment"));
}

/// A contact's and a company's last order (the field recent-buyer segments read) follows every
/// kind of change to their orders, equals what a fill from all orders gives, and a segment's
/// whole list (from the field) agrees with each record's membership read from its orders.
async fn a_customers_last_order_is_kept_through_every_change(db: &Db) {
    let last = async |object: &str, id: &str| -> Option<String> {
        let r = db.get_record(object, id, false).await.expect("the customer");
        r.fields.get("last_order_at").and_then(Json::as_str).map(str::to_string)
    };
    let at_of = async |order: &str| -> String {
        let r = db.get_record("order", order, false).await.expect("the order");
        r.fields["ordered_at"].as_str().expect("a day").to_string()
    };
    let company =
        db.create_record(None, "company", &input(json!({"name": "Pars Tile"})), None).await.expect("company").0.id;
    let ana = contact(db, "Ana", "Tehran").await;
    let bob = contact(db, "Bob", "Shiraz").await;
    db.update_record(None, "contact", &ana, &input(json!({"company": company})), None).await.expect("works there");
    assert_eq!(last("contact", &ana).await, None, "no order yet");

    let old = order(db, &ana, 200, 1_000_000, "delivered").await;
    let recent = order(db, &ana, 20, 2_000_000, "paid").await;
    let older = order(db, &ana, 300, 500_000, "delivered").await;
    assert_eq!(last("contact", &ana).await, Some(at_of(&recent).await), "the latest, whatever the order written in");
    order(db, &ana, 1, 700_000, "cancelled").await;
    assert_eq!(last("contact", &ana).await, Some(at_of(&recent).await), "a cancelled order does not count");
    // The company's orders are its contacts' orders that name it.
    db.update_record(None, "order", &old, &input(json!({"company": company})), None).await.expect("company");
    assert_eq!(last("company", &company).await, Some(at_of(&old).await));

    // Returned: the one before is the last again; back to paid, the latest again.
    db.update_record(None, "order", &recent, &input(json!({"status": "returned"})), None).await.expect("return");
    assert_eq!(last("contact", &ana).await, Some(at_of(&old).await));
    db.update_record(None, "order", &recent, &input(json!({"status": "paid"})), None).await.expect("paid");
    assert_eq!(last("contact", &ana).await, Some(at_of(&recent).await));
    // Trashed and restored.
    db.delete_record(None, "order", &recent).await.expect("trash");
    assert_eq!(last("contact", &ana).await, Some(at_of(&old).await));
    db.restore_record(None, "order", &recent).await.expect("restore");
    assert_eq!(last("contact", &ana).await, Some(at_of(&recent).await));
    // Moved to another customer: both are worked out again.
    db.update_record(None, "order", &recent, &input(json!({"contact": bob})), None).await.expect("move");
    assert_eq!(last("contact", &ana).await, Some(at_of(&old).await));
    assert_eq!(last("contact", &bob).await, Some(at_of(&recent).await));
    // Its day moved back.
    let day = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() - time::Duration::days(400));
    db.update_record(None, "order", &old, &input(json!({"ordered_at": day})), None).await.expect("redated");
    assert_eq!(last("contact", &ana).await, Some(at_of(&older).await));
    assert_eq!(last("company", &company).await, Some(at_of(&old).await));

    // What was kept is what a fill from every order gives.
    let kept = [last("contact", &ana).await, last("contact", &bob).await, last("company", &company).await];
    peyvand_crm::sales::last_order::fill(db).await.expect("fill");
    assert_eq!(kept, [last("contact", &ana).await, last("contact", &bob).await, last("company", &company).await]);

    // Segments: the list (from the field) and one record (from its orders) agree.
    for days in [30, 250, 350] {
        for (kind, name) in [("bought_within", "Bought"), ("no_order_for", "Lapsed")] {
            let seg = segments::save(
                db,
                None,
                def(json!({"name": format!("{name} {days}"), "object": "contact", "conditions": [{"kind": kind, "days": days}]})),
            )
            .await
            .expect("segment");
            let listed = segments::members(db, &seg).await.expect("members");
            // Counted by the database, the same as listed; its first members among them.
            let (count, first) = segments::count_and_first(db, &seg, 1).await.expect("count");
            assert_eq!(count, listed.len(), "{kind} {days}");
            assert_eq!(first.len(), listed.len().min(1));
            assert!(first.iter().all(|(id, title)| listed.contains(id) && !title.is_empty()), "{first:?}");
            for id in [&ana, &bob] {
                let alone = segments::contains(db, &seg, id).await.expect("contains");
                assert_eq!(listed.contains(id), alone, "{kind} {days}: {id}");
            }
        }
    }
    // A role the kept field is hidden from gets the same members (read from the orders): a
    // segment's condition is not the user's filter on a field they may not see.
    let reader = db
        .create_user("reader@com.ir", "Reader", peyvand_records::access::Role::ReadOnly, "x", "fa")
        .await
        .expect("reader")
        .id;
    db.set_field_access(
        peyvand_records::access::Role::ReadOnly,
        "contact",
        peyvand_crm::sales::last_order::FIELD,
        peyvand_records::access::FieldAccess::Hidden,
    )
    .await
    .expect("hidden");
    let as_reader = db.for_viewer(db.viewer_for(&reader).await.expect("viewer"));
    for kind in ["bought_within", "no_order_for"] {
        let seg = segments::save(
            db,
            None,
            def(json!({"name": format!("{kind} 250, hidden"), "object": "contact", "conditions": [{"kind": kind, "days": 250}]})),
        )
        .await
        .expect("segment");
        let listed = segments::members(db, &seg).await.expect("members");
        assert_eq!(segments::members(&as_reader, &seg).await.expect("the reader's members"), listed, "{kind}");
        let (count, _) = segments::count_and_first(&as_reader, &seg, 5).await.expect("the reader's count");
        assert_eq!(count, listed.len(), "{kind}");
        assert_eq!(segments::contains(&as_reader, &seg, &ana).await.expect("contains"), listed.contains(&ana));
    }

    // Conditions read from orders and consents: counted from the members.
    opt_in(db, &bob).await;
    let mixed = segments::save(
        db,
        None,
        def(json!({"name": "Bought, opted in", "object": "contact",
            "conditions": [{"kind": "bought_within", "days": 30}, {"kind": "consented", "channel": "email"}]})),
    )
    .await
    .expect("segment");
    let (count, first) = segments::count_and_first(db, &mixed, 5).await.expect("count");
    assert_eq!((count, first.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()), (1, vec![bob.clone()]));
    let bought = |days: i64| json!({"name": format!("Company bought {days}"), "object": "company", "conditions": [{"kind": "bought_within", "days": days}]});
    assert!(members(db, bought(30)).await.is_empty());
    assert_eq!(members(db, bought(500)).await, vec![company.clone()]);
}
