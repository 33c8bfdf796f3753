//! Two-factor sign-in pages (`peyvand_store::two_factor`): the code asked for after a right
//! password, the user's security settings (turn it on with an authenticator app and get
//! recovery codes, turn it off, sign out everywhere).

use super::admin::{Words, messages};
use super::records::fail;
use super::session::{cookie_of, safe_next, start_session};
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::auth::{cookie, same_origin};
use crate::error::{ApiError, current_lang};
use crate::i18n::t;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_store::two_factor::{CodeRefused, Enrolment};
use serde::Deserialize;

/// The cookie of a sign-in waiting for its code (five minutes; sent only to this site).
const PENDING_COOKIE: &str = "peyvand_pending";

/// After a right password for a user with two-factor sign-in on: remembers the sign-in and
/// asks for the code.
pub async fn ask_for_code(state: &AppState, headers: &HeaderMap, user_id: &str, next: &str) -> Response {
    match state.db.start_pending_sign_in(user_id).await {
        Ok(secret) => {
            let mut response =
                Redirect::to(&format!("/login/code?next={}", super::session::encode(next))).into_response();
            let cookie = cookie_of(state, headers, PENDING_COOKIE, &secret, "Strict", 300);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    layout: Layout,
    tr: Words,
    next: String,
    error: Option<String>,
}

fn code_page(next: &str, error: Option<String>) -> CodePage {
    let lang = current_lang();
    CodePage {
        layout: Layout::new(lang, None, None, ""),
        tr: Words::new(lang),
        next: safe_next(next).to_string(),
        error,
    }
}

#[derive(Deserialize)]
pub struct NextParam {
    #[serde(default)]
    next: String,
}

pub async fn code_form(Query(q): Query<NextParam>) -> Response {
    render(&code_page(&q.next, None))
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    #[serde(default)]
    next: String,
}

pub async fn take_code(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    if !same_origin(&headers) {
        return super::error_page(StatusCode::FORBIDDEN, "error-forbidden");
    }
    let lang = current_lang();
    let next = safe_next(&form.next).to_string();
    let over = || Redirect::to("/login?over=true").into_response();
    let Some(secret) = cookie(&headers, PENDING_COOKIE) else { return over() };
    match state.db.finish_pending_sign_in(&secret, &form.code).await {
        Ok(Ok(user)) => {
            let mut response = start_session(&state, &headers, &user, &next).await;
            response
                .headers_mut()
                .append(header::SET_COOKIE, cookie_of(&state, &headers, PENDING_COOKIE, "", "Strict", 0));
            response
        }
        Ok(Err(CodeRefused::Wrong)) => {
            (StatusCode::UNAUTHORIZED, render(&code_page(&next, Some(t(lang, "two-factor-wrong"))))).into_response()
        }
        Ok(Err(CodeRefused::SignInOver)) => over(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "settings_security.html")]
struct SecurityPage {
    layout: Layout,
    tr: Words,
    enabled: bool,
    required: bool,
    enrolment: Option<Enrolment>,
    codes: Vec<String>,
    errors: Vec<String>,
}

async fn security_view(
    state: &AppState,
    session: &Session,
    enrolment: Option<Enrolment>,
    codes: Vec<String>,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let enabled = state.db.two_factor_enabled(&session.user.id).await?;
    Ok(render(&SecurityPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        required: !enabled && state.db.two_factor_required(session.user.role).await?,
        enabled,
        enrolment,
        codes,
        errors,
    }))
}

pub async fn security_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    security_view(&state, &session, None, Vec::new(), Vec::new()).await.unwrap_or_else(fail)
}

pub async fn start(State(state): State<AppState>, CsrfForm(session, _): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        match state.db.start_two_factor(&session.user.id).await {
            Ok(enrolment) => security_view(&state, &session, Some(enrolment), Vec::new(), Vec::new()).await,
            Err(e) => security_view(&state, &session, None, Vec::new(), messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

fn code_of(pairs: &[(String, String)]) -> &str {
    pairs.iter().rev().find(|(k, _)| k == "code").map(|(_, v)| v.trim()).unwrap_or("")
}

pub async fn confirm(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        match state.db.confirm_two_factor(&session.user.id, code_of(&pairs)).await {
            Ok(codes) => security_view(&state, &session, None, codes, Vec::new()).await,
            Err(e) => security_view(&state, &session, None, Vec::new(), messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn disable(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        let user = &session.user.id;
        if !state.db.check_second_factor(user, code_of(&pairs)).await? {
            let wrong = vec![t(current_lang(), "two-factor-wrong")];
            return security_view(&state, &session, None, Vec::new(), wrong).await;
        }
        state.db.disable_two_factor(Some(user), user).await?;
        Ok(Redirect::to("/settings/security").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Ends every session of the user, this one too.
pub async fn sign_out_everywhere(State(state): State<AppState>, CsrfForm(session, _): CsrfForm) -> Response {
    let state = session.scoped(state);
    match state.db.end_sessions(&session.user.id).await {
        Ok(_) => Redirect::to("/login").into_response(),
        Err(e) => fail(e),
    }
}
