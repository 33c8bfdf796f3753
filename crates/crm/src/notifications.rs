//! In-app notifications: what Peyvand tells a user (a task's reminder now; a workflow's message,
//! a ticket's assignment later), shown under the bell with an unread count. Each is written once
//! (its id is what made it: a reminder's job), whoever tries again.

use peyvand_records::access::OWNER_FIELD;
use peyvand_store::events::Event;
use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;
use peyvand_store::runner::{Consumer, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, now};
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::Row;
use std::sync::Arc;

/// The notifications module: its table, no objects.
pub struct Notifications;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_notifications.sql",
    sqlite: include_str!("../migrations/notifications/sqlite/0001_notifications.sql"),
    postgres: include_str!("../migrations/notifications/postgres/0001_notifications.sql"),
}];

impl Module for Notifications {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["notifications"]
    }

    fn consumers(&self) -> Vec<Arc<dyn Consumer>> {
        vec![Arc::new(Assignments)]
    }
}

/// The objects whose new owner is told that someone gave them a record: a task, a lead or a
/// ticket when made or handed on, a deal when handed on (deals made in bulk tell nobody).
const ASSIGNABLE: [(&str, bool); 4] = [("task", true), ("lead", true), ("ticket", true), ("deal", false)];

/// After commit, for every change of a record's owner by someone else (a manager's task for a
/// rep, a web form's lead, a deal handed on): the new owner is told, once per change.
pub(crate) struct Assignments;

impl Consumer for Assignments {
    fn name(&self) -> &'static str {
        "notifications.assignments"
    }

    fn handle<'a>(&'a self, db: &'a Db, event: &'a Event) -> Outcome<'a> {
        Box::pin(async move {
            let Some((_, on_create)) = ASSIGNABLE.iter().find(|(o, _)| *o == event.object) else { return Ok(()) };
            if !(event.action == "update" || (event.action == "create" && *on_create)) {
                return Ok(());
            }
            let owner = event
                .changes
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c.get("field").and_then(Json::as_str) == Some(OWNER_FIELD))
                .and_then(|c| c.get("new").and_then(Json::as_str));
            let Some(owner) = owner.filter(|o| event.actor.as_deref() != Some(*o)) else { return Ok(()) };
            let record = match db.system().get_record(&event.object, &event.record_id, false).await {
                Ok(r) => r,
                Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            let link = format!("/records/{}/{}", event.object, event.record_id);
            let id = format!("assigned:{}", event.id);
            let mut tx = db.write().await.map_err(|e| e.to_string())?;
            notify_in(&mut tx, &id, owner, "assigned", &record.title, Some(&link), None)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())
        })
    }
}

/// A notification as its user sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: String,
    /// What it is (`reminder`).
    pub kind: String,
    pub title: String,
    /// Where it leads (a record's page).
    pub link: Option<String>,
    /// The moment it is about (a task's due time), RFC 3339.
    pub about_at: Option<String>,
    pub created_at: String,
    pub read_at: Option<String>,
}

/// Longest title kept.
const MAX_TITLE: usize = 300;

/// Tells `user` something, in a write of the caller's: once for `id` (a second call with the
/// same id writes nothing and returns false).
pub async fn notify_in(
    tx: &mut WriteTx,
    id: &str,
    user: &str,
    kind: &str,
    title: &str,
    link: Option<&str>,
    about_at: Option<&str>,
) -> Result<bool> {
    let written = sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, title, link, about_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(user.to_string())
    .bind(kind.to_string())
    .bind(title.chars().take(MAX_TITLE).collect::<String>())
    .bind(link.map(str::to_string))
    .bind(about_at.map(str::to_string))
    .bind(now())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    Ok(written == 1)
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Notification> {
    Ok(Notification {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        title: r.try_get(2)?,
        link: r.try_get(3)?,
        about_at: r.try_get(4)?,
        created_at: r.try_get(5)?,
        read_at: r.try_get(6)?,
    })
}

/// A user's notifications, newest first (only the unread with `unread`), at most `limit`.
pub async fn list(db: &Db, user: &str, unread: bool, limit: i64) -> Result<Vec<Notification>> {
    let rows = sqlx::query(
        "SELECT id, kind, title, link, about_at, created_at, read_at FROM notifications \
         WHERE user_id = $1 AND ($2 = 0 OR read_at IS NULL) ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(user.to_string())
    .bind(i64::from(unread))
    .bind(limit.clamp(1, 200))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// How many of a user's notifications are unread.
pub async fn unread_count(db: &Db, user: &str) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
        .bind(user.to_string())
        .fetch_one(db.pool())
        .await?
        .try_get(0)?)
}

/// Marks one of the user's notifications read and returns it; another's is not found.
pub async fn mark_read(db: &Db, user: &str, id: &str) -> Result<Notification> {
    let mut tx = db.write().await?;
    sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2 AND user_id = $3 AND read_at IS NULL")
        .bind(now())
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(&mut *tx.tx)
        .await?;
    let row = sqlx::query(
        "SELECT id, kind, title, link, about_at, created_at, read_at FROM notifications WHERE id = $1 AND user_id = $2",
    )
    .bind(id.to_string())
    .bind(user.to_string())
    .fetch_optional(&mut *tx.tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("notification {id}")))?;
    let found = from_row(&row)?;
    tx.commit().await?;
    Ok(found)
}

/// Marks every one of the user's notifications read; returns how many were unread.
pub async fn mark_all_read(db: &Db, user: &str) -> Result<u64> {
    let mut tx = db.write().await?;
    let n = sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
        .bind(now())
        .bind(user.to_string())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}
