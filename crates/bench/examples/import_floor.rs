//! The floor of an import on SQLite: the rows an import of contacts wrote (the records, their list
//! members, search terms, audit entries and import-log rows) written again into an empty database
//! with the same schema, batch by batch as the import writes them (5,000 records per
//! transaction, the bulk-load connection's settings), by `INSERT … SELECT` from a copy that holds
//! each row's batch number. No parsing, binding, validation or look-ups: what is left is SQLite's
//! own work on these B-trees, so no import that writes the same rows can be faster on the same
//! machine (BENCHMARKS.md, issue 4's import budget).
//!
//! `cargo run --release -p peyvand-bench --example import_floor -- IMPORTED.db WORKDIR [TABLES [BATCHES]]`
//! where IMPORTED.db is a database `peyvand import contact` filled (nothing else in it), and
//! TABLES a comma-separated choice of `records,members,terms,audit,import_log` (default: all),
//! to see what each costs alone and together, and BATCHES how many of the import's batches go in
//! one transaction (default 1, as the import commits them).
use rusqlite::Connection;
use std::time::Instant;

/// Records per transaction, as `peyvand import` writes them (`import::BULK_BATCH_SIZE`).
const BATCH: i64 = 5_000;

/// Each part of an imported record: its name on the command line, its table, and how its rows
/// find their record's batch in the copy (`batch` is filled from the records' row order).
const PARTS: [(&str, &str, &str); 5] = [
    ("records", "r_contact", "id"),
    ("members", "record_values", "record_id"),
    ("terms", "search_terms", "record_id"),
    ("audit", "audit_log", "record_id"),
    ("import_log", "import_log", "record_id"),
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(imported), Some(dir)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: import_floor IMPORTED.db WORKDIR [records,members,terms,audit,import_log [BATCHES]]");
    };
    let chosen: Vec<&str> = match args.get(3) {
        Some(list) => list.split(',').collect(),
        None => PARTS.iter().map(|p| p.0).collect(),
    };
    let per_transaction: usize = match args.get(4) {
        Some(n) => n.parse()?,
        None => 1,
    };
    anyhow::ensure!(per_transaction > 0, "batches per transaction: 1 or more");
    for name in &chosen {
        anyhow::ensure!(PARTS.iter().any(|p| p.0 == *name), "no part called {name}");
    }
    std::fs::create_dir_all(dir)?;
    let source = format!("{dir}/batched.db");
    let target = format!("{dir}/floor.db");
    if !std::path::Path::new(&source).exists() {
        batch_copy(imported, &source)?;
    }
    for file in [target.clone(), format!("{target}-wal"), format!("{target}-shm")] {
        let _ = std::fs::remove_file(file);
    }
    let db = Connection::open(&target)?;
    // The same schema, created before any row, as `peyvand migrate` leaves it.
    let schema: Vec<String> = {
        let from = Connection::open(imported)?;
        let mut stmt = from.prepare(
            "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        )?;
        stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    for sql in &schema {
        db.execute_batch(sql)?;
    }
    // The bulk-load connection's settings (`store::native`).
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32000; \
         PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;",
    )?;
    db.execute("ATTACH ?1 AS s", [&source])?;
    let batches: i64 = db.query_row("SELECT COALESCE(MAX(batch), -1) + 1 FROM s.r_contact", [], |r| r.get(0))?;
    let mut statements = Vec::new();
    for (_, table, _) in PARTS.iter().filter(|p| chosen.contains(&p.0)) {
        let columns: Vec<String> = {
            let mut stmt = db.prepare(&format!("SELECT name FROM pragma_table_info('{table}', 'main')"))?;
            stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        let columns = columns.join(", ");
        statements
            .push(format!("INSERT INTO main.{table} ({columns}) SELECT {columns} FROM s.{table} WHERE batch = ?1"));
    }
    let records: i64 = db.query_row("SELECT COUNT(*) FROM s.r_contact", [], |r| r.get(0))?;
    let started = Instant::now();
    for first in (0..batches).step_by(per_transaction) {
        db.execute_batch("BEGIN IMMEDIATE")?;
        for batch in first..(first + per_transaction as i64).min(batches) {
            for sql in &statements {
                db.execute(sql, [batch])?;
            }
        }
        db.execute_batch("COMMIT")?;
    }
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}, {} records per transaction: {records} contacts in {seconds:.1} s, {:.0} records/s",
        chosen.join(","),
        BATCH * per_transaction as i64,
        records as f64 / seconds
    );
    Ok(())
}

/// Copies the imported rows into `to`, each table with a `batch` column (the record's position
/// among the records, by row order, divided by [`BATCH`]) and an index on it, rows in the order
/// the import wrote them.
fn batch_copy(imported: &str, to: &str) -> anyhow::Result<()> {
    let db = Connection::open(imported)?;
    db.execute("ATTACH ?1 AS s", [to])?;
    db.execute_batch(&format!(
        "CREATE TABLE s.batch_of AS SELECT id, (ROW_NUMBER() OVER (ORDER BY rowid) - 1) / {BATCH} AS batch FROM r_contact;
         CREATE INDEX s.batch_of_id ON batch_of (id);"
    ))?;
    for (_, table, key) in PARTS {
        // Search terms have no row order of their own (a table without rowid): by key, as each
        // batch writes them.
        let order = if table == "search_terms" { "b.batch, t.term, t.record_id" } else { "t.rowid" };
        db.execute_batch(&format!(
            "CREATE TABLE s.{table} AS SELECT b.batch AS batch, t.* FROM main.{table} t \
             JOIN s.batch_of b ON b.id = t.{key} ORDER BY {order};
             CREATE INDEX s.{table}_batch ON {table} (batch);"
        ))?;
    }
    Ok(())
}
