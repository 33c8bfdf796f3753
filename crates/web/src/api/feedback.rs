//! Feedback (`peyvand_crm::feedback`): surveys (admins build them; anyone who writes invites a
//! customer; results for every reader), the public answer to an invitation's link, customers'
//! ratings of staff, and a suggestion's askers. Suggestions themselves are records
//! (`/records/suggestion`).

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::feedback::suggestions;
use peyvand_crm::feedback::surveys::{self, Definition, Invitee};
use peyvand_records::access::Action;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

pub async fn list_surveys(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "surveys": surveys::list(&state.db).await? })))
}

pub async fn get_survey(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(surveys::get(&state.db, &id).await?))
}

pub async fn create_survey(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(def): ApiJson<Definition>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(surveys::save(&state.db, None, def).await?)))
}

pub async fn update_survey(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<Definition>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(surveys::save(&state.db, Some(&id), def).await?))
}

pub async fn delete_survey(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    surveys::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationsIn {
    invitations: Vec<Invitee>,
}

/// The base of the links a response names (the configured public address, else the request's).
fn link(state: &AppState, headers: &axum::http::HeaderMap, token: &str) -> String {
    format!("{}/s/{token}", crate::html::base_url(state, headers))
}

pub async fn invite_survey(
    State(state): State<AppState>,
    authed: Authed,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InvitationsIn>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::WriteRecords)?;
    let scoped = authed.scoped(state.clone());
    // One invites the customers one may read, about records one may read.
    for w in &body.invitations {
        if let Some(c) = &w.contact {
            scoped.db.get_record("contact", c, false).await?;
        }
        if let (Some(o), Some(r)) = (&w.record_object, &w.record_id) {
            scoped.db.get_record(o, r, false).await?;
        }
    }
    let made = surveys::invite(&state.db, &id, &body.invitations).await?;
    let out: Vec<Value> = made
        .into_iter()
        .map(|(inv, token)| {
            let mut v = serde_json::to_value(&inv).unwrap_or(Value::Null);
            v["link"] = json!(link(&state, &headers, &token));
            v
        })
        .collect();
    Ok((StatusCode::CREATED, Json(json!({ "invitations": out }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendIn {
    #[serde(default)]
    customer_groups: Vec<String>,
    limit: i64,
}

pub async fn send_survey(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SendIn>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    surveys::send_now(&state.db, &id, &body.customer_groups, body.limit).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": true }))))
}

/// `[from, to)` as stored times from ISO days: the last year to tomorrow by default.
fn range(q: &std::collections::HashMap<String, String>) -> ApiResult<(String, String)> {
    let day = |name: &str| -> ApiResult<Option<time::Date>> {
        match q.get(name).map(String::as_str) {
            None => Ok(None),
            // A full date (YYYY-MM-DD) and nothing else.
            Some(s) => {
                let shaped = s.len() == 10
                    && s.bytes()
                        .enumerate()
                        .all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
                shaped
                    .then(|| peyvand_records::value::parse_date(s))
                    .flatten()
                    .map(Some)
                    .ok_or_else(|| peyvand_records::FieldError::new(name, "invalid_date").into())
            }
        }
    };
    let to = day("to")?.unwrap_or(OffsetDateTime::now_utc().date() + Duration::days(1));
    let from = day("from")?.unwrap_or(to - Duration::days(366));
    let stored = |d: time::Date| peyvand_records::value::format_datetime(d.midnight().assume_utc());
    Ok((stored(from), stored(to)))
}

pub async fn survey_results(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    let (from, to) = range(&q)?;
    Ok(Json(surveys::results(&state.db, &id, &from, &to).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerIn {
    answers: Map<String, Value>,
}

/// A customer's answer through their link's token: no login (the token is the right to answer,
/// once).
pub async fn answer_survey(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<AnswerIn>,
) -> ApiResult<impl IntoResponse> {
    let inv = surveys::answer(&state.db, &token, &body.answers).await?;
    Ok((StatusCode::CREATED, Json(json!({ "answered_at": inv.answered_at }))))
}

pub async fn staff_ratings(
    State(state): State<AppState>,
    authed: Authed,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    let (from, to) = range(&q)?;
    let staff = surveys::staff_ratings(&state.db, &from, &to).await?;
    let teams = surveys::team_ratings(&staff, &state.db.list_teams().await?);
    Ok(Json(json!({ "staff": staff, "teams": teams })))
}

pub async fn staff_feedback(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    state.db.user(&id).await?;
    let (from, to) = range(&q)?;
    let rating = surveys::staff_ratings(&state.db, &from, &to).await?.into_iter().find(|r| r.staff_id == id);
    let responses = surveys::staff_responses(&state.db, &id, 50).await?;
    Ok(Json(json!({
        "staff_id": id,
        "scores": rating.map(|r| r.scores).unwrap_or_default(),
        "responses": responses,
    })))
}

pub async fn suggestion_askers(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    state.db.get_record("suggestion", &id, false).await?;
    Ok(Json(json!({ "askers": suggestions::askers(&state.db, &id).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskerIn {
    contact: String,
}

pub async fn add_suggestion_asker(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AskerIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(suggestions::add_asker(&state.db, Some(&authed.user.id), &id, &body.contact).await?))
}

pub async fn suggestion_told(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(json!({ "told": suggestions::mark_told(&state.db, &id).await? })))
}
