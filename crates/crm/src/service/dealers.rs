//! Dealer quality, the seeds' own service standard: complaints per 10,000 units serviced, per
//! dealer, per product and per month, with a trend, a ranking and a threshold that raises an
//! alert.
//!
//! Units serviced are records (`service_volume`: a dealer, a Jalali month `1405-09`, a product or
//! none, the units), so they are entered, imported and exported as any record; or counted from the
//! dealer's orders of the month. Complaints are tickets of the kind `complaint` naming the dealer,
//! by the Jalali month they were opened in. A month without units (or with none) has no rate:
//! "no data", never a division by zero. Enter either a dealer's total for a month or its
//! products' units, not both (the total of a month is the sum of its rows).

use crate::notifications;
use peyvand_records::access::Role;
use peyvand_records::aggregate::parse_aggregate;
use peyvand_records::filter::parse_filter;
use peyvand_records::jalali::{from_jalali, to_jalali};
use peyvand_records::value::{format_datetime, parse_datetime};
use peyvand_records::{FieldError, FieldType, Value};
use peyvand_store::events::Event;
use peyvand_store::hooks::{BoxFuture, HookCx, Pending, WriteHook};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::runner::{Consumer, Outcome};
use peyvand_store::schema::{NewObject, opt, owner_field, relation, std_field, with};
use peyvand_store::{Db, Error, Result};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime, UtcOffset};

/// The units-serviced object's definition.
pub(crate) fn object() -> NewObject {
    use FieldType as T;
    let fields = vec![
        with(relation("dealer", "company", "نمایندگی", "Dealer"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        with(std_field("month", T::Text, "ماه", "Month"), |f| {
            f.required = true;
            f.indexed = true;
            f.help_fa = "ماه شمسی به شکل ۱۴۰۵-۰۹".into();
            f.help_en = "A Jalali month, as 1405-09".into();
            f.options.max_length = Some(7);
        }),
        relation("product", "product", "کالا", "Product"),
        with(std_field("units", T::Integer, "دستگاه‌های سرویس‌شده", "Units serviced"), |f| {
            f.required = true
        }),
        with(std_field("source", T::Select, "منبع", "Source"), |f| {
            f.default_value = Some(json!("entered"));
            f.options.options = vec![
                opt("entered", "واردشده", "Entered"),
                opt("imported", "درون‌ریزی‌شده", "Imported"),
                opt("orders", "از سفارش‌ها", "From orders"),
            ];
        }),
        owner_field(),
    ];
    NewObject {
        api_name: "service_volume".into(),
        label_fa: "کارکرد نمایندگی".into(),
        label_en: "Units serviced".into(),
        plural_fa: "کارکرد نمایندگی‌ها".into(),
        plural_en: "Units serviced".into(),
        fields,
        title_field: Some("month".into()),
    }
}

/// A Jalali month `YYYY-MM` (any digits) as its year and month.
pub fn parse_month(text: &str) -> Option<(i32, u8)> {
    let latin = peyvand_records::normalize::to_latin_digits(text.trim());
    let (y, m) = latin.split_once(['-', '/'])?;
    let (y, m): (i32, u8) = (y.parse().ok()?, m.parse().ok()?);
    ((1300..1500).contains(&y) && (1..=12).contains(&m)).then_some((y, m))
}

/// The month's key, `1405-09`.
pub fn month_key(y: i32, m: u8) -> String {
    format!("{y:04}-{m:02}")
}

/// The first day of a Jalali month and of the next.
fn month_days(y: i32, m: u8) -> Option<(Date, Date)> {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some((from_jalali(y, m, 1)?, from_jalali(ny, nm, 1)?))
}

/// The Jalali month an instant falls in, where the business is.
pub fn month_of(t: OffsetDateTime, offset: UtcOffset) -> Option<String> {
    let (y, m, _) = to_jalali(t.to_offset(offset).date())?;
    Some(month_key(y, m))
}

/// Units serviced: a month that is one, units never negative, one row per dealer, month and
/// product.
pub(crate) struct VolumeRules;

impl WriteHook for VolumeRules {
    fn objects(&self) -> &'static [&'static str] {
        &["service_volume"]
    }

    fn before<'a>(&'a self, cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut errors = Vec::new();
            if write.changes("month") {
                match write.after("month").as_str().and_then(parse_month) {
                    Some((y, m)) => write.set("month", Value::Text(month_key(y, m))),
                    None => errors.push(FieldError::new("month", "invalid_month")),
                }
            }
            if write.after("units").as_i64().is_some_and(|u| u < 0) {
                errors.push(FieldError::new("units", "negative"));
            }
            if !errors.is_empty() {
                return Err(Error::Validation(errors));
            }
            if write.is_create() || ["dealer", "month", "product"].iter().any(|f| write.changes(f)) {
                let text = |f: &str| match write.after(f) {
                    Json::String(s) => Value::Text(s),
                    _ => Value::Null,
                };
                let same = [("dealer", text("dealer")), ("month", text("month")), ("product", text("product"))];
                let found = cx.db.system().find_in(cx.tx, write.object, &same, 2).await?;
                let me = write.current.map(|c| c.id.as_str());
                if found.iter().any(|r| Some(r.id.as_str()) != me) {
                    return Err(Error::invalid(FieldError::new("month", "volume_exists")));
                }
            }
            Ok(())
        })
    }
}

/// One dealer's month (and product): complaints, units, the rate per 10,000 units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rate {
    pub dealer: String,
    pub month: String,
    /// The product, when the rates are by product.
    pub product: Option<String>,
    pub complaints: i64,
    /// Units serviced; none when no one said.
    pub units: Option<i64>,
    /// Complaints per 10,000 units; none without units.
    pub per_10k: Option<f64>,
    /// The change from the dealer's month before, when both have a rate.
    pub trend: Option<f64>,
    /// Above the threshold.
    pub alert: bool,
}

/// The alert threshold (complaints per 10,000 units), if one is set.
pub async fn threshold(db: &Db) -> Result<Option<f64>> {
    let v: Option<String> = sqlx::query("SELECT text FROM service_settings WHERE name = 'dealer_threshold'")
        .fetch_optional(db.pool())
        .await?
        .and_then(|r| r.try_get(0).ok());
    Ok(v.and_then(|v| v.parse().ok()))
}

/// Sets (or, with none, clears) the alert threshold.
pub async fn set_threshold(db: &Db, value: Option<f64>) -> Result<()> {
    if let Some(v) = value
        && !(v.is_finite() && v > 0.0 && v <= 10_000.0)
    {
        return Err(Error::invalid(FieldError::with(
            "dealer_threshold",
            "out_of_range",
            json!({ "min": 0, "max": 10_000 }),
        )));
    }
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO service_settings (name, number, text) VALUES ('dealer_threshold', 0, $1) ON CONFLICT (name) DO UPDATE SET text = $1",
    )
    .bind(value.map(|v| v.to_string()))
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await
}

/// Rates of the months `from` to `to` (Jalali, inclusive), every dealer with units or complaints
/// in them, by product when asked; each row's trend against the dealer's (and product's) month
/// before; read as the handle's viewer may.
pub async fn rates(db: &Db, from: (i32, u8), to: (i32, u8), by_product: bool) -> Result<Vec<Rate>> {
    let (Some((start, _)), Some((_, end))) = (month_days(from.0, from.1), month_days(to.0, to.1)) else {
        return Err(Error::invalid(FieldError::new("from", "invalid_month")));
    };
    if end <= start || (end - start).whole_days() > 3 * 366 {
        return Err(Error::invalid(FieldError::new("from", "invalid_range")));
    }
    // One month more before the first, for its trend.
    let (py, pm) = if from.1 == 1 { (from.0 - 1, 12) } else { (from.0, from.1 - 1) };
    let before = month_days(py, pm).map(|(s, _)| s).unwrap_or(start);
    let (lo, hi) = (month_key(py, pm), month_key(to.0, to.1));
    let mut rows: BTreeMap<(String, String, String), (i64, Option<i64>)> = BTreeMap::new();
    let product_of = |r: &Json| if by_product { r.as_str().unwrap_or("").to_string() } else { String::new() };
    // Units serviced.
    let vol = db.object("service_volume").await?;
    let mut cursor = None;
    loop {
        let query = ListQuery {
            filter: Some(
                parse_filter(
                    &vol,
                    &json!({ "and": [
                        { "field": "month", "op": "gte", "value": lo },
                        { "field": "month", "op": "lte", "value": hi },
                    ]}),
                )
                .map_err(Error::invalid)?,
            ),
            limit: Some(500),
            cursor: cursor.take(),
            ..ListQuery::default()
        };
        let page = db.list_records("service_volume", &query).await?;
        for r in &page.records {
            let f = |k: &str| r.fields.get(k).cloned().unwrap_or(Json::Null);
            let key = (
                f("dealer").as_str().unwrap_or("").to_string(),
                f("month").as_str().unwrap_or("").to_string(),
                product_of(&f("product")),
            );
            let slot = rows.entry(key).or_insert((0, None));
            slot.1 = Some(slot.1.unwrap_or(0) + f("units").as_i64().unwrap_or(0));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // Complaints, by the day they were opened.
    let tickets = db.object("ticket").await?;
    let offset = db.local_offset();
    let bound = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let filter = parse_filter(
        &tickets,
        &json!({ "and": [
            { "field": "kind", "op": "eq", "value": "complaint" },
            { "field": "dealer", "op": "is_empty", "value": false },
            { "field": "opened_at", "op": "gte", "value": bound(before) },
            { "field": "opened_at", "op": "lt", "value": bound(end) },
        ]}),
    )
    .map_err(Error::invalid)?;
    let group = if by_product { "dealer,product,opened_at:day" } else { "dealer,opened_at:day" };
    let spec = parse_aggregate(&tickets, group, "").map_err(Error::invalid)?;
    for r in db.aggregate("ticket", Some(&filter), &spec).await?.rows {
        let g = |k: &str| r.group.get(k).cloned().unwrap_or(Json::Null);
        // A UTC day; the business's month is that of its noon.
        let day = g("opened_at").as_str().and_then(|d| peyvand_records::value::parse_date(&d[..d.len().min(10)]));
        let Some((y, m, _)) = day.and_then(to_jalali) else { continue };
        let key = (g("dealer").as_str().unwrap_or("").to_string(), month_key(y, m), product_of(&g("product")));
        rows.entry(key).or_insert((0, None)).0 += r.count;
    }
    let limit = threshold(db).await?;
    let rate = |c: i64, u: Option<i64>| u.filter(|u| *u > 0).map(|u| c as f64 * 10_000.0 / u as f64);
    let first = month_key(from.0, from.1);
    let mut out = Vec::new();
    for ((dealer, month, product), (complaints, units)) in &rows {
        if *month < first || dealer.is_empty() {
            continue;
        }
        let per_10k = rate(*complaints, *units);
        let prior = parse_month(month).map(|(y, m)| if m == 1 { month_key(y - 1, 12) } else { month_key(y, m - 1) });
        let trend = prior
            .and_then(|p| rows.get(&(dealer.clone(), p, product.clone())))
            .and_then(|(c, u)| rate(*c, *u))
            .zip(per_10k)
            .map(|(before, now)| now - before);
        out.push(Rate {
            dealer: dealer.clone(),
            month: month.clone(),
            product: by_product.then(|| product.clone()).filter(|p| !p.is_empty()),
            complaints: *complaints,
            units: *units,
            per_10k,
            trend,
            alert: per_10k.zip(limit).is_some_and(|(r, l)| r > l),
        });
    }
    Ok(out)
}

/// Counts a dealer's units of a month from their orders (the quantities of orders of the dealer
/// as the company, neither cancelled nor returned) and keeps them as the month's units (source
/// `orders`), as the handle's user.
pub async fn count_from_orders(db: &Db, actor: Option<&str>, dealer: &str, month: &str) -> Result<Record> {
    let (y, m) = parse_month(month).ok_or_else(|| Error::invalid(FieldError::new("month", "invalid_month")))?;
    let (start, end) = month_days(y, m).ok_or_else(|| Error::invalid(FieldError::new("month", "invalid_month")))?;
    db.get_record("company", dealer, false).await.map_err(|e| match e {
        Error::NotFound(_) => Error::invalid(FieldError::new("dealer", "invalid_reference")),
        other => other,
    })?;
    let orders = db.object("order").await?;
    let offset = db.local_offset();
    let bound = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let filter = parse_filter(
        &orders,
        &json!({ "and": [
            { "field": "company", "op": "eq", "value": dealer },
            { "field": "ordered_at", "op": "gte", "value": bound(start) },
            { "field": "ordered_at", "op": "lt", "value": bound(end) },
            { "field": "status", "op": "in", "value": ["pending", "paid", "part_shipped", "shipped", "delivered"] },
        ]}),
    )
    .map_err(Error::invalid)?;
    let spec = parse_aggregate(&orders, "", "quantity").map_err(Error::invalid)?;
    let sum = db.aggregate("order", Some(&filter), &spec).await?;
    let units = sum
        .rows
        .first()
        .and_then(|r| r.sum.get("quantity"))
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(0);
    let key = month_key(y, m);
    let vol = db.object("service_volume").await?;
    let query = ListQuery {
        filter: Some(
            parse_filter(
                &vol,
                &json!({ "and": [
                    { "field": "dealer", "op": "eq", "value": dealer },
                    { "field": "month", "op": "eq", "value": key },
                    { "field": "product", "op": "is_empty", "value": true },
                ]}),
            )
            .map_err(Error::invalid)?,
        ),
        limit: Some(1),
        ..ListQuery::default()
    };
    let mut input = Map::new();
    input.insert("units".into(), json!(units));
    input.insert("source".into(), json!("orders"));
    match db.list_records("service_volume", &query).await?.records.pop() {
        Some(r) => db.update_record(actor, "service_volume", &r.id, &input, None).await,
        None => {
            input.insert("dealer".into(), json!(dealer));
            input.insert("month".into(), json!(key));
            Ok(db.create_record(actor, "service_volume", &input, None).await?.0)
        }
    }
}

/// After commit, for a complaint naming a dealer and for units entered: if the dealer's month
/// is now above the threshold, the admins and managers are told, once per dealer and month.
pub(crate) struct DealerAlerts;

impl Consumer for DealerAlerts {
    fn name(&self) -> &'static str {
        "service.dealer_alerts"
    }

    fn handle<'a>(&'a self, db: &'a Db, event: &'a Event) -> Outcome<'a> {
        Box::pin(async move { alert(db, event).await.map_err(|e| e.to_string()) })
    }
}

async fn alert(db: &Db, event: &Event) -> Result<()> {
    if !matches!(event.object.as_str(), "ticket" | "service_volume") || event.action == "delete" {
        return Ok(());
    }
    let db = db.system();
    let record = match db.get_record(&event.object, &event.record_id, false).await {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let field = |f: &str| record.fields.get(f).cloned().unwrap_or(Json::Null);
    let Some(dealer) = field("dealer").as_str().map(str::to_string) else { return Ok(()) };
    let month = if event.object == "ticket" {
        if field("kind").as_str() != Some("complaint") {
            return Ok(());
        }
        match field("opened_at").as_str().and_then(parse_datetime).and_then(|t| month_of(t, db.local_offset())) {
            Some(m) => m,
            None => return Ok(()),
        }
    } else {
        field("month").as_str().unwrap_or_default().to_string()
    };
    let Some(ym) = parse_month(&month) else { return Ok(()) };
    let over = rates(&db, ym, ym, false).await?.into_iter().find(|r| r.dealer == dealer && r.alert);
    let Some(over) = over else { return Ok(()) };
    let name = db.titles("company", std::slice::from_ref(&dealer)).await?.remove(&dealer).unwrap_or_default();
    let title = format!("{name} · {month} · {:.1}", over.per_10k.unwrap_or(0.0));
    let link = format!("/service/dealers?from={month}&to={month}");
    let users = db.list_users().await?;
    let mut tx = db.write().await?;
    for u in users.iter().filter(|u| u.active && matches!(u.role, Role::Admin | Role::Manager)) {
        let id = format!("dealer:{dealer}:{month}:{}", u.id);
        notifications::notify_in(&mut tx, &id, &u.id, "dealer_alert", &title, Some(&link), None).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_jalali_and_read_in_any_digits() {
        assert_eq!(parse_month("۱۴۰۵/۹"), Some((1405, 9)));
        assert_eq!(parse_month("1405-12"), Some((1405, 12)));
        assert_eq!(parse_month("2026-11"), None, "a Gregorian year is not a Jalali one");
        assert_eq!(parse_month("1405-13"), None);
        let (start, end) = month_days(1405, 12).expect("Esfand");
        assert_eq!((start, end), (time::macros::date!(2027 - 02 - 20), time::macros::date!(2027 - 03 - 21)));
        let t = time::macros::datetime!(2026-12-05 21:00 UTC); // 6 December 00:30 in Tehran
        assert_eq!(month_of(t, time::macros::offset!(+03:30)).as_deref(), Some("1405-09"));
    }
}
