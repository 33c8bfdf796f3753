//! A user's marks on records: favourites (starred, kept until unstarred) and the records they
//! opened last (the newest [`MAX_RECENT`]), for the side navigation and the command palette.
//!
//! **Invariants:** a mark names an object by id (a renamed object keeps its marks); marks are
//! read through the user's own handle, so a record they can no longer read is not listed.

use crate::sql::now;
use crate::{Db, Result};
use sqlx::Row;

/// Recent records kept per user.
pub const MAX_RECENT: i64 = 20;
/// Favourites kept per user.
pub const MAX_FAVOURITES: i64 = 100;

/// A marked record, with its title as the user may read it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Marked {
    pub object: String,
    pub id: String,
    pub title: String,
}

impl Db {
    /// Notes that the user opened a record (no write when it is their latest already).
    pub async fn mark_recent(&self, user: &str, object: &str, id: &str) -> Result<()> {
        let obj = self.object(object).await?;
        let latest = sqlx::query(
            "SELECT object_id, record_id FROM user_marks WHERE user_id = $1 AND kind = 'recent' \
             ORDER BY at DESC LIMIT 1",
        )
        .bind(user.to_string())
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = latest
            && row.try_get::<String, _>(0)? == obj.id
            && row.try_get::<String, _>(1)? == id
        {
            return Ok(());
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO user_marks (user_id, kind, object_id, record_id, at) VALUES ($1, 'recent', $2, $3, $4) \
             ON CONFLICT (user_id, kind, object_id, record_id) DO UPDATE SET at = excluded.at",
        )
        .bind(user.to_string())
        .bind(obj.id.clone())
        .bind(id.to_string())
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
        sqlx::query(
            "DELETE FROM user_marks WHERE user_id = $1 AND kind = 'recent' AND at < (SELECT at FROM user_marks \
             WHERE user_id = $1 AND kind = 'recent' ORDER BY at DESC LIMIT 1 OFFSET $2)",
        )
        .bind(user.to_string())
        .bind(MAX_RECENT - 1)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    /// Stars or unstars a record for the user (a record they may read).
    pub async fn set_favourite(&self, user: &str, object: &str, id: &str, on: bool) -> Result<()> {
        let obj = self.object(object).await?;
        // Only a record the user may read is starred (not found otherwise).
        self.get_record(object, id, false).await?;
        let mut tx = self.write().await?;
        if on {
            let count: i64 = sqlx::query("SELECT COUNT(*) FROM user_marks WHERE user_id = $1 AND kind = 'favourite'")
                .bind(user.to_string())
                .fetch_one(&mut *tx.tx)
                .await?
                .try_get(0)?;
            if count >= MAX_FAVOURITES {
                return Err(crate::Error::conflict("too_many_favourites"));
            }
            sqlx::query(
                "INSERT INTO user_marks (user_id, kind, object_id, record_id, at) VALUES ($1, 'favourite', $2, $3, $4) \
                 ON CONFLICT (user_id, kind, object_id, record_id) DO NOTHING",
            )
            .bind(user.to_string())
            .bind(obj.id.clone())
            .bind(id.to_string())
            .bind(now())
            .execute(&mut *tx.tx)
            .await?;
        } else {
            sqlx::query(
                "DELETE FROM user_marks WHERE user_id = $1 AND kind = 'favourite' AND object_id = $2 AND record_id = $3",
            )
            .bind(user.to_string())
            .bind(obj.id.clone())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await
    }

    /// Whether the user starred a record.
    pub async fn is_favourite(&self, user: &str, object: &str, id: &str) -> Result<bool> {
        let obj = self.object(object).await?;
        let row = sqlx::query(
            "SELECT 1 FROM user_marks WHERE user_id = $1 AND kind = 'favourite' AND object_id = $2 AND record_id = $3",
        )
        .bind(user.to_string())
        .bind(obj.id.clone())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// The user's favourites (`recent` false) or recent records, newest first, at most
    /// `limit`, each with its title; records the user cannot read (or that are gone) are left out.
    pub async fn marks(&self, user: &str, recent: bool, limit: i64) -> Result<Vec<Marked>> {
        let rows = sqlx::query(
            "SELECT object_id, record_id FROM user_marks WHERE user_id = $1 AND kind = $2 ORDER BY at DESC LIMIT $3",
        )
        .bind(user.to_string())
        .bind(if recent { "recent" } else { "favourite" })
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let catalog = self.visible_catalog().await?;
        let mut wanted: Vec<(String, String)> = Vec::with_capacity(rows.len());
        for row in &rows {
            let object_id: String = row.try_get(0)?;
            if let Some(obj) = catalog.objects.iter().find(|o| o.id == object_id) {
                wanted.push((obj.api_name.clone(), row.try_get(1)?));
            }
        }
        let mut titles = std::collections::HashMap::new();
        let mut objects: Vec<&str> = wanted.iter().map(|(o, _)| o.as_str()).collect();
        objects.sort_unstable();
        objects.dedup();
        for object in objects {
            let ids: Vec<String> = wanted.iter().filter(|(o, _)| o == object).map(|(_, id)| id.clone()).collect();
            for (id, title) in self.titles(object, &ids).await? {
                titles.insert((object.to_string(), id), title);
            }
        }
        Ok(wanted
            .into_iter()
            .filter_map(|(object, id)| {
                let title = titles.get(&(object.clone(), id.clone()))?.clone();
                Some(Marked { object, id, title })
            })
            .collect())
    }
}
