//! Tokens and the current user: `POST /auth/token` (e-mail and password → API token, with the
//! failed-login limit), `GET /me`, and the user's own token list.

use super::ApiJson;
use crate::AppState;
use crate::auth::{
    Authed, LOGIN_WINDOW_MINUTES, MAX_FAILURES_PER_EMAIL, MAX_FAILURES_PER_IP, MAX_IP_DELAY_SECS, dummy_hash,
    verify_password,
};
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_store::accounts::User;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
    /// The code of a user who signs in with a second factor (or a recovery code).
    #[serde(default)]
    code: Option<String>,
}

/// Checks e-mail and password with the failed-login limit; shared by the API and the sign-in page.
pub async fn check_login(state: &AppState, email: &str, password: &str, ip: &str) -> ApiResult<User> {
    if email.contains('\0') {
        // No stored e-mail holds U+0000 (PostgreSQL cannot even compare it): nobody signs in so.
        return Err(ApiError::Unauthorized);
    }
    let window = time::Duration::minutes(LOGIN_WINDOW_MINUTES);
    let (by_email, by_ip) = state.db.recent_login_failures(email, ip, window).await?;
    if by_email >= MAX_FAILURES_PER_EMAIL {
        return Err(ApiError::TooManyRequests { retry_after_secs: LOGIN_WINDOW_MINUTES as u64 * 60 });
    }
    if by_ip >= MAX_FAILURES_PER_IP {
        // An address with many failures (a password spray, or an office behind one proxy
        // where someone keeps mistyping) is slowed down, not locked out: each attempt waits
        // a second more for every failure past the limit, up to `MAX_IP_DELAY_SECS`, and a
        // right password still signs in.
        let excess = u64::try_from(by_ip - MAX_FAILURES_PER_IP + 1).unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_secs(excess.min(MAX_IP_DELAY_SECS))).await;
    }
    let found = state.db.user_for_login(email).await?;
    let ok = match &found {
        Some((user, hash)) => verify_password(password, hash) && user.active,
        None => {
            verify_password(password, dummy_hash());
            false
        }
    };
    use peyvand_store::security::Kind;
    match found {
        Some((user, _)) if ok => {
            state.db.log_security(Kind::SignIn, Some(&user.id), Some(&user.id), Some(ip), json!({})).await;
            Ok(user)
        }
        found => {
            state.db.record_login_failure(email, ip).await?;
            let subject = found.map(|(user, _)| user.id);
            let details = json!({ "email": email.chars().take(200).collect::<String>() });
            state.db.log_security(Kind::SignInFailed, None, subject.as_deref(), Some(ip), details).await;
            Err(ApiError::Unauthorized)
        }
    }
}

pub async fn create_token(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<impl IntoResponse> {
    let client = crate::client::client_addr(&headers, addr.ip(), &state.config.trusted_proxies);
    let user = check_login(&state, &req.email, &req.password, &client.to_string()).await?;
    if state.db.two_factor_enabled(&user.id).await? {
        let code = req.code.as_deref().unwrap_or("");
        if code.is_empty() || !state.db.check_second_factor(&user.id, code).await? {
            let details = json!({ "second_factor": if code.is_empty() { "missing" } else { "wrong" } });
            let kind = peyvand_store::security::Kind::SignInFailed;
            state.db.log_security(kind, None, Some(&user.id), Some(&client.to_string()), details).await;
            return Err(ApiError::SecondFactor);
        }
    } else if state.db.two_factor_required(user.role).await? {
        // A role that must use a second factor gets no token before setting one up.
        return Err(ApiError::SecondFactor);
    }
    let name = req.name.unwrap_or_else(|| "API".to_string());
    let (token, secret) = state.db.create_api_token(&user.id, &name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": secret, "id": token.id, "name": token.name, "user": user }))))
}

pub async fn get_me(authed: Authed) -> Json<User> {
    Json(authed.user)
}

pub async fn list_tokens(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    Ok(Json(json!({ "tokens": state.db.list_api_tokens(&authed.user.id).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
}

pub async fn create_api_token(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<NewToken>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    let (token, secret) = state.db.create_api_token(&authed.user.id, &req.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": secret, "id": token.id, "name": token.name }))))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let state = authed.scoped(state);
    state.db.revoke_api_token(&authed.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
