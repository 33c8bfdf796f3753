//! Award rules: recognition that gives itself. An admin says "when a Jalali month (quarter,
//! year) ends, the first N by won amount (or any leaderboard measure) get this award"; each
//! night the periods that ended are looked at and the award given to the people ranked in the
//! first N places with a figure above zero, among everyone who sells (`performance::leaderboard`
//! as the system sees it). A rule gives each person one award per period, however often it
//! runs: the award names the rule and the period.

use super::performance::{BOARD_MEASURES, leaderboard};
use peyvand_records::FieldError;
use peyvand_records::access::Role;
use peyvand_records::aggregate::{Bucket, Calendar};
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use time::Date;

/// The periods a rule looks at.
pub const RULE_PERIODS: [&str; 3] = ["month", "quarter", "year"];

/// A rule as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub title: String,
    #[serde(default)]
    pub reason: String,
    /// One of the leaderboard's measures.
    pub measure: String,
    /// `month`, `quarter` or `year` (Jalali).
    pub period: String,
    /// How many places get it (1 to 10).
    pub top: i64,
}

/// A rule as kept.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub reason: String,
    pub measure: String,
    pub period: String,
    pub top: i64,
    pub created_by: String,
    pub created_at: String,
}

fn is_admin(db: &Db) -> bool {
    db.viewer().is_none_or(|v| v.role == Some(Role::Admin))
}

/// The rules (everyone reads them: they say what is recognized).
pub async fn list(db: &Db) -> Result<Vec<Rule>> {
    let rows = sqlx::query(
        "SELECT id, title, reason, measure, period, top_places, created_by, created_at FROM award_rules \
         ORDER BY created_at, id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Rule {
                id: r.try_get(0)?,
                title: r.try_get(1)?,
                reason: r.try_get(2)?,
                measure: r.try_get(3)?,
                period: r.try_get(4)?,
                top: r.try_get(5)?,
                created_by: r.try_get(6)?,
                created_at: r.try_get(7)?,
            })
        })
        .collect()
}

/// Makes a rule (admins).
pub async fn create(db: &Db, input: &RuleInput) -> Result<Rule> {
    let mut errors = Vec::new();
    let title = input.title.trim();
    if title.is_empty() {
        errors.push(FieldError::new("title", "required"));
    } else if title.chars().count() > 120 {
        errors.push(FieldError::with("title", "too_long", json!({ "max": 120 })));
    }
    if input.reason.chars().count() > 1000 {
        errors.push(FieldError::with("reason", "too_long", json!({ "max": 1000 })));
    }
    if !BOARD_MEASURES.contains(&input.measure.as_str()) {
        errors.push(FieldError::new("measure", "invalid_option"));
    }
    if !RULE_PERIODS.contains(&input.period.as_str()) {
        errors.push(FieldError::new("period", "invalid_option"));
    }
    if !(1..=10).contains(&input.top) {
        errors.push(FieldError::new("top", "out_of_range"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if !is_admin(db) {
        return Err(Error::Forbidden("award rule".into()));
    }
    let rule = Rule {
        id: new_id(),
        title: title.to_string(),
        reason: input.reason.trim().to_string(),
        measure: input.measure.clone(),
        period: input.period.clone(),
        top: input.top,
        created_by: db.viewer().map(|v| v.user_id.clone()).unwrap_or_default(),
        created_at: now(),
    };
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO award_rules (id, title, reason, measure, period, top_places, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(rule.id.clone())
    .bind(rule.title.clone())
    .bind(rule.reason.clone())
    .bind(rule.measure.clone())
    .bind(rule.period.clone())
    .bind(rule.top)
    .bind(rule.created_by.clone())
    .bind(rule.created_at.clone())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(rule)
}

/// Deletes a rule (admins); the awards it gave stay.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    if !list(db).await?.iter().any(|r| r.id == id) {
        return Err(Error::NotFound(format!("award rule {id}")));
    }
    if !is_admin(db) {
        return Err(Error::Forbidden(format!("award rule {id}")));
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM award_rules WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// Gives the awards of every rule for its last period that ended before `today`; those given
/// already are not given again. Returns how many were given now.
pub async fn apply(db: &Db, today: Date) -> Result<usize> {
    let system = db.system();
    let calendar = Calendar::Jalali;
    let mut given = 0;
    for rule in list(db).await? {
        let bucket = Bucket::parse(&rule.period).unwrap_or(Bucket::Month);
        let end = bucket.start(calendar, today);
        let start = bucket.start(calendar, end - time::Duration::days(1));
        let key = bucket.key(calendar, start);
        let board = leaderboard(&system, &rule.measure, "IRR", start, end).await?;
        let winners: Vec<_> =
            board.into_iter().filter(|s| s.rank as i64 <= rule.top && s.value > 0.0).map(|s| s.user_id).collect();
        if winners.is_empty() {
            continue;
        }
        let mut tx = db.write().await?;
        for user in winners {
            let done = sqlx::query(
                "INSERT INTO awards (id, user_id, title, reason, given_by, given_at, rule_id, period_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (rule_id, period_key, user_id) DO NOTHING",
            )
            .bind(new_id())
            .bind(user)
            .bind(rule.title.clone())
            .bind(rule.reason.clone())
            .bind(rule.created_by.clone())
            .bind(now())
            .bind(rule.id.clone())
            .bind(key.clone())
            .execute(&mut *tx.tx)
            .await?;
            given += done.rows_affected() as usize;
        }
        tx.commit().await?;
    }
    Ok(given)
}
