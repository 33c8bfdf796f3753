//! What a customer earns the business: their orders' revenue (after discounts, before tax; an
//! order without lines is its total) less what the products cost (the lines' quantity × the
//! product's cost price) and less the cost of serving them (their tickets × the business's cost
//! per ticket, a sales setting). Orders cancelled or returned count for nothing; amounts are in
//! one currency (orders in others are left out and counted). Worked out from the engine's
//! aggregates of the orders by status and of the lines by product and their order's status, so
//! a customer with years of orders costs two queries.
//!
//! Everything is read through the system's handle: the figures are the customer's whole, and
//! only those who read products' cost price are shown them (`may_read`).

use super::quotas::money;
use crate::sales::business;
use peyvand_records::aggregate::parse_aggregate_in;
use peyvand_records::decimal::Decimal;
use peyvand_records::filter::parse_filter;
use peyvand_store::{Db, Error, Result};
use serde::Serialize;
use serde_json::{Value as Json, json};
use std::collections::HashMap;

/// Orders that earned nothing.
const NOT_REVENUE: [&str; 2] = ["cancelled", "returned"];
/// The business's setting: what serving one ticket costs, in rials.
pub const COST_PER_TICKET: &str = "cost_per_ticket";

/// A customer's profitability, as decimal text in the currency.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Profit {
    pub currency: String,
    /// The orders' gross, their discounts, and the revenue after them (before tax).
    pub gross: String,
    pub discounts: String,
    pub revenue: String,
    /// What the products sold cost, and the lines whose product has no cost price (not counted).
    pub product_cost: String,
    pub lines_without_cost: i64,
    /// Tickets, the cost of one, and of all.
    pub tickets: i64,
    pub cost_per_ticket: String,
    pub service_cost: String,
    pub profit: String,
    /// Profit as a percent of revenue (none without revenue).
    pub margin: Option<f64>,
    /// Orders in other currencies, left out.
    pub other_currency_orders: i64,
}

/// Whether the viewer is shown profitability: they read products' cost price.
pub fn may_read(db: &Db) -> bool {
    db.viewer().is_none_or(|v| v.field_access("product", "cost_price") != peyvand_records::access::FieldAccess::Hidden)
}

fn cents(v: Option<&Json>) -> i128 {
    let text = match v {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        Some(Json::Object(m)) => m.get("amount").and_then(Json::as_str).unwrap_or("0").to_string(),
        _ => return 0,
    };
    Decimal::parse(&text, 2).map(|d| i128::from(d.units)).unwrap_or_else(|_| {
        // A sum with more places (quantities): rounded to hundredths.
        (text.parse::<f64>().unwrap_or(0.0) * 100.0).round() as i128
    })
}

/// The profitability of a contact or a company (`object`) in `currency`.
pub async fn of_customer(db: &Db, object: &str, id: &str, currency: &str) -> Result<Profit> {
    if !matches!(object, "contact" | "company") {
        return Err(Error::NotFound(format!("object {object}")));
    }
    // The customer must be one the viewer reads.
    db.get_record(object, id, false).await?;
    if !may_read(db) {
        return Err(Error::Forbidden("profitability".into()));
    }
    let system = db.system();
    let catalog = system.visible_catalog().await?;
    let lookup = |n: &str| catalog.object(n);
    // Revenue from the orders: each one's total less its tax (an order without lines is its
    // total); discounts as the orders say.
    let order = catalog.object("order").ok_or_else(|| Error::NotFound("object order".into()))?;
    let filter = parse_filter(&order, &json!({ "field": object, "op": "eq", "value": id })).map_err(Error::invalid)?;
    let spec =
        parse_aggregate_in(&order, "status", "total,tax_total,discount_total", &lookup).map_err(Error::invalid)?;
    let (mut revenue, mut discounts, mut other) = (0i128, 0i128, 0i64);
    for row in system.aggregate("order", Some(&filter), &spec).await?.rows {
        let status = row.group.get("status").and_then(Json::as_str).unwrap_or_default();
        if NOT_REVENUE.contains(&status) {
            continue;
        }
        if row.group.get("total__currency").and_then(Json::as_str).unwrap_or(currency) != currency {
            other += row.count;
            continue;
        }
        revenue += cents(row.sum.get("total")) - cents(row.sum.get("tax_total"));
        discounts += cents(row.sum.get("discount_total"));
    }
    let gross = revenue + discounts;
    // What was sold of each product, from the order lines.
    let line = catalog.object("order_line").ok_or_else(|| Error::NotFound("object order_line".into()))?;
    let filter = parse_filter(&line, &json!({ "field": object, "op": "eq", "value": id })).map_err(Error::invalid)?;
    let spec = parse_aggregate_in(&line, "product,order.status", "quantity", &lookup).map_err(Error::invalid)?;
    let mut sold: HashMap<String, (i128, i64)> = HashMap::new();
    for row in system.aggregate("order_line", Some(&filter), &spec).await?.rows {
        let status = row.group.get("order.status").and_then(Json::as_str).unwrap_or_default();
        if NOT_REVENUE.contains(&status) {
            continue;
        }
        let product = row.group.get("product").and_then(Json::as_str).unwrap_or_default().to_string();
        let entry = sold.entry(product).or_default();
        entry.0 += quantity_thousandths(row.sum.get("quantity"));
        entry.1 += row.count;
    }
    // What each product cost.
    let ids: Vec<String> = sold.keys().filter(|p| !p.is_empty()).cloned().collect();
    let mut costs: HashMap<String, i128> = HashMap::new();
    for chunk in ids.chunks(400) {
        let product = system.object("product").await?;
        let filter =
            parse_filter(&product, &json!({ "field": "id", "op": "in", "value": chunk })).map_err(Error::invalid)?;
        let query = peyvand_store::records::ListQuery {
            filter: Some(filter),
            limit: Some(500),
            fields: Some(vec!["cost_price".into()]),
            ..Default::default()
        };
        for p in system.list_records("product", &query).await?.records {
            let cost = p.fields.get("cost_price").filter(|c| {
                c.get("currency").and_then(Json::as_str).unwrap_or("IRR") == currency && c.get("amount").is_some()
            });
            if let Some(cost) = cost {
                costs.insert(p.id.clone(), cents(Some(cost)));
            }
        }
    }
    let (mut product_cost, mut without) = (0i128, 0i64);
    for (product, (quantity, lines)) in &sold {
        match costs.get(product) {
            Some(cost) => product_cost += (cost * quantity + 500) / 1000,
            None => without += lines,
        }
    }
    // Their tickets, at the business's cost of one.
    let ticket = system.object("ticket").await?;
    let tickets = match ticket.field(object) {
        Some(_) => {
            let filter =
                parse_filter(&ticket, &json!({ "field": object, "op": "eq", "value": id })).map_err(Error::invalid)?;
            let spec = peyvand_records::aggregate::parse_aggregate(&ticket, "", "").map_err(Error::invalid)?;
            system.aggregate("ticket", Some(&filter), &spec).await?.rows.iter().map(|r| r.count).sum()
        }
        None => 0,
    };
    let per_ticket = business::get(db)
        .await?
        .get(COST_PER_TICKET)
        .and_then(|v| Decimal::parse(v, 2).ok())
        .map_or(0, |d| i128::from(d.units));
    let service = per_ticket * i128::from(tickets);
    let profit = revenue - product_cost - service;
    Ok(Profit {
        currency: currency.to_string(),
        gross: money(gross),
        discounts: money(discounts),
        revenue: money(revenue),
        product_cost: money(product_cost),
        lines_without_cost: without,
        tickets,
        cost_per_ticket: money(per_ticket),
        service_cost: money(service),
        profit: money(profit),
        margin: (revenue > 0).then(|| profit as f64 / revenue as f64 * 100.0),
        other_currency_orders: other,
    })
}

/// A summed quantity (three places) in thousandths.
fn quantity_thousandths(v: Option<&Json>) -> i128 {
    let text = match v {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => return 0,
    };
    Decimal::parse(&text, 3).map(|d| i128::from(d.units)).unwrap_or(0)
}
