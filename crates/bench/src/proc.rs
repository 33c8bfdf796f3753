//! Running the real `peyvand` executable: one-shot commands (generate, import, export) with their
//! wall time and peak memory, and the server with its start-up time and resident memory.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// Resident memory of a process, from `/proc/PID/status`: (current, peak) in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A process's own resident memory (`RssAnon` in `/proc/PID/status`), in KiB: not the pages of
/// files it maps, which are the system's file cache (the executable, and the database that
/// `peyvand generate` reads through a memory map).
fn own_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("RssAnon:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// How one command went.
#[derive(Debug)]
pub struct Ran {
    pub elapsed: Duration,
    pub stdout: String,
    /// The highest memory of its own seen while it ran (`RssAnon`, sampled every 20 ms), in KiB.
    pub peak_kib: u64,
}

/// The `peyvand` executable and the database it works on.
#[derive(Clone, Debug)]
pub struct Peyvand {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    /// For PostgreSQL; SQLite uses the file in `data_dir`.
    pub database_url: Option<String>,
}

impl Peyvand {
    /// One connection of the harness's own to the database (SQLite read-only), for what the API
    /// does not say (a consumer's position, a fill's progress).
    pub async fn reader(&self) -> anyhow::Result<sqlx::AnyPool> {
        sqlx::any::install_default_drivers();
        let url = match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}?mode=ro", self.data_dir.join("peyvand.db").display()),
        };
        Ok(sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await?)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        // The server logs warnings only, unless `PEYVAND_BENCH_SERVER_LOG` says otherwise (a
        // module's `info` phases, say: `warn,peyvand_crm=info`).
        let log = std::env::var("PEYVAND_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        cmd.args(args).env("PEYVAND_DATA_DIR", &self.data_dir).env("PEYVAND_LOG", log).kill_on_drop(true);
        match &self.database_url {
            Some(url) => cmd.env("PEYVAND_DATABASE_URL", url),
            None => cmd.env_remove("PEYVAND_DATABASE_URL"),
        };
        cmd
    }

    /// Runs a command to its end; fails with its error output unless it succeeds.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Ran> {
        let started = Instant::now();
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).await?;
        }
        let pid = child.id().unwrap_or(0);
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            while let Some(own) = own_memory_kib(pid) {
                peak = peak.max(own);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        });
        let output = child.wait_with_output().await?;
        let elapsed = started.elapsed();
        let peak_kib = sampler.await.unwrap_or(0);
        if !output.status.success() {
            bail!(
                "peyvand {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(Ran { elapsed, stdout: String::from_utf8_lossy(&output.stdout).into_owned(), peak_kib })
    }

    /// Starts the server on a free port and waits until it is ready.
    pub async fn serve(&self) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let child = self
            .command(&["serve", "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        let base = format!("http://{listen}");
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("the server did not become ready in 120 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Server { startup: started.elapsed(), pid: child.id().unwrap_or(0), child, base })
    }
}

/// A running server.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub base: String,
    /// From starting the process to the first ready answer of `/readyz`.
    pub startup: Duration,
}

impl Server {
    /// (current, peak) resident memory in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid).unwrap_or((0, 0))
    }

    /// Stops it as an operator would (SIGTERM), and waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => self.child.kill().await?,
        }
        Ok(())
    }
}

/// Bytes in the files of a directory (a SQLite database with its WAL), not counting subdirectories.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
        })
        .unwrap_or(0)
}
