//! Schema migrations: numbered SQL files, one per dialect with the same name, embedded in the
//! binary and applied in order at start-up. An applied migration is never edited; a change is a
//! new file. After the SQL files, the standard objects are created from metadata
//! ([`crate::schema::ensure_standard_objects`]).

use crate::sql::now;
use crate::{Db, Dialect, Result};
use sqlx::{Acquire, Row};

/// One migration: version, name, SQLite text, PostgreSQL text (the engine's, or a module's).
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_core.sql",
        sqlite: include_str!("../migrations/sqlite/0001_core.sql"),
        postgres: include_str!("../migrations/postgres/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "0002_views.sql",
        sqlite: include_str!("../migrations/sqlite/0002_views.sql"),
        postgres: include_str!("../migrations/postgres/0002_views.sql"),
    },
    Migration {
        version: 3,
        name: "0003_import_log.sql",
        sqlite: include_str!("../migrations/sqlite/0003_import_log.sql"),
        postgres: include_str!("../migrations/postgres/0003_import_log.sql"),
    },
    Migration {
        version: 4,
        name: "0004_import_jobs.sql",
        sqlite: include_str!("../migrations/sqlite/0004_import_jobs.sql"),
        postgres: include_str!("../migrations/postgres/0004_import_jobs.sql"),
    },
    Migration {
        version: 5,
        name: "0005_search_terms_keyed.sql",
        sqlite: include_str!("../migrations/sqlite/0005_search_terms_keyed.sql"),
        postgres: include_str!("../migrations/postgres/0005_search_terms_keyed.sql"),
    },
    Migration {
        version: 6,
        name: "0006_deferred_indexes.sql",
        sqlite: include_str!("../migrations/sqlite/0006_deferred_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0006_deferred_indexes.sql"),
    },
    Migration {
        version: 7,
        name: "0007_rollups.sql",
        sqlite: include_str!("../migrations/sqlite/0007_rollups.sql"),
        postgres: include_str!("../migrations/postgres/0007_rollups.sql"),
    },
    Migration {
        version: 8,
        name: "0008_terms_by_key.sql",
        sqlite: include_str!("../migrations/sqlite/0008_terms_by_key.sql"),
        postgres: include_str!("../migrations/postgres/0008_terms_by_key.sql"),
    },
    Migration {
        version: 9,
        name: "0009_events_in_audit_log.sql",
        sqlite: include_str!("../migrations/sqlite/0009_events_in_audit_log.sql"),
        postgres: include_str!("../migrations/postgres/0009_events_in_audit_log.sql"),
    },
    Migration {
        version: 10,
        name: "0010_idempotency_request_hash.sql",
        sqlite: include_str!("../migrations/sqlite/0010_idempotency_request_hash.sql"),
        postgres: include_str!("../migrations/postgres/0010_idempotency_request_hash.sql"),
    },
    Migration {
        version: 11,
        name: "0011_trashed_objects.sql",
        sqlite: include_str!("../migrations/sqlite/0011_trashed_objects.sql"),
        postgres: include_str!("../migrations/postgres/0011_trashed_objects.sql"),
    },
    Migration {
        version: 12,
        name: "0012_substring_index.sql",
        sqlite: include_str!("../migrations/sqlite/0012_substring_index.sql"),
        postgres: include_str!("../migrations/postgres/0012_substring_index.sql"),
    },
    Migration {
        version: 13,
        name: "0013_teams_and_access.sql",
        sqlite: include_str!("../migrations/sqlite/0013_teams_and_access.sql"),
        postgres: include_str!("../migrations/postgres/0013_teams_and_access.sql"),
    },
    Migration {
        version: 14,
        name: "0014_single_sign_on.sql",
        sqlite: include_str!("../migrations/sqlite/0014_single_sign_on.sql"),
        postgres: include_str!("../migrations/postgres/0014_single_sign_on.sql"),
    },
    Migration {
        version: 15,
        name: "0015_user_marks.sql",
        sqlite: include_str!("../migrations/sqlite/0015_user_marks.sql"),
        postgres: include_str!("../migrations/postgres/0015_user_marks.sql"),
    },
    Migration {
        version: 16,
        name: "0016_event_stream.sql",
        sqlite: include_str!("../migrations/sqlite/0016_event_stream.sql"),
        postgres: include_str!("../migrations/postgres/0016_event_stream.sql"),
    },
    Migration {
        version: 17,
        name: "0017_lapsed_jobs.sql",
        sqlite: include_str!("../migrations/sqlite/0017_lapsed_jobs.sql"),
        postgres: include_str!("../migrations/postgres/0017_lapsed_jobs.sql"),
    },
    Migration {
        version: 18,
        name: "0018_compound_indexes.sql",
        sqlite: include_str!("../migrations/sqlite/0018_compound_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0018_compound_indexes.sql"),
    },
];

/// A lock key for PostgreSQL, so that instances starting together migrate one at a time.
const PG_MIGRATION_LOCK: i64 = 7_277_001;

/// Applies the migrations not yet applied and makes sure the standard objects exist.
/// Returns the versions applied now.
pub async fn run(db: &Db) -> Result<Vec<i64>> {
    let mut conn = db.pool().acquire().await?;
    if db.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)").bind(PG_MIGRATION_LOCK).execute(&mut *conn).await?;
    }
    // The standard objects are ensured under the same lock, so two instances starting together
    // do not both create them; so are the indexes a killed bulk load set aside, built before
    // anything reads.
    let result = async {
        let applied = apply(db, &mut conn).await?;
        crate::schema::ensure_standard_objects(db).await?;
        let built = db.build_deferred_indexes().await?;
        if built > 0 {
            tracing::warn!(built, "built the indexes an interrupted bulk load had set aside");
        }
        db.ensure_substring_indexes().await?;
        Ok(applied)
    }
    .await;
    if db.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_MIGRATION_LOCK).execute(&mut *conn).await?;
    }
    result
}

/// Applies only the SQL migrations (no standard objects): the first step of restoring a dump.
pub async fn run_sql_only(db: &Db) -> Result<Vec<i64>> {
    let mut conn = db.pool().acquire().await?;
    apply(db, &mut conn).await
}

async fn apply(db: &Db, conn: &mut sqlx::pool::PoolConnection<sqlx::Any>) -> Result<Vec<i64>> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut **conn)
    .await?;
    let rows = sqlx::query("SELECT version FROM schema_migrations").fetch_all(&mut **conn).await?;
    let done: Vec<i64> = rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let mut tx = conn.begin().await?;
        let text = match db.dialect() {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        sqlx::raw_sql(text).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        applied.push(m.version);
    }
    apply_modules(db, conn).await?;
    Ok(applied)
}

/// Applies the modules' own migrations (`hooks::Module::migrations`) not yet applied, each
/// module's in order, kept apart from the engine's by module name.
async fn apply_modules(db: &Db, conn: &mut sqlx::pool::PoolConnection<sqlx::Any>) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS module_migrations (module TEXT NOT NULL, version BIGINT NOT NULL, \
         name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (module, version))",
    )
    .execute(&mut **conn)
    .await?;
    for module in db.modules().list() {
        let rows = sqlx::query("SELECT version FROM module_migrations WHERE module = $1")
            .bind(module.name())
            .fetch_all(&mut **conn)
            .await?;
        let done: Vec<i64> = rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
        for m in module.migrations().iter().filter(|m| !done.contains(&m.version)) {
            let mut tx = conn.begin().await?;
            let text = match db.dialect() {
                Dialect::Sqlite => m.sqlite,
                Dialect::Postgres => m.postgres,
            };
            sqlx::raw_sql(text).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO module_migrations (module, version, name, applied_at) VALUES ($1, $2, $3, $4)")
                .bind(module.name())
                .bind(m.version)
                .bind(m.name)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(module = module.name(), version = m.version, name = m.name, "applied migration");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(path)
            .expect("migrations folder")
            .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn both_dialects_have_the_same_migrations_and_all_are_embedded() {
        let sqlite = names("sqlite");
        assert_eq!(sqlite, names("postgres"));
        let embedded: Vec<String> = MIGRATIONS.iter().map(|m| m.name.to_string()).collect();
        assert_eq!(sqlite, embedded);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }
}
