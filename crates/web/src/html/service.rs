//! The support desk on pages (`peyvand_crm::service`): a ticket's page adds its service level
//! and its conversation (reply, note, files, take, merge); the desk (`/service`: a queue's open
//! tickets by time left); the compliance report (`/service/report`); Admin → Service desk
//! (queues, calendars, days off, policies, what a reply to a closed ticket does).

use super::admin::{Words, get, messages, require};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, check_csrf, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{format_date, format_datetime, t, t_args};
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::service::clock::{Hours, Shift};
use peyvand_crm::service::conversation::{self, MAX_FILE, MAX_FILES, Message, Reply, Upload};
use peyvand_crm::service::levels::{self, By, Calendar, Escalation, Holiday, Policy, Target};
use peyvand_crm::service::queues::{self, Mode};
use peyvand_crm::service::{PRIORITIES, running};
use peyvand_crm::service::{dealers, knowledge};
use peyvand_records::access::{Action, Intent, OWNER_FIELD};
use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_records::value::parse_datetime;
use peyvand_records::{FieldError, ObjectDef};
use peyvand_store::Error as StoreError;
use peyvand_store::records::{ListQuery, Record};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// Largest reply form: its files and text.
pub const MAX_REPLY_FORM: usize = MAX_FILES * MAX_FILE + 1024 * 1024;

/// How long until (or since) a deadline, in words: "3 h 20 min".
fn span(lang: &str, d: Duration) -> String {
    let minutes = d.whole_minutes().abs();
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    let n = |v: i64| super::display::format_number(lang, &v.to_string());
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(t_args(lang, "service-days", &[("n", n(days))]));
    }
    if hours > 0 && days < 7 {
        parts.push(t_args(lang, "service-hours", &[("n", n(hours))]));
    }
    if days == 0 {
        parts.push(t_args(lang, "service-minutes", &[("n", n(mins))]));
    }
    parts.join(" ")
}

/// A deadline as the desk shows it: when, how long left (or late), and whether it is late.
pub struct Deadline {
    pub label: String,
    pub when: String,
    pub left: String,
    pub late: bool,
    pub state: String,
}

fn deadline(
    lang: &str,
    label: &str,
    due: Option<OffsetDateTime>,
    done: Option<OffsetDateTime>,
    breached: bool,
    offset: time::UtcOffset,
    paused: bool,
) -> Deadline {
    let now = OffsetDateTime::now_utc();
    let when = due.map(|d| format_datetime(lang, d, offset)).unwrap_or_default();
    let (left, late, state) = match (due, done) {
        (_, Some(done)) => {
            let late = breached || due.is_some_and(|d| done > d);
            (String::new(), late, t(lang, if late { "service-met-late" } else { "service-met" }))
        }
        (None, None) if paused => (String::new(), false, t(lang, "service-paused")),
        (None, None) => (String::new(), false, String::new()),
        (Some(d), None) if d < now => {
            (t_args(lang, "service-late", &[("time", span(lang, now - d))]), true, String::new())
        }
        (Some(d), None) => (t_args(lang, "service-left", &[("time", span(lang, d - now))]), breached, String::new()),
    };
    Deadline { label: t(lang, label), when, left, late, state }
}

pub struct MessageView {
    pub public: bool,
    pub author: String,
    pub when: String,
    pub at: String,
    pub body: String,
    /// A merge, said in the reader's language, with the other ticket's link.
    pub event: Option<(String, String)>,
    pub files: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "ticket_panel.html")]
struct TicketPanel {
    tr: Words,
    id: String,
    csrf: String,
    policy: String,
    deadlines: Vec<Deadline>,
    messages: Vec<MessageView>,
    statuses: Vec<(String, String)>,
    can_reply: bool,
    can_take: bool,
    can_change: bool,
    errors: Vec<String>,
    body: String,
    public: bool,
    accept: String,
    /// Published articles for the ticket's subject: id, title.
    articles: Vec<(String, String)>,
}

/// The ticket page's panel: its service level and its conversation.
pub async fn ticket_panel(state: &AppState, session: &Session, record: &Record) -> Result<String, ApiError> {
    panel(state, session, record, Vec::new(), String::new(), true).await
}

async fn panel(
    state: &AppState,
    session: &Session,
    record: &Record,
    errors: Vec<String>,
    body: String,
    public: bool,
) -> Result<String, ApiError> {
    let lang = current_lang();
    let offset = state.db.local_offset();
    let obj = state.db.visible_object("ticket").await?;
    let field = |f: &str| record.fields.get(f).cloned().unwrap_or(Json::Null);
    let time = |f: &str| field(f).as_str().and_then(parse_datetime);
    let flag = |f: &str| field(f).as_bool() == Some(true);
    let status = field("status").as_str().unwrap_or("new").to_string();
    let paused = !running(&status) && status == "waiting";
    let policy = field("sla_policy")
        .as_str()
        .and_then(|p| obj.field("sla_policy").map(|f| f.option_label(p, lang).to_string()))
        .unwrap_or_else(|| t(lang, "service-no-policy"));
    let deadlines = if field("sla_policy").is_null() {
        Vec::new()
    } else {
        vec![
            deadline(
                lang,
                "service-first-response",
                time("first_response_due"),
                time("first_response_at"),
                flag("first_response_breached"),
                offset,
                false,
            ),
            deadline(
                lang,
                "service-resolution",
                time("resolution_due"),
                time("resolved_at"),
                flag("resolution_breached"),
                offset,
                paused,
            ),
        ]
    };
    let users = state.db.list_users().await?;
    let name = |id: &str| users.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default();
    let list = conversation::messages(&state.db, &record.id).await?;
    let contact_ids: Vec<String> = list.iter().filter_map(|m| m.author_contact.clone()).collect();
    let contacts =
        if contact_ids.is_empty() { HashMap::new() } else { state.db.system().titles("contact", &contact_ids).await? };
    let messages = list
        .iter()
        .map(|m: &Message| MessageView {
            public: m.public,
            author: m
                .author_user
                .as_deref()
                .map(name)
                .or_else(|| m.author_contact.as_ref().and_then(|c| contacts.get(c).cloned()))
                .unwrap_or_else(|| t(lang, "record-someone")),
            when: parse_datetime(&m.created_at).map(|at| format_datetime(lang, at, offset)).unwrap_or_default(),
            at: m.created_at.clone(),
            body: m.body.clone(),
            event: m.event.as_ref().map(|e| {
                (t(lang, &format!("service-{}", e.replace('_', "-"))), format!("/records/ticket/{}", encode(&m.body)))
            }),
            files: m
                .attachments
                .iter()
                .map(|a| {
                    let size = super::display::format_number(lang, &format!("{:.1}", a.size as f64 / 1024.0 / 1024.0));
                    (format!("/tickets/{}/files/{}", encode(&record.id), encode(&a.id)), a.file_name.clone(), size)
                })
                .collect(),
        })
        .collect();
    let owner = field(OWNER_FIELD);
    let writer = session.user.role.allows(Action::WriteRecords) && record.deleted_at.is_none();
    let can_change = writer && session.viewer.reaches("ticket", Intent::Change, &record.id, owner.as_str());
    let statuses = obj
        .field("status")
        .map(|f| {
            f.options.options.iter().map(|o| (o.value.clone(), f.option_label(&o.value, lang).to_string())).collect()
        })
        .unwrap_or_default();
    let view = TicketPanel {
        tr: Words::new(lang),
        id: encode(&record.id),
        csrf: session.csrf.clone(),
        policy,
        deadlines,
        messages,
        statuses,
        can_reply: writer,
        can_take: writer && owner.is_null(),
        can_change,
        errors,
        body,
        public,
        accept: conversation::TYPES.iter().map(|(e, _)| format!(".{e}")).collect::<Vec<_>>().join(","),
        articles: knowledge::suggest(&state.db, record, 5)
            .await?
            .into_iter()
            .map(|a| (encode(&a.id), a.title))
            .collect(),
    };
    view.render().map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /tickets/{id}/reply` (multipart: csrf first, then body, public, status, files): the
/// reply written, the panel again (htmx) or the ticket's page; refused, the panel with the
/// reasons and the text kept.
pub async fn reply(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let state = session.scoped(state);
    let htmx = headers.contains_key("hx-request");
    let result = async {
        require(&session, Action::WriteRecords)?;
        let (mut csrf_checked, mut r) = (false, Reply::default());
        let mut status = String::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::BadRequest { code: "bad_upload", detail: e.body_text() })?
        {
            let name = field.name().unwrap_or("").to_string();
            if name == "csrf" {
                let csrf = field.text().await.unwrap_or_default();
                if let Err(refused) = check_csrf(&session, &headers, &csrf) {
                    return Ok::<Response, ApiError>(refused);
                }
                csrf_checked = true;
                continue;
            }
            if !csrf_checked {
                return Ok(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"));
            }
            match name.as_str() {
                "body" => r.body = field.text().await.unwrap_or_default(),
                "public" => r.public = field.text().await.unwrap_or_default() == "1",
                "status" => status = field.text().await.unwrap_or_default(),
                "article" => r.article = Some(field.text().await.unwrap_or_default()).filter(|a| !a.is_empty()),
                "files" => {
                    let file_name = field.file_name().unwrap_or("").to_string();
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| ApiError::BadRequest { code: "bad_upload", detail: e.body_text() })?;
                    if file_name.is_empty() && bytes.is_empty() {
                        continue;
                    }
                    r.files.push(Upload { file_name, bytes: bytes.to_vec() });
                }
                _ => {}
            }
        }
        if !csrf_checked {
            return Ok(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"));
        }
        r.status = Some(status).filter(|s| !s.is_empty());
        match conversation::reply(&state.db, &session.user.id, &id, &r).await {
            Ok(_) if htmx => {
                let record = state.db.get_record("ticket", &id, false).await?;
                Ok(super::Html(panel(&state, &session, &record, Vec::new(), String::new(), r.public).await?)
                    .into_response())
            }
            Ok(_) => Ok(Redirect::to(&format!("/records/ticket/{}", encode(&id))).into_response()),
            Err(StoreError::Validation(errors) | StoreError::Conflict { details: errors, .. }) => {
                let lines = reply_problems(&errors);
                if !htmx {
                    return Ok(
                        (StatusCode::UNPROCESSABLE_ENTITY, super::Html(problem_page(&lines, &id))).into_response()
                    );
                }
                // Answered 200: htmx swaps in only what succeeded; the panel says why.
                let record = state.db.get_record("ticket", &id, false).await?;
                let html = panel(&state, &session, &record, lines, r.body.clone(), r.public).await?;
                Ok(super::Html(html).into_response())
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// A refused reply's problems, each under the form's own word for what it is about.
fn reply_problems(errors: &[FieldError]) -> Vec<String> {
    let lang = current_lang();
    errors
        .iter()
        .map(|e| {
            let key = match e.field.split('.').next().unwrap_or("") {
                "body" => "service-reply-body",
                "files" => "service-reply-files",
                "status" => "service-status",
                "article" => "service-reply-article",
                _ => "service-refused",
            };
            format!("{}: {}", t(lang, key), crate::i18n::field_error_message(lang, e.code, &e.params))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "service_problem.html")]
struct ProblemPage {
    layout: Layout,
    tr: Words,
    lines: Vec<String>,
    back: String,
}

fn problem_page(lines: &[String], id: &str) -> String {
    let lang = current_lang();
    ProblemPage {
        layout: Layout::new(lang, None, None, ""),
        tr: Words::new(lang),
        lines: lines.to_vec(),
        back: format!("/records/ticket/{}", encode(id)),
    }
    .render()
    .unwrap_or_default()
}

/// `POST /tickets/{id}/take`.
pub async fn take(State(state): State<AppState>, Path(id): Path<String>, CsrfForm(session, _): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::WriteRecords)?;
        queues::take(&state.db, &session.user.id, &id).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/records/ticket/{}", encode(&id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /tickets/{id}/merge` (`into`: the other ticket's number or id).
pub async fn merge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::WriteRecords)?;
        let into = get(&pairs, "into").to_string();
        let obj = state.db.object("ticket").await?;
        let by_number = ListQuery {
            filter: Some(parse_filter(&obj, &json!({ "field": "number", "op": "eq", "value": into.to_uppercase() }))?),
            limit: Some(1),
            fields: Some(Vec::new()),
            ..ListQuery::default()
        };
        let other = match state.db.list_records("ticket", &by_number).await?.records.pop() {
            Some(r) => r.id,
            None => into,
        };
        match conversation::merge(&state.db, &session.user.id, &id, &other).await {
            Ok(r) => {
                Ok::<Response, ApiError>(Redirect::to(&format!("/records/ticket/{}", encode(&r.id))).into_response())
            }
            Err(e @ (StoreError::Validation(_) | StoreError::Conflict { .. })) => {
                Ok((StatusCode::UNPROCESSABLE_ENTITY, super::Html(problem_page(&messages(e)?, &id))).into_response())
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /tickets/{id}/files/{file}`: a file of the conversation, as a download.
pub async fn file(
    State(state): State<AppState>,
    session: Session,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ReadRecords)?;
        let (a, bytes) = conversation::attachment(&state.db, &id, &file).await?;
        Ok::<_, ApiError>(crate::api::service::download(&a, bytes))
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---- The desk ----

pub struct Row {
    pub href: String,
    pub number: String,
    pub subject: String,
    pub customer: String,
    pub priority: String,
    pub priority_key: String,
    pub status: String,
    pub assignee: String,
    pub left: String,
    pub late: bool,
}

#[derive(Template)]
#[template(path = "service_desk.html")]
struct DeskPage {
    layout: Layout,
    tr: Words,
    tabs: Vec<(String, String, bool, String)>,
    rows: Vec<Row>,
    new_href: String,
}

/// `GET /service?queue=ID|mine`: open tickets (new, open, reopened, waiting) of a queue, of the
/// user's, or of every queue, the nearest deadline first.
pub async fn desk(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let obj = state.db.visible_object("ticket").await?;
        let all_queues = queues::list(&state.db).await?;
        let chosen = q.get("queue").map(String::as_str).unwrap_or("");
        let which = match chosen {
            "mine" => Some(json!({ "field": OWNER_FIELD, "op": "eq", "value": session.user.id })),
            "unassigned" => Some(json!({ "field": OWNER_FIELD, "op": "is_empty", "value": true })),
            _ => None,
        };
        // Open tickets, the nearest deadline first, those waiting on the customer (or under no
        // service level) after them: one index range, however many are done — of `desk_key`
        // (queue, then place) for a queue, of `desk_order` otherwise.
        let (filter, sort) = match chosen {
            "" | "mine" | "unassigned" => {
                let mut all = vec![json!({ "field": "desk_order", "op": "is_empty", "value": false })];
                all.extend(which);
                (json!({ "and": all }), "desk_order")
            }
            // `|` then `}`: the next character, so the range holds exactly the queue's keys.
            team => (
                json!({ "and": [
                    { "field": "desk_key", "op": "gt", "value": format!("{team}|") },
                    { "field": "desk_key", "op": "lt", "value": format!("{team}}}") },
                ]}),
                "desk_key",
            ),
        };
        let query = ListQuery {
            filter: Some(parse_filter(&obj, &filter)?),
            sort: parse_sort(&obj, sort)?,
            limit: Some(100),
            ..ListQuery::default()
        };
        let records = state.db.list_records("ticket", &query).await?.records;
        let rows = rows(&state, &obj, &records).await?;
        let mut tabs = vec![
            ("/service".to_string(), t(lang, "service-all-queues"), chosen.is_empty(), String::new()),
            ("/service?queue=mine".to_string(), t(lang, "service-mine"), chosen == "mine", String::new()),
            (
                "/service?queue=unassigned".to_string(),
                t(lang, "service-unassigned"),
                chosen == "unassigned",
                String::new(),
            ),
        ];
        tabs.extend(all_queues.iter().map(|qu| {
            (format!("/service?queue={}", encode(&qu.team_id)), qu.name.clone(), chosen == qu.team_id, String::new())
        }));
        let catalog = state.db.visible_catalog().await?;
        let page = DeskPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "service"),
            tr: Words::new(lang),
            tabs,
            rows,
            new_href: "/records/ticket/new".into(),
        };
        Ok::<_, ApiError>(render(&page))
    }
    .await;
    result.unwrap_or_else(fail)
}

async fn rows(state: &AppState, obj: &ObjectDef, records: &[Record]) -> Result<Vec<Row>, ApiError> {
    let lang = current_lang();
    let now = OffsetDateTime::now_utc();
    let users = state.db.list_users().await?;
    let contacts: Vec<String> =
        records.iter().filter_map(|r| r.fields.get("contact").and_then(Json::as_str).map(str::to_string)).collect();
    let names = if contacts.is_empty() { HashMap::new() } else { state.db.titles("contact", &contacts).await? };
    let label = |f: &str, v: &Json| {
        v.as_str().and_then(|v| obj.field(f).map(|d| d.option_label(v, lang).to_string())).unwrap_or_default()
    };
    Ok(records
        .iter()
        .map(|r| {
            let field = |f: &str| r.fields.get(f).cloned().unwrap_or(Json::Null);
            let due = field("next_due").as_str().and_then(parse_datetime);
            let (left, late) = match due {
                Some(d) if d < now => (t_args(lang, "service-late", &[("time", span(lang, now - d))]), true),
                Some(d) => (t_args(lang, "service-left", &[("time", span(lang, d - now))]), false),
                None if field("status") == "waiting" => (t(lang, "service-paused"), false),
                None => (String::new(), false),
            };
            Row {
                href: format!("/records/ticket/{}", encode(&r.id)),
                number: field("number").as_str().unwrap_or_default().to_string(),
                subject: r.title.clone(),
                customer: field("contact")
                    .as_str()
                    .and_then(|c| names.get(c).cloned())
                    .or_else(|| field("requester_name").as_str().map(str::to_string))
                    .unwrap_or_default(),
                priority: label("priority", &field("priority")),
                priority_key: field("priority").as_str().unwrap_or_default().to_string(),
                status: label("status", &field("status")),
                assignee: field(OWNER_FIELD)
                    .as_str()
                    .and_then(|o| users.iter().find(|u| u.id == o).map(|u| u.name.clone()))
                    .unwrap_or_else(|| t(lang, "service-nobody")),
                left,
                late: late
                    || field("resolution_breached") == json!(true)
                    || (field("first_response_breached") == json!(true) && field("status") != "waiting"),
            }
        })
        .collect())
}

// ---- The compliance report ----

pub struct ReportRow {
    pub key: String,
    pub tickets: String,
    pub first_late: String,
    pub first_kept: String,
    pub resolution_late: String,
    pub resolution_kept: String,
    pub low: bool,
}

#[derive(Template)]
#[template(path = "service_report.html")]
struct ReportPage {
    layout: Layout,
    tr: Words,
    tabs: Vec<(String, String, bool)>,
    by: String,
    from: String,
    to: String,
    heading: String,
    rows: Vec<ReportRow>,
    /// Customers' ratings (CSAT) of each team and each agent over the same days.
    team_ratings: Vec<super::feedback::StaffRow>,
    ratings: Vec<super::feedback::StaffRow>,
    errors: Vec<String>,
}

/// `GET /service/report?by=&from=&to=`: service-level compliance per month (Jalali in Persian),
/// queue, agent or category, of the tickets the user may read.
pub async fn report(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let by = q.get("by").and_then(|b| By::parse(b)).unwrap_or(By::Month);
        let date = |k: &str| {
            q.get(k).filter(|v| !v.trim().is_empty()).and_then(|v| peyvand_records::jalali::parse_form_date(v))
        };
        let mut errors = Vec::new();
        let (from, to) = match crate::api::service::report_range(
            &state.db,
            date("from").map(|d| d.to_string()).as_deref(),
            date("to").map(|d| d.next_day().unwrap_or(d).to_string()).as_deref(),
        ) {
            Ok(r) => r,
            Err(ApiError::Store(e)) => {
                errors = messages(e)?;
                crate::api::service::report_range(&state.db, None, None)?
            }
            Err(e) => return Err(e),
        };
        let list = levels::compliance(&state.db, by, from, to, lang == "fa").await?;
        let obj = state.db.visible_object("ticket").await?;
        let users = state.db.list_users().await?;
        let n = |v: i64| super::display::format_number(lang, &v.to_string());
        let pct = |v: Option<f64>| {
            v.map(|p| super::display::format_number(lang, &format!("{p:.0}")) + "٪")
                .unwrap_or_else(|| t(lang, "service-no-data"))
        };
        let pct = |v: Option<f64>| if lang == "fa" { pct(v) } else { pct(v).replace('٪', "%") };
        let rows = list
            .iter()
            .map(|r| {
                let key = match by {
                    By::Month if lang == "fa" => {
                        peyvand_records::normalize::to_persian_digits(&r.key.replace('-', "/"))
                    }
                    By::Month => r.key.replace('-', "/"),
                    By::Agent => users
                        .iter()
                        .find(|u| u.id == r.key)
                        .map(|u| u.name.clone())
                        .unwrap_or_else(|| t(lang, "service-nobody")),
                    By::Queue | By::Category => {
                        let f = if by == By::Queue { "queue" } else { "category" };
                        if r.key.is_empty() {
                            t(lang, "record-empty")
                        } else {
                            obj.field(f).map(|d| d.option_label(&r.key, lang).to_string()).unwrap_or(r.key.clone())
                        }
                    }
                };
                ReportRow {
                    key,
                    tickets: n(r.tickets),
                    first_late: n(r.first_response_late),
                    first_kept: pct(r.first_response_kept()),
                    resolution_late: n(r.resolution_late),
                    resolution_kept: pct(r.resolution_kept()),
                    low: r.resolution_kept().is_some_and(|p| p < 90.0),
                }
            })
            .collect();
        let shown = |d: time::Date| format_date(lang, d);
        let last = to.previous_day().unwrap_or(to);
        let range = format!("from={}&to={}", shown(from), shown(last));
        let tabs = By::ALL
            .iter()
            .map(|b| {
                (
                    format!("/service/report?by={}&{range}", b.as_str()),
                    t(lang, &format!("service-by-{}", b.as_str())),
                    *b == by,
                )
            })
            .collect();
        let stored = |d: time::Date| peyvand_records::value::format_datetime(d.midnight().assume_utc());
        let (team_ratings, ratings) = super::feedback::staff_rows(&state, &stored(from), &stored(to)).await?;
        let catalog = state.db.visible_catalog().await?;
        let page = ReportPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "service-report"),
            tr: Words::new(lang),
            tabs,
            by: by.as_str().to_string(),
            from: shown(from),
            to: shown(last),
            heading: t(lang, &format!("service-by-{}", by.as_str())),
            rows,
            team_ratings,
            ratings,
            errors,
        };
        Ok::<_, ApiError>(render(&page))
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---- Admin → Service desk ----

pub struct CalendarView {
    pub id: String,
    pub name: String,
    pub hours: String,
    pub is_default: bool,
}

pub struct PolicyView {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub categories: Vec<(String, String, bool)>,
    pub groups: Vec<(String, String, bool)>,
    pub calendars: Vec<(String, String, bool)>,
    /// Per priority: key, label, first response and resolution in minutes.
    pub targets: Vec<(String, String, i64, i64)>,
    pub warn: i64,
    pub notify: bool,
    pub raise: bool,
    pub reassign: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "admin_service.html")]
struct AdminPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    errors: Vec<String>,
    closed_reply: String,
    queues: Vec<(String, String, String)>,
    teams: Vec<(String, String)>,
    modes: Vec<(String, String)>,
    calendars: Vec<CalendarView>,
    holidays: String,
    policies: Vec<PolicyView>,
    blank: PolicyView,
}

/// A calendar's hours as lines: `saturday 08:00-16:00`.
fn hours_text(h: &Hours) -> String {
    h.shifts.iter().map(|s| format!("{} {}-{}", s.day, s.from, s.to)).collect::<Vec<_>>().join("\n")
}

/// Persian weekday names, Saturday first, as a line of hours may name them.
const PERSIAN_DAYS: [&str; 7] = ["شنبه", "یکشنبه", "دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه"];

/// Lines of hours back into shifts (`saturday 08:00-12:00, 13:00-17:00` gives two; Persian
/// weekday names and digits are read too).
fn parse_hours(text: &str) -> Hours {
    let mut shifts = Vec::new();
    let text =
        peyvand_records::normalize::to_latin_digits(text).replace("پنج‌شنبه", "پنجشنبه").replace("سه شنبه", "سه‌شنبه");
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (day, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let day = match PERSIAN_DAYS.iter().position(|d| *d == day) {
            Some(i) => peyvand_crm::service::clock::DAYS[i],
            None => day,
        };
        for part in rest.split(',').map(str::trim) {
            let (from, to) = part.split_once('-').unwrap_or((part, ""));
            shifts.push(Shift { day: day.trim().to_lowercase(), from: from.trim().into(), to: to.trim().into() });
        }
    }
    Hours { shifts }
}

/// Days off as lines: `FROM TO NAME_FA | NAME_EN` (Jalali in Persian, ISO in English).
fn holidays_text(lang: &str, list: &[Holiday]) -> String {
    list.iter()
        .map(|h| {
            let d = |d: time::Date| peyvand_records::normalize::to_latin_digits(&format_date(lang, d));
            format!("{} {} {} | {}", d(h.from), d(h.to), h.name_fa, h.name_en)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_holidays(text: &str) -> Result<Vec<Holiday>, Vec<FieldError>> {
    let mut list = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        let mut words = line.splitn(3, char::is_whitespace);
        let (from, to, names) = (words.next().unwrap_or(""), words.next().unwrap_or(""), words.next().unwrap_or(""));
        let (fa, en) = names.split_once('|').unwrap_or((names, ""));
        let date = |s: &str| peyvand_records::jalali::parse_form_date(s);
        match (date(from), date(to)) {
            (Some(from), Some(to)) => {
                list.push(Holiday { from, to, name_fa: fa.trim().into(), name_en: en.trim().into() });
            }
            _ => errors.push(FieldError::new(&format!("holidays.{i}.from"), "invalid_date")),
        }
    }
    if errors.is_empty() { Ok(list) } else { Err(errors) }
}

async fn admin_view(state: &AppState, session: &Session, errors: Vec<String>) -> Result<Response, ApiError> {
    require(session, Action::ManageSchema)?;
    let lang = current_lang();
    let setup = levels::setup(&state.db).await?;
    let teams = state.db.list_teams().await?;
    let users = state.db.list_users().await?;
    let obj = state.db.visible_object("ticket").await?;
    let contact = state.db.visible_object("contact").await?;
    let choices = |o: &ObjectDef, f: &str, chosen: &[String]| -> Vec<(String, String, bool)> {
        o.field(f)
            .map(|d| {
                d.options
                    .options
                    .iter()
                    .map(|x| (x.value.clone(), d.option_label(&x.value, lang).to_string(), chosen.contains(&x.value)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let view = |p: &Policy| PolicyView {
        id: encode(&p.id),
        name: p.name.clone(),
        position: p.position,
        categories: choices(&obj, "category", &p.categories),
        groups: choices(&contact, "customer_group", &p.customer_groups),
        calendars: setup.calendars.iter().map(|c| (c.id.clone(), c.name.clone(), c.id == p.calendar)).collect(),
        targets: PRIORITIES
            .iter()
            .map(|pr| {
                let t = p.target(pr);
                let label = obj.field("priority").map(|d| d.option_label(pr, lang).to_string()).unwrap_or_default();
                (
                    pr.to_string(),
                    label,
                    t.map_or(0, |t| t.first_response_minutes),
                    t.map_or(0, |t| t.resolution_minutes),
                )
            })
            .collect(),
        warn: p.warn_minutes,
        notify: p.escalation.notify,
        raise: p.escalation.raise_priority,
        reassign: users
            .iter()
            .filter(|u| u.active)
            .map(|u| (u.id.clone(), u.name.clone(), p.escalation.reassign_to.as_deref() == Some(u.id.as_str())))
            .collect(),
    };
    let blank = Policy {
        id: String::new(),
        name: String::new(),
        position: 0,
        categories: vec![],
        customer_groups: vec![],
        calendar: setup.calendars.iter().find(|c| c.is_default).map(|c| c.id.clone()).unwrap_or_default(),
        targets: PRIORITIES
            .iter()
            .map(|p| Target { priority: p.to_string(), first_response_minutes: 60, resolution_minutes: 480 })
            .collect(),
        warn_minutes: 60,
        escalation: Escalation::default(),
    };
    let queue_list = queues::list(&state.db).await?;
    let catalog = state.db.visible_catalog().await?;
    let page = AdminPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        errors,
        closed_reply: conversation::closed_reply(&state.db).await?,
        queues: queue_list
            .iter()
            .map(|q| (encode(&q.team_id), q.name.clone(), t(lang, &format!("service-mode-{}", q.mode.as_str()))))
            .collect(),
        teams: teams.iter().map(|t| (t.id.clone(), t.name.clone())).collect(),
        modes: Mode::ALL
            .iter()
            .map(|m| (m.as_str().to_string(), t(lang, &format!("service-mode-{}", m.as_str()))))
            .collect(),
        calendars: setup
            .calendars
            .iter()
            .map(|c| CalendarView {
                id: encode(&c.id),
                name: c.name.clone(),
                hours: hours_text(&c.hours),
                is_default: c.is_default,
            })
            .collect(),
        holidays: holidays_text(lang, &setup.holidays),
        policies: setup.policies.iter().map(view).collect(),
        blank: view(&blank),
    };
    Ok(render(&page))
}

pub async fn admin_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    admin_view(&state, &session, Vec::new()).await.unwrap_or_else(fail)
}

/// A change's outcome: back to the page, or the page with the reasons.
async fn done(state: &AppState, session: &Session, outcome: Result<(), StoreError>) -> Response {
    match outcome {
        Ok(()) => Redirect::to("/admin/service").into_response(),
        Err(e @ (StoreError::Validation(_) | StoreError::Conflict { .. })) => match messages(e) {
            Ok(lines) => admin_view(state, session, lines)
                .await
                .map(|r| (StatusCode::UNPROCESSABLE_ENTITY, r).into_response())
                .unwrap_or_else(fail),
            Err(e) => fail(e),
        },
        Err(e) => fail(e),
    }
}

/// `POST /admin/service/{part}` and `/admin/service/{part}/{id}` (`action=delete` removes).
pub async fn admin_change(
    State(state): State<AppState>,
    Path(path): Path<Vec<String>>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    if let Err(e) = require(&session, Action::ManageSchema) {
        return fail(e);
    }
    let actor = Some(session.user.id.as_str());
    let (part, id) = (path.first().map(String::as_str).unwrap_or(""), path.get(1).map(String::as_str));
    let delete = get(&pairs, "action") == "delete";
    let db = &state.db;
    let outcome: Result<(), StoreError> = async {
        match (part, id) {
            ("settings", None) => conversation::set_closed_reply(db, get(&pairs, "closed_reply")).await,
            ("queues", None) => {
                let mode = Mode::parse(get(&pairs, "mode")).unwrap_or(Mode::Manual);
                queues::save(db, actor, get(&pairs, "team"), mode).await.map(|_| ())
            }
            ("queues", Some(team)) if delete => queues::delete(db, actor, team).await,
            ("calendars", id) if delete => match id {
                Some(id) => levels::delete_calendar(db, id).await,
                None => Ok(()),
            },
            ("calendars", id) => {
                let c = Calendar {
                    id: String::new(),
                    name: get(&pairs, "name").into(),
                    hours: parse_hours(get(&pairs, "hours")),
                    is_default: get(&pairs, "is_default") == "on",
                };
                levels::save_calendar(db, id, c).await.map(|_| ())
            }
            ("holidays", None) => match parse_holidays(get(&pairs, "holidays")) {
                Ok(list) => levels::set_holidays(db, &list).await,
                Err(errors) => Err(StoreError::Validation(errors)),
            },
            ("policies", Some(id)) if delete => levels::delete_policy(db, actor, id).await,
            ("policies", id) => {
                let all = |k: &str| pairs.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
                let minutes = |k: &str| get(&pairs, k).parse::<i64>().unwrap_or(0);
                let p = Policy {
                    id: String::new(),
                    name: get(&pairs, "name").into(),
                    position: get(&pairs, "position").parse().unwrap_or(0),
                    categories: all("categories"),
                    customer_groups: all("groups"),
                    calendar: get(&pairs, "calendar").into(),
                    targets: PRIORITIES
                        .iter()
                        .map(|p| Target {
                            priority: p.to_string(),
                            first_response_minutes: minutes(&format!("first_{p}")),
                            resolution_minutes: minutes(&format!("resolve_{p}")),
                        })
                        .collect(),
                    warn_minutes: minutes("warn"),
                    escalation: Escalation {
                        notify: get(&pairs, "notify") == "on",
                        raise_priority: get(&pairs, "raise") == "on",
                        reassign_to: Some(get(&pairs, "reassign").to_string()).filter(|s| !s.is_empty()),
                    },
                };
                levels::save_policy(db, actor, id, p).await.map(|_| ())
            }
            _ => Err(StoreError::NotFound(part.to_string())),
        }
    }
    .await;
    done(&state, &session, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_days_off_read_back_as_written() {
        let h = Hours::iranian_office();
        assert_eq!(parse_hours(&hours_text(&h)), h);
        let two = parse_hours("Saturday 08:00-12:00, 13:00-17:00");
        assert_eq!(two.shifts.len(), 2);
        assert_eq!(two.shifts[1], Shift { day: "saturday".into(), from: "13:00".into(), to: "17:00".into() });
        let persian = parse_hours("پنج‌شنبه ۰۸:۰۰-۱۳:۰۰\nجمعه 10:00-12:00");
        assert_eq!(persian.shifts[0], Shift { day: "thursday".into(), from: "08:00".into(), to: "13:00".into() });
        assert_eq!(persian.shifts[1].day, "friday");
        let list = levels::shipped_holidays();
        for lang in ["fa", "en"] {
            assert_eq!(parse_holidays(&holidays_text(lang, &list)).expect("parses"), list, "{lang}");
        }
        let bad = parse_holidays("1405-01-01 tomorrow Nowruz").expect_err("a bad date");
        assert_eq!((bad[0].field.as_str(), bad[0].code), ("holidays.0.from", "invalid_date"));
    }

    #[test]
    fn a_span_reads_in_days_hours_and_minutes() {
        assert_eq!(span("en", Duration::minutes(200)), "3 h 20 min");
        assert_eq!(span("en", Duration::minutes(-(26 * 60))), "1 d 2 h");
        assert_eq!(span("fa", Duration::minutes(5)), "۵ دقیقه");
    }
}

// ---- The knowledge base ----

#[derive(Template)]
#[template(path = "kb_panel.html")]
struct ArticlePanel {
    tr: Words,
    id: String,
    csrf: String,
    published: bool,
    yes: String,
    no: String,
}

/// An article's page: its votes, and the reader's own.
pub async fn article_panel(session: &Session, record: &Record) -> Result<String, ApiError> {
    let lang = current_lang();
    let n = |f: &str| {
        super::display::format_number(lang, &record.fields.get(f).and_then(Json::as_i64).unwrap_or(0).to_string())
    };
    ArticlePanel {
        tr: Words::new(lang),
        id: encode(&record.id),
        csrf: session.csrf.clone(),
        published: record.fields.get("status").and_then(Json::as_str) == Some("published"),
        yes: n("helpful_yes"),
        no: n("helpful_no"),
    }
    .render()
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /kb/{id}`: an article, where replies link to it.
pub async fn article(Path(id): Path<String>) -> Response {
    Redirect::to(&format!("/records/kb_article/{}", encode(&id))).into_response()
}

/// `POST /kb/{id}/vote` (`helpful` = yes or no).
pub async fn vote(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ReadRecords)?;
        knowledge::vote(&state.db, &id, get(&pairs, "helpful") == "yes").await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/records/kb_article/{}", encode(&id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---- Dealer quality ----

pub struct DealerRow {
    pub dealer: String,
    pub href: String,
    pub month: String,
    pub product: String,
    pub complaints: String,
    pub units: String,
    pub rate: String,
    pub trend: String,
    /// `up`, `down` or empty.
    pub trend_dir: &'static str,
    pub alert: bool,
}

#[derive(Template)]
#[template(path = "service_dealers.html")]
struct DealersPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    from: String,
    to: String,
    by_product: bool,
    threshold: String,
    admin: bool,
    rows: Vec<DealerRow>,
    errors: Vec<String>,
}

/// `GET /service/dealers?from=1405-01&to=1405-09&by=product`: complaints per 10,000 units
/// serviced, the worst first (the ranking), each with its trend and alert.
pub async fn dealers_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let (dfrom, dto) = crate::api::service::last_twelve_months(&state.db);
        let mut errors = Vec::new();
        let mut month = |k: &str, d: (i32, u8)| match q.get(k).filter(|v| !v.trim().is_empty()) {
            None => d,
            Some(v) => dealers::parse_month(v).unwrap_or_else(|| {
                errors.push(format!(
                    "{}: {}",
                    t(lang, &format!("service-report-{k}")),
                    crate::i18n::field_error_message(lang, "invalid_month", &Json::Null)
                ));
                d
            }),
        };
        let (from, to) = (month("from", dfrom), month("to", dto));
        let by_product = q.get("by").map(String::as_str) == Some("product");
        let mut list = match dealers::rates(&state.db, from, to, by_product).await {
            Ok(l) => l,
            Err(e @ StoreError::Validation(_)) => {
                errors.extend(messages(e)?);
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        list.sort_by(|a, b| {
            b.per_10k.unwrap_or(-1.0).total_cmp(&a.per_10k.unwrap_or(-1.0)).then(b.month.cmp(&a.month))
        });
        let ids: Vec<String> = list.iter().map(|r| r.dealer.clone()).collect();
        let names = if ids.is_empty() { HashMap::new() } else { state.db.titles("company", &ids).await? };
        let products: Vec<String> = list.iter().filter_map(|r| r.product.clone()).collect();
        let product_names =
            if products.is_empty() { HashMap::new() } else { state.db.titles("product", &products).await? };
        let num = |v: String| super::display::format_number(lang, &v);
        let digits =
            |v: &str| if lang == "fa" { peyvand_records::normalize::to_persian_digits(v) } else { v.to_string() };
        let rows = list
            .iter()
            .map(|r| DealerRow {
                dealer: names.get(&r.dealer).cloned().unwrap_or_else(|| t(lang, "record-someone")),
                href: format!("/records/company/{}", encode(&r.dealer)),
                month: digits(&r.month.replace('-', "/")),
                product: r.product.as_ref().and_then(|p| product_names.get(p).cloned()).unwrap_or_default(),
                complaints: num(r.complaints.to_string()),
                units: r.units.map(|u| num(u.to_string())).unwrap_or_else(|| t(lang, "service-no-data")),
                rate: r.per_10k.map(|v| num(format!("{v:.1}"))).unwrap_or_else(|| t(lang, "service-no-data")),
                trend: r.trend.map(|v| num(format!("{:+.1}", v))).unwrap_or_default(),
                trend_dir: match r.trend {
                    Some(v) if v > 0.0 => "up",
                    Some(v) if v < 0.0 => "down",
                    _ => "",
                },
                alert: r.alert,
            })
            .collect();
        let catalog = state.db.visible_catalog().await?;
        let page = DealersPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "service-dealers"),
            tr: Words::new(lang),
            csrf: session.csrf.clone(),
            from: digits(&dealers::month_key(from.0, from.1)),
            to: digits(&dealers::month_key(to.0, to.1)),
            by_product,
            threshold: dealers::threshold(&state.db).await?.map(|v| v.to_string()).unwrap_or_default(),
            admin: session.user.role.allows(Action::ManageSchema),
            rows,
            errors,
        };
        Ok::<_, ApiError>(render(&page))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /service/dealers/threshold` (admins): the alert threshold, empty to clear.
pub async fn dealers_threshold(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let text = peyvand_records::normalize::to_latin_digits(get(&pairs, "threshold"));
        let value = if text.is_empty() {
            None
        } else {
            Some(text.parse::<f64>().map_err(|_| ApiError::from(FieldError::new("threshold", "invalid_number")))?)
        };
        dealers::set_threshold(&state.db, value).await?;
        Ok::<_, ApiError>(Redirect::to("/service/dealers").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}
