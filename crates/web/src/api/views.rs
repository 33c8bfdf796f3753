//! Saved views: list an object's views, save one, delete one.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_records::access::Action;
use peyvand_records::view::NewView;
use serde_json::json;

pub async fn list_views(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["object"])?;
    let object = params
        .get("object")
        .ok_or(ApiError::BadRequest { code: "missing_parameter", detail: "object is required".into() })?;
    state.db.visible_object(object).await?;
    Ok(Json(json!({ "views": state.db.list_views(object, &authed.user.id).await? })))
}

pub async fn create_view(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(new): ApiJson<NewView>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    if new.shared {
        // Everyone sees a shared view, so only those who manage records may publish one.
        authed.require(Action::RestoreRecords)?;
    }
    let view = state.db.create_view(&authed.user.id, &new).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn delete_view(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    state.db.delete_view(&id, &authed.user.id, authed.user.role.allows(Action::RestoreRecords)).await?;
    Ok(StatusCode::NO_CONTENT)
}
