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
