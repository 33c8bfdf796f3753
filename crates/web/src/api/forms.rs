//! Web forms (`peyvand_crm::forms`) for admins: build, change and remove them, and read what each
//! received. The public form itself is a page (`/f/{slug}`), not an API call.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::forms::{self, Definition};
use peyvand_records::access::Action;
use serde_json::json;

pub async fn list_forms(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "forms": forms::list(&state.db).await? })))
}

pub async fn get_form(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(forms::get(&state.db, &id).await?))
}

pub async fn create_form(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<Definition>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(forms::save(&state.db, None, body).await?)))
}

pub async fn update_form(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Definition>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(forms::save(&state.db, Some(&id), body).await?))
}

pub async fn delete_form(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    forms::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn form_submissions(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    params.only(&["limit"])?;
    let limit = params.number("limit")?.unwrap_or(50).clamp(1, 500);
    Ok(Json(json!({ "submissions": forms::submissions(&state.db, &id, limit).await? })))
}
