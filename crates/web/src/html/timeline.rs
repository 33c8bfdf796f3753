//! The customer 360's timeline on a contact's or a company's page (`peyvand_crm::customers::
//! timeline`): one story, newest first, with chips that narrow it to a kind and a link that
//! reads on from where it stopped (htmx appends the next page; without script it is the page
//! again, from there).

use super::admin::Words;
use super::display::{Refs, display_value};
use super::records::fail;
use super::session::encode;
use super::{Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{format_datetime, t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use peyvand_crm::activities::timeline::{self, Entry, Kind};
use peyvand_records::access::Action;
use peyvand_records::value::parse_datetime;
use peyvand_records::{FieldDef, ObjectDef};
use serde::Deserialize;
use serde_json::Value as Json;

/// Entries a page of the timeline shows.
const PAGE: u32 = 20;

/// One entry, as shown.
pub struct EntryView {
    /// The kind (`activity`, `email`, …), for styling.
    pub kind: &'static str,
    /// What it is, in words: the channel of an activity, "Order", "Stage"…
    pub badge: String,
    pub title: String,
    pub href: String,
    /// What more it says: a change's fields, a deal's new stage, an order's status and total.
    pub lines: Vec<String>,
    pub who: Option<String>,
    pub when: String,
    /// The instant, for `<time datetime>`.
    pub at: String,
}

/// A kind to narrow the timeline to.
pub struct Chip {
    pub label: String,
    pub href: String,
    pub fragment: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "timeline.html")]
pub struct TimelineView {
    pub tr: Words,
    /// Only the entries and the link to more (a next page appended to the list).
    pub more_only: bool,
    pub chips: Vec<Chip>,
    pub entries: Vec<EntryView>,
    /// The next page: for the page (without script) and for htmx.
    pub next: Option<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TimelineParams {
    /// A kind to show only (`activity`, `email`, `change`, `stage`, `quote`, `order`).
    pub kind: Option<String>,
    pub cursor: Option<String>,
}

impl TimelineParams {
    fn kinds(&self) -> Result<Vec<Kind>, ApiError> {
        match self.kind.as_deref().filter(|k| !k.is_empty()) {
            None => Ok(Vec::new()),
            Some(k) => Kind::parse(k).map(|k| vec![k]).ok_or(ApiError::NotFound),
        }
    }
}

/// The timeline of a contact or a company as HTML: with its chips when `params` has no cursor,
/// or the entries after it.
pub async fn render_timeline(
    state: &AppState,
    object: &str,
    id: &str,
    params: &TimelineParams,
) -> Result<TimelineView, ApiError> {
    let lang = current_lang();
    let kinds = params.kinds()?;
    let query = timeline::Query { kinds: kinds.clone(), cursor: params.cursor.clone(), limit: PAGE };
    let page = timeline::timeline(&state.db, object, id, &query).await?;
    let catalog = state.db.visible_catalog().await?;
    let users: std::collections::HashMap<String, String> =
        state.db.list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
    let refs = Refs { users, ..Refs::default() };
    let offset = state.config.display_offset;
    let here = format!("/records/{}/{}", encode(object), encode(id));
    let entries =
        page.entries.iter().map(|e| entry_view(lang, e, catalog.object(&e.object).as_deref(), &refs, offset)).collect();
    let kind_param = kinds.first().map(|k| format!("&kind={}", k.as_str())).unwrap_or_default();
    let next = page.next.map(|c| {
        let c = encode(&c);
        (format!("{here}?cursor={c}{kind_param}#timeline"), format!("{here}/timeline?cursor={c}{kind_param}"))
    });
    let chip = |kind: Option<Kind>| {
        let q = kind.map(|k| format!("?kind={}", k.as_str())).unwrap_or_default();
        Chip {
            label: t(lang, &format!("timeline-kind-{}", kind.map_or("all", Kind::as_str))),
            href: format!("{here}{q}#timeline"),
            fragment: format!("{here}/timeline{q}"),
            current: kinds.first().copied() == kind,
        }
    };
    let chips = std::iter::once(None).chain(Kind::ALL.into_iter().map(Some)).map(chip).collect();
    Ok(TimelineView { tr: Words::new(lang), more_only: params.cursor.is_some(), chips, entries, next })
}

fn entry_view(lang: &str, e: &Entry, obj: Option<&ObjectDef>, refs: &Refs, offset: time::UtcOffset) -> EntryView {
    let field = |name: &str| -> Option<&FieldDef> { obj.and_then(|o| o.field(name)) };
    let show = |name: &str, value: &Json| field(name).map(|f| display_value(lang, f, value, refs, offset).text);
    let object_label = obj.map(|o| o.label(lang).to_string()).unwrap_or_default();
    let (badge, lines) = match e.kind {
        Kind::Activity | Kind::Email => {
            let badge = show("kind", &e.detail["channel"]).unwrap_or(object_label);
            let direction = e.detail["direction"].as_str().and_then(|_| show("direction", &e.detail["direction"]));
            (badge, direction.into_iter().collect())
        }
        Kind::Change => {
            let action = e.detail["action"].as_str().unwrap_or("update");
            let mut lines = Vec::new();
            if action == "update" {
                for c in e.detail["changes"].as_array().into_iter().flatten() {
                    let Some(f) = c["field"].as_str().and_then(field) else { continue };
                    let value = |v: &Json| display_value(lang, f, v, refs, offset).text;
                    let args =
                        [("field", f.label(lang).to_string()), ("old", value(&c["old"])), ("new", value(&c["new"]))];
                    lines.push(t_args(lang, "record-updated", &args));
                }
            } else {
                lines.push(t(lang, &format!("record-history-{action}")));
            }
            (t(lang, "timeline-kind-change"), lines)
        }
        Kind::Stage => {
            let label = e.detail[if lang == "fa" { "label_fa" } else { "label_en" }]
                .as_str()
                .or(e.detail["stage"].as_str())
                .unwrap_or_default();
            (t(lang, "timeline-kind-stage"), vec![t_args(lang, "timeline-stage-entered", &[("stage", label.into())])])
        }
        Kind::Ticket => {
            let lines = [
                show("kind", &e.detail["type"]),
                show("status", &e.detail["status"]),
                show("priority", &e.detail["priority"]),
            ]
            .into_iter()
            .flatten()
            .filter(|s| *s != t(lang, "record-empty"))
            .collect::<Vec<_>>();
            let number = e.detail["number"].as_str().unwrap_or_default();
            (
                format!("{object_label} {number}"),
                vec![lines.join(" · ")].into_iter().filter(|l| !l.is_empty()).collect(),
            )
        }
        Kind::Quote | Kind::Order => {
            let lines = [show("status", &e.detail["status"]), show("total", &e.detail["total"])]
                .into_iter()
                .flatten()
                .filter(|s| *s != t(lang, "record-empty"))
                .collect::<Vec<_>>();
            (object_label, vec![lines.join(" · ")].into_iter().filter(|l| !l.is_empty()).collect())
        }
    };
    EntryView {
        kind: e.kind.as_str(),
        badge,
        title: if e.title.trim().is_empty() {
            obj.map(|o| o.label(lang).to_string()).unwrap_or_default()
        } else {
            e.title.clone()
        },
        href: format!("/records/{}/{}", encode(&e.object), encode(&e.record_id)),
        lines,
        who: e.by.as_ref().map(|u| refs.users.get(u).cloned().unwrap_or_else(|| t(lang, "record-someone"))),
        when: parse_datetime(&e.at).map(|at| format_datetime(lang, at, offset)).unwrap_or_else(|| e.at.clone()),
        at: e.at.clone(),
    }
}

/// `GET /records/{object}/{id}/timeline?kind=&cursor=`: the timeline narrowed to a kind (with
/// its chips), or the entries after the cursor.
pub async fn timeline_fragment(
    State(state): State<AppState>,
    session: Session,
    Path((object, id)): Path<(String, String)>,
    Query(params): Query<TimelineParams>,
) -> Response {
    let state = session.scoped(state);
    if !session.user.role.allows(Action::ReadRecords) {
        return fail(ApiError::Forbidden);
    }
    match render_timeline(&state, &object, &id, &params).await {
        Ok(view) => render(&view),
        Err(e) => fail(e),
    }
}
