//! Customer value on the CRM's own data: every contact's orders (all but cancelled and returned
//! ones) fitted nightly, and on demand, by the analytics engine's BG/NBD and Gamma-Gamma models
//! in weeks, as `peyvand analytics clv --calibration-end <today> --horizon 52` fits an export of
//! the same orders (a purchase's day is its instant's UTC day, as the export writes it); and
//! RFM scores as `peyvand analytics rfm --as-of <today>`. Each contact with orders gets its
//! expected purchases, the chance it is still buying, churn risk, expected spend, lifetime value,
//! RFM score and segment, written as derived data (`Db::write_derived`): lists, filters,
//! segments and workflows read them like any field. Companies get the same from their orders,
//! fitted apart, where enough of them bought (the run and its calibration are the contacts').
//!
//! Each run is kept with its parameters and a calibration: the models fitted again on all but
//! the last 26 weeks, their predicted repeat purchases in those weeks against what happened,
//! for customers grouped by their repeat purchases before. Too little history is refused as
//! such, never fitted into nonsense.

use peyvand_analytics::summary::{CustomerSummary, Transaction, summarize};
use peyvand_analytics::{bgnbd, churn, gamma_gamma, rfm};
use peyvand_records::FieldError;
use peyvand_records::value::format_datetime;
use peyvand_store::rusqlite::types::ValueRef;
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// The nightly fit's job.
pub const NIGHTLY_JOB: &str = "customer_value";
/// Weeks ahead the expected purchases and lifetime value cover.
pub const HORIZON_WEEKS: usize = 52;
/// Weeks held out to check the fit.
pub const HOLDOUT_WEEKS: i64 = 26;
/// Fewest customers, and customers with a repeat purchase, a fit needs.
const MIN_CUSTOMERS: usize = 20;
const MIN_REPEATERS: usize = 5;

/// The fitted parameters and how well they predicted the holdout.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Fit {
    /// The last day of the history fitted (the business's today), as a Julian day and a date.
    pub calibration_end: String,
    pub customers: usize,
    pub repeaters: usize,
    pub bgnbd: [f64; 4],
    pub bgnbd_log_likelihood: f64,
    /// p, q, γ (none when too few repeat purchases had a value).
    pub gamma_gamma: Option<[f64; 3]>,
    /// Per group of repeat purchases before the holdout (0, 1, … 6, 7 or more): customers,
    /// predicted and actual repeat purchases in the holdout, on average.
    pub calibration: Vec<CalibrationRow>,
    /// Customers by churn risk band and by RFM segment.
    pub risk_bands: BTreeMap<String, usize>,
    pub segments: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CalibrationRow {
    pub repeats: String,
    pub customers: usize,
    pub predicted: f64,
    pub actual: f64,
}

/// A run as kept.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Run {
    pub id: String,
    pub ran_at: String,
    pub customers: i64,
    pub fit: Fit,
}

/// The orders as the command line reads their export, read once for both kinds of customer:
/// (the customer, its contact's and its company's; UTC day as a Julian day; total), the
/// cancelled and returned left out, newest first as the export lists them (the same sums of
/// amounts in the same order). One statement over the catalog's columns: every order is read,
/// and the engine's pages of records with values decoded were 19 s of a fit at 2,000,000
/// orders. On SQLite a connection of the read's own steps it (`Db::read_native`); on PostgreSQL
/// it is read along the primary key [`READ_BATCH`] orders at a time.
async fn transactions(db: &Db) -> Result<(Vec<Transaction>, Vec<Transaction>)> {
    let catalog = db.catalog_cached()?;
    let missing = |what: &str| Error::NotFound(format!("the standard field {what}"));
    let order = catalog.object("order").ok_or_else(|| missing("order"))?;
    let column = |name: &str| order.field(name).ok_or_else(|| missing(name));
    let (contact, company, at, status) = (
        column("contact")?.column.clone(),
        column("company")?.column.clone(),
        column("ordered_at")?.column.clone(),
        column("status")?.column.clone(),
    );
    let total = column("total")?;
    let scale = 10f64.powi(i32::from(total.options.scale_or_default(total.field_type)));
    let (total, table) = (total.column.clone(), order.table.clone());
    let kept = format!("deleted_at IS NULL AND ({status} IS NULL OR {status} NOT IN ('cancelled', 'returned'))");
    let sql = format!("SELECT {contact}, {company}, {at}, {total} FROM {table} WHERE {kept} ORDER BY id DESC");
    let native = db
        .read_native(move |conn| {
            let mut read = Orders::new(scale);
            let mut statement = conn.prepare(&sql)?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let units = match row.get_ref(3)? {
                    ValueRef::Integer(u) => Some(u),
                    ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|t| t.parse().ok()),
                    _ => None,
                };
                read.push(text_at(row, 0)?, text_at(row, 1)?, text_at(row, 2)?, units);
            }
            Ok((read.contacts, read.companies))
        })
        .await?;
    if let Some(read) = native {
        return Ok(read);
    }
    // A batch comes back as one row: its oldest id, its size and its orders as one text (each
    // "contact company day units", empty where none; ids, days and integers hold no spaces or
    // commas). Row by row, each of the 20,000 rows crossed from the connection to this task on
    // its own, behind every request the runtime had ready.
    let text = |c: &str| format!("COALESCE(CAST({c} AS TEXT), '')");
    let item = format!(
        "{} || ' ' || {} || ' ' || {} || ' ' || {}",
        text(&contact),
        text(&company),
        text(&format!("SUBSTR({at}, 1, 10)")),
        text(&total)
    );
    let sql = format!(
        "SELECT MIN(id), COUNT(*), string_agg({item}, ',' ORDER BY id DESC) FROM (SELECT id, {contact}, {company}, \
         {at}, {total} FROM {table} WHERE id < $1 AND {kept} ORDER BY id DESC LIMIT {READ_BATCH}) b"
    );
    let mut read = Orders::new(scale);
    // Ids are UUIDs in lower-case hexadecimal: every one sorts before "g".
    let mut before = "g".to_string();
    loop {
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(before.clone()).fetch_one(db.pool()).await?;
        let (oldest, count, orders): (Option<String>, i64, Option<String>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        for order in orders.as_deref().unwrap_or_default().split(',').filter(|o| !o.is_empty()) {
            let mut parts = order.split(' ');
            let mut next = || parts.next().filter(|p| !p.is_empty());
            let (contact, company, date, units) = (next(), next(), next(), next());
            read.push(contact, company, date, units.and_then(|u| u.parse().ok()));
        }
        match oldest {
            Some(oldest) if count as usize == READ_BATCH => before = oldest,
            _ => break,
        }
    }
    Ok((read.contacts, read.companies))
}

/// A text column of a native read's row (none: null or not text).
fn text_at<'r>(row: &'r peyvand_store::rusqlite::Row<'_>, i: usize) -> Result<Option<&'r str>> {
    Ok(match row.get_ref(i)? {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    })
}

/// The transactions of orders read so far, for contacts and for companies.
struct Orders {
    contacts: Vec<Transaction>,
    companies: Vec<Transaction>,
    /// A total's units per currency unit.
    scale: f64,
    /// The Julian day of each date read (an instant's first ten characters, its UTC date).
    days: HashMap<String, Option<i64>>,
}

impl Orders {
    fn new(scale: f64) -> Orders {
        Orders { contacts: Vec::new(), companies: Vec::new(), scale, days: HashMap::new() }
    }

    /// An order of `contact` and `company` at the stored instant `at`, of `units` (none: 0).
    fn push(&mut self, contact: Option<&str>, company: Option<&str>, at: Option<&str>, units: Option<i64>) {
        let Some(date) = at.and_then(|a| a.get(..10)) else { return };
        let day = match self.days.get(date) {
            Some(day) => *day,
            None => {
                let day = peyvand_records::value::parse_date(date).map(|d| i64::from(d.to_julian_day()));
                self.days.insert(date.to_string(), day);
                day
            }
        };
        let Some(day) = day else { return };
        let amount = units.map_or(0.0, |u| u as f64 / self.scale);
        for (customer, out) in [(contact, &mut self.contacts), (company, &mut self.companies)] {
            if let Some(customer) = customer.filter(|c| !c.is_empty()) {
                out.push(Transaction { customer: customer.to_string(), day, amount });
            }
        }
    }
}

/// Orders read a statement at a time by [`transactions`].
const READ_BATCH: usize = 20_000;

/// A fit of the models to `tx` up to day `end`, and each customer's fields to write; none with
/// too few customers or repeat buyers.
struct Fitted {
    customers: usize,
    repeaters: usize,
    p: bgnbd::Params,
    log_likelihood: f64,
    spend: Option<(gamma_gamma::Params, f64)>,
    rows: Vec<(String, Map<String, Json>)>,
    risk_bands: BTreeMap<String, usize>,
    segments: BTreeMap<String, usize>,
}

fn fit_rows(tx: &[Transaction], end: i64, at: &str) -> Option<Fitted> {
    let customers: Vec<CustomerSummary> = summarize(tx, end, 7.0);
    let repeaters = customers.iter().filter(|c| c.frequency > 0.0).count();
    if customers.len() < MIN_CUSTOMERS || repeaters < MIN_REPEATERS {
        return None;
    }
    let purchases = bgnbd::fit(&customers);
    let p = purchases.params;
    let spend = gamma_gamma::fit(&customers);
    // RFM as of today, on every purchase day's total: the last day, the days and the total (in
    // the orders' order) per customer, gathered by a hash and sorted by customer once.
    /// A customer's last purchase day, purchase days and total.
    type Bought = (i64, Vec<i64>, f64);
    let mut by_customer: HashMap<&str, Bought> = HashMap::new();
    for t in tx.iter().filter(|t| t.day <= end) {
        let e = by_customer.entry(t.customer.as_str()).or_insert((i64::MIN, Vec::new(), 0.0));
        e.0 = e.0.max(t.day);
        e.1.push(t.day);
        e.2 += t.amount;
    }
    let mut by_customer: Vec<(&str, Bought)> = by_customer.into_iter().collect();
    by_customer.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let measures: Vec<rfm::Measures> = by_customer
        .into_iter()
        .map(|(c, (last, mut days, total))| {
            days.sort_unstable();
            days.dedup();
            rfm::Measures {
                customer: c.to_string(),
                recency_days: (end - last) as f64,
                frequency: days.len() as f64,
                monetary: total,
            }
        })
        .collect();
    let scored: BTreeMap<String, rfm::Scored> =
        rfm::score(&measures, &rfm::default_rules()).into_iter().map(|s| (s.customer.clone(), s)).collect();
    let mut risk_bands: BTreeMap<String, usize> = BTreeMap::new();
    let mut segments: BTreeMap<String, usize> = BTreeMap::new();
    let money = |v: f64| json!({ "amount": format!("{:.0}", v.max(0.0)), "currency": "IRR" });
    // What customers with the same history share is worked out once (the same numbers).
    let (mut forecasts, mut upto) = (bgnbd::Forecasts::new(&p, HORIZON_WEEKS), Vec::new());
    let rows: Vec<(String, Map<String, Json>)> = customers
        .iter()
        .map(|c| {
            forecasts.upto_each(c.frequency, c.recency, c.age, &mut upto);
            let expected = upto.last().copied().unwrap_or(0.0);
            let alive = bgnbd::probability_alive(&p, c.frequency, c.recency, c.age);
            let risk = churn::churn_risk(&p, c);
            *risk_bands.entry(risk.band.to_string()).or_default() += 1;
            let (value, lifetime) = match &spend {
                Some((s, _)) => (
                    gamma_gamma::expected_average_value(s, c.frequency, c.monetary),
                    gamma_gamma::clv_of(&mut forecasts, &mut upto, s, c, 0.0),
                ),
                None => (0.0, 0.0),
            };
            let mut fields = Map::new();
            fields.insert("expected_purchases".into(), json!(format!("{expected:.2}")));
            fields.insert("p_alive".into(), json!(format!("{alive:.3}")));
            fields.insert("churn_risk".into(), json!(risk.band));
            fields.insert("expected_spend".into(), money(value));
            fields.insert("lifetime_value".into(), money(lifetime));
            if let Some(s) = scored.get(&c.customer) {
                fields.insert("rfm_score".into(), json!(i64::from(s.r) * 100 + i64::from(s.f) * 10 + i64::from(s.m)));
                fields.insert("rfm_segment".into(), json!(s.segment));
                *segments.entry(s.segment.clone()).or_default() += 1;
            }
            fields.insert("value_scored_at".into(), json!(at));
            (c.customer.clone(), fields)
        })
        .collect();
    Some(Fitted {
        customers: customers.len(),
        repeaters,
        p,
        log_likelihood: purchases.log_likelihood,
        spend,
        rows,
        risk_bands,
        segments,
    })
}

/// Fits the models to the orders up to the business's today, writes every contact's value, and
/// keeps the run. "Not enough history" when too few customers bought, or bought again.
pub async fn score(db: &Db) -> Result<Run> {
    let started = std::time::Instant::now();
    let lap = |what: &str| tracing::info!(what, seconds = started.elapsed().as_secs_f64(), "customer-value fit");
    let (tx, companies) = transactions(db).await?;
    lap("orders read");
    let today = db.today();
    let end = i64::from(today.to_julian_day());
    let at = format_datetime(time::OffsetDateTime::now_utc());
    // The fits are work for a processor, done on a thread of their own (not one that serves
    // requests); the companies' fit and the calibration while the contacts are written.
    let blocking = |e: tokio::task::JoinError| Error::Corrupt(format!("the customer-value fit: {e}"));
    let tx = std::sync::Arc::new(tx);
    let (contact_orders, stamp) = (tx.clone(), at.clone());
    let fitted = tokio::task::spawn_blocking(move || fit_rows(&contact_orders, end, &stamp)).await.map_err(blocking)?;
    let Some(fitted) = fitted else {
        let customers = summarize(&tx, end, 7.0);
        let repeaters = customers.iter().filter(|c| c.frequency > 0.0).count();
        return Err(Error::Validation(vec![FieldError::with(
            "orders",
            "not_enough_history",
            json!({ "customers": customers.len(), "repeaters": repeaters, "min_customers": MIN_CUSTOMERS, "min_repeaters": MIN_REPEATERS }),
        )]));
    };
    lap("contacts fitted");
    let (contact_orders, stamp) = (tx.clone(), at.clone());
    let rest = tokio::task::spawn_blocking(move || {
        // Companies by their orders, fitted on their own where there are enough of them.
        let companies = fit_rows(&companies, end, &stamp).map(|f| f.rows).unwrap_or_default();
        (companies, calibration(&contact_orders, end))
    });
    db.system().write_derived("contact", &fitted.rows).await?;
    lap("contacts written");
    let (company_rows, calibrated) = rest.await.map_err(blocking)?;
    lap("companies fitted and contacts calibrated");
    db.system().write_derived("company", &company_rows).await?;
    lap("companies written");
    let (customers, repeaters, p, spend, risk_bands, segments) =
        (fitted.customers, fitted.repeaters, fitted.p, fitted.spend, fitted.risk_bands, fitted.segments);
    let purchases_log_likelihood = fitted.log_likelihood;
    let fit = Fit {
        calibration_end: peyvand_records::value::format_date(today),
        customers,
        repeaters,
        bgnbd: [p.r, p.alpha, p.a, p.b],
        bgnbd_log_likelihood: purchases_log_likelihood,
        gamma_gamma: spend.map(|(s, _)| [s.p, s.q, s.gamma]),
        calibration: calibrated,
        risk_bands,
        segments,
    };
    let run = Run { id: new_id(), ran_at: now(), customers: customers as i64, fit };
    let json = serde_json::to_string(&run.fit).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut w = db.write().await?;
    sqlx::query("INSERT INTO value_runs (id, ran_at, customers, result_json) VALUES ($1, $2, $3, $4)")
        .bind(run.id.clone())
        .bind(run.ran_at.clone())
        .bind(run.customers)
        .bind(json)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(run)
}

/// The models fitted on all but the last [`HOLDOUT_WEEKS`], and their predicted repeat
/// purchases in those weeks against the actual, by repeat purchases before (0 … 7+).
fn calibration(tx: &[Transaction], end: i64) -> Vec<CalibrationRow> {
    let cut = end - HOLDOUT_WEEKS * 7;
    let before = summarize(tx, cut, 7.0);
    if before.iter().filter(|c| c.frequency > 0.0).count() < MIN_REPEATERS {
        return Vec::new();
    }
    let p = bgnbd::fit(&before).params;
    // Purchase days in the holdout, per customer who had bought before it.
    let mut later: HashMap<&str, std::collections::BTreeSet<i64>> = HashMap::new();
    for t in tx.iter().filter(|t| t.day > cut && t.day <= end) {
        later.entry(t.customer.as_str()).or_default().insert(t.day);
    }
    let mut groups: BTreeMap<usize, (usize, f64, f64)> = BTreeMap::new();
    for c in &before {
        let predicted = bgnbd::expected_purchases(&p, HOLDOUT_WEEKS as f64, c.frequency, c.recency, c.age);
        let actual = later.get(c.customer.as_str()).map_or(0, |d| d.len()) as f64;
        let g = groups.entry((c.frequency as usize).min(7)).or_default();
        g.0 += 1;
        g.1 += predicted;
        g.2 += actual;
    }
    groups
        .into_iter()
        .map(|(k, (n, predicted, actual))| CalibrationRow {
            repeats: if k == 7 { "7+".into() } else { k.to_string() },
            customers: n,
            predicted: predicted / n as f64,
            actual: actual / n as f64,
        })
        .collect()
}

/// The latest run, if any.
pub async fn latest(db: &Db) -> Result<Option<Run>> {
    let row =
        sqlx::query("SELECT id, ran_at, customers, result_json FROM value_runs ORDER BY ran_at DESC, id DESC LIMIT 1")
            .fetch_optional(db.pool())
            .await?;
    let Some(r) = row else { return Ok(None) };
    let json: String = r.try_get(3)?;
    Ok(Some(Run {
        id: r.try_get(0)?,
        ran_at: r.try_get(1)?,
        customers: r.try_get(2)?,
        fit: serde_json::from_str(&json).map_err(|e| Error::Corrupt(format!("a value run: {e}")))?,
    }))
}

/// The next nightly fit: half past one, the business's time (keyed by it, so every instance
/// schedules the same one).
pub(crate) async fn schedule_nightly_in(db: &Db, tx: &mut peyvand_store::WriteTx) -> Result<()> {
    let at = crate::tomorrow_at(db, 1, 30);
    db.schedule_job_in(tx, NIGHTLY_JOB, Some(&format!("{NIGHTLY_JOB}:{at}")), &at, &json!({})).await?;
    Ok(())
}

/// The nightly fit, award rules and lead scores, then the next night scheduled; too little history is not a
/// failure.
pub struct Nightly;

impl peyvand_store::runner::JobKind for Nightly {
    fn kind(&self) -> &'static str {
        NIGHTLY_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, _job: &'a peyvand_store::events::Job) -> peyvand_store::runner::Outcome<'a> {
        Box::pin(async move {
            let round = async {
                match score(db).await {
                    Ok(_) | Err(Error::Validation(_)) => {}
                    Err(e) => return Err(e),
                }
                // Awards for the periods that ended.
                super::award_rules::apply(db, db.today()).await?;
                // Lead scores learn from the same night's history.
                match super::lead_scores::train(db).await {
                    Ok(_) | Err(Error::Validation(_)) => {}
                    Err(e) => return Err(e),
                }
                let mut tx = db.write().await?;
                schedule_nightly_in(db, &mut tx).await?;
                tx.commit().await
            };
            round.await.map_err(|e| e.to_string())
        })
    }
}
