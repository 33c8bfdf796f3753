//! The revenue forecast: the orders' revenue by week or month (Jalali or Gregorian), forecast
//! by the analytics engine's exponential smoothing with its 95% interval, its backtest beside the
//! seasonal-naive baseline's (so a manager knows how far to trust it), and the open pipeline
//! weighted by its stages' probabilities by expected close.
//!
//! Revenue is what `peyvand analytics forecast` counts: every order but cancelled and returned
//! ones, by its total. The period under way is shown so far and never fitted as if it were
//! whole; a quantity that cannot be negative never gets an interval below zero (the engine's
//! `Model::forecast`). Everything is read through the viewer's handle: a rep's forecast is of
//! their own orders.

use peyvand_analytics::forecast;
pub use peyvand_analytics::forecast::{Accuracy, Model, Point};
use peyvand_records::FieldError;
use peyvand_records::aggregate::{Bucket, Calendar, key_start, parse_aggregate};
use peyvand_records::filter::parse_filter;
use peyvand_store::{Db, Error, Result};
use serde::Serialize;
use serde_json::{Value as Json, json};

/// Orders in these states bought nothing (as the command line reads an export).
pub const NOT_SALES: [&str; 2] = ["cancelled", "returned"];
/// Most periods one may forecast.
pub const MAX_HORIZON: usize = 24;

/// A forecast as pages and the API show it.
#[derive(Clone, Debug, Serialize)]
pub struct Forecast {
    pub bucket: Bucket,
    pub calendar: Calendar,
    pub currency: String,
    /// Whole periods, oldest first, empty ones as zero: what was fitted.
    pub actuals: Vec<(String, f64)>,
    /// The period under way and its revenue so far (left out of the fit).
    pub current: (String, f64),
    /// The chosen model (none: not enough history).
    pub model: Option<Model>,
    /// The periods after the last whole one, with their 95% intervals.
    pub points: Vec<(String, Point)>,
    /// The seasonal-naive baseline over the same periods.
    pub naive: Vec<f64>,
    /// Mean absolute (percentage) error of the model and of the baseline on the last periods
    /// held out, and how many were.
    pub backtest: Option<(Accuracy, Accuracy)>,
    pub holdout: usize,
    /// Open deals' amounts times their stage's probability, by the period of their expected
    /// close (from the current period on; earlier ones are overdue and counted in the current).
    pub pipeline: Vec<(String, f64)>,
}

/// The season of a bucket: a year of months or of weeks.
fn season(bucket: Bucket) -> usize {
    if bucket == Bucket::Week { 52 } else { 12 }
}

/// Forecasts revenue by `bucket` (`week` or `month`) in `calendar`, `horizon` periods ahead, in
/// `currency`, from the orders the viewer reads.
pub async fn revenue(db: &Db, bucket: Bucket, calendar: Calendar, horizon: usize, currency: &str) -> Result<Forecast> {
    if !matches!(bucket, Bucket::Week | Bucket::Month) {
        return Err(Error::Validation(vec![FieldError::new("period", "invalid_option")]));
    }
    if horizon == 0 || horizon > MAX_HORIZON {
        return Err(Error::Validation(vec![FieldError::with(
            "horizon",
            "out_of_range",
            json!({ "min": 1, "max": MAX_HORIZON }),
        )]));
    }
    let today = db.today();
    let current_start = bucket.start(calendar, today);
    let current_key = bucket.key(calendar, today);
    let by_period = sums(
        db,
        "order",
        json!({ "and": [
            { "field": "status", "op": "ne", "value": NOT_SALES[0] },
            { "field": "status", "op": "ne", "value": NOT_SALES[1] },
        ]}),
        &format!("ordered_at:{}", bucket_name(bucket)),
        "total",
        calendar,
        currency,
    )
    .await?;
    // Every period from the first order's to the last whole one, empty ones as zero.
    let first = by_period.iter().filter_map(|(k, _)| key_start(bucket, calendar, k)).min();
    let mut actuals = Vec::new();
    if let Some(mut start) = first {
        while start < current_start {
            let key = bucket.key(calendar, start);
            let v = by_period.iter().filter(|(k, _)| *k == key).map(|(_, v)| v).sum();
            actuals.push((key, v));
            start = bucket.next(calendar, start);
        }
    }
    let current = (current_key.clone(), by_period.iter().filter(|(k, _)| *k == current_key).map(|(_, v)| v).sum());
    let y: Vec<f64> = actuals.iter().map(|(_, v)| *v).collect();
    let m = season(bucket);
    let model = if y.len() >= 4 { forecast::fit_best(&y, m) } else { None };
    // The forecast starts with the period under way (the first after the last whole one).
    let mut keys = Vec::with_capacity(horizon);
    let mut start = current_start;
    for _ in 0..horizon {
        keys.push(bucket.key(calendar, start));
        start = bucket.next(calendar, start);
    }
    let points: Vec<(String, Point)> = match &model {
        Some(model) => keys.iter().cloned().zip(model.forecast(horizon)).collect(),
        None => Vec::new(),
    };
    let naive = if y.is_empty() { Vec::new() } else { forecast::seasonal_naive(&y, m, horizon) };
    let holdout = horizon.min(y.len().saturating_sub(4));
    let backtest = if model.is_some() { forecast::backtest(&y, m, holdout) } else { None };
    let pipeline = weighted_pipeline(db, bucket, calendar, currency, &current_key, &keys).await?;
    Ok(Forecast {
        bucket,
        calendar,
        currency: currency.to_string(),
        actuals,
        current,
        model,
        points,
        naive,
        backtest,
        holdout,
        pipeline,
    })
}

fn bucket_name(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Day => "day",
        Bucket::Week => "week",
        Bucket::Month => "month",
        Bucket::Quarter => "quarter",
        Bucket::Year => "year",
    }
}

/// `object`'s records meeting `filter`, `field` summed in `currency` per `group` key (a period,
/// or a period and a stage as `period|stage`), through the viewer's handle.
async fn sums(
    db: &Db,
    object: &str,
    filter: Json,
    group: &str,
    field: &str,
    calendar: Calendar,
    currency: &str,
) -> Result<Vec<(String, f64)>> {
    let obj = db.visible_object(object).await?;
    let filter = parse_filter(&obj, &filter).map_err(|e| Error::Validation(vec![e]))?;
    let calendar_name = if calendar == Calendar::Jalali { "jalali" } else { "gregorian" };
    let spec = parse_aggregate(&obj, group, "")
        .and_then(|s| s.with_measures(&obj, &format!("sum:{field}"), calendar_name))
        .map_err(|e| Error::Validation(vec![e]))?;
    let names: Vec<String> = spec.group_by.iter().map(|g| g.name()).collect();
    let aggregate = db.aggregate(object, Some(&filter), &spec).await?;
    Ok(aggregate
        .rows
        .into_iter()
        .filter(|r| r.group.get(&format!("{field}__currency")).and_then(Json::as_str).is_none_or(|c| c == currency))
        .map(|r| {
            let key: Vec<String> =
                names.iter().map(|n| r.group.get(n).and_then(Json::as_str).unwrap_or_default().to_string()).collect();
            (key.join("|"), super::quotas::number(r.measures.get(&format!("sum:{field}"))))
        })
        .collect())
}

/// The open deals' amounts weighted by their stage's probability, by the period of their
/// expected close among `keys` (an overdue or undated deal counts in the current period).
async fn weighted_pipeline(
    db: &Db,
    bucket: Bucket,
    calendar: Calendar,
    currency: &str,
    current: &str,
    keys: &[String],
) -> Result<Vec<(String, f64)>> {
    let stages: Vec<(String, f64)> = crate::sales::pipelines::list(&db.system())
        .await?
        .into_iter()
        .flat_map(|p| p.stages.into_iter().map(|s| (s.key, s.probability as f64 / 100.0)))
        .collect();
    let filter = json!({ "and": [
        { "field": "stage", "op": "ne", "value": "won" },
        { "field": "stage", "op": "ne", "value": "lost" },
    ]});
    let group = format!("expected_close:{},stage", bucket_name(bucket));
    let rows = sums(db, "deal", filter, &group, "amount", calendar, currency).await?;
    let mut out: Vec<(String, f64)> = keys.iter().map(|k| (k.clone(), 0.0)).collect();
    for (key, amount) in rows {
        let (period, stage) = key.split_once('|').unwrap_or((&key, ""));
        let chance = stages.iter().find(|(s, _)| s == stage).map_or(0.0, |(_, p)| *p);
        let at = match out.iter().position(|(k, _)| k == period) {
            Some(at) => at,
            // Overdue or undated: expected now.
            None if period.is_empty() || period < current => 0,
            None => continue,
        };
        out[at].1 += amount * chance;
    }
    Ok(out)
}
