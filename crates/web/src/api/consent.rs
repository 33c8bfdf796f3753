//! Consent (`peyvand_crm::customers::consent`): a contact's standing per channel and its
//! history (as their contact is read), a change recorded (an e-mail grant waits for the
//! person's confirmation), and the suppression list (managers and admins).

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::customers::consent::{self, ConsentInput};
use peyvand_records::access::{Action, Role};
use serde::Deserialize;
use serde_json::json;

pub async fn contact_consent(
    State(state): State<AppState>,
    authed: Authed,
    Path(contact): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    state.db.get_record("contact", &contact, false).await?;
    let standing = consent::of_contact(&state.db, &contact).await?;
    let history = consent::history(&state.db, &contact, 200).await?;
    Ok(Json(json!({ "consents": standing, "history": history })))
}

pub async fn set_contact_consent(
    State(state): State<AppState>,
    authed: Authed,
    Path(contact): Path<String>,
    ApiJson(input): ApiJson<ConsentInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    state.db.get_record("contact", &contact, false).await?;
    Ok(Json(consent::set(&state.db, &contact, &input, authed.id()).await?))
}

fn managers(authed: &Authed) -> ApiResult<()> {
    if matches!(authed.role(), Role::Admin | Role::Manager) { Ok(()) } else { Err(ApiError::Forbidden) }
}

pub async fn list_suppressions(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    managers(&authed)?;
    params.only(&[])?;
    Ok(Json(json!({ "suppressions": consent::suppressions(&state.db, 500).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionIn {
    address: String,
    channel: String,
    #[serde(default)]
    remove: bool,
}

pub async fn set_suppression(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<SuppressionIn>,
) -> ApiResult<impl IntoResponse> {
    managers(&authed)?;
    consent::set_suppression(&state.db, &body.address, &body.channel, body.remove).await?;
    Ok(StatusCode::NO_CONTENT)
}
