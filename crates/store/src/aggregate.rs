//! Counting and summing records in groups (dashboards, reports), from the records or from a
//! rollup that covers the question ([`crate::rollups`]), with a cache of recent results that any
//! record change anywhere invalidates.
//!
//! A cached result is used only while the newest audit entry and the metadata version are the
//! ones it was computed with. Every record change writes an audit entry in its transaction, so a
//! change made through any instance is seen on the next request. One gap remains on PostgreSQL:
//! two transactions may commit in the other order than their entries' ids were made, so a change
//! can hide behind a newer id already seen; results are therefore also kept at most
//! [`CACHE_TTL`].

use crate::records::filter_sql;
use crate::rollups::KeyCut;
use crate::sql::Dialect;
use crate::sql::{Bind, Sql};
use crate::{Db, Error, Result};
use peyvand_records::aggregate::{AggregateSpec, Bucket, Measure, MeasureKind, breakpoints};
use peyvand_records::filter::Filter;
use peyvand_records::{Decimal, FieldError, FieldType, ObjectDef, Storage};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most groups in one result; a result with more says it was cut.
pub const MAX_ROWS: usize = 10_000;
/// Longest a cached result is used.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached results kept per instance.
const CACHE_ENTRIES: usize = 256;

/// One group: its key values (by field name; a money sum adds `<field>__currency`), how many
/// records it has, and the sums.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AggregateRow {
    pub group: Map<String, Json>,
    pub count: i64,
    pub sum: Map<String, Json>,
    /// Each other measure by its name (`avg:amount`); absent when none was asked.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub measures: Map<String, Json>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Aggregate {
    pub rows: Vec<AggregateRow>,
    /// True when there were more than [`MAX_ROWS`] groups.
    pub truncated: bool,
    /// True when this result came from the cache.
    #[serde(skip)]
    pub cached: bool,
    /// What it was computed from.
    pub source: Source,
}

/// What an aggregate was computed from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The records.
    Scan,
    /// A rollup's groups (see [`crate::rollups`]).
    Rollup,
    /// The records, each group found and counted along a compound index (see [`walk_sql`]).
    Index,
}

/// A date bucket cut as a prefix of the stored text (`SUBSTR(expr, 1, n)`; a datetime's of its
/// day at `local` seconds from UTC), else the expression.
pub(crate) fn cut(dialect: Dialect, expr: &str, bucket: Option<Bucket>, local: Option<i32>) -> String {
    let Some(n) = bucket.and_then(Bucket::prefix_len) else { return expr.to_string() };
    match local {
        Some(offset) if n == 10 => dialect.local_day(expr, offset),
        Some(offset) => format!("SUBSTR({}, 1, {n})", dialect.local_day(expr, offset)),
        None => format!("SUBSTR({expr}, 1, {n})"),
    }
}

/// The money fields whose currency is a group key of `spec`'s result (sums of different
/// currencies are never added together): each summed one, then each measured one not summed.
pub(crate) fn money_fields(spec: &AggregateSpec) -> Vec<&peyvand_records::filter::FieldRef> {
    let mut out: Vec<&peyvand_records::filter::FieldRef> =
        spec.sum.iter().filter(|f| f.storage == Storage::Money).collect();
    for m in spec.measures.iter().filter(|m| m.field.storage == Storage::Money) {
        if !out.iter().any(|f| f.api_name == m.field.api_name) {
            out.push(&m.field);
        }
    }
    out
}

/// A grouping key's related table, the relation's column, the related object and the viewer's
/// scope of it.
type Related = (String, String, Arc<ObjectDef>, Option<Filter>);

/// A result with the data stamp it was computed at and when.
struct Cached {
    stamp: String,
    at: Instant,
    result: Arc<Aggregate>,
}

/// Recent results of this instance, by query.
#[derive(Default)]
pub(crate) struct AggregateCache {
    entries: Mutex<HashMap<String, Cached>>,
    /// Queries being computed now, each with the lock its askers queue on.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AggregateCache {
    /// The cached result of `key`, if it was computed at `stamp` and is recent enough.
    fn hit(&self, key: &str, stamp: &str) -> Option<Aggregate> {
        let entries = self.entries.lock().expect("cache lock");
        let hit = entries.get(key).filter(|hit| hit.stamp == stamp && hit.at.elapsed() < CACHE_TTL)?;
        Some(Aggregate { cached: true, ..(*hit.result).clone() })
    }
}

impl Db {
    /// Counts the live records of `object` that `filter` selects, and sums `spec.sum`, per group
    /// of `spec.group_by` values, ordered by the group values (empty values first).
    pub async fn aggregate(&self, object: &str, filter: Option<&Filter>, spec: &AggregateSpec) -> Result<Aggregate> {
        let obj = self.object(object).await?;
        if self.viewer().is_some() {
            let mut named: Vec<String> = spec
                .group_by
                .iter()
                .map(|g| g.via.as_ref().map_or(&g.field.api_name, |v| &v.relation.api_name).clone())
                .collect();
            for g in &spec.group_by {
                if let Some(via) = &g.via {
                    let target = self.object(&via.object).await?;
                    self.check_named(&target, vec![g.field.api_name.clone()])?;
                }
            }
            named.extend(spec.sum.iter().map(|f| f.api_name.clone()));
            named.extend(spec.measures.iter().map(|m| m.field.api_name.clone()));
            if let Some(f) = filter {
                crate::access::filter_fields(f, &mut named);
            }
            self.check_named(&obj, named)?;
        }
        // What this handle may read, and no more (a rep's dashboard counts their team's).
        let scoped = self.scoped_filter(&obj, peyvand_records::access::Intent::Read, filter);
        let filter = scoped.as_ref();
        let key = format!("{object}\u{1}{filter:?}\u{1}{spec:?}");
        let stamp_row =
            sqlx::query("SELECT (SELECT MAX(id) FROM audit_log), (SELECT version FROM meta_version WHERE id = 1)")
                .fetch_one(self.pool())
                .await?;
        let stamp = format!(
            "{}/{}",
            stamp_row.try_get::<Option<String>, _>(0)?.unwrap_or_default(),
            stamp_row.try_get::<Option<i64>, _>(1)?.unwrap_or_default()
        );
        if let Some(hit) = self.aggregates.hit(&key, &stamp) {
            return Ok(hit);
        }
        // One computation per query at a time: the others wait for it and take its result
        // (32 dashboards opening together each sorted a million rows, and held 275 MiB doing so).
        let flight = self.aggregates.flights.lock().expect("flights lock").entry(key.clone()).or_default().clone();
        let _turn = flight.lock().await;
        if let Some(hit) = self.aggregates.hit(&key, &stamp) {
            return Ok(hit);
        }
        let result = self.compute(&obj, filter, spec).await;
        if let Ok(result) = &result {
            let mut cache = self.aggregates.entries.lock().expect("cache lock");
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key.clone(), Cached { stamp, at: Instant::now(), result: Arc::new(result.clone()) });
        }
        // Cached before the flight ends, so a query arriving now finds the result.
        self.aggregates.flights.lock().expect("flights lock").remove(&key);
        result
    }

    async fn compute(&self, obj: &ObjectDef, filter: Option<&Filter>, spec: &AggregateSpec) -> Result<Aggregate> {
        // A rollup that covers the question answers it from its groups: unfiltered, or filtered
        // by equality on fields it groups by (a rep's pipeline from a rollup per owner and stage).
        let catalog = self.catalog().await?;
        let offset = self.local_offset().whole_seconds();
        // A related record's field is read from a rollup only when the viewer reads every
        // related record (the records read it from those they may read).
        let related_whole = spec.group_by.iter().filter_map(|g| g.via.as_ref()).all(|via| {
            catalog
                .object(&via.object)
                .is_some_and(|t| self.scoped_filter(&t, peyvand_records::access::Intent::Read, None).is_none())
        });
        let (rollup, filter_keys) = match filter {
            _ if !related_whole => (None, Vec::new()),
            None => (catalog.rollup_for(&obj.api_name, spec, offset), Vec::new()),
            Some(f) => match catalog.rollup_for_filtered(&obj.api_name, spec, f, offset) {
                Some((r, plan, keys)) => (Some((r, plan)), keys),
                None => (None, Vec::new()),
            },
        };
        // Group keys, then the currency of each money field summed or measured (sums of
        // different currencies are never added together): the expression, the name, the type.
        let mut columns: Vec<(String, String, Option<FieldType>)> = Vec::new();
        let cuts = match &rollup {
            Some((r, plan)) => self.rollup_cuts(r, plan, &filter_keys, spec).await?,
            None => self.breakpoint_cuts(obj, filter, spec).await?,
        };
        // A related record's field is read from it (one it may read, alive) by its id.
        let mut related: Vec<Option<Related>> = Vec::new();
        for (i, g) in spec.group_by.iter().enumerate() {
            let local = (g.field.field_type == FieldType::Datetime).then_some(offset);
            let expr = match (&rollup, g.bucket) {
                _ if cuts[i].is_some() => cuts[i].clone().unwrap_or_default(),
                (Some((_, plan)), _) => match plan.keys[i].1 {
                    KeyCut::Prefix(want) => cut(self.dialect(), &format!("v{}", plan.keys[i].0), Some(want), None),
                    _ => format!("v{}", plan.keys[i].0),
                },
                (None, bucket) => cut(self.dialect(), &g.field.column, bucket, local),
            };
            let kind = if g.bucket.is_some() { None } else { Some(g.field.field_type) };
            columns.push((expr, g.name(), kind));
            related.push(match &g.via {
                // The rollup keeps the related field's value.
                Some(_) if rollup.is_some() => None,
                Some(via) => {
                    let target = catalog
                        .object(&via.object)
                        .ok_or_else(|| Error::invalid(FieldError::new("group", "unknown_field")))?;
                    let scope = self.scoped_filter(&target, peyvand_records::access::Intent::Read, None);
                    Some((via.table.clone(), via.relation.column.clone(), target, scope))
                }
                None => None,
            });
        }
        // A measured money field's currency is a group key too (never one figure over two).
        for (j, f) in money_fields(spec).into_iter().enumerate() {
            let expr = match &rollup {
                Some((_, plan)) => format!("v{}", plan.currencies[j]),
                None => format!("{}__cur", f.column),
            };
            columns.push((expr, format!("{}__currency", f.api_name), None));
        }
        // One group of a plain field, counted or summed, that a compound index orders after the
        // filter's equalities: each group is found with one seek and counted over its run.
        let plain = rollup.is_none()
            && spec.measures.is_empty()
            && columns.len() == 1
            && spec.group_by.len() == 1
            && spec.group_by[0].via.is_none()
            && spec.group_by[0].bucket.is_none()
            && cuts.first().is_some_and(Option::is_none);
        let walk = plain
            .then(|| {
                crate::compound::group_walk(
                    catalog.compound_of(&obj.api_name).map(|i| &**i),
                    filter,
                    &spec.group_by[0].field.column,
                )
            })
            .flatten();
        let sql = if let Some(steps) = &walk {
            walk_sql(self.dialect(), obj, filter, steps.as_ref(), &spec.group_by[0].field.column, spec)
        } else {
            let mut sql = Sql::new(match rollup {
                Some(_) => "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT)",
                None => "SELECT COUNT(*)",
            });
            for (j, f) in spec.sum.iter().enumerate() {
                sql.push(&match &rollup {
                    // Empty when no record had a value, as SUM over the records says.
                    Some((_, plan)) => {
                        let r = plan.sums[j];
                        format!(", CASE WHEN SUM(c{r}) > 0 THEN CAST(SUM(s{r}) AS BIGINT) END")
                    }
                    None => format!(", CAST(SUM({}) AS BIGINT)", f.column),
                });
            }
            for (k, m) in spec.measures.iter().enumerate() {
                let c = &m.field.column;
                if let Some((_, plan)) = &rollup {
                    // Only sums are read from a rollup (its plan says so).
                    let r = plan.measures[k];
                    sql.push(&format!(", CASE WHEN SUM(c{r}) > 0 THEN CAST(SUM(s{r}) AS BIGINT) END AS m{k}"));
                    continue;
                }
                sql.push(&match m.kind {
                    MeasureKind::Sum => format!(", CAST(SUM({c}) AS BIGINT) AS m{k}"),
                    MeasureKind::Avg => format!(", CAST(SUM({c}) AS BIGINT) AS m{k}, COUNT({c}) AS m{k}n"),
                    MeasureKind::Min => format!(", MIN({c}) AS m{k}"),
                    MeasureKind::Max => format!(", MAX({c}) AS m{k}"),
                    MeasureKind::Distinct => format!(", COUNT(DISTINCT {c}) AS m{k}"),
                });
            }
            for (i, (expr, _, _)) in columns.iter().enumerate() {
                match related.get(i).and_then(Option::as_ref) {
                    Some((table, relation, target, scope)) => {
                        // The subquery's own names are the related table's (`j`); the record's
                        // relation is named by its table.
                        sql.push(&format!(
                            ", (SELECT {expr} FROM {table} j WHERE j.id = {}.{relation} AND j.deleted_at IS NULL",
                            obj.table
                        ));
                        if let Some(scope) = scope {
                            sql.push(" AND ");
                            filter_sql(&mut sql, target, scope, self.dialect(), &[]);
                        }
                        sql.push(&format!(") AS g{i}"));
                    }
                    None => {
                        sql.push(&format!(", {expr} AS g{i}"));
                    }
                }
            }
            match &rollup {
                Some((r, _)) => {
                    sql.push(&format!(" FROM {} WHERE 1 = 1", r.table));
                    for (key, c) in &filter_keys {
                        crate::rollups::key_condition_sql(&mut sql, *key, c);
                    }
                }
                None => {
                    // Without a filter every live row is read; with one, an index may find them.
                    let hint = if filter.is_none() { self.dialect().whole_table() } else { "" };
                    sql.push(&format!(" FROM {}{hint} WHERE deleted_at IS NULL", obj.table));
                    if let Some(f) = filter {
                        sql.push(" AND ");
                        filter_sql(&mut sql, obj, f, self.dialect(), &[]);
                    }
                }
            }
            if !columns.is_empty() {
                let list = (0..columns.len()).map(|i| format!("g{i}")).collect::<Vec<_>>().join(", ");
                let order = (0..columns.len()).map(|i| format!("g{i} ASC NULLS FIRST")).collect::<Vec<_>>().join(", ");
                sql.push(&format!(" GROUP BY {list}"));
                if rollup.is_some() {
                    // Groups whose records all left stay behind until compacted.
                    sql.push(" HAVING SUM(n) > 0");
                }
                sql.push(&format!(" ORDER BY {order}"));
            }
            sql.push(" LIMIT ").bind(Bind::Int(Some(MAX_ROWS as i64 + 1)));
            sql
        };
        let mut rows = sql.query().fetch_all(self.pool()).await?;
        let mut truncated = rows.len() > MAX_ROWS;
        if walk.is_some() {
            // The walk stops past the most groups a result holds (and the empty group follows).
            truncated = rows.len() > MAX_ROWS + 1;
            // Groups the walk visited that hold no selected record are not groups.
            let mut kept = Vec::with_capacity(rows.len());
            for row in rows {
                if row.try_get::<i64, _>(0)? > 0 {
                    kept.push(row);
                }
            }
            rows = kept;
            truncated |= rows.len() > MAX_ROWS;
        }
        let mut out = Vec::with_capacity(rows.len().min(MAX_ROWS));
        for row in rows.iter().take(MAX_ROWS) {
            let mut group = Map::new();
            for (i, (_, name, kind)) in columns.iter().enumerate() {
                let col = format!("g{i}");
                let value = match kind.map(|k| k.storage(false)) {
                    Some(Storage::Int) => row.try_get::<Option<i64>, _>(col.as_str())?.map(Json::from),
                    Some(Storage::Bool) => row.try_get::<Option<i64>, _>(col.as_str())?.map(|b| Json::Bool(b != 0)),
                    _ => row.try_get::<Option<String>, _>(col.as_str())?.map(Json::String),
                };
                group.insert(name.clone(), value.unwrap_or(Json::Null));
            }
            let mut sum = Map::new();
            for (i, f) in spec.sum.iter().enumerate() {
                let total: Option<i64> = row.try_get(i + 1)?;
                let value = match (f.storage, total) {
                    (_, None) => Json::Null,
                    (Storage::Int, Some(t)) => json!(t),
                    (_, Some(units)) => {
                        let def = obj.field(&f.api_name);
                        let scale = def.map(|d| d.options.scale_or_default(d.field_type)).unwrap_or(0);
                        json!(Decimal { units, scale }.to_string())
                    }
                };
                sum.insert(f.api_name.clone(), value);
            }
            let mut measures = Map::new();
            for (k, m) in spec.measures.iter().enumerate() {
                measures.insert(m.name(), measure_value(obj, m, row, k)?);
            }
            out.push(AggregateRow { group, count: row.try_get(0)?, sum, measures });
        }
        let source = match (&rollup, &walk) {
            (Some(_), _) => Source::Rollup,
            (None, Some(_)) => Source::Index,
            (None, None) => Source::Scan,
        };
        Ok(Aggregate { rows: out, truncated, cached: false, source })
    }
}

impl Db {
    /// For each group key cut at breakpoints (weeks, quarters, Jalali months and years), its
    /// expression: a binary tree of comparisons with the buckets' first instants (the business's
    /// local midnight) over the range the selected records span; `None` for the others.
    async fn breakpoint_cuts(
        &self,
        obj: &ObjectDef,
        filter: Option<&Filter>,
        spec: &AggregateSpec,
    ) -> Result<Vec<Option<String>>> {
        let cut_here: Vec<bool> =
            spec.group_by.iter().map(|g| g.bucket.is_some_and(|b| b.prefix_in(spec.calendar).is_none())).collect();
        if !cut_here.contains(&true) {
            return Ok(vec![None; spec.group_by.len()]);
        }
        let offset = self.local_offset();
        let mut out = Vec::with_capacity(spec.group_by.len());
        for (g, cut_it) in spec.group_by.iter().zip(cut_here) {
            if !cut_it {
                out.push(None);
                continue;
            }
            // The range of the selected records' values (a related record's: of all of them):
            // the first and the last in the field's order, each a walk of its index that stops
            // at the first record selected (`MIN(c), MAX(c)` in one statement read every row on
            // SQLite: 6 to 14 s over 2,000,000 orders).
            let c = &g.field.column;
            let mut sql = Sql::new("SELECT ");
            for (i, direction) in ["ASC", "DESC"].into_iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.push(&format!("SELECT {c}"));
                match &g.via {
                    Some(via) => {
                        sql.push(&format!(" FROM {} WHERE deleted_at IS NULL", via.table));
                    }
                    None => {
                        sql.push(&format!(" FROM {} WHERE deleted_at IS NULL", obj.table));
                        if let Some(f) = filter {
                            sql.push(" AND ");
                            filter_sql(&mut sql, obj, f, self.dialect(), &[]);
                        }
                    }
                }
                sql.push(&format!(" AND {c} IS NOT NULL ORDER BY {c} {direction} LIMIT 1)"));
            }
            let row = sql.query().fetch_one(self.pool()).await?;
            let (from, to) = (row.try_get::<Option<String>, _>(0), row.try_get::<Option<String>, _>(1));
            let parse = |text: Option<String>| -> Option<time::Date> {
                let text = text?;
                match g.field.field_type {
                    FieldType::Datetime => {
                        Some(peyvand_records::value::parse_datetime(&text)?.to_offset(offset).date())
                    }
                    _ => peyvand_records::value::parse_date(&text),
                }
            };
            let (Some(from), Some(to)) = (parse(from?), parse(to?)) else {
                // Nothing dated: every selected record's value is empty.
                out.push(Some(g.field.column.clone()));
                continue;
            };
            let bucket = g.bucket.unwrap_or(peyvand_records::aggregate::Bucket::Day);
            let points = breakpoints(bucket, spec.calendar, from, to)
                .ok_or_else(|| Error::invalid(FieldError::new("group", "too_many_buckets")))?;
            let bounds: Vec<(String, String)> = points
                .into_iter()
                .map(|(start, key)| {
                    let bound = match g.field.field_type {
                        FieldType::Datetime => {
                            peyvand_records::value::format_datetime(start.midnight().assume_offset(offset))
                        }
                        _ => peyvand_records::value::format_date(start),
                    };
                    (bound, key)
                })
                .collect();
            let c = &g.field.column;
            out.push(Some(format!("CASE WHEN {c} IS NULL THEN NULL ELSE {} END", case_tree(c, &bounds))));
        }
        Ok(out)
    }
}

impl Db {
    /// For each group key a rollup answers from its days at breakpoints (weeks, quarters, Jalali
    /// periods), its expression over the rollup's key: a tree of comparisons with the buckets'
    /// first days over the range of days the selected groups span; `None` for the others.
    async fn rollup_cuts(
        &self,
        r: &crate::rollups::Rollup,
        plan: &crate::rollups::Plan,
        filter_keys: &crate::rollups::KeyConditions<'_>,
        spec: &AggregateSpec,
    ) -> Result<Vec<Option<String>>> {
        let mut out = Vec::with_capacity(plan.keys.len());
        for (key, how) in &plan.keys {
            let KeyCut::Breaks(bucket) = how else {
                out.push(None);
                continue;
            };
            let v = format!("v{key}");
            let mut sql = Sql::new(&format!("SELECT MIN({v}), MAX({v}) FROM {} WHERE n <> 0", r.table));
            for (k, c) in filter_keys {
                crate::rollups::key_condition_sql(&mut sql, *k, c);
            }
            let row = sql.query().fetch_one(self.pool()).await?;
            let day = |i: usize| -> Result<Option<time::Date>> {
                Ok(row.try_get::<Option<String>, _>(i)?.and_then(|t| peyvand_records::value::parse_date(&t)))
            };
            let (Some(from), Some(to)) = (day(0)?, day(1)?) else {
                // No dated group: every selected record's value is empty.
                out.push(Some(v));
                continue;
            };
            let bounds: Vec<(String, String)> = breakpoints(*bucket, spec.calendar, from, to)
                .ok_or_else(|| Error::invalid(FieldError::new("group", "too_many_buckets")))?
                .into_iter()
                .map(|(start, key)| (peyvand_records::value::format_date(start), key))
                .collect();
            out.push(Some(format!("CASE WHEN {v} IS NULL THEN NULL ELSE {} END", case_tree(&v, &bounds))));
        }
        Ok(out)
    }
}

/// `CASE WHEN expr < b THEN … ELSE … END`, halving `bounds` (each a bucket's first value and
/// key, in order) until one is left: a value gets the key of the last bound not above it, in
/// about log2(buckets) comparisons. Bounds and keys are made of digits, `-`, `:`, `.`, `T`, `Q`
/// and `Z` only (checked), so they are written into the text as literals.
fn case_tree(expr: &str, bounds: &[(String, String)]) -> String {
    let literal = |text: &str| {
        assert!(
            text.chars().all(|c| c.is_ascii_digit() || "-:.TQZ".contains(c)),
            "a bucket's bound or key is digits and separators"
        );
        format!("'{text}'")
    };
    match bounds {
        [] => "NULL".to_string(),
        [(_, key)] => literal(key),
        _ => {
            let mid = bounds.len() / 2;
            format!(
                "CASE WHEN {expr} < {} THEN {} ELSE {} END",
                literal(&bounds[mid].0),
                case_tree(expr, &bounds[..mid]),
                case_tree(expr, &bounds[mid..])
            )
        }
    }
}

/// A measure's value in a result row: numbers as the field shows them (an average of whole
/// numbers to two places, of amounts to the field's places, halves away from zero), dates as
/// stored, distinct counts as integers; empty when the group had no value.
fn measure_value(obj: &ObjectDef, m: &Measure, row: &sqlx::any::AnyRow, k: usize) -> Result<Json> {
    let col = format!("m{k}");
    let scale = obj.field(&m.field.api_name).map(|d| d.options.scale_or_default(d.field_type)).unwrap_or(0);
    let number = |units: i64, scale: u8| match m.field.storage {
        Storage::Int if scale == 0 => json!(units),
        _ => json!(Decimal { units, scale }.to_string()),
    };
    Ok(match m.kind {
        MeasureKind::Distinct => json!(row.try_get::<i64, _>(col.as_str())?),
        MeasureKind::Sum => match row.try_get::<Option<i64>, _>(col.as_str())? {
            Some(units) => number(units, scale),
            None => Json::Null,
        },
        MeasureKind::Avg => {
            let total: Option<i64> = row.try_get(col.as_str())?;
            let n: i64 = row.try_get(format!("m{k}n").as_str())?;
            match total {
                Some(total) if n > 0 => {
                    // Whole numbers' average to two places.
                    let (total, scale) = if m.field.storage == Storage::Int {
                        (i128::from(total) * 100, 2)
                    } else {
                        (i128::from(total), scale)
                    };
                    let n = i128::from(n);
                    let rounded = (2 * total + total.signum() * n) / (2 * n);
                    number(i64::try_from(rounded).unwrap_or(i64::MAX), scale)
                }
                _ => Json::Null,
            }
        }
        MeasureKind::Min | MeasureKind::Max => match m.field.storage {
            Storage::Int | Storage::Scaled | Storage::Money => match row.try_get::<Option<i64>, _>(col.as_str())? {
                Some(units) => number(units, scale),
                None => Json::Null,
            },
            _ => row.try_get::<Option<String>, _>(col.as_str())?.map(Json::String).unwrap_or(Json::Null),
        },
    })
}

/// What the group of related records of one id must come to, for [`Db::related_ids`].
#[derive(Clone, Debug)]
pub enum Having<'a> {
    /// At least one.
    Any,
    /// Their number compared (`gt`, `gte`, `lt`, `lte`, `eq`).
    Count(peyvand_records::filter::Op, i64),
    /// The sum of a number or money field compared with the condition's value; for money, of
    /// one currency's amounts (the second member).
    Sum(&'a peyvand_records::filter::Condition, Option<&'a str>),
}

fn compare(op: peyvand_records::filter::Op) -> Option<&'static str> {
    use peyvand_records::filter::Op;
    Some(match op {
        Op::Gt => " > ",
        Op::Gte => " >= ",
        Op::Lt => " < ",
        Op::Lte => " <= ",
        Op::Eq => " = ",
        Op::Ne => " <> ",
        _ => return None,
    })
}

impl Db {
    /// The ids a relation field (`via`) of `object` points at, among its live records matching
    /// `filter` (and this handle's reach), whose group of records meets `having`: the customers
    /// with an order in the last 90 days, or who spent more than an amount. One grouped query,
    /// no cap on the groups (a segment over a million customers needs them all).
    pub async fn related_ids(
        &self,
        object: &str,
        via: &str,
        filter: Option<&Filter>,
        having: &Having<'_>,
    ) -> Result<std::collections::HashSet<String>> {
        use peyvand_records::FieldError;
        let obj = self.object(object).await?;
        let via_field = obj
            .field(via)
            .filter(|f| f.field_type == FieldType::Relation && !f.options.multiple)
            .ok_or_else(|| crate::Error::invalid(FieldError::new("via", "unknown_field")))?;
        let column = via_field.column.clone();
        if self.viewer().is_some() {
            let mut named = vec![via.to_string()];
            if let Some(f) = filter {
                crate::access::filter_fields(f, &mut named);
            }
            if let Having::Sum(c, _) = having {
                named.push(c.field.api_name.clone());
            }
            self.check_named(&obj, named)?;
        }
        let scoped = self.scoped_filter(&obj, peyvand_records::access::Intent::Read, filter);
        let mut sql = Sql::for_dialect(
            self.dialect(),
            &format!("SELECT {column} FROM {} WHERE deleted_at IS NULL AND {column} IS NOT NULL", obj.table),
        );
        if let Some(f) = scoped.as_ref() {
            sql.push(" AND ");
            filter_sql(&mut sql, &obj, f, self.dialect(), &[]);
        }
        sql.push(&format!(" GROUP BY {column}"));
        match having {
            Having::Any => {}
            Having::Count(op, n) => {
                let op = compare(*op).ok_or_else(|| crate::Error::invalid(FieldError::new("op", "invalid_option")))?;
                sql.push(&format!(" HAVING COUNT(*){op}")).bind(Bind::Int(Some(*n)));
            }
            Having::Sum(c, currency) => {
                let op = compare(c.op).ok_or_else(|| crate::Error::invalid(FieldError::new("op", "invalid_option")))?;
                let peyvand_records::filter::Operand::One(value) = &c.operand else {
                    return Err(crate::Error::invalid(FieldError::new("value", "invalid_value")));
                };
                if !matches!(c.field.storage, Storage::Money | Storage::Int) {
                    return Err(crate::Error::invalid(FieldError::new(&c.field.api_name, "not_summable")));
                }
                // A money sum counts one currency.
                if let (Storage::Money, Some(currency)) = (c.field.storage, currency) {
                    sql.push(&format!(" HAVING SUM(CASE WHEN {}__cur = ", c.field.column))
                        .bind(Bind::text((*currency).to_string()))
                        .push(&format!(" THEN {} ELSE 0 END){op}", c.field.column));
                } else {
                    sql.push(&format!(" HAVING SUM({}){op}", c.field.column));
                }
                sql.bind(crate::sql::operand_bind(c.field.storage, value));
            }
        }
        let rows = sql.query().fetch_all(self.pool()).await?;
        let mut out = std::collections::HashSet::with_capacity(rows.len());
        for r in rows {
            if let Some(id) = r.try_get::<Option<String>, _>(0)? {
                out.insert(id);
            }
        }
        Ok(out)
    }
}

/// An aggregate of one group `column` of `obj`'s records that `filter` selects, read group by
/// group (a loose index scan): the smallest value of the records `steps` selects (the filter's
/// equalities that lead a compound index), then each next one above it, each found by one seek;
/// each group's count and sums read from its run of the index with the whole filter; the empty
/// group first. The rows are those of grouping every match (`count`, the sums, `g0`) in the
/// same order, with a row of count 0 for each group the walk passed that `filter` leaves empty.
fn walk_sql(
    dialect: Dialect,
    obj: &ObjectDef,
    filter: Option<&Filter>,
    steps: Option<&Filter>,
    column: &str,
    spec: &AggregateSpec,
) -> Sql {
    let table = &obj.table;
    let of = |sql: &mut Sql, filter: Option<&Filter>| {
        sql.push(&format!("FROM {table} WHERE deleted_at IS NULL"));
        if let Some(f) = filter {
            sql.push(" AND ");
            filter_sql(sql, obj, f, dialect, &[]);
        }
    };
    // Each step reads the first entry past the last group in the index's order.
    let mut sql = Sql::new(&format!("WITH RECURSIVE walk (v, i) AS (SELECT (SELECT {column} "));
    of(&mut sql, steps);
    sql.push(&format!(" AND {column} IS NOT NULL ORDER BY {column} LIMIT 1), 0 UNION ALL SELECT (SELECT {column} "));
    of(&mut sql, steps);
    sql.push(&format!(
        " AND {column} > walk.v ORDER BY {column} LIMIT 1), i + 1 FROM walk WHERE v IS NOT NULL AND i < "
    ));
    sql.bind(Bind::Int(Some(MAX_ROWS as i64 + 1)));
    // Each group counted and summed once (a condition on its count counted it twice).
    let group = |sql: &mut Sql, at: &str| {
        sql.push("(SELECT COUNT(*) ");
        of(sql, filter);
        sql.push(&format!(" AND {column} {at}) AS n"));
        for (k, f) in spec.sum.iter().enumerate() {
            sql.push(&format!(", (SELECT CAST(SUM({}) AS BIGINT) ", f.column));
            of(sql, filter);
            sql.push(&format!(" AND {column} {at}) AS s{k}"));
        }
    };
    sql.push(") SELECT ");
    group(&mut sql, "= walk.v");
    sql.push(", v AS g0 FROM walk WHERE v IS NOT NULL UNION ALL SELECT ");
    group(&mut sql, "IS NULL");
    sql.push(" , NULL ORDER BY g0 ASC NULLS FIRST");
    sql
}
