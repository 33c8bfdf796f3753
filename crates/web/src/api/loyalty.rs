//! Loyalty (`peyvand_crm::loyalty`): programs and their rewards (admins configure; everyone
//! reads), members as the contacts one may read (enrol, an action's points, a redemption;
//! managers correct a balance), a member's statement, vouchers used on orders.

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use peyvand_crm::loyalty::programs::{self, Definition};
use peyvand_crm::loyalty::rewards::{self, Redeem, RewardDef};
use peyvand_crm::loyalty::{self, earning, ledger, referrals};
use peyvand_records::access::{Action, Role};
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn list_loyalty_programs(State(state): State<AppState>, authed: Authed) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    Ok(Json(json!({ "programs": programs::list(&state.db).await? })))
}

pub async fn get_loyalty_program(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    let program = programs::get(&state.db, &id).await?;
    let tiers: Vec<Value> = ledger::tier_counts(&state.db, &id)
        .await?
        .into_iter()
        .map(|(tier, members)| json!({ "tier": tier, "members": members }))
        .collect();
    Ok(Json(json!({ "program": program, "members_by_tier": tiers })))
}

pub async fn create_loyalty_program(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(def): ApiJson<Definition>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(programs::save(&state.db, None, def).await?)))
}

pub async fn update_loyalty_program(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<Definition>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(programs::save(&state.db, Some(&id), def).await?))
}

pub async fn post_loyalty_orders(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(json!({ "posted": earning::post_orders(&state.db, &id).await? })))
}

pub async fn list_loyalty_rewards(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ReadRecords)?;
    programs::get(&state.db, &id).await?;
    Ok(Json(json!({ "rewards": rewards::list(&state.db, &id).await? })))
}

pub async fn create_loyalty_reward(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(def): ApiJson<RewardDef>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok((StatusCode::CREATED, Json(rewards::save(&state.db, &id, None, def).await?)))
}

pub async fn update_loyalty_reward(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, reward)): Path<(String, String)>,
    ApiJson(def): ApiJson<RewardDef>,
) -> ApiResult<impl IntoResponse> {
    authed.require(Action::ManageSchema)?;
    Ok(Json(rewards::save(&state.db, &id, Some(&reward), def).await?))
}

/// The members of a program one may read (their contacts'), largest balance first.
pub async fn list_loyalty_members(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["limit", "offset"])?;
    let number = |key: &str, default: i64, max: i64| -> Result<i64, ApiError> {
        match params.get(key) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().ok().filter(|n| (0..=max).contains(n)).ok_or_else(|| ApiError::BadRequest {
                code: "invalid_parameter",
                detail: format!("{key} must be a number from 0 to {max}"),
            }),
        }
    };
    let (limit, offset) = (number("limit", 50, 500)?, number("offset", 0, 1_000_000)?);
    let program = programs::get(&state.db, &id).await?;
    let members = ledger::top_members(&state.db, &id, limit, offset).await?;
    let ids: Vec<String> = members.iter().map(|m| m.contact_id.clone()).collect();
    let titles = state.db.titles("contact", &ids).await?;
    let list: Vec<Value> = members
        .iter()
        .filter_map(|m| {
            let mut j = loyalty::member_json(&program, m);
            j["contact_title"] = json!(titles.get(&m.contact_id)?);
            Some(j)
        })
        .collect();
    Ok(Json(json!({ "members": list })))
}

/// Refuses, as not found, a contact the user may not read.
async fn readable_contact(state: &AppState, contact: &str) -> ApiResult<()> {
    state.db.get_record("contact", contact, false).await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolIn {
    contact: String,
}

pub async fn enrol_loyalty_member(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EnrolIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    let program = programs::get(&state.db, &id).await?;
    readable_contact(&state, &body.contact).await?;
    let member = loyalty::enrol(&state.db, &id, &body.contact, authed.id()).await?;
    Ok((StatusCode::CREATED, Json(loyalty::member_json(&program, &member))))
}

/// A member with their latest entries and redemptions (a contact one may read).
pub async fn get_loyalty_member(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, contact)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    let program = programs::get(&state.db, &id).await?;
    readable_contact(&state, &contact).await?;
    let member = ledger::member(&state.db, &id, &contact)
        .await?
        .ok_or_else(|| peyvand_store::Error::NotFound(format!("member {contact}")))?;
    let entries = ledger::entries(&state.db, &id, &contact, "", "~", 20).await?;
    let redemptions = rewards::redemptions(&state.db, &id, &contact, 20).await?;
    let mut j = loyalty::member_json(&program, &member);
    j["entries"] = json!(entries);
    j["redemptions"] = json!(redemptions);
    Ok(Json(j))
}

/// Every membership of a contact one may read.
pub async fn contact_loyalty(
    State(state): State<AppState>,
    authed: Authed,
    Path(contact): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    readable_contact(&state, &contact).await?;
    let mut list = Vec::new();
    for m in ledger::memberships(&state.db, &contact).await? {
        let program = programs::get(&state.db, &m.program_id).await?;
        list.push(loyalty::member_json(&program, &m));
    }
    Ok(Json(json!({ "memberships": list })))
}

pub async fn loyalty_statement(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, contact)): Path<(String, String)>,
    params: ApiQuery,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    params.only(&["from", "to"])?;
    programs::get(&state.db, &id).await?;
    readable_contact(&state, &contact).await?;
    let today = state.db.today();
    let to = params.get("to").map_or_else(|| today.to_string(), str::to_string);
    let from = params.get("from").map_or_else(|| (today - time::Duration::days(365)).to_string(), str::to_string);
    Ok(Json(ledger::statement(&state.db, &id, &contact, &from, &to).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustIn {
    points: i64,
    note: String,
}

/// A correction of a balance: managers and admins.
pub async fn adjust_loyalty_points(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path((id, contact)): Path<(String, String)>,
    ApiJson(body): ApiJson<AdjustIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    if !matches!(authed.role(), Role::Admin | Role::Manager) {
        return Err(ApiError::Forbidden);
    }
    let program = programs::get(&state.db, &id).await?;
    readable_contact(&state, &contact).await?;
    let key = idempotency_key(&headers)?;
    let member =
        loyalty::adjust(&state.db, &id, &contact, body.points, &body.note, authed.id(), key.as_deref()).await?;
    Ok(Json(loyalty::member_json(&program, &member)))
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let bad = || ApiError::BadRequest {
        code: "invalid_idempotency_key",
        detail: "Idempotency-Key must be 1 to 200 visible ASCII characters".into(),
    };
    let key = headers.get("idempotency-key").map(|v| v.to_str().map(str::to_string)).transpose().map_err(|_| bad())?;
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 200 || !k.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(bad());
    }
    Ok(key)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemIn {
    reward: String,
    #[serde(default)]
    order: Option<String>,
}

/// A reward redeemed for a contact one may read; with `Idempotency-Key` a retry is the same.
pub async fn redeem_loyalty_reward(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path((id, contact)): Path<(String, String)>,
    ApiJson(body): ApiJson<RedeemIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    programs::get(&state.db, &id).await?;
    readable_contact(&state, &contact).await?;
    if let Some(order) = &body.order {
        state.db.get_record("order", order, false).await?;
    }
    let key = idempotency_key(&headers)?;
    let ask = Redeem { reward: &body.reward, order: body.order.as_deref(), key: key.as_deref(), actor: authed.id() };
    Ok((StatusCode::CREATED, Json(rewards::redeem(&state.db, &id, &contact, ask).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwardIn {
    action: String,
    /// What made it (a review's id, a visit's day): the same one earns once.
    reference: String,
}

pub async fn award_loyalty_action(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, contact)): Path<(String, String)>,
    ApiJson(body): ApiJson<AwardIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    programs::get(&state.db, &id).await?;
    readable_contact(&state, &contact).await?;
    if body.reference.trim().is_empty() || body.reference.chars().count() > 200 {
        return Err(peyvand_store::Error::invalid(peyvand_records::FieldError::new("reference", "required")).into());
    }
    let points = loyalty::award(&state.db, &id, &contact, &body.action, body.reference.trim(), authed.id()).await?;
    Ok(Json(json!({ "points": points })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UseVoucherIn {
    order: String,
}

/// A voucher used on an order one may read.
pub async fn use_loyalty_voucher(
    State(state): State<AppState>,
    authed: Authed,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<UseVoucherIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    state.db.get_record("order", &body.order, false).await?;
    Ok(Json(rewards::use_voucher(&state.db, &code, &body.order).await?))
}

/// A contact's referral code, the links that carry it (each program's referral form), whom
/// they brought and who brought them.
pub async fn contact_referrals(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path(contact): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::ReadRecords)?;
    readable_contact(&state, &contact).await?;
    let code = referrals::code_for(&state.db, &contact).await?;
    let base = crate::html::base_url(&state, &headers);
    let links: Vec<Value> = programs::list(&state.db)
        .await?
        .into_iter()
        .filter_map(|p| {
            let form = p.definition.referral_form.clone()?;
            Some(json!({ "program": p.id, "link": format!("{base}/f/{form}?ref={code}") }))
        })
        .collect();
    let (made, by) = referrals::of_contact(&state.db, &contact).await?;
    Ok(Json(json!({ "code": code, "links": links, "referred_by": by, "referrals": made })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralIn {
    code: String,
    contact: String,
}

/// A new customer (a contact one may read) attributed to the owner of a referral code.
pub async fn create_referral(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<ReferralIn>,
) -> ApiResult<impl IntoResponse> {
    let state = authed.scoped(state);
    authed.require(Action::WriteRecords)?;
    readable_contact(&state, &body.contact).await?;
    let made = referrals::attribute(&state.db, &body.code, &body.contact, "api", authed.id()).await?;
    Ok((StatusCode::CREATED, Json(made)))
}
