//! What a customer is worth: their orders (lifetime revenue, count, average, last purchase) and
//! their open pipeline, for a contact or a company, as the reader may see them. Cancelled and
//! returned orders count for nothing; amounts are summed per currency, never converted.

use super::pipelines::{self, StageKind};
use peyvand_records::aggregate::parse_aggregate;
use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_store::records::ListQuery;
use peyvand_store::{Db, Error, Result};
use serde::Serialize;
use serde_json::{Value as Json, json};

/// Orders that earned nothing.
const NOT_REVENUE: [&str; 2] = ["cancelled", "returned"];

/// A sum in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Amount {
    /// Exact, as a decimal string in the currency's units.
    pub amount: String,
    pub currency: String,
}

/// What a customer is worth.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Worth {
    /// Orders that count (not cancelled or returned), and their totals per currency.
    pub orders: i64,
    pub revenue: Vec<Amount>,
    /// Each currency's revenue divided by its orders, rounded to the unit.
    pub average: Vec<Amount>,
    /// When they last ordered (RFC 3339).
    pub last_order: Option<String>,
    /// Deals in an open stage, and their amounts per currency.
    pub open_deals: i64,
    pub pipeline: Vec<Amount>,
}

/// `object` is `contact` or `company`; the orders and deals are those naming it.
pub async fn worth(db: &Db, object: &str, id: &str) -> Result<Worth> {
    let mut worth = Worth::default();
    let catalog = db.visible_catalog().await?;
    if let Some(order) = catalog.object("order").filter(|o| o.field(object).is_some() && o.field("total").is_some()) {
        let counted: Vec<&str> = order
            .field("status")
            .map(|f| f.options.options.iter().map(|o| o.value.as_str()).filter(|v| !NOT_REVENUE.contains(v)).collect())
            .unwrap_or_default();
        let mut all = vec![json!({ "field": object, "op": "eq", "value": id })];
        if !counted.is_empty() {
            all.push(json!({ "field": "status", "op": "in", "value": counted }));
        }
        let filter = json!({ "and": all });
        let filter = parse_filter(&order, &filter).map_err(Error::invalid)?;
        let spec = parse_aggregate(&order, "", "total").map_err(Error::invalid)?;
        for row in db.aggregate("order", Some(&filter), &spec).await?.rows {
            worth.orders += row.count;
            if let Some((amount, currency)) = money(&row, "total") {
                let average = divide(&amount, row.count);
                worth.revenue.push(Amount { amount, currency: currency.clone() });
                worth.average.push(Amount { amount: average, currency });
            }
        }
        if order.field("ordered_at").is_some() {
            let query = ListQuery {
                filter: Some(filter),
                sort: parse_sort(&order, "-ordered_at").map_err(Error::invalid)?,
                limit: Some(1),
                ..ListQuery::default()
            };
            let last = db.list_records("order", &query).await?.records;
            worth.last_order =
                last.first().and_then(|o| o.fields.get("ordered_at")).and_then(Json::as_str).map(str::to_string);
        }
    }
    if let Some(deal) = catalog.object("deal").filter(|d| d.field(object).is_some() && d.field("stage").is_some()) {
        let open: Vec<String> = pipelines::list(db)
            .await?
            .iter()
            .flat_map(|p| p.stages.iter().filter(|s| s.kind == StageKind::Open).map(|s| s.key.clone()))
            .collect();
        if !open.is_empty() {
            let filter = json!({ "and": [
                { "field": object, "op": "eq", "value": id },
                { "field": "stage", "op": "in", "value": open },
            ] });
            let filter = parse_filter(&deal, &filter).map_err(Error::invalid)?;
            let sum = if deal.field("amount").is_some() { "amount" } else { "" };
            let spec = parse_aggregate(&deal, "", sum).map_err(Error::invalid)?;
            for row in db.aggregate("deal", Some(&filter), &spec).await?.rows {
                worth.open_deals += row.count;
                if let Some((amount, currency)) = money(&row, "amount") {
                    worth.pipeline.push(Amount { amount, currency });
                }
            }
        }
    }
    Ok(worth)
}

/// A money sum of an aggregate row: its amount and currency (the row's group names it).
pub(crate) fn money(row: &peyvand_store::aggregate::AggregateRow, field: &str) -> Option<(String, String)> {
    let amount = match row.sum.get(field)? {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Object(m) => m.get("amount").and_then(Json::as_str)?.to_string(),
        _ => return None,
    };
    let currency = row.group.get(&format!("{field}__currency")).and_then(Json::as_str).unwrap_or("IRR").to_string();
    Some((amount, currency))
}

/// `amount` (a decimal string) divided by `n`, rounded half away from zero to the unit.
fn divide(amount: &str, n: i64) -> String {
    let whole = amount.split('.').next().unwrap_or("0");
    let Ok(total) = whole.parse::<i128>() else { return amount.to_string() };
    if n <= 0 {
        return "0".into();
    }
    let n = i128::from(n);
    let q = (2 * total.abs() + n) / (2 * n);
    (if total < 0 { -q } else { q }).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn averages_round_half_away_from_zero() {
        assert_eq!(super::divide("10", 4), "3");
        assert_eq!(super::divide("10", 3), "3");
        assert_eq!(super::divide("11", 2), "6");
        assert_eq!(super::divide("-11", 2), "-6");
        assert_eq!(super::divide("7", 0), "0");
    }
}
