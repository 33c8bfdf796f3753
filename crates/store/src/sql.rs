//! SQL text building with numbered placeholders, typed binds, and the few dialect differences.

use peyvand_records::value::{format_date, format_datetime, parse_date, parse_datetime};
use peyvand_records::{Decimal, FieldDef, Storage, Value};
use serde_json::Value as Json;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe, Row};
use std::collections::HashMap;

/// The database family behind a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Option<Dialect> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// Case-insensitive `LIKE` (SQLite's `LIKE` already ignores ASCII case).
    pub fn ilike(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// The key part of an index for sorting on `column`: NULLs sort first ascending on both
    /// backends (SQLite's native order), so PostgreSQL's index says so explicitly.
    pub fn index_key(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_string(),
            Dialect::Postgres => format!("{column} ASC NULLS FIRST"),
        }
    }

    /// Locks the rows a `SELECT` in a write transaction reads until it ends, so a concurrent
    /// change waits instead of being lost or refused. SQLite needs none: a write transaction
    /// there already holds the only write lock (`BEGIN IMMEDIATE`).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Follows a table name in a query that reads the whole table: SQLite otherwise may walk
    /// an index that gives the grouping order and look every row up from it, 1.7 times slower
    /// than reading the table (measured grouping a million activities); PostgreSQL plans this
    /// well by itself.
    pub fn whole_table(self) -> &'static str {
        match self {
            Dialect::Sqlite => " NOT INDEXED",
            Dialect::Postgres => "",
        }
    }

    /// The day (`YYYY-MM-DD`) on which a stored datetime (`…Z` text) falls at `offset_seconds`
    /// from UTC: a day, month or year of a datetime is the business's, not UTC's.
    pub fn local_day(self, expr: &str, offset_seconds: i32) -> String {
        match self {
            Dialect::Sqlite => format!("date({expr}, '{offset_seconds:+} seconds')"),
            Dialect::Postgres => {
                format!("to_char(CAST({expr} AS timestamp) + interval '{offset_seconds} seconds', 'YYYY-MM-DD')")
            }
        }
    }

    /// Text comparisons for search terms must be by code point on both backends.
    pub fn binary_collation(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " COLLATE \"C\"",
        }
    }
}

/// A value bound to a placeholder. Only the two portable column types are used. Ordered as both
/// databases order a key's text (by bytes) and numbers, so rows of binds sort in their index's order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
}

impl Bind {
    pub fn text(s: impl Into<String>) -> Bind {
        Bind::Text(Some(s.into()))
    }
}

/// SQL text under construction with its binds, numbered `$1`, `$2`, … in order.
#[derive(Clone, Debug, Default)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
    /// Anonymous `?` placeholders instead of `$n`: SQLite looks named parameters up one by one,
    /// which grows with the square of their number in a statement with thousands of them.
    positional: bool,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_string(), binds: Vec::new(), positional: false }
    }
    /// SQL for a statement with many placeholders, in the form its dialect binds fastest.
    pub fn for_dialect(dialect: Dialect, text: &str) -> Sql {
        Sql { text: text.to_string(), binds: Vec::new(), positional: dialect == Dialect::Sqlite }
    }
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    /// Appends a placeholder for `bind`.
    pub fn bind(&mut self, bind: Bind) -> &mut Self {
        self.binds.push(bind);
        if self.positional {
            self.text.push('?');
        } else {
            self.text.push('$');
            self.text.push_str(&self.binds.len().to_string());
        }
        self
    }
    /// Appends a placeholder for each of `binds`, separated by commas, and a closing
    /// parenthesis: the rest of an `IN (` list.
    pub fn list(&mut self, binds: impl IntoIterator<Item = Bind>) -> &mut Self {
        for (i, bind) in binds.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(bind);
        }
        self.push(")")
    }
    pub fn query(&self) -> Query<'static, Any, AnyArguments> {
        self.clone().into_query()
    }
    /// The query, moving the text and binds instead of copying them (for statements with
    /// thousands of binds).
    pub fn into_query(self) -> Query<'static, Any, AnyArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for b in self.binds {
            q = match b {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }
}

/// Writing statements run one after another as one unit of work. On SQLite they travel as one
/// query text: every statement sent is a trip to the connection's own thread and back, made
/// while every other writer waits for the lock, so a create of five statements is one trip
/// instead of five. Their placeholders are positional (`?`), bound in order across the
/// statements. On PostgreSQL, which has no multi-statement query with binds, each is sent on its
/// own, in order.
pub struct Script {
    dialect: Dialect,
    statements: Vec<Sql>,
    /// Kept in the statement cache: a script of one record's statements is run again and again;
    /// a bulk batch of thousands of placeholders is not.
    persistent: bool,
}

impl Script {
    pub fn new(dialect: Dialect, persistent: bool) -> Script {
        Script { dialect, statements: Vec::new(), persistent }
    }

    /// Begins the next statement with `text`; bind its values on the answer.
    pub fn statement(&mut self, text: &str) -> &mut Sql {
        self.statements.push(Sql::for_dialect(self.dialect, text));
        self.statements.last_mut().expect("just pushed")
    }

    /// Runs the statements in order; the first that fails stops the rest and is the error (the
    /// caller's transaction undoes those before it).
    pub async fn execute(self, conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => {
                let mut all = Sql::for_dialect(self.dialect, "");
                for statement in self.statements {
                    if !all.text.is_empty() {
                        all.text.push_str(";\n");
                    }
                    all.text.push_str(&statement.text);
                    all.binds.extend(statement.binds);
                }
                if !all.text.is_empty() {
                    all.into_query().persistent(self.persistent).execute(conn).await?;
                }
            }
            Dialect::Postgres => {
                for statement in self.statements {
                    statement.into_query().persistent(self.persistent).execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }
}

/// The columns of one field: one, or two for money (amount, currency).
pub fn field_columns(field: &FieldDef) -> Vec<String> {
    match field.storage() {
        Storage::Money => vec![field.column.clone(), currency_column(&field.column)],
        _ => vec![field.column.clone()],
    }
}

pub fn currency_column(amount_column: &str) -> String {
    format!("{amount_column}__cur")
}

/// The column type of a storage kind (both backends).
pub fn column_type(storage: Storage) -> &'static str {
    match storage {
        Storage::Int | Storage::Scaled | Storage::Bool | Storage::Money => "BIGINT",
        Storage::Text | Storage::Date | Storage::Datetime | Storage::List => "TEXT",
    }
}

/// The binds that store `value` in a field's column(s).
pub fn value_binds(field: &FieldDef, value: &Value) -> Vec<Bind> {
    let mut binds = Vec::with_capacity(2);
    push_value_binds(&mut binds, field, value);
    binds
}

/// Appends [`value_binds`] to `binds` (a bulk load's rows, without a vector per value).
pub fn push_value_binds(binds: &mut Vec<Bind>, field: &FieldDef, value: &Value) {
    let storage = field.storage();
    let bind = match (storage, value) {
        (Storage::Money, Value::Money(d, cur)) => {
            binds.push(Bind::Int(Some(d.units)));
            Bind::text(cur.clone())
        }
        (Storage::Money, _) => {
            binds.push(Bind::Int(None));
            Bind::Text(None)
        }
        (_, Value::Null) => null_bind(storage),
        (_, Value::Text(s)) => Bind::text(s.clone()),
        (_, Value::Int(i)) => Bind::Int(Some(*i)),
        (_, Value::Decimal(d)) => Bind::Int(Some(d.units)),
        (_, Value::Money(d, _)) => Bind::Int(Some(d.units)),
        (_, Value::Bool(b)) => Bind::Int(Some(i64::from(*b))),
        (_, Value::Date(d)) => Bind::text(format_date(*d)),
        (_, Value::Datetime(t)) => Bind::text(format_datetime(*t)),
        (_, Value::List(items)) if items.is_empty() => Bind::Text(None),
        (_, Value::List(items)) => Bind::text(serde_json::to_string(items).unwrap_or_default()),
    };
    binds.push(bind);
}

/// The bind for a filter operand compared with a field's (first) column.
pub fn operand_bind(storage: Storage, value: &Value) -> Bind {
    match value {
        Value::Null => null_bind(storage),
        Value::Text(s) => Bind::text(s.clone()),
        Value::Int(i) => Bind::Int(Some(*i)),
        Value::Decimal(d) | Value::Money(d, _) => Bind::Int(Some(d.units)),
        Value::Bool(b) => Bind::Int(Some(i64::from(*b))),
        Value::Date(d) => Bind::text(format_date(*d)),
        Value::Datetime(t) => Bind::text(format_datetime(*t)),
        Value::List(items) => Bind::text(items.first().cloned().unwrap_or_default()),
    }
}

fn null_bind(storage: Storage) -> Bind {
    match column_type(storage) {
        "BIGINT" => Bind::Int(None),
        _ => Bind::Text(None),
    }
}

/// The value a read of the column(s) written with [`value_binds`] gives back: what a reader of
/// the record will see, known without reading it.
pub(crate) fn stored_value(field: &FieldDef, value: &Value) -> Result<Value, sqlx::Error> {
    let columns: HashMap<String, usize> = field_columns(field).into_iter().enumerate().map(|(i, c)| (c, i)).collect();
    let values: Vec<Json> = value_binds(field, value)
        .into_iter()
        .map(|b| match b {
            Bind::Text(t) => t.map_or(Json::Null, Json::String),
            Bind::Int(i) => i.map_or(Json::Null, Json::from),
        })
        .collect();
    read_value_of(&RowRef::Json { columns: &columns, values: &values }, field)
}

/// Reads a field's value from a row (columns named as in [`field_columns`]).
pub fn read_value(row: &AnyRow, field: &FieldDef) -> Result<Value, sqlx::Error> {
    read_value_of(&RowRef::Db(row), field)
}

/// [`read_value`] from a row however it arrived.
pub(crate) fn read_value_of(row: &RowRef, field: &FieldDef) -> Result<Value, sqlx::Error> {
    let col = field.column.as_str();
    let scale = field.options.scale_or_default(field.field_type);
    Ok(match field.storage() {
        Storage::Text => row.text(col)?.map(Value::Text).unwrap_or(Value::Null),
        Storage::Int => row.int(col)?.map(Value::Int).unwrap_or(Value::Null),
        Storage::Bool => row.int(col)?.map(|i| Value::Bool(i != 0)).unwrap_or(Value::Null),
        Storage::Scaled => row.int(col)?.map(|units| Value::Decimal(Decimal { units, scale })).unwrap_or(Value::Null),
        Storage::Money => {
            let amount = row.int(col)?;
            let cur = row.text(&currency_column(col))?;
            match amount {
                Some(units) => Value::Money(Decimal { units, scale }, cur.unwrap_or_else(|| "IRR".into())),
                None => Value::Null,
            }
        }
        Storage::Date => row.text(col)?.and_then(|s| parse_date(&s)).map(Value::Date).unwrap_or(Value::Null),
        Storage::Datetime => {
            row.text(col)?.and_then(|s| parse_datetime(&s)).map(Value::Datetime).unwrap_or(Value::Null)
        }
        Storage::List => row
            .text(col)?
            .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
            .map(Value::List)
            .unwrap_or(Value::List(Vec::new())),
    })
}

/// Rows of one read: as the database driver returned them, or decoded from a single JSON value
/// ([`RowRef::Json`]).
pub(crate) enum Rows {
    Db(Vec<AnyRow>),
    /// Each row an array of values in the order of `columns`.
    Json {
        columns: HashMap<String, usize>,
        rows: Vec<Vec<Json>>,
    },
}

impl Rows {
    /// Runs `sql`, a query of `columns` ordered by `order_by`, on the readers. On SQLite the rows
    /// come back as one JSON value (each row an array, in groups of at most 100 columns): sqlx's
    /// SQLite driver hands each row from its worker thread to the task on its own, and a page of
    /// 50 contacts read as one value ran 2.1 times as many pages a second (BENCHMARKS.md).
    /// PostgreSQL's driver reads rows off the connection in the task, so they come as they are.
    pub async fn fetch(db: &crate::Db, sql: Sql, columns: &[String], order_by: &str) -> crate::Result<Rows> {
        if db.dialect() != Dialect::Sqlite {
            return Ok(Rows::Db(sql.into_query().fetch_all(db.pool()).await?));
        }
        let groups: Vec<String> = columns.chunks(100).map(|c| format!("json_array({})", c.join(", "))).collect();
        let mut wrapped =
            Sql::new(&format!("SELECT json_group_array(json_array({}) ORDER BY {order_by}) FROM (", groups.join(", ")));
        wrapped.push(&sql.text).push(") page");
        wrapped.binds = sql.binds;
        let text: Option<String> = wrapped.into_query().fetch_one(db.pool()).await?.try_get(0)?;
        let grouped: Vec<Vec<Vec<Json>>> = serde_json::from_str(text.as_deref().unwrap_or("[]"))
            .map_err(|e| sqlx::Error::Decode(format!("a page as JSON: {e}").into()))?;
        let rows = grouped.into_iter().map(|groups| groups.into_iter().flatten().collect()).collect();
        let columns = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        Ok(Rows::Json { columns, rows })
    }

    pub fn iter(&self) -> impl Iterator<Item = RowRef<'_>> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    pub fn len(&self) -> usize {
        match self {
            Rows::Db(rows) => rows.len(),
            Rows::Json { rows, .. } => rows.len(),
        }
    }

    pub fn get(&self, i: usize) -> Option<RowRef<'_>> {
        match self {
            Rows::Db(rows) => rows.get(i).map(RowRef::Db),
            Rows::Json { columns, rows } => rows.get(i).map(|values| RowRef::Json { columns, values }),
        }
    }
}

fn unexpected_null(col: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: col.to_string(), source: "NULL in a column that is never NULL".into() }
}

/// One row of [`Rows`], read column by column by name.
pub(crate) enum RowRef<'a> {
    Db(&'a AnyRow),
    Json { columns: &'a HashMap<String, usize>, values: &'a [Json] },
}

impl RowRef<'_> {
    fn json(&self, col: &str) -> Result<Option<&Json>, sqlx::Error> {
        match self {
            RowRef::Db(_) => Ok(None),
            RowRef::Json { columns, values } => {
                let i = columns.get(col).ok_or_else(|| sqlx::Error::ColumnNotFound(col.to_string()))?;
                Ok(values.get(*i).filter(|v| !v.is_null()))
            }
        }
    }

    /// A text column's value (a number where text was expected is read as its text).
    pub fn text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            RowRef::Db(row) => row.try_get(col),
            RowRef::Json { .. } => Ok(self.json(col)?.map(|v| match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })),
        }
    }

    /// A text column that is never NULL (`NOT NULL` in the schema).
    pub fn text_required(&self, col: &str) -> Result<String, sqlx::Error> {
        self.text(col)?.ok_or_else(|| unexpected_null(col))
    }

    /// A whole-number column that is never NULL.
    pub fn int_required(&self, col: &str) -> Result<i64, sqlx::Error> {
        self.int(col)?.ok_or_else(|| unexpected_null(col))
    }

    /// A whole-number column's value.
    pub fn int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            RowRef::Db(row) => row.try_get(col),
            RowRef::Json { .. } => match self.json(col)? {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: col.to_string(),
                    source: format!("not a whole number: {v}").into(),
                }),
            },
        }
    }
}

/// The current instant in the stored text form.
pub fn now() -> String {
    format_datetime(time::OffsetDateTime::now_utc())
}

/// `bytes` as lower-case hexadecimal digits, two a byte (tokens, list cursors, import row hashes).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A new time-ordered id (UUID v7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A boolean column value (`BIGINT` 0/1) from a row.
pub fn get_bool(row: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        sql.bind(Bind::text("x")).push(" AND b = ").bind(Bind::Int(Some(2)));
        assert_eq!(sql.text, "SELECT 1 WHERE a = $1 AND b = $2");
        assert_eq!(sql.binds.len(), 2);
    }

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn dialects_from_urls() {
        assert_eq!(Dialect::from_url("sqlite://data/peyvand.db"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("postgres://u@h/db"), Some(Dialect::Postgres));
        assert_eq!(Dialect::from_url("mysql://x"), None);
    }
}
