//! Quotas: what a person or a team is expected to sell in a period (a Jalali or Gregorian month,
//! quarter or year), as an amount or a count of won deals or paid orders, and how much of it
//! they have reached so far (attainment). Admins set anyone's; a manager sets those of the
//! people and teams they manage. A rep reads their own and their teams'; a manager their
//! people's; no two quotas of one person (or team) and one measure share a day.
//!
//! Attainment counts the person's whole results, whoever is looking (a quota is read only by
//! those allowed to read it), from the deals won and orders paid inside the period: a deal by
//! its `closed_on` day, an order by its `ordered_at` instant in the business's time zone.

use peyvand_records::FieldError;
use peyvand_records::access::Role;
use peyvand_records::aggregate::{Bucket, Calendar, key_start, parse_aggregate};
use peyvand_records::decimal::Decimal;
use peyvand_records::filter::parse_filter;
use peyvand_records::value::{format_date, format_datetime};
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::BTreeSet;
use time::Date;

/// What a quota counts.
pub const MEASURES: [&str; 4] = ["won_amount", "won_count", "paid_amount", "paid_count"];
/// The periods a quota spans.
pub const PERIODS: [&str; 3] = ["month", "quarter", "year"];
/// The order statuses that count as paid (a returned or cancelled order does not).
pub const PAID: [&str; 4] = ["paid", "part_shipped", "shipped", "delivered"];

/// A quota as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuotaInput {
    /// Whose it is: a user, or else a team.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    /// `month`, `quarter` or `year`.
    pub period: String,
    /// `jalali` (when empty) or `gregorian`.
    #[serde(default)]
    pub calendar: String,
    /// The period's key: `1405-09`, `1405-Q3`, `1405`, `2026-12`.
    pub key: String,
    /// One of [`MEASURES`].
    pub measure: String,
    /// The target: an amount (up to two decimals) or a whole count.
    pub target: String,
    /// An amount's currency (IRR when empty).
    #[serde(default)]
    pub currency: String,
}

/// A quota as kept.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Quota {
    pub id: String,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub period: String,
    pub calendar: Calendar,
    pub key: String,
    /// The period's first day and the day after its last.
    pub starts_on: String,
    pub ends_before: String,
    pub measure: String,
    pub target: String,
    pub currency: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Quota {
    /// Whether it counts money (else deals or orders).
    pub fn is_amount(&self) -> bool {
        self.measure.ends_with("_amount")
    }
}

const COLUMNS: &str = "id, user_id, team_id, period, calendar, period_key, starts_on, ends_before, measure, target, \
                       currency, created_by, created_at, updated_at";

fn parse(r: &sqlx::any::AnyRow) -> Result<Quota> {
    let calendar: String = r.try_get(4)?;
    Ok(Quota {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        team_id: r.try_get(2)?,
        period: r.try_get(3)?,
        calendar: Calendar::parse(&calendar).unwrap_or_default(),
        key: r.try_get(5)?,
        starts_on: r.try_get(6)?,
        ends_before: r.try_get(7)?,
        measure: r.try_get(8)?,
        target: r.try_get(9)?,
        currency: r.try_get(10)?,
        created_by: r.try_get(11)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

/// The people whose results a team's quota counts: its members and those of the teams under
/// it, at any depth.
pub async fn team_people(db: &Db, team_id: &str) -> Result<BTreeSet<String>> {
    let teams = db.system().list_teams().await?;
    let mut wanted: BTreeSet<String> = BTreeSet::from([team_id.to_string()]);
    loop {
        let before = wanted.len();
        for t in &teams {
            if t.parent_id.as_ref().is_some_and(|p| wanted.contains(p)) {
                wanted.insert(t.id.clone());
            }
        }
        if wanted.len() == before {
            break;
        }
    }
    Ok(teams.iter().filter(|t| wanted.contains(&t.id)).flat_map(|t| t.members.iter().cloned()).collect())
}

/// The teams the viewer belongs to or manages.
async fn my_teams(db: &Db) -> Result<BTreeSet<String>> {
    let Some(v) = db.viewer() else { return Ok(BTreeSet::new()) };
    Ok(db
        .system()
        .list_teams()
        .await?
        .into_iter()
        .filter(|t| t.members.contains(&v.user_id) || t.manager_id.as_deref() == Some(v.user_id.as_str()))
        .map(|t| t.id)
        .collect())
}

/// Whether the viewer reads `q`: an admin or the system every one; others their own, their
/// teams' (`teams`: those the viewer belongs to or manages) and (a manager) their people's.
fn may_read(db: &Db, q: &Quota, teams: &BTreeSet<String>) -> bool {
    let Some(v) = db.viewer() else { return true };
    if v.role == Some(Role::Admin) {
        return true;
    }
    match (&q.user_id, &q.team_id) {
        (Some(u), _) => *u == v.user_id || (v.role == Some(Role::Manager) && v.team_users.contains(u)),
        (None, Some(t)) => teams.contains(t),
        _ => false,
    }
}

/// Whether the viewer sets a quota for this user or team: an admin anyone's; a manager their
/// people's (not their own) and the teams they manage.
async fn may_set(db: &Db, user_id: Option<&str>, team_id: Option<&str>) -> Result<bool> {
    let Some(v) = db.viewer() else { return Ok(true) };
    Ok(match v.role {
        Some(Role::Admin) => true,
        Some(Role::Manager) => match (user_id, team_id) {
            (Some(u), _) => u != v.user_id && v.team_users.contains(u),
            (None, Some(t)) => {
                db.system().get_team(t).await.ok().and_then(|t| t.manager_id).as_deref() == Some(v.user_id.as_str())
            }
            _ => false,
        },
        _ => false,
    })
}

/// The quotas the viewer reads, newest period first.
pub async fn list(db: &Db) -> Result<Vec<Quota>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM quotas ORDER BY starts_on DESC, id")))
        .fetch_all(db.pool())
        .await?;
    // The viewer's teams read once for the whole list.
    let teams = my_teams(db).await?;
    let mut out = Vec::new();
    for r in &rows {
        let q = parse(r)?;
        if may_read(db, &q, &teams) {
            out.push(q);
        }
    }
    Ok(out)
}

/// A quota the viewer reads; others are not found.
pub async fn get(db: &Db, id: &str) -> Result<Quota> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM quotas WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("quota {id}")))?;
    let q = parse(&r)?;
    if !may_read(db, &q, &my_teams(db).await?) {
        return Err(Error::NotFound(format!("quota {id}")));
    }
    Ok(q)
}

/// The checked period of `input`: its calendar, first day and the day after its last.
fn period_of(input: &QuotaInput, errors: &mut Vec<FieldError>) -> Option<(Calendar, Date, Date)> {
    let calendar = match input.calendar.as_str() {
        "" => Calendar::Jalali,
        other => match Calendar::parse(other) {
            Ok(c) => c,
            Err(e) => {
                errors.push(e);
                return None;
            }
        },
    };
    let Some(bucket) = PERIODS.contains(&input.period.as_str()).then(|| Bucket::parse(&input.period)).flatten() else {
        errors.push(FieldError::new("period", "invalid_option"));
        return None;
    };
    let Some(start) = key_start(bucket, calendar, input.key.trim()).filter(|d| (1900..2200).contains(&d.year())) else {
        errors.push(FieldError::new("key", "invalid_period"));
        return None;
    };
    Some((calendar, start, bucket.next(calendar, start)))
}

/// Saves a quota (new when `id` is none) after checking it: one subject, a known period, measure
/// and non-negative target, and no other quota of the same subject and measure sharing a day.
pub async fn save(db: &Db, id: Option<&str>, input: &QuotaInput) -> Result<Quota> {
    let mut errors = Vec::new();
    let user = input.user_id.as_deref().filter(|u| !u.is_empty());
    let team = input.team_id.as_deref().filter(|t| !t.is_empty());
    match (user, team) {
        (Some(_), Some(_)) | (None, None) => errors.push(FieldError::new("user_id", "quota_subject")),
        (Some(u), None) => {
            if !db.system().user(u).await.is_ok_and(|u| u.active) {
                errors.push(FieldError::new("user_id", "invalid_option"));
            }
        }
        (None, Some(t)) => {
            if db.system().get_team(t).await.is_err() {
                errors.push(FieldError::new("team_id", "invalid_option"));
            }
        }
    }
    let period = period_of(input, &mut errors);
    if !MEASURES.contains(&input.measure.as_str()) {
        errors.push(FieldError::new("measure", "invalid_option"));
    }
    let amount = input.measure.ends_with("_amount");
    let target = match Decimal::parse(&input.target, if amount { 2 } else { 0 }) {
        Ok(d) if d.units < 0 => {
            errors.push(FieldError::new("target", "negative"));
            None
        }
        // Kept as written, without a fraction of zeros (2000, not 2000.00).
        Ok(d) => Some(tidy(d)),
        Err(_) => {
            errors.push(FieldError::new("target", if amount { "invalid_number" } else { "invalid_integer" }));
            None
        }
    };
    let currency = match input.currency.trim() {
        "" => "IRR".to_string(),
        c if c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase()) => c.to_string(),
        _ => {
            errors.push(FieldError::new("currency", "invalid_currency"));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let (Some((calendar, start, end)), Some(target)) = (period, target) else {
        return Err(Error::Validation(vec![FieldError::new("key", "invalid_period")]));
    };
    if !may_set(db, user, team).await? {
        return Err(Error::Forbidden("quota".into()));
    }
    if let Some(id) = id {
        get(db, id).await?;
    }
    let (starts_on, ends_before) = (format_date(start), format_date(end));
    let calendar_name = match calendar {
        Calendar::Jalali => "jalali",
        Calendar::Gregorian => "gregorian",
    };
    let me = db.viewer().map(|v| v.user_id.clone()).unwrap_or_default();
    let at = now();
    let mut tx = db.write().await?;
    // One subject's quotas of one measure never share a day (checked in the write's lock).
    let overlapping: i64 = sqlx::query(
        "SELECT COUNT(*) FROM quotas WHERE COALESCE(user_id, '') = $1 AND COALESCE(team_id, '') = $2 \
         AND measure = $3 AND starts_on < $4 AND ends_before > $5 AND id <> $6",
    )
    .bind(user.unwrap_or("").to_string())
    .bind(team.unwrap_or("").to_string())
    .bind(input.measure.clone())
    .bind(ends_before.clone())
    .bind(starts_on.clone())
    .bind(id.unwrap_or("").to_string())
    .fetch_one(&mut *tx.tx)
    .await?
    .try_get(0)?;
    if overlapping > 0 {
        return Err(Error::Validation(vec![FieldError::new("key", "quota_overlaps")]));
    }
    let id = match id {
        Some(id) => {
            sqlx::query(
                "UPDATE quotas SET user_id = $1, team_id = $2, period = $3, calendar = $4, period_key = $5, \
                 starts_on = $6, ends_before = $7, measure = $8, target = $9, currency = $10, updated_at = $11 \
                 WHERE id = $12",
            )
            .bind(user.map(str::to_string))
            .bind(team.map(str::to_string))
            .bind(input.period.clone())
            .bind(calendar_name)
            .bind(input.key.trim().to_string())
            .bind(starts_on)
            .bind(ends_before)
            .bind(input.measure.clone())
            .bind(target)
            .bind(currency)
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO quotas ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"
            )))
            .bind(id.clone())
            .bind(user.map(str::to_string))
            .bind(team.map(str::to_string))
            .bind(input.period.clone())
            .bind(calendar_name)
            .bind(input.key.trim().to_string())
            .bind(starts_on)
            .bind(ends_before)
            .bind(input.measure.clone())
            .bind(target)
            .bind(currency)
            .bind(me)
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

/// Deletes a quota the viewer may set.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    let q = get(db, id).await?;
    if !may_set(db, q.user_id.as_deref(), q.team_id.as_deref()).await? {
        return Err(Error::Forbidden(format!("quota {id}")));
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM quotas WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// A quota and how far its subject has come.
#[derive(Clone, Debug, Serialize)]
pub struct Attainment {
    pub quota: Quota,
    /// Reached so far: an amount in the quota's currency, or a count.
    pub actual: String,
    /// Reached as a percent of the target (none for a target of zero).
    pub percent: Option<f64>,
    /// How much of the period has passed, in percent (to read the attainment against).
    pub elapsed_percent: f64,
    /// The object and filter of the deals or orders counted (for their list).
    pub object: String,
    pub drill: Json,
}

/// What counts for `measure` of `people` from `start` to before `end`: the object and its filter
/// (won deals by their closing day; paid orders by their instant, at the business's midnight).
pub fn results_filter(db: &Db, measure: &str, people: &[String], start: Date, end: Date) -> (&'static str, Json) {
    let owner = json!({ "field": "owner", "op": "in", "value": people });
    if measure.starts_with("won") {
        let filter = json!({ "and": [
            { "field": "stage", "op": "eq", "value": "won" },
            { "field": "closed_on", "op": "gte", "value": format_date(start) },
            { "field": "closed_on", "op": "lt", "value": format_date(end) },
            owner,
        ]});
        ("deal", filter)
    } else {
        let offset = db.local_offset();
        let at = |d: Date| format_datetime(d.midnight().assume_offset(offset));
        let filter = json!({ "and": [
            { "field": "status", "op": "in", "value": PAID },
            { "field": "ordered_at", "op": "gte", "value": at(start) },
            { "field": "ordered_at", "op": "lt", "value": at(end) },
            owner,
        ]});
        ("order", filter)
    }
}

/// The amount field of a measure's object.
fn amount_field(object: &str) -> &'static str {
    if object == "deal" { "amount" } else { "total" }
}

/// Each of `people`'s results for `measure` from `start` to before `end`, as a number (an
/// amount in `currency`), by user id; everyone's whole results, whoever asks.
pub async fn results_by_person(
    db: &Db,
    measure: &str,
    currency: &str,
    people: &[String],
    start: Date,
    end: Date,
) -> Result<Vec<(String, f64)>> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let system = db.system();
    let (object, filter) = results_filter(db, measure, people, start, end);
    let obj = system.object(object).await?;
    let filter = parse_filter(&obj, &filter).map_err(|e| Error::Validation(vec![e]))?;
    let amount = measure.ends_with("_amount");
    let field = amount_field(object);
    let spec =
        parse_aggregate(&obj, "owner", if amount { field } else { "" }).map_err(|e| Error::Validation(vec![e]))?;
    let aggregate = system.aggregate(object, Some(&filter), &spec).await?;
    let mut out: Vec<(String, f64)> = Vec::new();
    for row in aggregate.rows {
        let Some(owner) = row.group.get("owner").and_then(Json::as_str) else { continue };
        let value = if amount {
            if row.group.get(&format!("{field}__currency")).and_then(Json::as_str).unwrap_or("IRR") != currency {
                continue;
            }
            number(row.sum.get(field))
        } else {
            row.count as f64
        };
        match out.iter_mut().find(|(u, _)| u == owner) {
            Some((_, v)) => *v += value,
            None => out.push((owner.to_string(), value)),
        }
    }
    Ok(out)
}

/// A sum as the aggregate gives it (decimal text or a number).
pub fn number(v: Option<&Json>) -> f64 {
    match v {
        Some(Json::String(s)) => s.parse().unwrap_or(0.0),
        Some(other) => other.as_f64().unwrap_or(0.0),
        None => 0.0,
    }
}

/// How far `q`'s subject has come.
pub async fn attainment(db: &Db, q: &Quota) -> Result<Attainment> {
    let people: Vec<String> = match (&q.user_id, &q.team_id) {
        (Some(u), _) => vec![u.clone()],
        (None, Some(t)) => team_people(db, t).await?.into_iter().collect(),
        _ => Vec::new(),
    };
    let start = peyvand_records::value::parse_date(&q.starts_on).unwrap_or_else(|| db.today());
    let end = peyvand_records::value::parse_date(&q.ends_before).unwrap_or(start);
    let total: f64 =
        results_by_person(db, &q.measure, &q.currency, &people, start, end).await?.iter().map(|(_, v)| v).sum();
    let target: f64 = q.target.parse().unwrap_or(0.0);
    let today = db.today();
    let span = (end - start).whole_days().max(1) as f64;
    let passed = (today - start).whole_days().clamp(0, (end - start).whole_days()) as f64;
    let (object, drill) = results_filter(db, &q.measure, &people, start, end);
    Ok(Attainment {
        actual: if q.is_amount() { plain(total) } else { format!("{}", total as i64) },
        percent: (target > 0.0).then(|| total / target * 100.0),
        elapsed_percent: passed / span * 100.0,
        object: object.to_string(),
        drill,
        quota: q.clone(),
    })
}

/// The viewer's quotas whose period holds today (their own first, then their teams' and
/// people's), with their attainment.
pub async fn current(db: &Db) -> Result<Vec<Attainment>> {
    let today = format_date(db.today());
    let me = db.viewer().map(|v| v.user_id.clone()).unwrap_or_default();
    let mut quotas: Vec<Quota> =
        list(db).await?.into_iter().filter(|q| q.starts_on <= today && today < q.ends_before).collect();
    quotas.sort_by_key(|q| (q.user_id.as_deref() != Some(me.as_str()), q.team_id.is_some(), q.id.clone()));
    let mut out = Vec::with_capacity(quotas.len());
    for q in quotas {
        out.push(attainment(db, &q).await?);
    }
    Ok(out)
}

/// A decimal as text without a fraction of zeros (1.5, not 1.50).
pub(crate) fn tidy(d: Decimal) -> String {
    let text = d.to_string();
    match text.split_once('.') {
        Some((int, frac)) if frac.chars().all(|c| c == '0') => int.to_string(),
        Some(_) => text.trim_end_matches('0').to_string(),
        None => text,
    }
}

/// Hundredths as decimal text, whole when they are (`123456` → `1234.56`, `-100` → `-1`).
pub(crate) fn money(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let (int, frac) = (cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
    if frac == 0 { format!("{sign}{int}") } else { format!("{sign}{int}.{frac:02}") }
}

/// A number as decimal text: whole when it is, else to two places.
pub fn plain(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { format!("{v:.2}") }
}
