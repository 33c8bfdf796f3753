//! Per-customer benefits: a percent or fixed discount, a special price list, free delivery or a
//! promise in words, granted to a contact, a company or a customer group, for a period and a
//! number of documents. The ones that apply are offered on a quote's or order's lines as they
//! are priced (a line with no discount of its own takes the benefit's, and records which), and
//! shown on the customer's page and the document's.

use peyvand_records::Value;
use peyvand_store::records::Record;
use peyvand_store::{Db, Result, WriteTx};
use serde_json::Value as Json;
use std::collections::HashSet;

/// What a benefit does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenefitKind {
    PercentDiscount,
    AmountDiscount,
    PriceList,
    FreeDelivery,
    Custom,
}

impl BenefitKind {
    fn parse(s: &str) -> Option<BenefitKind> {
        Some(match s {
            "percent_discount" => BenefitKind::PercentDiscount,
            "amount_discount" => BenefitKind::AmountDiscount,
            "price_list" => BenefitKind::PriceList,
            "free_delivery" => BenefitKind::FreeDelivery,
            "custom" => BenefitKind::Custom,
            _ => return None,
        })
    }
}

/// A benefit that applies, with what it does.
#[derive(Clone, Debug)]
pub struct Applying {
    pub record: Record,
    pub kind: BenefitKind,
}

impl Applying {
    /// Whether it is for lines of `product` (a benefit naming no product is for every line).
    pub fn covers(&self, product: Option<&str>) -> bool {
        match self.record.fields.get("product").and_then(Json::as_str) {
            Some(p) => Some(p) == product,
            None => true,
        }
    }
}

/// The customer a document is for: their contact, company and the groups of both.
pub struct Customer {
    pub contact: Option<String>,
    pub company: Option<String>,
    pub groups: Vec<String>,
}

/// The customer of a document read in `tx`: its contact, its company (the contact's if the
/// document names none) and their groups.
pub async fn customer(db: &Db, tx: &mut WriteTx, contact: Option<&str>, company: Option<&str>) -> Result<Customer> {
    let catalog = db.catalog_cached()?;
    let mut read = async |object: &str, id: Option<&str>| -> Result<Option<Record>> {
        let (Some(id), Some(obj)) = (id, catalog.object(object)) else { return Ok(None) };
        Ok(db.find_in(tx, &obj, &[("id", Value::Text(id.into()))], 1).await?.into_iter().next())
    };
    let contact_record = read("contact", contact).await?;
    let company = company_of(contact_record.as_ref(), company);
    let company_record = read("company", company.as_deref()).await?;
    let groups = groups_of(contact_record.as_ref(), company_record.as_ref());
    Ok(Customer { contact: contact.map(str::to_string), company, groups })
}

/// A customer's company: the one named, else their contact's.
fn company_of(contact: Option<&Record>, company: Option<&str>) -> Option<String> {
    company.map(str::to_string).or_else(|| contact?.fields.get("company").and_then(Json::as_str).map(str::to_string))
}

/// The customer groups of a contact and their company, each once.
pub(crate) fn groups_of(contact: Option<&Record>, company: Option<&Record>) -> Vec<String> {
    let mut groups: Vec<String> = [contact, company]
        .into_iter()
        .flatten()
        .filter_map(|r| r.fields.get("customer_group").and_then(Json::as_str).map(str::to_string))
        .collect();
    groups.dedup();
    groups
}

/// The benefits that apply to `customer` on `day` (ISO), most specific first (a contact's, a
/// company's, a group's), leaving out those used up, except by the document `except`.
pub async fn applying(
    db: &Db,
    tx: &mut WriteTx,
    customer: &Customer,
    day: &str,
    except: Option<&str>,
) -> Result<Vec<Applying>> {
    let catalog = db.catalog_cached()?;
    let Some(obj) = catalog.object("benefit") else { return Ok(Vec::new()) };
    let mut found: Vec<(u8, Record)> = Vec::new();
    let mut seen = HashSet::new();
    let mut lookups: Vec<(u8, &str, Value)> = Vec::new();
    if let Some(c) = &customer.contact {
        lookups.push((3, "contact", Value::Text(c.clone())));
    }
    if let Some(c) = &customer.company {
        lookups.push((2, "company", Value::Text(c.clone())));
    }
    for g in &customer.groups {
        lookups.push((1, "customer_group", Value::Text(g.clone())));
    }
    for (rank, field, value) in lookups {
        for b in db.find_in(tx, &obj, &[(field, value), ("active", Value::Bool(true))], 100).await? {
            let text = |f: &str| b.fields.get(f).and_then(Json::as_str).map(str::to_string);
            let granted = match text("applies_to").as_deref() {
                Some("contact") => field == "contact",
                Some("company") => field == "company",
                Some("group") => field == "customer_group",
                _ => false,
            };
            let valid = text("valid_from").is_none_or(|from| from.as_str() <= day)
                && text("valid_to").is_none_or(|to| to.as_str() >= day);
            if granted && valid && seen.insert(b.id.clone()) {
                found.push((rank, b));
            }
        }
    }
    found.sort_by_key(|b| std::cmp::Reverse(b.0));
    let mut out = Vec::new();
    for (_, record) in found {
        let Some(kind) = record.fields.get("kind").and_then(Json::as_str).and_then(BenefitKind::parse) else {
            continue;
        };
        if let Some(max) = record.fields.get("max_uses").and_then(Json::as_i64)
            && uses(db, tx, &record.id, except).await? >= max
        {
            continue;
        }
        out.push(Applying { record, kind });
    }
    Ok(out)
}

/// The quotes and orders whose lines a benefit changed (besides `except`).
async fn uses(db: &Db, tx: &mut WriteTx, benefit: &str, except: Option<&str>) -> Result<i64> {
    let catalog = db.catalog_cached()?;
    let mut documents = HashSet::new();
    for (line, header) in [("quote_line", "quote"), ("order_line", "order")] {
        let Some(obj) = catalog.object(line) else { continue };
        for l in db.find_in(tx, &obj, &[("benefit", Value::Text(benefit.into()))], 500).await? {
            if let Some(doc) = l.fields.get(header).and_then(Json::as_str)
                && Some(doc) != except
            {
                documents.insert(doc.to_string());
            }
        }
    }
    Ok(documents.len() as i64)
}

/// The benefits a customer's page shows: those granted to them, their company or their group,
/// valid today and active (read as the user may read them).
pub async fn for_customer(db: &Db, contact: Option<&str>, company: Option<&str>) -> Result<Vec<Applying>> {
    let today = db.today().to_string();
    let catalog = db.visible_catalog().await?;
    let Some(obj) = catalog.object("benefit") else { return Ok(Vec::new()) };
    // Read as the user may: a record out of their reach names no group.
    let contact_record = match contact {
        Some(c) => db.get_record("contact", c, false).await.ok(),
        None => None,
    };
    let company = company_of(contact_record.as_ref(), company);
    let company_record = match &company {
        Some(c) => db.get_record("company", c, false).await.ok(),
        None => None,
    };
    let groups = groups_of(contact_record.as_ref(), company_record.as_ref());
    let mut any = Vec::new();
    if let Some(c) = contact {
        any.push(serde_json::json!({ "and": [{ "field": "applies_to", "op": "eq", "value": "contact" }, { "field": "contact", "op": "eq", "value": c }] }));
    }
    if let Some(c) = &company {
        any.push(serde_json::json!({ "and": [{ "field": "applies_to", "op": "eq", "value": "company" }, { "field": "company", "op": "eq", "value": c }] }));
    }
    for g in &groups {
        any.push(serde_json::json!({ "and": [{ "field": "applies_to", "op": "eq", "value": "group" }, { "field": "customer_group", "op": "eq", "value": g }] }));
    }
    if any.is_empty() {
        return Ok(Vec::new());
    }
    let filter = serde_json::json!({ "and": [{ "field": "active", "op": "eq", "value": true }, { "or": any }] });
    let query = peyvand_store::records::ListQuery {
        filter: Some(peyvand_records::filter::parse_filter(&obj, &filter).map_err(peyvand_store::Error::invalid)?),
        sort: Vec::new(),
        limit: Some(50),
        cursor: None,
        trash: false,
        with_total: false,
        exact_total: false,
        fields: None,
    };
    Ok(db
        .list_records("benefit", &query)
        .await?
        .records
        .into_iter()
        .filter(|b| {
            let text = |f: &str| b.fields.get(f).and_then(Json::as_str).map(str::to_string);
            text("valid_from").is_none_or(|from| from <= today) && text("valid_to").is_none_or(|to| to >= today)
        })
        .filter_map(|record| {
            let kind = record.fields.get("kind").and_then(Json::as_str).and_then(BenefitKind::parse)?;
            Some(Applying { record, kind })
        })
        .collect())
}
