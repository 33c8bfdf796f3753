//! A record change's event is its audit entry (schema 9): databases and dumps made while events
//! had a table of their own (the outbox) arrive with every event, processed ones published.

use peyvand_store::migrate::MIGRATIONS;
use peyvand_store::testing::{Backend, TestDb};
use peyvand_store::{Db, Dialect};
use serde_json::{Value as Json, json};
use sqlx::{AssertSqlSafe, Connection, Row};

/// The newest schema that still had the outbox.
const OUTBOX_SCHEMA: i64 = 8;

/// Two audit entries of a contact and their outbox rows, the first one processed, written into
/// a database at schema 8.
async fn schema_8_with_events(url: &str, dialect: Dialect) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("migrations table");
    for m in MIGRATIONS.iter().filter(|m| m.version <= OUTBOX_SCHEMA) {
        let text = if dialect == Dialect::Sqlite { m.sqlite } else { m.postgres };
        sqlx::raw_sql(AssertSqlSafe(text)).execute(&mut conn).await.expect(m.name);
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, '2026-12-01')")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut conn)
            .await
            .expect("noted");
    }
    for (id, action, processed) in [("e1", "create", Some("2026-12-02T10:00:00Z")), ("e2", "update", None)] {
        sqlx::query(
            "INSERT INTO audit_log (id, object, record_id, action, actor, at, changes_json) \
             VALUES ($1, 'contact', 'r1', $2, NULL, '2026-12-01T10:00:00Z', '[]')",
        )
        .bind(id)
        .bind(action)
        .execute(&mut conn)
        .await
        .expect("audit entry");
        sqlx::query(
            "INSERT INTO outbox (id, topic, object, record_id, payload_json, created_at, processed_at) \
             VALUES ($1, $2, 'contact', 'r1', '{}', '2026-12-01T10:00:00Z', $3)",
        )
        .bind(id)
        .bind(format!("record.{action}d"))
        .bind(processed)
        .execute(&mut conn)
        .await
        .expect("event");
    }
    conn.close().await.expect("close");
}

/// Each audit entry of record `r1` with when it was published.
async fn published(db: &Db) -> Vec<(String, Option<String>)> {
    sqlx::query("SELECT id, published_at FROM audit_log WHERE record_id = 'r1' ORDER BY id")
        .fetch_all(db.pool())
        .await
        .expect("entries")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn expected() -> Vec<(String, Option<String>)> {
    vec![("e1".into(), Some("2026-12-02T10:00:00Z".into())), ("e2".into(), None)]
}

async fn upgrade(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let dialect = if backend == Backend::Sqlite { Dialect::Sqlite } else { Dialect::Postgres };
    let raw_url = if backend == Backend::Sqlite { format!("{}?mode=rwc", test_db.url) } else { test_db.url.clone() };
    schema_8_with_events(&raw_url, dialect).await;

    let db = peyvand_crm::open(&test_db.url).await.expect("open and migrate");
    assert_eq!(published(&db).await, expected(), "the processed event is published, the other pending");
    let outbox = match dialect {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox'",
        Dialect::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'outbox'",
    };
    let left: i64 = sqlx::query(outbox).fetch_one(db.pool()).await.expect("tables").get(0);
    assert_eq!(left, 0, "the outbox is gone");
    assert!(db.index_names("audit_log").await.expect("indexes").contains(&"ix_audit_log_pending".to_string()));
    assert_eq!(
        db.record_events("r1").await.expect("events"),
        vec![("record.created".to_string(), false), ("record.updated".to_string(), true)]
    );

    // A dump of the upgraded database holds no outbox; a dump made before the upgrade (the same
    // data, the events in an outbox table) restores to the same published marks.
    let mut dump = Vec::new();
    db.dump(&mut dump).await.expect("dump");
    let text = String::from_utf8(dump).expect("utf-8");
    assert!(!text.contains("\"table\":\"outbox\""));
    let old = as_schema_8(&text);
    let Some(target) = TestDb::new(backend).await else { return };
    let restored = Db::connect(&target.url).await.expect("connect to the target").with_modules(peyvand_crm::modules());
    restored.restore(old.as_bytes()).await.expect("restore an older dump");
    assert_eq!(published(&restored).await, expected());
    restored.close().await;
    target.cleanup().await;

    db.close().await;
    test_db.cleanup().await;
}

/// `dump` as schema 8 wrote it: its audit log without `published_at`, followed by an outbox
/// table with a row per entry (processed where the entry was published).
fn as_schema_8(dump: &str) -> String {
    let mut out = Vec::new();
    let mut in_audit = false;
    let mut drop_column = None;
    let mut outbox_rows = Vec::new();
    for line in dump.lines() {
        let mut item: Json = serde_json::from_str(line).expect("JSON line");
        if item.get("peyvand_dump").is_some() {
            item["schema_version"] = json!(OUTBOX_SCHEMA);
        } else if let Some(table) = item.get("table").and_then(Json::as_str) {
            if in_audit {
                out.push(json!({"table": "outbox", "columns": [["id", "TEXT"], ["topic", "TEXT"], ["object", "TEXT"],
                    ["record_id", "TEXT"], ["payload_json", "TEXT"], ["created_at", "TEXT"], ["processed_at", "TEXT"]]}));
                out.append(&mut outbox_rows);
            }
            in_audit = table == "audit_log";
            if in_audit {
                let columns = item["columns"].as_array_mut().expect("columns");
                let at = columns.iter().position(|c| c[0] == "published_at").expect("published_at");
                columns.remove(at);
                drop_column = Some(at);
            }
        } else if in_audit && let Some(row) = item.get_mut("row").and_then(Json::as_array_mut) {
            let published = row.remove(drop_column.expect("columns first"));
            outbox_rows.push(json!({"row": [row[0], "record.changed", row[1], row[2], "{}", row[5], published]}));
        }
        out.push(item);
    }
    out.iter().map(|item| format!("{item}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_an_outbox_upgrades_sqlite() {
    upgrade(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_an_outbox_upgrades_postgres() {
    upgrade(Backend::Postgres).await;
}
