//! Consent: where each contact stands on each channel (e-mail, SMS, phone) — granted, pending or
//! withdrawn — with its source, time and the text agreed to; every change in an append-only
//! history; double opt-in for e-mail (a grant is pending until the person follows the link sent
//! to them); one-click unsubscribe through a signed link (RFC 8058); a suppression list of
//! addresses (unsubscribed, bounced, complained, or a person's choice). The sending path
//! (`automation::mail`) asks [`allowed_in`] before every marketing message, so nothing
//! marketing reaches a person who did not agree, whoever chose the recipients.

use crate::signing::{same, signature};
use peyvand_records::FieldError;
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The channels consent is asked for.
pub const CHANNELS: [&str; 3] = ["email", "sms", "phone"];
/// Where a contact stands.
pub const STATUSES: [&str; 3] = ["granted", "pending", "withdrawn"];
/// Where a change came from (what a person or the API may say; the links and bounces add
/// `confirm_link`, `unsubscribe_link` and `bounce`).
pub const SOURCES: [&str; 6] = ["form", "staff", "api", "import", "portal", "phone_call"];

/// Longest text agreed to that is kept.
const MAX_TEXT: usize = 2000;

/// Where a contact stands on a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub contact_id: String,
    pub channel: String,
    pub status: String,
    pub source: String,
    pub consent_text: Option<String>,
    pub at: String,
    pub actor: Option<String>,
}

/// One change of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: String,
    pub channel: String,
    pub status: String,
    pub source: String,
    pub consent_text: Option<String>,
    pub at: String,
    pub actor: Option<String>,
    pub detail: Option<String>,
}

/// A change asked for: `granted` (for e-mail: pending until confirmed, unless the person
/// confirmed through the link) or `withdrawn`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub channel: String,
    pub status: String,
    pub source: String,
    #[serde(default)]
    pub consent_text: Option<String>,
}

/// A contact's standing on every channel asked about (none where never asked).
pub async fn of_contact(db: &Db, contact: &str) -> Result<Vec<Consent>> {
    let rows = sqlx::query(
        "SELECT contact_id, channel, status, source, consent_text, at, actor FROM consents WHERE contact_id = $1 ORDER BY channel",
    )
    .bind(contact.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Consent {
                contact_id: r.try_get(0)?,
                channel: r.try_get(1)?,
                status: r.try_get(2)?,
                source: r.try_get(3)?,
                consent_text: r.try_get(4)?,
                at: r.try_get(5)?,
                actor: r.try_get(6)?,
            })
        })
        .collect()
}

/// A contact's history, newest first.
pub async fn history(db: &Db, contact: &str, limit: i64) -> Result<Vec<Change>> {
    let rows = sqlx::query(
        "SELECT id, channel, status, source, consent_text, at, actor, detail FROM consent_events WHERE contact_id = $1 \
         ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(contact.to_string())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Change {
                id: r.try_get(0)?,
                channel: r.try_get(1)?,
                status: r.try_get(2)?,
                source: r.try_get(3)?,
                consent_text: r.try_get(4)?,
                at: r.try_get(5)?,
                actor: r.try_get(6)?,
                detail: r.try_get(7)?,
            })
        })
        .collect()
}

/// A web form's consent, ticked, in the write that made its contact: e-mail pending until the
/// person confirms it, the text they were shown kept.
pub async fn from_form_in(db: &Db, tx: &mut WriteTx, links: &Links, contact: &str, text: &str) -> Result<()> {
    record_in(tx, contact, "email", "pending", "form", Some(text), None, None).await?;
    crate::on_consent_pending(db, tx, contact, &links.confirm(contact)).await
}

/// Records a change asked by a person or the API, in one write; an e-mail grant becomes
/// pending and its confirmation is sent (`crate::on_consent_pending`). Returns the standing.
pub async fn set(db: &Db, contact: &str, input: &ConsentInput, actor: Option<&str>) -> Result<Consent> {
    let mut errors = Vec::new();
    if !CHANNELS.contains(&input.channel.as_str()) {
        errors.push(FieldError::new("channel", "invalid_option"));
    }
    if !["granted", "withdrawn"].contains(&input.status.as_str()) {
        errors.push(FieldError::new("status", "invalid_option"));
    }
    if !SOURCES.contains(&input.source.as_str()) {
        errors.push(FieldError::new("source", "invalid_option"));
    }
    let text = input.consent_text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.chars().count() > MAX_TEXT) {
        errors.push(FieldError::new("consent_text", "too_long"));
    }
    if input.status == "granted" && text.is_none() {
        errors.push(FieldError::new("consent_text", "required"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let status = if input.status == "granted" && input.channel == "email" { "pending" } else { input.status.as_str() };
    // The links' key and address, read before the write (on the pool).
    let links = Links::read(db).await?;
    let mut tx = db.write().await?;
    record_in(&mut tx, contact, &input.channel, status, &input.source, text, actor, None).await?;
    if status == "pending" {
        crate::on_consent_pending(db, &mut tx, contact, &links.confirm(contact)).await?;
    }
    tx.commit().await?;
    standing(db, contact, &input.channel).await?.ok_or_else(|| Error::NotFound(format!("consent {contact}")))
}

async fn standing(db: &Db, contact: &str, channel: &str) -> Result<Option<Consent>> {
    Ok(of_contact(db, contact).await?.into_iter().find(|c| c.channel == channel))
}

/// Writes a standing and its history entry in the caller's write (a web form's consent, a
/// link followed, a bounce).
#[allow(clippy::too_many_arguments)]
pub async fn record_in(
    tx: &mut WriteTx,
    contact: &str,
    channel: &str,
    status: &str,
    source: &str,
    text: Option<&str>,
    actor: Option<&str>,
    detail: Option<&str>,
) -> Result<()> {
    let at = now();
    let text = text.map(|t| t.chars().take(MAX_TEXT).collect::<String>());
    sqlx::query(
        "INSERT INTO consents (contact_id, channel, status, source, consent_text, at, actor) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (contact_id, channel) DO UPDATE SET status = excluded.status, source = excluded.source, \
         consent_text = COALESCE(excluded.consent_text, consents.consent_text), at = excluded.at, actor = excluded.actor",
    )
    .bind(contact.to_string())
    .bind(channel.to_string())
    .bind(status.to_string())
    .bind(source.to_string())
    .bind(text.clone())
    .bind(at.clone())
    .bind(actor.map(str::to_string))
    .execute(&mut *tx.tx)
    .await?;
    sqlx::query(
        "INSERT INTO consent_events (id, contact_id, channel, status, source, consent_text, at, actor, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(contact.to_string())
    .bind(channel.to_string())
    .bind(status.to_string())
    .bind(source.to_string())
    .bind(text)
    .bind(at)
    .bind(actor.map(str::to_string))
    .bind(detail.map(str::to_string))
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// An address as the suppression list keeps it: an e-mail in lower case, a phone as given
/// (the engine stores phones in E.164).
pub fn address_key(address: &str) -> String {
    address.trim().to_lowercase()
}

/// Adds an address to the suppression list (once; the first reason stays).
pub async fn suppress_in(
    tx: &mut WriteTx,
    address: &str,
    channel: &str,
    reason: &str,
    contact: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO suppressions (address, channel, reason, contact_id, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (address) DO NOTHING",
    )
    .bind(address_key(address))
    .bind(channel.to_string())
    .bind(reason.to_string())
    .bind(contact.map(str::to_string))
    .bind(now())
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// A suppressed address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Suppression {
    pub address: String,
    pub channel: String,
    pub reason: String,
    pub contact_id: Option<String>,
    pub at: String,
}

/// The suppression list, newest first.
pub async fn suppressions(db: &Db, limit: i64) -> Result<Vec<Suppression>> {
    let rows = sqlx::query(
        "SELECT address, channel, reason, contact_id, at FROM suppressions ORDER BY at DESC, address LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Suppression {
                address: r.try_get(0)?,
                channel: r.try_get(1)?,
                reason: r.try_get(2)?,
                contact_id: r.try_get(3)?,
                at: r.try_get(4)?,
            })
        })
        .collect()
}

/// A person puts an address on the list (or takes it off: `remove`).
pub async fn set_suppression(db: &Db, address: &str, channel: &str, remove: bool) -> Result<()> {
    if !CHANNELS.contains(&channel) {
        return Err(Error::invalid(FieldError::new("channel", "invalid_option")));
    }
    let key = address_key(address);
    if key.is_empty() || key.chars().count() > 320 {
        return Err(Error::invalid(FieldError::new("address", "required")));
    }
    let mut tx = db.write().await?;
    if remove {
        sqlx::query("DELETE FROM suppressions WHERE address = $1").bind(key).execute(&mut *tx.tx).await?;
    } else {
        suppress_in(&mut tx, &key, channel, "manual", None).await?;
    }
    tx.commit().await
}

/// Whether a marketing message may go to `address` of `contact` on `channel` now: consent
/// granted and the address not suppressed. Read in the sending write.
pub async fn allowed_in(tx: &mut WriteTx, contact: Option<&str>, channel: &str, address: &str) -> Result<bool> {
    let Some(contact) = contact else { return Ok(false) };
    let granted = sqlx::query("SELECT 1 FROM consents WHERE contact_id = $1 AND channel = $2 AND status = 'granted'")
        .bind(contact.to_string())
        .bind(channel.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?
        .is_some();
    if !granted {
        return Ok(false);
    }
    let suppressed = sqlx::query("SELECT 1 FROM suppressions WHERE address = $1")
        .bind(address_key(address))
        .fetch_optional(&mut *tx.tx)
        .await?
        .is_some();
    Ok(!suppressed)
}

// ---- Signed links ----

async fn key(db: &Db) -> Result<Vec<u8>> {
    let fresh = peyvand_store::accounts::random_secret()?;
    sqlx::query("INSERT INTO consent_settings (name, text) VALUES ('link_key', $1) ON CONFLICT (name) DO NOTHING")
        .bind(fresh)
        .execute(db.pool())
        .await?;
    let key: String = sqlx::query("SELECT text FROM consent_settings WHERE name = 'link_key'")
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    Ok(key.into_bytes())
}

/// What makes signed links, read before a write that needs one (the key and the public
/// address are read on the pool, which a write must not wait for).
pub struct Links {
    key: Vec<u8>,
    base: String,
}

impl Links {
    pub async fn read(db: &Db) -> Result<Links> {
        Ok(Links { key: key(db).await?, base: crate::public_url(db).await? })
    }

    fn token(&self, purpose: char, contact: &str, channel: &str) -> String {
        let what = format!("{purpose}.{contact}.{channel}");
        format!("{what}.{}", signature(&self.key, &what))
    }

    /// A contact's e-mail confirmation link (double opt-in).
    pub fn confirm(&self, contact: &str) -> String {
        format!("{}/u/confirm/{}", self.base, self.token('c', contact, "email"))
    }

    /// A contact's one-click unsubscribe link for a channel.
    pub fn unsubscribe(&self, contact: &str, channel: &str) -> String {
        format!("{}/u/{}", self.base, self.token('u', contact, channel))
    }

    /// A campaign's tracked link to `url` for one recipient (`/c/{token}`): the address is in
    /// the signed token, so no one can make Peyvand redirect elsewhere.
    pub fn tracked(&self, campaign: &str, contact: &str, url: &str) -> String {
        use base64::Engine;
        let what = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{campaign}\n{contact}\n{url}"));
        format!("{}/c/{what}.{}", self.base, signature(&self.key, &format!("t.{what}")))
    }
}

/// What a tracked link's token says (campaign, contact, address), if its signature holds.
pub async fn read_tracked(db: &Db, token: &str) -> Result<Option<(String, String, String)>> {
    use base64::Engine;
    let Some((what, sig)) = token.rsplit_once('.') else { return Ok(None) };
    if !same(sig, &signature(&key(db).await?, &format!("t.{what}"))) {
        return Ok(None);
    }
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(what) else { return Ok(None) };
    let text = String::from_utf8_lossy(&bytes).to_string();
    let mut parts = text.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(k), Some(u)) if u.starts_with("http://") || u.starts_with("https://") => {
            Ok(Some((c.to_string(), k.to_string(), u.to_string())))
        }
        _ => Ok(None),
    }
}

/// The token of a link: `{purpose letter}.{contact}.{channel}.{signature}`.
async fn token(db: &Db, purpose: char, contact: &str, channel: &str) -> Result<String> {
    let what = format!("{purpose}.{contact}.{channel}");
    Ok(format!("{what}.{}", signature(&key(db).await?, &what)))
}

/// What a token says, if its signature holds.
async fn read_token(db: &Db, purpose: char, token: &str) -> Result<Option<(String, String)>> {
    let mut parts = token.rsplitn(2, '.');
    let (Some(sig), Some(what)) = (parts.next(), parts.next()) else { return Ok(None) };
    if !same(sig, &signature(&key(db).await?, what)) {
        return Ok(None);
    }
    let mut fields = what.splitn(3, '.');
    match (fields.next(), fields.next(), fields.next()) {
        (Some(p), Some(contact), Some(channel)) if p.starts_with(purpose) && CHANNELS.contains(&channel) => {
            Ok(Some((contact.to_string(), channel.to_string())))
        }
        _ => Ok(None),
    }
}

/// The token of a contact's unsubscribe link for a channel (`/u/{token}`).
pub async fn unsubscribe_token(db: &Db, contact: &str, channel: &str) -> Result<String> {
    token(db, 'u', contact, channel).await
}

/// The token of a contact's e-mail confirmation link (`/u/confirm/{token}`).
pub async fn confirm_token(db: &Db, contact: &str) -> Result<String> {
    token(db, 'c', contact, "email").await
}

/// What following a link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Followed {
    /// The change was made now.
    Done { contact: String, channel: String },
    /// It had been made before (a link followed twice).
    Already { contact: String, channel: String },
}

/// Whom a signed unsubscribe token is for (none when forged).
pub async fn unsubscribe_target(db: &Db, token: &str) -> Result<Option<(String, String)>> {
    read_token(db, 'u', token).await
}

/// Whom a signed confirmation token is for (none when forged).
pub async fn confirm_target(db: &Db, token: &str) -> Result<Option<String>> {
    Ok(read_token(db, 'c', token).await?.map(|(contact, _)| contact))
}

/// Unsubscribes through a signed link: consent withdrawn and the contact's addresses on the
/// channel suppressed, in one write; followed again it changes nothing. A forged token is not
/// found.
pub async fn unsubscribe(db: &Db, token: &str) -> Result<Followed> {
    let (contact, channel) =
        read_token(db, 'u', token).await?.ok_or_else(|| Error::NotFound("unsubscribe link".into()))?;
    let mut tx = db.write().await?;
    let addresses = addresses_in(db, &mut tx, &contact, &channel).await?;
    let current = sqlx::query("SELECT status FROM consents WHERE contact_id = $1 AND channel = $2")
        .bind(contact.clone())
        .bind(channel.clone())
        .fetch_optional(&mut *tx.tx)
        .await?;
    let already = match current {
        Some(r) => r.try_get::<String, _>(0)? == "withdrawn",
        None => false,
    };
    if already {
        return Ok(Followed::Already { contact, channel });
    }
    record_in(&mut tx, &contact, &channel, "withdrawn", "unsubscribe_link", None, None, None).await?;
    for a in &addresses {
        suppress_in(&mut tx, a, &channel, "unsubscribed", Some(&contact)).await?;
    }
    tx.commit().await?;
    Ok(Followed::Done { contact, channel })
}

/// A contact's addresses on a channel (e-mails; phones for SMS and calls), read in `tx`.
async fn addresses_in(db: &Db, tx: &mut WriteTx, contact: &str, channel: &str) -> Result<Vec<String>> {
    let Some(obj) = db.catalog_cached()?.object("contact") else { return Ok(Vec::new()) };
    let field = if channel == "email" { "emails" } else { "phones" };
    let found = db.system().find_in(tx, &obj, &[("id", peyvand_records::Value::Text(contact.into()))], 1).await?;
    Ok(found
        .first()
        .and_then(|c| c.fields.get(field))
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).map(str::to_string).collect())
        .unwrap_or_default())
}

/// Confirms a pending e-mail consent through its signed link; followed again (or when the
/// person withdrew since) it changes nothing. A forged token is not found.
pub async fn confirm(db: &Db, token: &str) -> Result<Followed> {
    let (contact, channel) = read_token(db, 'c', token).await?.ok_or_else(|| Error::NotFound("confirm link".into()))?;
    let mut tx = db.write().await?;
    let current = sqlx::query("SELECT status, consent_text FROM consents WHERE contact_id = $1 AND channel = $2")
        .bind(contact.clone())
        .bind(channel.clone())
        .fetch_optional(&mut *tx.tx)
        .await?;
    let Some(current) = current else { return Ok(Followed::Already { contact, channel }) };
    if current.try_get::<String, _>(0)? != "pending" {
        return Ok(Followed::Already { contact, channel });
    }
    let text: Option<String> = current.try_get(1)?;
    record_in(&mut tx, &contact, &channel, "granted", "confirm_link", text.as_deref(), None, None).await?;
    tx.commit().await?;
    Ok(Followed::Done { contact, channel })
}

/// How many contacts have granted a channel (for a segment's "reachable" count).
pub async fn granted_count(db: &Db, channel: &str) -> Result<i64> {
    let r = sqlx::query("SELECT COUNT(*) FROM consents WHERE channel = $1 AND status = 'granted'")
        .bind(channel.to_string())
        .fetch_one(db.pool())
        .await?;
    Ok(r.try_get(0)?)
}
