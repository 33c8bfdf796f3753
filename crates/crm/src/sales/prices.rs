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
    for (_, _, list) in ranked {
        if let Some(price) = price_in_list(db, tx, &list.id, &product.id, currency, scale).await? {
            return Ok(Some((price, source_of_list(&list.id))));
        }
    }
    Ok(money_in(product.fields.get("price"), currency, scale).map(|p| (p, "product".to_string())))
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
