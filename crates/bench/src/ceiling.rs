//! The storage ceiling: what the same database does for a minimal program on the same machine
//! in the same run. A plain table with a primary key and one index, rows inserted 500 to a
//! statement in transactions, then point reads by the index from many clients, then reads of 50
//! rows in index order (what a list page asks of the database, without decoding 24 fields or
//! writing JSON). Our figures are reported as a share of these.

use crate::load;
use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize)]
pub struct StorageCeiling {
    pub insert_rows_per_s: f64,
    pub point_read: load::Stats,
    /// 50 consecutive rows by the index from a point in it, as a list page reads them.
    pub range_read: load::Stats,
}

/// Opens the scratch database as the server opens its own (SQLite: WAL, synchronous NORMAL).
async fn open(url: &str, connections: u32) -> anyhow::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    Ok(AnyPoolOptions::new()
        .max_connections(connections)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
                    )
                    .execute(conn)
                    .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

/// Inserts `rows` rows and then reads single rows by the indexed column with `clients` clients.
pub async fn measure(url: &str, rows: usize, clients: usize, duration: Duration) -> anyhow::Result<StorageCeiling> {
    let pool = open(url, clients.min(16) as u32).await?;
    sqlx::raw_sql("DROP TABLE IF EXISTS bench_ceiling").execute(&pool).await?;
    sqlx::raw_sql("CREATE TABLE bench_ceiling (id TEXT PRIMARY KEY, name TEXT, n BIGINT)").execute(&pool).await?;
    sqlx::raw_sql("CREATE INDEX bench_ceiling_n ON bench_ceiling (n)").execute(&pool).await?;
    let started = Instant::now();
    let per_statement = 500;
    let mut i = 0;
    while i < rows {
        let mut tx = pool.begin().await?;
        for _ in 0..10 {
            let count = per_statement.min(rows - i);
            if count == 0 {
                break;
            }
            let mut text = String::from("INSERT INTO bench_ceiling (id, name, n) VALUES ");
            for k in 0..count {
                let p = k * 3;
                text.push_str(&format!("{}(${}, ${}, ${})", if k == 0 { "" } else { ", " }, p + 1, p + 2, p + 3));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(text));
            for k in i..i + count {
                q = q.bind(format!("{k:020}")).bind(format!("name {k}")).bind(k as i64);
            }
            q.persistent(false).execute(&mut *tx).await?;
            i += count;
        }
        tx.commit().await?;
    }
    let insert_rows_per_s = rows as f64 / started.elapsed().as_secs_f64();
    let shared = Arc::new(pool.clone());
    let total = rows.max(1) as u64;
    let reader = shared.clone();
    let point_read = load::run(clients, duration / 5, duration, move |client, n| {
        let pool = shared.clone();
        async move {
            let key = (n.wrapping_mul(2_654_435_761).wrapping_add(client as u64 * 97)) % total;
            let row = sqlx::query("SELECT id, name FROM bench_ceiling WHERE n = $1")
                .bind(key as i64)
                .fetch_optional(&*pool)
                .await
                .map_err(|e| e.to_string())?;
            match row {
                Some(r) if r.try_get::<String, _>(0).is_ok() => Ok(()),
                _ => Err(format!("row {key} missing")),
            }
        }
    })
    .await;
    let range_read = load::run(clients, duration / 5, duration, move |client, n| {
        let pool = reader.clone();
        async move {
            let from =
                (n.wrapping_mul(2_654_435_761).wrapping_add(client as u64 * 97)) % total.saturating_sub(50).max(1);
            let rows = sqlx::query("SELECT id, name, n FROM bench_ceiling WHERE n >= $1 ORDER BY n LIMIT 50")
                .bind(from as i64)
                .fetch_all(&*pool)
                .await
                .map_err(|e| e.to_string())?;
            let read = rows.iter().filter(|r| r.try_get::<String, _>(1).is_ok()).count();
            if read == 50.min(total as usize) { Ok(()) } else { Err(format!("{read} rows from {from}, not 50")) }
        }
    })
    .await;
    sqlx::raw_sql("DROP TABLE bench_ceiling").execute(&pool).await?;
    pool.close().await;
    Ok(StorageCeiling { insert_rows_per_s, point_read, range_read })
}
