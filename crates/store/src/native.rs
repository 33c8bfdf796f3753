//! Bulk loads on SQLite through a connection of their own (rusqlite), for `peyvand generate`.
//!
//! sqlx's SQLite driver runs every statement on a worker thread: each batch's multi-row
//! statements were parsed anew, every value was copied into its arguments, handed to that
//! thread, bound, and freed there. In a profile of the generator that overhead was 45 % of the
//! SQLite thread's samples (parsing 15 %, binding 13 %, freeing the arguments 13 %), against
//! 54 % for SQLite's own work. Here each table's single-row insert is prepared once per batch
//! and run for every row from values bound in place, on the calling (blocking) thread.
//!
//! **Invariants:** a native write holds this process's write lock ([`crate::write`]) for its
//! whole transaction (`BEGIN IMMEDIATE` … `COMMIT` on its own connection), so it never meets
//! this process's other writers half-way; it writes exactly the rows [`Db::write_prepared`]
//! writes for the same [`PreparedRecords`] (`PreparedRecords::new` turns the rows of `PreparedRecords::native` into its statements),
//! and checks references and unique values the same way, on a reader before it takes the
//! lock, as a single create does (the unique indexes refuse a value taken in between).

use crate::bulk::{TableRows, Writes};
use crate::sql::Bind;
use crate::{Db, Dialect, Error, PreparedRecords, Result};
use rusqlite::{Connection, OpenFlags};
use sqlx::Row;

/// A bulk load's own connection to a SQLite database.
pub struct NativeWriter {
    /// Lent to the blocking thread during a write; `None` after a write was abandoned midway.
    conn: Option<Connection>,
}

impl Db {
    /// A connection of its own for bulk loads into this SQLite database (`None` on PostgreSQL
    /// and for a database that lives only in memory, which no second connection can open),
    /// with the writer's settings.
    pub async fn native_writer(&self) -> Result<Option<NativeWriter>> {
        if self.dialect() != Dialect::Sqlite {
            return Ok(None);
        }
        let mut conn = self.writer.acquire().await?;
        let path: String = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let checkpoint: i64 = sqlx::query("PRAGMA wal_autocheckpoint").fetch_one(&mut *conn).await?.try_get(0)?;
        drop(conn);
        if path.is_empty() {
            return Ok(None);
        }
        let opened = tokio::task::spawn_blocking(move || -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.execute_batch(&format!(
                "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA cache_size = -{}; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {checkpoint};",
                crate::WRITER_CACHE_KIB
            ))?;
            Ok(conn)
        })
        .await
        .map_err(|e| Error::Config(format!("opening the bulk-load connection failed: {e}")))??;
        Ok(Some(NativeWriter { conn: Some(opened) }))
    }

    /// Writes records prepared by [`PreparedRecords::native`] in one transaction of `writer`'s,
    /// checked first as [`Db::write_prepared`] checks them; their ids in order.
    pub async fn write_native(&self, writer: &mut NativeWriter, prepared: PreparedRecords) -> Result<Vec<String>> {
        {
            let mut reader = self.pool.acquire().await?;
            self.check_prepared(&mut reader, &prepared).await?;
        }
        let PreparedRecords { ids, writes, .. } = prepared;
        let Writes::Rows(tables) = writes else {
            return Err(Error::Config(
                "records prepared for multi-row statements, not for the bulk-load connection".into(),
            ));
        };
        let abandoned = || Error::Config("an earlier bulk write was abandoned midway".into());
        if writer.conn.is_none() {
            return Err(abandoned());
        }
        let held = self.writers.hold().await?;
        // Taken only now: a caller that gives up while waiting for the lock keeps its connection.
        let conn = writer.conn.take().ok_or_else(abandoned)?;
        // The lock goes with the transaction: released when it has ended, even if this caller
        // gave up waiting for it.
        let (conn, outcome, tables) = tokio::task::spawn_blocking(move || {
            let outcome = insert_all(&conn, &tables);
            drop(held);
            (conn, outcome, tables)
        })
        .await
        .map_err(|e| Error::Config(format!("the bulk write's thread failed: {e}")))?;
        writer.conn = Some(conn);
        // Freeing a batch's hundreds of thousands of values was a tenth of the writing thread's
        // time: another thread does it while this one writes the next batch.
        tokio::task::spawn_blocking(move || drop(tables));
        outcome?;
        Ok(ids)
    }
}

/// Inserts every table's rows in one transaction, all or none.
fn insert_all(conn: &Connection, tables: &[TableRows]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let written = tables.iter().try_for_each(|t| insert(conn, t));
    match written {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            // The insert's error is the one to report; a failed rollback leaves nothing behind
            // either (the connection's next `BEGIN` would fail and say so).
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn insert(conn: &Connection, t: &TableRows) -> rusqlite::Result<()> {
    if t.rows.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["?"; t.columns.len()].join(", ");
    let mut statement =
        conn.prepare(&format!("INSERT INTO {} ({}) VALUES ({placeholders})", t.table, t.columns.join(", ")))?;
    for row in &t.rows {
        for (i, bind) in row.iter().enumerate() {
            match bind {
                Bind::Text(Some(text)) => statement.raw_bind_parameter(i + 1, text.as_str())?,
                Bind::Int(Some(n)) => statement.raw_bind_parameter(i + 1, n)?,
                Bind::Text(None) | Bind::Int(None) => statement.raw_bind_parameter(i + 1, rusqlite::types::Null)?,
            }
        }
        statement.raw_execute()?;
    }
    Ok(())
}
