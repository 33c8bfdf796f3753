//! Single sign-on with OpenID Connect: the authorization code flow with PKCE, for a provider an
//! operator names in the settings (`sso_issuer`, `sso_client_id`, …). `/login/sso` sends the
//! browser to the provider; `/login/sso/callback` takes its answer, checks it and signs the user
//! in as a password would (two-factor sign-in included, for whoever has it on).
//!
//! **Checks** (the `openidconnect` crate does the protocol's; this module decides what they mean
//! here): the state is the one this browser was given (a cookie binds it) and is taken once; the
//! code is exchanged with the PKCE verifier; the ID token is signed by one of the provider's
//! published keys (fetched again once when the key is unknown: providers rotate them), issued by
//! the configured issuer, for this client, not expired, with this sign-in's nonce, and its
//! `at_hash` (if any) matches the access token. The user is found by the provider's subject once
//! linked, else by a verified e-mail (`store::single_sign_on`). Every refusal is in the security
//! log with its reason; nothing is changed by one.

use super::session::{cookie_of, encode, safe_next, start_session};
use crate::AppState;
use crate::auth::cookie;
use crate::error::{ApiError, current_lang};
use crate::i18n::{t, t_args};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use peyvand_records::access::Role;
use peyvand_store::security::Kind;
use peyvand_store::single_sign_on::{Identity, Matched, Waiting};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The cookie that binds a sign-in under way to this browser (ten minutes; `Lax`, since the
/// provider sends the browser back with a cross-site navigation).
const BROWSER_COOKIE: &str = "peyvand_sso";
/// How long the provider's metadata and keys are kept before being fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// Largest answer taken from the provider.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The operator's settings for single sign-on.
#[derive(Clone, Debug)]
pub struct SsoConfig {
    /// The provider's issuer URL (its discovery document is under `/.well-known/`).
    pub issuer: String,
    pub client_id: String,
    /// None for a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// Peyvand's own address as browsers reach it (`https://crm.example.com`): the redirect URI
    /// registered at the provider is this with `/login/sso/callback`.
    pub public_url: String,
    /// The role of a user created at their first sign-in; None: only existing users sign in.
    pub create_role: Option<Role>,
    /// The button's words ("Sign in with …"); default: the page's own words for it.
    pub label: Option<String>,
    /// Match users by an e-mail the provider sends without `email_verified` (a provider that
    /// vouches for every address it sends, e.g. one whose users cannot set their own). Off: only
    /// an e-mail marked verified is matched.
    pub trust_email: bool,
}

impl SsoConfig {
    fn redirect_url(&self) -> String {
        format!("{}/login/sso/callback", self.public_url.trim_end_matches('/'))
    }
}

/// Single sign-on as a running server has it: the settings, an HTTP client that follows no
/// redirects, and the provider's metadata once fetched.
pub struct SingleSignOn {
    pub config: SsoConfig,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl std::fmt::Debug for SingleSignOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleSignOn").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Why a provider's answer was not taken; its `reason` goes to the security log.
#[derive(Debug)]
struct Refused {
    status: StatusCode,
    message: &'static str,
    reason: String,
}

fn refused(status: StatusCode, message: &'static str, reason: impl Into<String>) -> Refused {
    Refused { status, message, reason: reason.into() }
}

impl SingleSignOn {
    /// Checks the settings (the URLs parse) and makes the client; the provider is first asked
    /// at the first sign-in, so a provider down does not stop the server.
    pub fn new(config: SsoConfig) -> Result<Arc<SingleSignOn>, String> {
        IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("sso_issuer: {e}"))?;
        RedirectUrl::new(config.redirect_url()).map_err(|e| format!("sso_public_url: {e}"))?;
        if config.client_id.trim().is_empty() {
            return Err("sso_client_id is empty".into());
        }
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer send requests elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Arc::new(SingleSignOn { config, http, metadata: tokio::sync::Mutex::new(None) }))
    }

    /// The provider's metadata and keys: kept for [`METADATA_TTL`], or fetched now (`fresh`).
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, Refused> {
        let mut kept = self.metadata.lock().await;
        if !fresh
            && let Some((at, metadata)) = kept.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| refused(StatusCode::BAD_GATEWAY, "sso-unreachable", e.to_string()))?;
        let client = self.http.clone();
        let exchange = move |request| send(client.clone(), request);
        let metadata = CoreProviderMetadata::discover_async(issuer, &exchange)
            .await
            .map_err(|e| refused(StatusCode::BAD_GATEWAY, "sso-unreachable", format!("discovery: {e}")))?;
        *kept = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Refused,
    > {
        let redirect = RedirectUrl::new(self.config.redirect_url())
            .map_err(|e| refused(StatusCode::INTERNAL_SERVER_ERROR, "sso-unreachable", e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Exchanges the code and checks the ID token: the identity the provider vouches for.
    async fn identity(&self, code: &str, waiting: &Waiting) -> Result<Identity, Refused> {
        let untrusted = |reason: String| refused(StatusCode::UNAUTHORIZED, "sso-untrusted", reason);
        let mut client = self.client(self.metadata(false).await?)?;
        let http = self.http.clone();
        let exchange = move |request| send(http.clone(), request);
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| untrusted(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(waiting.verifier.clone()))
            .request_async(&exchange)
            .await
            .map_err(|e| untrusted(format!("code exchange: {e}")))?;
        let id_token = answer.id_token().ok_or_else(|| untrusted("no ID token".into()))?;
        let nonce = Nonce::new(waiting.nonce.clone());
        let first = id_token.claims(&client.id_token_verifier(), &nonce).cloned();
        let claims = match first {
            Ok(claims) => claims,
            // A key the provider published after the metadata was fetched: fetch it again, once.
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                client = self.client(self.metadata(true).await?)?;
                let claims = id_token.claims(&client.id_token_verifier(), &nonce);
                claims.map_err(|e| untrusted(format!("ID token: {e}")))?.clone()
            }
            Err(e) => return Err(untrusted(format!("ID token: {e}"))),
        };
        let verifier = client.id_token_verifier();
        if let Some(expected) = claims.access_token_hash() {
            let algorithm = id_token.signing_alg().map_err(|e| untrusted(format!("ID token: {e}")))?;
            let key = id_token.signing_key(&verifier).map_err(|e| untrusted(format!("ID token: {e}")))?;
            let actual = AccessTokenHash::from_token(answer.access_token(), algorithm, key)
                .map_err(|e| untrusted(format!("at_hash: {e}")))?;
            if actual != *expected {
                return Err(untrusted("at_hash does not match the access token".into()));
            }
        }
        Ok(Identity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()).unwrap_or_default(),
        })
    }
}

/// One HTTP exchange with the provider, as `openidconnect` asks for it.
async fn send(
    client: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpFailed> {
    let (parts, body) = request.into_parts();
    let answer = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpFailed(e.to_string()))?;
    let mut response = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    if answer.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(HttpFailed("answer too large".into()));
    }
    let bytes = answer.bytes().await.map_err(|e| HttpFailed(e.to_string()))?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(HttpFailed("answer too large".into()));
    }
    response.body(bytes.to_vec()).map_err(|e| HttpFailed(e.to_string()))
}

/// A failed exchange with the provider.
#[derive(Debug)]
struct HttpFailed(String);

impl std::fmt::Display for HttpFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpFailed {}

#[derive(Deserialize)]
pub struct StartParams {
    #[serde(default)]
    next: String,
}

/// Sends the browser to the provider, remembering the sign-in (state, nonce, PKCE verifier)
/// bound to a cookie of this browser.
pub async fn start(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<StartParams>,
) -> Response {
    let Some(sso) = state.sso.clone() else { return super::error_page(StatusCode::NOT_FOUND, "error-not-found") };
    let client = match sso.metadata(false).await.and_then(|m| sso.client(m)) {
        Ok(client) => client,
        Err(r) => return refusal(&state, &headers, r, None).await,
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = match peyvand_store::accounts::random_secret() {
        Ok(secret) => secret,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let waiting = Waiting {
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        next: safe_next(&q.next).to_string(),
    };
    let client = crate::client::client_addr(&headers, addr.ip(), &state.config.trusted_proxies).to_string();
    match state.db.start_sso(&browser, csrf.secret(), &waiting, &client).await {
        Ok(true) => {}
        Ok(false) => return super::error_page(StatusCode::SERVICE_UNAVAILABLE, "sso-busy"),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie_of(&state, &headers, BROWSER_COOKIE, &browser, "Lax", 600));
    response
}

#[derive(Deserialize)]
pub struct CallbackParams {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// The provider's answer: checked, then the user signs in (or is told why not).
pub async fn callback(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<CallbackParams>) -> Response {
    let Some(sso) = state.sso.clone() else { return super::error_page(StatusCode::NOT_FOUND, "error-not-found") };
    let browser = cookie(&headers, BROWSER_COOKIE).unwrap_or_default();
    let waiting = match state.db.take_sso(&browser, &q.state).await {
        Ok(Some(waiting)) => waiting,
        Ok(None) => {
            let r = refused(
                StatusCode::BAD_REQUEST,
                "sso-state-refused",
                "state unknown, used, late or from another browser",
            );
            return refusal(&state, &headers, r, None).await;
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !q.error.is_empty() {
        let r = refused(StatusCode::UNAUTHORIZED, "sso-provider-refused", format!("provider: {}", short(&q.error)));
        return refusal(&state, &headers, r, None).await;
    }
    let identity = match sso.identity(&q.code, &waiting).await {
        Ok(identity) => identity,
        Err(r) => return refusal(&state, &headers, r, None).await,
    };
    let create = sso.config.create_role.map(|role| (role, current_lang()));
    let matched = state.db.sso_user(&identity, create, sso.config.trust_email).await;
    let email = identity.email.clone().unwrap_or_default();
    let user = match matched {
        Ok(Matched::User(user)) => user,
        Ok(Matched::NoUser) => {
            let r = refused(StatusCode::FORBIDDEN, "sso-no-user", "no user with this e-mail");
            return refusal(&state, &headers, r, Some(&email)).await;
        }
        Ok(Matched::Inactive) => {
            let r = refused(StatusCode::FORBIDDEN, "sso-inactive", "user deactivated");
            return refusal(&state, &headers, r, Some(&email)).await;
        }
        Ok(Matched::EmailUnverified) => {
            let r = refused(StatusCode::FORBIDDEN, "sso-email-unverified", "e-mail missing or not verified");
            return refusal(&state, &headers, r, Some(&email)).await;
        }
        Ok(Matched::LinkedElsewhere) => {
            let r = refused(StatusCode::FORBIDDEN, "sso-linked-elsewhere", "user linked to another subject");
            return refusal(&state, &headers, r, Some(&email)).await;
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let details = json!({ "method": "sso", "issuer": identity.issuer });
    state.db.log_security(Kind::SignIn, Some(&user.id), Some(&user.id), None, details).await;
    let mut response = match state.db.two_factor_enabled(&user.id).await {
        Ok(true) => super::two_factor::ask_for_code(&state, &headers, &user.id, &waiting.next).await,
        Ok(false) => start_session(&state, &headers, &user.id, &waiting.next).await,
        Err(e) => ApiError::from(e).into_response(),
    };
    response.headers_mut().append(header::SET_COOKIE, cookie_of(&state, &headers, BROWSER_COOKIE, "", "Lax", 0));
    response
}

fn short(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// The sign-in page again, saying why; the reason goes to the security log.
async fn refusal(state: &AppState, headers: &HeaderMap, r: Refused, email: Option<&str>) -> Response {
    tracing::info!(reason = %r.reason, "single sign-on refused");
    let details = json!({ "method": "sso", "reason": short(&r.reason), "email": email.map(short) });
    state.db.log_security(Kind::SignInFailed, None, None, None, details).await;
    let lang = current_lang();
    let message = match email {
        Some(email) if r.message == "sso-no-user" => t_args(lang, r.message, &[("email", short(email))]),
        _ => t(lang, r.message),
    };
    let mut response = (r.status, super::session::login_with_error(state, "", "/", message)).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie_of(state, headers, BROWSER_COOKIE, "", "Lax", 0));
    response
}

/// The link on the sign-in page, when single sign-on is set up.
pub fn sign_in_link(state: &AppState, next: &str) -> Option<(String, String)> {
    state.sso.as_ref().map(|sso| {
        let label = sso.config.label.clone().unwrap_or_else(|| t(current_lang(), "sso-sign-in"));
        (format!("/login/sso?next={}", encode(next)), label)
    })
}
