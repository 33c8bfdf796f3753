//! Teams, access rules and record shares (`peyvand_store::access`): teams and rules are the
//! admins'; any signed-in user reads the teams; whoever may change a record shares it.

use super::ApiJson;
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_records::access::{Action, FieldAccess, ObjectAccess, Reach, Role};
use peyvand_store::access::TeamInput;
use peyvand_store::security::Kind;
use serde::Deserialize;
use serde_json::json;

/// A team as sent: all of it (a change replaces the team's name, parent, manager and members).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    name: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    manager_id: Option<String>,
    #[serde(default)]
    members: Vec<String>,
}

impl From<TeamBody> for TeamInput {
    fn from(b: TeamBody) -> TeamInput {
        TeamInput { name: b.name, parent_id: b.parent_id, manager_id: b.manager_id, members: b.members }
    }
}

pub async fn list_teams(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "teams": state.db.list_teams().await? })))
}

pub async fn create_team(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<TeamBody>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok((StatusCode::CREATED, Json(state.db.create_team(&body.into()).await?)))
}

pub async fn update_team(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TeamBody>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok(Json(state.db.update_team(&id, &body.into()).await?))
}

pub async fn delete_team(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    state.db.delete_team(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_access_rules(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok(Json(json!({ "rules": state.db.access_rules().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    read: Reach,
    change: Reach,
}

fn role_of(role: &str) -> Result<Role, ApiError> {
    Role::parse(role).ok_or(ApiError::NotFound)
}

pub async fn set_access_rule(
    State(state): State<AppState>,
    authed: Authed,
    Path((role, object)): Path<(String, String)>,
    ApiJson(body): ApiJson<RuleBody>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    let role = role_of(&role)?;
    state.db.set_access_rule(role, &object, Some(ObjectAccess::new(body.read, body.change))).await?;
    let rules = state.db.access_rules().await?;
    let rule = rules.into_iter().find(|r| r.role == role && r.object == object).ok_or(ApiError::NotFound)?;
    Ok(Json(rule))
}

pub async fn reset_access_rule(
    State(state): State<AppState>,
    authed: Authed,
    Path((role, object)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    state.db.set_access_rule(role_of(&role)?, &object, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_shares(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "shares": state.db.record_shares(&object, &id).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    /// `read` or `change`.
    level: ShareLevel,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ShareLevel {
    Read,
    Change,
}

fn kind_of(kind: &str) -> Result<&str, ApiError> {
    match kind {
        "user" | "team" => Ok(kind),
        _ => Err(ApiError::NotFound),
    }
}

pub async fn share_record(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id, kind, grantee)): Path<(String, String, String, String)>,
    ApiJson(body): ApiJson<ShareBody>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let grantee = (kind_of(&kind)?, grantee.as_str());
    state.db.share_record(&object, &id, grantee, body.level == ShareLevel::Change).await?;
    Ok(Json(json!({ "shares": state.db.record_shares(&object, &id).await? })))
}

pub async fn unshare_record(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id, kind, grantee)): Path<(String, String, String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    state.db.unshare_record(&object, &id, (kind_of(&kind)?, grantee.as_str())).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_field_rules(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    Ok(Json(json!({ "rules": state.db.field_rules().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRuleBody {
    access: FieldAccess,
}

pub async fn set_field_rule(
    State(state): State<AppState>,
    authed: Authed,
    Path((role, object, field)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<FieldRuleBody>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    let role = role_of(&role)?;
    state.db.set_field_access(role, &object, &field, body.access).await?;
    Ok(Json(json!({ "role": role, "object": object, "field": field, "access": body.access })))
}

/// The security log, newest first (admins): `kind` narrows it to one kind, `user` to what a
/// user did or had done to them, `before` pages back from an entry's id.
pub async fn security_log(
    State(state): State<AppState>,
    authed: Authed,
    params: super::ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageUsers)?;
    params.only(&["kind", "user", "before", "limit"])?;
    let kind = match params.get("kind") {
        Some(k) => Some(Kind::parse(k).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_query",
            detail: format!("kind must be one of: {}", Kind::ALL.map(Kind::as_str).join(", ")),
        })?),
        None => None,
    };
    let limit = params.number("limit")?.unwrap_or(100);
    let entries = state.db.security_log(kind, params.get("user"), params.get("before"), limit).await?;
    Ok(Json(json!({ "entries": entries })))
}
