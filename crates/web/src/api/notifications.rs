//! A user's own notifications (`peyvand_crm::notifications`): list, mark one or all read.
//! Nobody sees another's: theirs is not found.

use super::ApiQuery;
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use peyvand_crm::notifications;
use serde_json::json;

/// The caller's newest notifications (`unread=true`: only those unread), with the unread count.
pub async fn list_notifications(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    params.only(&["unread", "limit"])?;
    let unread = params.flag("unread")?;
    // As the lists do: a limit out of range is brought into it.
    let limit = params.number("limit")?.map_or(50, |l| i64::from(l).clamp(1, 200));
    let list = notifications::list(&state.db, &authed.user.id, unread, limit).await?;
    let count = notifications::unread_count(&state.db, &authed.user.id).await?;
    Ok(Json(json!({ "notifications": list, "unread": count })))
}

/// Marks one of the caller's notifications read.
pub async fn read_notification(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(notifications::mark_read(&state.db, &authed.user.id, &id).await?))
}

/// Marks all the caller's notifications read.
pub async fn read_all_notifications(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let marked = notifications::mark_all_read(&state.db, &authed.user.id).await?;
    Ok(Json(json!({ "marked": marked })))
}

/// The caller's choices per kind of notification: under the bell, and by e-mail (none, at once,
/// or in the morning's digest).
pub async fn notification_preferences(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    Ok(Json(json!({ "preferences": notifications::preferences(&state.db, &authed.user.id).await? })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    preferences: Vec<notifications::Preference>,
}

/// Sets the caller's choices for the kinds given (the others stay).
pub async fn set_notification_preferences(
    State(state): State<AppState>,
    authed: Authed,
    super::ApiJson(body): super::ApiJson<PreferencesBody>,
) -> ApiResult<impl IntoResponse> {
    let list = notifications::set_preferences(&state.db, &authed.user.id, &body.preferences).await?;
    Ok(Json(json!({ "preferences": list })))
}
