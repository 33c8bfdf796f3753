//! Keyset pages over records created together (an import batch shares one instant), on both
//! backends: every record comes exactly once, in order, whichever way the list is sorted; and the
//! planner statistics a bulk load refreshes.

use peyvand_records::Value;
use peyvand_records::filter::parse_sort;
use peyvand_store::records::ListQuery;
use peyvand_store::{Db, Dialect, backend_tests};

backend_tests!(pages_over_one_instant, statistics_refreshed);

async fn pages_over_one_instant(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let last_name = obj.field("last_name").expect("last_name");
    let rows: Vec<_> = (0..37).map(|i| vec![(last_name, Value::Text(format!("Batch {i:02}")))]).collect();
    let mut tx = db.write().await.expect("write");
    let mut ids = db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    ids.sort();
    for (sort, descending) in [("", true), ("-created_at", true), ("created_at", false), ("-updated_at", true)] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let query = ListQuery {
                sort: parse_sort(&obj, sort).expect("sort"),
                limit: Some(5),
                cursor: cursor.take(),
                ..ListQuery::default()
            };
            let page = db.list_records("contact", &query).await.expect("page");
            seen.extend(page.records.iter().map(|r| r.id.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // One instant for all of them, so the id decides the order.
        let mut expected = ids.clone();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "sort {sort:?}: each record once, in order");
    }
}

/// After a bulk load the planner's statistics are gathered (PostgreSQL; SQLite needs none).
async fn statistics_refreshed(db: &Db) {
    db.refresh_statistics(&["contact"]).await.expect("refresh");
    if db.dialect() == Dialect::Postgres {
        let analyzed: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(relname AS TEXT) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL ORDER BY relname",
        )
        .fetch_all(db.pool())
        .await
        .expect("stats");
        for table in ["audit_log", "import_log", "outbox", "r_contact", "record_values", "search_terms"] {
            assert!(analyzed.iter().any(|t| t == table), "{table} analyzed: {analyzed:?}");
        }
    }
}
