//! Two-factor sign-in with time-based one-time passwords (RFC 6238: HMAC-SHA1, six digits,
//! 30-second steps, the step before and after accepted for clocks that drift), one-time
//! recovery codes, sign-ins waiting for their second factor, and the roles that must use it.
//!
//! **Invariants:** a code is taken once (a step at or before the last one taken is refused,
//! so a code seen over a shoulder cannot be replayed within its window); a sign-in waiting for
//! its code lives five minutes and ends after [`MAX_CODE_FAILURES`] wrong codes, so codes cannot
//! be guessed more often than passwords; secrets and ids of waiting sign-ins are kept as they
//! must be (the TOTP secret itself, which the server needs, and the waiting id's hash).

use crate::accounts::{hash_secret, random_secret};
use crate::security::Kind;
use crate::sql::now;
use crate::{Db, Error, Result};
use peyvand_records::FieldError;
use peyvand_records::access::Role;
use peyvand_records::value::format_datetime;
use serde_json::json;
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Seconds a code stands for.
const STEP_SECS: u64 = 30;
/// Wrong codes a waiting sign-in takes before it ends.
pub const MAX_CODE_FAILURES: i64 = 10;
/// How long a sign-in waits for its code.
const PENDING_MINUTES: i64 = 5;
/// Recovery codes made when two-factor sign-in is turned on.
const RECOVERY_CODES: usize = 10;

/// A secret to add to an authenticator app, before a code confirms it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Enrolment {
    /// Base32, as authenticator apps take it typed.
    pub secret: String,
    /// `otpauth://totp/…`, as they take it from a link or a QR code.
    pub url: String,
}

/// Why a second factor was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRefused {
    /// Wrong, already used, or from another window; the waiting sign-in goes on.
    Wrong,
    /// Too many wrong codes (or too late): the sign-in must start again with the password.
    SignInOver,
}

fn totp(secret: &[u8], account: &str) -> Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(secret.to_vec())
        .with_issuer(Some("Peyvand"))
        // The label's separator is a colon; an account name may not hold one.
        .with_account_name(account.replace(':', ""))
        .build()
        .map_err(|e| Error::Config(format!("two-factor secret: {e}")))
}

fn decode(secret: &str) -> Result<Vec<u8>> {
    Secret::try_from_base32(secret).map(|s| s.to_vec()).map_err(|e| Error::Corrupt(format!("two-factor secret: {e}")))
}

fn now_secs() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// The time step of `code` for `secret` among the current one and its neighbours, if it is one
/// of theirs and later than `after`.
fn matching_step(secret: &[u8], account: &str, code: &str, after: i64) -> Result<Option<i64>> {
    let code: String =
        peyvand_records::normalize::to_latin_digits(code).chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret, account)?;
    let current = (now_secs() / STEP_SECS) as i64;
    for step in [current - 1, current, current + 1] {
        if step > after && crate::accounts::same(&totp.generate(step as u64 * STEP_SECS).to_string(), &code) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

impl Db {
    /// Whether the user signs in with a second factor.
    pub async fn two_factor_enabled(&self, user_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM two_factor WHERE user_id = $1 AND enabled_at IS NOT NULL")
            .bind(user_id.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// A new secret for the user's authenticator; it takes effect once a code from it is
    /// confirmed ([`Db::confirm_two_factor`]). Refused while two-factor sign-in is on.
    pub async fn start_two_factor(&self, user_id: &str) -> Result<Enrolment> {
        if self.two_factor_enabled(user_id).await? {
            return Err(Error::conflict("two_factor_on"));
        }
        let user = self.user(user_id).await?;
        let mut bytes = [0u8; 20];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        let secret = Secret::from(bytes.to_vec()).to_base32();
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM two_factor WHERE user_id = $1").bind(user_id.to_string()).execute(&mut *tx.tx).await?;
        sqlx::query("INSERT INTO two_factor (user_id, secret) VALUES ($1, $2)")
            .bind(user_id.to_string())
            .bind(secret.clone())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        let url = totp(&bytes, &user.email)?.to_url().map_err(|e| Error::Config(format!("two-factor link: {e}")))?;
        Ok(Enrolment { secret, url })
    }

    /// Turns two-factor sign-in on with a code from the new secret; returns the recovery codes,
    /// shown once (each signs in once in place of a code).
    pub async fn confirm_two_factor(&self, user_id: &str, code: &str) -> Result<Vec<String>> {
        let user = self.user(user_id).await?;
        let row = sqlx::query("SELECT secret FROM two_factor WHERE user_id = $1 AND enabled_at IS NULL")
            .bind(user_id.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::conflict("two_factor_not_started"))?;
        let secret = decode(&row.try_get::<String, _>(0)?)?;
        let Some(step) = matching_step(&secret, &user.email, code, 0)? else {
            return Err(Error::invalid(FieldError::new("code", "wrong_code")));
        };
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| random_secret().map(|s| format!("{}-{}", &s[..5], &s[5..10])))
            .collect::<Result<_>>()?;
        let mut tx = self.write().await?;
        sqlx::query("UPDATE two_factor SET enabled_at = $1, last_step = $2 WHERE user_id = $3")
            .bind(now())
            .bind(step)
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        for code in &codes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id.to_string())
                .bind(hash_secret(code))
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        self.log_security(Kind::TwoFactorChanged, Some(user_id), Some(user_id), None, json!({ "on": true })).await;
        Ok(codes)
    }

    /// Turns two-factor sign-in off (the user, with a current code; or an admin for them, `by`).
    pub async fn disable_two_factor(&self, by: Option<&str>, user_id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM two_factor WHERE user_id = $1").bind(user_id.to_string()).execute(&mut *tx.tx).await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        self.log_security(Kind::TwoFactorChanged, by, Some(user_id), None, json!({ "on": false })).await;
        Ok(())
    }

    /// Checks a code (or an unused recovery code) for a user with two-factor sign-in on; a
    /// code is taken once. `Ok(false)` when it is not right.
    pub async fn check_second_factor(&self, user_id: &str, code: &str) -> Result<bool> {
        let user = self.user(user_id).await?;
        let mut tx = self.write().await?;
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT secret, last_step FROM two_factor WHERE user_id = $1 AND enabled_at IS NOT NULL{}",
            self.dialect().for_update()
        )))
        .bind(user_id.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?
        else {
            return Ok(false);
        };
        let (secret, last): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(step) = matching_step(&decode(&secret)?, &user.email, code, last)? {
            sqlx::query("UPDATE two_factor SET last_step = $1 WHERE user_id = $2")
                .bind(step)
                .bind(user_id.to_string())
                .execute(&mut *tx.tx)
                .await?;
            tx.commit().await?;
            return Ok(true);
        }
        let used = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now())
        .bind(user_id.to_string())
        .bind(hash_secret(code.trim()))
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if used == 1 {
            self.log_security(
                Kind::TwoFactorChanged,
                Some(user_id),
                Some(user_id),
                None,
                json!({ "recovery_code": "used" }),
            )
            .await;
        }
        Ok(used == 1)
    }

    /// A sign-in whose password was right, waiting for its second factor: the secret for its
    /// cookie.
    pub async fn start_pending_sign_in(&self, user_id: &str) -> Result<String> {
        let secret = random_secret()?;
        let expires = format_datetime(OffsetDateTime::now_utc() + Duration::minutes(PENDING_MINUTES));
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at < $1").bind(now()).execute(&mut *tx.tx).await?;
        sqlx::query("INSERT INTO pending_sign_ins (id_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(hash_secret(&secret))
            .bind(user_id.to_string())
            .bind(expires)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The user of a waiting sign-in, if it is still waiting.
    pub async fn pending_sign_in(&self, secret: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT user_id FROM pending_sign_ins WHERE id_hash = $1 AND expires_at > $2")
            .bind(hash_secret(secret))
            .bind(now())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Takes the second factor of a waiting sign-in: the user, when the code is right (the
    /// waiting sign-in ends; the caller starts a session with a new id).
    pub async fn finish_pending_sign_in(
        &self,
        secret: &str,
        code: &str,
    ) -> Result<std::result::Result<String, CodeRefused>> {
        let Some(user_id) = self.pending_sign_in(secret).await? else { return Ok(Err(CodeRefused::SignInOver)) };
        let hash = hash_secret(secret);
        if self.check_second_factor(&user_id, code).await? {
            let mut tx = self.write().await?;
            sqlx::query("DELETE FROM pending_sign_ins WHERE id_hash = $1").bind(hash).execute(&mut *tx.tx).await?;
            tx.commit().await?;
            return Ok(Ok(user_id));
        }
        let mut tx = self.write().await?;
        let failures: i64 =
            sqlx::query("UPDATE pending_sign_ins SET failures = failures + 1 WHERE id_hash = $1 RETURNING failures")
                .bind(hash.clone())
                .fetch_optional(&mut *tx.tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or(MAX_CODE_FAILURES);
        let over = failures >= MAX_CODE_FAILURES;
        if over {
            sqlx::query("DELETE FROM pending_sign_ins WHERE id_hash = $1").bind(hash).execute(&mut *tx.tx).await?;
        }
        tx.commit().await?;
        let details = json!({ "second_factor": "wrong", "failures": failures });
        self.log_security(Kind::SignInFailed, None, Some(&user_id), None, details).await;
        Ok(Err(if over { CodeRefused::SignInOver } else { CodeRefused::Wrong }))
    }

    /// The users who sign in with a second factor (for the users page, in one query).
    pub async fn two_factor_users(&self) -> Result<std::collections::HashSet<String>> {
        let rows =
            sqlx::query("SELECT user_id FROM two_factor WHERE enabled_at IS NOT NULL").fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The roles that must sign in with a second factor.
    pub async fn roles_requiring_two_factor(&self) -> Result<Vec<Role>> {
        let rows =
            sqlx::query("SELECT role FROM role_settings WHERE require_two_factor = 1").fetch_all(self.pool()).await?;
        Ok(rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok().and_then(|r| Role::parse(&r))).collect())
    }

    /// Whether users of `role` must sign in with a second factor.
    pub async fn two_factor_required(&self, role: Role) -> Result<bool> {
        let row = sqlx::query("SELECT require_two_factor FROM role_settings WHERE role = $1")
            .bind(role.as_str().to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0) == 1)
    }

    /// Whether the user's role must use a second factor that the user has not set up yet (one
    /// query: asked on every page).
    pub async fn second_factor_missing(&self, user_id: &str, role: Role) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (SELECT require_two_factor FROM role_settings WHERE role = $1), \
             (SELECT 1 FROM two_factor WHERE user_id = $2 AND enabled_at IS NOT NULL)",
        )
        .bind(role.as_str().to_string())
        .bind(user_id.to_string())
        .fetch_one(self.pool())
        .await?;
        let required = row.try_get::<Option<i64>, _>(0)?.unwrap_or(0) == 1;
        Ok(required && row.try_get::<Option<i64>, _>(1)?.is_none())
    }

    /// Makes a second factor required (or not) for users of `role`.
    pub async fn require_two_factor(&self, role: Role, required: bool) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM role_settings WHERE role = $1")
            .bind(role.as_str().to_string())
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("INSERT INTO role_settings (role, require_two_factor) VALUES ($1, $2)")
            .bind(role.as_str().to_string())
            .bind(i64::from(required))
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        let details = json!({ "role": role.as_str(), "require_two_factor": required });
        self.log_security(Kind::AccessChanged, None, None, None, details).await;
        Ok(())
    }

    /// Ends every session of a user ("sign out everywhere"); their API tokens stay.
    pub async fn end_sessions(&self, user_id: &str) -> Result<u64> {
        let mut tx = self.write().await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        self.auth.forget();
        self.log_security(
            Kind::SignOut,
            Some(user_id),
            Some(user_id),
            None,
            json!({ "everywhere": true, "sessions": ended }),
        )
        .await;
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_window_once_and_never_an_older_step() {
        let secret = b"12345678901234567890".to_vec();
        let now = (now_secs() / STEP_SECS) as i64;
        let code = totp(&secret, "a@b.ir").expect("totp").generate(now as u64 * STEP_SECS).to_string();
        assert_eq!(matching_step(&secret, "a@b.ir", &code, 0).expect("check"), Some(now));
        assert_eq!(matching_step(&secret, "a@b.ir", &code, now).expect("check"), None, "taken once");
        let persian: String =
            code.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + 0x06F0).unwrap_or(c)).collect();
        assert_eq!(matching_step(&secret, "a@b.ir", &persian, 0).expect("check"), Some(now), "Persian digits");
        assert_eq!(matching_step(&secret, "a@b.ir", "12345", 0).expect("check"), None);
        assert_eq!(matching_step(&secret, "a@b.ir", "abcdef", 0).expect("check"), None);
    }

    #[test]
    fn rfc_6238_sha1_vector() {
        // RFC 6238, appendix B: T = 59 s, SHA-1, the 8-digit code 94287082 (its last six here).
        let totp = totp(b"12345678901234567890", "x").expect("totp");
        assert_eq!(totp.generate(59).to_string(), "287082");
    }
}
