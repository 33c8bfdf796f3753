//! The store's errors: actionable variants, no HTTP.

use peyvand_records::FieldError;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object, record, field or user does not exist (or is in the trash, where that matters).
    #[error("not found: {0}")]
    NotFound(String),
    /// The user may read the record but not do this to it (a record they may not read is
    /// `NotFound`).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The input is invalid; one entry per field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The change conflicts with the current state: a stale version, a duplicate unique value,
    /// a type change that would lose data. `code` is stable and machine-readable.
    #[error("conflict: {code}")]
    Conflict { code: &'static str, details: Vec<FieldError> },
    /// The database URL or settings are wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The database failed; the cause is logged, never shown to users.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite failed on a bulk load's own connection (`native`); logged, never shown to users.
    #[error("database (bulk load): {0}")]
    Native(#[from] rusqlite::Error),
    /// The database cannot serve now (a shared write transaction's commit failed on a full
    /// disk, say); the cause is logged, never shown to users.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or a manual edit of the database).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl Error {
    pub fn invalid(e: FieldError) -> Error {
        Error::Validation(vec![e])
    }
    pub fn conflict(code: &'static str) -> Error {
        Error::Conflict { code, details: Vec::new() }
    }
    /// Whether this is a unique-constraint violation reported by either database.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("23505") | Some("2067") | Some("1555"))
                    || e.message().contains("UNIQUE constraint failed")
            }
            Error::Native(rusqlite::Error::SqliteFailure(e, _)) => matches!(e.extended_code, 2067 | 1555),
            _ => false,
        }
    }
}

impl Error {
    /// Whether the database cannot serve now, through no fault of the request: it cannot be
    /// reached or refuses connections, the pool waited too long for a connection, the disk is
    /// full, or the database is locked or shutting down. Such a request may succeed if retried.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Database(e) => sqlx_unavailable(e),
            Error::Unavailable(_) => true,
            Error::Native(rusqlite::Error::SqliteFailure(e, _)) => sqlite_unavailable(e.extended_code),
            _ => false,
        }
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(e) => match e.code().as_deref() {
            // PostgreSQL: connection exceptions (08…), too many connections, shutting down or
            // starting up (57P01–57P03), out of disk or memory (53…), a database that does not
            // accept connections now (55000 with ALLOW_CONNECTIONS false).
            // (PostgreSQL's codes have five characters; SQLite's are numbers of at most four digits.)
            Some(code) if code.len() == 5 => {
                code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") || code == "55000"
            }
            // SQLite reports its result code as a number.
            Some(code) => code.parse::<i32>().is_ok_and(sqlite_unavailable),
            None => false,
        },
        _ => false,
    }
}

/// SQLite's busy, locked, I/O, full, cannot-open and read-only results (primary codes of the
/// extended ones).
fn sqlite_unavailable(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
