//! The list and the board of any object: saved views, the filter builder, columns, sorting,
//! keyset pages, bulk actions, and moving cards between a select field's values.

use super::display::{Cell, display_value};
use super::records::{fail, load_refs};
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{field_error_message, parse_form_date, t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_records::access::Action;
use peyvand_records::filter::{parse_filter, parse_sort, resolve};
use peyvand_records::normalize::normalize;
use peyvand_records::view::{NewView, ViewDef, ViewKind};
use peyvand_records::{FieldDef, FieldType, ObjectDef, Storage};
use peyvand_store::records::{ListQuery, TotalIs};
use peyvand_transfer::csv_cell;
use peyvand_transfer::export::plain;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// Columns shown by default besides the title.
const DEFAULT_COLUMNS: usize = 5;
/// Cards per board column.
const BOARD_CARDS: u32 = 50;

type Pairs = Vec<(String, String)>;

fn get<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn all<'a>(pairs: &'a Pairs, key: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

/// What a list shows: the view it started from and the filter, sort and columns in force.
#[derive(Clone, Debug, Default)]
pub struct ListState {
    pub view: Option<ViewDef>,
    pub filter: Option<Json>,
    pub sort: String,
    pub columns: Vec<String>,
    pub q: String,
}

impl ListState {
    /// The query string that shows this state again.
    pub fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.view {
            parts.push(format!("view={}", encode(&v.id)));
        }
        if let Some(f) = &self.filter {
            parts.push(format!("filter={}", encode(&f.to_string())));
        }
        if !self.sort.is_empty() {
            parts.push(format!("sort={}", encode(&self.sort)));
        }
        if !self.columns.is_empty() {
            parts.push(format!("columns={}", encode(&self.columns.join(","))));
        }
        if !self.q.is_empty() {
            parts.push(format!("q={}", encode(&self.q)));
        }
        parts.join("&")
    }
}

/// Whether a field's values are ids or codes that people know by a name: a choice's label,
/// a user's name, a related record's title.
fn named_values(def: &FieldDef) -> bool {
    matches!(def.field_type, FieldType::Select | FieldType::MultiSelect | FieldType::User | FieldType::Relation)
}

/// The value a builder's value box stands for, where people type (or pick) names: each of the
/// comma-separated parts that is a choice's label (in either language), a user's name or
/// e-mail, or a related record's title, as its value or id. Anything else stays as typed.
async fn values_from_names(
    state: &AppState,
    object: &ObjectDef,
    users: &[peyvand_store::accounts::User],
    field: &str,
    text: &str,
) -> Result<String, ApiError> {
    let Some(def) = object.field(field).filter(|d| named_values(d)) else { return Ok(text.to_string()) };
    let mut out = Vec::new();
    for part in text.split([',', '،']).map(str::trim).filter(|p| !p.is_empty()) {
        out.push(value_from_name(state, def, users, part).await?);
    }
    Ok(out.join(", "))
}

async fn value_from_name(
    state: &AppState,
    def: &FieldDef,
    users: &[peyvand_store::accounts::User],
    name: &str,
) -> Result<String, ApiError> {
    let same = |a: &str| !a.is_empty() && normalize(a) == normalize(name);
    Ok(match def.field_type {
        FieldType::Select | FieldType::MultiSelect => def
            .options
            .options
            .iter()
            .find(|o| o.value == name || same(&o.label_fa) || same(&o.label_en))
            .map_or_else(|| name.to_string(), |o| o.value.clone()),
        FieldType::User => users
            .iter()
            .find(|u| u.id == name || same(&u.name) || same(&u.email))
            .map_or_else(|| name.to_string(), |u| u.id.clone()),
        // A related record by its title, whatever fields make it ("Nima Karimi"): among the
        // records global search finds by those words, one of the target object titled so.
        FieldType::Relation if !peyvand_transfer::export::is_record_id(name) => {
            let target = def.options.target.as_deref().unwrap_or_default();
            let hits = state.db.search(name, 100).await?;
            hits.into_iter().find(|h| h.object == target && same(&h.title)).map_or_else(|| name.to_string(), |h| h.id)
        }
        _ => name.to_string(),
    })
}

/// For each field whose values people know by name: its values and their names (a select's
/// options; active users; for a relation, the records the filter names and the first few by
/// title), to show conditions by name and to offer names as the value is typed.
async fn value_names(
    state: &AppState,
    object: &ObjectDef,
    lang: &str,
    users: &[peyvand_store::accounts::User],
    filter: Option<&Json>,
) -> Result<BTreeMap<String, Vec<(String, String)>>, ApiError> {
    let mut named: Vec<String> = Vec::new();
    if let Some(f) = filter {
        collect_values(f, &mut named);
    }
    let mut out = BTreeMap::new();
    for def in object.visible_fields().filter(|d| named_values(d)) {
        let names: Vec<(String, String)> = match def.field_type {
            FieldType::Select | FieldType::MultiSelect => def
                .options
                .options
                .iter()
                .map(|o| (o.value.clone(), def.option_label(&o.value, lang).to_string()))
                .collect(),
            FieldType::User => users.iter().filter(|u| u.active).map(|u| (u.id.clone(), u.name.clone())).collect(),
            _ => {
                let target = def.options.target.as_deref().unwrap_or_default();
                let Ok(target_def) = state.db.visible_object(target).await else { continue };
                let sort = target_def.title_field.split(' ').next_back().unwrap_or("created_at");
                let query = ListQuery { sort: parse_sort(&target_def, sort)?, limit: Some(50), ..ListQuery::default() };
                let mut names: Vec<(String, String)> =
                    state.db.list_records(target, &query).await?.records.into_iter().map(|r| (r.id, r.title)).collect();
                let ids: Vec<String> =
                    named.iter().filter(|v| peyvand_transfer::export::is_record_id(v)).cloned().collect();
                if !ids.is_empty() {
                    names.extend(state.db.titles(target, &ids).await?);
                }
                names
            }
        };
        out.insert(def.api_name.clone(), names);
    }
    Ok(out)
}

/// Every string value a filter names.
fn collect_values(filter: &Json, out: &mut Vec<String>) {
    match filter {
        Json::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("value", Json::String(s)) => out.push(s.clone()),
                    ("value", Json::Array(items)) => {
                        out.extend(items.iter().filter_map(Json::as_str).map(str::to_string))
                    }
                    (_, nested) => collect_values(nested, out),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|i| collect_values(i, out)),
        _ => {}
    }
}

/// Ops offered by the filter builder; `is_not_empty` is `is_empty` with `false`.
const BUILDER_OPS: [&str; 12] =
    ["eq", "ne", "contains", "starts_with", "lt", "lte", "gt", "gte", "between", "in", "is_empty", "is_not_empty"];

/// One condition typed in the builder, as filter JSON.
fn builder_condition(object: &ObjectDef, field: &str, op: &str, value: &str) -> Option<Json> {
    let value = value.trim();
    let def = resolve(object, field)?;
    let one = |v: &str| -> Json {
        let v = v.trim();
        match def.field_type {
            // Dates may be typed in Jalali on Persian pages.
            FieldType::Date => {
                parse_form_date(v).map(|d| json!(peyvand_records::value::format_date(d))).unwrap_or(json!(v))
            }
            FieldType::Boolean => json!(matches!(v, "true" | "1" | "yes" | "بله")),
            _ => json!(v),
        }
    };
    Some(match op {
        "is_empty" => json!({ "field": field, "op": "is_empty", "value": true }),
        "is_not_empty" => json!({ "field": field, "op": "is_empty", "value": false }),
        "in" => json!({ "field": field, "op": "in", "value": value.split([',', '،']).map(one).collect::<Vec<_>>() }),
        "between" => {
            let mut parts = value.splitn(2, [',', '،']).map(one);
            json!({ "field": field, "op": "between", "value": [parts.next().unwrap_or(Json::Null), parts.next().unwrap_or(Json::Null)] })
        }
        _ if value.is_empty() => return None,
        _ => json!({ "field": field, "op": op, "value": one(value) }),
    })
}

/// Reads the list state from the query: a saved view, then the builder or the advanced filter,
/// the sort and the columns (with a move up or down) on top.
async fn read_state(
    state: &AppState,
    session: &Session,
    object: &ObjectDef,
    pairs: &Pairs,
) -> Result<ListState, ApiError> {
    let view = match get(pairs, "view").filter(|v| !v.is_empty()) {
        Some(id) => Some(state.db.view(id, &session.user.id).await?),
        None => None,
    };
    let mut s = ListState {
        filter: view.as_ref().and_then(|v| v.filter.clone()),
        sort: view.as_ref().map(|v| v.sort.clone()).unwrap_or_default(),
        columns: view.as_ref().map(|v| v.columns.clone()).unwrap_or_default(),
        view,
        q: get(pairs, "q").unwrap_or("").trim().to_string(),
    };
    if let Some(f) = get(pairs, "filter") {
        s.filter = if f.trim().is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(f)
                    .map_err(|_| ApiError::from(peyvand_records::FieldError::new("filter", "filter_syntax")))?,
            )
        };
    }
    let fields = all(pairs, "cf");
    if !fields.is_empty() {
        let ops = all(pairs, "co");
        let values = all(pairs, "cv");
        // Users are looked up by name only where a condition names a user field.
        let names_a_user = fields.iter().any(|f| object.field(f).is_some_and(|d| d.field_type == FieldType::User));
        let users = if names_a_user { state.db.list_users().await? } else { Vec::new() };
        let mut conditions: Vec<Json> = Vec::new();
        for (i, field) in fields.iter().enumerate().filter(|(_, f)| !f.is_empty()) {
            let op = ops.get(i).copied().unwrap_or("eq");
            let typed = values.get(i).copied().unwrap_or("");
            let value = values_from_names(state, object, &users, field, typed).await?;
            conditions.extend(builder_condition(object, field, op, &value));
        }
        let group = if get(pairs, "match") == Some("any") { "or" } else { "and" };
        s.filter = if conditions.is_empty() { None } else { Some(json!({ group: conditions })) };
    }
    if let Some(sort) = get(pairs, "sort") {
        s.sort = sort.to_string();
    }
    let chosen = all(pairs, "col");
    if !chosen.is_empty() || get(pairs, "columns_form").is_some() {
        s.columns = chosen.iter().map(|c| c.to_string()).collect();
    } else if let Some(c) = get(pairs, "columns") {
        s.columns = c.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
    }
    if let Some((name, dir)) = get(pairs, "move").and_then(|m| m.split_once(':'))
        && let Some(i) = s.columns.iter().position(|c| c == name)
    {
        let j = if dir == "up" { i.checked_sub(1) } else { Some(i + 1).filter(|j| *j < s.columns.len()) };
        if let Some(j) = j {
            s.columns.swap(i, j);
        }
    }
    s.columns.retain(|c| object.field(c).is_some_and(|f| !f.hidden));
    Ok(s)
}

fn default_columns(object: &ObjectDef) -> Vec<String> {
    object
        .visible_fields()
        .filter(|f| !is_title(object, f) && f.field_type != FieldType::LongText)
        .take(DEFAULT_COLUMNS)
        .map(|f| f.api_name.clone())
        .collect()
}

fn is_title(object: &ObjectDef, f: &FieldDef) -> bool {
    object.is_title_field(&f.api_name)
}

/// The store query for a state: its filter AND the quick search on the title fields.
fn store_query(object: &ObjectDef, s: &ListState, extra: Option<Json>) -> Result<ListQuery, ApiError> {
    let mut parts = Vec::new();
    if let Some(f) = &s.filter {
        parts.push(f.clone());
    }
    if !s.q.is_empty() {
        let any: Vec<Json> =
            object.title_field.split(' ').map(|f| json!({ "field": f, "op": "contains", "value": s.q })).collect();
        parts.push(json!({ "or": any }));
    }
    parts.extend(extra);
    let filter = match parts.len() {
        0 => None,
        _ => Some(parse_filter(object, &json!({ "and": parts }))?),
    };
    Ok(ListQuery {
        filter,
        sort: parse_sort(object, &s.sort)?,
        limit: Some(50),
        cursor: None,
        trash: false,
        with_total: true,
        exact_total: false,
        fields: None,
    })
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct ConditionRow {
    pub fields: Vec<Choice>,
    pub ops: Vec<Choice>,
    /// The value as people know it (names, not ids).
    pub value: String,
    /// The list of names offered as the value is typed (`dl-FIELD`), for fields known by name.
    pub list: Option<String>,
}

/// The names offered for one field's values as they are typed.
pub struct NameList {
    pub id: String,
    pub names: Vec<String>,
}

pub struct HeaderCell {
    pub label: String,
    pub href: String,
    /// "▲", "▼" or "".
    pub mark: &'static str,
}

pub struct ColumnChoice {
    pub name: String,
    pub label: String,
    pub checked: bool,
}

pub struct ViewLink {
    pub href: String,
    pub name: String,
    pub current: bool,
    pub shared: bool,
}

pub struct ListRow {
    pub id: String,
    pub href: String,
    pub cells: Vec<Cell>,
}

/// The words of the list page.
pub struct ListWords {
    pub quick_filters: String,
    pub density: String,
    pub empty_filtered: String,
    pub empty_next: String,
    pub views: String,
    pub all_records: String,
    pub count_all: String,
    pub save_view: String,
    pub view_name: String,
    pub shared: String,
    pub delete_view: String,
    pub columns: String,
    pub apply: String,
    pub up: String,
    pub down: String,
    pub filter: String,
    pub match_all: String,
    pub match_any: String,
    pub field: String,
    pub op: String,
    pub value: String,
    pub advanced: String,
    pub clear: String,
    pub select: String,
    pub select_all: String,
    pub bulk: String,
    pub assign_owner: String,
    pub add_tag: String,
    pub delete: String,
    pub export: String,
    pub run: String,
    pub board: String,
    pub table: String,
    pub import: String,
    pub export_xlsx: String,
}

fn words(lang: &str) -> ListWords {
    ListWords {
        quick_filters: t(lang, "list-quick-filters"),
        density: t(lang, "list-density"),
        empty_filtered: t(lang, "list-empty-filtered"),
        empty_next: t(lang, "list-empty-next"),
        views: t(lang, "list-views"),
        all_records: t(lang, "list-view-all"),
        save_view: t(lang, "list-save-view"),
        view_name: t(lang, "list-view-name"),
        shared: t(lang, "list-view-shared"),
        delete_view: t(lang, "list-delete-view"),
        columns: t(lang, "list-columns"),
        apply: t(lang, "list-apply"),
        up: t(lang, "list-move-up"),
        down: t(lang, "list-move-down"),
        filter: t(lang, "filter-title"),
        match_all: t(lang, "filter-match-all"),
        match_any: t(lang, "filter-match-any"),
        field: t(lang, "filter-field"),
        op: t(lang, "filter-op"),
        value: t(lang, "filter-value"),
        advanced: t(lang, "filter-advanced"),
        clear: t(lang, "filter-clear"),
        select: t(lang, "bulk-select"),
        select_all: t(lang, "bulk-select-all"),
        bulk: t(lang, "bulk-action"),
        assign_owner: t(lang, "bulk-assign-owner"),
        add_tag: t(lang, "bulk-add-tag"),
        delete: t(lang, "bulk-delete"),
        export: t(lang, "bulk-export"),
        run: t(lang, "bulk-run"),
        board: t(lang, "list-board"),
        count_all: t(lang, "list-count-all"),
        table: t(lang, "list-table"),
        import: t(lang, "import-button"),
        export_xlsx: t(lang, "bulk-export-xlsx"),
    }
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    layout: Layout,
    w: ListWords,
    object: String,
    heading: String,
    total: String,
    /// The same list counted exactly, when its count stopped at the cap.
    count_all_href: Option<String>,
    state_query: String,
    q: String,
    /// Says how many letters the quick search needs, while it has fewer.
    q_hint: Option<String>,
    sort: String,
    columns_value: String,
    filter_json: String,
    /// The object's letter templates, to print one for every record of the list.
    letter_templates: Vec<(String, String)>,
    letters_label: String,
    filter_state: String,
    filter_error: Option<String>,
    match_any: bool,
    conditions: Vec<ConditionRow>,
    /// How many conditions the list is filtered by (shown on the filter panel), 0 for none.
    filter_count: usize,
    /// The same, in the page's digits.
    filter_count_text: String,
    name_lists: Vec<NameList>,
    /// Whether the filter may be edited as JSON (admins).
    can_edit_json: bool,
    headers: Vec<HeaderCell>,
    column_choices: Vec<ColumnChoice>,
    views: Vec<ViewLink>,
    current_view: Option<ViewLink>,
    can_share: bool,
    can_write: bool,
    can_delete: bool,
    has_tags: bool,
    users: Vec<Choice>,
    rows: Vec<ListRow>,
    next_href: Option<String>,
    first_href: Option<String>,
    next_label: String,
    first_label: String,
    new_href: Option<String>,
    new_label: String,
    empty_label: String,
    filter_label: String,
    board_href: Option<String>,
    flash: Option<String>,
    /// Quick filters: the values of the object's first indexed choice field, each a link that
    /// filters the list by it (or, when on, back to no filter).
    chips: Vec<Chip>,
}

/// A quick filter above a list.
pub struct Chip {
    pub label: String,
    pub href: String,
    pub on: bool,
    pub colour: usize,
}

/// Builder rows for a flat filter (one AND or OR group of conditions), plus one empty row.
fn condition_rows(
    lang: &str,
    object: &ObjectDef,
    filter: Option<&Json>,
    names: &BTreeMap<String, Vec<(String, String)>>,
) -> (Vec<ConditionRow>, bool, bool) {
    let mut flat = true;
    let mut any = false;
    let mut conds: Vec<(String, String, String)> = Vec::new();
    let read = |c: &Json| -> Option<(String, String, String)> {
        let field = c.get("field")?.as_str()?.to_string();
        let mut op = c.get("op").and_then(Json::as_str).unwrap_or("eq").to_string();
        let v = c.get("value").cloned().unwrap_or(Json::Null);
        if op == "is_empty" && v == json!(false) {
            op = "is_not_empty".into();
        }
        let text = match v {
            Json::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            Json::String(s) => s,
            Json::Bool(true) if op == "is_empty" => String::new(),
            Json::Null => String::new(),
            other => other.to_string(),
        };
        Some((field, op, text))
    };
    match filter {
        None => {}
        Some(f) => {
            let (group, items) = match (f.get("and"), f.get("or")) {
                (Some(Json::Array(items)), _) => (false, items.clone()),
                (_, Some(Json::Array(items))) => (true, items.clone()),
                _ => (false, vec![f.clone()]),
            };
            any = group;
            for item in &items {
                match read(item) {
                    Some(c) => conds.push(c),
                    None => flat = false,
                }
            }
        }
    }
    if !flat {
        conds.clear();
    }
    conds.push((String::new(), "eq".into(), String::new()));
    let mut field_names: Vec<(String, String)> = vec![(String::new(), "—".into())];
    field_names.extend(object.visible_fields().map(|f| (f.api_name.clone(), f.label(lang).to_string())));
    field_names.push(("created_at".into(), t(lang, "attr-created_at")));
    field_names.push(("updated_at".into(), t(lang, "attr-updated_at")));
    let name_of = |field: &str, value: &str| -> String {
        let Some(known) = names.get(field) else { return value.to_string() };
        value
            .split(", ")
            .map(|v| known.iter().find(|(id, _)| id == v).map_or(v, |(_, name)| name.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows = conds
        .into_iter()
        .map(|(field, op, value)| ConditionRow {
            list: names.contains_key(&field).then(|| format!("dl-{field}")),
            value: name_of(&field, &value),
            fields: field_names
                .iter()
                .map(|(n, l)| Choice { value: n.clone(), label: l.clone(), selected: *n == field })
                .collect(),
            ops: BUILDER_OPS
                .iter()
                .map(|o| Choice { value: o.to_string(), label: t(lang, &format!("op-{o}")), selected: *o == op })
                .collect(),
        })
        .collect();
    (rows, any, flat)
}

pub async fn list_page(
    State(state): State<AppState>,
    session: Session,
    Path(object): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Response {
    let state = session.scoped(state);
    list_inner(&state, &session, &object, &pairs).await.unwrap_or_else(fail)
}

async fn list_inner(state: &AppState, session: &Session, object: &str, pairs: &Pairs) -> Result<Response, ApiError> {
    if !session.user.role.allows(Action::ReadRecords) {
        return Err(ApiError::Forbidden);
    }
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(object).ok_or(ApiError::NotFound)?;
    let s = read_state(state, session, &obj, pairs).await?;
    let columns = if s.columns.is_empty() { default_columns(&obj) } else { s.columns.clone() };
    let column_defs: Vec<&FieldDef> = columns.iter().filter_map(|c| obj.field(c)).collect();
    // A quick search of a letter or two would be in most records: the list stays as it is and
    // says how many letters it needs, while the box is still being typed in.
    let significant = s.q.chars().filter(|c| c.is_alphanumeric()).count();
    let q_hint = (!s.q.is_empty() && significant < peyvand_records::filter::MIN_CONTAINS)
        .then(|| t_args(lang, "list-q-too-short", &[("min", peyvand_records::filter::MIN_CONTAINS.to_string())]));
    let typed_q = s.q.clone();
    let s = if q_hint.is_some() { ListState { q: String::new(), ..s } } else { s };
    let mut query = store_query(&obj, &s, None);
    let mut filter_error = None;
    if let Err(ApiError::Store(peyvand_store::Error::Validation(errors))) = &query {
        let reason = errors.first().map(|e| field_error_message(lang, e.code, &e.params)).unwrap_or_default();
        filter_error = Some(t_args(lang, "filter-invalid", &[("reason", reason)]));
        query = store_query(
            &obj,
            &ListState { filter: None, ..s.clone() },
            Some(json!({ "field": "id", "op": "eq", "value": "-" })),
        );
    }
    let mut query = query?;
    // "count all": the exact number of matches, which may take a while on a million.
    query.exact_total = get(pairs, "count") == Some("exact");
    query.cursor = get(pairs, "cursor").filter(|c| !c.is_empty()).map(str::to_string);
    query.fields = Some(column_defs.iter().map(|f| f.api_name.clone()).collect());
    let page = match state.db.list_records(object, &query).await {
        // A filter no index bounds, on a list too large to look through: said where a filter's
        // problems are, with the field as people know it, and nothing listed.
        Err(peyvand_store::Error::Validation(errors)) if errors.iter().any(|e| e.code == "field_not_indexed") => {
            let e = &errors[0];
            let mut params = e.params.clone();
            if let Some(f) = obj.field(&e.field) {
                params["field"] = json!(f.label(lang));
            }
            filter_error =
                Some(t_args(lang, "filter-invalid", &[("reason", field_error_message(lang, e.code, &params))]));
            peyvand_store::records::Page::default()
        }
        other => other?,
    };
    let refs = load_refs(state, &obj, &page.records.iter().collect::<Vec<_>>()).await?;
    let offset = state.config.display_offset;
    let rows = page
        .records
        .iter()
        .map(|r| {
            let mut cells = vec![Cell { text: r.title.clone(), ..Cell::default() }];
            cells.extend(column_defs.iter().map(|f| Cell {
                field: f.api_name.clone(),
                ..display_value(lang, f, r.fields.get(&f.api_name).unwrap_or(&Json::Null), &refs, offset)
            }));
            ListRow { id: r.id.clone(), href: format!("/records/{object}/{}", r.id), cells }
        })
        .collect();
    let base = format!("/records/{object}");
    let sort_link = |name: &str| -> (String, &'static str) {
        let (next, mark) = if s.sort == name {
            (format!("-{name}"), "▲")
        } else if s.sort == format!("-{name}") {
            (name.to_string(), "▼")
        } else {
            (name.to_string(), "")
        };
        let st = ListState { sort: next, ..s.clone() };
        (format!("{base}?{}", st.query()), mark)
    };
    let title_sort = obj.title_field.split(' ').next_back().unwrap_or("created_at").to_string();
    let mut headers = Vec::new();
    let (href, mark) = sort_link(&title_sort);
    headers.push(HeaderCell { label: obj.label(lang).to_string(), href, mark });
    for f in &column_defs {
        let sortable = f.storage() != Storage::List && f.field_type != FieldType::LongText;
        let (href, mark) = if sortable { sort_link(&f.api_name) } else { (String::new(), "") };
        headers.push(HeaderCell { label: f.label(lang).to_string(), href, mark });
    }
    let mut column_choices: Vec<ColumnChoice> = column_defs
        .iter()
        .map(|f| ColumnChoice { name: f.api_name.clone(), label: f.label(lang).to_string(), checked: true })
        .collect();
    column_choices.extend(
        obj.visible_fields().filter(|f| !is_title(&obj, f) && !columns.contains(&f.api_name)).map(|f| ColumnChoice {
            name: f.api_name.clone(),
            label: f.label(lang).to_string(),
            checked: false,
        }),
    );
    let all_users = state.db.list_users().await?;
    let names = value_names(state, &obj, lang, &all_users, s.filter.as_ref()).await?;
    let (conditions, match_any, flat) = condition_rows(lang, &obj, s.filter.as_ref(), &names);
    let filter_count = match (&s.filter, flat) {
        (None, _) => 0,
        (Some(_), true) => conditions.len() - 1,
        (Some(_), false) => 1,
    };
    let name_lists = names
        .into_iter()
        .map(|(field, values)| NameList {
            id: format!("dl-{field}"),
            names: values.into_iter().map(|(_, n)| n).collect(),
        })
        .collect();
    let views: Vec<ViewLink> = state
        .db
        .list_views(object, &session.user.id)
        .await?
        .into_iter()
        .map(|v| ViewLink {
            href: format!("{base}{}?view={}", if v.kind == ViewKind::Board { "/board" } else { "" }, encode(&v.id)),
            current: s.view.as_ref().is_some_and(|c| c.id == v.id),
            name: v.name,
            shared: v.shared,
        })
        .collect();
    let current_view =
        s.view.as_ref().map(|v| ViewLink { href: v.id.clone(), name: v.name.clone(), current: true, shared: v.shared });
    let users = all_users
        .into_iter()
        .filter(|u| u.active)
        .map(|u| Choice { value: u.id, label: u.name, selected: false })
        .collect();
    let state_query = s.query();
    let has_select = obj.visible_fields().any(|f| f.field_type == FieldType::Select);
    // Quick filters on an indexed choice (a filter no index bounds is refused past 200,000 records).
    let chips = obj
        .visible_fields()
        .find(|f| f.field_type == FieldType::Select && f.indexed)
        .map(|f| {
            f.options
                .options
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let filter = json!({ "field": f.api_name, "op": "eq", "value": o.value });
                    let on = s.filter.as_ref() == Some(&filter);
                    let st = ListState { view: None, filter: (!on).then_some(filter), ..s.clone() };
                    Chip {
                        label: f.option_label(&o.value, lang).to_string(),
                        href: format!("{base}?{}", st.query()),
                        on,
                        colour: i % 8,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let view = ListPage {
        chips,
        layout: Layout::new(lang, Some(session), Some(&catalog), object),
        w: words(lang),
        object: object.to_string(),
        heading: obj.plural(lang).to_string(),
        total: t_args(
            lang,
            match page.total_is {
                Some(TotalIs::Estimate) => "list-total-estimate",
                Some(TotalIs::AtLeast) => "list-total-at-least",
                _ => "list-total",
            },
            &[("count", super::display::format_number(lang, &page.total.unwrap_or(0).to_string()))],
        ),
        count_all_href: (page.total_exact == Some(false)).then(|| format!("{base}?{state_query}&count=exact")),
        q: typed_q,
        q_hint,
        sort: s.sort.clone(),
        columns_value: s.columns.join(","),
        filter_json: if flat { String::new() } else { s.filter.as_ref().map(|f| f.to_string()).unwrap_or_default() },
        letter_templates: super::automation::letter_templates(state, object).await?,
        letters_label: t(lang, "letters-list"),
        filter_state: s.filter.as_ref().map(|f| f.to_string()).unwrap_or_default(),
        filter_error,
        match_any,
        conditions,
        filter_count,
        filter_count_text: super::display::format_number(lang, &filter_count.to_string()),
        name_lists,
        can_edit_json: session.user.role.allows(Action::ManageSchema),
        headers,
        column_choices,
        views,
        current_view,
        can_share: session.user.role.allows(Action::RestoreRecords),
        can_write: session.user.role.allows(Action::WriteRecords),
        can_delete: session.user.role.allows(Action::DeleteRecords),
        has_tags: obj.field("tags").is_some_and(|f| f.storage() == Storage::List && !f.hidden),
        users,
        rows,
        next_href: page.next_cursor.map(|c| format!("{base}?{state_query}&cursor={c}")),
        first_href: get(pairs, "cursor").map(|_| format!("{base}?{state_query}")),
        next_label: t(lang, "list-next"),
        first_label: t(lang, "list-first"),
        new_href: session.user.role.allows(Action::WriteRecords).then(|| format!("{base}/new")),
        new_label: t_args(lang, "list-new", &[("object", obj.label(lang).to_string())]),
        empty_label: t(lang, "list-empty"),
        filter_label: t(lang, "list-filter-placeholder"),
        board_href: has_select.then(|| format!("{base}/board?{state_query}")),
        flash: get(pairs, "done")
            .and_then(|n| n.parse::<usize>().ok())
            .map(|n| t_args(lang, "bulk-done", &[("count", n.to_string())])),
        state_query,
    };
    Ok(render(&view))
}

/// Saves the list or board as a view.
pub async fn save_view(
    State(state): State<AppState>,
    Path(object): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let obj = state.db.visible_object(&object).await?;
        let s = read_state(&state, &session, &obj, &pairs).await?;
        let shared = get(&pairs, "shared") == Some("on");
        if shared && !session.user.role.allows(Action::RestoreRecords) {
            return Err(ApiError::Forbidden);
        }
        let kind = if get(&pairs, "kind") == Some("board") { ViewKind::Board } else { ViewKind::List };
        let new = NewView {
            object: object.clone(),
            name: get(&pairs, "name").unwrap_or("").to_string(),
            shared,
            kind,
            filter: s.filter,
            sort: s.sort,
            columns: s.columns,
            group_by: get(&pairs, "group").map(str::to_string),
        };
        let view = state.db.create_view(&session.user.id, &new).await?;
        let page = if kind == ViewKind::Board { "/board" } else { "" };
        Ok(Redirect::to(&format!("/records/{object}{page}?view={}", encode(&view.id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn delete_view(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    match state.db.delete_view(&id, &session.user.id, session.user.role.allows(Action::RestoreRecords)).await {
        Ok(()) => Redirect::to(&format!("/records/{object}")).into_response(),
        Err(e) => fail(e),
    }
}

/// What an export of the list as shown contains: its filter with the quick search, its sort,
/// and the title fields followed by its columns.
async fn export_scope(
    state: &AppState,
    session: &Session,
    object: &str,
    pairs: &Pairs,
) -> Result<(Option<Json>, String, Vec<String>), ApiError> {
    if !session.user.role.allows(Action::ReadRecords) {
        return Err(ApiError::Forbidden);
    }
    let obj = state.db.visible_object(object).await?;
    let s = read_state(state, session, &obj, pairs).await?;
    let mut parts = Vec::new();
    parts.extend(s.filter.clone());
    if !s.q.is_empty() {
        let any: Vec<Json> =
            obj.title_field.split(' ').map(|f| json!({ "field": f, "op": "contains", "value": s.q })).collect();
        parts.push(json!({ "or": any }));
    }
    let filter = (!parts.is_empty()).then(|| json!({ "and": parts }));
    let columns = if s.columns.is_empty() { default_columns(&obj) } else { s.columns.clone() };
    let mut names: Vec<String> = obj.title_field.split(' ').map(str::to_string).collect();
    for c in columns {
        if !names.contains(&c) {
            names.push(c);
        }
    }
    // A filter that does not parse fails the export itself, which says why.
    if let Ok(checked) = filter.as_ref().map(|f| parse_filter(&obj, f)).transpose() {
        log_large_export(state, &obj, checked).await?;
    }
    Ok((filter, s.sort, names))
}

/// Exports of more than this many records are in the security log.
const LOGGED_EXPORT_RECORDS: i64 = 1_000;

/// Notes in the security log an export of more than [`LOGGED_EXPORT_RECORDS`] records (counted
/// as a list's count is: exactly up to 10,000, estimated past them).
async fn log_large_export(
    state: &AppState,
    obj: &ObjectDef,
    filter: Option<peyvand_records::filter::Filter>,
) -> Result<(), ApiError> {
    let counted = ListQuery { filter, with_total: true, limit: Some(1), ..ListQuery::default() };
    let total = state.db.list_records(&obj.api_name, &counted).await?.total.unwrap_or(0);
    if total > LOGGED_EXPORT_RECORDS {
        let details = json!({ "object": obj.api_name, "records": total });
        state.db.log_security(peyvand_store::security::Kind::Export, None, None, None, details).await;
    }
    Ok(())
}

fn attachment(response: &mut Response, content_type: &'static str, file_name: &str) {
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
}

/// The list as shown (its filter, quick search, sort and columns) as a CSV download, streamed
/// page by page.
pub async fn export_view(
    State(state): State<AppState>,
    session: Session,
    Path(object): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let (filter, sort, names) = export_scope(&state, &session, &object, &pairs).await?;
        let export = peyvand_transfer::Export::new(&state.db, &object, filter.as_ref(), &sort, &names)
            .await
            .map_err(|e| ApiError::BadRequest { code: "export_failed", detail: e.to_string() })?;
        let stream = futures_util::stream::unfold(Some(export), |export| async move {
            let mut export = export?;
            match export.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), Some(export))),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "export stopped");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        });
        let mut response = axum::body::Body::from_stream(stream).into_response();
        attachment(&mut response, "text/csv; charset=utf-8", &format!("{object}.csv"));
        Ok::<_, ApiError>(response)
    }
    .await;
    result.unwrap_or_else(fail)
}

/// The list as shown as an Excel workbook: written to a temporary file a page at a time, then
/// sent in pieces.
pub async fn export_view_xlsx(
    State(state): State<AppState>,
    session: Session,
    Path(object): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let (filter, sort, names) = export_scope(&state, &session, &object, &pairs).await?;
        let path = std::env::temp_dir().join(format!("peyvand-export-{}.xlsx", uuid::Uuid::now_v7()));
        peyvand_transfer::export_xlsx(&state.db, &object, filter.as_ref(), &sort, &names, &path)
            .await
            .map_err(|e| ApiError::BadRequest { code: "export_failed", detail: e.to_string() })?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| ApiError::Internal(e.to_string()))?;
        // The open file stays readable after its name is removed (on Unix); its space is freed
        // when the download ends.
        let _ = std::fs::remove_file(&path);
        let stream = futures_util::stream::unfold(Some(file), |file| async move {
            use tokio::io::AsyncReadExt;
            let mut file = file?;
            let mut buf = vec![0u8; 64 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        let mut response = axum::body::Body::from_stream(stream).into_response();
        attachment(
            &mut response,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &format!("{object}.xlsx"),
        );
        Ok::<_, ApiError>(response)
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Runs an action on the selected records: assign an owner, add a tag, trash, export.
pub async fn bulk(
    State(state): State<AppState>,
    Path(object): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let obj = state.db.visible_object(&object).await?;
        let ids: Vec<String> = all(&pairs, "id").into_iter().map(str::to_string).collect();
        let back =
            get(&pairs, "back").filter(|b| b.starts_with('/') && !b.starts_with("//")).unwrap_or("/").to_string();
        if ids.is_empty() {
            return Ok(Redirect::to(&back).into_response());
        }
        let actor = Some(session.user.id.as_str());
        let done = match get(&pairs, "action").unwrap_or("") {
            "assign_owner" => {
                if !session.user.role.allows(Action::WriteRecords) {
                    return Err(ApiError::Forbidden);
                }
                let mut input = serde_json::Map::new();
                input.insert("owner".into(), json!(get(&pairs, "owner").unwrap_or("")));
                state.db.bulk_update(actor, &object, &ids, &input).await?
            }
            "add_tag" => {
                if !session.user.role.allows(Action::WriteRecords) {
                    return Err(ApiError::Forbidden);
                }
                let tag = get(&pairs, "tag").unwrap_or("").trim();
                if tag.is_empty() {
                    return Ok(Redirect::to(&back).into_response());
                }
                state.db.bulk_add_member(actor, &object, &ids, "tags", tag).await?
            }
            "delete" => {
                if !session.user.role.allows(Action::DeleteRecords) {
                    return Err(ApiError::Forbidden);
                }
                state.db.bulk_delete(actor, &object, &ids).await?
            }
            "export" => return export(&state, &obj, &ids, &pairs).await,
            _ => {
                return Err(ApiError::BadRequest { code: "unknown_action", detail: "unknown bulk action".into() });
            }
        };
        let sep = if back.contains('?') { '&' } else { '?' };
        Ok(Redirect::to(&format!("{back}{sep}done={done}")).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

async fn export(state: &AppState, obj: &ObjectDef, ids: &[String], pairs: &Pairs) -> Result<Response, ApiError> {
    let lang = current_lang();
    let columns: Vec<&FieldDef> = match get(pairs, "columns").filter(|c| !c.is_empty()) {
        Some(c) => c.split(',').filter_map(|n| obj.field(n)).collect(),
        None => obj.visible_fields().collect(),
    };
    let mut out = String::from("\u{FEFF}id");
    for f in &columns {
        out.push(',');
        out.push_str(&csv_cell(f.label(lang)));
    }
    out.push_str("\r\n");
    for chunk in ids.chunks(200) {
        let filter = parse_filter(obj, &json!({ "field": "id", "op": "in", "value": chunk }))?;
        let page = state
            .db
            .list_records(&obj.api_name, &ListQuery { filter: Some(filter), limit: Some(500), ..ListQuery::default() })
            .await?;
        for r in &page.records {
            out.push_str(&csv_cell(&r.id));
            for f in &columns {
                out.push(',');
                out.push_str(&csv_cell(&plain(r, f)));
            }
            out.push_str("\r\n");
        }
    }
    let mut response = out.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.csv\"", obj.api_name)) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// What is to be done next about records of `object` (their soonest open task each, by the
/// task's relation to the object), as the user may read them; empty where there are no tasks.
async fn next_tasks(
    state: &AppState,
    catalog: &peyvand_store::catalog::Catalog,
    object: &str,
    ids: &[String],
) -> Result<std::collections::HashMap<String, (String, time::OffsetDateTime)>, ApiError> {
    let mut next = std::collections::HashMap::new();
    let Some(tasks) = catalog.object(NEXT_OBJECT) else { return Ok(next) };
    let Some(link) = tasks
        .live_fields()
        .find(|f| f.field_type == FieldType::Relation && f.options.target.as_deref() == Some(object))
    else {
        return Ok(next);
    };
    if ids.is_empty() || tasks.field("due_at").is_none() {
        return Ok(next);
    }
    let filter = json!({ "and": [
        { "field": link.api_name, "op": "in", "value": ids },
        { "field": "status", "op": "eq", "value": "open" },
    ] });
    let query = ListQuery {
        filter: Some(parse_filter(&tasks, &filter).map_err(|e| ApiError::from(peyvand_store::Error::invalid(e)))?),
        sort: parse_sort(&tasks, "due_at").map_err(|e| ApiError::from(peyvand_store::Error::invalid(e)))?,
        limit: Some(500),
        ..ListQuery::default()
    };
    for task in state.db.list_records(NEXT_OBJECT, &query).await?.records {
        let (Some(about), Some(due)) = (
            task.fields.get(&link.api_name).and_then(Json::as_str),
            task.fields.get("due_at").and_then(Json::as_str).and_then(peyvand_records::value::parse_datetime),
        ) else {
            continue;
        };
        next.entry(about.to_string()).or_insert((task.title.clone(), due));
    }
    Ok(next)
}

/// The object whose open records, by their due time, are what is next about a record.
const NEXT_OBJECT: &str = "task";

pub struct BoardCard {
    pub id: String,
    pub href: String,
    pub title: String,
    pub lines: Vec<String>,
    /// The amount (the object's first money field), shown apart.
    pub amount: Option<String>,
    /// The owner's initials and name, for an avatar.
    pub owner: Option<(String, String)>,
    /// Going stale: nothing happened to it for longer than the lens allows.
    pub stale: bool,
    /// Its next open task: subject, when ("in 2 hours"), overdue.
    pub next: Option<(String, String, bool)>,
}

/// How a domain page shows an object's board (a pipeline's deals): which columns, what every
/// card meets besides the list's filter, the columns' chances and when a card goes stale. The
/// generic board has none of it.
#[derive(Default)]
pub struct BoardLens {
    /// The group field's choices shown as columns, in order, each with a chance in percent
    /// (none: every choice, and an empty column).
    pub columns: Option<Vec<(String, String, Option<i64>)>>,
    /// A condition (JSON filter) every card meets too.
    pub condition: Option<Json>,
    /// A card of a column with a chance below 100 and above 0 is stale when the latest of these
    /// instant fields (or its creation) is more than this many days ago.
    pub stale: Option<(Vec<String>, i64)>,
    pub heading: Option<String>,
    /// Links to the other lenses of the object (the other pipelines): label, address, current.
    pub tabs: Vec<(String, String, bool)>,
    /// The group field, fixed.
    pub group: Option<String>,
    /// The stale mark's words.
    pub stale_label: String,
}

pub struct BoardColumn {
    pub value: String,
    pub label: String,
    pub count: String,
    /// What the column's records are worth (the sum of the object's first money field).
    pub sum: Option<String>,
    /// The sum times the column's chance of winning, where the lens gives one.
    pub weighted: Option<String>,
    /// The choice's colour (its place in the list), as its badge has.
    pub colour: usize,
    pub cards: Vec<BoardCard>,
    pub more: Option<String>,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    layout: Layout,
    w: ListWords,
    object: String,
    heading: String,
    tabs: Vec<(String, String, bool)>,
    /// The lens fixes the group field: no choice of it.
    group_fixed: bool,
    weighted_label: String,
    stale_label: String,
    group: String,
    groups: Vec<Choice>,
    columns: Vec<BoardColumn>,
    filter_state: String,
    table_href: String,
    can_write: bool,
    can_share: bool,
    undo_label: String,
    moved_label: String,
    group_label: String,
    move_label: String,
    fold_label: String,
}

pub async fn board_page(
    State(state): State<AppState>,
    session: Session,
    Path(object): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Response {
    let state = session.scoped(state);
    board_with(&state, &session, &object, &pairs, BoardLens::default()).await.unwrap_or_else(fail)
}

/// The board of `object` as `lens` shows it.
pub async fn board_with(
    state: &AppState,
    session: &Session,
    object: &str,
    pairs: &Pairs,
    lens: BoardLens,
) -> Result<Response, ApiError> {
    if !session.user.role.allows(Action::ReadRecords) {
        return Err(ApiError::Forbidden);
    }
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(object).ok_or(ApiError::NotFound)?;
    let s = read_state(state, session, &obj, pairs).await?;
    let selects: Vec<&FieldDef> = obj.visible_fields().filter(|f| f.field_type == FieldType::Select).collect();
    let wanted = lens
        .group
        .clone()
        .or_else(|| get(pairs, "group").map(str::to_string))
        .or_else(|| s.view.as_ref().and_then(|v| v.group_by.clone()));
    let group = wanted
        .and_then(|g| selects.iter().find(|f| f.api_name == g).copied())
        .or_else(|| selects.first().copied())
        .ok_or(ApiError::NotFound)?;
    // A card shows its amount and its owner apart, and two more fields.
    let money = obj.visible_fields().find(|f| f.field_type == FieldType::Currency);
    let owner = obj.visible_fields().find(|f| f.api_name == peyvand_records::access::OWNER_FIELD);
    let lines: Vec<&FieldDef> = obj
        .visible_fields()
        .filter(|f| !is_title(&obj, f) && f.api_name != group.api_name && f.field_type != FieldType::LongText)
        .filter(|f| Some(f.api_name.as_str()) != money.map(|m| m.api_name.as_str()))
        .filter(|f| Some(f.api_name.as_str()) != owner.map(|o| o.api_name.as_str()))
        .take(2)
        .collect();
    // Each column's count and worth, in one query (grouped as the board is, under the same
    // filter), which a rollup answers when one covers it: no column is counted by reading it.
    // (currency, sum) per column: amounts in different currencies are summed apart.
    let mut sums: std::collections::HashMap<String, Vec<(String, Json)>> = std::collections::HashMap::new();
    let mut counts: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let spec = peyvand_records::aggregate::parse_aggregate(
        &obj,
        &group.api_name,
        money.map(|m| m.api_name.as_str()).unwrap_or_default(),
    )?;
    let filter = store_query(&obj, &s, lens.condition.clone())?.filter;
    for row in state.db.aggregate(object, filter.as_ref(), &spec).await?.rows {
        let key = row.group.get(&group.api_name).and_then(Json::as_str).unwrap_or_default().to_string();
        *counts.entry(key.clone()).or_default() += row.count;
        if let Some(money) = money
            && let Some(sum) = row.sum.get(&money.api_name)
        {
            let currency = row
                .sum
                .get(&format!("{}__currency", money.api_name))
                .or_else(|| row.group.get(&format!("{}__currency", money.api_name)));
            let currency = currency.and_then(Json::as_str).unwrap_or("IRR").to_string();
            sums.entry(key).or_default().push((currency, sum.clone()));
        }
    }
    let values: Vec<(String, String, Option<i64>)> = match &lens.columns {
        Some(columns) => columns.clone(),
        None => {
            let mut all: Vec<(String, String, Option<i64>)> = group
                .options
                .options
                .iter()
                .map(|o| (o.value.clone(), group.option_label(&o.value, lang).to_string(), None))
                .collect();
            all.push((String::new(), t(lang, "list-board-empty"), None));
            all
        }
    };
    let stale_before = lens.stale.as_ref().map(|(fields, days)| {
        let at = time::OffsetDateTime::now_utc() - time::Duration::days(*days);
        (fields, peyvand_records::value::format_datetime(at))
    });
    let offset = state.config.display_offset;
    let mut columns = Vec::new();
    // One query per column: the number of columns is the number of options, not of records.
    for (value, label, chance) in values {
        let condition = if value.is_empty() {
            json!({ "field": group.api_name, "op": "is_empty", "value": true })
        } else {
            json!({ "field": group.api_name, "op": "eq", "value": value })
        };
        let condition = match &lens.condition {
            Some(also) => json!({ "and": [condition, also] }),
            None => condition,
        };
        let mut query = store_query(&obj, &s, Some(condition))?;
        query.limit = Some(BOARD_CARDS);
        query.with_total = false;
        let page = state.db.list_records(object, &query).await?;
        let refs = load_refs(state, &obj, &page.records.iter().collect::<Vec<_>>()).await?;
        let total = counts.get(&value).copied().unwrap_or(0).max(page.records.len() as i64);
        let shown = page.records.len() as i64;
        // Each currency's sum, times `percent` (exact, rounded half away from zero).
        let worth = |percent: i64| {
            money.zip(sums.get(&value)).map(|(money, sums)| {
                let scale = money.options.scale_or_default(money.field_type);
                let shown: Vec<String> = sums
                    .iter()
                    .map(|(currency, sum)| {
                        let amount = sum.as_str().map(str::to_string).unwrap_or_else(|| sum.to_string());
                        let amount = match peyvand_records::decimal::Decimal::parse(&amount, scale) {
                            Ok(d) if percent != 100 => peyvand_records::money::percent_of(d, percent).to_string(),
                            _ => amount,
                        };
                        display_value(lang, money, &json!({ "amount": amount, "currency": currency }), &refs, offset)
                            .text
                    })
                    .collect();
                shown.join(" · ")
            })
        };
        let stale_cut = stale_before.as_ref().filter(|_| chance.is_some_and(|c| c > 0 && c < 100));
        let is_stale = |r: &peyvand_store::records::Record| {
            stale_cut.is_some_and(|(fields, cut)| {
                let latest = fields
                    .iter()
                    .filter_map(|f| r.fields.get(f.as_str()).and_then(Json::as_str))
                    .chain(std::iter::once(r.created_at.as_str()))
                    .max()
                    .unwrap_or_default();
                latest < cut.as_str()
            })
        };
        columns.push(BoardColumn {
            colour: group.options.options.iter().position(|o| o.value == value).unwrap_or(0) % 8,
            sum: worth(100),
            weighted: chance.filter(|c| *c > 0 && *c < 100).and_then(worth),
            count: super::display::format_number(lang, &total.to_string()),
            more: (total > shown).then(|| t_args(lang, "list-more", &[("count", (total - shown).to_string())])),
            cards: page
                .records
                .iter()
                .map(|r| BoardCard {
                    id: r.id.clone(),
                    href: format!("/records/{object}/{}", r.id),
                    title: r.title.clone(),
                    amount: money
                        .and_then(|m| r.fields.get(&m.api_name).filter(|v| !v.is_null()).map(|v| (m, v)))
                        .map(|(m, v)| display_value(lang, m, v, &refs, offset).text),
                    owner: owner
                        .and_then(|o| r.fields.get(&o.api_name).and_then(Json::as_str))
                        .and_then(|id| refs.users.get(id))
                        .map(|name| (super::initials(name), name.clone())),
                    stale: is_stale(r),
                    next: None,
                    lines: lines
                        .iter()
                        .map(|f| {
                            display_value(lang, f, r.fields.get(&f.api_name).unwrap_or(&Json::Null), &refs, offset).text
                        })
                        .filter(|l| l != &t(lang, "record-empty"))
                        .collect(),
                })
                .collect(),
            value,
            label,
        });
    }
    // Each card's next open task, in one query for the whole board.
    let ids: Vec<String> = columns.iter().flat_map(|c| c.cards.iter().map(|card| card.id.clone())).collect();
    let mut next = next_tasks(state, &catalog, object, &ids).await?;
    let now = time::OffsetDateTime::now_utc();
    for card in columns.iter_mut().flat_map(|c| c.cards.iter_mut()) {
        card.next = next
            .remove(&card.id)
            .map(|(subject, due)| (subject, super::display::relative_time(lang, due, now), due < now));
    }
    let state_query = s.query();
    let view = BoardPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), object),
        w: words(lang),
        object: object.to_string(),
        heading: lens.heading.clone().unwrap_or_else(|| obj.plural(lang).to_string()),
        tabs: lens.tabs,
        group_fixed: lens.group.is_some(),
        weighted_label: t(lang, "list-board-weighted"),
        stale_label: lens.stale_label,
        group: group.api_name.clone(),
        groups: selects
            .iter()
            .map(|f| Choice {
                value: f.api_name.clone(),
                label: f.label(lang).to_string(),
                selected: f.api_name == group.api_name,
            })
            .collect(),
        columns,
        table_href: format!("/records/{object}?{state_query}"),
        filter_state: s.filter.as_ref().map(|f| f.to_string()).unwrap_or_default(),
        can_write: session.user.role.allows(Action::WriteRecords),
        can_share: session.user.role.allows(Action::RestoreRecords),
        undo_label: t(lang, "list-undo"),
        moved_label: t_args(lang, "list-board-moved", &[("value", "%s".into())]),
        group_label: t(lang, "list-board-group"),
        move_label: t(lang, "list-board-move"),
        fold_label: t(lang, "list-board-fold"),
    };
    Ok(render(&view))
}

/// Sets a record's select field from the board (drag and drop, or its undo).
pub async fn move_card(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    if !session.user.role.allows(Action::WriteRecords) {
        return fail(ApiError::Forbidden);
    }
    let field = get(&pairs, "field").unwrap_or("").to_string();
    let value = get(&pairs, "value").unwrap_or("");
    let mut input = serde_json::Map::new();
    input.insert(field, if value.is_empty() { Json::Null } else { json!(value) });
    match state.db.update_record(Some(&session.user.id), &object, &id, &input, None).await {
        Ok(record) => axum::Json(json!({ "id": record.id, "version": record.version })).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_the_query() {
        let s = ListState {
            filter: Some(json!({"and": []})),
            sort: "-created_at".into(),
            columns: vec!["city".into()],
            q: "علی".into(),
            view: None,
        };
        let q = s.query();
        assert!(q.contains("sort=-created_at") && q.contains("columns=city") && q.contains("filter=%7B"));
    }
}
