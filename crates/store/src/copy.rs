//! Bulk loads on PostgreSQL through a connection of their own: each table's rows of a batch
//! streamed with `COPY … FROM STDIN` (text format) instead of multi-row `INSERT`s, which the
//! server parsed anew for every batch (thousands of placeholders each, not kept prepared, on
//! purpose: plans made for empty tables must not outlive them).
//!
//! **Invariants:** the same rows as [`crate::Db::write_prepared`] for the same
//! [`crate::PreparedRecords`] (`COPY` fires the same row triggers: rollups), in one
//! transaction; an import's batch takes the imports' advisory lock first
//! ([`crate::Db::lock_imports`]) and looks for what must be absent after it.

use crate::bulk::{Absent, PG_IMPORT_LOCK, TableRows};
use crate::sql::{Bind, Sql};
use crate::{Dialect, Result};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres};

/// Bytes sent to the server at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// Opens the bulk load's connection.
pub(crate) async fn open(url: &str) -> Result<PgConnection> {
    Ok(PgConnection::connect(url).await?)
}

/// Writes every table's rows in one transaction, unless `absent` finds a row (then false, and
/// nothing written).
pub(crate) async fn write(conn: &mut PgConnection, absent: &Absent, tables: &[TableRows]) -> Result<bool> {
    let mut tx = conn.begin().await?;
    if absent.looks_for_anything() {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_IMPORT_LOCK).execute(&mut *tx).await?;
    }
    for query in absent.queries(Dialect::Postgres) {
        if pg_query(&query).fetch_optional(&mut *tx).await?.is_some() {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    for t in tables.iter().filter(|t| !t.rows.is_empty()) {
        let mut copy = tx.copy_in_raw(&format!("COPY {} ({}) FROM STDIN", t.table, t.columns.join(", "))).await?;
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
        for row in &t.rows {
            push_row(&mut buf, row);
            if buf.len() >= CHUNK_BYTES {
                copy.send(std::mem::replace(&mut buf, Vec::with_capacity(CHUNK_BYTES + 4096))).await?;
            }
        }
        if !buf.is_empty() {
            copy.send(buf).await?;
        }
        copy.finish().await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// `sql` as a query that is not kept prepared: a plan made while the tables were small would
/// read every value of the field for each look-up once they are not (measured: the import
/// slowed as it went).
fn pg_query(sql: &Sql) -> sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments> {
    let mut query = sqlx::query(AssertSqlSafe(sql.text.as_str())).persistent(false);
    for bind in &sql.binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_deref()),
            Bind::Int(n) => query.bind(*n),
        };
    }
    query
}

/// One row in `COPY`'s text format: values separated by tabs, `\N` for NULL, the format's
/// special characters escaped.
fn push_row(buf: &mut Vec<u8>, row: &[Bind]) {
    for (i, bind) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match bind {
            Bind::Text(Some(text)) => push_text(buf, text),
            Bind::Int(Some(n)) => buf.extend_from_slice(n.to_string().as_bytes()),
            Bind::Text(None) | Bind::Int(None) => buf.extend_from_slice(b"\\N"),
        }
    }
    buf.push(b'\n');
}

fn push_text(buf: &mut Vec<u8>, text: &str) {
    if !text.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
        buf.extend_from_slice(text.as_bytes());
        return;
    }
    for b in text.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_in_copy_text_format() {
        let mut buf = Vec::new();
        push_row(
            &mut buf,
            &[Bind::text("a\tb\\c\nd\re"), Bind::Int(Some(-42)), Bind::Text(None), Bind::Int(None), Bind::text("سارا")],
        );
        assert_eq!(String::from_utf8(buf).expect("utf-8"), "a\\tb\\\\c\\nd\\re\t-42\t\\N\t\\N\tسارا\n");
    }
}
