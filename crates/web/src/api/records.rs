//! Records and search: list (filter, sort, keyset cursor), create (idempotent with
//! `Idempotency-Key`), read, update (optimistic with `If-Match` or `version`), trash, restore,
//! history, aggregates.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use peyvand_records::FieldError;
use peyvand_records::access::Action;
use peyvand_records::aggregate::parse_aggregate_in;
use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_store::aggregate::Aggregate;
use peyvand_store::records::{ListQuery, Page, Record};
use serde::Deserialize;
use serde_json::{Map, Value as JsonValue};

/// Builds a store query from the list parameters; shared with the HTML list page.
pub async fn list_query(state: &AppState, object: &str, params: &ApiQuery) -> ApiResult<ListQuery> {
    let obj = state.db.visible_object(object).await?;
    let filter = match params.get("filter").filter(|f| !f.trim().is_empty()) {
        Some(text) => {
            let json: JsonValue =
                serde_json::from_str(text).map_err(|_| ApiError::from(FieldError::new("filter", "filter_syntax")))?;
            Some(parse_filter(&obj, &json)?)
        }
        None => None,
    };
    Ok(ListQuery {
        filter,
        sort: parse_sort(&obj, params.get("sort").unwrap_or(""))?,
        limit: params.number("limit")?,
        cursor: params.get("cursor").filter(|c| !c.is_empty()).map(str::to_string),
        trash: params.flag("trash")?,
        // `total=exact` counts every match; `total=true` stops at the cap (see `Page::total_exact`).
        with_total: params.get("total") == Some("exact") || params.flag("total")?,
        exact_total: params.get("total") == Some("exact"),
        fields: params
            .get("fields")
            .filter(|f| !f.is_empty())
            .map(|f| f.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()),
    })
}

pub async fn list_records(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
    params: ApiQuery,
) -> ApiResult<Json<Page>> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["filter", "sort", "limit", "cursor", "trash", "total", "fields"])?;
    let query = list_query(&state, &object, &params).await?;
    if query.trash {
        authed.require(Action::ReadTrash)?;
    }
    Ok(Json(state.db.list_records(&object, &query).await?))
}

/// Counts, sums and other measures of an object's records in groups
/// (`group=stage,created_at:month&sum=amount&measure=avg:amount&calendar=jalali`),
/// for dashboards; repeated requests are answered from a cache that any record change clears.
pub async fn aggregate_records(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
    params: ApiQuery,
) -> ApiResult<Json<Aggregate>> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["filter", "group", "sum", "measure", "calendar"])?;
    let query = list_query(&state, &object, &params).await?;
    let obj = state.db.visible_object(&object).await?;
    let catalog = state.db.visible_catalog().await?;
    let (group, sum) = (params.get("group").unwrap_or(""), params.get("sum").unwrap_or(""));
    let spec = parse_aggregate_in(&obj, group, sum, &|name| catalog.object(name))?.with_measures(
        &obj,
        params.get("measure").unwrap_or(""),
        params.get("calendar").unwrap_or(""),
    )?;
    Ok(Json(state.db.aggregate(&object, query.filter.as_ref(), &spec).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    fields: Map<String, JsonValue>,
    #[serde(default)]
    version: Option<i64>,
}

fn with_etag(record: &Record, status: StatusCode) -> Response {
    let mut response = (status, Json(record)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", record.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

pub async fn create_record(
    State(state): State<AppState>,
    authed: Authed,
    Path(object): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RecordBody>,
) -> ApiResult<Response> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let key =
        headers.get("idempotency-key").map(|v| v.to_str().map(str::to_string)).transpose().map_err(|_| bad_key())?;
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 200 || !k.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(bad_key());
    }
    let (record, created) = state.db.create_record(authed.id(), &object, &body.fields, key.as_deref()).await?;
    let mut response = with_etag(&record, if created { StatusCode::CREATED } else { StatusCode::OK });
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/records/{}/{}", record.object, record.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

fn bad_key() -> ApiError {
    ApiError::BadRequest {
        code: "invalid_idempotency_key",
        detail: "Idempotency-Key must be 1 to 200 visible ASCII characters".into(),
    }
}

pub async fn get_record(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
    params: ApiQuery,
) -> ApiResult<Response> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["include_deleted"])?;
    let include_deleted = params.flag("include_deleted")?;
    if include_deleted {
        authed.require(Action::ReadTrash)?;
    }
    let record = match state.db.get_record(&object, &id, include_deleted).await {
        Err(peyvand_store::Error::NotFound(_)) if !include_deleted => {
            // A record merged into another answers with the way to it.
            return match peyvand_crm::customers::merge::merged_into(&state.db, &object, &id).await? {
                Some(survivor) => {
                    let to = format!("/api/v1/records/{object}/{survivor}");
                    Ok((StatusCode::PERMANENT_REDIRECT, [(axum::http::header::LOCATION, to)]).into_response())
                }
                None => Err(ApiError::NotFound),
            };
        }
        other => other?,
    };
    Ok(with_etag(&record, StatusCode::OK))
}

pub async fn update_record(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RecordBody>,
) -> ApiResult<Response> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let if_match = match headers.get(header::IF_MATCH) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
                .filter(|s| (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or(ApiError::BadRequest {
                    code: "invalid_if_match",
                    detail: "If-Match must be a version such as \"3\"".into(),
                })?,
        ),
        None => None,
    };
    let record = state.db.update_record(authed.id(), &object, &id, &body.fields, if_match.or(body.version)).await?;
    Ok(with_etag(&record, StatusCode::OK))
}

pub async fn delete_record(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let state = authed.scoped(state);
    authed.require(Action::DeleteRecords)?;
    state.db.delete_record(authed.id(), &object, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restore_record(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let state = authed.scoped(state);
    authed.require(Action::RestoreRecords)?;
    let record = state.db.restore_record(authed.id(), &object, &id).await?;
    Ok(with_etag(&record, StatusCode::OK))
}

pub async fn record_history(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["limit"])?;
    // A trashed record's history is for those who may see the trash; to others it is not found.
    state.db.get_record(&object, &id, authed.role().allows(Action::ReadTrash)).await?;
    let entries = state.db.record_history(&object, &id, params.number("limit")?.unwrap_or(100)).await?;
    Ok(Json(serde_json::json!({ "entries": entries })))
}

pub async fn search(State(state): State<AppState>, authed: Authed, params: ApiQuery) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["q", "limit"])?;
    let q = params.get("q").unwrap_or("");
    if q.chars().count() > 200 {
        return Err(FieldError::with("q", "too_long", serde_json::json!({ "max": 200 })).into());
    }
    let hits = state.db.search(q, params.number("limit")?.unwrap_or(20)).await?;
    Ok(Json(serde_json::json!({ "query": q, "hits": hits })))
}

/// A contact's or a company's timeline (the customer 360's story), newest first: `kind` narrows it
/// (comma-separated kinds), `cursor` reads on from the previous page's `next`.
pub async fn record_timeline(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    use peyvand_crm::activities::timeline::{self, Kind, MAX_PAGE};
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["kind", "cursor", "limit"])?;
    let mut kinds = Vec::new();
    for k in params.get("kind").unwrap_or("").split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        kinds.push(
            Kind::parse(k)
                .ok_or_else(|| FieldError::with("kind", "unknown_kind", serde_json::json!({ "known": known })))?,
        );
    }
    let query = timeline::Query {
        kinds,
        cursor: params.get("cursor").map(str::to_string),
        limit: params.number("limit")?.unwrap_or(50).clamp(1, MAX_PAGE),
    };
    Ok(Json(timeline::timeline(&state.db, &object, &id, &query).await?))
}

/// Who takes part in a record of `object` (an activity's participants, a task's attendees).
async fn read_participants(
    state: AppState,
    authed: Authed,
    object: &str,
    id: &str,
) -> ApiResult<Json<peyvand_crm::activities::participants::Participants>> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(peyvand_crm::activities::participants::get(&state.db, object, id).await?))
}

/// Replaces who takes part in a record of `object`.
async fn write_participants(
    state: AppState,
    authed: Authed,
    object: &str,
    id: &str,
    body: &peyvand_crm::activities::participants::Participants,
) -> ApiResult<Json<peyvand_crm::activities::participants::Participants>> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(peyvand_crm::activities::participants::set(&state.db, object, id, body).await?))
}

/// An activity's participants besides its contact and owner.
pub async fn activity_participants(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    read_participants(state, authed, "activity", &id).await
}

/// Replaces an activity's participants.
pub async fn set_activity_participants(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    super::ApiJson(body): super::ApiJson<peyvand_crm::activities::participants::Participants>,
) -> ApiResult<impl IntoResponse> {
    write_participants(state, authed, "activity", &id, &body).await
}

/// A task's attendees (contacts and colleagues).
pub async fn task_attendees(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    read_participants(state, authed, "task", &id).await
}

/// Replaces a task's attendees.
pub async fn set_task_attendees(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    super::ApiJson(body): super::ApiJson<peyvand_crm::activities::participants::Participants>,
) -> ApiResult<impl IntoResponse> {
    write_participants(state, authed, "task", &id, &body).await
}

/// The duplicates queue of an object: open pairs both of whose records the caller may read.
pub async fn list_duplicate_pairs(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    use peyvand_crm::customers::queue;
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["object", "after", "limit"])?;
    let object = params.get("object").unwrap_or("contact");
    let limit = params.number("limit")?.unwrap_or(50).clamp(1, 100);
    let (pairs, next) = queue::pairs(&state.db, object, params.get("after"), limit).await?;
    let last = queue::last_scan(&state.db, object).await?;
    Ok(Json(serde_json::json!({ "pairs": pairs, "next": next, "last_scan": last })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanInput {
    object: String,
}

/// Asks for a scan of an object's records for duplicates (admins); the runner does it.
pub async fn scan_duplicates(
    State(state): State<AppState>,
    authed: Authed,
    super::ApiJson(body): super::ApiJson<ScanInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    let job = peyvand_crm::customers::queue::request_scan(&state.db, &body.object).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "job": job }))))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DismissInput {
    object: String,
    a: String,
    b: String,
}

/// Marks a pair of the queue as not duplicates.
pub async fn dismiss_duplicate_pair(
    State(state): State<AppState>,
    authed: Authed,
    super::ApiJson(body): super::ApiJson<DismissInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    peyvand_crm::customers::queue::dismiss(&state.db, &authed.user.id, &body.object, &body.a, &body.b).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A record's likely duplicates (same e-mail, phone, or a name that reads the same), each with
/// why; 404 for a record the caller may not read.
pub async fn record_duplicates(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let found = peyvand_crm::customers::merge::duplicates(&state.db, &object, &id).await?;
    let list: Vec<serde_json::Value> =
        found.into_iter().map(|(record, why)| serde_json::json!({ "record": record, "reasons": why })).collect();
    Ok(Json(serde_json::json!({ "duplicates": list })).into_response())
}

/// Merges another record into this one in one transaction (see `crm::customers::merge`):
/// answers the survivor; the other's id then redirects to it.
pub async fn merge_records(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<peyvand_crm::customers::merge::MergeInput>,
) -> ApiResult<Response> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let merged = peyvand_crm::customers::merge::merge(&state.db, Some(&authed.user.id), &object, &id, &body).await?;
    Ok(with_etag(&merged, StatusCode::OK))
}
