//! A product's price for a customer: from the most specific price list that applies (one made
//! for the customer, then one for the customer's group, then one for everyone; among equals the
//! one valid from the latest day), in the document's currency and on its day; else the
//! product's own price, if it is in that currency.

use peyvand_records::Value;
use peyvand_records::decimal::Decimal;
use peyvand_store::records::Record;
use peyvand_store::{Db, Error, Result, WriteTx};
use serde_json::Value as Json;

/// Where a price came from (a line's `price_source`).
pub fn source_of_list(id: &str) -> String {
    format!("price_list:{id}")
}

/// The customer a document is for.
pub struct Customer<'a> {
    pub contact: Option<&'a str>,
    pub company: Option<&'a str>,
}

/// An amount of a money value (`{"amount": "1200", "currency": "IRR"}`) at `scale`, if it is in
/// `currency`.
pub fn money_in(value: Option<&Json>, currency: &str, scale: u8) -> Option<Decimal> {
    let value = value?;
    if value.get("currency").and_then(Json::as_str).unwrap_or("IRR") != currency {
        return None;
    }
    Decimal::parse(value.get("amount")?.as_str()?, scale).ok()
}

/// The active price lists in `currency`, to choose from (`resolve`).
pub async fn candidate_lists(db: &Db, tx: &mut WriteTx, currency: &str) -> Result<Vec<Record>> {
    let catalog = db.catalog_cached()?;
    let Some(lists) = catalog.object("price_list") else { return Ok(Vec::new()) };
    db.find_in(tx, &lists, &[("active", Value::Bool(true)), ("currency", Value::Text(currency.into()))], 500).await
}

/// `product`'s price for `customer` (of `groups`) from `lists` (`candidate_lists`) on `day`
/// (ISO), with where it came from.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(
    db: &Db,
    tx: &mut WriteTx,
    product: &Record,
    customer: &Customer<'_>,
    groups: &[String],
    lists: &[Record],
    currency: &str,
    day: &str,
    scale: u8,
) -> Result<Option<(Decimal, String)>> {
    for list in ranked(lists, customer, groups, day) {
        if let Some(price) = price_in_list(db, tx, &list.id, &product.id, currency, scale).await? {
            return Ok(Some((price, source_of_list(&list.id))));
        }
    }
    Ok(money_in(product.fields.get("price"), currency, scale).map(|p| (p, "product".to_string())))
}

/// The price lists of `lists` that apply to `customer` (of `groups`) on `day`, the one to look
/// in first first: made for the customer, then for one of their groups, then for everyone; among
/// equals the one valid from the latest day.
fn ranked<'a>(lists: &'a [Record], customer: &Customer<'_>, groups: &[String], day: &str) -> Vec<&'a Record> {
    let text = |r: &Record, f: &str| r.fields.get(f).and_then(Json::as_str).map(str::to_string);
    let mut ranked: Vec<(u8, String, &Record)> = lists
        .iter()
        .filter(|l| text(l, "valid_from").is_none_or(|from| from.as_str() <= day))
        .filter(|l| text(l, "valid_to").is_none_or(|to| to.as_str() >= day))
        .filter_map(|l| {
            let rank = match text(l, "applies_to").as_deref() {
                Some("customer") => {
                    let mine = (customer.contact.is_some() && text(l, "contact").as_deref() == customer.contact)
                        || (customer.company.is_some() && text(l, "company").as_deref() == customer.company);
                    if mine { 3 } else { return None }
                }
                Some("group") => {
                    if text(l, "customer_group").is_some_and(|g| groups.contains(&g)) {
                        2
                    } else {
                        return None;
                    }
                }
                _ => 1,
            };
            Some((rank, text(l, "valid_from").unwrap_or_default(), l))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    ranked.into_iter().map(|(_, _, list)| list).collect()
}

/// The prices of `products` for a customer (of `groups`) today, as [`resolve`] finds them for a
/// document in `currency`, read without a transaction (a page that shows prices, not one that
/// writes them): by product id, the amount at `scale`; a product with no price left out.
pub async fn for_customer(
    db: &Db,
    products: &[Record],
    customer: &Customer<'_>,
    groups: &[String],
    currency: &str,
    scale: u8,
) -> Result<std::collections::HashMap<String, Decimal>> {
    use peyvand_records::filter::parse_filter;
    use peyvand_store::records::ListQuery;
    let system = db.system();
    let catalog = system.catalog_cached()?;
    let mut out = std::collections::HashMap::new();
    let day = db.today().to_string();
    let list = async |object: &str, filter: Json, limit: u32| -> Result<Vec<Record>> {
        let Some(obj) = catalog.object(object) else { return Ok(Vec::new()) };
        let query = ListQuery {
            filter: Some(parse_filter(&obj, &filter).map_err(Error::invalid)?),
            limit: Some(limit),
            ..ListQuery::default()
        };
        Ok(system.list_records(object, &query).await?.records)
    };
    let lists = list(
        "price_list",
        serde_json::json!({ "and": [{ "field": "active", "op": "eq", "value": true }, { "field": "currency", "op": "eq", "value": currency }] }),
        500,
    )
    .await?;
    let order = ranked(&lists, customer, groups, &day);
    let ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
    let mut items: Vec<(usize, String, Decimal)> = Vec::new();
    if !order.is_empty() && !ids.is_empty() {
        let list_ids: Vec<&str> = order.iter().map(|l| l.id.as_str()).collect();
        let filter = serde_json::json!({ "and": [{ "field": "price_list", "op": "in", "value": list_ids }, { "field": "product", "op": "in", "value": ids }] });
        for item in list("price_list_item", filter, 5000).await? {
            let text = |f: &str| item.fields.get(f).and_then(Json::as_str);
            let (Some(list), Some(product)) = (text("price_list"), text("product")) else { continue };
            let (Some(rank), Some(price)) =
                (order.iter().position(|l| l.id == list), money_in(item.fields.get("price"), currency, scale))
            else {
                continue;
            };
            items.push((rank, product.to_string(), price));
        }
    }
    // The first list in order that prices a product decides.
    items.sort_by_key(|(rank, _, _)| *rank);
    for (_, product, price) in items {
        out.entry(product).or_insert(price);
    }
    for p in products {
        if let Some(price) = money_in(p.fields.get("price"), currency, scale) {
            out.entry(p.id.clone()).or_insert(price);
        }
    }
    Ok(out)
}

/// `product`'s price in the price list `list`, if it has one in `currency`.
pub async fn price_in_list(
    db: &Db,
    tx: &mut WriteTx,
    list: &str,
    product: &str,
    currency: &str,
    scale: u8,
) -> Result<Option<Decimal>> {
    let catalog = db.catalog_cached()?;
    let Some(items) = catalog.object("price_list_item") else { return Ok(None) };
    let found = db
        .find_in(tx, &items, &[("price_list", Value::Text(list.into())), ("product", Value::Text(product.into()))], 1)
        .await?;
    Ok(found.first().and_then(|i| money_in(i.fields.get("price"), currency, scale)))
}

/// A currency code as the documents keep it: three capital letters.
pub fn check_currency(code: &str) -> Result<()> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::invalid(peyvand_records::FieldError::new("currency", "invalid_currency")))
    }
}
