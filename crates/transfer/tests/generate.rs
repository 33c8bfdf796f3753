//! The data generator on both backends: the counts asked for, contacts working at the generated
//! companies, searchable, and the same data for the same seed.

use peyvand_store::Db;
use peyvand_store::records::ListQuery;
use peyvand_store::testing::{Backend, TestDb};
use peyvand_transfer::generate::{GenerateOptions, generate};

async fn total(db: &Db, object: &str, filter: Option<serde_json::Value>) -> i64 {
    let obj = db.object(object).await.expect("object");
    let filter = filter.map(|f| peyvand_records::filter::parse_filter(&obj, &f).expect("filter"));
    db.list_records(object, &ListQuery { filter, with_total: true, limit: Some(1), ..Default::default() })
        .await
        .expect("list")
        .total
        .expect("total")
}

async fn generated(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = Db::open(&test_db.url).await.expect("open");
    let score = serde_json::json!({"api_name": "score", "type": "integer", "indexed": true});
    db.add_field(None, "contact", serde_json::from_value(score).expect("field")).await.expect("score");
    let tables = ["r_company", "r_contact", "r_activity", "search_terms", "audit_log", "record_values"];
    let mut indexes = Vec::new();
    for table in tables {
        indexes.push(db.index_names(table).await.expect("indexes"));
    }
    let opts = GenerateOptions { companies: 40, contacts: 300, activities: 900, seed: 42, batch: 64 };
    let mut seen = Vec::new();
    let made = generate(&db, &opts, |what, n| seen.push((what.to_string(), n))).await.expect("generate");
    assert_eq!((made.companies, made.contacts, made.activities), (40, 300, 900));
    // Into an empty database the indexes were built once at the end, every one of them.
    let activity_done = seen.iter().position(|s| *s == ("activity".to_string(), 900)).expect("all activities");
    assert!(matches!(seen.last(), Some((what, n)) if what == "indexes" && *n > 10), "{:?}", seen.last());
    assert!(activity_done < seen.len() - 1);
    for (table, before) in tables.iter().zip(&indexes) {
        assert_eq!(&db.index_names(table).await.expect("indexes"), before, "{table}");
    }
    assert_eq!(total(&db, "activity", None).await, 900);
    // Activities belong to generated contacts, the company one with the contact's company.
    let calls = total(&db, "activity", Some(serde_json::json!({"field": "kind", "op": "eq", "value": "call"}))).await;
    assert!((120..=300).contains(&calls), "about 3 in 13 are calls: {calls}");
    let acts =
        db.list_records("activity", &ListQuery { limit: Some(200), ..Default::default() }).await.expect("activities");
    let mut recent = 0;
    let now = time::OffsetDateTime::now_utc();
    for a in &acts.records {
        let contact =
            db.get_record("contact", a.fields["contact"].as_str().expect("contact"), false).await.expect("live");
        assert_eq!(a.fields["company"], contact.fields["company"], "an activity's company is its contact's");
        let at = time::OffsetDateTime::parse(
            a.fields["occurred_at"].as_str().expect("when"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("an instant");
        assert!(at <= now && now - at <= time::Duration::days(731), "{at}");
        recent += usize::from(now - at <= time::Duration::days(365));
    }
    assert!(recent > 120, "most activities are from the last year: {recent} of 200");
    assert_eq!(total(&db, "company", None).await, 40);
    assert_eq!(total(&db, "contact", None).await, 300);
    let scored =
        total(&db, "contact", Some(serde_json::json!({"field": "score", "op": "is_empty", "value": false}))).await;
    assert_eq!(scored, 300, "a field the admin added is filled in too");
    let high = total(&db, "contact", Some(serde_json::json!({"field": "score", "op": "gte", "value": 50000}))).await;
    assert!((100..=200).contains(&high), "scores spread over 0..100000: {high} of 300 at 50000 or more");
    let employed =
        total(&db, "contact", Some(serde_json::json!({"field": "company", "op": "is_empty", "value": false}))).await;
    assert!((180..=290).contains(&employed), "about 80% work at a company: {employed}");
    assert_eq!(db.search("person17@example.ir", 5).await.expect("search").len(), 1);
    let page = db.list_records("contact", &ListQuery { limit: Some(1), ..Default::default() }).await.expect("list");
    let history = db.record_history("contact", &page.records[0].id, 5).await.expect("history");
    assert_eq!(history[0].action, "create", "generated records have their history like any other");
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn generate_sqlite() {
    generated(Backend::Sqlite).await;
}

#[tokio::test]
async fn generate_postgres() {
    generated(Backend::Postgres).await;
}
