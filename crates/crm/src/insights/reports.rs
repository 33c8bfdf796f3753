//! Reports: an object's records, filtered, counted and measured in up to three groupings, with a
//! chart and a pivot table, saved by their owner and shared with everyone if they choose. A
//! report is run through the viewer's handle (`Db::for_viewer`): the same report shows a rep
//! their own figures and a manager their team's. Each group knows the filter of the records it
//! counts, so a bar or a cell opens them in the list.

use peyvand_records::access::Role;
use peyvand_records::aggregate::{AggregateSpec, Bucket, Calendar, GroupKey, key_start, parse_aggregate_in};
use peyvand_records::filter::parse_filter;
use peyvand_records::{FieldError, FieldType};
use peyvand_store::aggregate::Aggregate;
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;

/// How a report is drawn: a chart kind (`web::charts`), a KPI (the current period's figure with
/// its trend; the first grouping is a period) or only its table.
pub const CHARTS: [&str; 8] = ["bar", "stacked", "line", "area", "donut", "funnel", "kpi", "table"];

/// Most reports one user keeps.
const MAX_PER_USER: i64 = 200;

fn bar() -> String {
    "bar".into()
}

/// A report as its owner defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDef {
    pub name: String,
    pub object: String,
    /// Which records (the lists' filter syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Json>,
    /// Up to three groupings, as the aggregate's `group` (`stage,closed_on:month`).
    #[serde(default)]
    pub group: String,
    /// What is measured besides the count, as the aggregate's `measure` (`sum:amount`).
    #[serde(default)]
    pub measures: String,
    /// `gregorian`, `jalali`, or empty for the reader's (Jalali on Persian pages).
    #[serde(default)]
    pub calendar: String,
    /// One of [`CHARTS`].
    #[serde(default = "bar")]
    pub chart: String,
    /// Read by everyone (each sees only the records they may).
    #[serde(default)]
    pub shared: bool,
}

/// A report as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub id: String,
    pub owner_id: String,
    #[serde(flatten)]
    pub definition: ReportDef,
    pub created_at: String,
    pub updated_at: String,
}

impl ReportDef {
    /// The aggregate this report asks for, read in `lang` (its calendar when none is set).
    pub async fn spec(&self, db: &Db, lang: &str) -> std::result::Result<AggregateSpec, Vec<FieldError>> {
        let obj =
            db.visible_object(&self.object).await.map_err(|_| vec![FieldError::new("object", "invalid_option")])?;
        let calendar = match self.calendar.as_str() {
            "" if lang == "fa" => "jalali",
            "" => "gregorian",
            other => other,
        };
        let catalog = db.visible_catalog().await.map_err(|_| vec![FieldError::new("object", "invalid_option")])?;
        parse_aggregate_in(&obj, &self.group, "", &|name| catalog.object(name))
            .and_then(|spec| spec.with_measures(&obj, &self.measures, calendar))
            .map_err(|e| vec![prefixed(e)])
    }
}

/// The aggregate's parameter names are the report's fields but one: `measure` is `measures`.
fn prefixed(e: FieldError) -> FieldError {
    if e.field == "measure" { FieldError::with("measures", e.code, e.params) } else { e }
}

/// Everything wrong with a definition, checked against the object as the viewer sees it now (a
/// grouping on a removed field, a measure on a text field).
pub async fn check(db: &Db, def: &ReportDef) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = def.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "required"));
    }
    if !CHARTS.contains(&def.chart.as_str()) {
        errors.push(FieldError::new("chart", "invalid_option"));
    }
    let Ok(obj) = db.visible_object(&def.object).await else {
        errors.push(FieldError::new("object", "invalid_option"));
        return errors;
    };
    if let Some(f) = &def.filter
        && let Err(e) = parse_filter(&obj, f)
    {
        errors.push(FieldError::with("filter", e.code, e.params));
    }
    if let Err(e) = Calendar::parse(&def.calendar) {
        errors.push(e);
    } else {
        match def.spec(db, "en").await {
            Err(found) => errors.extend(found),
            Ok(spec) if def.chart == "kpi" && spec.group_by.first().is_none_or(|g| g.bucket.is_none()) => {
                errors.push(FieldError::new("chart", "kpi_needs_period"))
            }
            Ok(_) => {}
        }
    }
    errors
}

fn parse(r: &sqlx::any::AnyRow) -> Result<Report> {
    let json: String = r.try_get(3)?;
    let mut definition: ReportDef =
        serde_json::from_str(&json).map_err(|e| Error::Corrupt(format!("a report's definition: {e}")))?;
    definition.shared = r.try_get::<i64, _>(2)? != 0;
    Ok(Report {
        id: r.try_get(0)?,
        owner_id: r.try_get(1)?,
        definition,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

const COLUMNS: &str = "id, owner_id, shared, definition_json, created_at, updated_at";

/// The viewer's own reports and everyone's shared ones, by name.
pub async fn list(db: &Db) -> Result<Vec<Report>> {
    let me = db.viewer().map(|v| v.user_id.clone()).unwrap_or_default();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reports WHERE owner_id = $1 OR shared = 1 ORDER BY id"
    )))
    .bind(me)
    .fetch_all(db.pool())
    .await?;
    let mut out = rows.iter().map(parse).collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.definition.name.cmp(&b.definition.name));
    Ok(out)
}

/// A report the viewer may read (theirs or shared; an admin reads every one); others are not
/// found.
pub async fn get(db: &Db, id: &str) -> Result<Report> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM reports WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("report {id}")))?;
    let report = parse(&r)?;
    match db.viewer() {
        Some(v) if v.user_id != report.owner_id && !report.definition.shared && v.role != Some(Role::Admin) => {
            Err(Error::NotFound(format!("report {id}")))
        }
        _ => Ok(report),
    }
}

/// Whether the viewer may change or delete `report`: its owner or an admin.
pub fn may_change(db: &Db, report: &Report) -> bool {
    db.viewer().is_none_or(|v| v.user_id == report.owner_id || v.role == Some(Role::Admin))
}

/// Saves a report (new when `id` is none, owned by the viewer) after checking it.
pub async fn save(db: &Db, id: Option<&str>, def: ReportDef) -> Result<Report> {
    let mut def = def;
    def.name = def.name.trim().to_string();
    let errors = check(db, &def).await;
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let me = db.viewer().map(|v| v.user_id.clone()).ok_or_else(|| Error::Forbidden("a report needs a user".into()))?;
    let shared = i64::from(def.shared);
    let json = serde_json::to_string(&def).map_err(|e| Error::Corrupt(e.to_string()))?;
    if let Some(id) = id
        && !may_change(db, &get(db, id).await?)
    {
        return Err(Error::Forbidden(format!("report {id}")));
    }
    let at = now();
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            sqlx::query("UPDATE reports SET shared = $1, definition_json = $2, updated_at = $3 WHERE id = $4")
                .bind(shared)
                .bind(json)
                .bind(at)
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await?;
            id.to_string()
        }
        None => {
            let kept: i64 = sqlx::query("SELECT COUNT(*) FROM reports WHERE owner_id = $1")
                .bind(me.clone())
                .fetch_one(&mut *tx.tx)
                .await?
                .try_get(0)?;
            if kept >= MAX_PER_USER {
                return Err(Error::Conflict {
                    code: "too_many_reports",
                    details: vec![FieldError::with("name", "too_many", json!({ "max": MAX_PER_USER }))],
                });
            }
            let id = new_id();
            sqlx::query(
                "INSERT INTO reports (id, owner_id, shared, definition_json, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(id.clone())
            .bind(me)
            .bind(shared)
            .bind(json)
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

/// Deletes a report its owner (or an admin) no longer wants.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    let report = get(db, id).await?;
    if !may_change(db, &report) {
        return Err(Error::Forbidden(format!("report {id}")));
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM reports WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// A report's figures: the aggregate, and for each of its rows the filter of the records it
/// counts (the report's filter and the row's group values).
#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    pub aggregate: Aggregate,
    pub calendar: Calendar,
    /// Each grouping's field and bucket, in order.
    pub groups: Vec<(String, Option<Bucket>)>,
    /// The measures' names (`sum:amount`), in order.
    pub measures: Vec<String>,
    /// Per row of the aggregate, its records' filter (`null`: every record; `false`: too many
    /// related records to list them by).
    pub drill: Vec<Json>,
    /// Each grouping's values in order (a choice's as its choices go).
    pub values: Vec<Vec<Json>>,
}

/// Runs `def` through the viewer's handle `db`, in `lang` (for the calendar when none is set).
pub async fn run(db: &Db, def: &ReportDef, lang: &str) -> Result<Figures> {
    let obj = db.visible_object(&def.object).await?;
    let spec = def.spec(db, lang).await.map_err(Error::Validation)?;
    let filter = match &def.filter {
        Some(f) => Some(
            parse_filter(&obj, f).map_err(|e| Error::Validation(vec![FieldError::with("filter", e.code, e.params)]))?,
        ),
        None => None,
    };
    let mut aggregate = db.aggregate(&def.object, filter.as_ref(), &spec).await?;
    let catalog = db.visible_catalog().await?;
    // A choice's groups come in the order of the field's choices (a pipeline's stages, a
    // funnel), not in the order of their keys.
    let places: Vec<Option<Vec<String>>> = spec
        .group_by
        .iter()
        .map(|g| {
            let owner = match &g.via {
                Some(via) => catalog.object(&via.object)?,
                None => obj.clone(),
            };
            let f =
                owner.field(&g.field.api_name).filter(|f| f.field_type == FieldType::Select && g.bucket.is_none())?;
            Some(f.options.options.iter().map(|o| o.value.clone()).collect())
        })
        .collect();
    let order_of = |place: &Option<Vec<String>>, x: Option<&Json>, y: Option<&Json>| match place {
        Some(choices) => {
            let at = |v: Option<&Json>| {
                v.and_then(Json::as_str).and_then(|s| choices.iter().position(|c| c == s)).map_or(-1, |p| p as i64)
            };
            at(x).cmp(&at(y))
        }
        None => compare(x, y),
    };
    if places.iter().any(Option::is_some) {
        aggregate.rows.sort_by(|a, b| {
            for (g, place) in spec.group_by.iter().zip(&places) {
                let order = order_of(place, a.group.get(&g.name()), b.group.get(&g.name()));
                if order != std::cmp::Ordering::Equal {
                    return order;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    // Each grouping's values in that order (a pivot's columns, a chart's series).
    let values = spec
        .group_by
        .iter()
        .zip(&places)
        .map(|(g, place)| {
            let mut seen: Vec<Json> = Vec::new();
            for row in &aggregate.rows {
                let v = row.group.get(&g.name()).cloned().unwrap_or(Json::Null);
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            seen.sort_by(|x, y| order_of(place, Some(x), Some(y)));
            seen
        })
        .collect();
    let offset = db.local_offset();
    let mut drill = Vec::with_capacity(aggregate.rows.len());
    for row in &aggregate.rows {
        let mut all: Vec<Json> = def.filter.iter().cloned().collect();
        let mut reachable = true;
        for g in &spec.group_by {
            let value = row.group.get(&g.name()).cloned().unwrap_or(Json::Null);
            let here = conditions(g, &value, spec.calendar, offset);
            match &g.via {
                None => all.extend(here),
                // A related record's value: the records whose relation is one of the related
                // records that have it (a few hundred at most; more cannot be listed).
                Some(via) => match related_ids(db, &via.object, here).await? {
                    Some(ids) if !value.is_null() => {
                        all.push(json!({ "field": via.relation.api_name, "op": "in", "value": ids }))
                    }
                    _ => reachable = false,
                },
            }
        }
        drill.push(match (reachable, all.len()) {
            (false, _) => Json::Bool(false),
            (true, 0) => Json::Null,
            (true, 1) => all.remove(0),
            _ => json!({ "and": all }),
        });
    }
    Ok(Figures {
        groups: spec.group_by.iter().map(|g| (g.name(), g.bucket)).collect(),
        measures: spec.measures.iter().map(|m| m.name()).collect(),
        calendar: spec.calendar,
        aggregate,
        drill,
        values,
    })
}

/// Two group values in the store's order: empty first, then numbers by value, text by its bytes.
fn compare(x: Option<&Json>, y: Option<&Json>) -> std::cmp::Ordering {
    let rank = |v: Option<&Json>| match v {
        None | Some(Json::Null) => 0,
        Some(Json::Bool(_)) => 1,
        Some(Json::Number(_)) => 2,
        Some(_) => 3,
    };
    match (x, y) {
        (Some(Json::Number(a)), Some(Json::Number(b))) => {
            a.as_f64().unwrap_or(0.0).partial_cmp(&b.as_f64().unwrap_or(0.0)).unwrap_or(std::cmp::Ordering::Equal)
        }
        (Some(Json::Bool(a)), Some(Json::Bool(b))) => a.cmp(b),
        (Some(Json::String(a)), Some(Json::String(b))) => a.cmp(b),
        _ => rank(x).cmp(&rank(y)),
    }
}

/// The conditions on a grouping key's field that select a group's value: empty, equal, or in
/// the period (as the store cuts it: a datetime's at the business's midnight).
fn conditions(g: &GroupKey, value: &Json, calendar: Calendar, offset: time::UtcOffset) -> Vec<Json> {
    let name = g.field.api_name.as_str();
    match (g.bucket, value) {
        (_, Json::Null) => vec![json!({ "field": name, "op": "is_empty", "value": true })],
        (Some(bucket), Json::String(key)) => {
            let Some(start) = key_start(bucket, calendar, key) else { return Vec::new() };
            let end = bucket.next(calendar, start);
            let bound = |d: time::Date| match g.field.field_type {
                FieldType::Datetime => peyvand_records::value::format_datetime(d.midnight().assume_offset(offset)),
                _ => peyvand_records::value::format_date(d),
            };
            vec![
                json!({ "field": name, "op": "gte", "value": bound(start) }),
                json!({ "field": name, "op": "lt", "value": bound(end) }),
            ]
        }
        (_, value) => vec![json!({ "field": name, "op": "eq", "value": value })],
    }
}

/// The ids of the records of `object` (that the viewer reads) meeting `conditions`, if there
/// are at most [`peyvand_records::filter::MAX_IN_VALUES`] of them.
async fn related_ids(db: &Db, object: &str, conditions: Vec<Json>) -> Result<Option<Vec<String>>> {
    let target = db.visible_object(object).await?;
    let filter = json!({ "and": conditions });
    let Ok(filter) = parse_filter(&target, &filter) else { return Ok(None) };
    let most = peyvand_records::filter::MAX_IN_VALUES;
    let query = peyvand_store::records::ListQuery {
        filter: Some(filter),
        limit: Some(u32::try_from(most + 1).unwrap_or(u32::MAX)),
        fields: Some(vec!["id".into()]),
        ..Default::default()
    };
    let page = db.list_records(object, &query).await?;
    if page.records.len() > most {
        return Ok(None);
    }
    Ok(Some(page.records.into_iter().map(|r| r.id).collect()))
}

/// A KPI: the figure of the period holding today (so far), the last full period's and the one
/// before's, and the change between those two (full periods only: a period under way is never
/// compared as if it were whole).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Kpi {
    pub bucket: Bucket,
    pub calendar: Calendar,
    pub current_key: String,
    pub current: f64,
    pub last_key: String,
    pub last: f64,
    pub before: f64,
    /// `last` against `before`, in percent (none when `before` is zero).
    pub change_percent: Option<f64>,
    /// Up to twelve periods ending with the current one, oldest first (a missing one is zero).
    pub series: Vec<(String, f64)>,
    /// An amount's currency, when the figure is one.
    pub currency: Option<String>,
}

/// The KPI of `figures` on `today` (their first grouping a period, their first measure or
/// else the count), in the figures' calendar; none without a period grouping.
pub fn kpi(figures: &Figures, today: time::Date) -> Option<Kpi> {
    let (group, bucket) = figures.groups.first()?;
    let bucket = (*bucket)?;
    let calendar = figures.calendar;
    let measure = figures.measures.first();
    let currency_key = measure.and_then(|m| m.split_once(':')).map(|(_, f)| format!("{f}__currency"));
    let currency = currency_key
        .as_ref()
        .and_then(|k| figures.aggregate.rows.iter().find_map(|r| r.group.get(k).and_then(Json::as_str)))
        .map(str::to_string);
    let value_of = |key: &str| -> f64 {
        figures
            .aggregate
            .rows
            .iter()
            .filter(|r| r.group.get(group).and_then(Json::as_str) == Some(key))
            .filter(|r| match (&currency_key, &currency) {
                (Some(k), Some(c)) => r.group.get(k).and_then(Json::as_str).is_none_or(|x| x == c),
                _ => true,
            })
            .map(|r| match measure {
                Some(m) => super::quotas::number(r.measures.get(m)),
                None => r.count as f64,
            })
            .sum()
    };
    let mut starts = vec![bucket.start(calendar, today)];
    for _ in 0..11 {
        let previous = *starts.last()? - time::Duration::days(1);
        starts.push(bucket.start(calendar, previous));
    }
    starts.reverse();
    let series: Vec<(String, f64)> = starts
        .iter()
        .map(|d| {
            let key = bucket.key(calendar, *d);
            let v = value_of(&key);
            (key, v)
        })
        .collect();
    let n = series.len();
    let (last, before) = (series[n - 2].1, series[n - 3].1);
    Some(Kpi {
        bucket,
        calendar,
        current_key: series[n - 1].0.clone(),
        current: series[n - 1].1,
        last_key: series[n - 2].0.clone(),
        last,
        before,
        change_percent: (before != 0.0).then(|| (last - before) / before.abs() * 100.0),
        series,
        currency,
    })
}

/// A report's figures as text for a file or a message, as a reader of `lang` reads them: the
/// groupings' labels (a choice's, a person's or a record's name, a period as `آذر ۱۴۰۵`), the
/// count and each measure (an amount with its currency); and whether groups were left out.
pub async fn text_table(db: &Db, def: &ReportDef, lang: &str) -> Result<(Vec<String>, Vec<Vec<String>>, bool)> {
    use crate::automation::templates::display_text;
    let fa = lang == "fa";
    let figures = run(db, def, lang).await?;
    let obj = db.visible_object(&def.object).await?;
    let catalog = db.visible_catalog().await?;
    let label = |f: &peyvand_records::FieldDef| crate::forms::pick(lang, &f.label_fa, &f.label_en).to_string();
    // Each grouping's field, and the label before it of a related record's.
    let fields: Vec<Option<(String, peyvand_records::FieldDef)>> = figures
        .groups
        .iter()
        .map(|(name, _)| match name.split_once('.') {
            None => obj.field(name).map(|f| (String::new(), f.clone())),
            Some((relation, field)) => {
                let r = obj.field(relation)?;
                let target = catalog.object(r.options.target.as_deref()?)?;
                Some((format!("{} › ", label(r)), target.field(field)?.clone()))
            }
        })
        .collect();
    let mut header: Vec<String> = fields
        .iter()
        .map(|f| match f {
            Some((prefix, f)) => format!("{prefix}{}", label(f)),
            None => (if fa { "زمان ایجاد" } else { "Created" }).to_string(),
        })
        .collect();
    header.push((if fa { "تعداد" } else { "Count" }).to_string());
    for m in &figures.measures {
        let (kind, field) = m.split_once(':').unwrap_or((m, ""));
        let word = match (kind, fa) {
            ("sum", true) => "جمع",
            ("sum", false) => "Sum of",
            ("avg", true) => "میانگین",
            ("avg", false) => "Average",
            ("min", true) => "کمینهٔ",
            ("min", false) => "Least",
            ("max", true) => "بیشینهٔ",
            ("max", false) => "Most",
            (_, true) => "تعداد یکتای",
            (_, false) => "Distinct",
        };
        header.push(format!("{word} {}", obj.field(field).map(label).unwrap_or_else(|| field.to_string())));
    }
    // Names of the people and records the groups are.
    let users: std::collections::HashMap<String, String> =
        db.system().list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
    let mut titles: Vec<std::collections::HashMap<String, String>> = Vec::new();
    for ((name, _), f) in figures.groups.iter().zip(&fields) {
        let mut found = std::collections::HashMap::new();
        if let Some((_, f)) = f
            && f.field_type == FieldType::Relation
            && let Some(target) = &f.options.target
        {
            let ids: Vec<String> = figures
                .aggregate
                .rows
                .iter()
                .filter_map(|r| r.group.get(name).and_then(Json::as_str).map(str::to_string))
                .collect();
            found = db.titles(target, &ids).await?;
        }
        titles.push(found);
    }
    let offset = db.local_offset();
    let rows = figures
        .aggregate
        .rows
        .iter()
        .map(|row| {
            let mut cells: Vec<String> = figures
                .groups
                .iter()
                .zip(&fields)
                .zip(&titles)
                .map(|(((name, bucket), f), titles)| {
                    let v = row.group.get(name).unwrap_or(&Json::Null);
                    match (v, bucket, f) {
                        (Json::Null, _, _) => "—".to_string(),
                        (Json::String(k), Some(b), _) => {
                            peyvand_records::aggregate::bucket_label(lang, *b, figures.calendar, k)
                        }
                        (Json::String(id), None, Some((_, f))) if f.field_type == FieldType::Relation => {
                            titles.get(id).cloned().unwrap_or_else(|| id.clone())
                        }
                        (Json::String(id), None, Some((_, f))) if f.field_type == FieldType::User => {
                            users.get(id).cloned().unwrap_or_else(|| id.clone())
                        }
                        (_, None, Some((_, f))) => display_text(lang, offset, f, v),
                        (other, _, _) => other.as_str().map_or_else(|| other.to_string(), str::to_string),
                    }
                })
                .collect();
            cells.push(row.count.to_string());
            for m in &figures.measures {
                let field = m.split_once(':').map_or("", |(_, f)| f);
                let value = match row.measures.get(m) {
                    Some(Json::String(s)) => s.clone(),
                    Some(Json::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                cells.push(match row.group.get(&format!("{field}__currency")).and_then(Json::as_str) {
                    Some(c) if !value.is_empty() => format!("{value} {c}"),
                    _ => value,
                });
            }
            cells
        })
        .collect();
    Ok((header, rows, figures.aggregate.truncated))
}
