//! Fresh databases for tests, on both backends: a temporary SQLite file, and a new PostgreSQL
//! database when `PEYVAND_TEST_DATABASE_URL` names a server (CI sets it).

use crate::sql::new_id;
use sqlx::{AssertSqlSafe, Connection};

/// The environment variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "PEYVAND_TEST_DATABASE_URL";

/// The backends a storage test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database made for one test; PostgreSQL databases are dropped by [`TestDb::cleanup`].
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    path: Option<std::path::PathBuf>,
}

impl TestDb {
    /// A fresh, empty database on `backend`, or `None` (with a line saying so) when the
    /// PostgreSQL server is not configured.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let name = format!("peyvand_t_{}", new_id().replace('-', ""));
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("peyvand-tests");
                std::fs::create_dir_all(&dir).ok()?;
                let path = dir.join(format!("{name}.db"));
                Some(TestDb { url: format!("sqlite://{}", path.display()), admin_url: None, name, path: Some(path) })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(PG_ENV) else {
                    eprintln!("skipped: no PostgreSQL ({PG_ENV} is not set)");
                    return None;
                };
                sqlx::any::install_default_drivers();
                let mut conn =
                    sqlx::AnyConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL server");
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
                let url = format!("{base}/{name}");
                Some(TestDb { url, admin_url: Some(admin_url), name, path: None })
            }
        }
    }

    /// A SQLite database in a file of the caller's choosing (a test on a small filesystem, say).
    pub fn sqlite_at(path: &std::path::Path) -> TestDb {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        TestDb { url: format!("sqlite://{}", path.display()), admin_url: None, name, path: Some(path.to_path_buf()) }
    }

    /// PostgreSQL only: makes the database refuse new connections and ends the open ones
    /// (`refuse`), or accept them again, as a server going away and coming back would.
    pub async fn refuse_connections(&self, refuse: bool) {
        let admin = self.admin_url.as_deref().expect("a PostgreSQL test database");
        let mut conn = sqlx::AnyConnection::connect(admin).await.expect("connect to the test PostgreSQL server");
        let mut statements = vec![format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}", self.name, !refuse)];
        if refuse {
            statements.push(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.name
            ));
        }
        for sql in statements {
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.expect("an administrative statement");
        }
        conn.close().await.ok();
    }

    /// Removes the database (after the pools using it are closed).
    pub async fn cleanup(self) {
        if let Some(path) = &self.path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some(admin) = &self.admin_url
            && let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await
        {
            let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
                .execute(&mut conn)
                .await;
        }
    }
}

/// Runs `test` on a fresh database of `backend`, opened and migrated, then closes and removes
/// it; without a PostgreSQL server it says the test was skipped and returns.
pub async fn run_on(backend: Backend, test: impl AsyncFnOnce(&crate::Db)) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = crate::Db::open(&test_db.url).await.expect("open the test database");
    test(&db).await;
    db.close().await;
    test_db.cleanup().await;
}

/// One test per backend for each named `async fn(&Db)`: `mod NAME { sqlite, postgres }`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::testing::run_on($crate::testing::Backend::Sqlite, super::$name).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::testing::run_on($crate::testing::Backend::Postgres, super::$name).await;
                }
            }
        )*
    };
}

/// SQLite only: copies the write-ahead log into the database and empties the log file, so the
/// next commit needs new space on the disk (a test of a full disk).
pub async fn truncate_sqlite_log(db: &crate::Db) {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&db.writer).await.expect("checkpoint");
}
