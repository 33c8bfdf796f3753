//! What earns and what takes back: an order reaching an earning status earns in its own write
//! (once; again only after it was taken back), a cancelled or returned order takes back what it
//! earned (from its own lot first, never below zero); actions earn by rule, once per thing that
//! made them; `post_orders` earns for orders written before the program (or by a bulk load).

use super::ledger::{self, Credit, Debit, DebitKind};
use super::programs::{self, Line, Program, UNDONE};
use peyvand_records::Value;
use peyvand_store::hooks::{BoxFuture, HookCx, WriteHook, Written};
use peyvand_store::records::Record;
use peyvand_store::{Db, Error, Result, WriteTx};
use serde_json::{Map, Value as Json};
use time::Duration;

/// The order's rules: earn at an earning status, take back at cancelled or returned.
pub(crate) struct OrderPoints;

impl WriteHook for OrderPoints {
    fn objects(&self) -> &'static [&'static str] {
        &["order"]
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if !written.changed("status") && !written.changed("contact") {
                return Ok(());
            }
            on_order_in(cx.db, cx.tx, cx.actor, written.id, written.after).await
        })
    }
}

/// A contact's birthday follows them into their memberships.
pub(crate) struct Birthdays;

impl WriteHook for Birthdays {
    fn objects(&self) -> &'static [&'static str] {
        &["contact"]
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if written.before.is_empty() || !written.changed("birth_date") {
                return Ok(());
            }
            let day = written.after.get("birth_date").and_then(Json::as_str);
            ledger::set_birthday_in(cx.tx, written.id, day).await
        })
    }
}

fn text<'m>(m: &'m Map<String, Json>, f: &str) -> Option<&'m str> {
    m.get(f).and_then(Json::as_str)
}

/// An order as it is now, in every active program: earned or taken back as its status says.
pub(crate) async fn on_order_in(
    db: &Db,
    tx: &mut WriteTx,
    actor: Option<&str>,
    order: &str,
    fields: &Map<String, Json>,
) -> Result<()> {
    let programs = programs::active_in(tx).await?;
    if programs.is_empty() {
        return Ok(());
    }
    let status = text(fields, "status").unwrap_or("");
    let contact = text(fields, "contact");
    let mut earned_now = false;
    for program in &programs {
        let (earns, last) = ledger::last_of_source(tx, &program.id, order).await?;
        let mut earned = last.as_ref().filter(|l| l.0 == "earn");
        // An order given to another customer: what it earned leaves the one it was for.
        let moved = match (earned, contact) {
            (Some((_, _, _, lot)), Some(c)) => owner_of_entry(tx, lot).await? != c,
            _ => false,
        };
        if UNDONE.contains(&status) || contact.is_none() || moved {
            if let Some((_, points, spend, lot)) = earned {
                let owner = owner_of_entry(tx, lot).await?;
                let debit = Debit {
                    kind: DebitKind::Reverse,
                    points: *points,
                    spend: -spend,
                    source: "order",
                    source_id: Some(order),
                    dedupe: format!("order:{order}:reverse:{earns}"),
                    actor,
                    note: None,
                    first_lot: Some(lot),
                };
                ledger::debit_in(db, tx, program, &owner, debit).await?;
            }
            if !moved {
                continue;
            }
            earned = None;
        }
        if earned.is_some() || !program.definition.earn_on.iter().any(|s| s == status) {
            continue;
        }
        let Some(contact) = contact else { continue };
        earned_now |= earn_order_in(db, tx, program, order, contact, fields, earns, actor).await?;
    }
    if earned_now && let Some(contact) = contact {
        super::referrals::reward_in(db, tx, contact, order).await?;
    }
    Ok(())
}

/// The contact a ledger entry is of.
async fn owner_of_entry(tx: &mut WriteTx, entry: &str) -> Result<String> {
    use sqlx::Row;
    let r = sqlx::query("SELECT contact_id FROM loyalty_entries WHERE id = $1")
        .bind(entry.to_string())
        .fetch_one(&mut *tx.tx)
        .await?;
    Ok(r.try_get(0)?)
}

/// Earns an order's points for its contact (the `n`th time it earns).
#[allow(clippy::too_many_arguments)]
async fn earn_order_in(
    db: &Db,
    tx: &mut WriteTx,
    program: &Program,
    order: &str,
    contact: &str,
    fields: &Map<String, Json>,
    n: usize,
    actor: Option<&str>,
) -> Result<bool> {
    let def = &program.definition;
    let day =
        text(fields, "ordered_at").and_then(|t| t.get(..10)).map_or_else(|| db.today().to_string(), str::to_string);
    if def.starts_on.as_deref().is_some_and(|s| day.as_str() < s) {
        return Ok(false);
    }
    let lines = lines_of(db, tx, order, fields, &def.currency).await?;
    if lines.is_empty() {
        return Ok(false);
    }
    let member = ledger::join_in(db, tx, program, contact, actor).await;
    member?;
    let tier = current_tier(tx, &program.id, contact).await?;
    let mut points = programs::earn(def, &lines, tier.as_deref(), &day);
    if let Some(cap) = &def.cap_per_period {
        let since = (db.today() - Duration::days(cap.days - 1)).to_string();
        let used = ledger::order_points_since(tx, &program.id, contact, &since).await?;
        points = points.min((cap.points - used).max(0));
    }
    if points <= 0 {
        return Ok(false);
    }
    let spend: i128 = lines.iter().map(|l| l.amount.max(0)).sum();
    let credit = Credit {
        points,
        spend: i64::try_from(spend).unwrap_or(i64::MAX),
        source: "order",
        source_id: Some(order),
        dedupe: format!("order:{order}:earn:{n}"),
        actor,
        note: None,
    };
    Ok(ledger::credit_in(db, tx, program, contact, credit).await?.is_some())
}

async fn current_tier(tx: &mut WriteTx, program: &str, contact: &str) -> Result<Option<String>> {
    use sqlx::Row;
    let r = sqlx::query("SELECT tier FROM loyalty_members WHERE program_id = $1 AND contact_id = $2")
        .bind(program.to_string())
        .bind(contact.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?;
    Ok(match r {
        Some(r) => r.try_get(0)?,
        None => None,
    })
}

/// An order's lines in `currency` (its own product and total when it has none), each with its
/// product's category.
async fn lines_of(
    db: &Db,
    tx: &mut WriteTx,
    order: &str,
    fields: &Map<String, Json>,
    currency: &str,
) -> Result<Vec<Line>> {
    let catalog = db.catalog_cached()?;
    let mut found: Vec<(Option<String>, Option<Json>)> = Vec::new();
    if let Some(line_obj) = catalog.object("order_line") {
        for l in db.find_in(tx, &line_obj, &[("order", Value::Text(order.into()))], 500).await? {
            found.push((
                l.fields.get("product").and_then(Json::as_str).map(str::to_string),
                l.fields.get("gross").cloned(),
            ));
        }
    }
    if found.is_empty() {
        found.push((text(fields, "product").map(str::to_string), fields.get("total").cloned()));
    }
    let products = catalog.object("product");
    let mut lines = Vec::new();
    for (product, money) in found {
        let Some(money) = money.filter(|m| m.get("currency").and_then(Json::as_str).unwrap_or("IRR") == currency)
        else {
            continue;
        };
        let Some(amount) = money.get("amount").and_then(Json::as_str).and_then(programs::whole) else { continue };
        let category = match (&product, &products) {
            (Some(p), Some(obj)) => db
                .find_in(tx, obj, &[("id", Value::Text(p.clone()))], 1)
                .await?
                .first()
                .and_then(|r: &Record| r.fields.get("category").and_then(Json::as_str).map(str::to_string)),
            _ => None,
        };
        lines.push(Line { product, category, amount });
    }
    Ok(lines)
}

/// Awards an action's points (a rule's, else none) to a contact, once per `what` (the thing
/// that made it: a survey's invitation, a review's id, a year's birthday). Returns the points
/// given (0 when no rule gives any, or it was given before).
pub async fn award_in(
    db: &Db,
    tx: &mut WriteTx,
    program: &Program,
    contact: &str,
    action: &str,
    what: &str,
    actor: Option<&str>,
) -> Result<i64> {
    if !programs::ACTIONS.contains(&action) {
        return Err(Error::invalid(peyvand_records::FieldError::new("action", "invalid_option")));
    }
    let Some(points) = program.definition.action_points(action) else { return Ok(0) };
    let credit = Credit {
        points,
        spend: 0,
        source: "action",
        source_id: Some(action),
        dedupe: format!("action:{action}:{contact}:{what}"),
        actor,
        note: None,
    };
    Ok(if ledger::credit_in(db, tx, program, contact, credit).await?.is_some() { points } else { 0 })
}

/// An action of a contact in every active program whose rules reward it.
pub async fn award_everywhere_in(
    db: &Db,
    tx: &mut WriteTx,
    contact: &str,
    action: &str,
    what: &str,
    actor: Option<&str>,
) -> Result<()> {
    for program in programs::active_in(tx).await? {
        if program.definition.action_points(action).is_some() {
            award_in(db, tx, &program, contact, action, what, actor).await?;
        }
    }
    Ok(())
}

/// Orders earned in one transaction of [`post_orders`].
const POST_BATCH: u32 = 500;

/// Earns, for a program, the points of the orders already written (before the program, or by a
/// bulk load that ran no rules): every order at an earning status that has earned nothing in
/// it, in batches. Returns the orders that earned.
pub async fn post_orders(db: &Db, program: &str) -> Result<u64> {
    let program = programs::get(db, program).await?;
    let system = db.system();
    let mut cursor: Option<String> = None;
    let mut posted = 0;
    loop {
        let query = peyvand_store::records::ListQuery {
            filter: None,
            sort: Vec::new(),
            limit: Some(POST_BATCH),
            cursor: cursor.take(),
            trash: false,
            with_total: false,
            exact_total: false,
            fields: Some(["status", "contact", "ordered_at", "total", "product"].map(String::from).to_vec()),
        };
        let page = system.list_records("order", &query).await?;
        let mut tx = db.write().await?;
        for order in &page.records {
            let status = order.fields.get("status").and_then(Json::as_str).unwrap_or("");
            let Some(contact) = order.fields.get("contact").and_then(Json::as_str) else { continue };
            if !program.definition.earn_on.iter().any(|s| s == status) {
                continue;
            }
            let (earns, last) = ledger::last_of_source(&mut tx, &program.id, &order.id).await?;
            if last.is_some() {
                continue;
            }
            if earn_order_in(db, &mut tx, &program, &order.id, contact, &order.fields, earns, None).await? {
                posted += 1;
            }
        }
        tx.commit().await?;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(posted)
}
