//! Marketing (`peyvand_crm::marketing`): segments (everyone reads them and their live counts,
//! as far as their access reaches; managers and admins define them) and campaigns (managers and
//! admins make, start and cancel them; everyone reads their reports).

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::marketing::campaigns::{self, CampaignDef};
use peyvand_crm::marketing::grants::{self, PointsGrant};
use peyvand_crm::marketing::segments::{self, SegmentDef};
use peyvand_records::access::{Action, Role};
use serde::Deserialize;
use serde_json::json;

fn marketers(authed: &Authed) -> ApiResult<()> {
    if matches!(authed.role(), Role::Admin | Role::Manager) { Ok(()) } else { Err(ApiError::Forbidden) }
}

pub async fn list_segments(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "segments": segments::list(&state.db).await? })))
}

pub async fn get_segment(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(segments::get(&state.db, &id).await?))
}

pub async fn create_segment(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(def): ApiJson<SegmentDef>,
) -> ApiResult<impl IntoResponse> {
    marketers(&authed)?;
    Ok((StatusCode::CREATED, Json(segments::save(&state.db, None, def).await?)))
}

pub async fn update_segment(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<SegmentDef>,
) -> ApiResult<impl IntoResponse> {
    marketers(&authed)?;
    Ok(Json(segments::save(&state.db, Some(&id), def).await?))
}

/// A segment's live count and its first members, as far as the user's access reaches.
pub async fn segment_members(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["limit"])?;
    let limit = match params.get("limit") {
        None => 50,
        Some(v) => v.parse::<usize>().ok().filter(|n| *n <= 500).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_parameter",
            detail: "limit must be a number from 0 to 500".into(),
        })?,
    };
    let seg = segments::get(&state.db, &id).await?;
    let (count, first) = segments::count_and_first(&state.db, &seg, limit).await?;
    let list: Vec<serde_json::Value> = first.iter().map(|(id, title)| json!({ "id": id, "title": title })).collect();
    Ok(Json(json!({ "count": count, "members": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersIn {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

pub async fn set_segment_members(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MembersIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    marketers(&authed)?;
    let n = segments::set_members(&state.db, &id, &body.add, &body.remove).await?;
    Ok(Json(json!({ "count": n })))
}

/// Points for every member of a contacts' segment now (managers and admins); an
/// Idempotency-Key makes a retry give nothing twice.
pub async fn award_segment_points(
    State(state): State<AppState>,
    authed: Authed,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PointsGrant>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    marketers(&authed)?;
    let key = super::loyalty::idempotency_key(&headers)?;
    Ok(Json(grants::award_points(&state.db, authed.id(), &id, &body, key.as_deref()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenefitGrantIn {
    fields: serde_json::Map<String, serde_json::Value>,
}

/// A benefit of their own for every member of a segment now (managers and admins).
pub async fn grant_segment_benefit(
    State(state): State<AppState>,
    authed: Authed,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<BenefitGrantIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    marketers(&authed)?;
    let key = super::loyalty::idempotency_key(&headers)?;
    Ok(Json(grants::grant_benefit(&state.db, authed.id(), &id, &body.fields, key.as_deref()).await?))
}

pub async fn list_campaigns(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "campaigns": campaigns::list(&state.db).await? })))
}

pub async fn get_campaign(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    let c = campaigns::get(&state.db, &id).await?;
    let report = campaigns::report(&state.db, &id).await?;
    Ok(Json(json!({ "campaign": c, "report": report })))
}

pub async fn create_campaign(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(def): ApiJson<CampaignDef>,
) -> ApiResult<impl IntoResponse> {
    marketers(&authed)?;
    Ok((StatusCode::CREATED, Json(campaigns::save(&state.db, None, def).await?)))
}

pub async fn update_campaign(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<CampaignDef>,
) -> ApiResult<impl IntoResponse> {
    marketers(&authed)?;
    Ok(Json(campaigns::save(&state.db, Some(&id), def).await?))
}

pub async fn start_campaign(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    marketers(&authed)?;
    Ok(Json(campaigns::start(&state.db, &id).await?))
}

pub async fn cancel_campaign(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    marketers(&authed)?;
    Ok(Json(campaigns::cancel(&state.db, &id).await?))
}
