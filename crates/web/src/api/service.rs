//! The support desk (`peyvand_crm::service`): a ticket's conversation (replies, notes, files),
//! taking and merging tickets; the desk's setup for admins (queues, business-hours calendars,
//! days off, service-level policies, what a reply to a closed ticket does); the compliance
//! report. Tickets themselves are records (`/records/ticket`).

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use peyvand_crm::service::conversation::{self, Reply, Upload};
use peyvand_crm::service::levels::{self, By, Calendar, Holiday, Policy};
use peyvand_crm::service::queues::{self, Mode};
use peyvand_crm::service::{dealers, knowledge};
use peyvand_records::FieldError;
use peyvand_records::access::Action;
use serde::Deserialize;
use serde_json::json;

/// Largest reply body through the API: five files of the largest size, as base64, and text.
pub const MAX_REPLY_BODY: usize = 36 * 1024 * 1024;

pub async fn list_ticket_messages(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "messages": conversation::messages(&state.db, &id).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIn {
    file_name: String,
    content_base64: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyIn {
    #[serde(default)]
    body: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    files: Vec<FileIn>,
    #[serde(default)]
    article: Option<String>,
}

pub async fn reply_ticket(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplyIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let mut files = Vec::new();
    for (i, f) in body.files.into_iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(f.content_base64.trim())
            .map_err(|_| FieldError::new(&format!("files.{i}"), "invalid_base64"))?;
        files.push(Upload { file_name: f.file_name, bytes });
    }
    let reply = Reply { body: body.body, public: body.public, status: body.status, files, article: body.article };
    let m = conversation::reply(&state.db, &authed.user.id, &id, &reply).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

pub async fn ticket_attachment(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, file)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let (a, bytes) = conversation::attachment(&state.db, &id, &file).await?;
    Ok(download(&a, bytes))
}

/// A kept file as a download, never shown in the page (whatever it holds).
pub fn download(a: &conversation::Attachment, bytes: Vec<u8>) -> axum::response::Response {
    let ascii: String =
        a.file_name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
    let encoded: String = a
        .file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, a.content_type.clone()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")),
            (header::HeaderName::from_static("x-content-type-options"), "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    into: String,
}

pub async fn merge_ticket(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MergeIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(conversation::merge(&state.db, &authed.user.id, &id, &body.into).await?))
}

pub async fn take_ticket(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(queues::take(&state.db, &authed.user.id, &id).await?))
}

pub async fn list_queues(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "queues": queues::list(&state.db).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueIn {
    mode: Mode,
}

pub async fn set_queue(
    State(state): State<AppState>,
    authed: Authed,
    Path(team): Path<String>,
    ApiJson(body): ApiJson<QueueIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(queues::save(&state.db, authed.id(), &team, body.mode).await?))
}

pub async fn delete_queue(
    State(state): State<AppState>,
    authed: Authed,
    Path(team): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    queues::delete(&state.db, authed.id(), &team).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_calendars(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "calendars": levels::calendars(&state.db).await? })))
}

pub async fn create_calendar(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<Calendar>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(levels::save_calendar(&state.db, None, body).await?)))
}

pub async fn update_calendar(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Calendar>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(levels::save_calendar(&state.db, Some(&id), body).await?))
}

pub async fn delete_calendar(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    levels::delete_calendar(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_holidays(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "holidays": levels::holidays(&state.db).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidaysIn {
    holidays: Vec<Holiday>,
}

pub async fn set_holidays(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<HolidaysIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    levels::set_holidays(&state.db, &body.holidays).await?;
    Ok(Json(json!({ "holidays": levels::holidays(&state.db).await? })))
}

pub async fn list_sla_policies(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "policies": levels::policies(&state.db).await? })))
}

pub async fn create_sla_policy(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<Policy>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(levels::save_policy(&state.db, authed.id(), None, body).await?)))
}

pub async fn update_sla_policy(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Policy>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    Ok(Json(levels::save_policy(&state.db, authed.id(), Some(&id), body).await?))
}

pub async fn delete_sla_policy(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    levels::delete_policy(&state.db, authed.id(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn settings_json(db: &peyvand_store::Db) -> Result<serde_json::Value, ApiError> {
    Ok(json!({
        "closed_reply": conversation::closed_reply(db).await?,
        "dealer_threshold": dealers::threshold(db).await?,
    }))
}

pub async fn service_settings(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(settings_json(&state.db).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsIn {
    #[serde(default)]
    closed_reply: Option<String>,
    /// Complaints per 10,000 units above which a dealer raises an alert; 0 clears it.
    #[serde(default)]
    dealer_threshold: Option<f64>,
}

pub async fn set_service_settings(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<SettingsIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ManageSchema)?;
    if let Some(c) = &body.closed_reply {
        conversation::set_closed_reply(&state.db, c).await?;
    }
    if let Some(t) = body.dealer_threshold {
        dealers::set_threshold(&state.db, Some(t).filter(|t| *t != 0.0)).await?;
    }
    Ok(Json(settings_json(&state.db).await?))
}

/// The report's range: `from` and `to` ISO days (to excluded); the last twelve months by default.
pub fn report_range(
    db: &peyvand_store::Db,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(time::Date, time::Date), ApiError> {
    let day = |name: &str, v: &str| {
        peyvand_records::value::parse_date(v).ok_or_else(|| ApiError::from(FieldError::new(name, "invalid_date")))
    };
    let to = match to {
        Some(v) => day("to", v)?,
        None => db.today().next_day().unwrap_or(db.today()),
    };
    let from = match from {
        Some(v) => day("from", v)?,
        None => to - time::Duration::days(365),
    };
    if from >= to || (to - from).whole_days() > 3 * 366 {
        return Err(FieldError::new("from", "invalid_range").into());
    }
    Ok((from, to))
}

pub async fn service_compliance(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["by", "from", "to", "calendar"])?;
    let by = match params.get("by") {
        None => By::Month,
        Some(b) => By::parse(b).ok_or_else(|| ApiError::from(FieldError::new("by", "invalid_option")))?,
    };
    let jalali = match params.get("calendar") {
        None | Some("gregorian") => false,
        Some("jalali") => true,
        Some(_) => return Err(FieldError::new("calendar", "invalid_option").into()),
    };
    let (from, to) = report_range(&state.db, params.get("from"), params.get("to"))?;
    let rows = levels::compliance(&state.db, by, from, to, jalali).await?;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| {
            json!({
                "key": r.key, "tickets": r.tickets,
                "first_response_late": r.first_response_late, "resolution_late": r.resolution_late,
                "first_response_kept_percent": r.first_response_kept(), "resolution_kept_percent": r.resolution_kept(),
            })
        })
        .collect();
    Ok(Json(json!({ "by": by, "from": from.to_string(), "to": to.to_string(), "rows": rows })))
}

pub async fn search_kb(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["q", "lang", "limit"])?;
    let lang = match params.get("lang") {
        None => None,
        Some(l @ ("fa" | "en")) => Some(l),
        Some(_) => return Err(FieldError::new("lang", "invalid_option").into()),
    };
    let limit = params.number("limit")?.unwrap_or(10).clamp(1, 50) as usize;
    let found = knowledge::search(&state.db, params.get("q").unwrap_or(""), lang, limit).await?;
    Ok(Json(json!({ "articles": found })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteIn {
    helpful: bool,
}

pub async fn vote_kb(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VoteIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(knowledge::vote(&state.db, &id, body.helpful).await?))
}

/// A month parameter (`1405-09`), or the default.
pub fn month_param(name: &str, value: Option<&str>, default: (i32, u8)) -> Result<(i32, u8), ApiError> {
    match value {
        None => Ok(default),
        Some(v) => dealers::parse_month(v).ok_or_else(|| FieldError::new(name, "invalid_month").into()),
    }
}

/// This Jalali month and the one eleven months before it.
pub fn last_twelve_months(db: &peyvand_store::Db) -> ((i32, u8), (i32, u8)) {
    let (y, m, _) = peyvand_records::jalali::to_jalali(db.today()).unwrap_or((1405, 1, 1));
    let from = if m == 12 { (y, 1) } else { (y - 1, m + 1) };
    (from, (y, m))
}

pub async fn dealer_rates(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["from", "to", "by"])?;
    let (from, to) = last_twelve_months(&state.db);
    let from = month_param("from", params.get("from"), from)?;
    let to = month_param("to", params.get("to"), to)?;
    let by_product = match params.get("by") {
        None | Some("dealer") => false,
        Some("product") => true,
        Some(_) => return Err(FieldError::new("by", "invalid_option").into()),
    };
    let rows = dealers::rates(&state.db, from, to, by_product).await?;
    Ok(Json(json!({ "threshold": dealers::threshold(&state.db).await?, "rows": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountIn {
    month: String,
}

pub async fn count_dealer_units(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CountIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    Ok(Json(dealers::count_from_orders(&state.db, authed.id(), &id, &body.month).await?))
}
