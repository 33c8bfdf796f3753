//! Authentication and authorization: Argon2id password hashes, session cookies with a CSRF
//! token, bearer API tokens, the role check, and the failed-login limit.

use crate::AppState;
use crate::error::{ApiError, set_lang};
use crate::i18n::{lang_or_default, pick_lang};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use peyvand_records::access::{Action, Role, Viewer};
use peyvand_store::accounts::User;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "peyvand_session";
/// The header carrying the CSRF token on unsafe requests made with a session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Failed sign-ins allowed per e-mail within [`LOGIN_WINDOW_MINUTES`].
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Failed sign-ins per client address within [`LOGIN_WINDOW_MINUTES`] after which each attempt
/// from it is slowed down (never refused: see `api::auth::check_login`).
pub const MAX_FAILURES_PER_IP: i64 = 20;
/// The longest an attempt from an address with many failures waits, in seconds.
pub const MAX_IP_DELAY_SECS: u64 = 10;
pub const LOGIN_WINDOW_MINUTES: i64 = 15;

fn argon2() -> Argon2<'static> {
    // OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password as an Argon2id PHC string.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing: {e}")))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the e-mail is unknown, so that the answer takes as long
/// either way.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// How the request was authenticated.
#[derive(Clone, Debug, PartialEq)]
pub enum Via {
    Token,
    /// A session cookie; the value is the session's CSRF token.
    Session {
        csrf: String,
    },
}

/// The signed-in user of a request.
#[derive(Clone, Debug)]
pub struct Authed {
    pub user: User,
    pub via: Via,
    /// What the user reaches (`peyvand_store::access`).
    pub viewer: Viewer,
}

impl Authed {
    /// The application as this user sees it: its database handle reaches only what the user
    /// may (every handler starts with this, so every store call it makes obeys the rules).
    pub fn scoped(&self, state: AppState) -> AppState {
        AppState { db: state.db.for_viewer(self.viewer.clone()), ..state }
    }
    /// Refuses the request unless the user's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.user.role.allows(action) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
    pub fn id(&self) -> Option<&str> {
        Some(self.user.id.as_str())
    }
    pub fn role(&self) -> Role {
        self.user.role
    }
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf } => csrf,
            Via::Token => "",
        }
    }
}

/// The value of a cookie in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Compares two secrets in time independent of where they differ.
/// The CSRF token as a page carries it: a fresh random mask and the token XORed with it, in hex.
/// No two answers carry the same bytes, so compressing a page that also echoes what a visitor
/// typed cannot be used to guess the token (BREACH).
pub fn mask_csrf(token: &str) -> String {
    let bytes = token.as_bytes();
    let mut mask = vec![0u8; bytes.len()];
    if getrandom::getrandom(&mut mask).is_err() {
        // No randomness: the token as it is (still checked as such).
        return token.to_string();
    }
    let masked: Vec<u8> = bytes.iter().zip(&mask).map(|(t, m)| t ^ m).collect();
    format!("{}{}", peyvand_store::hex(&mask), peyvand_store::hex(&masked))
}

/// Whether a form's or a header's CSRF value is the session's token, masked (`mask_csrf`) or
/// as it is.
pub fn csrf_matches(token: &str, sent: &str) -> bool {
    let n = token.len();
    if sent.len() == 4 * n && sent.is_ascii() {
        let unhex = |s: &str| -> Option<Vec<u8>> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
        };
        if let (Some(mask), Some(masked)) = (unhex(&sent[..2 * n]), unhex(&sent[2 * n..])) {
            let unmasked: Vec<u8> = mask.iter().zip(&masked).map(|(m, x)| m ^ x).collect();
            return unmasked.len() == n
                && unmasked.iter().zip(token.as_bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        }
    }
    same_secret(token, sent)
}

pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request's `Origin` (if any) is this server, as the browser saw it.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Applies the user's language to the request unless the client asked for one explicitly.
fn adopt_language(headers: &HeaderMap, user: &User) {
    let explicit = headers.get(header::ACCEPT_LANGUAGE).and_then(|h| h.to_str().ok()).and_then(pick_lang);
    set_lang(explicit.unwrap_or_else(|| lang_or_default(&user.language)));
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let secret = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).ok_or(ApiError::Unauthorized)?;
            let user = state.db.token_user(secret.trim()).await?.ok_or(ApiError::Unauthorized)?;
            adopt_language(&parts.headers, &user);
            let viewer = state.db.viewer_for(&user.id).await?;
            return Ok(Authed { user, via: Via::Token, viewer });
        }
        let secret = cookie(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
        let (user, csrf) = state.db.session_user(&secret).await?.ok_or(ApiError::Unauthorized)?;
        adopt_language(&parts.headers, &user);
        if unsafe_method(&parts.method) {
            // API calls made with a session cookie must carry the CSRF token in a header. (HTML
            // pages use `html::Session`, whose form handlers check the token in the form.)
            let header_ok =
                parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|v| csrf_matches(&csrf, v));
            if !same_origin(&parts.headers) || !header_ok {
                return Err(ApiError::Forbidden);
            }
        }
        let viewer = state.db.viewer_for(&user.id).await?;
        Ok(Authed { user, via: Via::Session { csrf }, viewer })
    }
}

#[cfg(test)]
mod csrf_tests {
    use super::*;

    #[test]
    fn masked_tokens_differ_and_match() {
        let token = "k3P9xYz_token-value";
        let (a, b) = (mask_csrf(token), mask_csrf(token));
        assert_ne!(a, b, "a fresh mask each time");
        assert!(!a.contains(token));
        assert!(csrf_matches(token, &a) && csrf_matches(token, &b) && csrf_matches(token, token));
        assert!(!csrf_matches(token, &mask_csrf("another-token-value")));
        assert!(!csrf_matches(token, "forged"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn cookies_and_origins() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; peyvand_session=abc; b=2".parse().expect("header"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc".into()));
        assert_eq!(cookie(&h, "c"), None);
        h.insert(header::HOST, "127.0.0.1:8080".parse().expect("header"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().expect("header"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().expect("header"));
        assert!(!same_origin(&h));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
