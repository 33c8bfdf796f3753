//! Names as duplicates compare them, kept where an index finds them: one record's likely
//! duplicates by name (`merge::duplicates`, on every customer's page) are then one index read
//! instead of a search for the name's words, which for a common name reads thousands of terms.
//!
//! The duplicates scan (`queue::scan`) writes every record's key; after it, the consumer
//! [`Keeper`] keeps each record's key as it is created, renamed, trashed or restored, a moment
//! after the change commits. Until a first scan of an object, or for a change the consumer has
//! not reached yet, [`merge::duplicates`](super::merge::duplicates) looks further (the search,
//! the records changed last), so a twin typed a second ago is still found.
//!
//! **Invariant:** after an object's first scan, each of its live records whose key is three
//! characters or more has its row here, written by the scan or by the consumer since; a trashed
//! record has none.

use super::merge::name_key;
use super::queue::OBJECTS;
use peyvand_store::events::Event;
use peyvand_store::runner::{Consumer, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx};
use serde_json::Value as Json;
use sqlx::Row;

/// Shortest key kept and looked for (shorter names say too little).
pub const SHORTEST: usize = 3;

/// Whether a name's key is long enough to compare.
pub fn usable(key: &str) -> bool {
    key.chars().count() >= SHORTEST
}

/// Replaces the keys of `object` with `keys` (record id, key), as a scan read them.
pub(crate) async fn replace_all(tx: &mut WriteTx, object: &str, keys: &[(&str, String)]) -> Result<()> {
    sqlx::query("DELETE FROM name_keys WHERE object = $1").bind(object.to_string()).execute(&mut *tx.tx).await?;
    for chunk in keys.chunks(300) {
        let mut sql = String::from("INSERT INTO name_keys (object, record_id, name_key) VALUES ");
        for n in 0..chunk.len() {
            let p = n * 2;
            sql.push_str(&format!("{}($1, ${}, ${})", if n > 0 { ", " } else { "" }, p + 2, p + 3));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(object.to_string());
        for (id, key) in chunk {
            q = q.bind(id.to_string()).bind(key.clone());
        }
        q.execute(&mut *tx.tx).await?;
    }
    Ok(())
}

/// Writes (or removes, when the record is gone or its key too short) one record's key.
pub async fn refresh(db: &Db, object: &str, record_id: &str) -> Result<()> {
    let key = match db.system().get_record(object, record_id, false).await {
        Ok(r) => Some(name_key(&r.title)).filter(|k| usable(k)),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let mut tx = db.write().await?;
    match key {
        Some(key) => {
            sqlx::query(
                "INSERT INTO name_keys (object, record_id, name_key) VALUES ($1, $2, $3) \
                 ON CONFLICT (object, record_id) DO UPDATE SET name_key = excluded.name_key",
            )
            .bind(object.to_string())
            .bind(record_id.to_string())
            .bind(key)
            .execute(&mut *tx.tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM name_keys WHERE object = $1 AND record_id = $2")
                .bind(object.to_string())
                .bind(record_id.to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
    }
    tx.commit().await
}

/// Ids of records of `object` whose key is `key` (other than `except`), at most `limit`.
pub async fn matching(db: &Db, object: &str, key: &str, except: &str, limit: u32) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT record_id FROM name_keys WHERE object = $1 AND name_key = $2 AND record_id <> $3 LIMIT $4")
            .bind(object.to_string())
            .bind(key.to_string())
            .bind(except.to_string())
            .bind(i64::from(limit))
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// The consumer that keeps each record's key after its change.
pub struct Keeper;

impl Consumer for Keeper {
    fn name(&self) -> &'static str {
        "customers.name_keys"
    }

    fn handle<'a>(&'a self, db: &'a Db, event: &'a Event) -> Outcome<'a> {
        Box::pin(async move {
            if !OBJECTS.contains(&event.object.as_str()) {
                return Ok(());
            }
            // An update that changes no field of the title leaves the key as it was.
            if event.action == "update" {
                let obj = db.object(&event.object).await.map_err(|e| e.to_string())?;
                let renamed = event
                    .changes
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.get("field").and_then(Json::as_str))
                    .any(|f| obj.title_field.split(' ').any(|t| t == f));
                if !renamed {
                    return Ok(());
                }
            }
            refresh(db, &event.object, &event.record_id).await.map_err(|e| e.to_string())
        })
    }
}
