//! The web layer, the only crate that knows axum: the JSON API under `/api/v1`, the
//! server-rendered pages, authentication, languages, health checks.
//!
//! **API boundary:** handlers parse and authorize, then call the store's operations; HTML and
//! JSON handlers call the same operations, so a rule lives in one place.

pub mod admission;
pub mod api;
pub mod auth;
pub mod charts;
pub mod client;
pub mod error;
pub mod html;
pub mod i18n;
pub mod portal_host;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use peyvand_store::Db;
use std::cell::RefCell;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Settings of the web layer.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// How long a web session lasts.
    pub session_ttl: Duration,
    /// Mark cookies `Secure`: always, never, or (None) when the request did not come to a
    /// loopback host name.
    pub secure_cookies: Option<bool>,
    /// The offset in which times are shown (Iran: +03:30).
    pub display_offset: time::UtcOffset,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers name the client
    /// (`client::client_addr`); from any other peer those headers are ignored.
    pub trusted_proxies: Vec<client::IpNet>,
    /// Where files uploaded for import wait until their import ends (the server: `uploads` in
    /// the data directory); readable by this user alone.
    pub upload_dir: std::path::PathBuf,
    /// Most bytes of uploaded files one user may hold at once (uploaded, not yet imported).
    pub upload_quota_bytes: u64,
    /// How many requests are handled at once and how many wait (`admission`).
    pub admission: admission::Limits,
    /// Single sign-on's provider, if any (`html::sso`).
    pub sso: Option<html::sso::SsoConfig>,
    /// How soon another instance takes over the event consumers and jobs of one that stopped
    /// (none: the runner's defaults).
    pub takeover: Option<Duration>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            body_limit: 1024 * 1024,
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: None,
            display_offset: time::UtcOffset::from_hms(3, 30, 0).unwrap_or(time::UtcOffset::UTC),
            trusted_proxies: Vec::new(),
            upload_dir: std::env::temp_dir().join(format!("peyvand-uploads-{}", std::process::id())),
            upload_quota_bytes: html::imports::DEFAULT_UPLOAD_QUOTA_BYTES,
            admission: admission::Limits::default(),
            sso: None,
            takeover: None,
        }
    }
}

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: WebConfig,
    /// Single sign-on, when the settings name a provider.
    pub sso: Option<std::sync::Arc<html::sso::SingleSignOn>>,
    /// Web-form submissions in the last hour, by client address (`html::sales::WEB_FORM_LIMIT`).
    pub web_forms:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Vec<std::time::Instant>>>>,
    /// The portal's own host name as last read (`portal_host`).
    pub portal_host: portal_host::Kept,
}

impl AppState {
    /// The state of a server with these settings (single sign-on's are checked here).
    pub fn new(db: Db, config: WebConfig) -> Result<AppState, String> {
        let sso = config.sso.clone().map(html::sso::SingleSignOn::new).transpose()?;
        // The business's day (a deal's closing day, a number's year) is the one its pages show.
        db.set_local_offset(config.display_offset);
        Ok(AppState {
            db,
            config,
            sso,
            web_forms: std::sync::Arc::default(),
            portal_host: portal_host::Kept::default(),
        })
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Runs the request with its language set (from `Accept-Language`, else the `lang` cookie,
/// else Persian); authentication may refine it to the user's own choice.
async fn language(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let lang = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|h| h.to_str().ok())
        .and_then(i18n::pick_lang)
        .or_else(|| auth::cookie(headers, "lang").map(|l| i18n::lang_or_default(&l)))
        .unwrap_or(i18n::LANGS[0]);
    let prefs = i18n::Prefs {
        toman: auth::cookie(headers, "money").as_deref() == Some("toman"),
        dark: auth::cookie(headers, "theme").as_deref() == Some("dark"),
        collapsed: auth::cookie(headers, "sidebar").as_deref() == Some("collapsed"),
        compact: auth::cookie(headers, "density").as_deref() == Some("compact"),
    };
    i18n::PREFS.scope(prefs, error::LANG.scope(RefCell::new(lang), next.run(req))).await
}

/// A path holding U+0000 (`%00`) names nothing here: no route, object or record id has one,
/// and PostgreSQL could not even look such an id up. It is not found, on both backends.
async fn refuse_nul_paths(req: Request, next: Next) -> Response {
    if req.uri().path().contains("%00") {
        return html::not_found(req.uri().clone()).await;
    }
    next.run(req).await
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// What every answer tells the browser: run only this server's scripts and styles (no inline
/// ones: the pages have none, and htmx is told not to add its own), send forms only here,
/// never be framed, never guess a content type, and keep URLs (which hold filters) to this
/// site.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

/// What a public web form (`/f/…`) tells the browser instead: the same, except that any site
/// may frame it (the business embeds it in its own pages).
const EMBEDDABLE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; form-action 'self' http: https:; frame-ancestors *; base-uri 'none'; object-src 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let embeddable = req.uri().path().starts_with("/f/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        let value = match name {
            "content-security-policy" if embeddable => EMBEDDABLE_POLICY,
            "x-frame-options" if embeddable => continue,
            _ => value,
        };
        headers.insert(HeaderName::from_static(name), header::HeaderValue::from_static(value));
    }
    response
}

/// Answers compressed (gzip or brotli, as the client accepts), except what is compressed
/// already (fonts, images), small answers, and streams of events.
/// Text as HTML or SVG content or an attribute value, escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn compression() -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    let predicate = SizeAbove::new(512)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("font/"))
        .and(NotForContentType::const_new("application/zip"))
        .and(NotForContentType::const_new("application/vnd.openxmlformats"));
    tower_http::compression::CompressionLayer::new().compress_when(predicate)
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let admission = admission::Admission::new(state.config.admission);
    let portal = state.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/api/v1", api::router())
        .merge(html::router())
        .fallback(html::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(portal, portal_host::only_the_portal))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn(refuse_nul_paths))
        .layer(axum::middleware::from_fn_with_state(admission, admission::admit))
        .layer(from_fn(language))
        .layer(from_fn(security_headers))
        .layer(compression())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
