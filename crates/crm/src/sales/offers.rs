//! Offers from purchase history: for each customer, the products they are most likely to buy
//! next. The co-purchase model of the analytics crate (`peyvand_analytics::recommend`, cosine
//! similarity between products over customers' baskets) is built from the orders' lines by the
//! `offers_build` job each night (or when an admin asks) and kept in `offer_pairs`, each
//! product's best neighbors; a customer's offers are read from it at once: the neighbors of what
//! they bought, summed, less what they own, then the best sellers they do not own.
//!
//! Lines of orders that count as a sale are the baskets (cancelled, returned and draft orders
//! are not); a customer is a contact. What a customer owns is read live, so an offer never names
//! a product bought since the last build.

use peyvand_analytics::recommend::{Model, Similarity};
use peyvand_records::filter::parse_filter;
use peyvand_store::events::Job;
use peyvand_store::records::ListQuery;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, now};
use serde::Serialize;
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use time::{Duration, OffsetDateTime, Time};

/// The order statuses whose lines are purchases.
pub const SOLD: [&str; 5] = ["pending", "paid", "part_shipped", "shipped", "delivered"];
/// Neighbors kept per product.
const TOP_K: usize = 20;
/// Customers who must have bought both products of a pair for it to count.
const MIN_SUPPORT: u32 = 2;
/// Scores are kept as integers: the similarity times this.
const SCALE: f64 = 1_000_000.0;
/// Most products of a customer's history that are looked up.
const OWNED_CAP: usize = 400;
/// Most offers asked for at once.
pub const MAX_OFFERS: usize = 20;
/// The build's job.
pub const BUILD_JOB: &str = "offers_build";

/// One offer: a product and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Offer {
    pub product_id: String,
    pub name: String,
    /// The product's price as stored (`{amount, currency}`), if it has one.
    pub price: Json,
    /// How strongly it follows from what they bought (summed cosine similarity); 0 for a best
    /// seller.
    pub score: f64,
    /// `bought_with` (others who bought what they bought bought it) or `popular`.
    pub reason: &'static str,
}

/// When the model was built and from what.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ModelInfo {
    pub built_at: String,
    pub customers: i64,
    pub products: i64,
    pub pairs: i64,
}

/// The model in use, if one was built.
pub async fn info(db: &Db) -> Result<Option<ModelInfo>> {
    let row = sqlx::query("SELECT built_at, customers, products, pairs FROM offer_models WHERE id = 1")
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(ModelInfo {
            built_at: r.try_get(0)?,
            customers: r.try_get(1)?,
            products: r.try_get(2)?,
            pairs: r.try_get(3)?,
        })
    })
    .transpose()
}

/// Every customer's basket of sold products: the lines read in pages of the engine's list (the
/// live records, as the system reads them) sorted by customer, so that only the current
/// customer's basket and the products' numbers are held, whatever the number of customers.
async fn baskets(db: &Db) -> Result<(Vec<String>, Vec<Vec<u32>>)> {
    let system = db.system();
    // The orders whose lines are not purchases: usually few.
    let orders = system.object("order").await?;
    let unsold: Vec<String> = orders
        .field("status")
        .map(|f| f.options.options.iter().map(|o| o.value.clone()).filter(|v| !SOLD.contains(&v.as_str())).collect())
        .unwrap_or_default();
    let mut skip = HashSet::new();
    if !unsold.is_empty() {
        let filter = parse_filter(&orders, &json!({ "field": "status", "op": "in", "value": unsold }))
            .map_err(Error::invalid)?;
        let mut cursor = None;
        loop {
            let page = system.list_records("order", &page_query(Some(filter.clone()), cursor.take(), &[])).await?;
            skip.extend(page.records.into_iter().map(|r| r.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let lines_obj = system.object("order_line").await?;
    let mut products: Vec<String> = Vec::new();
    let mut numbers: HashMap<String, u32> = HashMap::new();
    let mut baskets: Vec<Vec<u32>> = Vec::new();
    let (mut current, mut basket): (Option<String>, Vec<u32>) = (None, Vec::new());
    let mut cursor = None;
    loop {
        let mut query = page_query(None, cursor.take(), &["order", "contact", "product"]);
        query.sort = peyvand_records::filter::parse_sort(&lines_obj, "contact").unwrap_or_default();
        let page = system.list_records("order_line", &query).await?;
        for line in page.records {
            let text = |f: &str| line.fields.get(f).and_then(Json::as_str);
            let (Some(order), Some(contact), Some(product)) = (text("order"), text("contact"), text("product")) else {
                continue;
            };
            if skip.contains(order) {
                continue;
            }
            if current.as_deref() != Some(contact) {
                if !basket.is_empty() {
                    baskets.push(std::mem::take(&mut basket));
                }
                current = Some(contact.to_string());
            }
            let n = match numbers.get(product) {
                Some(n) => *n,
                None => {
                    products.push(product.to_string());
                    let n = (products.len() - 1) as u32;
                    numbers.insert(product.to_string(), n);
                    n
                }
            };
            basket.push(n);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if !basket.is_empty() {
        baskets.push(basket);
    }
    Ok((products, baskets))
}

fn page_query(filter: Option<peyvand_records::filter::Filter>, cursor: Option<String>, fields: &[&str]) -> ListQuery {
    ListQuery {
        filter,
        sort: Vec::new(),
        limit: Some(peyvand_store::records::MAX_PAGE),
        cursor,
        trash: false,
        with_total: false,
        exact_total: false,
        fields: Some(fields.iter().map(|f| f.to_string()).collect()),
    }
}

/// Rows per insert statement of the build.
const INSERT_ROWS: usize = 200;

/// Builds the model from every sold line and replaces the kept one in one transaction.
pub async fn build(db: &Db) -> Result<ModelInfo> {
    let (products, baskets) = baskets(db).await?;
    let customers = baskets.len();
    let model = Model::from_baskets(products, baskets, Similarity::Cosine, TOP_K, MIN_SUPPORT);
    let pairs: Vec<(&str, &str, i64)> =
        model.pairs().map(|(a, b, s)| (a, b, (f64::from(s) * SCALE).round() as i64)).filter(|p| p.2 > 0).collect();
    let popular: Vec<(&str, u32)> = model.popularity().collect();
    let info = ModelInfo {
        built_at: now(),
        customers: customers as i64,
        products: popular.len() as i64,
        pairs: pairs.len() as i64,
    };
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM offer_pairs").execute(&mut *tx.tx).await?;
    sqlx::query("DELETE FROM offer_products").execute(&mut *tx.tx).await?;
    for chunk in pairs.chunks(INSERT_ROWS) {
        let mut sql = String::from("INSERT INTO offer_pairs (product_id, other_id, score) VALUES ");
        for i in 0..chunk.len() {
            let n = i * 3;
            sql.push_str(&format!("{}(${}, ${}, ${})", if i > 0 { ", " } else { "" }, n + 1, n + 2, n + 3));
        }
        // Only placeholders and numbers are formatted into the text.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (a, b, s) in chunk {
            q = q.bind(a.to_string()).bind(b.to_string()).bind(*s);
        }
        q.execute(&mut *tx.tx).await?;
    }
    for chunk in popular.chunks(INSERT_ROWS) {
        let mut sql = String::from("INSERT INTO offer_products (product_id, buyers) VALUES ");
        for i in 0..chunk.len() {
            sql.push_str(&format!("{}(${}, ${})", if i > 0 { ", " } else { "" }, i * 2 + 1, i * 2 + 2));
        }
        // Only placeholders and numbers are formatted into the text.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (p, n) in chunk {
            q = q.bind(p.to_string()).bind(i64::from(*n));
        }
        q.execute(&mut *tx.tx).await?;
    }
    sqlx::query(
        "INSERT INTO offer_models (id, built_at, customers, products, pairs) VALUES (1, $1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET built_at = excluded.built_at, customers = excluded.customers, \
         products = excluded.products, pairs = excluded.pairs",
    )
    .bind(info.built_at.clone())
    .bind(info.customers)
    .bind(info.products)
    .bind(info.pairs)
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// The products a contact bought (sold lines only), most recent lines first.
async fn owned(db: &Db, contact: &str) -> Result<Vec<String>> {
    let lines_obj = db.object("order_line").await?;
    let filter = parse_filter(&lines_obj, &json!({ "field": "contact", "op": "eq", "value": contact }))
        .map_err(Error::invalid)?;
    let mut query = page_query(Some(filter), None, &["order", "product"]);
    query.sort = peyvand_records::filter::parse_sort(&lines_obj, "-created_at").unwrap_or_default();
    let page = db.list_records("order_line", &query).await?;
    let mut orders: HashMap<String, bool> = HashMap::new();
    let mut products = Vec::new();
    for line in &page.records {
        let (Some(order), Some(product)) =
            (line.fields.get("order").and_then(Json::as_str), line.fields.get("product").and_then(Json::as_str))
        else {
            continue;
        };
        let sold = match orders.get(order) {
            Some(s) => *s,
            None => {
                let s = match db.get_record("order", order, false).await {
                    Ok(o) => o.fields.get("status").and_then(Json::as_str).is_some_and(|s| SOLD.contains(&s)),
                    Err(Error::NotFound(_)) => false,
                    Err(e) => return Err(e),
                };
                orders.insert(order.to_string(), s);
                s
            }
        };
        if sold && !products.iter().any(|p| p == product) {
            products.push(product.to_string());
        }
        if products.len() >= OWNED_CAP {
            break;
        }
    }
    Ok(products)
}

/// A contact's `n` offers (at most [`MAX_OFFERS`]), read through `db` (a user's handle: a contact
/// out of reach is not found; a product they may not read is left out). Inactive products are
/// never offered.
pub async fn for_contact(db: &Db, contact: &str, n: usize) -> Result<Vec<Offer>> {
    db.get_record("contact", contact, false).await?;
    let n = n.clamp(1, MAX_OFFERS);
    let mine = owned(db, contact).await?;
    let mut ranked: Vec<(String, f64, &'static str)> = Vec::new();
    if !mine.is_empty() {
        let marks: Vec<String> = (1..=mine.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT other_id, CAST(SUM(score) AS BIGINT) AS s FROM offer_pairs WHERE product_id IN ({}) GROUP BY other_id \
             ORDER BY s DESC, other_id LIMIT {}",
            marks.join(", "),
            n * 3 + mine.len()
        );
        // Only placeholders and numbers are formatted into the text.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in &mine {
            q = q.bind(p.clone());
        }
        for row in q.fetch_all(db.pool()).await? {
            let (id, score): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            if !mine.contains(&id) {
                ranked.push((id, score as f64 / SCALE, "bought_with"));
            }
        }
    }
    let popular = sqlx::query("SELECT product_id FROM offer_products ORDER BY buyers DESC, product_id LIMIT $1")
        .bind((n * 3 + mine.len()) as i64)
        .fetch_all(db.pool())
        .await?;
    for row in popular {
        let id: String = row.try_get(0)?;
        if !mine.contains(&id) && !ranked.iter().any(|r| r.0 == id) {
            ranked.push((id, 0.0, "popular"));
        }
    }
    let mut offers = Vec::new();
    for (id, score, reason) in ranked {
        if offers.len() >= n {
            break;
        }
        let product = match db.get_record("product", &id, false).await {
            Ok(p) => p,
            Err(Error::NotFound(_) | Error::Forbidden(_)) => continue,
            Err(e) => return Err(e),
        };
        if product.fields.get("active").and_then(Json::as_bool) == Some(false) {
            continue;
        }
        let price = product.fields.get("price").cloned().unwrap_or(Json::Null);
        offers.push(Offer {
            product_id: id,
            name: product.title,
            price,
            score: (score * 1000.0).round() / 1000.0,
            reason,
        });
    }
    Ok(offers)
}

/// The next night's build: twenty past two, the business's time (keyed, so every instance
/// schedules the same one).
pub(crate) async fn schedule_build_in(db: &Db, tx: &mut peyvand_store::WriteTx) -> Result<()> {
    let offset = db.local_offset();
    let local = OffsetDateTime::now_utc().to_offset(offset);
    let next = (local.date() + Duration::days(1)).with_time(Time::from_hms(2, 20, 0).unwrap_or(Time::MIDNIGHT));
    let at = peyvand_records::value::format_datetime(next.assume_offset(offset).to_offset(time::UtcOffset::UTC));
    db.schedule_job_in(tx, BUILD_JOB, Some(&format!("{BUILD_JOB}:{at}")), &at, &json!({})).await?;
    Ok(())
}

/// Asks for a build now (an admin's button, the API); one queued at a time.
pub async fn build_soon(db: &Db) -> Result<()> {
    let mut tx = db.write().await?;
    let at = now();
    db.schedule_job_in(
        &mut tx,
        BUILD_JOB,
        Some(&format!("{BUILD_JOB}:now:{}", &at[..16])),
        &at,
        &json!({ "now": true }),
    )
    .await?;
    tx.commit().await
}

/// The build, then (for the nightly one) the next night's scheduled.
pub struct Build;

impl JobKind for Build {
    fn kind(&self) -> &'static str {
        BUILD_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let round = async {
                build(db).await?;
                if job.payload.get("now").and_then(Json::as_bool) != Some(true) {
                    let mut tx = db.write().await?;
                    schedule_build_in(db, &mut tx).await?;
                    tx.commit().await?;
                }
                Ok::<(), Error>(())
            };
            round.await.map_err(|e| e.to_string())
        })
    }
}
