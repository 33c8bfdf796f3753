//! Secondary indexes set aside during a bulk load. Filling an empty table with millions of rows
//! while its indexes are kept up to date touches index pages in random order (a million contacts'
//! activities by contact, by company): each batch dirties thousands of pages, written to the log
//! and again at every checkpoint. Built once after the load, an index is one sort and one write
//! front to back.
//!
//! Only non-unique indexes are set aside: primary keys and unique indexes keep the data valid
//! while it loads, and the load's own checks read them. Each dropped index is noted in
//! `deferred_indexes` with the statement that builds it, in the same transaction as the drop, and
//! start-up ([`crate::migrate::run`]) builds any that a killed load left there: no database stays
//! without an index.

use crate::schema::exec;
use crate::{Db, Dialect, Result, WriteTx};
use sqlx::{AssertSqlSafe, Row};

/// Tables every record write adds to, besides the record's own.
pub(crate) const SHARED_RECORD_TABLES: [&str; 4] = ["record_values", "search_terms", "audit_log", "import_log"];

/// A shared table's indexes are set aside only while it holds fewer rows than this: rebuilding
/// them then costs less than the load saves.
const SMALL_SHARED_TABLE: i64 = 100_000;

/// Indexes whose keys begin with an id made at the write (time-ordered), so a load only ever adds
/// to their last pages: kept while it loads, as keeping them costs little, and building them
/// afterwards reads the whole table again (the audit log of the 13.4 million generated
/// records: 210 s, most of it reading back from disk a table written long before). The pending
/// events' index is the audit log's too (its key is the entry's id).
const APPENDED_INDEXES: [&str; 2] = ["ix_audit_log_record", "ix_audit_log_pending"];

/// Whether `index` of `table` stays while a load fills the table: one of [`APPENDED_INDEXES`], or
/// one of a record table's system indexes ([`crate::schema::system_indexes`]): a load writes
/// every record with the time of the write as its creation and last change (in id order within
/// that time), so those two indexes grow only at their end too, and the trash's index holds no
/// loaded record; building each after the load was one more pass over the table (ten million
/// activities: about 10 s each, the empty trash's as long as the others).
fn kept_through_load(table: &str, index: &str) -> bool {
    APPENDED_INDEXES.contains(&index) || crate::schema::system_indexes(table).iter().any(|(name, _, _)| name == index)
}

impl Db {
    /// Before filling `objects` with a bulk load: if all their tables are empty, sets aside the
    /// non-unique indexes of those tables and of the shared tables that are still small, and
    /// returns how many. Returns 0 (and changes nothing) if any of them holds a record.
    /// [`Db::build_deferred_indexes`] builds them again.
    pub async fn defer_indexes_for_load(&self, objects: &[&str]) -> Result<usize> {
        let mut tables = Vec::new();
        for object in objects {
            tables.push(self.object(object).await?.table.clone());
        }
        let mut tx = self.write_long().await?;
        for table in &tables {
            if rows_up_to(&mut tx, table, 1).await? > 0 {
                return Ok(0);
            }
        }
        for table in SHARED_RECORD_TABLES {
            if rows_up_to(&mut tx, table, SMALL_SHARED_TABLE).await? < SMALL_SHARED_TABLE {
                tables.push(table.to_string());
            }
        }
        let mut deferred = 0;
        for table in &tables {
            for (name, definition) in non_unique_indexes(&mut tx, self.dialect(), table).await? {
                if kept_through_load(table, &name) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO deferred_indexes (name, table_name, definition) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name.clone())
                .bind(table.clone())
                .bind(definition)
                .execute(&mut *tx.tx)
                .await?;
                exec(&mut tx, &format!("DROP INDEX {name}")).await?;
                deferred += 1;
            }
        }
        tx.commit().await?;
        Ok(deferred)
    }

    /// Builds every index set aside (by this process's load or by one that was killed), one
    /// transaction each, and returns how many it built.
    pub async fn build_deferred_indexes(&self) -> Result<usize> {
        let pending: Vec<(String, String)> =
            sqlx::query("SELECT name, definition FROM deferred_indexes ORDER BY table_name, name")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<std::result::Result<_, sqlx::Error>>()?;
        let built = self.build_each(&pending).await;
        if self.dialect() == Dialect::Sqlite && !pending.is_empty() {
            // Back to the writer's settings, whether or not every build succeeded.
            let mut tx = self.write_long().await?;
            exec(&mut tx, "PRAGMA temp_store = MEMORY; PRAGMA threads = 0").await?;
            tx.commit().await?;
        }
        built?;
        Ok(pending.len())
    }

    async fn build_each(&self, pending: &[(String, String)]) -> Result<()> {
        for (name, definition) in pending {
            let mut tx = self.write_long().await?;
            match self.dialect() {
                // The writer keeps temporary data in memory (statement journals, see `connect_for`);
                // an index's sort spills to files instead, or a ten-million-row index would be
                // sorted in a gigabyte of memory. A second thread sorts beside the first.
                Dialect::Sqlite => exec(&mut tx, "PRAGMA temp_store = FILE; PRAGMA threads = 2").await?,
                // The sort of a ten-million-row index in memory instead of in many small runs.
                Dialect::Postgres => exec(&mut tx, "SET LOCAL maintenance_work_mem = '256MB'").await?,
            }
            exec(&mut tx, &if_not_exists(definition)).await?;
            sqlx::query("DELETE FROM deferred_indexes WHERE name = $1").bind(name.clone()).execute(&mut *tx.tx).await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

impl Db {
    /// The names of `table`'s indexes (those SQLite makes for a primary key or a `UNIQUE`
    /// constraint left out), sorted.
    pub async fn index_names(&self, table: &str) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        let mut names: Vec<String> =
            index_definitions(&mut conn, self.dialect(), table).await?.into_iter().map(|(name, _)| name).collect();
        names.sort();
        Ok(names)
    }
}

/// How many rows `table` holds, counting no further than `limit`.
async fn rows_up_to(tx: &mut WriteTx, table: &str, limit: i64) -> Result<i64> {
    let row = sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT {limit}) t")))
        .fetch_one(&mut *tx.tx)
        .await?;
    Ok(row.try_get(0)?)
}

/// The name and defining statement of each index of `table`, without the ones that back a
/// primary key or a constraint (SQLite's have no statement; PostgreSQL's are named after theirs).
async fn index_definitions(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    table: &str,
) -> Result<Vec<(String, String)>> {
    let query = match dialect {
        Dialect::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL"
        }
        Dialect::Postgres => {
            "SELECT CAST(indexname AS TEXT), indexdef FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename = $1 AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        }
    };
    let rows = sqlx::query(query).bind(table.to_string()).fetch_all(&mut *conn).await?;
    Ok(rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<std::result::Result<_, sqlx::Error>>()?)
}

/// The indexes of `table` that check nothing (unique ones left out).
async fn non_unique_indexes(tx: &mut WriteTx, dialect: Dialect, table: &str) -> Result<Vec<(String, String)>> {
    let all = index_definitions(&mut tx.tx, dialect, table).await?;
    Ok(all.into_iter().filter(|(_, d)| !d.trim_start().to_ascii_uppercase().starts_with("CREATE UNIQUE")).collect())
}

/// `CREATE INDEX …` as `CREATE INDEX IF NOT EXISTS …`, so building an index that is already there
/// (another instance built it at start-up) is not an error.
fn if_not_exists(definition: &str) -> String {
    let trimmed = definition.trim_start();
    let head = "CREATE INDEX ";
    if trimmed.len() >= head.len() && trimmed[..head.len()].eq_ignore_ascii_case(head) {
        let rest = trimmed[head.len()..].trim_start();
        if rest.len() >= 14 && rest[..14].eq_ignore_ascii_case("IF NOT EXISTS ") {
            return trimmed.to_string();
        }
        return format!("CREATE INDEX IF NOT EXISTS {rest}");
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::if_not_exists;

    #[test]
    fn building_again_tolerates_an_existing_index() {
        assert_eq!(if_not_exists("CREATE INDEX ix_a ON t (a)"), "CREATE INDEX IF NOT EXISTS ix_a ON t (a)");
        assert_eq!(if_not_exists("create index ix_a ON t (a)"), "CREATE INDEX IF NOT EXISTS ix_a ON t (a)");
        assert_eq!(
            if_not_exists("CREATE INDEX IF NOT EXISTS ix_a ON t (a, id) WHERE deleted_at IS NULL"),
            "CREATE INDEX IF NOT EXISTS ix_a ON t (a, id) WHERE deleted_at IS NULL"
        );
    }
}
