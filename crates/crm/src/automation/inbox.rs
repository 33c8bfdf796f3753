//! E-mail in: a mailbox read over IMAP by the `mail_poll` job (every minute by default), each
//! message handled once (by its `Message-ID`, kept in `inbound_messages`):
//!
//! - an answer to a message Peyvand sent (`In-Reply-To` or `References` naming its id) joins
//!   what that message was about: a ticket's conversation (the customer's reply, its files
//!   kept; a waiting ticket opens again), or the timeline of the record;
//! - a delivery report naming a message Peyvand sent marks that message bounced;
//! - a message to the support address opens a ticket (its sender's contact, else the sender as
//!   requester; its files kept);
//! - any other message from a known contact goes on their timeline;
//! - what is left is kept as unmatched; a message that cannot be read is kept as unreadable.
//!
//! The mailbox's last UID is kept with its UIDVALIDITY, so a poll reads only what is new; a
//! message handled twice (a poll retaken after a crash) is recognized by its id and skipped.

use crate::service::conversation::{self, Upload};
use mail_parser::{Address, MessageParser, MimeHeaders};
use peyvand_records::FieldError;
use peyvand_records::value::format_datetime;
use peyvand_store::events::Job;
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::Arc;
use time::OffsetDateTime;

/// The job that reads the mailbox.
pub const POLL_JOB: &str = "mail_poll";
/// Messages read in one poll.
const PER_POLL: usize = 50;
/// The longest text kept from a message.
const MAX_TEXT: usize = 20_000;

/// How Peyvand reaches its mailbox.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    /// `tls` (implicit, port 993), `starttls` or `none`.
    pub security: String,
    pub username: String,
    #[serde(default, skip_serializing)]
    pub password: String,
    #[serde(default = "inbox")]
    pub mailbox: String,
    /// Messages to this address open tickets (empty: none do).
    #[serde(default)]
    pub support_address: String,
    #[serde(default = "minute")]
    pub poll_seconds: u32,
}

fn inbox() -> String {
    "INBOX".into()
}

fn minute() -> u32 {
    60
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Handled {
    pub message_id: String,
    /// `ticket_reply`, `ticket`, `timeline`, `bounce`, `unmatched`, `unreadable`, `seen`.
    pub outcome: String,
    pub object: Option<String>,
    pub record_id: Option<String>,
}

async fn state(db: &Db, key: &str) -> Result<Option<String>> {
    super::mail::raw_setting(db, key).await
}

async fn set_state_in(tx: &mut WriteTx, key: &str, value: &str) -> Result<()> {
    sqlx::query("INSERT INTO automation_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key.to_string())
        .bind(value.to_string())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

/// The mailbox's settings, the password included (for reading; never answer it back).
pub async fn imap_settings(db: &Db) -> Result<Option<ImapSettings>> {
    let stored = super::mail::read_with_secret::<ImapSettings>(db, "imap").await?;
    Ok(stored.map(|(s, password)| ImapSettings { password, ..s }))
}

/// Saves the mailbox's settings (a blank password keeps the stored one) and starts polling.
pub async fn save_imap(db: &Db, input: &ImapSettings) -> Result<ImapSettings> {
    let mut errors = Vec::new();
    if input.host.trim().is_empty() || input.host.contains(char::is_whitespace) {
        errors.push(FieldError::new("host", "required"));
    }
    if input.port == 0 {
        errors.push(FieldError::new("port", "out_of_range"));
    }
    if !["none", "starttls", "tls"].contains(&input.security.as_str()) {
        errors.push(FieldError::with("security", "invalid_option", json!({ "options": ["none", "starttls", "tls"] })));
    }
    if input.username.trim().is_empty() {
        errors.push(FieldError::new("username", "required"));
    }
    if !input.support_address.is_empty() && input.support_address.parse::<lettre::Address>().is_err() {
        errors.push(FieldError::new("support_address", "invalid_email"));
    }
    if !(10..=3600).contains(&input.poll_seconds) {
        errors.push(FieldError::with("poll_seconds", "out_of_range", json!({ "min": 10, "max": 3600 })));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let value = super::mail::with_secret(db, "imap", input, &input.password).await?;
    let mut tx = db.write().await?;
    set_state_in(&mut tx, "imap", &value).await?;
    let at = now();
    db.schedule_job_in(&mut tx, POLL_JOB, Some(&format!("poll:{at}")), &at, &json!({})).await?;
    tx.commit().await?;
    Ok(input.clone())
}

/// Why the last poll could not read the mailbox, if it could not.
pub async fn last_error(db: &Db) -> Result<Option<String>> {
    Ok(state(db, "imap_error").await?.filter(|e| !e.is_empty()))
}

/// Messages received, newest first.
pub async fn received(db: &Db, limit: i64) -> Result<Vec<Json>> {
    let rows = sqlx::query(
        "SELECT message_id, sender, subject, outcome, object, record_id, error, received_at FROM inbound_messages \
         ORDER BY received_at DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "message_id": r.try_get::<String, _>(0)?, "sender": r.try_get::<String, _>(1)?,
                "subject": r.try_get::<String, _>(2)?, "outcome": r.try_get::<String, _>(3)?,
                "object": r.try_get::<Option<String>, _>(4)?, "record_id": r.try_get::<Option<String>, _>(5)?,
                "error": r.try_get::<Option<String>, _>(6)?, "received_at": r.try_get::<String, _>(7)?,
            }))
        })
        .collect()
}

/// Reads the mailbox now and then again after its interval.
pub struct Poll;

impl JobKind for Poll {
    fn kind(&self) -> &'static str {
        POLL_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, _job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let Some(settings) = imap_settings(db).await.map_err(|e| e.to_string())? else { return Ok(()) };
            // A mailbox that cannot be read now is read at the next poll: the error is kept for
            // the settings page, and the job is done (a retry would start a second chain).
            let error = match poll(db, &settings).await {
                Ok(_) => String::new(),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the mailbox failed");
                    e.to_string()
                }
            };
            // The next poll at the next multiple of the interval: every chain (a save starts one)
            // meets on the same key there, so one poll runs per interval.
            let every = i64::from(settings.poll_seconds.max(10));
            let slot = (OffsetDateTime::now_utc().unix_timestamp() / every + 1) * every;
            let at = OffsetDateTime::from_unix_timestamp(slot).map(format_datetime).map_err(|e| e.to_string())?;
            let mut tx = db.write().await.map_err(|e| e.to_string())?;
            set_state_in(&mut tx, "imap_error", &error).await.map_err(|e| e.to_string())?;
            db.schedule_job_in(&mut tx, POLL_JOB, Some(&format!("poll:{slot}")), &at, &json!({}))
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())
        })
    }

    fn group(&self, _job: &Job) -> Option<String> {
        Some("mailbox".into())
    }
}

fn imap_error(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("the mailbox: {e}"))
}

/// Reads what is new in the mailbox and handles it; returns what each message became.
pub async fn poll(db: &Db, s: &ImapSettings) -> Result<Vec<Handled>> {
    let tcp = tokio::net::TcpStream::connect((s.host.as_str(), s.port)).await.map_err(imap_error)?;
    match s.security.as_str() {
        "tls" => {
            let tls = tls_connect(&s.host, tcp).await?;
            read_mailbox(db, s, async_imap::Client::new(tls), true).await
        }
        "starttls" => {
            let mut client = async_imap::Client::new(tcp);
            client.read_response().await.map_err(imap_error)?;
            client.run_command_and_check_ok("STARTTLS", None).await.map_err(imap_error)?;
            let tls = tls_connect(&s.host, client.into_inner()).await?;
            read_mailbox(db, s, async_imap::Client::new(tls), false).await
        }
        _ => read_mailbox(db, s, async_imap::Client::new(tcp), true).await,
    }
}

async fn tls_connect(
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(imap_error)?;
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(imap_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string()).map_err(imap_error)?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(imap_error)
}

async fn read_mailbox<T>(
    db: &Db,
    s: &ImapSettings,
    mut client: async_imap::Client<T>,
    greeting: bool,
) -> Result<Vec<Handled>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    use futures_util::TryStreamExt;
    if greeting {
        client.read_response().await.map_err(imap_error)?;
    }
    let mut session = client.login(&s.username, &s.password).await.map_err(|(e, _)| imap_error(e))?;
    let mailbox = session.select(&s.mailbox).await.map_err(imap_error)?;
    let validity = mailbox.uid_validity.unwrap_or(0).to_string();
    let key = format!("imap_last_uid:{}:{}", s.username, s.mailbox);
    let last: u32 = match state(db, &key).await? {
        Some(v) => match v.split_once(':') {
            Some((val, uid)) if val == validity => uid.parse().unwrap_or(0),
            _ => 0,
        },
        None => 0,
    };
    let uids = session.uid_search(format!("UID {}:*", last + 1)).await.map_err(imap_error)?;
    let mut uids: Vec<u32> = uids.into_iter().filter(|u| *u > last).collect();
    uids.sort_unstable();
    uids.truncate(PER_POLL);
    let mut handled = Vec::new();
    for uid in uids {
        let fetched: Vec<_> = session
            .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await
            .map_err(imap_error)?
            .try_collect()
            .await
            .map_err(imap_error)?;
        for f in &fetched {
            if let Some(raw) = f.body() {
                handled.push(handle(db, s, raw).await?);
            }
        }
        let mut tx = db.write().await?;
        set_state_in(&mut tx, &key, &format!("{validity}:{uid}")).await?;
        tx.commit().await?;
    }
    let _ = session.logout().await;
    Ok(handled)
}

fn addresses(a: Option<&Address<'_>>) -> Vec<(String, String)> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| Some((x.address()?.trim().to_ascii_lowercase(), x.name().unwrap_or_default().to_string())))
            .collect()
    })
    .unwrap_or_default()
}

/// The ids Peyvand gave its own messages that `text` names (`<{id}@…>`).
fn our_ids(text: &str) -> Vec<String> {
    text.split(['<', '>', ' ', ',', '\n', '\r', '\t'])
        .filter_map(|part| part.split_once('@').map(|(local, _)| local))
        .filter(|local| local.len() >= 36 && local.len() <= 80)
        .map(str::to_string)
        .collect()
}

async fn outbound(db: &Db, ids: &[String]) -> Result<Option<(String, String, String, Option<String>)>> {
    for id in ids {
        let row = sqlx::query("SELECT id, object, record_id, contact_id FROM outbound_messages WHERE id = $1")
            .bind(id.clone())
            .fetch_optional(db.pool())
            .await?;
        if let Some(r) = row {
            return Ok(Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)));
        }
    }
    Ok(None)
}

async fn contact_by_email(db: &Db, email: &str) -> Result<Option<Record>> {
    let obj = db.object("contact").await?;
    let Ok(filter) =
        peyvand_records::filter::parse_filter(&obj, &json!({ "field": "emails", "op": "eq", "value": email }))
    else {
        return Ok(None);
    };
    let query = ListQuery { filter: Some(filter), limit: Some(1), ..ListQuery::default() };
    Ok(db.system().list_records("contact", &query).await?.records.into_iter().next())
}

/// Handles one message as it came (its raw bytes), once.
pub async fn handle(db: &Db, s: &ImapSettings, raw: &[u8]) -> Result<Handled> {
    let fallback_id = format!("sha256:{}", Sha256::digest(raw).iter().map(|b| format!("{b:02x}")).collect::<String>());
    let Some(m) = MessageParser::default().parse(raw) else {
        return note(db, &fallback_id, "", "", "unreadable", None, Some("not a MIME message")).await;
    };
    let message_id = m.message_id().map(|i| i.chars().take(400).collect::<String>()).unwrap_or(fallback_id);
    let seen = sqlx::query("SELECT outcome, object, record_id FROM inbound_messages WHERE message_id = $1")
        .bind(message_id.clone())
        .fetch_optional(db.pool())
        .await?;
    if seen.is_some() {
        return Ok(Handled { message_id, outcome: "seen".into(), object: None, record_id: None });
    }
    let from = addresses(m.from()).into_iter().next().unwrap_or_default();
    let subject: String = m.subject().unwrap_or_default().chars().take(500).collect();
    let text: String = m
        .body_text(0)
        .map(|t| t.to_string())
        .or_else(|| m.body_html(0).map(|h| strip_tags(&h)))
        .unwrap_or_default()
        .chars()
        .take(MAX_TEXT)
        .collect();
    let files: Vec<Upload> = m
        .attachments()
        .filter_map(|a| {
            let name = a.attachment_name()?.to_string();
            Some(Upload { file_name: name, bytes: a.contents().to_vec() })
        })
        .take(10)
        .collect();
    // A delivery report about a message Peyvand sent: that message bounced.
    let report = m.content_type().is_some_and(|c| c.ctype() == "multipart" && c.subtype() == Some("report"))
        || from.0.starts_with("mailer-daemon@")
        || from.0.starts_with("postmaster@");
    let refs: String = [m.in_reply_to().as_text_list(), m.references().as_text_list()]
        .into_iter()
        .flatten()
        .flatten()
        .map(|r| format!("<{r}>"))
        .collect::<Vec<_>>()
        .join(" ");
    if report {
        let raw_text = String::from_utf8_lossy(raw);
        if let Some((id, object, record, _)) = outbound(db, &our_ids(&raw_text)).await? {
            let mut tx = db.write().await?;
            sqlx::query("UPDATE outbound_messages SET status = 'failed', bounced = 1, error = $1 WHERE id = $2")
                .bind(format!("bounced: {subject}"))
                .bind(id.clone())
                .execute(&mut *tx.tx)
                .await?;
            // No marketing goes to an address that bounced.
            let sent = sqlx::query("SELECT recipient, channel, contact_id FROM outbound_messages WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx.tx)
                .await?;
            if let Some(sent) = sent {
                let (to, channel, contact): (String, String, Option<String>) =
                    (sent.try_get(0)?, sent.try_get(1)?, sent.try_get(2)?);
                crate::customers::consent::suppress_in(&mut tx, &to, &channel, "bounced", contact.as_deref()).await?;
            }
            tx.commit().await?;
            return note(db, &message_id, &from.0, &subject, "bounce", Some((&object, &record)), None).await;
        }
    }
    let contact = if from.0.is_empty() { None } else { contact_by_email(db, &from.0).await? };
    let contact_id = contact.as_ref().map(|c| c.id.clone());
    if let Some((_, object, record, known_contact)) = outbound(db, &our_ids(&refs)).await? {
        let contact_id = contact_id.clone().or(known_contact);
        if object == "ticket" {
            let mut tx = db.write().await?;
            let body = if text.trim().is_empty() { subject.clone() } else { reply_part(&text) };
            match conversation::customer_message_in(db, &mut tx, &record, contact_id.as_deref(), &body, &files).await {
                Ok(_) => {
                    record_in(&mut tx, &message_id, &from.0, &subject, "ticket_reply", Some((&object, &record)), None)
                        .await?;
                    email_signal(db, &mut tx, &message_id, &object, &record).await?;
                    tx.commit().await?;
                    return Ok(Handled {
                        message_id,
                        outcome: "ticket_reply".into(),
                        object: Some(object),
                        record_id: Some(record),
                    });
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        } else {
            return timeline(
                db,
                &message_id,
                &from.0,
                &subject,
                &text,
                contact_id.as_deref(),
                Some((&object, &record)),
            )
            .await;
        }
    }
    let to: Vec<String> = addresses(m.to()).into_iter().chain(addresses(m.cc())).map(|(a, _)| a).collect();
    let support = s.support_address.trim().to_ascii_lowercase();
    if !support.is_empty() && to.contains(&support) {
        return new_ticket(db, &message_id, &from, &subject, &text, contact_id.as_deref(), &files).await;
    }
    if contact_id.is_some() {
        return timeline(db, &message_id, &from.0, &subject, &text, contact_id.as_deref(), None).await;
    }
    note(db, &message_id, &from.0, &subject, "unmatched", None, None).await
}

/// A reply's own words: the text above the quoted message it answers.
fn reply_part(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with('>')
            || (l.starts_with("On ") && l.ends_with("wrote:"))
            || l.starts_with("-----Original Message")
        {
            break;
        }
        out.push(line);
    }
    let kept = out.join("\n").trim().to_string();
    if kept.is_empty() { text.trim().to_string() } else { kept }
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Workflows triggered by an e-mail about a record hear of it (after commit).
async fn email_signal(db: &Db, tx: &mut WriteTx, message_id: &str, object: &str, record: &str) -> Result<()> {
    let signal = super::workflows::Signal::EmailReceived { message_id: message_id.to_string() };
    super::workflows::signal_in(db, tx, &signal, object, record, &format!("mail:{object}:{record}:{message_id}")).await
}

#[allow(clippy::too_many_arguments)]
async fn record_in(
    tx: &mut WriteTx,
    message_id: &str,
    sender: &str,
    subject: &str,
    outcome: &str,
    about: Option<(&str, &str)>,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO inbound_messages (message_id, sender, subject, outcome, object, record_id, error, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(message_id.to_string())
    .bind(sender.to_string())
    .bind(subject.to_string())
    .bind(outcome.to_string())
    .bind(about.map(|a| a.0.to_string()))
    .bind(about.map(|a| a.1.to_string()))
    .bind(error.map(str::to_string))
    .bind(now())
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

async fn note(
    db: &Db,
    message_id: &str,
    sender: &str,
    subject: &str,
    outcome: &str,
    about: Option<(&str, &str)>,
    error: Option<&str>,
) -> Result<Handled> {
    let mut tx = db.write().await?;
    record_in(&mut tx, message_id, sender, subject, outcome, about, error).await?;
    tx.commit().await?;
    Ok(Handled {
        message_id: message_id.to_string(),
        outcome: outcome.to_string(),
        object: about.map(|a| a.0.to_string()),
        record_id: about.map(|a| a.1.to_string()),
    })
}

/// The message as an inbound e-mail on the timeline of its contact (and the record it answers).
async fn timeline(
    db: &Db,
    message_id: &str,
    sender: &str,
    subject: &str,
    text: &str,
    contact: Option<&str>,
    about: Option<(&str, &str)>,
) -> Result<Handled> {
    let system = db.system();
    let activity = system.object("activity").await?;
    let mut input = Map::new();
    input.insert("kind".into(), json!("email"));
    input.insert("direction".into(), json!("inbound"));
    input.insert(
        "subject".into(),
        json!(if subject.trim().is_empty() { "(—)".to_string() } else { subject.to_string() }),
    );
    input.insert("body".into(), json!(text));
    input.insert("occurred_at".into(), json!(now()));
    input.insert("email".into(), json!(sender));
    if let Some(c) = contact {
        input.insert("contact".into(), json!(c));
    }
    if let Some((object, record)) = about
        && object != "contact"
        && let Some(f) = activity.live_fields().find(|f| f.options.target.as_deref() == Some(object))
    {
        input.insert(f.api_name.clone(), json!(record));
    }
    let mut tx = db.write().await?;
    let made = match peyvand_records::validate(&activity, &input, peyvand_records::Mode::Create) {
        Ok(checked) => system.create_in(&mut tx, None, &activity, &checked.values).await?,
        Err(list) => {
            drop(tx);
            let error = list.first().map(|e| format!("{}: {}", e.field, e.code)).unwrap_or_default();
            return note(db, message_id, sender, subject, "unreadable", None, Some(&error)).await;
        }
    };
    record_in(&mut tx, message_id, sender, subject, "timeline", Some(("activity", &made)), None).await?;
    if let Some(c) = contact {
        email_signal(db, &mut tx, message_id, "contact", c).await?;
    }
    if let Some((object, record)) = about.filter(|a| a.0 != "contact") {
        email_signal(db, &mut tx, message_id, object, record).await?;
    }
    tx.commit().await?;
    Ok(Handled {
        message_id: message_id.to_string(),
        outcome: "timeline".into(),
        object: Some("activity".into()),
        record_id: Some(made),
    })
}

/// A new ticket from a message to the support address, its files as its first message's.
async fn new_ticket(
    db: &Db,
    message_id: &str,
    from: &(String, String),
    subject: &str,
    text: &str,
    contact: Option<&str>,
    files: &[Upload],
) -> Result<Handled> {
    let system = db.system();
    let obj = system.object("ticket").await?;
    let mut input = Map::new();
    input.insert(
        "subject".into(),
        json!(if subject.trim().is_empty() { "(—)".to_string() } else { subject.chars().take(200).collect() }),
    );
    input.insert("description".into(), json!(text));
    input.insert("channel".into(), json!("email"));
    match contact {
        Some(c) => {
            input.insert("contact".into(), json!(c));
        }
        None => {
            input.insert("requester_email".into(), json!(from.0));
            if !from.1.is_empty() {
                input.insert("requester_name".into(), json!(from.1));
            }
        }
    }
    let mut tx = db.write().await?;
    let checked = match peyvand_records::validate(&obj, &input, peyvand_records::Mode::Create) {
        Ok(c) => c,
        Err(list) => {
            drop(tx);
            let error = list.first().map(|e| format!("{}: {}", e.field, e.code)).unwrap_or_default();
            return note(db, message_id, &from.0, subject, "unreadable", None, Some(&error)).await;
        }
    };
    let id = system.create_in(&mut tx, None, &obj, &checked.values).await?;
    if !files.is_empty() {
        conversation::customer_message_in(db, &mut tx, &id, contact, "", files).await?;
    }
    record_in(&mut tx, message_id, &from.0, subject, "ticket", Some(("ticket", &id)), None).await?;
    email_signal(db, &mut tx, message_id, "ticket", &id).await?;
    tx.commit().await?;
    Ok(Handled {
        message_id: message_id.to_string(),
        outcome: "ticket".into(),
        object: Some("ticket".into()),
        record_id: Some(id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_keeps_its_own_words() {
        let text = "ممنون، حل شد.\n\nOn Sat, 5 Dec 2026 Peyvand wrote:\n> سلام\n> راهنما";
        assert_eq!(reply_part(text), "ممنون، حل شد.");
        assert_eq!(reply_part("> only quoted"), "> only quoted");
    }

    #[test]
    fn our_ids_are_found_in_references() {
        let id = "01a245df-936f-75ee-9234-5aa095801dc6";
        let refs = format!("<abc@gmail.com> <{id}@peyvand.test>");
        assert_eq!(our_ids(&refs), vec![id.to_string()]);
        assert!(our_ids("<short@x.y>").is_empty());
    }
}
