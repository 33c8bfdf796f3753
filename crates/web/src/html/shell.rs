//! The app's frame beyond the layout (`base.html`): the side navigation's favourites and recent
//! records (loaded after the page, so a page never waits for them), starring a record, the
//! command palette (Ctrl/⌘+K: records, pages and actions as one types, with the search's Persian
//! normalization), and the design system's own page.

use super::records::fail;
use super::{CsrfForm, Layout, Session, object_icon, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_records::access::{Action, Intent, Reach};
use peyvand_records::normalize::normalize;
use std::collections::HashMap;

/// A link in the side navigation or the palette.
pub struct Link {
    pub href: String,
    pub text: String,
    pub icon: &'static str,
    /// What it is (an object's name for a record, "Actions", "Pages").
    pub kind: String,
}

#[derive(Template)]
#[template(path = "marks.html")]
struct Marks {
    icons: String,
    favourites_label: String,
    recent_label: String,
    empty_label: String,
    favourites: Vec<Link>,
    recent: Vec<Link>,
}

async fn marked(state: &AppState, user: &str, recent: bool, limit: i64) -> Result<Vec<Link>, ApiError> {
    let catalog = state.db.visible_catalog().await?;
    let lang = current_lang();
    let kinds: HashMap<&str, &str> = catalog.objects.iter().map(|o| (o.api_name.as_str(), o.label(lang))).collect();
    Ok(state
        .db
        .marks(user, recent, limit)
        .await?
        .into_iter()
        .map(|m| Link {
            href: format!("/records/{}/{}", m.object, m.id),
            kind: kinds.get(m.object.as_str()).unwrap_or(&"").to_string(),
            icon: object_icon(&m.object),
            text: m.title,
        })
        .collect())
}

/// `GET /shell/marks`: the side navigation's favourites and recent records.
pub async fn marks(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    let lang = current_lang();
    let result = async {
        Ok::<_, ApiError>(Marks {
            icons: super::assets::url("icons.svg"),
            favourites_label: t(lang, "shell-favourites"),
            recent_label: t(lang, "shell-recent"),
            empty_label: t(lang, "shell-no-favourites"),
            favourites: marked(&state, &session.user.id, false, 8).await?,
            recent: marked(&state, &session.user.id, true, 5).await?,
        })
    }
    .await;
    match result {
        Ok(view) => render(&view),
        Err(e) => fail(e),
    }
}

/// `POST /records/{object}/{id}/favourite`: stars (`on=1`) or unstars a record, then back to it.
pub async fn favourite(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, form): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    if !session.user.role.allows(Action::ReadRecords) {
        return fail(ApiError::Forbidden);
    }
    let on = form.iter().any(|(k, v)| k == "on" && v == "1");
    match state.db.set_favourite(&session.user.id, &object, &id, on).await {
        Ok(()) => Redirect::to(&format!("/records/{object}/{id}")).into_response(),
        Err(e) => fail(e),
    }
}

#[derive(Template)]
#[template(path = "palette.html")]
struct Palette {
    icons: String,
    groups: Vec<(String, Vec<Link>)>,
    nothing: Option<String>,
}

/// Whether every word of the query is in the text, both normalized as search normalizes
/// (Arabic and Persian letters, digits, zero-width non-joiners).
fn matches(words: &[String], text: &str) -> bool {
    let text = normalize(text);
    words.iter().all(|w| text.contains(w.as_str()))
}

/// `GET /palette?q=`: what the command palette offers for what was typed: actions (new
/// records of the objects the user may create), pages (lists, settings, administration) and
/// records (the global search, as the user may see it).
pub async fn palette(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let lang = current_lang();
    let typed: String = q.get("q").map(|q| q.trim()).unwrap_or("").chars().take(200).collect();
    let words: Vec<String> = normalize(&typed).split_whitespace().map(str::to_string).collect();
    let result = async {
        let catalog = state.db.visible_catalog().await?;
        let role = session.user.role;
        let mut actions = Vec::new();
        let mut pages = Vec::new();
        for o in catalog.objects.iter() {
            let icon = object_icon(&o.api_name);
            if role.allows(Action::WriteRecords) && session.viewer.reach(&o.api_name, Intent::Change) != Reach::None {
                actions.push(Link {
                    href: format!("/records/{}/new", o.api_name),
                    text: t_args(lang, "palette-new", &[("object", o.label(lang).to_string())]),
                    icon: "plus",
                    kind: t(lang, "palette-actions"),
                });
            }
            if session.viewer.reach(&o.api_name, Intent::Read) != Reach::None {
                pages.push(Link {
                    href: format!("/records/{}", o.api_name),
                    text: t_args(lang, "palette-go", &[("object", o.plural(lang).to_string())]),
                    icon,
                    kind: t(lang, "palette-pages"),
                });
            }
        }
        let mut settings = vec![
            ("/settings/security", t(lang, "security-settings"), "shield"),
            ("/settings/tokens", t(lang, "nav-tokens"), "key-round"),
            ("/design", t(lang, "shell-design"), "palette"),
        ];
        if role.allows(Action::ManageSchema) {
            settings.push(("/admin/objects", t(lang, "nav-admin"), "settings"));
            settings.push(("/admin/users", t(lang, "admin-users"), "users"));
            settings.push(("/admin/teams", t(lang, "admin-teams"), "users"));
            settings.push(("/admin/access", t(lang, "admin-access"), "shield"));
            settings.push(("/admin/security", t(lang, "admin-security"), "history"));
        }
        for (href, text, icon) in settings {
            pages.push(Link { href: href.into(), text, icon, kind: t(lang, "palette-pages") });
        }
        actions.retain(|l| matches(&words, &l.text));
        pages.retain(|l| matches(&words, &l.text));
        let records = if typed.chars().count() >= 2 {
            super::records::hits_for(&state, lang, &typed, 8)
                .await?
                .into_iter()
                .map(|h| Link { icon: object_icon(&h.object), href: h.href, text: h.text, kind: h.kind })
                .collect()
        } else {
            marked(&state, &session.user.id, true, 5).await?
        };
        let mut groups = Vec::new();
        let records_label = if typed.is_empty() { t(lang, "shell-recent") } else { t(lang, "palette-records") };
        for (label, mut links, most) in [
            (records_label, records, 8),
            (t(lang, "palette-actions"), actions, 6),
            (t(lang, "palette-pages"), pages, 8),
        ] {
            links.truncate(most);
            if !links.is_empty() {
                groups.push((label, links));
            }
        }
        let nothing = groups.is_empty().then(|| t(lang, "palette-nothing"));
        Ok::<_, ApiError>(Palette { icons: super::assets::url("icons.svg"), groups, nothing })
    }
    .await;
    match result {
        Ok(view) => render(&view),
        Err(e) => fail(e),
    }
}

#[derive(Template)]
#[template(path = "design.html")]
struct DesignPage {
    layout: Layout,
    tr: super::admin::Words,
    colours: Vec<&'static str>,
    badges: Vec<usize>,
    icons: Vec<&'static str>,
}

/// `GET /design`: the design system, shown with its own parts, for whoever adds a screen.
pub async fn design(State(state): State<AppState>, session: Session, _headers: HeaderMap) -> Response {
    let state = session.scoped(state);
    let lang = current_lang();
    let catalog = match state.db.visible_catalog().await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    render(&DesignPage {
        layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
        tr: super::admin::Words::new(lang),
        colours: vec![
            "bg",
            "surface",
            "surface-2",
            "line",
            "fg",
            "muted",
            "accent",
            "accent-soft",
            "danger",
            "success",
            "warning",
        ],
        badges: (0..8).collect(),
        icons: vec![
            "user",
            "building-2",
            "handshake",
            "package",
            "calendar-clock",
            "phone",
            "mail",
            "message-square",
            "plus",
            "pencil",
            "trash-2",
            "star",
            "bell",
            "search",
            "filter",
            "download",
            "upload",
            "settings",
        ],
    })
}
