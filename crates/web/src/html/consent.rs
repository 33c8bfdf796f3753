//! Consent on pages (`peyvand_crm::customers::consent`): a contact's consent panel (where they
//! stand per channel, a change recorded by staff, the history), and the public pages a
//! person's links open — confirm an e-mail subscription (double opt-in) and unsubscribe, which
//! also answers RFC 8058's one-click `POST` from a mail client. Links need no login; a forged
//! one is not found; one followed twice says it was done before.

use super::admin::{Pairs, Words, get, messages};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang, set_lang};
use crate::i18n::{format_date, t};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::customers::consent::{self, ConsentInput, Followed};
use peyvand_records::access::Action;
use peyvand_store::Error as StoreError;
use peyvand_store::records::Record;
use std::collections::HashMap;

fn internal(e: askama::Error) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn day(lang: &str, iso: &str) -> String {
    iso.get(..10)
        .and_then(|d| time::Date::parse(d, &time::format_description::well_known::Iso8601::DATE).ok())
        .map_or_else(|| iso.to_string(), |d| format_date(lang, d))
}

pub struct ChannelView {
    pub key: String,
    pub label: String,
    pub status: String,
    pub status_label: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "consent_panel.html")]
struct Panel {
    tr: Words,
    csrf: String,
    contact: String,
    writer: bool,
    channels: Vec<ChannelView>,
    sources: Vec<(String, String)>,
    history: Vec<(String, String)>,
    message: String,
}

async fn panel_html(state: &AppState, session: &Session, contact: &str, message: String) -> Result<String, ApiError> {
    let lang = current_lang();
    let standing = consent::of_contact(&state.db, contact).await?;
    let channels = consent::CHANNELS
        .iter()
        .map(|ch| {
            let c = standing.iter().find(|c| c.channel == *ch);
            let status = c.map_or("none", |c| c.status.as_str()).to_string();
            let detail = c
                .map(|c| {
                    let mut d = format!("{} · {}", t(lang, &format!("consent-source-{}", c.source)), day(lang, &c.at));
                    if let Some(text) = &c.consent_text {
                        d = format!("{d} · «{text}»");
                    }
                    d
                })
                .unwrap_or_default();
            ChannelView {
                key: (*ch).to_string(),
                label: t(lang, &format!("consent-channel-{ch}")),
                status_label: t(lang, &format!("consent-{status}")),
                status,
                detail,
            }
        })
        .collect();
    let history = consent::history(&state.db, contact, 20)
        .await?
        .into_iter()
        .map(|h| {
            (
                day(lang, &h.at),
                format!(
                    "{}: {} ({})",
                    t(lang, &format!("consent-channel-{}", h.channel)),
                    t(lang, &format!("consent-{}", h.status)),
                    t(lang, &format!("consent-source-{}", h.source))
                ),
            )
        })
        .collect();
    Panel {
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        contact: encode(contact),
        writer: session.user.role.allows(Action::WriteRecords),
        channels,
        sources: consent::SOURCES.iter().map(|s| ((*s).to_string(), t(lang, &format!("consent-source-{s}")))).collect(),
        history,
        message,
    }
    .render()
    .map_err(internal)
}

/// The consent panel of a contact's page.
pub async fn consent_panel(state: &AppState, session: &Session, record: &Record) -> Result<String, ApiError> {
    panel_html(state, session, &record.id, String::new()).await
}

/// `POST /consent/{contact}`: a change recorded by staff.
pub async fn record_consent(
    State(state): State<AppState>,
    Path(contact): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let result = async {
        super::admin::require(&session, Action::WriteRecords)?;
        let scoped = session.scoped(state.clone());
        scoped.db.get_record("contact", &contact, false).await?;
        let input = ConsentInput {
            channel: get(&pairs, "channel").to_string(),
            status: get(&pairs, "status").to_string(),
            source: get(&pairs, "source").to_string(),
            consent_text: Some(get(&pairs, "consent_text").to_string()),
        };
        match consent::set(&scoped.db, &contact, &input, Some(&session.user.id)).await {
            Ok(_) => Ok(Redirect::to(&format!("/records/contact/{}#consent", encode(&contact))).into_response()),
            Err(e @ StoreError::Validation(_)) => {
                let html = panel_html(&scoped, &session, &contact, messages(e)?.join(" ")).await?;
                Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::response::Html(html)).into_response())
            }
            Err(e) => Err::<Response, ApiError>(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "consent_public.html")]
struct PublicPage {
    layout: Layout,
    heading: String,
    message: String,
    button: String,
    action: String,
    done: bool,
}

fn public(lang: &'static str, heading: &str, message: String, button: &str, action: String, done: bool) -> Response {
    render(&PublicPage {
        layout: Layout::new(lang, None, None, ""),
        heading: t(lang, heading),
        message,
        button: t(lang, button),
        action,
        done,
    })
}

/// The language a public form was sent in (its `lang` field), else the request's.
fn lang_of_form(pairs: &Pairs) -> &'static str {
    if let Some(lang) = pairs.iter().find(|(k, _)| k == "lang").map(|(_, v)| crate::i18n::lang_or_default(v)) {
        set_lang(lang);
    }
    current_lang()
}

fn lang_from(q: &HashMap<String, String>) -> &'static str {
    if let Some(lang) = q.get("lang") {
        set_lang(crate::i18n::lang_or_default(lang));
    }
    current_lang()
}

/// `GET /u/{token}`: asks to confirm the unsubscribe (a mail client's prefetch changes nothing).
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_from(&q);
    match consent::unsubscribe_target(&state.db, &token).await {
        Ok(Some((_, channel))) => public(
            lang,
            "consent-unsubscribe",
            crate::i18n::t_args(
                lang,
                "consent-unsubscribe-ask",
                &[("channel", t(lang, &format!("consent-channel-{channel}")))],
            ),
            "consent-unsubscribe",
            format!("/u/{token}"),
            false,
        ),
        Ok(None) => super::error_page(StatusCode::NOT_FOUND, "consent-link-invalid"),
        Err(e) => fail(ApiError::from(e)),
    }
}

/// `POST /u/{token}`: unsubscribes (the page's button, or a mail client's one-click POST with
/// `List-Unsubscribe=One-Click`).
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::Form(pairs): axum::Form<Pairs>,
) -> Response {
    let lang = lang_of_form(&pairs);
    match consent::unsubscribe(&state.db, &token).await {
        Ok(Followed::Done { channel, .. }) => public(
            lang,
            "consent-unsubscribe",
            crate::i18n::t_args(
                lang,
                "consent-unsubscribed",
                &[("channel", t(lang, &format!("consent-channel-{channel}")))],
            ),
            "consent-unsubscribe",
            String::new(),
            true,
        ),
        Ok(Followed::Already { .. }) => {
            public(lang, "consent-unsubscribe", t(lang, "consent-already-unsubscribed"), "", String::new(), true)
        }
        Err(StoreError::NotFound(_)) => super::error_page(StatusCode::NOT_FOUND, "consent-link-invalid"),
        Err(e) => fail(ApiError::from(e)),
    }
}

/// `GET /u/confirm/{token}`: asks to confirm the e-mail subscription.
pub async fn confirm_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_from(&q);
    match consent::confirm_target(&state.db, &token).await {
        Ok(Some(_)) => public(
            lang,
            "consent-confirm",
            t(lang, "consent-confirm-ask"),
            "consent-confirm",
            format!("/u/confirm/{token}"),
            false,
        ),
        Ok(None) => super::error_page(StatusCode::NOT_FOUND, "consent-link-invalid"),
        Err(e) => fail(ApiError::from(e)),
    }
}

/// `POST /u/confirm/{token}`: the e-mail consent granted (double opt-in's second step).
pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::Form(pairs): axum::Form<Pairs>,
) -> Response {
    let lang = lang_of_form(&pairs);
    match consent::confirm(&state.db, &token).await {
        Ok(Followed::Done { .. }) => {
            public(lang, "consent-confirm", t(lang, "consent-confirmed"), "", String::new(), true)
        }
        Ok(Followed::Already { .. }) => {
            public(lang, "consent-confirm", t(lang, "consent-already-confirmed"), "", String::new(), true)
        }
        Err(StoreError::NotFound(_)) => super::error_page(StatusCode::NOT_FOUND, "consent-link-invalid"),
        Err(e) => fail(ApiError::from(e)),
    }
}
