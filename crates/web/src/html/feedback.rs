//! Feedback on pages (`peyvand_crm::feedback`): the public survey a customer's link opens
//! (`/s/{token}`, no login, skip logic in the browser and again on the server); the surveys, their
//! builder and results (`/surveys`); a member of staff's page with their customers' ratings
//! (`/staff/{id}`); the public idea board (`/ideas`); and, on record pages, a ticket's CSAT and a
//! suggestion's askers.

use super::admin::{Pairs, Words, get, messages, require};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang, set_lang};
use crate::i18n::{field_error_message, format_date, format_datetime, t};
use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::feedback::suggestions;
use peyvand_crm::feedback::surveys::{self, Choice, Condition, Definition, Question, Schedule, Survey};
use peyvand_records::FieldError;
use peyvand_records::access::Action;
use peyvand_records::value::{format_datetime as stored_time, parse_datetime};
use peyvand_store::Error as StoreError;
use peyvand_store::records::Record;
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use time::{Duration, OffsetDateTime};

fn internal(e: askama::Error) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// A number with one decimal in the page's digits, or a dash.
fn one(lang: &str, v: Option<f64>) -> String {
    v.map(|v| super::display::format_number(lang, &format!("{v:.1}"))).unwrap_or_else(|| "—".into())
}

/// The percent sign of the page's language.
fn percent(lang: &str) -> &'static str {
    if lang == "fa" { "٪" } else { "%" }
}

fn digits(lang: &str, v: &str) -> String {
    if lang == "fa" { peyvand_records::normalize::to_persian_digits(v) } else { v.to_string() }
}

/// A public form's language, sent in its `lang` field.
fn lang_of_form(pairs: &Pairs) {
    if let Some(lang) = pairs.iter().find(|(k, _)| k == "lang").map(|(_, v)| crate::i18n::lang_or_default(v)) {
        set_lang(lang);
    }
}

// ---- The public survey ----

pub struct AskedQuestion {
    pub key: String,
    pub kind: String,
    pub label: String,
    pub required: bool,
    /// Value, label.
    pub options: Vec<(String, String)>,
    /// What was picked (refilled after an error).
    pub picked: Vec<String>,
    pub text: String,
    /// The earlier question and its values (comma-separated) it waits for.
    pub when: Option<(String, String)>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "survey_public.html")]
struct PublicSurvey {
    layout: Layout,
    tr: Words,
    token: String,
    name: String,
    intro: String,
    questions: Vec<AskedQuestion>,
    any_error: bool,
    thanks: Option<String>,
}

fn asked(survey: &Survey, given: &Map<String, Json>, errors: &[FieldError], lang: &str) -> Vec<AskedQuestion> {
    survey
        .definition
        .questions
        .iter()
        .map(|q| {
            let picked: Vec<String> = match given.get(&q.key) {
                Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).map(str::to_string).collect(),
                Some(Json::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            };
            AskedQuestion {
                key: q.key.clone(),
                kind: q.kind.clone(),
                label: q.label(lang).to_string(),
                required: q.required,
                options: q.values().into_iter().map(|v| (v.clone(), digits(lang, &q.value_label(&v, lang)))).collect(),
                text: if q.kind == "text" { picked.first().cloned().unwrap_or_default() } else { String::new() },
                picked,
                when: q.when.as_ref().map(|w| (w.question.clone(), w.any_of.join(","))),
                error: errors
                    .iter()
                    .find(|e| e.field == format!("answers.{}", q.key))
                    .map(|e| field_error_message(lang, e.code, &e.params)),
            }
        })
        .collect()
}

/// A link that opens nothing: forged or unknown (404), answered or closed (409), each in words.
fn link_problem(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(_) => super::error_page(StatusCode::NOT_FOUND, "survey-link-invalid"),
        StoreError::Conflict { code: "survey_answered", .. } => {
            super::error_page(StatusCode::CONFLICT, "survey-link-answered")
        }
        StoreError::Conflict { code: "survey_expired", .. } => {
            super::error_page(StatusCode::GONE, "survey-link-expired")
        }
        e => fail(e),
    }
}

/// `GET /s/{token}?lang=en`: the survey an invitation's link opens.
pub async fn public_survey(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(lang) = q.get("lang") {
        set_lang(crate::i18n::lang_or_default(lang));
    }
    let lang = current_lang();
    match surveys::open(&state.db, &token).await {
        Ok((_, survey)) => render(&PublicSurvey {
            layout: Layout::new(lang, None, None, ""),
            tr: Words::new(lang),
            token: token.clone(),
            name: survey.definition.name.clone(),
            intro: survey.definition.intro(lang).to_string(),
            questions: asked(&survey, &Map::new(), &[], lang),
            any_error: false,
            thanks: None,
        }),
        Err(e) => link_problem(e),
    }
}

/// `POST /s/{token}`: the answers (a multiple-choice question's values repeat its name).
pub async fn public_answer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::Form(pairs): axum::Form<Pairs>,
) -> Response {
    lang_of_form(&pairs);
    let lang = current_lang();
    let survey = match surveys::open(&state.db, &token).await {
        Ok((_, s)) => s,
        Err(e) => return link_problem(e),
    };
    let mut given = Map::new();
    for (k, v) in &pairs {
        let Some(q) = survey.definition.questions.iter().find(|q| &q.key == k) else { continue };
        if q.kind == "multiple" {
            let list = given.entry(k.clone()).or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                a.push(json!(v));
            }
        } else {
            given.insert(k.clone(), json!(v));
        }
    }
    let page = |errors: &[FieldError], thanks: Option<String>| PublicSurvey {
        layout: Layout::new(lang, None, None, ""),
        tr: Words::new(lang),
        token: token.clone(),
        name: survey.definition.name.clone(),
        intro: survey.definition.intro(lang).to_string(),
        questions: asked(&survey, &given, errors, lang),
        any_error: !errors.is_empty(),
        thanks,
    };
    match surveys::answer(&state.db, &token, &given).await {
        Ok(_) => {
            let text = survey.definition.thanks(lang);
            let text = if text.trim().is_empty() { t(lang, "survey-thanks") } else { text.to_string() };
            render(&page(&[], Some(text)))
        }
        Err(StoreError::Validation(errors)) => {
            let mut response = render(&page(&errors, None));
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => link_problem(e),
    }
}

// ---- Surveys, their builder and results ----

pub struct SurveyRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub active: bool,
    pub scheduled: bool,
    pub invitations: String,
    pub responses: String,
    pub score: String,
}

#[derive(Template)]
#[template(path = "surveys.html")]
struct SurveysPage {
    layout: Layout,
    tr: Words,
    admin: bool,
    rows: Vec<SurveyRow>,
}

/// A year back to tomorrow, as stored times.
fn last_year() -> (String, String) {
    let to = OffsetDateTime::now_utc() + Duration::days(1);
    (stored_time(to - Duration::days(366)), stored_time(to))
}

/// The headline number of a survey's scores: CSAT's average of 5, NPS, or nothing for a poll.
fn headline(lang: &str, kind: &str, s: &surveys::Scores) -> String {
    match kind {
        "csat" => s.average.map(|_| format!("{} / {}", one(lang, s.average), digits(lang, "5"))).unwrap_or_default(),
        "nps" => s.nps.map(|v| super::display::format_number(lang, &format!("{v:+.0}"))).unwrap_or_default(),
        _ => String::new(),
    }
}

/// `GET /surveys`: every survey with its last year's numbers.
pub async fn surveys_page(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let (from, to) = last_year();
        let mut rows = Vec::new();
        let numbers = surveys::summaries(&state.db, &from, &to).await?;
        for s in surveys::list(&state.db).await? {
            let r = numbers.get(&s.id).cloned().unwrap_or_default();
            rows.push(SurveyRow {
                id: encode(&s.id),
                name: s.definition.name.clone(),
                kind: t(lang, &format!("survey-kind-{}", s.definition.kind)),
                active: s.definition.active,
                scheduled: s.definition.schedule.is_some(),
                invitations: super::display::format_number(lang, &r.invitations.to_string()),
                responses: super::display::format_number(lang, &r.responses.to_string()),
                score: headline(lang, &s.definition.kind, &r.scores),
            });
        }
        let catalog = state.db.visible_catalog().await?;
        Ok::<_, ApiError>(render(&SurveysPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "surveys"),
            tr: Words::new(lang),
            admin: session.user.role.allows(Action::ManageSchema),
            rows,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// A question in the builder, as its inputs show it.
pub struct QuestionForm {
    pub i: usize,
    pub key: String,
    pub kind: String,
    pub label_fa: String,
    pub label_en: String,
    pub required: bool,
    /// One per line: `value | Persian | English`.
    pub choices: String,
    pub when_question: String,
    pub when_any: String,
}

#[derive(Template)]
#[template(path = "survey_form.html")]
struct BuilderPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    /// Empty for a new survey.
    id: String,
    built_in: bool,
    name: String,
    kind: String,
    active: bool,
    intro_fa: String,
    intro_en: String,
    thanks_fa: String,
    thanks_en: String,
    expires_days: String,
    scheduled: bool,
    every_days: String,
    per_run: String,
    /// Customer group: value, label, chosen.
    groups: Vec<(String, String, bool)>,
    questions: Vec<QuestionForm>,
    kinds: Vec<(&'static str, String)>,
    question_kinds: Vec<(&'static str, String)>,
    errors: Vec<String>,
}

fn question_form(i: usize, q: &Question) -> QuestionForm {
    QuestionForm {
        i,
        key: q.key.clone(),
        kind: q.kind.clone(),
        label_fa: q.label_fa.clone(),
        label_en: q.label_en.clone(),
        required: q.required,
        choices: q
            .choices
            .iter()
            .map(|c| format!("{} | {} | {}", c.value, c.label_fa, c.label_en))
            .collect::<Vec<_>>()
            .join("\n"),
        when_question: q.when.as_ref().map(|w| w.question.clone()).unwrap_or_default(),
        when_any: q.when.as_ref().map(|w| w.any_of.join(", ")).unwrap_or_default(),
    }
}

async fn customer_groups(
    state: &AppState,
    lang: &str,
    chosen: &[String],
) -> Result<Vec<(String, String, bool)>, ApiError> {
    let obj = state.db.system().object("contact").await?;
    Ok(obj
        .field("customer_group")
        .map(|f| {
            f.options
                .options
                .iter()
                .map(|o| (o.value.clone(), f.option_label(&o.value, lang).to_string(), chosen.contains(&o.value)))
                .collect()
        })
        .unwrap_or_default())
}

async fn builder(
    state: &AppState,
    session: &Session,
    id: Option<&str>,
    def: &Definition,
    extra: usize,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let mut questions: Vec<QuestionForm> = def.questions.iter().enumerate().map(|(i, q)| question_form(i, q)).collect();
    for _ in 0..extra {
        let i = questions.len();
        questions.push(question_form(i, &Question { kind: "single".into(), ..Question::default() }));
    }
    let schedule = def.schedule.clone();
    let page = BuilderPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "surveys"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        id: id.map(encode).unwrap_or_default(),
        built_in: id == Some(surveys::CSAT),
        name: def.name.clone(),
        kind: def.kind.clone(),
        active: def.active,
        intro_fa: def.intro_fa.clone(),
        intro_en: def.intro_en.clone(),
        thanks_fa: def.thanks_fa.clone(),
        thanks_en: def.thanks_en.clone(),
        expires_days: def.expires_days.to_string(),
        scheduled: schedule.is_some(),
        every_days: schedule.as_ref().map(|s| s.every_days.to_string()).unwrap_or_else(|| "90".into()),
        per_run: schedule.as_ref().map(|s| s.per_run.to_string()).unwrap_or_else(|| "500".into()),
        groups: customer_groups(state, lang, schedule.as_ref().map(|s| &s.customer_groups[..]).unwrap_or(&[])).await?,
        questions,
        kinds: surveys::KINDS.iter().map(|k| (*k, t(lang, &format!("survey-kind-{k}")))).collect(),
        question_kinds: surveys::QUESTION_KINDS
            .iter()
            .map(|k| (*k, t(lang, &format!("survey-question-{k}"))))
            .collect(),
        errors,
    };
    let mut response = render(&page);
    if !page.errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// A new poll's start: one question.
fn blank() -> Definition {
    Definition {
        name: String::new(),
        kind: "poll".into(),
        active: true,
        intro_fa: String::new(),
        intro_en: String::new(),
        thanks_fa: String::new(),
        thanks_en: String::new(),
        questions: vec![Question { kind: "single".into(), required: true, ..Question::default() }],
        schedule: None,
        expires_days: 30,
    }
}

/// `GET /surveys/new` (admins).
pub async fn new_survey(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        builder(&state, &session, None, &blank(), 0, Vec::new()).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /surveys/{id}/edit` (admins).
pub async fn edit_survey(State(state): State<AppState>, Path(id): Path<String>, session: Session) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        let s = surveys::get(&state.db, &id).await?;
        builder(&state, &session, Some(&id), &s.definition, 0, Vec::new()).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// The definition the builder's inputs say (numbers in any digits).
fn read_builder(pairs: &Pairs) -> Definition {
    let num = |k: &str, d: i64| peyvand_records::normalize::to_latin_digits(get(pairs, k)).parse::<i64>().unwrap_or(d);
    let mut indexes: Vec<usize> = pairs
        .iter()
        .filter_map(|(k, _)| k.strip_prefix('q').and_then(|r| r.split_once('.')).and_then(|(i, _)| i.parse().ok()))
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    let questions = indexes
        .into_iter()
        .filter(|i| get(pairs, &format!("q{i}.remove")) != "on")
        .map(|i| {
            let f = |name: &str| get(pairs, &format!("q{i}.{name}")).to_string();
            let kind = f("kind");
            let choices = if matches!(kind.as_str(), "single" | "multiple") {
                f("choices")
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|line| {
                        let mut parts = line.split('|').map(str::trim);
                        let value = parts.next().unwrap_or_default().to_string();
                        let label_fa = parts.next().filter(|s| !s.is_empty()).unwrap_or(&value).to_string();
                        Choice { label_en: parts.next().unwrap_or_default().to_string(), value, label_fa }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let any_of: Vec<String> = peyvand_records::normalize::to_latin_digits(&f("when_any"))
                .split([',', '،'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            Question {
                key: f("key"),
                kind,
                label_fa: f("label_fa"),
                label_en: f("label_en"),
                choices,
                required: f("required") == "on",
                when: (!f("when_question").is_empty()).then(|| Condition { question: f("when_question"), any_of }),
            }
        })
        .collect();
    let groups: Vec<String> = pairs.iter().filter(|(k, _)| k == "customer_groups").map(|(_, v)| v.clone()).collect();
    Definition {
        name: get(pairs, "name").to_string(),
        kind: get(pairs, "kind").to_string(),
        active: get(pairs, "active") == "on",
        intro_fa: get(pairs, "intro_fa").to_string(),
        intro_en: get(pairs, "intro_en").to_string(),
        thanks_fa: get(pairs, "thanks_fa").to_string(),
        thanks_en: get(pairs, "thanks_en").to_string(),
        questions,
        schedule: (get(pairs, "scheduled") == "on").then(|| Schedule {
            every_days: num("every_days", 0),
            customer_groups: groups,
            per_run: num("per_run", 0),
        }),
        expires_days: num("expires_days", 0),
    }
}

/// `POST /surveys/new` and `POST /surveys/{id}/edit` (admins): saved, or (`add`) one more
/// question, or the builder again with what is wrong.
async fn save_builder(state: AppState, session: Session, pairs: Pairs, id: Option<String>) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        let def = read_builder(&pairs);
        if get(&pairs, "add") == "1" {
            return builder(&state, &session, id.as_deref(), &def, 1, Vec::new()).await;
        }
        match surveys::save(&state.db, id.as_deref(), def.clone()).await {
            Ok(s) => Ok(Redirect::to(&format!("/surveys/{}", encode(&s.id))).into_response()),
            Err(e @ (StoreError::Validation(_) | StoreError::Conflict { .. })) => {
                let errors = messages(e)?;
                builder(&state, &session, id.as_deref(), &def, 0, errors).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn create_survey(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    save_builder(state, session, pairs, None).await
}

pub async fn update_survey(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save_builder(state, session, pairs, Some(id)).await
}

/// `POST /surveys/{id}/delete` (admins).
pub async fn delete_survey(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        surveys::delete(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/surveys").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct Bar {
    pub label: String,
    pub count: String,
    /// Of the question's most chosen, in percent (the bar's width).
    pub width: u32,
    pub share: String,
}

pub struct QuestionBars {
    pub label: String,
    pub answered: String,
    pub bars: Vec<Bar>,
}

pub struct MonthRow {
    pub month: String,
    pub responses: String,
    pub score: String,
}

pub struct VerbatimRow {
    pub when: String,
    pub score: String,
    pub text: String,
    pub customer: String,
    pub customer_href: String,
    pub about_href: String,
    pub staff: String,
    pub staff_href: String,
}

#[derive(Template)]
#[template(path = "survey_results.html")]
struct ResultsPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    id: String,
    name: String,
    kind: String,
    admin: bool,
    active: bool,
    built_in: bool,
    from: String,
    to: String,
    invitations: String,
    responses: String,
    rate: String,
    headline: String,
    satisfied: String,
    nps_groups: String,
    questions: Vec<QuestionBars>,
    months: Vec<MonthRow>,
    verbatims: Vec<VerbatimRow>,
    groups: Vec<(String, String, bool)>,
    sent: bool,
    errors: Vec<String>,
}

/// `GET /surveys/{id}?from=2026-01-01&to=2027-01-01`: the results.
pub async fn results_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // Customers' names as the reader may see them (one they may not read shows none).
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let offset = state.db.local_offset();
        let survey = surveys::get(&state.db, &id).await?;
        let mut errors = Vec::new();
        let day = |k: &str, errors: &mut Vec<String>| match q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let s = peyvand_records::normalize::to_latin_digits(s);
                match time::Date::parse(&s, &time::format_description::well_known::Iso8601::DATE) {
                    Ok(d) => Some(d),
                    Err(_) => {
                        errors.push(format!(
                            "{}: {}",
                            t(lang, &format!("service-report-{k}")),
                            field_error_message(lang, "invalid_date", &Json::Null)
                        ));
                        None
                    }
                }
            }
        };
        let to = day("to", &mut errors).unwrap_or(OffsetDateTime::now_utc().date() + Duration::days(1));
        let from = day("from", &mut errors).unwrap_or(to - Duration::days(366));
        let stored = |d: time::Date| stored_time(d.midnight().assume_utc());
        let r = surveys::results(&state.db, &id, &stored(from), &stored(to)).await?;
        let def = &survey.definition;
        let num = |n: i64| super::display::format_number(lang, &n.to_string());
        let questions = def
            .questions
            .iter()
            .zip(&r.questions)
            .filter(|(q, _)| q.kind != "text")
            .map(|(q, res)| {
                let most = res.counts.iter().map(|c| c.1).max().unwrap_or(0).max(1);
                QuestionBars {
                    label: q.label(lang).to_string(),
                    answered: num(res.answered),
                    bars: res
                        .counts
                        .iter()
                        .map(|(v, c)| Bar {
                            label: digits(lang, &q.value_label(v, lang)),
                            count: num(*c),
                            width: (100 * c / most) as u32,
                            share: if res.answered > 0 {
                                let share = 100.0 * *c as f64 / res.answered as f64;
                                super::display::format_number(lang, &format!("{share:.0}")) + percent(lang)
                            } else {
                                String::new()
                            },
                        })
                        .collect(),
                }
            })
            .collect();
        let months = r
            .months
            .iter()
            .map(|m| MonthRow {
                month: digits(lang, &m.month.replace('-', "/")),
                responses: num(m.responses),
                score: headline(lang, &def.kind, &m.scores),
            })
            .collect();
        let users = state.db.list_users().await?;
        let contact_ids: Vec<String> = r.verbatims.iter().filter_map(|v| v.contact_id.clone()).collect();
        let contacts =
            if contact_ids.is_empty() { HashMap::new() } else { state.db.titles("contact", &contact_ids).await? };
        let verbatims = r
            .verbatims
            .iter()
            .map(|v| VerbatimRow {
                when: parse_datetime(&v.answered_at)
                    .map(|at| format_date(lang, at.to_offset(offset).date()))
                    .unwrap_or_default(),
                score: v.score.map(num).unwrap_or_default(),
                text: v.text.clone(),
                customer: v.contact_id.as_ref().and_then(|c| contacts.get(c).cloned()).unwrap_or_default(),
                customer_href: v
                    .contact_id
                    .as_ref()
                    .map(|c| format!("/records/contact/{}", encode(c)))
                    .unwrap_or_default(),
                about_href: match (&v.record_object, &v.record_id) {
                    (Some(o), Some(id)) => format!("/records/{}/{}", encode(o), encode(id)),
                    _ => String::new(),
                },
                staff: v
                    .staff_id
                    .as_ref()
                    .and_then(|s| users.iter().find(|u| &u.id == s))
                    .map(|u| u.name.clone())
                    .unwrap_or_default(),
                staff_href: v.staff_id.as_ref().map(|s| format!("/staff/{}", encode(s))).unwrap_or_default(),
            })
            .collect();
        let catalog = state.db.visible_catalog().await?;
        let page = ResultsPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "surveys"),
            tr: Words::new(lang),
            csrf: session.csrf.clone(),
            id: encode(&id),
            name: def.name.clone(),
            kind: def.kind.clone(),
            admin: session.user.role.allows(Action::ManageSchema),
            active: def.active,
            built_in: survey.id == surveys::CSAT,
            from: from.to_string(),
            to: to.to_string(),
            invitations: num(r.invitations),
            responses: num(r.responses),
            rate: r
                .response_rate
                .map(|v| format!("{}{}", one(lang, Some(v)), percent(lang)))
                .unwrap_or_else(|| "—".into()),
            headline: headline(lang, &def.kind, &r.scores),
            satisfied: r.scores.satisfied_pct.map(|v| one(lang, Some(v))).unwrap_or_default(),
            nps_groups: if def.kind == "nps" {
                format!(
                    "{} {} · {} {} · {} {}",
                    t(lang, "survey-promoters"),
                    num(r.scores.promoters),
                    t(lang, "survey-passives"),
                    num(r.scores.passives),
                    t(lang, "survey-detractors"),
                    num(r.scores.detractors)
                )
            } else {
                String::new()
            },
            questions,
            months,
            verbatims,
            groups: customer_groups(&state, lang, &[]).await?,
            sent: q.contains_key("sent"),
            errors,
        };
        Ok::<_, ApiError>(render(&page))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /surveys/{id}/send` (admins): to up to `limit` contacts of the chosen groups now.
pub async fn send_survey(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        let groups: Vec<String> =
            pairs.iter().filter(|(k, _)| k == "customer_groups").map(|(_, v)| v.clone()).collect();
        let limit = peyvand_records::normalize::to_latin_digits(get(&pairs, "limit")).parse::<i64>().unwrap_or(0);
        surveys::send_now(&state.db, &id, &groups, limit).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/surveys/{}?sent=1", encode(&id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---- A member of staff's page ----

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    layout: Layout,
    tr: Words,
    name: String,
    role: String,
    average: String,
    satisfied: String,
    answered: String,
    responses: Vec<VerbatimRow>,
}

/// `GET /staff/{id}`: how this person's customers rated them.
pub async fn staff_page(State(state): State<AppState>, Path(id): Path<String>, session: Session) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let offset = state.db.local_offset();
        let user = state.db.user(&id).await?;
        let (from, to) = last_year();
        let rating = surveys::staff_ratings(&state.db, &from, &to).await?.into_iter().find(|r| r.staff_id == id);
        let scores = rating.map(|r| r.scores).unwrap_or_default();
        let list = surveys::staff_responses(&state.db, &id, 50).await?;
        let contact_ids: Vec<String> = list.iter().filter_map(|v| v.contact_id.clone()).collect();
        let contacts =
            if contact_ids.is_empty() { HashMap::new() } else { state.db.titles("contact", &contact_ids).await? };
        let num = |n: i64| super::display::format_number(lang, &n.to_string());
        let responses = list
            .iter()
            .map(|v| VerbatimRow {
                when: parse_datetime(&v.answered_at).map(|at| format_datetime(lang, at, offset)).unwrap_or_default(),
                score: v.score.map(num).unwrap_or_default(),
                text: v.comment.clone().unwrap_or_default(),
                customer: v.contact_id.as_ref().and_then(|c| contacts.get(c).cloned()).unwrap_or_default(),
                customer_href: v
                    .contact_id
                    .as_ref()
                    .map(|c| format!("/records/contact/{}", encode(c)))
                    .unwrap_or_default(),
                about_href: match (&v.record_object, &v.record_id) {
                    (Some(o), Some(id)) => format!("/records/{}/{}", encode(o), encode(id)),
                    _ => String::new(),
                },
                staff: String::new(),
                staff_href: String::new(),
            })
            .collect();
        let catalog = state.db.visible_catalog().await?;
        Ok::<_, ApiError>(render(&StaffPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "surveys"),
            tr: Words::new(lang),
            name: user.name.clone(),
            role: t(lang, &format!("role-{}", user.role.as_str())),
            average: if scores.answered > 0 {
                format!("{} / {}", one(lang, scores.average), digits(lang, "5"))
            } else {
                "—".into()
            },
            satisfied: scores.satisfied_pct.map(|v| one(lang, Some(v))).unwrap_or_else(|| "—".into()),
            answered: num(scores.answered),
            responses,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// A member of staff's CSAT row in the service report.
pub struct StaffRow {
    pub name: String,
    pub href: String,
    pub average: String,
    pub satisfied: String,
    pub answered: String,
}

/// Every rated team, then every rated member of staff, over `[from, to)` (stored times), best
/// first, for the report (a team's row has no link).
pub async fn staff_rows(state: &AppState, from: &str, to: &str) -> Result<(Vec<StaffRow>, Vec<StaffRow>), ApiError> {
    let lang = current_lang();
    let users = state.db.list_users().await?;
    let teams = state.db.list_teams().await?;
    let ratings = surveys::staff_ratings(&state.db, from, to).await?;
    let row = |name: String, href: String, s: &surveys::Scores| StaffRow {
        name,
        href,
        average: one(lang, s.average),
        satisfied: one(lang, s.satisfied_pct),
        answered: super::display::format_number(lang, &s.answered.to_string()),
    };
    let by_team = surveys::team_ratings(&ratings, &teams)
        .iter()
        .map(|r| {
            let name = teams.iter().find(|t| t.id == r.team_id).map(|t| t.name.clone()).unwrap_or_default();
            row(name, String::new(), &r.scores)
        })
        .collect();
    let by_person = ratings
        .iter()
        .map(|r| {
            let name = users.iter().find(|u| u.id == r.staff_id).map(|u| u.name.clone()).unwrap_or_default();
            row(name, format!("/staff/{}", encode(&r.staff_id)), &r.scores)
        })
        .collect();
    Ok((by_team, by_person))
}

// ---- On record pages ----

#[derive(Template)]
#[template(path = "ticket_csat.html")]
struct TicketCsat {
    tr: Words,
    sent: String,
    link: String,
    answered: bool,
    score: String,
    comment: String,
    when: String,
}

/// A ticket's CSAT: the answer, else the invitation's link (to send until e-mail does), else
/// nothing.
pub async fn ticket_csat(state: &AppState, headers: &HeaderMap, record: &Record) -> Result<Option<String>, ApiError> {
    let lang = current_lang();
    let offset = state.db.local_offset();
    let Some(inv) = surveys::invitations_for(&state.db, &record.id).await?.into_iter().next() else {
        return Ok(None);
    };
    let response = surveys::responses_for(&state.db, &record.id).await?.into_iter().next();
    let when = |s: &str| parse_datetime(s).map(|at| format_datetime(lang, at, offset)).unwrap_or_default();
    let link = if response.is_none() {
        format!("{}/s/{}", super::base_url(state, headers), surveys::link_token(&state.db, &inv.id).await?)
    } else {
        String::new()
    };
    let view = TicketCsat {
        tr: Words::new(lang),
        sent: when(&inv.created_at),
        link,
        answered: response.is_some(),
        score: response.as_ref().and_then(|r| r.score).map(|s| digits(lang, &s.to_string())).unwrap_or_default(),
        comment: response.as_ref().and_then(|r| r.comment.clone()).unwrap_or_default(),
        when: response.as_ref().map(|r| when(&r.answered_at)).unwrap_or_default(),
    };
    Ok(Some(view.render().map_err(internal)?))
}

#[derive(Template)]
#[template(path = "suggestion_panel.html")]
struct SuggestionPanel {
    tr: Words,
    id: String,
    csrf: String,
    done: bool,
    can_change: bool,
    /// Name, link, asked, told.
    askers: Vec<(String, String, String, String)>,
    untold: usize,
}

/// A suggestion's page: the customers who asked for it, and (done) whether they were told.
pub async fn suggestion_panel(state: &AppState, session: &Session, record: &Record) -> Result<String, ApiError> {
    let lang = current_lang();
    let offset = state.db.local_offset();
    let list = suggestions::askers(&state.db, &record.id).await?;
    let ids: Vec<String> = list.iter().map(|a| a.contact_id.clone()).collect();
    let names = if ids.is_empty() { HashMap::new() } else { state.db.titles("contact", &ids).await? };
    let when = |s: &str| parse_datetime(s).map(|at| format_datetime(lang, at, offset)).unwrap_or_default();
    let owner = record.fields.get(peyvand_records::access::OWNER_FIELD).and_then(Json::as_str);
    let can_change = session.user.role.allows(Action::WriteRecords)
        && session.viewer.reaches("suggestion", peyvand_records::access::Intent::Change, &record.id, owner);
    SuggestionPanel {
        tr: Words::new(lang),
        id: encode(&record.id),
        csrf: session.csrf.clone(),
        done: record.fields.get("status").and_then(Json::as_str) == Some("done"),
        can_change,
        untold: list.iter().filter(|a| a.told_at.is_none()).count(),
        askers: list
            .iter()
            .map(|a| {
                (
                    names.get(&a.contact_id).cloned().unwrap_or_default(),
                    format!("/records/contact/{}", encode(&a.contact_id)),
                    when(&a.asked_at),
                    a.told_at.as_deref().map(when).unwrap_or_default(),
                )
            })
            .collect(),
    }
    .render()
    .map_err(internal)
}

/// `POST /suggestions/{id}/told`: the askers of a done suggestion were told.
pub async fn suggestion_told(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::WriteRecords)?;
        suggestions::mark_told(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/records/suggestion/{}", encode(&id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---- The public idea board ----

pub struct Idea {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub status_key: String,
    pub votes: String,
}

#[derive(Template)]
#[template(path = "ideas.html")]
struct IdeasPage {
    layout: Layout,
    tr: Words,
    ideas: Vec<Idea>,
    values: BTreeMap<String, String>,
    errors: Vec<String>,
    thanks: Option<String>,
}

async fn ideas(
    state: &AppState,
    values: BTreeMap<String, String>,
    errors: Vec<String>,
    thanks: Option<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let obj = state.db.system().object("suggestion").await?;
    let list = suggestions::board(&state.db, 100).await?;
    let field = |r: &Record, f: &str| r.fields.get(f).cloned().unwrap_or(Json::Null);
    let ideas = list
        .iter()
        .map(|r| {
            let status = field(r, "status").as_str().unwrap_or("new").to_string();
            Idea {
                id: encode(&r.id),
                title: field(r, "title").as_str().unwrap_or_default().to_string(),
                description: field(r, "description").as_str().unwrap_or_default().to_string(),
                status: obj.field("status").map(|f| f.option_label(&status, lang).to_string()).unwrap_or_default(),
                status_key: status,
                votes: super::display::format_number(lang, &field(r, "votes").as_i64().unwrap_or(0).to_string()),
            }
        })
        .collect();
    let failed = !errors.is_empty();
    let mut response = render(&IdeasPage {
        layout: Layout::new(lang, None, None, ""),
        tr: Words::new(lang),
        ideas,
        values,
        errors,
        thanks,
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// `GET /ideas`: the public board: ideas to vote for, and a form to suggest one.
pub async fn ideas_page(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(lang) = q.get("lang") {
        set_lang(crate::i18n::lang_or_default(lang));
    }
    ideas(&state, BTreeMap::new(), Vec::new(), None).await.unwrap_or_else(fail)
}

/// A robot's form (the hidden field filled) thanked and dropped, or the busy page for an address
/// over the web forms' limit; none when the visitor's form goes on.
async fn screened(
    state: &AppState,
    headers: &HeaderMap,
    addr: std::net::SocketAddr,
    pairs: &Pairs,
    thanks: &str,
) -> Result<Option<Response>, ApiError> {
    if !get(pairs, "website").is_empty() {
        let lang = current_lang();
        return ideas(state, BTreeMap::new(), Vec::new(), Some(t(lang, thanks))).await.map(Some);
    }
    busy(state, headers, addr)
}

/// Whether a visitor may send now (the web forms' limit per address), else the busy page.
fn busy(state: &AppState, headers: &HeaderMap, addr: std::net::SocketAddr) -> Result<Option<Response>, ApiError> {
    let client = crate::client::client_addr(headers, addr.ip(), &state.config.trusted_proxies);
    if super::sales::may_send_web_form(state, client)? {
        return Ok(None);
    }
    let mut response = super::error_page(StatusCode::TOO_MANY_REQUESTS, "sales-web-form-busy");
    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("3600"));
    Ok(Some(response))
}

fn visitor_errors(e: StoreError) -> Result<Vec<String>, ApiError> {
    let lang = current_lang();
    match e {
        StoreError::Validation(errors) => Ok(errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    t(lang, &format!("ideas-field-{}", e.field.replace('_', "-"))),
                    field_error_message(lang, e.code, &e.params)
                )
            })
            .collect()),
        e => messages(e),
    }
}

/// `POST /ideas`: a visitor's idea (a robot's, the hidden field filled, is thanked and dropped).
pub async fn suggest(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Pairs>,
) -> Response {
    lang_of_form(&pairs);
    let result = async {
        let lang = current_lang();
        if let Some(r) = screened(&state, &headers, addr, &pairs, "ideas-thanks").await? {
            return Ok(r);
        }
        let keys = ["title", "description", "requester_name", "requester_email"];
        let values: BTreeMap<String, String> =
            keys.iter().map(|k| (k.to_string(), get(&pairs, k).chars().take(4000).collect())).collect();
        let mut input = Map::new();
        for (k, v) in &values {
            if !v.is_empty() {
                input.insert(k.clone(), json!(v));
            }
        }
        let mut errors = Vec::new();
        if values["requester_email"].is_empty() {
            errors.push(FieldError::new("requester_email", "required"));
        }
        if values["title"].is_empty() {
            errors.push(FieldError::new("title", "required"));
        }
        if !errors.is_empty() {
            return ideas(&state, values, visitor_errors(StoreError::Validation(errors))?, None).await;
        }
        match state.db.system().create_record(None, "suggestion", &input, None).await {
            Ok(_) => ideas(&state, BTreeMap::new(), Vec::new(), Some(t(lang, "ideas-thanks"))).await,
            Err(e @ StoreError::Validation(_)) => ideas(&state, values, visitor_errors(e)?, None).await,
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /ideas/{id}/vote`: a visitor's vote, known by their e-mail (once each).
pub async fn vote(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Pairs>,
) -> Response {
    lang_of_form(&pairs);
    let result = async {
        let lang = current_lang();
        if let Some(r) = screened(&state, &headers, addr, &pairs, "ideas-voted").await? {
            return Ok(r);
        }
        match suggestions::public_vote(&state.db, &id, get(&pairs, "requester_name"), get(&pairs, "requester_email"))
            .await
        {
            Ok(_) => ideas(&state, BTreeMap::new(), Vec::new(), Some(t(lang, "ideas-voted"))).await,
            Err(e @ StoreError::Validation(_)) => ideas(&state, BTreeMap::new(), visitor_errors(e)?, None).await,
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}
