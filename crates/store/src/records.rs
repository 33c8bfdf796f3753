//! Records: create, read, update, soft delete and restore, list with filters, sorts and keyset
//! pagination, and history. Each change writes its audit entry (which is also its event, pending
//! until published), multi-value index rows and search terms in the same transaction.

use crate::bulk::insert_statements;
use crate::catalog::Catalog;
use crate::hooks::{Action, Pending, Written};
use crate::sql::{
    Bind, RowRef, Rows, Script, Sql, field_columns, hex, new_id, now, operand_bind, read_value, read_value_of,
    stored_value, value_binds,
};
use crate::{Db, Dialect, Error, PreparedRecords, Result, WriteTx};
use peyvand_records::access::{Intent, OWNER_FIELD, Reach};
use peyvand_records::filter::{Condition, FieldRef, Operand};
use peyvand_records::normalize::{joined_word_terms, normalize, search_terms, to_latin_digits};
use peyvand_records::{
    FieldDef, FieldError, FieldType, Filter, Mode, ObjectDef, Op, SortKey, Storage, Value, validate,
};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap};

/// A record as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Record {
    pub id: String,
    pub object: String,
    /// Increases with every change; send it back (`If-Match` or `version`) to update safely.
    pub version: i64,
    /// The record's name, from the object's title field(s).
    pub title: String,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub deleted_at: Option<String>,
    pub fields: Map<String, Json>,
}

/// Savepoint statements for [`Db::savepoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Savepoint {
    Begin,
    Release,
    Rollback,
}

/// One page of a list.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Page {
    pub records: Vec<Record>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Matching records in all pages, when asked for: exact, or (`total_exact` false) estimated
    /// or a lower bound (`total_is` says which), when counting them all would read more than
    /// [`COUNT_CAP`] of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_exact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_is: Option<TotalIs>,
}

/// What a page's `total` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalIs {
    /// Every match counted.
    Exact,
    /// Past [`COUNT_CAP`]: the matches in an even sample of the records, scaled to them all
    /// and rounded to three significant digits.
    Estimate,
    /// Past [`COUNT_CAP`], and too few matches in the sample to say more: at least this many.
    AtLeast,
}

/// Records a count's estimate reads (see [`TotalIs::Estimate`]): at 4,000, a filter matching 4 %
/// of a million records is estimated within about 8 % (one standard deviation).
const ESTIMATE_SAMPLE: i64 = 4_000;

/// Matches of a team's records, or of a `contains` on PostgreSQL, counted exactly (see
/// `Db::read_page`); past it, or when the estimate puts them past it, they are estimated.
pub const SCOPED_COUNT_CAP: i64 = 1_000;

/// How long an estimate is reused for the same question (it is an estimate: a few seconds'
/// changes do not make it wrong).
const ESTIMATE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// Most estimates kept at once.
const ESTIMATE_ENTRIES: usize = 1_000;

/// The newest records PostgreSQL checks for a page of a `contains` before it reads every match
/// from the trigram index (see `Db::page_statement`): a page of 50 in one of a hundred.
const WINDOW: i64 = 5_000;

/// The most newest records PostgreSQL checks for a page of a `contains` whose first window
/// held some matches: where a page needs more, its matches are read from the index and sorted.
const MAX_WINDOW: i64 = 100_000;

/// The most matches a streamed page (SQLite, [`Stream`]) checks before it reads the page as any
/// other filter is read: a `contains` and a condition few of its matches meet.
const STREAM_MAX: i64 = 16_384;

/// Consecutive records a SQLite sample reads at each of its places.
const ESTIMATE_RUN: i64 = 100;

/// Fewest matches in the sample that make an estimate; with fewer, a count says "at least".
const ESTIMATE_MIN_MATCHES: i64 = 30;

/// The most matching records a list counts unless asked for the exact number: a count reads
/// every match, and no list page should wait for a million of them. An unfiltered count comes
/// exact from a rollup where the object has one.
pub const COUNT_CAP: i64 = 10_000;

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort: Vec<SortKey>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// List the trash (soft-deleted records) instead of live records.
    pub trash: bool,
    pub with_total: bool,
    /// Count every match, however many ([`COUNT_CAP`] otherwise).
    pub exact_total: bool,
    /// Read only these fields (API names), besides those the title and the sort are made of;
    /// all when `None`. A page that shows three fields of a record decodes three.
    pub fields: Option<Vec<String>>,
}

/// Most records in one page.
pub const MAX_PAGE: u32 = 500;
/// Records in a page when the request does not say.
pub const DEFAULT_PAGE: u32 = 50;
/// Records a whole-object scan ([`Db::scan_values`]) reads a statement.
pub const SCAN_BATCH: usize = 5_000;

/// One entry of a record's history.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryEntry {
    pub id: String,
    pub action: String,
    pub actor: Option<String>,
    pub at: String,
    pub changes: Json,
}

const SYSTEM_COLUMNS: &str = "id, version, created_at, updated_at, created_by, updated_by, deleted_at";

fn select_list(object: &ObjectDef) -> String {
    select_columns(object, None).join(", ")
}

/// The live fields a read decodes: all, or those named and those the title is made of.
fn read_fields<'a>(object: &'a ObjectDef, only: Option<&'a [String]>) -> impl Iterator<Item = &'a FieldDef> {
    object
        .live_fields()
        .filter(move |f| only.is_none_or(|names| names.contains(&f.api_name) || object.is_title_field(&f.api_name)))
}

/// The columns a read of `object` selects, system columns first.
fn select_columns(object: &ObjectDef, only: Option<&[String]>) -> Vec<String> {
    let mut cols: Vec<String> = SYSTEM_COLUMNS.split(", ").map(str::to_string).collect();
    for f in read_fields(object, only) {
        cols.extend(field_columns(f));
    }
    cols
}

/// The title of a record from its field values.
pub fn title_of(object: &ObjectDef, fields: &Map<String, Json>) -> String {
    object
        .title_field
        .split(' ')
        .filter_map(|f| fields.get(f))
        .filter_map(|v| match v {
            Json::String(s) => Some(s.clone()),
            Json::Null => None,
            other => Some(other.to_string()),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn record_from_row(object: &ObjectDef, row: &AnyRow) -> Result<(Record, Vec<(String, Value)>)> {
    record_from_row_of(object, &RowRef::Db(row), None)
}

fn record_from_row_of(
    object: &ObjectDef,
    row: &RowRef,
    only: Option<&[String]>,
) -> Result<(Record, Vec<(String, Value)>)> {
    let mut fields = Map::new();
    let mut values = Vec::new();
    for f in read_fields(object, only) {
        let v = read_value_of(row, f)?;
        fields.insert(f.api_name.clone(), v.to_json());
        values.push((f.api_name.clone(), v));
    }
    let record = Record {
        id: row.text_required("id")?,
        object: object.api_name.clone(),
        version: row.int_required("version")?,
        title: title_of(object, &fields),
        created_at: row.text_required("created_at")?,
        updated_at: row.text_required("updated_at")?,
        created_by: row.text("created_by")?,
        updated_by: row.text("updated_by")?,
        deleted_at: row.text("deleted_at")?,
        fields,
    };
    Ok((record, values))
}

/// `record` with these field values (API name → value) and the title they make.
fn with_values(object: &ObjectDef, mut record: Record, values: &[(String, Value)]) -> Record {
    record.fields = values.iter().map(|(name, v)| (name.clone(), v.to_json())).collect();
    record.title = title_of(object, &record.fields);
    record
}

/// Replaces the `record_values` rows of one list field for every record of the object.
pub(crate) async fn rebuild_field_values(
    tx: &mut WriteTx,
    dialect: Dialect,
    object: &ObjectDef,
    field: &FieldDef,
) -> Result<()> {
    sqlx::query("DELETE FROM record_values WHERE field_id = $1").bind(field.id.clone()).execute(&mut *tx.tx).await?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id, deleted_at, {} FROM {} WHERE {} IS NOT NULL",
        field.column, object.table, field.column
    )))
    .fetch_all(&mut *tx.tx)
    .await?;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let live = row.try_get::<Option<String>, _>("deleted_at")?.is_none();
        if let Value::List(items) = read_value(row, field)? {
            insert_values(tx, dialect, field, &id, &items, live).await?;
        }
    }
    Ok(())
}

async fn insert_values(
    tx: &mut WriteTx,
    dialect: Dialect,
    field: &FieldDef,
    record_id: &str,
    items: &[String],
    live: bool,
) -> Result<()> {
    let mut script = Script::new(dialect, true);
    values_statement(&mut script, field, record_id, items, live);
    script.execute(&mut tx.tx).await.map_err(|e| match Error::from(e) {
        e if e.is_unique_violation() => {
            Error::Conflict { code: "not_unique", details: vec![FieldError::new(&field.api_name, "not_unique")] }
        }
        e => e,
    })
}

/// Adds to `script` the statement writing the `record_values` rows of a list field's items.
fn values_statement(script: &mut Script, field: &FieldDef, record_id: &str, items: &[String], live: bool) {
    insert_statements(script, "record_values", &MEMBER_COLUMNS, member_rows(field, record_id, items, live));
}

/// The columns of a `record_values` row (see [`member_rows`]).
pub(crate) const MEMBER_COLUMNS: [&str; 4] = ["field_id", "value_norm", "record_id", "uniq"];

/// The `record_values` rows of a list field's items: each distinct normalized item once, counted
/// against the field's uniqueness only for a live record.
pub(crate) fn member_rows(field: &FieldDef, record_id: &str, items: &[String], live: bool) -> Vec<Vec<Bind>> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .map(|item| normalize(item))
        .filter(|norm| seen.insert(norm.clone()))
        .map(|norm| {
            vec![
                Bind::text(field.id.clone()),
                Bind::text(norm),
                Bind::text(record_id),
                Bind::Int(Some(i64::from(field.unique && live))),
            ]
        })
        .collect()
}

/// Search terms of a record: every word of its text, e-mail, phone and ID fields and tags.
pub(crate) fn record_terms(object: &ObjectDef, values: &[(String, Value)]) -> Vec<String> {
    field_terms(values.iter().filter_map(|(name, value)| object.field(name).map(|field| (field, value))))
}

/// Search terms of the values of live fields, as [`record_terms`] makes them.
pub(crate) fn field_terms<'a>(values: impl Iterator<Item = (&'a FieldDef, &'a Value)>) -> Vec<String> {
    field_terms_by(values, search_terms)
}

/// The terms `rule` makes of the values of live fields.
fn field_terms_by<'a>(
    values: impl Iterator<Item = (&'a FieldDef, &'a Value)>,
    rule: fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut terms = Vec::new();
    for (field, value) in values {
        if field.archived || !is_searchable(field.field_type) {
            continue;
        }
        let items: Vec<&str> = match value {
            Value::Text(s) => vec![s.as_str()],
            Value::List(items) => items.iter().map(String::as_str).collect(),
            _ => continue,
        };
        // A phone number is indexed once, as stored (`+98…`); a query in another form is
        // looked for in this one too (`normalize::phone_query_form`).
        for item in items {
            terms.extend(rule(item));
        }
    }
    terms.sort();
    terms.dedup();
    terms
}

/// Whether values of a field of this type are search terms.
pub(crate) fn is_searchable(field_type: FieldType) -> bool {
    matches!(
        field_type,
        FieldType::Text | FieldType::Email | FieldType::Phone | FieldType::NationalId | FieldType::MultiSelect
    )
}

/// Records read, and their search terms rewritten, at a time when a field change rewrites them.
const TERMS_REWRITE_PAGE: i64 = 1_000;

/// After a change of one field (`before` and `after` are the object with the old and the new
/// definition of it; the new one's column already filled), moves the search terms of every
/// live record with a value in the field from what `before` made of its values to what `after`
/// makes (see [`terms_change_statements`]), a page of records at a time, inside `tx`.
pub(crate) async fn rewrite_field_terms(
    tx: &mut WriteTx,
    dialect: Dialect,
    before: &ObjectDef,
    after: &ObjectDef,
    field_id: &str,
) -> Result<()> {
    let mut columns = select_columns(before, None);
    let mut has_value = Vec::new();
    for def in [before, after] {
        if let Some(f) = def.fields.iter().find(|f| f.id == field_id) {
            for c in field_columns(f) {
                has_value.push(format!("{c} IS NOT NULL"));
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
        }
    }
    if has_value.is_empty() {
        return Ok(());
    }
    let select = format!(
        "SELECT {} FROM {} WHERE deleted_at IS NULL AND ({}) AND id > $1 ORDER BY id LIMIT {TERMS_REWRITE_PAGE}",
        columns.join(", "),
        before.table,
        has_value.join(" OR ")
    );
    let mut last = String::new();
    loop {
        let rows = sqlx::query(AssertSqlSafe(select.clone())).bind(last.clone()).fetch_all(&mut *tx.tx).await?;
        let mut script = Script::new(dialect, false);
        for row in &rows {
            let (record, old) = record_from_row(before, row)?;
            let (_, new) = record_from_row(after, row)?;
            terms_change_statements(
                &mut script,
                &before.api_name,
                &record.id,
                &old_terms(before, &old),
                &record_terms(after, &new),
            );
            last = record.id;
        }
        script.execute(&mut tx.tx).await?;
        if (rows.len() as i64) < TERMS_REWRITE_PAGE {
            return Ok(());
        }
    }
}

/// The terms a record's old values may be indexed under, and those they certainly are: a record
/// not changed since an earlier version keeps the terms that version's rule made.
#[derive(Default)]
struct OldTerms {
    /// Made by the current rule or an earlier one: removed unless the new values make them too.
    may: Vec<String>,
    /// Made by every rule: the only ones a change need not add again.
    must: Vec<String>,
}

/// The terms of a record's values under the current rule ([`record_terms`]) and the earlier ones:
/// until schema 9 every word and its runs of two and three (`normalize::joined_word_terms`), and
/// until migration 0008 phone numbers also without the plus and in the national form.
fn old_terms(object: &ObjectDef, values: &[(String, Value)]) -> OldTerms {
    let current = record_terms(object, values);
    let fields = || values.iter().filter_map(|(name, value)| object.field(name).map(|field| (field, value)));
    let earlier = field_terms_by(fields(), joined_word_terms);
    let must: Vec<String> = current.iter().filter(|t| earlier.binary_search(t).is_ok()).cloned().collect();
    let mut may = current;
    may.extend(earlier);
    for (field, value) in fields() {
        if let (FieldType::Phone, Value::List(items)) = (field.field_type, value) {
            for item in items {
                let digits = item.trim_start_matches('+');
                may.push(digits.to_string());
                if let Some(national) = digits.strip_prefix("98") {
                    may.push(format!("0{national}"));
                }
            }
        }
    }
    may.sort();
    may.dedup();
    OldTerms { may, must }
}

/// Adds to `script` the statements that change a record's search terms from `before` (what its
/// old values made, see [`old_terms`]) to `after`: the terms no longer made are removed by their
/// keys, and those the old values may not have been indexed under added (a term already there is
/// left as it is).
///
/// **Invariant:** a record's rows in `search_terms` are exactly what [`record_terms`] makes of
/// its live values under the object's current fields (nothing for a record in the trash). Every
/// write keeps it: creates add them, updates and restores go from the old terms to the new,
/// deletes remove them, and a field change that alters what a field contributes (archived,
/// brought back, converted) rewrites the terms of every record that has a value in it
/// ([`rewrite_field_terms`]). The one exception is a record not changed since an earlier rule:
/// it keeps that rule's terms, which find what the current ones would (every earlier term is a
/// prefix of a current one), until its next change. A change to the rules of [`record_terms`]
/// itself therefore needs a migration or an [`old_terms`] entry, as nothing finds a record's terms
/// but their keys.
fn terms_change_statements(script: &mut Script, object: &str, record_id: &str, before: &OldTerms, after: &[String]) {
    let removed: Vec<&String> = before.may.iter().filter(|t| !after.contains(t)).collect();
    let added: Vec<&String> = after.iter().filter(|t| !before.must.contains(t)).collect();
    for chunk in removed.chunks(100) {
        script
            .statement("DELETE FROM search_terms WHERE record_id = ")
            .bind(Bind::text(record_id))
            .push(" AND term IN (")
            .list(chunk.iter().map(|t| Bind::text((*t).clone())));
    }
    for chunk in added.chunks(100) {
        let sql = script.statement("INSERT INTO search_terms (term, object, record_id) VALUES ");
        for (i, term) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(").bind(Bind::text((*term).clone())).push(", ").bind(Bind::text(object));
            sql.push(", ").bind(Bind::text(record_id)).push(")");
        }
        // A term left behind by an older version must not fail the write.
        sql.push(" ON CONFLICT DO NOTHING");
    }
}

/// The keys (`value_norm`) of a list value's `record_values` rows, as [`member_rows`] makes them.
fn member_keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = match value {
        Value::List(items) => items.iter().map(|i| normalize(i)).collect(),
        _ => Vec::new(),
    };
    keys.sort();
    keys.dedup();
    keys
}

/// Adds to `script` a statement on the `record_values` rows of one field of a record, found by
/// their keys: `change` is what precedes the `WHERE` (`DELETE FROM record_values`, `UPDATE
/// record_values SET uniq = 0`). Nothing for a value with no members.
fn members_statement(script: &mut Script, change: &str, field: &FieldDef, record_id: &str, value: &Value) {
    let keys = member_keys(value);
    for chunk in keys.chunks(100) {
        script
            .statement(&format!("{change} WHERE field_id = "))
            .bind(Bind::text(field.id.clone()))
            .push(" AND record_id = ")
            .bind(Bind::text(record_id))
            .push(" AND value_norm IN (")
            .list(chunk.iter().map(|k| Bind::text(k.clone())));
    }
}

/// Adds to `script` a change's audit entry, made at `at`: its history entry and its event (see
/// [`event_topic`]), pending until published.
pub(crate) fn audit_statements(
    script: &mut Script,
    object: &str,
    record_id: &str,
    action: &str,
    actor: Option<&str>,
    at: &str,
    changes: &Json,
) {
    let sql =
        script.statement("INSERT INTO audit_log (id, object, record_id, action, actor, at, changes_json) VALUES (");
    sql.bind(Bind::text(new_id())).push(", ").bind(Bind::text(object)).push(", ").bind(Bind::text(record_id));
    sql.push(", ").bind(Bind::text(action)).push(", ").bind(Bind::Text(actor.map(str::to_string)));
    sql.push(", ").bind(Bind::text(at)).push(", ").bind(Bind::text(changes.to_string())).push(")");
}

/// The topic of the event an audit entry of `action` is: `record.created`, `record.updated`,
/// `record.deleted`, `record.restored`.
pub fn event_topic(action: &str) -> String {
    if action.ends_with('e') { format!("record.{action}d") } else { format!("record.{action}ed") }
}

/// The audit changes of a new record: every field set, from nothing; as JSON text, the same as
/// serializing `[{"field": …, "new": …, "old": null}, …]` (written directly: building the
/// `serde_json` value first was a fifth of preparing an imported contact).
pub(crate) fn audit_changes(values: &[(&FieldDef, Value)]) -> String {
    let mut out = String::with_capacity(64 * values.len() + 2);
    out.push('[');
    for (i, (f, v)) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"field\":");
        push_json_string(&mut out, &f.api_name);
        out.push_str(",\"new\":");
        match v {
            Value::Text(s) => push_json_string(&mut out, s),
            Value::List(items) => {
                out.push('[');
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_json_string(&mut out, item);
                }
                out.push(']');
            }
            Value::Null => out.push_str("null"),
            Value::Int(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Date(d) => push_json_string(&mut out, &peyvand_records::value::format_date(*d)),
            Value::Datetime(t) => push_json_string(&mut out, &peyvand_records::value::format_datetime(*t)),
            other => out.push_str(&other.to_json().to_string()),
        }
        out.push_str(",\"old\":null}");
    }
    out.push(']');
    out
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs that need no escape are copied whole, not a character at a time; the bytes escaped are
    // all ASCII, so every cut falls between characters.
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..0x20 => None,
            _ => continue,
        };
        out.push_str(&s[from..i]);
        match short {
            Some(escape) => out.push_str(escape),
            None => out.push_str(&format!("\\u{b:04x}")),
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out.push('"');
}

/// Checks that relation and user fields point at live records and active users.
///
/// The catalog is the caller's: reading it may need a connection of the readers' pool, and a
/// caller holding one of those while waiting for another can starve the pool.
async fn check_references(conn: &mut AnyConnection, catalog: &Catalog, values: &[(&FieldDef, Value)]) -> Result<()> {
    let mut errors = Vec::new();
    for (field, value) in values {
        let Value::Text(id) = value else { continue };
        let table = match field.field_type {
            FieldType::Relation => match field.options.target.as_deref().and_then(|t| catalog.object(t)) {
                Some(target) => target.table.clone(),
                None => continue,
            },
            FieldType::User => "users".to_string(),
            _ => continue,
        };
        let condition = if table == "users" { "active = 1" } else { "deleted_at IS NULL" };
        let found = sqlx::query(AssertSqlSafe(format!("SELECT 1 FROM {table} WHERE id = $1 AND {condition}")))
            .bind(id.clone())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            errors.push(FieldError::with(&field.api_name, "invalid_reference", json!({ "id": id })));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

/// Checks unique fields against other live records (the unique indexes are the backstop for
/// races; this gives the clear per-field message).
async fn check_unique(
    conn: &mut AnyConnection,
    object: &ObjectDef,
    values: &[(&FieldDef, Value)],
    except: Option<&str>,
) -> Result<()> {
    let mut errors = Vec::new();
    for (field, value) in values.iter().filter(|(f, v)| f.unique && !v.is_null()) {
        let mut sql = if let Value::List(items) = value {
            if items.is_empty() {
                continue;
            }
            let mut sql = Sql::new("SELECT record_id, value_norm FROM record_values WHERE uniq = 1 AND field_id = ");
            sql.bind(Bind::text(field.id.clone())).push(" AND value_norm IN (");
            sql.list(items.iter().map(|item| Bind::text(normalize(item))));
            if let Some(id) = except {
                sql.push(" AND record_id <> ").bind(Bind::text(id));
            }
            sql
        } else {
            let mut sql =
                Sql::new(&format!("SELECT id FROM {} WHERE deleted_at IS NULL AND {} = ", object.table, field.column));
            sql.bind(operand_bind(field.storage(), value));
            if let Some(id) = except {
                sql.push(" AND id <> ").bind(Bind::text(id));
            }
            sql
        };
        sql.push(" LIMIT 1");
        if let Some(row) = sql.query().fetch_optional(&mut *conn).await? {
            let other: String = row.try_get(0)?;
            let details = match value {
                Value::List(items) => {
                    let norm: String = row.try_get(1)?;
                    let item = items.iter().find(|i| normalize(i) == norm).cloned().unwrap_or(norm);
                    json!({ "record": other, "value": item })
                }
                _ => json!({ "record": other }),
            };
            errors.push(FieldError::with(&field.api_name, "not_unique", details));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Conflict { code: "not_unique", details: errors }) }
}

/// What an idempotency key remembers of its request: a hash of the object and the fields sent,
/// with every object's keys in order (so the same body retried matches however it was written).
fn request_hash(object: &str, input: &Map<String, Json>) -> String {
    fn canonical(value: &Json, out: &mut String) {
        match value {
            Json::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for key in keys {
                    out.push_str(&Json::String(key.clone()).to_string());
                    out.push(':');
                    canonical(&map[key], out);
                    out.push(',');
                }
                out.push('}');
            }
            Json::Array(items) => {
                out.push('[');
                for item in items {
                    canonical(item, out);
                    out.push(',');
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = format!("{object}\n");
    for (key, value) in input.iter().collect::<BTreeMap<_, _>>() {
        text.push_str(&Json::String(key.clone()).to_string());
        text.push(':');
        canonical(value, &mut text);
        text.push('\n');
    }
    hex(&Sha256::digest(text.as_bytes()))
}

/// A text value's text.
fn text_of(value: &Value) -> Option<&str> {
    match value {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

pub(crate) fn map_unique(e: Error) -> Error {
    if e.is_unique_violation() { Error::Conflict { code: "not_unique", details: Vec::new() } } else { e }
}

impl Db {
    /// Creates a record. With an idempotency key, a retry of the same request by the same user
    /// returns the record made the first time (and `false`) instead of creating another.
    ///
    /// References and unique values are checked on a reader before the write begins (they need
    /// not hold the writers' lock; the unique indexes refuse a value taken in between), and the
    /// answer is made from the values written instead of read back.
    pub async fn create_record(
        &self,
        actor: Option<&str>,
        object: &str,
        input: &Map<String, Json>,
        idempotency_key: Option<&str>,
    ) -> Result<(Record, bool)> {
        let db = self.clone();
        let (actor, object) = (actor.map(str::to_string), object.to_string());
        let (input, key) = (input.clone(), idempotency_key.map(str::to_string));
        self.on_writer(async move { db.create_here(actor.as_deref(), &object, &input, key.as_deref()).await }).await
    }

    async fn create_here(
        &self,
        actor: Option<&str>,
        object: &str,
        input: &Map<String, Json>,
        idempotency_key: Option<&str>,
    ) -> Result<(Record, bool)> {
        let obj = self.object(object).await?;
        self.check_input(&obj, input.keys().cloned())?;
        let mut changes = validate(&obj, input, Mode::Create).map_err(Error::Validation)?;
        self.own_new(&obj, &mut changes.values)?;
        {
            let catalog = self.catalog().await?;
            let mut reader = self.pool().acquire().await?;
            check_references(&mut reader, &catalog, &changes.values).await?;
            check_unique(&mut reader, &obj, &changes.values, None).await?;
        }
        let mut tx = self.write().await?;
        let request_hash = request_hash(object, input);
        if let (Some(key), Some(user)) = (idempotency_key, actor) {
            let prior = sqlx::query(
                "SELECT object, record_id, request_hash FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
            )
            .bind(user.to_string())
            .bind(key.to_string())
            .fetch_optional(&mut *tx.tx)
            .await?;
            if let Some(row) = prior {
                let prior_object: String = row.try_get(0)?;
                let prior_id: String = row.try_get(1)?;
                let prior_hash: Option<String> = row.try_get(2)?;
                drop(tx);
                // The key with another request (another object, other fields): refused, as the
                // IETF draft on idempotency keys asks (422), so a client's mistake is not
                // answered with somebody else's record. Keys stored before schema 10 have no hash.
                if prior_object != object || prior_hash.is_some_and(|h| h != request_hash) {
                    return Err(Error::Validation(vec![FieldError::new("Idempotency-Key", "idempotency_key_reused")]));
                }
                return Ok((self.get_record(object, &prior_id, true).await?, false));
            }
        }
        let (id, made_at, written) = match self.insert_checked(&mut tx, actor, &obj, &changes.values).await {
            Ok(made) => made,
            Err(e) => {
                drop(tx);
                return Err(self.named_conflict(e, &obj, &changes.values, None).await);
            }
        };
        if let (Some(key), Some(user)) = (idempotency_key, actor) {
            sqlx::query("INSERT INTO idempotency_keys (user_id, idem_key, object, record_id, created_at, request_hash) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(user.to_string())
                .bind(key.to_string())
                .bind(object.to_string())
                .bind(id.clone())
                .bind(now())
                .bind(request_hash)
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| map_unique(e.into()))?;
        }
        tx.commit().await?;
        let mut values = Vec::new();
        for field in obj.live_fields() {
            let given = written.iter().find(|(f, _)| f.id == field.id).map_or(&Value::Null, |(_, v)| v);
            values.push((field.api_name.clone(), stored_value(field, given)?));
        }
        let record = Record {
            id,
            object: obj.api_name.clone(),
            version: 1,
            title: String::new(),
            created_at: made_at.clone(),
            updated_at: made_at,
            created_by: actor.map(str::to_string),
            updated_by: actor.map(str::to_string),
            deleted_at: None,
            fields: Map::new(),
        };
        let mut record = with_values(&obj, record, &values);
        self.redact(&mut record);
        Ok((record, true))
    }

    /// Inserts a validated new record inside `tx`, with its index rows, search terms and audit
    /// entry; returns its id.
    pub async fn create_in(
        &self,
        tx: &mut WriteTx,
        actor: Option<&str>,
        obj: &ObjectDef,
        values: &[(&FieldDef, Value)],
    ) -> Result<String> {
        let mut values = values.to_vec();
        self.own_new(obj, &mut values)?;
        check_references(&mut tx.tx, &*self.catalog_cached()?, &values).await?;
        check_unique(&mut tx.tx, obj, &values, None).await?;
        Ok(self.insert_checked(tx, actor, obj, &values).await?.0)
    }

    /// A new record is its maker's unless given to someone within the maker's reach (a user's
    /// handle; the system's leaves the owner as given).
    fn own_new<'a>(&self, obj: &'a ObjectDef, values: &mut Vec<(&'a FieldDef, Value)>) -> Result<()> {
        let Some(owner_field) = obj.field(OWNER_FIELD) else {
            if self.viewer().is_some_and(|v| v.reach(&obj.api_name, Intent::Change) != Reach::All) {
                self.check_owner(obj, None)?;
            }
            return Ok(());
        };
        let given = values.iter().any(|(f, v)| f.id == owner_field.id && !v.is_null());
        if !given && let Some(me) = self.default_owner() {
            values.retain(|(f, _)| f.id != owner_field.id);
            values.push((owner_field, Value::Text(me.to_string())));
        }
        let owner = values.iter().find(|(f, _)| f.id == owner_field.id).and_then(|(_, v)| text_of(v));
        self.check_owner(obj, owner)
    }

    /// Writes a new record whose references and unique values were checked: its row, index
    /// rows, search terms and audit entry, as one script (one trip on SQLite), with the
    /// modules' hooks on its object before and after (`hooks`).
    /// Returns its id, when it was made and the values written (the hooks' derived ones too).
    async fn insert_checked<'f>(
        &self,
        tx: &mut WriteTx,
        actor: Option<&str>,
        obj: &'f ObjectDef,
        values: &[(&'f FieldDef, Value)],
    ) -> Result<(String, String, Vec<(&'f FieldDef, Value)>)> {
        let mut values = values.to_vec();
        let hooked = self.has_hooks(&obj.api_name);
        if hooked {
            self.hooks_before(tx, actor, &mut Pending { object: obj, current: None, values: &mut values }).await?;
        }
        check_dependent(obj, None, &values)?;
        let prepared = PreparedRecords::new(self.dialect(), actor, obj, std::slice::from_ref(&values))?;
        let made_at = prepared.made_at.clone();
        let id = match self.write_checked(tx, prepared).await {
            Ok(mut ids) => ids.pop().expect("one record prepared"),
            Err(e) if e.is_unique_violation() => return Err(self.unique_refused(tx, obj, &values, None, e).await),
            Err(e) => return Err(e),
        };
        if hooked {
            let after: Map<String, Json> = values.iter().map(|(f, v)| (f.api_name.clone(), v.to_json())).collect();
            let (before, at) = (&Map::new(), made_at.as_str());
            let written = Written { object: obj, id: &id, action: Action::Create, at, before, after: &after };
            self.hooks_after(tx, actor, &written).await?;
        }
        Ok((id, made_at, values))
    }

    /// The error for a unique index's refusal inside `tx`. A SQLite write transaction goes on
    /// after a failed statement and sees its group's uncommitted records, so there it names the
    /// field and the record holding the value; a PostgreSQL one is aborted, and the caller that
    /// owns it names the field after ending it ([`Db::named_conflict`]).
    async fn unique_refused(
        &self,
        tx: &mut WriteTx,
        obj: &ObjectDef,
        values: &[(&FieldDef, Value)],
        except: Option<&str>,
        refused: Error,
    ) -> Error {
        if self.dialect() == Dialect::Sqlite
            && let Err(named @ Error::Conflict { .. }) = check_unique(&mut tx.tx, obj, values, except).await
        {
            return named;
        }
        map_unique(refused)
    }

    /// A `not_unique` conflict that does not say which field, named by a reader: called once the
    /// write transaction has ended, so it holds no connection while waiting for another (the
    /// record holding the value is committed: the index waited for it).
    async fn named_conflict(
        &self,
        refused: Error,
        obj: &ObjectDef,
        values: &[(&FieldDef, Value)],
        except: Option<&str>,
    ) -> Error {
        match &refused {
            Error::Conflict { code: "not_unique", details } if details.is_empty() => {
                let Ok(mut reader) = self.pool().acquire().await else { return refused };
                match check_unique(&mut reader, obj, values, except).await {
                    Err(named @ Error::Conflict { .. }) => named,
                    _ => refused,
                }
            }
            _ => refused,
        }
    }

    /// Whether a live record of `obj` has the id `id`, seen from inside `tx`.
    pub async fn is_live(&self, tx: &mut WriteTx, obj: &ObjectDef, id: &str) -> Result<bool> {
        let found =
            sqlx::query(AssertSqlSafe(format!("SELECT 1 FROM {} WHERE id = $1 AND deleted_at IS NULL", obj.table)))
                .bind(id.to_string())
                .fetch_optional(&mut *tx.tx)
                .await?;
        Ok(found.is_some())
    }

    /// The id of a live record whose field holds `value` (for multi-valued fields: holds one of
    /// its members; the oldest such record), seen from inside `tx`.
    pub async fn find_by_value(
        &self,
        tx: &mut WriteTx,
        obj: &ObjectDef,
        field: &FieldDef,
        value: &Value,
    ) -> Result<Option<String>> {
        let row = if field.storage() == Storage::List {
            // Any member: a contact found by any of its e-mails.
            let Value::List(items) = value else { return Ok(None) };
            if items.is_empty() {
                return Ok(None);
            }
            let mut sql = Sql::new(&format!(
                "SELECT v.record_id FROM record_values v JOIN {} r ON r.id = v.record_id \
                 WHERE r.deleted_at IS NULL AND v.field_id = ",
                obj.table
            ));
            sql.bind(Bind::text(field.id.clone())).push(" AND v.value_norm IN (");
            sql.list(items.iter().map(|item| Bind::text(normalize(item)))).push(" ORDER BY v.record_id LIMIT 1");
            sql.into_query().persistent(false).fetch_optional(&mut *tx.tx).await?
        } else {
            if value.is_null() {
                return Ok(None);
            }
            let mut sql =
                Sql::new(&format!("SELECT id FROM {} WHERE deleted_at IS NULL AND {} = ", obj.table, field.column));
            sql.bind(operand_bind(field.storage(), value)).push(" LIMIT 1");
            sql.query().fetch_optional(&mut *tx.tx).await?
        };
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Whether an import row (by its hash) was already imported, and as which record.
    pub async fn imported_row(&self, tx: &mut WriteTx, row_hash: &str) -> Result<Option<Option<String>>> {
        let row = sqlx::query("SELECT record_id FROM import_log WHERE row_hash = $1")
            .bind(row_hash.to_string())
            .fetch_optional(&mut *tx.tx)
            .await?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?)
    }

    /// Notes that an import row is done, in the same transaction as its record.
    pub async fn log_imported_row(
        &self,
        tx: &mut WriteTx,
        row_hash: &str,
        object: &str,
        record_id: Option<&str>,
        outcome: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO import_log (row_hash, object, record_id, outcome, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(row_hash.to_string())
            .bind(object.to_string())
            .bind(record_id.map(str::to_string))
            .bind(outcome.to_string())
            .bind(now())
            .execute(&mut *tx.tx)
            .await?;
        Ok(())
    }

    /// Runs `SAVEPOINT`, `RELEASE` or `ROLLBACK TO` (both databases), so one failing import row
    /// is undone without undoing its batch.
    pub async fn savepoint(&self, tx: &mut WriteTx, statement: Savepoint) -> Result<()> {
        let sql = match statement {
            Savepoint::Begin => "SAVEPOINT import_row",
            Savepoint::Release => "RELEASE SAVEPOINT import_row",
            Savepoint::Rollback => "ROLLBACK TO SAVEPOINT import_row",
        };
        sqlx::query(sql).execute(&mut *tx.tx).await?;
        Ok(())
    }

    /// Reads one record; a record in the trash is found only with `include_deleted`.
    pub async fn get_record(&self, object: &str, id: &str, include_deleted: bool) -> Result<Record> {
        let obj = self.object(object).await?;
        let sql = format!("SELECT {} FROM {} WHERE id = $1", select_list(&obj), obj.table);
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(self.pool()).await?;
        let row = row.ok_or_else(|| Error::NotFound(format!("{object} {id}")))?;
        let (record, _) = record_from_row(&obj, &row)?;
        if record.deleted_at.is_some() && !include_deleted {
            return Err(Error::NotFound(format!("{object} {id}")));
        }
        self.check_reach(&obj, Intent::Read, id, record.fields.get(OWNER_FIELD))?;
        let mut record = record;
        self.redact(&mut record);
        Ok(record)
    }

    /// Changes the named fields of a live record. With `expected_version`, a record changed by
    /// someone else since it was read is refused with the conflict `version_conflict`. The
    /// answer is the record as changed, made from what was read and written.
    pub async fn update_record(
        &self,
        actor: Option<&str>,
        object: &str,
        id: &str,
        input: &Map<String, Json>,
        expected_version: Option<i64>,
    ) -> Result<Record> {
        let db = self.clone();
        let (actor, object, id, input) = (actor.map(str::to_string), object.to_string(), id.to_string(), input.clone());
        self.on_writer(async move { db.update_here(actor.as_deref(), &object, &id, &input, expected_version).await })
            .await
    }

    async fn update_here(
        &self,
        actor: Option<&str>,
        object: &str,
        id: &str,
        input: &Map<String, Json>,
        expected_version: Option<i64>,
    ) -> Result<Record> {
        let obj = self.object(object).await?;
        self.check_input(&obj, input.keys().cloned())?;
        let changes = validate(&obj, input, Mode::Update).map_err(Error::Validation)?;
        let mut tx = self.write().await?;
        let mut record = match self.update_in(&mut tx, actor, &obj, id, changes.values.clone(), expected_version).await
        {
            Ok(record) => record,
            Err(e) => {
                drop(tx);
                return Err(self.named_conflict(e, &obj, &changes.values, Some(id)).await);
            }
        };
        tx.commit().await?;
        self.redact(&mut record);
        Ok(record)
    }

    /// Writes values a module computed for many records (a customer's lifetime value, a churn
    /// risk), `rows` as (id, fields), a few hundred per transaction: no version, no audit entry,
    /// no hooks, no events. Derived data, recomputed whole each time, is not a person's change;
    /// a user's edit of the same record meanwhile is untouched (only these columns are set).
    /// Fields whose words are searched (text, e-mail, phone, address) or that hold lists are
    /// refused: their search terms would go stale. Returns the live records written.
    pub async fn write_derived(&self, object: &str, rows: &[(String, Map<String, Json>)]) -> Result<u64> {
        let obj = self.object(object).await?;
        let searched = |f: &FieldDef| {
            f.storage() == Storage::List
                || matches!(
                    f.field_type,
                    FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Phone | FieldType::Url
                )
        };
        let mut written = 0;
        // On SQLite a connection of its own writes them (`native`): a million contacts' values
        // were 31.8 s through sqlx's statements below.
        let mut native = self.derived_writer().await?;
        for chunk in rows.chunks(500) {
            // The rows of a chunk by the columns they write, each set one statement:
            // `WITH v(id, …) AS (VALUES …) UPDATE … FROM v` (one statement a row was 89 s for
            // 350,000 contacts).
            let mut by_columns: BTreeMap<Vec<String>, Vec<(&String, Vec<Bind>)>> = BTreeMap::new();
            for (id, fields) in chunk {
                self.check_input(&obj, fields.keys().cloned())?;
                let changes = validate(&obj, fields, Mode::Update).map_err(Error::Validation)?;
                if let Some((f, _)) = changes.values.iter().find(|(f, _)| searched(f)) {
                    return Err(Error::Validation(vec![FieldError::new(&f.api_name, "not_derived")]));
                }
                if changes.values.is_empty() {
                    continue;
                }
                let (mut columns, mut binds) = (Vec::new(), Vec::new());
                for (field, value) in &changes.values {
                    for (c, b) in field_columns(field).into_iter().zip(value_binds(field, value)) {
                        columns.push(c);
                        binds.push(b);
                    }
                }
                by_columns.entry(columns).or_default().push((id, binds));
            }
            if let Some(writer) = native.as_mut() {
                let rows = by_columns
                    .into_iter()
                    .map(|(columns, rows)| (columns, rows.into_iter().map(|(id, b)| (id.clone(), b)).collect()))
                    .collect();
                written += self.write_derived_native(writer, obj.table.clone(), rows).await?;
                continue;
            }
            let mut tx = self.write().await?;
            for (columns, rows) in by_columns {
                let mut sql =
                    Sql::for_dialect(self.dialect(), &format!("WITH v (id, {}) AS (VALUES ", columns.join(", ")));
                for (i, (id, binds)) in rows.into_iter().enumerate() {
                    sql.push(if i == 0 { "(" } else { ", (" }).bind(Bind::text(id.clone()));
                    for b in binds {
                        sql.push(", ").bind(b);
                    }
                    sql.push(")");
                }
                let set: Vec<String> = columns.iter().map(|c| format!("{c} = v.{c}")).collect();
                sql.push(&format!(
                    ") UPDATE {t} SET {} FROM v WHERE {t}.id = v.id AND {t}.deleted_at IS NULL",
                    set.join(", "),
                    t = obj.table
                ));
                written += sql.query().execute(&mut *tx.tx).await?.rows_affected();
            }
            tx.commit().await?;
        }
        Ok(written)
    }

    /// Applies the same changes to several live records, all or none.
    pub async fn bulk_update(
        &self,
        actor: Option<&str>,
        object: &str,
        ids: &[String],
        input: &Map<String, Json>,
    ) -> Result<usize> {
        let obj = self.object(object).await?;
        self.check_input(&obj, input.keys().cloned())?;
        let changes = validate(&obj, input, Mode::Update).map_err(Error::Validation)?;
        let mut tx = self.write_long().await?;
        for id in ids {
            self.update_in(&mut tx, actor, &obj, id, changes.values.clone(), None).await?;
        }
        tx.commit().await?;
        Ok(ids.len())
    }

    /// Adds a member (a tag, an option) to a multi-valued field of several live records, all or none.
    pub async fn bulk_add_member(
        &self,
        actor: Option<&str>,
        object: &str,
        ids: &[String],
        field: &str,
        member: &str,
    ) -> Result<usize> {
        let obj = self.object(object).await?;
        let def = obj
            .field(field)
            .filter(|f| f.storage() == Storage::List)
            .ok_or_else(|| Error::invalid(FieldError::new(field, "unknown_field")))?;
        self.check_input(&obj, [field.to_string()])?;
        let mut tx = self.write_long().await?;
        for id in ids {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {} FROM {} WHERE id = $1 AND deleted_at IS NULL{}",
                def.column,
                obj.table,
                self.dialect().for_update()
            )))
            .bind(id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{object} {id}")))?;
            let mut items = match read_value(&row, def)? {
                Value::List(items) => items,
                _ => Vec::new(),
            };
            items.push(member.to_string());
            let mut input = Map::new();
            input.insert(field.to_string(), json!(items));
            let changes = validate(&obj, &input, Mode::Update).map_err(Error::Validation)?;
            self.update_in(&mut tx, actor, &obj, id, changes.values, None).await?;
        }
        tx.commit().await?;
        Ok(ids.len())
    }

    /// Applies validated changes to a live record inside `tx` (see [`Db::update_record`]) and
    /// returns it as changed.
    pub async fn update_in(
        &self,
        tx: &mut WriteTx,
        actor: Option<&str>,
        obj: &ObjectDef,
        id: &str,
        values_in: Vec<(&FieldDef, Value)>,
        expected_version: Option<i64>,
    ) -> Result<Record> {
        // The whole object, whichever view of it the caller had (a user's lacks the fields hidden
        // from them, whose values and search terms stay as they are).
        let whole = self.catalog_cached()?.object(&obj.api_name);
        let obj = whole.as_deref().filter(|w| w.fields.len() > obj.fields.len()).unwrap_or(obj);
        // Locked from here to the end of the transaction, so the version read is the version changed.
        let (current, mut values) = self
            .read_to_change(tx, obj, id, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{} {id}", obj.api_name)))?;
        self.check_reach(obj, Intent::Change, id, current.fields.get(OWNER_FIELD))?;
        if let Some((_, owner)) = values_in.iter().find(|(f, _)| f.api_name == OWNER_FIELD)
            && current.fields.get(OWNER_FIELD).and_then(Json::as_str) != text_of(owner)
        {
            self.check_owner(obj, text_of(owner))?;
        }
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(Error::Conflict {
                code: "version_conflict",
                details: vec![FieldError::with("version", "version_conflict", json!({ "current": current.version }))],
            });
        }
        let differs = |f: &FieldDef, v: &Value| {
            values
                .iter()
                .find(|(n, _)| *n == f.api_name)
                .is_none_or(|(_, old)| old != v && !(old.is_null() && v.is_null()))
        };
        let mut changed: Vec<(&FieldDef, Value)> = values_in.into_iter().filter(|(f, v)| differs(f, v)).collect();
        if changed.is_empty() {
            return Ok(current);
        }
        let hooked = self.has_hooks(&obj.api_name);
        if hooked {
            self.hooks_before(tx, actor, &mut Pending { object: obj, current: Some(&current), values: &mut changed })
                .await?;
            changed.retain(|(f, v)| differs(f, v));
        }
        check_dependent(obj, Some(&current), &changed)?;
        check_references(&mut tx.tx, &*self.catalog_cached()?, &changed).await?;
        check_unique(&mut tx.tx, obj, &changed, Some(id)).await?;
        let at = now();
        let mut script = Script::new(self.dialect(), true);
        let sql = script.statement(&format!("UPDATE {} SET version = version + 1, updated_at = ", obj.table));
        sql.bind(Bind::text(at.clone())).push(", updated_by = ").bind(Bind::Text(actor.map(str::to_string)));
        for (field, value) in &changed {
            for (c, b) in field_columns(field).into_iter().zip(value_binds(field, value)) {
                sql.push(", ").push(&c).push(" = ").bind(b);
            }
        }
        sql.push(" WHERE id = ").bind(Bind::text(id));
        // The search terms before the change: a change that leaves them as they were (a score,
        // a stage, a date) does not rewrite them (two statements fewer per update).
        let terms_before = record_terms(obj, &values);
        let remove_before = old_terms(obj, &values);
        let mut audit = Vec::new();
        for (field, value) in &changed {
            if field.storage() == Storage::List {
                if let Some((_, old)) = values.iter().find(|(n, _)| *n == field.api_name) {
                    members_statement(&mut script, "DELETE FROM record_values", field, id, old);
                }
                if let Value::List(items) = value {
                    values_statement(&mut script, field, id, items, true);
                }
            }
            let old = current.fields.get(&field.api_name).cloned().unwrap_or(Json::Null);
            audit.push(json!({ "field": field.api_name, "old": old, "new": value.to_json() }));
            let stored = stored_value(field, value)?;
            match values.iter_mut().find(|(n, _)| *n == field.api_name) {
                Some(slot) => slot.1 = stored,
                None => values.push((field.api_name.clone(), stored)),
            }
        }
        let terms_after = record_terms(obj, &values);
        if terms_after != terms_before {
            terms_change_statements(&mut script, &obj.api_name, id, &remove_before, &terms_after);
        }
        audit_statements(&mut script, &obj.api_name, id, "update", actor, &at, &json!(audit));
        if let Err(e) = script.execute(&mut tx.tx).await.map_err(Error::from) {
            return Err(if e.is_unique_violation() {
                self.unique_refused(tx, obj, &changed, Some(id), e).await
            } else {
                e
            });
        }
        let before = hooked.then(|| current.fields.clone());
        let record =
            Record { version: current.version + 1, updated_at: at, updated_by: actor.map(str::to_string), ..current };
        let record = with_values(obj, record, &values);
        if let Some(before) = before {
            let (action, at, after) = (Action::Update, record.updated_at.as_str(), &record.fields);
            let written = Written { object: obj, id, action, at, before: &before, after };
            self.hooks_after(tx, actor, &written).await?;
        }
        Ok(record)
    }

    /// Live records of `obj` whose fields (or `id`) equal the values given (at most `limit`, oldest first),
    /// read inside `tx`: a module's rule looking something up in the write's own transaction
    /// (a price list's price). Scoped to what this handle reads; the fields should be indexed.
    pub async fn find_in(
        &self,
        tx: &mut WriteTx,
        obj: &ObjectDef,
        equal: &[(&str, Value)],
        limit: u32,
    ) -> Result<Vec<Record>> {
        let mut sql = Sql::new(&format!("SELECT {} FROM {} WHERE deleted_at IS NULL", select_list(obj), obj.table));
        for (name, value) in equal {
            if *name == "id" {
                sql.push(" AND id = ").bind(Bind::text(text_of(value).unwrap_or_default()));
                continue;
            }
            let field = obj.field(name).ok_or_else(|| Error::invalid(FieldError::new(name, "unknown_field")))?;
            if value.is_null() {
                sql.push(&format!(" AND {} IS NULL", field.column));
            } else {
                sql.push(&format!(" AND {} = ", field.column)).bind(operand_bind(field.storage(), value));
            }
        }
        sql.push(&format!(" ORDER BY id LIMIT {}", limit.min(MAX_PAGE)));
        let rows = sql.query().fetch_all(&mut *tx.tx).await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let (mut record, _) = record_from_row(obj, row)?;
            if self.viewer().is_none_or(|v| {
                v.reaches(
                    &obj.api_name,
                    Intent::Read,
                    &record.id,
                    record.fields.get(OWNER_FIELD).and_then(Json::as_str),
                )
            }) {
                self.redact(&mut record);
                found.push(record);
            }
        }
        Ok(found)
    }

    /// A live record read in `tx` and locked to its end (a module's operation reads what it is
    /// about to change), if this handle may change it (not found if it may not read it).
    pub async fn get_in(&self, tx: &mut WriteTx, obj: &ObjectDef, id: &str) -> Result<Record> {
        let (record, _) = self
            .read_to_change(tx, obj, id, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{} {id}", obj.api_name)))?;
        self.check_reach(obj, Intent::Change, id, record.fields.get(OWNER_FIELD))?;
        let mut record = Record { title: title_of(obj, &record.fields), ..record };
        self.redact(&mut record);
        Ok(record)
    }

    /// Reads a live record (or, `in_trash`, a deleted one) to change it in `tx`, locked to the
    /// end of the transaction (SQLite: the one writer; PostgreSQL: `FOR UPDATE`); `None` if there
    /// is none.
    async fn read_to_change(
        &self,
        tx: &mut WriteTx,
        obj: &ObjectDef,
        id: &str,
        in_trash: bool,
    ) -> Result<Option<(Record, Vec<(String, Value)>)>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM {} WHERE id = $1 AND deleted_at IS {}NULL{}",
            select_list(obj),
            obj.table,
            if in_trash { "NOT " } else { "" },
            self.dialect().for_update()
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?;
        row.map(|row| record_from_row(obj, &row)).transpose()
    }

    /// Moves a record to the trash.
    pub async fn delete_record(&self, actor: Option<&str>, object: &str, id: &str) -> Result<()> {
        self.bulk_delete(actor, object, &[id.to_string()]).await.map(|_| ())
    }

    /// Moves several records to the trash, all or none.
    pub async fn bulk_delete(&self, actor: Option<&str>, object: &str, ids: &[String]) -> Result<usize> {
        let obj = self.object(object).await?;
        let mut tx = if ids.len() > 1 { self.write_long().await? } else { self.write().await? };
        for id in ids {
            self.delete_in(&mut tx, actor, &obj, id).await?;
        }
        tx.commit().await?;
        Ok(ids.len())
    }

    /// Moves a live record to the trash inside `tx`, with its audit entry and its module hooks.
    pub async fn delete_in(&self, tx: &mut WriteTx, actor: Option<&str>, obj: &ObjectDef, id: &str) -> Result<()> {
        let ts = now();
        // The values the record's search terms and unique members are found by.
        let (current, values) = self
            .read_to_change(tx, obj, id, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{} {id}", obj.api_name)))?;
        self.check_reach(obj, Intent::Change, id, current.fields.get(OWNER_FIELD))?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET deleted_at = $1, updated_at = $1, updated_by = $2, version = version + 1 WHERE id = $3",
            obj.table
        )))
        .bind(ts.clone())
        .bind(actor.map(str::to_string))
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
        let mut script = Script::new(self.dialect(), true);
        for (name, value) in &values {
            if let Some(field) = obj.field(name).filter(|f| f.unique && f.storage() == Storage::List) {
                members_statement(&mut script, "UPDATE record_values SET uniq = 0", field, id, value);
            }
        }
        terms_change_statements(&mut script, &obj.api_name, id, &old_terms(obj, &values), &[]);
        audit_statements(&mut script, &obj.api_name, id, "delete", actor, &ts, &json!([]));
        script.execute(&mut tx.tx).await?;
        let (before, after, at) = (&current.fields, &current.fields, ts.as_str());
        let written = Written { object: obj, id, action: Action::Delete, at, before, after };
        self.hooks_after(tx, actor, &written).await
    }

    /// Brings a record back from the trash; refused if a live record took one of its unique values.
    pub async fn restore_record(&self, actor: Option<&str>, object: &str, id: &str) -> Result<Record> {
        let obj = self.object(object).await?;
        let mut tx = self.write().await?;
        let (current, values) = self
            .read_to_change(&mut tx, &obj, id, true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{object} {id} in the trash")))?;
        self.check_reach(&obj, Intent::Change, id, current.fields.get(OWNER_FIELD))?;
        let typed: Vec<(&FieldDef, Value)> =
            values.iter().filter_map(|(n, v)| obj.field(n).map(|f| (f, v.clone()))).collect();
        check_unique(&mut tx.tx, &obj, &typed, Some(id)).await?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET deleted_at = NULL, updated_at = $1, updated_by = $2, version = version + 1 WHERE id = $3",
            obj.table
        )))
        .bind(now())
        .bind(actor.map(str::to_string))
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| map_unique(e.into()))?;
        for (field, value) in typed.iter().filter(|(f, v)| f.unique && f.storage() == Storage::List && !v.is_null()) {
            let mut script = Script::new(self.dialect(), true);
            members_statement(&mut script, "UPDATE record_values SET uniq = 1", field, id, value);
            script.execute(&mut tx.tx).await.map_err(|e| match map_unique(e.into()) {
                Error::Conflict { code, .. } => {
                    Error::Conflict { code, details: vec![FieldError::new(&field.api_name, "not_unique")] }
                }
                other => other,
            })?;
        }
        let mut script = Script::new(self.dialect(), true);
        terms_change_statements(&mut script, &obj.api_name, id, &OldTerms::default(), &record_terms(&obj, &values));
        let at = now();
        audit_statements(&mut script, &obj.api_name, id, "restore", actor, &at, &json!([]));
        script.execute(&mut tx.tx).await?;
        let (before, after) = (&Map::new(), &current.fields);
        let written = Written { object: &obj, id, action: Action::Restore, at: &at, before, after };
        self.hooks_after(&mut tx, actor, &written).await?;
        tx.commit().await?;
        self.get_record(object, id, false).await
    }

    /// The history of a record, newest first.
    pub async fn record_history(&self, object: &str, id: &str, limit: u32) -> Result<Vec<HistoryEntry>> {
        self.get_record(object, id, true).await?;
        let rows = sqlx::query(
            "SELECT id, action, actor, at, changes_json FROM audit_log WHERE record_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(id.to_string())
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(self.pool())
        .await?;
        let hidden: Vec<&str> = self.viewer().map(|v| v.hidden_fields(object).collect()).unwrap_or_default();
        rows.iter()
            .map(|r| {
                let changes: String = r.try_get("changes_json")?;
                let mut changes = serde_json::from_str(&changes).unwrap_or(Json::Null);
                // A change of a field hidden from the reader is not theirs to see.
                if let Json::Array(list) = &mut changes {
                    list.retain(|c| !c["field"].as_str().is_some_and(|f| hidden.contains(&f)));
                }
                Ok(HistoryEntry {
                    id: r.try_get("id")?,
                    action: r.try_get("action")?,
                    actor: r.try_get("actor")?,
                    at: r.try_get("at")?,
                    changes,
                })
            })
            .collect()
    }

    /// The search terms of a record's fields that this handle's user sees (a search must not
    /// find a record by a field hidden from them).
    pub(crate) async fn visible_terms(&self, obj: &ObjectDef, id: &str) -> Result<Vec<String>> {
        let sql = format!("SELECT {} FROM {} WHERE id = $1", select_list(obj), obj.table);
        let Some(row) = sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(self.pool()).await? else {
            return Ok(Vec::new());
        };
        let (_, mut values) = record_from_row(obj, &row)?;
        if let Some(viewer) = self.viewer() {
            let hidden: Vec<&str> = viewer.hidden_fields(&obj.api_name).collect();
            values.retain(|(name, _)| !hidden.contains(&name.as_str()));
        }
        Ok(record_terms(obj, &values))
    }

    /// The events of a record's changes, oldest first: each its topic and whether it is still
    /// waiting to be published.
    pub async fn record_events(&self, record_id: &str) -> Result<Vec<(String, bool)>> {
        let rows = sqlx::query(
            "SELECT action, CASE WHEN published_at IS NULL THEN 1 ELSE 0 END FROM audit_log WHERE record_id = $1 ORDER BY id",
        )
        .bind(record_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((event_topic(&r.try_get::<String, _>(0)?), r.try_get::<i64, _>(1)? == 1))).collect()
    }

    /// Titles of records by id, in one query (for showing relations without N+1 queries).
    pub async fn titles(&self, object: &str, ids: &[String]) -> Result<HashMap<String, String>> {
        let obj = self.object(object).await?;
        // The fields the title is made of, and no others.
        let only: &[String] = &[];
        let columns = select_columns(&obj, Some(only));
        let mut out = HashMap::new();
        for chunk in ids.chunks(200) {
            let mut sql = Sql::for_dialect(
                self.dialect(),
                &format!("SELECT {} FROM {} WHERE id IN (", columns.join(", "), obj.table),
            );
            sql.list(chunk.iter().map(|id| Bind::text(id.clone())));
            if self.viewer().is_some()
                && let Some(scope) = self.scoped_filter(&obj, Intent::Read, None)
            {
                sql.push(" AND ");
                filter_sql(&mut sql, &obj, &scope, self.dialect(), &[]);
            }
            let rows = Rows::fetch(self, sql, &columns, "id").await?;
            for row in rows.iter() {
                let (r, _) = record_from_row_of(&obj, &row, Some(only))?;
                out.insert(r.id, r.title);
            }
        }
        Ok(out)
    }

    /// The ids of every live record of `object` that `filter` finds and the handle may read, in
    /// id order, in one statement: a segment's members read from an index (a list's pages would
    /// read them a page at a time, each page from where the last one ended).
    pub async fn matching_ids(&self, object: &str, filter: Option<&Filter>) -> Result<Vec<String>> {
        let obj = self.object(object).await?;
        let query = ListQuery { filter: filter.cloned(), ..ListQuery::default() };
        self.check_query_named(&obj, &query)?;
        self.check_bounded(&obj, &query).await?;
        let mut sql =
            Sql::for_dialect(self.dialect(), &format!("SELECT id FROM {} WHERE deleted_at IS NULL", obj.table));
        if let Some(f) = self.scoped_filter(&obj, Intent::Read, filter) {
            sql.push(" AND ");
            filter_sql(&mut sql, &obj, &f, self.dialect(), &[]);
        }
        // Sorted here: `ORDER BY id` leads SQLite to walk the primary key through every record
        // instead of the filter's index range (1 s instead of 0.1 for 213,000 of a million).
        let rows = sql.query().fetch_all(self.pool()).await?;
        let mut ids = rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Lists records: filtered, sorted (the id breaks ties), one page after the cursor.
    pub async fn list_records(&self, object: &str, query: &ListQuery) -> Result<Page> {
        let obj = self.object(object).await?;
        let read = self.read_page(&obj, query).await?;
        let mut records = Vec::with_capacity(read.shown);
        for row in read.rows.iter().take(read.shown) {
            let mut record = record_from_row_of(&obj, &row, read.only.as_deref())?.0;
            self.redact(&mut record);
            records.push(record);
        }
        Ok(Page {
            records,
            next_cursor: read.next_cursor,
            total: read.total.map(|(n, _)| n),
            total_exact: read.total.map(|(_, is)| is == TotalIs::Exact),
            total_is: read.total.map(|(_, is)| is),
        })
    }

    /// A page as [`Db::list_records`] reads it, as each record's id and the values of `fields`
    /// (which `query.fields` must name), in their order: for exports, which write values and
    /// need no record made of them.
    pub async fn list_values(
        &self,
        object: &str,
        query: &ListQuery,
        fields: &[FieldDef],
    ) -> Result<(Vec<(String, Vec<Value>)>, Option<String>)> {
        let obj = self.object(object).await?;
        let read = self.read_page(&obj, query).await?;
        let mut out = Vec::with_capacity(read.shown);
        for row in read.rows.iter().take(read.shown) {
            let values = fields.iter().map(|f| read_value_of(&row, f)).collect::<std::result::Result<_, _>>()?;
            out.push((row.text_required("id")?, values));
        }
        Ok((out, read.next_cursor))
    }

    /// Every live record of `object` that `filter` finds and the handle may read, in the order of
    /// `sort` (the lists' default when empty), as its id and the values of `fields`, handed to
    /// `each` one at a time and read [`SCAN_BATCH`] at a time: for work that reads many records
    /// at once (the value fit reads every order, a statement a person's orders and their lines),
    /// without a list's pages of 500 or the records made of them.
    pub async fn scan_values(
        &self,
        object: &str,
        filter: Option<Filter>,
        sort: Vec<SortKey>,
        fields: &[&str],
        mut each: impl FnMut(&str, &[Value]),
    ) -> Result<()> {
        let obj = self.object(object).await?;
        let defs = fields
            .iter()
            .map(|name| {
                obj.field(name).cloned().ok_or_else(|| {
                    Error::invalid(FieldError::with("fields", "unknown_field", json!({ "field": name })))
                })
            })
            .collect::<Result<Vec<FieldDef>>>()?;
        let mut query = ListQuery {
            filter,
            sort,
            limit: Some(SCAN_BATCH as u32),
            fields: Some(fields.iter().map(|f| f.to_string()).collect()),
            ..ListQuery::default()
        };
        let mut values = Vec::with_capacity(defs.len());
        loop {
            let read = self.read_page_of(&obj, &query, SCAN_BATCH as u32).await?;
            for row in read.rows.iter().take(read.shown) {
                values.clear();
                for f in &defs {
                    values.push(read_value_of(&row, f)?);
                }
                each(&row.text_required("id")?, &values);
            }
            match read.next_cursor {
                Some(next) => query.cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// The statement reading one page of `query` (one row more than shown, to know whether a
    /// next page follows), and what reading and counting it needs.
    fn page_statement(
        &self,
        obj: &ObjectDef,
        query: &ListQuery,
        dense: &[(String, crate::grams::Dense)],
        max_page: u32,
    ) -> Result<PageStatement> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, max_page);
        let mut sort = query.sort.clone();
        if sort.is_empty() {
            let created = peyvand_records::filter::resolve(obj, if query.trash { "deleted_at" } else { "created_at" });
            sort.extend(created.map(|field| SortKey { field, descending: true }));
        }
        let sort_text = sort_signature(&sort);
        // Records in the order they were made (the lists' default, newest first) are in id order:
        // an id is a UUID v7, made with the record. So that order is the id's alone, which every
        // field's index (column, id) and the primary key hold: a filtered page is read from an
        // index, not by sorting every match by its instant (a city's 38,000 contacts).
        let id_descending = sort.last().is_some_and(|k| k.descending);
        if matches!(sort.as_slice(), [key] if key.field.api_name == "created_at") {
            sort.clear();
        }
        // The fields asked for, and the sort's (the next page's cursor is made of them).
        let only: Option<Vec<String>> = match &query.fields {
            Some(names) => {
                if let Some(unknown) = names.iter().find(|n| peyvand_records::filter::resolve(obj, n).is_none()) {
                    return Err(Error::invalid(FieldError::with(
                        "fields",
                        "unknown_field",
                        json!({ "field": unknown }),
                    )));
                }
                Some(names.iter().cloned().chain(sort.iter().map(|k| k.field.api_name.clone())).collect())
            }
            None => None,
        };
        // The filter as the count reads it (from the substring index's matches), and as the
        // page does (a dense `contains` checked against them, in the page's order).
        let where_with = |dense: &[(String, crate::grams::Dense)]| {
            let mut where_sql = Sql::new(if query.trash { "deleted_at IS NOT NULL" } else { "deleted_at IS NULL" });
            if let Some(f) = &query.filter {
                where_sql.push(" AND ");
                filter_sql(&mut where_sql, obj, f, self.dialect(), dense);
            }
            where_sql
        };
        let where_sql = where_with(&[]);
        let page_where = where_with(dense);
        // A sample's records are compared in place, never looked for among all matches.
        let compared = crate::grams::compared_in_place(obj);
        let sample_where = where_with(&compared);
        let columns = select_columns(obj, only.as_deref());
        let cursor = match &query.cursor {
            Some(c) => Some(
                Cursor::decode(c)
                    .filter(|c| c.sort == sort_text && c.values.len() == sort.len())
                    .ok_or_else(|| Error::invalid(FieldError::new("cursor", "invalid_cursor")))?,
            ),
            None => None,
        };
        let mut order_by = String::new();
        for key in &sort {
            order_by.push_str(&key.field.column);
            order_by.push_str(if key.descending { " DESC NULLS LAST, " } else { " ASC NULLS FIRST, " });
        }
        order_by.push_str(if id_descending { "id DESC" } else { "id ASC" });
        // The page: its filter and cursor, in `order` (the index's `order_by`, or an expression
        // of it no index holds, which makes PostgreSQL find the matches before sorting them).
        let page = |order: &str| {
            let mut sql = Sql::new(&format!("SELECT {} FROM {} WHERE ", columns.join(", "), obj.table));
            sql.push(&page_where.text);
            sql.binds = page_where.binds.clone();
            if let Some(cursor) = &cursor {
                sql.push(" AND ");
                keyset_sql(&mut sql, &sort, cursor, 0, id_descending);
            }
            sql.push(" ORDER BY ").push(order);
            sql.push(" LIMIT ").bind(Bind::Int(Some(i64::from(limit) + 1)));
            sql
        };
        let sql = page(&order_by);
        // PostgreSQL and a `contains` its trigram index answers, in creation order: its planner
        // expects the matches spread evenly and walks the primary key until a page is found,
        // through every record when they are all old (885,000 for "son12" in e-mails: 512 ms).
        // So the newest records are checked first, a bounded number; where they hold no page,
        // the matches are read from the trigram index and sorted (`Db::read_page_of`).
        let window = (self.dialect == Dialect::Postgres
            && sort.is_empty()
            && !query.trash
            && query.filter.as_ref().is_some_and(|f| crate::grams::has_indexed_contains(obj, f)))
        .then(|| {
            // PostgreSQL's placeholders are numbered: the filter's come first, the cursor's
            // after them, wherever each stands in the text.
            let mut after = Sql::new("");
            after.binds = page_where.binds.clone();
            if let Some(cursor) = &cursor {
                after.push(" AND ");
                keyset_sql(&mut after, &sort, cursor, 0, id_descending);
            }
            let size = after.binds.len();
            let mut sql = Sql::new(&format!(
                "SELECT {columns} FROM (SELECT * FROM {table} WHERE deleted_at IS NULL{after} ORDER BY {order_by} \
                 LIMIT ${}) {table} WHERE {filter} ORDER BY {order_by} LIMIT ",
                size + 1,
                columns = columns.join(", "),
                table = obj.table,
                after = after.text,
                filter = page_where.text,
            ));
            sql.binds = after.binds;
            sql.binds.push(Bind::Int(Some(WINDOW)));
            sql.bind(Bind::Int(Some(i64::from(limit) + 1)));
            Window {
                newest: sql,
                size,
                looked: WINDOW,
                sorted: page(&format!("(id || '') {}", if id_descending { "DESC" } else { "ASC" })),
            }
        });
        let stream = self.streams(obj, query).then(|| Stream {
            sources: query.filter.as_ref().map(|f| crate::grams::stream_sources(obj, f)).unwrap_or_default(),
            table: obj.table.clone(),
            check: {
                let mut check = Sql::new("deleted_at IS NULL");
                if let Some(f) = &query.filter {
                    check.push(" AND ");
                    stream_filter_sql(&mut check, obj, f);
                }
                if let Some(cursor) = &cursor {
                    check.push(" AND ");
                    keyset_sql(&mut check, &sort, cursor, 0, id_descending);
                }
                check
            },
        });
        Ok(PageStatement {
            sql,
            window,
            stream,
            where_sql,
            sample_where,
            columns,
            order_by,
            sort,
            sort_text,
            limit,
            only,
        })
    }

    /// The database's own account of how it reads a page of `query` (SQLite's `EXPLAIN QUERY
    /// PLAN` details, PostgreSQL's `EXPLAIN` lines): for tests that a page is read from an index.
    pub async fn explain_page(&self, object: &str, query: &ListQuery) -> Result<Vec<String>> {
        let obj = self.object(object).await?;
        let probe = self.probe(&obj, query, true).await?;
        let page = self.page_statement(&obj, query, &probe.dense, MAX_PAGE)?;
        let mut explain = Sql::new(if self.dialect == Dialect::Sqlite { "EXPLAIN QUERY PLAN " } else { "EXPLAIN " });
        explain.push(&page.sql.text);
        explain.binds = page.sql.binds;
        let rows = explain.query().fetch_all(self.pool()).await?;
        let column = if self.dialect == Dialect::Sqlite { 3 } else { 0 };
        rows.iter().map(|r| Ok(r.try_get::<String, _>(column)?)).collect()
    }

    /// Reads one page of `query`: the rows (one more than shown, if there is a next page), the
    /// cursor after the last row shown, the total when asked for, and the fields read.
    async fn read_page(&self, obj: &ObjectDef, query: &ListQuery) -> Result<PageRead> {
        self.read_page_of(obj, query, MAX_PAGE).await
    }

    /// [`Db::read_page`] with pages of up to `max_page` records.
    async fn read_page_of(&self, obj: &ObjectDef, query: &ListQuery, max_page: u32) -> Result<PageRead> {
        // The records this handle may read, and no others (every list, count and estimate); a
        // count reads the owners from their index, a page in the list's own order.
        let (scoped, counted);
        let asked = query;
        let (query, counting) = match self.viewer() {
            Some(_) => {
                scoped = ListQuery { filter: self.scoped_filter_for_page(obj, query.filter.as_ref()), ..query.clone() };
                counted =
                    ListQuery { filter: self.scoped_filter(obj, Intent::Read, query.filter.as_ref()), ..query.clone() };
                (&scoped, &counted)
            }
            None => (query, query),
        };
        // A team's records are counted exactly up to a smaller number: each is a row read to see
        // whose it is (a city's 11,000 of a team's in 61,000: 46 ms), and past it they are
        // estimated as any large count is. So are PostgreSQL's matches of a `contains`: each
        // is a row its trigram index points to, read to check the pattern (10,000: 63 ms).
        let searched = self.dialect == Dialect::Postgres
            && query.filter.as_ref().is_some_and(|f| crate::grams::has_indexed_contains(obj, f));
        let cap = match self.viewer().map(|v| v.reach(&obj.api_name, Intent::Read)) {
            Some(Reach::Team) => SCOPED_COUNT_CAP,
            _ if searched => SCOPED_COUNT_CAP,
            _ => COUNT_CAP,
        };
        self.check_query_named(obj, query)?;
        self.check_bounded(obj, query).await?;
        let probe = self.probe(obj, query, !self.streams(obj, query)).await?;
        let PageStatement { sql, window, stream, columns, order_by, sort, sort_text, limit, only, .. } =
            self.page_statement(obj, query, &probe.dense, max_page)?;
        let kept = match query.with_total && asked.filter.is_none() && !query.trash {
            true => self.count_reach_kept(obj).await?,
            false => None,
        };
        // How many records match, where the count estimated it: how far down PostgreSQL's
        // window of newest records looks for a page (`Window::read`).
        let mut matches_estimated = None;
        let total = if let Some(n) = kept {
            Some((n, TotalIs::Exact))
        } else if query.with_total {
            let PageStatement { where_sql, sample_where, .. } = self.page_statement(obj, counting, &[], max_page)?;
            // A team's many matches are estimated without counting any.
            let estimated = match cap == SCOPED_COUNT_CAP && !query.exact_total {
                true => match self.estimate_matches(obj, sample_where.clone()).await? {
                    Some(estimate) => Some(estimate),
                    None => self.estimate_by_share(obj, asked).await?,
                }
                .filter(|e| *e > cap),
                false => None,
            };
            matches_estimated = estimated;
            let (n, exact) = match probe.at_least {
                _ if estimated.is_some() => (cap, false),
                // Counting would stop at the cap: the index's matches already say so.
                Some(n) if !query.exact_total && n > cap => (cap, false),
                _ => self.count_matches(obj, counting, where_sql, cap).await?,
            };
            Some(match exact {
                true => (n, TotalIs::Exact),
                false if estimated.is_some() => (estimated.unwrap_or(cap + 1), TotalIs::Estimate),
                false => match self.estimate_matches(obj, sample_where).await? {
                    Some(estimate) => (estimate.max(cap + 1), TotalIs::Estimate),
                    None => (n, TotalIs::AtLeast),
                },
            })
        } else {
            None
        };
        let rows = match (stream, window) {
            (Some(stream), _) => match stream.read(self, limit).await? {
                Some(page) => Rows::fetch(self, page, &columns, &order_by).await?,
                None => Rows::fetch(self, sql, &columns, &order_by).await?,
            },
            (None, Some(mut window)) => {
                if let Some(matches) = matches_estimated {
                    let records = self.estimated_records(obj).await?;
                    window.size_for(matches, records, limit);
                }
                window.read(self, &columns, &order_by, limit).await?
            }
            (None, None) => Rows::fetch(self, sql, &columns, &order_by).await?,
        };
        let shown = rows.len().min(limit as usize);
        let next_cursor = match (rows.len() > shown, shown.checked_sub(1).and_then(|last| rows.get(last))) {
            (true, Some(row)) => Some(Cursor::from_row(&row, &sort, sort_text)?.encode()),
            _ => None,
        };
        Ok(PageRead { rows, shown, next_cursor, total, only })
    }

    /// Everything a viewer limited to their own or their team's records reads of `obj`, counted
    /// exactly from a rollup of the owners (a few groups read) where one is kept, and the records
    /// shared with them beside those: a rep's whole list shows its count as the admin's does,
    /// instead of an estimate from a sample. `None` for other viewers, or without such a rollup.
    async fn count_reach_kept(&self, obj: &ObjectDef) -> Result<Option<i64>> {
        let Some(viewer) = self.viewer() else { return Ok(None) };
        let owners: Vec<Value> = match viewer.reach(&obj.api_name, Intent::Read) {
            Reach::Own => vec![Value::Text(viewer.user_id.clone())],
            Reach::Team => viewer.team_users.iter().map(|u| Value::Text(u.clone())).collect(),
            Reach::None | Reach::All => return Ok(None),
        };
        let Some(owner) = peyvand_records::filter::resolve(obj, OWNER_FIELD) else { return Ok(None) };
        let owned = Filter::Cond(Condition { field: owner, op: Op::In, operand: Operand::Many(owners.clone()) });
        let everything = peyvand_records::aggregate::AggregateSpec::default();
        let offset = self.local_offset().whole_seconds();
        if self.catalog().await?.rollup_for_filtered(&obj.api_name, &everything, &owned, offset).is_none() {
            return Ok(None);
        }
        let counted = self.system().aggregate(&obj.api_name, Some(&owned), &everything).await?;
        let mut n: i64 = counted.rows.iter().map(|r| r.count).sum();
        let shared: Vec<&str> = viewer.shared_ids(&obj.api_name, Intent::Read).collect();
        if !shared.is_empty() {
            let column = obj.field(OWNER_FIELD).map(|f| f.column.clone()).unwrap_or_else(|| "owner".into());
            let mut sql = Sql::for_dialect(
                self.dialect(),
                &format!("SELECT COUNT(*) FROM {} WHERE deleted_at IS NULL AND id IN (", obj.table),
            );
            sql.list(shared.iter().map(|id| Bind::text(id.to_string())));
            sql.push(&format!(" AND ({column} IS NULL OR {column} NOT IN ("));
            sql.list(owners.iter().map(|o| match o {
                Value::Text(t) => Bind::text(t.clone()),
                _ => Bind::text(String::new()),
            }));
            sql.push(")");
            n += sql.query().fetch_one(self.pool()).await?.try_get::<i64, _>(0)?;
        }
        Ok(Some(n))
    }

    /// What the substring index says of `query`'s filter before its page is read.
    async fn probe(&self, obj: &ObjectDef, query: &ListQuery, ordered: bool) -> Result<crate::grams::Probe> {
        match &query.filter {
            Some(f) => crate::grams::probe(self, obj, f, query.trash, ordered).await,
            None => Ok(crate::grams::Probe::default()),
        }
    }

    /// Whether a page of `query` is streamed from substring indexes ([`Stream`]): SQLite, live
    /// records newest first (the lists' default), and a filter whose matches such indexes hold.
    fn streams(&self, obj: &ObjectDef, query: &ListQuery) -> bool {
        let newest_first = match query.sort.as_slice() {
            [] => true,
            [key] => key.field.api_name == "created_at" && key.descending,
            _ => false,
        };
        self.dialect == Dialect::Sqlite
            && newest_first
            && !query.trash
            && query.filter.as_ref().is_some_and(|f| !crate::grams::stream_sources(obj, f).is_empty())
    }

    /// Refuses a list of live records whose filter no index bounds, naming the field to index,
    /// when the object holds more than [`Db::scan_limit`] records (a rare value would be looked
    /// for in every one of them: seconds at a million).
    /// A user's query names only fields they may see: in its sort, fields and own filter (the
    /// scope names only the owner and ids).
    fn check_query_named(&self, obj: &ObjectDef, query: &ListQuery) -> Result<()> {
        if self.viewer().is_none() {
            return Ok(());
        }
        let mut named: Vec<String> = query.sort.iter().map(|k| k.field.api_name.clone()).collect();
        query.fields.iter().flatten().for_each(|f| named.push(f.clone()));
        if let Some(f) = &query.filter {
            crate::access::filter_fields(f, &mut named);
        }
        named.retain(|n| n != OWNER_FIELD && n != "id");
        self.check_named(obj, named)
    }

    async fn check_bounded(&self, obj: &ObjectDef, query: &ListQuery) -> Result<()> {
        let Some(field) = query.filter.as_ref().filter(|_| !query.trash).and_then(|f| unbounded_field(obj, f)) else {
            return Ok(());
        };
        let limit = self.scan_limit();
        let records = self.estimated_records(obj).await?;
        if records <= limit {
            return Ok(());
        }
        Err(Error::invalid(FieldError::with(&field, "field_not_indexed", json!({ "field": field, "records": limit }))))
    }

    /// About how many records `obj`'s table holds, in the trash too (SQLite: its last rowid;
    /// PostgreSQL: the planner's estimate, or before it has one, a count up to past the limit).
    async fn estimated_records(&self, obj: &ObjectDef) -> Result<i64> {
        let estimate: i64 = match self.dialect {
            Dialect::Sqlite => sqlx::query(AssertSqlSafe(format!("SELECT COALESCE(MAX(rowid), 0) FROM {}", obj.table))),
            Dialect::Postgres => sqlx::query(
                "SELECT CAST(COALESCE(MAX(reltuples), -1) AS BIGINT) FROM pg_class \
                 WHERE relname = $1 AND relnamespace = CAST(current_schema() AS regnamespace)",
            )
            .bind(obj.table.clone()),
        }
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        if estimate >= 0 {
            return Ok(estimate);
        }
        let counted = format!("SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT $1) n", obj.table);
        Ok(sqlx::query(AssertSqlSafe(counted)).bind(self.scan_limit() + 1).fetch_one(self.pool()).await?.try_get(0)?)
    }

    /// How many records a list matches, and whether exactly: an unfiltered list of live records
    /// from a rollup of the object (kept by triggers; any rollup holds the count), else up to
    /// [`COUNT_CAP`] unless the query asks for the exact number.
    async fn count_matches(&self, obj: &ObjectDef, query: &ListQuery, where_sql: Sql, cap: i64) -> Result<(i64, bool)> {
        let everything = peyvand_records::aggregate::AggregateSpec::default();
        if query.filter.is_none()
            && !query.trash
            && self
                .catalog()
                .await?
                .rollup_for(&obj.api_name, &everything, self.local_offset().whole_seconds())
                .is_some()
        {
            let counted = self.aggregate(&obj.api_name, None, &everything).await?;
            return Ok((counted.rows.iter().map(|r| r.count).sum(), true));
        }
        let capped = !query.exact_total;
        let mut count = Sql::new(&format!(
            "SELECT COUNT(*) FROM {}{} WHERE ",
            if capped { "(SELECT 1 FROM " } else { "" },
            obj.table
        ));
        count.push(&where_sql.text);
        count.binds = where_sql.binds;
        if capped {
            count.push(" LIMIT ").bind(Bind::Int(Some(cap + 1))).push(") capped");
        }
        let n = count.query().fetch_one(self.pool()).await?.try_get::<i64, _>(0)?;
        Ok(if n > cap && capped { (cap, false) } else { (n, true) })
    }

    /// About how many of a team's records a search finds, where too few of a sample match both
    /// to say (a name part in 1.4 % of a million contacts, a team holding two in eleven: ten
    /// in a sample of 4,000): the search's matches in the sample times the team's share of
    /// it. Only for a filter of `contains` conditions alone: a name part does not depend on
    /// whose record it is, where a city may be one rep's territory (so it is counted). `None`
    /// where either is too rare in the sample to say.
    async fn estimate_by_share(&self, obj: &ObjectDef, query: &ListQuery) -> Result<Option<i64>> {
        let Some(filter) = query.filter.as_ref().filter(|f| !query.trash && only_contains(f)) else { return Ok(None) };
        let Some(scope) = self.scoped_filter(obj, Intent::Read, None) else { return Ok(None) };
        let compared = crate::grams::compared_in_place(obj);
        let mut sample = Sql::new("SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN deleted_at IS NULL AND ");
        filter_sql(&mut sample, obj, filter, self.dialect(), &compared);
        sample.push(" THEN 1 ELSE 0 END), 0) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN ");
        filter_sql(&mut sample, obj, &scope, self.dialect(), &compared);
        sample.push(" THEN 1 ELSE 0 END), 0) AS BIGINT) FROM ").push(&obj.table);
        self.estimate_from_sample(obj, sample, 2, |records, counted| {
            let (sampled, found, reached) = (counted[0] as f64, counted[1], counted[2]);
            (sampled > 0.0 && found >= ESTIMATE_MIN_MATCHES && reached >= ESTIMATE_MIN_MATCHES)
                .then(|| three_digits(found as f64 / sampled * (reached as f64 / sampled) * records as f64))
        })
        .await
    }

    /// About how many records match `where_sql`: the matches among [`ESTIMATE_SAMPLE`] records
    /// spread over the table (SQLite: rowids at even steps; PostgreSQL: its pages sampled with
    /// a fixed seed, so the number stays put between page loads), scaled to the table and
    /// rounded to three significant digits. `None` when too few of the sample match to say.
    async fn estimate_matches(&self, obj: &ObjectDef, where_sql: Sql) -> Result<Option<i64>> {
        let mut sample = Sql::new("SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN ");
        sample.push(&where_sql.text);
        sample.binds = where_sql.binds;
        sample.push(" THEN 1 ELSE 0 END), 0) AS BIGINT) FROM ").push(&obj.table);
        self.estimate_from_sample(obj, sample, 1, |records, counted| {
            let (sampled, matched) = (counted[0], counted[1]);
            (sampled > 0 && matched >= ESTIMATE_MIN_MATCHES)
                .then(|| three_digits(matched as f64 * records as f64 / sampled as f64))
        })
        .await
    }

    /// `sample` (`SELECT COUNT(*)` and `sums` more counts `FROM` the table) run over the
    /// sample's records, and the estimate `estimate` makes of the table's size and its counts.
    async fn estimate_from_sample(
        &self,
        obj: &ObjectDef,
        mut sample: Sql,
        sums: usize,
        estimate: impl Fn(i64, &[i64]) -> Option<i64>,
    ) -> Result<Option<i64>> {
        let records = self.estimated_records(obj).await?;
        if records <= 0 {
            return Ok(None);
        }
        match self.dialect {
            Dialect::Sqlite => {
                // Runs of consecutive rowids at even steps: a run shares its pages, so the sample
                // reads a few hundred pages, not one per record (4,000 records apart: 40 ms).
                let runs = ESTIMATE_SAMPLE / ESTIMATE_RUN;
                let step = (records / runs).max(ESTIMATE_RUN);
                sample
                    .push(" WHERE rowid IN (WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ");
                sample.bind(Bind::Int(Some(ESTIMATE_SAMPLE - 1))).push(") SELECT (i / ");
                sample.bind(Bind::Int(Some(ESTIMATE_RUN))).push(") * ").bind(Bind::Int(Some(step)));
                sample.push(" + (i % ").bind(Bind::Int(Some(ESTIMATE_RUN))).push(") + 1 FROM s)");
            }
            Dialect::Postgres => {
                // A number made here, not input: the share of the table's pages to read.
                let percent = (100.0 * ESTIMATE_SAMPLE as f64 / records as f64).min(100.0);
                sample.push(&format!(" TABLESAMPLE SYSTEM ({percent:.6}) REPEATABLE (34)"));
            }
        }
        // The same estimate for the same question within seconds: a list opened, paged and
        // opened again by many people samples once.
        let key = format!("{}\u{1}{:?}", sample.text, sample.binds);
        if let Ok(mut cache) = self.estimates.lock() {
            match cache.get(&key) {
                Some((at, estimate)) if at.elapsed() < ESTIMATE_TTL => return Ok(*estimate),
                _ if cache.len() >= ESTIMATE_ENTRIES => cache.clear(),
                _ => {}
            }
        }
        let row = sample.query().fetch_one(self.pool()).await?;
        let counted = (0..=sums).map(|i| row.try_get::<i64, _>(i)).collect::<std::result::Result<Vec<_>, _>>()?;
        let estimate = estimate(records, &counted);
        if let Ok(mut cache) = self.estimates.lock() {
            cache.insert(key, (std::time::Instant::now(), estimate));
        }
        Ok(estimate)
    }
}

/// Whether `filter` is `contains` conditions alone (a quick search).
fn only_contains(filter: &Filter) -> bool {
    match filter {
        Filter::Cond(c) => c.op == Op::Contains,
        Filter::And(children) | Filter::Or(children) => !children.is_empty() && children.iter().all(only_contains),
    }
}

/// `n` rounded to three significant digits (38,712.4 is 38,700).
fn three_digits(n: f64) -> i64 {
    if n < 1_000.0 {
        return n.round() as i64;
    }
    let unit = 10f64.powi(n.log10().floor() as i32 - 2);
    ((n / unit).round() * unit) as i64
}

/// The statement of one page and what reading it needs: see `Db::page_statement`.
struct PageStatement {
    sql: Sql,
    /// PostgreSQL: the page among the newest records first (see `Db::page_statement`).
    window: Option<Window>,
    /// SQLite: the page streamed from substring indexes ([`Stream`]).
    stream: Option<Stream>,
    /// The filter alone (for a count).
    where_sql: Sql,
    /// The filter as a sample of records is checked against it (for an estimate).
    sample_where: Sql,
    columns: Vec<String>,
    order_by: String,
    /// The sort keys before the id (none for the creation order, which is the id's).
    sort: Vec<SortKey>,
    sort_text: String,
    limit: u32,
    only: Option<Vec<String>>,
}

/// How PostgreSQL reads a page of a `contains` in creation order: among the newest [`WINDOW`]
/// records, or more where the count's estimate says a page needs more ([`Window::size_for`]);
/// where they hold some matches but not a page, among as many more as those matches
/// say a page needs (up to [`MAX_WINDOW`]); else, or where that too falls short, every match
/// its trigram index finds, sorted.
struct Window {
    newest: Sql,
    /// The bind of `newest` that holds how many of the newest records it reads.
    size: usize,
    /// How many it reads: that bind's value.
    looked: i64,
    sorted: Sql,
}

impl Window {
    /// Sizes the first look for about `matches` of `records` spread evenly: twice the newest
    /// records that hold a page, within [`WINDOW`] and [`MAX_WINDOW`]. The read stops at a
    /// page's last match, so a larger window costs only where the matches are fewer than
    /// estimated; where they are sparse (a rep's share of a name part: 2,650 of a million,
    /// 17 in the newest 5,000), one read finds the page instead of a first that falls short
    /// and a second that reads its records again.
    fn size_for(&mut self, matches: i64, records: i64, limit: u32) {
        if matches <= 0 || records <= 0 {
            return;
        }
        self.look_at((2 * (i64::from(limit) + 1) * records / matches).clamp(WINDOW, MAX_WINDOW));
    }

    fn look_at(&mut self, newest: i64) {
        self.looked = newest;
        self.newest.binds[self.size] = Bind::Int(Some(newest));
    }

    async fn read(mut self, db: &Db, columns: &[String], order_by: &str, limit: u32) -> Result<Rows> {
        let rows = Rows::fetch(db, self.newest.clone(), columns, order_by).await?;
        if rows.len() > limit as usize {
            return Ok(rows);
        }
        let wider = match rows.len() {
            0 => None,
            found => Some(self.looked * (i64::from(limit) + 1) * 2 / found as i64).filter(|n| *n <= MAX_WINDOW),
        };
        if let Some(wider) = wider {
            self.look_at(wider);
            let rows = Rows::fetch(db, self.newest, columns, order_by).await?;
            if rows.len() > limit as usize {
                return Ok(rows);
            }
        }
        Rows::fetch(db, self.sorted, columns, order_by).await
    }
}

/// How SQLite reads a page in creation order (newest first) of a filter whose matches
/// substring indexes hold (a quick search, `contains`, either alone or in an `and`): the
/// indexes' matches, newest rowid first (FTS5 walks its index backwards and the union merges
/// them, so nothing is sorted), in chunks, each checked in its row against the whole filter
/// (compared in place), until a page is found and no record further down can come before it.
/// Rowids follow ids except where a record was written with an older id than others (see
/// `grams::blocks_name`): the order blocks bound the largest id below a point. So a page reads
/// about its own matches, not every match sorted (e-mails containing "son12": 11,111, all in
/// old records, had to be read and sorted, 20–30 ms of processor time a request).
struct Stream {
    /// The substring indexes, their tables of changes, and the patterns.
    sources: Vec<(String, String, String)>,
    table: String,
    /// The filter as checked in a row, and the cursor, numbered from `$1`.
    check: Sql,
}

impl Stream {
    /// One chunk: the next `n` candidates from rowid `floor` up to below rowid `below`, newest
    /// first (each index's matches and each changed record, which the index may not hold yet),
    /// and the id of each that passes the check.
    fn chunk(&self, floor: i64, below: i64, n: i64) -> Sql {
        // The check first, so its placeholders keep their numbers and the candidates' follow.
        let mut sql = Sql::new(&format!("SELECT c.r, (SELECT id FROM {} WHERE rowid = c.r AND ", self.table));
        sql.push(&self.check.text);
        sql.binds = self.check.binds.clone();
        sql.push(") FROM (");
        for (i, (grams, pending, pattern)) in self.sources.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ");
            }
            sql.push(&format!("SELECT rowid AS r FROM {grams} WHERE {grams} MATCH "))
                .bind(Bind::text(pattern.clone()))
                .push(" AND rowid >= ")
                .bind(Bind::Int(Some(floor)))
                .push(" AND rowid < ")
                .bind(Bind::Int(Some(below)));
            sql.push(&format!(" UNION SELECT rowid FROM {pending} WHERE rowid >= "))
                .bind(Bind::Int(Some(floor)))
                .push(" AND rowid < ")
                .bind(Bind::Int(Some(below)));
        }
        sql.push(" ORDER BY 1 DESC LIMIT ").bind(Bind::Int(Some(n))).push(") c");
        sql
    }

    /// The statement of the page (its rows by rowid), or `None` where too many matches failed
    /// the check to stream it (the page is then read as any other).
    async fn read(self, db: &Db, limit: u32) -> Result<Option<Sql>> {
        let want = limit as usize + 1;
        let blocks = crate::grams::blocks_name(&self.table);
        let top: i64 = sqlx::query(AssertSqlSafe(format!("SELECT COALESCE(MAX(rowid), 0) FROM {}", self.table)))
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
        let (mut below, mut n, mut checked) = (top + 1, 2 * want as i64, 0i64);
        // Set once no record under its block can come before the page: the candidates left
        // in the block are read, and no others.
        let mut floor = 0;
        let mut found: Vec<(String, i64)> = Vec::new();
        loop {
            let rows = self.chunk(floor, below, n).query().fetch_all(db.pool()).await?;
            for row in &rows {
                let rowid: i64 = row.try_get(0)?;
                below = below.min(rowid);
                if let Some(id) = row.try_get::<Option<String>, _>(1)? {
                    found.push((id, rowid));
                }
            }
            checked += rows.len() as i64;
            found.sort_unstable_by(|a, b| b.0.cmp(&a.0));
            found.truncate(want);
            if (rows.len() as i64) < n {
                break;
            }
            if let Some((last, _)) = found.get(want - 1).filter(|_| floor == 0) {
                // The largest id of any record in the blocks under this one.
                let block = below >> crate::grams::BLOCK_SHIFT;
                let bound: Option<String> =
                    sqlx::query(AssertSqlSafe(format!("SELECT MAX(max_id) FROM {blocks} WHERE block < $1")))
                        .bind(block)
                        .fetch_one(db.pool())
                        .await?
                        .try_get(0)?;
                if bound.is_none_or(|b| b <= *last) {
                    floor = block << crate::grams::BLOCK_SHIFT;
                    if below <= floor {
                        break;
                    }
                }
            }
            if checked >= STREAM_MAX {
                return Ok(None);
            }
            n = (n * 4).min(STREAM_MAX - checked).max(1);
        }
        let mut page = Sql::new(&format!("SELECT * FROM {} WHERE rowid IN (", self.table));
        if found.is_empty() {
            page.push("NULL)");
        } else {
            page.list(found.iter().map(|(_, rowid)| Bind::Int(Some(*rowid))));
        }
        Ok(Some(page))
    }
}

/// Appends `filter` as a [`Stream`]'s candidate (`c.r`) is checked against it: the part its
/// substring indexes answer holds for a candidate they listed, unless the record changed since
/// they were written (its new value is then compared); the rest is compared in the row.
fn stream_filter_sql(sql: &mut Sql, obj: &ObjectDef, filter: &Filter) {
    let compared = crate::grams::compared_in_place(obj);
    if let Filter::And(children) = filter
        && let Some(i) = children.iter().position(|c| !crate::grams::stream_sources(obj, c).is_empty())
    {
        sql.push("(");
        for (j, child) in children.iter().enumerate() {
            if j > 0 {
                sql.push(" AND ");
            }
            match j == i {
                true => stream_filter_sql(sql, obj, child),
                false => filter_sql(sql, obj, child, Dialect::Sqlite, &compared),
            }
        }
        sql.push(")");
        return;
    }
    let pending: Vec<String> = crate::grams::stream_sources(obj, filter)
        .into_iter()
        .map(|(_, pending, _)| format!("SELECT rowid FROM {pending}"))
        .collect();
    sql.push(&format!("(c.r NOT IN ({}) OR ", pending.join(" UNION ")));
    filter_sql(sql, obj, filter, Dialect::Sqlite, &compared);
    sql.push(")");
}

/// One page as read: see `Db::read_page`.
struct PageRead {
    rows: Rows,
    shown: usize,
    next_cursor: Option<String>,
    /// The count and whether it is exact.
    total: Option<(i64, TotalIs)>,
    only: Option<Vec<String>>,
}

fn sort_signature(sort: &[SortKey]) -> String {
    sort.iter()
        .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field.api_name))
        .collect::<Vec<_>>()
        .join(",")
}

/// A keyset cursor: the sort it belongs to, the sort values of the last row, and its id.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    sort: String,
    values: Vec<Json>,
    id: String,
}

impl Cursor {
    fn from_row(row: &RowRef, sort: &[SortKey], sort_text: String) -> Result<Cursor> {
        let mut values = Vec::new();
        for key in sort {
            let v = match sort_column_is_int(&key.field) {
                true => row.int(&key.field.column)?.map(Json::from).unwrap_or(Json::Null),
                false => row.text(&key.field.column)?.map(Json::from).unwrap_or(Json::Null),
            };
            values.push(v);
        }
        Ok(Cursor { sort: sort_text, values, id: row.text_required("id")? })
    }
    fn encode(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        crate::sql::hex(text.as_bytes())
    }
    fn decode(s: &str) -> Option<Cursor> {
        if !s.len().is_multiple_of(2) || s.len() > 8192 {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect();
        serde_json::from_slice(&bytes?).ok()
    }
}

fn sort_column_is_int(field: &FieldRef) -> bool {
    matches!(field.storage, Storage::Int | Storage::Scaled | Storage::Money | Storage::Bool)
}

/// Columns every record has a value in (`NOT NULL` in the schema).
fn never_null(field: &FieldRef) -> bool {
    matches!(field.column.as_str(), "created_at" | "updated_at")
}

fn cursor_bind(field: &FieldRef, v: &Json) -> Bind {
    if sort_column_is_int(field) { Bind::Int(v.as_i64()) } else { Bind::Text(v.as_str().map(str::to_string)) }
}

/// Rows after the cursor in the sort order, where NULLs come first ascending and last
/// descending: after(k) = strictly-after on k, or equal on k and after(k + 1); the id decides last.
fn keyset_sql(sql: &mut Sql, sort: &[SortKey], cursor: &Cursor, i: usize, id_descending: bool) {
    if i == sort.len() {
        sql.push(if id_descending { "id < " } else { "id > " }).bind(Bind::text(cursor.id.clone()));
        return;
    }
    let key = &sort[i];
    let col = key.field.column.clone();
    let v = &cursor.values[i];
    // The last key with a value, where no NULL can come after it (ascending, NULLs come first;
    // or a column that is never NULL): one row-value comparison, which both databases answer
    // as a range of the (column, id) index. The expanded form below made SQLite step over every
    // row sharing the cursor's value first, and a batch of imported records shares its instant.
    if i + 1 == sort.len() && !v.is_null() && (!key.descending || never_null(&key.field)) {
        sql.push("(").push(&col).push(", id)").push(if key.descending { " < (" } else { " > (" });
        sql.bind(cursor_bind(&key.field, v)).push(", ").bind(Bind::text(cursor.id.clone())).push(")");
        return;
    }
    sql.push("(");
    match (v.is_null(), key.descending) {
        (true, false) => {
            sql.push(&col).push(" IS NOT NULL OR (").push(&col).push(" IS NULL AND ");
        }
        (true, true) => {
            sql.push(&col).push(" IS NULL AND (");
        }
        (false, false) => {
            sql.push(&col)
                .push(" >= ")
                .bind(cursor_bind(&key.field, v))
                .push(" AND (")
                .push(&col)
                .push(" > ")
                .bind(cursor_bind(&key.field, v));
            sql.push(" OR (").push(&col).push(" = ").bind(cursor_bind(&key.field, v)).push(" AND ");
        }
        (false, true) => {
            sql.push("(")
                .push(&col)
                .push(" < ")
                .bind(cursor_bind(&key.field, v))
                .push(" OR ")
                .push(&col)
                .push(" IS NULL)");
            sql.push(" OR (").push(&col).push(" = ").bind(cursor_bind(&key.field, v)).push(" AND ");
        }
    }
    keyset_sql(sql, sort, cursor, i + 1, id_descending);
    match (v.is_null(), key.descending) {
        (false, false) => sql.push(")))"),
        _ => sql.push("))"),
    };
}

/// The text a `contains` or `starts_with` pattern (normalized by the filter's parser) looks
/// for: a phone's digits, in international form when written as a national number.
pub(crate) fn contains_pattern(field_type: FieldType, pattern: &str) -> String {
    if field_type != FieldType::Phone {
        return pattern.to_string();
    }
    let digits: String = to_latin_digits(pattern).chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('0') {
        Some(rest) if !digits.starts_with("00") => format!("98{rest}"),
        _ => digits,
    }
}

pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn list_member_sql(sql: &mut Sql, object: &ObjectDef, c: &Condition, values: &[&Value], negate: bool) {
    let field_id = object.field(&c.field.api_name).map(|f| f.id.clone()).unwrap_or_default();
    sql.push(if negate { "id NOT IN" } else { "id IN" });
    sql.push(" (SELECT record_id FROM record_values WHERE field_id = ")
        .bind(Bind::text(field_id))
        .push(" AND value_norm IN (");
    sql.list(values.iter().map(|v| Bind::text(normalize(&v.to_plain())))).push(")");
}

/// Whether an index bounds what `c` reads (a b-tree range or look-up, or the substring index):
/// if not, finding a rare value reads every record.
fn bounded_condition(object: &ObjectDef, c: &Condition) -> bool {
    let Some(field) = object.field(&c.field.api_name) else {
        // System fields: the id, and the instants each of which has an index.
        return matches!(c.field.column.as_str(), "id" | "created_at" | "updated_at" | "deleted_at");
    };
    let indexed = field.indexed
        || field.unique
        || matches!(field.field_type, FieldType::Relation | FieldType::User)
        || field.storage() == Storage::List;
    match c.op {
        Op::Contains => crate::grams::substring_indexed(field),
        Op::StartsWith | Op::Ne => false,
        Op::IsEmpty => indexed && field.storage() != Storage::List,
        _ => indexed,
    }
}

/// The first field whose condition leaves `filter` unbounded by any index (an `and` is bounded
/// when one of its conditions is, an `or` when all are), if there is one.
pub(crate) fn unbounded_field(object: &ObjectDef, filter: &Filter) -> Option<String> {
    match filter {
        Filter::Cond(c) => (!bounded_condition(object, c)).then(|| c.field.api_name.clone()),
        Filter::And(children) if children.is_empty() => None,
        Filter::And(children) => {
            let unbounded: Vec<String> = children.iter().filter_map(|f| unbounded_field(object, f)).collect();
            if unbounded.len() == children.len() { unbounded.into_iter().next() } else { None }
        }
        Filter::Or(children) => children.iter().find_map(|f| unbounded_field(object, f)),
    }
}

/// Appends the SQL of a checked filter. Field names were resolved against the object's metadata,
/// so only known column names and placeholders reach the SQL text. `dense` names the fields whose
/// `contains` matches many of the newest records, and how a page reads them (`grams::Probe`).
pub(crate) fn filter_sql(
    sql: &mut Sql,
    object: &ObjectDef,
    filter: &Filter,
    dialect: Dialect,
    dense: &[(String, crate::grams::Dense)],
) {
    match filter {
        Filter::And(children) | Filter::Or(children) if children.is_empty() => {
            sql.push("1 = 1");
        }
        Filter::And(children) | Filter::Or(children) => {
            let joiner = if matches!(filter, Filter::And(_)) { " AND " } else { " OR " };
            sql.push("(");
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                filter_sql(sql, object, child, dialect, dense);
            }
            sql.push(")");
        }
        Filter::Cond(c) => condition_sql(sql, object, c, dialect, dense),
    }
}

fn condition_sql(
    sql: &mut Sql,
    object: &ObjectDef,
    c: &Condition,
    dialect: Dialect,
    dense: &[(String, crate::grams::Dense)],
) {
    let col = c.field.column.as_str();
    let storage = c.field.storage;
    let list = storage == Storage::List;
    match (&c.op, &c.operand) {
        (Op::IsEmpty, Operand::Flag(empty)) => {
            sql.push(col).push(if *empty { " IS NULL" } else { " IS NOT NULL" });
        }
        (Op::Eq, Operand::One(v)) if list => list_member_sql(sql, object, c, &[v], false),
        (Op::Ne, Operand::One(v)) if list => list_member_sql(sql, object, c, &[v], true),
        (Op::In, Operand::Many(vs)) if list => list_member_sql(sql, object, c, &vs.iter().collect::<Vec<_>>(), false),
        (Op::Contains | Op::StartsWith, Operand::Pattern(p)) => {
            let pattern = contains_pattern(c.field.field_type, p);
            if c.op == Op::Contains
                && let Some(field) = object.field(&c.field.api_name)
                && let how = crate::grams::dense_of(dense, field)
                && how != Some(crate::grams::Dense::Compared)
                && crate::grams::contains_sql(sql, dialect, object, field, &pattern, how.is_some()).is_some()
            {
                return;
            }
            let like = if c.op == Op::Contains {
                format!("%{}%", escape_like(&pattern))
            } else {
                format!("{}%", escape_like(&pattern))
            };
            // A dense `contains` on multi-valued e-mails or phones compares their folded
            // column, members one per line, below.
            let folded_members =
                c.op == Op::Contains && object.field(&c.field.api_name).is_some_and(crate::grams::substring_indexed);
            if list && !folded_members {
                // Each member on its own (normalized as the pattern is), never the JSON the
                // members are kept in: `one.example","b` or `["` matched that text.
                let field_id = object.field(&c.field.api_name).map(|f| f.id.clone()).unwrap_or_default();
                sql.push("id IN (SELECT record_id FROM record_values WHERE field_id = ")
                    .bind(Bind::text(field_id))
                    .push(" AND value_norm ")
                    .push(dialect.ilike())
                    .push(" ")
                    .bind(Bind::text(like))
                    .push(" ESCAPE '\\')");
                return;
            }
            match object.field(&c.field.api_name) {
                Some(field) => crate::grams::contains_scan_sql(sql, dialect, field, col, &like),
                None => {
                    sql.push("1 = 0");
                }
            }
        }
        (Op::Ne, Operand::One(v)) => {
            sql.push("(")
                .push(col)
                .push(" IS NULL OR ")
                .push(col)
                .push(" <> ")
                .bind(operand_bind(storage, v))
                .push(")");
        }
        (Op::In, Operand::Many(vs)) => {
            sql.push(col).push(" IN (");
            sql.list(vs.iter().map(|v| operand_bind(storage, v)));
        }
        (Op::Between, Operand::Two(a, b)) => {
            sql.push("(").push(col).push(" >= ").bind(operand_bind(storage, a));
            sql.push(" AND ").push(col).push(" <= ").bind(operand_bind(storage, b)).push(")");
        }
        (op, Operand::One(v)) => {
            let sym = match op {
                Op::Eq => " = ",
                Op::Lt => " < ",
                Op::Lte => " <= ",
                Op::Gt => " > ",
                _ => " >= ",
            };
            sql.push(col).push(sym).bind(operand_bind(storage, v));
        }
        // The parser pairs every operator with its operand shape; anything else matches nothing.
        _ => {
            sql.push("1 = 0");
        }
    }
}

/// The engine's check of choices that depend on another field ([`check_dependent_choices`]),
/// over the record as the write leaves it.
pub(crate) fn check_dependent(obj: &ObjectDef, current: Option<&Record>, values: &[(&FieldDef, Value)]) -> Result<()> {
    if !obj.live_fields().any(|f| f.options.depends_on.is_some()) {
        return Ok(());
    }
    let new = |name: &str| values.iter().find(|(f, _)| f.api_name == name).map(|(_, v)| v.to_json());
    let after =
        |name: &str| new(name).or_else(|| current.and_then(|c| c.fields.get(name)).cloned()).unwrap_or(Json::Null);
    peyvand_records::validate::check_dependent_choices(obj, &|name| new(name).is_some(), &after)
        .map_err(Error::Validation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_looks_as_far_as_the_estimate_says_a_page_needs() {
        let window = || {
            let mut newest = Sql::new("");
            newest.binds = vec![Bind::text("pattern"), Bind::Int(Some(WINDOW))];
            Window { newest, size: 1, looked: WINDOW, sorted: Sql::new("") }
        };
        let sized = |matches: i64, records: i64| {
            let mut w = window();
            w.size_for(matches, records, 50);
            assert!(matches!(w.newest.binds[1], Bind::Int(Some(n)) if n == w.looked), "the bind says what is read");
            w.looked
        };
        // A rep's 2,650 of a million: twice the 19,245 newest records that hold 51 of them.
        assert_eq!(sized(2_650, 1_000_000), 38_490);
        // Dense matches never look at fewer than the first window, sparse never past the last.
        assert_eq!(sized(500_000, 1_000_000), WINDOW);
        assert_eq!(sized(100, 1_000_000), MAX_WINDOW);
        // No estimate to go by: the first window as it was.
        assert_eq!(sized(0, 1_000_000), WINDOW);
        assert_eq!(sized(2_650, 0), WINDOW);
        assert!(matches!(window().newest.binds[0], Bind::Text(Some(ref t)) if t == "pattern"));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { sort: "-created_at".into(), values: vec![json!("2024"), Json::Null], id: "x".into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("zz"), None);
        assert_eq!(Cursor::decode("abc"), None);
        assert_eq!(Cursor::decode("7b7d"), None);
    }

    #[test]
    fn audit_changes_are_the_json_of_the_changes() {
        let field = |name: &str, field_type: FieldType| FieldDef::plain("thing", name, field_type);
        let (text, list, day) =
            (field("note", FieldType::Text), field("emails", FieldType::Email), field("day", FieldType::Date));
        let at = field("at", FieldType::Datetime);
        let (count, done, score) =
            (field("count", FieldType::Integer), field("done", FieldType::Boolean), field("score", FieldType::Decimal));
        let tricky = "«سلام» \"quoted\" back\\slash\nnew line\ttab\u{1}\u{8}\u{c}\r\u{1f} ی";
        let values = vec![
            (&text, Value::Text(tricky.into())),
            (&list, Value::List(vec!["a@example.ir".into(), "\"b\"@example.ir".into()])),
            (&day, Value::Date(peyvand_records::value::parse_date("2024-03-20").expect("date"))),
            (&text, Value::Null),
            (&count, Value::Int(-42)),
            (&done, Value::Bool(true)),
            (&done, Value::Bool(false)),
            (&at, Value::Datetime(peyvand_records::value::parse_datetime("2024-03-20T10:11:12.5Z").expect("datetime"))),
            (&score, Value::Decimal(peyvand_records::Decimal::parse("12.50", 2).expect("decimal"))),
            (&text, Value::Text("ends with an escape\u{7}".into())),
            (&text, Value::Text(String::new())),
        ];
        let expected = json!(
            values
                .iter()
                .map(|(f, v)| json!({ "field": f.api_name, "old": null, "new": v.to_json() }))
                .collect::<Vec<_>>()
        );
        let written = audit_changes(&values);
        assert_eq!(written, expected.to_string(), "the same text as serde_json writes");
        assert_eq!(serde_json::from_str::<Json>(&written).expect("valid JSON"), expected);
    }

    #[test]
    fn event_topics() {
        assert_eq!(event_topic("create"), "record.created");
        assert_eq!(event_topic("update"), "record.updated");
        assert_eq!(event_topic("restore"), "record.restored");
        assert_eq!(event_topic("delete"), "record.deleted");
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_a\\"), "50\\%\\_a\\\\");
    }
}
