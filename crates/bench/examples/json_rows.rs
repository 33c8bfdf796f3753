//! The experiment behind writing a bulk batch's rows to SQLite as one JSON text per statement
//! (`store::bulk`, BENCHMARKS.md): the same rows inserted with multi-row `VALUES` lists of bound
//! placeholders (a statement parsed anew per batch, every value copied into sqlx's arguments,
//! handed to its worker thread and bound one by one) against `INSERT … SELECT value->>0, … FROM
//! json_each(?)`, one bound text per statement. A records-like table (20 columns, a text
//! primary key) and a search-terms-like table (a two-column WITHOUT ROWID key, one more index),
//! in transactions of 5,000 records, as the generator writes; and, as `store::native` writes
//! them, one prepared single-row insert per table through rusqlite (`native`). Not part of the
//! harness: `cargo run --release -p peyvand-bench --example json_rows -- DIR values|json|native [RECORDS [TERMS]]`
use sqlx::any::AnyPoolOptions;
use sqlx::{AssertSqlSafe, Row};
use std::fmt::Write;
use std::time::Instant;

const COLUMNS: usize = 20;
const BATCH: usize = 5_000;

fn id(i: usize) -> String {
    format!("0193a2b4-{:04x}-7000-8000-{:012x}", i % 65_536, i)
}

fn record(i: usize) -> Vec<serde_json::Value> {
    let mut row = vec![serde_json::json!(id(i)), serde_json::json!(1)];
    for c in 2..COLUMNS {
        row.push(match c % 4 {
            0 => serde_json::json!(format!("مقدار متنی {c} شماره {i}")),
            1 => serde_json::json!((i * 7 + c) as i64),
            2 if i.is_multiple_of(3) => serde_json::Value::Null,
            _ => serde_json::json!(format!("2025-{:02}-{:02}T10:00:00.000000Z", 1 + c % 12, 1 + i % 28)),
        });
    }
    row
}

fn terms(i: usize, per_record: usize) -> Vec<Vec<serde_json::Value>> {
    (0..per_record)
        .map(|t| {
            vec![
                serde_json::json!(format!("واژه{}", (i * 31 + t * 7919) % 50_000)),
                serde_json::json!(id(i)),
                serde_json::json!("contact"),
            ]
        })
        .collect()
}

fn bind(
    q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    v: serde_json::Value,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    match v {
        serde_json::Value::Null => q.bind(None::<String>),
        serde_json::Value::Number(n) => q.bind(n.as_i64()),
        serde_json::Value::String(s) => q.bind(s),
        other => q.bind(other.to_string()),
    }
}

/// Inserts `rows` into `table` with multi-row VALUES lists (at most 30,000 placeholders each).
async fn by_values(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    columns: &[String],
    rows: Vec<Vec<serde_json::Value>>,
) -> anyhow::Result<()> {
    let per = 30_000 / columns.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(per).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        for (i, _) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            sql.push_str(&vec!["?"; columns.len()].join(", "));
            sql.push(')');
        }
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for row in chunk {
            for v in row {
                q = bind(q, v);
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts `rows` into `table` as one JSON array of arrays read by `json_each`.
async fn by_json(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    columns: &[String],
    rows: Vec<Vec<serde_json::Value>>,
) -> anyhow::Result<()> {
    let mut select = String::new();
    for i in 0..columns.len() {
        let _ = write!(select, "{}value->>{i}", if i > 0 { ", " } else { "" });
    }
    let sql = format!("INSERT INTO {table} ({}) SELECT {select} FROM json_each(?)", columns.join(", "));
    let text = serde_json::to_string(&rows)?;
    sqlx::query(AssertSqlSafe(sql)).bind(text).execute(&mut *conn).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).expect("a directory");
    let mode = std::env::args().nth(2).unwrap_or_else(|| "values".into());
    let n: usize = std::env::args().nth(3).and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let per_record: usize = std::env::args().nth(4).and_then(|s| s.parse().ok()).unwrap_or(6);
    let path = format!("{dir}/json_rows_{mode}.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;").execute(conn).await?;
                Ok(())
            })
        })
        .connect(&format!("sqlite://{path}?mode=rwc"))
        .await?;
    let columns: Vec<String> = (0..COLUMNS).map(|c| if c == 0 { "id".into() } else { format!("c{c}") }).collect();
    let defs: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(c, name)| match c {
            0 => format!("{name} TEXT PRIMARY KEY"),
            _ if c % 4 == 1 => format!("{name} BIGINT"),
            _ => format!("{name} TEXT"),
        })
        .collect();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE TABLE r ({}); CREATE TABLE terms (term TEXT NOT NULL, record_id TEXT NOT NULL, object TEXT NOT NULL, PRIMARY KEY (term, record_id)) WITHOUT ROWID; CREATE INDEX ix_terms_record ON terms (record_id);", defs.join(", ")))).execute(&pool).await?;
    let term_columns: Vec<String> = ["term", "record_id", "object"].iter().map(|s| s.to_string()).collect();
    if mode == "native" {
        pool.close().await;
        return native(&path, &columns, n, per_record);
    }
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let mut making = std::time::Duration::ZERO;
    for start in (0..n).step_by(BATCH) {
        let t = Instant::now();
        let rows: Vec<_> = (start..(start + BATCH).min(n)).map(record).collect();
        let term_rows: Vec<_> = (start..(start + BATCH).min(n)).flat_map(|i| terms(i, per_record)).collect();
        making += t.elapsed();
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        if mode == "json" {
            by_json(&mut conn, "r", &columns, rows).await?;
            by_json(&mut conn, "terms", &term_columns, term_rows).await?;
        } else {
            by_values(&mut conn, "r", &columns, rows).await?;
            by_values(&mut conn, "terms", &term_columns, term_rows).await?;
        }
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM r").fetch_one(&mut *conn).await?.try_get(0)?;
    let check: String = sqlx::query("SELECT c4 || '|' || c5 || '|' || IFNULL(c6, 'null') FROM r WHERE id = ?")
        .bind(id(3))
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let typed: String = sqlx::query("SELECT typeof(c5) FROM r LIMIT 1").fetch_one(&mut *conn).await?.try_get(0)?;
    println!(
        "{mode}: {count} records and {} terms in {secs:.2} s ({:.0} records/s, making the rows {:.2} s); row 3: {check}; c5 is {typed}",
        count as usize * per_record,
        count as f64 / secs,
        making.as_secs_f64()
    );
    Ok(())
}

/// The same rows through rusqlite: one prepared single-row insert per table and batch.
fn native(path: &str, columns: &[String], n: usize, per_record: usize) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;")?;
    let value = |v: &serde_json::Value| match v {
        serde_json::Value::Null => rusqlite::types::Value::Null,
        serde_json::Value::Number(n) => rusqlite::types::Value::Integer(n.as_i64().unwrap_or_default()),
        serde_json::Value::String(s) => rusqlite::types::Value::Text(s.clone()),
        other => rusqlite::types::Value::Text(other.to_string()),
    };
    let insert = format!("INSERT INTO r ({}) VALUES ({})", columns.join(", "), vec!["?"; columns.len()].join(", "));
    let started = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let rows: Vec<_> = (start..(start + BATCH).min(n)).map(record).collect();
        let term_rows: Vec<_> = (start..(start + BATCH).min(n)).flat_map(|i| terms(i, per_record)).collect();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        {
            let mut records = conn.prepare(&insert)?;
            for row in &rows {
                records.execute(rusqlite::params_from_iter(row.iter().map(value)))?;
            }
            let mut terms = conn.prepare("INSERT INTO terms (term, record_id, object) VALUES (?, ?, ?)")?;
            for row in &term_rows {
                terms.execute(rusqlite::params_from_iter(row.iter().map(value)))?;
            }
        }
        conn.execute_batch("COMMIT")?;
    }
    let secs = started.elapsed().as_secs_f64();
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM r", [], |r| r.get(0))?;
    println!(
        "native: {count} records and {} terms in {secs:.2} s ({:.0} records/s)",
        count as usize * per_record,
        count as f64 / secs
    );
    Ok(())
}
