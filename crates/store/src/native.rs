//! Bulk loads on SQLite through a connection of their own (rusqlite), for `peyvand generate`
//! and the plain batches of imports.
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

use crate::bulk::{Absent, TableRows, Writes, WrittenIds};
use crate::sql::{Bind, Sql};
use crate::{Db, Dialect, Error, PreparedRecords, Result};
use rusqlite::{Connection, OpenFlags};
use sqlx::Row;

/// A bulk load's own connection to the database, in the database's own terms: rusqlite on
/// SQLite, `COPY` on PostgreSQL (`store::copy`).
pub struct NativeWriter {
    inner: Inner,
    /// Where written batches' rows go to be freed (see [`NativeWriter::send_spent_to`]).
    spent: Option<std::sync::mpsc::Sender<Spent>>,
}

/// The rows of a batch written: freed by whoever drops it. A load hands them back to the thread
/// that made them ([`NativeWriter::send_spent_to`]): freeing memory on the thread that allocated it
/// is the allocator's fast path, and another thread freeing a batch's hundreds of thousands of
/// values was a twentieth of generating activities.
pub struct Spent(#[allow(dead_code)] Vec<TableRows>);

enum Inner {
    Sqlite {
        /// Lent to the blocking thread during a write; `None` after a write was abandoned midway.
        conn: Option<Connection>,
        checkpoints: Checkpointer,
    },
    Postgres(sqlx::PgConnection),
}

/// Copies the log into the database on a thread and connection of its own, so that the writer
/// goes on writing meanwhile: SQLite's own checkpoints ran inside the writer's commits, and on
/// a disk most of their time is waiting for `fsync` (an import of 200,000 contacts spent about
/// 8 of its 23 s there, with one core idle).
///
/// Woken after each commit, it copies what the log holds (`PASSIVE`: beside the writer, never
/// waiting for it). A log starts again from its beginning only when everything in it has been
/// copied as a write begins, which a writer that never pauses does not allow; so the writer
/// still checkpoints itself once the log passes [`MAX_LOG_PAGES`] (SQLite's autocheckpoint,
/// which then finds most of it copied already), and the log stays bounded.
struct Checkpointer {
    /// Wakes the thread; a wake-up sent while one is pending is dropped (one copy covers both).
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Pages in the log past which the writer copies the rest itself (about 160 MiB of 4 KiB pages;
/// a batch of 2,000 imported contacts writes about 6,000).
const MAX_LOG_PAGES: i64 = 40_000;

impl Checkpointer {
    fn start(path: String, mmap: u64) -> Result<Checkpointer> {
        let conn = open(&path, mmap)?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("peyvand-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    if let Err(e) = checkpoint(&conn) {
                        // The pages stay in the log, which is as safe; the next wake-up tries again.
                        tracing::warn!(error = %e, "copying the bulk load's log into the database failed");
                    }
                }
                // The writer is done: whatever is left, copied before the connection closes.
                if let Err(e) = checkpoint(&conn) {
                    tracing::warn!(error = %e, "the bulk load's last checkpoint failed");
                }
            })
            .map_err(|e| Error::Config(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer { wake: Some(wake), thread: Some(thread) })
    }

    fn wake(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }
}

/// Records checked against the database by [`Db::check_native`], waiting to be written.
pub struct CheckedRecords(PreparedRecords);

impl CheckedRecords {
    /// Logs the records as imported ([`PreparedRecords::log_import`]); the import log holds nothing
    /// the check looked at.
    pub fn log_import(&mut self, object: &str, hashes: Vec<Option<String>>) -> Result<()> {
        self.0.log_import(object, hashes)
    }
}

/// Copies the log into the database beside the writer.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its last copy; not waited for here (see
        // `NativeWriter::finish`).
        self.wake.take();
        self.thread.take();
    }
}

impl NativeWriter {
    /// Sends the rows of each batch written to `to` instead of freeing them on a thread of their
    /// own; the receiver drops them (best on the thread that made them). Once the receiver is gone,
    /// they are freed as before.
    pub fn send_spent_to(&mut self, to: std::sync::mpsc::Sender<Spent>) {
        self.spent = Some(to);
    }

    /// Waits until everything written is copied from the log into the database and the
    /// connections are closed.
    pub async fn finish(self) -> Result<()> {
        let mut checkpoints = match self.inner {
            Inner::Sqlite { conn, checkpoints } => {
                drop(conn);
                checkpoints
            }
            Inner::Postgres(conn) => return Ok(sqlx::Connection::close(conn).await?),
        };
        checkpoints.wake.take();
        if let Some(thread) = checkpoints.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| Error::Config(format!("the checkpoint thread: {e}")))?
                .map_err(|_| Error::Config("the checkpoint thread panicked".into()))?;
        }
        Ok(())
    }
}

/// Opens a connection of the bulk load's with the writer's settings, but for when it copies the
/// log into the database (see [`Checkpointer`]), reading through a memory map of `mmap` bytes
/// as the writer does (`crate::Workload::Generate`).
fn open(path: &str, mmap: u64) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch(&format!(
        "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -{}; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {MAX_LOG_PAGES};",
        crate::WRITER_CACHE_KIB
    ))?;
    if mmap > 0 {
        conn.query_row(&format!("PRAGMA mmap_size = {mmap}"), [], |_| Ok(()))?;
    }
    Ok(conn)
}

impl Db {
    /// A connection of its own for bulk loads into this database (`None` for a SQLite database
    /// that lives only in memory, which no second connection can open); on SQLite with the
    /// writer's settings and a checkpointer beside it.
    pub async fn native_writer(&self) -> Result<Option<NativeWriter>> {
        if self.dialect() == Dialect::Postgres {
            let url = self.pool.connect_options().database_url.to_string();
            return Ok(Some(NativeWriter { inner: Inner::Postgres(crate::copy::open(&url).await?), spent: None }));
        }
        let mut conn = self.writer.acquire().await?;
        // The file, and the memory map the workload gave the writer.
        let path: String = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let mmap: i64 = sqlx::query("PRAGMA mmap_size").fetch_one(&mut *conn).await?.try_get(0)?;
        drop(conn);
        if path.is_empty() {
            return Ok(None);
        }
        let mmap = mmap.max(0) as u64;
        let (conn, checkpoints) = tokio::task::spawn_blocking(move || -> Result<_> {
            Ok((open(&path, mmap)?, Checkpointer::start(path, mmap)?))
        })
        .await
        .map_err(|e| Error::Config(format!("opening the bulk-load connection failed: {e}")))??;
        Ok(Some(NativeWriter { inner: Inner::Sqlite { conn: Some(conn), checkpoints }, spent: None }))
    }

    /// Writes records prepared by [`PreparedRecords::native`] in one transaction of `writer`'s,
    /// checked first as [`Db::write_prepared`] checks them; their ids in order.
    pub async fn write_native(&self, writer: &mut NativeWriter, prepared: PreparedRecords) -> Result<Vec<String>> {
        let checked = self.check_native(prepared).await?;
        self.write_checked_native(writer, checked).await
    }

    /// Writes records as [`Db::write_native`] does, unless its transaction, once it holds
    /// SQLite's write lock, finds something `absent` looks for: then it writes nothing and
    /// returns `None`. A unique value taken since the check is a [`Error::Conflict`], as on the
    /// other path.
    pub async fn write_native_unless(
        &self,
        writer: &mut NativeWriter,
        prepared: PreparedRecords,
        absent: Absent,
    ) -> Result<Option<Vec<String>>> {
        let checked = self.check_native(prepared).await?;
        self.write_checked_native_unless(writer, checked, absent).await
    }

    /// Checks records for [`Db::write_checked_native`] as [`Db::write_native`] checks them first (on a
    /// reader: references to live records and active users, unique values free), so a load can
    /// check its next batch while its writer writes this one. A batch that points at records of
    /// the object being written must wait for that write ([`PreparedRecords::refers_to`]); a
    /// unique value taken by the batch being written is refused by the unique index instead.
    pub async fn check_native(&self, prepared: PreparedRecords) -> Result<CheckedRecords> {
        self.check_native_knowing(prepared, &WrittenIds::default()).await
    }

    /// Checks records as [`Db::check_native`] does, but references to records that `known` holds
    /// (written by this load) are not looked up; the rest are, and so are unique values.
    pub async fn check_native_knowing(&self, prepared: PreparedRecords, known: &WrittenIds) -> Result<CheckedRecords> {
        let mut reader = self.pool.acquire().await?;
        self.check_prepared(&mut reader, &prepared, known).await?;
        Ok(CheckedRecords(prepared))
    }

    /// Writes records checked by [`Db::check_native`] as [`Db::write_native`] does.
    pub async fn write_checked_native(
        &self,
        writer: &mut NativeWriter,
        checked: CheckedRecords,
    ) -> Result<Vec<String>> {
        let written = self.write_checked_native_unless(writer, checked, Absent::default()).await?;
        written.ok_or_else(|| Error::Config("a bulk write with nothing to look for found something".into()))
    }

    /// Writes records checked by [`Db::check_native`] as [`Db::write_native_unless`] does.
    pub async fn write_checked_native_unless(
        &self,
        writer: &mut NativeWriter,
        CheckedRecords(prepared): CheckedRecords,
        absent: Absent,
    ) -> Result<Option<Vec<String>>> {
        let PreparedRecords { ids, writes, .. } = prepared;
        let Writes::Rows(tables) = writes else {
            return Err(Error::Config(
                "records prepared for multi-row statements, not for the bulk-load connection".into(),
            ));
        };
        let (outcome, tables) = match &mut writer.inner {
            Inner::Postgres(conn) => (crate::copy::write(conn, &absent, &tables).await, tables),
            Inner::Sqlite { conn, checkpoints } => {
                let written = self.write_sqlite(conn, absent, tables).await?;
                checkpoints.wake();
                written
            }
        };
        // Freeing a batch's hundreds of thousands of values was a tenth of the writing thread's
        // time: another thread does it while this one writes the next batch.
        let tables = match &writer.spent {
            Some(to) => to.send(Spent(tables)).err().map(|returned| returned.0.0),
            None => Some(tables),
        };
        if let Some(tables) = tables {
            tokio::task::spawn_blocking(move || drop(tables));
        }
        match outcome {
            Ok(true) => Ok(Some(ids)),
            Ok(false) => Ok(None),
            Err(e) if e.is_unique_violation() => Err(Error::conflict("not_unique")),
            Err(e) => Err(e),
        }
    }

    /// Writes `tables` on SQLite's bulk-load connection `slot` under this process's write lock;
    /// the outcome and the tables back.
    async fn write_sqlite(
        &self,
        slot: &mut Option<Connection>,
        absent: Absent,
        tables: Vec<TableRows>,
    ) -> Result<(Result<bool>, Vec<TableRows>)> {
        self.lend_locked(slot, move |conn| {
            let outcome = insert_all(conn, &absent, &tables).map_err(Error::Native);
            (outcome, tables)
        })
        .await
    }

    /// Runs `work` with the connection in `slot` on a blocking thread, under this process's
    /// write lock. The lock goes with the work: released when it has ended, even if this caller
    /// gave up waiting for it; a caller that gives up while waiting for the lock keeps its
    /// connection (an abandoned work leaves the slot empty, and later writes are refused).
    async fn lend_locked<T: Send + 'static>(
        &self,
        slot: &mut Option<Connection>,
        work: impl FnOnce(&Connection) -> T + Send + 'static,
    ) -> Result<T> {
        let abandoned = || Error::Config("an earlier write on a connection of its own was abandoned midway".into());
        if slot.is_none() {
            return Err(abandoned());
        }
        let held = self.writers.hold().await?;
        let conn = slot.take().ok_or_else(abandoned)?;
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = work(&conn);
            drop(held);
            (conn, out)
        })
        .await
        .map_err(|e| Error::Config(format!("a write thread failed: {e}")))?;
        *slot = Some(conn);
        Ok(out)
    }
}

/// Runs `work` in a `BEGIN IMMEDIATE` transaction: committed if it answers `(_, true)`, rolled
/// back if `(_, false)` or an error (the error is the one reported; a failed rollback leaves
/// nothing behind either, as the connection's next `BEGIN` would fail and say so).
fn immediate<T>(conn: &Connection, work: impl FnOnce() -> rusqlite::Result<(T, bool)>) -> rusqlite::Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match work() {
        Ok((out, true)) => conn.execute_batch("COMMIT").map(|()| out),
        Ok((out, false)) => conn.execute_batch("ROLLBACK").map(|()| out),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Inserts every table's rows in one transaction, all or none, unless `absent` finds a row
/// (then false, and nothing written).
fn insert_all(conn: &Connection, absent: &Absent, tables: &[TableRows]) -> rusqlite::Result<bool> {
    immediate(conn, || {
        for query in &absent.queries(Dialect::Sqlite) {
            if found(conn, query)? {
                return Ok((false, false));
            }
        }
        tables.iter().try_for_each(|t| insert(conn, t))?;
        Ok((true, true))
    })
}

/// Whether `query` returns a row.
fn found(conn: &Connection, query: &Sql) -> rusqlite::Result<bool> {
    let mut statement = conn.prepare(&query.text)?;
    bind_all(&mut statement, &query.binds)?;
    Ok(statement.raw_query().next()?.is_some())
}

fn bind_all(statement: &mut rusqlite::Statement<'_>, binds: &[Bind]) -> rusqlite::Result<()> {
    for (i, bind) in binds.iter().enumerate() {
        match bind {
            Bind::Text(Some(text)) => statement.raw_bind_parameter(i + 1, text.as_str())?,
            Bind::Int(Some(n)) => statement.raw_bind_parameter(i + 1, n)?,
            Bind::Text(None) | Bind::Int(None) => statement.raw_bind_parameter(i + 1, rusqlite::types::Null)?,
        }
    }
    Ok(())
}

fn insert(conn: &Connection, t: &TableRows) -> rusqlite::Result<()> {
    if t.rows.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["?"; t.columns.len()].join(", ");
    let mut statement =
        conn.prepare(&format!("INSERT INTO {} ({}) VALUES ({placeholders})", t.table, t.columns.join(", ")))?;
    for row in &t.rows {
        bind_all(&mut statement, row)?;
        statement.raw_execute()?;
    }
    Ok(())
}

/// Derived values' rows by the columns they set: (columns, [(id, a bind per column)]).
pub(crate) type DerivedRows = Vec<(Vec<String>, Vec<(String, Vec<Bind>)>)>;

/// A connection of its own that writes derived values on SQLite ([`Db::write_derived`]): one
/// prepared single-row `UPDATE` per set of columns, run for every row from values bound in
/// place, instead of a statement of a few thousand placeholders parsed and bound anew for each
/// 500 rows on sqlx's thread.
pub(crate) struct DerivedWriter {
    /// Lent to the blocking thread during a write; `None` after a write was abandoned midway.
    conn: Option<Connection>,
}

impl Db {
    /// A connection for [`Db::write_derived_native`]; `None` on PostgreSQL or for an in-memory
    /// database.
    pub(crate) async fn derived_writer(&self) -> Result<Option<DerivedWriter>> {
        let (Dialect::Sqlite, Some(path)) = (self.dialect, self.file.clone()) else { return Ok(None) };
        // It writes beside a server: its commits copy the log into the database as the server's
        // writer does, not at a bulk load's 40,000 pages (the next user's commit would copy them).
        let pages = crate::Workload::Serve.autocheckpoint_pages();
        let conn = tokio::task::spawn_blocking(move || -> rusqlite::Result<Connection> {
            let conn = open(&path.to_string_lossy(), 0)?;
            conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {pages};"))?;
            Ok(conn)
        })
        .await
        .map_err(|e| Error::Config(format!("opening the derived values' connection failed: {e}")))??;
        Ok(Some(DerivedWriter { conn: Some(conn) }))
    }

    /// Sets `rows` of the live records of `table` in one transaction on `writer`, under this
    /// process's write lock; the records changed.
    pub(crate) async fn write_derived_native(
        &self,
        writer: &mut DerivedWriter,
        table: String,
        rows: DerivedRows,
    ) -> Result<u64> {
        Ok(self.lend_locked(&mut writer.conn, move |conn| update_all(conn, &table, &rows)).await??)
    }
}

/// Updates every row in one transaction, all or none.
fn update_all(conn: &Connection, table: &str, rows: &DerivedRows) -> rusqlite::Result<u64> {
    immediate(conn, || {
        let mut written = 0u64;
        for (columns, records) in rows {
            let set: Vec<String> = columns.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 1)).collect();
            let mut statement = conn.prepare(&format!(
                "UPDATE {table} SET {} WHERE id = ?{} AND deleted_at IS NULL",
                set.join(", "),
                columns.len() + 1
            ))?;
            for (id, binds) in records {
                bind_all(&mut statement, binds)?;
                statement.raw_bind_parameter(columns.len() + 1, id.as_str())?;
                written += statement.raw_execute()? as u64;
            }
        }
        Ok((written, true))
    })
}
