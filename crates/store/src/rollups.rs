//! Rollups: aggregates kept up to date as records change, so a dashboard reads a few hundred
//! rows instead of every record (grouping ten million activities by kind and month read the
//! whole table, 9 s on SQLite).
//!
//! An admin declares a rollup for an object with the aggregate's text form (`group`, `sum`; see
//! `peyvand_records::aggregate`). The store makes a table `rollup_<id>` with one row per group
//! (`k`, the group's key as text; `v0…`, the group values; `n`, live records; `s0…`, the sums;
//! `c0…`, how many of the summed values were not empty) and triggers on the object's table that
//! add each inserted, changed, trashed, restored or deleted record's contribution (+1 / −1) in
//! the same transaction as the change, whatever path wrote it (the API, imports, generated data,
//! restores). Declaring fills the table from the records once.
//!
//! On SQLite the triggers add into the group's row (`ON CONFLICT (k) DO UPDATE`): writes take
//! turns there anyway. On PostgreSQL concurrent writers would queue on a busy group's row until
//! each commits, and two changes moving records between the same groups in opposite directions
//! could deadlock; so there the triggers append one row per change, and [`Db::compact_rollups`]
//! (every few seconds in the server) folds a group's rows into one. Readers sum whatever rows a
//! group has, so they are right before and after folding.
//!
//! [`Db::aggregate`](crate::Db::aggregate) answers an aggregate from a rollup that covers it:
//! every group field is a group of the rollup, cut to the same or a finer date bucket (months
//! from days, years from months; weeks, quarters and Jalali periods from days, at breakpoints),
//! every summed field (or `sum:` measure) is summed there, and the filter is conditions on the
//! rollup's whole keys (`eq`, `ne`, `in`, `is_empty`) or on its days (from a day, before a day).
//! A datetime's day is the business's (its offset from UTC when the rollup was declared is kept
//! with the key; under another offset the rollup answers nothing about that field's dates).
//!
//! **Invariant:** a rollup reads columns, not fields: it stays right however fields change, and
//! is dropped with the field when a field is removed or its values move to a new column.

use crate::aggregate::cut;
use crate::catalog::Catalog;
use crate::schema::exec;
use crate::sql::{Dialect, currency_column, new_id, now};
use crate::{Db, Error, Result, WriteTx};
use peyvand_records::FieldType;
use peyvand_records::aggregate::{AggregateSpec, Bucket, MeasureKind};
use peyvand_records::filter::{Condition, Filter, Op, Operand};
use peyvand_records::value::Value;
use peyvand_records::{FieldError, ObjectDef, Storage};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::Arc;

/// Most rollups one object may have: each adds work to every change of its records.
pub const MAX_PER_OBJECT: usize = 10;
/// Most groups a rollup may have when declared, unless it has at most a tenth as many groups as
/// its object has records: one with more (grouping by e-mail, say) is nearly as large as its
/// table and no faster to read.
pub const MAX_GROUPS: i64 = 100_000;

/// One grouping column of a rollup: a field's column, or the currency column of a summed money
/// field, with the bucket a date is cut to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupKey {
    pub column: String,
    pub bucket: Option<Bucket>,
    /// Whether the values are numbers (integers, yes/no) rather than text.
    pub int: bool,
    /// For a datetime cut to a date bucket: the offset from UTC, in seconds, of the days kept
    /// (the business's when declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<i32>,
    /// For a related record's field (`product.category`): the relation and the related table;
    /// `column` is then the related table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<RollupVia>,
}

/// The relation a key is read through: its column on the object and the related table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupVia {
    pub relation: String,
    pub table: String,
}

/// The columns a rollup reads: what its triggers watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RollupColumns {
    /// The group fields in order, then the currency column of each summed money field.
    pub keys: Vec<RollupKey>,
    /// The summed columns.
    pub sums: Vec<String>,
}

impl RollupColumns {
    /// The columns of a rollup of `spec`, a datetime's days at `offset` seconds from UTC.
    pub fn of(spec: &AggregateSpec, offset: i32) -> RollupColumns {
        let mut keys: Vec<RollupKey> = spec
            .group_by
            .iter()
            .map(|g| RollupKey {
                column: g.field.column.clone(),
                bucket: g.bucket,
                int: g.bucket.is_none() && matches!(g.field.storage, Storage::Int | Storage::Bool),
                local: (g.bucket.is_some() && g.field.field_type == FieldType::Datetime).then_some(offset),
                via: g.via.as_ref().map(|v| RollupVia { relation: v.relation.column.clone(), table: v.table.clone() }),
            })
            .collect();
        for f in spec.sum.iter().filter(|f| f.storage == Storage::Money) {
            keys.push(RollupKey {
                column: currency_column(&f.column),
                bucket: None,
                int: false,
                local: None,
                via: None,
            });
        }
        RollupColumns { keys, sums: spec.sum.iter().map(|f| f.column.clone()).collect() }
    }

    /// Whether key `k` holds `field`'s dates as the store cuts them now (`offset`): a
    /// datetime's days at the business's offset; an older rollup's cut in UTC answers no dates.
    fn dates_hold(k: &RollupKey, field_type: FieldType, offset: i32) -> bool {
        field_type != FieldType::Datetime || k.local == Some(offset)
    }

    /// How `spec` is read from a rollup of these columns, if it can be (datetimes' days at
    /// `offset` seconds from UTC).
    pub fn plan(&self, spec: &AggregateSpec, offset: i32) -> Option<Plan> {
        if spec.measures.iter().any(|m| m.kind != MeasureKind::Sum) {
            return None;
        }
        let mut keys = Vec::new();
        for g in &spec.group_by {
            let via = g.via.as_ref().map(|v| RollupVia { relation: v.relation.column.clone(), table: v.table.clone() });
            let found = self.keys.iter().enumerate().find_map(|(i, k)| {
                if k.column != g.field.column || k.via != via {
                    return None;
                }
                match (k.bucket, g.bucket) {
                    (None, None) => Some((i, KeyCut::Whole)),
                    (Some(have), Some(want)) if Self::dates_hold(k, g.field.field_type, offset) => {
                        match want.prefix_in(spec.calendar) {
                            Some(n) if have.prefix_len() == Some(n) => Some((i, KeyCut::Whole)),
                            Some(n) if have.prefix_len() > Some(n) => Some((i, KeyCut::Prefix(want))),
                            None if have == Bucket::Day => Some((i, KeyCut::Breaks(want))),
                            _ => None,
                        }
                    }
                    _ => None,
                }
            })?;
            keys.push(found);
        }
        let currencies = crate::aggregate::money_fields(spec)
            .into_iter()
            .map(|f| {
                let cur = currency_column(&f.column);
                self.keys.iter().position(|k| k.column == cur && k.bucket.is_none())
            })
            .collect::<Option<_>>()?;
        let sum_of = |column: &str| self.sums.iter().position(|s| s == column);
        let sums = spec.sum.iter().map(|f| sum_of(&f.column)).collect::<Option<_>>()?;
        let measures = spec.measures.iter().map(|m| sum_of(&m.field.column)).collect::<Option<_>>()?;
        Some(Plan { keys, currencies, sums, measures })
    }

    /// The conditions of `filter` as conditions on this rollup's keys, if each is one it can
    /// answer: a filter that is one condition or conditions all required (`and`), each `eq`,
    /// `ne`, `in` or `is_empty` on a field the rollup groups by whole, or a range on a field it
    /// keeps by day whose bounds are days (a datetime's at the business's midnight, `offset`
    /// seconds from UTC: `gte` and `lt`). A rep's pipeline (owner = me, per stage) is read from
    /// a rollup per owner and stage; a rep's paid orders of a quarter from one per owner,
    /// status and day.
    pub fn filter_keys<'f>(&self, filter: &'f Filter, offset: i32) -> Option<KeyConditions<'f>> {
        let conditions: Vec<&Condition> = match filter {
            Filter::Cond(c) => vec![c],
            Filter::And(children) => {
                children.iter().map(|f| if let Filter::Cond(c) = f { Some(c) } else { None }).collect::<Option<_>>()?
            }
            Filter::Or(_) => return None,
        };
        let mut out = Vec::with_capacity(conditions.len());
        for c in conditions {
            let whole =
                self.keys.iter().position(|k| k.column == c.field.column && k.bucket.is_none() && k.via.is_none());
            let answerable = matches!(c.op, Op::Eq | Op::Ne | Op::In | Op::IsEmpty) && c.field.storage != Storage::List;
            if let (Some(key), true) = (whole, answerable) {
                out.push((key, KeyCondition::Whole(c)));
                continue;
            }
            let key = self.keys.iter().position(|k| {
                k.column == c.field.column
                    && k.via.is_none()
                    && k.bucket == Some(Bucket::Day)
                    && Self::dates_hold(k, c.field.field_type, offset)
            })?;
            out.extend(day_conditions(c, offset)?.into_iter().map(|d| (key, d)));
        }
        Some(out)
    }

    /// Every column of the object the rollup reads, once each (a related record's key: its
    /// relation).
    fn watched(&self) -> Vec<&str> {
        let mut cols: Vec<&str> = Vec::new();
        fn own(k: &RollupKey) -> &str {
            k.via.as_ref().map_or(k.column.as_str(), |v| v.relation.as_str())
        }
        for c in self.keys.iter().map(own).chain(self.sums.iter().map(String::as_str)) {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
        cols
    }

    fn reads(&self, column: &str) -> bool {
        self.watched().contains(&column)
    }

    /// Whether it reads `column` of the related table `table`.
    fn reads_related(&self, table: &str, column: &str) -> bool {
        self.keys.iter().any(|k| k.column == column && k.via.as_ref().is_some_and(|v| v.table == table))
    }

    /// The relations its keys are read through, once each.
    fn vias(&self) -> Vec<&RollupVia> {
        let mut out: Vec<&RollupVia> = Vec::new();
        for v in self.keys.iter().filter_map(|k| k.via.as_ref()) {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

/// A filter's conditions, each with the rollup key it is on.
pub type KeyConditions<'f> = Vec<(usize, KeyCondition<'f>)>;

/// A condition on a rollup's key: the filter's own on a whole key, or a bound on a key of days
/// (`YYYY-MM-DD`, compared as text).
#[derive(Clone, Debug, PartialEq)]
pub enum KeyCondition<'f> {
    Whole(&'f Condition),
    Day(&'static str, String),
}

/// A date or datetime condition as bounds on days, if its bounds are days: a date's any range;
/// a datetime's from or before the business's midnight (`offset` seconds from UTC).
fn day_conditions(c: &Condition, offset: i32) -> Option<Vec<KeyCondition<'static>>> {
    let day = |v: &Value| -> Option<String> {
        match v {
            Value::Date(d) => Some(peyvand_records::value::format_date(*d)),
            Value::Datetime(t) => {
                let local = t.to_offset(time::UtcOffset::from_whole_seconds(offset).ok()?);
                (local.time() == time::Time::MIDNIGHT).then(|| peyvand_records::value::format_date(local.date()))
            }
            _ => None,
        }
    };
    let date = c.field.field_type == FieldType::Date;
    Some(match (&c.operand, c.op) {
        (Operand::One(v), Op::Gte) => vec![KeyCondition::Day(">=", day(v)?)],
        (Operand::One(v), Op::Lt) => vec![KeyCondition::Day("<", day(v)?)],
        (Operand::One(v), Op::Gt) if date => vec![KeyCondition::Day(">", day(v)?)],
        (Operand::One(v), Op::Lte) if date => vec![KeyCondition::Day("<=", day(v)?)],
        (Operand::Two(a, b), Op::Between) if date => {
            vec![KeyCondition::Day(">=", day(a)?), KeyCondition::Day("<=", day(b)?)]
        }
        _ => return None,
    })
}

/// How a group key is read from the rollup's key: as kept, cut to a coarser bucket's prefix
/// (months from days), or cut at breakpoints from days (weeks, quarters, Jalali periods).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCut {
    Whole,
    Prefix(Bucket),
    Breaks(Bucket),
}

/// How an aggregate is read from a rollup: for each of its group fields the rollup's key and
/// how it is cut; for each money field summed or measured, the key of its currency; for each
/// of its sums and its (`sum:`) measures, the rollup's sum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub keys: Vec<(usize, KeyCut)>,
    pub currencies: Vec<usize>,
    pub sums: Vec<usize>,
    pub measures: Vec<usize>,
}

/// A declared rollup.
#[derive(Clone, Debug, Serialize)]
pub struct Rollup {
    pub id: String,
    pub object: String,
    /// The aggregate's text form as declared (`group=…`, `sum=…`).
    pub group: String,
    pub sum: String,
    pub created_at: String,
    #[serde(skip)]
    pub table: String,
    #[serde(skip)]
    pub columns: RollupColumns,
}

pub(crate) fn from_row(row: &AnyRow) -> Result<Rollup> {
    let definition: String = row.try_get("definition")?;
    let table: String = row.try_get("table_name")?;
    if !table.starts_with("rollup_") || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Corrupt(format!("rollup table {table}")));
    }
    Ok(Rollup {
        id: row.try_get("id")?,
        object: row.try_get("object")?,
        group: row.try_get("group_by")?,
        sum: row.try_get("sums")?,
        created_at: row.try_get("created_at")?,
        table,
        columns: serde_json::from_str(&definition).map_err(|e| Error::Corrupt(format!("rollup definition: {e}")))?,
    })
}

/// The query that loads every rollup for the catalog.
pub(crate) const LOAD: &str = "SELECT r.id, o.api_name AS object, r.group_by, r.sums, r.definition, r.table_name, \
     r.created_at FROM meta_rollups r JOIN meta_objects o ON o.id = r.object_id ORDER BY r.created_at, r.id";

impl Catalog {
    /// The rollups of `object`.
    pub fn rollups_of(&self, object: &str) -> impl Iterator<Item = &Arc<Rollup>> {
        self.rollups.iter().filter(move |r| r.object == object)
    }

    /// The smallest rollup of `object` that answers `spec`, and how.
    pub(crate) fn rollup_for(&self, object: &str, spec: &AggregateSpec, offset: i32) -> Option<(Arc<Rollup>, Plan)> {
        self.rollups_of(object)
            .filter_map(|r| r.columns.plan(spec, offset).map(|p| (r.clone(), p)))
            .min_by_key(|(r, _)| r.columns.keys.len())
    }

    /// The smallest rollup of `object` that answers `spec` over the records `filter` selects,
    /// how, and the filter's conditions on its keys (see [`RollupColumns::filter_keys`]).
    pub(crate) fn rollup_for_filtered<'f>(
        &self,
        object: &str,
        spec: &AggregateSpec,
        filter: &'f Filter,
        offset: i32,
    ) -> Option<(Arc<Rollup>, Plan, KeyConditions<'f>)> {
        self.rollups_of(object)
            .filter_map(|r| Some((r.clone(), r.columns.plan(spec, offset)?, r.columns.filter_keys(filter, offset)?)))
            .min_by_key(|(r, _, _)| r.columns.keys.len())
    }
}

/// Appends ` AND` the condition `c` on the rollup's key `key` (one that
/// [`RollupColumns::filter_keys`] accepted), as the records' filter reads it.
pub(crate) fn key_condition_sql(sql: &mut crate::sql::Sql, key: usize, c: &KeyCondition<'_>) {
    let column = format!("v{key}");
    let c = match c {
        KeyCondition::Whole(c) => c,
        KeyCondition::Day(op, day) => {
            sql.push(&format!(" AND {column} {op} ")).bind(crate::sql::Bind::text(day.clone()));
            return;
        }
    };
    let storage = c.field.storage;
    sql.push(" AND ");
    if let (Op::Ne, Operand::One(v)) = (c.op, &c.operand) {
        sql.push(&format!("({column} IS NULL OR {column} <> ")).bind(crate::sql::operand_bind(storage, v)).push(")");
        return;
    }
    sql.push(&column);
    match &c.operand {
        Operand::Flag(true) => {
            sql.push(" IS NULL");
        }
        Operand::Flag(false) => {
            sql.push(" IS NOT NULL");
        }
        Operand::One(v) => {
            sql.push(" = ").bind(crate::sql::operand_bind(storage, v));
        }
        Operand::Many(vs) => {
            sql.push(" IN (");
            sql.list(vs.iter().map(|v| crate::sql::operand_bind(storage, v)));
        }
        // filter_keys accepts nothing else.
        Operand::Two(..) | Operand::Pattern(_) => {
            sql.push(" IS NULL AND 1 = 0");
        }
    }
}

/// The text key of a group from its values: each value's length, a colon and the value, or `-`
/// for an empty one, so no two groups share a key.
fn key_expr(values: &[String]) -> String {
    if values.is_empty() {
        return "''".into();
    }
    values
        .iter()
        .map(|v| format!("COALESCE(CAST(LENGTH(CAST({v} AS TEXT)) AS TEXT) || ':' || CAST({v} AS TEXT), '-')"))
        .collect::<Vec<_>>()
        .join(" || ',' || ")
}

fn column_list(c: &RollupColumns) -> String {
    let mut cols = vec!["k".to_string()];
    cols.extend((0..c.keys.len()).map(|i| format!("v{i}")));
    cols.push("n".into());
    for j in 0..c.sums.len() {
        cols.push(format!("s{j}"));
        cols.push(format!("c{j}"));
    }
    cols.join(", ")
}

/// A key's value of the record `row` (`NEW`, `OLD` or a table's name): a related record's
/// field is read from it while it is live.
fn key_value(dialect: Dialect, k: &RollupKey, row: &str) -> String {
    match &k.via {
        Some(v) => format!(
            "(SELECT j.{} FROM {} j WHERE j.id = {row}.{} AND j.deleted_at IS NULL)",
            k.column, v.table, v.relation
        ),
        None => cut(dialect, &format!("{row}.{}", k.column), k.bucket, k.local),
    }
}

/// `SELECT` of the contributions of the object's live records related to the related record
/// `OLD` through `via`, its keys read from `row` (`OLD`, `NEW`, or none: empty, as after a
/// related record is deleted) with `sign`: a related record's change moves its records.
fn moved(dialect: Dialect, c: &RollupColumns, table: &str, via: &RollupVia, row: Option<&str>, sign: &str) -> String {
    let values: Vec<String> = c
        .keys
        .iter()
        .map(|k| match (&k.via, row) {
            (Some(v), Some(row)) if v == via => {
                format!("CASE WHEN {row}.deleted_at IS NULL THEN {row}.{} END", k.column)
            }
            (Some(v), None) if v == via => "NULL".to_string(),
            _ => key_value(dialect, k, "l"),
        })
        .collect();
    let mut select = vec![key_expr(&values)];
    select.extend(values);
    select.push(format!("{sign}1"));
    for s in &c.sums {
        select.push(format!("{sign}COALESCE(l.{s}, 0)"));
        select.push(format!("{sign}(CASE WHEN l.{s} IS NULL THEN 0 ELSE 1 END)"));
    }
    format!("SELECT {} FROM {table} l WHERE l.{} = OLD.id AND l.deleted_at IS NULL", select.join(", "), via.relation)
}

/// `SELECT` of one record's contribution (`row` is `NEW` or `OLD`, `sign` `""` or `"-"`), when
/// the record is live; `from` names a table `row` is read from, if any.
fn contribution(dialect: Dialect, c: &RollupColumns, row: &str, sign: &str, from: &str) -> String {
    let values: Vec<String> = c.keys.iter().map(|k| key_value(dialect, k, row)).collect();
    let mut select = vec![key_expr(&values)];
    select.extend(values);
    select.push(format!("{sign}1"));
    for s in &c.sums {
        select.push(format!("{sign}COALESCE({row}.{s}, 0)"));
        select.push(format!("{sign}(CASE WHEN {row}.{s} IS NULL THEN 0 ELSE 1 END)"));
    }
    format!("SELECT {}{from} WHERE {row}.deleted_at IS NULL", select.join(", "))
}

/// SQLite's `ON CONFLICT` clause that adds a contribution into its group's row.
fn add_into_group(c: &RollupColumns) -> String {
    let mut add = vec!["n = n + excluded.n".to_string()];
    for j in 0..c.sums.len() {
        add.push(format!("s{j} = s{j} + excluded.s{j}"));
        add.push(format!("c{j} = c{j} + excluded.c{j}"));
    }
    format!("ON CONFLICT (k) DO UPDATE SET {}", add.join(", "))
}

/// The statements that make a rollup's table and triggers (not its rows).
fn create_statements(dialect: Dialect, obj: &ObjectDef, r: &Rollup) -> Vec<String> {
    let c = &r.columns;
    let t = &r.table;
    let mut defs = vec![match dialect {
        Dialect::Sqlite => "k TEXT PRIMARY KEY".to_string(),
        Dialect::Postgres => "k TEXT NOT NULL".to_string(),
    }];
    for (i, k) in c.keys.iter().enumerate() {
        defs.push(format!("v{i} {}", if k.int { "BIGINT" } else { "TEXT" }));
    }
    defs.push("n BIGINT NOT NULL".into());
    for j in 0..c.sums.len() {
        defs.push(format!("s{j} BIGINT NOT NULL"));
        defs.push(format!("c{j} BIGINT NOT NULL"));
    }
    let mut out = vec![format!("CREATE TABLE {t} ({})", defs.join(", "))];
    let list = column_list(c);
    let mut watched = c.watched();
    if !watched.contains(&"deleted_at") {
        watched.push("deleted_at");
    }
    let update_of = watched.join(", ");
    // An update the rollup sees: one of its columns changed (`IS NOT`/`IS DISTINCT FROM`, as
    // each dialect says "not equal, NULLs equal").
    let changed = |differs: &str| {
        watched.iter().map(|col| format!("OLD.{col} {differs} NEW.{col}")).collect::<Vec<_>>().join(" OR ")
    };
    let table = &obj.table;
    match dialect {
        Dialect::Sqlite => {
            let upsert = |row: &str, sign: &str| {
                format!("INSERT INTO {t} ({list}) {} {};", contribution(dialect, c, row, sign, ""), add_into_group(c))
            };
            let changed = changed("IS NOT");
            out.push(format!("CREATE TRIGGER {t}_ins AFTER INSERT ON {table} BEGIN {} END", upsert("NEW", "")));
            out.push(format!("CREATE TRIGGER {t}_del AFTER DELETE ON {table} BEGIN {} END", upsert("OLD", "-")));
            out.push(format!(
                "CREATE TRIGGER {t}_upd AFTER UPDATE OF {update_of} ON {table} WHEN {changed} BEGIN {} {} END",
                upsert("OLD", "-"),
                upsert("NEW", "")
            ));
        }
        Dialect::Postgres => {
            let changed = changed("IS DISTINCT FROM");
            out.push(format!(
                "CREATE FUNCTION {t}_fn() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN \
                 IF TG_OP <> 'INSERT' THEN INSERT INTO {t} ({list}) {}; END IF; \
                 IF TG_OP <> 'DELETE' THEN INSERT INTO {t} ({list}) {}; END IF; \
                 RETURN NULL; END $body$",
                contribution(dialect, c, "OLD", "-", ""),
                contribution(dialect, c, "NEW", "", "")
            ));
            out.push(format!(
                "CREATE TRIGGER {t}_ins_del AFTER INSERT OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {t}_fn()"
            ));
            out.push(format!(
                "CREATE TRIGGER {t}_upd AFTER UPDATE OF {update_of} ON {table} FOR EACH ROW WHEN ({changed}) \
                 EXECUTE FUNCTION {t}_fn()"
            ));
        }
    }
    // A related record's field changed, or the record trashed, restored or deleted: its
    // records move between groups.
    for (n, via) in c.vias().into_iter().enumerate() {
        let mut read: Vec<&str> =
            c.keys.iter().filter(|k| k.via.as_ref() == Some(via)).map(|k| k.column.as_str()).collect();
        read.push("deleted_at");
        read.dedup();
        let related = &via.table;
        let name = format!("{t}_r{n}");
        let upsert = |row: Option<&str>, sign: &str| match dialect {
            Dialect::Sqlite => {
                format!("INSERT INTO {t} ({list}) {} {};", moved(dialect, c, table, via, row, sign), add_into_group(c))
            }
            Dialect::Postgres => format!("INSERT INTO {t} ({list}) {};", moved(dialect, c, table, via, row, sign)),
        };
        let differs = if dialect == Dialect::Sqlite { "IS NOT" } else { "IS DISTINCT FROM" };
        let changed = read.iter().map(|col| format!("OLD.{col} {differs} NEW.{col}")).collect::<Vec<_>>().join(" OR ");
        let update_of = read.join(", ");
        match dialect {
            Dialect::Sqlite => {
                out.push(format!(
                    "CREATE TRIGGER {name}_upd AFTER UPDATE OF {update_of} ON {related} WHEN {changed} BEGIN {} {} END",
                    upsert(Some("OLD"), "-"),
                    upsert(Some("NEW"), "")
                ));
                out.push(format!(
                    "CREATE TRIGGER {name}_del AFTER DELETE ON {related} BEGIN {} {} END",
                    upsert(Some("OLD"), "-"),
                    upsert(None, "")
                ));
            }
            Dialect::Postgres => {
                out.push(format!(
                    "CREATE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN {} \
                     IF TG_OP = 'UPDATE' THEN {} ELSE {} END IF; RETURN NULL; END $body$",
                    upsert(Some("OLD"), "-"),
                    upsert(Some("NEW"), ""),
                    upsert(None, "")
                ));
                out.push(format!(
                    "CREATE TRIGGER {name}_upd AFTER UPDATE OF {update_of} ON {related} FOR EACH ROW WHEN ({changed}) \
                     EXECUTE FUNCTION {name}_fn()"
                ));
                out.push(format!(
                    "CREATE TRIGGER {name}_del AFTER DELETE ON {related} FOR EACH ROW EXECUTE FUNCTION {name}_fn()"
                ));
            }
        }
    }
    out
}

fn drop_statements(dialect: Dialect, obj_table: &str, r: &Rollup) -> Vec<String> {
    let t = &r.table;
    let mut related = Vec::new();
    for (n, via) in r.columns.vias().into_iter().enumerate() {
        let name = format!("{t}_r{n}");
        for kind in ["upd", "del"] {
            related.push(match dialect {
                Dialect::Sqlite => format!("DROP TRIGGER IF EXISTS {name}_{kind}"),
                Dialect::Postgres => format!("DROP TRIGGER IF EXISTS {name}_{kind} ON {}", via.table),
            });
        }
        if dialect == Dialect::Postgres {
            related.push(format!("DROP FUNCTION IF EXISTS {name}_fn()"));
        }
    }
    related.extend(match dialect {
        Dialect::Sqlite => vec![
            format!("DROP TRIGGER IF EXISTS {t}_ins"),
            format!("DROP TRIGGER IF EXISTS {t}_del"),
            format!("DROP TRIGGER IF EXISTS {t}_upd"),
            format!("DROP TABLE IF EXISTS {t}"),
        ],
        Dialect::Postgres => vec![
            format!("DROP TRIGGER IF EXISTS {t}_ins_del ON {obj_table}"),
            format!("DROP TRIGGER IF EXISTS {t}_upd ON {obj_table}"),
            format!("DROP FUNCTION IF EXISTS {t}_fn()"),
            format!("DROP TABLE IF EXISTS {t}"),
        ],
    });
    related
}

/// The statement that fills a new rollup from the live records. SQLite adds each record into its
/// group's row as the triggers do: grouping sorts every row first, and the writer keeps its
/// temporary data in memory (the activities' rollup, ten million rows, took the server to 845
/// MiB). PostgreSQL groups by hashing, in its own memory.
fn fill_statement(dialect: Dialect, obj: &ObjectDef, r: &Rollup) -> String {
    let c = &r.columns;
    if dialect == Dialect::Sqlite {
        let from = format!(" FROM {}{}", obj.table, dialect.whole_table());
        return format!(
            "INSERT INTO {} ({}) {} {}",
            r.table,
            column_list(c),
            contribution(dialect, c, &obj.table, "", &from),
            add_into_group(c)
        );
    }
    // Each record's keys first, then its groups (a related record's field is a subquery).
    let mut each: Vec<String> =
        c.keys.iter().enumerate().map(|(i, k)| format!("{} AS v{i}", key_value(dialect, k, &obj.table))).collect();
    each.extend(c.sums.iter().enumerate().map(|(j, s)| format!("{}.{s} AS x{j}", obj.table)));
    if each.is_empty() {
        each.push("1 AS one".into());
    }
    let exprs: Vec<String> = (0..c.keys.len()).map(|i| format!("e.v{i}")).collect();
    let mut inner: Vec<String> = exprs.iter().enumerate().map(|(i, e)| format!("{e} AS v{i}")).collect();
    inner.push("COUNT(*) AS n".into());
    for j in 0..c.sums.len() {
        inner.push(format!("CAST(COALESCE(SUM(e.x{j}), 0) AS BIGINT) AS s{j}"));
        inner.push(format!("CAST(COUNT(e.x{j}) AS BIGINT) AS c{j}"));
    }
    let group = if exprs.is_empty() { String::new() } else { format!(" GROUP BY {}", exprs.join(", ")) };
    let grouped: Vec<String> = (0..c.keys.len()).map(|i| format!("q.v{i}")).collect();
    let mut outer = vec![key_expr(&grouped)];
    outer.extend(grouped);
    outer.push("q.n".into());
    for j in 0..c.sums.len() {
        outer.push(format!("q.s{j}"));
        outer.push(format!("q.c{j}"));
    }
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM (SELECT {} FROM (SELECT {} FROM {} WHERE {}.deleted_at IS NULL) e{group}) q",
        r.table,
        column_list(c),
        outer.join(", "),
        inner.join(", "),
        each.join(", "),
        obj.table,
        obj.table,
    )
}

/// Makes a rollup's table and triggers and fills it, inside `tx` (which holds the object's table
/// against writes until it commits, so no change falls between the filling and the triggers).
/// Returns how many groups it has.
pub(crate) async fn build_in(tx: &mut WriteTx, dialect: Dialect, obj: &ObjectDef, r: &Rollup) -> Result<i64> {
    for statement in create_statements(dialect, obj, r) {
        exec(tx, &statement).await?;
    }
    exec(tx, &fill_statement(dialect, obj, r)).await?;
    let groups: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", r.table)))
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
    Ok(groups)
}

/// Drops, inside `tx`, every rollup of `obj` that reads `column` (a field removed, or its values
/// moved to a new column).
pub(crate) async fn drop_reading(
    tx: &mut WriteTx,
    dialect: Dialect,
    catalog: &Catalog,
    obj: &ObjectDef,
    columns: &[String],
) -> Result<()> {
    for r in catalog.rollups_of(&obj.api_name).filter(|r| columns.iter().any(|c| r.columns.reads(c))) {
        drop_in(tx, dialect, obj, r).await?;
        tracing::info!(rollup = %r.id, object = %obj.api_name, "dropped a rollup with its field");
    }
    // Rollups of other objects that read the field through a relation.
    for r in catalog.rollups.iter().filter(|r| columns.iter().any(|c| r.columns.reads_related(&obj.table, c))) {
        let Some(owner) = catalog.object(&r.object) else { continue };
        drop_in(tx, dialect, &owner, r).await?;
        tracing::info!(rollup = %r.id, object = %r.object, "dropped a rollup with a related field");
    }
    Ok(())
}

async fn drop_in(tx: &mut WriteTx, dialect: Dialect, obj: &ObjectDef, r: &Rollup) -> Result<()> {
    for statement in drop_statements(dialect, &obj.table, r) {
        exec(tx, &statement).await?;
    }
    sqlx::query("DELETE FROM meta_rollups WHERE id = $1").bind(r.id.clone()).execute(&mut *tx.tx).await?;
    Ok(())
}

impl Db {
    /// Declares a rollup of `object` for the aggregate `group` / `sum` (text form), filling it
    /// from the records. Declaring one the object already has returns that one; the flag says
    /// whether it was made now.
    pub async fn create_rollup(
        &self,
        actor: Option<&str>,
        object: &str,
        group: &str,
        sum: &str,
    ) -> Result<(Arc<Rollup>, bool)> {
        let catalog = self.reload_catalog().await?;
        let obj = catalog.object(object).ok_or_else(|| Error::NotFound(format!("object {object}")))?;
        let lookup = |name: &str| catalog.object(name);
        let spec = peyvand_records::aggregate::parse_aggregate_in(&obj, group, sum, &lookup).map_err(Error::invalid)?;
        // One relation to each related table: a change there moves the records of one.
        let mut through: Vec<(&str, &str)> = Vec::new();
        for v in spec.group_by.iter().filter_map(|g| g.via.as_ref()) {
            if through.iter().any(|(t, r)| *t == v.table && *r != v.relation.column) {
                return Err(Error::invalid(FieldError::new("group", "not_groupable")));
            }
            through.push((&v.table, &v.relation.column));
        }
        if !spec.declarable() {
            // Weeks and quarters are cut at breakpoints from days when asked, not kept.
            return Err(Error::invalid(FieldError::new("group", "invalid_bucket")));
        }
        let columns = RollupColumns::of(&spec, self.local_offset().whole_seconds());
        if let Some(same) = catalog.rollups_of(object).find(|r| r.columns == columns) {
            return Ok((same.clone(), false));
        }
        if catalog.rollups_of(object).count() >= MAX_PER_OBJECT {
            return Err(Error::Conflict {
                code: "too_many_rollups",
                details: vec![FieldError::with(
                    "group",
                    "too_many_rollups",
                    serde_json::json!({ "max": MAX_PER_OBJECT }),
                )],
            });
        }
        let id = new_id();
        let rollup = Rollup {
            table: format!("rollup_{}", id.replace('-', "")),
            id,
            object: object.to_string(),
            group: group.trim().to_string(),
            sum: sum.trim().to_string(),
            created_at: now(),
            columns,
        };
        let definition = serde_json::to_string(&rollup.columns).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut tx = self.write_long().await?;
        sqlx::query(
            "INSERT INTO meta_rollups (id, object_id, group_by, sums, definition, table_name, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(rollup.id.clone())
        .bind(obj.id.clone())
        .bind(rollup.group.clone())
        .bind(rollup.sum.clone())
        .bind(definition)
        .bind(rollup.table.clone())
        .bind(rollup.created_at.clone())
        .bind(actor.map(str::to_string))
        .execute(&mut *tx.tx)
        .await?;
        let groups = build_in(&mut tx, self.dialect(), &obj, &rollup).await?;
        // A rollup a tenth of its records or smaller still reads ten times faster than they do.
        let records: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", obj.table)))
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?;
        if groups > MAX_GROUPS && groups > records / 10 {
            return Err(Error::Conflict {
                code: "too_many_groups",
                details: vec![FieldError::with("group", "too_many_groups", serde_json::json!({ "max": MAX_GROUPS }))],
            });
        }
        crate::schema::bump_version(&mut tx).await?;
        tx.commit().await?;
        tracing::info!(object, group, sum, groups, actor, "declared a rollup");
        let catalog = self.reload_catalog().await?;
        let made = catalog.rollups.iter().find(|r| r.id == rollup.id).cloned();
        Ok((made.ok_or_else(|| Error::NotFound(format!("rollup {}", rollup.id)))?, true))
    }

    /// Removes a rollup of `object`; its aggregate is computed from the records again.
    pub async fn delete_rollup(&self, actor: Option<&str>, object: &str, id: &str) -> Result<()> {
        let catalog = self.reload_catalog().await?;
        let obj = catalog.object(object).ok_or_else(|| Error::NotFound(format!("object {object}")))?;
        let rollup =
            catalog.rollups_of(object).find(|r| r.id == id).ok_or_else(|| Error::NotFound(format!("rollup {id}")))?;
        let mut tx = self.write_long().await?;
        drop_in(&mut tx, self.dialect(), &obj, rollup).await?;
        crate::schema::bump_version(&mut tx).await?;
        tx.commit().await?;
        tracing::info!(object, rollup = id, actor, "removed a rollup");
        self.reload_catalog().await?;
        Ok(())
    }

    /// Folds each group's rows of every rollup into one and drops groups left without records
    /// (PostgreSQL's triggers append a row per change; SQLite's add in place, so there only the
    /// empty groups go). Safe beside writers and other instances doing the same: each folds the
    /// rows it saw, and rows written meanwhile wait for the next time. Returns the rows it
    /// deleted (folded into one, or of a group without records): none when nothing changed.
    pub async fn compact_rollups(&self) -> Result<u64> {
        let catalog = self.catalog().await?;
        let mut removed = 0;
        for r in &catalog.rollups {
            let t = &r.table;
            let done = match self.dialect() {
                Dialect::Sqlite => {
                    // Most of the time there is nothing to drop: ask a reader before the writer.
                    let empty = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT 1 FROM {t} WHERE n = 0 LIMIT 1")))
                        .fetch_optional(self.pool())
                        .await?;
                    if empty.is_none() {
                        continue;
                    }
                    let mut tx = self.write_long().await?;
                    let gone = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {t} WHERE n = 0")))
                        .execute(&mut *tx.tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    gone
                }
                Dialect::Postgres => {
                    let c = &r.columns;
                    let mut folded = vec!["k".to_string()];
                    folded.extend((0..c.keys.len()).map(|i| format!("MIN(v{i})")));
                    folded.push("CAST(SUM(n) AS BIGINT)".into());
                    for j in 0..c.sums.len() {
                        folded.push(format!("CAST(SUM(s{j}) AS BIGINT)"));
                        folded.push(format!("CAST(SUM(c{j}) AS BIGINT)"));
                    }
                    let sql = format!(
                        // Only groups with rows to fold or without records are rewritten: a
                        // rollup nobody changed is left alone (each rewrite leaves dead rows
                        // for the vacuum).
                        "WITH folding AS (SELECT k FROM {t} GROUP BY k HAVING COUNT(*) > 1 OR SUM(n) = 0), \
                         gone AS (DELETE FROM {t} WHERE k IN (SELECT k FROM folding) RETURNING *), \
                         kept AS (INSERT INTO {t} ({}) SELECT {} FROM gone GROUP BY k HAVING SUM(n) <> 0 RETURNING 1) \
                         SELECT COUNT(*) FROM gone",
                        column_list(c),
                        folded.join(", ")
                    );
                    // (PostgreSQL runs a writing WITH to its end whether or not anything reads it.)
                    let gone: i64 = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(self.pool()).await?.try_get(0)?;
                    gone.max(0) as u64
                }
            };
            removed += done;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peyvand_records::FieldType;
    use peyvand_records::aggregate::{Calendar, GroupKey};
    use peyvand_records::filter::FieldRef;

    fn field(name: &str, field_type: FieldType, storage: Storage) -> FieldRef {
        FieldRef { api_name: name.into(), field_type, storage, column: format!("c_{name}") }
    }

    fn spec(groups: &[(&str, Option<Bucket>)], sums: &[(&str, Storage)]) -> AggregateSpec {
        AggregateSpec {
            group_by: groups
                .iter()
                .map(|(name, bucket)| GroupKey {
                    field: field(
                        name,
                        if bucket.is_some() { FieldType::Date } else { FieldType::Select },
                        if bucket.is_some() { Storage::Date } else { Storage::Text },
                    ),
                    bucket: *bucket,
                    via: None,
                })
                .collect(),
            sum: sums.iter().map(|(name, storage)| field(name, FieldType::Integer, *storage)).collect(),
            ..AggregateSpec::default()
        }
    }

    fn plan(keys: Vec<(usize, KeyCut)>, currencies: Vec<usize>, sums: Vec<usize>) -> Option<Plan> {
        Some(Plan { keys, currencies, sums, measures: vec![] })
    }

    #[test]
    fn a_rollup_answers_its_own_aggregate_and_coarser_ones() {
        let declared = spec(&[("stage", None), ("closed", Some(Bucket::Day))], &[("units", Storage::Int)]);
        let r = RollupColumns::of(&declared, 0);
        assert_eq!(r.plan(&declared, 0), plan(vec![(0, KeyCut::Whole), (1, KeyCut::Whole)], vec![], vec![0]));
        // Fewer groups, months from days, the groups in another order, a plain count.
        let coarser = spec(&[("closed", Some(Bucket::Month)), ("stage", None)], &[]);
        assert_eq!(
            r.plan(&coarser, 0),
            plan(vec![(1, KeyCut::Prefix(Bucket::Month)), (0, KeyCut::Whole)], vec![], vec![])
        );
        assert_eq!(r.plan(&spec(&[], &[]), 0), plan(vec![], vec![], vec![]));
        // Weeks, quarters and Jalali months from days, at breakpoints.
        let weekly = spec(&[("closed", Some(Bucket::Week))], &[]);
        assert_eq!(r.plan(&weekly, 0), plan(vec![(1, KeyCut::Breaks(Bucket::Week))], vec![], vec![]));
        let jalali = AggregateSpec { calendar: Calendar::Jalali, ..spec(&[("closed", Some(Bucket::Month))], &[]) };
        assert_eq!(r.plan(&jalali, 0), plan(vec![(1, KeyCut::Breaks(Bucket::Month))], vec![], vec![]));
        // Not from it: a field it does not group by, a sum it does not keep, days from months.
        assert_eq!(r.plan(&spec(&[("city", None)], &[]), 0), None);
        assert_eq!(r.plan(&spec(&[("stage", None)], &[("score", Storage::Int)]), 0), None);
        let monthly = RollupColumns::of(&spec(&[("closed", Some(Bucket::Month))], &[]), 0);
        assert_eq!(monthly.plan(&spec(&[("closed", Some(Bucket::Day))], &[]), 0), None);
        assert_eq!(monthly.plan(&jalali, 0), None, "a Jalali month is not made of Gregorian months");
        assert_eq!(
            monthly.plan(&spec(&[("closed", Some(Bucket::Year))], &[]), 0).map(|p| p.keys),
            Some(vec![(0, KeyCut::Prefix(Bucket::Year))])
        );
    }

    #[test]
    fn a_datetimes_days_are_the_business_days_it_was_declared_with() {
        let mut declared = spec(&[("placed", Some(Bucket::Day))], &[]);
        declared.group_by[0].field.field_type = FieldType::Datetime;
        let tehran = 12_600;
        let r = RollupColumns::of(&declared, tehran);
        assert_eq!(r.keys[0].local, Some(tehran));
        assert!(r.plan(&declared, tehran).is_some());
        assert_eq!(r.plan(&declared, 0), None, "under another offset its days are not the business's");
        // A range from and before the business's midnight reads the days; another instant does not.
        let field = declared.group_by[0].field.clone();
        let at = |text: &str| Value::Datetime(peyvand_records::value::parse_datetime(text).expect("instant"));
        let cond =
            |op: Op, text: &str| Filter::Cond(Condition { field: field.clone(), op, operand: Operand::One(at(text)) });
        let from = cond(Op::Gte, "2026-11-30T20:30:00Z");
        assert_eq!(r.filter_keys(&from, tehran), Some(vec![(0, KeyCondition::Day(">=", "2026-12-01".into()))]));
        assert_eq!(r.filter_keys(&cond(Op::Lt, "2026-11-30T21:00:00Z"), tehran), None);
        assert_eq!(r.filter_keys(&cond(Op::Gt, "2026-11-30T20:30:00Z"), tehran), None);
    }

    #[test]
    fn money_sums_keep_their_currency_as_a_group() {
        let declared = spec(&[("stage", None)], &[("amount", Storage::Money), ("units", Storage::Int)]);
        let r = RollupColumns::of(&declared, 0);
        assert_eq!(r.keys.iter().map(|k| k.column.as_str()).collect::<Vec<_>>(), ["c_stage", "c_amount__cur"]);
        let amount_only = spec(&[], &[("amount", Storage::Money)]);
        assert_eq!(r.plan(&amount_only, 0), plan(vec![], vec![1], vec![0]));
        assert_eq!(r.watched(), ["c_stage", "c_amount__cur", "c_amount", "c_units"]);
    }
}
