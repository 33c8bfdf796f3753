//! Commissions (`peyvand_crm::insights::commissions`): plans (admins write them; managers read
//! them all, others the plan they are in), splits of a deal or an order, statements worked out
//! live and approved by managers, and the current period's overview.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::insights::commissions::{self, PlanInput, Split};
use peyvand_records::FieldError;
use peyvand_records::access::Action;
use serde::Deserialize;
use serde_json::json;

pub async fn list_commission_plans(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "plans": commissions::list_plans(&state.db).await? })))
}

pub async fn get_commission_plan(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(commissions::get_plan(&state.db, &id).await?))
}

pub async fn create_commission_plan(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<PlanInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok((StatusCode::CREATED, Json(commissions::save_plan(&state.db, None, &input).await?)))
}

pub async fn update_commission_plan(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PlanInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(commissions::save_plan(&state.db, Some(&id), &input).await?))
}

pub async fn delete_commission_plan(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    commissions::delete_plan(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The statements of the period holding `day` (today by default) of everyone the caller may
/// read who is in a plan then.
pub async fn commission_overview(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["day"])?;
    let day = match params.get("day") {
        None => state.db.today(),
        Some(d) => peyvand_records::value::parse_date(d)
            .filter(|d| (1900..2200).contains(&d.year()))
            .ok_or_else(|| peyvand_store::Error::Validation(vec![FieldError::new("day", "invalid_date")]))?,
    };
    Ok(Json(json!({ "statements": commissions::overview(&state.db, day).await? })))
}

/// One person's statement of a period of their plan (`1405-08`, `1405-Q3`, `2026-12`).
pub async fn commission_statement(
    State(state): State<AppState>,
    authed: Authed,
    Path((user_id, key)): Path<(String, String)>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["offset", "limit"])?;
    let from = params.number("offset")?.unwrap_or(0) as usize;
    let limit = params.number("limit")?.map_or(STATEMENT_LINES, |l| (l as usize).min(MAX_STATEMENT_LINES));
    Ok(Json(commissions::statement_part(&state.db, &user_id, &key, from..from.saturating_add(limit)).await?))
}

/// Lines of a statement answered at once unless asked (`limit`), and at most.
const STATEMENT_LINES: usize = 500;
const MAX_STATEMENT_LINES: usize = 5_000;

/// Approves and locks a statement whose period is over (a manager of the person, or an admin).
pub async fn approve_commission_statement(
    State(state): State<AppState>,
    authed: Authed,
    Path((user_id, key)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(commissions::approve(&state.db, &user_id, &key).await?))
}

pub async fn get_commission_splits(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "splits": commissions::splits(&state.db, &object, &id).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitsInput {
    splits: Vec<Split>,
}

/// Sets how a deal or an order is split (an empty list: its owner has it all).
pub async fn set_commission_splits(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<SplitsInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(json!({ "splits": commissions::set_splits(&state.db, &object, &id, &input.splits).await? })))
}
