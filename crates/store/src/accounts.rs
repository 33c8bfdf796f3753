//! Users, web sessions, API tokens and failed-login records.
//!
//! Secrets (session ids, API tokens) are random 256-bit values shown once and stored only as
//! SHA-256 hashes. Password hashing belongs to the web crate's auth module; this module stores
//! the resulting PHC strings.

use crate::sql::{get_bool, new_id, now};
use crate::{Db, Error, Result};
use peyvand_records::FieldError;
use peyvand_records::access::Role;
use peyvand_records::value::{format_datetime, parse_email};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

/// A person who signs in.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub language: String,
    pub active: bool,
    pub created_at: String,
}

/// An API token as listed (never with its secret).
#[derive(Clone, Debug, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// The languages of the UI.
pub const LANGUAGES: [&str; 2] = ["fa", "en"];

/// A fresh random secret, as 64 hex digits.
pub fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
    Ok(crate::sql::hex(&bytes))
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of a secret, as hex.
pub fn hash_secret(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(secret.as_bytes()) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// How long an instance trusts what it read about a token or a session: a revocation, sign-out,
/// deactivation or change of role made through another instance reaches this one within it (the
/// instance that made it forgets at once). Every API request otherwise began with a trip to the
/// database for its token.
pub const AUTH_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Entries kept at most; past it the cache starts again empty.
const AUTH_ENTRIES: usize = 10_000;

/// What an instance read about a token or session: when, the user, and a session's CSRF token.
type Trusted = (Instant, User, Option<String>);

/// Tokens and sessions this instance found valid lately (never the ones it did not).
#[derive(Default)]
pub(crate) struct AuthCache {
    /// By `t:`/`s:` and the secret's hash.
    entries: Mutex<HashMap<String, Trusted>>,
}

impl AuthCache {
    fn get(&self, key: &str) -> Option<(User, Option<String>)> {
        let entries = self.entries.lock().ok()?;
        let (at, user, csrf) = entries.get(key)?;
        (at.elapsed() < AUTH_TTL).then(|| (user.clone(), csrf.clone()))
    }

    fn put(&self, key: String, user: &User, csrf: Option<&str>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= AUTH_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), user.clone(), csrf.map(str::to_string)));
        }
    }

    /// Forgets everything: after any change to users, tokens or sessions.
    pub(crate) fn forget(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

fn user_from_row(row: &AnyRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| Error::Corrupt(format!("role {role}")))?,
        language: row.try_get("language")?,
        active: get_bool(row, "active")?,
        created_at: row.try_get("created_at")?,
    })
}

const USER_COLUMNS: &str = "id, email, name, role, language, active, created_at";

impl Db {
    /// Adds a user; the e-mail is checked and kept in lower case.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
        language: &str,
    ) -> Result<User> {
        let email = parse_email("email", email).map_err(Error::invalid)?;
        if !LANGUAGES.contains(&language) {
            return Err(Error::invalid(FieldError::new("language", "invalid_option")));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid(FieldError::new("name", "control_characters")));
        }
        if name.trim().chars().count() > 100 {
            return Err(Error::invalid(FieldError::with("name", "too_long", serde_json::json!({ "max": 100 }))));
        }
        let name = if name.trim().is_empty() {
            email.split('@').next().unwrap_or_default().to_string()
        } else {
            name.trim().to_string()
        };
        let id = new_id();
        let mut tx = self.write().await?;
        let result = sqlx::query("INSERT INTO users (id, email, name, role, password_hash, language, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7)")
            .bind(id.clone())
            .bind(email.clone())
            .bind(name)
            .bind(role.as_str())
            .bind(password_hash.to_string())
            .bind(language.to_string())
            .bind(now())
            .execute(&mut *tx.tx)
            .await
            .map_err(Error::from);
        match result {
            Err(e) if e.is_unique_violation() => {
                return Err(Error::Conflict {
                    code: "user_exists",
                    details: vec![FieldError::new("email", "user_exists")],
                });
            }
            other => other?,
        };
        tx.commit().await?;
        let details = serde_json::json!({ "email": email, "role": role.as_str() });
        self.log_security(crate::security::Kind::UserAdded, None, Some(&id), None, details).await;
        self.user(&id).await
    }

    pub async fn user(&self, id: &str) -> Result<User> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {id}")))?;
        user_from_row(&row)
    }

    /// The user with this e-mail and their password hash.
    pub async fn user_for_login(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        )))
        .bind(email.trim().to_lowercase())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY email")))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Changes a user's role, name or whether they may sign in. Deactivating ends their
    /// sessions and stops their API tokens (records they own stay, owned by them, until
    /// reassigned); the last active admin cannot be demoted or deactivated. `by` is the admin
    /// making the change, who may not change their own role or deactivate themselves (another
    /// admin can): a slip would lock them out.
    pub async fn update_user(
        &self,
        by: Option<&str>,
        user_id: &str,
        role: Option<Role>,
        name: Option<&str>,
        active: Option<bool>,
    ) -> Result<User> {
        let mut tx = self.write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))?;
        let current = user_from_row(&row)?;
        let new_role = role.unwrap_or(current.role);
        let new_active = active.unwrap_or(current.active);
        if by == Some(user_id) && (new_role != current.role || new_active != current.active) {
            return Err(Error::Conflict { code: "own_account", details: vec![FieldError::new("role", "own_account")] });
        }
        if current.role == Role::Admin && current.active && (new_role != Role::Admin || !new_active) {
            let admins: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1")
                .fetch_one(&mut *tx.tx)
                .await?
                .try_get(0)?;
            if admins <= 1 {
                return Err(Error::Conflict {
                    code: "last_admin",
                    details: vec![FieldError::new("role", "last_admin")],
                });
            }
        }
        let new_name = match name.map(str::trim) {
            Some(n) if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) => {
                return Err(Error::invalid(FieldError::new("name", "required")));
            }
            Some(n) => n.to_string(),
            None => current.name.clone(),
        };
        sqlx::query("UPDATE users SET role = $1, name = $2, active = $3 WHERE id = $4")
            .bind(new_role.as_str())
            .bind(new_name)
            .bind(i64::from(new_active))
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        if !new_active {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id.to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        self.auth.forget();
        self.forget_viewers();
        let details = serde_json::json!({
            "role": [current.role.as_str(), new_role.as_str()], "active": [current.active, new_active]
        });
        if new_role != current.role || new_active != current.active {
            self.log_security(crate::security::Kind::UserChanged, by, Some(user_id), None, details).await;
        }
        self.user(user_id).await
    }

    pub async fn set_user_language(&self, user_id: &str, language: &str) -> Result<()> {
        if !LANGUAGES.contains(&language) {
            return Err(Error::invalid(FieldError::new("language", "invalid_option")));
        }
        let mut tx = self.write().await?;
        sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
            .bind(language.to_string())
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        self.auth.forget();
        Ok(())
    }

    /// Starts a web session; returns the session secret (for the cookie) and its CSRF token.
    pub async fn create_session(&self, user_id: &str, ttl: Duration) -> Result<(String, String)> {
        let secret = random_secret()?;
        let csrf = random_secret()?;
        let expires = format_datetime(OffsetDateTime::now_utc() + ttl);
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now()).execute(&mut *tx.tx).await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(hash_secret(&secret))
            .bind(user_id.to_string())
            .bind(csrf.clone())
            .bind(now())
            .bind(expires)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        Ok((secret, csrf))
    }

    /// The active user of a live session, with the session's CSRF token (as read at most
    /// [`AUTH_TTL`] ago).
    pub async fn session_user(&self, secret: &str) -> Result<Option<(User, String)>> {
        let hash = hash_secret(secret);
        let key = format!("s:{hash}");
        if let Some((user, Some(csrf))) = self.auth.get(&key) {
            return Ok(Some((user, csrf)));
        }
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.role, u.language, u.active, u.created_at, s.csrf_token FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
        )
        .bind(hash)
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => {
                let (user, csrf): (User, String) = (user_from_row(&row)?, row.try_get("csrf_token")?);
                self.auth.put(key, &user, Some(&csrf));
                Ok(Some((user, csrf)))
            }
            None => Ok(None),
        }
    }

    pub async fn delete_session(&self, secret: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(hash_secret(secret))
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        self.auth.forget();
        Ok(())
    }

    /// Creates an API token; the returned secret is shown once and never stored.
    pub async fn create_api_token(&self, user_id: &str, name: &str) -> Result<(ApiToken, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::invalid(FieldError::new("name", "required")));
        }
        let secret = format!("pv_{}", random_secret()?);
        let id = new_id();
        let created_at = now();
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.clone())
            .bind(user_id.to_string())
            .bind(name.to_string())
            .bind(hash_secret(&secret))
            .bind(created_at.clone())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        let details = serde_json::json!({ "token": id, "name": name });
        self.log_security(crate::security::Kind::TokenCreated, Some(user_id), Some(user_id), None, details).await;
        Ok((ApiToken { id, name: name.to_string(), created_at, last_used_at: None, revoked_at: None }, secret))
    }

    pub async fn list_api_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY id DESC",
        )
        .bind(user_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes one of the user's own tokens.
    pub async fn revoke_api_token(&self, user_id: &str, token_id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now())
                .bind(token_id.to_string())
                .bind(user_id.to_string())
                .execute(&mut *tx.tx)
                .await?;
        if done.rows_affected() != 1 {
            return Err(Error::NotFound(format!("token {token_id}")));
        }
        tx.commit().await?;
        self.auth.forget();
        let details = serde_json::json!({ "token": token_id });
        self.log_security(crate::security::Kind::TokenRevoked, Some(user_id), Some(user_id), None, details).await;
        Ok(())
    }

    /// The active user of an unrevoked API token (as read at most [`AUTH_TTL`] ago). Notes its
    /// use at most once a minute, so reads do not each cost a write.
    pub async fn token_user(&self, secret: &str) -> Result<Option<User>> {
        let hash = hash_secret(secret);
        let key = format!("t:{hash}");
        if let Some((user, _)) = self.auth.get(&key) {
            return Ok(Some(user));
        }
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.role, u.language, u.active, u.created_at, t.id AS token_id, t.last_used_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = 1",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        self.auth.put(key, &user, None);
        let last: Option<String> = row.try_get("last_used_at")?;
        let stale = format_datetime(OffsetDateTime::now_utc() - Duration::minutes(1));
        if last.is_none_or(|l| l < stale) {
            let token_id: String = row.try_get("token_id")?;
            let mut tx = self.write().await?;
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now())
                .bind(token_id)
                .execute(&mut *tx.tx)
                .await?;
            tx.commit().await?;
        }
        Ok(Some(user))
    }

    /// Notes a failed sign-in.
    pub async fn record_login_failure(&self, email: &str, ip: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let old = format_datetime(OffsetDateTime::now_utc() - Duration::days(1));
        sqlx::query("DELETE FROM login_failures WHERE at < $1").bind(old).execute(&mut *tx.tx).await?;
        sqlx::query("INSERT INTO login_failures (id, email, ip, at) VALUES ($1, $2, $3, $4)")
            .bind(new_id())
            .bind(email.trim().to_lowercase())
            .bind(ip.to_string())
            .bind(now())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }

    /// Failed sign-ins within `window`, for this e-mail and for this address.
    pub async fn recent_login_failures(&self, email: &str, ip: &str, window: Duration) -> Result<(i64, i64)> {
        let since = format_datetime(OffsetDateTime::now_utc() - window);
        let by_email: i64 = sqlx::query("SELECT COUNT(*) FROM login_failures WHERE email = $1 AND at > $2")
            .bind(email.trim().to_lowercase())
            .bind(since.clone())
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        let by_ip: i64 = sqlx::query("SELECT COUNT(*) FROM login_failures WHERE ip = $1 AND at > $2")
            .bind(ip.to_string())
            .bind(since)
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok((by_email, by_ip))
    }
}
