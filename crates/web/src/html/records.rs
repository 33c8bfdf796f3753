//! The list page and record page of any object, and the search page.

use super::display::{Refs, display_value};
use super::{Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{format_datetime, t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_records::access::Action;
use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_records::value::parse_datetime;
use peyvand_records::{FieldType, ObjectDef};
use peyvand_store::records::{ListQuery, Record};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

pub async fn home() -> Redirect {
    Redirect::to("/dashboard")
}

pub(super) fn fail(e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
    match e.status() {
        StatusCode::NOT_FOUND => super::error_page(StatusCode::NOT_FOUND, "error-not-found"),
        StatusCode::FORBIDDEN => super::error_page(StatusCode::FORBIDDEN, "error-forbidden"),
        _ => e.into_response(),
    }
}

/// Looks up, in one query per target object and one for users, the names that relation and
/// user fields of these records point at.
pub(super) async fn load_refs(state: &AppState, object: &ObjectDef, records: &[&Record]) -> Result<Refs, ApiError> {
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in object.live_fields().filter(|f| f.field_type == FieldType::Relation) {
        let Some(target) = &f.options.target else {
            continue;
        };
        for r in records {
            if let Some(id) = r.fields.get(&f.api_name).and_then(|v| v.as_str()) {
                wanted.entry(target.clone()).or_default().push(id.to_string());
            }
        }
    }
    let mut refs = Refs::default();
    for (target, ids) in wanted {
        for (id, title) in state.db.titles(&target, &ids).await? {
            refs.records.insert((target.clone(), id), title);
        }
    }
    refs.users = state.db.list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
    Ok(refs)
}

pub struct Section {
    pub heading: String,
    pub fields: Vec<FieldRow>,
}

pub struct FieldRow {
    pub name: String,
    pub label: String,
    pub text: String,
    pub href: Option<String>,
    pub ltr: bool,
    /// The value as HTML (`Cell::html`: badges, phone and e-mail links; escaped there).
    pub html: String,
}

pub struct RelatedSection {
    pub heading: String,
    /// The labels of the columns after the title (a date, an amount, a status).
    pub columns: Vec<String>,
    pub items: Vec<RelatedItem>,
    /// "20 of 57" when there are more than shown.
    pub more: Option<String>,
    /// The list of all of them, filtered to this record.
    pub all_href: String,
    pub all_label: String,
    /// How many there are, in words of the page.
    pub count: String,
    /// A new one, pointing here (when the user may make one).
    pub add_href: Option<String>,
    pub add_label: String,
    pub icon: &'static str,
}

/// A quick action of a record's header: log a call, write an e-mail, make a related record.
pub struct QuickAction {
    pub href: String,
    pub label: String,
    pub icon: &'static str,
}

/// One record of a related list: its title and a few values (an order's date, total, status).
pub struct RelatedItem {
    pub text: String,
    pub href: String,
    pub cells: Vec<String>,
}

/// Records shown per related list on a record page.
const RELATED_LENGTH: u32 = 20;

/// The fields a related list shows besides the title: its first date (or date and time), its
/// first amount and its first choice (an order's date, total and status; a deal's close date,
/// amount and stage), in the object's order.
fn summary_fields<'a>(object: &'a peyvand_records::ObjectDef, except: &str) -> Vec<&'a peyvand_records::FieldDef> {
    let mut picked: Vec<&peyvand_records::FieldDef> = Vec::new();
    let kinds: [&[FieldType]; 3] =
        [&[FieldType::Datetime, FieldType::Date], &[FieldType::Currency, FieldType::Decimal], &[FieldType::Select]];
    for kinds in kinds {
        if let Some(f) = object
            .visible_fields()
            .find(|f| kinds.contains(&f.field_type) && f.api_name != except && !object.is_title_field(&f.api_name))
        {
            picked.push(f);
        }
    }
    picked.sort_by_key(|f| f.position);
    picked
}

/// The object whose records make a customer's timeline (calls, e-mails, meetings, …), newest first.
const TIMELINE_OBJECT: &str = "activity";
/// How many interactions the record page shows.
const TIMELINE_LENGTH: u32 = 50;

pub struct TimelineEntry {
    pub when: String,
    pub kind: String,
    /// The kind's stored value, for styling.
    pub kind_value: String,
    pub text: String,
    pub href: String,
}

pub struct HistoryItem {
    pub when: String,
    pub who: String,
    pub action: String,
    pub changes: Vec<String>,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    layout: Layout,
    heading: String,
    object_label: String,
    list_href: String,
    in_trash: bool,
    trash_label: String,
    key: Vec<FieldRow>,
    sections: Vec<Section>,
    related: Vec<RelatedSection>,
    timeline_label: String,
    timeline_empty: String,
    timeline_add: String,
    /// The newest interactions first (`TIMELINE_OBJECT` records pointing here).
    timeline: Vec<TimelineEntry>,
    /// Where to log a new interaction with this record, when one can point here.
    timeline_new: Option<String>,
    /// A customer's merged story (`timeline.html`), instead of its activities alone.
    merged: Option<String>,
    history_label: String,
    history: Vec<HistoryItem>,
    self_href: String,
    can_write: bool,
    can_delete: bool,
    can_restore: bool,
    /// Who the record is shared with, and whether this user may share it.
    shares: Vec<ShareRow>,
    can_share: bool,
    share_choices: Vec<super::admin::Option_>,
    tr: super::admin::Words,
    edit_label: String,
    delete_label: String,
    restore_label: String,
    /// Whether the user starred it (side navigation's favourites).
    favourite: bool,
    /// The record's initials, for its avatar.
    initials: String,
    /// What one does from here in a click.
    quick: Vec<QuickAction>,
    /// The object's icon.
    icon: &'static str,
    /// What the capabilities add to the page (a deal's stages), as rendered by their templates.
    panels: Vec<String>,
}

/// One share of a record, as shown.
pub struct ShareRow {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub level: String,
}

pub async fn record_page(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Path((object, id)): Path<(String, String)>,
    Query(params): Query<super::timeline::TimelineParams>,
) -> Response {
    let state = session.scoped(state);
    // A record merged into another leads to it.
    match peyvand_crm::customers::merge::merged_into(&state.db, &object, &id).await {
        Ok(Some(survivor)) => {
            return Redirect::permanent(&format!("/records/{object}/{}", super::session::encode(&survivor)))
                .into_response();
        }
        Ok(None) => {}
        Err(e) => return fail(e),
    }
    match record_inner(&state, &session, &headers, &object, &id, &params).await {
        Ok(r) => r,
        Err(e) => fail(e),
    }
}

async fn record_inner(
    state: &AppState,
    session: &Session,
    headers: &axum::http::HeaderMap,
    object: &str,
    id: &str,
    params: &super::timeline::TimelineParams,
) -> Result<Response, ApiError> {
    if !session.user.role.allows(Action::ReadRecords) {
        return Err(ApiError::Forbidden);
    }
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(object).ok_or(ApiError::NotFound)?;
    // A trashed record's page is for those who may see the trash (a manager restores it there).
    let record = state.db.get_record(object, id, session.user.role.allows(Action::ReadTrash)).await?;
    let refs = load_refs(state, &obj, &[&record]).await?;
    let offset = state.config.display_offset;
    // What this user may do with it (their role allows the action; their reach holds the record).
    let owner = record.fields.get(peyvand_records::access::OWNER_FIELD).and_then(|o| o.as_str());
    let may_change = session.viewer.reaches(object, peyvand_records::access::Intent::Change, &record.id, owner);
    let users = state.db.list_users().await?;
    let teams = state.db.list_teams().await?;
    let shares = state
        .db
        .record_shares(object, id)
        .await?
        .into_iter()
        .map(|sh| {
            let name = match sh.kind {
                "team" => teams.iter().find(|t| t.id == sh.id).map(|t| t.name.clone()),
                _ => users.iter().find(|u| u.id == sh.id).map(|u| u.name.clone()),
            };
            ShareRow {
                kind: sh.kind.to_string(),
                name: name.unwrap_or_else(|| sh.id.clone()),
                id: sh.id,
                level: t(lang, &format!("share-level-{}", sh.level)),
            }
        })
        .collect();
    let share_choices = users
        .iter()
        .filter(|u| u.active && u.id != session.user.id)
        .map(|u| super::admin::Option_ { value: format!("user:{}", u.id), label: u.name.clone(), selected: false })
        .chain(teams.iter().map(|tm| super::admin::Option_ {
            value: format!("team:{}", tm.id),
            label: format!("{} ({})", tm.name, t(lang, "admin-teams")),
            selected: false,
        }))
        .collect();
    let rows: Vec<(bool, FieldType, FieldRow)> = obj
        .visible_fields()
        .map(|f| {
            let cell = display_value(
                lang,
                f,
                record.fields.get(&f.api_name).unwrap_or(&serde_json::Value::Null),
                &refs,
                offset,
            );
            let row = FieldRow {
                name: f.api_name.clone(),
                label: f.label(lang).to_string(),
                html: cell.html(true),
                text: cell.text,
                href: cell.href,
                ltr: cell.ltr,
            };
            (f.origin == peyvand_records::Origin::Custom, f.field_type, row)
        })
        .collect();
    // The header shows the owner and the first choices and ways to reach the record.
    let empty = t(lang, "record-empty");
    let key: Vec<FieldRow> = rows
        .iter()
        .filter(|(_, t, r)| {
            matches!(t, FieldType::User | FieldType::Select | FieldType::Email | FieldType::Phone) && r.text != empty
        })
        .take(4)
        .map(|(_, _, r)| FieldRow {
            name: r.name.clone(),
            label: r.label.clone(),
            text: r.text.clone(),
            href: r.href.clone(),
            ltr: r.ltr,
            html: r.html.clone(),
        })
        .collect();
    let (custom, standard): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(c, _, _)| *c);
    let mut sections =
        vec![Section { heading: t(lang, "record-fields"), fields: standard.into_iter().map(|(_, _, r)| r).collect() }];
    if !custom.is_empty() {
        sections.push(Section {
            heading: t(lang, "record-custom-fields"),
            fields: custom.into_iter().map(|(_, _, r)| r).collect(),
        });
    }
    // A contact's and a company's story, merged from every source (live records only).
    let merged = match object {
        "contact" | "company" if record.deleted_at.is_none() => {
            let view = super::timeline::render_timeline(state, object, id, params).await?;
            Some(view.render().map_err(|e| ApiError::Internal(e.to_string()))?)
        }
        _ => None,
    };
    // Records of other objects that point here (a company's contacts), one query per relation.
    let mut related = Vec::new();
    let mut timeline = Vec::new();
    let mut timeline_new = None;
    // Quick actions: log a call, write to the first e-mail, then new related records.
    let mut quick = Vec::new();
    if let Some(email) = obj.visible_fields().filter(|f| f.field_type == FieldType::Email).find_map(|f| {
        match record.fields.get(&f.api_name) {
            Some(serde_json::Value::Array(items)) => items.first().and_then(|v| v.as_str()).map(str::to_string),
            Some(serde_json::Value::String(one)) => Some(one.clone()),
            _ => None,
        }
    }) {
        quick.push(QuickAction { href: format!("mailto:{email}"), label: t(lang, "record-write-email"), icon: "mail" });
    }
    for other in &catalog.objects {
        for f in other
            .live_fields()
            .filter(|f| f.field_type == FieldType::Relation && f.options.target.as_deref() == Some(object))
        {
            let filter = parse_filter(other, &json!({ "field": f.api_name, "op": "eq", "value": id }))?;
            let on_timeline = other.api_name == TIMELINE_OBJECT;
            let summary = if on_timeline { Vec::new() } else { summary_fields(other, &f.api_name) };
            let newest_first = summary.iter().find(|s| matches!(s.field_type, FieldType::Datetime | FieldType::Date));
            let query = ListQuery {
                filter: Some(filter),
                limit: Some(if on_timeline { TIMELINE_LENGTH } else { RELATED_LENGTH }),
                with_total: !on_timeline,
                sort: match (on_timeline, newest_first) {
                    (true, _) => parse_sort(other, "-occurred_at")?,
                    (false, Some(date)) => parse_sort(other, &format!("-{}", date.api_name))?,
                    (false, None) => Vec::new(),
                },
                // The timeline shows each entry's kind and time besides its title; a related
                // list its summary fields.
                fields: Some(if on_timeline {
                    [other.field("kind"), other.field("occurred_at")]
                        .into_iter()
                        .flatten()
                        .map(|f| f.api_name.clone())
                        .collect()
                } else {
                    summary.iter().map(|f| f.api_name.clone()).collect()
                }),
                ..Default::default()
            };
            // A customer's page tells its merged story (`timeline`); another's lists its activities.
            let page = if on_timeline && merged.is_some() {
                peyvand_store::records::Page::default()
            } else {
                state.db.list_records(&other.api_name, &query).await?
            };
            if on_timeline {
                let (kind, at) = (other.field("kind"), other.field("occurred_at"));
                let show = |field: Option<&peyvand_records::FieldDef>, r: &Record| {
                    field
                        .map(|field| {
                            let value = r.fields.get(&field.api_name).unwrap_or(&serde_json::Value::Null);
                            display_value(lang, field, value, &refs, offset).text
                        })
                        .unwrap_or_default()
                };
                timeline.extend(page.records.iter().map(|r| TimelineEntry {
                    when: show(at, r),
                    kind: show(kind, r),
                    kind_value: r.fields.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string(),
                    text: r.title.clone(),
                    href: format!("/records/{}/{}", other.api_name, r.id),
                }));
                // Logged from here, the activity comes back here once saved.
                let back = super::session::encode(&format!("/records/{object}/{id}"));
                let new = format!("/records/{}/new?{}={id}&back={back}", other.api_name, f.api_name);
                if session.user.role.allows(Action::WriteRecords) && record.deleted_at.is_none() {
                    let calls =
                        other.field("kind").is_some_and(|k| k.options.options.iter().any(|o| o.value == "call"));
                    if calls {
                        let call = QuickAction {
                            href: format!("{new}&kind=call"),
                            label: t(lang, "record-log-call"),
                            icon: "phone",
                        };
                        quick.insert(0, call);
                    }
                }
                timeline_new = Some(new);
                continue;
            }
            let back = super::session::encode(&format!("/records/{object}/{id}"));
            let add_href = (session.user.role.allows(Action::WriteRecords)
                && session.viewer.reach(&other.api_name, peyvand_records::access::Intent::Change)
                    != peyvand_records::access::Reach::None)
                .then(|| format!("/records/{}/new?{}={id}&back={back}", other.api_name, f.api_name));
            if let Some(href) = &add_href
                && quick.len() < 4
            {
                quick.push(QuickAction {
                    href: href.clone(),
                    label: t_args(lang, "palette-new", &[("object", other.label(lang).to_string())]),
                    icon: super::object_icon(&other.api_name),
                });
            }
            if page.records.is_empty() && add_href.is_none() {
                continue;
            }
            let total = page.total.unwrap_or(page.records.len() as i64);
            let shown = page.records.len() as i64;
            let plural =
                if lang == "fa" { crate::i18n::with_ezafe(other.plural(lang)) } else { other.plural(lang).to_string() };
            related.push(RelatedSection {
                heading: t_args(lang, "record-related", &[("object", plural)]),
                columns: summary.iter().map(|s| s.label(lang).to_string()).collect(),
                items: page
                    .records
                    .iter()
                    .map(|r| RelatedItem {
                        text: r.title.clone(),
                        href: format!("/records/{}/{}", other.api_name, r.id),
                        cells: summary
                            .iter()
                            .map(|s| {
                                let value = r.fields.get(&s.api_name).unwrap_or(&serde_json::Value::Null);
                                display_value(lang, s, value, &refs, offset).text
                            })
                            .collect(),
                    })
                    .collect(),
                more: (total > shown).then(|| {
                    t_args(lang, "record-related-more", &[("shown", shown.to_string()), ("total", total.to_string())])
                }),
                all_href: format!(
                    "/records/{}?cf={}&co=eq&cv={}",
                    other.api_name,
                    super::session::encode(&f.api_name),
                    super::session::encode(id)
                ),
                all_label: t(lang, "record-related-all"),
                count: super::display::format_number(lang, &total.to_string()),
                add_label: t_args(lang, "palette-new", &[("object", other.label(lang).to_string())]),
                add_href,
                icon: super::object_icon(&other.api_name),
            });
        }
    }
    let history = state
        .db
        .record_history(object, id, 50)
        .await?
        .into_iter()
        .map(|h| {
            let changes = h
                .changes
                .as_array()
                .into_iter()
                .flatten()
                .filter(|_| h.action == "update")
                .filter_map(|c| {
                    let field = obj.field(c["field"].as_str()?)?;
                    let show = |v: &serde_json::Value| display_value(lang, field, v, &refs, offset).text;
                    Some(t_args(
                        lang,
                        "record-updated",
                        &[("field", field.label(lang).to_string()), ("old", show(&c["old"])), ("new", show(&c["new"]))],
                    ))
                })
                .collect();
            HistoryItem {
                when: parse_datetime(&h.at).map(|at| format_datetime(lang, at, offset)).unwrap_or(h.at.clone()),
                // Who: a user, or the system (an import or generated data without one).
                who: match &h.actor {
                    Some(a) => refs.users.get(a).cloned().unwrap_or_else(|| t(lang, "record-someone")),
                    None => t(lang, "record-system"),
                },
                action: t(lang, &format!("record-history-{}", h.action)),
                changes,
            }
        })
        .collect();
    let favourite = state.db.is_favourite(&session.user.id, object, id).await?;
    if record.deleted_at.is_none()
        && let Err(e) = state.db.mark_recent(&session.user.id, object, id).await
    {
        // A page is worth more than its place in the recent list.
        tracing::warn!(error = %e, "could not note a recent record");
    }
    if record.deleted_at.is_some() {
        quick.clear();
    }
    let panels = super::record_panels(state, session, headers, object, &record).await?;
    let view = RecordPage {
        panels,
        initials: super::initials(&record.title),
        quick,
        icon: super::object_icon(object),
        favourite,
        layout: Layout::new(lang, Some(session), Some(&catalog), object),
        heading: if record.title.is_empty() { obj.label(lang).to_string() } else { record.title.clone() },
        object_label: obj.plural(lang).to_string(),
        list_href: format!("/records/{object}"),
        in_trash: record.deleted_at.is_some(),
        trash_label: t(lang, "record-in-trash"),
        key,
        sections,
        related,
        timeline_label: t(lang, "record-timeline"),
        timeline_empty: t(lang, "record-timeline-empty"),
        timeline_add: t(lang, "record-timeline-add"),
        timeline,
        timeline_new,
        merged,
        history_label: t(lang, "record-history"),
        history,
        self_href: format!("/records/{object}/{id}"),
        can_write: session.user.role.allows(Action::WriteRecords) && may_change,
        can_delete: session.user.role.allows(Action::DeleteRecords) && may_change,
        can_restore: session.user.role.allows(Action::RestoreRecords) && may_change,
        can_share: session.user.role.allows(Action::WriteRecords) && may_change && record.deleted_at.is_none(),
        shares,
        share_choices,
        tr: super::admin::Words::new(lang),
        edit_label: t(lang, "record-edit"),
        delete_label: t(lang, "record-delete"),
        restore_label: t(lang, "record-restore"),
    };
    Ok(render(&view))
}

pub struct Hit {
    pub href: String,
    pub text: String,
    pub kind: String,
    /// The object's API name.
    pub object: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    layout: Layout,
    heading: String,
    empty_label: String,
    hits: Vec<Hit>,
}

#[derive(Template)]
#[template(path = "suggest.html")]
struct SuggestList {
    hits: Vec<Hit>,
}

pub(super) async fn hits_for(state: &AppState, lang: &str, q: &str, limit: u32) -> Result<Vec<Hit>, ApiError> {
    let catalog = state.db.visible_catalog().await?;
    let labels: HashMap<&str, &str> = catalog.objects.iter().map(|o| (o.api_name.as_str(), o.label(lang))).collect();
    Ok(state
        .db
        .search(q, limit)
        .await?
        .into_iter()
        .map(|h| Hit {
            href: format!("/records/{}/{}", h.object, h.id),
            kind: labels.get(h.object.as_str()).unwrap_or(&"").to_string(),
            text: h.title,
            object: h.object,
        })
        .collect())
}

/// Instant results under the search box, as an HTML fragment (htmx).
/// A page's query parameters, as typed (no parameter is refused for what it holds).
type PageQuery = axum::extract::Query<std::collections::HashMap<String, String>>;

pub async fn search_suggest(State(state): State<AppState>, session: Session, params: PageQuery) -> Response {
    let state = session.scoped(state);
    if !session.user.role.allows(Action::ReadRecords) {
        return fail(ApiError::Forbidden);
    }
    // The search box's text as typed: U+0000 separates words as a space does (`normalize`).
    let q = params.0.get("q").map(|q| q.trim()).unwrap_or("").chars().take(200).collect::<String>();
    match hits_for(&state, current_lang(), &q, 8).await {
        Ok(hits) => render(&SuggestList { hits }),
        Err(e) => fail(e),
    }
}

pub async fn search_page(State(state): State<AppState>, session: Session, params: PageQuery) -> Response {
    let state = session.scoped(state);
    if !session.user.role.allows(Action::ReadRecords) {
        return fail(ApiError::Forbidden);
    }
    let lang = current_lang();
    // The search box's text as typed: U+0000 separates words as a space does (`normalize`).
    let q = params.0.get("q").map(|q| q.trim()).unwrap_or("").chars().take(200).collect::<String>();
    let result = async {
        let catalog = state.db.visible_catalog().await?;
        let mut layout = Layout::new(lang, Some(&session), Some(&catalog), "");
        layout.query = q.clone();
        Ok::<_, ApiError>(SearchPage {
            layout,
            heading: t(lang, "search-title"),
            empty_label: t_args(lang, "search-no-results", &[("query", q.clone())]),
            hits: hits_for(&state, lang, &q, 50).await?,
        })
    }
    .await;
    match result {
        Ok(view) => render(&view),
        Err(e) => fail(e),
    }
}

/// Shares the record with a user or team (`grantee` is `user:ID` or `team:ID`), or ends a share
/// (`remove`), from the record's page.
pub async fn share(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    super::CsrfForm(session, pairs): super::CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let get = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.trim()).unwrap_or("");
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let (kind, grantee) = get("grantee").split_once(':').ok_or(ApiError::BadRequest {
            code: "invalid_grantee",
            detail: "grantee must be user:ID or team:ID".into(),
        })?;
        if !matches!(kind, "user" | "team") {
            return Err(ApiError::BadRequest { code: "invalid_grantee", detail: "user or team".into() });
        }
        if get("remove") == "1" {
            state.db.unshare_record(&object, &id, (kind, grantee)).await?;
        } else {
            state.db.share_record(&object, &id, (kind, grantee), get("level") == "change").await?;
        }
        Ok(axum::response::Redirect::to(&format!(
            "/records/{}/{}",
            super::session::encode(&object),
            super::session::encode(&id)
        ))
        .into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}
