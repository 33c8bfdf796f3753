//! The lines commission statements credit, kept: one row per line of a paid order (an order
//! without lines: its total) per person credited — its owner, or each person of its split —
//! with its business day, title, product category, amount and the person's share, in the order
//! a statement lists them. A statement of paid orders reads its person's rows of its days (a
//! range of one index) instead of joining orders, lines and products, which took most of a
//! quarter's statement.
//!
//! Kept in each write's own transaction ([`Keep`]): an order's rows are worked out again from
//! the records when the order, one of its lines or its split changes, or its owner moves in a
//! handover; a product's category is written into its rows. Bulk loads write orders past the
//! rules, so they fill the rows again afterwards ([`refill`]); so does a start-up that finds the
//! rows unfilled or filled at another offset from UTC (the [`Fill`] job, a thousand orders a
//! transaction beside the server). Until the fill is done, statements join the records as before
//! (`commissions::order_credits`); both give the same lines (tested).
//!
//! On PostgreSQL, a fill's batch and the rules' updates take one advisory lock (exclusive and
//! shared), and an order's rows are worked out under its row's lock: each reads what the others
//! committed.

use super::quotas::PAID;
use peyvand_records::value::{format_date, parse_datetime};
use peyvand_store::hooks::{Action, BoxFuture, HookCx, WriteHook, Written};
use peyvand_store::rusqlite::types::ValueRef;
use peyvand_store::{Db, Dialect, Error, Result, WriteTx, rusqlite};
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The fill's job.
pub const JOB: &str = "credit_lines";
/// Orders read and written in one transaction of a fill.
const BATCH: i64 = 1000;
/// The PostgreSQL advisory lock between a fill's batches (exclusive) and the rules (shared).
const PG_LOCK: i64 = 7_277_033;
/// Rows in one INSERT (11 values each).
const INSERT_ROWS: usize = 80;

/// One row: a line credited to a person.
#[derive(Debug)]
struct CreditRow {
    user_id: String,
    day: String,
    order_id: String,
    position: i64,
    line_id: String,
    product_id: Option<String>,
    category: Option<String>,
    title: String,
    cents: i64,
    currency: String,
    share: i64,
}

/// Whether the rows are filled (at the business's present offset from UTC), so statements may
/// read them.
pub async fn ready(db: &Db) -> Result<bool> {
    let row = sqlx::query("SELECT offset_seconds, done FROM credit_lines_fill WHERE id = 1")
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => {
            r.try_get::<i64, _>(0)? == i64::from(db.local_offset().whole_seconds()) && r.try_get::<i64, _>(1)? == 1
        }
        None => false,
    })
}

/// Asks for a fill (one waiting at a time); it returns at once when the rows are filled.
pub(crate) async fn schedule_in(db: &Db, tx: &mut WriteTx) -> Result<()> {
    let at = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc());
    db.schedule_job_in(tx, JOB, Some(JOB), &at, &json!({})).await?;
    Ok(())
}

/// Fills the rows from the orders a batch at a time, from where the last fill stopped, until
/// done; returns the orders read.
pub async fn fill(db: &Db) -> Result<u64> {
    let mut read = 0;
    loop {
        match fill_batch(db).await? {
            Some(n) => read += n,
            None => return Ok(read),
        }
    }
}

/// Fills the rows again from the first order (after a bulk load, which wrote orders past the
/// rules); returns the orders read.
pub async fn refill(db: &Db) -> Result<u64> {
    let mut tx = db.write().await?;
    lock(db, &mut tx, true).await?;
    sqlx::query("DELETE FROM credit_lines_fill").execute(&mut *tx.tx).await?;
    tx.commit().await?;
    fill(db).await
}

/// The advisory lock on PostgreSQL (SQLite's writes take turns anyway).
async fn lock(db: &Db, tx: &mut WriteTx, exclusive: bool) -> Result<()> {
    if db.dialect() == Dialect::Postgres {
        let sql =
            if exclusive { "SELECT pg_advisory_xact_lock($1)" } else { "SELECT pg_advisory_xact_lock_shared($1)" };
        sqlx::query(sql).bind(PG_LOCK).execute(&mut *tx.tx).await?;
    }
    Ok(())
}

/// One transaction of a fill: the next orders by id, their rows written anew (and the rows of
/// orders no longer there dropped). Returns the orders read, or none when the fill is done.
async fn fill_batch(db: &Db) -> Result<Option<u64>> {
    let Some(orders) = db.catalog_cached()?.object("order").map(|o| o.table.clone()) else { return Ok(None) };
    let offset = i64::from(db.local_offset().whole_seconds());
    let mut tx = db.write().await?;
    lock(db, &mut tx, true).await?;
    // No row: never filled (or to be filled anew).
    sqlx::query(
        "INSERT INTO credit_lines_fill (id, offset_seconds, after_id, done) VALUES (1, $1, '', 0) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(offset)
    .execute(&mut *tx.tx)
    .await?;
    let state = sqlx::query("SELECT offset_seconds, after_id, done FROM credit_lines_fill WHERE id = 1")
        .fetch_one(&mut *tx.tx)
        .await?;
    let (mut after, done): (String, i64) = (state.try_get(1)?, state.try_get(2)?);
    if state.try_get::<i64, _>(0)? != offset {
        // Filled at another offset: every row's day may differ.
        after.clear();
    } else if done == 1 {
        return Ok(None);
    }
    let ids: Vec<String> =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id FROM {orders} WHERE id > $1 ORDER BY id LIMIT {BATCH}")))
            .bind(after.clone())
            .fetch_all(&mut *tx.tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
    let Some(last) = ids.last().cloned() else {
        sqlx::query("DELETE FROM credit_lines WHERE order_id > $1").bind(after).execute(&mut *tx.tx).await?;
        sqlx::query("UPDATE credit_lines_fill SET offset_seconds = $1, after_id = '', done = 1 WHERE id = 1")
            .bind(offset)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        return Ok(None);
    };
    sqlx::query("DELETE FROM credit_lines WHERE order_id > $1 AND order_id <= $2")
        .bind(after)
        .bind(last.clone())
        .execute(&mut *tx.tx)
        .await?;
    let rows = rows_for(db, &mut tx, &ids).await?;
    insert(&mut tx, &rows).await?;
    sqlx::query("UPDATE credit_lines_fill SET offset_seconds = $1, after_id = $2, done = 0 WHERE id = 1")
        .bind(offset)
        .bind(last)
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(Some(ids.len() as u64))
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Works out the rows of `ids` again from the orders as they are in `tx`.
async fn recompute(db: &Db, tx: &mut WriteTx, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    lock(db, tx, false).await?;
    let catalog = db.catalog_cached()?;
    let Some(order) = catalog.object("order") else { return Ok(()) };
    if db.dialect() == Dialect::Postgres {
        // Two writes of one order's lines work its rows out one after the other, each from
        // what the other committed.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {} WHERE id IN ({}) ORDER BY id FOR UPDATE",
            order.table,
            placeholders(1, ids.len())
        )));
        for id in ids {
            q = q.bind(id.clone());
        }
        q.execute(&mut *tx.tx).await?;
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM credit_lines WHERE order_id IN ({})",
        placeholders(1, ids.len())
    )));
    for id in ids {
        q = q.bind(id.clone());
    }
    q.execute(&mut *tx.tx).await?;
    let rows = rows_for(db, tx, ids).await?;
    insert(tx, &rows).await
}

/// The rows of the orders `ids` (those paid and not in the trash) as they are in `tx`.
async fn rows_for(db: &Db, tx: &mut WriteTx, ids: &[String]) -> Result<Vec<CreditRow>> {
    let c = super::commissions::PaidColumns::of(db)?;
    let offset = db.local_offset();
    let cur = peyvand_store::currency_column;
    let paid: Vec<String> = PAID.iter().map(|s| format!("'{s}'")).collect();
    let sql = format!(
        "SELECT o.id, o.{number}, o.{at}, o.{owner}, o.{total}, o.{total_cur}, l.id, l.{position}, l.{product}, \
         p.{category}, l.{description}, l.{gross}, l.{gross_cur}, l.{discount}, l.{discount_cur} \
         FROM {orders} o LEFT JOIN {lines} l ON l.{order} = o.id AND l.deleted_at IS NULL \
         LEFT JOIN {products} p ON p.id = l.{product} AND p.deleted_at IS NULL \
         WHERE o.deleted_at IS NULL AND o.{status} IN ({paid}) AND o.id IN ({ids})",
        number = c.number,
        at = c.ordered_at,
        owner = c.owner,
        total = c.total.0,
        total_cur = cur(&c.total.0),
        position = c.position,
        product = c.product,
        category = c.category,
        description = c.description,
        gross = c.gross.0,
        gross_cur = cur(&c.gross.0),
        discount = c.discount.0,
        discount_cur = cur(&c.discount.0),
        orders = c.orders,
        lines = c.lines,
        order = c.order,
        products = c.products,
        status = c.status,
        paid = paid.join(", "),
        ids = placeholders(1, ids.len()),
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id.clone());
    }
    let found = q.fetch_all(&mut *tx.tx).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    // Who is credited with each order: the people of its split, else its owner.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT record_id, user_id, share FROM commission_splits WHERE object = 'order' AND record_id IN ({})",
        placeholders(1, ids.len())
    )));
    for id in ids {
        q = q.bind(id.clone());
    }
    let mut splits: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for r in q.fetch_all(&mut *tx.tx).await? {
        let (record, user, share): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let share = peyvand_records::decimal::Decimal::parse(&share, 2).map(|d| d.units).unwrap_or(0);
        splits.entry(record).or_default().push((user, share));
    }
    let cents = |units: Option<i64>, scale: u8, currency: Option<String>| -> Option<(i64, String)> {
        let currency = currency.unwrap_or_else(|| "IRR".into());
        let cents = super::commissions::stored_cents(units, scale, Some(&currency), &currency)?;
        Some((i64::try_from(cents).ok()?, currency))
    };
    // Each order's credited pieces (day, position, line, product, category, title, cents,
    // currency), then one row per person credited.
    type Piece = (i64, String, Option<String>, Option<String>, String, i64, String);
    // (id, day, owner, total, number) of each order, as first met.
    type Head = (String, String, Option<String>, Option<(i64, String)>, String);
    let mut orders: Vec<Head> = Vec::new();
    let mut pieces: HashMap<String, Vec<Piece>> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    for r in &found {
        let id: String = r.try_get(0)?;
        let number: Option<String> = r.try_get(1)?;
        let number = number.unwrap_or_default();
        if !seen.contains(&id) {
            let at: Option<String> = r.try_get(2)?;
            let Some(at) = at.as_deref().and_then(parse_datetime) else { continue };
            let day = format_date(at.to_offset(offset).date());
            let total = cents(r.try_get(4)?, c.total.1, r.try_get(5)?);
            orders.push((id.clone(), day, r.try_get(3)?, total, number.clone()));
            seen.insert(id.clone());
        }
        // An order without lines has one row, its line's columns empty; a line without a
        // position is left out (as the statement's join leaves it).
        let (Some(line), Some(position)) = (r.try_get::<Option<String>, _>(6)?, r.try_get::<Option<i64>, _>(7)?) else {
            continue;
        };
        let description: Option<String> = r.try_get(10)?;
        let gross = cents(r.try_get(11)?, c.gross.1, r.try_get(12)?);
        let discount_cur: Option<String> = r.try_get(14)?;
        let discount = cents(r.try_get(13)?, c.discount.1, discount_cur);
        let entry = pieces.entry(id).or_default();
        // A line without an amount is left out, but the order still has lines (its total is not
        // credited instead).
        let Some((gross, currency)) = gross else {
            entry.push((position, line, None, None, String::new(), i64::MIN, String::new()));
            continue;
        };
        let discount = discount.filter(|(_, c)| *c == currency).map_or(0, |(d, _)| d);
        entry.push((
            position,
            line,
            r.try_get(8)?,
            r.try_get(9)?,
            format!("{number} · {}", description.unwrap_or_default()),
            gross - discount,
            currency,
        ));
    }
    let mut out = Vec::new();
    for (id, day, owner, total, number) in orders {
        let people: Vec<(String, i64)> = match splits.get(&id) {
            Some(split) => split.clone(),
            None => owner.into_iter().map(|o| (o, 10_000)).collect(),
        };
        let order_pieces: Vec<Piece> = match pieces.remove(&id) {
            Some(p) => p.into_iter().filter(|p| p.5 != i64::MIN).collect(),
            None => match total {
                Some((cents, currency)) => vec![(0, String::new(), None, None, number, cents, currency)],
                None => Vec::new(),
            },
        };
        for (user, share) in &people {
            for (position, line, product, category, title, cents, currency) in &order_pieces {
                out.push(CreditRow {
                    user_id: user.clone(),
                    day: day.clone(),
                    order_id: id.clone(),
                    position: *position,
                    line_id: line.clone(),
                    product_id: product.clone(),
                    category: category.clone(),
                    title: title.clone(),
                    cents: *cents,
                    currency: currency.clone(),
                    share: *share,
                });
            }
        }
    }
    Ok(out)
}

async fn insert(tx: &mut WriteTx, rows: &[CreditRow]) -> Result<()> {
    for chunk in rows.chunks(INSERT_ROWS) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 11 + 1, 11))).collect();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO credit_lines (user_id, day, order_id, position, line_id, product_id, category, title, cents, \
             currency, share) VALUES {}",
            values.join(", ")
        )));
        for r in chunk {
            q = q
                .bind(r.user_id.clone())
                .bind(r.day.clone())
                .bind(r.order_id.clone())
                .bind(r.position)
                .bind(r.line_id.clone())
                .bind(r.product_id.clone())
                .bind(r.category.clone())
                .bind(r.title.clone())
                .bind(r.cents)
                .bind(r.currency.clone())
                .bind(r.share);
        }
        q.execute(&mut *tx.tx).await?;
    }
    Ok(())
}

/// Works out the rows of an order whose split changed, in the split's transaction.
pub(crate) async fn split_changed(db: &Db, tx: &mut WriteTx, object: &str, record_id: &str) -> Result<()> {
    if object == "order" {
        recompute(db, tx, &[record_id.to_string()]).await?;
    }
    Ok(())
}

/// A line as a statement reads it from the rows: its amount in hundredths, the person's share
/// in hundredths of a percent, and which of the categories asked about it is in (0: none).
pub(crate) struct Kept {
    pub cents: i128,
    pub share: i128,
    pub category: usize,
}

/// A line's particulars, for the lines a statement shows.
pub(crate) struct Shown {
    pub day: String,
    pub order_id: String,
    pub title: String,
    pub category: Option<String>,
}

/// The order a statement lists its lines in.
const LISTED: &str = "day, order_id, position, line_id";

/// `user_id`'s rows in `currency` of the days `from` to before `to`, in a statement's order,
/// each with the index (from 1) of its category among `categories`: one index range read. On
/// SQLite its rows are stepped by a connection of the read's own (`Db::read_native`); on
/// PostgreSQL they come back as one text (row by row they crossed to the task one at a time).
pub(crate) async fn read(
    db: &Db,
    user_id: &str,
    currency: &str,
    from: &str,
    to: &str,
    categories: &[String],
) -> Result<Vec<Kept>> {
    let binds = [user_id, currency, from, to].map(str::to_string);
    let wanted = categories.to_vec();
    let native = db
        .read_native(move |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT cents, share, category FROM credit_lines WHERE user_id = ?1 AND currency = ?2 AND day >= ?3 \
                 AND day < ?4 ORDER BY {LISTED}"
            ))?;
            let mut rows = statement.query(rusqlite::params_from_iter(binds.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let category = match row.get_ref(2)? {
                    ValueRef::Text(c) => wanted.iter().position(|w| w.as_bytes() == c).map_or(0, |i| i + 1),
                    _ => 0,
                };
                out.push(Kept {
                    cents: i128::from(row.get::<_, i64>(0)?),
                    share: i128::from(row.get::<_, i64>(1)?),
                    category,
                });
            }
            Ok(out)
        })
        .await?;
    if let Some(kept) = native {
        return Ok(kept);
    }
    // (A plan without rates of its own per category: every line at its rate, 0.)
    let mut case = String::from(if categories.is_empty() { "0" } else { "CASE" });
    for i in 0..categories.len() {
        case.push_str(&format!(" WHEN category = ${} THEN {}", i + 5, i + 1));
    }
    if !categories.is_empty() {
        case.push_str(" ELSE 0 END");
    }
    let item = format!("cents || ' ' || share || ' ' || ({case})");
    let sql = format!(
        "SELECT string_agg({item}, ',' ORDER BY {LISTED}) FROM credit_lines WHERE user_id = $1 AND currency = $2 \
         AND day >= $3 AND day < $4"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .bind(currency.to_string())
        .bind(from.to_string())
        .bind(to.to_string());
    for c in categories {
        q = q.bind(c.clone());
    }
    let text: Option<String> = q.fetch_one(db.pool()).await?.try_get(0)?;
    let Some(text) = text else { return Ok(Vec::new()) };
    let bad = || Error::Corrupt("a credited line".into());
    let mut out = Vec::with_capacity(text.len() / 12);
    for item in text.split(',') {
        let mut parts = item.split(' ').map(str::parse::<i64>);
        let (Some(Ok(cents)), Some(Ok(share)), Some(Ok(category))) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        out.push(Kept { cents: i128::from(cents), share: i128::from(share), category: category as usize });
    }
    Ok(out)
}

/// The particulars of the rows [`read`] lists, from the `skip`-th, at most `take`.
pub(crate) async fn shown(
    db: &Db,
    user_id: &str,
    currency: &str,
    (from, to): (&str, &str),
    skip: usize,
    take: usize,
) -> Result<Vec<Shown>> {
    if take == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT day, order_id, title, category FROM credit_lines WHERE user_id = $1 AND currency = $2 AND day >= $3 \
         AND day < $4 ORDER BY {LISTED} LIMIT $5 OFFSET $6"
    )))
    .bind(user_id.to_string())
    .bind(currency.to_string())
    .bind(from.to_string())
    .bind(to.to_string())
    .bind(i64::try_from(take).unwrap_or(i64::MAX))
    .bind(i64::try_from(skip).unwrap_or(i64::MAX))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Shown { day: r.try_get(0)?, order_id: r.try_get(1)?, title: r.try_get(2)?, category: r.try_get(3)? })
        })
        .collect()
}

/// Keeps the rows as orders, their lines and products are written, and as orders change hands.
pub(crate) struct Keep;

/// The fields of an order and of a line its rows are made of.
const ORDER_FIELDS: [&str; 5] = ["status", "owner", "ordered_at", "number", "total"];
const LINE_FIELDS: [&str; 6] = ["order", "position", "product", "description", "gross", "discount"];

impl WriteHook for Keep {
    fn objects(&self) -> &'static [&'static str] {
        &["order", "order_line", "product"]
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let whole = matches!(written.action, Action::Delete | Action::Restore);
            match written.object.api_name.as_str() {
                "order" => {
                    let moved = match written.action {
                        // A new order has no lines yet: only one paid as written has rows.
                        Action::Create => {
                            written.after.get("status").and_then(Json::as_str).is_some_and(|s| PAID.contains(&s))
                        }
                        _ => whole || ORDER_FIELDS.iter().any(|f| written.changed(f)),
                    };
                    if moved {
                        recompute(cx.db, cx.tx, &[written.id.to_string()]).await?;
                    }
                }
                "order_line"
                    if written.action == Action::Create || whole || LINE_FIELDS.iter().any(|f| written.changed(f)) =>
                {
                    let ids: BTreeSet<String> = [written.before, written.after]
                        .iter()
                        .filter_map(|f| f.get("order").and_then(Json::as_str).map(str::to_string))
                        .collect();
                    recompute(cx.db, cx.tx, &ids.into_iter().collect::<Vec<_>>()).await?;
                }
                "product" if whole || written.changed("category") => {
                    let category = match written.action {
                        Action::Delete => None,
                        _ => written.after.get("category").and_then(Json::as_str).map(str::to_string),
                    };
                    lock(cx.db, cx.tx, false).await?;
                    sqlx::query("UPDATE credit_lines SET category = $1 WHERE product_id = $2")
                        .bind(category)
                        .bind(written.id.to_string())
                        .execute(&mut *cx.tx.tx)
                        .await?;
                }
                _ => {}
            }
            Ok(())
        })
    }

    fn reassigned<'a>(
        &'a self,
        cx: HookCx<'a>,
        object: &'a peyvand_records::ObjectDef,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if object.api_name == "order" {
                for chunk in ids.chunks(BATCH as usize) {
                    recompute(cx.db, cx.tx, chunk).await?;
                }
            }
            Ok(())
        })
    }
}

/// The job: [`fill`].
pub struct Fill;

impl peyvand_store::runner::JobKind for Fill {
    fn kind(&self) -> &'static str {
        JOB
    }

    fn run<'a>(&'a self, db: &'a Db, _job: &'a peyvand_store::events::Job) -> peyvand_store::runner::Outcome<'a> {
        Box::pin(async move {
            let read = fill(db).await.map_err(|e| e.to_string())?;
            if read > 0 {
                tracing::info!(orders = read, "filled the credited lines");
            }
            Ok(())
        })
    }
}
