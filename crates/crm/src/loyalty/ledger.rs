//! The ledger: append-only entries whose sum is a member's balance, kept on the member's row
//! with every entry (read in O(1)); earnings as lots that expire, debits taken from the lots
//! that expire first (each allocation written); the tier recomputed after what qualifies for it
//! changed, its discount kept as the member's benefit (`sales::benefits`).
//!
//! Every function here writes in the caller's transaction, after locking the member's row, so
//! that two redemptions at once are one after the other and a balance is never below zero.

use super::programs::{Definition, Program};
use peyvand_records::FieldError;
use peyvand_records::validate::{Mode, validate};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use time::{Date, Duration};

/// A contact in a program, as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub program_id: String,
    pub contact_id: String,
    pub joined_at: String,
    pub balance: i64,
    /// Points earned, net of what returned orders took back.
    pub earned: i64,
    /// Points redeemed.
    pub spent: i64,
    pub expired: i64,
    pub tier: Option<String>,
    pub tier_since: Option<String>,
    /// The benefit record that carries the tier's discount.
    pub benefit_id: Option<String>,
}

/// One entry of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: String,
    pub at: String,
    /// `earn`, `redeem`, `reverse`, `expire` or `adjust`.
    pub kind: String,
    pub points: i64,
    /// The money that earned it (whole units), negative when taken back.
    pub spend: i64,
    /// What made it: `order`, `action`, `user`, `workflow`, `referral`, `expiry`, `reward`.
    pub source: String,
    pub source_id: Option<String>,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub expires_on: Option<String>,
}

const MEMBER_COLUMNS: &str =
    "program_id, contact_id, joined_at, balance, earned, spent, expired, tier, tier_since, benefit_id";

fn member_of(r: &sqlx::any::AnyRow) -> Result<Member> {
    Ok(Member {
        program_id: r.try_get(0)?,
        contact_id: r.try_get(1)?,
        joined_at: r.try_get(2)?,
        balance: r.try_get(3)?,
        earned: r.try_get(4)?,
        spent: r.try_get(5)?,
        expired: r.try_get(6)?,
        tier: r.try_get(7)?,
        tier_since: r.try_get(8)?,
        benefit_id: r.try_get(9)?,
    })
}

const ENTRY_COLUMNS: &str = "id, at, kind, points, spend, source, source_id, actor, note, expires_on";

fn entry_of(r: &sqlx::any::AnyRow) -> Result<Entry> {
    Ok(Entry {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        kind: r.try_get(2)?,
        points: r.try_get(3)?,
        spend: r.try_get(4)?,
        source: r.try_get(5)?,
        source_id: r.try_get(6)?,
        actor: r.try_get(7)?,
        note: r.try_get(8)?,
        expires_on: r.try_get(9)?,
    })
}

/// A member as kept: one row, nothing summed.
pub async fn member(db: &Db, program: &str, contact: &str) -> Result<Option<Member>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM loyalty_members WHERE program_id = $1 AND contact_id = $2"
    )))
    .bind(program.to_string())
    .bind(contact.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(member_of).transpose()
}

/// A contact's memberships, in every program.
pub async fn memberships(db: &Db, contact: &str) -> Result<Vec<Member>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM loyalty_members WHERE contact_id = $1 ORDER BY program_id"
    )))
    .bind(contact.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(member_of).collect()
}

/// A program's members with the largest balances first (`offset` for the next page).
pub async fn top_members(db: &Db, program: &str, limit: i64, offset: i64) -> Result<Vec<Member>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM loyalty_members WHERE program_id = $1 ORDER BY balance DESC, contact_id LIMIT $2 OFFSET $3"
    )))
    .bind(program.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(member_of).collect()
}

/// How many members a program has, per tier (`None`: no tier).
pub async fn tier_counts(db: &Db, program: &str) -> Result<Vec<(Option<String>, i64)>> {
    let rows = sqlx::query("SELECT tier, COUNT(*) FROM loyalty_members WHERE program_id = $1 GROUP BY tier")
        .bind(program.to_string())
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// The member's entries from `from` up to `to` (instants or days, ISO; `to` excluded), newest
/// first, at most `limit`.
pub async fn entries(db: &Db, program: &str, contact: &str, from: &str, to: &str, limit: i64) -> Result<Vec<Entry>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM loyalty_entries WHERE program_id = $1 AND contact_id = $2 AND at >= $3 AND at < $4 \
         ORDER BY at DESC, id DESC LIMIT $5"
    )))
    .bind(program.to_string())
    .bind(contact.to_string())
    .bind(from.to_string())
    .bind(to.to_string())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(entry_of).collect()
}

/// A member's statement for a period: the balance before it, its entries (oldest first) and
/// the balance after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub from: String,
    pub to: String,
    pub opening: i64,
    pub entries: Vec<Entry>,
    pub closing: i64,
}

/// Most entries a statement lists.
pub const STATEMENT_MAX: i64 = 1000;

/// The statement of `from` up to `to` (ISO days, `to` included).
pub async fn statement(db: &Db, program: &str, contact: &str, from: &str, to: &str) -> Result<Statement> {
    let end = Date::parse(to, &time::format_description::well_known::Iso8601::DATE)
        .map_err(|_| Error::invalid(FieldError::new("to", "invalid_date")))?
        + Duration::days(1);
    Date::parse(from, &time::format_description::well_known::Iso8601::DATE)
        .map_err(|_| Error::invalid(FieldError::new("from", "invalid_date")))?;
    let end = end.to_string();
    let sum = async |before: &str| -> Result<i64> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_entries WHERE program_id = $1 AND contact_id = $2 AND at < $3",
        )
        .bind(program.to_string())
        .bind(contact.to_string())
        .bind(before.to_string())
        .fetch_one(db.pool())
        .await?;
        Ok(r.try_get::<i64, _>(0)?)
    };
    let opening = sum(from).await?;
    let closing = sum(&end).await?;
    let mut list = entries(db, program, contact, from, &end, STATEMENT_MAX).await?;
    list.reverse();
    Ok(Statement { from: from.to_string(), to: to.to_string(), opening, entries: list, closing })
}

/// Makes `contact` a member of `program` if they are not (at the first tier; the join's points
/// if a rule gives them). Returns whether they joined now.
pub async fn join_in(db: &Db, tx: &mut WriteTx, program: &Program, contact: &str, actor: Option<&str>) -> Result<bool> {
    let at = now();
    let first = program.definition.tiers.first().map(|t| t.key.clone());
    let birthday = birthday_of(db, tx, contact).await?;
    let made = sqlx::query(
        "INSERT INTO loyalty_members (program_id, contact_id, joined_at, balance, earned, spent, expired, tier, tier_since, benefit_id, birthday, updated_at) \
         VALUES ($1, $2, $3, 0, 0, 0, 0, $4, $5, NULL, $6, $3) ON CONFLICT (program_id, contact_id) DO NOTHING",
    )
    .bind(program.id.clone())
    .bind(contact.to_string())
    .bind(at.clone())
    .bind(first.clone())
    .bind(first.as_ref().map(|_| at.clone()))
    .bind(birthday)
    .execute(&mut *tx.tx)
    .await?
    .rows_affected()
        == 1;
    if !made {
        return Ok(false);
    }
    if let Some(first) = program.definition.tiers.first() {
        keep_benefit(db, tx, program, contact, Some(first)).await?;
    }
    if let Some(points) = program.definition.action_points("join") {
        let credit = Credit {
            points,
            spend: 0,
            source: "action",
            source_id: Some("join"),
            dedupe: format!("action:join:{contact}"),
            actor,
            note: None,
        };
        if write_credit(db, tx, program, contact, credit).await?.is_some() {
            retier_in(db, tx, program, contact).await?;
        }
    }
    Ok(true)
}

/// A contact's birthday as MM-DD, read in `tx`.
async fn birthday_of(db: &Db, tx: &mut WriteTx, contact: &str) -> Result<Option<String>> {
    let Some(obj) = db.catalog_cached()?.object("contact") else { return Ok(None) };
    if obj.field("birth_date").is_none() {
        return Ok(None);
    }
    let found = db.find_in(tx, &obj, &[("id", peyvand_records::Value::Text(contact.into()))], 1).await?;
    Ok(found
        .first()
        .and_then(|c| c.fields.get("birth_date").and_then(Json::as_str))
        .and_then(|d| d.get(5..10))
        .map(str::to_string))
}

/// Keeps a member's birthday (MM-DD) as their contact's changed.
pub(crate) async fn set_birthday_in(tx: &mut WriteTx, contact: &str, birth_date: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE loyalty_members SET birthday = $1 WHERE contact_id = $2")
        .bind(birth_date.and_then(|d| d.get(5..10)).map(str::to_string))
        .bind(contact.to_string())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

/// Points credited: what, and what made them (`dedupe` names it, so it is written once).
pub struct Credit<'a> {
    pub points: i64,
    pub spend: i64,
    pub source: &'a str,
    pub source_id: Option<&'a str>,
    pub dedupe: String,
    pub actor: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// Locks the member's row for the rest of the write (PostgreSQL; SQLite's writer holds the
/// database) and reads it; a contact who is not a member joins first.
async fn lock(db: &Db, tx: &mut WriteTx, program: &Program, contact: &str) -> Result<Member> {
    join_in(db, tx, program, contact, None).await?;
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM loyalty_members WHERE program_id = $1 AND contact_id = $2{}",
        db.dialect().for_update()
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(program.id.clone())
        .bind(contact.to_string())
        .fetch_one(&mut *tx.tx)
        .await?;
    member_of(&row)
}

/// Credits points as a lot that expires as the program says; nothing when `dedupe` was written
/// before. Returns the entry's id when written. The tier follows.
pub async fn credit_in(
    db: &Db,
    tx: &mut WriteTx,
    program: &Program,
    contact: &str,
    credit: Credit<'_>,
) -> Result<Option<String>> {
    if credit.points <= 0 {
        return Err(Error::invalid(FieldError::new("points", "not_positive")));
    }
    lock(db, tx, program, contact).await?;
    let written = write_credit(db, tx, program, contact, credit).await?;
    if written.is_some() {
        retier_in(db, tx, program, contact).await?;
    }
    Ok(written)
}

/// The credit's entry, lot and balance (the member's row exists and is locked).
async fn write_credit(
    db: &Db,
    tx: &mut WriteTx,
    program: &Program,
    contact: &str,
    credit: Credit<'_>,
) -> Result<Option<String>> {
    let (id, at) = (new_id(), now());
    let expires_on = program.definition.expiry_days.map(|d| (db.today() + Duration::days(d)).to_string());
    let written = sqlx::query(
        "INSERT INTO loyalty_entries (id, program_id, contact_id, at, kind, points, spend, source, source_id, dedupe, actor, note, expires_on) \
         VALUES ($1, $2, $3, $4, 'earn', $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (program_id, dedupe) DO NOTHING",
    )
    .bind(id.clone())
    .bind(program.id.clone())
    .bind(contact.to_string())
    .bind(at.clone())
    .bind(credit.points)
    .bind(credit.spend)
    .bind(credit.source.to_string())
    .bind(credit.source_id.map(str::to_string))
    .bind(credit.dedupe.clone())
    .bind(credit.actor.map(str::to_string))
    .bind(credit.note.map(str::to_string))
    .bind(expires_on.clone())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if written == 0 {
        return Ok(None);
    }
    sqlx::query("INSERT INTO loyalty_lots (entry_id, program_id, contact_id, expires_on, remaining) VALUES ($1, $2, $3, $4, $5)")
        .bind(id.clone())
        .bind(program.id.clone())
        .bind(contact.to_string())
        .bind(expires_on)
        .bind(credit.points)
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query(
        "UPDATE loyalty_members SET balance = balance + $1, earned = earned + $1, updated_at = $2 WHERE program_id = $3 AND contact_id = $4",
    )
    .bind(credit.points)
    .bind(at)
    .bind(program.id.clone())
    .bind(contact.to_string())
    .execute(&mut *tx.tx)
    .await?;
    Ok(Some(id))
}

/// What a debit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebitKind {
    /// A reward redeemed: refused beyond the balance.
    Redeem,
    /// What an order earned, taken back: at most the balance (the rest is noted).
    Reverse,
    /// A person's correction: refused beyond the balance.
    Adjust,
}

impl DebitKind {
    fn word(self) -> &'static str {
        match self {
            DebitKind::Redeem => "redeem",
            DebitKind::Reverse => "reverse",
            DebitKind::Adjust => "adjust",
        }
    }
}

/// Points taken.
pub struct Debit<'a> {
    pub kind: DebitKind,
    pub points: i64,
    pub spend: i64,
    pub source: &'a str,
    pub source_id: Option<&'a str>,
    pub dedupe: String,
    pub actor: Option<&'a str>,
    pub note: Option<String>,
    /// A lot taken from first (the returned order's own).
    pub first_lot: Option<&'a str>,
}

/// Takes points from the member's lots, those expiring first (then the oldest), in one entry.
/// Returns the entry's id and the points taken, or `None` when `dedupe` was written before.
pub async fn debit_in(
    db: &Db,
    tx: &mut WriteTx,
    program: &Program,
    contact: &str,
    debit: Debit<'_>,
) -> Result<Option<(String, i64)>> {
    if debit.points <= 0 {
        return Err(Error::invalid(FieldError::new("points", "not_positive")));
    }
    let member = lock(db, tx, program, contact).await?;
    let seen = sqlx::query("SELECT 1 FROM loyalty_entries WHERE program_id = $1 AND dedupe = $2")
        .bind(program.id.clone())
        .bind(debit.dedupe.clone())
        .fetch_optional(&mut *tx.tx)
        .await?;
    if seen.is_some() {
        return Ok(None);
    }
    let take = match debit.kind {
        DebitKind::Reverse => debit.points.min(member.balance),
        DebitKind::Redeem | DebitKind::Adjust if debit.points > member.balance => {
            return Err(Error::invalid(FieldError::with(
                "points",
                "insufficient_points",
                json!({ "balance": member.balance, "points": debit.points }),
            )));
        }
        _ => debit.points,
    };
    let id = new_id();
    let lots = sqlx::query(
        "SELECT entry_id, remaining FROM loyalty_lots WHERE program_id = $1 AND contact_id = $2 AND remaining > 0 \
         ORDER BY CASE WHEN entry_id = $3 THEN 0 ELSE 1 END, CASE WHEN expires_on IS NULL THEN 1 ELSE 0 END, expires_on, entry_id",
    )
    .bind(program.id.clone())
    .bind(contact.to_string())
    .bind(debit.first_lot.unwrap_or("").to_string())
    .fetch_all(&mut *tx.tx)
    .await?;
    let mut left = take;
    for lot in lots {
        if left == 0 {
            break;
        }
        let (lot_id, remaining): (String, i64) = (lot.try_get(0)?, lot.try_get(1)?);
        let part = remaining.min(left);
        take_from_lot(tx, &id, &lot_id, part).await?;
        left -= part;
    }
    if left != 0 {
        return Err(Error::Corrupt(format!("loyalty member {contact}: the balance exceeds the lots by {left}")));
    }
    let note = match (debit.kind, debit.points - take) {
        (DebitKind::Reverse, short) if short > 0 => {
            Some(debit.note.map_or(format!("short:{short}"), |n| format!("{n} short:{short}")))
        }
        _ => debit.note,
    };
    let at = now();
    sqlx::query(
        "INSERT INTO loyalty_entries (id, program_id, contact_id, at, kind, points, spend, source, source_id, dedupe, actor, note, expires_on) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL)",
    )
    .bind(id.clone())
    .bind(program.id.clone())
    .bind(contact.to_string())
    .bind(at.clone())
    .bind(debit.kind.word().to_string())
    .bind(-take)
    .bind(debit.spend)
    .bind(debit.source.to_string())
    .bind(debit.source_id.map(str::to_string))
    .bind(debit.dedupe)
    .bind(debit.actor.map(str::to_string))
    .bind(note)
    .execute(&mut *tx.tx)
    .await?;
    let column = if debit.kind == DebitKind::Redeem { "spent = spent + $1" } else { "earned = earned - $1" };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE loyalty_members SET balance = balance - $1, {column}, updated_at = $2 WHERE program_id = $3 AND contact_id = $4"
    )))
    .bind(take)
    .bind(at)
    .bind(program.id.clone())
    .bind(contact.to_string())
    .execute(&mut *tx.tx)
    .await?;
    if debit.kind != DebitKind::Redeem {
        retier_in(db, tx, program, contact).await?;
    }
    Ok(Some((id, take)))
}

async fn take_from_lot(tx: &mut WriteTx, entry: &str, lot: &str, points: i64) -> Result<()> {
    sqlx::query("UPDATE loyalty_lots SET remaining = remaining - $1 WHERE entry_id = $2")
        .bind(points)
        .bind(lot.to_string())
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query("INSERT INTO loyalty_allocations (entry_id, lot_id, points) VALUES ($1, $2, $3)")
        .bind(entry.to_string())
        .bind(lot.to_string())
        .bind(points)
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

/// Expires what is left of one lot whose day has passed, in its own entry. Returns the points
/// expired (none if the lot was used up meanwhile).
pub async fn expire_lot_in(db: &Db, tx: &mut WriteTx, program: &Program, contact: &str, lot: &str) -> Result<i64> {
    lock(db, tx, program, contact).await?;
    let Some(row) = sqlx::query("SELECT remaining FROM loyalty_lots WHERE entry_id = $1")
        .bind(lot.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?
    else {
        return Ok(0);
    };
    let remaining: i64 = row.try_get(0)?;
    if remaining <= 0 {
        return Ok(0);
    }
    let (id, at) = (new_id(), now());
    take_from_lot(tx, &id, lot, remaining).await?;
    sqlx::query(
        "INSERT INTO loyalty_entries (id, program_id, contact_id, at, kind, points, spend, source, source_id, dedupe, actor, note, expires_on) \
         VALUES ($1, $2, $3, $4, 'expire', $5, 0, 'expiry', $6, $7, NULL, NULL, NULL)",
    )
    .bind(id)
    .bind(program.id.clone())
    .bind(contact.to_string())
    .bind(at.clone())
    .bind(-remaining)
    .bind(lot.to_string())
    .bind(format!("expire:{lot}"))
    .execute(&mut *tx.tx)
    .await?;
    sqlx::query(
        "UPDATE loyalty_members SET balance = balance - $1, expired = expired + $1, updated_at = $2 WHERE program_id = $3 AND contact_id = $4",
    )
    .bind(remaining)
    .bind(at)
    .bind(program.id.clone())
    .bind(contact.to_string())
    .execute(&mut *tx.tx)
    .await?;
    Ok(remaining)
}

/// What qualifies a member for a tier now: the points or the spend of their earnings and
/// reversals in the program's window.
async fn qualifying(db: &Db, tx: &mut WriteTx, def: &Definition, program: &str, contact: &str) -> Result<i64> {
    let since = (db.today() - Duration::days(def.window_days)).to_string();
    let column = if def.qualify_by == "spend" { "spend" } else { "points" };
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) FROM loyalty_entries WHERE program_id = $1 AND contact_id = $2 AND at >= $3 \
         AND kind IN ('earn', 'reverse')"
    )))
    .bind(program.to_string())
    .bind(contact.to_string())
    .bind(since)
    .fetch_one(&mut *tx.tx)
    .await?;
    Ok(r.try_get::<i64, _>(0)?)
}

/// A tier's change: from, to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierChange {
    pub from: Option<String>,
    pub to: String,
}

/// Puts the member in the tier their qualifying total reaches: up at once, down only once the
/// tier has been kept `keep_days`. A change moves the tier's discount to their benefit and
/// tells the workflows ("tier changed").
pub async fn retier_in(db: &Db, tx: &mut WriteTx, program: &Program, contact: &str) -> Result<Option<TierChange>> {
    let def = &program.definition;
    if def.tiers.is_empty() {
        return Ok(None);
    }
    let r = sqlx::query("SELECT tier, tier_since FROM loyalty_members WHERE program_id = $1 AND contact_id = $2")
        .bind(program.id.clone())
        .bind(contact.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let (current, since): (Option<String>, Option<String>) = (r.try_get(0)?, r.try_get(1)?);
    let q = qualifying(db, tx, def, &program.id, contact).await?;
    let Some(reached) = def.tier_for(q) else { return Ok(None) };
    let rank = |key: Option<&str>| key.and_then(|k| def.tiers.iter().position(|t| t.key == k));
    let (now_rank, new_rank) = (rank(current.as_deref()), rank(Some(&reached.key)));
    if now_rank == new_rank {
        return Ok(None);
    }
    let up = now_rank.is_none_or(|n| new_rank.is_some_and(|m| m > n));
    if !up {
        let kept_until = since
            .as_deref()
            .and_then(|s| s.get(..10))
            .and_then(|d| Date::parse(d, &time::format_description::well_known::Iso8601::DATE).ok())
            .map(|d| d + Duration::days(def.keep_days));
        if kept_until.is_some_and(|d| d > db.today()) {
            return Ok(None);
        }
    }
    let at = now();
    sqlx::query("UPDATE loyalty_members SET tier = $1, tier_since = $2, updated_at = $2 WHERE program_id = $3 AND contact_id = $4")
        .bind(reached.key.clone())
        .bind(at.clone())
        .bind(program.id.clone())
        .bind(contact.to_string())
        .execute(&mut *tx.tx)
        .await?;
    keep_benefit(db, tx, program, contact, Some(reached)).await?;
    let change = TierChange { from: current, to: reached.key.clone() };
    let signal = crate::automation::workflows::Signal::TierChanged {
        program: program.id.clone(),
        tier: reached.key.clone(),
        up,
    };
    let key = format!("tier:{}:{contact}:{at}", program.id);
    crate::automation::workflows::signal_in(db, tx, &signal, "contact", contact, &key).await?;
    Ok(Some(change))
}

/// The member's benefit as their tier says: the tier's discount on a benefit record of theirs
/// (made, changed, or made inactive when the tier gives none).
async fn keep_benefit(
    db: &Db,
    tx: &mut WriteTx,
    program: &Program,
    contact: &str,
    tier: Option<&super::programs::Tier>,
) -> Result<()> {
    let catalog = db.catalog_cached()?;
    let Some(obj) = catalog.object("benefit") else { return Ok(()) };
    let r = sqlx::query("SELECT benefit_id FROM loyalty_members WHERE program_id = $1 AND contact_id = $2")
        .bind(program.id.clone())
        .bind(contact.to_string())
        .fetch_one(&mut *tx.tx)
        .await?;
    let existing: Option<String> = r.try_get(0)?;
    let discount = tier.and_then(|t| t.discount_percent.clone().map(|d| (t, d)));
    let mut input = Map::new();
    match &discount {
        Some((t, percent)) => {
            let name = format!(
                "{} · {}",
                crate::forms::pick("fa", &program.definition.name_fa, &program.definition.name_en),
                crate::forms::pick("fa", &t.name_fa, &t.name_en)
            );
            input.insert("name".into(), json!(name.chars().take(200).collect::<String>()));
            input.insert("percent".into(), json!(percent));
            input.insert("active".into(), json!(true));
        }
        None if existing.is_some() => {
            input.insert("active".into(), json!(false));
        }
        None => return Ok(()),
    }
    match existing {
        Some(id) if db.is_live(tx, &obj, &id).await? => {
            let changes = validate(&obj, &input, Mode::Update).map_err(Error::Validation)?;
            db.update_in(tx, None, &obj, &id, changes.values, None).await?;
        }
        _ if discount.is_some() => {
            input.insert("kind".into(), json!("percent_discount"));
            input.insert("applies_to".into(), json!("contact"));
            input.insert("contact".into(), json!(contact));
            let changes = validate(&obj, &input, Mode::Create).map_err(Error::Validation)?;
            let id = db.create_in(tx, None, &obj, &changes.values).await?;
            sqlx::query("UPDATE loyalty_members SET benefit_id = $1 WHERE program_id = $2 AND contact_id = $3")
                .bind(id)
                .bind(program.id.clone())
                .bind(contact.to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The latest entry a source (an order) made in a program, read in `tx`: its kind, points,
/// spend and id.
pub(crate) async fn last_of_source(
    tx: &mut WriteTx,
    program: &str,
    source_id: &str,
) -> Result<(usize, Option<(String, i64, i64, String)>)> {
    let rows = sqlx::query(
        "SELECT kind, points, spend, id FROM loyalty_entries WHERE source_id = $1 AND program_id = $2 ORDER BY at, id",
    )
    .bind(source_id.to_string())
    .bind(program.to_string())
    .fetch_all(&mut *tx.tx)
    .await?;
    let earns = rows.iter().filter(|r| r.try_get::<String, _>(0).is_ok_and(|k| k == "earn")).count();
    let last = match rows.last() {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)),
        None => None,
    };
    Ok((earns, last))
}

/// Points a member earned from orders since `since` (for the cap per period), read in `tx`.
pub(crate) async fn order_points_since(tx: &mut WriteTx, program: &str, contact: &str, since: &str) -> Result<i64> {
    let r = sqlx::query(
        "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_entries WHERE program_id = $1 AND contact_id = $2 AND at >= $3 \
         AND source = 'order' AND kind IN ('earn', 'reverse')",
    )
    .bind(program.to_string())
    .bind(contact.to_string())
    .bind(since.to_string())
    .fetch_one(&mut *tx.tx)
    .await?;
    Ok(r.try_get::<i64, _>(0)?)
}
