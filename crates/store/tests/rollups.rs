//! Rollups on both backends: every aggregate a rollup answers equals the same aggregate computed
//! from the records, after creates, changes, trash, restores, bulk writes and concurrent writers;
//! rollups go with the fields they read; declaring is idempotent and bounded.

use peyvand_records::aggregate::{parse_aggregate, parse_aggregate_in};
use peyvand_records::filter::parse_filter;
use peyvand_store::aggregate::{Aggregate, Source};
use peyvand_store::schema::{FieldPatch, NewField, NewObject};
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

peyvand_crm::crm_tests!(
    rollup_answers_equal_the_records,
    concurrent_writers_keep_rollups_right,
    rollups_go_with_their_fields,
    declaring_is_idempotent_and_bounded,
    related_fields_move_with_their_records
);

fn map(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("object")
}

async fn sale_object(db: &Db) {
    let field = |v: Json| -> NewField { serde_json::from_value(v).expect("field") };
    let sale = NewObject {
        api_name: "sale".into(),
        label_fa: "فروش".into(),
        label_en: "Sale".into(),
        plural_fa: String::new(),
        plural_en: String::new(),
        fields: vec![
            field(json!({"api_name": "name", "type": "text", "required": true})),
            field(json!({"api_name": "stage", "type": "select", "options": {"options": [
                {"value": "new"}, {"value": "won"}, {"value": "lost"}]}})),
            field(json!({"api_name": "region", "type": "text"})),
            field(json!({"api_name": "branch", "type": "text"})),
            field(json!({"api_name": "amount", "type": "currency", "options": {"scale": 2}})),
            field(json!({"api_name": "units", "type": "integer"})),
            field(json!({"api_name": "closed_on", "type": "date"})),
            field(json!({"api_name": "urgent", "type": "boolean"})),
            field(json!({"api_name": "sold_at", "type": "datetime"})),
        ],
        title_field: None,
    };
    db.create_object(None, sale).await.expect("sale object");
}

/// The aggregate `group` / `sum` from the records (a filter every record passes makes the store
/// read them) and from whatever it would use unfiltered; both must agree, and the second must
/// come from a rollup when `rolled` says so.
async fn agree(db: &Db, group: &str, sum: &str, rolled: bool) -> Aggregate {
    let obj = db.object("sale").await.expect("sale");
    let spec = parse_aggregate(&obj, group, sum).expect("spec");
    let everything = parse_filter(&obj, &json!({"field": "created_at", "op": "gte", "value": "2000-01-01T00:00:00Z"}))
        .expect("filter");
    let scanned = db.aggregate("sale", Some(&everything), &spec).await.expect("scan");
    assert_eq!(scanned.source, Source::Scan);
    let answered = db.aggregate("sale", None, &spec).await.expect("aggregate");
    let expected = if rolled { Source::Rollup } else { Source::Scan };
    assert_eq!(answered.source, expected, "group={group} sum={sum}");
    assert_eq!(answered.rows, scanned.rows, "group={group} sum={sum}");
    answered
}

/// Issue 34: the aggregate `group` / `sum` of the records `filter` selects, from a rollup when
/// `rolled` says so (equality on fields it groups by), and from the records; both must agree.
async fn agree_filtered(db: &Db, group: &str, sum: &str, filter: Json, rolled: bool) {
    agree_in(db, group, sum, "", "", Some(filter), rolled).await;
}

/// [`agree_filtered`] with measures and a calendar, the filter optional.
async fn agree_in(
    db: &Db,
    group: &str,
    sum: &str,
    measure: &str,
    calendar: &str,
    filter: Option<Json>,
    rolled: bool,
) -> Aggregate {
    let obj = db.object("sale").await.expect("sale");
    let catalog = db.catalog().await.expect("catalog");
    let spec = parse_aggregate_in(&obj, group, sum, &|name| catalog.object(name))
        .and_then(|s| s.with_measures(&obj, measure, calendar))
        .expect("spec");
    let everything = json!({"field": "created_at", "op": "gte", "value": "2000-01-01T00:00:00Z"});
    let scan_filter = match &filter {
        Some(f) => json!({"and": [f.clone(), everything]}),
        None => everything,
    };
    let scan_filter = parse_filter(&obj, &scan_filter).expect("filter");
    let scanned = db.aggregate("sale", Some(&scan_filter), &spec).await.expect("scan");
    assert_eq!(scanned.source, Source::Scan);
    let filter = filter.map(|f| parse_filter(&obj, &f).expect("filter"));
    let answered = db.aggregate("sale", filter.as_ref(), &spec).await.expect("aggregate");
    let expected = if rolled { Source::Rollup } else { Source::Scan };
    let what = format!("group={group} sum={sum} measure={measure} calendar={calendar} {filter:?}");
    assert_eq!(answered.source, expected, "{what}");
    assert_eq!(answered.rows, scanned.rows, "{what}");
    answered
}

/// How many sales `filter` selects.
async fn count(db: &Db, filter: Json) -> i64 {
    let obj = db.object("sale").await.expect("sale");
    let spec = parse_aggregate(&obj, "", "").expect("spec");
    let f = parse_filter(&obj, &filter).expect("filter");
    db.aggregate("sale", Some(&f), &spec).await.expect("count").rows.first().map_or(0, |r| r.count)
}

/// Every question the test rollups answer, and some they do not.
async fn all_agree(db: &Db) {
    let on = |field: &str, op: &str, value: Json| json!({"field": field, "op": op, "value": value});
    agree_filtered(db, "closed_on:month", "amount", on("stage", "eq", json!("won")), true).await;
    agree_filtered(db, "stage", "units", on("stage", "in", json!(["won", "lost"])), true).await;
    agree_filtered(db, "branch", "", on("region", "eq", json!("ab")), true).await;
    agree_filtered(db, "branch", "", on("region", "is_empty", json!(true)), true).await;
    let both = json!({"and": [on("region", "eq", json!("r")), on("branch", "eq", json!("b"))]});
    agree_filtered(db, "", "", both, true).await;
    agree_filtered(db, "", "units", json!({"and": [on("stage", "eq", json!("new"))]}), true).await;
    let either = json!({"or": [on("stage", "eq", json!("won")), on("stage", "eq", json!("lost"))]});
    agree_filtered(db, "stage", "units", either, false).await;
    agree_filtered(db, "stage", "", on("closed_on", "eq", json!("2025-02-02")), false).await;
    agree_filtered(db, "stage", "", on("region", "eq", json!("ab")), false).await;
    agree(db, "stage,closed_on:day", "amount,units", true).await;
    agree(db, "stage", "units", true).await;
    agree(db, "closed_on:month", "amount", true).await;
    agree(db, "closed_on:year,stage", "", true).await;
    agree(db, "", "units", true).await;
    agree(db, "region,branch", "", true).await;
    agree(db, "urgent", "units", false).await;

    // Issue 32: `ne`, ranges of days, weeks, quarters and Jalali periods cut from days, sums
    // asked as measures; a datetime's days are the business's.
    agree_filtered(db, "stage", "units", on("stage", "ne", json!("won")), true).await;
    agree_filtered(db, "closed_on:month", "amount", on("closed_on", "gte", json!("2025-03-01")), true).await;
    let spring =
        json!({"and": [on("closed_on", "gt", json!("2025-03-01")), on("closed_on", "lte", json!("2025-06-15"))]});
    agree_filtered(db, "stage", "units", spring, true).await;
    agree_filtered(db, "stage", "", on("closed_on", "between", json!(["2025-02-01", "2025-05-31"])), true).await;
    agree_filtered(db, "closed_on:day", "", on("closed_on", "lt", json!("2025-04-10")), true).await;
    agree_in(db, "closed_on:week", "units", "", "gregorian", None, true).await;
    agree_in(db, "closed_on:month", "amount", "", "jalali", None, true).await;
    let quarters = Some(on("closed_on", "gte", json!("2025-01-01")));
    agree_in(db, "closed_on:quarter,stage", "", "", "jalali", quarters, true).await;
    agree_in(db, "closed_on:year", "", "", "jalali", None, true).await;
    agree_in(db, "stage", "", "sum:amount,sum:units", "", None, true).await;
    agree_in(db, "stage", "amount", "sum:amount", "", None, true).await;
    agree_in(db, "stage", "", "avg:units", "", None, false).await;
    let midnight = "2025-03-20T20:30:00Z"; // Tehran's midnight: the first of Farvardin 1404
    agree_in(db, "sold_at:day", "units", "", "", None, true).await;
    agree_in(db, "sold_at:month", "", "", "gregorian", None, true).await;
    let jalali = agree_in(db, "sold_at:month", "", "", "jalali", None, true).await;
    let at = |key: &str| jalali.rows.iter().find(|r| r.group["sold_at"] == json!(key)).map_or(0, |r| r.count);
    let (new_year, before) =
        (count(db, on("sold_at", "gte", json!(midnight))).await, count(db, on("sold_at", "lt", json!(midnight))).await);
    assert!(new_year > 0 && before > 0, "sales on both sides of midnight: {new_year}, {before}");
    assert_eq!(at("1404-01"), new_year, "sold from Tehran's midnight: Farvardin 1404");
    assert_eq!(at("1403-12"), before, "sold before it: Esfand 1403");
    agree_in(db, "sold_at:day", "", "", "", Some(on("sold_at", "gte", json!(midnight))), true).await;
    agree_in(db, "stage", "", "", "", Some(on("sold_at", "lt", json!(midnight))), true).await;
    // Bounds that are not the business's midnight read the records.
    agree_in(db, "stage", "", "", "", Some(on("sold_at", "gte", json!("2025-03-20T20:31:00Z"))), false).await;
    agree_in(db, "stage", "", "", "", Some(on("sold_at", "gt", json!(midnight))), false).await;
}

async fn rollup_answers_equal_the_records(db: &Db) {
    sale_object(db).await;
    let sale = |i: i64, stage: Option<&str>, region: &str, branch: &str| {
        map(json!({
            "name": format!("D{i}"),
            "stage": stage,
            "region": region,
            "branch": branch,
            "amount": if i % 3 == 0 { Json::Null } else { json!({"amount": format!("{}.50", i * 10), "currency": if i % 2 == 0 { "IRR" } else { "USD" }}) },
            "units": if i % 4 == 0 { Json::Null } else { json!(i) },
            "closed_on": if i % 5 == 0 { Json::Null } else { json!(format!("2025-{:02}-{:02}", 1 + i % 12, 1 + i % 27)) },
            "urgent": i % 2 == 0,
            // Around Tehran's midnight (20:30 UTC), Nowruz 1404 (the Jalali year's first day).
            "sold_at": if i % 7 == 0 { Json::Null } else { json!(format!("2025-03-20T20:{:02}:00Z", 25 + i % 10)) },
        }))
    };
    // Records before the rollups are declared are counted when they are filled.
    let mut ids = Vec::new();
    for i in 0..12 {
        let (r, _) = db.create_record(None, "sale", &sale(i, Some("new"), "r", "b"), None).await.expect("create");
        ids.push(r.id);
    }
    // Two groups whose values joined naively would be one ("ab" + "c", "a" + "bc"), an empty
    // value and one written as the empty value's mark.
    for (i, (region, branch)) in [("ab", "c"), ("a", "bc"), ("-", "x"), ("", "x")].into_iter().enumerate() {
        db.create_record(None, "sale", &sale(100 + i as i64, None, region, branch), None).await.expect("create");
    }
    let (first, made) = db.create_rollup(None, "sale", "stage, closed_on:day", "amount,units").await.expect("rollup");
    assert!(made);
    assert_eq!((first.group.as_str(), first.sum.as_str()), ("stage, closed_on:day", "amount,units"));
    db.create_rollup(None, "sale", "region,branch", "").await.expect("second rollup");
    db.create_rollup(None, "sale", "stage,sold_at:day", "units").await.expect("a datetime's days");
    let pairs = agree(db, "region,branch", "", true).await;
    assert_eq!(pairs.rows.len(), 5, "r/b, ab/c, a/bc, -/x, empty/x: {:?}", pairs.rows);
    all_agree(db).await;

    // Changes of every kind, each followed by every question.
    for i in 12..30 {
        let (r, _) = db.create_record(None, "sale", &sale(i, Some("won"), "r", "b"), None).await.expect("create");
        ids.push(r.id);
    }
    all_agree(db).await;
    let patch = |v: Json| map(v);
    db.update_record(None, "sale", &ids[1], &patch(json!({"stage": "lost"})), None).await.expect("stage");
    db.update_record(None, "sale", &ids[2], &patch(json!({"amount": null, "units": 7})), None).await.expect("sums");
    db.update_record(None, "sale", &ids[3], &patch(json!({"closed_on": "2026-02-28"})), None).await.expect("date");
    db.update_record(None, "sale", &ids[5], &patch(json!({"name": "renamed"})), None).await.expect("unwatched");
    db.update_record(None, "sale", &ids[6], &patch(json!({"amount": {"amount": "1", "currency": "EUR"}})), None)
        .await
        .expect("currency");
    all_agree(db).await;
    for id in &ids[8..14] {
        db.delete_record(None, "sale", id).await.expect("trash");
    }
    all_agree(db).await;
    db.restore_record(None, "sale", &ids[9]).await.expect("restore");
    all_agree(db).await;

    // Many records in one transaction, as imports and the generator write them.
    let obj = db.object("sale").await.expect("sale");
    let rows: Vec<Vec<_>> = (200..260)
        .map(|i| {
            ["name", "stage", "units", "closed_on"]
                .into_iter()
                .map(|name| {
                    let f = obj.field(name).expect("field");
                    let v = match name {
                        "name" => json!(format!("B{i}")),
                        "stage" => json!(if i % 2 == 0 { "won" } else { "lost" }),
                        "units" => json!(i),
                        _ => json!(format!("2024-0{}-15", 1 + i % 9)),
                    };
                    (f, peyvand_records::value::parse_value(f, &v).expect("value"))
                })
                .collect()
        })
        .collect();
    let mut tx = db.write_long().await.expect("tx");
    db.create_many(&mut tx, None, &obj, &rows).await.expect("bulk");
    tx.commit().await.expect("commit");
    all_agree(db).await;

    // Compacting drops groups left empty and changes no answer.
    let trashed_group =
        db.create_record(None, "sale", &sale(900, Some("new"), "solo", "one"), None).await.expect("c").0;
    db.delete_record(None, "sale", &trashed_group.id).await.expect("trash");
    let before = agree(db, "region,branch", "", true).await;
    assert!(before.rows.iter().all(|r| r.group["region"] != json!("solo")), "an empty group is not shown");
    let removed = db.compact_rollups().await.expect("compact");
    assert!(removed >= 1, "the empty group's row went: {removed}");
    assert_eq!(db.compact_rollups().await.expect("compact"), 0, "nothing changed, nothing rewritten");
    assert_eq!(agree(db, "region,branch", "", true).await.rows, before.rows);
    all_agree(db).await;

    // Removed, the rollup answers nothing and the records answer again.
    db.delete_rollup(None, "sale", &first.id).await.expect("delete");
    agree(db, "stage", "amount", false).await;
    agree(db, "region", "", true).await;
}

/// Writers changing the same groups at once (on PostgreSQL, side by side): none fails, and every
/// answer still equals the records, before and after compacting.
async fn concurrent_writers_keep_rollups_right(db: &Db) {
    sale_object(db).await;
    db.create_rollup(None, "sale", "stage", "units").await.expect("rollup");
    let writers = (0..8).map(|w| {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                let stage = ["new", "won", "lost"][(w + i) % 3];
                let fields = map(json!({"name": format!("W{w}-{i}"), "stage": stage, "units": i}));
                let (r, _) = db.create_record(None, "sale", &fields, None).await.expect("create");
                // Moves between the same two groups in opposite directions.
                let other = if w % 2 == 0 { "won" } else { "new" };
                db.update_record(None, "sale", &r.id, &map(json!({"stage": other})), None).await.expect("move");
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.expect("writer");
    }
    let answer = agree(db, "stage", "units", true).await;
    assert_eq!(answer.rows.iter().map(|r| r.count).sum::<i64>(), 120);
    db.compact_rollups().await.expect("compact");
    assert_eq!(agree(db, "stage", "units", true).await.rows, answer.rows);
}

async fn rollups_go_with_their_fields(db: &Db) {
    sale_object(db).await;
    for i in 0..6 {
        let fields = map(json!({"name": format!("D{i}"), "stage": "new", "units": i, "region": format!("{}", i % 2)}));
        db.create_record(None, "sale", &fields, None).await.expect("create");
    }
    db.create_rollup(None, "sale", "stage", "units").await.expect("rollup");
    db.create_rollup(None, "sale", "region", "").await.expect("rollup");
    db.create_rollup(None, "sale", "urgent", "").await.expect("rollup");
    // The region's values move to a new column when its type changes: its rollup goes.
    db.update_field(
        None,
        "sale",
        "region",
        FieldPatch { field_type: Some(peyvand_records::FieldType::Integer), ..Default::default() },
    )
    .await
    .expect("convert");
    let catalog = db.catalog().await.expect("catalog");
    let left: Vec<&str> = catalog.rollups_of("sale").map(|r| r.group.as_str()).collect();
    assert_eq!(left, ["stage", "urgent"]);
    let converted = agree(db, "region", "", false).await;
    assert_eq!(converted.rows.iter().map(|r| r.count).collect::<Vec<_>>(), [3, 3]);
    // A removed field takes its rollups with it; the others stay and stay right.
    db.delete_field(None, "sale", "units").await.expect("remove");
    let catalog = db.catalog().await.expect("catalog");
    assert_eq!(catalog.rollups_of("sale").map(|r| r.group.as_str()).collect::<Vec<_>>(), ["urgent"]);
    db.create_record(None, "sale", &map(json!({"name": "later", "urgent": true})), None).await.expect("create");
    agree(db, "urgent", "", true).await;
}

async fn declaring_is_idempotent_and_bounded(db: &Db) {
    sale_object(db).await;
    let (a, made) = db.create_rollup(None, "sale", "stage", "units").await.expect("rollup");
    assert!(made);
    let (b, made_again) = db.create_rollup(None, "sale", " stage ", "units").await.expect("again");
    assert!(!made_again, "the same rollup is not made twice");
    assert_eq!(a.id, b.id);
    let bad = db.create_rollup(None, "sale", "nope", "").await;
    assert!(
        matches!(&bad, Err(Error::Validation(e)) if e[0].field == "group" && e[0].code == "unknown_field"),
        "{bad:?}"
    );
    let bad = db.create_rollup(None, "sale", "stage", "name").await;
    assert!(matches!(&bad, Err(Error::Validation(e)) if e[0].code == "not_numeric"), "{bad:?}");
    let missing = db.create_rollup(None, "ghost", "stage", "").await;
    assert!(matches!(missing, Err(Error::NotFound(_))));
    let groups = [
        "region",
        "branch",
        "urgent",
        "closed_on",
        "closed_on:month",
        "closed_on:year",
        "stage,region",
        "stage,branch",
        "stage,urgent",
        "region,urgent",
    ];
    for g in &groups[..peyvand_store::rollups::MAX_PER_OBJECT - 1] {
        db.create_rollup(None, "sale", g, "").await.expect("rollup");
    }
    let over = db.create_rollup(None, "sale", groups[groups.len() - 1], "").await;
    assert!(matches!(&over, Err(Error::Conflict { code: "too_many_rollups", .. })), "{over:?}");
    assert!(db.delete_rollup(None, "sale", "no-such-id").await.is_err());
}

/// Issue 32: a rollup keeps a related record's field (a line's product's category): the answers
/// equal the records' after the related record changes, is trashed or restored, and after the
/// records change relation; the rollup goes with the related field.
async fn related_fields_move_with_their_records(db: &Db) {
    let field = |v: Json| -> NewField { serde_json::from_value(v).expect("field") };
    let kind = NewObject {
        api_name: "kind".into(),
        label_fa: "نوع".into(),
        label_en: "Kind".into(),
        plural_fa: String::new(),
        plural_en: String::new(),
        fields: vec![
            field(json!({"api_name": "name", "type": "text", "required": true})),
            field(json!({"api_name": "family", "type": "text"})),
        ],
        title_field: None,
    };
    db.create_object(None, kind).await.expect("kind object");
    sale_object(db).await;
    db.add_field(None, "sale", field(json!({"api_name": "kind", "type": "relation", "options": {"target": "kind"}})))
        .await
        .expect("relation");
    let mut kinds = Vec::new();
    for (name, family) in [("k1", json!("tools")), ("k2", json!("paint")), ("k3", Json::Null)] {
        let (k, _) =
            db.create_record(None, "kind", &map(json!({"name": name, "family": family})), None).await.expect("kind");
        kinds.push(k.id);
    }
    let mut sales = Vec::new();
    for i in 0..24 {
        let kind = if i % 4 == 3 { Json::Null } else { json!(kinds[i % 3]) };
        let fields = map(json!({"name": format!("S{i}"), "kind": kind, "units": i,
            "sold_at": format!("2025-03-{:02}T20:{:02}:00Z", 18 + i % 4, 20 + i % 20)}));
        sales.push(db.create_record(None, "sale", &fields, None).await.expect("sale").0.id);
    }
    let (rollup, made) = db.create_rollup(None, "sale", "sold_at:day,kind.family", "units").await.expect("rollup");
    assert!(made);
    let check = async || {
        let by_family = agree_in(db, "kind.family", "units", "", "", None, true).await;
        agree_in(db, "sold_at:month,kind.family", "units", "", "jalali", None, true).await;
        agree_in(
            db,
            "kind.family",
            "",
            "sum:units",
            "",
            Some(json!({"field": "sold_at", "op": "gte", "value": "2025-03-19T20:30:00Z"})),
            true,
        )
        .await;
        by_family
    };
    let first = check().await;
    let tools = first.rows.iter().find(|r| r.group["kind.family"] == json!("tools")).map_or(0, |r| r.count);
    assert_eq!(tools, 6, "k1's sales: {:?}", first.rows);
    let patch = |v: Json| map(v);
    db.update_record(None, "kind", &kinds[0], &patch(json!({"family": "paint"})), None).await.expect("family");
    check().await;
    db.update_record(None, "kind", &kinds[2], &patch(json!({"family": "glue"})), None).await.expect("from empty");
    check().await;
    db.delete_record(None, "kind", &kinds[1]).await.expect("trash a kind");
    let trashed = check().await;
    assert!(trashed.rows.iter().any(|r| r.group["kind.family"].is_null() && r.count > 6), "{:?}", trashed.rows);
    db.restore_record(None, "kind", &kinds[1]).await.expect("restore");
    check().await;
    db.update_record(None, "sale", &sales[0], &patch(json!({"kind": kinds[2]})), None).await.expect("relation");
    db.update_record(None, "sale", &sales[3], &patch(json!({"kind": kinds[1]})), None).await.expect("from none");
    db.delete_record(None, "sale", &sales[4]).await.expect("trash a sale");
    check().await;
    db.compact_rollups().await.expect("compact");
    check().await;
    // The related field removed, the rollup goes with it and the records answer.
    db.delete_field(None, "kind", "family").await.expect("remove");
    let catalog = db.catalog().await.expect("catalog");
    assert!(catalog.rollups_of("sale").all(|r| r.id != rollup.id), "the rollup went with the field");
    db.update_record(None, "kind", &kinds[0], &patch(json!({"name": "k1b"})), None).await.expect("still writable");
    agree_in(db, "kind.name", "units", "", "", None, false).await;
}
