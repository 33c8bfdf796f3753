//! `peyvand-bench`: the benchmark harness (BENCHMARKS.md).
//!
//! It makes a data set with `peyvand generate`, starts the real `peyvand` server, drives it over
//! HTTP with concurrent clients from this process, runs import and export as a user would, and
//! measures the ceilings of the same machine in the same run (the server's trivial endpoint, and
//! the database with a minimal program), so every figure is also a ratio.

mod ceiling;
mod load;
mod proc;
mod report;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use proc::{Peyvand, Server, dir_bytes};
use report::{Dataset, Operation, Results};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scale {
    /// A small data set and short runs: checks that every operation works (CI, under 2 minutes)
    Smoke,
    /// The budgets' data set: 100,000 companies, 1,000,000 contacts, 10,000,000 activities
    Full,
}

/// Benchmarks Peyvand on a generated data set against the machine's own ceilings.
#[derive(Parser, Debug)]
#[command(name = "peyvand-bench", version)]
struct Args {
    #[arg(long, value_enum, default_value = "smoke")]
    scale: Scale,
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// The `peyvand` executable (default: the one beside this program)
    #[arg(long)]
    peyvand: Option<PathBuf>,
    /// A PostgreSQL server URL the harness may create databases on (default: PEYVAND_TEST_DATABASE_URL)
    #[arg(long)]
    postgres_url: Option<String>,
    /// Where data, files and results go (default: target/bench/BACKEND-SCALE)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use the data set a previous run left in --out, if it has the same size
    #[arg(long)]
    reuse: bool,
    #[arg(long)]
    companies: Option<usize>,
    #[arg(long)]
    contacts: Option<usize>,
    #[arg(long)]
    activities: Option<usize>,
    /// Orders generated (default two a contact from 100,000 contacts, else one for four): fewer
    /// for runs that measure only the contacts' lists
    #[arg(long)]
    orders: Option<usize>,
    /// Tickets of the support desk (issue 29; default 1,000,000 at full scale, 2,000 smoke)
    #[arg(long)]
    tickets: Option<usize>,
    /// Customers signed in to the portal at once, each a client of its own (default 100 at full
    /// scale, 8 smoke)
    #[arg(long)]
    customers: Option<usize>,
    /// Concurrent HTTP clients
    #[arg(long)]
    clients: Option<usize>,
    /// Seconds each operation is measured (after a warm-up of a fifth of it)
    #[arg(long)]
    seconds: Option<f64>,
    /// Rows of the storage ceiling's insert
    #[arg(long)]
    ceiling_rows: Option<usize>,
    /// Skip the CSV import and export (they take minutes at full scale)
    #[arg(long)]
    skip_transfer: bool,
    /// Tickets whose service-level deadlines fall in the same instant (issue 29; default 10,000
    /// at full scale, 200 smoke)
    #[arg(long)]
    deadline_tickets: Option<usize>,
    /// Letters printed in one batch (issue 30; default 10,000 at full scale, 200 smoke)
    #[arg(long)]
    letters: Option<usize>,
    /// Contact changes sent to the twenty workflows (issue 30; default 10,000 at full scale, 500 smoke)
    #[arg(long)]
    workflow_changes: Option<usize>,
    /// Changes a second sent to the workflows (default 500, the budget's; more measures how fast
    /// the events are handled when they come faster than that)
    #[arg(long, default_value_t = 500)]
    workflow_rate: usize,
    /// Leave the dashboard aggregates without rollups (they are computed from the records)
    #[arg(long)]
    no_rollups: bool,
    /// Leave the contacts without the compound index the filtered aggregate reads (it then reads
    /// the records); an earlier run's is removed
    #[arg(long)]
    no_compound_index: bool,
    /// Measure only these HTTP operations (comma-separated names, e.g. list_standard,create), for profiling
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// Clients of the overload run (twice the full run's 32, on two cores).
const OVERLOAD_CLIENTS: usize = 64;

/// Contacts whose record page is measured; each gets 50 activities.
const TIMELINE_CONTACTS: usize = 20;
const ADMIN: &str = "bench@peyvand.test";
/// Reps in teams of two (issue 25): the records are spread over them and the admin, so the first
/// rep reaches their own and one teammate's, two in eleven.
const REPS: usize = 10;

/// Sends a request again while the server answers 503 (overloaded, or its writers held by a
/// long write), after the `Retry-After` it gives, for up to five minutes.
async fn retry_unavailable(request: impl Fn() -> reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
    let started = Instant::now();
    loop {
        let r = request().send().await?;
        if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE || started.elapsed() > Duration::from_secs(300) {
            return Ok(r);
        }
        let after = r
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        eprintln!("503 from {}: asked again in {after} s", r.url().path());
        tokio::time::sleep(Duration::from_secs(after.clamp(1, 30))).await;
    }
}

fn rep(i: usize) -> String {
    format!("rep{i}@peyvand.test")
}
const PASSWORD: &str = "bench-password-1";

struct Plan {
    /// Customers signed in to the portal at once (issue 33: 100 at full scale).
    customers: usize,
    companies: usize,
    contacts: usize,
    activities: usize,
    tickets: usize,
    clients: usize,
    duration: Duration,
    ceiling_rows: usize,
}

impl Plan {
    fn of(args: &Args) -> Plan {
        let (companies, contacts, activities, clients, seconds, ceiling_rows) = match args.scale {
            Scale::Smoke => (200, 2_000, 10_000, 8, 1.5, 20_000),
            Scale::Full => (100_000, 1_000_000, 10_000_000, 32, 20.0, 1_000_000),
        };
        Plan {
            customers: args.customers.unwrap_or(if matches!(args.scale, Scale::Smoke) { 8 } else { 100 }),
            companies: args.companies.unwrap_or(companies),
            contacts: args.contacts.unwrap_or(contacts).max(TIMELINE_CONTACTS),
            activities: args.activities.unwrap_or(activities),
            tickets: args.tickets.unwrap_or(if contacts >= 1_000_000 { 1_000_000 } else { 2_000 }),
            clients: args.clients.unwrap_or(clients).max(1),
            duration: Duration::from_secs_f64(args.seconds.unwrap_or(seconds).max(0.1)),
            ceiling_rows: args.ceiling_rows.unwrap_or(ceiling_rows).max(1000),
        }
    }
}

/// Where a database of this run lives: a directory (SQLite) or a PostgreSQL database.
struct Place {
    backend: Backend,
    admin_url: Option<String>,
    out: PathBuf,
}

impl Place {
    /// A fresh, empty database called `name`.
    async fn fresh(&self, name: &str) -> anyhow::Result<Peyvand> {
        let data_dir = self.out.join(name);
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir)?;
        let database_url = match (self.backend, &self.admin_url) {
            (Backend::Sqlite, _) => None,
            (Backend::Postgres, Some(admin)) => {
                let db = self.pg_name(name);
                let pool = pg_admin(admin).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
                    .execute(&pool)
                    .await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&pool).await?;
                pool.close().await;
                Some(with_database(admin, &db))
            }
            (Backend::Postgres, None) => bail!("PostgreSQL needs --postgres-url or PEYVAND_TEST_DATABASE_URL"),
        };
        Ok(Peyvand { bin: PathBuf::new(), data_dir, database_url })
    }

    /// The database called `name` as a previous run left it.
    /// The PostgreSQL database of `name` in this run's place: named after the output folder too,
    /// so a smoke run does not drop the database a full run left for `--reuse`.
    fn pg_name(&self, name: &str) -> String {
        let place = self.out.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let text = format!("peyvand_bench_{place}_{name}").to_lowercase();
        let safe: String = text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        safe.chars().take(63).collect()
    }

    fn existing(&self, name: &str) -> Peyvand {
        let database_url = match (self.backend, &self.admin_url) {
            (Backend::Postgres, Some(admin)) => Some(with_database(admin, &self.pg_name(name))),
            _ => None,
        };
        Peyvand { bin: PathBuf::new(), data_dir: self.out.join(name), database_url }
    }

    /// Bytes the database takes on disk.
    async fn size(&self, p: &Peyvand) -> anyhow::Result<u64> {
        match &p.database_url {
            None => Ok(dir_bytes(&p.data_dir)),
            Some(url) => {
                let pool = pg_admin(url).await?;
                let size: i64 =
                    sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&pool).await?;
                pool.close().await;
                Ok(size as u64)
            }
        }
    }
}

async fn pg_admin(url: &str) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await?)
}

/// The same server URL with another database name.
fn with_database(url: &str, db: &str) -> String {
    let (server, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{server}/{db}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::of(&args);
    let bin = match &args.peyvand {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("peyvand"),
    };
    if !bin.exists() {
        bail!("no peyvand executable at {} (build it, or say where with --peyvand)", bin.display());
    }
    let scale = format!("{:?}", args.scale).to_lowercase();
    let backend_name = format!("{:?}", args.backend).to_lowercase();
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("target/bench/{backend_name}-{scale}")));
    std::fs::create_dir_all(&out)?;
    let admin_url = args.postgres_url.clone().or_else(|| std::env::var("PEYVAND_TEST_DATABASE_URL").ok());
    let place = Place { backend: args.backend, admin_url, out: out.clone() };
    let started = Instant::now();

    let (main_db, mut dataset) = dataset(&args, &plan, &place, &bin, &scale).await?;
    if args.only.is_empty() || args.only.iter().any(|o| o == "reminders") {
        schedule_reminders(&main_db, &place, &mut dataset).await?;
    }
    let wants = |names: &[&str]| args.only.is_empty() || args.only.iter().any(|o| names.contains(&o.as_str()));
    if wants(&["ticket_queue", "ticket_page", "compliance", "deadlines"]) {
        add_tickets(&main_db, &place, &plan, &mut dataset).await?;
    }
    eprintln!("data set ready: {} contacts, {} activities", dataset.contacts, dataset.activities);

    let server = Server::start(&main_db).await?;
    let ctx = Arc::new(Client::sign_in(&server.base).await?);
    let agent = Arc::new(Client::sign_in_as(&server.base, &rep(0)).await?);
    let busy = Arc::new(Client::sign_in_as(&server.base, &rep(1)).await?);
    let (idle_kib, _) = {
        tokio::time::sleep(Duration::from_secs(1)).await;
        server.memory_kib()
    };
    let mut results = Results::new(&backend_name, &scale, plan.clients, plan.duration, dataset.clone());
    results.startup_ms = server.startup.as_secs_f64() * 1000.0;
    results.idle_memory_mib = idle_kib as f64 / 1024.0;

    // The server declares its standard rollups at start-up (filling one holds the writer for
    // seconds at this size): nothing is written or measured before they are in place.
    let standard_rollups_seconds = ctx.standard_rollups_ready().await? + server.startup.as_secs_f64();
    eprintln!("standard rollups in place {standard_rollups_seconds:.1} s after the start");
    // The dashboards' rollups are in place before anything is measured: writes pay for them.
    if !args.no_rollups {
        results.rollups_declared_ms = ctx.declare_rollups().await?;
        eprintln!("rollups declared: {:?} ms", results.rollups_declared_ms);
    }
    // The filtered aggregate's compound index (issue 34: per stage, a city above a score).
    let compound = ctx.compound_index(!args.no_compound_index).await?;
    if let Some(ms) = compound {
        eprintln!("compound index declared: {ms:.0} ms");
        results.rollups_declared_ms.push((COMPOUND_INDEX_LABEL.to_string(), ms));
    }
    let sample = ctx.sample_contacts(500).await?;
    let portal_ops = ["portal_home", "portal_orders", "portal_order", "portal_points"];
    let customers = if wants(&portal_ops) {
        let (customers, sign_in) = ctx.portal_customers(plan.customers).await?;
        eprintln!("portal: {} customers signed in, p95 {:.0} ms", sign_in.customers, sign_in.p95_ms);
        results.portal_sign_in = Some(sign_in);
        customers
    } else {
        Vec::new()
    };
    // Issue 32: the dashboard the first time, before any of its aggregates is cached, once the
    // standard rollups the server declares at start-up are in place.
    let dashboard_first_ms = if wants(&["insights", "value_fit"]) {
        let t = Instant::now();
        ctx.get_html("/dashboard", &[]).await.map_err(anyhow::Error::msg)?;
        Some(t.elapsed().as_secs_f64() * 1000.0)
    } else {
        None
    };
    let operations = operations(&ctx, &agent, &busy, &dataset, sample, Arc::new(customers));
    for (name, what, make) in
        operations.into_iter().filter(|(n, _, _)| args.only.is_empty() || args.only.iter().any(|o| o == n))
    {
        eprint!("{name}… ");
        // The portal's pages with as many clients as customers signed in, each their own.
        let clients = if portal_ops.contains(&name) { plan.customers } else { plan.clients };
        let stats = load::run(clients, plan.duration / 5, plan.duration, make).await;
        let (rss, peak) = server.memory_kib();
        eprintln!(
            "{:.0}/s, p95 {} ms, errors {}, memory {} MiB (peak {} MiB)",
            stats.throughput,
            stats.p95_ms,
            stats.errors,
            rss / 1024,
            peak / 1024
        );
        // Said at once, so a run stopped before its report still tells what failed.
        if let Some(first) = &stats.first_error {
            eprintln!("  first error: {first}");
        }
        results.operations.push(Operation {
            name: name.into(),
            what: what.into(),
            stats,
            memory_after_mib: rss as f64 / 1024.0,
        });
    }
    results.aggregate_uncached_ms = ctx.aggregates_uncached().await?;
    eprintln!("aggregates, first time: {:?} ms", results.aggregate_uncached_ms);
    let repeated = ctx.clone();
    let stats = load::run(plan.clients, plan.duration / 5, plan.duration, move |_, _| {
        let ctx = repeated.clone();
        async move { ctx.get_api("/api/v1/aggregate/contact", &report::REPEATED_AGGREGATE).await }
    })
    .await;
    results.operations.push(Operation {
        name: "aggregate_repeated".into(),
        what: "the same dashboard aggregate again (cached)".into(),
        stats,
        memory_after_mib: server.memory_kib().0 as f64 / 1024.0,
    });
    // Issue 34: twice the clients, on the list with its count: overload must be answered, and
    // with the server's admission (64 at once, more waiting their turn) none is refused.
    let overloaded = ctx.clone();
    eprint!("overload ({OVERLOAD_CLIENTS} clients)… ");
    let stats = load::run(OVERLOAD_CLIENTS, plan.duration / 5, plan.duration, move |_, _| {
        let ctx = overloaded.clone();
        async move { ctx.get_api("/api/v1/records/contact", &[("total", "true"), ("limit", "50")]).await }
    })
    .await;
    eprintln!("{:.0}/s, p95 {} ms, errors {}", stats.throughput, stats.p95_ms, stats.errors);
    results.operations.push(Operation {
        name: "overload".into(),
        what: format!("the list with its count, {OVERLOAD_CLIENTS} clients: no request may fail"),
        stats,
        memory_after_mib: server.memory_kib().0 as f64 / 1024.0,
    });
    results.page_weight = Some(ctx.page_weight().await?);
    if args.only.is_empty() || args.only.iter().any(|o| o == "reminders") {
        let probe = Client::sign_in_as(&server.base, &rep(2)).await?;
        // At smoke scale sooner and closer together: CI waits for them.
        let (lead, apart) = if plan.contacts >= 1_000_000 { (60, 5) } else { (15, 2) };
        results.reminders = Some(probe.reminder_lateness(dataset.scheduled_reminders, lead, apart).await?);
        eprintln!("reminders: {:?}", results.reminders);
    }
    if wants(&["compliance"]) {
        results.compliance_ms = ctx.compliance_uncached().await?;
        eprintln!("compliance report, first time: {:?} ms", results.compliance_ms);
    }
    if wants(&["deadlines"]) {
        // At smoke scale, few and soon: CI waits for them.
        let (n, lead) = if plan.contacts >= 1_000_000 { (10_000, 150) } else { (200, 25) };
        let n = args.deadline_tickets.unwrap_or(n);
        // The import of many takes its time before the instant comes.
        let lead = lead.max(25 + (n / 100) as i64);
        results.deadlines = Some(ctx.deadlines(&main_db, &place, n, lead).await?);
        eprintln!("deadlines: {:?}", results.deadlines);
    }
    if wants(&["workflows"]) {
        // 500 changes a second for 20 s at full scale; fewer in CI's smoke run.
        let n = args.workflow_changes.unwrap_or(if plan.contacts >= 1_000_000 { 10_000 } else { 500 });
        results.workflows = Some(ctx.workflow_events(&main_db, n, args.workflow_rate.max(1)).await?);
        eprintln!("workflows: {:?}", results.workflows);
    }
    if wants(&["letters"]) {
        let n = args.letters.unwrap_or(if plan.contacts >= 1_000_000 { 10_000 } else { 200 });
        results.letters = Some(ctx.letter_batch(n).await?);
        eprintln!("letters: {:?}", results.letters);
    }
    if wants(&["loyalty"]) {
        results.loyalty = Some(ctx.loyalty().await?);
        eprintln!("loyalty: {:?}", results.loyalty);
    } else if wants(&["segments"]) {
        results.loyalty = Some(ctx.segment_and_campaign().await?);
        eprintln!("segments: {:?}", results.loyalty);
    }
    if let Some(first) = dashboard_first_ms {
        // The fit takes minutes at full scale: `--only insights` leaves it out, `value_fit` adds it.
        let mut insights = ctx.insights(&main_db, &plan, args.only.is_empty() || wants(&["value_fit"])).await?;
        insights.dashboard_first_ms = first;
        insights.standard_rollups_seconds = standard_rollups_seconds;
        eprintln!("insights: {insights:?}");
        results.insights = Some(insights);
    }
    if args.only.is_empty() || args.only.iter().any(|o| o == "duplicate_scan") {
        results.duplicate_scan = ctx.duplicate_scan().await?;
        eprintln!("duplicates scan: {:?}", results.duplicate_scan);
    }
    let total_contacts = ctx.total("contact").await?;
    let (_, peak_kib) = server.memory_kib();
    results.peak_memory_mib = peak_kib as f64 / 1024.0;
    server.stop().await?;
    results.database_mib = place.size(&main_db).await? as f64 / 1_048_576.0;

    if !args.skip_transfer {
        let csv = out.join("contacts.csv");
        let csv_text = csv.to_string_lossy().to_string();
        let ran = main_db.run(&["export", "contact", "--output", &csv_text], None).await?;
        results.export = Some(report::Transfer::new(total_contacts, ran.elapsed, ran.peak_kib));
        eprintln!("export: {} rows in {:.1} s", total_contacts, ran.elapsed.as_secs_f64());
        let mut target = place.fresh("import").await?;
        target.bin = bin.clone();
        target.run(&["migrate"], None).await?;
        let ran = target
            .run(
                // The owners (users of the measured database, since records have their makers as
                // owners) are not users of the fresh one.
                &[
                    "import",
                    "contact",
                    &csv_text,
                    "--map",
                    "id=",
                    "--map",
                    "company=",
                    "--map",
                    "owner=",
                    "--dedupe-by",
                    "emails",
                ],
                None,
            )
            .await?;
        // The report reads "N rows in S s (ENCODING): created C, …".
        let imported = ran
            .stdout
            .split("created ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        if imported != total_contacts {
            bail!("the import created {imported} of {total_contacts} rows: {}", ran.stdout.trim());
        }
        results.import = Some(report::Transfer::new(total_contacts, ran.elapsed, ran.peak_kib));
        eprintln!("import: {} rows in {:.1} s", total_contacts, ran.elapsed.as_secs_f64());
    }

    let scratch = place.fresh("ceiling").await?;
    let url = scratch
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", scratch.data_dir.join("ceiling.db").display()));
    results.storage_ceiling = Some(ceiling::measure(&url, plan.ceiling_rows, plan.clients, plan.duration).await?);
    results.total_seconds = started.elapsed().as_secs_f64();

    let json = serde_json::to_string_pretty(&results)?;
    std::fs::write(out.join("results.json"), &json)?;
    let markdown = report::markdown(&results);
    std::fs::write(out.join("results.md"), &markdown)?;
    println!("{markdown}");
    let errors: usize = results.operations.iter().map(|o| o.stats.errors).sum();
    if errors > 0 {
        for o in results.operations.iter().filter(|o| o.stats.errors > 0) {
            eprintln!("{}: {} errors, first: {}", o.name, o.stats.errors, o.stats.first_error.as_deref().unwrap_or(""));
        }
        bail!("{errors} requests failed");
    }
    Ok(())
}

/// Makes the data set, or finds the one a previous run made.
async fn dataset(
    args: &Args,
    plan: &Plan,
    place: &Place,
    bin: &Path,
    scale: &str,
) -> anyhow::Result<(Peyvand, Dataset)> {
    let marker = place.out.join("dataset.json");
    if args.reuse
        && let Ok(text) = std::fs::read_to_string(&marker)
        && let Ok(found) = serde_json::from_str::<Dataset>(&text)
        && (found.companies, found.contacts, found.activities) == (plan.companies, plan.contacts, plan.activities)
        && found.reps == REPS
        && found.buyer.is_some()
        && found.story.is_some()
    {
        let mut db = place.existing("data");
        db.bin = bin.to_path_buf();
        warm_file_cache(&db.data_dir)?;
        return Ok((db, found));
    }
    // A generated database whose later steps did not finish is taken up after the generator.
    let generated_marker = place.out.join("generated.json");
    let sizes = json!([plan.companies, plan.contacts, plan.activities, REPS]);
    let generated: Option<(f64, f64)> = std::fs::read_to_string(&generated_marker)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(|found| args.reuse && found["sizes"] == sizes)
        .map(|found| (found["seconds"].as_f64().unwrap_or(0.0), found["peak_mib"].as_f64().unwrap_or(0.0)));
    let (db, (generate_seconds, generate_peak_mib)) = match generated {
        Some(ran) => {
            let mut db = place.existing("data");
            db.bin = bin.to_path_buf();
            (db, ran)
        }
        None => {
            let db = generate(plan, place, bin, scale, args).await?;
            let ran = (db.1.elapsed.as_secs_f64(), db.1.peak_kib as f64 / 1024.0);
            let record = json!({"sizes": sizes, "seconds": ran.0, "peak_mib": ran.1});
            std::fs::write(&generated_marker, serde_json::to_string_pretty(&record)?)?;
            (db.0, ran)
        }
    };
    // Contacts with a full timeline: 50 activities each, over the API, once the server's
    // standard rollups are filled (filling one holds the writer for seconds at this size).
    let server = Server::start(&db).await?;
    let ctx = Client::sign_in(&server.base).await?;
    ctx.standard_rollups_ready().await?;
    let timeline: Vec<String> =
        ctx.sample_contacts(TIMELINE_CONTACTS).await?.into_iter().take(TIMELINE_CONTACTS).collect();
    for id in &timeline {
        for k in 0..50 {
            let at = format!("2026-{:02}-{:02}T10:00:00Z", 1 + k / 28, 1 + k % 28);
            ctx.post_api(
                "/api/v1/records/activity",
                json!({"fields": {"kind": "call", "subject": format!("پیگیری {k}"), "occurred_at": at, "contact": id}}),
            )
            .await
            .map_err(anyhow::Error::msg)?;
        }
    }
    // Issue 27: a customer who bought many times (1,000 orders at full scale), and an order per
    // client whose 20 lines the run writes again and again.
    let products: Vec<String> = ctx.json("/api/v1/records/product", &[("limit", "20")]).await?["records"]
        .as_array()
        .map(|r| r.iter().filter_map(|p| p["id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let buyer = ctx
        .post_api("/api/v1/records/contact", json!({"fields": {"first_name": "خریدار", "last_name": "پرتکرار"}}))
        .await
        .map_err(anyhow::Error::msg)?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let orders = if plan.contacts >= 1_000_000 { 1_000 } else { 100 };
    for k in 0..orders {
        let at = format!("20{:02}-{:02}-{:02}T10:00:00Z", 24 + k / 336 % 3, 1 + k / 28 % 12, 1 + k % 28);
        let product = &products[k % products.len().max(1)];
        let order = json!({"fields": {"contact": buyer, "product": product, "quantity": 1 + k % 3,
            "total": (100_000 * (1 + k % 7)).to_string(), "ordered_at": at, "status": "delivered"}});
        ctx.post_api("/api/v1/records/order", order).await.map_err(anyhow::Error::msg)?;
    }
    let mut documents = Vec::new();
    for k in 0..plan.clients {
        let order = json!({"fields": {"contact": buyer, "ordered_at": format!("2026-11-{:02}T09:00:00Z", 1 + k % 28)}});
        let made = ctx.post_api("/api/v1/records/order", order).await.map_err(anyhow::Error::msg)?;
        documents.push(made["id"].as_str().unwrap_or_default().to_string());
    }
    // Issue 28: a customer with a long story, a company of 100 contacts, a rep's 5,000 tasks.
    let made = async |object: &str, fields: Value| -> anyhow::Result<String> {
        let r = ctx.post_api(&format!("/api/v1/records/{object}"), json!({ "fields": fields })).await;
        Ok(r.map_err(anyhow::Error::msg)?["id"].as_str().unwrap_or_default().to_string())
    };
    let full = plan.contacts >= 1_000_000;
    let (story_activities, story_orders, colleagues, tasks) =
        if full { (300, 200, 100, 5_000) } else { (30, 20, 10, 200) };
    let story = made("contact", json!({"first_name": "مشتری", "last_name": "پرماجرا"})).await?;
    let kinds = ["call", "email", "meeting", "visit", "sms", "chat", "note"];
    for k in 0..story_activities {
        let at = format!("20{:02}-{:02}-{:02}T{:02}:00:00Z", 24 + k / 336 % 3, 1 + k / 28 % 12, 1 + k % 28, 6 + k % 10);
        made("activity", json!({"kind": kinds[k % kinds.len()], "subject": format!("تعامل {k}"), "occurred_at": at, "contact": story}))
            .await?;
    }
    for k in 0..story_orders {
        let at = format!("20{:02}-{:02}-{:02}T11:00:00Z", 24 + k / 336 % 3, 1 + k / 28 % 12, 1 + k % 28);
        let product = &products[k % products.len().max(1)];
        made("order", json!({"contact": story, "product": product, "quantity": 1, "total": "250000", "ordered_at": at, "status": "delivered"}))
            .await?;
    }
    let story_company = made("company", json!({"name": "گروه صنعتی نمونه"})).await?;
    for i in 0..colleagues {
        let person = made(
            "contact",
            json!({"first_name": format!("کارمند {i}"), "last_name": "نمونه", "company": story_company}),
        )
        .await?;
        for k in 0..3 {
            let at = format!("2026-{:02}-{:02}T09:00:00Z", 1 + (i + k) % 11, 1 + (i * 3 + k) % 28);
            made("activity", json!({"kind": "call", "subject": format!("پیگیری {i}-{k}"), "occurred_at": at, "contact": person, "company": story_company}))
                .await?;
        }
    }
    let busy = Client::sign_in_as(&server.base, &rep(1)).await?;
    let busy_rep = busy.json("/api/v1/me", &[]).await?;
    let busy_rep = busy_rep["id"].as_str().or(busy_rep["user"]["id"].as_str()).unwrap_or_default().to_string();
    let now = time::OffsetDateTime::now_utc();
    for k in 0..tasks {
        // Half overdue, half ahead, over two months.
        let due = now + time::Duration::hours((k % 1_440) - 720);
        let due = due.replace_nanosecond(0).unwrap_or(due).format(&time::format_description::well_known::Rfc3339)?;
        busy.post_api("/api/v1/records/task", json!({"fields": {"subject": format!("کار {k}"), "due_at": due}}))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    server.stop().await?;
    let dataset = Dataset {
        companies: plan.companies,
        contacts: plan.contacts,
        activities: plan.activities,
        generate_seconds,
        generate_peak_mib,
        timeline_contacts: timeline,
        reps: REPS,
        buyer: Some(buyer),
        documents,
        products,
        story: Some(story),
        story_company: Some(story_company),
        busy_rep: Some(busy_rep),
        scheduled_reminders: 0,
        tickets: 0,
        ticket_queue: None,
        busy_ticket: None,
    };
    std::fs::write(&marker, serde_json::to_string_pretty(&dataset)?)?;
    Ok((db, dataset))
}

/// The data set's database made anew: the admin, the reps and their teams, the `score` field,
/// and `peyvand generate`'s records.
async fn generate(
    plan: &Plan,
    place: &Place,
    bin: &Path,
    scale: &str,
    args: &Args,
) -> anyhow::Result<(Peyvand, proc::Ran)> {
    let mut db = place.fresh("data").await?;
    db.bin = bin.to_path_buf();
    db.run(
        &["user", "add", "--email", ADMIN, "--role", "admin", "--name", "Bench", "--password-stdin"],
        Some(PASSWORD),
    )
    .await?;
    for i in 0..REPS {
        let name = format!("Rep {i}");
        db.run(
            &["user", "add", "--email", &rep(i), "--role", "agent", "--name", &name, "--password-stdin"],
            Some(PASSWORD),
        )
        .await?;
    }
    // An indexed field of the admin's own, filled by the generator like the standard ones.
    let server = Server::start(&db).await?;
    let ctx = Client::sign_in(&server.base).await?;
    ctx.make_teams().await?;
    ctx.post_api(
        "/api/v1/objects/contact/fields",
        json!({"api_name": "score", "type": "integer", "indexed": true, "label_fa": "امتیاز", "label_en": "Score"}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    server.stop().await?;
    let (companies, contacts, activities) =
        (plan.companies.to_string(), plan.contacts.to_string(), plan.activities.to_string());
    // Issue 27: deals on the default pipeline's board (three for every ten contacts), and the
    // products the orders and lines are made of.
    let (products, deals) = ((plan.contacts / 500).max(20).to_string(), (plan.contacts * 3 / 10).to_string());
    // Issue 31: two orders a contact at full scale (2,000,000), whose points a program posts; a
    // few in the smoke run, which only proves the operations work.
    let orders =
        args.orders.unwrap_or(if plan.contacts >= 100_000 { plan.contacts * 2 } else { plan.contacts / 4 }).to_string();
    eprintln!("generating {} contacts and {} activities ({scale})…", plan.contacts, plan.activities);
    let ran = db
        .run(
            &[
                "generate",
                "--companies",
                &companies,
                "--contacts",
                &contacts,
                "--activities",
                &activities,
                "--products",
                &products,
                "--deals",
                &deals,
                "--orders",
                &orders,
                "--seed",
                "1",
            ],
            None,
        )
        .await?;
    Ok((db, ran))
}

/// Issue 29: the support desk's tickets — a queue (the first team), `plan.tickets` tickets
/// imported through the record path (their hook numbers them and sets their deadlines): over two
/// years, nineteen in twenty resolved or closed (one in five late), the rest open today with
/// their first response given; and a ticket with 200 messages. Once per data set.
async fn add_tickets(db: &Peyvand, place: &Place, plan: &Plan, dataset: &mut Dataset) -> anyhow::Result<()> {
    if dataset.tickets > 0 && dataset.busy_ticket.is_some() {
        return Ok(());
    }
    let server = Server::start(db).await?;
    let ctx = Client::sign_in(&server.base).await?;
    let teams = ctx.json("/api/v1/teams", &[]).await?;
    let queue = teams["teams"][0]["id"].as_str().unwrap_or_default().to_string();
    let put = ctx
        .api
        .put(format!("{}/api/v1/service/queues/{queue}", ctx.base))
        .json(&json!({"mode": "manual"}))
        .send()
        .await?;
    if !put.status().is_success() {
        bail!("the queue: {}", put.text().await?);
    }
    server.stop().await?;
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let csv = place.out.join("tickets.csv");
    let mut text =
        String::from("subject,kind,category,priority,status,queue,owner,opened_at,first_response_at,resolved_at\n");
    let kinds = ["complaint", "request", "question", "return"];
    let categories = ["product_quality", "delivery", "billing", "installation", "warranty", "other"];
    let priorities = ["low", "normal", "normal", "high", "urgent"];
    let rfc = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339);
    for k in 0..plan.tickets {
        let open = k % 20 == 0;
        let opened = if open {
            now - time::Duration::minutes((k % 600) as i64)
        } else {
            now - time::Duration::minutes(1_440 + (k as i64 * 53) % (730 * 1_440))
        };
        let late = k % 5 == 1;
        let answered = opened + time::Duration::minutes(if late { 900 } else { 20 + (k % 60) as i64 });
        let (status, resolved) = if open {
            ("open", String::new())
        } else {
            let r = opened + time::Duration::hours(if late { 100 } else { 2 + (k % 20) as i64 });
            (if k % 3 == 0 { "closed" } else { "resolved" }, rfc(r)?)
        };
        text.push_str(&format!(
            "درخواست {k},{},{},{},{status},{queue},{},{},{},{resolved}\n",
            kinds[k % kinds.len()],
            categories[k % categories.len()],
            priorities[k % priorities.len()],
            rep(k % REPS),
            rfc(opened)?,
            rfc(answered)?,
        ));
    }
    std::fs::write(&csv, text)?;
    let ran = db.run(&["import", "ticket", &csv.to_string_lossy()], None).await?;
    eprintln!("{} tickets imported in {:.1} s: {}", plan.tickets, ran.elapsed.as_secs_f64(), ran.stdout.trim());
    let server = Server::start(db).await?;
    let ctx = Client::sign_in(&server.base).await?;
    let busy = ctx
        .post_api("/api/v1/records/ticket", json!({"fields": {"subject": "گفتگوی طولانی", "queue": queue}}))
        .await
        .map_err(anyhow::Error::msg)?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for k in 0..200 {
        let body = format!("پیام {k}: بررسی شد و نتیجه تا فردا اعلام می‌شود. Checked; we will confirm by tomorrow.");
        ctx.post_api(&format!("/api/v1/tickets/{busy}/messages"), json!({"body": body, "public": k % 3 != 0}))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    server.stop().await?;
    dataset.tickets = plan.tickets;
    dataset.ticket_queue = Some(queue);
    dataset.busy_ticket = Some(busy);
    std::fs::write(place.out.join("dataset.json"), serde_json::to_string_pretty(&dataset)?)?;
    Ok(())
}

/// Issue 28: reminders waiting in the scheduler — tasks a day to two months ahead, each reminding
/// 15 minutes before, imported through the record path (the task's hook schedules each), owned
/// by a rep of their own; once per data set.
async fn schedule_reminders(db: &Peyvand, place: &Place, dataset: &mut Dataset) -> anyhow::Result<()> {
    if dataset.scheduled_reminders > 0 {
        return Ok(());
    }
    let scheduled = if dataset.contacts >= 1_000_000 { 100_000 } else { 500 };
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let csv = place.out.join("scheduled-tasks.csv");
    let mut text = String::from("subject,due_at,reminders,owner\n");
    for k in 0..scheduled {
        let due = now + time::Duration::minutes(1_440 + (k as i64 * 37) % 86_400);
        let due = due.format(&time::format_description::well_known::Rfc3339)?;
        text.push_str(&format!("پیگیری {k},{due},15m,{}\n", rep(3)));
    }
    std::fs::write(&csv, text)?;
    let ran = db.run(&["import", "task", &csv.to_string_lossy()], None).await?;
    eprintln!("{scheduled} tasks with reminders imported in {:.1} s: {}", ran.elapsed.as_secs_f64(), ran.stdout.trim());
    dataset.scheduled_reminders = scheduled;
    std::fs::write(place.out.join("dataset.json"), serde_json::to_string_pretty(&dataset)?)?;
    Ok(())
}

/// Reads a reused SQLite database once, so it is in the system's file cache as it is right after
/// it was generated: otherwise a run after anything else that used the memory (the PostgreSQL
/// run) measures the disk instead (list_custom fell from 1,573/s to 257/s). PostgreSQL keeps its
/// own files; a reused PostgreSQL data set is measured as the server finds it.
fn warm_file_cache(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("peyvand.db");
    let Ok(mut file) = std::fs::File::open(&path) else { return Ok(()) };
    let started = std::time::Instant::now();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    eprintln!(
        "read {} MiB of {} into the file cache in {:.1} s",
        total >> 20,
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

impl Server {
    async fn start(p: &Peyvand) -> anyhow::Result<Server> {
        p.serve().await
    }
}

/// A customer signed in to the portal, with one of their orders.
struct PortalCustomer {
    http: reqwest::Client,
    order: String,
}

/// HTTP clients signed in as the bench admin: one with an API token, one with a browser session.
struct Client {
    base: String,
    api: reqwest::Client,
    browser: reqwest::Client,
}

fn check(status: reqwest::StatusCode, body: &[u8], what: &str) -> Result<(), String> {
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{what}: {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
    }
}

impl Client {
    async fn sign_in(base: &str) -> anyhow::Result<Client> {
        Client::sign_in_as(base, ADMIN).await
    }

    async fn sign_in_as(base: &str, email: &str) -> anyhow::Result<Client> {
        let plain = reqwest::Client::new();
        // A new server on a large data set fills its standard rollups in one write each, and a
        // sign-in meanwhile may be answered 503: it is asked again when `Retry-After` says.
        let r = retry_unavailable(|| {
            plain
                .post(format!("{base}/api/v1/auth/token"))
                .json(&json!({"email": email, "password": PASSWORD, "name": "bench"}))
        })
        .await?;
        let status = r.status();
        let body: Value = r.json().await.context("token answer")?;
        let token = body["token"].as_str().with_context(|| format!("no token ({status}): {body}"))?.to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
        let api = reqwest::Client::builder().default_headers(headers).pool_max_idle_per_host(256).build()?;
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .build()?;
        let r = retry_unavailable(|| {
            browser.post(format!("{base}/login")).header("origin", base).form(&[
                ("email", email),
                ("password", PASSWORD),
                ("next", "/"),
            ])
        })
        .await?;
        if r.status() != reqwest::StatusCode::SEE_OTHER {
            bail!("signing in to the pages answered {}", r.status());
        }
        Ok(Client { base: base.to_string(), api, browser })
    }

    /// Issue 33: up to `n` customers with orders invited to the portal and signed in with the code
    /// sent to them (read from the outbox, as they would from their mail), and how long asking for
    /// the code and giving it back took each.
    async fn portal_customers(&self, n: usize) -> anyhow::Result<(Vec<PortalCustomer>, report::PortalSignIn)> {
        let orders = self.json("/api/v1/records/order", &[("limit", "500"), ("sort", "-ordered_at")]).await?;
        let mut chosen: Vec<(String, String)> = Vec::new();
        for o in orders["records"].as_array().into_iter().flatten() {
            let (Some(contact), Some(id)) = (o["fields"]["contact"].as_str(), o["id"].as_str()) else { continue };
            if !chosen.iter().any(|(c, _)| c == contact) {
                chosen.push((contact.to_string(), id.to_string()));
            }
        }
        let (mut customers, mut timings) = (Vec::new(), Vec::new());
        for (contact, order) in chosen {
            if customers.len() == n {
                break;
            }
            let r = self
                .api
                .post(format!("{}/api/v1/contacts/{contact}/portal", self.base))
                .json(&json!({"send": false}))
                .send()
                .await?;
            if !r.status().is_success() {
                continue; // no address to sign in with
            }
            let account: Value = r.json().await?;
            let Some(address) = account["email"].as_str().or(account["phone"].as_str()).map(str::to_string) else {
                continue;
            };
            let http = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(4)
                .build()?;
            let started = Instant::now();
            let r = http
                .post(format!("{}/portal/sign-in", self.base))
                .header("origin", &self.base)
                .form(&[("address", address.as_str())])
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("asking for a portal code answered {}", r.status());
            }
            let asked = started.elapsed();
            let outbox = self.json("/api/v1/messages", &[("limit", "20")]).await?;
            let code = outbox["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| {
                    m["recipient"] == address.as_str()
                        && m["id"].as_str().is_some_and(|i| i.starts_with("portal-code:"))
                })
                .and_then(|m| m["body"].as_str())
                .and_then(|b| b.find(|c: char| c.is_ascii_digit()).map(|at| b[at..at + 6].to_string()))
                .context("the portal's code in the outbox")?;
            let started = Instant::now();
            let r = http
                .post(format!("{}/portal/code", self.base))
                .header("origin", &self.base)
                .form(&[("address", address.as_str()), ("code", code.as_str())])
                .send()
                .await?;
            if r.status() != reqwest::StatusCode::SEE_OTHER {
                bail!("the portal's code answered {}", r.status());
            }
            timings.push((asked + started.elapsed()).as_secs_f64() * 1000.0);
            customers.push(PortalCustomer { http, order });
        }
        if customers.is_empty() {
            bail!("no customer with an order could sign in to the portal");
        }
        timings.sort_by(f64::total_cmp);
        let at = |q: f64| timings.get(((timings.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        let sign_in = report::PortalSignIn { customers: customers.len(), p50_ms: at(0.5), p95_ms: at(0.95) };
        Ok((customers, sign_in))
    }

    /// The reps' teams, two to a team.
    async fn make_teams(&self) -> anyhow::Result<()> {
        let r = self.api.get(format!("{}/api/v1/users", self.base)).send().await?;
        let users: Value = r.json().await?;
        let id_of = |email: &str| {
            users["users"].as_array().into_iter().flatten().find(|u| u["email"] == email).map(|u| u["id"].clone())
        };
        for t in 0..REPS / 2 {
            let members: Vec<Value> = [rep(2 * t), rep(2 * t + 1)].iter().filter_map(|e| id_of(e)).collect();
            let team = json!({"name": format!("Team {t}"), "members": members});
            self.post_api("/api/v1/teams", team).await.map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    /// Issue 28: ten tasks of this user's, each reminding
    /// at its time; how late each reminder reached the bell (its notification's making against
    /// the task's time), waiting three minutes at most. The first is due `lead` seconds from
    /// now, the others `apart` seconds after each other.
    async fn reminder_lateness(
        &self,
        scheduled: usize,
        lead: i64,
        apart: i64,
    ) -> anyhow::Result<report::ReminderLateness> {
        use time::format_description::well_known::Rfc3339;
        let probes = 10;
        let start = time::OffsetDateTime::now_utc().replace_nanosecond(0)? + time::Duration::seconds(lead);
        for k in 0..probes {
            let due = (start + time::Duration::seconds(apart * k as i64)).format(&Rfc3339)?;
            let task = json!({"fields": {"subject": format!("یادآوری {k}"), "due_at": due, "reminders": ["at_time"]}});
            self.post_api("/api/v1/records/task", task).await.map_err(anyhow::Error::msg)?;
        }
        let started = Instant::now();
        let mut late = Vec::new();
        while started.elapsed() < Duration::from_secs(180) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let told = self.json("/api/v1/notifications", &[("limit", "50")]).await?;
            late = told["notifications"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["kind"] == "reminder")
                .filter_map(|n| {
                    let made = time::OffsetDateTime::parse(n["created_at"].as_str()?, &Rfc3339).ok()?;
                    let due = time::OffsetDateTime::parse(n["about_at"].as_str()?, &Rfc3339).ok()?;
                    Some((made - due).as_seconds_f64() * 1000.0)
                })
                .collect::<Vec<f64>>();
            if late.len() >= probes {
                break;
            }
        }
        late.sort_by(f64::total_cmp);
        Ok(report::ReminderLateness {
            scheduled,
            probes,
            fired: late.len(),
            median_ms: late.get(late.len() / 2).copied().unwrap_or(0.0),
            max_ms: late.last().copied().unwrap_or(0.0),
        })
    }

    /// Issue 29: the compliance report over every ticket, each grouping asked once (the first
    /// time: no cache holds it).
    async fn compliance_uncached(&self) -> anyhow::Result<Vec<(String, f64)>> {
        let mut out = Vec::new();
        for by in ["month", "queue", "agent", "category"] {
            let started = Instant::now();
            let r = self
                .json("/api/v1/service/compliance", &[("by", by), ("from", "2024-01-01"), ("to", "2027-01-01")])
                .await?;
            if r["rows"].as_array().is_none_or(Vec::is_empty) {
                bail!("the compliance report by {by} is empty: {r}");
            }
            out.push((by.to_string(), started.elapsed().as_secs_f64() * 1000.0));
        }
        Ok(out)
    }

    /// Issue 29: `n` tickets whose first-response deadlines fall in the same instant (a 24/7
    /// service level of their own, an hour to answer), imported while the server runs; how long
    /// after that instant the last one was marked late and escalated (five minutes at most).
    async fn deadlines(&self, db: &Peyvand, place: &Place, n: usize, lead: i64) -> anyhow::Result<report::Deadlines> {
        use time::format_description::well_known::Rfc3339;
        let shifts: Vec<Value> = ["saturday", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday"]
            .iter()
            .map(|d| json!({"day": d, "from": "00:00", "to": "24:00"}))
            .collect();
        let cal = self
            .post_api("/api/v1/service/calendars", json!({"name": "Bench 24/7", "hours": {"shifts": shifts}}))
            .await
            .map_err(anyhow::Error::msg)?;
        let targets: Vec<Value> = ["low", "normal", "high", "urgent"]
            .iter()
            .map(|p| json!({"priority": p, "first_response_minutes": 60, "resolution_minutes": 6000}))
            .collect();
        let policy = json!({"name": "Bench deadlines", "position": -10, "categories": ["bench_deadline"], "calendar": cal["id"],
            "targets": targets, "warn_minutes": 0, "escalation": {"notify": true, "raise_priority": true}});
        self.post_api("/api/v1/service/policies", policy).await.map_err(anyhow::Error::msg)?;
        let now = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
        let due = now + time::Duration::seconds(lead);
        let opened = (due - time::Duration::hours(1)).format(&Rfc3339)?;
        let csv = place.out.join("deadline-tickets.csv");
        let mut text = String::from("subject,category,priority,opened_at\n");
        for k in 0..n {
            text.push_str(&format!("مهلت {k},bench_deadline,normal,{opened}\n"));
        }
        std::fs::write(&csv, text)?;
        let late = json!({"and": [{"field": "category", "op": "eq", "value": "bench_deadline"}, {"field": "first_response_breached", "op": "eq", "value": true}]}).to_string();
        // Those an earlier run on the same data set left breached are not this run's.
        let before = self
            .json("/api/v1/records/ticket", &[("filter", &late), ("total", "exact"), ("limit", "1")])
            .await?["total"]
            .as_u64()
            .unwrap_or(0) as usize;
        let ran = db.run(&["import", "ticket", &csv.to_string_lossy()], None).await?;
        eprintln!("{n} tickets due at {due} imported in {:.1} s", ran.elapsed.as_secs_f64());
        let mut done_at = None;
        let mut marked = 0;
        while time::OffsetDateTime::now_utc() < due + time::Duration::minutes(5) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let r =
                self.json("/api/v1/records/ticket", &[("filter", &late), ("total", "exact"), ("limit", "1")]).await?;
            marked = (r["total"].as_u64().unwrap_or(0) as usize).saturating_sub(before);
            if marked >= n {
                done_at = Some(time::OffsetDateTime::now_utc());
                break;
            }
        }
        Ok(report::Deadlines {
            tickets: n,
            escalated: marked,
            seconds_after_due: done_at.map(|d| (d - due).as_seconds_f64()).unwrap_or(f64::INFINITY),
        })
    }

    /// Issue 30: twenty enabled workflows on contacts (two watch the field the changes touch,
    /// eighteen watch others), `n` contact changes sent at `rate` a second; the workflow
    /// consumer's pace (events it handled a second, from the first change to the last run
    /// started) and each run's lag behind its change (the change's time is in its event's id,
    /// a UUID v7). Read from the database after, as the server wrote them.
    async fn workflow_events(&self, db: &Peyvand, n: usize, rate: usize) -> anyhow::Result<report::WorkflowEvents> {
        let others = ["first_name", "last_name", "birth_date", "national_id", "company", "customer_group"];
        for i in 0..18 {
            let wf = json!({"name": format!("Bench other {i}"), "object": "contact", "enabled": true, "definition": {
                "trigger": {"kind": "changed", "field": others[i % others.len()]}, "steps": [{"kind": "add_tag", "tag": "bench"}]}});
            self.post_api("/api/v1/workflows", wf).await.map_err(anyhow::Error::msg)?;
        }
        let watch = json!({"name": "Bench watch", "object": "contact", "enabled": true, "definition": {
            "trigger": {"kind": "changed", "field": "job_title"},
            "condition": {"field": "job_title", "op": "starts_with", "value": "bench"},
            "steps": [{"kind": "wait", "minutes": 600}]}});
        let watch = self.post_api("/api/v1/workflows", watch).await.map_err(anyhow::Error::msg)?;
        let wait = json!({"name": "Bench wait", "object": "contact", "enabled": true, "definition": {
            "trigger": {"kind": "changed", "field": "job_title"}, "steps": [{"kind": "wait", "minutes": 600}]}});
        self.post_api("/api/v1/workflows", wait).await.map_err(anyhow::Error::msg)?;
        let watch_id = watch["id"].as_str().context("a workflow id")?.to_string();
        let contacts = self.sample_contacts(500).await?;
        let pool = db.reader().await?;
        // What earlier phases wrote (the overload's records) is handled first: the changes start
        // on a stream the workflows consumer has caught up with.
        let caught_up = Instant::now();
        while caught_up.elapsed() < Duration::from_secs(600) {
            use sqlx::Row;
            // The stream's end as the server reads it (MAX would count the index on PostgreSQL
            // without statistics: see `peyvand_store::events`).
            let end: Option<i64> =
                sqlx::query("SELECT seq FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&pool)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            let at: Option<i64> = sqlx::query("SELECT position FROM event_consumers WHERE name = 'workflows'")
                .fetch_optional(&pool)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            if at.is_some_and(|p| p >= end.unwrap_or(0)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let started = Instant::now();
        let mut sent = Vec::new();
        for k in 0..n {
            let due = Duration::from_secs_f64(k as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            let (api, base, id) = (self.api.clone(), self.base.clone(), contacts[k % contacts.len()].clone());
            sent.push(tokio::spawn(async move {
                let body = json!({"fields": {"job_title": format!("bench {k}")}});
                // A server that is overloaded says so (503, Retry-After): sent again, as a client
                // would (a busy machine cannot take 500 a second for long).
                let mut tries = 0;
                loop {
                    let r = api.patch(format!("{base}/api/v1/records/contact/{id}")).json(&body).send().await?;
                    tries += 1;
                    if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE || tries == 30 {
                        return Ok::<_, reqwest::Error>(r.status());
                    }
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
            }));
        }
        for s in sent {
            let status = s.await??;
            if !status.is_success() {
                bail!("a change failed: {status}");
            }
        }
        let sent_for = started.elapsed().as_secs_f64();
        // Every change's run started (ten minutes at most).
        let mut rows = Vec::new();
        let waited = Instant::now();
        while waited.elapsed() < Duration::from_secs(600) {
            rows = sqlx::query("SELECT trigger_key, started_at FROM workflow_runs WHERE workflow_id = $1")
                .bind(watch_id.clone())
                .fetch_all(&pool)
                .await?;
            if rows.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        use sqlx::Row;
        let mut lags = Vec::new();
        let (mut first, mut last) = (f64::MAX, 0.0f64);
        for r in &rows {
            let key: String = r.try_get(0)?;
            let at: String = r.try_get(1)?;
            let Ok(event) = uuid::Uuid::parse_str(&key) else { continue };
            let Some((secs, nanos)) = event.get_timestamp().map(|t| t.to_unix()) else { continue };
            let changed = secs as f64 + f64::from(nanos) / 1e9;
            let started_at = time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)?;
            let run = started_at.unix_timestamp_nanos() as f64 / 1e9;
            lags.push((run - changed).max(0.0) * 1000.0);
            first = first.min(changed);
            last = last.max(run);
        }
        pool.close().await;
        lags.sort_by(f64::total_cmp);
        let p = |q: f64| {
            lags.get(((lags.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::INFINITY)
        };
        // Each change is one event every workflow looks at; two runs start from each.
        let span = (last - first).max(1e-3);
        Ok(report::WorkflowEvents {
            workflows: 20,
            changes: n,
            runs: rows.len(),
            send_rate: n as f64 / sent_for,
            events_per_second: rows.len() as f64 / span,
            lag_p50_ms: p(0.5),
            lag_p95_ms: p(0.95),
        })
    }

    /// Issue 28: asks the server for a scan of every contact for duplicates and waits (ten
    /// minutes at most) for the scan's own report.
    async fn duplicate_scan(&self) -> anyhow::Result<Option<report::DuplicateScan>> {
        let before = self.json("/api/v1/duplicates", &[("object", "contact"), ("limit", "1")]).await?;
        let before = before["last_scan"]["scanned_at"].clone();
        self.post_api("/api/v1/duplicates/scan", json!({"object": "contact"})).await.map_err(anyhow::Error::msg)?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = self.json("/api/v1/duplicates", &[("object", "contact"), ("limit", "1")]).await?;
            let scan = &now["last_scan"];
            if !scan.is_null() && scan["scanned_at"] != before {
                let n = |k: &str| scan[k].as_i64().unwrap_or(0);
                return Ok(Some(report::DuplicateScan {
                    records: n("records"),
                    pairs: n("pairs"),
                    skipped_groups: n("skipped_groups"),
                    milliseconds: n("milliseconds"),
                }));
            }
        }
        Ok(None)
    }

    /// What the contacts list page of 50 weighs on the wire (issue 26), asking for brotli.
    async fn page_weight(&self) -> anyhow::Result<report::PageWeight> {
        let get = async |path: &str| -> anyhow::Result<(u64, String)> {
            let r = self
                .browser
                .get(format!("{}{path}", self.base))
                .header(reqwest::header::ACCEPT_ENCODING, "br, gzip")
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("{path}: {}", r.status());
            }
            let bytes = r.bytes().await?;
            Ok((bytes.len() as u64, String::from_utf8_lossy(&bytes).into_owned()))
        };
        let (html, _) = get("/records/contact").await?;
        // The page as a browser reads it (uncompressed) names its assets.
        let text = self.browser.get(format!("{}/records/contact", self.base)).send().await?.text().await?;
        let mut names: Vec<String> = text
            .split("/assets/")
            .skip(1)
            .filter_map(|rest| {
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
                (!name.is_empty()).then_some(name)
            })
            .collect();
        names.sort();
        names.dedup();
        let mut weight = report::PageWeight { html, ..Default::default() };
        for name in names {
            let (bytes, _) = get(&format!("/assets/{name}")).await?;
            if name.ends_with(".woff2") {
                weight.font += bytes;
            } else {
                weight.assets += bytes;
            }
            weight.each.push((name, bytes));
        }
        Ok(weight)
    }

    async fn get_html(&self, path: &str, query: &[(&str, &str)]) -> Result<(), String> {
        let r =
            self.browser.get(format!("{}{path}", self.base)).query(query).send().await.map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        check(status, &body, path)
    }

    async fn get_api(&self, path: &str, query: &[(&str, &str)]) -> Result<(), String> {
        let r = self.api.get(format!("{}{path}", self.base)).query(query).send().await.map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        check(status, &body, path)
    }

    async fn post_api(&self, path: &str, body: Value) -> Result<Value, String> {
        self.send_api(reqwest::Method::POST, path, body).await
    }

    async fn send_api(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, String> {
        let r = self
            .api
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let bytes = r.bytes().await.map_err(|e| e.to_string())?;
        check(status, &bytes, path)?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    async fn json(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let r = self.api.get(format!("{}{path}", self.base)).query(query).send().await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {body}");
        }
        Ok(body)
    }

    /// Issue 30: a letter template printed for `n` contacts chosen by id, as a user prints a
    /// selection (`POST /letters`): the time until the whole printable page has arrived, and the
    /// letters it holds.
    async fn letter_batch(&self, n: usize) -> anyhow::Result<report::LetterBatch> {
        let template = json!({"name": "Bench letter", "channel": "letter", "object": "contact", "language": "fa",
            "subject": "نامهٔ {{ record.title }}",
            "body": "{{ record.title }} گرامی،\n\nاز همراهی شما در سال گذشته سپاسگزاریم. شهر شما: {{ record.city }}.\n\n{{ today }}"});
        let template = self.post_api("/api/v1/templates", template).await.map_err(anyhow::Error::msg)?;
        let template = template["id"].as_str().context("a template id")?.to_string();
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        while ids.len() < n {
            let mut query = vec![("limit", "500".to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = self.json("/api/v1/records/contact", &q).await?;
            ids.extend(
                page["records"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str().map(str::to_string)),
            );
            cursor = page["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        ids.truncate(n);
        let page = self.browser.get(format!("{}/records/contact", self.base)).send().await?.text().await?;
        let marker = "name=\"csrf\" value=\"";
        let at = page.find(marker).context("a CSRF field on the list")? + marker.len();
        let csrf: String = page[at..].chars().take_while(|c| *c != '"').collect();
        let started = Instant::now();
        let r = self
            .browser
            .post(format!("{}/letters", self.base))
            .header("origin", &self.base)
            .form(&[("csrf", csrf), ("template", template), ("ids", ids.join(","))])
            .send()
            .await?;
        let status = r.status();
        let body = r.text().await?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.is_success() {
            bail!("printing letters answered {status}");
        }
        Ok(report::LetterBatch { letters: body.matches("<article class=\"print-doc letter\"").count(), seconds })
    }

    /// Issue 32: a report over every order line by Jalali month and product category, the first
    /// rep's yearly quota and commission statement, and the customer-value fit with the contacts
    /// list measured while it runs.
    async fn insights(self: &Arc<Self>, db: &Peyvand, plan: &Plan, fit: bool) -> anyhow::Result<report::Insights> {
        let mut out = report::Insights::default();
        // Statements read the kept lines once the server has filled them (a job at start-up).
        let pool = db.reader().await?;
        let t = Instant::now();
        loop {
            // No row yet: the fill has not begun.
            let done: Option<i64> =
                sqlx::query_scalar("SELECT done FROM credit_lines_fill WHERE id = 1").fetch_optional(&pool).await?;
            if done == Some(1) {
                break;
            }
            if t.elapsed() > Duration::from_secs(1800) {
                bail!("the credited lines were not filled in 30 minutes");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        out.credit_lines_wait_seconds = t.elapsed().as_secs_f64();
        pool.close().await;
        let report = json!({"name": "Lines by month and category", "object": "order_line",
            "group": "ordered_at:month,product.category", "measures": "sum:total", "calendar": "jalali"});
        let report = self.post_api("/api/v1/reports", report).await.map_err(anyhow::Error::msg)?;
        let report = report["id"].as_str().context("a report id")?.to_string();
        let t = Instant::now();
        let ran = self.json(&format!("/api/v1/reports/{report}/run"), &[]).await?;
        out.report_first_ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        self.json(&format!("/api/v1/reports/{report}/run"), &[]).await?;
        out.report_again_ms = t.elapsed().as_secs_f64() * 1000.0;
        let rows = ran["aggregate"]["rows"].as_array().context("the report's rows")?;
        out.report_groups = rows.len() as u64;
        out.report_lines = rows.iter().filter_map(|g| g["count"].as_u64()).sum();
        // The first rep's last year: a quota, and a plan of a percent of paid orders (more on one
        // category, an accelerator above the quota) whose longest period, a quarter, is read.
        let me = self.json("/api/v1/users", &[]).await?;
        let id_of = |i: usize| {
            me["users"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|u| u["email"] == rep(i).as_str())
                .and_then(|u| u["id"].as_str())
                .map(str::to_string)
                .context("a rep")
        };
        // The second rep's statements are never approved: their last quarter's tiers count the
        // year from the orders.
        let (rep, second) = (id_of(0)?, id_of(1)?);
        let year = (time::OffsetDateTime::now_utc().year() - 1).to_string();
        // A run on a data set used before finds its quota and plan there.
        let quotas = self.json("/api/v1/quotas", &[]).await?;
        let mut quota_ids = Vec::new();
        for who in [&rep, &second] {
            let kept = quotas["quotas"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|q| q["quota"]["user_id"] == who.as_str() && q["quota"]["key"] == year.as_str())
                .and_then(|q| q["quota"]["id"].as_str())
                .map(str::to_string);
            quota_ids.push(match kept {
                Some(id) => id,
                None => {
                    let quota = json!({"user_id": who, "period": "year", "calendar": "gregorian", "key": year,
                        "measure": "paid_amount", "target": "100000000000"});
                    let quota = self.post_api("/api/v1/quotas", quota).await.map_err(anyhow::Error::msg)?;
                    quota["id"].as_str().context("a quota id")?.to_string()
                }
            });
        }
        let quota = quota_ids[0].clone();
        let plan_body = json!({"name": "Bench plan", "basis": "paid_orders", "rate": "2", "period": "quarter",
            "calendar": "gregorian", "members": [rep, second], "valid_from": format!("{year}-01-01"),
            "category_rates": {"hardware": "3"},
            "tiers": [{"from": "100", "multiplier": "1.5"}]});
        let plans = self.json("/api/v1/commissions/plans", &[]).await?;
        let bench_plan = plans["plans"].as_array().into_iter().flatten().find(|p| p["name"] == "Bench plan");
        match bench_plan.and_then(|p| p["id"].as_str()) {
            None => {
                self.post_api("/api/v1/commissions/plans", plan_body).await.map_err(anyhow::Error::msg)?;
            }
            // A data set of an earlier run: its plan was the first rep's alone.
            Some(id) if !bench_plan.is_some_and(|p| p["members"].to_string().contains(second.as_str())) => {
                self.send_api(reqwest::Method::PUT, &format!("/api/v1/commissions/plans/{id}"), plan_body)
                    .await
                    .map_err(anyhow::Error::msg)?;
            }
            Some(_) => {}
        }
        // Its manager has approved the year's first three quarters, as they ended.
        for q in 1..=3 {
            let key = format!("/api/v1/commissions/statements/{rep}/{year}-Q{q}");
            let s = self.json(&key, &[("limit", "0")]).await?;
            if s["status"] == "open" {
                self.post_api(&format!("{key}/approve"), json!({})).await.map_err(anyhow::Error::msg)?;
            }
        }
        let (mut quota_ms, mut statement_ms, mut year_ms) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..20 {
            let t = Instant::now();
            let s = self.json(&format!("/api/v1/commissions/statements/{second}/{year}-Q4"), &[]).await?;
            year_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            out.statement_year_lines = s["line_count"].as_u64().unwrap_or(0);
            let t = Instant::now();
            self.json(&format!("/api/v1/quotas/{quota}"), &[]).await?;
            quota_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let s = self.json(&format!("/api/v1/commissions/statements/{rep}/{year}-Q4"), &[]).await?;
            statement_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            out.statement_lines = s["line_count"].as_u64().unwrap_or(0);
        }
        let p95 = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(((v.len() as f64 - 1.0) * 0.95) as usize).copied().unwrap_or(0.0)
        };
        out.quota_p95_ms = p95(quota_ms);
        out.statement_p95_ms = p95(statement_ms);
        out.statement_year_p95_ms = p95(year_ms);
        if !fit {
            return Ok(out);
        }
        // The same list read by the same clients without the fit first: what the fit costs it.
        let lister = self.clone();
        let before = load::run(plan.clients, Duration::from_secs(1), plan.duration, move |_, _| {
            let c = lister.clone();
            async move { c.get_api("/api/v1/records/contact", &[("limit", "50")]).await }
        })
        .await;
        out.list_before_fit_p95_ms = before.p95_ms;
        // The fit, with the contacts list read by the usual clients while it runs.
        let fitting = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let lister = self.clone();
        let running = fitting.clone();
        let clients = plan.clients;
        let list = tokio::spawn(async move {
            load::run_while(clients, running, move |_, _| {
                let c = lister.clone();
                async move { c.get_api("/api/v1/records/contact", &[("limit", "50")]).await }
            })
            .await
        });
        let t = Instant::now();
        let fit = self.post_api("/api/v1/customer_value/run", json!({})).await;
        out.fit_seconds = t.elapsed().as_secs_f64();
        fitting.store(false, std::sync::atomic::Ordering::SeqCst);
        let during = list.await?;
        let fit = fit.map_err(anyhow::Error::msg)?;
        out.fit_customers = fit["customers"].as_u64().unwrap_or(0);
        out.list_during_fit_p95_ms = during.p95_ms;
        out.list_during_fit_requests = during.requests as u64;
        out.list_during_fit_errors = during.errors as u64;
        Ok(out)
    }

    /// Issue 31: a program started over every order of the data set (its points posted), its
    /// members read, a segment of recent buyers counted, and a campaign to it queued.
    async fn loyalty(&self) -> anyhow::Result<report::Loyalty> {
        let club = json!({"name_fa": "باشگاه", "name_en": "Club", "spend_rules": [{"per": "100000", "points": 1}],
            "tiers": [{"key": "silver", "name_fa": "نقره‌ای", "name_en": "Silver", "threshold": 0},
                {"key": "gold", "name_fa": "طلایی", "name_en": "Gold", "threshold": 1000, "factor": "1.5", "discount_percent": "5"}],
            "expiry_days": 365});
        let club = self.post_api("/api/v1/loyalty/programs", club).await.map_err(anyhow::Error::msg)?;
        let club = club["id"].as_str().context("a program id")?.to_string();
        let started = Instant::now();
        let posted = self
            .post_api(&format!("/api/v1/loyalty/programs/{club}/post_orders"), json!({}))
            .await
            .map_err(anyhow::Error::msg)?;
        let post_seconds = started.elapsed().as_secs_f64();
        let orders_posted = posted["posted"].as_u64().unwrap_or(0);
        if orders_posted == 0 {
            bail!("no order earned points: {posted}");
        }
        let top = self.json(&format!("/api/v1/loyalty/programs/{club}/members"), &[("limit", "200")]).await?;
        let members: Vec<String> = top["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["contact_id"].as_str().map(str::to_string))
            .collect();
        let mut times = Vec::new();
        for round in 0..3 {
            for m in &members {
                let t = Instant::now();
                self.json(&format!("/api/v1/loyalty/programs/{club}/members/{m}"), &[]).await?;
                if round > 0 {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        times.sort_by(f64::total_cmp);
        let pick = |q: f64| times.get(((times.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0.0);
        Ok(report::Loyalty {
            orders_posted,
            post_seconds,
            member_p50_ms: pick(0.5),
            member_p95_ms: pick(0.95),
            ..self.segment_and_campaign().await?
        })
    }

    /// Issue 31: a segment of recent buyers counted over every contact, and a campaign to it
    /// queued (alone: `--only segments`, without a program's posting of every order first).
    async fn segment_and_campaign(&self) -> anyhow::Result<report::Loyalty> {
        let segment = json!({"name": "Recent buyers", "object": "contact", "conditions": [{"kind": "bought_within", "days": 90}]});
        let segment = self.post_api("/api/v1/segments", segment).await.map_err(anyhow::Error::msg)?;
        let segment = segment["id"].as_str().context("a segment id")?.to_string();
        let t = Instant::now();
        let counted = self.json(&format!("/api/v1/segments/{segment}/members"), &[("limit", "0")]).await?;
        let segment_ms = t.elapsed().as_secs_f64() * 1000.0;
        let template = json!({"name": "Bench news", "channel": "email", "object": "contact", "subject": "News", "body": "Hello {{ record.title }}"});
        let template = self.post_api("/api/v1/templates", template).await.map_err(anyhow::Error::msg)?;
        // One message a minute: its sends are spread over months, so a later run on the same data
        // set is not busy sending this one's (the queueing is the same at any pace).
        let campaign =
            json!({"name": "Bench campaign", "template": template["id"], "segment": segment, "per_minute": 1});
        let campaign = self.post_api("/api/v1/campaigns", campaign).await.map_err(anyhow::Error::msg)?;
        let campaign = campaign["id"].as_str().context("a campaign id")?.to_string();
        let t = Instant::now();
        self.post_api(&format!("/api/v1/campaigns/{campaign}/start"), json!({})).await.map_err(anyhow::Error::msg)?;
        let recipients = loop {
            let c = self.json(&format!("/api/v1/campaigns/{campaign}"), &[]).await?;
            if c["campaign"]["status"] == "sent" {
                break c["campaign"]["recipients"].as_u64().unwrap_or(0);
            }
            if t.elapsed() > Duration::from_secs(600) {
                bail!("the campaign was not queued in ten minutes: {c}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Ok(report::Loyalty {
            segment_members: counted["count"].as_u64().unwrap_or(0),
            segment_ms,
            campaign_recipients: recipients,
            campaign_queue_seconds: t.elapsed().as_secs_f64(),
            ..report::Loyalty::default()
        })
    }

    /// Ids of the first `n` contacts in the default order (at most 500).
    async fn sample_contacts(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let limit = n.clamp(1, 500).to_string();
        let page = self.json("/api/v1/records/contact", &[("limit", limit.as_str())]).await?;
        Ok(page["records"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    async fn total(&self, object: &str) -> anyhow::Result<usize> {
        let page = self.json(&format!("/api/v1/records/{object}"), &[("limit", "1"), ("total", "true")]).await?;
        page["total"].as_u64().map(|t| t as usize).context("a total")
    }

    /// Each dashboard aggregate once, on a server that has not computed it: milliseconds each,
    /// and what it was computed from.
    async fn aggregates_uncached(&self) -> anyhow::Result<Vec<(String, f64)>> {
        let mut out = Vec::new();
        for (object, query) in report::UNCACHED_AGGREGATES {
            let started = Instant::now();
            let answer = self.json(&format!("/api/v1/aggregate/{object}"), query).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let source = answer["source"].as_str().unwrap_or("?");
            out.push((format!("{} (from the {source})", report::aggregate_label(object, query)), ms));
        }
        Ok(out)
    }

    /// Waits until the server has declared its standard rollups (issue 32); seconds waited.
    async fn standard_rollups_ready(&self) -> anyhow::Result<f64> {
        // The ones `peyvand_crm::insights::standard_rollups` declares.
        let t = Instant::now();
        loop {
            let mut missing = 0;
            for (object, group) in STANDARD_ROLLUPS {
                let listed = self.json(&format!("/api/v1/objects/{object}/rollups"), &[]).await?;
                if !listed["rollups"].as_array().into_iter().flatten().any(|r| r["group"] == group) {
                    missing += 1;
                }
            }
            if missing == 0 {
                return Ok(t.elapsed().as_secs_f64());
            }
            if t.elapsed() > Duration::from_secs(1800) {
                bail!("{missing} standard rollups were not declared in 30 minutes");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Declares a rollup for each dashboard aggregate: milliseconds each (filling it from the
    /// records). Rollups a reused data set kept from an earlier run are removed first, so every
    /// run measures the filling.
    async fn declare_rollups(&self) -> anyhow::Result<Vec<(String, f64)>> {
        let mut objects: Vec<&str> = report::UNCACHED_AGGREGATES.iter().map(|(o, _)| *o).collect();
        objects.sort_unstable();
        objects.dedup();
        for object in objects {
            let listed = self.json(&format!("/api/v1/objects/{object}/rollups"), &[]).await?;
            // The server's own (a rep's count reads the owners') stay.
            let standard =
                |r: &serde_json::Value| STANDARD_ROLLUPS.iter().any(|(o, g)| *o == object && r["group"] == *g);
            let earlier = listed["rollups"].as_array().into_iter().flatten().filter(|r| !standard(r));
            for id in earlier.filter_map(|r| r["id"].as_str()) {
                let r = self.api.delete(format!("{}/api/v1/objects/{object}/rollups/{id}", self.base)).send().await?;
                if !r.status().is_success() {
                    bail!("removing an earlier run's rollup answered {}", r.status());
                }
            }
        }
        let mut out = Vec::new();
        // A filtered question is answered by the rollup of its unfiltered groups (see
        // UNCACHED_AGGREGATES), so it declares none of its own.
        for (object, query) in
            report::UNCACHED_AGGREGATES.iter().filter(|(_, q)| !q.iter().any(|(k, _)| *k == "filter"))
        {
            let param = |name: &str| query.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).unwrap_or("");
            let body = serde_json::json!({ "group": param("group"), "sum": param("sum") });
            let started = Instant::now();
            let r = self.api.post(format!("{}/api/v1/objects/{object}/rollups", self.base)).json(&body).send().await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let status = r.status();
            if !status.is_success() {
                bail!("declaring a rollup answered {status}: {}", r.text().await.unwrap_or_default());
            }
            let label = report::aggregate_label(object, query);
            out.push((
                if status == reqwest::StatusCode::OK { format!("{label} (already declared)") } else { label },
                ms,
            ));
        }
        Ok(out)
    }
}

/// What the compound index of `aggregate_filtered` is reported as, beside the rollups.
const COMPOUND_INDEX_LABEL: &str = "compound index of contacts (city, lifecycle_stage, score)";

impl Client {
    /// Declares the contacts' compound index that `aggregate_filtered` reads (the fields it
    /// compares for equality, the one it groups by, the one it compares by range), or, when not
    /// `wanted`, removes one an earlier run declared. The milliseconds it took to build, if built.
    async fn compound_index(&self, wanted: bool) -> anyhow::Result<Option<f64>> {
        let fields = ["city", "lifecycle_stage", "score"];
        if !wanted {
            let listed = self.json("/api/v1/objects/contact/indexes", &[]).await?;
            for id in listed["indexes"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str()) {
                let r = self.api.delete(format!("{}/api/v1/objects/contact/indexes/{id}", self.base)).send().await?;
                if !r.status().is_success() {
                    bail!("removing an earlier run's compound index answered {}", r.status());
                }
            }
            return Ok(None);
        }
        let started = Instant::now();
        let body = serde_json::json!({ "fields": fields });
        let r = self.api.post(format!("{}/api/v1/objects/contact/indexes", self.base)).json(&body).send().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let status = r.status();
        if !status.is_success() {
            bail!("declaring the compound index answered {status}: {}", r.text().await.unwrap_or_default());
        }
        Ok((status == reqwest::StatusCode::CREATED).then_some(ms))
    }
}

/// The rollups the server declares at start-up (`peyvand_crm::insights::standard_rollups`).
const STANDARD_ROLLUPS: [(&str, &str); 7] = [
    ("order", "owner,status,ordered_at:day"),
    ("order_line", "ordered_at:day,product.category"),
    ("deal", "owner,stage,closed_on:day"),
    ("deal", "stage,expected_close:day"),
    ("ticket", "queue,status"),
    ("contact", "owner"),
    ("company", "owner"),
];

type Request = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;
type MakeRequest = Box<dyn Fn(usize, u64) -> Request + Send + Sync>;

/// A different number for each request of each client.
fn spread(client: usize, n: u64) -> u64 {
    let mut rng = peyvand_transfer::generate::Rng::new((client as u64) << 40 ^ n);
    rng.next_u64()
}

/// One of `items` for request `n` of `client` (see [`spread`]).
fn pick<'a>(items: &[&'a str], client: usize, n: u64) -> &'a str {
    items[(spread(client, n) % items.len() as u64) as usize]
}

/// The measured operations: name, what it is, and how to make one request.
fn operations(
    ctx: &Arc<Client>,
    agent: &Arc<Client>,
    busy: &Arc<Client>,
    dataset: &Dataset,
    sample: Vec<String>,
    customers: Arc<Vec<PortalCustomer>>,
) -> Vec<(&'static str, &'static str, MakeRequest)> {
    let mut ops: Vec<(&'static str, &'static str, MakeRequest)> = Vec::new();
    let c = ctx.clone();
    ops.push((
        "healthz",
        "GET /healthz: the HTTP ceiling",
        Box::new(move |_, _| {
            let c = c.clone();
            Box::pin(async move {
                let r = c.api.get(format!("{}/healthz", c.base)).send().await.map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                check(status, &body, "/healthz")
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "list_standard",
        "50 contacts, last_name ≥ a name, sorted by last_name (API)",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let names = report::LAST_NAMES;
                let name = names[(spread(client, n) % names.len() as u64) as usize];
                let filter = json!({"field": "last_name", "op": "gte", "value": name}).to_string();
                c.get_api("/api/v1/records/contact", &[("filter", &filter), ("sort", "last_name"), ("limit", "50")])
                    .await
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "list_custom",
        "50 contacts, score ≥ a number, sorted by score (an indexed custom field)",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let filter = json!({"field": "score", "op": "gte", "value": spread(client, n) % 100_000}).to_string();
                c.get_api("/api/v1/records/contact", &[("filter", &filter), ("sort", "score"), ("limit", "50")]).await
            })
        }),
    ));
    // Issue 34: the lists as users open them, with their counts, filters and substring search.
    let c = ctx.clone();
    ops.push((
        "list_count",
        "50 contacts, newest first, with their count (API)",
        Box::new(move |_, _| {
            let c = c.clone();
            Box::pin(async move { c.get_api("/api/v1/records/contact", &[("total", "true"), ("limit", "50")]).await })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "list_page",
        "the contacts list page (HTML), with its count",
        Box::new(move |_, _| {
            let c = c.clone();
            Box::pin(async move { c.get_html("/records/contact", &[]).await })
        }),
    ));
    // Issue 32: the admin's default dashboard (ten widgets: revenue, pipeline, forecast, quotas,
    // leaderboard, queues, satisfaction, segments, campaigns, loyalty), as users reopen it.
    let c = ctx.clone();
    ops.push((
        "dashboard",
        "the admin's default dashboard (HTML, ten widgets), repeated",
        Box::new(move |_, _| {
            let c = c.clone();
            Box::pin(async move { c.get_html("/dashboard", &[]).await })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "filter_city",
        "50 contacts of a city (indexed), newest first, with their count",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let city = pick(report::CITIES, client, n);
                let filter = json!({"field": "city", "op": "eq", "value": city}).to_string();
                c.get_api("/api/v1/records/contact", &[("filter", &filter), ("total", "true"), ("limit", "50")]).await
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "contains_email",
        "50 contacts whose e-mails contain a run of digits, with their count",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let digits = format!("son{}", 10 + spread(client, n) % 90);
                let filter = json!({"field": "emails", "op": "contains", "value": digits}).to_string();
                c.get_api("/api/v1/records/contact", &[("filter", &filter), ("total", "true"), ("limit", "50")]).await
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "contains_name",
        "50 contacts whose first or last name contains three letters (the quick search), with their count",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let part = pick(report::NAME_PARTS, client, n);
                let filter = json!({"or": [{"field": "first_name", "op": "contains", "value": part},
                                           {"field": "last_name", "op": "contains", "value": part}]})
                .to_string();
                c.get_api("/api/v1/records/contact", &[("filter", &filter), ("total", "true"), ("limit", "50")]).await
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "quick_search",
        "the contacts list page (HTML) with three letters in its search box",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let part = pick(report::NAME_PARTS, client, n);
                c.get_html("/records/contact", &[("q", part)]).await
            })
        }),
    ));
    // Issue 25: the same lists as a rep, who reaches their own and a teammate's contacts.
    let c = agent.clone();
    ops.push((
        "agent_list_count",
        "list_count as a rep limited to own and team",
        Box::new(move |_, _| {
            let c = c.clone();
            Box::pin(async move { c.get_api("/api/v1/records/contact", &[("total", "true"), ("limit", "50")]).await })
        }),
    ));
    let c = agent.clone();
    ops.push((
        "agent_filter_city",
        "filter_city as a rep limited to own and team",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let city = pick(report::CITIES, client, n);
                let filter = json!({"field": "city", "op": "eq", "value": city}).to_string();
                c.get_api("/api/v1/records/contact", &[("filter", &filter), ("total", "true"), ("limit", "50")]).await
            })
        }),
    ));
    let c = agent.clone();
    ops.push((
        "agent_sorted",
        "50 contacts by last name ≥ a name, sorted by it, as a rep",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let name = pick(report::LAST_NAMES, client, n);
                let filter = json!({"field": "last_name", "op": "gte", "value": name}).to_string();
                c.get_api("/api/v1/records/contact", &[("filter", &filter), ("sort", "last_name"), ("limit", "50")])
                    .await
            })
        }),
    ));
    let c = agent.clone();
    ops.push((
        "agent_quick_search",
        "quick_search as a rep limited to own and team",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let part = pick(report::NAME_PARTS, client, n);
                c.get_html("/records/contact", &[("q", part)]).await
            })
        }),
    ));
    let c = agent.clone();
    ops.push((
        "agent_search",
        "global search as a rep",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let q = pick(report::SEARCHES, client, n);
                c.get_api("/api/v1/search", &[("q", q), ("limit", "20")]).await
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "aggregate_filtered",
        "contacts per lifecycle stage of a city above a score (a filtered aggregate: no rollup, no cache)",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let city = pick(report::CITIES, client, n);
                let filter = json!({"and": [{"field": "city", "op": "eq", "value": city},
                                            {"field": "score", "op": "gte", "value": spread(client, n + 7) % 100_000}]})
                .to_string();
                c.get_api("/api/v1/aggregate/contact", &[("group", "lifecycle_stage"), ("filter", &filter)]).await
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "search",
        "global search, Persian prefixes written with Arabic ي and ك",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let q = pick(report::SEARCHES, client, n);
                c.get_api("/api/v1/search", &[("q", q), ("limit", "20")]).await
            })
        }),
    ));
    let c = ctx.clone();
    let timeline = Arc::new(dataset.timeline_contacts.clone());
    ops.push((
        "record_page",
        "a contact's page (HTML) with 50 timeline entries",
        Box::new(move |client, n| {
            let (c, timeline) = (c.clone(), timeline.clone());
            Box::pin(async move {
                let id = &timeline[(spread(client, n) % timeline.len().max(1) as u64) as usize];
                let r = c
                    .browser
                    .get(format!("{}/records/contact/{id}", c.base))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                check(status, &body, "record page")?;
                if body.windows(b"id=\"timeline\"".len()).any(|w| w == b"id=\"timeline\"") {
                    Ok(())
                } else {
                    Err("the record page has no timeline".into())
                }
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "create",
        "create a contact (API)",
        Box::new(move |client, n| {
            let c = c.clone();
            Box::pin(async move {
                let body = json!({"fields": {"first_name": "سنجه", "last_name": format!("آزمون {client}-{n}"),
                    "city": "تهران", "score": spread(client, n) % 100_000}});
                c.post_api("/api/v1/records/contact", body).await.map(|_| ())
            })
        }),
    ));
    // Issue 27: sales.
    let c = ctx.clone();
    let (documents, products) = (Arc::new(dataset.documents.clone()), Arc::new(dataset.products.clone()));
    ops.push((
        "order_20_lines",
        "an order's 20 lines written (validated, priced from the lists, figured, totalled)",
        Box::new(move |client, n| {
            let (c, documents, products) = (c.clone(), documents.clone(), products.clone());
            Box::pin(async move {
                let id = &documents[client % documents.len().max(1)];
                let lines: Vec<Value> = (0..20)
                    .map(|k| {
                        let product = &products[(k + n as usize) % products.len().max(1)];
                        json!({"product": product, "quantity": (1 + k % 5).to_string(), "discount_percent": (k % 3).to_string()})
                    })
                    .collect();
                let r = c
                    .api
                    .put(format!("{}/api/v1/orders/{id}/lines", c.base))
                    .json(&json!({"lines": lines}))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                check(status, &body, "order lines")
            })
        }),
    ));
    let c = ctx.clone();
    ops.push((
        "pipeline_board",
        "the default pipeline's board (HTML): its stages, each column's count, sum and weighted sum",
        Box::new(move |_, _| {
            let c = c.clone();
            Box::pin(async move { c.get_html("/pipelines/default", &[]).await })
        }),
    ));
    let c = ctx.clone();
    let buyer = dataset.buyer.clone().unwrap_or_default();
    ops.push((
        "purchase_history",
        "a customer's purchase history: their newest 50 order lines, with their count",
        Box::new(move |_, _| {
            let (c, buyer) = (c.clone(), buyer.clone());
            Box::pin(async move {
                let filter = json!({"field": "contact", "op": "eq", "value": buyer}).to_string();
                c.get_api(
                    "/api/v1/records/order_line",
                    &[("filter", &filter), ("sort", "-ordered_at"), ("total", "true"), ("limit", "50")],
                )
                .await
            })
        }),
    ));
    // Issue 29.
    let c = agent.clone();
    let queue = dataset.ticket_queue.clone().unwrap_or_default();
    ops.push((
        "ticket_queue",
        "a queue's open tickets by time left (the desk, HTML)",
        Box::new(move |_, _| {
            let (c, queue) = (c.clone(), queue.clone());
            Box::pin(async move { c.get_html("/service", &[("queue", &queue)]).await })
        }),
    ));
    let c = ctx.clone();
    let busy_ticket = dataset.busy_ticket.clone().unwrap_or_default();
    ops.push((
        "ticket_page",
        "a ticket's page (HTML) with 200 messages, its deadlines and fields",
        Box::new(move |_, _| {
            let (c, t) = (c.clone(), busy_ticket.clone());
            Box::pin(async move { c.get_html(&format!("/records/ticket/{t}"), &[]).await })
        }),
    ));
    // Issue 28.
    let c = ctx.clone();
    let story = dataset.story.clone().unwrap_or_default();
    ops.push((
        "customer_360",
        "a customer's page (HTML): 300 activities and 200 orders in its timeline, its worth, benefits, related lists",
        Box::new(move |_, _| {
            let (c, story) = (c.clone(), story.clone());
            Box::pin(async move { c.get_html(&format!("/records/contact/{story}"), &[]).await })
        }),
    ));
    let c = ctx.clone();
    let company = dataset.story_company.clone().unwrap_or_default();
    ops.push((
        "company_timeline",
        "a company's timeline with its 100 contacts' (HTML fragment, first page)",
        Box::new(move |_, _| {
            let (c, company) = (c.clone(), company.clone());
            Box::pin(async move { c.get_html(&format!("/records/company/{company}/timeline"), &[]).await })
        }),
    ));
    let c = busy.clone();
    ops.push((
        "my_day",
        "my day (HTML) of a rep with 5,000 open tasks",
        Box::new(move |_, _| {
            let c = c.clone();
            Box::pin(async move { c.get_html("/my-day", &[]).await })
        }),
    ));
    let c = ctx.clone();
    let checked = Arc::new(sample.clone());
    ops.push((
        "duplicates_check",
        "one contact's likely duplicates (same e-mail, phone or name), API",
        Box::new(move |client, n| {
            let (c, checked) = (c.clone(), checked.clone());
            Box::pin(async move {
                let id = &checked[(spread(client, n) % checked.len().max(1) as u64) as usize];
                c.get_api(&format!("/api/v1/records/contact/{id}/duplicates"), &[]).await
            })
        }),
    ));
    // Issue 33: the customer portal, each client a customer signed in with a code.
    let base = ctx.base.clone();
    for (name, what, page) in [
        ("portal_home", "the portal's home page (HTML): points, latest orders, open requests", "/portal"),
        ("portal_orders", "a customer's orders and quotes in the portal (HTML)", "/portal/orders"),
        ("portal_order", "one of a customer's orders in the portal (HTML)", "order"),
        ("portal_points", "a customer's points, rewards and latest entries in the portal (HTML)", "/portal/points"),
    ] {
        let (customers, base) = (customers.clone(), base.clone());
        ops.push((
            name,
            what,
            Box::new(move |client, _| {
                let (customers, base) = (customers.clone(), base.clone());
                Box::pin(async move {
                    let Some(who) = customers.get(client % customers.len().max(1)) else {
                        return Err("no customer signed in to the portal".to_string());
                    };
                    let path = if page == "order" { format!("/portal/orders/{}", who.order) } else { page.to_string() };
                    let r = who.http.get(format!("{base}{path}")).send().await.map_err(|e| e.to_string())?;
                    let status = r.status();
                    let body = r.bytes().await.map_err(|e| e.to_string())?;
                    check(status, &body, name)
                })
            }),
        ));
    }
    let c = ctx.clone();
    let sample = Arc::new(sample);
    ops.push((
        "update",
        "change a field of a contact (API)",
        Box::new(move |client, n| {
            let (c, sample) = (c.clone(), sample.clone());
            Box::pin(async move {
                let id = &sample[(spread(client, n) % sample.len().max(1) as u64) as usize];
                let r = c
                    .api
                    .patch(format!("{}/api/v1/records/contact/{id}", c.base))
                    .json(&json!({"fields": {"score": spread(client, n + 1) % 100_000}}))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                check(status, &body, "update")
            })
        }),
    ));
    ops
}
