//! Users (admins only): list and add.

use super::ApiJson;
use crate::AppState;
use crate::auth::{Authed, MIN_PASSWORD_CHARS, hash_password};
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_records::FieldError;
use peyvand_records::access::{Action, Role};
use serde::Deserialize;
use serde_json::json;

pub async fn list_users(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok(Json(json!({ "users": state.db.list_users().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    #[serde(default)]
    name: String,
    role: Role,
    password: String,
    #[serde(default = "default_language")]
    language: String,
}

fn default_language() -> String {
    "fa".into()
}

pub async fn create_user(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<NewUser>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    if req.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::from(FieldError::with("password", "too_short", json!({ "min": MIN_PASSWORD_CHARS }))));
    }
    let hash = hash_password(&req.password)?;
    let user = state.db.create_user(&req.email, &req.name, req.role, &hash, &req.language).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    active: Option<bool>,
}

pub async fn update_user(
    State(state): State<AppState>,
    authed: Authed,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok(Json(state.db.update_user(authed.id(), &id, patch.role, patch.name.as_deref(), patch.active).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    successor_id: String,
}

/// Deactivates a user and hands everything they own to a successor (`Db::hand_over`).
pub async fn hand_over(
    State(state): State<AppState>,
    authed: Authed,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<HandoverBody>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok(Json(state.db.hand_over(authed.id(), &id, &body.successor_id).await?))
}

pub async fn list_handovers(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok(Json(json!({ "handovers": state.db.handovers().await? })))
}
