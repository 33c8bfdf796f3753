//! A store story: one scenario through metadata, records, filters, pages, search, history and
//! the trash, run on SQLite and on PostgreSQL.

use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_store::Error;
use peyvand_store::records::ListQuery;
use peyvand_store::schema::{FieldPatch, NewField};
use peyvand_store::testing::{Backend, TestDb};
use serde_json::{Map, Value as Json, json};

fn map(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("object")
}

async fn story(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    // Opening again applies nothing twice.
    let again = peyvand_crm::open(&test_db.url).await.expect("open twice");
    again.close().await;

    let contact = db.object("contact").await.expect("standard contact object");
    assert!(contact.field("last_name").is_some_and(|f| f.required));

    let tier: NewField = serde_json::from_value(json!({
        "api_name": "tier", "label_fa": "سطح", "label_en": "Tier", "type": "select", "indexed": true,
        "options": {"options": [{"value": "gold"}, {"value": "silver"}]}
    }))
    .expect("field json");
    db.add_field(None, "contact", tier).await.expect("add field");

    let (company, created) =
        db.create_record(None, "company", &map(json!({"name": "پیوند"})), None).await.expect("company");
    assert!(created);
    let mut ids = Vec::new();
    for (i, (first, last)) in
        [("علی", "کریمی"), ("سارا", "رضایی"), ("Reza", "Ahmadi"), ("مریم", "کریمی")].iter().enumerate()
    {
        let (r, _) = db
            .create_record(
                None,
                "contact",
                &map(json!({"first_name": first, "last_name": last, "company": company.id, "tier": if i % 2 == 0 { "gold" } else { "silver" },
                             "phones": [format!("0912000000{i}")], "emails": [format!("p{i}@example.com")]})),
                None,
            )
            .await
            .expect("contact");
        ids.push(r.id);
    }

    // Filters: a select field, a relation, OR groups, contains with Arabic letters.
    let q = |f: Json, sort: &'static str| {
        let db = db.clone();
        async move {
            let obj = db.object("contact").await.expect("object");
            let query = ListQuery {
                filter: Some(parse_filter(&obj, &f).expect("filter")),
                sort: parse_sort(&obj, sort).expect("sort"),
                ..Default::default()
            };
            db.list_records("contact", &query).await.expect("list")
        }
    };
    assert_eq!(q(json!({"field": "tier", "op": "eq", "value": "gold"}), "").await.records.len(), 2);
    assert_eq!(q(json!({"field": "company", "op": "eq", "value": company.id}), "").await.records.len(), 4);
    assert_eq!(q(json!({"field": "last_name", "op": "contains", "value": "كريمي"}), "").await.records.len(), 2);
    assert_eq!(q(json!({"field": "phones", "op": "eq", "value": "+989120000001"}), "").await.records.len(), 1);
    let page = q(json!({"or": [{"field": "first_name", "op": "eq", "value": "Reza"}, {"field": "tier", "op": "eq", "value": "silver"}]}), "last_name").await;
    let names: Vec<&str> = page.records.iter().map(|r| r.fields["last_name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, vec!["Ahmadi", "رضایی", "کریمی"]);

    // Keyset pages over a custom-field sort cover every record once.
    let obj = db.object("contact").await.expect("object");
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            sort: parse_sort(&obj, "-tier,last_name").expect("sort"),
            limit: Some(1),
            cursor: cursor.clone(),
            with_total: true,
            exact_total: true,
            ..Default::default()
        };
        let page = db.list_records("contact", &query).await.expect("page");
        assert_eq!(page.total, Some(4));
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(sorted_seen, sorted_ids);

    // Search with Arabic letters and a phone in national form.
    let hits = db.search("كريم", 20).await.expect("search");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(db.search("09120000002", 20).await.expect("search").len(), 1);

    // Updates are audited; a stale version is refused.
    let r = db
        .update_record(Some("u1"), "contact", &ids[0], &map(json!({"tier": "silver"})), Some(1))
        .await
        .expect("update");
    assert_eq!(r.version, 2);
    let stale = db.update_record(None, "contact", &ids[0], &map(json!({"tier": "gold"})), Some(1)).await;
    assert!(matches!(stale, Err(Error::Conflict { code: "version_conflict", .. })), "{stale:?}");
    let history = db.record_history("contact", &ids[0], 10).await.expect("history");
    assert_eq!(history[0].action, "update");
    assert_eq!(history[0].changes, json!([{"field": "tier", "old": "gold", "new": "silver"}]));
    // A change of no searchable field keeps the record's search terms; a change of one replaces them.
    assert_eq!(db.search("كريم", 20).await.expect("search").len(), 2);
    db.update_record(None, "contact", &ids[0], &map(json!({"last_name": "Tehrani"})), None).await.expect("rename");
    assert_eq!(db.search("كريم", 20).await.expect("search").len(), 1);
    assert_eq!(db.search("tehran", 20).await.expect("search").len(), 1);
    db.update_record(None, "contact", &ids[0], &map(json!({"last_name": "کریمی"})), None).await.expect("rename back");
    assert_eq!(db.search("كريم", 20).await.expect("search").len(), 2);
    assert_eq!(db.search("tehran", 20).await.expect("search").len(), 0);

    // Unique: refused while duplicates exist, then enforced.
    let make_unique = FieldPatch { unique: Some(true), ..Default::default() };
    db.update_field(None, "contact", "emails", make_unique.clone()).await.expect("unique emails");
    let dup =
        db.create_record(None, "contact", &map(json!({"last_name": "X", "emails": ["P0@example.com"]})), None).await;
    assert!(matches!(dup, Err(Error::Conflict { code: "not_unique", .. })), "{dup:?}");

    // Trash and restore.
    db.delete_record(None, "contact", &ids[1]).await.expect("delete");
    assert!(matches!(db.get_record("contact", &ids[1], false).await, Err(Error::NotFound(_))));
    assert_eq!(db.search("سارا", 5).await.expect("search").len(), 0);
    let trash = db.list_records("contact", &ListQuery { trash: true, ..Default::default() }).await.expect("trash");
    assert_eq!(trash.records.len(), 1);
    db.restore_record(None, "contact", &ids[1]).await.expect("restore");
    assert_eq!(db.search("سارا", 5).await.expect("search").len(), 1);

    // A type change that cannot convert every value is refused; one that can keeps the old column.
    let to_int = FieldPatch { field_type: Some(peyvand_records::FieldType::Integer), ..Default::default() };
    let refused = db.update_field(None, "contact", "tier", to_int).await;
    assert!(matches!(refused, Err(Error::Conflict { code: "conversion_loses_data", .. })), "{refused:?}");
    let to_text = FieldPatch { field_type: Some(peyvand_records::FieldType::Text), ..Default::default() };
    db.update_field(None, "contact", "tier", to_text).await.expect("select to text");
    let r = db.get_record("contact", &ids[2], false).await.expect("get");
    assert_eq!(r.fields["tier"], json!("gold"));

    // Removing a field keeps its values for a restore.
    db.delete_field(None, "contact", "tier").await.expect("archive");
    assert!(db.get_record("contact", &ids[2], false).await.expect("get").fields.get("tier").is_none());
    let restore = FieldPatch { archived: Some(false), ..Default::default() };
    db.update_field(None, "contact", "tier", restore).await.expect("restore field");
    assert_eq!(db.get_record("contact", &ids[2], false).await.expect("get").fields["tier"], json!("gold"));

    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn story_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test]
async fn story_postgres() {
    story(Backend::Postgres).await;
}
