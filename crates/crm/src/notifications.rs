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

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_notifications.sql",
        sqlite: include_str!("../migrations/notifications/sqlite/0001_notifications.sql"),
        postgres: include_str!("../migrations/notifications/postgres/0001_notifications.sql"),
    },
    Migration {
        version: 2,
        name: "0002_preferences.sql",
        sqlite: include_str!("../migrations/notifications/sqlite/0002_preferences.sql"),
        postgres: include_str!("../migrations/notifications/postgres/0002_preferences.sql"),
    },
];

impl Module for Notifications {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["notifications", "notification_preferences"]
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
/// same id writes nothing and returns false). As the user chose for the kind: under the bell
/// (or kept read, for the record), and by e-mail at once (a job, [`MAIL_JOB`]) or in the
/// morning's digest.
pub async fn notify_in(
    tx: &mut WriteTx,
    id: &str,
    user: &str,
    kind: &str,
    title: &str,
    link: Option<&str>,
    about_at: Option<&str>,
) -> Result<bool> {
    let chosen = sqlx::query("SELECT bell, email FROM notification_preferences WHERE user_id = $1 AND kind = $2")
        .bind(user.to_string())
        .bind(kind.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?;
    let (bell, email) = match chosen {
        Some(r) => (r.try_get::<i64, _>(0)? == 1, r.try_get::<String, _>(1)?),
        None => (true, "none".to_string()),
    };
    let at = now();
    let written = sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, title, link, about_at, created_at, read_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(user.to_string())
    .bind(kind.to_string())
    .bind(title.chars().take(MAX_TITLE).collect::<String>())
    .bind(link.map(str::to_string))
    .bind(about_at.map(str::to_string))
    .bind(at.clone())
    .bind((!bell).then(|| at.clone()))
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if written == 1 && email == "instant" {
        tx.schedule_job(MAIL_JOB, Some(&format!("notification:{id}")), &at, &serde_json::json!({ "notification": id }))
            .await?;
    }
    Ok(written == 1)
}

/// The job that e-mails one notification to its user (run by the automation module, which
/// sends e-mail).
pub const MAIL_JOB: &str = "notification_mail";

/// The kinds of notification, in the order the preferences show them.
pub const KINDS: [&str; 8] =
    ["assigned", "reminder", "web_form", "workflow", "sla_warning", "sla_breach", "dealer_alert", "suggestion_done"];

/// How a user hears of one kind: under the bell or not, and by e-mail `none`, `instant` or
/// `daily` (the morning's digest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preference {
    pub kind: String,
    pub bell: bool,
    pub email: String,
}

/// The e-mail choices.
pub const EMAIL_CHOICES: [&str; 3] = ["none", "instant", "daily"];

/// A user's choices for every kind (the bell and no e-mail where they chose nothing).
pub async fn preferences(db: &Db, user: &str) -> Result<Vec<Preference>> {
    let rows = sqlx::query("SELECT kind, bell, email FROM notification_preferences WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_all(db.pool())
        .await?;
    let mut chosen = std::collections::HashMap::new();
    for r in rows {
        chosen.insert(r.try_get::<String, _>(0)?, (r.try_get::<i64, _>(1)? == 1, r.try_get::<String, _>(2)?));
    }
    Ok(KINDS
        .iter()
        .map(|k| {
            let (bell, email) = chosen.remove(*k).unwrap_or((true, "none".into()));
            Preference { kind: (*k).to_string(), bell, email }
        })
        .collect())
}

/// Sets a user's choices for the kinds given (the others stay), in one write; an unknown kind or
/// e-mail choice is refused and changes nothing.
pub async fn set_preferences(db: &Db, user: &str, list: &[Preference]) -> Result<Vec<Preference>> {
    let mut errors = Vec::new();
    for (i, p) in list.iter().enumerate() {
        if !KINDS.contains(&p.kind.as_str()) {
            errors.push(peyvand_records::FieldError::with(
                &format!("preferences.{i}.kind"),
                "invalid_option",
                serde_json::json!({ "options": KINDS }),
            ));
        }
        if !EMAIL_CHOICES.contains(&p.email.as_str()) {
            errors.push(peyvand_records::FieldError::with(
                &format!("preferences.{i}.email"),
                "invalid_option",
                serde_json::json!({ "options": EMAIL_CHOICES }),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = db.write().await?;
    for p in list {
        sqlx::query(
            "INSERT INTO notification_preferences (user_id, kind, bell, email) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, kind) DO UPDATE SET bell = excluded.bell, email = excluded.email",
        )
        .bind(user.to_string())
        .bind(p.kind.clone())
        .bind(i64::from(p.bell))
        .bind(p.email.clone())
        .execute(&mut *tx.tx)
        .await?;
    }
    if list.iter().any(|p| p.email == "daily") {
        crate::on_digest_wanted(db, &mut tx).await?;
    }
    tx.commit().await?;
    preferences(db, user).await
}

/// The users who chose the morning's digest for some kind, with those kinds.
pub async fn digest_choices(db: &Db) -> Result<Vec<(String, Vec<String>)>> {
    let rows =
        sqlx::query("SELECT user_id, kind FROM notification_preferences WHERE email = 'daily' ORDER BY user_id, kind")
            .fetch_all(db.pool())
            .await?;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in rows {
        let (user, kind): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        match out.last_mut() {
            Some((u, kinds)) if *u == user => kinds.push(kind),
            _ => out.push((user, vec![kind])),
        }
    }
    Ok(out)
}

/// A user's notifications of `kinds` made in [from, to), oldest first, at most `limit`.
pub async fn made_between(
    db: &Db,
    user: &str,
    kinds: &[String],
    from: &str,
    to: &str,
    limit: i64,
) -> Result<Vec<Notification>> {
    let rows = sqlx::query(
        "SELECT id, kind, title, link, about_at, created_at, read_at FROM notifications \
         WHERE user_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id",
    )
    .bind(user.to_string())
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let n = from_row(r)?;
        if kinds.contains(&n.kind) {
            out.push(n);
        }
        if out.len() as i64 >= limit {
            break;
        }
    }
    Ok(out)
}

/// One notification of a user's, read or not.
pub async fn get(db: &Db, id: &str) -> Result<(String, Notification)> {
    let row = sqlx::query(
        "SELECT id, kind, title, link, about_at, created_at, read_at, user_id FROM notifications WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| Error::NotFound(format!("notification {id}")))?;
    Ok((row.try_get(7)?, from_row(&row)?))
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
