//! The experiment behind reading pages as one JSON value on SQLite (`store::records`,
//! BENCHMARKS.md): the rows of a contacts list page (51 rows of every column, by the last-name
//! index) read as rows, each handed from sqlx's SQLite worker thread to the task on its own,
//! against the same rows as one `json_group_array` value; 32 tasks for 8 seconds on a pool of 8,
//! as the server reads. Not part of the harness:
//! `cargo run --release -p peyvand-bench --example row_hops -- sqlite://PATH/peyvand.db rows|json`
use sqlx::Row;
use sqlx::any::AnyPoolOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args().nth(1).expect("sqlite url");
    let mode = std::env::args().nth(2).unwrap_or_else(|| "rows".into());
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql("PRAGMA cache_size = -8000;").execute(conn).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    let cols: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('r_contact') ORDER BY cid")
        .fetch_all(&pool)
        .await?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let names = ["رضایی", "احمدی", "کریمی", "Smith", "موسوی", "Brown", "نوری", "حسینی"];
    let inner = format!(
        "SELECT {} FROM r_contact WHERE deleted_at IS NULL AND c_last_name >= $1 ORDER BY c_last_name ASC NULLS FIRST, id ASC LIMIT 51",
        cols.join(", ")
    );
    let json = format!(
        "SELECT json_group_array(json_array({})) FROM ({inner}) t",
        cols.iter().map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ")
    );
    let done = Arc::new(AtomicU64::new(0));
    let fields = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(8);
    let mut tasks = Vec::new();
    for c in 0..32 {
        let (pool, done, fields, inner, json, mode) =
            (pool.clone(), done.clone(), fields.clone(), inner.clone(), json.clone(), mode.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < end {
                let name = names[i % names.len()];
                i += 1;
                let mut n = 0u64;
                if mode == "rows" {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(inner.clone()))
                        .bind(name)
                        .fetch_all(&pool)
                        .await
                        .expect("page as rows");
                    for r in &rows {
                        for k in 0..r.len() {
                            let t: Option<String> = r.try_get(k).ok().flatten();
                            n += t.map(|s| s.len() as u64).unwrap_or(1);
                        }
                    }
                } else {
                    let row = sqlx::query(sqlx::AssertSqlSafe(json.clone()))
                        .bind(name)
                        .fetch_one(&pool)
                        .await
                        .expect("page as JSON");
                    let text: String = row.get(0);
                    let v: Vec<Vec<serde_json::Value>> = serde_json::from_str(&text).expect("a JSON array");
                    for r in &v {
                        for x in r {
                            n += x.as_str().map(|s| s.len() as u64).unwrap_or(1);
                        }
                    }
                }
                fields.fetch_add(n, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    println!(
        "{mode}: {:.0} pages/s ({} bytes)",
        done.load(Ordering::Relaxed) as f64 / 8.0,
        fields.load(Ordering::Relaxed)
    );
    Ok(())
}
