//! Webhooks out: subscriptions to an object's record events, delivered as signed JSON.
//!
//! Each delivery is a row written with the event's id (the audit entry's, or a workflow step's
//! `{run}.{step}`), so one event is delivered once per subscription however often the consumer
//! sees it, and a retry or a replay carries the same id. A request carries `Peyvand-Event-Id`,
//! `Peyvand-Timestamp` (Unix seconds) and `Peyvand-Signature: v1=<hex>`, the HMAC-SHA256 under
//! the subscription's secret of `{timestamp}.{body}`.
//!
//! Attempts follow their own schedule (30 s, 2 min, 8 min, 32 min, then every 2 h, 10 in all:
//! a receiver down for ten minutes loses nothing); a subscription whose last 20 attempts all
//! failed is paused, and its deliveries wait until an admin resumes it.

use hmac::{Hmac, Mac};
use peyvand_records::FieldError;
use peyvand_records::value::format_datetime;
use peyvand_store::events::{Event, Job};
use peyvand_store::runner::{Consumer, JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::Sha256;
use sqlx::Row;
use std::sync::OnceLock;
use time::{Duration, OffsetDateTime};

/// The job that makes one attempt of a delivery.
pub const DELIVERY_JOB: &str = "webhook_delivery";
/// The events a subscription may ask for.
pub const EVENTS: [&str; 4] = ["created", "updated", "deleted", "restored"];
/// Attempts of one delivery.
pub const MAX_ATTEMPTS: i64 = 10;
/// Failed attempts in a row after which a subscription is paused.
pub const PAUSE_AFTER: i64 = 20;
/// How long a receiver has to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The wait after failed attempt `n` (from 1).
pub fn retry_after(attempt: i64) -> Duration {
    let secs = 30i64.saturating_mul(4i64.saturating_pow(u32::try_from(attempt.clamp(1, 6) - 1).unwrap_or(0)));
    Duration::seconds(secs.min(7200))
}

/// The signature header's value for a body sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("v1={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Checks a signature header for a body at `timestamp` (constant time), and that the
/// timestamp is within `tolerance` of now.
pub fn verify(secret: &str, header: &str, timestamp: i64, body: &str, tolerance: Duration) -> bool {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if (now - timestamp).abs() > tolerance.whole_seconds() {
        return false;
    }
    let Some(hex) = header.split(',').map(str::trim).find_map(|p| p.strip_prefix("v1=")) else { return false };
    let Some(given) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// A subscription.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    /// The object whose events it gets (all objects when absent).
    pub object: Option<String>,
    /// Of [`EVENTS`] (all when empty).
    pub events: Vec<String>,
    pub secret: String,
    pub active: bool,
    /// Failed attempts in a row.
    pub failures: i64,
    pub paused_at: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    pub url: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub events: Vec<String>,
    /// Made for it when absent (32 random bytes, hex).
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// One delivery with its last attempt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: Option<String>,
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered`, `failed`.
    pub status: String,
    pub attempts: i64,
    pub response_status: Option<i64>,
    pub error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub next_at: Option<String>,
}

const SUB_COLUMNS: &str = "id, url, object, events_json, secret, active, failures, paused_at, created_at";

fn sub_from_row(row: &sqlx::any::AnyRow) -> Result<Subscription> {
    let events: String = row.try_get("events_json")?;
    Ok(Subscription {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        object: row.try_get("object")?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        secret: row.try_get("secret")?,
        active: row.try_get::<i64, _>("active")? == 1,
        failures: row.try_get("failures")?,
        paused_at: row.try_get("paused_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2000
        && !url.contains(char::is_whitespace)
}

/// Saves a subscription (a new one without `id`).
pub async fn save(db: &Db, id: Option<&str>, input: &SubscriptionInput) -> Result<Subscription> {
    let mut errors = Vec::new();
    if !check_url(&input.url) {
        errors.push(FieldError::new("url", "invalid_url"));
    }
    if let Some(o) = &input.object
        && db.object(o).await.is_err()
    {
        errors.push(FieldError::new("object", "unknown_object"));
    }
    if input.events.iter().any(|e| !EVENTS.contains(&e.as_str())) {
        errors.push(FieldError::with("events", "invalid_option", json!({ "options": EVENTS })));
    }
    if input.secret.as_ref().is_some_and(|s| s.len() < 16 || s.len() > 200) {
        errors.push(FieldError::with("secret", "too_short", json!({ "min": 16 })));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let events = serde_json::to_string(&input.events).unwrap_or_else(|_| "[]".into());
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let current = get(db, id).await?;
            sqlx::query(
                "UPDATE webhook_subscriptions SET url = $1, object = $2, events_json = $3, secret = $4, active = $5 WHERE id = $6",
            )
            .bind(input.url.clone())
            .bind(input.object.clone())
            .bind(events)
            .bind(input.secret.clone().unwrap_or(current.secret))
            .bind(i64::from(input.active))
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO webhook_subscriptions (id, url, object, events_json, secret, active, failures, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
            )
            .bind(id.clone())
            .bind(input.url.clone())
            .bind(input.object.clone())
            .bind(events)
            .bind(input.secret.clone().unwrap_or_else(random_secret))
            .bind(i64::from(input.active))
            .bind(now())
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

pub async fn get(db: &Db, id: &str) -> Result<Subscription> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("webhook {id}")))?;
    sub_from_row(&row)
}

pub async fn list(db: &Db) -> Result<Vec<Subscription>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUB_COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(sub_from_row).collect()
}

/// Deletes a subscription; its delivery log goes with it.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    get(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Resumes a paused subscription: its waiting deliveries are tried again now.
pub async fn resume(db: &Db, id: &str) -> Result<Subscription> {
    get(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE webhook_subscriptions SET active = 1, failures = 0, paused_at = NULL WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    let waiting: Vec<String> =
        sqlx::query("SELECT id FROM webhook_deliveries WHERE subscription_id = $1 AND status = 'pending'")
            .bind(id.to_string())
            .fetch_all(&mut *tx.tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
    for d in waiting {
        db.schedule_job_in(
            &mut tx,
            DELIVERY_JOB,
            Some(&format!("{d}:resume:{}", new_id())),
            &now(),
            &json!({ "delivery": d }),
        )
        .await?;
    }
    tx.commit().await?;
    get(db, id).await
}

const DELIVERY_COLUMNS: &str = "id, subscription_id, url, event_id, event_type, status, attempts, response_status, error, \
                                created_at, delivered_at, next_at";

fn delivery_from_row(row: &sqlx::any::AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: row.try_get("id")?,
        subscription_id: row.try_get("subscription_id")?,
        url: row.try_get("url")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        response_status: row.try_get("response_status")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
        next_at: row.try_get("next_at")?,
    })
}

/// A subscription's deliveries, newest first.
pub async fn deliveries(db: &Db, subscription: &str, limit: i64) -> Result<Vec<Delivery>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(subscription.to_string())
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(delivery_from_row).collect()
}

pub async fn delivery(db: &Db, id: &str) -> Result<Delivery> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("delivery {id}")))?;
    delivery_from_row(&row)
}

/// Sends a delivery again (the same body and event id), whatever became of it.
pub async fn replay(db: &Db, id: &str) -> Result<Delivery> {
    delivery(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    db.schedule_job_in(
        &mut tx,
        DELIVERY_JOB,
        Some(&format!("{id}:replay:{}", new_id())),
        &now(),
        &json!({ "delivery": id }),
    )
    .await?;
    tx.commit().await?;
    delivery(db, id).await
}

/// Where a delivery goes: a subscription's URL, or a workflow step's.
pub struct Target<'a> {
    pub subscription: Option<&'a str>,
    pub url: &'a str,
    pub secret: &'a str,
}

/// Writes a delivery and its first attempt's job in a write of the caller's; once per
/// subscription (or URL) and event id.
pub async fn queue_in(
    db: &Db,
    tx: &mut WriteTx,
    to: &Target<'_>,
    event_id: &str,
    event_type: &str,
    body: &Json,
) -> Result<()> {
    let id = new_id();
    let (subscription, url, secret) = (to.subscription, to.url, to.secret);
    let target = subscription.map_or_else(|| format!("url:{url}"), |s| format!("sub:{s}"));
    let written = sqlx::query(
        "INSERT INTO webhook_deliveries (id, subscription_id, target, url, secret, event_id, event_type, body, status, \
         attempts, created_at, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9) ON CONFLICT DO NOTHING",
    )
    .bind(id.clone())
    .bind(subscription.map(str::to_string))
    .bind(target)
    .bind(url.to_string())
    .bind(secret.to_string())
    .bind(event_id.to_string())
    .bind(event_type.to_string())
    .bind(body.to_string())
    .bind(now())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if written == 1 {
        schedule_attempt(db, tx, &id, &now()).await?;
    }
    Ok(())
}

async fn schedule_attempt(db: &Db, tx: &mut WriteTx, delivery: &str, at: &str) -> Result<()> {
    // The job's key is the delivery's and the time: each attempt is a job of its own.
    db.schedule_job_in(tx, DELIVERY_JOB, Some(&format!("{delivery}:{at}")), at, &json!({ "delivery": delivery }))
        .await?;
    Ok(())
}

/// Reads record events and writes a delivery for each subscription that wants it.
pub struct Outbound;

impl Consumer for Outbound {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn handle<'a>(&'a self, db: &'a Db, event: &'a Event) -> Outcome<'a> {
        Box::pin(async move { on_event(db, event).await.map_err(|e| e.to_string()) })
    }
}

async fn on_event(db: &Db, event: &Event) -> Result<()> {
    let kind = match event.action.as_str() {
        "create" => "created",
        "update" => "updated",
        "delete" => "deleted",
        "restore" => "restored",
        _ => return Ok(()),
    };
    let subs: Vec<Subscription> = list(db)
        .await?
        .into_iter()
        .filter(|s| s.object.as_deref().is_none_or(|o| o == event.object))
        .filter(|s| s.events.is_empty() || s.events.iter().any(|e| e == kind))
        .collect();
    if subs.is_empty() {
        return Ok(());
    }
    let record = db.system().get_record(&event.object, &event.record_id, true).await.ok();
    let event_type = format!("{}.{kind}", event.object);
    let body = json!({
        "id": event.id,
        "type": event_type,
        "object": event.object,
        "record_id": event.record_id,
        "occurred_at": event.at,
        "actor": event.actor,
        "changes": event.changes,
        "data": record,
    });
    let mut tx = db.write().await?;
    for s in &subs {
        let to = Target { subscription: Some(&s.id), url: &s.url, secret: &s.secret };
        queue_in(db, &mut tx, &to, &event.id, &event_type, &body).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Peyvand-Webhooks/1")
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Makes one attempt of a delivery.
pub struct Deliveries;

impl JobKind for Deliveries {
    fn kind(&self) -> &'static str {
        DELIVERY_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let id = job.payload.get("delivery").and_then(Json::as_str).unwrap_or_default();
            attempt(db, id).await.map_err(|e| e.to_string())
        })
    }

    /// One delivery's attempts one after another.
    fn group(&self, job: &Job) -> Option<String> {
        job.payload.get("delivery").and_then(Json::as_str).map(str::to_string)
    }
}

async fn attempt(db: &Db, id: &str) -> Result<()> {
    let row = sqlx::query(
        "SELECT d.url, d.secret, d.event_id, d.body, d.status, d.attempts, d.subscription_id, s.active \
         FROM webhook_deliveries d LEFT JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(()) };
    let status: String = row.try_get(4)?;
    if status != "pending" {
        return Ok(());
    }
    let subscription: Option<String> = row.try_get(6)?;
    let active: Option<i64> = row.try_get(7)?;
    if subscription.is_some() && active != Some(1) {
        // Paused or gone: the delivery waits for a resume.
        return Ok(());
    }
    let (url, secret, event_id, body): (String, String, String, String) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
    let attempts = row.try_get::<i64, _>(5)? + 1;
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let sent = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("peyvand-event-id", &event_id)
        .header("peyvand-timestamp", timestamp.to_string())
        .header("peyvand-signature", signature(&secret, timestamp, &body))
        .body(body)
        .send()
        .await;
    let (code, error) = match sent {
        Ok(r) if r.status().is_success() => (Some(i64::from(r.status().as_u16())), None),
        Ok(r) => (Some(i64::from(r.status().as_u16())), Some(format!("HTTP {}", r.status().as_u16()))),
        Err(e) if e.is_timeout() => (None, Some("timed out".to_string())),
        Err(e) if e.is_connect() => (None, Some("connection refused or unreachable".to_string())),
        Err(e) => (None, Some(format!("request failed: {}", e.without_url()))),
    };
    let mut tx = db.write().await?;
    match &error {
        None => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = $1, response_status = $2, error = NULL, \
                 delivered_at = $3, next_at = NULL WHERE id = $4",
            )
            .bind(attempts)
            .bind(code)
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            if let Some(s) = &subscription {
                sqlx::query("UPDATE webhook_subscriptions SET failures = 0 WHERE id = $1")
                    .bind(s.clone())
                    .execute(&mut *tx.tx)
                    .await?;
            }
        }
        Some(error) => {
            let last = attempts >= MAX_ATTEMPTS;
            let next = (!last).then(|| format_datetime(OffsetDateTime::now_utc() + retry_after(attempts)));
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = $2, response_status = $3, error = $4, next_at = $5 \
                 WHERE id = $6",
            )
            .bind(if last { "failed" } else { "pending" })
            .bind(attempts)
            .bind(code)
            .bind(error.clone())
            .bind(next.clone())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            if let Some(next) = &next {
                schedule_attempt(db, &mut tx, id, next).await?;
            }
            if let Some(s) = &subscription {
                sqlx::query(
                    "UPDATE webhook_subscriptions SET failures = failures + 1, \
                     active = CASE WHEN failures + 1 >= $1 THEN 0 ELSE active END, \
                     paused_at = CASE WHEN failures + 1 >= $1 AND paused_at IS NULL THEN $2 ELSE paused_at END WHERE id = $3",
                )
                .bind(PAUSE_AFTER)
                .bind(now())
                .bind(s.clone())
                .execute(&mut *tx.tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Inbound: another system creates or updates records through a signed endpoint.

/// How old a signed request may be.
pub const INBOUND_TOLERANCE: Duration = Duration::minutes(5);

/// An inbound endpoint: `POST /api/v1/hooks/{id}` signed with its secret as outbound deliveries
/// are; the body's `fields` create a record of `object`, or update the one whose `match_field`
/// has the value given.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InboundHook {
    pub id: String,
    pub name: String,
    pub object: String,
    pub match_field: Option<String>,
    pub secret: String,
    /// The user its changes are made as (who made it).
    pub actor: Option<String>,
    pub active: bool,
    pub created_at: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundInput {
    pub name: String,
    pub object: String,
    #[serde(default)]
    pub match_field: Option<String>,
}

const INBOUND_COLUMNS: &str = "id, name, object, match_field, secret, actor, active, created_at";

fn inbound_from_row(row: &sqlx::any::AnyRow) -> Result<InboundHook> {
    Ok(InboundHook {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        object: row.try_get("object")?,
        match_field: row.try_get("match_field")?,
        secret: row.try_get("secret")?,
        actor: row.try_get("actor")?,
        active: row.try_get::<i64, _>("active")? == 1,
        created_at: row.try_get("created_at")?,
    })
}

/// Makes an inbound endpoint; its changes are made as `actor`.
pub async fn create_inbound(db: &Db, actor: Option<&str>, input: &InboundInput) -> Result<InboundHook> {
    let mut errors = Vec::new();
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        errors.push(FieldError::new("name", "required"));
    }
    match db.object(&input.object).await {
        Err(_) => errors.push(FieldError::new("object", "unknown_object")),
        Ok(o) => {
            if let Some(f) = &input.match_field
                && !o.field(f).is_some_and(|d| d.unique || d.indexed)
            {
                errors.push(FieldError::new("match_field", "not_indexed"));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let id = new_id();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO inbound_hooks (id, name, object, match_field, secret, actor, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
    )
    .bind(id.clone())
    .bind(input.name.trim().to_string())
    .bind(input.object.clone())
    .bind(input.match_field.clone())
    .bind(random_secret())
    .bind(actor.map(str::to_string))
    .bind(now())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    inbound(db, &id).await
}

pub async fn inbound(db: &Db, id: &str) -> Result<InboundHook> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {INBOUND_COLUMNS} FROM inbound_hooks WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("inbound hook {id}")))?;
    inbound_from_row(&row)
}

pub async fn inbound_list(db: &Db) -> Result<Vec<InboundHook>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound_hooks ORDER BY created_at, id"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(inbound_from_row).collect()
}

pub async fn delete_inbound(db: &Db, id: &str) -> Result<()> {
    inbound(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM inbound_events WHERE hook_id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    sqlx::query("DELETE FROM inbound_hooks WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await?;
    Ok(())
}

/// What an inbound request did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Received {
    pub record: peyvand_store::records::Record,
    /// `created`, `updated`, or `repeated` (its event id was seen: the first answer again).
    pub outcome: String,
}

/// A signed inbound request: checked (a wrong signature, an old timestamp or an endpoint that
/// is not there are all "not found", so the endpoint reveals nothing), then its `fields` go
/// through the API's validation and the record's rules. With an event id, a repeat changes
/// nothing and answers what the first did.
pub async fn receive(
    db: &Db,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    event_id: Option<&str>,
    body: &str,
) -> Result<Received> {
    let hook = match inbound(db, id).await {
        Ok(h) if h.active => h,
        _ => return Err(Error::NotFound(format!("inbound hook {id}"))),
    };
    let ts: i64 = timestamp.trim().parse().map_err(|_| Error::Forbidden("bad signature".into()))?;
    if !verify(&hook.secret, signature_header, ts, body, INBOUND_TOLERANCE) {
        return Err(Error::Forbidden("bad signature".into()));
    }
    let parsed: Json =
        serde_json::from_str(body).map_err(|_| Error::invalid(FieldError::new("body", "invalid_json")))?;
    let Some(fields) = parsed.get("fields").and_then(Json::as_object).cloned() else {
        return Err(Error::invalid(FieldError::new("fields", "required")));
    };
    if let Some(e) = event_id.filter(|e| !e.is_empty()) {
        if e.len() > 200 {
            return Err(Error::invalid(FieldError::new("Peyvand-Event-Id", "too_long")));
        }
        let seen = sqlx::query("SELECT record_id FROM inbound_events WHERE hook_id = $1 AND event_id = $2")
            .bind(hook.id.clone())
            .bind(e.to_string())
            .fetch_optional(db.pool())
            .await?;
        if let Some(row) = seen {
            let record_id: String = row.try_get(0)?;
            let record = db.get_record(&hook.object, &record_id, true).await?;
            return Ok(Received { record, outcome: "repeated".into() });
        }
    }
    let actor = hook.actor.as_deref();
    let handle = match actor {
        Some(a) => db.for_viewer(db.viewer_for(a).await?),
        None => db.system(),
    };
    let existing = match &hook.match_field {
        Some(f) => match fields.get(f).filter(|v| !v.is_null()) {
            Some(v) => {
                let obj = handle.object(&hook.object).await?;
                let filter =
                    peyvand_records::filter::parse_filter(&obj, &json!({ "field": f, "op": "eq", "value": v }))
                        .map_err(Error::invalid)?;
                let query =
                    peyvand_store::records::ListQuery { filter: Some(filter), limit: Some(1), ..Default::default() };
                handle.list_records(&hook.object, &query).await?.records.into_iter().next()
            }
            None => None,
        },
        None => None,
    };
    let (record, outcome) = match existing {
        Some(r) => (handle.update_record(actor, &hook.object, &r.id, &fields, None).await?, "updated"),
        // A create is keyed by the event id in its own transaction (the engine's idempotency
        // key): one sent again after a crash between here and the note below makes nothing twice.
        None => {
            let key = event_id.filter(|e| !e.is_empty()).map(|e| format!("inbound:{}:{e}", hook.id));
            (handle.create_record(actor, &hook.object, &fields, key.as_deref()).await?.0, "created")
        }
    };
    // The note of the event id and the signal to workflows in one write: a request sent again
    // after a crash before it writes both (its record is not made twice, see above).
    let mut tx = db.write().await?;
    let key = match event_id.filter(|e| !e.is_empty()) {
        Some(e) => {
            sqlx::query(
                "INSERT INTO inbound_events (hook_id, event_id, record_id, at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(hook.id.clone())
            .bind(e.to_string())
            .bind(record.id.clone())
            .bind(now())
            .execute(&mut *tx.tx)
            .await?;
            e.to_string()
        }
        None => new_id(),
    };
    let signal = super::workflows::Signal::HookReceived { hook: hook.id.clone() };
    super::workflows::signal_in(db, &mut tx, &signal, &hook.object, &record.id, &format!("hook:{}:{key}", hook.id))
        .await?;
    tx.commit().await?;
    Ok(Received { record, outcome: outcome.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_expire() {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let sig = signature("a-secret-of-sixteen", now, r#"{"id":"e1"}"#);
        assert!(sig.starts_with("v1=") && sig.len() == 67);
        assert!(verify("a-secret-of-sixteen", &sig, now, r#"{"id":"e1"}"#, Duration::minutes(5)));
        assert!(!verify("a-secret-of-sixteen", &sig, now, r#"{"id":"e2"}"#, Duration::minutes(5)), "another body");
        assert!(!verify("another-secret-16", &sig, now, r#"{"id":"e1"}"#, Duration::minutes(5)), "another secret");
        let old = now - 3600;
        let old_sig = signature("a-secret-of-sixteen", old, "x");
        assert!(!verify("a-secret-of-sixteen", &old_sig, old, "x", Duration::minutes(5)), "an old timestamp");
        assert!(!verify("a-secret-of-sixteen", "v1=zz", now, "x", Duration::minutes(5)));
    }

    #[test]
    fn attempts_outlast_ten_minutes_down() {
        let waits: Vec<i64> = (1..MAX_ATTEMPTS).map(|a| retry_after(a).whole_seconds()).collect();
        assert_eq!(&waits[..5], &[30, 120, 480, 1920, 7200]);
        // The fourth attempt comes after ten minutes; the last, hours later.
        assert!(waits[..3].iter().sum::<i64>() > 600);
        assert!(waits.iter().sum::<i64>() > 6 * 3600);
    }
}
