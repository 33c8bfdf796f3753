//! The `peyvand` command: serve (default), migrate, user add, demo.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use peyvand::settings::{DataArgs, ServeArgs, Settings};
use peyvand_records::access::Role;
use peyvand_store::{Db, Workload};
use std::io::{BufRead, IsTerminal, Write};

/// mimalloc instead of glibc's allocator: a profile of the list endpoint under 32 clients spent
/// a quarter of its time in glibc's malloc and free (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peyvand (پیوند): customer relationship management.
#[derive(Parser)]
#[command(name = "peyvand", version, about)]
struct Cli {
    #[command(flatten)]
    data: DataArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and the API (the default command)
    Serve(ServeArgs),
    /// Bring the database schema up to date and exit
    Migrate,
    /// Manage users
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Serve a small bilingual sample data set (its own database: data/demo.db)
    Demo(ServeArgs),
    /// Import a CSV, XLSX or vCard file into an object (columns are matched to fields by name; see --map)
    Import(ImportArgs),
    /// Export an object (or the records a filter selects) to CSV or XLSX
    Export(ExportArgs),
    /// Customer analytics on a CSV of transactions (no database needed)
    Analytics {
        #[command(subcommand)]
        command: peyvand::analytics_cli::AnalyticsCommand,
    },
    /// Fill the database with generated bilingual companies, contacts, products, activities, deals and orders (for demos and benchmarks); each record is owned by one of the active users, in turn
    Generate {
        #[arg(long, default_value_t = 1000)]
        companies: usize,
        #[arg(long, default_value_t = 10000)]
        contacts: usize,
        /// Calls, e-mails, meetings, … over the last two years, on the contacts' timelines
        #[arg(long, default_value_t = 0)]
        activities: usize,
        #[arg(long, default_value_t = 0)]
        products: usize,
        /// Deals of the last two years, the older ones won or lost (needs products)
        #[arg(long, default_value_t = 0)]
        deals: usize,
        /// Orders of the last two years, bought by some of the contacts (needs products)
        #[arg(long, default_value_t = 0)]
        orders: usize,
        /// The same seed gives the same data
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write a consistent backup of the whole database (while the server runs) to a file
    Backup {
        /// Where to write (default: data/peyvand-backup-DATE.jsonl)
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Load a backup into an empty database (--database-url)
    Restore {
        /// A file written by `peyvand backup`
        file: std::path::PathBuf,
    },
    /// The scheduled jobs and the parked events (which failed every attempt), and retrying them
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Copy everything from one database to another, empty one (SQLite to PostgreSQL or back)
    MigrateData {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The object, e.g. contact or company
    object: String,
    /// The file: CSV (UTF-8, UTF-8 with BOM, UTF-16 or Windows-1256), XLSX (first sheet) or vCard
    file: std::path::PathBuf,
    /// Column to field, as COLUMN=FIELD (repeat it); FIELD empty ignores the column
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    map: Vec<String>,
    /// The field that identifies records already in Peyvand, e.g. emails, phones, or an external id field
    #[arg(long)]
    dedupe_by: Option<String>,
    /// What to do with a row whose --dedupe-by value is already there: skip, update or create
    #[arg(long, default_value = "skip")]
    on_duplicate: String,
    /// Check every row and report, writing nothing
    #[arg(long)]
    dry_run: bool,
    /// Write every row or none
    #[arg(long)]
    all_or_nothing: bool,
    /// The file's encoding when detection is not wanted: utf-8, utf-16le, utf-16be, windows-1256
    #[arg(long)]
    encoding: Option<String>,
    /// Write the rows that failed, with the reason, to this CSV file
    #[arg(long)]
    errors: Option<std::path::PathBuf>,
    /// Do not create related records (a contact's company) that are missing
    #[arg(long)]
    no_create_related: bool,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The object, e.g. contact or company
    object: String,
    /// csv or xlsx
    #[arg(long, default_value = "csv")]
    format: String,
    /// A filter in the API's JSON syntax (docs/filters.md)
    #[arg(long)]
    filter: Option<String>,
    /// Fields to export, comma-separated (default: all)
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Where to write (default: standard output)
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List the jobs (all, or of one status: pending, running, done, parked) and the parked events
    List {
        #[arg(long)]
        status: Option<String>,
    },
    /// Try a parked job (by its id) or a parked event (as CONSUMER:SEQ) again
    Retry { id: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is asked for, or read from standard input
    Add {
        #[arg(long)]
        email: String,
        /// admin, manager, agent or read_only
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
        /// fa or en
        #[arg(long, default_value = "fa")]
        language: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
}

async fn jobs_command(db: &Db, command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List { status } => {
            for job in db.jobs(status.as_deref(), 1000).await? {
                let error = job.error.map(|e| format!("  {e}")).unwrap_or_default();
                println!(
                    "job {}  {}  {}  due {}  attempts {}{error}",
                    job.id, job.kind, job.status, job.run_at, job.attempts
                );
            }
            for parked in db.parked_events().await? {
                println!(
                    "event {}:{}  parked after {} attempts  {}",
                    parked.consumer, parked.seq, parked.attempts, parked.error
                );
            }
            Ok(())
        }
        JobsCommand::Retry { id } => {
            match id.rsplit_once(':') {
                Some((consumer, seq)) => {
                    let seq: i64 = seq.parse().with_context(|| format!("not an event's place: {seq}"))?;
                    db.retry_parked(consumer, seq).await?;
                    println!("Event {consumer}:{seq} will be delivered again.");
                }
                None => {
                    db.retry_job(&id).await?;
                    println!("Job {id} will run again now.");
                }
            }
            Ok(())
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PEYVAND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Logs go to standard error: standard output is the command's own (an export's CSV, an
    // import's report), and a warning there once broke a script that read the report.
    // Colours only for a person at a terminal: escape codes in a file or a log collector are
    // noise (and NO_COLOR turns them off there too).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let interactive = !from_stdin && stdin.is_terminal();
    if interactive {
        eprint!("Password: ");
        std::io::stderr().flush()?;
        // Hide what is typed where a terminal is attached.
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

async fn serve(settings: Settings, db: Db) -> anyhow::Result<()> {
    if db.list_users().await?.is_empty() {
        tracing::warn!("no users yet: add one with `peyvand user add --email you@example.com --role admin`");
    }
    let running = peyvand::start(db, &settings.listen, settings.web.clone(), peyvand::shutdown_signal()).await?;
    tracing::info!(addr = %running.addr, backend = running.db.dialect().name(), "Peyvand is listening on http://{}", running.addr);
    running.stop_when_done().await
}

async fn import(db: &Db, args: ImportArgs) -> anyhow::Result<()> {
    let mut opts = peyvand_transfer::ImportOptions::new(&args.object);
    for m in &args.map {
        let (column, field) = m.split_once('=').with_context(|| format!("--map takes COLUMN=FIELD, not {m}"))?;
        opts.mapping.push((column.to_string(), field.to_string()));
    }
    opts.dedupe_by = args.dedupe_by;
    opts.on_duplicate =
        peyvand_transfer::OnDuplicate::parse(&args.on_duplicate).context("--on-duplicate is skip, update or create")?;
    opts.dry_run = args.dry_run;
    opts.all_or_nothing = args.all_or_nothing;
    opts.encoding = args.encoding;
    // Nothing else waits on this process's transactions: fewer, larger commits (see
    // BULK_BATCH_SIZE).
    opts.batch_size = peyvand_transfer::import::BULK_BATCH_SIZE;
    opts.create_related = !args.no_create_related;
    let started = std::time::Instant::now();
    let report = peyvand_transfer::import_csv(db, None, &args.file, &opts, |n| {
        eprint!("\r{n} rows read");
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    eprintln!();
    for m in &report.mapping {
        eprintln!("  column {:?} -> {}", m.column, m.field.as_deref().unwrap_or("(ignored)"));
    }
    for e in report.errors.iter().take(20) {
        eprintln!(
            "  row {}{}: {}{}",
            e.row,
            e.column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default(),
            e.code,
            e.value.as_ref().map(|v| format!(" ({v:?})")).unwrap_or_default()
        );
    }
    if report.errors.len() > 20 {
        eprintln!("  … and {} more", report.errors.len() - 20);
    }
    if let Some(path) = &args.errors {
        std::fs::write(path, report.errors_csv()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let verb = if report.dry_run_or_rolled_back() { "would have" } else { "" };
    println!(
        "{} rows in {:.1} s ({}): {verb} created {}, updated {}, skipped {}, already imported {}, failed {}, related records created {}{}",
        report.rows,
        started.elapsed().as_secs_f64(),
        report.encoding,
        report.created,
        report.updated,
        report.skipped,
        report.already_imported,
        report.failed,
        report.related_created,
        if report.committed { "" } else { ". Nothing was written." }
    );
    if report.failed > 0 && !report.committed && !args.dry_run {
        bail!("{} rows failed; with --all-or-nothing nothing was imported", report.failed);
    }
    Ok(())
}

async fn export(db: &Db, args: ExportArgs) -> anyhow::Result<()> {
    if args.format != "csv" && args.format != "xlsx" {
        bail!("--format is csv or xlsx, not {}", args.format);
    }
    let filter = args
        .filter
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .context("--filter is not JSON")?;
    if args.format == "xlsx" {
        let path = args.output.as_ref().context("an XLSX export needs --output FILE")?;
        let n = peyvand_transfer::export_xlsx(db, &args.object, filter.as_ref(), "", &args.columns, path).await?;
        eprintln!("{n} records exported");
        return Ok(());
    }
    let n = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            peyvand_transfer::export_csv(db, &args.object, filter.as_ref(), &args.columns, &mut out).await?
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            peyvand_transfer::export_csv(db, &args.object, filter.as_ref(), &args.columns, &mut out).await?
        }
    };
    eprintln!("{n} records exported");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Analytics { command }) = cli.command {
        return peyvand::analytics_cli::run(command);
    }
    let serve_args = match &cli.command {
        Some(Command::Serve(a)) | Some(Command::Demo(a)) => a.clone(),
        _ => ServeArgs::default(),
    };
    let default_db = if matches!(cli.command, Some(Command::Demo(_))) { "demo.db" } else { "peyvand.db" };
    let settings = Settings::resolve(&cli.data, &serve_args, default_db)?;
    init_logging(&settings.log_format);
    match &cli.command {
        Some(Command::Restore { file }) => {
            let db = Db::connect_for(&settings.database_url, Workload::Bulk)
                .await
                .with_context(|| format!("cannot open {}", settings.database_url))?
                .with_modules(peyvand_crm::modules());
            let input = std::io::BufReader::new(
                std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?,
            );
            let rows =
                db.restore(input).await.map_err(|e| anyhow::anyhow!("cannot restore {}: {e}", file.display()))?;
            println!("Restored {rows} rows into {}.", db.dialect().name());
            db.close().await;
            return Ok(());
        }
        Some(Command::MigrateData { from, to }) => {
            let source = peyvand_crm::open(from).await.with_context(|| format!("cannot open {from}"))?;
            let target = Db::connect_for(to, Workload::Bulk)
                .await
                .with_context(|| format!("cannot open {to}"))?
                .with_modules(peyvand_crm::modules());
            let rows = target.copy_from(&source).await.map_err(|e| anyhow::anyhow!("cannot copy into {to}: {e}"))?;
            println!("Copied {rows} rows from {} to {}.", source.dialect().name(), target.dialect().name());
            source.close().await;
            target.close().await;
            return Ok(());
        }
        _ => {}
    }
    let workload = match cli.command {
        Some(Command::Generate { .. }) => Workload::Generate,
        Some(Command::Import(_)) => Workload::Bulk,
        _ => Workload::Serve,
    };
    let db = peyvand_crm::open_for(&settings.database_url, workload)
        .await
        .with_context(|| format!("cannot open the database at {}", settings.database_url))?;
    match cli.command {
        Some(Command::Restore { .. }) | Some(Command::MigrateData { .. }) | Some(Command::Analytics { .. }) => Ok(()),
        Some(Command::Generate { companies, contacts, activities, products, deals, orders, seed }) => {
            let opts = peyvand_transfer::generate::GenerateOptions {
                companies,
                contacts,
                activities,
                products,
                deals,
                orders,
                seed,
                batch: peyvand_transfer::generate::BATCH,
                // The records are spread over the users there are (none yet: no owner).
                owners: db.list_users().await?.into_iter().filter(|u| u.active).map(|u| u.id).collect(),
            };
            let started = std::time::Instant::now();
            let made = peyvand_transfer::generate::generate(&db, &opts, |what, n| eprint!("\r{what}: {n}   ")).await?;
            eprint!("\rdeals' stages and orders' lines   ");
            peyvand_crm::settle_bulk_load(&db).await?;
            eprintln!();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "Generated {} companies, {} contacts, {} products, {} activities, {} deals and {} orders in {secs:.1} s ({:.0} records/s).",
                made.companies,
                made.contacts,
                made.products,
                made.activities,
                made.deals,
                made.orders,
                made.total() as f64 / secs.max(0.001)
            );
            db.close().await;
            Ok(())
        }
        Some(Command::Backup { output }) => {
            let path = output.unwrap_or_else(|| {
                let stamp = time::OffsetDateTime::now_utc();
                std::path::PathBuf::from(format!(
                    "data/peyvand-backup-{:04}{:02}{:02}-{:02}{:02}{:02}.jsonl",
                    stamp.year(),
                    u8::from(stamp.month()),
                    stamp.day(),
                    stamp.hour(),
                    stamp.minute(),
                    stamp.second()
                ))
            });
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let file = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let rows = db.dump(&mut out).await.map_err(|e| anyhow::anyhow!("backup failed: {e}"))?;
            println!("Backed up {rows} rows to {}.", path.display());
            db.close().await;
            Ok(())
        }
        Some(Command::Jobs { command }) => {
            let result = jobs_command(&db, command).await;
            db.close().await;
            result
        }
        None | Some(Command::Serve(_)) => serve(settings, db).await,
        Some(Command::Migrate) => {
            println!("The database is up to date ({}).", db.dialect().name());
            db.close().await;
            Ok(())
        }
        Some(Command::User { command: UserCommand::Add { email, role, name, language, password_stdin } }) => {
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role {role}: use admin, manager, agent or read_only"))?;
            let password = read_password(password_stdin)?;
            if password.chars().count() < peyvand_web::auth::MIN_PASSWORD_CHARS {
                bail!("the password needs at least {} characters", peyvand_web::auth::MIN_PASSWORD_CHARS);
            }
            let hash = peyvand_web::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let user = db
                .create_user(&email, &name, role, &hash, &language)
                .await
                .map_err(|e| anyhow::anyhow!("cannot add the user: {e}"))?;
            println!("Added {} ({}) as {}.", user.email, user.id, user.role.as_str());
            db.close().await;
            Ok(())
        }
        Some(Command::Import(args)) => {
            let result = import(&db, args).await;
            db.close().await;
            result
        }
        Some(Command::Export(args)) => {
            let result = export(&db, args).await;
            db.close().await;
            result
        }
        Some(Command::Demo(_)) => {
            let login = peyvand::demo::seed(&db).await?;
            println!("Peyvand demo: sign in at http://{} as {} with password {}", settings.listen, login.0, login.1);
            let people: Vec<&str> = peyvand::demo::DEMO_PEOPLE.iter().map(|(email, _, _)| *email).collect();
            println!(
                "  or, with the same password, as {} (a manager, three reps in two teams, support)",
                people.join(", ")
            );
            serve(settings, db).await
        }
    }
}
