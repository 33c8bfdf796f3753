//! Sales performance: leaderboards (people ranked by a measure over a period) and awards (a
//! manager's recognition of active staff, shown on their profile and on the board).
//!
//! A leaderboard ranks the people the viewer works with: an admin everyone who sells, a
//! manager the people of the teams they manage, a rep their own teams (themselves alone
//! without one). Each person's figure is their whole result, from the same counts as quotas
//! (`quotas::results_by_person`): a ranking compares colleagues, so it is not cut to the
//! viewer's record access; it shows sums, never records.

use super::quotas::results_by_person;
use peyvand_records::FieldError;
use peyvand_records::access::Role;
use peyvand_records::aggregate::parse_aggregate;
use peyvand_records::filter::parse_filter;
use peyvand_records::value::{format_date, format_datetime};
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;
use time::Date;

/// What a leaderboard ranks by.
pub const BOARD_MEASURES: [&str; 6] =
    ["won_amount", "won_count", "paid_amount", "paid_count", "win_rate", "activities"];

/// One person's place on a leaderboard.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Standing {
    /// 1 for the first; people with the same figure share a place.
    pub rank: usize,
    pub user_id: String,
    pub name: String,
    pub value: f64,
    /// Awards they were given in the period.
    pub awards: usize,
}

/// Who the viewer is ranked among (see the module's doc), active people only.
pub async fn board_people(db: &Db) -> Result<Vec<(String, String)>> {
    let users = db.system().list_users().await?;
    let v = db.viewer();
    let selling = |r: Role| matches!(r, Role::Agent | Role::Manager);
    Ok(users
        .into_iter()
        .filter(|u| u.active)
        .filter(|u| match v {
            None => selling(u.role),
            Some(v) if v.role == Some(Role::Admin) => selling(u.role),
            Some(v) => u.id == v.user_id || (v.team_users.contains(&u.id) && selling(u.role)),
        })
        .map(|u| (u.id, u.name))
        .collect())
}

/// The people the viewer ranks among, by `measure` from `start` to before `end`, best first.
/// Amounts in `currency`; `win_rate` in percent of the deals closed; `activities` logged.
pub async fn leaderboard(db: &Db, measure: &str, currency: &str, start: Date, end: Date) -> Result<Vec<Standing>> {
    if !BOARD_MEASURES.contains(&measure) {
        return Err(Error::Validation(vec![FieldError::new("measure", "invalid_option")]));
    }
    if end <= start {
        return Err(Error::Validation(vec![FieldError::new("to", "inverted_range")]));
    }
    let people = board_people(db).await?;
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = people.iter().map(|(id, _)| id.clone()).collect();
    let figures: Vec<(String, f64)> = match measure {
        "win_rate" => win_rates(db, &ids, start, end).await?,
        "activities" => activities(db, &ids, start, end).await?,
        _ => results_by_person(db, measure, currency, &ids, start, end).await?,
    };
    let awards = award_counts(db, start, end).await?;
    let mut board: Vec<Standing> = people
        .into_iter()
        .map(|(user_id, name)| Standing {
            rank: 0,
            value: figures.iter().find(|(u, _)| *u == user_id).map_or(0.0, |(_, v)| *v),
            awards: awards.iter().find(|(u, _)| *u == user_id).map_or(0, |(_, n)| *n),
            user_id,
            name,
        })
        .collect();
    board.sort_by(|a, b| b.value.partial_cmp(&a.value).unwrap_or(std::cmp::Ordering::Equal).then(a.name.cmp(&b.name)));
    for i in 0..board.len() {
        board[i].rank = if i > 0 && board[i - 1].value == board[i].value { board[i - 1].rank } else { i + 1 };
    }
    Ok(board)
}

/// Each person's won deals as a percent of their deals won or lost in the period.
async fn win_rates(db: &Db, people: &[String], start: Date, end: Date) -> Result<Vec<(String, f64)>> {
    let filter = json!({ "and": [
        { "field": "stage", "op": "in", "value": ["won", "lost"] },
        { "field": "closed_on", "op": "gte", "value": format_date(start) },
        { "field": "closed_on", "op": "lt", "value": format_date(end) },
        { "field": "owner", "op": "in", "value": people },
    ]});
    let rows = grouped(db, "deal", &filter, "owner,stage").await?;
    let mut out: Vec<(String, (f64, f64))> = Vec::new();
    for (group, count) in rows {
        let Some(owner) = group.get("owner").and_then(Json::as_str) else { continue };
        let won = group.get("stage").and_then(Json::as_str) == Some("won");
        let at = match out.iter().position(|(u, _)| u == owner) {
            Some(at) => at,
            None => {
                out.push((owner.to_string(), (0.0, 0.0)));
                out.len() - 1
            }
        };
        if won {
            out[at].1.0 += count as f64;
        }
        out[at].1.1 += count as f64;
    }
    Ok(out.into_iter().map(|(u, (won, all))| (u, if all > 0.0 { won / all * 100.0 } else { 0.0 })).collect())
}

/// Each person's activities logged in the period.
async fn activities(db: &Db, people: &[String], start: Date, end: Date) -> Result<Vec<(String, f64)>> {
    let offset = db.local_offset();
    let at = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let filter = json!({ "and": [
        { "field": "occurred_at", "op": "gte", "value": at(start) },
        { "field": "occurred_at", "op": "lt", "value": at(end) },
        { "field": "owner", "op": "in", "value": people },
    ]});
    Ok(grouped(db, "activity", &filter, "owner")
        .await?
        .into_iter()
        .filter_map(|(g, n)| Some((g.get("owner")?.as_str()?.to_string(), n as f64)))
        .collect())
}

/// Counts of `object`'s records meeting `filter` by `group`, over everyone's records; none
/// when the object does not exist (a module an admin removed).
async fn grouped(
    db: &Db,
    object: &str,
    filter: &Json,
    group: &str,
) -> Result<Vec<(serde_json::Map<String, Json>, i64)>> {
    let system = db.system();
    let Ok(obj) = system.object(object).await else { return Ok(Vec::new()) };
    let filter = parse_filter(&obj, filter).map_err(|e| Error::Validation(vec![e]))?;
    let spec = parse_aggregate(&obj, group, "").map_err(|e| Error::Validation(vec![e]))?;
    let aggregate = system.aggregate(object, Some(&filter), &spec).await?;
    Ok(aggregate.rows.into_iter().map(|r| (r.group, r.count)).collect())
}

/// An award as given.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Award {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub reason: String,
    pub given_by: String,
    pub given_at: String,
}

/// An award as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwardInput {
    pub user_id: String,
    pub title: String,
    #[serde(default)]
    pub reason: String,
}

/// Whether the viewer gives awards (admins and managers; a manager to their own people).
pub fn may_award(db: &Db, user_id: &str) -> bool {
    match db.viewer() {
        None => true,
        Some(v) => match v.role {
            Some(Role::Admin) => true,
            Some(Role::Manager) => v.user_id != user_id && v.team_users.contains(user_id),
            _ => false,
        },
    }
}

/// Gives an award to an active user.
pub async fn give(db: &Db, input: &AwardInput) -> Result<Award> {
    let mut errors = Vec::new();
    let title = input.title.trim();
    if title.is_empty() || title.chars().count() > 120 {
        errors.push(FieldError::new("title", "required"));
    }
    if input.reason.chars().count() > 1000 {
        errors.push(FieldError::with("reason", "too_long", json!({ "max": 1000 })));
    }
    if !db.system().user(&input.user_id).await.is_ok_and(|u| u.active) {
        errors.push(FieldError::new("user_id", "invalid_option"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if !may_award(db, &input.user_id) {
        return Err(Error::Forbidden("award".into()));
    }
    let award = Award {
        id: new_id(),
        user_id: input.user_id.clone(),
        title: title.to_string(),
        reason: input.reason.trim().to_string(),
        given_by: db.viewer().map(|v| v.user_id.clone()).unwrap_or_default(),
        given_at: now(),
    };
    let mut tx = db.write().await?;
    sqlx::query("INSERT INTO awards (id, user_id, title, reason, given_by, given_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(award.id.clone())
        .bind(award.user_id.clone())
        .bind(award.title.clone())
        .bind(award.reason.clone())
        .bind(award.given_by.clone())
        .bind(award.given_at.clone())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(award)
}

/// A person's awards, newest first (everyone reads them: recognition is public).
pub async fn awards_of(db: &Db, user_id: &str) -> Result<Vec<Award>> {
    let rows = sqlx::query(
        "SELECT id, user_id, title, reason, given_by, given_at FROM awards WHERE user_id = $1 \
         ORDER BY given_at DESC, id",
    )
    .bind(user_id.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Award {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                title: r.try_get(2)?,
                reason: r.try_get(3)?,
                given_by: r.try_get(4)?,
                given_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Awards given from `start` to before `end`, counted per person.
async fn award_counts(db: &Db, start: Date, end: Date) -> Result<Vec<(String, usize)>> {
    let offset = db.local_offset();
    let at = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let rows =
        sqlx::query("SELECT user_id, COUNT(*) FROM awards WHERE given_at >= $1 AND given_at < $2 GROUP BY user_id")
            .bind(at(start))
            .bind(at(end))
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, usize::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0)))).collect()
}

/// Withdraws an award (whoever may give it).
pub async fn withdraw(db: &Db, id: &str) -> Result<()> {
    let user: Option<String> = sqlx::query("SELECT user_id FROM awards WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let user = user.ok_or_else(|| Error::NotFound(format!("award {id}")))?;
    if !may_award(db, &user) {
        return Err(Error::Forbidden(format!("award {id}")));
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM awards WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// One person's results over a period: what a manager reviews.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Scorecard {
    pub user_id: String,
    pub name: String,
    /// Paid orders' total (in the asked currency).
    pub revenue: f64,
    pub deals_won: i64,
    pub won_amount: f64,
    pub deals_lost: i64,
    /// Won of closed, in percent (none with nothing closed).
    pub win_rate: Option<f64>,
    /// Won amount per won deal.
    pub average_deal: Option<f64>,
    /// Days from a won deal's creation to its closing, on average.
    pub cycle_days: Option<f64>,
    /// Activities logged, by kind.
    pub activities: Vec<(String, i64)>,
    /// Their customers' CSAT: answers of 4 or 5, in percent, and how many answered.
    pub csat: Option<f64>,
    pub csat_answers: i64,
}

/// The people the viewer ranks among (as the leaderboard's), with their results from `start`
/// to before `end`, amounts in `currency`; and each stage's average days for the deals that
/// left it in the period (of everyone's deals: how long the pipeline's steps take).
pub async fn scorecards(
    db: &Db,
    currency: &str,
    start: Date,
    end: Date,
) -> Result<(Vec<Scorecard>, Vec<(String, f64, i64)>)> {
    if end <= start {
        return Err(Error::Validation(vec![FieldError::new("to", "inverted_range")]));
    }
    let people = board_people(db).await?;
    if people.is_empty() {
        return Ok((Vec::new(), stage_days(db, start, end).await?));
    }
    let ids: Vec<String> = people.iter().map(|(id, _)| id.clone()).collect();
    let of = |list: &[(String, f64)], id: &str| list.iter().find(|(u, _)| u == id).map_or(0.0, |(_, v)| *v);
    let revenue = results_by_person(db, "paid_amount", currency, &ids, start, end).await?;
    let won_amount = results_by_person(db, "won_amount", currency, &ids, start, end).await?;
    // Won and lost deals closed in the period, by person.
    let filter = json!({ "and": [
        { "field": "stage", "op": "in", "value": ["won", "lost"] },
        { "field": "closed_on", "op": "gte", "value": format_date(start) },
        { "field": "closed_on", "op": "lt", "value": format_date(end) },
        { "field": "owner", "op": "in", "value": ids },
    ]});
    let closed = grouped(db, "deal", &filter, "owner,stage").await?;
    let count = |id: &str, stage: &str| -> i64 {
        closed
            .iter()
            .filter(|(g, _)| {
                g.get("owner").and_then(Json::as_str) == Some(id)
                    && g.get("stage").and_then(Json::as_str) == Some(stage)
            })
            .map(|(_, n)| n)
            .sum()
    };
    let cycles = cycle_days(db, &ids, start, end).await?;
    let offset = db.local_offset();
    let at = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let kinds = {
        let filter = json!({ "and": [
            { "field": "occurred_at", "op": "gte", "value": at(start) },
            { "field": "occurred_at", "op": "lt", "value": at(end) },
            { "field": "owner", "op": "in", "value": ids },
        ]});
        grouped(db, "activity", &filter, "owner,kind").await?
    };
    let ratings = crate::feedback::surveys::staff_ratings(&db.system(), &at(start), &at(end)).await?;
    let cards = people
        .into_iter()
        .map(|(user_id, name)| {
            let (won, lost) = (count(&user_id, "won"), count(&user_id, "lost"));
            let won_sum = of(&won_amount, &user_id);
            let mut activities: Vec<(String, i64)> = kinds
                .iter()
                .filter(|(g, _)| g.get("owner").and_then(Json::as_str) == Some(user_id.as_str()))
                .map(|(g, n)| (g.get("kind").and_then(Json::as_str).unwrap_or("").to_string(), *n))
                .collect();
            activities.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let rating = ratings.iter().find(|r| r.staff_id == user_id);
            Scorecard {
                revenue: of(&revenue, &user_id),
                deals_won: won,
                won_amount: won_sum,
                deals_lost: lost,
                win_rate: (won + lost > 0).then(|| won as f64 / (won + lost) as f64 * 100.0),
                average_deal: (won > 0).then(|| won_sum / won as f64),
                cycle_days: cycles.iter().find(|(u, _)| *u == user_id).map(|(_, d)| *d),
                activities,
                csat: rating.and_then(|r| r.scores.satisfied_pct),
                csat_answers: rating.map_or(0, |r| r.scores.answered),
                user_id,
                name,
            }
        })
        .collect();
    Ok((cards, stage_days(db, start, end).await?))
}

/// Each person's average days from a won deal's creation to its closing, for the deals they
/// won in the period (at most 10,000 read).
async fn cycle_days(db: &Db, people: &[String], start: Date, end: Date) -> Result<Vec<(String, f64)>> {
    let system = db.system();
    let Ok(obj) = system.object("deal").await else { return Ok(Vec::new()) };
    let filter = json!({ "and": [
        { "field": "stage", "op": "eq", "value": "won" },
        { "field": "closed_on", "op": "gte", "value": format_date(start) },
        { "field": "closed_on", "op": "lt", "value": format_date(end) },
        { "field": "owner", "op": "in", "value": people },
    ]});
    let filter = parse_filter(&obj, &filter).map_err(|e| Error::Validation(vec![e]))?;
    let mut sums: Vec<(String, f64, f64)> = Vec::new();
    let mut cursor = None;
    let mut read = 0;
    loop {
        let query = peyvand_store::records::ListQuery {
            filter: Some(filter.clone()),
            limit: Some(500),
            cursor,
            fields: Some(vec!["owner".into(), "closed_on".into()]),
            ..Default::default()
        };
        let page = system.list_records("deal", &query).await?;
        read += page.records.len();
        for r in &page.records {
            let owner = r.fields.get("owner").and_then(Json::as_str).unwrap_or_default();
            let closed = r.fields.get("closed_on").and_then(Json::as_str).and_then(peyvand_records::value::parse_date);
            let created = peyvand_records::value::parse_datetime(&r.created_at);
            let (Some(closed), Some(created)) = (closed, created) else { continue };
            let days = ((closed - created.to_offset(db.local_offset()).date()).whole_days()).max(0) as f64;
            match sums.iter_mut().find(|(u, _, _)| u == owner) {
                Some(s) => {
                    s.1 += days;
                    s.2 += 1.0;
                }
                None => sums.push((owner.to_string(), days, 1.0)),
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() || read >= 10_000 {
            break;
        }
    }
    Ok(sums.into_iter().map(|(u, days, n)| (u, days / n)).collect())
}

/// Each stage's average days for the stays that ended in the period, with how many ended.
async fn stage_days(db: &Db, start: Date, end: Date) -> Result<Vec<(String, f64, i64)>> {
    let offset = db.local_offset();
    let at = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let rows =
        sqlx::query("SELECT stage, entered_at, left_at FROM deal_stage_history WHERE left_at >= $1 AND left_at < $2")
            .bind(at(start))
            .bind(at(end))
            .fetch_all(db.pool())
            .await?;
    let mut out: Vec<(String, f64, i64)> = Vec::new();
    for r in rows {
        let (stage, entered, left): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let (Some(entered), Some(left)) =
            (peyvand_records::value::parse_datetime(&entered), peyvand_records::value::parse_datetime(&left))
        else {
            continue;
        };
        let days = (left - entered).as_seconds_f64() / 86_400.0;
        match out.iter_mut().find(|(s, _, _)| *s == stage) {
            Some(s) => {
                s.1 += days;
                s.2 += 1;
            }
            None => out.push((stage, days, 1)),
        }
    }
    Ok(out.into_iter().map(|(s, days, n)| (s, days / n as f64, n)).collect())
}
