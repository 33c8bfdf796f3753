//! Long reads on SQLite through connections of their own (rusqlite), stepped on a blocking
//! thread: a commission statement's credited lines, the customer-value fit's orders.
//!
//! sqlx's SQLite driver steps a statement on its worker thread and sends the awaiting task each
//! row on its own, behind every task the runtime has ready. Reads of tens of thousands of rows
//! paid for that crossing, or for folding their rows into one text in SQL to cross once (a
//! quarter's 15,000 credited lines: 34–66 ms as one text against 9–13 ms to sum them; the fit's
//! 2,000,000 orders: 54 s of a 103 s fit). Here the caller's closure steps and folds the rows
//! where SQLite decodes them.
//!
//! **Invariants:** the connections are opened read-only, so a native read never writes; each
//! statement reads one snapshot of the database (WAL), and sees every commit made before it
//! began. There are none on PostgreSQL or for an in-memory database (no second connection can
//! open one): [`Db::read_native`] answers `None`, and the caller reads through the pool.

use crate::{Db, Dialect, Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::sync::Mutex as StdMutex;

/// Connections kept open between reads (each holds its own page cache and parsed schema).
const IDLE: usize = 2;

/// The idle native readers of a database handle (and its clones).
#[derive(Default)]
pub(crate) struct NativeReaders {
    idle: StdMutex<Vec<Connection>>,
    /// Set by [`Db::close`]: no connection is kept after it.
    closed: std::sync::atomic::AtomicBool,
}

impl NativeReaders {
    /// Closes the idle connections; a read running now closes its own when it ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Page cache of each native reader, KiB: its reads run through most of a table once (the
/// system's file cache keeps the pages for the next), and what an idle connection keeps counts
/// in the server's memory.
const CACHE_KIB: u32 = 2_000;

fn open(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch(&format!("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -{CACHE_KIB};"))?;
    Ok(conn)
}

impl Db {
    /// Runs `read` on a read-only SQLite connection of its own, on a blocking thread; `None` on
    /// PostgreSQL or for an in-memory database, where the caller reads through [`Db::pool`].
    pub async fn read_native<T, F>(&self, read: F) -> Result<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (Dialect::Sqlite, Some(path)) = (self.dialect, self.file.clone()) else { return Ok(None) };
        let readers = self.native_readers.clone();
        let out = tokio::task::spawn_blocking(move || -> Result<T> {
            let idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => open(&path)?,
            };
            let out = read(&conn);
            let mut idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < IDLE && !readers.closed.load(std::sync::atomic::Ordering::Acquire) {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| Error::Config(format!("a native read's thread: {e}")))??;
        Ok(Some(out))
    }
}
