//! The customer portal: the business's own customers sign in (with a one-time code sent to their
//! e-mail or mobile number, or a password they set after one) and serve themselves.
//!
//! An account belongs to one contact and is kept apart from staff accounts (its own tables,
//! sessions and cookie). Staff invite a contact, or a customer signs up with an address that one
//! contact already has (matched when the code sent to it comes back). Every read and write a
//! customer makes goes through [`customer`]'s functions, which take the signed-in [`Customer`]
//! and answer only with their records (or their company's, where staff allowed it): another
//! customer's ids are not found. What they answer is a portal view of each record, field by
//! field, so staff-only fields (cost prices, internal notes, scores, owners) never leave.

pub mod customer;
pub mod sign_in;

use peyvand_records::FieldError;
use peyvand_records::access::{Intent, OWNER_FIELD};
use peyvand_records::value::{parse_email, parse_phone};
use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sqlx::Row;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_portal.sql",
    sqlite: include_str!("../../migrations/portal/sqlite/0001_portal.sql"),
    postgres: include_str!("../../migrations/portal/postgres/0001_portal.sql"),
}];

/// The portal module: its tables, no objects of its own.
pub struct Portal;

impl Module for Portal {
    fn name(&self) -> &'static str {
        "portal"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["portal_accounts", "portal_codes", "portal_sessions", "portal_attempts", "portal_settings"]
    }
}

/// A customer's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub contact_id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub has_password: bool,
    /// May see and act on their company's orders and requests.
    pub company_access: bool,
    pub language: String,
    /// `invited` (never signed in), `active` or `disabled`.
    pub status: String,
    pub verified_at: Option<String>,
    pub created_at: String,
    pub last_sign_in_at: Option<String>,
}

const ACCOUNT_COLUMNS: &str = "id, contact_id, email, phone, password_hash, company_access, language, status, \
                               verified_at, created_at, last_sign_in_at";

pub(crate) fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        has_password: row.try_get::<Option<String>, _>("password_hash")?.is_some(),
        company_access: row.try_get::<i64, _>("company_access")? == 1,
        language: row.try_get("language")?,
        status: row.try_get("status")?,
        verified_at: row.try_get("verified_at")?,
        created_at: row.try_get("created_at")?,
        last_sign_in_at: row.try_get("last_sign_in_at")?,
    })
}

/// The account of a contact, if it has one.
pub async fn account_of_contact(db: &Db, contact: &str) -> Result<Option<Account>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM portal_accounts WHERE contact_id = $1"
    )))
    .bind(contact.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// An account by id.
pub async fn account(db: &Db, id: &str) -> Result<Account> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM portal_accounts WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("portal account {id}")))?;
    account_from_row(&row)
}

/// The portal's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// A customer not invited may sign up with an address one contact has.
    pub sign_up: bool,
    /// The brand's colour (`#rrggbb`) for buttons and links; none: Peyvand's.
    pub colour: Option<String>,
    /// A host name of its own (`my.example.ir`) where the portal alone answers.
    pub host: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { sign_up: true, colour: None, host: None }
    }
}

pub async fn settings(db: &Db) -> Result<Settings> {
    let row =
        sqlx::query("SELECT value FROM portal_settings WHERE name = 'settings'").fetch_optional(db.pool()).await?;
    Ok(match row {
        Some(row) => serde_json::from_str(&row.try_get::<String, _>("value")?).unwrap_or_default(),
        None => Settings::default(),
    })
}

/// Saves the settings: a colour as `#rrggbb`, a host name as a host (lower case, no scheme,
/// port or path); empty ones are none.
pub async fn save_settings(db: &Db, input: &Settings) -> Result<Settings> {
    let mut out = input.clone();
    out.colour = out.colour.map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty());
    out.host = out.host.map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty());
    let mut errors = Vec::new();
    if out.colour.as_deref().is_some_and(|c| parse_colour(c).is_none()) {
        errors.push(FieldError::new("colour", "invalid_colour"));
    }
    let host_ok = |h: &str| {
        h.len() <= 253
            && h.split('.').count() >= 2
            && h.split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    if out.host.as_deref().is_some_and(|h| !host_ok(h)) {
        errors.push(FieldError::new("host", "invalid_host"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    store(db, "settings", &serde_json::to_string(&out).map_err(|e| Error::Config(e.to_string()))?).await?;
    Ok(out)
}

async fn store(db: &Db, name: &str, value: &str) -> Result<()> {
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO portal_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name.to_string())
    .bind(value.to_string())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await
}

/// A colour `#rrggbb` as its red, green and blue.
pub fn parse_colour(c: &str) -> Option<(u8, u8, u8)> {
    let hex = c.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let part = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((part(0)?, part(2)?, part(4)?))
}

/// The largest logo kept.
pub const MAX_LOGO: usize = 200 * 1024;

/// Keeps the portal's logo (PNG, JPEG or WebP, by its content, up to [`MAX_LOGO`]); empty
/// bytes take it away.
pub async fn save_logo(db: &Db, bytes: &[u8]) -> Result<()> {
    use base64::Engine;
    if bytes.is_empty() {
        let mut tx = db.write().await?;
        sqlx::query("DELETE FROM portal_settings WHERE name = 'logo'").execute(&mut *tx.tx).await?;
        return tx.commit().await;
    }
    if bytes.len() > MAX_LOGO {
        return Err(Error::Validation(vec![FieldError::with(
            "logo",
            "file_too_large",
            serde_json::json!({ "max_mb": 0.2 }),
        )]));
    }
    let Some(content_type) = image_type(bytes) else {
        return Err(Error::Validation(vec![FieldError::with(
            "logo",
            "file_type_not_allowed",
            serde_json::json!({ "allowed": "PNG, JPEG, WebP" }),
        )]));
    };
    let value = serde_json::json!({ "content_type": content_type, "base64": base64::engine::general_purpose::STANDARD.encode(bytes) });
    store(db, "logo", &value.to_string()).await
}

fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether a logo was given (without reading it).
pub async fn has_logo(db: &Db) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM portal_settings WHERE name = 'logo'").fetch_optional(db.pool()).await?.is_some())
}

/// The portal's logo, if one was given: its content type and bytes.
pub async fn logo(db: &Db) -> Result<Option<(String, Vec<u8>)>> {
    use base64::Engine;
    let row = sqlx::query("SELECT value FROM portal_settings WHERE name = 'logo'").fetch_optional(db.pool()).await?;
    let Some(row) = row else { return Ok(None) };
    let value: Json =
        serde_json::from_str(&row.try_get::<String, _>("value")?).map_err(|e| Error::Corrupt(e.to_string()))?;
    let (Some(ct), Some(b64)) = (value["content_type"].as_str(), value["base64"].as_str()) else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| Error::Corrupt(e.to_string()))?;
    Ok(Some((ct.to_string(), bytes)))
}

/// A contact's addresses a portal account signs in with: their first e-mail and first phone that
/// parse (a phone kept in E.164).
pub(crate) fn addresses_of(fields: &serde_json::Map<String, Json>) -> (Option<String>, Option<String>) {
    let first = |field: &str, parse: fn(&str, &str) -> std::result::Result<String, FieldError>| {
        fields
            .get(field)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .find_map(|a| parse(field, a).ok())
    };
    (first("emails", parse_email), first("phones", parse_phone))
}

/// Opens (or refreshes) a contact's account as staff `actor` (who may change the contact) and,
/// with `send`, tells the customer by e-mail (else SMS) where to sign in. The account signs in
/// with the contact's first e-mail and first phone as they are now. A disabled account stays
/// disabled until it is enabled ([`set_status`]).
pub async fn invite(db: &Db, actor: Option<&str>, contact: &str, company_access: bool, send: bool) -> Result<Account> {
    let record = changeable_contact(db, contact).await?;
    let (email, phone) = addresses_of(&record.fields);
    if email.is_none() && phone.is_none() {
        return Err(Error::Validation(vec![FieldError::new("contact", "portal_no_address")]));
    }
    let mut tx = db.write().await?;
    let at = now();
    sqlx::query(
        "INSERT INTO portal_accounts (id, contact_id, email, phone, company_access, language, status, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, 'fa', 'invited', $6, $7) \
         ON CONFLICT (contact_id) DO UPDATE SET email = excluded.email, phone = excluded.phone, company_access = excluded.company_access",
    )
    .bind(new_id())
    .bind(contact.to_string())
    .bind(email.clone())
    .bind(phone.clone())
    .bind(i64::from(company_access))
    .bind(at)
    .bind(actor.map(str::to_string))
    .execute(&mut *tx.tx)
    .await?;
    let account = account_in(&mut tx, contact).await?;
    if send && account.status != "disabled" {
        let link = format!("{}/portal/sign-in", crate::public_url(db).await?);
        let (channel, to) = match (&email, &phone) {
            (Some(e), _) => ("email", e.clone()),
            (None, Some(p)) => ("sms", p.clone()),
            (None, None) => unreachable_address()?,
        };
        let body = format!(
            "برای دیدن سفارش‌ها، درخواست‌ها و امتیازهایتان به پورتال مشتریان ما بروید و با کدی که برایتان می‌فرستیم وارد شوید:\n{link}\n\n\
             See your orders, requests and points on our customer portal; sign in with a code we send you:\n{link}"
        );
        let message = crate::automation::mail::Outgoing {
            id: format!("portal-invite:{}:{}", account.id, new_id()),
            channel: channel.into(),
            to,
            subject: "پورتال مشتریان — Customer portal".into(),
            body,
            language: account.language.clone(),
            object: "contact".into(),
            record: contact.to_string(),
            contact: Some(contact.to_string()),
            sender: actor.map(str::to_string),
            marketing: false,
        };
        crate::automation::mail::queue_in(db, &mut tx, &message).await?;
    }
    tx.commit().await?;
    Ok(account)
}

/// A contact the handle's user may change (read through their handle: one they may not read is
/// not found; one they may only read is forbidden).
async fn changeable_contact(db: &Db, contact: &str) -> Result<peyvand_store::records::Record> {
    let record = db.get_record("contact", contact, false).await?;
    if let Some(viewer) = db.viewer() {
        let owner = record.fields.get(OWNER_FIELD).and_then(Json::as_str);
        if !viewer.reaches("contact", Intent::Change, contact, owner) {
            return Err(Error::Forbidden("contact".into()));
        }
    }
    Ok(record)
}

fn unreachable_address<T>() -> Result<T> {
    Err(Error::Validation(vec![FieldError::new("contact", "portal_no_address")]))
}

async fn account_in(tx: &mut WriteTx, contact: &str) -> Result<Account> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM portal_accounts WHERE contact_id = $1"
    )))
    .bind(contact.to_string())
    .fetch_one(&mut *tx.tx)
    .await?;
    account_from_row(&row)
}

/// Disables (every session ends with it) or enables a contact's account, as staff who may
/// change the contact; may it act for the company, when given.
pub async fn set_status(db: &Db, contact: &str, active: bool, company_access: Option<bool>) -> Result<Account> {
    changeable_contact(db, contact).await?;
    let Some(before) = account_of_contact(db, contact).await? else {
        return Err(Error::NotFound(format!("portal account of {contact}")));
    };
    let status = match (active, before.verified_at.is_some()) {
        (false, _) => "disabled",
        (true, true) => "active",
        (true, false) => "invited",
    };
    let mut tx = db.write().await?;
    sqlx::query("UPDATE portal_accounts SET status = $1, company_access = $2 WHERE id = $3")
        .bind(status)
        .bind(i64::from(company_access.unwrap_or(before.company_access)))
        .bind(before.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    if !active {
        sqlx::query("DELETE FROM portal_sessions WHERE account_id = $1")
            .bind(before.id.clone())
            .execute(&mut *tx.tx)
            .await?;
    }
    tx.commit().await?;
    account(db, &before.id).await
}

/// Marks an account's addresses as proven outside the portal (the demo; accounts brought over
/// from a portal before this one), so it signs in as an active account would.
pub async fn mark_verified(db: &Db, account: &str) -> Result<Account> {
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE portal_accounts SET status = 'active', verified_at = COALESCE(verified_at, $1) WHERE id = $2 AND status <> 'disabled'",
    )
    .bind(now())
    .bind(account.to_string())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    self::account(db, account).await
}

/// The portal as staff see it for a contact: its account, if any.
pub fn account_json(account: &Account) -> Json {
    serde_json::to_value(account).unwrap_or(Json::Null)
}
