//! `peyvand analytics`: the analytics models on a CSV of transactions, without a database, so
//! an analyst can use them on any export.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use peyvand_analytics::summary::{CustomerSummary, Transaction, summarize};
use peyvand_analytics::{bgnbd, forecast, gamma_gamma, rfm};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum AnalyticsCommand {
    /// Fit BG/NBD and Gamma-Gamma and print the parameters as JSON; --output writes each
    /// customer's frequency, recency, T, expected purchases, P(alive), expected spend and CLV
    Clv(ClvArgs),
    /// Score customers by recency, frequency and monetary value and name their segments
    Rfm(RfmArgs),
    /// Forecast weekly or monthly revenue by exponential smoothing, against a seasonal-naive baseline
    Forecast(ForecastArgs),
}

#[derive(Args)]
pub struct ForecastArgs {
    /// CSV of transactions: columns named customer (or contact), date (or ordered_at; ISO or Jalali), amount (or total), as Peyvand's order export has them, else the first three columns in that order
    #[arg(long)]
    transactions: PathBuf,
    /// week or month
    #[arg(long, default_value = "month")]
    period: String,
    /// Periods to forecast
    #[arg(long, default_value_t = 6)]
    horizon: usize,
    /// Season length in periods (default: 52 for weeks, 12 for months)
    #[arg(long)]
    season: Option<usize>,
    /// Periods held out to measure accuracy (default: the horizon)
    #[arg(long)]
    holdout: Option<usize>,
    /// The last day the data cover (YYYY-MM-DD); default: the day of the last transaction. A last period that ends after it is incomplete and left out
    #[arg(long)]
    through: Option<String>,
}

#[derive(Args)]
pub struct ClvArgs {
    /// CSV of transactions: columns named customer (or contact), date (or ordered_at; ISO or Jalali), amount (or total), as Peyvand's order export has them, else the first three columns in that order
    #[arg(long)]
    transactions: PathBuf,
    /// The end of the calibration period (YYYY-MM-DD)
    #[arg(long)]
    calibration_end: String,
    /// Periods to predict
    #[arg(long, default_value_t = 52)]
    horizon: usize,
    /// week or day
    #[arg(long, default_value = "week")]
    period: String,
    /// Discount rate per period for CLV
    #[arg(long, default_value_t = 0.0)]
    discount_rate: f64,
    /// Write one row per customer to this CSV file
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct RfmArgs {
    /// CSV of transactions: columns named customer (or contact), date (or ordered_at; ISO or Jalali), amount (or total), as Peyvand's order export has them, else the first three columns in that order
    #[arg(long)]
    transactions: PathBuf,
    /// The day recency is measured to (YYYY-MM-DD); default: the last transaction
    #[arg(long)]
    as_of: Option<String>,
    /// Write one row per customer to this CSV file
    #[arg(long)]
    output: Option<PathBuf>,
}

fn day_number(text: &str) -> anyhow::Result<i64> {
    let date = peyvand_records::jalali::parse_form_date(text).with_context(|| format!("not a date: {text:?}"))?;
    Ok(i64::from(date.to_julian_day()))
}

/// Which columns hold the customer, the date and the amount: by header name where the header
/// names them (`customer`/`contact`, `date`/`ordered_at`, `amount`/`total`: a CSV of Peyvand's
/// own order export reads as it is; an order without a contact counts for its `company`), else
/// the first three columns in that order.
struct Columns {
    customer: usize,
    company: Option<usize>,
    date: usize,
    amount: usize,
    status: Option<usize>,
}

impl Columns {
    fn of(header: &csv::StringRecord) -> Columns {
        let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim().to_lowercase().as_str()));
        match (find(&["customer", "contact"]), find(&["date", "ordered_at"]), find(&["amount", "total"])) {
            (Some(customer), Some(date), Some(amount)) => {
                Columns { customer, company: find(&["company"]), date, amount, status: find(&["status"]) }
            }
            _ => Columns { customer: 0, company: None, date: 1, amount: 2, status: None },
        }
    }
}

/// Orders in these states bought nothing.
const NOT_SALES: [&str; 2] = ["cancelled", "returned"];

/// An amount as written in a CSV: Persian or Latin digits, grouped or not, with its currency
/// after it as an export writes money (`132458000 IRR`).
fn parse_amount(text: &str) -> Option<f64> {
    let plain = peyvand_records::normalize::to_latin_digits(text.trim()).replace([',', '٬'], "");
    let number = plain.trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace());
    number.trim().parse().ok()
}

/// A customer as a cell names them: a relation exported as `title [id]` by its id (two
/// customers may share a name), anything else as written.
fn customer_key(cell: &str) -> String {
    let (title, id) = peyvand_transfer::export::parse_relation_cell(cell);
    id.unwrap_or(title).to_string()
}

/// A date, or the date of an instant (`2026-03-20T10:15:00Z`, its day in UTC).
fn cell_day(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    day_number(text.split_once('T').map_or(text, |(date, _)| date))
}

/// Reads (customer, date, amount) rows, naming the row of any that cannot be read; orders
/// cancelled or returned, and rows without a customer, are left out.
fn read_transactions(path: &Path) -> anyhow::Result<Vec<Transaction>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let columns = Columns::of(reader.headers().with_context(|| format!("cannot read {}", path.display()))?);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = record.with_context(|| format!("row {row}: not CSV"))?;
        let cell = |at: usize| record.get(at).unwrap_or("").trim();
        if record.len() <= columns.customer.max(columns.date).max(columns.amount) {
            bail!("row {row}: expected customer, date, amount");
        }
        if columns.status.is_some_and(|at| NOT_SALES.contains(&cell(at))) {
            continue;
        }
        let customer = match (cell(columns.customer), columns.company) {
            ("", Some(company)) => cell(company),
            (customer, _) => customer,
        };
        if customer.is_empty() {
            continue;
        }
        let amount = parse_amount(cell(columns.amount))
            .with_context(|| format!("row {row}: the amount {:?} is not a number", cell(columns.amount)))?;
        out.push(Transaction {
            customer: customer_key(customer),
            day: cell_day(cell(columns.date)).with_context(|| format!("row {row}"))?,
            amount,
        });
    }
    if out.is_empty() {
        bail!("{} has no transactions", path.display());
    }
    Ok(out)
}

fn write_csv(path: &Path, header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(header)?;
    for r in rows {
        w.write_record(&r)?;
    }
    w.flush()?;
    Ok(())
}

pub fn run(command: AnalyticsCommand) -> anyhow::Result<()> {
    match command {
        AnalyticsCommand::Clv(args) => clv(args),
        AnalyticsCommand::Rfm(args) => rfm_command(args),
        AnalyticsCommand::Forecast(args) => forecast_command(args),
    }
}

/// Revenue per period, empty periods included, with each period's first day; and whether the
/// last period is complete: it is when `through` (the last day the data cover) is its last day
/// or later.
fn revenue_series(transactions: &[Transaction], monthly: bool, through: i64) -> (Vec<(String, f64)>, bool) {
    let date = |day: i64| time::Date::from_julian_day(day as i32).unwrap_or(time::Date::MIN);
    let key = |day: i64| -> i64 {
        let d = date(day);
        if monthly { i64::from(d.year()) * 12 + i64::from(u8::from(d.month())) - 1 } else { day.div_euclid(7) }
    };
    let first = transactions.iter().map(|t| key(t.day)).min().unwrap_or(0);
    let last = transactions.iter().map(|t| key(t.day)).max().unwrap_or(0);
    let mut totals = vec![0.0; (last - first + 1) as usize];
    for t in transactions {
        totals[(key(t.day) - first) as usize] += t.amount;
    }
    let complete = key(through + 1) > last;
    let series = totals
        .into_iter()
        .enumerate()
        .map(|(i, total)| {
            let k = first + i as i64;
            let label = if monthly {
                format!("{:04}-{:02}", k.div_euclid(12), k.rem_euclid(12) + 1)
            } else {
                peyvand_records::value::format_date(date(k * 7))
            };
            (label, total)
        })
        .collect();
    (series, complete)
}

fn forecast_command(args: ForecastArgs) -> anyhow::Result<()> {
    let monthly = match args.period.as_str() {
        "month" => true,
        "week" => false,
        other => bail!("--period is week or month, not {other}"),
    };
    let season = args.season.unwrap_or(if monthly { 12 } else { 52 });
    let transactions = read_transactions(&args.transactions)?;
    let last_day = transactions.iter().map(|t| t.day).max().unwrap_or(0);
    let through = match &args.through {
        Some(date) => day_number(date)?,
        None => last_day,
    };
    let (mut series, complete) = revenue_series(&transactions, monthly, through);
    // A period that has only begun is not a collapse: it is left out, and the output says so.
    let incomplete = if complete { None } else { series.pop().map(|(label, _)| label) };
    let y: Vec<f64> = series.iter().map(|s| s.1).collect();
    let model =
        forecast::fit_best(&y, season).with_context(|| format!("{} periods are too few to fit a model", y.len()))?;
    let points = model.forecast(args.horizon);
    let backtest = forecast::backtest(&y, season, args.holdout.unwrap_or(args.horizon).min(y.len().saturating_sub(3)));
    let output = serde_json::json!({
        "periods": y.len(),
        "first_period": series.first().map(|s| s.0.clone()),
        "last_period": series.last().map(|s| s.0.clone()),
        "incomplete_period_left_out": incomplete,
        "model": model,
        "forecast": points,
        "seasonal_naive": forecast::seasonal_naive(&y, season, args.horizon),
        "backtest": backtest.map(|(m, n)| serde_json::json!({ "model": m, "seasonal_naive": n })),
    });
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

fn clv(args: ClvArgs) -> anyhow::Result<()> {
    let period_days = match args.period.as_str() {
        "week" => 7.0,
        "day" => 1.0,
        other => bail!("--period is week or day, not {other}"),
    };
    let transactions = read_transactions(&args.transactions)?;
    let end = day_number(&args.calibration_end)?;
    let customers: Vec<CustomerSummary> = summarize(&transactions, end, period_days);
    if customers.is_empty() {
        bail!("no customer bought on or before {}", args.calibration_end);
    }
    let purchases = bgnbd::fit(&customers);
    let spend = gamma_gamma::fit(&customers);
    let summary = serde_json::json!({
        "customers": customers.len(),
        "period": args.period,
        "calibration_end": args.calibration_end,
        "bgnbd": purchases,
        "gamma_gamma": spend.map(|(p, ll)| serde_json::json!({ "params": p, "log_likelihood": ll })),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(path) = &args.output {
        let p = purchases.params;
        let (mut forecasts, mut upto) = (bgnbd::Forecasts::new(&p, args.horizon), Vec::new());
        let rows = customers.iter().map(|c| {
            let expected = bgnbd::expected_purchases(&p, args.horizon as f64, c.frequency, c.recency, c.age);
            let alive = bgnbd::probability_alive(&p, c.frequency, c.recency, c.age);
            let (value, lifetime) = match &spend {
                Some((s, _)) => (
                    gamma_gamma::expected_average_value(s, c.frequency, c.monetary),
                    gamma_gamma::clv_of(&mut forecasts, &mut upto, s, c, args.discount_rate),
                ),
                None => (0.0, 0.0),
            };
            vec![
                c.customer.clone(),
                c.frequency.to_string(),
                format!("{:.4}", c.recency),
                format!("{:.4}", c.age),
                format!("{expected:.6}"),
                format!("{alive:.6}"),
                format!("{value:.2}"),
                format!("{lifetime:.2}"),
            ]
        });
        write_csv(
            path,
            &["customer", "frequency", "recency", "T", "expected_purchases", "p_alive", "expected_spend", "clv"],
            rows,
        )?;
    }
    Ok(())
}

fn rfm_command(args: RfmArgs) -> anyhow::Result<()> {
    let transactions = read_transactions(&args.transactions)?;
    let as_of = match &args.as_of {
        Some(d) => day_number(d)?,
        None => transactions.iter().map(|t| t.day).max().unwrap_or(0),
    };
    let mut by_customer: std::collections::BTreeMap<&str, (i64, std::collections::BTreeSet<i64>, f64)> =
        std::collections::BTreeMap::new();
    for t in transactions.iter().filter(|t| t.day <= as_of) {
        let e = by_customer.entry(t.customer.as_str()).or_insert((i64::MIN, Default::default(), 0.0));
        e.0 = e.0.max(t.day);
        e.1.insert(t.day);
        e.2 += t.amount;
    }
    let measures: Vec<rfm::Measures> = by_customer
        .iter()
        .map(|(c, (last, days, total))| rfm::Measures {
            customer: c.to_string(),
            recency_days: (as_of - last) as f64,
            frequency: days.len() as f64,
            monetary: *total,
        })
        .collect();
    let scored = rfm::score(&measures, &rfm::default_rules());
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for s in &scored {
        *counts.entry(s.segment.as_str()).or_default() += 1;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({ "customers": scored.len(), "segments": counts }))?
    );
    if let Some(path) = &args.output {
        let rows = scored
            .iter()
            .map(|s| vec![s.customer.clone(), s.r.to_string(), s.f.to_string(), s.m.to_string(), s.segment.clone()]);
        write_csv(path, &["customer", "r", "f", "m", "segment"], rows)?;
    }
    Ok(())
}
