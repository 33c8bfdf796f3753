//! Automation (`peyvand_crm::automation`): workflows with their test runs and run history,
//! templates with their preview, webhook subscriptions with their delivery log, the outbox of
//! e-mails and SMS, and the SMTP server and SMS gateway. Admins build and configure; a preview
//! or a test run reads the record as the asker may.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use peyvand_crm::automation::templates::{self, TemplateInput};
use peyvand_crm::automation::workflows::{self, WorkflowInput};
use peyvand_crm::automation::{mail, reports, webhooks};
use peyvand_records::access::Action;
use serde::Deserialize;
use serde_json::json;

fn status(q: &std::collections::HashMap<String, String>) -> Option<String> {
    q.get("status").filter(|s| !s.is_empty()).cloned()
}

fn limit(q: &std::collections::HashMap<String, String>) -> ApiResult<i64> {
    match q.get("limit") {
        None => Ok(100),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| peyvand_records::FieldError::new("limit", "out_of_range").into()),
    }
}

pub async fn list_workflows(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "workflows": workflows::list(&state.db).await? })))
}

pub async fn get_workflow(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(workflows::get(&state.db, &id).await?))
}

/// A workflow as sent: its trigger and steps are tagged by `kind`, each kind with members of its
/// own, which a schema says only loosely; one that does not read is refused as the definition's
/// problem (422), with what was wrong.
fn workflow_input(body: serde_json::Value) -> ApiResult<WorkflowInput> {
    serde_json::from_value(body).map_err(|e| {
        peyvand_records::FieldError::with("definition", "invalid_definition", json!({ "detail": e.to_string() })).into()
    })
}

pub async fn create_workflow(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    let input = workflow_input(body)?;
    Ok((StatusCode::CREATED, Json(workflows::save(&state.db, Some(&authed.user.id), None, &input).await?)))
}

pub async fn update_workflow(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    let input = workflow_input(body)?;
    Ok(Json(workflows::save(&state.db, Some(&authed.user.id), Some(&id), &input).await?))
}

pub async fn delete_workflow(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    workflows::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordIn {
    record_id: String,
}

pub async fn test_workflow(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecordIn>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    let wf = workflows::get(&state.db, &id).await?;
    let scoped = authed.scoped(state);
    Ok(Json(workflows::test_run(&scoped.db, &wf.object, &wf.definition, &body.record_id).await?))
}

pub async fn workflow_runs(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    workflows::get(&state.db, &id).await?;
    let runs = workflows::runs(&state.db, Some(&id), status(&q).as_deref(), limit(&q)?).await?;
    Ok(Json(json!({ "runs": runs })))
}

pub async fn list_workflow_runs(
    State(state): State<AppState>,
    authed: Authed,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "runs": workflows::runs(&state.db, None, status(&q).as_deref(), limit(&q)?).await? })))
}

pub async fn retry_workflow_run(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(workflows::retry(&state.db, &id).await?))
}

pub async fn list_templates(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "templates": templates::list(&state.db).await? })))
}

pub async fn get_template(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(templates::get(&state.db, &id).await?))
}

pub async fn create_template(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<TemplateInput>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(templates::save(&state.db, None, &input).await?)))
}

pub async fn update_template(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(templates::save(&state.db, Some(&id), &input).await?))
}

pub async fn delete_template(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    templates::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn preview_template(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecordIn>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    let t = templates::get(&state.db, &id).await?;
    let scoped = authed.scoped(state);
    Ok(Json(templates::render_for(&scoped.db, &t, &body.record_id).await?))
}

pub async fn list_webhooks(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "webhooks": webhooks::list(&state.db).await? })))
}

pub async fn get_webhook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(webhooks::get(&state.db, &id).await?))
}

pub async fn create_webhook(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<webhooks::SubscriptionInput>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(webhooks::save(&state.db, None, &input).await?)))
}

pub async fn update_webhook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<webhooks::SubscriptionInput>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(webhooks::save(&state.db, Some(&id), &input).await?))
}

pub async fn delete_webhook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    webhooks::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn resume_webhook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(webhooks::resume(&state.db, &id).await?))
}

pub async fn webhook_deliveries(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    webhooks::get(&state.db, &id).await?;
    Ok(Json(json!({ "deliveries": webhooks::deliveries(&state.db, &id, limit(&q)?).await? })))
}

pub async fn replay_delivery(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(webhooks::replay(&state.db, &id).await?))
}

pub async fn list_messages(
    State(state): State<AppState>,
    authed: Authed,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "messages": mail::messages(&state.db, status(&q).as_deref(), limit(&q)?).await? })))
}

pub async fn retry_message(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(mail::retry(&state.db, &id).await?))
}

pub async fn smtp_settings(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "smtp": mail::smtp_settings(&state.db).await? })))
}

pub async fn set_smtp_settings(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<mail::SmtpSettings>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "smtp": mail::save_smtp(&state.db, &input).await? })))
}

pub async fn sms_settings(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "sms": mail::sms_settings(&state.db).await? })))
}

pub async fn set_sms_settings(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<mail::SmsSettings>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "sms": mail::save_sms(&state.db, &input).await? })))
}

pub async fn list_inbound_hooks(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "hooks": webhooks::inbound_list(&state.db).await? })))
}

pub async fn create_inbound_hook(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<webhooks::InboundInput>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(webhooks::create_inbound(&state.db, Some(&authed.user.id), &input).await?)))
}

pub async fn delete_inbound_hook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    webhooks::delete_inbound(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Another system's signed request (no session: the signature is the right to call). A wrong
/// signature or an old timestamp is 401; the body's fields are checked as the API checks them.
pub async fn receive_hook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<impl IntoResponse> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = std::str::from_utf8(&body).map_err(|_| peyvand_records::FieldError::new("body", "invalid_json"))?;
    if body.contains('\0') {
        return Err(peyvand_records::FieldError::new("body", "control_characters").into());
    }
    let event = header("peyvand-event-id");
    let got = webhooks::receive(
        &state.db,
        &id,
        &header("peyvand-timestamp"),
        &header("peyvand-signature"),
        Some(event.as_str()).filter(|e| !e.is_empty()),
        body,
    )
    .await;
    match got {
        Ok(r) => {
            let status = if r.outcome == "created" { StatusCode::CREATED } else { StatusCode::OK };
            Ok((status, Json(json!({ "outcome": r.outcome, "record": r.record }))))
        }
        Err(peyvand_store::Error::Forbidden(_)) => Err(crate::error::ApiError::Unauthorized),
        Err(e) => Err(e.into()),
    }
}

pub async fn imap_settings(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "imap": peyvand_crm::automation::inbox::imap_settings(&state.db).await? })))
}

pub async fn set_imap_settings(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<peyvand_crm::automation::inbox::ImapSettings>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "imap": peyvand_crm::automation::inbox::save_imap(&state.db, &input).await? })))
}

pub async fn received_messages(
    State(state): State<AppState>,
    authed: Authed,
    ApiQuery(q): ApiQuery,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "messages": peyvand_crm::automation::inbox::received(&state.db, limit(&q)?).await? })))
}

/// Managers and admins keep the scheduled reports (each recipient still gets only what they
/// may see).
fn may_schedule(authed: &Authed) -> ApiResult<()> {
    if reports::may_keep(authed.role()) { Ok(()) } else { Err(crate::error::ApiError::Forbidden) }
}

pub async fn list_report_schedules(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    may_schedule(&authed)?;
    Ok(Json(json!({ "schedules": reports::list(&state.db).await? })))
}

pub async fn create_report_schedule(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(input): ApiJson<reports::ScheduleInput>,
) -> ApiResult<impl IntoResponse> {
    may_schedule(&authed)?;
    Ok((StatusCode::CREATED, Json(reports::save(&state.db, &authed.user.id, None, &input).await?)))
}

pub async fn update_report_schedule(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<reports::ScheduleInput>,
) -> ApiResult<impl IntoResponse> {
    may_schedule(&authed)?;
    Ok(Json(reports::save(&state.db, &authed.user.id, Some(&id), &input).await?))
}

pub async fn delete_report_schedule(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    may_schedule(&authed)?;
    reports::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a schedule's report now, to its recipients.
pub async fn send_report_schedule(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    may_schedule(&authed)?;
    Ok(Json(json!({ "queued": reports::send_now(&state.db, &id).await? })))
}
