//! A customer's last order: each contact's and company's `last_order_at`, the latest instant
//! among their orders that count (every status but cancelled and returned), kept in each order
//! write's own transaction. "Bought in the last 90 days" and "no order for a year" are then a
//! range of one indexed field (a segment of a million contacts is an index read, not a pass
//! over every recent order), and lists filter and sort by it like any field.

use super::offers::SOLD;
use peyvand_store::hooks::{Action, BoxFuture, HookCx, WriteHook, Written};
use peyvand_store::{Db, Result, WriteTx};
use serde_json::Value as Json;
use std::collections::BTreeSet;

/// The field kept on contacts and companies.
pub const FIELD: &str = "last_order_at";
/// The order's relations to the customers it keeps the field of.
const CUSTOMERS: [&str; 2] = ["contact", "company"];

/// The tables and columns of one customer kind's field and of the orders it is read from:
/// (customers' table, the field's column, orders' table, relation column, instant column,
/// status column); none while an object or field is missing.
fn columns(db: &Db, customer: &str) -> Result<Option<[String; 6]>> {
    let catalog = db.catalog_cached()?;
    let (Some(c), Some(o)) = (catalog.object(customer), catalog.object("order")) else { return Ok(None) };
    let (Some(kept), Some(rel), Some(at), Some(status)) =
        (c.field(FIELD), o.field(customer), o.field("ordered_at"), o.field("status"))
    else {
        return Ok(None);
    };
    Ok(Some([
        c.table.clone(),
        kept.column.clone(),
        o.table.clone(),
        rel.column.clone(),
        at.column.clone(),
        status.column.clone(),
    ]))
}

/// `column IN ('pending', …)`: the statuses that count (constants, not input).
fn counted(column: &str) -> String {
    let list: Vec<String> = SOLD.iter().map(|s| format!("'{s}'")).collect();
    format!("{column} IN ({})", list.join(", "))
}

/// The customer's field worked out again from their orders as they are in `tx`.
async fn recompute(tx: &mut WriteTx, cols: &[String; 6], id: &str) -> Result<()> {
    let [table, kept, orders, rel, at, status] = cols;
    let sql = format!(
        "UPDATE {table} SET {kept} = (SELECT MAX(o.{at}) FROM {orders} o WHERE o.{rel} = $1 \
         AND o.deleted_at IS NULL AND {}) WHERE id = $1",
        counted(&format!("o.{status}"))
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).execute(&mut *tx.tx).await?;
    Ok(())
}

/// Keeps the customers' last order as their orders are written.
pub(crate) struct LastOrder;

impl WriteHook for LastOrder {
    fn objects(&self) -> &'static [&'static str] {
        &["order"]
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let counts = |fields: &serde_json::Map<String, Json>| {
                fields.get("status").and_then(Json::as_str).is_some_and(|s| SOLD.contains(&s))
            };
            for customer in CUSTOMERS {
                let moved = matches!(written.action, Action::Create | Action::Delete | Action::Restore)
                    || written.changed(customer)
                    || written.changed("status")
                    || written.changed("ordered_at");
                if !moved {
                    continue;
                }
                let Some(cols) = columns(cx.db, customer)? else { continue };
                let after = written.after.get(customer).and_then(Json::as_str);
                // A new order that counts can only move its customer's last order later.
                if written.action == Action::Create {
                    let (Some(id), Some(at)) = (after, written.after.get("ordered_at").and_then(Json::as_str)) else {
                        continue;
                    };
                    if counts(written.after) {
                        let [table, kept, ..] = &cols;
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE {table} SET {kept} = $1 WHERE id = $2 AND ({kept} IS NULL OR {kept} < $1)"
                        )))
                        .bind(at.to_string())
                        .bind(id.to_string())
                        .execute(&mut *cx.tx.tx)
                        .await?;
                    }
                    continue;
                }
                let before = written.before.get(customer).and_then(Json::as_str);
                let ids: BTreeSet<&str> = before.into_iter().chain(after).collect();
                for id in ids {
                    recompute(cx.tx, &cols, id).await?;
                }
            }
            Ok(())
        })
    }
}

/// Every customer's last order worked out from all orders (after a bulk load, which writes
/// orders without rules, and once for the data of releases without the field).
pub async fn fill(db: &Db) -> Result<()> {
    db.reload_catalog().await?;
    for customer in CUSTOMERS {
        let Some(cols) = columns(db, customer)? else { continue };
        let [table, kept, orders, rel, at, status] = &cols;
        let mut tx = db.write_long().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET {kept} = NULL WHERE {kept} IS NOT NULL")))
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET {kept} = m.last FROM (SELECT {rel} AS customer, MAX({at}) AS last FROM {orders} \
             WHERE deleted_at IS NULL AND {rel} IS NOT NULL AND {} GROUP BY {rel}) AS m WHERE {table}.id = m.customer",
            counted(status)
        )))
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
