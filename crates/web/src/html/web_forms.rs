//! Web forms on pages (`peyvand_crm::forms`): the public form at `/f/{slug}` (any visitor, in
//! Persian or English, embeddable in the business's own site), and Admin → Web forms, where an
//! admin builds one from a lead's or a contact's fields and finds its link, its snippet and what
//! it has received.

use super::admin::{Option_, Pairs, Words, get, messages, require};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang, set_lang};
use crate::i18n::{field_error_message, format_datetime, t};
use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::forms::{self, ATTRIBUTION, Assign, Definition, Form, FormField, Submission};
use peyvand_records::access::Action;
use peyvand_records::value::parse_datetime;
use peyvand_records::{FieldError, FieldType, ObjectDef};
use std::collections::{BTreeMap, HashMap};

/// One input of a public form.
pub struct PublicField {
    pub name: String,
    pub label: String,
    /// `text`, `email`, `tel`, `url`, `number`, `textarea`, `select` or `checkbox`.
    pub widget: &'static str,
    pub value: String,
    pub required: bool,
    pub choices: Vec<(String, String)>,
    pub error: Option<String>,
    pub ltr: bool,
    pub max: usize,
}

#[derive(Template)]
#[template(path = "public_form.html")]
struct PublicForm {
    layout: Layout,
    tr: Words,
    slug: String,
    name: String,
    intro: String,
    fields: Vec<PublicField>,
    consent: String,
    consent_required: bool,
    consent_error: Option<String>,
    /// The attribution the address carried, sent back with the form.
    attribution: Vec<(String, String)>,
    /// Errors not beside a field (an attribution parameter, …).
    problems: Vec<String>,
    any_error: bool,
    /// After sending: the form's thanks.
    thanks: Option<String>,
}

fn widget(t: FieldType) -> &'static str {
    match t {
        FieldType::Email => "email",
        FieldType::Phone => "tel",
        FieldType::Url => "url",
        FieldType::Integer | FieldType::Decimal => "number",
        FieldType::LongText => "textarea",
        FieldType::Select => "select",
        FieldType::Boolean => "checkbox",
        _ => "text",
    }
}

/// The public form's page: empty, refilled with errors, or thanking.
fn public_page(
    form: &Form,
    obj: &ObjectDef,
    values: &BTreeMap<String, String>,
    attribution: &BTreeMap<String, String>,
    errors: &[FieldError],
    thanks: Option<String>,
) -> Response {
    let lang = current_lang();
    let message = |e: &FieldError| field_error_message(lang, e.code, &e.params);
    let fields: Vec<PublicField> = form
        .definition
        .fields
        .iter()
        .filter_map(|f| {
            let def = obj.field(&f.field)?;
            Some(PublicField {
                name: f.field.clone(),
                label: def.label(lang).to_string(),
                widget: widget(def.field_type),
                value: values.get(&f.field).cloned().unwrap_or_default(),
                required: f.required,
                choices: def
                    .options
                    .options
                    .iter()
                    .map(|o| (o.value.clone(), def.option_label(&o.value, lang).to_string()))
                    .collect(),
                error: errors.iter().find(|e| e.field == f.field).map(message),
                ltr: matches!(def.field_type, FieldType::Email | FieldType::Phone | FieldType::Url),
                max: if def.field_type == FieldType::LongText { forms::MAX_LONG_VALUE } else { forms::MAX_VALUE },
            })
        })
        .collect();
    let problems = errors
        .iter()
        .filter(|e| e.field != "consent" && !fields.iter().any(|f| f.name == e.field))
        .map(|e| format!("{}: {}", e.field, message(e)))
        .collect();
    render(&PublicForm {
        layout: Layout::new(lang, None, None, ""),
        tr: Words::new(lang),
        slug: form.slug.clone(),
        name: form.definition.name.clone(),
        intro: form.intro(lang).to_string(),
        fields,
        consent: form.consent(lang).to_string(),
        consent_required: form.definition.consent_required,
        consent_error: errors.iter().find(|e| e.field == "consent").map(message),
        attribution: attribution.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        problems,
        any_error: !errors.is_empty(),
        thanks,
    })
}

/// A language asked for in the address (`?lang=en`), for a form linked in one language.
fn asked_lang(query: &HashMap<String, String>) -> Option<&'static str> {
    query.get("lang").map(|l| crate::i18n::lang_or_default(l))
}

/// `GET /f/{slug}`: the form, with the address's UTM parameters kept for its submission.
pub async fn public_form(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(lang) = asked_lang(&query) {
        set_lang(lang);
    }
    let result = async {
        let form = forms::published(&state.db, &slug).await?;
        let obj = state.db.object(&form.definition.object).await?;
        let attribution = ATTRIBUTION
            .iter()
            .filter_map(|k| query.get(*k).map(|v| (k.to_string(), v.chars().take(forms::MAX_VALUE).collect())))
            .collect();
        Ok::<_, ApiError>(public_page(&form, &obj, &BTreeMap::new(), &attribution, &[], None))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /f/{slug}`: a visitor's submission. No session and no origin check (it is sent from the
/// business's own site too); a robot's (the hidden field filled) is thanked and dropped; an
/// address that sent too many in the last hour waits (429).
pub async fn public_submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Pairs>,
) -> Response {
    if let Some(lang) = pairs.iter().find(|(k, _)| k == "lang").map(|(_, v)| crate::i18n::lang_or_default(v)) {
        set_lang(lang);
    }
    let result = async {
        let form = forms::published(&state.db, &slug).await?;
        let obj = state.db.object(&form.definition.object).await?;
        let lang = current_lang();
        let thanks = || {
            let text = form.thanks(lang);
            if text.trim().is_empty() { t(lang, "sales-web-form-thanks") } else { text.to_string() }
        };
        if !get(&pairs, "website").is_empty() {
            return Ok(public_page(&form, &obj, &BTreeMap::new(), &BTreeMap::new(), &[], Some(thanks())));
        }
        let client = crate::client::client_addr(&headers, addr.ip(), &state.config.trusted_proxies);
        if !super::sales::may_send_web_form(&state, client)? {
            let mut response = super::error_page(StatusCode::TOO_MANY_REQUESTS, "sales-web-form-busy");
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("3600"));
            return Ok(response);
        }
        let mut submission = Submission { lang: lang.to_string(), ..Submission::default() };
        for (k, v) in &pairs {
            match k.as_str() {
                "website" | "lang" => {}
                "consent" => submission.consent = v == "on" || v == "1",
                k if k.starts_with("utm_") || k == "referrer" || k == "ref" => {
                    submission.attribution.insert(k.to_string(), v.clone());
                }
                // A checkbox sends its value once; any other field's second value is refused
                // below as the field's (it is not one of the form's).
                k => {
                    if submission.values.insert(k.to_string(), v.clone()).is_some() {
                        return Err(FieldError::new(k, "repeated").into());
                    }
                }
            }
        }
        match forms::submit(&state.db, &slug, &submission).await {
            Ok(_) => match &form.definition.redirect {
                Some(to) => Ok(Redirect::to(to).into_response()),
                None => Ok(public_page(&form, &obj, &BTreeMap::new(), &BTreeMap::new(), &[], Some(thanks()))),
            },
            Err(peyvand_store::Error::Validation(errors)) => {
                let mut response = public_page(&form, &obj, &submission.values, &submission.attribution, &errors, None);
                *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                Ok(response)
            }
            Err(e) => Err(ApiError::from(e)),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// A form in the admin's list.
pub struct FormRow {
    pub id: String,
    pub name: String,
    pub object: String,
    pub active: bool,
    pub link: String,
}

#[derive(Template)]
#[template(path = "admin_forms.html")]
struct FormsPage {
    layout: Layout,
    tr: Words,
    forms: Vec<FormRow>,
}

/// `GET /admin/forms`: the web forms, each with its public link.
pub async fn forms_page(State(state): State<AppState>, headers: HeaderMap, session: Session) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let lang = current_lang();
        let catalog = state.db.visible_catalog().await?;
        let base = super::base_url(&state, &headers);
        let rows = forms::list(&state.db)
            .await?
            .into_iter()
            .map(|f| FormRow {
                link: format!("{base}/f/{}", f.slug),
                object: catalog
                    .object(&f.definition.object)
                    .map(|o| o.label(lang).to_string())
                    .unwrap_or(f.definition.object.clone()),
                active: f.definition.active,
                name: f.definition.name,
                id: f.id,
            })
            .collect();
        Ok::<_, ApiError>(render(&FormsPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
            tr: Words::new(lang),
            forms: rows,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// One field the editor offers: asked, required.
pub struct EditorField {
    pub name: String,
    pub label: String,
    pub asked: bool,
    pub required: bool,
}

/// One submission, as the editor lists it.
pub struct SubmissionRow {
    pub when: String,
    pub href: String,
    pub owner: String,
    pub source: String,
    pub duplicates: usize,
}

#[derive(Template)]
#[template(path = "admin_form.html")]
struct EditorPage {
    layout: Layout,
    tr: Words,
    /// The form's id once saved.
    id: Option<String>,
    objects: Vec<Option_>,
    fields: Vec<EditorField>,
    /// The other texts, by the names the form posts.
    texts: BTreeMap<&'static str, String>,
    consent_required: bool,
    active: bool,
    assignees: Vec<Option_>,
    link: Option<String>,
    snippet: Option<String>,
    submissions: Vec<SubmissionRow>,
    errors: Vec<String>,
    saved: bool,
}

/// The editor's texts, by the form's names, from a definition.
fn texts_of(d: &Definition) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("name", d.name.clone()),
        ("intro_fa", d.intro_fa.clone()),
        ("intro_en", d.intro_en.clone()),
        ("consent_fa", d.consent_fa.clone()),
        ("consent_en", d.consent_en.clone()),
        ("thanks_fa", d.thanks_fa.clone()),
        ("thanks_en", d.thanks_en.clone()),
        ("redirect", d.redirect.clone().unwrap_or_default()),
        ("campaign", d.campaign.clone().unwrap_or_default()),
    ])
}

/// What the editor shows: a form (saved, or as just submitted) with its errors.
#[allow(clippy::too_many_arguments)]
async fn editor(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    id: Option<&str>,
    d: &Definition,
    errors: Vec<String>,
    saved: bool,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(&d.object).ok_or(ApiError::NotFound)?;
    let fields = obj
        .live_fields()
        .filter(|f| forms::offered(f))
        .map(|f| {
            let asked = d.fields.iter().find(|g| g.field == f.api_name);
            EditorField {
                name: f.api_name.clone(),
                label: f.label(lang).to_string(),
                asked: asked.is_some(),
                required: asked.is_some_and(|g| g.required),
            }
        })
        .collect();
    let objects = forms::OBJECTS
        .iter()
        .filter_map(|o| catalog.object(o))
        .map(|o| Option_ {
            value: o.api_name.clone(),
            label: o.label(lang).to_string(),
            selected: o.api_name == d.object,
        })
        .collect();
    let users = state.db.list_users().await?;
    let current = match &d.assign {
        Assign::User { user } => format!("user:{user}"),
        Assign::RoundRobin { team } => format!("team:{team}"),
    };
    let assignees = users
        .iter()
        .filter(|u| u.active)
        .map(|u| (format!("user:{}", u.id), u.name.clone()))
        .chain(
            state
                .db
                .list_teams()
                .await?
                .into_iter()
                .map(|tm| (format!("team:{}", tm.id), format!("{} — {}", tm.name, t(lang, "web-forms-in-turn")))),
        )
        .map(|(value, label)| Option_ { selected: value == current, value, label })
        .collect();
    let (mut link, mut snippet, mut submissions) = (None, None, Vec::new());
    if let Some(id) = id {
        let form = forms::get(&state.db, id).await?;
        let url = format!("{}/f/{}", super::base_url(state, headers), form.slug);
        snippet = Some(format!(
            "<iframe src=\"{url}\" title=\"{}\" style=\"inline-size:100%;min-block-size:40rem;border:0\"></iframe>",
            form.definition.name.replace('"', "&quot;").replace('<', "&lt;")
        ));
        link = Some(url);
        let names: HashMap<String, String> = users.iter().map(|u| (u.id.clone(), u.name.clone())).collect();
        let offset = state.config.display_offset;
        submissions = forms::submissions(&state.db, id, 20)
            .await?
            .into_iter()
            .map(|s| SubmissionRow {
                when: parse_datetime(&s.at).map(|at| format_datetime(lang, at, offset)).unwrap_or(s.at.clone()),
                href: format!("/records/{}/{}", encode(&s.object), encode(&s.record_id)),
                owner: s.owner.and_then(|o| names.get(&o).cloned()).unwrap_or_default(),
                source: ["utm_source", "utm_medium", "utm_campaign"]
                    .iter()
                    .filter_map(|k| s.attribution[*k].as_str())
                    .collect::<Vec<_>>()
                    .join(" / "),
                duplicates: s.duplicates.as_array().map_or(0, Vec::len),
            })
            .collect();
    }
    Ok(render(&EditorPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        id: id.map(str::to_string),
        objects,
        fields,
        texts: texts_of(d),
        consent_required: d.consent_required,
        active: d.active,
        assignees,
        link,
        snippet,
        submissions,
        errors,
        saved,
    }))
}

/// A new form's starting point: a lead's names, e-mail, phone and company, owned by the admin.
fn blank(object: &str, obj: &ObjectDef, user: &str) -> Definition {
    let asked: &[&str] = if object == "ticket" {
        &["requester_name", "requester_email", "requester_phone", "subject", "description"]
    } else {
        &["first_name", "last_name", "emails", "phones", "company_name", "description"]
    };
    let fields = asked
        .iter()
        .filter_map(|f| obj.field(f))
        .map(|f| FormField {
            field: f.api_name.clone(),
            required: (f.required && f.default_value.is_none())
                || matches!(f.api_name.as_str(), "requester_name" | "requester_email"),
        })
        .collect();
    Definition {
        name: String::new(),
        object: object.to_string(),
        fields,
        intro_fa: String::new(),
        intro_en: String::new(),
        consent_fa: String::new(),
        consent_en: String::new(),
        consent_required: false,
        thanks_fa: String::new(),
        thanks_en: String::new(),
        redirect: None,
        campaign: None,
        assign: Assign::User { user: user.to_string() },
        active: true,
    }
}

/// `GET /admin/forms/new?object=lead`: a new form.
pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let object = query.get("object").map(String::as_str).filter(|o| forms::OBJECTS.contains(o)).unwrap_or("lead");
        let obj = state.db.object(object).await?;
        editor(&state, &session, &headers, None, &blank(object, &obj, &session.user.id), Vec::new(), false).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /admin/forms/{id}`: a form, its link and snippet, and what it received.
pub async fn edit_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let form = forms::get(&state.db, &id).await?;
        editor(&state, &session, &headers, Some(&id), &form.definition, Vec::new(), false).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// The definition the editor posted.
fn posted(pairs: &Pairs) -> Definition {
    let text = |k: &str| get(pairs, k).to_string();
    let some = |k: &str| Some(text(k).trim().to_string()).filter(|v| !v.is_empty());
    let fields = pairs
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("ask."))
        .map(|f| FormField { field: f.to_string(), required: pairs.iter().any(|(k, _)| *k == format!("req.{f}")) })
        .collect();
    let assign = match get(pairs, "assign").split_once(':') {
        Some(("team", team)) => Assign::RoundRobin { team: team.to_string() },
        Some((_, user)) => Assign::User { user: user.to_string() },
        None => Assign::User { user: String::new() },
    };
    Definition {
        name: text("name"),
        object: text("object"),
        fields,
        intro_fa: text("intro_fa"),
        intro_en: text("intro_en"),
        consent_fa: text("consent_fa"),
        consent_en: text("consent_en"),
        consent_required: !get(pairs, "consent_required").is_empty(),
        thanks_fa: text("thanks_fa"),
        thanks_en: text("thanks_en"),
        redirect: some("redirect"),
        campaign: some("campaign"),
        assign,
        active: !get(pairs, "active").is_empty(),
    }
}

/// `POST /admin/forms/new`: makes the form.
pub async fn create_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save_form(state, headers, None, session, pairs).await
}

/// `POST /admin/forms/{id}`: saves the form.
pub async fn update_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save_form(state, headers, Some(id), session, pairs).await
}

async fn save_form(
    state: AppState,
    headers: HeaderMap,
    id: Option<String>,
    session: Session,
    pairs: Pairs,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let d = posted(&pairs);
        if !forms::OBJECTS.contains(&d.object.as_str()) {
            return Err(ApiError::NotFound);
        }
        match forms::save(&state.db, id.as_deref(), d.clone()).await {
            Ok(form) if id.is_none() => Ok(Redirect::to(&format!("/admin/forms/{}", encode(&form.id))).into_response()),
            Ok(form) => editor(&state, &session, &headers, Some(&form.id), &form.definition, Vec::new(), true).await,
            Err(e) => editor(&state, &session, &headers, id.as_deref(), &d, messages(e)?, false).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/forms/{id}/delete`: removes a form (the records it made stay).
pub async fn delete_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        forms::delete(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/admin/forms").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}
