//! The `peyvand` command: serve (default), migrate, user add, demo.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use peyvand::settings::{DataArgs, ServeArgs, Settings};
use peyvand_records::access::Role;
use peyvand_store::Db;
use std::io::{BufRead, IsTerminal, Write};

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

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PEYVAND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let serve_args = match &cli.command {
        Some(Command::Serve(a)) | Some(Command::Demo(a)) => a.clone(),
        _ => ServeArgs::default(),
    };
    let default_db = if matches!(cli.command, Some(Command::Demo(_))) {
        "demo.db"
    } else {
        "peyvand.db"
    };
    let settings = Settings::resolve(&cli.data, &serve_args, default_db)?;
    init_logging(&settings.log_format);
    let db = Db::open(&settings.database_url)
        .await
        .with_context(|| format!("cannot open the database at {}", settings.database_url))?;
    match cli.command {
        None | Some(Command::Serve(_)) => serve(settings, db).await,
        Some(Command::Migrate) => {
            println!("The database is up to date ({}).", db.dialect().name());
            db.close().await;
            Ok(())
        }
        Some(Command::User {
            command:
                UserCommand::Add {
                    email,
                    role,
                    name,
                    language,
                    password_stdin,
                },
        }) => {
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role {role}: use admin, manager, agent or read_only"))?;
            let password = read_password(password_stdin)?;
            if password.chars().count() < peyvand_web::auth::MIN_PASSWORD_CHARS {
                bail!(
                    "the password needs at least {} characters",
                    peyvand_web::auth::MIN_PASSWORD_CHARS
                );
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
        Some(Command::Demo(_)) => {
            let login = peyvand::demo::seed(&db).await?;
            println!(
                "Peyvand demo: sign in at http://{} as {} with password {}",
                settings.listen, login.0, login.1
            );
            serve(settings, db).await
        }
    }
}
