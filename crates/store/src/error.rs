//! The store's errors: actionable variants, no HTTP.

use peyvand_records::FieldError;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object, record, field or user does not exist (or is in the trash, where that matters).
    #[error("not found: {0}")]
    NotFound(String),
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
