//! Insights (`peyvand_crm::insights`): reports and dashboards (everyone who reads records keeps
//! their own and reads the shared ones; a run counts only the records the caller may see),
//! quotas with their attainment, the leaderboard and awards.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, current_lang};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::insights::dashboards::{self, DashboardDef};
use peyvand_crm::insights::performance::{self, AwardInput};
use peyvand_crm::insights::quotas::{self, QuotaInput};
use peyvand_crm::insights::reports::{self, ReportDef};
use peyvand_records::FieldError;
use peyvand_records::access::Action;
use peyvand_records::aggregate::{Bucket, Calendar};
use serde_json::json;

pub async fn list_reports(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "reports": reports::list(&state.db).await? })))
}

pub async fn get_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(reports::get(&state.db, &id).await?))
}

pub async fn create_report(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(def): ApiJson<ReportDef>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok((StatusCode::CREATED, Json(reports::save(&state.db, None, def).await?)))
}

pub async fn update_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<ReportDef>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(reports::save(&state.db, Some(&id), def).await?))
}

pub async fn delete_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    reports::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A report's figures: the groups with their counts and measures, and each group's records'
/// filter (`drill`, for `GET /records/{object}?filter=`).
pub async fn run_report(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&[])?;
    let report = reports::get(&state.db, &id).await?;
    let figures = reports::run(&state.db, &report.definition, current_lang()).await?;
    Ok(Json(figures))
}

pub async fn list_dashboards(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let default = dashboards::default_for(&state.db, current_lang()).await?;
    Ok(Json(json!({ "default": default, "dashboards": dashboards::list(&state.db).await? })))
}

/// A dashboard; `default` is the caller's default one (their role's).
pub async fn get_dashboard(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(dashboards::get(&state.db, &id, current_lang()).await?))
}

pub async fn create_dashboard(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(def): ApiJson<DashboardDef>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok((StatusCode::CREATED, Json(dashboards::save(&state.db, None, def).await?)))
}

pub async fn update_dashboard(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<DashboardDef>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(dashboards::save(&state.db, Some(&id), def).await?))
}

pub async fn delete_dashboard(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    dashboards::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The quotas the caller reads, each with its attainment.
pub async fn list_quotas(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let mut out = Vec::new();
    for q in quotas::list(&state.db).await? {
        out.push(quotas::attainment(&state.db, &q).await?);
    }
    Ok(Json(json!({ "quotas": out })))
}

pub async fn get_quota(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let q = quotas::get(&state.db, &id).await?;
    Ok(Json(quotas::attainment(&state.db, &q).await?))
}

pub async fn create_quota(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<QuotaInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok((StatusCode::CREATED, Json(quotas::save(&state.db, None, &input).await?)))
}

pub async fn update_quota(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<QuotaInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok(Json(quotas::save(&state.db, Some(&id), &input).await?))
}

pub async fn delete_quota(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    quotas::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The people the caller works with, ranked by `measure` from `from` to before `to` (days;
/// the current month by default).
pub async fn leaderboard(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["measure", "from", "to", "currency"])?;
    let db = &state.db;
    let (from, to) = days(&params, db.today())?;
    let measure = params.get("measure").unwrap_or("won_amount");
    let currency = params.get("currency").filter(|c| !c.is_empty()).unwrap_or("IRR");
    let board = performance::leaderboard(db, measure, currency, from, to).await?;
    Ok(Json(json!({
        "measure": measure,
        "from": peyvand_records::value::format_date(from),
        "to": peyvand_records::value::format_date(to),
        "standings": board,
    })))
}

/// A person's awards (everyone reads them).
pub async fn user_awards(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    state.db.user(&id).await?;
    Ok(Json(json!({ "awards": performance::awards_of(&state.db, &id).await? })))
}

pub async fn give_award(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<AwardInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok((StatusCode::CREATED, Json(performance::give(&state.db, &input).await?)))
}

pub async fn withdraw_award(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    performance::withdraw(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The revenue forecast of the orders the caller reads: by `period` (month or week) in
/// `calendar` (the reader's by default), `horizon` periods ahead, in `currency`.
pub async fn revenue_forecast(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["period", "horizon", "calendar", "currency"])?;
    let invalid = |field: &str, code: &'static str| {
        ApiError::Store(peyvand_store::Error::Validation(vec![FieldError::new(field, code)]))
    };
    let bucket = match params.get("period").unwrap_or("month") {
        "month" => Bucket::Month,
        "week" => Bucket::Week,
        _ => return Err(invalid("period", "invalid_option")),
    };
    let calendar = match params.get("calendar").unwrap_or("") {
        "" if current_lang() == "fa" => Calendar::Jalali,
        other => Calendar::parse(other).map_err(|e| ApiError::Store(peyvand_store::Error::Validation(vec![e])))?,
    };
    let horizon = match params.get("horizon") {
        None => 6,
        Some(h) => h.parse().map_err(|_| invalid("horizon", "invalid_integer"))?,
    };
    let currency = params.get("currency").filter(|c| !c.is_empty()).unwrap_or("IRR");
    Ok(Json(peyvand_crm::insights::forecast::revenue(&state.db, bucket, calendar, horizon, currency).await?))
}

/// Each person the caller works with: their results from `from` to before `to` (days; the
/// current month by default), and how long the pipeline's stages took.
pub async fn performance(
    State(state): State<AppState>,
    authed: Authed,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["from", "to", "currency"])?;
    let db = &state.db;
    let (from, to) = days(&params, db.today())?;
    let currency = params.get("currency").filter(|c| !c.is_empty()).unwrap_or("IRR");
    let (people, stages) = performance::scorecards(db, currency, from, to).await?;
    let stages: Vec<serde_json::Value> = stages
        .into_iter()
        .map(|(stage, days, left)| json!({ "stage": stage, "average_days": days, "left": left }))
        .collect();
    Ok(Json(json!({
        "from": peyvand_records::value::format_date(from),
        "to": peyvand_records::value::format_date(to),
        "people": people,
        "stages": stages,
    })))
}

/// The last customer-value fit: its parameters, calibration, and customers by churn risk and
/// RFM segment (`null` before the first).
pub async fn customer_value(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "latest": peyvand_crm::insights::value::latest(&state.db).await? })))
}

/// Fits the customer-value models now and writes every contact's value (managers and admins).
pub async fn run_customer_value(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    if !matches!(authed.user.role, peyvand_records::access::Role::Admin | peyvand_records::access::Role::Manager) {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(peyvand_crm::insights::value::score(&state.db).await?))
}

/// The days `from` and `to` (before it) of a query: absent, the current Gregorian month and the
/// month from `from`; present, a day (an empty one is not).
fn days(params: &ApiQuery, today: time::Date) -> Result<(time::Date, time::Date), ApiError> {
    let day = |name: &str, default: time::Date| match params.get(name) {
        None => Ok(default),
        Some(text) => {
            peyvand_records::value::parse_date(text).filter(|d| (1900..2200).contains(&d.year())).ok_or_else(|| {
                ApiError::Store(peyvand_store::Error::Validation(vec![FieldError::new(name, "invalid_date")]))
            })
        }
    };
    let from = day("from", Bucket::Month.start(Calendar::Gregorian, today))?;
    let to = day("to", Bucket::Month.next(Calendar::Gregorian, from))?;
    Ok((from, to))
}

/// A contact's or a company's profitability (for those who read products' cost price): revenue
/// after discounts, product cost, service cost, profit and margin, in `currency` (IRR).
pub async fn customer_profitability(
    State(state): State<AppState>,
    authed: Authed,
    Path((object, id)): Path<(String, String)>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["currency"])?;
    let currency = params.get("currency").filter(|c| !c.is_empty()).unwrap_or("IRR");
    Ok(Json(peyvand_crm::insights::profit::of_customer(&state.db, &object, &id, currency).await?))
}

/// The last lead-scoring run (null before the first): what it learned from, its held-out
/// accuracy and its strongest weights.
pub async fn lead_scores(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "latest": peyvand_crm::insights::lead_scores::latest(&state.db).await? })))
}

/// Trains the lead-score model now and scores every open lead (managers and admins).
pub async fn run_lead_scores(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    if !matches!(authed.user.role, peyvand_records::access::Role::Admin | peyvand_records::access::Role::Manager) {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(peyvand_crm::insights::lead_scores::train(&state.db).await?))
}

/// The award rules (everyone reads them).
pub async fn list_award_rules(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "rules": peyvand_crm::insights::award_rules::list(&state.db).await? })))
}

pub async fn create_award_rule(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<peyvand_crm::insights::award_rules::RuleInput>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    Ok((StatusCode::CREATED, Json(peyvand_crm::insights::award_rules::create(&state.db, &input).await?)))
}

pub async fn delete_award_rule(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    peyvand_crm::insights::award_rules::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the awards of every rule for the periods that ended now, as the nightly run does
/// (admins); those given already are not given again.
pub async fn apply_award_rules(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    if authed.user.role != peyvand_records::access::Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let given = peyvand_crm::insights::award_rules::apply(&state.db, state.db.today()).await?;
    Ok(Json(json!({ "given": given })))
}
