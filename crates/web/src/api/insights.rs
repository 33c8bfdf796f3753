//! Reports (`peyvand_crm::insights::reports`): everyone who reads records keeps their own and
//! reads the shared ones; a run counts only the records the caller may see.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiResult, current_lang};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::insights::reports::{self, ReportDef};
use peyvand_records::access::Action;
use serde_json::json;

pub async fn list_reports(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "reports": reports::list(&state.db).await? })))
}

pub async fn get_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(reports::get(&state.db, &id).await?))
}

pub async fn create_report(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(def): ApiJson<ReportDef>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok((StatusCode::CREATED, Json(reports::save(&state.db, None, def).await?)))
}

pub async fn update_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<ReportDef>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(reports::save(&state.db, Some(&id), def).await?))
}

pub async fn delete_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    reports::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A report's figures: the groups with their counts and measures, and each group's records'
/// filter (`drill`, for `GET /records/{object}?filter=`).
pub async fn run_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&[])?;
    let report = reports::get(&state.db, &id).await?;
    let figures = reports::run(&state.db, &report.definition, current_lang()).await?;
    Ok(Json(figures))
}
