//! Commissions: what people earn for what they sell. A plan (set by admins) pays a percent of
//! the amounts of won deals, or of the lines of paid orders (after discounts, before tax), at a
//! rate of its own for a product category where it names one. Tiers multiply the rate for what
//! is sold beyond a share of the person's quota (an accelerator: ×1.5 from 100 % of the quota),
//! counting from the quota's first day. A deal or an order may be split between people (shares
//! adding up to 100 %; without a split, its owner has it all).
//!
//! A statement is one person's commission for one period of their plan (a Jalali month unless
//! the plan says otherwise): worked out live while it is open; once the period is over, a
//! manager of the person (or an admin) approves it, which locks its lines and keeps what each
//! record earned. A record paid in an approved statement that no longer counts (an order
//! returned or cancelled, a deal reopened or lost) is clawed back, by what it earned, in the
//! person's first open statement after the one that paid it. Amounts are worked out in
//! hundredths of the plan's currency and rounded half away from zero once per line, to a whole
//! rial in rials; deals and orders in other currencies are left out.

use super::quotas::{self, PAID, Quota, money, tidy};
use peyvand_records::FieldError;
use peyvand_records::access::{Intent, Role};
use peyvand_records::aggregate::{Bucket, Calendar, key_start};
use peyvand_records::decimal::Decimal;
use peyvand_records::filter::parse_filter;
use peyvand_records::value::{format_date, format_datetime, parse_date};
use peyvand_store::hooks::{Action, BoxFuture, HookCx, WriteHook, Written};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Dialect, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use time::Date;

/// What a plan pays on.
pub const BASES: [&str; 2] = ["won_deals", "paid_orders"];
/// A statement's period.
pub const PLAN_PERIODS: [&str; 2] = ["month", "quarter"];
/// Longest number written (a rate, a bound, a multiplier, a share).
const MAX_NUMBER: usize = 40;
/// Digits after the point of a rate (percent) and of a multiplier or a tier's bound.
const RATE_SCALE: u8 = 4;
const MULTIPLIER_SCALE: u8 = 2;

/// An accelerator: from `from` percent of the quota (to before `to`, or without end), the rate
/// is multiplied by `multiplier`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub from: String,
    #[serde(default)]
    pub to: Option<String>,
    pub multiplier: String,
}

/// A plan as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub name: String,
    /// One of [`BASES`].
    pub basis: String,
    /// The percent paid (up to four decimals).
    pub rate: String,
    /// IRR when empty.
    #[serde(default)]
    pub currency: String,
    /// `month` (when empty) or `quarter`.
    #[serde(default)]
    pub period: String,
    /// `jalali` (when empty) or `gregorian`.
    #[serde(default)]
    pub calendar: String,
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// A percent per product category (paid orders only), instead of `rate`.
    #[serde(default)]
    pub category_rates: BTreeMap<String, String>,
    /// The users it applies to.
    #[serde(default)]
    pub members: Vec<String>,
    /// The first day it applies to, and the last (none: without end).
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: Option<String>,
}

/// A plan as kept.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub basis: String,
    pub rate: String,
    pub currency: String,
    pub period: String,
    pub calendar: Calendar,
    pub tiers: Vec<Tier>,
    pub category_rates: BTreeMap<String, String>,
    pub members: Vec<String>,
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Plan {
    /// Hundredths rounded as the plan pays them: to a whole rial in rials (a currency without
    /// smaller units), else as they are.
    fn whole(&self, cents: i128) -> i128 {
        let unit: i128 = if self.currency == "IRR" { 100 } else { 1 };
        div_round(cents, unit) * unit
    }

    fn bucket(&self) -> Bucket {
        Bucket::parse(&self.period).unwrap_or(Bucket::Month)
    }

    /// Whether it applies on `day`.
    fn applies_on(&self, day: &str) -> bool {
        self.valid_from.as_str() <= day && self.valid_to.as_deref().is_none_or(|to| day <= to)
    }

    /// The quota measure its tiers read.
    fn quota_measure(&self) -> &'static str {
        if self.basis == "won_deals" { "won_amount" } else { "paid_amount" }
    }
}

const PLAN_COLUMNS: &str = "id, name, basis, rate, currency, period, calendar, tiers_json, category_rates_json, \
                            members_json, valid_from, valid_to, created_by, created_at, updated_at";

fn parse_plan(r: &sqlx::any::AnyRow) -> Result<Plan> {
    let calendar: String = r.try_get(6)?;
    let tiers: String = r.try_get(7)?;
    let rates: String = r.try_get(8)?;
    let members: String = r.try_get(9)?;
    Ok(Plan {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        basis: r.try_get(2)?,
        rate: r.try_get(3)?,
        currency: r.try_get(4)?,
        period: r.try_get(5)?,
        calendar: Calendar::parse(&calendar).unwrap_or_default(),
        tiers: serde_json::from_str(&tiers).unwrap_or_default(),
        category_rates: serde_json::from_str(&rates).unwrap_or_default(),
        members: serde_json::from_str(&members).unwrap_or_default(),
        valid_from: r.try_get(10)?,
        valid_to: r.try_get(11)?,
        created_by: r.try_get(12)?,
        created_at: r.try_get(13)?,
        updated_at: r.try_get(14)?,
    })
}

async fn all_plans(db: &Db) -> Result<Vec<Plan>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM commission_plans ORDER BY valid_from DESC, name, id"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(parse_plan).collect()
}

/// Whether the viewer reads `plan`: admins and managers every plan, others those they are in.
fn may_read_plan(db: &Db, plan: &Plan) -> bool {
    match db.viewer() {
        None => true,
        Some(v) if matches!(v.role, Some(Role::Admin | Role::Manager)) => true,
        Some(v) => plan.members.contains(&v.user_id),
    }
}

fn is_admin(db: &Db) -> bool {
    db.viewer().is_none_or(|v| v.role == Some(Role::Admin))
}

/// The plans the viewer reads, the latest first.
pub async fn list_plans(db: &Db) -> Result<Vec<Plan>> {
    Ok(all_plans(db).await?.into_iter().filter(|p| may_read_plan(db, p)).collect())
}

/// A plan the viewer reads; others are not found.
pub async fn get_plan(db: &Db, id: &str) -> Result<Plan> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PLAN_COLUMNS} FROM commission_plans WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("commission plan {id}")))?;
    let plan = parse_plan(&r)?;
    if !may_read_plan(db, &plan) {
        return Err(Error::NotFound(format!("commission plan {id}")));
    }
    Ok(plan)
}

/// A non-negative decimal of `scale` digits as kept (no trailing zeros), or the error of `field`.
fn non_negative(text: &str, scale: u8, field: &str, errors: &mut Vec<FieldError>) -> Option<Decimal> {
    if text.chars().count() > MAX_NUMBER {
        errors.push(FieldError::with(field, "too_long", json!({ "max": MAX_NUMBER })));
        return None;
    }
    let latin = peyvand_records::normalize::to_latin_digits(text);
    match Decimal::parse(&latin, scale) {
        Ok(d) if d.units < 0 => {
            errors.push(FieldError::new(field, "negative"));
            None
        }
        Ok(d) => Some(d),
        Err(peyvand_records::decimal::DecimalError::TooManyDecimals) => {
            errors.push(FieldError::with(field, "too_many_decimals", json!({ "scale": scale })));
            None
        }
        Err(_) => {
            errors.push(FieldError::new(field, "invalid_number"));
            None
        }
    }
}

/// A percent of at most 100.
fn percent(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let d = non_negative(text, RATE_SCALE, field, errors)?;
    if d.units > 100 * 10i64.pow(u32::from(RATE_SCALE)) {
        errors.push(FieldError::new(field, "out_of_range"));
        return None;
    }
    Some(tidy(d))
}

/// Checks `input` and gives the plan's kept values (tiers sorted by where they start).
async fn check_plan(db: &Db, id: Option<&str>, input: &PlanInput) -> Result<Plan> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() {
        errors.push(FieldError::new("name", "required"));
    } else if name.chars().count() > 120 {
        errors.push(FieldError::with("name", "too_long", json!({ "max": 120 })));
    }
    if !BASES.contains(&input.basis.as_str()) {
        errors.push(FieldError::new("basis", "invalid_option"));
    }
    let rate = percent(&input.rate, "rate", &mut errors);
    let currency = match input.currency.trim() {
        "" => "IRR".to_string(),
        c if c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase()) => c.to_string(),
        _ => {
            errors.push(FieldError::new("currency", "invalid_currency"));
            String::new()
        }
    };
    let period = match input.period.as_str() {
        "" => "month".to_string(),
        p if PLAN_PERIODS.contains(&p) => p.to_string(),
        _ => {
            errors.push(FieldError::new("period", "invalid_option"));
            String::new()
        }
    };
    let calendar = match input.calendar.as_str() {
        "" => Calendar::Jalali,
        other => Calendar::parse(other).unwrap_or_else(|e| {
            errors.push(e);
            Calendar::Jalali
        }),
    };
    // Numbers are short, even blank ones.
    let long = |t: &str| t.chars().count() > MAX_NUMBER;
    if input.tiers.iter().any(|t| long(&t.from) || long(&t.multiplier) || t.to.as_deref().is_some_and(long)) {
        errors.push(FieldError::with("tiers", "too_long", json!({ "max": MAX_NUMBER })));
    }
    if input.category_rates.values().any(|r| long(r)) {
        errors.push(FieldError::with("category_rates", "too_long", json!({ "max": MAX_NUMBER })));
    }
    // Tiers: each a range of percent of quota with its multiplier; no two share a percent.
    let mut tiers: Vec<(Decimal, Option<Decimal>, Decimal)> = Vec::new();
    if input.tiers.len() > 10 {
        errors.push(FieldError::with("tiers", "too_many_values", json!({ "max": 10 })));
    }
    for t in &input.tiers {
        let from = non_negative(&t.from, MULTIPLIER_SCALE, "tiers", &mut errors);
        let to = match t.to.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(to) => non_negative(to, MULTIPLIER_SCALE, "tiers", &mut errors).map(Some),
            None => Some(None),
        };
        let multiplier = non_negative(&t.multiplier, MULTIPLIER_SCALE, "tiers", &mut errors);
        if let (Some(from), Some(to), Some(multiplier)) = (from, to, multiplier) {
            if to.is_some_and(|to| to.units <= from.units) {
                errors.push(FieldError::new("tiers", "tier_range"));
            } else {
                tiers.push((from, to, multiplier));
            }
        }
    }
    tiers.sort_by_key(|t| t.0.units);
    if tiers.windows(2).any(|w| w[0].1.is_none_or(|to| to.units > w[1].0.units)) {
        errors.push(FieldError::new("tiers", "commission_tiers_overlap"));
    }
    // Category rates: for paid orders' lines, of the product categories there are.
    let mut category_rates = BTreeMap::new();
    if !input.category_rates.is_empty() {
        if input.basis != "paid_orders" {
            errors.push(FieldError::new("category_rates", "category_rates_need_orders"));
        }
        let product = db.system().object("product").await?;
        let known: BTreeSet<String> = product
            .field("category")
            .map(|f| f.options.options.iter().map(|o| o.value.clone()).collect())
            .unwrap_or_default();
        for (category, rate) in &input.category_rates {
            if rate.trim().is_empty() {
                continue;
            }
            if !known.contains(category) {
                errors.push(FieldError::new("category_rates", "invalid_option"));
            } else if let Some(rate) = percent(rate, "category_rates", &mut errors) {
                category_rates.insert(category.clone(), rate);
            }
        }
    }
    let mut members: Vec<String> = Vec::new();
    for m in &input.members {
        if m.is_empty() || members.contains(m) {
            continue;
        }
        if db.system().user(m).await.is_ok_and(|u| u.active) {
            members.push(m.clone());
        } else {
            errors.push(FieldError::new("members", "unknown_user"));
        }
    }
    if members.len() > 500 {
        errors.push(FieldError::with("members", "too_many_values", json!({ "max": 500 })));
    }
    let valid_from = parse_date(input.valid_from.trim()).filter(|d| (1900..2200).contains(&d.year()));
    if valid_from.is_none() {
        errors.push(FieldError::new("valid_from", "invalid_date"));
    }
    let valid_to = match input.valid_to.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(to) => match parse_date(to).filter(|d| (1900..2200).contains(&d.year())) {
            Some(to) if valid_from.is_some_and(|from| to < from) => {
                errors.push(FieldError::new("valid_to", "invalid_range"));
                None
            }
            Some(to) => Some(format_date(to)),
            None => {
                errors.push(FieldError::new("valid_to", "invalid_date"));
                None
            }
        },
    };
    if !errors.is_empty() {
        errors.dedup_by(|a, b| a.field == b.field && a.code == b.code);
        return Err(Error::Validation(errors));
    }
    let (Some(rate), Some(valid_from)) = (rate, valid_from) else {
        return Err(Error::Validation(vec![FieldError::new("rate", "invalid_number")]));
    };
    Ok(Plan {
        id: id.unwrap_or_default().to_string(),
        name: name.to_string(),
        basis: input.basis.clone(),
        rate,
        currency,
        period,
        calendar,
        tiers: tiers
            .into_iter()
            .map(|(from, to, m)| Tier { from: tidy(from), to: to.map(tidy), multiplier: tidy(m) })
            .collect(),
        category_rates,
        members,
        valid_from: format_date(valid_from),
        valid_to,
        created_by: db.viewer().map(|v| v.user_id.clone()).unwrap_or_default(),
        created_at: String::new(),
        updated_at: String::new(),
    })
}

/// Saves a plan (new when `id` is none): admins only. One person is in at most one plan on
/// any day.
pub async fn save_plan(db: &Db, id: Option<&str>, input: &PlanInput) -> Result<Plan> {
    let plan = check_plan(db, id, input).await?;
    if !is_admin(db) {
        return Err(Error::Forbidden("commission plan".into()));
    }
    if let Some(id) = id {
        get_plan(db, id).await?;
    }
    let at = now();
    let mut tx = db.write().await?;
    // Checked in the write's lock: no member in another plan on a shared day.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PLAN_COLUMNS} FROM commission_plans WHERE id <> $1")))
        .bind(id.unwrap_or("").to_string())
        .fetch_all(&mut *tx.tx)
        .await?;
    for r in &rows {
        let other = parse_plan(r)?;
        let shares_a_day = other.valid_to.as_deref().is_none_or(|to| plan.valid_from.as_str() <= to)
            && plan.valid_to.as_deref().is_none_or(|to| other.valid_from.as_str() <= to);
        if shares_a_day && other.members.iter().any(|m| plan.members.contains(m)) {
            return Err(Error::Validation(vec![FieldError::new("members", "plan_member_overlaps")]));
        }
    }
    let tiers = serde_json::to_string(&plan.tiers).unwrap_or_else(|_| "[]".into());
    let rates = serde_json::to_string(&plan.category_rates).unwrap_or_else(|_| "{}".into());
    let members = serde_json::to_string(&plan.members).unwrap_or_else(|_| "[]".into());
    let calendar = calendar_name(plan.calendar);
    let id = match id {
        Some(id) => {
            sqlx::query(
                "UPDATE commission_plans SET name = $1, basis = $2, rate = $3, currency = $4, period = $5, \
                 calendar = $6, tiers_json = $7, category_rates_json = $8, members_json = $9, valid_from = $10, \
                 valid_to = $11, updated_at = $12 WHERE id = $13",
            )
            .bind(plan.name.clone())
            .bind(plan.basis.clone())
            .bind(plan.rate.clone())
            .bind(plan.currency.clone())
            .bind(plan.period.clone())
            .bind(calendar)
            .bind(tiers)
            .bind(rates)
            .bind(members)
            .bind(plan.valid_from.clone())
            .bind(plan.valid_to.clone())
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO commission_plans ({PLAN_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)"
            )))
            .bind(id.clone())
            .bind(plan.name.clone())
            .bind(plan.basis.clone())
            .bind(plan.rate.clone())
            .bind(plan.currency.clone())
            .bind(plan.period.clone())
            .bind(calendar)
            .bind(tiers)
            .bind(rates)
            .bind(members)
            .bind(plan.valid_from.clone())
            .bind(plan.valid_to.clone())
            .bind(plan.created_by.clone())
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get_plan(db, &id).await
}

/// Deletes a plan (admins only); its approved statements stay as they were.
pub async fn delete_plan(db: &Db, id: &str) -> Result<()> {
    get_plan(db, id).await?;
    if !is_admin(db) {
        return Err(Error::Forbidden(format!("commission plan {id}")));
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM commission_plans WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

fn calendar_name(c: Calendar) -> &'static str {
    match c {
        Calendar::Jalali => "jalali",
        Calendar::Gregorian => "gregorian",
    }
}

// ---------------------------------------------------------------------------------------------
// Splits

/// One person's share of a deal or an order.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub user_id: String,
    /// Percent (up to two decimals).
    pub share: String,
}

fn split_object(object: &str) -> Result<()> {
    if matches!(object, "deal" | "order") { Ok(()) } else { Err(Error::NotFound(format!("object {object}"))) }
}

/// The split of a record the viewer reads (empty: its owner has it all).
pub async fn splits(db: &Db, object: &str, record_id: &str) -> Result<Vec<Split>> {
    split_object(object)?;
    db.get_record(object, record_id, false).await?;
    let rows = sqlx::query(
        "SELECT user_id, share FROM commission_splits WHERE object = $1 AND record_id = $2 ORDER BY user_id",
    )
    .bind(object.to_string())
    .bind(record_id.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok(Split { user_id: r.try_get(0)?, share: r.try_get(1)? })).collect()
}

/// Sets how a record is split (none: its owner has it all): active people, shares above zero
/// adding up to 100. Whoever may change the record sets it (a manager their team's, an admin
/// any), except agents: a rep does not split their own sale.
pub async fn set_splits(db: &Db, object: &str, record_id: &str, input: &[Split]) -> Result<Vec<Split>> {
    split_object(object)?;
    let mut errors = Vec::new();
    let mut total = 0i64;
    let mut kept: Vec<(String, String)> = Vec::new();
    if input.len() > 20 {
        errors.push(FieldError::with("splits", "too_many_values", json!({ "max": 20 })));
    }
    for s in input {
        if kept.iter().any(|(u, _)| *u == s.user_id) || !db.system().user(&s.user_id).await.is_ok_and(|u| u.active) {
            errors.push(FieldError::new("splits", "unknown_user"));
            continue;
        }
        match non_negative(&s.share, 2, "splits", &mut errors) {
            Some(d) if d.units == 0 => errors.push(FieldError::new("splits", "splits_total")),
            Some(d) => {
                total += d.units;
                kept.push((s.user_id.clone(), tidy(d)));
            }
            None => {}
        }
    }
    if errors.is_empty() && !kept.is_empty() && total != 10_000 {
        errors.push(FieldError::new("splits", "splits_total"));
    }
    if !errors.is_empty() {
        errors.dedup_by(|a, b| a.field == b.field && a.code == b.code);
        return Err(Error::Validation(errors));
    }
    // Read and change access as for the record itself.
    let record = db.get_record(object, record_id, false).await?;
    let owner = record.fields.get("owner").and_then(Json::as_str);
    let may = match db.viewer() {
        None => true,
        Some(v) => {
            matches!(v.role, Some(Role::Admin | Role::Manager)) && v.reaches(object, Intent::Change, record_id, owner)
        }
    };
    if !may {
        return Err(Error::Forbidden(format!("{object} {record_id}")));
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM commission_splits WHERE object = $1 AND record_id = $2")
        .bind(object.to_string())
        .bind(record_id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    for (user, share) in &kept {
        sqlx::query("INSERT INTO commission_splits (object, record_id, user_id, share) VALUES ($1, $2, $3, $4)")
            .bind(object.to_string())
            .bind(record_id.to_string())
            .bind(user.clone())
            .bind(share.clone())
            .execute(&mut *tx.tx)
            .await?;
    }
    super::credit_lines::split_changed(db, &mut tx, object, record_id).await?;
    tx.commit().await?;
    splits(db, object, record_id).await
}

// ---------------------------------------------------------------------------------------------
// Statements

/// A line of a statement: a deal, an order's line, or a clawback of a record paid before.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct StatementLine {
    /// `deal` or `order`.
    pub object: String,
    pub record_id: String,
    pub title: String,
    /// The deal's closing day, the order's day (in the business's time zone).
    pub day: String,
    /// The product's category of an order's line.
    pub category: Option<String>,
    /// The amount credited (the person's share), in the plan's currency.
    pub amount: String,
    /// The person's share, in percent.
    pub share: String,
    /// The rate applied, in percent, and the multiplier (the tiers it crossed, weighted).
    pub rate: String,
    pub multiplier: String,
    pub commission: String,
    /// A clawback: `amount` is what was paid for it, `commission` its negative.
    pub clawback: bool,
}

/// One person's commission for one period.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Statement {
    pub user_id: String,
    pub plan_id: String,
    pub plan_name: String,
    pub basis: String,
    /// `month` or `quarter`, its calendar and key (`1405-08`).
    pub period: String,
    pub calendar: String,
    pub key: String,
    pub starts_on: String,
    pub ends_before: String,
    pub currency: String,
    /// Its lines, or the part of them asked for (see [`statement_part`]): a busy person's
    /// quarter has tens of thousands.
    pub lines: Vec<StatementLine>,
    /// How many lines it has in all, and where `lines` starts among them.
    #[serde(default)]
    pub line_count: usize,
    #[serde(default)]
    pub lines_from: usize,
    /// What was credited, what it earned, what was clawed back (zero or less), and the total.
    pub credited: String,
    pub commission: String,
    pub clawback: String,
    pub total: String,
    /// The quota the tiers read (its target), and attainment before and after this period's
    /// credits, in percent.
    pub quota_target: Option<String>,
    pub attainment_before: Option<f64>,
    pub attainment_after: Option<f64>,
    /// `open` or `approved` (locked).
    pub status: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    /// Whether the period is over (only then may it be approved).
    pub period_over: bool,
}

/// Whether the viewer reads `user_id`'s statements: their own; a manager their people's; an
/// admin anyone's.
fn may_read_statement(db: &Db, user_id: &str) -> bool {
    match db.viewer() {
        None => true,
        Some(v) => {
            v.user_id == user_id
                || v.role == Some(Role::Admin)
                || (v.role == Some(Role::Manager) && v.team_users.contains(user_id))
        }
    }
}

/// Whether the viewer approves `user_id`'s statements: an admin anyone's; a manager their
/// people's, not their own.
pub fn may_approve(db: &Db, user_id: &str) -> bool {
    match db.viewer() {
        None => true,
        Some(v) => {
            v.role == Some(Role::Admin)
                || (v.role == Some(Role::Manager) && v.user_id != user_id && v.team_users.contains(user_id))
        }
    }
}

/// The period of `key` in the plan's bucket and calendar: its first day and the day after.
fn period_of(plan: &Plan, key: &str) -> Result<(Date, Date)> {
    let bucket = plan.bucket();
    let start = key_start(bucket, plan.calendar, key.trim())
        .filter(|d| (1900..2200).contains(&d.year()))
        .ok_or_else(|| Error::Validation(vec![FieldError::new("key", "invalid_period")]))?;
    Ok((start, bucket.next(plan.calendar, start)))
}

/// The plan `user_id` is in on `day`.
async fn plan_on(db: &Db, user_id: &str, day: Date) -> Result<Option<Plan>> {
    let day = format_date(day);
    Ok(all_plans(db).await?.into_iter().find(|p| p.members.iter().any(|m| m == user_id) && p.applies_on(&day)))
}

/// The key of the period holding `day` in the plan `user_id` is in then (for "last month").
pub async fn key_on(db: &Db, user_id: &str, day: Date) -> Result<Option<String>> {
    Ok(plan_on(db, user_id, day).await?.map(|p| p.bucket().key(p.calendar, day)))
}

/// Every record of `object` matching `filter`, with `fields`, through the system's handle.
async fn fetch(db: &Db, object: &str, filter: &Json, fields: &[&str]) -> Result<Vec<Record>> {
    let system = db.system();
    let obj = system.object(object).await?;
    let filter = parse_filter(&obj, filter).map_err(|e| Error::Validation(vec![e]))?;
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            filter: Some(filter.clone()),
            limit: Some(500),
            cursor,
            fields: Some(fields.iter().map(|f| f.to_string()).collect()),
            ..ListQuery::default()
        };
        let page = system.list_records(object, &query).await?;
        out.extend(page.records);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// Records of `object` by id (in chunks a filter takes).
async fn fetch_ids(db: &Db, object: &str, ids: &[String], fields: &[&str]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(400) {
        out.extend(fetch(db, object, &json!({ "field": "id", "op": "in", "value": chunk }), fields).await?);
    }
    Ok(out)
}

/// An amount field's value in hundredths, if it is in `currency`.
fn cents_in(v: Option<&Json>, currency: &str) -> Option<i128> {
    let v = v?;
    if v.get("currency").and_then(Json::as_str).unwrap_or("IRR") != currency {
        return None;
    }
    let amount = v.get("amount").and_then(Json::as_str)?;
    Decimal::parse(amount, 2).ok().map(|d| i128::from(d.units))
}

/// `n / d` rounded half away from zero.
fn div_round(n: i128, d: i128) -> i128 {
    if d == 0 {
        return 0;
    }
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d.abs() { q + n.signum() * d.signum() } else { q }
}

/// A decimal text (known valid) in units of `scale`.
fn units(text: &str, scale: u8) -> i128 {
    Decimal::parse(text, scale).map(|d| i128::from(d.units)).unwrap_or(0)
}

/// Something sold that a statement credits: its record, day, category and the person's share.
struct Credit {
    object: &'static str,
    record_id: String,
    title: String,
    day: String,
    category: Option<String>,
    /// The whole amount, in hundredths, and the person's share in hundredths of a percent.
    cents: i128,
    share: i128,
    /// Its rate, when known without the category (read from the kept lines; in units of
    /// [`RATE_SCALE`]).
    rate: Option<i128>,
}

/// The splits of `object`'s records: the person's own shares, and every record split at all.
async fn split_shares(db: &Db, object: &str, user_id: &str) -> Result<(HashMap<String, i128>, BTreeSet<String>)> {
    let rows = sqlx::query("SELECT record_id, user_id, share FROM commission_splits WHERE object = $1")
        .bind(object.to_string())
        .fetch_all(db.pool())
        .await?;
    let (mut mine, mut split) = (HashMap::new(), BTreeSet::new());
    for r in &rows {
        let (record, user, share): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if user == user_id {
            mine.insert(record.clone(), units(&share, 2));
        }
        split.insert(record);
    }
    Ok((mine, split))
}

/// What `user_id` sold under `plan` from `start` to before `end`, oldest first; of paid orders,
/// read from the kept lines once they are filled, with only the lines at `part` in full (the
/// rest with their amount, share and rate alone).
async fn credits(
    db: &Db,
    plan: &Plan,
    user_id: &str,
    start: Date,
    end: Date,
    part: Range<usize>,
) -> Result<Vec<Credit>> {
    let object = if plan.basis == "won_deals" { "deal" } else { "order" };
    if object == "order" && super::credit_lines::ready(db).await? {
        return kept_credits(db, plan, user_id, (start, end), part).await;
    }
    let (mine, split) = split_shares(db, object, user_id).await?;
    let share_of = |record: &Record| -> Option<i128> {
        if split.contains(&record.id) {
            mine.get(&record.id).copied()
        } else {
            (record.fields.get("owner").and_then(Json::as_str) == Some(user_id)).then_some(10_000)
        }
    };
    let others: Vec<String> = mine.keys().cloned().collect();
    let mut out = Vec::new();
    if object == "deal" {
        let (from, to) = (format_date(start), format_date(end));
        let window = [
            json!({ "field": "stage", "op": "eq", "value": "won" }),
            json!({ "field": "closed_on", "op": "gte", "value": from }),
            json!({ "field": "closed_on", "op": "lt", "value": to }),
        ];
        let fields = ["name", "amount", "closed_on", "owner"];
        let mut filter = window.to_vec();
        filter.push(json!({ "field": "owner", "op": "eq", "value": user_id }));
        let mut deals = fetch(db, "deal", &json!({ "and": filter }), &fields).await?;
        let own: BTreeSet<String> = deals.iter().map(|d| d.id.clone()).collect();
        let shared: Vec<String> = others.into_iter().filter(|id| !own.contains(id)).collect();
        for d in fetch_ids(db, "deal", &shared, &fields).await? {
            let day = d.fields.get("closed_on").and_then(Json::as_str).unwrap_or_default();
            let won = d.fields.get("stage").and_then(Json::as_str) == Some("won");
            if won && from.as_str() <= day && day < to.as_str() {
                deals.push(d);
            }
        }
        for d in deals {
            let (Some(share), Some(cents)) = (share_of(&d), cents_in(d.fields.get("amount"), &plan.currency)) else {
                continue;
            };
            out.push(Credit {
                object: "deal",
                day: d.fields.get("closed_on").and_then(Json::as_str).unwrap_or_default().to_string(),
                title: d.title.clone(),
                record_id: d.id,
                category: None,
                cents,
                share,
                rate: None,
            });
        }
    } else {
        out = order_credits(db, plan, user_id, start, end, &mine, &split).await?;
    }
    out.sort_by(|a, b| a.day.cmp(&b.day).then_with(|| a.record_id.cmp(&b.record_id)));
    Ok(out)
}

/// A money column's stored units at `scale` in hundredths, if in `currency` (as the engine
/// reads the value: units at the field's scale, the currency beside them, rials when none).
pub(crate) fn stored_cents(
    units: Option<i64>,
    scale: u8,
    stored_currency: Option<&str>,
    currency: &str,
) -> Option<i128> {
    let units = units?;
    if stored_currency.unwrap_or("IRR") != currency {
        return None;
    }
    Decimal::parse(&Decimal { units, scale }.to_string(), 2).ok().map(|d| i128::from(d.units))
}

/// A paid order of a statement, as read for it.
struct PaidOrder {
    id: String,
    number: String,
    at: time::OffsetDateTime,
    owner: Option<String>,
    /// Its total in hundredths of the plan's currency (none: another currency, or none).
    total: Option<i128>,
}

/// A line of a paid order, as a statement reads it: amounts in hundredths of the plan's
/// currency (no gross: another currency).
struct PaidLine {
    position: i64,
    category: Option<String>,
    description: String,
    gross: Option<i128>,
    discount: i128,
}

/// The tables and columns a statement's paid orders are read from, from the catalog.
pub(crate) struct PaidColumns {
    pub orders: String,
    pub number: String,
    pub ordered_at: String,
    pub status: String,
    pub owner: String,
    pub total: (String, u8),
    pub lines: String,
    pub order: String,
    pub position: String,
    pub product: String,
    pub description: String,
    pub gross: (String, u8),
    pub discount: (String, u8),
    pub products: String,
    pub category: String,
}

impl PaidColumns {
    pub(crate) fn of(db: &Db) -> Result<PaidColumns> {
        let catalog = db.catalog_cached()?;
        let missing = |what: &str| Error::NotFound(format!("the standard field {what}"));
        let object = |name: &str| catalog.object(name).ok_or_else(|| missing(name));
        let (o, l, p) = (object("order")?, object("order_line")?, object("product")?);
        let (o, l, p) = (o.as_ref(), l.as_ref(), p.as_ref());
        let column = |obj: &peyvand_records::meta::ObjectDef, name: &str| {
            obj.field(name).map(|f| f.column.clone()).ok_or_else(|| missing(name))
        };
        let money = |obj: &peyvand_records::meta::ObjectDef, name: &str| {
            obj.field(name)
                .map(|f| (f.column.clone(), f.options.scale_or_default(f.field_type)))
                .ok_or_else(|| missing(name))
        };
        Ok(PaidColumns {
            orders: o.table.clone(),
            number: column(o, "number")?,
            ordered_at: column(o, "ordered_at")?,
            status: column(o, "status")?,
            owner: column(o, "owner")?,
            total: money(o, "total")?,
            lines: l.table.clone(),
            order: column(l, "order")?,
            position: column(l, "position")?,
            product: column(l, "product")?,
            description: column(l, "description")?,
            gross: money(l, "gross")?,
            discount: money(l, "discount")?,
            products: p.table.clone(),
            category: column(p, "category")?,
        })
    }
}

/// What `user_id` sold in paid orders from `start` to before `end` (their own, read from the
/// index of owner and day, and their shares of others'), line by line with each line's product
/// category: one statement joining orders, lines and products, its rows sent back as one JSON
/// array (a quarter's 15,000 orders through the engine's pages were most of a statement's time).
async fn order_credits(
    db: &Db,
    plan: &Plan,
    user_id: &str,
    start: Date,
    end: Date,
    mine: &HashMap<String, i128>,
    split: &BTreeSet<String>,
) -> Result<Vec<Credit>> {
    let started = std::time::Instant::now();
    let offset = db.local_offset();
    let at = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let c = PaidColumns::of(db)?;
    // The statuses that count are constants of this module, not input.
    let paid: Vec<String> = PAID.iter().map(|s| format!("'{s}'")).collect();
    let cur = peyvand_store::currency_column;
    let columns = [
        "o.id".to_string(),
        format!("o.{}", c.number),
        format!("o.{}", c.ordered_at),
        format!("o.{}", c.owner),
        format!("o.{}", c.total.0),
        format!("o.{}", cur(&c.total.0)),
        format!("l.{}", c.position),
        format!("p.{}", c.category),
        format!("l.{}", c.description),
        format!("l.{}", c.gross.0),
        format!("l.{}", cur(&c.gross.0)),
        format!("l.{}", c.discount.0),
        format!("l.{}", cur(&c.discount.0)),
    ];
    let width = columns.len();
    let columns: Vec<String> = columns.iter().enumerate().map(|(i, c)| format!("{c} AS c{i}")).collect();
    let columns = columns.join(", ");
    let part = |who: &str| {
        format!(
            "SELECT {columns} FROM {orders} o LEFT JOIN {lines} l ON l.{order} = o.id AND l.deleted_at IS NULL \
             LEFT JOIN {products} p ON p.id = l.{product} AND p.deleted_at IS NULL \
             WHERE o.deleted_at IS NULL AND o.{status} IN ({paid}) AND o.{at} >= $2 AND o.{at} < $3 AND {who}",
            orders = c.orders,
            lines = c.lines,
            order = c.order,
            products = c.products,
            product = c.product,
            status = c.status,
            paid = paid.join(", "),
            at = c.ordered_at,
        )
    };
    let owner = &c.owner;
    let rows = format!(
        "{} UNION ALL {}",
        part(&format!("o.{owner} = $1")),
        part(&format!(
            "o.id IN (SELECT record_id FROM commission_splits WHERE object = 'order' AND user_id = $1) \
             AND (o.{owner} IS NULL OR o.{owner} <> $1)"
        )),
    );
    let items: Vec<String> = (0..width).map(|i| format!("r.c{i}")).collect();
    let items = items.join(", ");
    let sql = match db.dialect() {
        peyvand_store::Dialect::Sqlite => format!("SELECT json_group_array(json_array({items})) FROM ({rows}) r"),
        peyvand_store::Dialect::Postgres => {
            format!("SELECT COALESCE(json_agg(json_build_array({items})), '[]')::text FROM ({rows}) r")
        }
    };
    let text: Option<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .bind(at(start))
        .bind(at(end))
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    tracing::debug!(ms = started.elapsed().as_secs_f64() * 1000.0, "paid orders read");
    let rows: Vec<Vec<Json>> = serde_json::from_str(text.as_deref().unwrap_or("[]"))
        .map_err(|e| Error::Corrupt(format!("paid orders: {e}")))?;
    let (mut orders, mut lines): (Vec<PaidOrder>, HashMap<String, Vec<PaidLine>>) = (Vec::new(), HashMap::new());
    let mut seen: HashSet<String> = HashSet::new();
    for row in rows {
        let text = |i: usize| row.get(i).and_then(Json::as_str).map(str::to_string);
        let int = |i: usize| row.get(i).and_then(Json::as_i64);
        let Some(id) = text(0) else { continue };
        if seen.insert(id.clone()) {
            let Some(at) = text(2).as_deref().and_then(peyvand_records::value::parse_datetime) else { continue };
            orders.push(PaidOrder {
                id: id.clone(),
                number: text(1).unwrap_or_default(),
                at,
                owner: text(3),
                total: stored_cents(int(4), c.total.1, text(5).as_deref(), &plan.currency),
            });
        }
        // An order without lines has one row, its line's columns empty.
        let Some(position) = int(6) else { continue };
        lines.entry(id).or_default().push(PaidLine {
            position,
            category: text(7),
            description: text(8).unwrap_or_default(),
            gross: stored_cents(int(9), c.gross.1, text(10).as_deref(), &plan.currency),
            discount: stored_cents(int(11), c.discount.1, text(12).as_deref(), &plan.currency).unwrap_or(0),
        });
    }
    tracing::debug!(ms = started.elapsed().as_secs_f64() * 1000.0, orders = orders.len(), "paid orders decoded");
    let mut out = Vec::new();
    for o in orders {
        let share = if split.contains(&o.id) {
            mine.get(&o.id).copied()
        } else {
            (o.owner.as_deref() == Some(user_id)).then_some(10_000)
        };
        let Some(share) = share else { continue };
        let day = format_date(o.at.to_offset(offset).date());
        match lines.get_mut(&o.id) {
            // Each line after its discount, before its tax.
            Some(order_lines) => {
                order_lines.sort_by_key(|l| l.position);
                for l in order_lines.iter() {
                    let Some(gross) = l.gross else { continue };
                    out.push(Credit {
                        object: "order",
                        record_id: o.id.clone(),
                        title: format!("{} · {}", o.number, l.description),
                        day: day.clone(),
                        category: l.category.clone(),
                        cents: gross - l.discount,
                        share,
                        rate: None,
                    });
                }
            }
            // An order without lines: its total.
            None => {
                let Some(cents) = o.total else { continue };
                out.push(Credit {
                    object: "order",
                    record_id: o.id.clone(),
                    title: o.number.clone(),
                    day,
                    category: None,
                    cents,
                    share,
                    rate: None,
                });
            }
        }
    }
    Ok(out)
}

/// [`credits`] of paid orders from the kept lines (`credit_lines`): every line's amount, share
/// and rate in one read, the particulars of those at `part` in another.
async fn kept_credits(
    db: &Db,
    plan: &Plan,
    user_id: &str,
    (start, end): (Date, Date),
    part: Range<usize>,
) -> Result<Vec<Credit>> {
    let (from, to) = (format_date(start), format_date(end));
    let categories: Vec<String> = plan.category_rates.keys().cloned().collect();
    let base = units(&plan.rate, RATE_SCALE);
    let rates: Vec<i128> = plan.category_rates.values().map(|r| units(r, RATE_SCALE)).collect();
    let kept = super::credit_lines::read(db, user_id, &plan.currency, &from, &to, &categories).await?;
    let skip = part.start.min(kept.len());
    let take = part.end.min(kept.len()).saturating_sub(skip);
    let shown = super::credit_lines::shown(db, user_id, &plan.currency, (&from, &to), skip, take).await?;
    let mut shown = shown.into_iter();
    let mut out = Vec::with_capacity(kept.len());
    for (i, k) in kept.into_iter().enumerate() {
        let rate = if k.category == 0 { base } else { rates.get(k.category - 1).copied().unwrap_or(base) };
        let mut credit = Credit {
            object: "order",
            record_id: String::new(),
            title: String::new(),
            day: String::new(),
            category: None,
            cents: k.cents,
            share: k.share,
            rate: Some(rate),
        };
        if part.contains(&i)
            && let Some(s) = shown.next()
        {
            (credit.record_id, credit.title, credit.day, credit.category) = (s.order_id, s.title, s.day, s.category);
        }
        out.push(credit);
    }
    Ok(out)
}

/// The multiplier bands of a plan against a target, in hundredths: (from, to, multiplier in
/// hundredths), covering everything from zero (gaps and what no tier covers: ×1).
fn bands(plan: &Plan, target: Option<i128>) -> Vec<(i128, Option<i128>, i128)> {
    let Some(target) = target.filter(|t| *t > 0) else { return vec![(0, None, 100)] };
    let at = |percent: &str| div_round(target * units(percent, MULTIPLIER_SCALE), 10_000);
    let mut out = Vec::new();
    let mut edge = 0i128;
    for t in &plan.tiers {
        let (from, to) = (at(&t.from), t.to.as_deref().map(at));
        if from > edge {
            out.push((edge, Some(from), 100));
        }
        out.push((from.max(edge), to, units(&t.multiplier, MULTIPLIER_SCALE)));
        match to {
            Some(to) => edge = to,
            None => return out,
        }
    }
    out.push((edge, None, 100));
    out
}

/// The commission of `amount` hundredths credited from `before` on, at `rate` (in units of
/// [`RATE_SCALE`]), across `bands`: (commission in hundredths, weighted multiplier in hundredths).
fn commission_of(amount: i128, before: i128, rate: i128, bands: &[(i128, Option<i128>, i128)]) -> (i128, i128) {
    let scale = 100 * 10i128.pow(u32::from(RATE_SCALE)) * 100;
    if amount <= 0 {
        return (div_round(amount * rate * 100, scale), 100);
    }
    let (lo, hi) = (before, before + amount);
    let mut weighted = 0i128;
    for (from, to, multiplier) in bands {
        let a = lo.max(*from);
        let b = to.map_or(hi, |to| hi.min(to));
        if b > a {
            weighted += (b - a) * multiplier;
        }
    }
    (div_round(weighted * rate, scale), div_round(weighted, amount))
}

/// The quota of `user_id` the plan's tiers read on `day`: of the plan's measure and currency.
async fn quota_on(db: &Db, plan: &Plan, user_id: &str, day: Date) -> Result<Option<Quota>> {
    let day = format_date(day);
    let rows = sqlx::query(
        "SELECT id FROM quotas WHERE user_id = $1 AND measure = $2 AND currency = $3 AND starts_on <= $4 \
         AND ends_before > $4",
    )
    .bind(user_id.to_string())
    .bind(plan.quota_measure())
    .bind(plan.currency.clone())
    .bind(day)
    .fetch_all(db.pool())
    .await?;
    let Some(id) = rows.first().map(|r| r.try_get::<String, _>(0)).transpose()? else { return Ok(None) };
    Ok(Some(quotas::get(&db.system(), &id).await?))
}

/// An approved statement as kept.
async fn approved(db: &Db, user_id: &str, starts_on: &str) -> Result<Option<Statement>> {
    let row = sqlx::query("SELECT statement_json FROM commission_statements WHERE user_id = $1 AND starts_on = $2")
        .bind(user_id.to_string())
        .bind(starts_on.to_string())
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => {
            let text: String = r.try_get(0)?;
            serde_json::from_str(&text).map(Some).map_err(|e| Error::Corrupt(format!("statement: {e}")))
        }
        None => Ok(None),
    }
}

/// What counts of a credited object: its status or stage field and the values that count.
fn counting(object: &str) -> Option<(&'static str, &'static [&'static str])> {
    match object {
        "deal" => Some(("stage", &["won"])),
        "order" => Some(("status", &PAID)),
        _ => None,
    }
}

/// Keeps whether each credited record still counts (`commission_credits.lapsed`) as the record
/// is written: a status or stage changed, a delete, a restore. An indexed update of the record's
/// few credit rows, only on those writes.
pub(crate) struct Lapsed;

/// The PostgreSQL advisory lock between an approval's credits and [`Lapsed`]'s updates.
const PG_CREDITS_LOCK: i64 = 7_277_032;

impl WriteHook for Lapsed {
    fn objects(&self) -> &'static [&'static str] {
        &["deal", "order"]
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let object = written.object.api_name.as_str();
            let Some((field, values)) = counting(object) else { return Ok(()) };
            let moved = match written.action {
                Action::Create => false,
                Action::Delete | Action::Restore => true,
                Action::Update => written.changed(field),
            };
            if !moved {
                return Ok(());
            }
            let counts = written.action != Action::Delete
                && written.after.get(field).and_then(Json::as_str).is_some_and(|v| values.contains(&v));
            // An approval under way (PostgreSQL) writes credits this update cannot see yet, and
            // works out `lapsed` from records as they were: it waits for this write, or this
            // write for it (shared here, exclusive there; SQLite's writes take turns anyway).
            if cx.db.dialect() == Dialect::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
                    .bind(PG_CREDITS_LOCK)
                    .execute(&mut *cx.tx.tx)
                    .await?;
            }
            sqlx::query("UPDATE commission_credits SET lapsed = $1 WHERE object = $2 AND record_id = $3")
                .bind(i64::from(!counts))
                .bind(object.to_string())
                .bind(written.id.to_string())
                .execute(&mut *cx.tx.tx)
                .await?;
            Ok(())
        })
    }
}

/// Works out `lapsed` of the credit rows not yet settled (of one approval's statement, or all:
/// rows written before the column, at start-up) from their records as they are in `tx`: one
/// statement per object, a primary-key probe per row.
pub async fn settle(db: &Db, tx: &mut WriteTx, statement_id: Option<&str>) -> Result<()> {
    let catalog = db.catalog_cached()?;
    for object in ["deal", "order"] {
        let Some((field, values)) = counting(object) else { continue };
        let Some(column) = catalog.object(object).and_then(|o| Some((o.table.clone(), o.field(field)?.column.clone())))
        else {
            continue;
        };
        let (table, column) = column;
        // The values are constants of this module, not input.
        let list: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        let mut sql = format!(
            "UPDATE commission_credits SET lapsed = CASE WHEN EXISTS (SELECT 1 FROM {table} r WHERE \
             r.id = commission_credits.record_id AND r.deleted_at IS NULL AND r.{column} IN ({})) THEN 0 ELSE 1 END \
             WHERE object = $1 AND lapsed IS NULL",
            list.join(", ")
        );
        if statement_id.is_some() {
            sql.push_str(" AND statement_id = $2");
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(object.to_string());
        if let Some(id) = statement_id {
            query = query.bind(id.to_string());
        }
        query.execute(&mut *tx.tx).await?;
    }
    Ok(())
}

/// What `user_id` was paid in approved statements for each record that lapsed since and was
/// not clawed back yet: (object, record) → (hundredths, the period start of the statement that
/// paid it). Reads only the lapsed records' rows (`lapsed`, kept by [`Lapsed`]).
async fn outstanding(db: &Db, user_id: &str) -> Result<BTreeMap<(String, String), (i128, String)>> {
    let rows = sqlx::query(
        "SELECT object, record_id, cents, starts_on FROM commission_credits WHERE user_id = $1 AND lapsed = 1 \
         ORDER BY starts_on",
    )
    .bind(user_id.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut out: BTreeMap<(String, String), (i128, String)> = BTreeMap::new();
    for r in &rows {
        let cents: i64 = r.try_get(2)?;
        let starts_on: String = r.try_get(3)?;
        let entry = out.entry((r.try_get(0)?, r.try_get(1)?)).or_insert((0, starts_on.clone()));
        entry.0 += i128::from(cents);
        if cents > 0 {
            entry.1 = starts_on;
        }
    }
    out.retain(|_, (cents, _)| *cents > 0);
    Ok(out)
}

/// The clawbacks that fall in `user_id`'s open statement of `start`: records paid before that
/// no longer count, whose first open period after the one that paid them is this one.
async fn clawbacks(db: &Db, plan: &Plan, user_id: &str, start: Date) -> Result<Vec<StatementLine>> {
    let paid = outstanding(db, user_id).await?;
    if paid.is_empty() {
        return Ok(Vec::new());
    }
    let approved_starts: BTreeSet<String> =
        sqlx::query("SELECT starts_on FROM commission_statements WHERE user_id = $1")
            .bind(user_id.to_string())
            .fetch_all(db.pool())
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()?;
    let this = format_date(start);
    let bucket = plan.bucket();
    let mut out = Vec::new();
    for object in ["deal", "order"] {
        let Some((field, values)) = counting(object) else { continue };
        let ids: Vec<String> = paid.keys().filter(|(o, _)| o == object).map(|(_, id)| id.clone()).collect();
        if ids.is_empty() {
            continue;
        }
        // The lapsed records as they are now (their titles; and a second look at their state).
        let found: HashMap<String, Record> =
            fetch_ids(db, object, &ids, &[field]).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
        for id in ids {
            let still_counts = found
                .get(&id)
                .is_some_and(|r| r.fields.get(field).and_then(Json::as_str).is_some_and(|v| values.contains(&v)));
            if still_counts {
                continue;
            }
            let (cents, paid_in) = &paid[&(object.to_string(), id.clone())];
            // The first period after the paying one that is not approved.
            let Some(mut next) =
                parse_date(paid_in).map(|d| bucket.next(plan.calendar, bucket.start(plan.calendar, d)))
            else {
                continue;
            };
            while approved_starts.contains(&format_date(next)) {
                next = bucket.next(plan.calendar, next);
            }
            if format_date(next) != this {
                continue;
            }
            let title = match found.get(&id) {
                Some(r) => r.title.clone(),
                None => db.system().titles(object, std::slice::from_ref(&id)).await?.remove(&id).unwrap_or_default(),
            };
            out.push(StatementLine {
                object: object.to_string(),
                record_id: id,
                title,
                day: paid_in.clone(),
                category: None,
                amount: money(*cents),
                share: "100".into(),
                rate: "100".into(),
                multiplier: "1".into(),
                commission: money(-*cents),
                clawback: true,
            });
        }
    }
    Ok(out)
}

/// Works out `user_id`'s statement of the period `key` of their plan then (or the approved one
/// as it was locked), with all its lines. Not found: a person the viewer may not read, or no
/// plan for them then.
pub async fn statement(db: &Db, user_id: &str, key: &str) -> Result<Statement> {
    statement_part(db, user_id, key, 0..usize::MAX).await
}

/// [`statement`] with only the lines at `lines` (its totals still count them all): pages and the
/// API show a part at a time, and totals alone need none (`0..0`).
pub async fn statement_part(db: &Db, user_id: &str, key: &str, lines: Range<usize>) -> Result<Statement> {
    if !may_read_statement(db, user_id) {
        return Err(Error::NotFound(format!("statement of {user_id}")));
    }
    // The plan is found by the period's first day, in any plan's calendar and bucket.
    let plans = all_plans(db).await?;
    let mut found = None;
    for p in plans.iter().filter(|p| p.members.iter().any(|m| m == user_id)) {
        if let Ok((start, end)) = period_of(p, key)
            && p.applies_on(&format_date(start))
        {
            found = Some((p.clone(), start, end));
            break;
        }
    }
    let Some((plan, start, end)) = found else {
        // A period approved under a plan since deleted reads as it was locked.
        if let Some(locked) = locked_by_key(db, user_id, key).await? {
            return Ok(part_of(locked, lines));
        }
        return Err(Error::NotFound(format!("commission plan of {user_id} for {key}")));
    };
    if let Some(locked) = approved(db, user_id, &format_date(start)).await? {
        return Ok(part_of(locked, lines));
    }
    compute(db, &plan, user_id, start, end, lines).await
}

/// A kept statement with only the lines at `range`.
fn part_of(mut s: Statement, range: Range<usize>) -> Statement {
    let count = s.lines.len();
    let (from, to) = (range.start.min(count), range.end.min(count).max(range.start.min(count)));
    s.lines = s.lines.drain(from..to).collect();
    s.line_count = count;
    s.lines_from = from;
    s
}

async fn locked_by_key(db: &Db, user_id: &str, key: &str) -> Result<Option<Statement>> {
    let row = sqlx::query("SELECT starts_on FROM commission_statements WHERE user_id = $1 AND period_key = $2")
        .bind(user_id.to_string())
        .bind(key.trim().to_string())
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => approved(db, user_id, &r.try_get::<String, _>(0)?).await,
        None => Ok(None),
    }
}

/// What `user_id` was credited under `plan` from `from` to before `to` (what the tiers count
/// before a period): an approved statement's period as it was locked (its `credited`), the rest
/// worked out from the records, each stretch of periods not approved read at once.
async fn credited_between(db: &Db, plan: &Plan, user_id: &str, from: Date, to: Date) -> Result<i128> {
    let rows = sqlx::query(
        "SELECT starts_on, ends_before, credited_cents FROM commission_statements WHERE user_id = $1 \
         AND plan_id = $2 AND starts_on >= $3 AND ends_before <= $4 AND credited_cents IS NOT NULL",
    )
    .bind(user_id.to_string())
    .bind(plan.id.clone())
    .bind(format_date(from))
    .bind(format_date(to))
    .fetch_all(db.pool())
    .await?;
    // (first day, day after) → credited.
    let mut locked: HashMap<(String, String), i128> = HashMap::new();
    for r in &rows {
        locked.insert((r.try_get(0)?, r.try_get(1)?), i128::from(r.try_get::<i64, _>(2)?));
    }
    let worked_out = async |a: Date, b: Date| -> Result<i128> {
        let credited = credits(db, plan, user_id, a, b, 0..0).await?;
        Ok(credited.iter().map(|c| plan.whole(div_round(c.cents * c.share, 10_000))).sum())
    };
    let bucket = plan.bucket();
    let (mut sum, mut open_from, mut day) = (0i128, None, from);
    while day < to {
        let period = bucket.start(plan.calendar, day);
        let next = bucket.next(plan.calendar, period).min(to);
        let whole_period = period == day;
        match locked.get(&(format_date(period), format_date(next))).filter(|_| whole_period) {
            Some(cents) => {
                if let Some(open) = open_from.take() {
                    sum += worked_out(open, day).await?;
                }
                sum += cents;
            }
            None => {
                open_from.get_or_insert(day);
            }
        }
        day = next;
    }
    if let Some(open) = open_from {
        sum += worked_out(open, to).await?;
    }
    Ok(sum)
}

async fn compute(db: &Db, plan: &Plan, user_id: &str, start: Date, end: Date, part: Range<usize>) -> Result<Statement> {
    let started = std::time::Instant::now();
    let lap = |what: &str| tracing::debug!(what, ms = started.elapsed().as_secs_f64() * 1000.0, "commission statement");
    // Amounts in whole units of a currency without smaller ones (the rial), else in hundredths.
    let whole = |cents: i128| plan.whole(cents);
    let quota = quota_on(db, plan, user_id, start).await?;
    let target = quota.as_ref().map(|q| units(&q.target, 2));
    // What counted towards the quota before this period (its tiers count from the quota's start).
    let mut before: i128 = 0;
    if let Some(q) = &quota
        && let Some(q_start) = parse_date(&q.starts_on)
        && q_start < start
    {
        before = credited_between(db, plan, user_id, q_start, start).await?;
    }
    lap("credited before the period");
    let bands = bands(plan, target);
    let base_rate = units(&plan.rate, RATE_SCALE);
    let mut lines = Vec::new();
    let (mut credited, mut earned) = (0i128, 0i128);
    let first = before;
    let mut count = 0usize;
    for (i, c) in credits(db, plan, user_id, start, end, part.clone()).await?.into_iter().enumerate() {
        count = i + 1;
        let amount = whole(div_round(c.cents * c.share, 10_000));
        let rate = c.rate.unwrap_or_else(|| {
            c.category.as_ref().and_then(|cat| plan.category_rates.get(cat)).map_or(base_rate, |r| units(r, RATE_SCALE))
        });
        let (commission, multiplier) = commission_of(amount, before, rate, &bands);
        let commission = whole(commission);
        before += amount.max(0);
        credited += amount;
        earned += commission;
        if !part.contains(&i) {
            continue;
        }
        lines.push(StatementLine {
            object: c.object.to_string(),
            record_id: c.record_id,
            title: c.title,
            day: c.day,
            category: c.category,
            amount: money(amount),
            share: tidy(Decimal { units: c.share as i64, scale: 2 }),
            rate: tidy(Decimal { units: rate as i64, scale: RATE_SCALE }),
            multiplier: tidy(Decimal { units: multiplier as i64, scale: 2 }),
            commission: money(commission),
            clawback: false,
        });
    }
    lap("the period's credits");
    let claws = clawbacks(db, plan, user_id, start).await?;
    lap("clawbacks");
    let clawed: i128 = claws.iter().map(|l| units(&l.commission, 2)).sum();
    // Clawbacks come after the period's own lines.
    let own = count;
    for (i, claw) in claws.into_iter().enumerate() {
        if part.contains(&(own + i)) {
            lines.push(claw);
        }
        count = own + i + 1;
    }
    let lines_from = part.start.min(count);
    let percent = |v: i128| target.filter(|t| *t > 0).map(|t| v as f64 / t as f64 * 100.0);
    let bucket = plan.bucket();
    Ok(Statement {
        user_id: user_id.to_string(),
        plan_id: plan.id.clone(),
        plan_name: plan.name.clone(),
        basis: plan.basis.clone(),
        period: plan.period.clone(),
        calendar: calendar_name(plan.calendar).to_string(),
        key: bucket.key(plan.calendar, start),
        starts_on: format_date(start),
        ends_before: format_date(end),
        currency: plan.currency.clone(),
        lines,
        line_count: count,
        lines_from,
        credited: money(credited),
        commission: money(earned),
        clawback: money(clawed),
        total: money(earned + clawed),
        quota_target: quota.map(|q| q.target),
        attainment_before: percent(first),
        attainment_after: percent(before),
        status: "open".into(),
        approved_by: None,
        approved_at: None,
        period_over: db.today() >= end,
    })
}

/// Approves and locks `user_id`'s statement of `key`: once its period is over, by a manager of
/// theirs or an admin; its lines are kept as they are and what each record earned is recorded
/// (for clawbacks). Approving one already approved is refused.
pub async fn approve(db: &Db, user_id: &str, key: &str) -> Result<Statement> {
    let mut s = statement(db, user_id, key).await?;
    if !may_approve(db, user_id) {
        return Err(Error::Forbidden(format!("statement of {user_id}")));
    }
    if s.status == "approved" {
        return Err(Error::conflict("already_approved"));
    }
    if !s.period_over {
        return Err(Error::Validation(vec![FieldError::new("key", "period_not_over")]));
    }
    s.status = "approved".into();
    s.approved_by = Some(db.viewer().map(|v| v.user_id.clone()).unwrap_or_default());
    s.approved_at = Some(now());
    let id = new_id();
    // What each record earned in it (an order's lines together).
    let mut per_record: BTreeMap<(String, String), i128> = BTreeMap::new();
    for l in &s.lines {
        *per_record.entry((l.object.clone(), l.record_id.clone())).or_default() += units(&l.commission, 2);
    }
    let text = serde_json::to_string(&s).map_err(|e| Error::Corrupt(format!("statement: {e}")))?;
    let mut tx = db.write().await?;
    let taken = sqlx::query("SELECT COUNT(*) FROM commission_statements WHERE user_id = $1 AND starts_on = $2")
        .bind(user_id.to_string())
        .bind(s.starts_on.clone())
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get::<i64, _>(0)?;
    if taken > 0 {
        return Err(Error::conflict("already_approved"));
    }
    sqlx::query(
        "INSERT INTO commission_statements (id, plan_id, user_id, period_key, starts_on, ends_before, currency, \
         statement_json, approved_by, approved_at, credited_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id.clone())
    .bind(s.plan_id.clone())
    .bind(user_id.to_string())
    .bind(s.key.clone())
    .bind(s.starts_on.clone())
    .bind(s.ends_before.clone())
    .bind(s.currency.clone())
    .bind(text)
    .bind(s.approved_by.clone())
    .bind(s.approved_at.clone())
    .bind(i64::try_from(units(&s.credited, 2)).unwrap_or(i64::MAX))
    .execute(&mut *tx.tx)
    .await?;
    for ((object, record), cents) in per_record {
        sqlx::query(
            "INSERT INTO commission_credits (statement_id, user_id, object, record_id, starts_on, cents) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.clone())
        .bind(user_id.to_string())
        .bind(object)
        .bind(record)
        .bind(s.starts_on.clone())
        .bind(i64::try_from(cents).unwrap_or(i64::MAX))
        .execute(&mut *tx.tx)
        .await?;
    }
    // Whether each record still counts, from the records as they are now: one changed since
    // this statement was worked out is then kept by its own write's hook. On PostgreSQL a
    // change committing meanwhile would see none of these rows, and `settle` not see it: the
    // lock waits for changes under way and holds off new ones until this commits.
    if db.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_CREDITS_LOCK).execute(&mut *tx.tx).await?;
    }
    settle(db, &mut tx, Some(&id)).await?;
    tx.commit().await?;
    Ok(s)
}

/// One person's line in a period's overview.
#[derive(Clone, Debug, Serialize)]
pub struct Standing {
    pub user_id: String,
    pub key: String,
    pub credited: String,
    pub total: String,
    pub status: String,
    pub may_approve: bool,
}

/// The statements of the period holding `day` for everyone the viewer may read who is in a
/// plan then: their own, a manager's people, an admin everyone.
pub async fn overview(db: &Db, day: Date) -> Result<Vec<Standing>> {
    let on = format_date(day);
    let mut people: BTreeMap<String, Plan> = BTreeMap::new();
    for p in all_plans(db).await?.into_iter().filter(|p| p.applies_on(&on)) {
        for m in &p.members {
            if may_read_statement(db, m) {
                people.entry(m.clone()).or_insert_with(|| p.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (user, plan) in people {
        let key = plan.bucket().key(plan.calendar, day);
        let s = statement_part(db, &user, &key, 0..0).await?;
        out.push(Standing {
            may_approve: s.status == "open" && s.period_over && may_approve(db, &user),
            user_id: user,
            key: s.key,
            credited: s.credited,
            total: s.total,
            status: s.status,
        });
    }
    Ok(out)
}

/// The period key of `day` in a plan's bucket and calendar (for pages choosing a period).
pub fn key_of(plan: &Plan, day: Date) -> String {
    plan.bucket().key(plan.calendar, day)
}

/// The day before `start` (for "the period before").
pub fn day_before(start: &str) -> Option<Date> {
    parse_date(start).map(|d| d - time::Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(tiers: Vec<(&str, Option<&str>, &str)>) -> Plan {
        Plan {
            id: String::new(),
            name: String::new(),
            basis: "paid_orders".into(),
            rate: "2".into(),
            currency: "IRR".into(),
            period: "month".into(),
            calendar: Calendar::Jalali,
            tiers: tiers
                .into_iter()
                .map(|(f, t, m)| Tier { from: f.into(), to: t.map(str::to_string), multiplier: m.into() })
                .collect(),
            category_rates: BTreeMap::new(),
            members: Vec::new(),
            valid_from: "2026-01-01".into(),
            valid_to: None,
            created_by: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn tiers_multiply_only_what_lies_above_their_start() {
        // A quota of 1,000 (100,000 hundredths); ×1.5 from 100 % to 150 %, ×2 beyond.
        let p = plan(vec![("100", Some("150"), "1.5"), ("150", None, "2")]);
        let b = bands(&p, Some(100_000));
        assert_eq!(b, vec![(0, Some(100_000), 100), (100_000, Some(150_000), 150), (150_000, None, 200)]);
        // 400 sold after 800: 200 at ×1 and 200 at ×1.5, at 2 % → 4 + 6 = 10.
        let rate = units("2", RATE_SCALE);
        assert_eq!(commission_of(40_000, 80_000, rate, &b), (1_000, 125));
        // 1,000 sold after 1,000: 500 at ×1.5, 500 at ×2, at 2 % → 15 + 20 = 35.
        assert_eq!(commission_of(100_000, 100_000, rate, &b), (3_500, 175));
        // Without a quota: ×1 throughout.
        assert_eq!(commission_of(40_000, 80_000, rate, &bands(&p, None)), (800, 100));
    }

    #[test]
    fn money_rounds_half_away_from_zero() {
        assert_eq!(div_round(5, 10), 1);
        assert_eq!(div_round(-5, 10), -1);
        assert_eq!(div_round(4, 10), 0);
        assert_eq!(money(123_456), "1234.56");
        assert_eq!(money(-100), "-1");
    }
}
