//! Sales (`peyvand_crm::sales`): pipelines (everyone reads them, admins change them), a deal's
//! stage history (whoever may read the deal), a lead's conversion and its possible duplicates.

use super::ApiJson;
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::sales::leads;
use peyvand_crm::sales::pipelines::{self, Pipeline};
use peyvand_records::access::Action;
use serde_json::json;

pub async fn list_pipelines(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "pipelines": pipelines::list(&state.db).await? })))
}

pub async fn get_pipeline(
    State(state): State<AppState>,
    authed: Authed,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(pipelines::get(&state.db, &key).await?))
}

pub async fn create_pipeline(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<Pipeline>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    let made = pipelines::save(&state.db, Some(&authed.user.id), None, body).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

pub async fn update_pipeline(
    State(state): State<AppState>,
    authed: Authed,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<Pipeline>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(pipelines::save(&state.db, Some(&authed.user.id), Some(&key), body).await?))
}

pub async fn delete_pipeline(
    State(state): State<AppState>,
    authed: Authed,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    pipelines::delete(&state.db, Some(&authed.user.id), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every stage a deal was in, oldest first: 404 for a deal the user may not read.
pub async fn deal_stages(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    state.db.get_record("deal", &id, false).await?;
    Ok(Json(json!({ "stages": pipelines::history(&state.db, &id).await? })))
}

/// Converts a lead into a contact (new or existing), a company and optionally a deal, in one
/// transaction; a lead converted before is refused (409) naming what it became.
pub async fn convert_lead(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<leads::Conversion>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(leads::convert(&state.db, Some(&authed.user.id), &id, body).await?))
}

/// Contacts and companies that may already be the lead (same e-mail, phone or name).
pub async fn lead_matches(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let lead = state.db.get_record("lead", &id, false).await?;
    let (contacts, companies) = leads::matches(&state.db, &lead).await?;
    Ok(Json(json!({ "contacts": contacts, "companies": companies })))
}
