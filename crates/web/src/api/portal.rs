//! The customer portal as staff run it (`peyvand_crm::portal`): a contact's account (invite,
//! disable, let them act for their company) and the portal's settings. Customers themselves use
//! the portal's pages (`html::portal`), not this API.

use super::ApiJson;
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::portal::{self, Settings};
use peyvand_records::access::Action;
use serde::Deserialize;
use serde_json::json;

/// `GET /contacts/{id}/portal`: the contact's account, or none.
pub async fn contact_portal(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    let state = authed.scoped(state);
    // Through the user's handle: a contact they may not read is not found.
    state.db.get_record("contact", &id, false).await?;
    let account = portal::account_of_contact(&state.db, &id).await?;
    Ok(Json(json!({ "account": account })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    #[serde(default)]
    company_access: bool,
    /// Tell the customer by e-mail (else SMS) where to sign in.
    #[serde(default = "yes")]
    send: bool,
}

fn yes() -> bool {
    true
}

/// `POST /contacts/{id}/portal`: opens (or refreshes) the contact's account and invites them.
pub async fn invite_to_portal(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Invite>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::WriteRecords)?;
    let state = authed.scoped(state);
    let account = portal::invite(&state.db, authed.id(), &id, input.company_access, input.send).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessInput {
    active: bool,
    #[serde(default)]
    company_access: Option<bool>,
}

/// `PATCH /contacts/{id}/portal`: disables the account (its sessions end) or enables it again.
pub async fn set_portal_access(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AccessInput>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::WriteRecords)?;
    let state = authed.scoped(state);
    Ok(Json(portal::set_status(&state.db, &id, input.active, input.company_access).await?))
}

/// `GET /portal/settings`.
pub async fn portal_settings(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(portal::settings(&state.db).await?))
}

/// `PUT /portal/settings` (admins).
pub async fn set_portal_settings(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<Settings>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    let saved = portal::save_settings(&state.db, &input).await?;
    crate::portal_host::forget(&state);
    Ok(Json(saved))
}
