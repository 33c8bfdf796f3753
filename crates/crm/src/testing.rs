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

/// A real IMAP server for tests: Dovecot (Debian's `dovecot-imapd`) with a configuration of its
/// own in a temporary folder, one mailbox (`support@desk.test`, password `secret-pass`), plain
/// IMAP on a free port. Messages are put in it with Python's `imaplib` (a client that is not
/// the one under test). Stopped when dropped.
pub struct ImapServer {
    pub port: u16,
    pub user: String,
    pub password: String,
    dir: std::path::PathBuf,
    child: Option<tokio::process::Child>,
}

impl ImapServer {
    pub async fn start() -> Option<ImapServer> {
        let Some(dovecot) =
            ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"].into_iter().find(|p| std::path::Path::new(p).exists())
        else {
            skip_or_fail("Dovecot is not installed (apt-get install dovecot-imapd)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).ok()?;
        let dir = std::env::temp_dir().join(format!("peyvand-imap-{}", peyvand_store::new_id()));
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.join(sub)).ok()?;
        }
        let d = dir.display();
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/log\n\
             info_log_path = {d}/log\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             first_valid_uid = 1\nmail_location = maildir:{d}/home/%u/Maildir\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/home/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n"
        );
        std::fs::write(dir.join("dovecot.conf"), conf).ok()?;
        std::fs::write(dir.join("passwd"), "support@desk.test:{PLAIN}secret-pass\n").ok()?;
        // The mail user (nobody) writes its mail folder; the folder above must be passable.
        let _ = std::process::Command::new("chown").arg("-R").arg("65534:65534").arg(dir.join("home")).status();
        let _ = std::process::Command::new("chmod").arg("755").arg(&dir).status();
        let child = tokio::process::Command::new(dovecot)
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .arg("-F")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let server = ImapServer {
            port,
            user: "support@desk.test".into(),
            password: "secret-pass".into(),
            dir,
            child: Some(child),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(server);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        skip_or_fail("the test IMAP server did not start");
        None
    }

    /// Puts a message (as sent: headers, a blank line, the body; `\n` line ends are made
    /// `\r\n`) in the mailbox's INBOX, as a mail server delivering it would.
    pub async fn deliver(&self, raw: &str) {
        let raw = raw.replace("\r\n", "\n").replace('\n', "\r\n");
        let script = "import imaplib, sys\n\
                      m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))\n\
                      m.login(sys.argv[2], sys.argv[3])\n\
                      typ, _ = m.append('INBOX', None, None, sys.stdin.buffer.read())\n\
                      assert typ == 'OK', typ\n\
                      m.logout()\n";
        let mut child = tokio::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.user)
            .arg(&self.password)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin.write_all(raw.as_bytes()).await.expect("write the message");
        }
        assert!(child.wait().await.expect("python3").success(), "the message was delivered");
    }
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
