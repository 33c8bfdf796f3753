//! Portable dumps: every table of a Peyvand database as JSON lines, read inside one transaction
//! (a consistent snapshot while the server runs), and loaded into an empty database of either
//! backend. `peyvand backup`, `restore` and `migrate-data` are built on it.
//!
//! Format: a first line `{"peyvand_dump": 1, "schema_version": N, "dialect": …}`, then for each
//! table a line `{"table": T, "columns": [[name, "TEXT"|"BIGINT"], …]}` followed by one line per
//! row `{"row": [v, …]}` in column order, and a last line `{"end": true, "rows": total}`.

use crate::migrate::{MIGRATIONS, run_sql_only};
use crate::schema::{create_indexes, create_system_indexes, exec};
use crate::sql::{Bind, Sql};
use crate::{Db, Dialect, Error, Result};
use serde_json::{Value as Json, json};
use sqlx::{AssertSqlSafe, Row};
use std::io::{BufRead, Write};

/// The format version written in the first line.
pub const DUMP_VERSION: i64 = 1;

/// Tables copied, parents before children; record tables (`r_*`) follow them. The rows of a
/// table that refers to itself (`teams.parent_id`) are written parents first.
/// Rollups and compound indexes travel as their declarations and are built again on arrival. (Dumps of schema 8 and
/// before also hold an `outbox` table; see [`RETIRED_OUTBOX`].)
pub const TABLES: [&str; 25] = [
    "meta_version",
    "meta_objects",
    "meta_fields",
    "meta_field_history",
    "meta_rollups",
    "meta_compound_indexes",
    "users",
    "api_tokens",
    "views",
    "audit_log",
    "record_values",
    "search_terms",
    "teams",
    "team_members",
    "access_rules",
    "record_shares",
    "field_access",
    "handovers",
    "security_log",
    "two_factor",
    "recovery_codes",
    "role_settings",
    "sso_identities",
    "user_marks",
    "scheduled_jobs",
];

/// Tables that stay behind: sessions and sign-ins under way, login failures, idempotency keys,
/// import jobs, the migrations' own bookkeeping. Every other table is in [`TABLES`] (a test
/// holds it so).
pub const TRANSIENT: [&str; 12] = [
    "schema_migrations",
    "module_migrations",
    "deferred_indexes",
    "sessions",
    "login_failures",
    "idempotency_keys",
    "import_jobs",
    "import_log",
    "pending_sign_ins",
    "sso_sign_ins",
    "event_consumers",
    "event_failures",
];

impl Db {
    /// The tables a dump copies before the objects' own: the engine's ([`TABLES`]) and the
    /// modules' (`hooks::Module::tables`).
    pub fn dump_tables(&self) -> Vec<String> {
        let modules = self.modules().list().iter().flat_map(|m| m.tables().iter());
        TABLES.iter().chain(modules).map(|t| t.to_string()).collect()
    }
}

async fn columns(conn: &mut sqlx::AnyConnection, dialect: Dialect, table: &str) -> Result<Vec<(String, String)>> {
    let rows = match dialect {
        Dialect::Sqlite => {
            sqlx::query(AssertSqlSafe(format!("SELECT name, type FROM pragma_table_info('{table}') ORDER BY cid")))
                .fetch_all(&mut *conn)
                .await?
        }
        Dialect::Postgres => {
            sqlx::query(
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' \
                 ORDER BY ordinal_position",
            )
            .bind(table.to_string())
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(0)?;
            let ty: String = r.try_get(1)?;
            let ty = if ty.to_uppercase().contains("INT") { "BIGINT" } else { "TEXT" };
            Ok((name, ty.to_string()))
        })
        .collect()
}

fn valid_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Db {
    /// Writes a consistent dump of every table to `out`; returns the number of rows.
    pub async fn dump(&self, out: &mut impl Write) -> Result<u64> {
        let mut conn = self.pool().acquire().await?;
        let begin = match self.dialect() {
            Dialect::Sqlite => "BEGIN",
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        sqlx::query(begin).execute(&mut *conn).await?;
        let result = self.dump_in(&mut conn, out).await;
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        result
    }

    async fn dump_in(&self, conn: &mut sqlx::AnyConnection, out: &mut impl Write) -> Result<u64> {
        let io = |e: std::io::Error| Error::Config(format!("cannot write the dump: {e}"));
        let version: i64 =
            sqlx::query("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut *conn).await?.try_get(0)?;
        writeln!(
            out,
            "{}",
            json!({ "peyvand_dump": DUMP_VERSION, "schema_version": version, "dialect": self.dialect().name() })
        )
        .map_err(io)?;
        let objects =
            sqlx::query("SELECT table_name FROM meta_objects ORDER BY created_at").fetch_all(&mut *conn).await?;
        let mut tables = self.dump_tables();
        for r in &objects {
            tables.push(r.try_get(0)?);
        }
        let mut total = 0u64;
        for table in tables {
            if !valid_identifier(&table) {
                return Err(Error::Corrupt(format!("table name {table}")));
            }
            let cols = columns(conn, self.dialect(), &table).await?;
            writeln!(out, "{}", json!({ "table": table, "columns": cols })).map_err(io)?;
            let list = cols.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
            let mut rows =
                sqlx::query(AssertSqlSafe(format!("SELECT {list} FROM {table}"))).fetch_all(&mut *conn).await?;
            if let Some(parent) = cols.iter().position(|(c, _)| c == "parent_id") {
                rows = parents_first(rows, parent)?;
            }
            for row in &rows {
                let mut values = Vec::with_capacity(cols.len());
                for (i, (_, ty)) in cols.iter().enumerate() {
                    values.push(if ty == "BIGINT" {
                        row.try_get::<Option<i64>, _>(i)?.map(Json::from).unwrap_or(Json::Null)
                    } else {
                        row.try_get::<Option<String>, _>(i)?.map(Json::from).unwrap_or(Json::Null)
                    });
                }
                writeln!(out, "{}", json!({ "row": values })).map_err(io)?;
                total += 1;
            }
        }
        writeln!(out, "{}", json!({ "end": true, "rows": total })).map_err(io)?;
        out.flush().map_err(io)?;
        Ok(total)
    }

    /// Loads a dump into this database, which must be empty (no objects yet), in one transaction:
    /// either all of it arrives or nothing does. Returns the number of rows.
    pub async fn restore(&self, input: impl BufRead) -> Result<u64> {
        run_sql_only(self).await?;
        let existing: i64 =
            sqlx::query("SELECT COUNT(*) FROM meta_objects").fetch_one(self.pool()).await?.try_get(0)?;
        if existing > 0 {
            return Err(Error::conflict("target_not_empty"));
        }
        let bad = |what: &str| Error::Corrupt(format!("not a Peyvand dump: {what}"));
        let mut lines = input.lines();
        let first: Json =
            serde_json::from_str(&lines.next().ok_or_else(|| bad("empty"))?.map_err(|e| bad(&e.to_string()))?)
                .map_err(|_| bad("first line"))?;
        if first["peyvand_dump"] != json!(DUMP_VERSION) {
            return Err(bad("unknown format version"));
        }
        let schema = first["schema_version"].as_i64().unwrap_or(0);
        if schema > MIGRATIONS.len() as i64 {
            return Err(Error::Config(format!("the dump comes from a newer Peyvand (schema {schema}); upgrade first")));
        }
        let mut tx = self.write_long().await?;
        // The standard tables start empty except for the metadata version row.
        exec(&mut tx, "DELETE FROM meta_version").await?;
        let mut table = String::new();
        let mut cols: Vec<(String, String)> = Vec::new();
        let mut batch: Vec<Vec<Json>> = Vec::new();
        let mut total = 0u64;
        let mut ended = false;
        for line in lines {
            let line = line.map_err(|e| bad(&e.to_string()))?;
            let item: Json = serde_json::from_str(&line).map_err(|_| bad("a line is not JSON"))?;
            if let Some(row) = item.get("row").and_then(Json::as_array) {
                if row.len() != cols.len() {
                    return Err(bad("a row does not match its columns"));
                }
                batch.push(row.clone());
                total += 1;
                if batch.len() >= 200 {
                    insert_rows(&mut tx, self.dialect(), &table, &cols, &std::mem::take(&mut batch)).await?;
                }
                continue;
            }
            insert_rows(&mut tx, self.dialect(), &table, &cols, &std::mem::take(&mut batch)).await?;
            if item.get("end").is_some() {
                ended = true;
                break;
            }
            table = item["table"].as_str().ok_or_else(|| bad("a table line without a name"))?.to_string();
            if !valid_identifier(&table) {
                return Err(bad("a table name"));
            }
            cols = serde_json::from_value(item["columns"].clone()).map_err(|_| bad("columns"))?;
            if cols.iter().any(|(c, t)| !valid_identifier(c) || (t != "TEXT" && t != "BIGINT")) {
                return Err(bad("a column"));
            }
            if table.starts_with("r_") {
                let defs = cols
                    .iter()
                    .map(|(c, t)| if c == "id" { "id TEXT PRIMARY KEY".to_string() } else { format!("{c} {t}") })
                    .collect::<Vec<_>>()
                    .join(", ");
                exec(&mut tx, &format!("CREATE TABLE {table} ({defs})")).await?;
                create_system_indexes(&mut tx, self.dialect(), &table).await?;
            }
        }
        if !ended {
            return Err(bad("the dump is cut short"));
        }
        // Field indexes, from the metadata just loaded.
        let catalog = crate::catalog::load(&mut tx.tx).await?;
        for object in &catalog.objects {
            for field in object.fields.iter().filter(|f| !f.archived) {
                create_indexes(&mut tx, self.dialect(), &object.table, field).await?;
            }
        }
        // Rollups, filled from the records just loaded.
        for rollup in &catalog.rollups {
            let object = catalog.object(&rollup.object).ok_or_else(|| bad("a rollup of no object"))?;
            crate::rollups::build_in(&mut tx, self.dialect(), &object, rollup).await?;
        }
        crate::compound::build_all_in(&mut tx, &catalog).await?;
        tx.commit().await?;
        let catalog = self.replace_catalog().await?;
        // Every table was filled at once: on PostgreSQL the planner has no statistics yet, and
        // without them planned a look-up as a loop over every record (as imports found).
        let objects: Vec<&str> = catalog.objects.iter().map(|o| o.api_name.as_str()).collect();
        self.refresh_statistics(&objects).await?;
        Ok(total)
    }

    /// Copies everything from `source` into this (empty) database, through a dump in a
    /// temporary file (so memory stays flat however large the database).
    pub async fn copy_from(&self, source: &Db) -> Result<u64> {
        let path = std::env::temp_dir().join(format!("peyvand-copy-{}.jsonl", crate::sql::new_id()));
        let io = |e: std::io::Error| Error::Config(format!("temporary file {}: {e}", path.display()));
        let result = async {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
            source.dump(&mut out).await?;
            drop(out);
            self.restore(std::io::BufReader::new(std::fs::File::open(&path).map_err(io)?)).await
        }
        .await;
        let _ = std::fs::remove_file(&path);
        result
    }
}

/// Orders the rows of a table whose `parent_id` names another row's `id` (column 0) so that
/// each comes after its parent: a restore inserts them in this order, and the reference holds
/// at every step.
fn parents_first(rows: Vec<sqlx::any::AnyRow>, parent: usize) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        let parent_id: Option<String> = row.try_get(parent)?;
        pending.push((id, parent_id, row));
    }
    let mut placed = std::collections::HashSet::new();
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let (ready, waiting): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|(_, parent_id, _)| parent_id.as_ref().is_none_or(|p| placed.contains(p)));
        for (id, _, row) in ready {
            placed.insert(id);
            ordered.push(row);
        }
        pending = waiting;
        if pending.len() == before {
            return Err(Error::Corrupt("a row's parent is missing or a row is its own ancestor".into()));
        }
    }
    Ok(ordered)
}

/// The table that held each audit entry's event until schema 9, when the audit entry became the
/// event (`published_at`, empty while pending). An older dump's rows of it are not copied: each
/// one's audit entry arrives before it (`TABLES` order), pending, and is marked published if the
/// event had been processed.
const RETIRED_OUTBOX: &str = "outbox";

async fn insert_rows(
    tx: &mut crate::WriteTx,
    dialect: Dialect,
    table: &str,
    cols: &[(String, String)],
    rows: &[Vec<Json>],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    if table == RETIRED_OUTBOX {
        return publish_processed(tx, dialect, cols, rows).await;
    }
    let list = cols.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
    let mut sql = Sql::for_dialect(dialect, &format!("INSERT INTO {table} ({list}) VALUES "));
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(");
        for (j, ((_, ty), v)) in cols.iter().zip(row).enumerate() {
            if j > 0 {
                sql.push(", ");
            }
            sql.bind(if ty == "BIGINT" { Bind::Int(v.as_i64()) } else { Bind::Text(v.as_str().map(str::to_string)) });
        }
        sql.push(")");
    }
    sql.query().execute(&mut *tx.tx).await?;
    Ok(())
}

/// An older dump's outbox rows: the audit entry of each processed event marked published then.
async fn publish_processed(
    tx: &mut crate::WriteTx,
    dialect: Dialect,
    cols: &[(String, String)],
    rows: &[Vec<Json>],
) -> Result<()> {
    let position = |name: &str| {
        cols.iter()
            .position(|(c, _)| c == name)
            .ok_or_else(|| Error::Corrupt(format!("not a Peyvand dump: the outbox without {name}")))
    };
    let (id, processed) = (position("id")?, position("processed_at")?);
    for row in rows {
        let Some(at) = row[processed].as_str() else { continue };
        let mut sql = Sql::for_dialect(dialect, "UPDATE audit_log SET published_at = ");
        sql.bind(Bind::text(at)).push(" WHERE id = ").bind(Bind::Text(row[id].as_str().map(str::to_string)));
        sql.query().execute(&mut *tx.tx).await?;
    }
    Ok(())
}
