//! Duplicates and merge on pages (`peyvand_crm::customers::merge`): a record's possible
//! duplicates on its page, and the merge screen that shows both records side by side, field by
//! field, to choose which value stays.

use super::admin::Words;
use super::display::{Refs, display_value};
use super::records::{fail, load_refs};
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::t;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use peyvand_crm::customers::{merge, queue};
use peyvand_records::access::Action;
use peyvand_store::records::Record;

#[derive(Template)]
#[template(path = "duplicates.html")]
struct DuplicatesPanel {
    tr: Words,
    object: String,
    id: String,
    /// Each: id, title, why.
    found: Vec<(String, String, String)>,
    can_merge: bool,
}

/// A record's page: a place its possible duplicates fill once the page is shown (looking them
/// up takes a search; the page does not wait for it).
pub fn duplicates_placeholder(object: &str, record: &Record) -> Vec<String> {
    if record.deleted_at.is_some() {
        return Vec::new();
    }
    let (object, id) = (super::session::encode(object), super::session::encode(&record.id));
    // Filled in at the end of the page's main column (`#late-panels`), so nothing moves.
    vec![format!(
        "<div hx-get=\"/records/{object}/{id}/duplicates\" hx-trigger=\"load\" hx-target=\"#late-panels\" hx-swap=\"innerHTML\"></div>"
    )]
}

/// `GET /records/{object}/{id}/duplicates`: the record's possible duplicates, as a panel of its
/// page (nothing when there are none).
pub async fn duplicates_panel(
    State(state): State<AppState>,
    session: Session,
    Path((object, id)): Path<(String, String)>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let found = merge::duplicates(&state.db, &object, &id).await?;
        if found.is_empty() {
            return Ok(Html(String::new()).into_response());
        }
        let lang = current_lang();
        let found = found
            .into_iter()
            .map(|(r, why)| {
                let why: Vec<String> = why.iter().map(|w| t(lang, &format!("duplicate-{w}"))).collect();
                (r.id, r.title, why.join("، "))
            })
            .collect();
        let panel = DuplicatesPanel {
            tr: Words::new(lang),
            object: object.clone(),
            id: id.clone(),
            found,
            can_merge: session.user.role.allows(Action::WriteRecords),
        };
        Ok::<_, ApiError>(Html(panel.render().map_err(|e| ApiError::Internal(e.to_string()))?).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// One field of the merge screen: both values, shown, and whether they differ.
struct Row {
    name: String,
    label: String,
    mine: String,
    theirs: String,
    differ: bool,
}

#[derive(Template)]
#[template(path = "merge.html")]
struct MergePage {
    layout: Layout,
    tr: Words,
    object: String,
    keep: (String, String),
    other: (String, String),
    rows: Vec<Row>,
    errors: Vec<String>,
}

/// `GET /records/{object}/{id}/merge/{other}`: both records side by side, each field's value to
/// choose (the record kept by default; e-mails and phones are joined whatever is chosen).
pub async fn merge_page(
    State(state): State<AppState>,
    session: Session,
    Path((object, id, other)): Path<(String, String, String)>,
) -> Response {
    let state = session.scoped(state);
    merge_view(&state, &session, &object, &id, &other, Vec::new()).await.unwrap_or_else(fail)
}

async fn merge_view(
    state: &AppState,
    session: &Session,
    object: &str,
    id: &str,
    other: &str,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    if !session.user.role.allows(Action::WriteRecords) {
        return Err(ApiError::Forbidden);
    }
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(object).ok_or(ApiError::NotFound)?;
    let (keep, them) =
        (state.db.get_record(object, id, false).await?, state.db.get_record(object, other, false).await?);
    let refs: Refs = load_refs(state, &obj, &[&keep, &them]).await?;
    let offset = state.config.display_offset;
    let show = |r: &Record, f: &peyvand_records::FieldDef| {
        display_value(lang, f, r.fields.get(&f.api_name).unwrap_or(&serde_json::Value::Null), &refs, offset).text
    };
    let rows = obj
        .visible_fields()
        .map(|f| {
            let (mine, theirs) = (show(&keep, f), show(&them, f));
            Row { name: f.api_name.clone(), label: f.label(lang).to_string(), differ: mine != theirs, mine, theirs }
        })
        .collect();
    Ok(render(&MergePage {
        layout: Layout::new(lang, Some(session), Some(&catalog), object),
        tr: Words::new(lang),
        object: object.to_string(),
        keep: (keep.id.clone(), keep.title.clone()),
        other: (them.id.clone(), them.title.clone()),
        rows,
        errors,
    }))
}

/// `POST /records/{object}/{id}/merge/{other}`: merges, taking the fields chosen from the other.
pub async fn merge_records(
    State(state): State<AppState>,
    Path((object, id, other)): Path<(String, String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let take = pairs
            .iter()
            .filter(|(_, v)| v == "other")
            .map(|(k, _)| k.trim_start_matches("pick.").to_string())
            .collect();
        let input = merge::MergeInput { with: other.clone(), take };
        match merge::merge(&state.db, Some(&session.user.id), &object, &id, &input).await {
            Ok(_) => Ok(Redirect::to(&format!("/records/{object}/{}", super::session::encode(&id))).into_response()),
            Err(e) => {
                let messages = super::admin::messages(e)?;
                merge_view(&state, &session, &object, &id, &other, messages).await
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// One pair of the queue, as shown.
pub struct QueueRow {
    pub a: String,
    pub a_title: String,
    pub b: String,
    pub b_title: String,
    pub why: String,
}

#[derive(Template)]
#[template(path = "duplicates_queue.html")]
struct QueuePage {
    layout: Layout,
    tr: Words,
    object: String,
    objects: Vec<(String, String, bool)>,
    pairs: Vec<QueueRow>,
    next: Option<String>,
    last: Option<String>,
    requested: bool,
    can_scan: bool,
    can_merge: bool,
}

/// `GET /duplicates?object=contact&after=`: the duplicates queue of an object.
pub async fn queue_page(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::ReadRecords) {
            return Err(ApiError::Forbidden);
        }
        let lang = current_lang();
        let catalog = state.db.visible_catalog().await?;
        let object = q.get("object").map(String::as_str).unwrap_or("contact");
        if !queue::OBJECTS.contains(&object) || catalog.object(object).is_none() {
            return Err(ApiError::NotFound);
        }
        let (pairs, next) = queue::pairs(&state.db, object, q.get("after").map(String::as_str), 50).await?;
        let why = |reasons: &[String]| {
            reasons.iter().map(|w| t(lang, &format!("duplicate-{w}"))).collect::<Vec<_>>().join("، ")
        };
        let last = queue::last_scan(&state.db, object).await?.map(|s| {
            let when = peyvand_records::value::parse_datetime(&s.scanned_at)
                .map(|at| crate::i18n::format_datetime(lang, at, state.config.display_offset))
                .unwrap_or(s.scanned_at.clone());
            let num = |n: i64| super::display::format_number(lang, &n.to_string());
            crate::i18n::t_args(
                lang,
                "queue-last",
                &[
                    ("when", when),
                    ("records", num(s.records)),
                    ("pairs", num(s.pairs)),
                    ("seconds", num(s.milliseconds / 1000)),
                ],
            )
        });
        let objects = queue::OBJECTS
            .iter()
            .filter_map(|o| catalog.object(o))
            .map(|o| (o.api_name.clone(), o.plural(lang).to_string(), o.api_name == object))
            .collect();
        Ok::<_, ApiError>(render(&QueuePage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "duplicates"),
            tr: Words::new(lang),
            object: object.to_string(),
            objects,
            pairs: pairs
                .into_iter()
                .map(|p| QueueRow { why: why(&p.reasons), a: p.a, a_title: p.a_title, b: p.b, b_title: p.b_title })
                .collect(),
            next,
            last,
            requested: q.contains_key("requested"),
            can_scan: session.user.role.allows(Action::ManageSchema),
            can_merge: session.user.role.allows(Action::WriteRecords),
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /duplicates/scan`: asks for a scan of the object (admins); the runner does it.
pub async fn queue_scan(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        let object = super::admin::get(&pairs, "object");
        queue::request_scan(&state.db, object).await?;
        Ok::<_, ApiError>(
            Redirect::to(&format!("/duplicates?object={}&requested=1", super::session::encode(object))).into_response(),
        )
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /duplicates/dismiss`: marks a pair as not duplicates.
pub async fn queue_dismiss(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::WriteRecords)?;
        let get = |k: &str| super::admin::get(&pairs, k);
        queue::dismiss(&state.db, &session.user.id, get("object"), get("a"), get("b")).await?;
        Ok::<_, ApiError>(
            Redirect::to(&format!("/duplicates?object={}", super::session::encode(get("object")))).into_response(),
        )
    }
    .await;
    result.unwrap_or_else(fail)
}
