//! The customer portal's pages (`/portal/...`): a customer signs in with a code sent to their
//! e-mail or mobile number (or a password set after one) and sees their orders and quotes, their
//! requests (opens one with files, replies, closes it), their points and rewards, and their
//! profile and consent. Its session is its own (cookie [`COOKIE`], path `/portal`), apart from
//! staff sessions; every page reads through `crm::portal::customer`, which answers only with the
//! signed-in customer's records. [`ROUTES`] is the table the isolation test walks.

use super::display::{format_money, format_number};
use super::session::safe_next;
use super::{Layout, render};
use crate::AppState;
use crate::auth::{cookie, csrf_matches, mask_csrf, same_origin};
use crate::error::{ApiError, current_lang, set_lang};
use crate::i18n::{field_error_message, format_date, format_datetime, lang_or_default, t};
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use peyvand_crm::customers::consent;
use peyvand_crm::portal::customer::{self, Customer, Document, Line, NewTicket};
use peyvand_crm::portal::sign_in::{self, Address, Asked, Checked};
use peyvand_crm::service::conversation::{MAX_FILE, MAX_FILES, Upload};
use peyvand_records::FieldError;
use peyvand_store::Error as StoreError;
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The portal session's cookie.
pub const COOKIE: &str = "peyvand_portal";

/// Every portal route, as the router has it: `(method, path)`. The isolation test signs in as
/// one customer and tries each with another's ids (`{id}`, `{file}`, `{program}`, `{reward}`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/portal/brand.css"),
    ("GET", "/portal/logo"),
    ("GET", "/portal/sign-in"),
    ("POST", "/portal/sign-in"),
    ("POST", "/portal/code"),
    ("POST", "/portal/password"),
    ("POST", "/portal/sign-out"),
    ("POST", "/portal/language"),
    ("GET", "/portal"),
    ("GET", "/portal/orders"),
    ("POST", "/portal/orders"),
    ("GET", "/portal/orders/{id}"),
    ("GET", "/portal/orders/{id}/print"),
    ("GET", "/portal/shop"),
    ("GET", "/portal/quotes/{id}"),
    ("GET", "/portal/quotes/{id}/print"),
    ("POST", "/portal/quotes/{id}/accept"),
    ("GET", "/portal/requests"),
    ("GET", "/portal/requests/new"),
    ("POST", "/portal/requests"),
    ("GET", "/portal/requests/{id}"),
    ("POST", "/portal/requests/{id}/reply"),
    ("POST", "/portal/requests/{id}/close"),
    ("GET", "/portal/requests/{id}/files/{file}"),
    ("GET", "/portal/help"),
    ("GET", "/portal/help/suggest"),
    ("GET", "/portal/help/{id}"),
    ("GET", "/portal/points"),
    ("POST", "/portal/points/{program}/redeem/{reward}"),
    ("GET", "/portal/profile"),
    ("POST", "/portal/profile/consent"),
    ("POST", "/portal/profile/password"),
];

/// The largest request form: its text and five files.
const MAX_REQUEST_FORM: usize = MAX_FILES * MAX_FILE + 1024 * 1024;

pub fn router() -> Router<AppState> {
    let upload = || axum::extract::DefaultBodyLimit::max(MAX_REQUEST_FORM);
    Router::new()
        .route("/portal/brand.css", get(brand_css))
        .route("/portal/logo", get(logo))
        .route("/portal/sign-in", get(sign_in_page).post(ask_code))
        .route("/portal/code", post(check_code))
        .route("/portal/password", post(check_password))
        .route("/portal/sign-out", post(sign_out))
        .route("/portal/language", post(set_language))
        .route("/portal", get(home))
        .route("/portal/orders", get(orders).post(place_order))
        .route("/portal/orders/{id}", get(order))
        .route("/portal/orders/{id}/print", get(print_order))
        .route("/portal/shop", get(shop))
        .route("/portal/quotes/{id}", get(quote))
        .route("/portal/quotes/{id}/print", get(print_quote))
        .route("/portal/quotes/{id}/accept", post(accept_quote))
        .route("/portal/requests", get(requests).post(open_request).layer(upload()))
        .route("/portal/requests/new", get(new_request))
        .route("/portal/requests/{id}", get(request))
        .route("/portal/requests/{id}/reply", post(reply).layer(upload()))
        .route("/portal/requests/{id}/close", post(close))
        .route("/portal/requests/{id}/files/{file}", get(file))
        .route("/portal/help", get(help))
        .route("/portal/help/suggest", get(help_suggest))
        .route("/portal/help/{id}", get(help_article))
        .route("/portal/points", get(points))
        .route("/portal/points/{program}/redeem/{reward}", post(redeem))
        .route("/portal/profile", get(profile))
        .route("/portal/profile/consent", post(save_consent))
        .route("/portal/profile/password", post(save_password))
}

// ---- Sessions ----

/// The signed-in customer of a portal request, with the session's form token.
pub struct Signed {
    pub customer: Customer,
    csrf: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let out = || Redirect::to("/portal/sign-in").into_response();
        let Some(secret) = cookie(&parts.headers, COOKIE) else { return Err(out()) };
        let found = sign_in::session(&state.db, &secret).await.map_err(|e| ApiError::from(e).into_response())?;
        let Some((account, csrf)) = found else { return Err(out()) };
        set_lang(lang_or_default(&account.language));
        match customer::customer(&state.db, account).await {
            Ok(Some(customer)) => Ok(Signed { customer, csrf }),
            Ok(None) => Err(out()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}

/// A form posted by a signed-in customer, its token and origin checked.
pub struct SignedForm(Signed, Vec<(String, String)>);

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        let axum::Form(pairs) =
            axum::Form::<Vec<(String, String)>>::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        check(&signed, &headers, pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or(""))?;
        Ok(SignedForm(signed, pairs))
    }
}

#[allow(clippy::result_large_err)]
fn check(signed: &Signed, headers: &HeaderMap, token: &str) -> Result<(), Response> {
    if csrf_matches(&signed.csrf, token) && same_origin(headers) {
        Ok(())
    } else {
        Err(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"))
    }
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn portal_cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: u64) -> HeaderValue {
    super::session::cookie_at(state, headers, (COOKIE, value), "/portal", "Lax", max_age)
}

// ---- The frame ----

/// The business as its portal shows it: its name (Admin → Business), its logo and colour (the
/// portal's settings).
pub struct Brand {
    pub name: String,
    pub logo: String,
}

async fn brand(state: &AppState) -> Brand {
    let lang = current_lang();
    let look = crate::portal_host::look(state).await;
    let (first, second) = if lang == "en" { (look.name_en, look.name_fa) } else { (look.name_fa, look.name_en) };
    let name = [first, second].into_iter().find(|n| !n.is_empty()).unwrap_or_else(|| t(lang, "portal-title"));
    let logo = if look.has_logo { "/portal/logo".to_string() } else { super::AssetUrls::new().logo };
    Brand { name, logo }
}

/// `GET /portal/brand.css`: the brand's colour for buttons and links, with text on it that reads
/// (white or near-black, whichever contrasts more) and a link colour dark enough on white.
pub async fn brand_css(State(state): State<AppState>) -> Response {
    let colour = peyvand_crm::portal::settings(&state.db).await.ok().and_then(|s| s.colour);
    let css = colour.as_deref().and_then(peyvand_crm::portal::parse_colour).map(colour_css).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=60")], css).into_response()
}

/// The WCAG relative luminance of a colour.
fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

fn contrast(a: f64, b: f64) -> f64 {
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

fn colour_css(c: (u8, u8, u8)) -> String {
    let l = luminance(c);
    let on = if contrast(l, 1.0) >= contrast(l, luminance((0x13, 0x17, 0x22))) { "#ffffff" } else { "#131722" };
    // Links on white: the colour darkened until it reads (4.5 : 1).
    let mut text = c;
    for _ in 0..20 {
        if contrast(luminance(text), 1.0) >= 4.5 {
            break;
        }
        text = ((f64::from(text.0) * 0.85) as u8, (f64::from(text.1) * 0.85) as u8, (f64::from(text.2) * 0.85) as u8);
    }
    let hex = |(r, g, b): (u8, u8, u8)| format!("#{r:02x}{g:02x}{b:02x}");
    format!(
        ":root, [data-theme=\"light\"] {{ --accent: {}; --accent-fg: {on}; --accent-text: {}; }}\n",
        hex(c),
        hex(text)
    )
}

/// `GET /portal/logo`: the portal's logo, if one was given.
pub async fn logo(State(state): State<AppState>) -> Response {
    match peyvand_crm::portal::logo(&state.db).await {
        Ok(Some((content_type, bytes))) => {
            ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=300".to_string())], bytes)
                .into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// What every signed-in portal page shows around its content.
pub struct Frame {
    pub brand: Brand,
    pub tr: Words,
    pub name: String,
    pub csrf: String,
    pub nav: Vec<(&'static str, String, bool)>,
}

pub struct Words {
    lang: &'static str,
}

impl Words {
    pub fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }
    pub fn num(&self, n: impl std::fmt::Display) -> String {
        format_number(self.lang, &n.to_string())
    }
}

async fn frame(state: &AppState, signed: &Signed, current: &str) -> Frame {
    let lang = current_lang();
    let nav = [
        ("/portal", "portal-home"),
        ("/portal/orders", "portal-orders"),
        ("/portal/requests", "portal-requests"),
        ("/portal/points", "portal-points"),
        ("/portal/help", "portal-help"),
        ("/portal/profile", "portal-profile"),
    ]
    .into_iter()
    .map(|(href, key)| (href, t(lang, key), href == current))
    .collect();
    Frame {
        brand: brand(state).await,
        tr: Words { lang },
        name: signed.customer.name.clone(),
        csrf: mask_csrf(&signed.csrf),
        nav,
    }
}

fn layout() -> Layout {
    Layout::new(current_lang(), None, None, "")
}

fn money(lang: &str, v: Option<&Json>) -> String {
    match v {
        Some(m) => match (m.get("amount").and_then(Json::as_str), m.get("currency").and_then(Json::as_str)) {
            (Some(a), Some(c)) => format_money(lang, a, c),
            _ => String::new(),
        },
        None => String::new(),
    }
}

fn when(state: &AppState, lang: &str, v: Option<&str>) -> String {
    let Some(v) = v else { return String::new() };
    if let Some(at) = peyvand_records::value::parse_datetime(v) {
        return format_datetime(lang, at, state.config.display_offset);
    }
    peyvand_records::value::parse_date(v).map(|d| format_date(lang, d)).unwrap_or_default()
}

/// A choice's label in the page's language.
async fn choice(state: &AppState, object: &str, field: &str, value: Option<&str>) -> String {
    let lang = current_lang();
    let Some(value) = value else { return String::new() };
    let Ok(obj) = state.db.system().object(object).await else { return value.to_string() };
    obj.field(field)
        .and_then(|f| f.options.options.iter().find(|o| o.value == value))
        .map(|o| peyvand_crm::forms::pick(lang, &o.label_fa, &o.label_en).to_string())
        .unwrap_or_else(|| value.to_string())
}

/// Each problem in words, after the name of the field it is about (where the form has one).
fn errors_text(errors: &[FieldError]) -> Vec<String> {
    let lang = current_lang();
    errors
        .iter()
        .map(|e| {
            let message = field_error_message(lang, e.code, &e.params);
            let field = e.field.split('.').next().unwrap_or("");
            let key = match field {
                "subject" => "portal-subject",
                "kind" => "portal-kind",
                "body" => "portal-body",
                "files" => "portal-files",
                "order" => "portal-about-order",
                "lines" => "portal-products",
                _ => return message,
            };
            format!("{}: {message}", t(lang, key))
        })
        .collect()
}

/// A quantity as people write it: no trailing zeros after the point.
fn quantity(lang: &str, v: &Json) -> String {
    let plain = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    let plain = if plain.contains('.') { plain.trim_end_matches('0').trim_end_matches('.').to_string() } else { plain };
    format_number(lang, &plain)
}

/// A money value, or nothing when it is zero.
fn money_unless_zero(lang: &str, v: Option<&Json>) -> String {
    let zero = v
        .and_then(|m| m.get("amount"))
        .and_then(Json::as_str)
        .is_some_and(|a| a.trim_start_matches('-').chars().all(|c| c == '0' || c == '.'));
    if zero { String::new() } else { money(lang, v) }
}

#[derive(Template)]
#[template(path = "portal_error.html")]
struct ErrorPage {
    layout: Layout,
    tr: Words,
    message: String,
}

/// A refusal as a portal page: not found (another customer's id, or none), forbidden, or the
/// general error, with the way back to the portal.
fn fail(e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
    let status = e.status();
    let key = match status {
        StatusCode::NOT_FOUND => "portal-not-found",
        StatusCode::FORBIDDEN => "error-forbidden",
        _ => return e.into_response(),
    };
    let lang = current_lang();
    (status, render(&ErrorPage { layout: layout(), tr: Words { lang }, message: t(lang, key) })).into_response()
}

// ---- Signing in ----

#[derive(Template)]
#[template(path = "portal_sign_in.html")]
struct SignInPage {
    layout: Layout,
    brand: Brand,
    tr: Words,
    address: String,
    /// The code step (the address was sent a code).
    code_step: bool,
    error: Option<String>,
    notice: Option<String>,
}

async fn sign_in_view(
    state: &AppState,
    address: &str,
    code_step: bool,
    error: Option<String>,
    notice: Option<String>,
) -> SignInPage {
    let lang = current_lang();
    SignInPage {
        brand: brand(state).await,
        layout: Layout::new(lang, None, None, ""),
        tr: Words { lang },
        address: address.to_string(),
        code_step,
        error,
        notice,
    }
}

#[derive(Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    address: String,
    #[serde(default)]
    lang: Option<String>,
}

/// `GET /portal/sign-in`: the address to send a code to (or sign in with a password).
pub async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<SignInQuery>) -> Response {
    chosen_lang(&headers);
    let mut response = {
        if let Some(lang) = q.lang.as_deref() {
            set_lang(lang_or_default(lang));
        }
        render(&sign_in_view(&state, &q.address, false, None, None).await)
    };
    if let Some(lang) = q.lang.as_deref()
        && let Ok(v) =
            HeaderValue::from_str(&format!("lang={}; Path=/; SameSite=Lax; Max-Age=31536000", lang_or_default(lang)))
    {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Before signing in, a language the visitor chose on the portal (its `lang` cookie) beats the
/// browser's.
fn chosen_lang(headers: &HeaderMap) {
    if let Some(lang) = cookie(headers, "lang") {
        set_lang(lang_or_default(&lang));
    }
}

fn client(state: &AppState, headers: &HeaderMap, addr: SocketAddr) -> String {
    crate::client::client_addr(headers, addr.ip(), &state.config.trusted_proxies).to_string()
}

/// `POST /portal/sign-in`: sends a code to the address if it is a customer's (the same answer
/// either way), then asks for it.
pub async fn ask_code(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    chosen_lang(&headers);
    if !same_origin(&headers) {
        return super::error_page(StatusCode::FORBIDDEN, "error-forbidden");
    }
    let typed = field(&pairs, "address");
    let lang = current_lang();
    let address = match Address::parse(typed) {
        Ok(a) => a,
        Err(e) => {
            let page =
                sign_in_view(&state, typed, false, Some(field_error_message(lang, e.code, &e.params)), None).await;
            return (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response();
        }
    };
    match sign_in::request_code(&state.db, &address, &client(&state, &headers, addr), lang).await {
        Ok(Asked::Sent) => {
            let notice =
                t(lang, if address.channel() == "sms" { "portal-code-sent-sms" } else { "portal-code-sent-email" });
            render(&sign_in_view(&state, address.value(), true, None, Some(notice)).await)
        }
        Ok(Asked::Wait) => {
            let page = sign_in_view(&state, typed, false, Some(t(lang, "portal-wait")), None).await;
            (StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn signed_in(state: &AppState, headers: &HeaderMap, session: sign_in::Session) -> Response {
    // The customer's language from here on is the one they signed in in.
    if let Err(e) = sign_in::set_language(&state.db, &session.account.id, current_lang()).await {
        return ApiError::from(e).into_response();
    }
    let mut response = Redirect::to("/portal").into_response();
    let age = (sign_in::SESSION_DAYS * 24 * 3600).unsigned_abs();
    response.headers_mut().append(header::SET_COOKIE, portal_cookie(state, headers, &session.secret, age));
    response
}

async fn refused(state: &AppState, address: &str, checked: &Checked, code_step: bool) -> Response {
    let lang = current_lang();
    let (status, key) = match checked {
        Checked::Wrong if code_step => (StatusCode::UNAUTHORIZED, "portal-code-wrong"),
        Checked::Wrong => (StatusCode::UNAUTHORIZED, "portal-password-wrong"),
        Checked::Expired => (StatusCode::UNAUTHORIZED, "portal-code-expired"),
        _ => (StatusCode::TOO_MANY_REQUESTS, "portal-too-many"),
    };
    (status, render(&sign_in_view(state, address, code_step, Some(t(lang, key)), None).await)).into_response()
}

/// `POST /portal/code`: the code sent; right, the customer is signed in.
pub async fn check_code(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    chosen_lang(&headers);
    if !same_origin(&headers) {
        return super::error_page(StatusCode::FORBIDDEN, "error-forbidden");
    }
    let typed = field(&pairs, "address");
    let Ok(address) = Address::parse(typed) else {
        return refused(&state, typed, &Checked::Wrong, true).await;
    };
    match sign_in::verify_code(&state.db, &address, field(&pairs, "code"), &client(&state, &headers, addr)).await {
        Ok(Checked::SignedIn(session)) => signed_in(&state, &headers, *session).await,
        Ok(other) => refused(&state, address.value(), &other, true).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /portal/password`: an address and password, for a customer who set one.
pub async fn check_password(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    chosen_lang(&headers);
    if !same_origin(&headers) {
        return super::error_page(StatusCode::FORBIDDEN, "error-forbidden");
    }
    let typed = field(&pairs, "address");
    let Ok(address) = Address::parse(typed) else {
        return refused(&state, typed, &Checked::Wrong, false).await;
    };
    let password = field(&pairs, "password").to_string();
    let verify = move |hash: Option<&str>| match hash {
        Some(h) => crate::auth::verify_password(&password, h),
        None => {
            // As long as a real check, so a missing account is not told apart by the time.
            crate::auth::verify_password(&password, crate::auth::dummy_hash());
            false
        }
    };
    match sign_in::password(&state.db, &address, &verify, &client(&state, &headers, addr)).await {
        Ok(Checked::SignedIn(session)) => signed_in(&state, &headers, *session).await,
        Ok(other) => refused(&state, address.value(), &other, false).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /portal/sign-out`.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, SignedForm(_, _): SignedForm) -> Response {
    if let Some(secret) = cookie(&headers, COOKIE)
        && let Err(e) = sign_in::end_session(&state.db, &secret).await
    {
        return ApiError::from(e).into_response();
    }
    let mut response = Redirect::to("/portal/sign-in").into_response();
    response.headers_mut().append(header::SET_COOKIE, portal_cookie(&state, &headers, "", 0));
    response
}

/// `POST /portal/language`: the other language, kept on the account.
pub async fn set_language(
    State(state): State<AppState>,
    headers: HeaderMap,
    SignedForm(signed, pairs): SignedForm,
) -> Response {
    let lang = lang_or_default(field(&pairs, "lang"));
    if let Err(e) = sign_in::set_language(&state.db, &signed.customer.account.id, lang).await {
        return ApiError::from(e).into_response();
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .filter(|p| p.starts_with("/portal"))
        .unwrap_or_else(|| "/portal".into());
    Redirect::to(safe_next(&back)).into_response()
}

// ---- Home, orders and quotes ----

pub struct DocRow {
    pub href: String,
    pub number: String,
    pub status: String,
    pub status_key: String,
    pub date: String,
    pub total: String,
}

async fn doc_rows(state: &AppState, docs: &[Document]) -> Vec<DocRow> {
    let lang = current_lang();
    let mut rows = Vec::new();
    for d in docs {
        let kind = if d.object == "quote" { "quotes" } else { "orders" };
        rows.push(DocRow {
            href: format!("/portal/{kind}/{}", d.id),
            number: d.number.clone().unwrap_or_default(),
            status: choice(state, &d.object, "status", d.status.as_deref()).await,
            status_key: d.status.clone().unwrap_or_default(),
            date: when(state, lang, d.date.as_deref()),
            total: money(lang, d.total.as_ref()),
        });
    }
    rows
}

pub struct TicketRow {
    pub href: String,
    pub number: String,
    pub subject: String,
    pub kind: String,
    pub status: String,
    pub status_key: String,
    pub opened: String,
}

async fn ticket_rows(state: &AppState, tickets: &[customer::Ticket]) -> Vec<TicketRow> {
    let lang = current_lang();
    let mut rows = Vec::new();
    for tk in tickets {
        rows.push(TicketRow {
            href: format!("/portal/requests/{}", tk.id),
            number: tk.number.clone().unwrap_or_default(),
            subject: tk.subject.clone(),
            kind: choice(state, "ticket", "kind", tk.kind.as_deref()).await,
            status: choice(state, "ticket", "status", tk.status.as_deref()).await,
            status_key: tk.status.clone().unwrap_or_default(),
            opened: when(state, lang, tk.opened_at.as_deref()),
        });
    }
    rows
}

pub struct PointsCard {
    pub program: String,
    pub balance: String,
    pub tier: String,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    frame: Frame,
    layout: Layout,
    points: Vec<PointsCard>,
    orders: Vec<DocRow>,
    requests: Vec<TicketRow>,
    open_requests: usize,
    /// Surveys waiting for an answer: name and link.
    surveys: Vec<(String, String)>,
}

fn points_cards(lang: &str, memberships: &[customer::Membership]) -> Vec<PointsCard> {
    memberships
        .iter()
        .map(|m| PointsCard {
            program: m.program.definition.name(lang).to_string(),
            balance: format_number(lang, &m.member.balance.to_string()),
            tier: m.tier_name.clone().unwrap_or_default(),
            next: m.next_tier.as_ref().map(|(name, left)| {
                crate::i18n::t_args(
                    lang,
                    "portal-next-tier",
                    &[("points", format_number(lang, &left.to_string())), ("tier", name.clone())],
                )
            }),
        })
        .collect()
}

/// `GET /portal`: the customer's points, latest orders and open requests.
pub async fn home(State(state): State<AppState>, signed: Signed) -> Response {
    let result = async {
        let lang = current_lang();
        let c = &signed.customer;
        let (memberships, _) = customer::loyalty(&state.db, c, lang).await?;
        let orders = customer::documents(&state.db, c, "order").await?;
        let tickets = customer::tickets(&state.db, c).await?;
        let open: Vec<customer::Ticket> =
            tickets.into_iter().filter(|t| !matches!(t.status.as_deref(), Some("closed" | "resolved"))).collect();
        Ok::<_, ApiError>(render(&HomePage {
            layout: layout(),
            frame: frame(&state, &signed, "/portal").await,
            points: points_cards(lang, &memberships),
            orders: doc_rows(&state, &orders[..orders.len().min(5)]).await,
            open_requests: open.len(),
            surveys: customer::surveys(&state.db, c)
                .await?
                .into_iter()
                .map(|a| (a.name, format!("/s/{}", a.token)))
                .collect(),
            requests: ticket_rows(&state, &open[..open.len().min(5)]).await,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "portal_orders.html")]
struct OrdersPage {
    frame: Frame,
    layout: Layout,
    orders: Vec<DocRow>,
    quotes: Vec<DocRow>,
    /// The next page of orders.
    more: Option<String>,
}

#[derive(Deserialize)]
pub struct OrdersQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    placed: bool,
}

/// `GET /portal/orders`: the customer's orders (a page at a time, `?cursor=`) and quotes.
pub async fn orders(State(state): State<AppState>, signed: Signed, Query(q): Query<OrdersQuery>) -> Response {
    let result = async {
        let c = &signed.customer;
        let (orders, next) = customer::documents_page(&state.db, c, "order", q.cursor.as_deref()).await?;
        let quotes = if q.cursor.is_none() { customer::documents(&state.db, c, "quote").await? } else { Vec::new() };
        Ok::<_, ApiError>(render(&OrdersPage {
            layout: layout(),
            frame: frame(&state, &signed, "/portal/orders").await,
            orders: doc_rows(&state, &orders).await,
            quotes: doc_rows(&state, &quotes).await,
            more: next.map(|n| format!("/portal/orders?cursor={}", super::session::encode(&n))),
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct ShopRow {
    pub id: String,
    pub name: String,
    pub price: String,
    pub unit: String,
    pub quantity: String,
}

#[derive(Template)]
#[template(path = "portal_shop.html")]
struct ShopPage {
    frame: Frame,
    layout: Layout,
    products: Vec<ShopRow>,
    benefits: Vec<String>,
    problems: Vec<String>,
}

async fn shop_page(
    state: &AppState,
    signed: &Signed,
    asked: &[(String, String)],
    problems: Vec<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let (products, benefits) = customer::shop(&state.db, &signed.customer).await?;
    let mut rows = Vec::new();
    for p in products {
        rows.push(ShopRow {
            quantity: asked.iter().find(|(id, _)| *id == p.id).map(|(_, q)| q.clone()).unwrap_or_default(),
            price: money(lang, p.price.as_ref()),
            unit: choice(state, "product", "unit", p.unit.as_deref()).await,
            name: p.name,
            id: p.id,
        });
    }
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = ShopPage {
        layout: layout(),
        frame: frame(state, signed, "/portal/orders").await,
        products: rows,
        benefits,
        problems,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /portal/shop`: the products the customer may order, to pick quantities of.
pub async fn shop(State(state): State<AppState>, signed: Signed) -> Response {
    shop_page(&state, &signed, &[], Vec::new()).await.unwrap_or_else(fail)
}

/// `POST /portal/orders`: `q.PRODUCT` quantities; the order placed (priced by the server) and
/// shown, or the shop again with the reasons.
pub async fn place_order(State(state): State<AppState>, SignedForm(signed, pairs): SignedForm) -> Response {
    let asked: Vec<(String, String)> =
        pairs.iter().filter_map(|(k, v)| k.strip_prefix("q.").map(|p| (p.to_string(), v.clone()))).collect();
    let result = async {
        match customer::place_order(&state.db, &signed.customer, &asked).await {
            Ok(order) => Ok(Redirect::to(&format!("/portal/orders/{}?placed=true", order.id)).into_response()),
            Err(StoreError::Validation(errors)) => shop_page(&state, &signed, &asked, errors_text(&errors)).await,
            Err(e) => Err(ApiError::from(e)),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /portal/quotes/{id}/accept`: the customer accepts a quote sent to them.
pub async fn accept_quote(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(signed, _): SignedForm,
) -> Response {
    match customer::accept_quote(&state.db, &signed.customer, &id).await {
        Ok(_) => Redirect::to(&format!("/portal/quotes/{id}")).into_response(),
        Err(StoreError::Conflict { .. }) => Redirect::to(&format!("/portal/quotes/{id}")).into_response(),
        Err(e) => fail(e),
    }
}

pub struct LineRow {
    pub product: String,
    pub quantity: String,
    pub unit_price: String,
    pub discount: String,
    pub total: String,
}

#[derive(Template)]
#[template(path = "portal_document.html")]
struct DocumentPage {
    frame: Frame,
    layout: Layout,
    heading: String,
    /// Just placed by the customer.
    placed: bool,
    /// A quote the customer may accept (sent to them).
    acceptable: bool,
    row: DocRow,
    valid_until: String,
    lines: Vec<LineRow>,
    sums: Vec<(String, String)>,
}

async fn document_page(
    state: &AppState,
    signed: &Signed,
    object: &str,
    id: &str,
    placed: bool,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let (doc, lines) = customer::document(&state.db, &signed.customer, object, id).await?;
    let row = doc_rows(state, std::slice::from_ref(&doc)).await.into_iter().next().ok_or(ApiError::NotFound)?;
    let lines = lines
        .iter()
        .map(|l: &Line| LineRow {
            product: l.product.clone().or_else(|| l.description.clone()).unwrap_or_default(),
            quantity: l.quantity.as_ref().map(|q| quantity(lang, q)).unwrap_or_default(),
            unit_price: money(lang, l.unit_price.as_ref()),
            discount: money_unless_zero(lang, l.discount.as_ref()),
            total: money(lang, l.total.as_ref()),
        })
        .collect();
    let sums = [
        ("portal-subtotal", &doc.subtotal),
        ("portal-discount", &doc.discount_total),
        ("portal-tax", &doc.tax_total),
        ("portal-total", &doc.total),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (t(lang, k), money_unless_zero(lang, Some(v)))))
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let heading_key = if object == "quote" { "portal-quote" } else { "portal-order" };
    Ok(render(&DocumentPage {
        layout: layout(),
        frame: frame(state, signed, "/portal/orders").await,
        heading: format!("{} {}", t(lang, heading_key), row.number),
        placed,
        acceptable: object == "quote" && doc.status.as_deref() == Some("sent"),
        valid_until: when(state, lang, doc.valid_until.as_deref()),
        row,
        lines,
        sums,
    }))
}

/// `GET /portal/orders/{id}`: one of the customer's orders with its lines.
pub async fn order(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<OrdersQuery>,
) -> Response {
    document_page(&state, &signed, "order", &id, q.placed).await.unwrap_or_else(fail)
}

/// `GET /portal/quotes/{id}`: one of the customer's quotes with its lines.
pub async fn quote(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    document_page(&state, &signed, "quote", &id, false).await.unwrap_or_else(fail)
}

async fn print(state: &AppState, signed: &Signed, kind: peyvand_crm::sales::documents::Kind, id: &str) -> Response {
    let result = async {
        let record = customer::printable(&state.db, &signed.customer, kind.header(), id).await?;
        super::sales::printed(state, current_lang(), kind, &record).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /portal/orders/{id}/print`: the invoice of one of the customer's orders, to print.
pub async fn print_order(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    print(&state, &signed, peyvand_crm::sales::documents::Kind::Order, &id).await
}

/// `GET /portal/quotes/{id}/print`: one of the customer's quotes, to print.
pub async fn print_quote(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    print(&state, &signed, peyvand_crm::sales::documents::Kind::Quote, &id).await
}

// ---- Requests ----

#[derive(Template)]
#[template(path = "portal_requests.html")]
struct RequestsPage {
    frame: Frame,
    layout: Layout,
    requests: Vec<TicketRow>,
}

/// `GET /portal/requests`: the customer's requests and complaints.
pub async fn requests(State(state): State<AppState>, signed: Signed) -> Response {
    let result = async {
        let tickets = customer::tickets(&state.db, &signed.customer).await?;
        Ok::<_, ApiError>(render(&RequestsPage {
            layout: layout(),
            frame: frame(&state, &signed, "/portal/requests").await,
            requests: ticket_rows(&state, &tickets).await,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "portal_request_new.html")]
struct NewRequestPage {
    frame: Frame,
    layout: Layout,
    kinds: Vec<(String, String)>,
    orders: Vec<(String, String)>,
    subject: String,
    kind: String,
    body: String,
    order: String,
    problems: Vec<String>,
}

async fn new_request_page(
    state: &AppState,
    signed: &Signed,
    input: &NewTicket,
    problems: Vec<String>,
) -> Result<Response, ApiError> {
    let c = &signed.customer;
    let mut kinds = Vec::new();
    for k in customer::KINDS {
        kinds.push((k.to_string(), choice(state, "ticket", "kind", Some(k)).await));
    }
    let lang = current_lang();
    let orders = customer::documents(&state.db, c, "order")
        .await?
        .into_iter()
        .map(|d| {
            let label = format!("{} · {}", d.number.clone().unwrap_or_default(), when(state, lang, d.date.as_deref()));
            (d.id, label)
        })
        .collect();
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = NewRequestPage {
        layout: layout(),
        frame: frame(state, signed, "/portal/requests").await,
        kinds,
        orders,
        subject: input.subject.clone(),
        kind: if input.kind.is_empty() { "request".into() } else { input.kind.clone() },
        body: input.body.clone(),
        order: input.order.clone().unwrap_or_default(),
        problems,
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct NewRequestQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    order: String,
}

/// `GET /portal/requests/new`: a request or complaint to write (`?kind=complaint&order=ID`).
pub async fn new_request(State(state): State<AppState>, signed: Signed, Query(q): Query<NewRequestQuery>) -> Response {
    let input = NewTicket {
        kind: if customer::KINDS.contains(&q.kind.as_str()) { q.kind } else { String::new() },
        order: Some(q.order).filter(|o| !o.is_empty()),
        ..NewTicket::default()
    };
    new_request_page(&state, &signed, &input, Vec::new()).await.unwrap_or_else(fail)
}

/// A portal form with files: its text fields and files, the token checked first.
async fn read_multipart(
    signed: &Signed,
    headers: &HeaderMap,
    mut multipart: Multipart,
) -> Result<(HashMap<String, String>, Vec<Upload>), Response> {
    let (mut fields, mut files, mut checked) = (HashMap::new(), Vec::new(), false);
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest { code: "bad_upload", detail: e.body_text() }.into_response()
    };
    while let Some(part) = multipart.next_field().await.map_err(bad)? {
        let name = part.name().unwrap_or("").to_string();
        if name == "csrf" {
            check(signed, headers, &part.text().await.unwrap_or_default())?;
            checked = true;
            continue;
        }
        if !checked {
            return Err(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"));
        }
        if name == "files" {
            let file_name = part.file_name().unwrap_or("").to_string();
            let bytes = part.bytes().await.map_err(bad)?;
            if !(file_name.is_empty() && bytes.is_empty()) {
                files.push(Upload { file_name, bytes: bytes.to_vec() });
            }
        } else {
            fields.insert(name, part.text().await.map_err(bad)?);
        }
    }
    if !checked {
        return Err(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"));
    }
    Ok((fields, files))
}

/// `POST /portal/requests` (multipart: csrf first, then subject, kind, order, body, files).
pub async fn open_request(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let (fields, files) = match read_multipart(&signed, &headers, multipart).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let input = NewTicket {
        subject: get("subject"),
        kind: get("kind"),
        body: get("body"),
        order: Some(get("order")).filter(|o| !o.is_empty()),
        files,
    };
    let result = async {
        match customer::open_ticket(&state.db, &signed.customer, &input).await {
            Ok(tk) => Ok(Redirect::to(&format!("/portal/requests/{}", tk.id)).into_response()),
            Err(StoreError::Validation(errors)) => {
                new_request_page(&state, &signed, &input, errors_text(&errors)).await
            }
            Err(e) => Err(ApiError::from(e)),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct MessageRow {
    pub mine: bool,
    pub body: String,
    pub at: String,
    pub files: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "portal_request.html")]
struct RequestPage {
    frame: Frame,
    layout: Layout,
    /// The satisfaction survey about it, waiting for an answer.
    survey: Option<String>,
    row: TicketRow,
    open: bool,
    messages: Vec<MessageRow>,
    body: String,
    problems: Vec<String>,
}

async fn request_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    body: &str,
    problems: Vec<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let (tk, messages) = customer::ticket(&state.db, &signed.customer, id).await?;
    let row = ticket_rows(state, std::slice::from_ref(&tk)).await.into_iter().next().ok_or(ApiError::NotFound)?;
    let messages = messages
        .into_iter()
        .map(|m| MessageRow {
            mine: m.mine,
            body: m.body,
            at: when(state, lang, Some(&m.at)),
            files: m
                .files
                .into_iter()
                .map(|(fid, name, size)| {
                    (
                        format!("/portal/requests/{id}/files/{fid}"),
                        name,
                        format_number(lang, &(size / 1024).max(1).to_string()),
                    )
                })
                .collect(),
        })
        .collect();
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let survey = customer::surveys(&state.db, &signed.customer)
        .await?
        .into_iter()
        .find(|a| a.ticket.as_deref() == Some(id))
        .map(|a| format!("/s/{}", a.token));
    let page = RequestPage {
        survey,
        layout: layout(),
        frame: frame(state, signed, "/portal/requests").await,
        open: tk.open(),
        row,
        messages,
        body: body.to_string(),
        problems,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /portal/requests/{id}`: one request with its replies.
pub async fn request(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    request_page(&state, &signed, &id, "", Vec::new()).await.unwrap_or_else(fail)
}

/// `POST /portal/requests/{id}/reply` (multipart: csrf first, then body, files).
pub async fn reply(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Response {
    // Another customer's request is not found before anything is read.
    if let Err(e) = customer::ticket(&state.db, &signed.customer, &id).await {
        return fail(e);
    }
    let (fields, files) = match read_multipart(&signed, &headers, multipart).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    let body = fields.get("body").cloned().unwrap_or_default();
    let result = async {
        match customer::reply(&state.db, &signed.customer, &id, &body, &files).await {
            Ok(_) => Ok(Redirect::to(&format!("/portal/requests/{id}")).into_response()),
            Err(StoreError::Validation(errors)) => {
                request_page(&state, &signed, &id, &body, errors_text(&errors)).await
            }
            Err(StoreError::Conflict { .. }) => {
                request_page(&state, &signed, &id, &body, vec![t(current_lang(), "portal-request-closed")]).await
            }
            Err(e) => Err(ApiError::from(e)),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /portal/requests/{id}/close`: the customer closes their request.
pub async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(signed, _): SignedForm,
) -> Response {
    match customer::close(&state.db, &signed.customer, &id).await {
        Ok(_) => Redirect::to(&format!("/portal/requests/{id}")).into_response(),
        Err(e) => fail(e),
    }
}

/// `GET /portal/requests/{id}/files/{file}`: a file of one of the customer's requests.
pub async fn file(State(state): State<AppState>, signed: Signed, Path((id, file)): Path<(String, String)>) -> Response {
    match customer::ticket_file(&state.db, &signed.customer, &id, &file).await {
        Ok((a, bytes)) => crate::api::service::download(&a, bytes),
        Err(e) => fail(e),
    }
}

// ---- Help: the knowledge base ----

#[derive(Template)]
#[template(path = "portal_help.html")]
struct HelpPage {
    frame: Frame,
    layout: Layout,
    q: String,
    articles: Vec<customer::Article>,
}

#[derive(Deserialize)]
pub struct HelpQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    subject: String,
}

/// `GET /portal/help?q=`: published articles answering a question (the newest without one).
pub async fn help(State(state): State<AppState>, signed: Signed, Query(q): Query<HelpQuery>) -> Response {
    let result = async {
        let articles = customer::help(&state.db, &q.q, current_lang(), 20).await?;
        Ok::<_, ApiError>(render(&HelpPage {
            layout: layout(),
            frame: frame(&state, &signed, "/portal/help").await,
            q: q.q,
            articles,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "portal_help_suggest.html")]
struct HelpSuggest {
    tr: Words,
    articles: Vec<customer::Article>,
}

/// `GET /portal/help/suggest?subject=`: while a customer types a request's subject, the articles
/// that may answer it (a part of the form, for htmx).
pub async fn help_suggest(State(state): State<AppState>, _signed: Signed, Query(q): Query<HelpQuery>) -> Response {
    let lang = current_lang();
    let found =
        if customer_words(&q.subject) { customer::help(&state.db, &q.subject, lang, 3).await } else { Ok(Vec::new()) };
    match found {
        Ok(articles) => render(&HelpSuggest { tr: Words { lang }, articles }),
        Err(e) => fail(e),
    }
}

/// Whether a subject has a word worth looking for yet.
fn customer_words(subject: &str) -> bool {
    !peyvand_crm::service::knowledge::words(subject).is_empty()
}

#[derive(Template)]
#[template(path = "portal_article.html")]
struct ArticlePage {
    frame: Frame,
    layout: Layout,
    article: customer::Article,
}

/// `GET /portal/help/{id}`: a published article.
pub async fn help_article(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    match customer::article(&state.db, &id).await {
        Ok(article) => {
            render(&ArticlePage { layout: layout(), frame: frame(&state, &signed, "/portal/help").await, article })
        }
        Err(e) => fail(e),
    }
}

// ---- Points ----

pub struct RewardRow {
    pub action: String,
    pub name: String,
    pub points: String,
    pub affordable: bool,
}

pub struct EntryRow {
    pub at: String,
    pub kind: String,
    pub points: String,
    pub positive: bool,
}

pub struct ProgramCard {
    pub card: PointsCard,
    pub rewards: Vec<RewardRow>,
    pub entries: Vec<EntryRow>,
}

#[derive(Template)]
#[template(path = "portal_points.html")]
struct PointsPage {
    frame: Frame,
    layout: Layout,
    programs: Vec<ProgramCard>,
    referral: String,
    /// The programs' referral links (their web form with the code).
    links: Vec<String>,
    notice: Option<String>,
    problem: Option<String>,
}

async fn points_page(
    state: &AppState,
    signed: &Signed,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let (memberships, code) = customer::loyalty(&state.db, &signed.customer, lang).await?;
    let cards = points_cards(lang, &memberships);
    let programs = memberships
        .iter()
        .zip(cards)
        .map(|(m, card)| ProgramCard {
            card,
            rewards: m
                .rewards
                .iter()
                .map(|r| RewardRow {
                    action: format!("/portal/points/{}/redeem/{}", m.program.id, r.id),
                    name: r.name(lang).to_string(),
                    points: format_number(lang, &r.definition.points.to_string()),
                    affordable: m.member.balance >= r.definition.points,
                })
                .collect(),
            entries: m
                .entries
                .iter()
                .map(|e| EntryRow {
                    at: when(state, lang, Some(&e.at)),
                    kind: t(lang, &format!("loyalty-entry-{}", e.kind)),
                    points: format_number(lang, &e.points.to_string()),
                    positive: e.points > 0,
                })
                .collect(),
        })
        .collect();
    let base = peyvand_crm::automation::mail::public_url(&state.db).await?;
    let links = memberships
        .iter()
        .filter_map(|m| m.program.definition.referral_form.as_ref().map(|f| format!("{base}/f/{f}?ref={code}")))
        .collect();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = PointsPage {
        layout: layout(),
        frame: frame(state, signed, "/portal/points").await,
        programs,
        referral: code,
        links,
        notice,
        problem,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /portal/points`: balances, tiers, rewards, latest entries and the referral link.
pub async fn points(State(state): State<AppState>, signed: Signed) -> Response {
    points_page(&state, &signed, None, None).await.unwrap_or_else(fail)
}

/// `POST /portal/points/{program}/redeem/{reward}`.
pub async fn redeem(
    State(state): State<AppState>,
    Path((program, reward)): Path<(String, String)>,
    SignedForm(signed, _): SignedForm,
) -> Response {
    let lang = current_lang();
    let result = async {
        match customer::redeem(&state.db, &signed.customer, &program, &reward).await {
            Ok(r) => {
                let notice = match &r.code {
                    Some(code) => crate::i18n::t_args(lang, "portal-redeemed-code", &[("code", code.clone())]),
                    None => t(lang, "portal-redeemed"),
                };
                points_page(&state, &signed, Some(notice), None).await
            }
            Err(StoreError::Validation(errors) | StoreError::Conflict { details: errors, .. })
                if !errors.is_empty() =>
            {
                points_page(&state, &signed, None, Some(errors_text(&errors).join(" "))).await
            }
            Err(StoreError::Conflict { code, .. }) => {
                points_page(&state, &signed, None, Some(field_error_message(lang, code, &Json::Null))).await
            }
            Err(e) => Err(ApiError::from(e)),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---- Profile ----

pub struct ConsentRow {
    pub channel: String,
    pub label: String,
    pub granted: bool,
    pub status: String,
}

#[derive(Template)]
#[template(path = "portal_profile.html")]
struct ProfilePage {
    frame: Frame,
    layout: Layout,
    email: String,
    phone: String,
    has_password: bool,
    consents: Vec<ConsentRow>,
    notice: Option<String>,
    problem: Option<String>,
}

async fn profile_page(
    state: &AppState,
    signed: &Signed,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let a = &signed.customer.account;
    let standing = consent::of_contact(&state.db, &signed.customer.contact).await?;
    let consents = consent::CHANNELS
        .iter()
        .map(|ch| {
            let found = standing.iter().find(|s| s.channel == *ch);
            let status = found.map(|s| s.status.clone()).unwrap_or_else(|| "none".into());
            ConsentRow {
                channel: ch.to_string(),
                label: t(lang, &format!("consent-channel-{ch}")),
                granted: matches!(status.as_str(), "granted" | "pending"),
                status: t(lang, &format!("consent-{status}")),
            }
        })
        .collect();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = ProfilePage {
        layout: layout(),
        frame: frame(state, signed, "/portal/profile").await,
        email: a.email.clone().unwrap_or_default(),
        phone: a.phone.as_deref().map(|p| super::display::format_phone(lang, p)).unwrap_or_default(),
        has_password: a.has_password,
        consents,
        notice,
        problem,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /portal/profile`: addresses, password, language and consent per channel.
pub async fn profile(State(state): State<AppState>, signed: Signed) -> Response {
    profile_page(&state, &signed, None, None).await.unwrap_or_else(fail)
}

/// `POST /portal/profile/consent`: each channel ticked or not; a change is recorded in the
/// consent history with the source `portal`.
pub async fn save_consent(State(state): State<AppState>, SignedForm(signed, pairs): SignedForm) -> Response {
    let lang = current_lang();
    let result = async {
        let standing = consent::of_contact(&state.db, &signed.customer.contact).await?;
        for ch in consent::CHANNELS {
            let wanted = pairs.iter().any(|(k, v)| k == "channel" && v == ch);
            let now = standing.iter().find(|s| s.channel == ch).map(|s| s.status.as_str()).unwrap_or("unknown");
            let has = matches!(now, "granted" | "pending");
            if wanted == has {
                continue;
            }
            let input = consent::ConsentInput {
                channel: ch.to_string(),
                status: if wanted { "granted".into() } else { "withdrawn".into() },
                source: "portal".into(),
                consent_text: wanted.then(|| t(lang, "portal-consent-text")),
            };
            consent::set(&state.db, &signed.customer.contact, &input, None).await?;
        }
        profile_page(&state, &signed, Some(t(lang, "portal-saved")), None).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /portal/profile/password`: sets the password the customer signs in with from now on.
pub async fn save_password(State(state): State<AppState>, SignedForm(signed, pairs): SignedForm) -> Response {
    let lang = current_lang();
    let password = field(&pairs, "password");
    let result = async {
        if password.chars().count() < crate::auth::MIN_PASSWORD_CHARS {
            let problem =
                field_error_message(lang, "too_short", &serde_json::json!({ "min": crate::auth::MIN_PASSWORD_CHARS }));
            return profile_page(&state, &signed, None, Some(problem)).await;
        }
        let hash = crate::auth::hash_password(password)?;
        sign_in::set_password(&state.db, &signed.customer.account.id, &hash).await?;
        let mut signed = signed;
        signed.customer.account.has_password = true;
        profile_page(&state, &signed, Some(t(lang, "portal-saved")), None).await
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---- The staff side: a contact's portal account on their page ----

pub struct AccountView {
    pub status: String,
    pub disabled: bool,
    pub addresses: String,
    pub last: String,
}

#[derive(Template)]
#[template(path = "portal_staff_panel.html")]
struct StaffPanel {
    tr: super::admin::Words,
    csrf: String,
    contact: String,
    writer: bool,
    account: Option<AccountView>,
    company_access: bool,
    message: String,
}

async fn staff_panel_html(
    state: &AppState,
    session: &super::Session,
    contact: &str,
    message: String,
) -> Result<String, ApiError> {
    let lang = current_lang();
    let account = peyvand_crm::portal::account_of_contact(&state.db, contact).await?;
    let view = account.as_ref().map(|a| AccountView {
        status: t(lang, &format!("portal-status-{}", a.status)),
        disabled: a.status == "disabled",
        addresses: [a.email.clone(), a.phone.as_deref().map(|p| super::display::format_phone(lang, p))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
        last: when(state, lang, a.last_sign_in_at.as_deref()),
    });
    StaffPanel {
        tr: super::admin::Words::new(lang),
        csrf: session.csrf.clone(),
        contact: super::session::encode(contact),
        writer: session.user.role.allows(peyvand_records::access::Action::WriteRecords),
        company_access: account.as_ref().is_some_and(|a| a.company_access),
        account: view,
        message,
    }
    .render()
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The portal panel of a contact's page: their account, and for those who write, invite,
/// disable or enable it.
pub async fn staff_panel(
    state: &AppState,
    session: &super::Session,
    record: &peyvand_store::records::Record,
) -> Result<String, ApiError> {
    staff_panel_html(state, session, &record.id, String::new()).await
}

/// `POST /records/contact/{id}/portal`: `action` invite (again), disable or enable, with
/// `company_access`.
pub async fn staff_change(
    State(state): State<AppState>,
    Path(contact): Path<String>,
    super::CsrfForm(session, pairs): super::CsrfForm,
) -> Response {
    let result = async {
        super::admin::require(&session, peyvand_records::access::Action::WriteRecords)?;
        let scoped = session.scoped(state.clone());
        let company_access = field(&pairs, "company_access") == "1";
        let done = match field(&pairs, "action") {
            "invite" => {
                peyvand_crm::portal::invite(&scoped.db, Some(&session.user.id), &contact, company_access, true).await
            }
            "disable" => peyvand_crm::portal::set_status(&scoped.db, &contact, false, Some(company_access)).await,
            "enable" => peyvand_crm::portal::set_status(&scoped.db, &contact, true, Some(company_access)).await,
            _ => return Err(ApiError::BadRequest { code: "bad_action", detail: "invite, disable or enable".into() }),
        };
        match done {
            Ok(_) => {
                Ok(Redirect::to(&format!("/records/contact/{}#portal", super::session::encode(&contact)))
                    .into_response())
            }
            Err(StoreError::Validation(errors)) => {
                let html = staff_panel_html(&scoped, &session, &contact, errors_text(&errors).join(" ")).await?;
                Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::response::Html(html)).into_response())
            }
            Err(e) => Err(ApiError::from(e)),
        }
    }
    .await;
    result.unwrap_or_else(super::records::fail)
}

// ---- The admin's page: sign-up, brand and host ----

#[derive(Template)]
#[template(path = "admin_portal.html")]
struct AdminPage {
    layout: Layout,
    tr: super::admin::Words,
    sign_up: bool,
    colour: String,
    host: String,
    has_logo: bool,
    errors: Vec<String>,
    saved: bool,
}

async fn admin_page(
    state: &AppState,
    session: &super::Session,
    shown: Option<peyvand_crm::portal::Settings>,
    errors: Vec<String>,
    saved: bool,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let settings = match shown {
        Some(s) => s,
        None => peyvand_crm::portal::settings(&state.db).await?,
    };
    let catalog = state.db.visible_catalog().await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = AdminPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: super::admin::Words::new(lang),
        sign_up: settings.sign_up,
        colour: settings.colour.unwrap_or_default(),
        host: settings.host.unwrap_or_default(),
        has_logo: peyvand_crm::portal::logo(&state.db).await?.is_some(),
        errors,
        saved,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /admin/portal` (admins).
pub async fn admin_settings(State(state): State<AppState>, session: super::Session) -> Response {
    let result = async {
        super::admin::require(&session, peyvand_records::access::Action::ManageSchema)?;
        admin_page(&state, &session, None, Vec::new(), false).await
    }
    .await;
    result.unwrap_or_else(super::records::fail)
}

/// `POST /admin/portal` (multipart: csrf first, then sign_up, colour, host, logo, remove_logo).
pub async fn save_admin_settings(
    State(state): State<AppState>,
    session: super::Session,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let result = async {
        super::admin::require(&session, peyvand_records::access::Action::ManageSchema)?;
        let (mut fields, mut logo, mut checked) = (HashMap::new(), None, false);
        while let Some(part) = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::BadRequest { code: "bad_upload", detail: e.body_text() })?
        {
            let name = part.name().unwrap_or("").to_string();
            if name == "csrf" {
                if let Err(refused) = super::check_csrf(&session, &headers, &part.text().await.unwrap_or_default()) {
                    return Ok(refused);
                }
                checked = true;
            } else if !checked {
                return Ok(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"));
            } else if name == "logo" {
                let bytes = part
                    .bytes()
                    .await
                    .map_err(|e| ApiError::BadRequest { code: "bad_upload", detail: e.body_text() })?;
                logo = Some(bytes.to_vec()).filter(|b| !b.is_empty());
            } else {
                fields.insert(name, part.text().await.unwrap_or_default());
            }
        }
        if !checked {
            return Ok(super::error_page(StatusCode::FORBIDDEN, "error-forbidden"));
        }
        let get = |k: &str| fields.get(k).cloned().filter(|v| !v.trim().is_empty());
        let input = peyvand_crm::portal::Settings {
            sign_up: get("sign_up").is_some(),
            colour: get("colour"),
            host: get("host"),
        };
        let mut errors = Vec::new();
        match peyvand_crm::portal::save_settings(&state.db, &input).await {
            Ok(_) => {}
            Err(StoreError::Validation(e)) => errors.extend(e),
            Err(e) => return Err(ApiError::from(e)),
        }
        let logo_change = if get("remove_logo").is_some() { Some(Vec::new()) } else { logo };
        if let Some(bytes) = logo_change {
            match peyvand_crm::portal::save_logo(&state.db, &bytes).await {
                Ok(()) => {}
                Err(StoreError::Validation(e)) => errors.extend(e),
                Err(e) => return Err(ApiError::from(e)),
            }
        }
        if errors.is_empty() {
            crate::portal_host::forget(&state);
            admin_page(&state, &session, None, Vec::new(), true).await
        } else {
            let lang = current_lang();
            let texts = errors.iter().map(|e| field_error_message(lang, e.code, &e.params)).collect();
            admin_page(&state, &session, Some(input), texts, false).await
        }
    }
    .await;
    result.unwrap_or_else(super::records::fail)
}
