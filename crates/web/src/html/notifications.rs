//! The bell: a user's notifications (`peyvand_crm::notifications`), the unread count beside the
//! bell in every page's top bar (fetched after the page, so no page waits for it), the list, and
//! marking them read.

use super::admin::Words;
use super::display::relative_time;
use super::records::fail;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{format_datetime, t};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use peyvand_crm::notifications;

/// One notification as the list shows it.
struct Row {
    id: String,
    title: String,
    kind: String,
    /// When it was made, "3 minutes ago", with the exact time.
    when: String,
    exact: String,
    /// The moment it is about (a task's due time), in the page's calendar.
    about: Option<String>,
    unread: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    layout: Layout,
    tr: Words,
    rows: Vec<Row>,
    unread: i64,
}

/// `GET /notifications`: the user's newest notifications, unread first marked.
pub async fn page(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        let lang = current_lang();
        let catalog = state.db.visible_catalog().await?;
        let offset = state.config.display_offset;
        let now = time::OffsetDateTime::now_utc();
        let at = |s: &str| peyvand_records::value::parse_datetime(s);
        let rows = notifications::list(&state.db, &session.user.id, false, 100)
            .await?
            .into_iter()
            .map(|n| {
                let made = at(&n.created_at).unwrap_or(now);
                Row {
                    kind: t(lang, &format!("notification-{}", n.kind)),
                    when: relative_time(lang, made, now),
                    exact: format_datetime(lang, made, offset),
                    about: n.about_at.as_deref().and_then(at).map(|d| format_datetime(lang, d, offset)),
                    unread: n.read_at.is_none(),
                    id: n.id,
                    title: n.title,
                }
            })
            .collect();
        let unread = notifications::unread_count(&state.db, &session.user.id).await?;
        Ok::<_, ApiError>(render(&NotificationsPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
            tr: Words::new(lang),
            rows,
            unread,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /notifications/badge`: the bell's unread count (an empty badge when there is none).
pub async fn badge(State(state): State<AppState>, session: Session) -> Response {
    match notifications::unread_count(&state.db, &session.user.id).await {
        Ok(0) => Html("<span class=\"bell-count\" hidden></span>".to_string()).into_response(),
        Ok(n) => {
            let lang = current_lang();
            let shown = if n > 99 { "99+".to_string() } else { n.to_string() };
            let shown = if lang == "fa" { peyvand_records::normalize::to_persian_digits(&shown) } else { shown };
            let unread = t(lang, "notifications-unread-one");
            let html =
                format!("<span class=\"bell-count\">{shown}<span class=\"visually-hidden\"> {unread}</span></span>");
            Html(html).into_response()
        }
        Err(e) => fail(e),
    }
}

/// `POST /notifications/{id}/open`: marks it read and goes where it leads.
pub async fn open(State(state): State<AppState>, Path(id): Path<String>, CsrfForm(session, _): CsrfForm) -> Response {
    match notifications::mark_read(&state.db, &session.user.id, &id).await {
        Ok(n) => {
            Redirect::to(n.link.as_deref().filter(|l| l.starts_with('/')).unwrap_or("/notifications")).into_response()
        }
        Err(e) => fail(e),
    }
}

/// `POST /notifications/read`: marks every one read.
pub async fn read_all(State(state): State<AppState>, CsrfForm(session, _): CsrfForm) -> Response {
    match notifications::mark_all_read(&state.db, &session.user.id).await {
        Ok(_) => Redirect::to("/notifications").into_response(),
        Err(e) => fail(e),
    }
}

/// One kind's choice as the preferences form shows it.
struct PrefRow {
    kind: String,
    label: String,
    bell: bool,
    email: String,
}

#[derive(Template)]
#[template(path = "notification_preferences.html")]
struct PreferencesPage {
    layout: Layout,
    tr: Words,
    rows: Vec<PrefRow>,
    choices: Vec<(String, String)>,
    saved: bool,
}

async fn preferences_view(state: &AppState, session: &Session, saved: bool) -> Result<Response, ApiError> {
    let lang = current_lang();
    let rows = notifications::preferences(&state.db, &session.user.id)
        .await?
        .into_iter()
        .map(|p| PrefRow {
            label: t(lang, &format!("notification-{}", p.kind)),
            kind: p.kind,
            bell: p.bell,
            email: p.email,
        })
        .collect();
    let choices = notifications::EMAIL_CHOICES
        .iter()
        .map(|c| (c.to_string(), t(lang, &format!("notification-email-{c}"))))
        .collect();
    Ok(render(&PreferencesPage {
        layout: Layout::new(lang, Some(session), None, ""),
        tr: Words::new(lang),
        rows,
        choices,
        saved,
    }))
}

/// `GET /notifications/preferences`: how the user hears of each kind.
pub async fn preferences(State(state): State<AppState>, session: Session) -> Response {
    preferences_view(&state, &session, false).await.unwrap_or_else(fail)
}

/// `POST /notifications/preferences`: every kind's bell (a checkbox) and e-mail choice.
pub async fn save_preferences(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let result = async {
        let get = |k: &str| pairs.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let list: Vec<notifications::Preference> = notifications::KINDS
            .iter()
            .map(|k| notifications::Preference {
                kind: (*k).to_string(),
                bell: get(&format!("{k}.bell")).is_some(),
                email: get(&format!("{k}.email")).unwrap_or_else(|| "none".into()),
            })
            .collect();
        notifications::set_preferences(&state.db, &session.user.id, &list).await?;
        preferences_view(&state, &session, true).await
    }
    .await;
    result.unwrap_or_else(fail)
}
