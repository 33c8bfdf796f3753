//! Sales (`peyvand_crm::sales`): pipelines (everyone reads them, admins change them), a deal's
//! stage history (whoever may read the deal), a lead's conversion and its possible duplicates,
//! quotes' and orders' lines, and the orders quotes and won deals become.

use super::ApiJson;
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::sales::documents::{self, Kind};
use peyvand_crm::sales::pipelines::{self, Pipeline};
use peyvand_crm::sales::{business, leads, offers};
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

/// A quote's or an order's lines, in order.
async fn get_lines(state: AppState, authed: Authed, kind: Kind, id: &str) -> ApiResult<Json<serde_json::Value>> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "lines": documents::lines(&state.db, kind, id).await? })))
}

/// Replaces a quote's or an order's lines at once (with `version`, only if nobody changed it
/// since); answers the header, totalled, and its lines.
async fn put_lines(
    state: AppState,
    authed: Authed,
    kind: Kind,
    id: &str,
    body: documents::LinesInput,
) -> ApiResult<Json<serde_json::Value>> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let (header, lines) = documents::set_lines(&state.db, Some(&authed.user.id), kind, id, body).await?;
    Ok(Json(json!({ "document": header, "lines": lines })))
}

pub async fn quote_lines(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    get_lines(state, authed, Kind::Quote, &id).await
}

pub async fn order_lines(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    get_lines(state, authed, Kind::Order, &id).await
}

pub async fn set_quote_lines(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<documents::LinesInput>,
) -> ApiResult<impl IntoResponse> {
    put_lines(state, authed, Kind::Quote, &id, body).await
}

pub async fn set_order_lines(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<documents::LinesInput>,
) -> ApiResult<impl IntoResponse> {
    put_lines(state, authed, Kind::Order, &id, body).await
}

/// The order a quote becomes (the quote accepted), in one step.
pub async fn order_from_quote(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let (order, lines) = documents::order_from_quote(&state.db, Some(&authed.user.id), &id).await?;
    Ok((StatusCode::CREATED, Json(json!({ "document": order, "lines": lines }))))
}

/// The order a won deal makes (from its quote, or its amount).
pub async fn order_from_deal(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let (order, lines) = documents::order_from_deal(&state.db, Some(&authed.user.id), &id).await?;
    Ok((StatusCode::CREATED, Json(json!({ "document": order, "lines": lines }))))
}

/// The business's details and how quotes and orders are numbered (the next number of each).
pub async fn sales_settings(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let business = business::get(&state.db).await?;
    Ok(Json(json!({ "business": business, "numbering": documents::numbering(&state.db).await? })))
}

/// Changes the business's details (only the keys sent; an empty value removes one) and the
/// numbering of the kinds sent, all or nothing (admins).
pub async fn set_sales_settings(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<business::Settings>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    business::save(&state.db, &body).await?;
    crate::portal_host::forget(&state);
    let business = business::get(&state.db).await?;
    Ok(Json(json!({ "business": business, "numbering": documents::numbering(&state.db).await? })))
}

/// A contact's offers: the products they are most likely to buy next, from the co-purchase
/// model, as far as one's access reaches.
pub async fn contact_offers(
    State(state): State<AppState>,
    authed: Authed,
    Path(contact): Path<String>,
    params: super::ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["limit"])?;
    let max = offers::MAX_OFFERS;
    let limit = match params.get("limit") {
        None => 5,
        Some(v) => v.parse::<usize>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
            crate::error::ApiError::BadRequest {
                code: "invalid_parameter",
                detail: format!("limit must be a number from 1 to {max}"),
            }
        })?,
    };
    let found = offers::for_contact(&state.db, &contact, limit).await?;
    Ok(Json(json!({ "offers": found, "model": offers::info(&state.db).await? })))
}

/// When the offers' model was built and from what (null before the first build).
pub async fn get_offer_model(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "model": offers::info(&state.db).await? })))
}

/// Asks for the offers' model to be built now, from every sold order's lines (managers and
/// admins); it is also rebuilt each night.
pub async fn build_offer_model(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    if !matches!(authed.role(), peyvand_records::access::Role::Admin | peyvand_records::access::Role::Manager) {
        return Err(crate::error::ApiError::Forbidden);
    }
    offers::build_soon(&state.db).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": true }))))
}
