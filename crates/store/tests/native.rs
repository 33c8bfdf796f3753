//! Bulk writes through SQLite's own connection (`Db::write_native`): the same rows as sqlx's bulk
//! path (records, e-mail members, search terms, history, events, rollups), checked the same way,
//! and never in the way of this process's other writers.

use peyvand_records::aggregate::parse_aggregate;
use peyvand_records::filter::parse_filter;
use peyvand_records::{FieldDef, Value};
use peyvand_store::aggregate::Source;
use peyvand_store::{Db, Dialect, Error, PreparedRecords, backend_tests};
use sqlx::Row;

backend_tests!(native_writes_are_bulk_writes);

/// Contacts `from..to`: a name, an e-mail (a multi-valued field), a city and a unique code.
fn contacts(obj: &peyvand_records::ObjectDef, from: usize, to: usize) -> Vec<Vec<(&FieldDef, Value)>> {
    let field = |name: &str| obj.field(name).expect("field");
    (from..to)
        .map(|i| {
            vec![
                (field("first_name"), Value::Text("سارا".into())),
                (field("last_name"), Value::Text(format!("رضایی {}", i % 3))),
                (field("emails"), Value::List(vec![format!("n{i}x@example.ir")])),
                (field("city"), Value::Text(["تهران", "شیراز", "Kish"][i % 3].into())),
                (field("code"), Value::Text(format!("C{i}x"))),
            ]
        })
        .collect()
}

/// What a contact's rows in the shared tables say, without its id and times: its search terms,
/// e-mail members, history entry and event.
async fn shape(db: &Db, id: &str) -> (Vec<String>, Vec<String>, String, String) {
    let texts = async |sql: &str| -> Vec<String> {
        let mut all: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(id.to_string())
            .fetch_all(db.pool())
            .await
            .expect("read")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        all.sort();
        all
    };
    let terms = texts("SELECT term || ' ' || object FROM search_terms WHERE record_id = $1").await;
    let members = texts("SELECT value_norm FROM record_values WHERE record_id = $1").await;
    let audit = texts("SELECT action || ' ' || changes_json FROM audit_log WHERE record_id = $1").await;
    let events = texts(
        "SELECT o.topic || ' ' || o.payload_json FROM outbox o JOIN audit_log a ON a.id = o.id WHERE o.record_id = $1",
    )
    .await;
    assert_eq!((audit.len(), events.len()), (1, 1), "one history entry and one event per record");
    (terms, members, audit[0].replace(id, "ID"), events[0].clone())
}

async fn native_writes_are_bulk_writes(db: &Db) {
    let Some(mut writer) = db.native_writer().await.expect("writer") else {
        assert_eq!(db.dialect(), Dialect::Postgres, "SQLite databases on disk have a native writer");
        return;
    };
    let code = serde_json::json!({"api_name": "code", "type": "text", "unique": true});
    db.add_field(None, "contact", serde_json::from_value(code).expect("field")).await.expect("unique field");
    db.create_rollup(None, "contact", "city", "").await.expect("rollup");
    let obj = db.object("contact").await.expect("contact");

    // The same contacts (but their numbers) once through sqlx, once natively.
    let mut tx = db.write_long().await.expect("write");
    let by_sqlx = db.create_many(&mut tx, None, &obj, &contacts(&obj, 0, 300)).await.expect("sqlx batch");
    tx.commit().await.expect("commit");
    // Single creates keep coming while native batches are written: none fails or waits forever.
    let creating = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let fields = serde_json::json!({"last_name": format!("تک {i}"), "city": "تهران"});
                db.create_record(None, "contact", fields.as_object().expect("fields"), None).await.expect("create");
            }
        })
    };
    let mut natively = Vec::new();
    for (from, to) in [(300, 450), (450, 600)] {
        let prepared = PreparedRecords::native(None, &obj, &contacts(&obj, from, to)).expect("prepare");
        natively.extend(db.write_native(&mut writer, prepared).await.expect("native batch"));
    }
    creating.await.expect("single creates");
    assert_eq!((by_sqlx.len(), natively.len()), (300, 300));
    for (i, (a, b)) in by_sqlx.iter().zip(&natively).enumerate() {
        // Record i and record 300 + i differ only in their number.
        let renumber = |s: &String| {
            let mut s = s.clone();
            for (from, to) in [("n", "n"), ("C", "C"), ("c", "c")] {
                s = s.replace(&format!("{from}{i}x"), &format!("{to}{}x", i + 300));
            }
            s
        };
        let (sqlx_shape, native_shape) = (shape(db, a).await, shape(db, b).await);
        let mut terms: Vec<String> = sqlx_shape.0.iter().map(renumber).collect();
        terms.sort();
        let members: Vec<String> = sqlx_shape.1.iter().map(renumber).collect();
        let renumbered = (terms, members, renumber(&sqlx_shape.2), sqlx_shape.3.clone());
        assert_eq!(renumbered, native_shape, "the same rows for {a} and {b}");
        assert!(native_shape.0.len() >= 4, "names, city, e-mail and code are searchable: {:?}", native_shape.0);
        let read = db.get_record("contact", b, false).await.expect("a native record reads like any other");
        assert_eq!(read.fields["emails"][0], format!("n{}x@example.ir", i + 300));
    }
    assert_eq!(db.search("n450x@example.ir", 5).await.expect("search").len(), 1);

    // The rollup followed the native batches as its triggers follow any write.
    let spec = parse_aggregate(&obj, "city", "").expect("spec");
    let everything =
        parse_filter(&obj, &serde_json::json!({"field": "created_at", "op": "gte", "value": "2000-01-01T00:00:00Z"}))
            .expect("filter");
    let scanned = db.aggregate("contact", Some(&everything), &spec).await.expect("scan");
    let rolled = db.aggregate("contact", None, &spec).await.expect("rollup");
    assert_eq!(rolled.source, Source::Rollup);
    assert_eq!(rolled.rows, scanned.rows);

    // Checked as sqlx's batches are: a code already taken refuses the whole batch.
    let prepared = PreparedRecords::native(None, &obj, &contacts(&obj, 590, 610)).expect("prepare");
    let taken = db.write_native(&mut writer, prepared).await;
    assert!(matches!(taken, Err(Error::Conflict { code: "not_unique", .. })), "{taken:?}");
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM r_contact WHERE c_code = 'C605x'")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "nothing of a refused batch is written");
    // Records prepared for sqlx's statements are not written natively by mistake.
    let wrong = PreparedRecords::new(db.dialect(), None, &obj, &contacts(&obj, 700, 701)).expect("prepare");
    assert!(matches!(db.write_native(&mut writer, wrong).await, Err(Error::Config(_))));
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM r_contact").fetch_one(db.pool()).await.expect("count").get(0);
    assert_eq!(total, 640);
}
