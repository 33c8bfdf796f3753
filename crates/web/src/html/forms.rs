//! Create and edit forms for any object, generated from its fields, with each validation
//! message beside its field; trash and restore. The handlers call the same store operations as
//! the JSON API; this module only turns form fields into the API's JSON values and back.

use super::display::format_phone;
use super::records::fail;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{field_error_message, format_date, parse_form_date, t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_records::access::Action;
use peyvand_records::normalize::to_latin_digits;
use peyvand_records::value::{parse_date, parse_datetime};
use peyvand_records::{FieldDef, FieldError, FieldType, ObjectDef};
use peyvand_store::Error as StoreError;
use peyvand_store::records::{ListQuery, Record};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

/// Submitted form texts by field name.
type Submitted = BTreeMap<String, String>;

/// Records offered in a relation field's list.
const RELATION_CHOICES: u32 = 200;

/// One choice of a select, multi-select, relation or user field.
#[derive(Default)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
    /// The value of the field this one depends on that the choice belongs under.
    pub parent: Option<String>,
}

/// One field of a form, ready for the template.
pub struct FormField {
    pub name: String,
    pub label: String,
    /// The widget: text, textarea, number, email, tel, url, date, datetime, checkbox, select,
    /// multiselect, list (several values, one per line), money, rating.
    pub widget: &'static str,
    pub value: String,
    pub currency: String,
    /// A date and time's time of day (`14:30`, in the page's digits); its date is `value`.
    pub time: String,
    pub choices: Vec<Choice>,
    pub required: bool,
    pub help: String,
    pub error: Option<String>,
    pub ltr: bool,
    /// The date input takes Jalali dates (Persian pages).
    pub jalali: bool,
    /// For relations: where to look records up by name as the user types.
    pub lookup: Option<String>,
    pub lookup_label: String,
    /// A choice field's choices are drawn in their badges' colours (their place in the list).
    pub badges: bool,
    /// The field whose value decides which choices apply (the page hides the others).
    pub depends_on: Option<String>,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    layout: Layout,
    heading: String,
    action: String,
    cancel_href: String,
    /// Where to go after saving a new record, when not to the record itself.
    back: String,
    version: String,
    form_error: Option<String>,
    fields: Vec<FormField>,
    save_label: String,
    cancel_label: String,
    required_label: String,
    calendar: CalendarLabels,
    /// A new activity's "schedule a follow-up" fields (a task's), named `follow_up.FIELD`.
    follow_up: Vec<FormField>,
    follow_up_label: String,
    follow_up_help: String,
}

/// The object whose new records offer a follow-up, and the object the follow-up is, with the
/// follow-up's fields: logging a call schedules the next one.
const FOLLOWED: &str = "activity";
const FOLLOW_UP: &str = "task";
const FOLLOW_UP_FIELDS: [&str; 3] = ["subject", "due_at", "reminders"];
const FOLLOW_UP_PREFIX: &str = "follow_up.";

/// The follow-up object with only the fields the form offers, if the object is there.
async fn follow_up_object(state: &AppState) -> Result<Option<ObjectDef>, ApiError> {
    let catalog = state.db.visible_catalog().await?;
    Ok(catalog.object(FOLLOW_UP).map(|o| {
        let mut o = (*o).clone();
        o.fields.retain(|f| FOLLOW_UP_FIELDS.contains(&f.api_name.as_str()));
        o
    }))
}

/// What was submitted under `prefix`, without it.
fn under_prefix(submitted: &Submitted, prefix: &str) -> Submitted {
    submitted.iter().filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone()))).collect()
}

/// A new activity's follow-up fields: empty unless filled in; by default tomorrow at 10 with a
/// reminder 15 minutes before.
async fn follow_up_fields(
    state: &AppState,
    submitted: Option<&Submitted>,
    errors: &[FieldError],
) -> Result<Vec<FormField>, ApiError> {
    let Some(task) = follow_up_object(state).await? else { return Ok(Vec::new()) };
    let offset = state.config.display_offset;
    let tomorrow = time::OffsetDateTime::now_utc().to_offset(offset).date().next_day();
    let ten = tomorrow.map(|d| d.with_hms(10, 0, 0).map(|t| t.assume_offset(offset)));
    let mut defaults = Map::new();
    if let Some(Ok(at)) = ten {
        defaults.insert("due_at".into(), json!(peyvand_records::value::format_datetime(at)));
    }
    defaults.insert("reminders".into(), json!(["15m"]));
    let sub = submitted.map(|s| under_prefix(s, FOLLOW_UP_PREFIX));
    let errors: Vec<FieldError> = errors
        .iter()
        .filter_map(|e| Some(FieldError { field: e.field.strip_prefix(FOLLOW_UP_PREFIX)?.to_string(), ..e.clone() }))
        .collect();
    let mut fields = form_fields(state, &task, &defaults, sub.as_ref(), &errors).await?;
    for f in &mut fields {
        f.name = format!("{FOLLOW_UP_PREFIX}{}", f.name);
        f.required = false;
    }
    Ok(fields)
}

/// Words the date picker shows.
pub struct CalendarLabels {
    pub open: String,
    pub months: String,
    pub weekdays: String,
    pub time: String,
    pub year: String,
    pub month: String,
}

fn calendar_labels(lang: &str) -> CalendarLabels {
    CalendarLabels {
        open: t(lang, "calendar-open"),
        months: t(lang, "calendar-months"),
        weekdays: t(lang, "calendar-weekdays"),
        time: t(lang, "calendar-time"),
        year: t(lang, "calendar-year"),
        month: t(lang, "calendar-month"),
    }
}

fn widget(field: &FieldDef) -> &'static str {
    match field.field_type {
        FieldType::LongText => "textarea",
        FieldType::Integer | FieldType::Decimal => "number",
        FieldType::Currency => "money",
        FieldType::Rating => "rating",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime",
        FieldType::Boolean => "checkbox",
        FieldType::Select | FieldType::Relation | FieldType::User => "select",
        FieldType::MultiSelect if field.options.allow_new => "list",
        FieldType::MultiSelect => "multiselect",
        FieldType::Email | FieldType::Phone if field.options.multiple => "list",
        FieldType::Email => "email",
        FieldType::Phone => "tel",
        FieldType::Url => "url",
        FieldType::NationalId => "national_id",
        FieldType::Text => "text",
    }
}

/// The time of day a form shows for a stored date and time, in the page's digits.
fn form_time(lang: &str, value: &Json, offset: time::UtcOffset) -> String {
    let Some(local) = value.as_str().and_then(parse_datetime).map(|t| t.to_offset(offset)) else {
        return String::new();
    };
    let text = format!("{:02}:{:02}", local.hour(), local.minute());
    if lang == "fa" { peyvand_records::normalize::to_persian_digits(&text) } else { text }
}

/// The text a form shows for a stored value.
fn form_text(lang: &str, field: &FieldDef, value: &Json, offset: time::UtcOffset) -> String {
    let plain = |v: &Json| match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    };
    match (field.field_type, value) {
        (_, Json::Null) => String::new(),
        (FieldType::Date, Json::String(s)) => parse_date(s).map(|d| format_date(lang, d)).unwrap_or_default(),
        // The date part, in the page's calendar (the time of day is `form_time`).
        (FieldType::Datetime, Json::String(s)) => {
            parse_datetime(s).map(|t| format_date(lang, t.to_offset(offset).date())).unwrap_or_default()
        }
        (FieldType::Currency, v) => v.get("amount").map(plain).unwrap_or_default(),
        (FieldType::Phone, Json::Array(items)) => {
            items.iter().filter_map(Json::as_str).map(|p| format_phone("en", p)).collect::<Vec<_>>().join("\n")
        }
        (FieldType::Phone, Json::String(p)) => format_phone("en", p),
        (_, Json::Array(items)) => items.iter().map(plain).collect::<Vec<_>>().join("\n"),
        (_, v) => plain(v),
    }
}

/// Builds the form's fields from the object and the current values (a stored record, or what
/// was just submitted), with errors beside their fields.
async fn form_fields(
    state: &AppState,
    object: &ObjectDef,
    values: &Map<String, Json>,
    submitted: Option<&Submitted>,
    errors: &[FieldError],
) -> Result<Vec<FormField>, ApiError> {
    let users = state.db.list_users().await?;
    let mut fields = Vec::new();
    for f in object.visible_fields() {
        fields.push(form_field(state, f, values, submitted, errors, &users).await?);
    }
    Ok(fields)
}

/// One field of a form, with its current or submitted value and its error.
async fn form_field(
    state: &AppState,
    f: &FieldDef,
    values: &Map<String, Json>,
    submitted: Option<&Submitted>,
    errors: &[FieldError],
    users: &[peyvand_store::accounts::User],
) -> Result<FormField, ApiError> {
    let lang = current_lang();
    let offset = state.config.display_offset;
    let current = values.get(&f.api_name).cloned().unwrap_or(Json::Null);
    let value = match submitted.and_then(|s| s.get(&f.api_name)) {
        Some(text) => text.clone(),
        None => form_text(lang, f, &current, offset),
    };
    let selected: Vec<String> = match (&current, submitted.and_then(|s| s.get(&f.api_name))) {
        (_, Some(text)) => text.split('\n').map(str::to_string).collect(),
        (Json::Array(items), None) => items.iter().filter_map(Json::as_str).map(str::to_string).collect(),
        (Json::String(s), None) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut choices: Vec<Choice> = match f.field_type {
        FieldType::Select | FieldType::MultiSelect if !f.options.allow_new => f
            .options
            .options
            .iter()
            .map(|o| Choice {
                value: o.value.clone(),
                label: f.option_label(&o.value, lang).to_string(),
                selected: selected.contains(&o.value),
                parent: o.parent.clone(),
            })
            .collect(),
        FieldType::User => users
            .iter()
            .filter(|u| u.active)
            .map(|u| Choice {
                value: u.id.clone(),
                label: u.name.clone(),
                selected: selected.contains(&u.id),
                ..Default::default()
            })
            .collect(),
        FieldType::Relation => relation_choices(state, f, &selected).await?,
        _ => Vec::new(),
    };
    if matches!(f.field_type, FieldType::Select | FieldType::Relation | FieldType::User) {
        choices.insert(
            0,
            Choice {
                value: String::new(),
                label: t(lang, "record-empty"),
                selected: selected.is_empty(),
                ..Default::default()
            },
        );
    }
    let error = errors.iter().find(|e| e.field == f.api_name).map(|e| field_error_message(lang, e.code, &e.params));
    Ok(FormField {
        name: f.api_name.clone(),
        label: f.label(lang).to_string(),
        widget: widget(f),
        value,
        time: match submitted {
            Some(s) => s.get(&format!("{}__time", f.api_name)).cloned().unwrap_or_default(),
            None => form_time(lang, &current, offset),
        },
        currency: submitted
            .and_then(|s| s.get(&format!("{}__cur", f.api_name)).cloned())
            .or_else(|| current.get("currency").and_then(Json::as_str).map(str::to_string))
            .or_else(|| f.options.currency.clone())
            .unwrap_or_else(|| "IRR".into()),
        choices,
        required: f.required,
        help: if lang == "fa" { f.help_fa.clone() } else { f.help_en.clone() },
        error,
        ltr: matches!(f.field_type, FieldType::Email | FieldType::Phone | FieldType::Url | FieldType::NationalId),
        jalali: lang == "fa",
        lookup: (f.field_type == FieldType::Relation)
            .then(|| f.options.target.as_ref().map(|t| format!("/records/{t}/options")))
            .flatten(),
        lookup_label: t(lang, "form-lookup"),
        badges: matches!(f.field_type, FieldType::Select | FieldType::MultiSelect) && !f.options.allow_new,
        depends_on: f.options.depends_on.clone(),
    })
}

async fn relation_choices(state: &AppState, field: &FieldDef, selected: &[String]) -> Result<Vec<Choice>, ApiError> {
    let Some(target) = field.options.target.clone() else {
        return Ok(Vec::new());
    };
    let obj = state.db.visible_object(&target).await?;
    let sort = obj.title_field.split(' ').next_back().unwrap_or("created_at");
    let query = ListQuery {
        sort: peyvand_records::filter::parse_sort(&obj, sort)?,
        limit: Some(RELATION_CHOICES),
        ..ListQuery::default()
    };
    let page = state.db.list_records(&target, &query).await?;
    let mut choices: Vec<Choice> = page
        .records
        .iter()
        .map(|r| Choice {
            value: r.id.clone(),
            label: r.title.clone(),
            selected: selected.contains(&r.id),
            ..Default::default()
        })
        .collect();
    // The current value stays selectable even when it is not among the first records.
    let missing: Vec<String> =
        selected.iter().filter(|s| !s.is_empty() && !choices.iter().any(|c| &c.value == *s)).cloned().collect();
    for (id, title) in state.db.titles(&target, &missing).await? {
        choices.push(Choice { value: id, label: title, selected: true, ..Default::default() });
    }
    Ok(choices)
}

/// The submitted form: field name → text (several values joined by newlines).
fn collect(pairs: &[(String, String)]) -> Submitted {
    let mut out = Submitted::new();
    for (k, v) in pairs {
        let Some(name) = k.strip_prefix("f.") else { continue };
        match out.get_mut(name) {
            Some(existing) => {
                existing.push('\n');
                existing.push_str(v);
            }
            None => {
                out.insert(name.to_string(), v.clone());
            }
        }
    }
    out
}

/// Turns the submitted texts into the API's JSON values for the object's visible fields.
fn to_json(object: &ObjectDef, submitted: &Submitted, offset: time::UtcOffset) -> Map<String, Json> {
    object.visible_fields().map(|f| (f.api_name.clone(), field_json(f, submitted, offset))).collect()
}

/// One field's submitted text as the API's JSON value.
fn field_json(f: &FieldDef, submitted: &Submitted, offset: time::UtcOffset) -> Json {
    let text = submitted.get(&f.api_name).map(String::as_str).unwrap_or("").trim();
    match widget(f) {
        "checkbox" => json!(text == "on" || text.ends_with("\non") || text == "true"),
        "list" | "multiselect" => {
            let items: Vec<&str> = text.split(['\n', ',', '،']).map(str::trim).filter(|s| !s.is_empty()).collect();
            json!(items)
        }
        "date" if !text.is_empty() => match parse_form_date(text) {
            Some(d) => json!(peyvand_records::value::format_date(d)),
            None => json!(text),
        },
        "datetime" if !text.is_empty() => {
            // The date and, in a box of its own, the time of day (midnight when left empty); a
            // whole `2024-03-20T10:30` in the date's box is read too.
            let time = submitted.get(&format!("{}__time", f.api_name)).map(|t| t.trim()).unwrap_or("");
            let whole = if text.contains(['T', ' ']) || time.is_empty() && text.contains(':') {
                text.to_string()
            } else {
                format!("{text}T{}", if time.is_empty() { "00:00" } else { time })
            };
            json!(local_to_rfc3339(&whole, offset).unwrap_or(whole))
        }
        "money" if !text.is_empty() => {
            let currency = submitted.get(&format!("{}__cur", f.api_name)).map(|c| c.trim().to_uppercase());
            json!({ "amount": text, "currency": currency.filter(|c| !c.is_empty()) })
        }
        _ if text.is_empty() => Json::Null,
        _ => json!(text),
    }
}

/// `2024-03-20T10:30` in the display offset → RFC 3339.
fn local_to_rfc3339(text: &str, offset: time::UtcOffset) -> Option<String> {
    let latin = to_latin_digits(text);
    let (date, clock) = latin.split_once('T').or_else(|| latin.split_once(' '))?;
    let date = parse_form_date(date)?;
    let (h, m) = clock.split_once(':')?;
    let t = time::Time::from_hms(h.parse().ok()?, m.get(..2).unwrap_or(m).parse().ok()?, 0).ok()?;
    let local = time::PrimitiveDateTime::new(date, t).assume_offset(offset);
    Some(peyvand_records::value::format_datetime(local))
}

fn split_errors(e: StoreError) -> Result<(Vec<FieldError>, Option<&'static str>), ApiError> {
    match e {
        StoreError::Validation(errors) => Ok((errors, None)),
        StoreError::Conflict { code, details } => Ok((details, Some(code))),
        other => Err(other.into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    session: &Session,
    object: &ObjectDef,
    record: Option<&Record>,
    values: &Map<String, Json>,
    submitted: Option<&Submitted>,
    errors: &[FieldError],
    conflict: Option<&str>,
    back: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let fields = form_fields(state, object, values, submitted, errors).await?;
    let (heading, action, cancel) = match record {
        Some(r) => (
            t_args(lang, "form-edit-title", &[("title", r.title.clone())]),
            format!("/records/{}/{}/edit", object.api_name, r.id),
            format!("/records/{}/{}", object.api_name, r.id),
        ),
        None => (
            t_args(lang, "list-new", &[("object", object.label(lang).to_string())]),
            format!("/records/{}/new", object.api_name),
            back.map_or_else(|| format!("/records/{}", object.api_name), str::to_string),
        ),
    };
    let form_error = match conflict {
        Some("version_conflict") => Some(field_error_message(lang, "version_conflict", &Json::Null)),
        Some(_) | None if !errors.is_empty() => Some(t(lang, "form-errors")),
        Some(_) => Some(t(lang, "problem-conflict")),
        None => None,
    };
    let follow_up = if record.is_none() && object.api_name == FOLLOWED {
        follow_up_fields(state, submitted, errors).await?
    } else {
        Vec::new()
    };
    let page = FormPage {
        follow_up,
        follow_up_label: t(lang, "form-follow-up"),
        follow_up_help: t(lang, "form-follow-up-help"),
        layout: Layout::new(lang, Some(session), Some(&catalog), &object.api_name),
        heading,
        action,
        cancel_href: cancel,
        back: back.unwrap_or_default().to_string(),
        version: record.map(|r| r.version.to_string()).unwrap_or_default(),
        form_error,
        fields,
        save_label: t(lang, "record-save"),
        cancel_label: t(lang, "record-cancel"),
        required_label: t(lang, "form-required"),
        calendar: calendar_labels(lang),
    };
    Ok((status, render(&page)).into_response())
}

/// A new record's form; `?field=value` fills fields in (a new activity for the contact whose page
/// it was opened from, say), over the fields' defaults.
pub async fn new_form(
    State(state): State<AppState>,
    session: Session,
    Path(object): Path<String>,
    Query(prefill): Query<BTreeMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let obj = state.db.visible_object(&object).await?;
        let mut defaults: Map<String, Json> =
            obj.visible_fields().filter_map(|f| f.default_value.clone().map(|d| (f.api_name.clone(), d))).collect();
        for f in obj.visible_fields() {
            if let Some(v) = prefill.get(&f.api_name) {
                defaults.insert(f.api_name.clone(), Json::String(v.clone()));
            } else if f.field_type == FieldType::Datetime && f.required && !defaults.contains_key(&f.api_name) {
                // When something happened is most often now (a call just made).
                let now = time::OffsetDateTime::now_utc().replace_second(0).unwrap_or(time::OffsetDateTime::now_utc());
                defaults.insert(f.api_name.clone(), json!(peyvand_records::value::format_datetime(now)));
            }
        }
        let back = prefill.get("back").map(|b| super::session::safe_next(b).to_string()).filter(|b| b != "/");
        form_page(&state, &session, &obj, None, &defaults, None, &[], None, back.as_deref(), StatusCode::OK).await
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn create(
    State(state): State<AppState>,
    Path(object): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let obj = state.db.visible_object(&object).await?;
        let submitted = collect(&pairs);
        let input = to_json(&obj, &submitted, state.config.display_offset);
        // Where the form was opened from (a customer's page, to log a call): back there after.
        let back = pairs
            .iter()
            .find(|(k, _)| k == "back")
            .map(|(_, b)| super::session::safe_next(b).to_string())
            .filter(|b| b != "/");
        // A follow-up asked for (its subject given): the activity and its task together.
        let follow_up = match follow_up_object(&state).await? {
            Some(task) if object == FOLLOWED => {
                let sub = under_prefix(&submitted, FOLLOW_UP_PREFIX);
                let asked = sub.get("subject").is_some_and(|s| !s.trim().is_empty());
                asked.then(|| to_json(&task, &sub, state.config.display_offset))
            }
            _ => None,
        };
        let made = match &follow_up {
            Some(task) => {
                let user = Some(session.user.id.as_str());
                peyvand_crm::activities::log(&state.db, user, &input, Some(task)).await.map(|(r, _)| (r, true))
            }
            None => state.db.create_record(Some(&session.user.id), &object, &input, None).await,
        };
        match made {
            Ok((record, _)) => {
                let to = back.unwrap_or_else(|| format!("/records/{object}/{}", record.id));
                Ok(Redirect::to(&to).into_response())
            }
            Err(e) => {
                let (errors, conflict) = split_errors(e)?;
                let empty = Map::new();
                form_page(
                    &state,
                    &session,
                    &obj,
                    None,
                    &empty,
                    Some(&submitted),
                    &errors,
                    conflict,
                    back.as_deref(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn edit_form(
    State(state): State<AppState>,
    session: Session,
    Path((object, id)): Path<(String, String)>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let obj = state.db.visible_object(&object).await?;
        let record = state.db.get_record(&object, &id, false).await?;
        form_page(&state, &session, &obj, Some(&record), &record.fields, None, &[], None, None, StatusCode::OK).await
    }
    .await;
    result.unwrap_or_else(fail)
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

pub async fn update(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let obj = state.db.visible_object(&object).await?;
        let submitted = collect(&pairs);
        let input = to_json(&obj, &submitted, state.config.display_offset);
        let version = field(&pairs, "version").parse::<i64>().ok();
        match state.db.update_record(Some(&session.user.id), &object, &id, &input, version).await {
            Ok(record) => Ok(Redirect::to(&format!("/records/{object}/{}", record.id)).into_response()),
            Err(e) => {
                let (errors, conflict) = split_errors(e)?;
                let record = state.db.get_record(&object, &id, false).await?;
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                form_page(
                    &state,
                    &session,
                    &obj,
                    Some(&record),
                    &record.fields,
                    Some(&submitted),
                    &errors,
                    conflict,
                    None,
                    status,
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn trash(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    if !session.user.role.allows(Action::DeleteRecords) {
        return fail(ApiError::Forbidden);
    }
    match state.db.delete_record(Some(&session.user.id), &object, &id).await {
        Ok(()) => Redirect::to(&format!("/records/{object}/{id}")).into_response(),
        Err(e) => fail(e),
    }
}

pub async fn restore(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    if !session.user.role.allows(Action::RestoreRecords) {
        return fail(ApiError::Forbidden);
    }
    match state.db.restore_record(Some(&session.user.id), &object, &id).await {
        Ok(_) => Redirect::to(&format!("/records/{object}/{id}")).into_response(),
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_become_utc() {
        let tehran = time::UtcOffset::from_hms(3, 30, 0).expect("offset");
        assert_eq!(local_to_rfc3339("2024-03-20T10:30", tehran).as_deref(), Some("2024-03-20T07:00:00.000000Z"));
        assert_eq!(local_to_rfc3339("۱۴۰۳/۰۱/۰۱ ۱۰:۳۰", tehran).as_deref(), Some("2024-03-20T07:00:00.000000Z"));
        assert_eq!(local_to_rfc3339("soon", tehran), None);
    }

    #[test]
    fn repeated_keys_join() {
        let pairs = vec![
            ("csrf".to_string(), "x".to_string()),
            ("f.tags".to_string(), "a".to_string()),
            ("f.tags".to_string(), "b".to_string()),
            ("f.name".to_string(), "n".to_string()),
        ];
        let m = collect(&pairs);
        assert_eq!(m.get("tags").map(String::as_str), Some("a\nb"));
        assert_eq!(m.get("name").map(String::as_str), Some("n"));
        assert!(!m.contains_key("csrf"));
    }
}

#[derive(Template)]
#[template(path = "cell_form.html")]
struct CellForm {
    action: String,
    csrf: String,
    f: FormField,
    calendar: CalendarLabels,
    save_label: String,
    cancel_label: String,
}

#[derive(Template)]
#[template(path = "cell_value.html")]
struct CellValue {
    /// The value as `Cell::html` makes it (escaped there).
    html: String,
    ltr: bool,
}

async fn cell_value(
    state: &AppState,
    object: &ObjectDef,
    record: &Record,
    field: &FieldDef,
) -> Result<Response, ApiError> {
    let refs = super::records::load_refs(state, object, &[record]).await?;
    let cell = super::display::display_value(
        current_lang(),
        field,
        record.fields.get(&field.api_name).unwrap_or(&Json::Null),
        &refs,
        state.config.display_offset,
    );
    Ok(render(&CellValue { html: cell.html(false), ltr: cell.ltr }))
}

async fn cell_form(
    state: &AppState,
    session: &Session,
    object: &ObjectDef,
    record: &Record,
    field: &FieldDef,
    submitted: Option<&Submitted>,
    errors: &[FieldError],
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let users = state.db.list_users().await?;
    let f = form_field(state, field, &record.fields, submitted, errors, &users).await?;
    Ok(render(&CellForm {
        action: format!("/records/{}/{}/cell/{}", object.api_name, record.id, field.api_name),
        csrf: crate::auth::mask_csrf(&session.csrf),
        f,
        calendar: calendar_labels(lang),
        save_label: t(lang, "record-save"),
        cancel_label: t(lang, "record-cancel"),
    }))
}

#[derive(serde::Deserialize)]
pub struct CellQuery {
    #[serde(default)]
    show: Option<String>,
}

/// An inline editor for one field of one record (htmx fragment), or its value (`?show=1`).
pub async fn edit_cell(
    State(state): State<AppState>,
    session: Session,
    Path((object, id, field)): Path<(String, String, String)>,
    axum::extract::Query(q): axum::extract::Query<CellQuery>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let obj = state.db.visible_object(&object).await?;
        let def = obj.field(&field).filter(|f| !f.hidden).cloned().ok_or(ApiError::NotFound)?;
        let record = state.db.get_record(&object, &id, false).await?;
        if q.show.is_some() || !session.user.role.allows(Action::WriteRecords) {
            return cell_value(&state, &obj, &record, &def).await;
        }
        cell_form(&state, &session, &obj, &record, &def, None, &[]).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Saves one field edited inline; shows the new value, or the editor again with the reason.
pub async fn save_cell(
    State(state): State<AppState>,
    Path((object, id, field)): Path<(String, String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let obj = state.db.visible_object(&object).await?;
        let def = obj.field(&field).filter(|f| !f.hidden).cloned().ok_or(ApiError::NotFound)?;
        let submitted = collect(&pairs);
        let mut input = Map::new();
        input.insert(def.api_name.clone(), field_json(&def, &submitted, state.config.display_offset));
        match state.db.update_record(Some(&session.user.id), &object, &id, &input, None).await {
            Ok(record) => cell_value(&state, &obj, &record, &def).await,
            Err(e) => {
                let (errors, _) = split_errors(e)?;
                let record = state.db.get_record(&object, &id, false).await?;
                cell_form(&state, &session, &obj, &record, &def, Some(&submitted), &errors).await
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "options.html")]
struct OptionList {
    empty: String,
    choices: Vec<Choice>,
}

/// Records whose name contains what was typed, as `<option>`s for a relation's list (htmx).
pub async fn lookup_options(
    State(state): State<AppState>,
    session: Session,
    Path(object): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::ReadRecords) {
            return Err(ApiError::Forbidden);
        }
        let obj = state.db.visible_object(&object).await?;
        let text = q.get("q").map(|s| s.trim()).unwrap_or("");
        // Fewer letters than a contains takes: the first records by title, as with none.
        let letters = peyvand_records::normalize::normalize(text).chars().filter(|c| !c.is_whitespace()).count();
        let filter = if letters < peyvand_records::filter::MIN_CONTAINS {
            None
        } else {
            let any: Vec<Json> =
                obj.title_field.split(' ').map(|f| json!({ "field": f, "op": "contains", "value": text })).collect();
            Some(peyvand_records::filter::parse_filter(&obj, &json!({ "or": any }))?)
        };
        let sort = obj.title_field.split(' ').next_back().unwrap_or("created_at");
        let query = ListQuery {
            filter,
            sort: peyvand_records::filter::parse_sort(&obj, sort)?,
            limit: Some(50),
            ..ListQuery::default()
        };
        let page = state.db.list_records(&object, &query).await?;
        let choices = page
            .records
            .into_iter()
            .map(|r| Choice { value: r.id, label: r.title, selected: false, ..Default::default() })
            .collect();
        Ok(render(&OptionList { empty: t(current_lang(), "record-empty"), choices }))
    }
    .await;
    result.unwrap_or_else(fail)
}
