//! Campaigns and newsletters: a message template sent to a segment's contacts at a time,
//! throttled to a number a minute. Starting one queues a message per recipient — cheap, for the
//! message is rendered from its template when it is sent (`automation::mail`), and sent only if
//! the person consented to the channel then. Links in it are tracked (`/c/{token}`, signed);
//! the report counts what was sent, held back for want of consent, bounced, clicked and
//! unsubscribed, and the orders its recipients placed within the attribution window.

use super::segments;
use peyvand_records::FieldError;
use peyvand_records::aggregate::parse_aggregate;
use peyvand_records::filter::parse_filter;
use peyvand_records::value::{format_datetime, parse_datetime};
use peyvand_store::events::Job;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

fn hourly() -> i64 {
    600
}
fn week() -> i64 {
    7
}

/// A campaign as a marketer defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignDef {
    pub name: String,
    /// A message template (its channel is the campaign's; its object, contacts).
    pub template: String,
    pub segment: String,
    /// When to start (RFC 3339); none: when started by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<String>,
    /// Messages a minute at most.
    #[serde(default = "hourly")]
    pub per_minute: i64,
    /// Orders a recipient places within this many days of the start count for the campaign.
    #[serde(default = "week")]
    pub attribution_days: i64,
}

/// A campaign as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Campaign {
    pub id: String,
    #[serde(flatten)]
    pub definition: CampaignDef,
    /// `draft`, `scheduled`, `sending`, `sent` or `cancelled`.
    pub status: String,
    pub recipients: i64,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub sent_at: Option<String>,
}

const COLUMNS: &str = "id, definition_json, status, recipients, created_at, updated_at, started_at, sent_at";

fn campaign_of(r: &sqlx::any::AnyRow) -> Result<Campaign> {
    let json: String = r.try_get(1)?;
    Ok(Campaign {
        id: r.try_get(0)?,
        definition: serde_json::from_str(&json).map_err(|e| Error::Corrupt(format!("a campaign: {e}")))?,
        status: r.try_get(2)?,
        recipients: r.try_get(3)?,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
        started_at: r.try_get(6)?,
        sent_at: r.try_get(7)?,
    })
}

pub async fn list(db: &Db) -> Result<Vec<Campaign>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM campaigns ORDER BY id DESC LIMIT 200")))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(campaign_of).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Campaign> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM campaigns WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
    campaign_of(&r)
}

async fn check(db: &Db, def: &CampaignDef) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if def.name.trim().is_empty() || def.name.chars().count() > 200 {
        errors.push(FieldError::new("name", "required"));
    }
    match crate::automation::templates::get(db, &def.template).await {
        Ok(t) if t.object == "contact" => {}
        Ok(_) => errors.push(FieldError::new("template", "contacts_only")),
        Err(_) => errors.push(FieldError::new("template", "invalid_reference")),
    }
    match segments::get(db, &def.segment).await {
        Ok(s) if s.definition.object == "contact" => {}
        Ok(_) => errors.push(FieldError::new("segment", "contacts_only")),
        Err(_) => errors.push(FieldError::new("segment", "invalid_reference")),
    }
    if def.scheduled_at.as_deref().is_some_and(|s| parse_datetime(s).is_none()) {
        errors.push(FieldError::new("scheduled_at", "invalid_datetime"));
    }
    if !(1..=100_000).contains(&def.per_minute) {
        errors.push(FieldError::new("per_minute", "out_of_range"));
    }
    if !(0..=365).contains(&def.attribution_days) {
        errors.push(FieldError::new("attribution_days", "out_of_range"));
    }
    errors
}

/// Saves a campaign not yet started (new when `id` is none).
pub async fn save(db: &Db, id: Option<&str>, def: CampaignDef) -> Result<Campaign> {
    let mut def = def;
    def.name = def.name.trim().to_string();
    let errors = check(db, &def).await;
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let json = serde_json::to_string(&def).map_err(|e| Error::Corrupt(e.to_string()))?;
    let at = now();
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let n = sqlx::query(
                "UPDATE campaigns SET definition_json = $1, updated_at = $2 WHERE id = $3 AND status IN ('draft', 'scheduled')",
            )
            .bind(json)
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
            if n == 0 {
                get(db, id).await?;
                return Err(Error::invalid(FieldError::new("status", "campaign_started")));
            }
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO campaigns (id, definition_json, status, recipients, created_at, updated_at) VALUES ($1, $2, 'draft', 0, $3, $3)",
            )
            .bind(id.clone())
            .bind(json)
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

/// The job that starts a campaign.
pub const START_JOB: &str = "campaign_start";

/// Schedules a draft (at its time, or now): once.
pub async fn start(db: &Db, id: &str) -> Result<Campaign> {
    let c = get(db, id).await?;
    if c.status != "draft" {
        return Err(Error::invalid(FieldError::new("status", "campaign_started")));
    }
    let at = c.definition.scheduled_at.clone().unwrap_or_else(now);
    let mut tx = db.write().await?;
    let n =
        sqlx::query("UPDATE campaigns SET status = 'scheduled', updated_at = $1 WHERE id = $2 AND status = 'draft'")
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
    if n == 1 {
        db.schedule_job_in(&mut tx, START_JOB, Some(&format!("campaign:{id}")), &at, &json!({ "campaign": id }))
            .await?;
    }
    tx.commit().await?;
    get(db, id).await
}

/// Cancels a campaign not yet started (messages already queued are held back too).
pub async fn cancel(db: &Db, id: &str) -> Result<Campaign> {
    get(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE campaigns SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND status IN ('draft', 'scheduled', 'sending')")
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query(
        "UPDATE outbound_messages SET status = 'cancelled' WHERE status = 'queued' AND id IN \
         (SELECT message_id FROM campaign_recipients WHERE campaign_id = $1)",
    )
    .bind(id.to_string())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// Starts campaigns when their time comes.
pub struct Starter;

impl JobKind for Starter {
    fn kind(&self) -> &'static str {
        START_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let id = job.payload.get("campaign").and_then(Json::as_str).unwrap_or_default();
            queue(db, id).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// Recipients queued per transaction.
const QUEUE_BATCH: usize = 1000;

/// Queues a scheduled campaign's messages: one per member of its segment now, each at its
/// turn under the throttle. Idempotent: a retry after a crash queues only who was not queued.
/// Returns how many are queued.
pub async fn queue(db: &Db, id: &str) -> Result<i64> {
    let c = get(db, id).await?;
    if !["scheduled", "sending"].contains(&c.status.as_str()) {
        return Ok(0);
    }
    let system = db.system();
    let segment = segments::get(&system, &c.definition.segment).await?;
    let template = crate::automation::templates::get(&system, &c.definition.template).await?;
    let members = segments::members(&system, &segment).await?;
    let started = c.started_at.as_deref().and_then(parse_datetime).unwrap_or_else(OffsetDateTime::now_utc);
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE campaigns SET status = 'sending', started_at = COALESCE(started_at, $1), updated_at = $1 WHERE id = $2",
    )
    .bind(format_datetime(started))
    .bind(id.to_string())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    let per_minute = c.definition.per_minute.max(1);
    for (n, chunk) in members.chunks(QUEUE_BATCH).enumerate() {
        let mut tx = db.write().await?;
        let placed: Vec<(String, String)> = chunk
            .iter()
            .enumerate()
            .map(|(i, contact)| {
                let place = (n * QUEUE_BATCH + i) as i64;
                (contact.clone(), format_datetime(started + Duration::milliseconds(place * 60_000 / per_minute)))
            })
            .collect();
        queue_in(&mut tx, id, &template.id, &template.channel, &placed).await?;
        tx.commit().await?;
    }
    let mut tx = db.write().await?;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = $1")
        .bind(id.to_string())
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
    sqlx::query("UPDATE campaigns SET status = 'sent', recipients = $1, sent_at = $2, updated_at = $2 WHERE id = $3 AND status = 'sending'")
        .bind(count)
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(count)
}

/// Queues the messages of `placed` (contact, send at) not queued before, a few statements for
/// all: each recipient's row, then its message and the message's send.
async fn queue_in(
    tx: &mut WriteTx,
    campaign: &str,
    template: &str,
    channel: &str,
    placed: &[(String, String)],
) -> Result<()> {
    /// Rows per statement (three parameters each).
    const ROWS: usize = 500;
    let mut messages = Vec::with_capacity(placed.len());
    for chunk in placed.chunks(ROWS) {
        let mut sql = String::from(
            "INSERT INTO campaign_recipients (campaign_id, contact_id, message_id, clicked_at, clicks) VALUES ",
        );
        for i in 0..chunk.len() {
            let n = i * 3;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, NULL, 0)", n + 1, n + 2, n + 3));
        }
        sql.push_str(" ON CONFLICT (campaign_id, contact_id) DO NOTHING RETURNING contact_id");
        // Only placeholders are formatted into the text.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (contact, _) in chunk {
            q = q.bind(campaign.to_string()).bind(contact.clone()).bind(format!("campaign:{campaign}:{contact}"));
        }
        let made: std::collections::HashSet<String> = q
            .fetch_all(&mut *tx.tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()?;
        messages.extend(
            chunk
                .iter()
                .filter(|(contact, _)| made.contains(contact))
                .map(|(contact, at)| (format!("campaign:{campaign}:{contact}"), contact.clone(), at.clone())),
        );
    }
    crate::automation::mail::queue_templates_in(tx, channel, template, &messages).await?;
    Ok(())
}

// ---- Tracked links ----

/// The body of a campaign's message with each http(s) address in it replaced by a tracked one
/// (`{base}/c/{token}`, the token signed so that no one makes Peyvand redirect elsewhere).
pub async fn track_links(db: &Db, message: &str, body: &str) -> Result<String> {
    let Some(rest) = message.strip_prefix("campaign:") else { return Ok(body.to_string()) };
    let Some((campaign, contact)) = rest.split_once(':') else { return Ok(body.to_string()) };
    let links = crate::customers::consent::Links::read(db).await?;
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("http://").into_iter().chain(rest.find("https://")).min() {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| c.is_whitespace() || "<>\"'".contains(c)).unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ')', '،']);
        out.push_str(&links.tracked(campaign, contact, url));
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Follows a tracked link: the click counted for its recipient, and where it leads. A forged
/// token is not found.
pub async fn click(db: &Db, token: &str) -> Result<String> {
    let (campaign, contact, url) = crate::customers::consent::read_tracked(db, token)
        .await?
        .ok_or_else(|| Error::NotFound("tracked link".into()))?;
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE campaign_recipients SET clicks = clicks + 1, clicked_at = COALESCE(clicked_at, $1) WHERE campaign_id = $2 AND contact_id = $3",
    )
    .bind(now())
    .bind(campaign)
    .bind(contact)
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(url)
}

/// A campaign's report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub recipients: i64,
    pub queued: i64,
    pub sent: i64,
    /// Held back when sending: no consent for the channel, or the address suppressed.
    pub suppressed: i64,
    pub failed: i64,
    pub bounced: i64,
    pub clicked: i64,
    pub clicks: i64,
    pub unsubscribed: i64,
    /// Recipients who ordered within the attribution window, and what they ordered (per
    /// currency).
    pub buyers: i64,
    pub revenue: Vec<(String, String)>,
}

pub async fn report(db: &Db, id: &str) -> Result<Report> {
    let c = get(db, id).await?;
    let mut r = Report { recipients: c.recipients, ..Report::default() };
    let rows = sqlx::query(
        "SELECT m.status, m.bounced, COUNT(*) FROM campaign_recipients cr JOIN outbound_messages m ON m.id = cr.message_id \
         WHERE cr.campaign_id = $1 GROUP BY m.status, m.bounced",
    )
    .bind(id.to_string())
    .fetch_all(db.pool())
    .await?;
    for row in rows {
        let (status, bounced, n): (String, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        match status.as_str() {
            "queued" => r.queued += n,
            "sent" => r.sent += n,
            "suppressed" => r.suppressed += n,
            _ => r.failed += n,
        }
        if bounced == 1 {
            r.bounced += n;
        }
    }
    let row = sqlx::query(
        "SELECT COUNT(clicked_at), CAST(COALESCE(SUM(clicks), 0) AS BIGINT) FROM campaign_recipients WHERE campaign_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(db.pool())
    .await?;
    (r.clicked, r.clicks) = (row.try_get(0)?, row.try_get(1)?);
    let Some(started) = c.started_at.clone() else { return Ok(r) };
    r.unsubscribed = sqlx::query(
        "SELECT COUNT(DISTINCT e.contact_id) FROM consent_events e JOIN campaign_recipients cr ON cr.contact_id = e.contact_id \
         WHERE cr.campaign_id = $1 AND e.source = 'unsubscribe_link' AND e.at >= $2",
    )
    .bind(id.to_string())
    .bind(started.clone())
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    // Orders in the window, of the recipients.
    let start = parse_datetime(&started).unwrap_or_else(OffsetDateTime::now_utc);
    let end = format_datetime(start + Duration::days(c.definition.attribution_days));
    let orders = db.object("order").await?;
    let window = json!({ "and": [
        { "field": "ordered_at", "op": "gte", "value": started },
        { "field": "ordered_at", "op": "lt", "value": end },
        { "field": "status", "op": "in", "value": ["pending", "paid", "part_shipped", "shipped", "delivered"] }
    ] });
    let filter = parse_filter(&orders, &window).map_err(Error::invalid)?;
    let bought = db.related_ids("order", "contact", Some(&filter), &peyvand_store::aggregate::Having::Any).await?;
    let rows = sqlx::query("SELECT contact_id FROM campaign_recipients WHERE campaign_id = $1")
        .bind(id.to_string())
        .fetch_all(db.pool())
        .await?;
    let buyers: Vec<String> =
        rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).filter(|c| bought.contains(c)).collect();
    r.buyers = buyers.len() as i64;
    let spec = parse_aggregate(&orders, "", "total").map_err(Error::invalid)?;
    let mut sums: std::collections::BTreeMap<String, i128> = Default::default();
    for chunk in buyers.chunks(200) {
        let f = json!({ "and": [window.clone(), { "field": "contact", "op": "in", "value": chunk }] });
        let f = parse_filter(&orders, &f).map_err(Error::invalid)?;
        for row in db.aggregate("order", Some(&f), &spec).await?.rows {
            if let Some((amount, currency)) = crate::sales::worth::money(&row, "total") {
                let whole = amount.split('.').next().and_then(|a| a.parse::<i128>().ok()).unwrap_or(0);
                *sums.entry(currency).or_default() += whole;
            }
        }
    }
    r.revenue = sums.into_iter().map(|(c, a)| (a.to_string(), c)).collect();
    Ok(r)
}
