//! Reports on pages (`peyvand_crm::insights::reports`): the list of one's own and shared
//! reports (`/reports`), the builder with its preview (`/reports/new`, its state in the URL),
//! a saved report with its chart and table (`/reports/{id}`), each bar and row opening the
//! records it counts, and its figures as CSV.

use super::admin::{Pairs, Words, get, messages};
use super::display::{Refs, display_value, format_number};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::charts::{self, Chart, Kind, Series};
use crate::error::{ApiError, current_lang};
use crate::i18n::t;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::insights::reports::{self, CHARTS, Figures, ReportDef};
use peyvand_records::access::Action;
use peyvand_records::aggregate::{MeasureKind, bucket_label};
use peyvand_records::{FieldDef, FieldType, ObjectDef, Storage};
use peyvand_store::Error as StoreError;
use serde_json::Value as Json;
use std::collections::HashMap;

/// Groupings and measures the builder offers (the API takes as many as the engine allows).
const SLOTS: usize = 3;

#[derive(Template)]
#[template(path = "reports.html")]
struct ListPage {
    layout: Layout,
    tr: Words,
    /// Link, name, object, whether shared.
    reports: Vec<(String, String, String, bool)>,
}

/// `GET /reports`: the user's reports and everyone's shared ones.
pub async fn reports_page(State(state): State<AppState>, session: Session) -> Response {
    async {
        super::admin::require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let catalog = scoped.db.visible_catalog().await?;
        let rows = reports::list(&scoped.db)
            .await?
            .into_iter()
            .map(|r| {
                let object = catalog
                    .object(&r.definition.object)
                    .map(|o| peyvand_crm::forms::pick(lang, &o.plural_fa, &o.plural_en).to_string())
                    .unwrap_or_else(|| r.definition.object.clone());
                (format!("/reports/{}", encode(&r.id)), r.definition.name, object, r.definition.shared)
            })
            .collect();
        Ok::<_, ApiError>(render(&ListPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "reports"),
            tr: Words::new(lang),
            reports: rows,
        }))
    }
    .await
    .unwrap_or_else(fail)
}

/// One grouping slot of the builder.
struct GroupSlot {
    field: String,
    bucket: String,
}

/// One measure slot of the builder.
struct MeasureSlot {
    kind: String,
    field: String,
}

/// The figures as the page shows them.
pub(super) struct Shown {
    /// The chart (escaped by `web::charts`), empty for a table only.
    pub svg: String,
    pub headers: Vec<String>,
    /// Each row's cells (the first `groups` are labels) and the link to its records.
    pub rows: Vec<(Vec<String>, String)>,
    /// With two groupings: the second's values across, the first's down, the first measure in
    /// the cells.
    pivot: Option<Pivot>,
    truncated: bool,
    pub empty: bool,
}

struct Pivot {
    corner: String,
    columns: Vec<String>,
    rows: Vec<(String, Vec<(String, String)>)>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    /// The saved report's id (empty in the builder).
    id: String,
    /// The builder is open (a new report, or an edit).
    editing: bool,
    may_change: bool,
    /// Whether the user keeps scheduled reports (managers and admins).
    may_schedule: bool,
    name: String,
    object: String,
    objects: Vec<(String, String)>,
    /// Fields one may group by: name, label, whether dated.
    groupable: Vec<(String, String)>,
    measurable: Vec<(String, String)>,
    groups: Vec<GroupSlot>,
    measures: Vec<MeasureSlot>,
    calendar: String,
    chart: String,
    charts: Vec<(String, String)>,
    filter: String,
    shared: bool,
    /// The current definition as a query string (the builder's link, the export's).
    query: String,
    shown: Option<Shown>,
    errors: Vec<String>,
}

/// The definition a builder's query (or a saved report's form) describes.
fn definition(pairs: &Pairs) -> ReportDef {
    let group: Vec<String> = (0..SLOTS)
        .filter_map(|i| {
            let field = get(pairs, &format!("g{i}"));
            let bucket = get(pairs, &format!("b{i}"));
            match (field, bucket) {
                ("", _) => None,
                (f, "") => Some(f.to_string()),
                (f, b) => Some(format!("{f}:{b}")),
            }
        })
        .collect();
    let measures: Vec<String> = (0..SLOTS)
        .filter_map(|i| {
            let kind = get(pairs, &format!("m{i}"));
            let field = get(pairs, &format!("f{i}"));
            (!kind.is_empty() && !field.is_empty()).then(|| format!("{kind}:{field}"))
        })
        .collect();
    let filter = get(pairs, "filter").trim();
    ReportDef {
        name: get(pairs, "name").to_string(),
        object: get(pairs, "object").to_string(),
        filter: (!filter.is_empty()).then(|| serde_json::from_str(filter).unwrap_or(Json::String(filter.into()))),
        group: group.join(","),
        measures: measures.join(","),
        calendar: get(pairs, "calendar").to_string(),
        chart: match get(pairs, "chart") {
            "" => "bar".into(),
            c => c.to_string(),
        },
        shared: get(pairs, "shared") == "on",
    }
}

/// The query string that opens the builder on `def`.
fn query_of(def: &ReportDef) -> String {
    let mut parts = vec![format!("object={}", encode(&def.object)), format!("name={}", encode(&def.name))];
    for (i, g) in def.group.split(',').filter(|g| !g.is_empty()).enumerate() {
        let (field, bucket) = g.split_once(':').unwrap_or((g, ""));
        parts.push(format!("g{i}={}&b{i}={}", encode(field), encode(bucket)));
    }
    for (i, m) in def.measures.split(',').filter(|m| !m.is_empty()).enumerate() {
        let (kind, field) = m.split_once(':').unwrap_or((m, ""));
        parts.push(format!("m{i}={}&f{i}={}", encode(kind), encode(field)));
    }
    if let Some(f) = &def.filter {
        parts.push(format!("filter={}", encode(&f.to_string())));
    }
    parts.push(format!("calendar={}&chart={}", encode(&def.calendar), encode(&def.chart)));
    if def.shared {
        parts.push("shared=on".into());
    }
    parts.join("&")
}

/// `GET /reports/new`: the builder; with an object chosen, the preview of what it describes.
pub async fn new_report(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    let def = definition(&pairs);
    let id = get(&pairs, "id").to_string();
    report_view(&state, &session, &id, def, true, Vec::new()).await.unwrap_or_else(fail)
}

/// `GET /reports/{id}`: a saved report.
pub async fn report_page(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        let report = reports::get(&scoped.db, &id).await?;
        report_view(&state, &session, &id, report.definition, false, Vec::new()).await
    }
    .await
    .unwrap_or_else(fail)
}

/// `POST /reports`: saves the builder's new report.
pub async fn create_report(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    save(&state, &session, None, &pairs).await.unwrap_or_else(fail)
}

/// `POST /reports/{id}`: saves the builder's changes to a report.
pub async fn update_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save(&state, &session, Some(&id), &pairs).await.unwrap_or_else(fail)
}

async fn save(state: &AppState, session: &Session, id: Option<&str>, pairs: &Pairs) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let scoped = session.scoped(state.clone());
    let def = definition(pairs);
    match reports::save(&scoped.db, id, def.clone()).await {
        Ok(saved) => Ok(Redirect::to(&format!("/reports/{}", encode(&saved.id))).into_response()),
        Err(e @ StoreError::Validation(_)) => {
            report_view(state, session, id.unwrap_or(""), def, true, messages(e)?).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /reports/{id}/delete`.
pub async fn delete_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        reports::delete(&scoped.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/reports").into_response())
    }
    .await
    .unwrap_or_else(fail)
}

/// `GET /reports/{id}/export.csv`: the figures, a row per group.
pub async fn export_report(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    async {
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let report = reports::get(&scoped.db, &id).await?;
        let obj = scoped.db.visible_object(&report.definition.object).await?;
        let figures = reports::run(&scoped.db, &report.definition, lang).await?;
        let shown = show(&scoped, &obj, &report.definition, &figures, lang, false).await?;
        let mut out = String::from("\u{feff}");
        let line = |cells: &[String]| {
            cells.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect::<Vec<_>>().join(",") + "\r\n"
        };
        out.push_str(&line(&shown.headers));
        for (cells, _) in &shown.rows {
            out.push_str(&line(cells));
        }
        let name: String = report.definition.name.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
        Ok::<_, ApiError>(
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename*=UTF-8''{}.csv", encode(name.trim()))),
                ],
                out,
            )
                .into_response(),
        )
    }
    .await
    .unwrap_or_else(fail)
}

/// `GET /reports/{id}/export.xlsx`: the figures as a workbook, a row per group (right to left
/// in Persian; periods, choices and names as the reader reads them).
pub async fn export_report_xlsx(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    async {
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let report = reports::get(&scoped.db, &id).await?;
        let (header, rows, more) = reports::text_table(&scoped.db, &report.definition, lang).await?;
        let table =
            peyvand_crm::automation::reports::Table { title: report.definition.name.clone(), header, rows, more };
        let bytes = peyvand_crm::automation::reports::xlsx_bytes(&table, lang)?;
        let name: String = report.definition.name.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
        Ok::<_, ApiError>(
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
                    ),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename*=UTF-8''{}.xlsx", encode(name.trim()))),
                ],
                bytes,
            )
                .into_response(),
        )
    }
    .await
    .unwrap_or_else(fail)
}

async fn report_view(
    state: &AppState,
    session: &Session,
    id: &str,
    def: ReportDef,
    editing: bool,
    mut errors: Vec<String>,
) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let catalog = scoped.db.visible_catalog().await?;
    let mut objects: Vec<(String, String)> = catalog
        .objects
        .iter()
        .map(|o| (o.api_name.clone(), peyvand_crm::forms::pick(lang, &o.plural_fa, &o.plural_en).to_string()))
        .collect();
    objects.sort_by(|a, b| a.1.cmp(&b.1));
    let obj = catalog.object(&def.object);
    let (mut groupable, mut measurable) = (Vec::new(), Vec::new());
    if let Some(obj) = &obj {
        for f in obj.live_fields() {
            let label = peyvand_crm::forms::pick(lang, &f.label_fa, &f.label_en).to_string();
            let storage = f.storage();
            if f.field_type != FieldType::LongText && storage != Storage::List {
                if !matches!(storage, Storage::Money | Storage::Scaled) {
                    groupable.push((f.api_name.clone(), label.clone()));
                }
                measurable.push((f.api_name.clone(), label));
            }
        }
        groupable.push(("created_at".into(), t(lang, "report-created-at")));
        // A related record's fields: an order by its contact's city, a ticket by its product's
        // category.
        for r in obj.live_fields().filter(|f| f.field_type == FieldType::Relation) {
            let Some(target) = r.options.target.as_deref().and_then(|t| catalog.object(t)) else { continue };
            let prefix = peyvand_crm::forms::pick(lang, &r.label_fa, &r.label_en).to_string();
            for f in target.live_fields() {
                let storage = f.storage();
                if f.field_type != FieldType::LongText
                    && !matches!(storage, Storage::List | Storage::Money | Storage::Scaled)
                    && f.field_type != FieldType::Relation
                {
                    let label = peyvand_crm::forms::pick(lang, &f.label_fa, &f.label_en);
                    groupable.push((format!("{}.{}", r.api_name, f.api_name), format!("{prefix} › {label}")));
                }
            }
        }
    }
    let may_change = match id {
        "" => true,
        id => reports::get(&scoped.db, id).await.map(|r| reports::may_change(&scoped.db, &r)).unwrap_or(false),
    };
    let mut shown = None;
    if let Some(obj) = &obj {
        match reports::run(&scoped.db, &def, lang).await {
            Ok(figures) => shown = Some(show(&scoped, obj, &def, &figures, lang, true).await?),
            Err(e @ StoreError::Validation(_)) => errors.extend(messages(e)?),
            Err(e) => return Err(e.into()),
        }
    }
    let mut groups: Vec<GroupSlot> = def
        .group
        .split(',')
        .filter(|g| !g.is_empty())
        .map(|g| {
            let (field, bucket) = g.split_once(':').unwrap_or((g, ""));
            GroupSlot { field: field.into(), bucket: bucket.into() }
        })
        .collect();
    groups.resize_with(SLOTS.max(groups.len()), || GroupSlot { field: String::new(), bucket: String::new() });
    let mut measures: Vec<MeasureSlot> = def
        .measures
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| {
            let (kind, field) = m.split_once(':').unwrap_or((m, ""));
            MeasureSlot { kind: kind.into(), field: field.into() }
        })
        .collect();
    measures.resize_with(SLOTS.max(measures.len()), || MeasureSlot { kind: String::new(), field: String::new() });
    let name = if def.name.is_empty() && editing { String::new() } else { def.name.clone() };
    Ok(render(&ReportPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "reports"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        id: id.to_string(),
        editing,
        may_change,
        may_schedule: peyvand_crm::automation::reports::may_keep(session.user.role),
        name,
        object: def.object.clone(),
        objects,
        groupable,
        measurable,
        groups,
        measures,
        calendar: def.calendar.clone(),
        chart: def.chart.clone(),
        charts: CHARTS.iter().map(|c| (c.to_string(), t(lang, &format!("report-chart-{c}")))).collect(),
        filter: def.filter.as_ref().map(|f| f.to_string()).unwrap_or_default(),
        shared: def.shared,
        query: query_of(&def),
        shown,
        errors,
    }))
}

/// A group's value as people read it: a choice's label, a record's or user's name, a period.
async fn labels(
    state: &AppState,
    obj: &ObjectDef,
    figures: &Figures,
    lang: &str,
) -> Result<Vec<HashMap<String, String>>, ApiError> {
    let users: HashMap<String, String> = state.db.list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
    let offset = state.db.local_offset();
    let mut out = Vec::new();
    for (name, bucket) in &figures.groups {
        let values: Vec<&Json> = figures.aggregate.rows.iter().filter_map(|r| r.group.get(name)).collect();
        let mut shown = HashMap::new();
        let catalog = state.db.visible_catalog().await?;
        let found = field_of(&catalog, obj, name);
        let field = found.as_ref().map(|(_, f)| f);
        let mut refs = Refs { users: users.clone(), ..Refs::default() };
        if let Some(f) = field
            && f.field_type == FieldType::Relation
            && let Some(target) = &f.options.target
        {
            let ids: Vec<String> = values.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            for (id, title) in state.db.titles(target, &ids).await? {
                refs.records.insert((target.clone(), id), title);
            }
        }
        for v in values {
            let key = key_text(v);
            let label = match (v, bucket, field) {
                (Json::Null, _, _) => t(lang, "record-empty"),
                (Json::String(k), Some(b), _) => bucket_label(lang, *b, figures.calendar, k),
                (_, None, Some(f)) => display_value(lang, f, v, &refs, offset).text,
                _ => key.clone(),
            };
            shown.insert(key, label);
        }
        out.push(shown);
    }
    Ok(out)
}

/// A group value as a map key.
fn key_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// A measure's value as the page shows numbers (a money measure with its currency).
fn measure_text(lang: &str, v: &Json, currency: Option<&str>) -> String {
    match (v, currency) {
        (Json::Null, _) => "—".into(),
        (Json::String(s), Some(c)) if s.parse::<f64>().is_ok() => super::display::format_money(lang, s, c),
        (Json::String(s), _) if s.parse::<f64>().is_ok() => format_number(lang, s),
        (Json::String(s), _) => s.clone(),
        (other, _) => format_number(lang, &other.to_string()),
    }
}

fn measure_label(lang: &str, obj: &ObjectDef, name: &str) -> String {
    let Some((kind, field)) = name.split_once(':') else { return name.to_string() };
    let label = obj
        .field(field)
        .map(|f| peyvand_crm::forms::pick(lang, &f.label_fa, &f.label_en).to_string())
        .unwrap_or_else(|| field.to_string());
    let kind = MeasureKind::parse(kind).map(|k| t(lang, &format!("report-measure-{}", k.name()))).unwrap_or_default();
    format!("{kind} {label}")
}

/// The figures as a chart, a table and (with two groupings) a pivot.
pub(super) async fn show(
    state: &AppState,
    obj: &ObjectDef,
    def: &ReportDef,
    figures: &Figures,
    lang: &str,
    with_chart: bool,
) -> Result<Shown, ApiError> {
    let labels = labels(state, obj, figures, lang).await?;
    let rows = &figures.aggregate.rows;
    let group_label = |i: usize, row: &peyvand_store::aggregate::AggregateRow| {
        let name = &figures.groups[i].0;
        let key = row.group.get(name).map(key_text).unwrap_or_default();
        labels[i].get(&key).cloned().unwrap_or(key)
    };
    let currency = |row: &peyvand_store::aggregate::AggregateRow, measure: &str| {
        let field = measure.split_once(':').map(|(_, f)| f).unwrap_or("");
        row.group.get(&format!("{field}__currency")).and_then(Json::as_str).map(str::to_string)
    };
    // Where a group's records are listed (nowhere when too many related records make it).
    let drill = |i: usize| match figures.drill.get(i) {
        Some(Json::Null) | None => format!("/records/{}", encode(&def.object)),
        Some(Json::Bool(false)) => String::new(),
        Some(f) => format!("/records/{}?filter={}", encode(&def.object), encode(&f.to_string())),
    };
    let catalog = state.db.visible_catalog().await?;
    let mut headers: Vec<String> = figures
        .groups
        .iter()
        .map(|(name, _)| match field_of(&catalog, obj, name) {
            Some((prefix, f)) => prefix + peyvand_crm::forms::pick(lang, &f.label_fa, &f.label_en),
            None => t(lang, "report-created-at"),
        })
        .collect();
    headers.push(t(lang, "report-count"));
    headers.extend(figures.measures.iter().map(|m| measure_label(lang, obj, m)));
    let table: Vec<(Vec<String>, String)> = rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let mut cells: Vec<String> = (0..figures.groups.len()).map(|i| group_label(i, row)).collect();
            cells.push(format_number(lang, &row.count.to_string()));
            for m in &figures.measures {
                let v = row.measures.get(m).cloned().unwrap_or(Json::Null);
                cells.push(measure_text(lang, &v, currency(row, m).as_deref()));
            }
            (cells, drill(r))
        })
        .collect();
    // What the chart and the pivot show: the first measure, else the count.
    let first = figures.measures.first();
    let value_of = |row: &peyvand_store::aggregate::AggregateRow| -> Option<f64> {
        match first {
            Some(m) => row.measures.get(m).and_then(|v| match v {
                Json::String(s) => s.parse().ok(),
                other => other.as_f64(),
            }),
            None => Some(row.count as f64),
        }
    };
    let pivot = (figures.groups.len() == 2).then(|| {
        let label_of = |i: usize, v: &Json| labels[i].get(&key_text(v)).cloned().unwrap_or_else(|| key_text(v));
        let down: Vec<String> = figures.values[0].iter().map(|v| label_of(0, v)).collect();
        let columns: Vec<String> = figures.values[1].iter().map(|v| label_of(1, v)).collect();
        let cells: HashMap<(String, String), (String, String)> = rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                let text = match first {
                    Some(m) => {
                        measure_text(lang, row.measures.get(m).unwrap_or(&Json::Null), currency(row, m).as_deref())
                    }
                    None => format_number(lang, &row.count.to_string()),
                };
                ((group_label(0, row), group_label(1, row)), (text, drill(r)))
            })
            .collect();
        Pivot {
            corner: format!("{} / {}", headers[0], headers[1]),
            rows: down
                .iter()
                .map(|a| {
                    let line = columns
                        .iter()
                        .map(|b| cells.get(&(a.clone(), b.clone())).cloned().unwrap_or_default())
                        .collect();
                    (a.clone(), line)
                })
                .collect(),
            columns,
        }
    });
    let kind = Kind::parse(&def.chart);
    let kpi = match (with_chart, def.chart.as_str()) {
        (true, "kpi") => reports::kpi(figures, state.db.today()),
        _ => None,
    };
    let svg = match (with_chart, kind, figures.groups.is_empty()) {
        _ if kpi.is_some() => kpi.as_ref().map(|k| kpi_block(lang, k, &def.name)).unwrap_or_default(),
        (true, Some(kind), false) => {
            let mut categories: Vec<String> = Vec::new();
            let mut links: Vec<Option<String>> = Vec::new();
            let stacked = figures.groups.len() >= 2 && !matches!(kind, Kind::Donut | Kind::Funnel);
            // The second grouping's values, in their order, are the series.
            let mut series: Vec<Series> = if stacked {
                figures.values[1]
                    .iter()
                    .map(|v| Series {
                        name: labels[1].get(&key_text(v)).cloned().unwrap_or_else(|| key_text(v)),
                        values: Vec::new(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            for (r, row) in rows.iter().enumerate() {
                let category = group_label(0, row);
                let c = match categories.iter().position(|x| *x == category) {
                    Some(c) => c,
                    None => {
                        categories.push(category);
                        // With a second grouping a category is several rows: it opens the first's.
                        links.push(Some(drill(r)).filter(|href| !stacked && !href.is_empty()));
                        categories.len() - 1
                    }
                };
                let name = if stacked { group_label(1, row) } else { String::new() };
                let s = match series.iter().position(|s| s.name == name) {
                    Some(s) => s,
                    None => {
                        series.push(Series { name, values: Vec::new() });
                        series.len() - 1
                    }
                };
                let values = &mut series[s].values;
                values.resize(c + 1, None);
                values[c] = Some(values[c].unwrap_or(0.0) + value_of(row).unwrap_or(0.0));
            }
            for s in &mut series {
                s.values.resize(categories.len(), None);
            }
            let title = match first {
                Some(m) => measure_label(lang, obj, m),
                None => t(lang, "report-count"),
            };
            let chart = Chart {
                kind,
                title: format!("{} · {title}", def.name),
                labels: categories,
                series,
                links,
                rtl: lang == "fa",
            };
            charts::svg(&chart, &|v| format_number(lang, &trimmed(v)), &|v| compact(lang, v))
        }
        _ => String::new(),
    };
    Ok(Shown { svg, headers, empty: table.is_empty(), rows: table, pivot, truncated: figures.aggregate.truncated })
}

/// A KPI as pages show it: the period under way so far, the last full period with its change on
/// the one before, and the trend of the last periods.
pub(super) fn kpi_block(lang: &str, k: &reports::Kpi, title: &str) -> String {
    use crate::escape;
    let value = |v: f64| match &k.currency {
        Some(c) => super::display::format_money(lang, &trimmed(v.round()), c),
        None => format_number(lang, &trimmed(v)),
    };
    let period = |key: &str| bucket_label(lang, k.bucket, k.calendar, key);
    let change = match k.change_percent {
        Some(p) => {
            let (class, arrow) = if p >= 0.0 { ("up", "▲") } else { ("down", "▼") };
            let text = crate::i18n::t_args(
                lang,
                "kpi-change",
                &[("percent", format_number(lang, &trimmed((p.abs() * 10.0).round() / 10.0)))],
            );
            format!(r#" <span class="kpi-change {class}">{arrow} {}</span>"#, escape(&text))
        }
        None => String::new(),
    };
    let values: Vec<f64> = k.series.iter().map(|(_, v)| *v).collect();
    let trend = crate::i18n::t_args(lang, "kpi-trend", &[("title", title.to_string())]);
    format!(
        r#"<div class="kpi"><p class="kpi-now"><span class="kpi-label">{now_label}</span> <strong class="kpi-value">{now}</strong></p><p class="kpi-last"><span class="kpi-label">{last_label}</span> <bdi>{last}</bdi>{change}</p>{spark}</div>"#,
        now_label = escape(&crate::i18n::t_args(lang, "kpi-so-far", &[("period", period(&k.current_key))])),
        now = escape(&value(k.current)),
        last_label = escape(&period(&k.last_key)),
        last = escape(&value(k.last)),
        spark = charts::sparkline(&values, &trend, lang == "fa"),
    )
}

/// A chart's number as plain text: whole when it is, else to at most two places.
fn trimmed(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        return format!("{}", v.round() as i64);
    }
    format!("{v:.2}").trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A value axis's step, short: thousands, millions and billions by their word.
pub(super) fn compact(lang: &str, v: f64) -> String {
    let (scale, unit) = match v.abs() {
        a if a >= 1e9 => (1e9, "report-billion"),
        a if a >= 1e6 => (1e6, "report-million"),
        a if a >= 1e3 => (1e3, "report-thousand"),
        _ => return format_number(lang, &trimmed(v)),
    };
    format!("{} {}", format_number(lang, &trimmed(v / scale)), t(lang, unit))
}

/// A grouping's field: one of the object's, or a related record's (`contact.city`) with its
/// relation's label before it ("Contact › ").
fn field_of(catalog: &peyvand_store::catalog::Catalog, obj: &ObjectDef, name: &str) -> Option<(String, FieldDef)> {
    let lang = current_lang();
    match name.split_once('.') {
        None => obj.field(name).map(|f| (String::new(), f.clone())),
        Some((relation, field)) => {
            let r = obj.field(relation)?;
            let target = catalog.object(r.options.target.as_deref()?)?;
            let f = target.field(field)?.clone();
            Some((format!("{} › ", peyvand_crm::forms::pick(lang, &r.label_fa, &r.label_en)), f))
        }
    }
}
