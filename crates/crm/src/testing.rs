//! Tests on both backends with the CRM's modules running: `crm_tests!` is the store's
//! `backend_tests!` on a database opened with [`crate::modules`].

use peyvand_store::Db;
use peyvand_store::testing::{Backend, TestDb};

/// Runs `test` on a fresh database of `backend` opened with every module, then removes it;
/// without a PostgreSQL server it says the test was skipped and returns.
pub async fn run_on(backend: Backend, test: impl AsyncFnOnce(&Db)) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = crate::open(&test_db.url).await.expect("open the test database");
    test(&db).await;
    db.close().await;
    test_db.cleanup().await;
}

/// One test per backend for each named `async fn(&Db)`, on a database with the CRM's modules:
/// `mod NAME { sqlite, postgres }`.
#[macro_export]
macro_rules! crm_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::testing::run_on(peyvand_store::testing::Backend::Sqlite, super::$name).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::testing::run_on(peyvand_store::testing::Backend::Postgres, super::$name).await;
                }
            }
        )*
    };
}

/// A real SMTP server for tests (aiosmtpd, from PyPI, run by `tests/fixtures/smtp_server.py`):
/// it keeps what it accepts as files, refuses recipients at `refused.example` (550), and with a
/// certificate requires STARTTLS. Stopped when dropped.
pub struct SmtpServer {
    pub port: u16,
    pub dir: std::path::PathBuf,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    child: Option<tokio::process::Child>,
}

impl SmtpServer {
    /// Starts one on a free port; `None` (the test says it was skipped) where aiosmtpd is not
    /// installed, except under CI, where that fails the test.
    pub async fn start(tls: Option<(std::path::PathBuf, std::path::PathBuf)>) -> Option<SmtpServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).ok()?;
        let dir = std::env::temp_dir().join(format!("peyvand-smtp-{}", peyvand_store::new_id()));
        std::fs::create_dir_all(&dir).ok()?;
        let mut server = SmtpServer { port, dir, tls, child: None };
        if server.restart().await { Some(server) } else { None }
    }

    /// Starts it again on its port (after [`SmtpServer::stop`]); false if it cannot run here.
    pub async fn restart(&mut self) -> bool {
        use tokio::io::AsyncBufReadExt;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_server.py");
        let mut cmd = tokio::process::Command::new("python3");
        cmd.arg(script).arg(self.port.to_string()).arg(&self.dir);
        if let Some((cert, key)) = &self.tls {
            cmd.arg(cert).arg(key);
        }
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
        let Ok(mut child) = cmd.spawn() else { return skip_or_fail("python3 is not installed") };
        let Some(stdout) = child.stdout.take() else { return false };
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line()).await;
        match ready {
            Ok(Ok(Some(line))) if line.trim() == "ready" => {
                self.child = Some(child);
                true
            }
            _ => {
                let _ = child.kill().await;
                skip_or_fail("the test SMTP server did not start (pip install aiosmtpd==1.4.6)")
            }
        }
    }

    /// Stops it (a server that is down).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    /// The messages it accepted, oldest first, as received.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn skip_or_fail(why: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    false
}
