//! Loyalty: programs an admin configures (`programs`), the append-only ledger with lots that
//! expire and the kept balance and tier (`ledger`), what earns and takes back (`earning`: an
//! order's own write earns its points), the rewards catalogue with redemption (`rewards`), and
//! referrals (`referrals`).
//! The daily round (`Daily`) expires lots, warns of points about to expire, gives birthdays'
//! points and moves members down a tier once their window no longer holds it.
//!
//! Builds on sales (orders and their lines, benefits that carry a tier's discount and a reward)
//! and on automation (workflow triggers "tier changed" and "points about to expire").

pub mod earning;
pub mod ledger;
pub mod programs;
pub mod referrals;
pub mod rewards;

use peyvand_records::access::{ObjectAccess, Role};
use peyvand_records::value::format_datetime;
use peyvand_store::events::Job;
use peyvand_store::hooks::{BoxFuture, Module, WriteHook};
use peyvand_store::migrate::Migration;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Result};
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::sync::Arc;
use time::{Duration, OffsetDateTime, Time};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_loyalty.sql",
        sqlite: include_str!("../../migrations/loyalty/sqlite/0001_loyalty.sql"),
        postgres: include_str!("../../migrations/loyalty/postgres/0001_loyalty.sql"),
    },
    Migration {
        version: 2,
        name: "0002_referrals.sql",
        sqlite: include_str!("../../migrations/loyalty/sqlite/0002_referrals.sql"),
        postgres: include_str!("../../migrations/loyalty/postgres/0002_referrals.sql"),
    },
];

/// The loyalty module: its tables, rules on orders and contacts, the daily round.
pub struct Loyalty;

impl Module for Loyalty {
    fn name(&self) -> &'static str {
        "loyalty"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "loyalty_programs",
            "loyalty_rewards",
            "loyalty_members",
            "loyalty_entries",
            "loyalty_lots",
            "loyalty_allocations",
            "loyalty_redemptions",
            "referral_codes",
            "referrals",
        ]
    }

    fn hooks(&self) -> Vec<Arc<dyn WriteHook>> {
        vec![Arc::new(earning::OrderPoints), Arc::new(earning::Birthdays)]
    }

    fn job_kinds(&self) -> Vec<Arc<dyn JobKind>> {
        vec![Arc::new(Daily)]
    }

    fn default_access(&self, _role: Role, _object: &str) -> Option<ObjectAccess> {
        None
    }

    fn upgrade<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut tx = db.write().await?;
            schedule_daily_in(db, &mut tx).await?;
            tx.commit().await
        })
    }
}

/// The daily round's job.
pub const DAILY_JOB: &str = "loyalty_daily";

/// The next round: ten past midnight, the business's time (keyed by it, so every instance
/// schedules the same one).
pub(crate) async fn schedule_daily_in(db: &Db, tx: &mut peyvand_store::WriteTx) -> Result<()> {
    let offset = db.local_offset();
    let local = OffsetDateTime::now_utc().to_offset(offset);
    let next = (local.date() + Duration::days(1)).with_time(Time::from_hms(0, 10, 0).unwrap_or(Time::MIDNIGHT));
    let at = format_datetime(next.assume_offset(offset).to_offset(time::UtcOffset::UTC));
    db.schedule_job_in(tx, DAILY_JOB, Some(&format!("{DAILY_JOB}:{at}")), &at, &json!({})).await?;
    Ok(())
}

/// The daily round, then the next one scheduled.
pub struct Daily;

impl JobKind for Daily {
    fn kind(&self) -> &'static str {
        DAILY_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, _job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let round = async {
                daily(db).await?;
                let mut tx = db.write().await?;
                schedule_daily_in(db, &mut tx).await?;
                tx.commit().await
            };
            round.await.map_err(|e| e.to_string())
        })
    }
}

/// What a daily round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub expired_lots: u64,
    pub warned: u64,
    pub birthdays: u64,
    pub reviewed: u64,
}

/// Lots taken per transaction by the round.
const ROUND_BATCH: i64 = 200;

/// The daily round for the business's today: lots past their day expired, members whose
/// points expire in the program's `warn_days` told to the workflows, birthdays' points, tiers
/// reviewed for those whose window lost an earning yesterday. Idempotent: run twice, it does
/// each thing once.
pub async fn daily(db: &Db) -> Result<Round> {
    let today = db.today();
    let mut round = Round::default();
    let programs = programs::list(db).await?;
    for program in programs.iter().filter(|p| p.definition.active) {
        loop {
            let lots = sqlx::query(
                "SELECT entry_id, contact_id FROM loyalty_lots WHERE expires_on < $1 AND remaining > 0 AND program_id = $2 LIMIT $3",
            )
            .bind(today.to_string())
            .bind(program.id.clone())
            .bind(ROUND_BATCH)
            .fetch_all(db.pool())
            .await?;
            if lots.is_empty() {
                break;
            }
            let mut tx = db.write().await?;
            for lot in &lots {
                let (lot, contact): (String, String) = (lot.try_get(0)?, lot.try_get(1)?);
                ledger::expire_lot_in(db, &mut tx, program, &contact, &lot).await?;
                round.expired_lots += 1;
            }
            tx.commit().await?;
        }
        let warn_day = (today + Duration::days(program.definition.warn_days)).to_string();
        if program.definition.expiry_days.is_some() {
            let members = sqlx::query(
                "SELECT contact_id, CAST(SUM(remaining) AS BIGINT) FROM loyalty_lots WHERE expires_on = $1 AND remaining > 0 AND program_id = $2 GROUP BY contact_id",
            )
            .bind(warn_day.clone())
            .bind(program.id.clone())
            .fetch_all(db.pool())
            .await?;
            for chunk in members.chunks(ROUND_BATCH as usize) {
                let mut tx = db.write().await?;
                for m in chunk {
                    let contact: String = m.try_get(0)?;
                    let points: i64 = m.try_get(1)?;
                    let signal = crate::automation::workflows::Signal::PointsExpiring {
                        program: program.id.clone(),
                        points,
                        on: warn_day.clone(),
                    };
                    let key = format!("expiring:{}:{contact}:{warn_day}", program.id);
                    crate::automation::workflows::signal_in(db, &mut tx, &signal, "contact", &contact, &key).await?;
                    round.warned += 1;
                }
                tx.commit().await?;
            }
        }
        if program.definition.action_points("birthday").is_some() {
            let day = today.to_string();
            let members = sqlx::query("SELECT contact_id FROM loyalty_members WHERE birthday = $1 AND program_id = $2")
                .bind(day.get(5..10).unwrap_or_default().to_string())
                .bind(program.id.clone())
                .fetch_all(db.pool())
                .await?;
            for chunk in members.chunks(ROUND_BATCH as usize) {
                let mut tx = db.write().await?;
                for m in chunk {
                    let contact: String = m.try_get(0)?;
                    let year = day.get(..4).unwrap_or_default();
                    if earning::award_in(db, &mut tx, program, &contact, "birthday", year, None).await? > 0 {
                        round.birthdays += 1;
                    }
                }
                tx.commit().await?;
            }
        }
        if program.definition.tiers.len() > 1 {
            // Whoever earned on the day that has just left the window may fall a tier.
            let left = today - Duration::days(program.definition.window_days);
            let members = sqlx::query(
                "SELECT DISTINCT contact_id FROM loyalty_entries WHERE program_id = $1 AND at >= $2 AND at < $3 AND kind = 'earn'",
            )
            .bind(program.id.clone())
            .bind((left - Duration::days(1)).to_string())
            .bind(left.to_string())
            .fetch_all(db.pool())
            .await?;
            for chunk in members.chunks(ROUND_BATCH as usize) {
                let mut tx = db.write().await?;
                for m in chunk {
                    let contact: String = m.try_get(0)?;
                    ledger::retier_in(db, &mut tx, program, &contact).await?;
                    round.reviewed += 1;
                }
                tx.commit().await?;
            }
        }
    }
    Ok(round)
}

/// Points a workflow gives (its "add points" step), in the step's write: `key` makes it once.
pub(crate) async fn add_points_in(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    program: &str,
    contact: &str,
    points: i64,
    key: &str,
) -> Result<()> {
    let program = programs::get_in(tx, program).await?;
    let credit = ledger::Credit {
        points,
        spend: 0,
        source: "workflow",
        source_id: None,
        dedupe: format!("workflow:{key}"),
        actor: None,
        note: None,
    };
    ledger::credit_in(db, tx, &program, contact, credit).await?;
    Ok(())
}

/// A person's correction of a balance (positive or negative), with its reason.
pub async fn adjust(
    db: &Db,
    program: &str,
    contact: &str,
    points: i64,
    note: &str,
    actor: Option<&str>,
    key: Option<&str>,
) -> Result<ledger::Member> {
    if points == 0 {
        return Err(peyvand_store::Error::invalid(peyvand_records::FieldError::new("points", "must_not_be_zero")));
    }
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(peyvand_store::Error::invalid(peyvand_records::FieldError::new("note", "required")));
    }
    let dedupe = format!(
        "adjust:{contact}:{}",
        key.map_or_else(peyvand_store::new_id, |k| format!("{}:{k}", actor.unwrap_or("")))
    );
    let mut tx = db.write().await?;
    let program = programs::get_in(&mut tx, program).await?;
    if points > 0 {
        let credit =
            ledger::Credit { points, spend: 0, source: "user", source_id: None, dedupe, actor, note: Some(note) };
        ledger::credit_in(db, &mut tx, &program, contact, credit).await?;
    } else {
        let debit = ledger::Debit {
            kind: ledger::DebitKind::Adjust,
            points: -points,
            spend: 0,
            source: "user",
            source_id: None,
            dedupe,
            actor,
            note: Some(note.to_string()),
            first_lot: None,
        };
        ledger::debit_in(db, &mut tx, &program, contact, debit).await?;
    }
    tx.commit().await?;
    ledger::member(db, &program.id, contact)
        .await?
        .ok_or_else(|| peyvand_store::Error::NotFound(format!("member {contact}")))
}

/// Enrols a contact (their join's points if a rule gives them); the member as kept.
pub async fn enrol(db: &Db, program: &str, contact: &str, actor: Option<&str>) -> Result<ledger::Member> {
    let mut tx = db.write().await?;
    let program = programs::get_in(&mut tx, program).await?;
    ledger::join_in(db, &mut tx, &program, contact, actor).await?;
    tx.commit().await?;
    ledger::member(db, &program.id, contact)
        .await?
        .ok_or_else(|| peyvand_store::Error::NotFound(format!("member {contact}")))
}

/// An action's points for a contact in one program (`what` names the thing that made it).
pub async fn award(
    db: &Db,
    program: &str,
    contact: &str,
    action: &str,
    what: &str,
    actor: Option<&str>,
) -> Result<i64> {
    let mut tx = db.write().await?;
    let program = programs::get_in(&mut tx, program).await?;
    let points = earning::award_in(db, &mut tx, &program, contact, action, what, actor).await?;
    tx.commit().await?;
    Ok(points)
}

/// Whether a payload's program is one that exists (for a workflow step's check at save).
pub(crate) async fn program_exists(db: &Db, id: &str) -> Result<bool> {
    Ok(programs::get(db, id).await.is_ok())
}

/// JSON of a member for answers: the kept row and the tier's names.
pub fn member_json(program: &programs::Program, m: &ledger::Member) -> Json {
    let tier = m.tier.as_deref().and_then(|t| program.definition.tier(t));
    let next = tier
        .and_then(|t| program.definition.tiers.iter().position(|x| x.key == t.key))
        .and_then(|i| program.definition.tiers.get(i + 1));
    json!({
        "program_id": m.program_id, "contact_id": m.contact_id, "joined_at": m.joined_at,
        "balance": m.balance, "earned": m.earned, "spent": m.spent, "expired": m.expired,
        "tier": m.tier, "tier_since": m.tier_since, "benefit_id": m.benefit_id,
        "tier_name": tier.map(|t| json!({"fa": t.name_fa, "en": t.name_en})),
        "next_tier": next.map(|t| json!({"key": t.key, "threshold": t.threshold, "fa": t.name_fa, "en": t.name_en})),
    })
}
