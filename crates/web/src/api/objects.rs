//! Objects and fields: list and read for everyone signed in; custom objects and fields, field
//! changes and removal for admins.

use super::ApiJson;
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_records::access::Action;
use peyvand_records::{FieldDef, ObjectDef};
use peyvand_store::schema::{FieldPatch, NewField, NewObject};
use serde_json::json;

/// An object as the API shows it: without archived fields.
fn public(object: &ObjectDef) -> ObjectDef {
    let mut o = object.clone();
    o.fields.retain(|f| !f.archived);
    o
}

pub async fn list_objects(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let catalog = state.db.visible_catalog().await?;
    let objects: Vec<ObjectDef> = catalog.objects.iter().map(|o| public(o)).collect();
    Ok(Json(json!({ "objects": objects })))
}

pub async fn get_object(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
) -> ApiResult<Json<ObjectDef>> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(public(&*state.db.visible_object(&object).await?)))
}

pub async fn create_object(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(new): ApiJson<NewObject>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    let object = state.db.create_object(authed.id(), new).await?;
    Ok((StatusCode::CREATED, Json(public(&object))))
}

pub async fn delete_object(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
) -> ApiResult<StatusCode> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    state.db.trash_object(authed.id(), &object).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restore_object(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
) -> ApiResult<Json<ObjectDef>> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(public(&*state.db.restore_object(authed.id(), &object).await?)))
}

pub async fn create_field(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
    ApiJson(new): ApiJson<NewField>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    let field: FieldDef = state.db.add_field(authed.id(), &object, new).await?;
    Ok((StatusCode::CREATED, Json(field)))
}

pub async fn update_field(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, field)): Path<(String, String)>,
    ApiJson(patch): ApiJson<FieldPatch>,
) -> ApiResult<Json<FieldDef>> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(state.db.update_field(authed.id(), &object, &field, patch).await?))
}

pub async fn delete_field(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, field)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    state.db.delete_field(authed.id(), &object, &field).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRollup {
    /// Group fields, as the aggregate's `group` parameter.
    #[serde(default)]
    group: String,
    /// Summed fields, as the aggregate's `sum` parameter.
    #[serde(default)]
    sum: String,
}

pub async fn list_rollups(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    state.db.visible_object(&object).await?;
    let catalog = state.db.visible_catalog().await?;
    let rollups: Vec<_> = catalog.rollups_of(&object).map(|r| &**r).collect();
    Ok(Json(json!({ "rollups": rollups })))
}

/// Declares a rollup: 201 when made now (filled from the records), 200 when the object already
/// had the same one.
pub async fn create_rollup(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
    ApiJson(new): ApiJson<NewRollup>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    let (rollup, made) = state.db.create_rollup(authed.id(), &object, &new.group, &new.sum).await?;
    Ok((if made { StatusCode::CREATED } else { StatusCode::OK }, Json((*rollup).clone())))
}

pub async fn delete_rollup(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    state.db.delete_rollup(authed.id(), &object, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCompoundIndex {
    /// Field names, in the index's order.
    fields: Vec<String>,
}

pub async fn list_compound_indexes(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    let indexes = state.db.compound_indexes(&object).await?;
    Ok(Json(json!({ "indexes": indexes })))
}

/// Declares a compound index: 201 when built now, 200 when the object already had the same one.
pub async fn create_compound_index(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
    ApiJson(new): ApiJson<NewCompoundIndex>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    let (index, made) = state.db.create_compound_index(authed.id(), &object, &new.fields).await?;
    Ok((if made { StatusCode::CREATED } else { StatusCode::OK }, Json(index)))
}

pub async fn delete_compound_index(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    state.db.delete_compound_index(authed.id(), &object, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
