//! How a customer signs in: a one-time code sent to their e-mail or mobile number (which proves
//! the address is theirs), or, once they have signed in so and set one, a password. Sessions
//! are the portal's own. Limits: a code lives [`CODE_MINUTES`] and takes [`TRIES_PER_CODE`]
//! tries; an account gets [`CODES_PER_ACCOUNT`] codes and [`FAILURES_PER_ACCOUNT`] wrong
//! answers in [`WINDOW_MINUTES`], a client address [`CODES_PER_IP`] codes (an office's customers
//! may share one) and [`FAILURES_PER_IP`] wrong answers; past them it waits.
//!
//! Asking for a code answers the same whether or not the address is a customer's, so the page
//! tells nobody who is one.

use super::{ACCOUNT_COLUMNS, Account, account_from_row, addresses_of, settings};
use peyvand_records::FieldError;
use peyvand_records::normalize::to_latin_digits;
use peyvand_records::value::{Value, parse_email, parse_phone};
use peyvand_store::accounts::{hash_secret, random_secret};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use sqlx::Row;
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

pub const CODE_MINUTES: i64 = 10;
pub const TRIES_PER_CODE: i64 = 5;
pub const CODES_PER_ACCOUNT: i64 = 3;
pub const FAILURES_PER_ACCOUNT: i64 = 10;
pub const CODES_PER_IP: i64 = 120;
pub const FAILURES_PER_IP: i64 = 30;
pub const WINDOW_MINUTES: i64 = 15;
pub const SESSION_DAYS: i64 = 30;

/// Where a code goes and what the customer signs in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Email(String),
    Phone(String),
}

impl Address {
    /// An e-mail (anything with `@`) or a phone number, in Persian or Latin digits; its error
    /// names the field `address`.
    pub fn parse(typed: &str) -> std::result::Result<Address, FieldError> {
        let typed = to_latin_digits(typed.trim());
        if typed.is_empty() {
            return Err(FieldError::new("address", "required"));
        }
        if typed.contains('@') {
            parse_email("address", &typed).map(Address::Email)
        } else {
            parse_phone("address", &typed).map(Address::Phone)
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Address::Email(a) | Address::Phone(a) => a,
        }
    }

    /// The channel its code goes by.
    pub fn channel(&self) -> &'static str {
        match self {
            Address::Email(_) => "email",
            Address::Phone(_) => "sms",
        }
    }

    fn column(&self) -> &'static str {
        match self {
            Address::Email(_) => "email",
            Address::Phone(_) => "phone",
        }
    }

    /// The contact field holding such addresses.
    fn contact_field(&self) -> &'static str {
        match self {
            Address::Email(_) => "emails",
            Address::Phone(_) => "phones",
        }
    }
}

/// What asking for a code came to: sent if the address is a customer's (the same answer if
/// not), or wait (this client asked too often).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    Sent,
    Wait,
}

/// A signed-in customer's session: the cookie's secret and the forms' token.
#[derive(Clone, Debug)]
pub struct Session {
    pub secret: String,
    pub csrf: String,
    pub account: Account,
}

/// What a code or password came to.
#[derive(Debug)]
pub enum Checked {
    SignedIn(Box<Session>),
    /// Not right (or no such account).
    Wrong,
    /// The code's time is over: ask a new one.
    Expired,
    /// Too many tries: wait, or ask a new code.
    TooMany,
}

fn at_offset(minutes: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::minutes(minutes)).format(&Rfc3339).unwrap_or_default()
}

async fn count_attempts(db: &Db, column: &str, value: &str, kind: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) AS n FROM portal_attempts WHERE {column} = $1 AND kind = $2 AND at > $3");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value.to_string())
        .bind(kind.to_string())
        .bind(at_offset(-WINDOW_MINUTES))
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get("n")?)
}

async fn note_attempt(tx: &mut WriteTx, kind: &str, account: Option<&str>, ip: &str) -> Result<()> {
    sqlx::query("INSERT INTO portal_attempts (id, kind, account_id, ip, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id())
        .bind(kind.to_string())
        .bind(account.map(str::to_string))
        .bind(ip.to_string())
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

async fn account_by_address(tx: &mut WriteTx, address: &Address) -> Result<Option<Account>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM portal_accounts WHERE {} = $1 AND status <> 'disabled' ORDER BY created_at LIMIT 1",
        address.column()
    );
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(address.value().to_string()).fetch_optional(&mut *tx.tx).await?;
    row.as_ref().map(account_from_row).transpose()
}

/// The account an address signs in to: an account's own address, or (when sign-up is open) the
/// account of the contact that has it, opened now. A disabled account signs in to nothing.
async fn account_for(db: &Db, tx: &mut WriteTx, address: &Address) -> Result<Option<Account>> {
    if let Some(found) = account_by_address(tx, address).await? {
        return Ok(Some(found));
    }
    if !settings(db).await?.sign_up {
        return Ok(None);
    }
    let system = db.system();
    let obj = system.catalog_cached()?.object("contact").ok_or_else(|| Error::NotFound("object contact".into()))?;
    let Some(field) = obj.field(address.contact_field()) else { return Ok(None) };
    let Some(contact) = system.find_by_value(tx, &obj, field, &Value::List(vec![address.value().to_string()])).await?
    else {
        return Ok(None);
    };
    let record = system.get_in(tx, &obj, &contact).await?;
    let (email, phone) = addresses_of(&record.fields);
    let (email, phone) = match address {
        Address::Email(a) => (Some(a.clone()), phone),
        Address::Phone(a) => (email, Some(a.clone())),
    };
    // The contact's account, if it has one under another address: it signs in with this one
    // too once the code comes back (see `verify_code`); a disabled one stays shut.
    sqlx::query(
        "INSERT INTO portal_accounts (id, contact_id, email, phone, company_access, language, status, created_at) \
         VALUES ($1, $2, $3, $4, 0, 'fa', 'invited', $5) ON CONFLICT (contact_id) DO NOTHING",
    )
    .bind(new_id())
    .bind(contact.clone())
    .bind(email)
    .bind(phone)
    .bind(now())
    .execute(&mut *tx.tx)
    .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM portal_accounts WHERE contact_id = $1 AND status <> 'disabled'"
    )))
    .bind(contact)
    .fetch_optional(&mut *tx.tx)
    .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// Six digits, each as likely as the others.
fn new_code() -> Result<String> {
    loop {
        let mut bytes = [0u8; 4];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        let n = u32::from_le_bytes(bytes);
        // Below the largest multiple of a million that fits, so no code is likelier.
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

fn code_hash(id: &str, code: &str) -> String {
    hash_secret(&format!("{id}:{code}"))
}

/// Sends a sign-in code to `address` if it is a customer's (in their language), once the client
/// `ip` and the account are within their limits.
pub async fn request_code(db: &Db, address: &Address, ip: &str, lang: &str) -> Result<Asked> {
    if count_attempts(db, "ip", ip, "code_sent").await? >= CODES_PER_IP {
        return Ok(Asked::Wait);
    }
    let mut tx = db.write().await?;
    let account = account_for(db, &mut tx, address).await?;
    note_attempt(&mut tx, "code_sent", account.as_ref().map(|a| a.id.as_str()), ip).await?;
    let Some(account) = account else {
        tx.commit().await?;
        return Ok(Asked::Sent);
    };
    let asked: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM portal_attempts WHERE account_id = $1 AND kind = 'code_sent' AND at > $2",
    )
    .bind(account.id.clone())
    .bind(at_offset(-WINDOW_MINUTES))
    .fetch_one(&mut *tx.tx)
    .await?
    .try_get("n")?;
    // This one counted: past the limit nothing more is sent (the page says how many one may ask).
    if asked > CODES_PER_ACCOUNT {
        tx.commit().await?;
        return Ok(Asked::Sent);
    }
    let id = new_id();
    let code = new_code()?;
    sqlx::query(
        "INSERT INTO portal_codes (id, account_id, channel, address, code_hash, created_at, expires_at, attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
    )
    .bind(id.clone())
    .bind(account.id.clone())
    .bind(address.channel())
    .bind(address.value().to_string())
    .bind(code_hash(&id, &code))
    .bind(now())
    .bind(at_offset(CODE_MINUTES))
    .execute(&mut *tx.tx)
    .await?;
    let (subject, body) = if lang == "en" {
        (
            "Your sign-in code".to_string(),
            format!(
                "Your code to sign in to our customer portal: {code}\nIt works for {CODE_MINUTES} minutes. If you did not ask for it, ignore this message."
            ),
        )
    } else {
        (
            "کد ورود شما".to_string(),
            format!(
                "کد ورود شما به پورتال مشتریان: {code}\nاین کد {CODE_MINUTES} دقیقه کار می‌کند. اگر آن را نخواسته‌اید، این پیام را نادیده بگیرید."
            ),
        )
    };
    let message = crate::automation::mail::Outgoing {
        id: format!("portal-code:{id}"),
        channel: address.channel().into(),
        to: address.value().to_string(),
        subject,
        body,
        language: lang.to_string(),
        object: "contact".into(),
        record: account.contact_id.clone(),
        contact: Some(account.contact_id.clone()),
        sender: None,
        marketing: false,
    };
    crate::automation::mail::queue_in(db, &mut tx, &message).await?;
    tx.commit().await?;
    Ok(Asked::Sent)
}

/// Checks a code sent to `address` (Persian digits and spaces allowed); right, the customer is
/// signed in and the address is theirs (verified).
pub async fn verify_code(db: &Db, address: &Address, typed: &str, ip: &str) -> Result<Checked> {
    if count_attempts(db, "ip", ip, "failed").await? >= FAILURES_PER_IP {
        return Ok(Checked::TooMany);
    }
    let typed: String = to_latin_digits(typed).chars().filter(|c| !c.is_whitespace()).collect();
    let mut tx = db.write().await?;
    let Some(account) = account_by_address(&mut tx, address).await? else {
        note_attempt(&mut tx, "failed", None, ip).await?;
        tx.commit().await?;
        return Ok(Checked::Wrong);
    };
    let row = sqlx::query(
        "SELECT id, expires_at, attempts FROM portal_codes WHERE account_id = $1 AND address = $2 AND used_at IS NULL \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(account.id.clone())
    .bind(address.value().to_string())
    .fetch_optional(&mut *tx.tx)
    .await?;
    let Some(row) = row else {
        note_attempt(&mut tx, "failed", Some(&account.id), ip).await?;
        tx.commit().await?;
        return Ok(Checked::Wrong);
    };
    let (id, expires): (String, String) = (row.try_get("id")?, row.try_get("expires_at")?);
    if expires <= now() {
        tx.commit().await?;
        return Ok(Checked::Expired);
    }
    // Each try counts before it is checked, so two at once cannot both take the last.
    let counted = sqlx::query("UPDATE portal_codes SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2")
        .bind(id.clone())
        .bind(TRIES_PER_CODE)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    if counted == 0 {
        tx.commit().await?;
        return Ok(Checked::TooMany);
    }
    let stored: String = sqlx::query("SELECT code_hash FROM portal_codes WHERE id = $1")
        .bind(id.clone())
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get("code_hash")?;
    if typed.len() != 6 || !same(&stored, &code_hash(&id, &typed)) {
        note_attempt(&mut tx, "failed", Some(&account.id), ip).await?;
        tx.commit().await?;
        return Ok(Checked::Wrong);
    }
    let used = sqlx::query("UPDATE portal_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
        .bind(now())
        .bind(id)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    if used == 0 {
        tx.commit().await?;
        return Ok(Checked::Wrong);
    }
    let sql = format!(
        "UPDATE portal_accounts SET status = 'active', verified_at = COALESCE(verified_at, $1), {} = $2 WHERE id = $3",
        address.column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now())
        .bind(address.value().to_string())
        .bind(account.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    let session = start_in(&mut tx, &account.id).await?;
    tx.commit().await?;
    Ok(Checked::SignedIn(Box::new(session)))
}

/// Compares two hashes in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a password (`verify` compares it with a stored hash, or with none: then it is wrong in
/// as long as a real check takes).
pub async fn password(
    db: &Db,
    address: &Address,
    verify: &(dyn Fn(Option<&str>) -> bool + Sync),
    ip: &str,
) -> Result<Checked> {
    if count_attempts(db, "ip", ip, "failed").await? >= FAILURES_PER_IP {
        return Ok(Checked::TooMany);
    }
    let mut tx = db.write().await?;
    let found = account_by_address(&mut tx, address).await?;
    let verified = found.as_ref().filter(|a| a.verified_at.is_some() && a.status == "active");
    if let Some(a) = verified
        && count_attempts(db, "account_id", &a.id, "failed").await? >= FAILURES_PER_ACCOUNT
    {
        tx.commit().await?;
        return Ok(Checked::TooMany);
    }
    let hash: Option<String> = match verified {
        Some(a) => sqlx::query("SELECT password_hash FROM portal_accounts WHERE id = $1")
            .bind(a.id.clone())
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get("password_hash")?,
        None => None,
    };
    if !verify(hash.as_deref()) || hash.is_none() {
        note_attempt(&mut tx, "failed", verified.map(|a| a.id.as_str()), ip).await?;
        tx.commit().await?;
        return Ok(Checked::Wrong);
    }
    let Some(a) = verified else { return Ok(Checked::Wrong) };
    let session = start_in(&mut tx, &a.id).await?;
    tx.commit().await?;
    Ok(Checked::SignedIn(Box::new(session)))
}

/// Sets a signed-in customer's password (hashed by the caller).
pub async fn set_password(db: &Db, account: &str, hash: &str) -> Result<()> {
    let mut tx = db.write().await?;
    sqlx::query("UPDATE portal_accounts SET password_hash = $1 WHERE id = $2")
        .bind(hash.to_string())
        .bind(account.to_string())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await
}

/// Sets a signed-in customer's language.
pub async fn set_language(db: &Db, account: &str, lang: &str) -> Result<()> {
    let mut tx = db.write().await?;
    sqlx::query("UPDATE portal_accounts SET language = $1 WHERE id = $2")
        .bind(if lang == "en" { "en" } else { "fa" })
        .bind(account.to_string())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await
}

async fn start_in(tx: &mut WriteTx, account: &str) -> Result<Session> {
    let (secret, csrf) = (random_secret()?, random_secret()?);
    sqlx::query(
        "INSERT INTO portal_sessions (secret_hash, account_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash_secret(&secret))
    .bind(account.to_string())
    .bind(csrf.clone())
    .bind(now())
    .bind(at_offset(SESSION_DAYS * 24 * 60))
    .execute(&mut *tx.tx)
    .await?;
    sqlx::query("UPDATE portal_accounts SET last_sign_in_at = $1 WHERE id = $2")
        .bind(now())
        .bind(account.to_string())
        .execute(&mut *tx.tx)
        .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM portal_accounts WHERE id = $1")))
        .bind(account.to_string())
        .fetch_one(&mut *tx.tx)
        .await?;
    Ok(Session { secret, csrf, account: account_from_row(&row)? })
}

/// The account and forms' token of a live session of an active account.
pub async fn session(db: &Db, secret: &str) -> Result<Option<(Account, String)>> {
    let sql = format!(
        "SELECT {}, s.csrf AS csrf FROM portal_sessions s JOIN portal_accounts a ON a.id = s.account_id \
         WHERE s.secret_hash = $1 AND s.expires_at > $2 AND a.status = 'active'",
        ACCOUNT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
    );
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash_secret(secret)).bind(now()).fetch_optional(db.pool()).await?;
    match row {
        Some(row) => Ok(Some((account_from_row(&row)?, row.try_get("csrf")?))),
        None => Ok(None),
    }
}

/// Ends a session (signing out).
pub async fn end_session(db: &Db, secret: &str) -> Result<()> {
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM portal_sessions WHERE secret_hash = $1")
        .bind(hash_secret(secret))
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_either_script() {
        assert_eq!(Address::parse(" Sara@Example.COM "), Ok(Address::Email("sara@example.com".into())));
        let phone = Address::parse("۰۹۱۲ ۳۴۵ ۶۷۸۹").expect("a mobile number in Persian digits");
        assert_eq!(phone, Address::Phone("+989123456789".into()));
        assert_eq!(phone.channel(), "sms");
        assert_eq!(Address::parse("").map_err(|e| e.code), Err("required"));
        assert!(Address::parse("not an address").is_err());
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = new_code().expect("randomness");
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
        assert_ne!(code_hash("a", "123456"), code_hash("b", "123456"), "a code's hash is its own");
    }
}
