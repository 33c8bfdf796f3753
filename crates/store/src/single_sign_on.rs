//! Single sign-on's storage (the protocol is `peyvand_web::sso`): sign-ins sent to an OpenID
//! provider and waiting for it to send the browser back, and the identities that link a
//! provider's subject to a user.
//!
//! **Invariants:** a waiting sign-in is found only by the state the provider returns *and* the
//! browser that started it (a state from another browser finds nothing), once (taking it
//! deletes it), within ten minutes. A subject linked to a user signs in as that user whatever
//! e-mail the provider sends later; a user linked to one subject is not taken over by another
//! subject that claims the same e-mail.

use crate::accounts::{User, hash_secret};
use crate::security::Kind;
use crate::sql::now;
use crate::{Db, Result};
use peyvand_records::access::Role;
use peyvand_records::value::format_datetime;
use serde_json::json;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

/// How long a sign-in waits for the provider.
const WAIT_MINUTES: i64 = 10;
/// Most sign-ins waiting at once from one client address, and in all: anyone may start one, so
/// their number is bounded, and one address cannot use up the others' share.
const MAX_WAITING_PER_CLIENT: i64 = 20;
const MAX_WAITING: i64 = 100_000;

/// What a waiting sign-in must come back with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub nonce: String,
    pub verifier: String,
    /// Where the user goes once signed in (a local path).
    pub next: String,
}

/// Who the provider says signed in.
#[derive(Clone, Debug)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// The provider's `email_verified`, when it says.
    pub email_verified: Option<bool>,
    pub name: String,
}

/// Who an identity the provider vouched for is here.
#[derive(Clone, Debug)]
pub enum Matched {
    User(User),
    /// No user has this e-mail and creating users is off.
    NoUser,
    /// The user is deactivated.
    Inactive,
    /// The provider did not vouch for the e-mail (`email_verified` false), or sent none.
    EmailUnverified,
    /// A user with this e-mail is linked to another subject of this provider.
    LinkedElsewhere,
}

impl Db {
    /// Remembers a sign-in sent to the provider, keyed by its state and bound to the browser's
    /// secret (a cookie). False, and nothing kept, when too many are waiting already.
    pub async fn start_sso(&self, browser: &str, state: &str, waiting: &Waiting, client: &str) -> Result<bool> {
        let expires = format_datetime(OffsetDateTime::now_utc() + Duration::minutes(WAIT_MINUTES));
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sso_sign_ins WHERE expires_at < $1").bind(now()).execute(&mut *tx.tx).await?;
        let from_client: i64 = sqlx::query("SELECT COUNT(*) FROM sso_sign_ins WHERE client = $1")
            .bind(client.to_string())
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?;
        let waiting_now: i64 =
            sqlx::query("SELECT COUNT(*) FROM sso_sign_ins").fetch_one(&mut *tx.tx).await?.try_get(0)?;
        if from_client >= MAX_WAITING_PER_CLIENT || waiting_now >= MAX_WAITING {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sso_sign_ins (state_hash, browser_hash, nonce, verifier, next_path, expires_at, client) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(hash_secret(state))
        .bind(hash_secret(browser))
        .bind(waiting.nonce.clone())
        .bind(waiting.verifier.clone())
        .bind(waiting.next.clone())
        .bind(expires)
        .bind(client.to_string())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes the waiting sign-in whose state came back, if this browser started it and it is
    /// not too old; it is gone afterwards, so a state is good once. (A state brought by
    /// another browser finds nothing and leaves the sign-in waiting for its own browser.)
    pub async fn take_sso(&self, browser: &str, state: &str) -> Result<Option<Waiting>> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "SELECT nonce, verifier, next_path, expires_at FROM sso_sign_ins WHERE state_hash = $1 AND browser_hash = $2",
        )
        .bind(hash_secret(state))
        .bind(hash_secret(browser))
        .fetch_optional(&mut *tx.tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // Two answers with one state at once: only the one whose delete took the row goes on.
        let taken = sqlx::query("DELETE FROM sso_sign_ins WHERE state_hash = $1")
            .bind(hash_secret(state))
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if taken != 1 {
            return Ok(None);
        }
        if row.try_get::<String, _>(3)? < now() {
            return Ok(None);
        }
        Ok(Some(Waiting { nonce: row.try_get(0)?, verifier: row.try_get(1)?, next: row.try_get(2)? }))
    }

    /// The user a provider's identity is: the one linked to its subject, else the one with its
    /// e-mail (which links them), else, if `create` names a role (and language), a new user with
    /// it. Neither a
    /// password nor anything else of the user changes.
    pub async fn sso_user(
        &self,
        identity: &Identity,
        create: Option<(Role, &str)>,
        trust_unverified: bool,
    ) -> Result<Matched> {
        let (issuer, subject, name) = (identity.issuer.as_str(), identity.subject.as_str(), identity.name.as_str());
        let (email, email_verified) = (identity.email.as_deref(), identity.email_verified);
        let linked = sqlx::query("SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2")
            .bind(issuer.to_string())
            .bind(subject.to_string())
            .fetch_optional(self.pool())
            .await?;
        let user = match linked {
            Some(row) => self.user(&row.try_get::<String, _>(0)?).await?,
            None => {
                // Only an e-mail the provider says it verified (or, when the operator trusts it
                // to vouch for every address it sends, one it sends without saying).
                let vouched = email_verified == Some(true) || (trust_unverified && email_verified.is_none());
                let Some(email) = email.filter(|_| vouched) else {
                    return Ok(Matched::EmailUnverified);
                };
                let user = match self.user_for_login(email).await? {
                    Some((user, _)) => user,
                    None => match create {
                        // No password: the user signs in through the provider (or an admin sets one).
                        Some((role, language)) => self.create_user(email, name, role, "!sso", language).await?,
                        None => return Ok(Matched::NoUser),
                    },
                };
                // One subject per user and provider (a unique index holds it when two first
                // sign-ins race).
                let mut tx = self.write().await?;
                let other = sqlx::query("SELECT subject FROM sso_identities WHERE issuer = $1 AND user_id = $2")
                    .bind(issuer.to_string())
                    .bind(user.id.clone())
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                if other.is_some() {
                    return Ok(Matched::LinkedElsewhere);
                }
                let linked = sqlx::query(
                    "INSERT INTO sso_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(issuer.to_string())
                .bind(subject.to_string())
                .bind(user.id.clone())
                .bind(now())
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                if linked == 0 {
                    // Linked meanwhile: by this subject to this user (the same sign-in twice) is
                    // fine; anything else is another account's.
                    let owner = sqlx::query("SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2")
                        .bind(issuer.to_string())
                        .bind(subject.to_string())
                        .fetch_optional(self.pool())
                        .await?;
                    if owner.map(|r| r.try_get::<String, _>(0)).transpose()?.as_deref() != Some(user.id.as_str()) {
                        return Ok(Matched::LinkedElsewhere);
                    }
                }
                let details = json!({ "issuer": issuer, "subject": subject });
                self.log_security(Kind::UserChanged, None, Some(&user.id), None, details).await;
                user
            }
        };
        Ok(if user.active { Matched::User(user) } else { Matched::Inactive })
    }
}
