//! The security log: what admins need to see of who signed in, who changed whose access, and
//! who took data out. Each entry has a kind ([`Kind`]), the user who acted (none for a failed
//! sign-in), what it was done to, the client's address when known, and details as JSON.
//! Entries are written after the change they record, in a transaction of their own; a change
//! whose entry could not be written is not undone (the failure is logged to standard error).

use crate::sql::{new_id, now};
use crate::{Db, Result};
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::Row;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SignIn,
    SignInFailed,
    SignOut,
    UserAdded,
    UserChanged,
    TokenCreated,
    TokenRevoked,
    TeamChanged,
    AccessChanged,
    FieldAccessChanged,
    Handover,
    Export,
    TwoFactorChanged,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::SignIn,
        Kind::SignInFailed,
        Kind::SignOut,
        Kind::UserAdded,
        Kind::UserChanged,
        Kind::TokenCreated,
        Kind::TokenRevoked,
        Kind::TeamChanged,
        Kind::AccessChanged,
        Kind::FieldAccessChanged,
        Kind::Handover,
        Kind::Export,
        Kind::TwoFactorChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::SignInFailed => "sign_in_failed",
            Kind::SignOut => "sign_out",
            Kind::UserAdded => "user_added",
            Kind::UserChanged => "user_changed",
            Kind::TokenCreated => "token_created",
            Kind::TokenRevoked => "token_revoked",
            Kind::TeamChanged => "team_changed",
            Kind::AccessChanged => "access_changed",
            Kind::FieldAccessChanged => "field_access_changed",
            Kind::Handover => "handover",
            Kind::Export => "export",
            Kind::TwoFactorChanged => "two_factor_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of the security log.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SecurityEntry {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub address: Option<String>,
    pub details: Json,
}

/// Most entries read at once.
pub const MAX_ENTRIES: u32 = 500;
/// How many times an entry is tried while the writers are busy.
pub const LOG_ATTEMPTS: u32 = 4;

impl Db {
    /// Writes an entry; `actor` defaults to this handle's user. It waits for busy writers up to
    /// [`LOG_ATTEMPTS`] times their queue's limit, and is logged as an error only when it cannot
    /// be written at all.
    pub async fn log_security(
        &self,
        kind: Kind,
        actor: Option<&str>,
        subject: Option<&str>,
        address: Option<&str>,
        details: Json,
    ) {
        let actor = actor.map(str::to_string).or_else(|| self.viewer().map(|v| v.user_id.clone()));
        let (id, at) = (new_id(), now());
        let written = async || {
            let mut tx = self.write().await?;
            sqlx::query(
                "INSERT INTO security_log (id, at, kind, actor, subject, address, details_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id.clone())
            .bind(at.clone())
            .bind(kind.as_str())
            .bind(actor.clone())
            .bind(subject.map(str::to_string))
            .bind(address.map(str::to_string))
            .bind(details.to_string())
            .execute(&mut *tx.tx)
            .await?;
            tx.commit().await
        };
        // An entry is not given up while the writers are only busy (a long write holds them:
        // a rollup filled on a large database took 9 s, and a sign-in's entry was lost).
        for attempt in 1..=LOG_ATTEMPTS {
            match written().await {
                Ok(()) => return,
                Err(e) if e.is_unavailable() && attempt < LOG_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, kind = kind.as_str(), "the security log waits for the writers");
                }
                Err(e) => {
                    tracing::error!(error = %e, kind = kind.as_str(), "the security log could not be written");
                    return;
                }
            }
        }
    }

    /// The newest entries (of one kind, or about one user as actor or subject), before the
    /// entry `before` if given.
    pub async fn security_log(
        &self,
        kind: Option<Kind>,
        user: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SecurityEntry>> {
        let mut sql = crate::sql::Sql::new(
            "SELECT id, at, kind, actor, subject, address, details_json FROM security_log WHERE 1 = 1",
        );
        if let Some(kind) = kind {
            sql.push(" AND kind = ").bind(crate::sql::Bind::text(kind.as_str()));
        }
        if let Some(user) = user {
            sql.push(" AND (actor = ").bind(crate::sql::Bind::text(user));
            sql.push(" OR subject = ").bind(crate::sql::Bind::text(user)).push(")");
        }
        if let Some(before) = before {
            sql.push(" AND id < ").bind(crate::sql::Bind::text(before));
        }
        sql.push(" ORDER BY id DESC LIMIT ").bind(crate::sql::Bind::Int(Some(i64::from(limit.clamp(1, MAX_ENTRIES)))));
        let rows = sql.query().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                let details: String = r.try_get(6)?;
                Ok(SecurityEntry {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    actor: r.try_get(3)?,
                    subject: r.try_get(4)?,
                    address: r.try_get(5)?,
                    details: serde_json::from_str(&details).unwrap_or(Json::Null),
                })
            })
            .collect()
    }
}
