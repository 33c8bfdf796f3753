//! Sign-in, sign-out and the language switch, and the page session extractor.

use super::{Layout, render};
use crate::AppState;
use crate::api::auth_check_login;
use crate::auth::{SESSION_COOKIE, cookie, same_origin};
use crate::error::{ApiError, current_lang, set_lang};
use crate::i18n::{LANGS, lang_or_default, t, t_args};
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_store::accounts::User;
use serde::Deserialize;
use std::net::SocketAddr;

/// The signed-in user of a page request, with the session's CSRF token for forms.
pub struct Session {
    pub user: User,
    pub csrf: String,
    /// What the user reaches (`peyvand_store::access`).
    pub viewer: peyvand_records::access::Viewer,
}

impl Session {
    /// The application as this user sees it (see `Authed::scoped`).
    pub fn scoped(&self, state: AppState) -> AppState {
        AppState { db: state.db.for_viewer(self.viewer.clone()), ..state }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let login = || {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::to(&format!("/login?next={}", encode(next))).into_response()
        };
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(login());
        };
        match state.db.session_user(&secret).await {
            Ok(Some((user, csrf))) => {
                set_lang(lang_or_default(&user.language));
                // A role that must sign in with a second factor sees nothing but the page that
                // sets it up until it is set up.
                let path = parts.uri.path();
                let setting_up =
                    ["/settings/security", "/logout", "/settings/language"].iter().any(|p| path.starts_with(p));
                match state.db.second_factor_missing(&user.id, user.role).await {
                    Ok(true) if !setting_up => return Err(Redirect::to("/settings/security").into_response()),
                    Err(e) => return Err(ApiError::from(e).into_response()),
                    _ => {}
                }
                match state.db.viewer_for(&user.id).await {
                    Ok(viewer) => Ok(Session { user, csrf, viewer }),
                    Err(e) => Err(ApiError::from(e).into_response()),
                }
            }
            Ok(None) => Err(login()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}

/// A form posted by a signed-in user whose CSRF token (the `csrf` field) and origin were
/// checked: every page form that changes something takes this, so none can forget the check.
pub struct CsrfForm(pub Session, pub Vec<(String, String)>);

impl axum::extract::FromRequest<AppState> for CsrfForm {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        let Form(pairs) =
            Form::<Vec<(String, String)>>::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        let token = pairs.iter().rev().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
        check_csrf(&session, &headers, token)?;
        if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            // Neither database keeps U+0000 in text (PostgreSQL refuses it).
            return Err(super::error_page(StatusCode::UNPROCESSABLE_ENTITY, "field-control_characters"));
        }
        Ok(CsrfForm(session, pairs))
    }
}

/// Percent-encodes a value for a query string.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Refuses a form whose CSRF token is not the session's or that comes from another origin.
#[allow(clippy::result_large_err)]
pub fn check_csrf(session: &Session, headers: &HeaderMap, form_token: &str) -> Result<(), Response> {
    if crate::auth::csrf_matches(&session.csrf, form_token) && same_origin(headers) {
        Ok(())
    } else {
        Err(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"))
    }
}

/// Only local paths are followed after signing in: a path that stays a path after the
/// browser's own clean-up of a URL, which drops tabs and line breaks (`/\t/host` becomes
/// `//host`, another host) and reads `\` as `/`. So only visible ASCII (a path this server
/// sends is percent-encoded; anything else could not be a `Location` either), no `\`, no `//`
/// at the start; anything else goes to the start page.
pub(crate) fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.chars().all(|c| c.is_ascii_graphic());
    if local { next } else { "/" }
}

fn session_cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: u64) -> HeaderValue {
    cookie_of(state, headers, SESSION_COOKIE, value, "Lax", max_age)
}

/// A cookie scripts cannot read, `Secure` unless served to this machine over plain HTTP.
pub(super) fn cookie_of(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: u64,
) -> HeaderValue {
    cookie_at(state, headers, (name, value), "/", same_site, max_age)
}

/// [`cookie_of`] sent only under `path` (the portal's session lives under `/portal`).
pub(super) fn cookie_at(
    state: &AppState,
    headers: &HeaderMap,
    (name, value): (&str, &str),
    path: &str,
    same_site: &str,
    max_age: u64,
) -> HeaderValue {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let loopback = ["localhost", "127.0.0.1", "[::1]"].iter().any(|h| host == *h || host.starts_with(&format!("{h}:")));
    let https = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    let secure = state.config.secure_cookies.unwrap_or(https || !loopback);
    let text = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    // Names, values and paths are this server's own (ids, secrets in hex), so this is not reached.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("peyvand_session=; Path=/; Max-Age=0"))
}

/// Starts a session for a user who has signed in (with a new id: whatever id the browser had
/// before is not the session's) and goes on to `next`.
pub(super) async fn start_session(state: &AppState, headers: &HeaderMap, user_id: &str, next: &str) -> Response {
    // A session the browser held before signing in (somebody else's, or one planted in it)
    // ends here.
    if let Some(old) = cookie(headers, SESSION_COOKIE)
        && let Err(e) = state.db.delete_session(&old).await
    {
        return ApiError::from(e).into_response();
    }
    let ttl = state.config.session_ttl;
    match state.db.create_session(user_id, time::Duration::seconds(ttl.as_secs() as i64)).await {
        Ok((secret, _csrf)) => {
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().append(header::SET_COOKIE, session_cookie(state, headers, &secret, ttl.as_secs()));
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    heading: String,
    tagline: String,
    email_label: String,
    password_label: String,
    email: String,
    next: String,
    error: Option<String>,
    /// Single sign-on's link and words, when it is set up.
    sso: Option<(String, String)>,
}

/// The sign-in page with a message (single sign-on's refusals).
pub(super) fn login_with_error(state: &AppState, email: &str, next: &str, error: String) -> Response {
    render(&login_view(state, email, next, Some(error)))
}

fn login_view(state: &AppState, email: &str, next: &str, error: Option<String>) -> LoginPage {
    let lang = current_lang();
    LoginPage {
        sso: super::sso::sign_in_link(state, next),
        layout: Layout::new(lang, None, None, ""),
        heading: t(lang, "login-title"),
        tagline: t(lang, "app-tagline"),
        email_label: t(lang, "login-email"),
        password_label: t(lang, "login-password"),
        email: email.to_string(),
        next: next.to_string(),
        error,
    }
}

#[derive(Deserialize)]
pub struct NextParam {
    #[serde(default)]
    next: String,
    /// A sign-in that waited for its code too long or took too many wrong ones.
    #[serde(default)]
    over: bool,
}

pub async fn login_page(State(state): State<AppState>, Query(q): Query<NextParam>) -> Response {
    let over = q.over.then(|| t(current_lang(), "two-factor-sign-in-over"));
    render(&login_view(&state, "", safe_next(&q.next), over))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = current_lang();
    let next = safe_next(&form.next).to_string();
    if !same_origin(&headers) {
        return super::error_page(StatusCode::FORBIDDEN, "error-forbidden");
    }
    let client = crate::client::client_addr(&headers, addr.ip(), &state.config.trusted_proxies);
    let user = match auth_check_login(&state, &form.email, &form.password, &client.to_string()).await {
        Ok(user) => user,
        Err(ApiError::TooManyRequests { retry_after_secs }) => {
            let msg = t_args(lang, "login-throttled", &[("minutes", (retry_after_secs / 60).to_string())]);
            return (StatusCode::TOO_MANY_REQUESTS, render(&login_view(&state, &form.email, &next, Some(msg))))
                .into_response();
        }
        Err(ApiError::Unauthorized) => {
            return (
                StatusCode::UNAUTHORIZED,
                render(&login_view(&state, &form.email, &next, Some(t(lang, "login-failed")))),
            )
                .into_response();
        }
        Err(e) => return e.into_response(),
    };
    match state.db.two_factor_enabled(&user.id).await {
        Ok(true) => super::two_factor::ask_for_code(&state, &headers, &user.id, &next).await,
        Ok(false) => start_session(&state, &headers, &user.id, &next).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let state = session.scoped(state);
    if let Err(r) = check_csrf(&session, &headers, &form.csrf) {
        return r;
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.db.delete_session(&secret).await
    {
        return ApiError::from(e).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, &headers, "", 0));
    response
}

#[derive(Deserialize)]
pub struct LanguageForm {
    csrf: String,
    lang: String,
}

pub async fn set_language(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Response {
    let state = session.scoped(state);
    if let Err(r) = check_csrf(&session, &headers, &form.csrf) {
        return r;
    }
    if !LANGS.contains(&form.lang.as_str()) {
        return super::error_page(StatusCode::BAD_REQUEST, "problem-bad-request");
    }
    if let Err(e) = state.db.set_user_language(&session.user.id, &form.lang).await {
        return ApiError::from(e).into_response();
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(safe_next(&back)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("lang={}; Path=/; SameSite=Lax; Max-Age=31536000", form.lang)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_stay_local() {
        assert_eq!(safe_next("/records/contact"), "/records/contact");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
        // Browsers drop tabs and line breaks from a URL, so these would lead to another host.
        assert_eq!(safe_next("/\t/other-host/page"), "/");
        assert_eq!(safe_next("/\n/other-host"), "/");
        assert_eq!(safe_next("/\r/other-host"), "/");
        assert_eq!(safe_next("/records\u{7f}"), "/");
        assert_eq!(safe_next("/records/علی"), "/");
        assert_eq!(safe_next("/records/contact?q=a%20b"), "/records/contact?q=a%20b");
        assert_eq!(encode("/records/contact?q=علی"), "/records/contact%3Fq%3D%D8%B9%D9%84%DB%8C");
    }
}

#[derive(Deserialize)]
pub struct DisplayForm {
    csrf: String,
    #[serde(default)]
    theme: Option<String>,
    #[serde(default)]
    money: Option<String>,
}

/// Theme and money display, kept per browser in cookies.
pub async fn set_display(session: Session, headers: HeaderMap, Form(form): Form<DisplayForm>) -> Response {
    if let Err(r) = check_csrf(&session, &headers, &form.csrf) {
        return r;
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(safe_next(&back)).into_response();
    let mut set = |name: &str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(&format!("{name}={value}; Path=/; SameSite=Lax; Max-Age=31536000")) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    };
    match form.theme.as_deref() {
        Some("dark") => set("theme", "dark"),
        Some("light") => set("theme", "light"),
        _ => {}
    }
    match form.money.as_deref() {
        Some("toman") => set("money", "toman"),
        Some("rial") => set("money", "rial"),
        _ => {}
    }
    response
}
