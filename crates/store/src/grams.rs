//! The substring index: `contains` on an indexed text, e-mail, phone or national-ID field, and on
//! a multi-valued e-mail or phone field, is answered from a trigram index instead of reading
//! every record.
//!
//! The indexed text is the field's value folded as [`peyvand_records::normalize`] folds a
//! pattern (Persian letter variants, digits, diacritics, the zero-width non-joiner, Latin case;
//! the members of a multi-valued field one per line, never the JSON they are kept in), made by
//! the database itself on every write, so every write path (a record, a bulk load, a restore,
//! a change of the field) keeps it without knowing of it:
//! - **SQLite**: an FTS5 table with the trigram tokenizer per field (`gt_f…`, contentless, keyed
//!   by the record's rowid), kept by three triggers on the record table. A pattern is a phrase:
//!   consecutive trigrams, which is exactly "contains". (Peyvand never runs VACUUM, which may
//!   renumber the rowids of a table keyed by text.)
//! - **PostgreSQL**: a stored generated column (`gc_f…`) holding the folded text, with a GIN
//!   index of pg_trgm's trigram operator class (`gx_f…`); a pattern is a `LIKE` on that column.
//!
//! Cost (measured, see BENCHMARKS.md): what a write adds per indexed value, and the index's size.

use crate::schema::exec;
use crate::sql::{Bind, Sql};
use crate::{Db, Dialect, Result, WriteTx};
use peyvand_records::meta::{FieldDef, FieldType, ObjectDef, Storage};
use peyvand_records::normalize::FOLDED_CHARS;
use sqlx::Row;

/// Whether `field` has a substring index: a live indexed text, e-mail, phone or national-ID
/// field, or a multi-valued e-mail or phone field (how customers are found).
pub(crate) fn substring_indexed(field: &FieldDef) -> bool {
    let textual =
        matches!(field.field_type, FieldType::Text | FieldType::Email | FieldType::Phone | FieldType::NationalId);
    !field.archived && textual && (field.indexed || field.storage() == Storage::List)
}

fn name(prefix: &str, field: &FieldDef) -> String {
    format!("{prefix}_f{}", field.id.replace('-', ""))
}

/// A SQL string literal of `s` (the fold's characters are constants; none holds a quote).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL expression of `column` folded as a pattern is: multi-valued fields' JSON arrays of
/// strings become their members, one per line.
fn fold_sql(dialect: Dialect, field: &FieldDef, column: &str) -> String {
    let mut text = column.to_string();
    if field.storage() == Storage::List {
        text = format!("replace(replace(replace({text}, '\",\"', {}), '[\"', ''), '\"]', '')", newline(dialect));
    }
    match dialect {
        Dialect::Sqlite => {
            for (from, to) in FOLDED_CHARS {
                text = format!("replace({text}, {}, {})", literal(&from.to_string()), literal(to));
            }
            format!("lower({text})")
        }
        Dialect::Postgres => {
            // translate maps each character of the second text to the one at its place in the
            // third, and drops those past its end: the one-for-one pairs first, then the dropped.
            let mut from = String::new();
            let mut to = String::new();
            for (f, t) in FOLDED_CHARS.iter().filter(|(_, t)| !t.is_empty()) {
                from.push(*f);
                to.push_str(t);
            }
            for (f, _) in FOLDED_CHARS.iter().filter(|(_, t)| t.is_empty()) {
                from.push(*f);
            }
            format!("lower(translate({text}, {}, {}))", literal(&from), literal(&to))
        }
    }
}

fn newline(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "char(10)",
        Dialect::Postgres => "chr(10)",
    }
}

/// Builds the substring index of `field` (a no-op for a field that has none), filling it from
/// the records already there.
pub(crate) async fn create(tx: &mut WriteTx, dialect: Dialect, table: &str, field: &FieldDef) -> Result<()> {
    if !substring_indexed(field) {
        return Ok(());
    }
    drop(tx, dialect, table, field).await?;
    let column = &field.column;
    match dialect {
        Dialect::Sqlite => {
            let grams = name("gt", field);
            let fold_new = fold_sql(dialect, field, &format!("new.{column}"));
            exec(
                tx,
                &format!(
                    "CREATE VIRTUAL TABLE {grams} USING fts5(v, content='', contentless_delete=1, tokenize='trigram')"
                ),
            )
            .await?;
            exec(
                tx,
                &format!(
                    "INSERT INTO {grams} (rowid, v) SELECT rowid, {} FROM {table} WHERE {column} IS NOT NULL",
                    fold_sql(dialect, field, column)
                ),
            )
            .await?;
            exec(
                tx,
                &format!(
                    "CREATE TRIGGER {} AFTER INSERT ON {table} WHEN new.{column} IS NOT NULL BEGIN \
                     INSERT INTO {grams} (rowid, v) VALUES (new.rowid, {fold_new}); END",
                    name("gi", field)
                ),
            )
            .await?;
            exec(
                tx,
                &format!(
                    "CREATE TRIGGER {} AFTER UPDATE OF {column} ON {table} BEGIN \
                     DELETE FROM {grams} WHERE rowid = old.rowid; \
                     INSERT INTO {grams} (rowid, v) SELECT new.rowid, {fold_new} WHERE new.{column} IS NOT NULL; END",
                    name("gu", field)
                ),
            )
            .await?;
            exec(
                tx,
                &format!(
                    "CREATE TRIGGER {} AFTER DELETE ON {table} BEGIN DELETE FROM {grams} WHERE rowid = old.rowid; END",
                    name("gd", field)
                ),
            )
            .await?;
        }
        Dialect::Postgres => {
            let folded = name("gc", field);
            exec(
                tx,
                &format!(
                    "ALTER TABLE {table} ADD COLUMN {folded} TEXT GENERATED ALWAYS AS ({}) STORED",
                    fold_sql(dialect, field, column)
                ),
            )
            .await?;
            exec(tx, &format!("CREATE INDEX {} ON {table} USING gin ({folded} gin_trgm_ops)", name("gx", field)))
                .await?;
        }
    }
    Ok(())
}

/// Removes the substring index of `field`, if it has one.
pub(crate) async fn drop(tx: &mut WriteTx, dialect: Dialect, table: &str, field: &FieldDef) -> Result<()> {
    match dialect {
        Dialect::Sqlite => {
            for prefix in ["gi", "gu", "gd"] {
                exec(tx, &format!("DROP TRIGGER IF EXISTS {}", name(prefix, field))).await?;
            }
            exec(tx, &format!("DROP TABLE IF EXISTS {}", name("gt", field))).await
        }
        Dialect::Postgres => {
            exec(tx, &format!("DROP INDEX IF EXISTS {}", name("gx", field))).await?;
            exec(tx, &format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {}", name("gc", field))).await
        }
    }
}

/// After a change of a field's definition from `old` to `new`: builds, rebuilds or removes its
/// substring index where it had or now has one on another column; leaves it alone otherwise
/// (a change of a label rewrites nothing).
pub(crate) async fn update(
    tx: &mut WriteTx,
    dialect: Dialect,
    table: &str,
    old: &FieldDef,
    new: &FieldDef,
) -> Result<()> {
    let (had, has) = (substring_indexed(old), substring_indexed(new));
    let same = old.column == new.column && old.storage() == new.storage();
    if had && !(has && same) {
        drop(tx, dialect, table, old).await?;
    }
    if has && !(had && same) {
        create(tx, dialect, table, new).await?;
    }
    Ok(())
}

/// Whether the substring index of `field` is there.
async fn exists(tx: &mut WriteTx, dialect: Dialect, field: &FieldDef) -> Result<bool> {
    let sql = match dialect {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE name = $1",
        Dialect::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1",
    };
    let index = name(if dialect == Dialect::Sqlite { "gt" } else { "gx" }, field);
    let n: i64 = sqlx::query(sql).bind(index).fetch_one(&mut *tx.tx).await?.try_get(0)?;
    Ok(n > 0)
}

impl Db {
    /// At start-up: builds the substring index of every field that should have one and has not
    /// (a database made before they existed, or a load that was killed while building one).
    /// Returns how many it built.
    pub(crate) async fn ensure_substring_indexes(&self) -> Result<usize> {
        let catalog = self.reload_catalog().await?;
        let mut built = 0;
        for object in &catalog.objects {
            for field in object.fields.iter().filter(|f| substring_indexed(f)) {
                let mut tx = self.write_long().await?;
                if !exists(&mut tx, self.dialect(), field).await? {
                    create(&mut tx, self.dialect(), &object.table, field).await?;
                    tx.commit().await?;
                    tracing::info!(object = %object.api_name, field = %field.api_name, "built a substring index");
                    built += 1;
                }
            }
        }
        Ok(built)
    }
}

/// Appends the condition "`field` contains `pattern`" (a pattern normalized as
/// [`peyvand_records::normalize::normalize`] does, of three characters or more) answered from
/// the field's substring index; `None` (nothing appended) when the field has none.
pub(crate) fn contains_sql(
    sql: &mut Sql,
    dialect: Dialect,
    object: &ObjectDef,
    field: &FieldDef,
    pattern: &str,
) -> Option<()> {
    if !substring_indexed(field) || pattern.chars().count() < 3 {
        return None;
    }
    match dialect {
        Dialect::Sqlite => {
            // A phrase of the trigram tokenizer: its trigrams one after another, which is the
            // pattern appearing anywhere in the value.
            let grams = name("gt", field);
            sql.push(&object.table)
                .push(".rowid IN (SELECT rowid FROM ")
                .push(&grams)
                .push(" WHERE ")
                .push(&grams)
                .push(" MATCH ")
                .bind(Bind::text(format!("\"{}\"", pattern.replace('"', "\"\""))))
                .push(")");
        }
        Dialect::Postgres => {
            sql.push(&name("gc", field))
                .push(" LIKE ")
                .bind(Bind::text(format!("%{}%", crate::records::escape_like(pattern))))
                .push(" ESCAPE '\\'");
        }
    }
    Some(())
}

/// The SQL of `column` folded as the substring index folds it, for a `contains` on a field that
/// has no substring index (a scan, which the filter's time limit bounds).
pub(crate) fn folded_column(dialect: Dialect, field: &FieldDef, column: &str) -> String {
    fold_sql(dialect, field, column)
}
