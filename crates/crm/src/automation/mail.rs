//! Messages out: e-mail over SMTP (plain, STARTTLS or implicit TLS) and SMS through an HTTP
//! gateway, from one outbox.
//!
//! A message is written to `outbound_messages` in the transaction that decides to send it (a
//! workflow's step, a user's send), under its event id; the `send_message` job sends it. The
//! id is the e-mail's `Message-ID` (`<{id}@{sender's domain}>`) and its `Peyvand-Event-Id`
//! header, and the SMS gateway's `id`: a message sent again after a crash carries the same
//! id, so a receiver can tell. A refusal the server calls permanent (a 5xx: no such
//! recipient) ends the message as `failed`, recognized as a bounce; a transient one is tried
//! again on the webhooks' schedule (a server down for ten minutes loses nothing). A message
//! sent goes on the timeline as an activity (e-mail or SMS, outbound) of its contact and record.

use super::webhooks::retry_after;
use crate::customers::consent;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::value::format_datetime;
use peyvand_records::{FieldError, FieldType, ObjectDef};
use peyvand_store::events::Job;
use peyvand_store::records::Record;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use time::OffsetDateTime;

/// The job that sends one message.
pub const SEND_JOB: &str = "send_message";
/// Attempts of one message.
pub const MAX_ATTEMPTS: i64 = 10;

/// How Peyvand reaches its SMTP server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none` (a trusted local relay), `starttls` or `tls` (implicit, port 465).
    pub security: String,
    #[serde(default)]
    pub username: String,
    /// Never answered back; empty on save keeps the one stored.
    #[serde(default, skip_serializing)]
    pub password: String,
    /// The system sender: `crm@example.com` and its name.
    pub from_address: String,
    #[serde(default)]
    pub from_name: String,
    /// A certificate authority to trust besides the system's (PEM), for a company's own relay.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extra_root_pem: String,
    /// Where people open Peyvand (`https://crm.example.com`): links in messages start here.
    #[serde(default)]
    pub public_url: String,
}

/// How Peyvand reaches its SMS gateway: an HTTP request whose URL and body are templates over
/// `to`, `text`, `sender` and `id` (Iranian gateways take a form or JSON post with an API key).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    pub url: String,
    /// `form` or `json`: how the body is sent.
    pub body_kind: String,
    pub body: String,
    /// A header with the API key (`Authorization: Bearer …`, `apikey: …`), if the gateway asks.
    #[serde(default)]
    pub auth_header: String,
    #[serde(default, skip_serializing)]
    pub auth_value: String,
    #[serde(default)]
    pub sender: String,
}

const SECURITY: [&str; 3] = ["none", "starttls", "tls"];

/// A value kept under `key` in `automation_state`.
pub(crate) async fn raw_setting(db: &Db, key: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM automation_state WHERE key = $1")
        .bind(key.to_string())
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get::<String, _>(0)).transpose().map_err(Into::into)
}

/// Settings kept under `key` with their secret (a password, a gateway's key) beside them, never
/// in the settings themselves (so never answered back).
pub(crate) async fn read_with_secret<T: serde::de::DeserializeOwned>(
    db: &Db,
    key: &str,
) -> Result<Option<(T, String)>> {
    let Some(text) = raw_setting(db, key).await? else { return Ok(None) };
    let Ok(mut value) = serde_json::from_str::<Json>(&text) else { return Ok(None) };
    let secret = value.as_object_mut().and_then(|m| m.remove("secret")).and_then(|s| s.as_str().map(str::to_string));
    Ok(serde_json::from_value(value).ok().map(|t| (t, secret.unwrap_or_default())))
}

/// What to keep for settings and the secret given with them (a blank one keeps the stored one).
pub(crate) async fn with_secret<T: Serialize>(db: &Db, key: &str, input: &T, given: &str) -> Result<String> {
    let secret = if given.is_empty() {
        read_with_secret::<Json>(db, key).await?.map(|(_, s)| s).unwrap_or_default()
    } else {
        given.to_string()
    };
    let mut value = serde_json::to_value(input).map_err(|e| Error::Corrupt(e.to_string()))?;
    if let Some(m) = value.as_object_mut() {
        m.insert("secret".into(), json!(secret));
    }
    Ok(value.to_string())
}

async fn store_setting(db: &Db, key: &str, value: &str) -> Result<()> {
    let mut tx = db.write().await?;
    sqlx::query("INSERT INTO automation_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key.to_string())
        .bind(value.to_string())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The SMTP settings stored, their password included (for sending; never answer it back).
pub async fn smtp_settings(db: &Db) -> Result<Option<SmtpSettings>> {
    let stored = read_with_secret::<SmtpSettings>(db, "smtp").await?;
    Ok(stored.map(|(s, password)| SmtpSettings { password, ..s }))
}

fn valid_address(a: &str) -> bool {
    a.parse::<lettre::Address>().is_ok()
}

/// Whether a text holds a PEM certificate (the TLS library reads it only when it connects).
fn is_certificate(pem: &str) -> bool {
    use base64::Engine;
    let (Some(start), Some(end)) = (pem.find("-----BEGIN CERTIFICATE-----"), pem.find("-----END CERTIFICATE-----"))
    else {
        return false;
    };
    let body: String = pem[start + 27..end.max(start + 27)].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).is_ok_and(|der| der.len() > 100)
        && Certificate::from_pem(pem.as_bytes()).is_ok()
}

/// Saves the SMTP settings (a blank password keeps the stored one).
pub async fn save_smtp(db: &Db, input: &SmtpSettings) -> Result<SmtpSettings> {
    let mut errors = Vec::new();
    if input.host.trim().is_empty() || input.host.contains(char::is_whitespace) {
        errors.push(FieldError::new("host", "required"));
    }
    if input.port == 0 {
        errors.push(FieldError::new("port", "out_of_range"));
    }
    if !SECURITY.contains(&input.security.as_str()) {
        errors.push(FieldError::with("security", "invalid_option", json!({ "options": SECURITY })));
    }
    if !valid_address(&input.from_address) {
        errors.push(FieldError::new("from_address", "invalid_email"));
    }
    if !input.extra_root_pem.is_empty() && !is_certificate(&input.extra_root_pem) {
        errors.push(FieldError::new("extra_root_pem", "invalid_certificate"));
    }
    let url = input.public_url.trim();
    if !url.is_empty()
        && (!(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace))
    {
        errors.push(FieldError::new("public_url", "invalid_url"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let input = &SmtpSettings { public_url: url.trim_end_matches('/').to_string(), ..input.clone() };
    let value = with_secret(db, "smtp", input, &input.password).await?;
    store_setting(db, "smtp", &value).await?;
    Ok(input.clone())
}

pub async fn sms_settings(db: &Db) -> Result<Option<SmsSettings>> {
    let stored = read_with_secret::<SmsSettings>(db, "sms").await?;
    Ok(stored.map(|(s, auth_value)| SmsSettings { auth_value, ..s }))
}

/// Saves the SMS gateway (its templates checked now, not at send time).
pub async fn save_sms(db: &Db, input: &SmsSettings) -> Result<SmsSettings> {
    let mut errors = Vec::new();
    if !(input.url.starts_with("https://") || input.url.starts_with("http://")) {
        errors.push(FieldError::new("url", "invalid_url"));
    }
    if !["form", "json"].contains(&input.body_kind.as_str()) {
        errors.push(FieldError::with("body_kind", "invalid_option", json!({ "options": ["form", "json"] })));
    }
    for (part, source) in [("url", &input.url), ("body", &input.body)] {
        if let Err(e) = gateway_check(part, source) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let value = with_secret(db, "sms", input, &input.auth_value).await?;
    store_setting(db, "sms", &value).await?;
    Ok(input.clone())
}

fn gateway_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(10_000));
    env.add_filter("urlencode", |v: String| {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    });
    env.add_filter("json", |v: String| Json::String(v).to_string());
    env
}

fn gateway_check(part: &str, source: &str) -> std::result::Result<(), FieldError> {
    let env = gateway_env();
    let t = env.template_from_str(source).map_err(|e| {
        FieldError::with(
            part,
            "template_syntax",
            json!({ "line": e.line().unwrap_or(1), "detail": e.detail().unwrap_or_default() }),
        )
    })?;
    for name in t.undeclared_variables(false) {
        if !["to", "text", "sender", "id"].contains(&name.as_str()) {
            return Err(FieldError::with(part, "template_unknown_field", json!({ "name": name })));
        }
    }
    Ok(())
}

/// A message to send.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outgoing {
    /// Its event id (`{run}.{step}` for a workflow's).
    pub id: String,
    /// `email` or `sms`.
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub language: String,
    /// The record it concerns.
    pub object: String,
    pub record: String,
    pub contact: Option<String>,
    /// The user it is sent for (their name and reply address), or the system.
    pub sender: Option<String>,
    /// A campaign's: sent only with the recipient's consent for the channel, to an address not
    /// suppressed, with a one-click unsubscribe link (RFC 8058).
    pub marketing: bool,
}

/// A message as the outbox shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub id: String,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub object: String,
    pub record_id: String,
    pub contact_id: Option<String>,
    /// `queued`, `sent`, `failed` (`bounced` true when the server refused the recipient).
    pub status: String,
    pub bounced: bool,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

const MESSAGE_COLUMNS: &str = "id, channel, recipient, subject, body, object, record_id, contact_id, status, bounced, \
                               attempts, error, created_at, sent_at";

fn message_from_row(row: &sqlx::any::AnyRow) -> Result<Message> {
    Ok(Message {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        object: row.try_get("object")?,
        record_id: row.try_get("record_id")?,
        contact_id: row.try_get("contact_id")?,
        status: row.try_get("status")?,
        bounced: row.try_get::<i64, _>("bounced")? == 1,
        attempts: row.try_get("attempts")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

pub async fn message(db: &Db, id: &str) -> Result<Message> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {MESSAGE_COLUMNS} FROM outbound_messages WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("message {id}")))?;
    message_from_row(&row)
}

/// The outbox, newest first (`status` to see the failed ones).
pub async fn messages(db: &Db, status: Option<&str>, limit: i64) -> Result<Vec<Message>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM outbound_messages WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(status.unwrap_or_default().to_string())
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(message_from_row).collect()
}

/// Puts a failed message back in the queue (the same id).
pub async fn retry(db: &Db, id: &str) -> Result<Message> {
    let m = message(db, id).await?;
    if m.status != "failed" {
        return Err(Error::Conflict { code: "message_not_failed", details: Vec::new() });
    }
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE outbound_messages SET status = 'queued', attempts = 0, error = NULL, bounced = 0 WHERE id = $1",
    )
    .bind(id.to_string())
    .execute(&mut *tx.tx)
    .await?;
    let at = now();
    db.schedule_job_in(&mut tx, SEND_JOB, Some(&format!("{id}:{at}")), &at, &json!({ "message": id })).await?;
    tx.commit().await?;
    message(db, id).await
}

/// Queues a message in a write of the caller's; once per id.
pub async fn queue_in(db: &Db, tx: &mut WriteTx, m: &Outgoing) -> Result<()> {
    let at = now();
    let written = sqlx::query(
        "INSERT INTO outbound_messages (id, channel, recipient, subject, body, language, object, record_id, contact_id, \
         sender_id, status, bounced, attempts, created_at, purpose) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, 0, $11, $12) ON CONFLICT DO NOTHING",
    )
    .bind(m.id.clone())
    .bind(m.channel.clone())
    .bind(m.to.clone())
    .bind(m.subject.clone())
    .bind(m.body.clone())
    .bind(m.language.clone())
    .bind(m.object.clone())
    .bind(m.record.clone())
    .bind(m.contact.clone())
    .bind(m.sender.clone())
    .bind(at.clone())
    .bind(if m.marketing { "marketing" } else { "transactional" })
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if written == 1 {
        db.schedule_job_in(tx, SEND_JOB, Some(&format!("{}:{at}", m.id)), &at, &json!({ "message": m.id })).await?;
    }
    Ok(())
}

/// Queues, in a write of the caller's, a marketing message to a contact made from a template
/// when it is sent (at `at`): its address, subject and body are filled in then. Once per id.
pub async fn queue_template_in(
    db: &Db,
    tx: &mut WriteTx,
    id: &str,
    channel: &str,
    template: &str,
    contact: &str,
    at: &str,
) -> Result<()> {
    let written = sqlx::query(
        "INSERT INTO outbound_messages (id, channel, recipient, subject, body, language, object, record_id, contact_id, \
         sender_id, status, bounced, attempts, created_at, purpose, template_id) \
         VALUES ($1, $2, '', '', '', 'fa', 'contact', $3, $3, NULL, 'queued', 0, 0, $4, 'marketing', $5) ON CONFLICT DO NOTHING",
    )
    .bind(id.to_string())
    .bind(channel.to_string())
    .bind(contact.to_string())
    .bind(now())
    .bind(template.to_string())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if written == 1 {
        db.schedule_job_in(tx, SEND_JOB, Some(&format!("{id}:{at}")), at, &json!({ "message": id })).await?;
    }
    Ok(())
}

/// [`queue_template_in`] for many: each `(message id, contact, send at)`, a few statements for
/// all. Returns how many were queued (a message id written before is left as it is).
pub async fn queue_templates_in(
    tx: &mut WriteTx,
    channel: &str,
    template: &str,
    messages: &[(String, String, String)],
) -> Result<u64> {
    /// Rows per statement (five parameters each).
    const ROWS: usize = 500;
    let made = now();
    let mut sends = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(ROWS) {
        let mut sql = String::from(
            "INSERT INTO outbound_messages (id, channel, recipient, subject, body, language, object, record_id, contact_id, \
             sender_id, status, bounced, attempts, created_at, purpose, template_id) VALUES ",
        );
        for i in 0..chunk.len() {
            let n = i * 5;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, '', '', '', 'fa', 'contact', ${}, ${}, NULL, 'queued', 0, 0, ${}, 'marketing', ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 3,
                n + 4,
                n + 5
            ));
        }
        sql.push_str(" ON CONFLICT DO NOTHING RETURNING id");
        // Only placeholders are formatted into the text.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, contact, _) in chunk {
            q = q
                .bind(id.clone())
                .bind(channel.to_string())
                .bind(contact.clone())
                .bind(made.clone())
                .bind(template.to_string());
        }
        let written: std::collections::HashSet<String> = q
            .fetch_all(&mut *tx.tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()?;
        sends.extend(
            chunk
                .iter()
                .filter(|(id, _, _)| written.contains(id))
                .map(|(id, _, at)| (format!("{id}:{at}"), at.clone(), json!({ "message": id }))),
        );
    }
    tx.schedule_jobs(SEND_JOB, &sends).await
}

/// A template's message made now for its contact: its address, subject and body (with tracked
/// links), written to the outbox. False when the contact has no address on the channel or is
/// gone (the message fails).
async fn render_queued(db: &Db, m: &mut Message, template: &str) -> Result<bool> {
    let system = db.system();
    let fail = async |error: &str| -> Result<bool> {
        sqlx::query("UPDATE outbound_messages SET status = 'failed', error = $1 WHERE id = $2")
            .bind(error.to_string())
            .bind(m.id.clone())
            .execute(db.pool())
            .await?;
        Ok(false)
    };
    let Some(contact_id) = m.contact_id.clone() else { return fail("no contact").await };
    let t = match super::templates::get(&system, template).await {
        Ok(t) => t,
        Err(Error::NotFound(_)) => return fail("the template is gone").await,
        Err(e) => return Err(e),
    };
    let contact = match system.get_record("contact", &contact_id, false).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return fail("the contact is gone").await,
        Err(e) => return Err(e),
    };
    let obj = system.object("contact").await?;
    let Some((to, _)) = recipient(&system, None, &obj, &contact, &m.channel).await? else {
        return fail("no address on the channel").await;
    };
    let rendered = match super::templates::render_for(&system, &t, &contact_id).await {
        Ok(r) => r,
        Err(Error::Validation(_)) => return fail("the template does not render").await,
        Err(e) => return Err(e),
    };
    let body = crate::track_links(db, &m.id, &rendered.body).await?;
    sqlx::query("UPDATE outbound_messages SET recipient = $1, subject = $2, body = $3, language = $4 WHERE id = $5")
        .bind(to.clone())
        .bind(rendered.subject.clone())
        .bind(body.clone())
        .bind(t.language.clone())
        .bind(m.id.clone())
        .execute(db.pool())
        .await?;
    (m.recipient, m.subject, m.body) = (to, rendered.subject, body);
    Ok(true)
}

/// Where a message about `record` goes: its own e-mail (or mobile), else its contact's. With the
/// contact it reached, if any. Inside a write (`tx`) the contact is read on it, else through the
/// pool.
pub async fn recipient(
    db: &Db,
    tx: Option<&mut WriteTx>,
    object: &ObjectDef,
    record: &Record,
    channel: &str,
) -> Result<Option<(String, Option<String>)>> {
    let kind = if channel == "sms" { FieldType::Phone } else { FieldType::Email };
    let first = |o: &ObjectDef, r: &Record| -> Option<String> {
        let found: Vec<String> = o
            .live_fields()
            .filter(|f| f.field_type == kind)
            .flat_map(|f| match r.fields.get(&f.api_name) {
                Some(Json::String(s)) if !s.is_empty() => vec![s.clone()],
                Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).map(str::to_string).collect(),
                _ => Vec::new(),
            })
            .collect();
        // A text goes to a mobile (+989…) before a landline.
        found.iter().find(|p| kind != FieldType::Phone || p.starts_with("+989")).or(found.first()).cloned()
    };
    let own_contact = (object.api_name == "contact").then(|| record.id.clone());
    if let Some(to) = first(object, record) {
        return Ok(Some((to, own_contact)));
    }
    let Some(contact_id) = record.fields.get("contact").and_then(Json::as_str) else { return Ok(None) };
    let Some(contact_obj) = db.catalog_cached()?.object("contact") else { return Ok(None) };
    let read = match tx {
        Some(tx) => db.system().get_in(tx, &contact_obj, contact_id).await,
        None => db.system().get_record("contact", contact_id, false).await,
    };
    let contact = match read {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(first(&contact_obj, &contact).map(|to| (to, Some(contact_id.to_string()))))
}

/// Sends one queued message.
pub struct Sender;

impl JobKind for Sender {
    fn kind(&self) -> &'static str {
        SEND_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let id = job.payload.get("message").and_then(Json::as_str).unwrap_or_default();
            send(db, id).await.map_err(|e| e.to_string())
        })
    }

    fn group(&self, job: &Job) -> Option<String> {
        job.payload.get("message").and_then(Json::as_str).map(str::to_string)
    }
}

/// How an attempt went.
enum Sent {
    Ok,
    /// Refused for good (the recipient does not exist): a bounce.
    Refused(String),
    /// Try again later.
    Later(String),
}

async fn send(db: &Db, id: &str) -> Result<()> {
    let mut m = match message(db, id).await {
        Ok(m) => m,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    if m.status != "queued" {
        return Ok(());
    }
    let row = sqlx::query(
        "SELECT language, sender_id, html, attachment_json, purpose, template_id FROM outbound_messages WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_one(db.pool())
    .await?;
    if let Some(template) = row.try_get::<Option<String>, _>(5)?
        && m.body.is_empty()
        && !render_queued(db, &mut m, &template).await?
    {
        return Ok(());
    }
    let row = sqlx::query("SELECT language FROM outbound_messages WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(db.pool())
        .await?
        .try_get::<String, _>(0)
        .map(|l| (l, row))?;
    let (language, row) = row;
    let sender: Option<String> = row.try_get(1)?;
    let marketing = row.try_get::<String, _>(4)? == "marketing";
    let mut extra = Extra {
        html: row.try_get(2)?,
        attachment: row.try_get::<Option<String>, _>(3)?.and_then(|a| serde_json::from_str(&a).ok()),
        unsubscribe: None,
    };
    // Marketing goes only where consent stands now, whoever chose the recipients.
    if marketing {
        let mut tx = db.write().await?;
        if !consent::allowed_in(&mut tx, m.contact_id.as_deref(), &m.channel, &m.recipient).await? {
            sqlx::query(
                "UPDATE outbound_messages SET status = 'suppressed', error = $1 WHERE id = $2 AND status = 'queued'",
            )
            .bind("no consent for the channel, or the address is suppressed")
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            return tx.commit().await;
        }
        drop(tx);
        if let Some(contact) = &m.contact_id {
            let token = consent::unsubscribe_token(db, contact, &m.channel).await?;
            extra.unsubscribe = Some(format!("{}/u/{token}", public_url(db).await?));
        }
    }
    let outcome = if m.channel == "sms" {
        send_sms(db, &m).await?
    } else {
        send_email(db, &m, &language, sender.as_deref(), &extra).await?
    };
    let attempts = m.attempts + 1;
    let mut tx = db.write().await?;
    match outcome {
        Sent::Ok => {
            let changed = sqlx::query(
                "UPDATE outbound_messages SET status = 'sent', attempts = $1, error = NULL, sent_at = $2 \
                 WHERE id = $3 AND status = 'queued'",
            )
            .bind(attempts)
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
            // A message to a user (a notification, a report) is on no customer's timeline.
            if changed == 1 && m.object != super::digest::ABOUT_USER {
                on_timeline(db, &mut tx, &m, sender.as_deref()).await?;
            }
        }
        Sent::Refused(error) => {
            sqlx::query(
                "UPDATE outbound_messages SET status = 'failed', bounced = 1, attempts = $1, error = $2 WHERE id = $3",
            )
            .bind(attempts)
            .bind(error)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            // No marketing goes to an address that bounced.
            consent::suppress_in(&mut tx, &m.recipient, &m.channel, "bounced", m.contact_id.as_deref()).await?;
        }
        Sent::Later(error) => {
            let last = attempts >= MAX_ATTEMPTS;
            sqlx::query("UPDATE outbound_messages SET status = $1, attempts = $2, error = $3 WHERE id = $4")
                .bind(if last { "failed" } else { "queued" })
                .bind(attempts)
                .bind(error)
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await?;
            if !last {
                let at = format_datetime(OffsetDateTime::now_utc() + retry_after(attempts));
                db.schedule_job_in(&mut tx, SEND_JOB, Some(&format!("{id}:{at}")), &at, &json!({ "message": id }))
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The sent message as an activity on the timeline of its contact and record.
async fn on_timeline(db: &Db, tx: &mut WriteTx, m: &Message, sender: Option<&str>) -> Result<()> {
    let system = db.system();
    let Some(activity) = system.catalog_cached()?.object("activity") else { return Ok(()) };
    let mut input = Map::new();
    input.insert("kind".into(), json!(if m.channel == "sms" { "sms" } else { "email" }));
    input.insert("direction".into(), json!("outbound"));
    let subject = if m.subject.is_empty() { m.body.chars().take(80).collect() } else { m.subject.clone() };
    input.insert("subject".into(), json!(subject));
    input.insert("body".into(), json!(m.body.chars().take(10_000).collect::<String>()));
    input.insert("occurred_at".into(), json!(now()));
    if let Some(c) = &m.contact_id {
        input.insert("contact".into(), json!(c));
    }
    if m.object != "contact"
        && let Some(f) = activity.live_fields().find(|f| f.options.target.as_deref() == Some(m.object.as_str()))
    {
        input.insert(f.api_name.clone(), json!(m.record_id));
    }
    if let Some(s) = sender {
        input.insert(OWNER_FIELD.into(), json!(s));
    }
    let checked =
        peyvand_records::validate(&activity, &input, peyvand_records::Mode::Create).map_err(Error::Validation)?;
    let made = system.create_in(tx, sender, &activity, &checked.values).await?;
    sqlx::query("UPDATE outbound_messages SET activity_id = $1 WHERE id = $2")
        .bind(made)
        .bind(m.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

fn html_of(body: &str, lang: &str) -> String {
    let escaped = body.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let dir = if lang == "fa" { "rtl" } else { "ltr" };
    let paragraphs: Vec<String> =
        escaped.split("\n\n").map(|p| format!("<p>{}</p>", p.trim().replace('\n', "<br>"))).collect();
    format!(
        "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><body style=\"font-family: Vazirmatn, Tahoma, sans-serif; \
         direction: {dir}\">{}</body></html>",
        paragraphs.join("")
    )
}

/// A file sent with a message (a scheduled report), its bytes in base64 as the outbox keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub base64: String,
}

/// What a message may carry besides its text: its own HTML, a file.
#[derive(Default)]
struct Extra {
    html: Option<String>,
    attachment: Option<Attachment>,
    /// A marketing message's one-click unsubscribe address.
    unsubscribe: Option<String>,
}

/// Gives a message queued in this write its own HTML body (shown instead of its text's) and a
/// file.
pub async fn attach_in(tx: &mut WriteTx, id: &str, html: Option<&str>, attachment: Option<&Attachment>) -> Result<()> {
    let attachment = attachment.map(serde_json::to_string).transpose().map_err(|e| Error::Corrupt(e.to_string()))?;
    sqlx::query("UPDATE outbound_messages SET html = $1, attachment_json = $2 WHERE id = $3 AND status = 'queued'")
        .bind(html.map(str::to_string))
        .bind(attachment)
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

async fn send_email(db: &Db, m: &Message, lang: &str, sender: Option<&str>, extra: &Extra) -> Result<Sent> {
    let Some(settings) = smtp_settings(db).await? else {
        return Ok(Sent::Later("no SMTP server is set up".into()));
    };
    let mut from_name = settings.from_name.clone();
    let mut reply_to = None;
    if let Some(s) = sender
        && let Ok(user) = db.user(s).await
    {
        from_name = user.name.clone();
        reply_to = user.email.parse::<lettre::Address>().ok();
    }
    let Ok(from_address) = settings.from_address.parse::<lettre::Address>() else {
        return Ok(Sent::Later("the sender's address is invalid".into()));
    };
    let Ok(to) = m.recipient.parse::<lettre::Address>() else {
        return Ok(Sent::Refused(format!("not an e-mail address: {}", m.recipient)));
    };
    let domain = from_address.domain().to_string();
    let mut builder = lettre::Message::builder()
        .from(Mailbox::new((!from_name.is_empty()).then_some(from_name), from_address))
        .to(Mailbox::new(None, to))
        .subject(m.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", m.id)))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Peyvand-Event-Id"), m.id.clone()));
    if let Some(r) = reply_to {
        builder = builder.reply_to(Mailbox::new(None, r));
    }
    if let Some(link) = &extra.unsubscribe {
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{link}>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
    }
    let html = extra.html.clone().unwrap_or_else(|| html_of(&m.body, lang));
    let mut parts = MultiPart::alternative_plain_html(m.body.clone(), html);
    if let Some(a) = &extra.attachment {
        use base64::Engine as _;
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&a.base64) else {
            return Ok(Sent::Refused("the attachment does not read".into()));
        };
        let Ok(kind) = lettre::message::header::ContentType::parse(&a.content_type) else {
            return Ok(Sent::Refused(format!("not a content type: {}", a.content_type)));
        };
        parts = MultiPart::mixed()
            .multipart(parts)
            .singlepart(lettre::message::Attachment::new(a.name.clone()).body(bytes, kind));
    }
    let email = match builder.multipart(parts) {
        Ok(e) => e,
        Err(e) => return Ok(Sent::Refused(format!("the message could not be built: {e}"))),
    };
    let transport = match transport(&settings) {
        Ok(t) => t,
        Err(e) => return Ok(Sent::Later(e)),
    };
    Ok(match transport.send(email).await {
        Ok(_) => Sent::Ok,
        Err(e) if e.is_permanent() => Sent::Refused(format!("refused: {e}")),
        Err(e) => Sent::Later(format!("not sent: {e}")),
    })
}

fn transport(s: &SmtpSettings) -> std::result::Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = || -> std::result::Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(s.host.clone());
        if !s.extra_root_pem.is_empty() {
            let cert = Certificate::from_pem(s.extra_root_pem.as_bytes()).map_err(|e| e.to_string())?;
            b = b.add_root_certificate(cert);
        }
        b.build().map_err(|e| e.to_string())
    };
    let security = match s.security.as_str() {
        "tls" => Tls::Wrapper(tls()?),
        "starttls" => Tls::Required(tls()?),
        _ => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
        .port(s.port)
        .tls(security)
        .timeout(Some(std::time::Duration::from_secs(20)));
    if !s.username.is_empty() {
        b = b.credentials(Credentials::new(s.username.clone(), s.password.clone()));
    }
    Ok(b.build())
}

async fn send_sms(db: &Db, m: &Message) -> Result<Sent> {
    let Some(s) = sms_settings(db).await? else {
        return Ok(Sent::Later("no SMS gateway is set up".into()));
    };
    let env = gateway_env();
    let ctx = minijinja::context! { to => m.recipient.clone(), text => m.body.clone(), sender => s.sender.clone(), id => m.id.clone() };
    let render = |src: &str| env.render_str(src, &ctx).map_err(|e| e.to_string());
    let (url, body) = match (render(&s.url), render(&s.body)) {
        (Ok(u), Ok(b)) => (u, b),
        (Err(e), _) | (_, Err(e)) => return Ok(Sent::Refused(format!("the gateway's template failed: {e}"))),
    };
    let content_type = if s.body_kind == "json" { "application/json" } else { "application/x-www-form-urlencoded" };
    let mut request = gateway_client().post(&url).header("content-type", content_type).body(body);
    if !s.auth_header.is_empty() {
        request = request.header(s.auth_header.as_str(), s.auth_value.as_str());
    }
    Ok(match request.send().await {
        Ok(r) if r.status().is_success() => Sent::Ok,
        Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
            Sent::Refused(format!("the gateway refused it: HTTP {}", r.status().as_u16()))
        }
        Ok(r) => Sent::Later(format!("the gateway answered HTTP {}", r.status().as_u16())),
        Err(e) => Sent::Later(format!("the gateway could not be reached: {}", e.without_url())),
    })
}

fn gateway_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// A gateway's delivery report: the message it names (by our id) was delivered or not.
pub async fn delivery_report(db: &Db, id: &str, delivered: bool, detail: &str) -> Result<Message> {
    let m = message(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE outbound_messages SET delivered = $1, delivery_detail = $2, delivered_at = $3 WHERE id = $4")
        .bind(i64::from(delivered))
        .bind(detail.chars().take(500).collect::<String>())
        .bind(now())
        .bind(m.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    message(db, id).await
}

/// In the write of a public reply to a ticket: the reply e-mailed to the customer (their
/// contact's address, else the requester's), under the message's id, so that their answer
/// (`In-Reply-To`) comes back to the ticket. Nothing when no SMTP server is set up.
pub async fn ticket_reply_in(db: &Db, tx: &mut WriteTx, ticket_id: &str, message_id: &str, body: &str) -> Result<()> {
    // Read on the write's own connection (it must not wait for another of the pool).
    let configured =
        sqlx::query("SELECT 1 FROM automation_state WHERE key = 'smtp'").fetch_optional(&mut *tx.tx).await?;
    if configured.is_none() {
        return Ok(());
    }
    let system = db.system();
    let Some(obj) = system.catalog_cached()?.object("ticket") else { return Ok(()) };
    let ticket = system.get_in(tx, &obj, ticket_id).await?;
    let to = match recipient(&system, Some(tx), &obj, &ticket, "email").await? {
        Some(found) => Some(found),
        None => ticket.fields.get("requester_email").and_then(Json::as_str).map(|e| (e.to_string(), None)),
    };
    let Some((to, contact)) = to else { return Ok(()) };
    let field = |f: &str| ticket.fields.get(f).and_then(Json::as_str).unwrap_or_default().to_string();
    let message = Outgoing {
        id: message_id.to_string(),
        channel: "email".into(),
        to,
        subject: format!("[{}] {}", field("number"), field("subject")),
        body: body.to_string(),
        language: "fa".into(),
        object: "ticket".into(),
        record: ticket_id.to_string(),
        contact: contact.or_else(|| ticket.fields.get("contact").and_then(Json::as_str).map(str::to_string)),
        sender: ticket.fields.get(OWNER_FIELD).and_then(Json::as_str).map(str::to_string),
        marketing: false,
    };
    queue_in(db, tx, &message).await
}

/// Queues, in the write that made an e-mail consent pending, the message asking the person to
/// confirm it (double opt-in) by following `link`; nothing when they have no e-mail.
pub async fn consent_confirmation_in(db: &Db, tx: &mut WriteTx, contact: &str, link: &str) -> Result<()> {
    let system = db.system();
    let Some(obj) = system.catalog_cached()?.object("contact") else { return Ok(()) };
    let record = system.get_in(tx, &obj, contact).await?;
    let Some((to, _)) = recipient(&system, Some(tx), &obj, &record, "email").await? else { return Ok(()) };
    let message = Outgoing {
        id: format!("consent:{contact}:{}", peyvand_store::new_id()),
        channel: "email".into(),
        to,
        subject: "تأیید دریافت ایمیل — Please confirm".into(),
        body: format!(
            "برای تأیید دریافت ایمیل‌های ما این پیوند را باز کنید:\n{link}\n\nTo confirm that you want our e-mails, open this link:\n{link}"
        ),
        language: "fa".into(),
        object: "contact".into(),
        record: contact.to_string(),
        contact: Some(contact.to_string()),
        sender: None,
        marketing: false,
    };
    queue_in(db, tx, &message).await
}

/// The public address links in messages start with (the messaging settings'), or empty.
pub async fn public_url(db: &Db) -> Result<String> {
    Ok(smtp_settings(db).await?.map(|s| s.public_url).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_right_to_left_in_persian() {
        let html = html_of("سلام <علی>\n\nخط دوم", "fa");
        assert!(html.contains("dir=\"rtl\""));
        assert!(html.contains("&lt;علی&gt;"));
        assert_eq!(html.matches("<p>").count(), 2);
    }

    #[test]
    fn gateway_templates_name_only_what_a_message_has() {
        assert!(gateway_check("body", "receptor={{ to | urlencode }}&message={{ text | urlencode }}").is_ok());
        assert_eq!(gateway_check("body", "{{ password }}").map_err(|e| e.code), Err("template_unknown_field"));
        let env = gateway_env();
        let out = env.render_str("m={{ text | urlencode }}", minijinja::context! { text => "سلام a&b" });
        assert_eq!(out.ok().as_deref(), Some("m=%D8%B3%D9%84%D8%A7%D9%85%20a%26b"));
    }
}
