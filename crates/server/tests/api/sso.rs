//! Issue 25, item 6: single sign-on with OpenID Connect (authorization code with PKCE), against
//! a small OpenID provider this test starts itself (discovery, keys, authorization and token
//! endpoints; it checks the client, the redirect and the PKCE verifier as a real one does, and
//! can be told to answer wrongly). Users are matched by e-mail, then by subject; a new user can
//! be created with a default role; an answer with a wrong issuer, audience, nonce or signature,
//! an expired one, a state from another browser and a replayed state are refused with a clear
//! message and sign nobody in.
//!
//! The two keys in `tests/fixtures/oidc-*.pem` were made for this test (`openssl genrsa`) and
//! sign nothing else.

use crate::helpers::{Backend, TestApp, browser, problem};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
    CoreRsaPrivateSigningKey, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessToken, Audience, AuthUrl, EmptyAdditionalClaims, EmptyAdditionalProviderMetadata, EndUserEmail, IssuerUrl,
    JsonWebKeyId, JsonWebKeySetUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, PrivateSigningKey, ResponseTypes,
    StandardClaims, SubjectIdentifier, TokenUrl,
};
use peyvand_records::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "peyvand-test";
const CLIENT_SECRET: &str = "provider-given secret";
/// Peyvand's address as the provider knows it (the test maps it onto the server's real one).
const PUBLIC_URL: &str = "http://peyvand.test";
const KEY: &str = include_str!("../fixtures/oidc-provider-key.pem");
const OTHER_KEY: &str = include_str!("../fixtures/oidc-other-key.pem");

/// How the provider answers the next sign-ins.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Right,
    WrongIssuer,
    WrongAudience,
    WrongNonce,
    /// Signed by a key that is not the provider's, under the provider's key id.
    ForgedSignature,
    Expired,
    /// The user said no at the provider.
    Denied,
    /// The provider now signs with a new key (new id) that Peyvand has not fetched yet.
    RotatedKey,
}

struct Grant {
    nonce: String,
    challenge: String,
    redirect: String,
}

struct ProviderState {
    base: String,
    answer: Answer,
    subject: String,
    email: String,
    email_verified: Option<bool>,
    grants: HashMap<String, Grant>,
}

type Shared = Arc<Mutex<ProviderState>>;

fn key(pem: &str, id: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(id.into()))).expect("test key")
}

async fn discovery(State(s): State<Shared>) -> Response {
    let base = s.lock().expect("lock").base.clone();
    let url = |p: &str| format!("{base}{p}");
    let metadata = CoreProviderMetadata::new(
        IssuerUrl::new(base.clone()).expect("issuer"),
        AuthUrl::new(url("/authorize")).expect("url"),
        JsonWebKeySetUrl::new(url("/jwks")).expect("url"),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/token")).expect("url")));
    axum::Json(metadata).into_response()
}

async fn jwks(State(s): State<Shared>) -> Response {
    let rotated = s.lock().expect("lock").answer == Answer::RotatedKey;
    let current = if rotated { key(OTHER_KEY, "k2") } else { key(KEY, "k1") };
    axum::Json(CoreJsonWebKeySet::new(vec![current.as_verification_key()])).into_response()
}

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = s.lock().expect("lock");
    let param = |k: &str| q.get(k).cloned().unwrap_or_default();
    assert_eq!(param("client_id"), CLIENT_ID);
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("code_challenge_method"), "S256", "PKCE with SHA-256");
    assert!(param("scope").split(' ').any(|p| p == "openid") && param("scope").contains("email"));
    let redirect = param("redirect_uri");
    assert_eq!(redirect, format!("{PUBLIC_URL}/login/sso/callback"));
    let state = param("state");
    if s.answer == Answer::Denied {
        return Redirect::to(&format!("{redirect}?error=access_denied&state={state}")).into_response();
    }
    let code = format!("code-{}", s.grants.len() + 1);
    let grant = Grant { nonce: param("nonce"), challenge: param("code_challenge"), redirect: redirect.clone() };
    s.grants.insert(code.clone(), grant);
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut s = s.lock().expect("lock");
    let param = |k: &str| form.get(k).cloned().unwrap_or_default();
    let pair = format!("{CLIENT_ID}:{}", form_encode(CLIENT_SECRET));
    let basic = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair));
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(basic.as_str());
    let Some(grant) = s.grants.remove(&param("code")) else {
        return (AxumStatus::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let verifier = PkceCodeVerifier::new(param("code_verifier"));
    let pkce_ok = PkceCodeChallenge::from_code_verifier_sha256(&verifier).as_str() == grant.challenge;
    if !authorized || !pkce_ok || param("redirect_uri") != grant.redirect || param("grant_type") != "authorization_code"
    {
        return (AxumStatus::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let now = chrono::Utc::now();
    let issuer = if s.answer == Answer::WrongIssuer { "https://impostor.example".to_string() } else { s.base.clone() };
    let audience = if s.answer == Answer::WrongAudience { "another-client" } else { CLIENT_ID };
    let nonce = if s.answer == Answer::WrongNonce { "another-sign-in".to_string() } else { grant.nonce };
    let (issued, expires) = if s.answer == Answer::Expired {
        (now - chrono::Duration::hours(2), now - chrono::Duration::hours(1))
    } else {
        (now, now + chrono::Duration::minutes(5))
    };
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).expect("issuer"),
        vec![Audience::new(audience.into())],
        expires,
        issued,
        StandardClaims::new(SubjectIdentifier::new(s.subject.clone()))
            .set_email(Some(EndUserEmail::new(s.email.clone())))
            .set_email_verified(s.email_verified),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let signer = match s.answer {
        Answer::ForgedSignature => key(OTHER_KEY, "k1"),
        Answer::RotatedKey => key(OTHER_KEY, "k2"),
        _ => key(KEY, "k1"),
    };
    let access = AccessToken::new(format!("access-{}", s.grants.len()));
    let id_token =
        CoreIdToken::new(claims, &signer, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, Some(&access), None)
            .expect("sign");
    axum::Json(json!({
        "access_token": access.secret(), "token_type": "Bearer", "expires_in": 300, "id_token": id_token.to_string()
    }))
    .into_response()
}

/// RFC 6749 2.3.1: the client id and secret are form-encoded before Basic authentication.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The provider, on a port of its own.
async fn start_provider() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shared = Arc::new(Mutex::new(ProviderState {
        base,
        answer: Answer::Right,
        subject: "subject-1".into(),
        email: "Rep.One@Test.Peyvand.ir".into(),
        email_verified: Some(true),
        grants: HashMap::new(),
    }));
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    shared
}

fn config(provider: &Shared, create: Option<Role>) -> peyvand_web::WebConfig {
    let sso = peyvand_web::html::sso::SsoConfig {
        issuer: provider.lock().expect("lock").base.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        public_url: PUBLIC_URL.into(),
        create_role: create,
        label: None,
        trust_email: false,
    };
    peyvand_web::WebConfig { sso: Some(sso), ..Default::default() }
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// A sign-in through the provider up to its answer: the callback URL (on the real server).
async fn to_provider_and_back(app: &TestApp, page: &reqwest::Client) -> String {
    let start = page.get(app.url("/login/sso?next=/records/company")).send().await.expect("send");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let cookie = start.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(cookie.starts_with("peyvand_sso=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let at_provider = page.get(location(&start)).send().await.expect("provider");
    assert_eq!(at_provider.status(), StatusCode::SEE_OTHER, "the provider sends the browser back");
    let back = location(&at_provider);
    let path = back.strip_prefix(PUBLIC_URL).expect("back to Peyvand");
    app.url(path)
}

/// The callback's answer: where it sends the browser, or the page that says why not.
async fn finish(page: &reqwest::Client, callback: &str) -> (StatusCode, String, String) {
    let r = page.get(callback).send().await.expect("callback");
    let status = r.status();
    let to = location(&r);
    (status, to, r.text().await.expect("body"))
}

/// Whether `page` holds a session (a signed-in page answers; otherwise it sends to sign-in).
async fn signed_in(app: &TestApp, page: &reqwest::Client) -> bool {
    let r = page.get(app.url("/settings/security")).send().await.expect("send");
    r.status() == StatusCode::OK
}

async fn log(app: &TestApp, kind: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/security_log?kind={kind}")).await;
    r.json::<Value>().await.expect("json")["entries"].as_array().cloned().unwrap_or_default()
}

async fn existing_users_sign_in_and_answers_are_checked(backend: Backend) {
    let provider = start_provider().await;
    let Some(app) = TestApp::spawn_with(backend, config(&provider, None)).await else { return };
    let login = app.client.get(app.url("/login?next=/records/company")).send().await.expect("send");
    let login = login.text().await.expect("html");
    assert!(login.contains("href=\"/login/sso?next=/records/company\""), "the sign-in page offers it: {login}");

    // Nobody has the e-mail yet, and creating users is off.
    let page = browser();
    let back = to_provider_and_back(&app, &page).await;
    let (status, _, html) = finish(&page, &back).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("rep.one@test.peyvand.ir") || html.contains("Rep.One@Test.Peyvand.ir"), "{html}");
    assert!(!signed_in(&app, &page).await);

    // The user exists (the e-mail matches whatever its case): signed in, and sent on.
    let (rep_id, _) = app.user_id_with_role("rep.one@test.peyvand.ir", "agent").await;
    let page = browser();
    let back = to_provider_and_back(&app, &page).await;
    let (status, to, _) = finish(&page, &back).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/records/company"));
    assert!(signed_in(&app, &page).await, "a session");
    let sign_ins = log(&app, "sign_in").await;
    assert!(sign_ins.iter().any(|e| e["subject"] == json!(rep_id) && e["details"]["method"] == "sso"), "{sign_ins:?}");

    // The same answer again (a replayed state and code) signs nobody in.
    let again = browser();
    let (status, _, html) = finish(&again, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("did not start in this browser") || html.contains("در این مرورگر آغاز نشده"), "{html}");

    // A state from another browser: refused there, and still good in the browser that started it.
    let victim = browser();
    let victims_answer = to_provider_and_back(&app, &victim).await;
    let attacker = browser();
    let (status, _, _) = finish(&attacker, &victims_answer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!signed_in(&app, &attacker).await);
    let (status, _, _) = finish(&victim, &victims_answer).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the sign-in goes on in its own browser");

    // Answers that cannot be trusted: each refused, nobody signed in, the reason logged.
    for (answer, why) in [
        (Answer::WrongIssuer, "issuer"),
        (Answer::WrongAudience, "audience"),
        (Answer::WrongNonce, "nonce"),
        (Answer::ForgedSignature, "signature"),
        (Answer::Expired, "expired"),
    ] {
        provider.lock().expect("lock").answer = answer;
        let page = browser();
        let back = to_provider_and_back(&app, &page).await;
        let (status, to, html) = finish(&page, &back).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer:?} → {to}");
        assert!(html.contains("could not be trusted") || html.contains("قابل اعتماد نبود"), "{answer:?}: {html}");
        assert!(!signed_in(&app, &page).await, "{answer:?}");
        let failures = log(&app, "sign_in_failed").await;
        let reason = failures[0]["details"]["reason"].as_str().unwrap_or_default().to_lowercase();
        assert!(reason.contains(why), "{answer:?}: {reason}");
    }
    // The user says no at the provider.
    provider.lock().expect("lock").answer = Answer::Denied;
    let page = browser();
    let (status, _, html) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("did not sign you in") || html.contains("شما را وارد نکرد"), "{html}");

    // The provider rotates its key: Peyvand fetches the new one and the sign-in works.
    provider.lock().expect("lock").answer = Answer::RotatedKey;
    let page = browser();
    let (status, to, _) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/records/company"));

    // An e-mail the provider did not verify is not matched; nor is a deactivated user.
    provider.lock().expect("lock").answer = Answer::Right;
    {
        let mut p = provider.lock().expect("lock");
        p.subject = "subject-2".into();
        p.email = "unverified@test.peyvand.ir".into();
        p.email_verified = Some(false);
    }
    app.user_id_with_role("unverified@test.peyvand.ir", "agent").await;
    let page = browser();
    let (status, _, _) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor one the provider sends without saying whether it verified it.
    provider.lock().expect("lock").email_verified = None;
    let page = browser();
    let (status, _, html) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("did not confirm") || html.contains("تأیید نکرد"), "{html}");
    {
        let mut p = provider.lock().expect("lock");
        p.subject = "subject-1".into();
        p.email_verified = Some(true);
    }
    let r = app.patch(&format!("/api/v1/users/{rep_id}"), json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = browser();
    let (status, _, html) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("deactivated") || html.contains("غیرفعال"), "{html}");
    app.stop().await;
}

async fn new_users_are_created_and_linked_by_subject(backend: Backend) {
    let provider = start_provider().await;
    let Some(app) = TestApp::spawn_with(backend, config(&provider, Some(Role::ReadOnly))).await else { return };
    {
        let mut p = provider.lock().expect("lock");
        p.email = "newcomer@test.peyvand.ir".into();
        p.subject = "newcomer".into();
    }
    let page = browser();
    let (status, _, _) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let users: Value = app.get("/api/v1/users").await.json().await.expect("json");
    let newcomer = users["users"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == "newcomer@test.peyvand.ir").cloned())
        .expect("created");
    assert_eq!(newcomer["role"], "read_only", "with the default role");
    // The new user has no password: the password form does not sign them in.
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"email": "newcomer@test.peyvand.ir", "password": "!sso"}))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::UNAUTHORIZED).await;

    // The provider changes the user's e-mail: the subject still finds the same user.
    provider.lock().expect("lock").email = "renamed@test.peyvand.ir".into();
    let page = browser();
    let (status, _, _) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let users: Value = app.get("/api/v1/users").await.json().await.expect("json");
    assert!(!users["users"].as_array().expect("users").iter().any(|u| u["email"] == "renamed@test.peyvand.ir"));

    // Another subject claiming the linked user's e-mail is not let in as them.
    {
        let mut p = provider.lock().expect("lock");
        p.email = "newcomer@test.peyvand.ir".into();
        p.subject = "someone-else".into();
    }
    let page = browser();
    let (status, _, html) = finish(&page, &to_provider_and_back(&app, &page).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("another account") || html.contains("حساب دیگری"), "{html}");
    app.stop().await;
}

/// A provider that cannot be reached: the sign-in page says so; the password still works.
async fn a_provider_down_is_said_plainly(backend: Backend) {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let provider = start_provider().await;
    provider.lock().expect("lock").base = base;
    let Some(app) = TestApp::spawn_with(backend, config(&provider, None)).await else { return };
    let r = browser().get(app.url("/login/sso")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let html = r.text().await.expect("html");
    assert!(html.contains("cannot be reached") || html.contains("دسترسی نیست"), "{html}");
    assert!(html.contains("name=\"password\""), "the password form is there");
    let r = app.send_as(&app.token, Method::GET, "/api/v1/users", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

/// Without settings there is no single sign-on: no link, and its paths are not found.
async fn off_without_settings(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let login = app.client.get(app.url("/login")).send().await.expect("send").text().await.expect("html");
    assert!(!login.contains("/login/sso"));
    let r = app.client.get(app.url("/login/sso")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.client.get(app.url("/login/sso/callback?code=x&state=y")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

macro_rules! sso_tests {
    ($($name:ident),*) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(super::Backend::Sqlite).await;
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name(super::Backend::Postgres).await;
                }
            }
        )*
    };
}

sso_tests!(
    existing_users_sign_in_and_answers_are_checked,
    new_users_are_created_and_linked_by_subject,
    a_provider_down_is_said_plainly,
    off_without_settings
);
