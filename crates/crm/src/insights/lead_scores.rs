//! Lead scores from the business's own history: the analytics engine's logistic regression
//! (`peyvand_analytics::leads`) trained on the leads that were converted (won) and those
//! disqualified (lost), from what is known of a lead when it arrives: its source, campaign and
//! city, and whether it came with a company, an e-mail, a phone and a job title. Every open lead
//! gets its chance of converting as a score of 0 to 100 and the factors that pushed it most,
//! the score written as derived data (`Db::write_derived`), so lists sort and filter by it and
//! workflows read it; the factors kept beside it.
//!
//! Trained nightly with the customer-value fit and on demand. Each run is kept with its
//! accuracy: the model trained on three quarters of the history ranks the other quarter's
//! converted leads above their lost ones this share of the time (the AUC; 0.5 is a coin).
//! Too little history is refused as such.

use peyvand_analytics::leads::{Example, Feature, LeadModel};
use peyvand_records::FieldError;
use peyvand_records::normalize::normalize;
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::collections::BTreeMap;

/// Fewest decided leads, and of each outcome, a model needs.
const MIN_EXAMPLES: usize = 20;
const MIN_EACH: usize = 5;
/// Factors kept per lead.
const FACTORS: usize = 3;
/// Regularization and gradient steps (the command line's defaults for this model).
const L2: f64 = 1e-3;
const ITERATIONS: usize = 300;

/// A training run as kept.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub id: String,
    pub ran_at: String,
    /// Leads learned from: converted and lost.
    pub converted: usize,
    pub lost: usize,
    /// The share of the history that converted, in percent.
    pub base_rate: f64,
    /// Held-out AUC (none when the held-out quarter lacks either outcome).
    pub auc: Option<f64>,
    /// Each input's weight (its push on the log-odds per unit), strongest first.
    pub weights: Vec<(String, f64)>,
    /// Open leads scored.
    pub scored: usize,
}

/// What is known of a lead when it arrives.
pub fn features(fields: &Map<String, Json>) -> BTreeMap<String, Feature> {
    let text = |k: &str| fields.get(k).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty());
    let given = |k: &str| match fields.get(k) {
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::String(s)) => !s.trim().is_empty(),
        Some(Json::Null) | None => false,
        Some(_) => true,
    };
    let yes_no = |b: bool| Feature::Category(if b { "yes" } else { "no" }.into());
    let mut out = BTreeMap::new();
    if let Some(source) = text("source") {
        out.insert("source".into(), Feature::Category(source.to_string()));
    }
    if let Some(campaign) = text("campaign") {
        out.insert("campaign".into(), Feature::Category(normalize(campaign)));
    }
    if let Some(city) = text("city") {
        out.insert("city".into(), Feature::Category(normalize(city)));
    }
    out.insert("company_name".into(), yes_no(given("company_name")));
    out.insert("emails".into(), yes_no(given("emails")));
    out.insert("phones".into(), yes_no(given("phones")));
    out.insert("job_title".into(), yes_no(given("job_title")));
    out
}

const READ: [&str; 9] =
    ["source", "campaign", "city", "company_name", "emails", "phones", "job_title", "status", "converted_at"];

async fn all_leads(db: &Db) -> Result<Vec<Record>> {
    let system = db.system();
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            limit: Some(1000),
            cursor,
            fields: Some(READ.iter().map(|f| f.to_string()).collect()),
            ..ListQuery::default()
        };
        let page = system.list_records("lead", &query).await?;
        out.extend(page.records);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// The outcome of a decided lead: converted (true) or disqualified (false); none while open.
fn outcome(fields: &Map<String, Json>) -> Option<bool> {
    if fields.get("converted_at").is_some_and(|v| !v.is_null()) {
        return Some(true);
    }
    (fields.get("status").and_then(Json::as_str) == Some("disqualified")).then_some(false)
}

/// A stable quarter of the history held out (by the lead's id).
fn held_out(id: &str) -> bool {
    id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 4 == 0
}

/// The share of (converted, lost) pairs the model ranks right, ties counting half.
fn auc(model: &LeadModel, examples: &[Example]) -> Option<f64> {
    let scores: Vec<(f64, bool)> = examples.iter().map(|e| (model.score(&e.features, 0).probability, e.won)).collect();
    let won: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let lost: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if won.is_empty() || lost.is_empty() {
        return None;
    }
    let mut right = 0.0;
    for w in &won {
        for l in &lost {
            right += if w > l {
                1.0
            } else if w == l {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(right / (won.len() * lost.len()) as f64)
}

/// A factor as kept on a lead: `input:push` (`source=referral:+1.20`), joined by `;`; one that
/// pushed by less than a hundredth is left out.
fn factor_text(factors: &[(String, f64)]) -> String {
    factors
        .iter()
        .filter(|(_, push)| push.abs() >= 0.005)
        .map(|(name, push)| format!("{name}:{push:+.2}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The factors kept on a lead, read back: (field, value or none for a number, push).
pub fn read_factors(text: &str) -> Vec<(String, Option<String>, f64)> {
    text.split(';')
        .filter_map(|part| {
            let (input, push) = part.rsplit_once(':')?;
            let push: f64 = push.parse().ok()?;
            Some(match input.split_once('=') {
                Some((field, value)) => (field.to_string(), Some(value.to_string()), push),
                None => (input.to_string(), None, push),
            })
        })
        .collect()
}

/// Trains on the decided leads and writes every open lead's score and factors; keeps the run.
pub async fn train(db: &Db) -> Result<Run> {
    let leads = all_leads(db).await?;
    let examples: Vec<(String, Example)> = leads
        .iter()
        .filter_map(|l| outcome(&l.fields).map(|won| (l.id.clone(), Example { features: features(&l.fields), won })))
        .collect();
    let converted = examples.iter().filter(|(_, e)| e.won).count();
    let lost = examples.len() - converted;
    if examples.len() < MIN_EXAMPLES || converted < MIN_EACH || lost < MIN_EACH {
        return Err(Error::Validation(vec![FieldError::with(
            "leads",
            "not_enough_leads",
            json!({ "converted": converted, "lost": lost, "min": MIN_EACH, "min_leads": MIN_EXAMPLES }),
        )]));
    }
    let (test, fit): (Vec<_>, Vec<_>) = examples.iter().partition(|(id, _)| held_out(id));
    let fit: Vec<Example> = fit.into_iter().map(|(_, e)| e.clone()).collect();
    let test: Vec<Example> = test.into_iter().map(|(_, e)| e.clone()).collect();
    let accuracy = auc(&LeadModel::train(&fit, L2, ITERATIONS), &test);
    let all: Vec<Example> = examples.into_iter().map(|(_, e)| e).collect();
    let model = LeadModel::train(&all, L2, ITERATIONS);
    let at = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc());
    let mut factors: Vec<(String, String)> = Vec::new();
    let rows: Vec<(String, Map<String, Json>)> = leads
        .iter()
        .filter(|l| outcome(&l.fields).is_none())
        .map(|l| {
            let s = model.score(&features(&l.fields), FACTORS);
            let mut fields = Map::new();
            fields.insert("score".into(), json!((s.probability * 100.0).round() as i64));
            fields.insert("scored_at".into(), json!(at));
            factors.push((l.id.clone(), factor_text(&s.factors)));
            (l.id.clone(), fields)
        })
        .collect();
    db.system().write_derived("lead", &rows).await?;
    // The factors, replaced whole, a few hundred per transaction.
    let mut w = db.write().await?;
    sqlx::query("DELETE FROM lead_score_factors").execute(&mut *w.tx).await?;
    w.commit().await?;
    for chunk in factors.chunks(500) {
        let mut w = db.write().await?;
        for (lead, text) in chunk {
            sqlx::query("INSERT INTO lead_score_factors (lead_id, factors) VALUES ($1, $2)")
                .bind(lead.clone())
                .bind(text.clone())
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await?;
    }
    let mut weights: Vec<(String, f64)> = model.inputs.iter().cloned().zip(model.weights.iter().copied()).collect();
    weights.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    weights.truncate(12);
    let run = Run {
        id: new_id(),
        ran_at: now(),
        converted,
        lost,
        base_rate: converted as f64 / (converted + lost) as f64 * 100.0,
        auc: accuracy,
        weights,
        scored: rows.len(),
    };
    let text = serde_json::to_string(&run).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut w = db.write().await?;
    sqlx::query("INSERT INTO lead_score_runs (id, ran_at, result_json) VALUES ($1, $2, $3)")
        .bind(run.id.clone())
        .bind(run.ran_at.clone())
        .bind(text)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(run)
}

/// The factors behind a lead's score: (field, value or none for a number, push), strongest
/// first; none before it is scored (or once it is decided).
pub async fn factors_of(db: &Db, lead_id: &str) -> Result<Vec<(String, Option<String>, f64)>> {
    let row = sqlx::query("SELECT factors FROM lead_score_factors WHERE lead_id = $1")
        .bind(lead_id.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => read_factors(&r.try_get::<String, _>(0)?),
        None => Vec::new(),
    })
}

/// The latest run, if any.
pub async fn latest(db: &Db) -> Result<Option<Run>> {
    let row = sqlx::query("SELECT result_json FROM lead_score_runs ORDER BY ran_at DESC, id DESC LIMIT 1")
        .fetch_optional(db.pool())
        .await?;
    let Some(r) = row else { return Ok(None) };
    let text: String = r.try_get(0)?;
    serde_json::from_str(&text).map(Some).map_err(|e| Error::Corrupt(format!("a lead-score run: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_are_kept_as_text_and_read_back() {
        let text =
            factor_text(&[("source=referral".into(), 1.234), ("emails=no".into(), -0.5), ("city=x".into(), 0.001)]);
        assert_eq!(text, "source=referral:+1.23;emails=no:-0.50");
        assert_eq!(
            read_factors(&text),
            vec![("source".into(), Some("referral".into()), 1.23), ("emails".into(), Some("no".into()), -0.5)]
        );
    }
}
