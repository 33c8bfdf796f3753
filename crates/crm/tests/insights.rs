//! Reports on both backends: orders grouped by Jalali month (cut at Tehran's midnight, not
//! UTC's) and status, with sums, averages, maxima and distinct customers, checked against the
//! same figures worked out here from the orders made; each group's filter lists exactly its
//! records; a rep's run counts only the rep's orders; saved reports are their owner's until
//! shared; bad definitions are named.

use peyvand_crm::crm_tests;
use peyvand_crm::insights::reports::{self, ReportDef};
use peyvand_records::access::Role;
use peyvand_records::jalali::to_jalali;
use peyvand_store::records::ListQuery;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};

crm_tests!(reports_add_up_in_both_calendars_and_lead_to_their_records, reports_are_their_owners_and_checked);

fn input(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("an object")
}

fn def(v: Json) -> ReportDef {
    serde_json::from_value(v).expect("a report")
}

/// A group: the Jalali month and the status.
type Key = (String, String);

/// Orders: (contact index, UTC instant, status, total in rials).
const ORDERS: [(usize, &str, &str, i64); 7] = [
    (0, "2026-03-20T19:00:00Z", "paid", 1_000), // 22:30 in Tehran on 29 Esfand 1404
    (1, "2026-03-20T21:00:00Z", "paid", 3_000), // 00:30 in Tehran on 1 Farvardin 1405
    (0, "2026-03-25T08:00:00Z", "paid", 2_001),
    (1, "2026-04-10T08:00:00Z", "pending", 500),
    (2, "2026-04-19T21:00:00Z", "paid", 7_000), // 00:30 on 31 Farvardin
    (2, "2026-04-20T21:00:00Z", "paid", 4_000), // 1 Ordibehesht 1405 in Tehran
    (0, "2026-05-01T08:00:00Z", "cancelled", 900),
];

async fn reports_add_up_in_both_calendars_and_lead_to_their_records(db: &Db) {
    let rep = db.create_user("rep@reports.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let admin = db.create_user("admin@reports.ir", "Admin", Role::Admin, "x", "fa").await.expect("admin").id;
    let mut contacts = Vec::new();
    for (name, city) in [("Ahmadi", "Tehran"), ("Bahrami", "Tabriz"), ("Karimi", "Tehran")] {
        let fields = input(json!({"last_name": name, "city": city, "owner": admin}));
        let c = db.create_record(None, "contact", &fields, None).await.expect("contact");
        contacts.push(c.0.id);
    }
    for (i, (who, at, status, total)) in ORDERS.iter().enumerate() {
        // The rep owns the first three orders.
        let owner = if i < 3 { &rep } else { &admin };
        let fields = input(json!({"contact": contacts[*who], "ordered_at": at, "status": status,
            "total": {"amount": total.to_string(), "currency": "IRR"}, "owner": owner}));
        db.create_record(None, "order", &fields, None).await.expect("order");
    }
    let as_admin = db.for_viewer(db.viewer_for(&admin).await.expect("viewer"));
    let report = def(json!({"name": "Revenue by month", "object": "order", "group": "ordered_at:month,status",
        "measures": "sum:total,avg:total,max:total,distinct:contact", "calendar": "jalali"}));
    let figures = reports::run(&as_admin, &report, "en").await.expect("run");

    // The same figures worked out here: Tehran is three and a half hours ahead of UTC.
    let offset = time::UtcOffset::from_hms(3, 30, 0).expect("offset");
    let mut expected: BTreeMap<Key, (i64, i64, i64, BTreeSet<usize>)> = BTreeMap::new();
    for (who, at, status, total) in ORDERS {
        let local = peyvand_records::value::parse_datetime(at).expect("instant").to_offset(offset).date();
        let (y, m, _) = to_jalali(local).expect("jalali");
        let e = expected.entry((format!("{y:04}-{m:02}"), status.to_string())).or_default();
        e.0 += 1;
        e.1 += total;
        e.2 = e.2.max(total);
        e.3.insert(who);
    }
    assert!(expected.contains_key(&("1404-12".into(), "paid".into())), "the evening of 20 March is still 1404");
    assert!(expected.contains_key(&("1405-01".into(), "paid".into())));
    let got: BTreeMap<Key, (i64, i64, i64, usize)> = figures
        .aggregate
        .rows
        .iter()
        .map(|r| {
            let key = (
                r.group["ordered_at"].as_str().expect("month").to_string(),
                r.group["status"].as_str().expect("status").to_string(),
            );
            let int = |k: &str| r.measures[k].as_str().expect(k).parse::<i64>().expect("whole rials");
            let distinct = r.measures["distinct:contact"].as_i64().expect("distinct") as usize;
            (key, (r.count, int("sum:total"), int("max:total"), distinct))
        })
        .collect();
    let want: BTreeMap<Key, (i64, i64, i64, usize)> =
        expected.iter().map(|(k, (n, sum, max, who))| (k.clone(), (*n, *sum, *max, who.len()))).collect();
    assert_eq!(got, want);
    // Farvardin's paid orders: 3,000, 2,001 and 7,000; rials have no decimals.
    let farvardin_paid = figures
        .aggregate
        .rows
        .iter()
        .find(|r| r.group["ordered_at"] == json!("1405-01") && r.group["status"] == json!("paid"))
        .expect("Farvardin's paid orders");
    assert_eq!(farvardin_paid.measures["avg:total"], json!("4000"), "(3,000 + 2,001 + 7,000) / 3 = 4,000.33…");
    let april_pending = figures.aggregate.rows.iter().find(|r| r.group["status"] == json!("pending")).expect("pending");
    assert_eq!(april_pending.measures["avg:total"], json!("500"));
    assert_eq!(farvardin_paid.group["total__currency"], json!("IRR"), "a money measure is per currency");

    // Each group's filter lists exactly the records it counts.
    for (row, filter) in figures.aggregate.rows.iter().zip(&figures.drill) {
        let query = ListQuery {
            filter: Some(
                peyvand_records::filter::parse_filter(&db.object("order").await.expect("order"), filter)
                    .expect("a valid filter"),
            ),
            limit: Some(100),
            ..ListQuery::default()
        };
        let page = as_admin.list_records("order", &query).await.expect("list");
        assert_eq!(page.records.len() as i64, row.count, "{filter}");
    }

    // In the Gregorian calendar both evenings of 20 March are in March (UTC's day).
    let gregorian =
        def(json!({"name": "By month", "object": "order", "group": "ordered_at:month", "calendar": "gregorian"}));
    let months: Vec<(String, i64)> = reports::run(&as_admin, &gregorian, "fa")
        .await
        .expect("run")
        .aggregate
        .rows
        .iter()
        .map(|r| (r.group["ordered_at"].as_str().expect("month").to_string(), r.count))
        .collect();
    assert_eq!(months, [("2026-03".to_string(), 3), ("2026-04".to_string(), 3), ("2026-05".to_string(), 1)]);
    // Without a calendar a Persian reader gets Jalali quarters, an English one Gregorian.
    let quarters = def(json!({"name": "By quarter", "object": "order", "group": "ordered_at:quarter"}));
    let keys = |f: reports::Figures| {
        f.aggregate.rows.iter().map(|r| r.group["ordered_at"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>()
    };
    assert_eq!(keys(reports::run(&as_admin, &quarters, "fa").await.expect("run")), ["1404-Q4", "1405-Q1"]);
    assert_eq!(keys(reports::run(&as_admin, &quarters, "en").await.expect("run")), ["2026-Q1", "2026-Q2"]);

    // The rep's run of the same report counts the rep's three orders only.
    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    let theirs = reports::run(&as_rep, &gregorian, "en").await.expect("run");
    assert_eq!(theirs.aggregate.rows.iter().map(|r| r.count).sum::<i64>(), 3);

    // Orders by their contact's city: a related record's field, each city leading to its orders.
    let by_city = def(json!({"name": "By city", "object": "order", "group": "contact.city", "measures": "sum:total"}));
    let cities = reports::run(&as_admin, &by_city, "en").await.expect("run");
    let counts: Vec<(Json, i64)> =
        cities.aggregate.rows.iter().map(|r| (r.group["contact.city"].clone(), r.count)).collect();
    assert_eq!(counts, [(json!("Tabriz"), 2), (json!("Tehran"), 5)]);
    for (row, filter) in cities.aggregate.rows.iter().zip(&cities.drill) {
        let parsed =
            peyvand_records::filter::parse_filter(&db.object("order").await.expect("order"), filter).expect("a filter");
        let query = ListQuery { filter: Some(parsed), limit: Some(100), ..ListQuery::default() };
        assert_eq!(as_admin.list_records("order", &query).await.expect("list").records.len() as i64, row.count);
    }
    // The rep reads none of the admin's contacts: their orders' cities are not theirs to see.
    let blind = reports::run(&as_rep, &by_city, "en").await.expect("run");
    let counts: Vec<(Json, i64)> =
        blind.aggregate.rows.iter().map(|r| (r.group["contact.city"].clone(), r.count)).collect();
    assert_eq!(counts, [(Json::Null, 3)]);
}

async fn reports_are_their_owners_and_checked(db: &Db) {
    let a = db.create_user("a@reports.ir", "A", Role::Agent, "x", "fa").await.expect("a").id;
    let b = db.create_user("b@reports.ir", "B", Role::Agent, "x", "fa").await.expect("b").id;
    let as_a = db.for_viewer(db.viewer_for(&a).await.expect("viewer"));
    let as_b = db.for_viewer(db.viewer_for(&b).await.expect("viewer"));
    let mine = reports::save(&as_a, None, def(json!({"name": " Deals by stage ", "object": "deal", "group": "stage", "measures": "sum:amount", "chart": "funnel"})))
        .await
        .expect("saved");
    assert_eq!(mine.definition.name, "Deals by stage");
    assert_eq!(mine.owner_id, a);
    assert!(matches!(reports::get(&as_b, &mine.id).await, Err(Error::NotFound(_))), "not shared: not there for B");
    assert!(reports::list(&as_b).await.expect("list").is_empty());
    let shared = reports::save(&as_a, Some(&mine.id), ReportDef { shared: true, ..mine.definition.clone() })
        .await
        .expect("shared");
    assert!(shared.definition.shared);
    assert_eq!(reports::get(&as_b, &mine.id).await.expect("shared with B").id, mine.id);
    assert_eq!(reports::list(&as_b).await.expect("list").len(), 1);
    assert!(matches!(reports::delete(&as_b, &mine.id).await, Err(Error::Forbidden(_))), "B reads it, A owns it");
    assert!(matches!(reports::save(&as_b, Some(&mine.id), mine.definition.clone()).await, Err(Error::Forbidden(_))));
    reports::delete(&as_a, &mine.id).await.expect("the owner deletes it");
    assert!(matches!(reports::get(&as_a, &mine.id).await, Err(Error::NotFound(_))));

    // A choice's groups follow its choices' order: a pipeline's stages, not their keys' order.
    for (name, stage) in [("Boiler", "proposal"), ("Pump", "qualification"), ("Chiller", "negotiation")] {
        db.create_record(None, "deal", &input(json!({"name": name, "stage": stage})), None).await.expect("deal");
    }
    let by_stage =
        reports::run(db, &def(json!({"name": "Funnel", "object": "deal", "group": "stage", "chart": "funnel"})), "en")
            .await
            .expect("run");
    let stages: Vec<&str> = by_stage.aggregate.rows.iter().map(|r| r.group["stage"].as_str().unwrap_or("")).collect();
    assert_eq!(stages, ["qualification", "proposal", "negotiation"]);
    assert_eq!(by_stage.drill[0], json!({"field": "stage", "op": "eq", "value": "qualification"}));

    // Bad definitions: each problem named.
    let problems = |v: Json| {
        let as_a = as_a.clone();
        async move {
            match reports::save(&as_a, None, def(v)).await {
                Err(Error::Validation(e)) => e.iter().map(|e| format!("{}:{}", e.field, e.code)).collect::<Vec<_>>(),
                other => panic!("refused, not {other:?}"),
            }
        }
    };
    assert_eq!(
        problems(json!({"name": "x", "object": "deal", "group": "removed_field"})).await,
        ["group:unknown_field"]
    );
    assert_eq!(
        problems(json!({"name": "x", "object": "deal", "measures": "avg:name"})).await,
        ["measures:not_measurable"]
    );
    assert_eq!(
        problems(json!({"name": "x", "object": "deal", "calendar": "hijri"})).await,
        ["calendar:invalid_calendar"]
    );
    assert_eq!(
        problems(json!({"name": "", "object": "nothing", "chart": "radar"})).await,
        ["name:required", "chart:invalid_option", "object:invalid_option"]
    );
    assert_eq!(
        problems(json!({"name": "x", "object": "deal", "filter": {"field": "ghost", "op": "eq", "value": 1}})).await,
        ["filter:unknown_field"]
    );
}
