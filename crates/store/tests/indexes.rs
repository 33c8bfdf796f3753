//! Indexes set aside during a bulk load: only into empty tables, only the ones that check
//! nothing (unique values are still refused), and built again at the end or, after a load that
//! was killed, at the next start-up.

use peyvand_records::{FieldDef, Value};
use peyvand_store::{Db, Error};

peyvand_crm::crm_tests!(a_bulk_load_sets_indexes_aside_and_they_come_back, indexes_stay_when_a_table_holds_records);

const TABLES: [&str; 5] = ["r_contact", "r_activity", "search_terms", "record_values", "audit_log"];

async fn all_indexes(db: &Db) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for table in TABLES {
        all.push(db.index_names(table).await.expect("indexes"));
    }
    all
}

async fn deferred(db: &Db) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM deferred_indexes").fetch_one(db.pool()).await.expect("count").get(0)
}

/// Contacts with these e-mails and codes (a unique field), in one bulk batch.
async fn create_contacts(db: &Db, emails: &[&str]) -> Result<Vec<String>, Error> {
    if db.object("contact").await.expect("contact").field("code").is_none() {
        let code = serde_json::json!({
            "api_name": "code", "label_fa": "کد", "label_en": "Code", "type": "text", "unique": true
        });
        db.add_field(None, "contact", serde_json::from_value(code).expect("field")).await.expect("unique field");
    }
    let obj = db.object("contact").await.expect("contact");
    let last_name = obj.field("last_name").expect("last_name");
    let email_field: &FieldDef = obj.field("emails").expect("emails");
    let code: &FieldDef = obj.field("code").expect("code");
    let rows: Vec<Vec<(&FieldDef, Value)>> = emails
        .iter()
        .map(|e| {
            vec![
                (last_name, Value::Text(format!("Bulk {e}"))),
                (email_field, Value::List(vec![e.to_string()])),
                (code, Value::Text(e.to_string())),
            ]
        })
        .collect();
    let mut tx = db.write_long().await.expect("write");
    let ids = db.create_many(&mut tx, None, &obj, &rows).await?;
    tx.commit().await.expect("commit");
    Ok(ids)
}

async fn a_bulk_load_sets_indexes_aside_and_they_come_back(db: &Db) {
    create_contacts(db, &[]).await.expect("the unique field");
    let before = all_indexes(db).await;
    assert!(before[0].len() >= 3 && before[1].len() >= 3, "record tables have indexes: {before:?}");
    let set_aside = db.defer_indexes_for_load(&["contact", "activity"]).await.expect("defer");
    assert!(set_aside >= 8, "{set_aside} indexes set aside");
    assert_eq!(deferred(db).await, set_aside as i64, "each one noted with its statement");
    let during = all_indexes(db).await;
    for (table, (was, is)) in TABLES.iter().zip(before.iter().zip(&during)) {
        // SQLite's search terms are keyed by term in the table itself: no index to set aside; the
        // audit log's index by record grows at its end as records are made, so it stays.
        let kept = ["record_values", "audit_log"].contains(table);
        assert!(is.len() < was.len() || kept || was.is_empty(), "{table}: {was:?} → {is:?}");
        assert!(is.iter().all(|i| was.contains(i)), "{table}: nothing new");
    }
    // A record table's indexes by creation, last change and trash stay: a load makes every record
    // at the time of the write, so the first two grow at their end, and it trashes nothing.
    for (table, indexes) in [("r_contact", &during[0]), ("r_activity", &during[1])] {
        for kind in ["created", "updated", "deleted"] {
            assert!(indexes.contains(&format!("ix_{table}_{kind}")), "{table} keeps its {kind} index: {indexes:?}");
        }
    }
    assert!(during[0].len() < before[0].len() && during[1].len() < before[1].len(), "fields' indexes set aside");
    assert_eq!(during[4], before[4], "the audit log keeps its index by record");
    assert!(during[4].iter().any(|i| i == "ix_audit_log_record"), "{:?}", during[4]);
    // Unique values are still refused: their indexes stay.
    assert!(during[3].iter().any(|i| i == "ux_record_values_unique"), "{:?}", during[3]);
    assert!(during[0].iter().any(|i| i.starts_with("ux")), "{:?}", during[0]);
    create_contacts(db, &["a@example.ir", "b@example.ir"]).await.expect("a bulk batch");
    let clash = create_contacts(db, &["c@example.ir", "a@example.ir"]).await;
    assert!(matches!(clash, Err(Error::Conflict { code: "not_unique", .. })), "{clash:?}");
    // The data reads the same without its indexes (only slower).
    assert_eq!(db.search("b@example.ir", 5).await.expect("search").len(), 1);

    // The load is killed here: a new process (another instance, or the next start) builds them.
    let url = match db.dialect() {
        peyvand_store::Dialect::Sqlite => {
            let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(db.pool())
                .await
                .expect("file");
            format!("sqlite://{file}")
        }
        peyvand_store::Dialect::Postgres => {
            let name: String = sqlx::query_scalar("SELECT CAST(current_database() AS TEXT)")
                .fetch_one(db.pool())
                .await
                .expect("database");
            let base = std::env::var(peyvand_store::testing::PG_ENV).expect("server");
            format!("{}/{name}", base.rsplit_once('/').map(|(b, _)| b).unwrap_or(&base))
        }
    };
    let restarted = peyvand_crm::open(&url).await.expect("open again");
    assert_eq!(all_indexes(&restarted).await, before, "every index is back after a start-up");
    assert_eq!(deferred(&restarted).await, 0);
    restarted.close().await;

    // A load that finishes builds them itself.
    let again = db.defer_indexes_for_load(&["activity"]).await.expect("defer activities");
    assert!(again >= 3, "activities are still empty: {again}");
    assert_eq!(db.build_deferred_indexes().await.expect("build"), again);
    assert_eq!(all_indexes(db).await, before);
    assert_eq!(db.build_deferred_indexes().await.expect("nothing left"), 0);
}

async fn indexes_stay_when_a_table_holds_records(db: &Db) {
    create_contacts(db, &["x@example.ir"]).await.expect("one contact");
    let before = all_indexes(db).await;
    assert_eq!(db.defer_indexes_for_load(&["activity", "contact"]).await.expect("defer"), 0);
    assert_eq!(all_indexes(db).await, before);
    assert_eq!(deferred(db).await, 0);
}
