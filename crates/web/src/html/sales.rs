//! Sales pages (`peyvand_crm::sales`): a pipeline's board (the deals board seen through the
//! pipeline: its stages as columns, their weighted sums, deals going stale), the admins' page of
//! pipelines, and the stages a deal went through on its page.

use super::admin::{Pairs, Words, get, messages};
use super::list::{BoardLens, board_with};
use super::records::fail;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::sales::documents::{self, Kind};
use peyvand_crm::sales::pipelines::{self, Pipeline, Stage, StageKind};
use peyvand_crm::sales::{business, leads};
use peyvand_records::access::Action;
use peyvand_store::records::Record;
use serde_json::json;

/// `/pipelines`: the first pipeline's board.
pub async fn pipelines_index(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    match pipelines::list(&state.db).await {
        Ok(all) => match all.first() {
            Some(p) => Redirect::to(&format!("/pipelines/{}", super::session::encode(&p.key))).into_response(),
            None => fail(ApiError::NotFound),
        },
        Err(e) => fail(ApiError::from(e)),
    }
}

/// `/pipelines/{key}`: the deals of a pipeline on a board of its stages.
pub async fn pipeline_board(
    State(state): State<AppState>,
    session: Session,
    Path(key): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let lang = current_lang();
        let all = pipelines::list(&state.db).await?;
        let pipeline = all.iter().find(|p| p.key == key).ok_or(ApiError::NotFound)?;
        let lens = BoardLens {
            columns: Some(
                pipeline
                    .stages
                    .iter()
                    .map(|s| (s.key.clone(), s.label(lang).to_string(), Some(s.probability)))
                    .collect(),
            ),
            condition: Some(json!({ "field": "pipeline", "op": "eq", "value": pipeline.key })),
            stale: pipeline
                .stale_days
                .map(|days| (vec!["last_activity_at".to_string(), "stage_entered_at".to_string()], days)),
            heading: Some(pipeline.name(lang).to_string()),
            tabs: all
                .iter()
                .map(|p| (p.name(lang).to_string(), format!("/pipelines/{}", p.key), p.key == pipeline.key))
                .collect(),
            group: Some("stage".into()),
            stale_label: t(lang, "sales-stale"),
        };
        board_with(&state, &session, "deal", &pairs, lens).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// One stage row of a pipeline's form.
pub struct StageRow {
    pub key: String,
    pub label_fa: String,
    pub label_en: String,
    pub probability: String,
    pub kind: &'static str,
}

pub struct PipelineForm {
    pub key: String,
    pub name_fa: String,
    pub name_en: String,
    pub stale_days: String,
    pub stages: Vec<StageRow>,
}

#[derive(Template)]
#[template(path = "admin_pipelines.html")]
struct PipelinesPage {
    layout: Layout,
    tr: Words,
    pipelines: Vec<PipelineForm>,
    new_pipeline: PipelineForm,
    errors: Vec<String>,
}

fn kind_str(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Open => "open",
        StageKind::Won => "won",
        StageKind::Lost => "lost",
    }
}

fn empty_row(kind: &'static str, probability: &str) -> StageRow {
    StageRow {
        key: String::new(),
        label_fa: String::new(),
        label_en: String::new(),
        probability: probability.into(),
        kind,
    }
}

fn form_of(p: &Pipeline) -> PipelineForm {
    let mut stages: Vec<StageRow> = p
        .stages
        .iter()
        .map(|s| StageRow {
            key: s.key.clone(),
            label_fa: s.label_fa.clone(),
            label_en: s.label_en.clone(),
            probability: s.probability.to_string(),
            kind: kind_str(s.kind),
        })
        .collect();
    stages.push(empty_row("open", ""));
    PipelineForm {
        key: p.key.clone(),
        name_fa: p.name_fa.clone(),
        name_en: p.name_en.clone(),
        stale_days: p.stale_days.map(|d| d.to_string()).unwrap_or_default(),
        stages,
    }
}

pub async fn admin_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    admin_view(&state, &session, Vec::new()).await.unwrap_or_else(fail)
}

async fn admin_view(state: &AppState, session: &Session, errors: Vec<String>) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ManageSchema)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let all = pipelines::list(&state.db).await?;
    let new_pipeline = PipelineForm {
        key: String::new(),
        name_fa: String::new(),
        name_en: String::new(),
        stale_days: "30".into(),
        stages: vec![
            empty_row("open", "20"),
            empty_row("open", "50"),
            empty_row("open", "80"),
            empty_row("won", "100"),
            empty_row("lost", "0"),
        ],
    };
    Ok(render(&PipelinesPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        pipelines: all.iter().map(form_of).collect(),
        new_pipeline,
        errors,
    }))
}

/// A pipeline from its form: the stage rows in order (`stage_*` fields repeat, one per row);
/// a row with neither label is left out, as is one marked for removal.
fn pipeline_input(pairs: &Pairs) -> Pipeline {
    let all =
        |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).collect::<Vec<_>>();
    let (keys, fa, en, chances, kinds) =
        (all("stage_key"), all("stage_label_fa"), all("stage_label_en"), all("stage_probability"), all("stage_kind"));
    let removed = all("stage_remove");
    let mut stages = Vec::new();
    for i in 0..fa.len().min(en.len()) {
        let key = keys.get(i).cloned().unwrap_or_default();
        if (fa[i].is_empty() && en[i].is_empty()) || (!key.is_empty() && removed.contains(&key)) {
            continue;
        }
        let kind = match kinds.get(i).map(String::as_str) {
            Some("won") => StageKind::Won,
            Some("lost") => StageKind::Lost,
            _ => StageKind::Open,
        };
        let probability = chances.get(i).and_then(|c| peyvand_records::normalize::to_latin_digits(c).parse().ok());
        let probability = probability.unwrap_or(match kind {
            StageKind::Won => 100,
            StageKind::Lost | StageKind::Open => 0,
        });
        stages.push(Stage { key, label_fa: fa[i].clone(), label_en: en[i].clone(), probability, kind });
    }
    let stale = peyvand_records::normalize::to_latin_digits(get(pairs, "stale_days").trim());
    Pipeline {
        key: String::new(),
        name_fa: get(pairs, "name_fa").trim().to_string(),
        name_en: get(pairs, "name_en").trim().to_string(),
        position: 0,
        // A number that is not one is out of range (refused), not "never".
        stale_days: if stale.is_empty() { None } else { Some(stale.parse().unwrap_or(-1)) },
        stages,
    }
}

pub async fn admin_create(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        match pipelines::save(&state.db, Some(&session.user.id), None, pipeline_input(&pairs)).await {
            Ok(_) => Ok(Redirect::to("/admin/pipelines").into_response()),
            Err(e) => admin_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn admin_update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        match pipelines::save(&state.db, Some(&session.user.id), Some(&key), pipeline_input(&pairs)).await {
            Ok(_) => Ok(Redirect::to("/admin/pipelines").into_response()),
            Err(e) => admin_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn admin_delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm(session, _pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        match pipelines::delete(&state.db, Some(&session.user.id), &key).await {
            Ok(()) => Ok(Redirect::to("/admin/pipelines").into_response()),
            Err(e) => admin_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// A stay of the deal in a stage, as shown.
pub struct StayRow {
    pub stage: String,
    pub pipeline: String,
    pub colour: usize,
    pub entered: String,
    pub spent: String,
    pub by: Option<String>,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "deal_stages.html")]
struct StagesPanel {
    heading: String,
    empty: String,
    stays: Vec<StayRow>,
    /// A won deal with no order yet: the button that makes it (the masked CSRF token).
    make_order: Option<String>,
    make_order_label: String,
    id: String,
}

/// `seconds` as days, else hours, else minutes, in words.
fn duration(lang: &str, seconds: i64) -> String {
    let (key, count) = match seconds {
        s if s >= 86_400 => ("sales-days", s / 86_400),
        s if s >= 3_600 => ("sales-hours", s / 3_600),
        s => ("sales-minutes", s / 60),
    };
    t_args(lang, key, &[("count", count.to_string())])
}

/// The deal page's panel of the stages it went through, newest first.
pub async fn deal_panel(state: &AppState, session: &Session, record: &Record) -> Result<String, ApiError> {
    let lang = current_lang();
    let stays = pipelines::history(&state.db, &record.id).await?;
    let all = pipelines::list(&state.db).await?;
    let users = state.db.list_users().await?;
    let offset = state.config.display_offset;
    let rows = stays
        .iter()
        .rev()
        .map(|s| {
            let pipeline = all.iter().find(|p| p.key == s.pipeline);
            let stage = pipeline.and_then(|p| p.stage(&s.stage));
            StayRow {
                stage: stage.map_or_else(|| s.stage.clone(), |st| st.label(lang).to_string()),
                pipeline: pipeline.map_or_else(|| s.pipeline.clone(), |p| p.name(lang).to_string()),
                colour: pipeline.and_then(|p| p.stages.iter().position(|st| st.key == s.stage)).unwrap_or(0) % 8,
                entered: peyvand_records::value::parse_datetime(&s.entered_at)
                    .map(|at| crate::i18n::format_datetime(lang, at, offset))
                    .unwrap_or_default(),
                spent: t_args(lang, "sales-stage-spent", &[("time", duration(lang, s.seconds))]),
                by: s
                    .entered_by
                    .as_ref()
                    .and_then(|id| users.iter().find(|u| &u.id == id))
                    .map(|u| t_args(lang, "sales-stage-by", &[("name", u.name.clone())])),
                current: s.left_at.is_none(),
            }
        })
        .collect();
    let won = all
        .iter()
        .find(|p| Some(p.key.as_str()) == record.fields.get("pipeline").and_then(serde_json::Value::as_str))
        .and_then(|p| p.stage(record.fields.get("stage").and_then(serde_json::Value::as_str).unwrap_or_default()))
        .is_some_and(|s| s.kind == StageKind::Won);
    let can = won && record.deleted_at.is_none() && session.user.role.allows(Action::WriteRecords);
    let panel = StagesPanel {
        heading: t(lang, "sales-stage-history"),
        empty: t(lang, "sales-stage-history-empty"),
        stays: rows,
        make_order: can.then(|| crate::auth::mask_csrf(&session.csrf)),
        make_order_label: t(lang, "sales-doc-make-order"),
        id: record.id.clone(),
    };
    panel.render().map_err(|e| ApiError::Internal(e.to_string()))
}

/// A choice of the conversion form.
pub struct Pick {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "lead_convert.html")]
struct LeadPanel {
    tr: Words,
    csrf: String,
    id: String,
    /// What the lead became (label, address), once converted.
    became: Vec<(String, String)>,
    can_convert: bool,
    contacts: Vec<Pick>,
    companies: Vec<Pick>,
    pipelines: Vec<Pick>,
    deal_name: String,
}

/// The lead page's panel: what it became, or the form that converts it (with the records the
/// duplicate check found offered first).
pub async fn lead_panel(state: &AppState, session: &Session, record: &Record) -> Result<String, ApiError> {
    let lang = current_lang();
    let tr = Words::new(lang);
    let link = |field: &str, object: &str, label: String| {
        record
            .fields
            .get(field)
            .and_then(serde_json::Value::as_str)
            .map(|id| (label, format!("/records/{object}/{}", super::session::encode(id))))
    };
    let became: Vec<(String, String)> = [
        link("converted_contact", "contact", tr.t("sales-lead-contact")),
        link("converted_company", "company", tr.t("sales-lead-company")),
        link("converted_deal", "deal", tr.t("sales-lead-deal")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let converted = record.fields.get("converted_at").is_some_and(|v| !v.is_null());
    let disqualified = record.fields.get("status").and_then(serde_json::Value::as_str) == Some("disqualified");
    let can_convert =
        !converted && !disqualified && record.deleted_at.is_none() && session.user.role.allows(Action::WriteRecords);
    let (mut contacts, mut companies, mut pipelines) = (Vec::new(), Vec::new(), Vec::new());
    let company_name = record.fields.get("company_name").and_then(serde_json::Value::as_str).unwrap_or_default();
    if can_convert {
        let (found_contacts, found_companies) = leads::matches(&state.db, record).await?;
        contacts.push(Pick {
            value: String::new(),
            label: tr.t("sales-lead-new-contact"),
            checked: found_contacts.is_empty(),
        });
        for (i, c) in found_contacts.iter().enumerate() {
            contacts.push(Pick { value: c.id.clone(), label: c.title.clone(), checked: i == 0 });
        }
        if !company_name.is_empty() {
            let label = t_args(lang, "sales-lead-new-company", &[("name", company_name.to_string())]);
            companies.push(Pick { value: String::new(), label, checked: found_companies.is_empty() });
        }
        for (i, c) in found_companies.iter().enumerate() {
            companies.push(Pick { value: c.id.clone(), label: c.title.clone(), checked: i == 0 });
        }
        companies.push(Pick {
            value: "none".into(),
            label: tr.t("sales-lead-no-company"),
            checked: company_name.is_empty(),
        });
        for (i, p) in pipelines::list(&state.db).await?.iter().enumerate() {
            pipelines.push(Pick { value: p.key.clone(), label: p.name(lang).to_string(), checked: i == 0 });
        }
    }
    let deal_name = if company_name.is_empty() { record.title.clone() } else { company_name.to_string() };
    let panel = LeadPanel {
        tr,
        csrf: crate::auth::mask_csrf(&session.csrf),
        id: record.id.clone(),
        became,
        can_convert,
        contacts,
        companies,
        pipelines,
        deal_name,
    };
    panel.render().map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Template)]
#[template(path = "lead_convert_failed.html")]
struct ConvertFailed {
    layout: Layout,
    heading: String,
    problems: Vec<String>,
    back: String,
    back_label: String,
}

/// `POST /leads/{id}/convert`: the conversion form; on success the contact's page (or the deal's).
pub async fn convert_lead(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let some = |name: &str| Some(get(&pairs, name).trim().to_string()).filter(|v| !v.is_empty());
        let company = some("company");
        let mut how = leads::Conversion {
            contact_id: some("contact"),
            company_id: company.clone().filter(|c| c != "none"),
            no_company: company.as_deref() == Some("none"),
            deal: None,
        };
        if get(&pairs, "open_deal") == "on" {
            let mut deal = serde_json::Map::new();
            if let Some(name) = some("deal_name") {
                deal.insert("name".into(), json!(name));
            }
            if let Some(amount) = some("deal_amount") {
                deal.insert("amount".into(), json!(amount));
            }
            if let Some(pipeline) = some("deal_pipeline") {
                deal.insert("pipeline".into(), json!(pipeline));
            }
            how.deal = Some(deal);
        }
        match leads::convert(&state.db, Some(&session.user.id), &id, how).await {
            Ok(done) => {
                let to = match &done.deal {
                    Some(deal) => format!("/records/deal/{}", super::session::encode(&deal.id)),
                    None => format!("/records/contact/{}", super::session::encode(&done.contact.id)),
                };
                Ok(Redirect::to(&to).into_response())
            }
            Err(e) => {
                let lang = current_lang();
                let catalog = state.db.visible_catalog().await?;
                let page = ConvertFailed {
                    layout: Layout::new(lang, Some(&session), Some(&catalog), "lead"),
                    heading: t(lang, "sales-lead-not-converted"),
                    problems: messages(e)?,
                    back: format!("/records/lead/{}", super::session::encode(&id)),
                    back_label: t(lang, "sales-lead-back"),
                };
                let mut response = render(&page);
                *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
                Ok(response)
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Leads one client address may send through the web form in an hour (this instance's count).
pub const WEB_FORM_LIMIT: usize = 10;

#[derive(Template)]
#[template(path = "web_form.html")]
struct WebFormPage {
    layout: Layout,
    tr: Words,
    fields: Vec<FormField>,
    message: String,
    campaign: String,
    problems: bool,
    sent: bool,
}

/// One input of the web form.
pub struct FormField {
    pub name: &'static str,
    pub label: String,
    pub value: String,
    pub kind: &'static str,
    pub required: bool,
    pub error: Option<String>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct WebFormValues {
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    company_name: String,
    city: String,
    message: String,
    campaign: String,
    /// Left empty by people; filled by robots (hidden from people and assistive technology).
    website: String,
}

fn web_form_page(values: WebFormValues, errors: Vec<(String, String)>, sent: bool) -> Response {
    let lang = current_lang();
    let error_of = |field: &str| errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.clone());
    let fields = [
        ("first_name", "sales-web-form-first-name", &values.first_name, "text", false),
        ("last_name", "sales-web-form-last-name", &values.last_name, "text", true),
        ("email", "sales-web-form-email", &values.email, "email", false),
        ("phone", "sales-web-form-phone", &values.phone, "tel", false),
        ("company_name", "sales-web-form-company", &values.company_name, "text", false),
        ("city", "sales-web-form-city", &values.city, "text", false),
    ]
    .into_iter()
    .map(|(name, key, value, kind, required)| FormField {
        name,
        label: t(lang, key),
        value: value.clone(),
        kind,
        required,
        error: error_of(name),
    })
    .collect();
    render(&WebFormPage {
        layout: Layout::new(lang, None, None, ""),
        tr: Words::new(lang),
        fields,
        message: values.message.clone(),
        campaign: values.campaign.clone(),
        problems: !errors.is_empty(),
        sent,
    })
}

/// `GET /forms/lead`: the public form a business links to or embeds (`?campaign=` tags it).
pub async fn web_form(Query(values): Query<WebFormValues>) -> Response {
    let values = WebFormValues { campaign: values.campaign.chars().take(200).collect(), ..WebFormValues::default() };
    web_form_page(values, Vec::new(), false)
}

/// Whether `client` may send one more web form (any form) now: at most [`WEB_FORM_LIMIT`] in an
/// hour, counted by this instance.
pub(super) fn may_send_web_form(state: &AppState, client: std::net::IpAddr) -> Result<bool, ApiError> {
    let Ok(mut seen) = state.web_forms.lock() else { return Err(ApiError::Internal("web form limits".into())) };
    let hour_ago = std::time::Instant::now() - std::time::Duration::from_secs(3600);
    seen.retain(|_, times| {
        times.retain(|t| *t > hour_ago);
        !times.is_empty()
    });
    let times = seen.entry(client).or_default();
    times.push(std::time::Instant::now());
    Ok(times.len() <= WEB_FORM_LIMIT)
}

/// `POST /forms/lead`: a visitor's lead. Anyone may send it (from the business's own site too:
/// no session, no origin check); a robot's (the hidden field filled) is thanked and dropped;
/// an address that sent too many in the last hour waits (429).
pub async fn web_form_submit(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::Form(values): axum::Form<WebFormValues>,
) -> Response {
    if !values.website.is_empty() {
        return web_form_page(WebFormValues::default(), Vec::new(), true);
    }
    let client = crate::client::client_addr(&headers, addr.ip(), &state.config.trusted_proxies);
    let allowed = match may_send_web_form(&state, client) {
        Ok(allowed) => allowed,
        Err(e) => return fail(e),
    };
    if !allowed {
        let mut response = super::error_page(axum::http::StatusCode::TOO_MANY_REQUESTS, "sales-web-form-busy");
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("3600"));
        return response;
    }
    let lead = leads::WebLead {
        first_name: values.first_name.clone(),
        last_name: values.last_name.clone(),
        email: values.email.clone(),
        phone: values.phone.clone(),
        company_name: values.company_name.clone(),
        city: values.city.clone(),
        message: values.message.clone(),
        campaign: values.campaign.clone(),
    };
    match leads::from_web_form(&state.db, lead).await {
        Ok(_) => web_form_page(WebFormValues::default(), Vec::new(), true),
        Err(peyvand_store::Error::Validation(errors)) => {
            let lang = current_lang();
            let errors = errors
                .iter()
                .map(|e| (e.field.clone(), crate::i18n::field_error_message(lang, e.code, &e.params)))
                .collect();
            let mut response = web_form_page(values, errors, false);
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => fail(ApiError::from(e)),
    }
}

/// A document's line as shown.
pub struct LineRow {
    pub position: String,
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub discount: String,
    pub tax: String,
    pub total: String,
}

/// A quote or an order as shown on its page and printed.
pub struct DocumentView {
    pub kind: &'static str,
    pub id: String,
    pub title: String,
    pub number: String,
    pub date: String,
    pub customer: String,
    pub lines: Vec<LineRow>,
    /// Label and amount: subtotal, discount, tax, total.
    pub totals: Vec<(String, String)>,
}

async fn document_view(
    state: &AppState,
    lang: &'static str,
    kind: Kind,
    record: &Record,
) -> Result<DocumentView, ApiError> {
    let offset = state.config.display_offset;
    let catalog = state.db.visible_catalog().await?;
    let (header_obj, line_obj) = (
        catalog.object(kind.header()).ok_or(ApiError::NotFound)?,
        catalog.object(kind.line()).ok_or(ApiError::NotFound)?,
    );
    let lines = documents::lines(&state.db, kind, &record.id).await?;
    let refs = super::records::load_refs(state, &header_obj, &[record]).await?;
    let show = |obj: &peyvand_records::ObjectDef, r: &Record, field: &str| match obj.field(field) {
        Some(f) => r
            .fields
            .get(field)
            .filter(|v| !v.is_null())
            .map(|v| super::display::display_value(lang, f, v, &refs, offset).text)
            .unwrap_or_default(),
        None => String::new(),
    };
    let rows = lines
        .iter()
        .map(|l| {
            let discount = match (show(&line_obj, l, "discount_percent"), show(&line_obj, l, "discount")) {
                (p, d) if !p.is_empty() => format!("{p}{} · {d}", if lang == "fa" { "٪" } else { "%" }),
                (_, d) => d,
            };
            LineRow {
                position: show(&line_obj, l, "position"),
                description: l
                    .fields
                    .get("description")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                quantity: show(&line_obj, l, "quantity"),
                unit_price: show(&line_obj, l, "unit_price"),
                discount,
                tax: show(&line_obj, l, "tax"),
                total: show(&line_obj, l, "total"),
            }
        })
        .collect();
    let totals = [
        ("subtotal", "sales-doc-subtotal"),
        ("discount_total", "sales-doc-discount"),
        ("tax_total", "sales-doc-tax"),
        ("total", "sales-doc-total"),
    ]
    .iter()
    .map(|(field, key)| (t(lang, key), show(&header_obj, record, field)))
    .collect();
    let number = record.fields.get("number").and_then(serde_json::Value::as_str).unwrap_or_default();
    let number = if lang == "fa" { peyvand_records::normalize::to_persian_digits(number) } else { number.to_string() };
    let date_field = if kind == Kind::Quote { "issued_on" } else { "ordered_at" };
    let mut date = show(&header_obj, record, date_field);
    if date.is_empty() {
        date = peyvand_records::value::parse_datetime(&record.created_at)
            .map(|at| crate::i18n::format_date(lang, at.to_offset(offset).date()))
            .unwrap_or_default();
    }
    let customer = [show(&header_obj, record, "company"), show(&header_obj, record, "contact")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    Ok(DocumentView {
        kind: kind.header(),
        id: record.id.clone(),
        title: header_obj.label(lang).to_string(),
        number,
        date,
        customer,
        lines: rows,
        totals,
    })
}

#[derive(Template)]
#[template(path = "document_lines.html")]
struct DocumentPanel {
    tr: Words,
    csrf: String,
    doc: DocumentView,
    can_write: bool,
    /// A quote that may become an order.
    can_order: bool,
}

/// The quote's or order's page panel: its lines and totals, and what one does with it.
pub async fn document_panel(
    state: &AppState,
    session: &Session,
    kind: Kind,
    record: &Record,
) -> Result<String, ApiError> {
    let lang = current_lang();
    let doc = document_view(state, lang, kind, record).await?;
    let open =
        matches!(record.fields.get("status").and_then(serde_json::Value::as_str), Some("draft" | "sent" | "accepted"));
    let can_write = session.user.role.allows(Action::WriteRecords) && record.deleted_at.is_none();
    let panel = DocumentPanel {
        tr: Words::new(lang),
        csrf: crate::auth::mask_csrf(&session.csrf),
        can_order: can_write && kind == Kind::Quote && open,
        can_write,
        doc,
    };
    panel.render().map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Template)]
#[template(path = "document_print.html")]
struct PrintPage {
    lang: &'static str,
    dir: &'static str,
    css: String,
    tr: Words,
    doc: DocumentView,
    business: Vec<String>,
    business_name: String,
}

fn kind_of(kind: &str) -> Result<Kind, ApiError> {
    Kind::of_header(kind).ok_or(ApiError::NotFound)
}

/// `/documents/{kind}/{id}/print`: the quote or invoice as printed (to paper or to PDF from the
/// browser): the business, the customer, the lines and the totals, in the user's language.
pub async fn print_document(
    State(state): State<AppState>,
    session: Session,
    Path((kind, id)): Path<(String, String)>,
    Query(pairs): Query<Pairs>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let kind = kind_of(&kind)?;
        // In the customer's language if asked (`?lang=fa`), else the user's.
        let lang = match get(&pairs, "lang") {
            "fa" => "fa",
            "en" => "en",
            _ => current_lang(),
        };
        let record = state.db.get_record(kind.header(), &id, false).await?;
        printed(&state, lang, kind, &record).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// The printed quote or invoice of `record` in `lang` (its reader already checked: staff through
/// their handle, a customer in the portal as theirs).
pub(super) async fn printed(
    state: &AppState,
    lang: &'static str,
    kind: Kind,
    record: &peyvand_store::records::Record,
) -> Result<Response, ApiError> {
    let doc = document_view(state, lang, kind, record).await?;
    let details = business::get(&state.db).await?;
    let pick = |fa: &str, en: &str| {
        let (first, second) = if lang == "fa" { (fa, en) } else { (en, fa) };
        details.get(first).or_else(|| details.get(second)).cloned().unwrap_or_default()
    };
    let tr = Words::new(lang);
    let mut lines = vec![pick("address_fa", "address_en")];
    for (key, label) in [
        ("economic_code", "sales-business-economic-code"),
        ("national_id", "sales-business-national-id"),
        ("postal_code", "sales-business-postal-code"),
        ("phone", "sales-business-phone"),
    ] {
        if let Some(v) = details.get(key) {
            let v = if lang == "fa" { peyvand_records::normalize::to_persian_digits(v) } else { v.clone() };
            lines.push(format!("{}: {v}", tr.t(label)));
        }
    }
    lines.retain(|l| !l.is_empty());
    Ok(render(&PrintPage {
        lang,
        dir: if lang == "fa" { "rtl" } else { "ltr" },
        css: super::assets::url("app.css"),
        business_name: pick("name_fa", "name_en"),
        business: lines,
        tr,
        doc,
    }))
}

/// A document's lines as a form: its lines, then empty rows to add.
pub struct LineInputRow {
    pub product: String,
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub discount_percent: String,
    pub discount_amount: String,
    pub tax_percent: String,
}

#[derive(Template)]
#[template(path = "document_lines_form.html")]
struct LinesFormPage {
    layout: Layout,
    tr: Words,
    doc: DocumentView,
    version: i64,
    rows: Vec<LineInputRow>,
    products: Vec<Pick>,
    errors: Vec<String>,
}

async fn lines_form(
    state: &AppState,
    session: &Session,
    kind: Kind,
    id: &str,
    rows: Option<Vec<LineInputRow>>,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let record = state.db.get_record(kind.header(), id, false).await?;
    let doc = document_view(state, lang, kind, &record).await?;
    let amount = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.get("amount")).and_then(serde_json::Value::as_str).unwrap_or_default().to_string()
    };
    let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
    let mut rows = match rows {
        Some(rows) => rows,
        None => documents::lines(&state.db, kind, id)
            .await?
            .iter()
            .map(|l| LineInputRow {
                product: text(l.fields.get("product")),
                description: text(l.fields.get("description")),
                quantity: text(l.fields.get("quantity")),
                unit_price: amount(l.fields.get("unit_price")),
                discount_percent: text(l.fields.get("discount_percent")),
                discount_amount: amount(l.fields.get("discount_amount")),
                tax_percent: text(l.fields.get("tax_percent")),
            })
            .collect(),
    };
    for _ in 0..3 {
        rows.push(LineInputRow {
            product: String::new(),
            description: String::new(),
            quantity: String::new(),
            unit_price: String::new(),
            discount_percent: String::new(),
            discount_amount: String::new(),
            tax_percent: String::new(),
        });
    }
    let catalog = state.db.visible_catalog().await?;
    let product_obj = catalog.object("product").ok_or(ApiError::NotFound)?;
    let query = peyvand_store::records::ListQuery {
        filter: peyvand_records::filter::parse_filter(
            &product_obj,
            &json!({ "field": "active", "op": "eq", "value": true }),
        )
        .ok(),
        sort: peyvand_records::filter::parse_sort(&product_obj, "name").unwrap_or_default(),
        limit: Some(500),
        cursor: None,
        trash: false,
        with_total: false,
        exact_total: false,
        fields: Some(vec!["name".into()]),
    };
    let products = state
        .db
        .list_records("product", &query)
        .await?
        .records
        .into_iter()
        .map(|p| Pick { value: p.id, label: p.title, checked: false })
        .collect();
    let mut response = render(&LinesFormPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), kind.header()),
        tr: Words::new(lang),
        doc,
        version: record.version,
        rows,
        products,
        errors: errors.clone(),
    });
    if !errors.is_empty() {
        *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// `GET /documents/{kind}/{id}/lines`: the form of a quote's or order's lines.
pub async fn edit_lines(
    State(state): State<AppState>,
    session: Session,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let state = session.scoped(state);
    let result = async { lines_form(&state, &session, kind_of(&kind)?, &id, None, Vec::new()).await }.await;
    result.unwrap_or_else(fail)
}

/// `POST /documents/{kind}/{id}/lines`: saves the form's rows as the document's lines (a row
/// with neither product nor description is left out), all or nothing.
pub async fn save_lines(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let kind = kind_of(&kind)?;
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let all =
            |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).collect::<Vec<_>>();
        let (products, descriptions, quantities, prices, percents, amounts, taxes) = (
            all("line_product"),
            all("line_description"),
            all("line_quantity"),
            all("line_unit_price"),
            all("line_discount_percent"),
            all("line_discount_amount"),
            all("line_tax_percent"),
        );
        let at = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
        let mut rows = Vec::new();
        for i in 0..products.len().max(descriptions.len()) {
            let row = LineInputRow {
                product: at(&products, i),
                description: at(&descriptions, i),
                quantity: at(&quantities, i),
                unit_price: at(&prices, i),
                discount_percent: at(&percents, i),
                discount_amount: at(&amounts, i),
                tax_percent: at(&taxes, i),
            };
            if !row.product.is_empty() || !row.description.is_empty() {
                rows.push(row);
            }
        }
        let record = state.db.get_record(kind.header(), &id, false).await?;
        let currency = record.fields.get("currency").and_then(serde_json::Value::as_str).unwrap_or("IRR").to_string();
        let lines = rows
            .iter()
            .map(|r| {
                let mut line = serde_json::Map::new();
                let mut put = |k: &str, v: &str, money: bool| {
                    if !v.is_empty() {
                        let v = peyvand_records::normalize::to_latin_digits(v);
                        line.insert(
                            k.into(),
                            if money { json!({ "amount": v, "currency": currency }) } else { json!(v) },
                        );
                    }
                };
                put("product", &r.product, false);
                put("description", &r.description, false);
                put("quantity", &r.quantity, false);
                put("unit_price", &r.unit_price, true);
                put("discount_percent", &r.discount_percent, false);
                put("discount_amount", &r.discount_amount, true);
                put("tax_percent", &r.tax_percent, false);
                line
            })
            .collect();
        let version = get(&pairs, "version").parse().ok();
        match documents::set_lines(
            &state.db,
            Some(&session.user.id),
            kind,
            &id,
            documents::LinesInput { version, lines },
        )
        .await
        {
            Ok(_) => {
                Ok(Redirect::to(&format!("/records/{}/{}", kind.header(), super::session::encode(&id))).into_response())
            }
            Err(e) => {
                let problems = messages(e)?;
                lines_form(&state, &session, kind, &id, Some(rows), problems).await
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /documents/quote/{id}/order` and `/records/deal/{id}/order`: the order a quote or a
/// won deal becomes; its page next.
pub async fn make_order(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    CsrfForm(session, _pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let made = match kind.as_str() {
            "quote" => documents::order_from_quote(&state.db, Some(&session.user.id), &id).await,
            "deal" => documents::order_from_deal(&state.db, Some(&session.user.id), &id).await,
            _ => return Err(ApiError::NotFound),
        };
        match made {
            Ok((order, _)) => {
                Ok(Redirect::to(&format!("/records/order/{}", super::session::encode(&order.id))).into_response())
            }
            Err(e) => {
                let lang = current_lang();
                let catalog = state.db.visible_catalog().await?;
                let page = ConvertFailed {
                    layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
                    heading: t(lang, "sales-order-not-made"),
                    problems: messages(e)?,
                    back: format!("/records/{kind}/{}", super::session::encode(&id)),
                    back_label: t(lang, "error-back"),
                };
                let mut response = render(&page);
                *response.status_mut() = axum::http::StatusCode::CONFLICT;
                Ok(response)
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "admin_business.html")]
struct BusinessPage {
    layout: Layout,
    tr: Words,
    fields: Vec<(String, String, String)>,
    /// Each kind's numbering: its key, label, pattern, Persian digits, the next number.
    numbering: Vec<(String, String, String, bool, String)>,
    errors: Vec<String>,
    saved: bool,
}

async fn business_view(
    state: &AppState,
    session: &Session,
    errors: Vec<String>,
    saved: bool,
) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ManageSchema)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let values = business::get(&state.db).await?;
    let fields = business::KEYS
        .iter()
        .map(|k| {
            (
                k.to_string(),
                t(lang, &format!("sales-business-{}", k.replace('_', "-"))),
                values.get(*k).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let numbering = documents::numbering(&state.db)
        .await?
        .into_iter()
        .map(|n| {
            let label = t(lang, &format!("sales-numbering-{}", n.kind));
            (n.kind, label, n.pattern, n.persian_digits, n.next)
        })
        .collect();
    Ok(render(&BusinessPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        fields,
        numbering,
        errors,
        saved,
    }))
}

/// `/admin/business`: the business's name, address and codes, as quotes and invoices print them.
pub async fn business_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    business_view(&state, &session, Vec::new(), false).await.unwrap_or_else(fail)
}

pub async fn save_business(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        let values = business::KEYS.iter().map(|k| (k.to_string(), get(&pairs, k).to_string())).collect();
        // A kind whose pattern the form did not send keeps its numbering.
        let numbering = [Kind::Quote, Kind::Order]
            .iter()
            .filter(|kind| pairs.iter().any(|(k, _)| *k == format!("numbering_{}", kind.header())))
            .map(|kind| {
                let key = format!("numbering_{}", kind.header());
                business::NumberingInput {
                    kind: kind.header().to_string(),
                    pattern: get(&pairs, &key).to_string(),
                    persian_digits: !get(&pairs, &format!("{key}_fa")).is_empty(),
                }
            })
            .collect();
        let settings = business::Settings { business: Some(values), numbering };
        let kinds: Vec<String> = settings.numbering.iter().map(|n| n.kind.clone()).collect();
        match business::save(&state.db, &settings).await {
            Ok(()) => {
                // The portal shows the business's name.
                crate::portal_host::forget(&state);
                business_view(&state, &session, Vec::new(), true).await
            }
            Err(e) => business_view(&state, &session, settings_messages(e, &kinds)?, false).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// The settings' errors as sentences, each after the label of what it is about.
fn settings_messages(e: peyvand_store::Error, kinds: &[String]) -> Result<Vec<String>, ApiError> {
    let lang = current_lang();
    let label = |field: &str| match field.split('.').collect::<Vec<_>>()[..] {
        ["business", key] => t(lang, &format!("sales-business-{}", key.replace('_', "-"))),
        ["numbering", i, ..] => match kinds.get(i.parse::<usize>().unwrap_or(usize::MAX)) {
            Some(kind) => t(lang, &format!("sales-numbering-{kind}")),
            None => field.to_string(),
        },
        _ => field.to_string(),
    };
    match e {
        peyvand_store::Error::Validation(errors) => Ok(errors
            .iter()
            .map(|e| format!("{}: {}", label(&e.field), crate::i18n::field_error_message(lang, e.code, &e.params)))
            .collect()),
        other => messages(other),
    }
}

#[derive(Template)]
#[template(path = "customer_benefits.html")]
struct BenefitsPanel {
    tr: Words,
    /// Name (and its address), what it is, details.
    benefits: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "customer_worth.html")]
struct WorthPanel {
    tr: Words,
    /// Label and value of each figure, in the page's language and digits.
    figures: Vec<(String, String)>,
    /// Profitability's figures (for those who read cost prices) and what it leaves out.
    profit: Vec<(String, String)>,
    profit_note: String,
}

/// A customer's page: what they are worth (lifetime revenue and orders, the average order, the
/// last purchase, the open pipeline).
pub async fn worth_panel(state: &AppState, object: &str, record: &Record) -> Result<String, ApiError> {
    let lang = current_lang();
    let w = peyvand_crm::sales::worth::worth(&state.db, object, &record.id).await?;
    let money = |amounts: &[peyvand_crm::sales::worth::Amount]| -> String {
        if amounts.is_empty() {
            return t(lang, "record-empty");
        }
        amounts
            .iter()
            .map(|a| super::display::format_money(lang, &a.amount, &a.currency))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let count = |n: i64| super::display::format_number(lang, &n.to_string());
    let last = w
        .last_order
        .as_deref()
        .and_then(peyvand_records::value::parse_datetime)
        .map(|d| super::display::relative_time(lang, d, time::OffsetDateTime::now_utc()))
        .unwrap_or_else(|| t(lang, "record-empty"));
    let figures = vec![
        (t(lang, "worth-revenue"), money(&w.revenue)),
        (t(lang, "worth-orders"), count(w.orders)),
        (t(lang, "worth-average"), money(&w.average)),
        (t(lang, "worth-last"), last),
        (t(lang, "worth-pipeline"), money(&w.pipeline)),
        (t(lang, "worth-deals"), count(w.open_deals)),
    ];
    let (mut profit, mut profit_note) = (Vec::new(), String::new());
    // Not for a customer in the trash (their page is read by those who list the trash).
    let profit_of = match record.deleted_at {
        None if peyvand_crm::insights::profit::may_read(&state.db) => {
            Some(peyvand_crm::insights::profit::of_customer(&state.db, object, &record.id, "IRR").await?)
        }
        _ => None,
    };
    if let Some(p) = profit_of {
        let irr = |v: &str| super::display::format_money(lang, v, "IRR");
        let margin = p
            .margin
            .map(|m| format!("{}{}", count(m.round() as i64), if lang == "fa" { "٪" } else { "%" }))
            .unwrap_or_else(|| t(lang, "record-empty"));
        profit = vec![
            (t(lang, "profit-revenue"), irr(&p.revenue)),
            (t(lang, "profit-discounts"), irr(&p.discounts)),
            (t(lang, "profit-product-cost"), irr(&p.product_cost)),
            (t(lang, "profit-service-cost"), irr(&p.service_cost)),
            (t(lang, "profit-profit"), irr(&p.profit)),
            (t(lang, "profit-margin"), margin),
        ];
        let mut notes = vec![crate::i18n::t_args(
            lang,
            "profit-tickets",
            &[("tickets", count(p.tickets)), ("cost", irr(&p.cost_per_ticket))],
        )];
        if p.lines_without_cost > 0 {
            notes.push(crate::i18n::t_args(lang, "profit-without-cost", &[("lines", count(p.lines_without_cost))]));
        }
        profit_note = notes.join(" ");
    }
    WorthPanel { tr: Words::new(lang), figures, profit, profit_note }
        .render()
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A customer's page: the benefits that apply to them today (their own, their company's, their
/// group's); nothing when none do.
pub async fn benefits_panel(state: &AppState, object: &str, record: &Record) -> Result<Vec<String>, ApiError> {
    let lang = current_lang();
    let (contact, company) = match object {
        "contact" => (Some(record.id.as_str()), None),
        _ => (None, Some(record.id.as_str())),
    };
    let found = peyvand_crm::sales::benefits::for_customer(&state.db, contact, company).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object("benefit").ok_or(ApiError::NotFound)?;
    let kind = obj.field("kind");
    let refs = super::display::Refs { records: Default::default(), users: Default::default() };
    let offset = state.config.display_offset;
    let show = |field: &str, b: &Record| {
        obj.field(field)
            .zip(b.fields.get(field).filter(|v| !v.is_null()))
            .map(|(f, v)| super::display::display_value(lang, f, v, &refs, offset).text)
            .unwrap_or_default()
    };
    let benefits = found
        .iter()
        .map(|b| {
            let what = kind
                .map(|k| {
                    k.option_label(
                        b.record.fields.get("kind").and_then(serde_json::Value::as_str).unwrap_or_default(),
                        lang,
                    )
                    .to_string()
                })
                .unwrap_or_default();
            let detail = [
                show("percent", &b.record),
                show("amount", &b.record),
                show("valid_to", &b.record),
                show("description", &b.record),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
            (b.record.title.clone(), format!("/records/benefit/{}", super::session::encode(&b.record.id)), what, detail)
        })
        .collect();
    let panel = BenefitsPanel { tr: Words::new(lang), benefits };
    Ok(vec![panel.render().map_err(|e| ApiError::Internal(e.to_string()))?])
}

#[derive(Template)]
#[template(path = "customer_offers.html")]
struct OffersPanel {
    tr: Words,
    /// Name, link, price and why, of each offer.
    offers: Vec<(String, String, String, String)>,
    /// When the model was built, as the page says it.
    built: String,
}

/// A contact's page: the products they are most likely to buy next (`sales::offers`); nothing
/// before the model's first build or when it has nothing to offer.
pub async fn offers_panel(state: &AppState, record: &Record) -> Result<Option<String>, ApiError> {
    let lang = current_lang();
    let Some(model) = peyvand_crm::sales::offers::info(&state.db).await? else { return Ok(None) };
    let found = peyvand_crm::sales::offers::for_contact(&state.db, &record.id, 5).await?;
    if found.is_empty() {
        return Ok(None);
    }
    let offers = found
        .into_iter()
        .map(|o| {
            let price = match (
                o.price.get("amount").and_then(|v| v.as_str()),
                o.price.get("currency").and_then(|v| v.as_str()),
            ) {
                (Some(amount), Some(currency)) => super::display::format_money(lang, amount, currency),
                _ => String::new(),
            };
            let href = format!("/records/product/{}", super::session::encode(&o.product_id));
            (o.name, href, price, t(lang, &format!("offers-{}", o.reason)))
        })
        .collect();
    let built = peyvand_records::value::parse_datetime(&model.built_at)
        .map(|d| super::display::relative_time(lang, d, time::OffsetDateTime::now_utc()))
        .unwrap_or_default();
    let built = t_args(lang, "offers-built", &[("when", built)]);
    Ok(Some(
        OffersPanel { tr: Words::new(lang), offers, built }.render().map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}
