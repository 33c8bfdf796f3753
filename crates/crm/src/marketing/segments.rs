//! Segments: who a campaign, a loyalty offer or a workflow is for. A dynamic segment is the
//! lists' filter over contacts or companies plus conditions on their orders (spent more than an
//! amount in the last days, bought in a category, bought recently, no order for a while), their
//! consent and their loyalty tier, worked out when asked (a live count); a static one is a list
//! of members kept by hand. A filter naming a field that has since been removed is a clear
//! error, not an empty segment.

use crate::loyalty;
use peyvand_records::FieldError;
use peyvand_records::filter::{Condition, Filter, parse_filter};
use peyvand_store::aggregate::Having;
use peyvand_store::records::ListQuery;
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::HashSet;

/// A condition beyond the record's own fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SegmentCondition {
    /// Orders (not cancelled or returned) of the last `days` add up to more than `amount`.
    SpentMore {
        amount: String,
        #[serde(default = "irr")]
        currency: String,
        days: i64,
    },
    /// At least one order in the last `days`.
    BoughtWithin { days: i64 },
    /// An order of a product in `category` (in the last `days`, or ever).
    BoughtCategory {
        category: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        days: Option<i64>,
    },
    /// No order in the last `days` (including never).
    NoOrderFor { days: i64 },
    /// Consent granted on a channel (contacts).
    Consented { channel: String },
    /// A loyalty program's tier (contacts).
    LoyaltyTier { program: String, tier: String },
}

fn irr() -> String {
    "IRR".into()
}

fn dynamic() -> String {
    "dynamic".into()
}

/// A segment as an admin or marketer defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentDef {
    pub name: String,
    /// `contact` or `company`.
    pub object: String,
    /// `dynamic` or `static`.
    #[serde(default = "dynamic")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Json>,
    #[serde(default)]
    pub conditions: Vec<SegmentCondition>,
}

/// A segment as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub id: String,
    #[serde(flatten)]
    pub definition: SegmentDef,
    pub created_at: String,
    pub updated_at: String,
}

/// Everything wrong with a definition (the filter checked against the object as it is now).
pub async fn check(db: &Db, def: &SegmentDef) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = def.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "required"));
    }
    if !["contact", "company"].contains(&def.object.as_str()) {
        errors.push(FieldError::new("object", "invalid_option"));
    }
    if !["dynamic", "static"].contains(&def.kind.as_str()) {
        errors.push(FieldError::new("kind", "invalid_option"));
    }
    if def.conditions.len() > 10 {
        errors.push(FieldError::new("conditions", "too_many"));
    }
    if let (Some(f), Ok(obj)) = (&def.filter, db.object(&def.object).await)
        && let Err(e) = parse_filter(&obj, f)
    {
        errors.push(FieldError::with("filter", e.code, e.params));
    }
    let days_ok = |d: i64| (1..=3650).contains(&d);
    for (i, c) in def.conditions.iter().enumerate() {
        let at = |f: &str| format!("conditions.{i}.{f}");
        match c {
            SegmentCondition::SpentMore { amount, days, currency } => {
                if peyvand_records::decimal::Decimal::parse(amount, 6).map_or(true, |d| d.units < 0) {
                    errors.push(FieldError::new(&at("amount"), "invalid_number"));
                }
                if currency.len() != 3 {
                    errors.push(FieldError::new(&at("currency"), "invalid_currency"));
                }
                if !days_ok(*days) {
                    errors.push(FieldError::new(&at("days"), "out_of_range"));
                }
            }
            SegmentCondition::BoughtWithin { days } | SegmentCondition::NoOrderFor { days } => {
                if !days_ok(*days) {
                    errors.push(FieldError::new(&at("days"), "out_of_range"));
                }
            }
            SegmentCondition::BoughtCategory { category, days } => {
                if category.trim().is_empty() {
                    errors.push(FieldError::new(&at("category"), "required"));
                } else if category.chars().count() > 100 {
                    errors.push(FieldError::with(&at("category"), "too_long", json!({ "max": 100 })));
                }
                if days.is_some_and(|d| !days_ok(d)) {
                    errors.push(FieldError::new(&at("days"), "out_of_range"));
                }
            }
            SegmentCondition::Consented { channel } => {
                if !crate::customers::consent::CHANNELS.contains(&channel.as_str()) {
                    errors.push(FieldError::new(&at("channel"), "invalid_option"));
                }
                if def.object != "contact" {
                    errors.push(FieldError::new(&at("kind"), "contacts_only"));
                }
            }
            SegmentCondition::LoyaltyTier { program, tier } => {
                match loyalty::programs::get(db, program).await {
                    Ok(p) if p.definition.tier(tier).is_some() => {}
                    Ok(_) => errors.push(FieldError::new(&at("tier"), "invalid_option")),
                    Err(_) => errors.push(FieldError::new(&at("program"), "unknown_program")),
                }
                if def.object != "contact" {
                    errors.push(FieldError::new(&at("kind"), "contacts_only"));
                }
            }
        }
    }
    errors
}

fn parse(id: String, json: &str, created_at: String, updated_at: String) -> Result<Segment> {
    let definition = serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("a segment's definition: {e}")))?;
    Ok(Segment { id, definition, created_at, updated_at })
}

pub async fn list(db: &Db) -> Result<Vec<Segment>> {
    let rows = sqlx::query("SELECT id, definition_json, created_at, updated_at FROM segments ORDER BY id")
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| parse(r.try_get(0)?, &r.try_get::<String, _>(1)?, r.try_get(2)?, r.try_get(3)?)).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Segment> {
    let r = sqlx::query("SELECT id, definition_json, created_at, updated_at FROM segments WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("segment {id}")))?;
    parse(r.try_get(0)?, &r.try_get::<String, _>(1)?, r.try_get(2)?, r.try_get(3)?)
}

/// Saves a segment (new when `id` is none) after checking it.
pub async fn save(db: &Db, id: Option<&str>, def: SegmentDef) -> Result<Segment> {
    let mut def = def;
    def.name = def.name.trim().to_string();
    let errors = check(db, &def).await;
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let json = serde_json::to_string(&def).map_err(|e| Error::Corrupt(e.to_string()))?;
    let at = now();
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let n = sqlx::query("UPDATE segments SET definition_json = $1, updated_at = $2 WHERE id = $3")
                .bind(json)
                .bind(at)
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(Error::NotFound(format!("segment {id}")));
            }
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query("INSERT INTO segments (id, definition_json, created_at, updated_at) VALUES ($1, $2, $3, $3)")
                .bind(id.clone())
                .bind(json)
                .bind(at)
                .execute(&mut *tx.tx)
                .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

/// Adds or removes members of a static segment (records of its object the handle may read).
pub async fn set_members(db: &Db, id: &str, add: &[String], remove: &[String]) -> Result<i64> {
    let seg = get(db, id).await?;
    if seg.definition.kind != "static" {
        return Err(Error::invalid(FieldError::new("kind", "not_static")));
    }
    if add.len() + remove.len() > 10_000 {
        return Err(Error::invalid(FieldError::new("add", "too_many")));
    }
    let found = db.titles(&seg.definition.object, add).await?;
    if let Some(missing) = add.iter().find(|a| !found.contains_key(*a)) {
        return Err(Error::invalid(FieldError::with("add", "invalid_reference", json!({ "id": missing }))));
    }
    let at = now();
    let mut tx = db.write().await?;
    for r in add {
        sqlx::query(
            "INSERT INTO segment_members (segment_id, record_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id.to_string())
        .bind(r.clone())
        .bind(at.clone())
        .execute(&mut *tx.tx)
        .await?;
    }
    for r in remove {
        sqlx::query("DELETE FROM segment_members WHERE segment_id = $1 AND record_id = $2")
            .bind(id.to_string())
            .bind(r.clone())
            .execute(&mut *tx.tx)
            .await?;
    }
    tx.commit().await?;
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM segment_members WHERE segment_id = $1")
        .bind(id.to_string())
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    Ok(n)
}

/// A filter on orders as JSON, parsed against the order object.
async fn order_filter(db: &Db, json: Json) -> Result<Filter> {
    let orders = db.object("order").await?;
    parse_filter(&orders, &json).map_err(Error::invalid)
}

/// The start of the business's day `days` ago, as an instant.
fn since(db: &Db, days: i64) -> String {
    let day = db.today() - time::Duration::days(days);
    peyvand_records::value::format_datetime(
        day.midnight().assume_offset(db.local_offset()).to_offset(time::UtcOffset::UTC),
    )
}

fn counted() -> Json {
    json!({ "field": "status", "op": "in", "value": ["pending", "paid", "part_shipped", "shipped", "delivered"] })
}

/// The ids one condition allows (`positive`), or excludes (`!positive`).
/// With `only`, just whether that record is allowed or excluded (its orders, consents and
/// memberships alone are read).
async fn condition_ids(
    db: &Db,
    object: &str,
    c: &SegmentCondition,
    only: Option<&str>,
) -> Result<(bool, HashSet<String>)> {
    let mine = |mut all: Vec<Json>| {
        if let Some(id) = only {
            all.push(json!({ "field": object, "op": "eq", "value": id }));
        }
        json!({ "and": all })
    };
    let recent =
        |days: i64| mine(vec![counted(), json!({ "field": "ordered_at", "op": "gte", "value": since(db, days) })]);
    Ok(match c {
        SegmentCondition::SpentMore { amount, currency, days } => {
            let filter = order_filter(db, recent(*days)).await?;
            let orders = db.object("order").await?;
            let Filter::Cond(sum) = parse_filter(&orders, &json!({ "field": "total", "op": "gt", "value": amount }))
                .map_err(Error::invalid)?
            else {
                return Err(Error::Corrupt("a sum's condition".into()));
            };
            let sum: Condition = sum;
            (true, db.related_ids("order", object, Some(&filter), &Having::Sum(&sum, Some(currency))).await?)
        }
        SegmentCondition::BoughtWithin { days } => {
            let filter = order_filter(db, recent(*days)).await?;
            (true, db.related_ids("order", object, Some(&filter), &Having::Any).await?)
        }
        SegmentCondition::NoOrderFor { days } => {
            let filter = order_filter(db, recent(*days)).await?;
            (false, db.related_ids("order", object, Some(&filter), &Having::Any).await?)
        }
        SegmentCondition::BoughtCategory { category, days } => {
            let mut products = Vec::new();
            let products_filter = parse_filter(
                &*db.object("product").await?,
                &json!({ "field": "category", "op": "eq", "value": category }),
            )
            .map_err(Error::invalid)?;
            let mut cursor = None;
            loop {
                let q = ListQuery {
                    filter: Some(products_filter.clone()),
                    sort: Vec::new(),
                    limit: Some(500),
                    cursor,
                    trash: false,
                    with_total: false,
                    exact_total: false,
                    fields: Some(Vec::new()),
                };
                let page = db.list_records("product", &q).await?;
                products.extend(page.records.into_iter().map(|r| r.id));
                match page.next_cursor {
                    Some(c) if products.len() < 5000 => cursor = Some(c),
                    _ => break,
                }
            }
            let mut found = HashSet::new();
            for chunk in products.chunks(200) {
                let mut all = vec![counted(), json!({ "field": "product", "op": "in", "value": chunk })];
                if let Some(d) = days {
                    all.push(json!({ "field": "ordered_at", "op": "gte", "value": since(db, *d) }));
                }
                let filter = order_filter(db, mine(all)).await?;
                found.extend(db.related_ids("order", object, Some(&filter), &Having::Any).await?);
            }
            (true, found)
        }
        SegmentCondition::Consented { channel } => {
            let rows = sqlx::query(
                "SELECT contact_id FROM consents WHERE channel = $1 AND status = 'granted' AND ($2 = '' OR contact_id = $2)",
            )
            .bind(channel.clone())
            .bind(only.unwrap_or_default().to_string())
            .fetch_all(db.pool())
            .await?;
            (true, rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()?)
        }
        SegmentCondition::LoyaltyTier { program, tier } => {
            let rows = sqlx::query(
                "SELECT contact_id FROM loyalty_members WHERE program_id = $1 AND tier = $2 AND ($3 = '' OR contact_id = $3)",
            )
            .bind(program.clone())
            .bind(tier.clone())
            .bind(only.unwrap_or_default().to_string())
            .fetch_all(db.pool())
            .await?;
            (true, rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()?)
        }
    })
}

/// A segment's list filter, parsed; one naming a removed field is `segment_filter_broken`.
async fn record_filter(db: &Db, def: &SegmentDef) -> Result<Option<Filter>> {
    let obj = db.object(&def.object).await?;
    def.filter
        .as_ref()
        .map(|f| {
            parse_filter(&obj, f).map_err(|e| {
                Error::invalid(FieldError::with(
                    "filter",
                    "segment_filter_broken",
                    json!({ "detail": e.code, "field": e.field }),
                ))
            })
        })
        .transpose()
}

/// Whether one record is a member of a segment now, as the handle may read it: what
/// [`members`] would say of it, reading only its own orders, consents and memberships.
pub async fn contains(db: &Db, seg: &Segment, id: &str) -> Result<bool> {
    let def = &seg.definition;
    if def.kind == "static" {
        let kept = sqlx::query("SELECT 1 FROM segment_members WHERE segment_id = $1 AND record_id = $2")
            .bind(seg.id.clone())
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
        if kept.is_none() {
            return Ok(false);
        }
    }
    for c in &def.conditions {
        let (positive, ids) = condition_ids(db, &def.object, c, Some(id)).await?;
        if positive != ids.contains(id) {
            return Ok(false);
        }
    }
    let obj = db.object(&def.object).await?;
    let by_id = parse_filter(&obj, &json!({ "field": "id", "op": "eq", "value": id })).map_err(Error::invalid)?;
    let filter = match record_filter(db, def).await? {
        Some(f) => Filter::And(vec![f, by_id]),
        None => by_id,
    };
    let q = ListQuery { filter: Some(filter), limit: Some(1), fields: Some(Vec::new()), ..ListQuery::default() };
    Ok(!db.list_records(&def.object, &q).await?.records.is_empty())
}

/// A condition on orders as a filter on the record's kept last order (`sales::last_order`),
/// where the object keeps one and the handle may filter on it: recent buyers are an index
/// range, not every recent order read. (A role the field is hidden from reads the orders: the
/// condition is the segment's, not the user's filter on a field they may not see.)
async fn kept_condition(db: &Db, object: &str, c: &SegmentCondition) -> Result<Option<Filter>> {
    let obj = db.object(object).await?;
    let field = crate::sales::last_order::FIELD;
    let hidden =
        db.viewer().is_some_and(|v| v.field_access(object, field) == peyvand_records::access::FieldAccess::Hidden);
    if obj.field(field).is_none() || hidden {
        return Ok(None);
    }
    let json = match c {
        SegmentCondition::BoughtWithin { days } => json!({ "field": field, "op": "gte", "value": since(db, *days) }),
        SegmentCondition::NoOrderFor { days } => json!({ "or": [
            { "field": field, "op": "lt", "value": since(db, *days) },
            { "field": field, "op": "is_empty", "value": true },
        ]}),
        _ => return Ok(None),
    };
    parse_filter(&obj, &json).map(Some).map_err(Error::invalid)
}

/// A segment's filter on its records alone, when that is all it is: not static, and each
/// condition kept on the record (recent buyers, lapsed ones). `None` otherwise.
async fn record_only_filter(db: &Db, seg: &Segment) -> Result<Option<Option<Filter>>> {
    let def = &seg.definition;
    if def.kind == "static" {
        return Ok(None);
    }
    let mut filters: Vec<Filter> = record_filter(db, def).await?.into_iter().collect();
    for c in &def.conditions {
        match kept_condition(db, &def.object, c).await? {
            Some(kept) => filters.push(kept),
            None => return Ok(None),
        }
    }
    Ok(Some(all_of(filters)))
}

/// Filters that must all hold, as one (none: no filter).
fn all_of(mut filters: Vec<Filter>) -> Option<Filter> {
    match filters.len() {
        0 => None,
        1 => filters.pop(),
        _ => Some(Filter::And(filters)),
    }
}

/// How many members a segment has now, as the handle may read them, and the first `limit`
/// (id, title): the segment's page and its API. A segment made of its records' fields alone is
/// counted by the database and its first members read as a list's page (a million contacts'
/// recent buyers: one count of an index range, not 213,000 ids fetched to count them).
pub async fn count_and_first(db: &Db, seg: &Segment, limit: usize) -> Result<(usize, Vec<(String, String)>)> {
    let object = &seg.definition.object;
    if let Some(filter) = record_only_filter(db, seg).await? {
        let q = ListQuery {
            filter,
            limit: Some(limit.clamp(1, 500) as u32),
            with_total: true,
            exact_total: true,
            fields: Some(Vec::new()),
            ..ListQuery::default()
        };
        let page = db.list_records(object, &q).await?;
        let first = page.records.into_iter().take(limit).map(|r| (r.id, r.title)).collect();
        return Ok((page.total.unwrap_or(0).max(0) as usize, first));
    }
    let all = members(db, seg).await?;
    let ids: Vec<String> = all.iter().take(limit).cloned().collect();
    let titles = db.titles(object, &ids).await?;
    let first = ids.into_iter().filter_map(|id| titles.get(&id).cloned().map(|t| (id, t))).collect();
    Ok((all.len(), first))
}

/// Every member of a segment now, as the handle may read them (ids, in id order). A filter
/// naming a removed field is refused with `segment_filter_broken`.
pub async fn members(db: &Db, seg: &Segment) -> Result<Vec<String>> {
    let def = &seg.definition;
    let mut filters: Vec<Filter> = record_filter(db, def).await?.into_iter().collect();
    let mut allowed: Option<HashSet<String>> = None;
    let mut excluded: HashSet<String> = HashSet::new();
    if def.kind == "static" {
        let rows = sqlx::query("SELECT record_id FROM segment_members WHERE segment_id = $1")
            .bind(seg.id.clone())
            .fetch_all(db.pool())
            .await?;
        let ids: HashSet<String> =
            rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()?;
        allowed = Some(ids);
    }
    for c in &def.conditions {
        if let Some(kept) = kept_condition(db, &def.object, c).await? {
            filters.push(kept);
            continue;
        }
        let (positive, ids) = condition_ids(db, &def.object, c, None).await?;
        if positive {
            allowed = Some(match allowed {
                Some(a) => a.intersection(&ids).cloned().collect(),
                None => ids,
            });
        } else {
            excluded.extend(ids);
        }
    }
    let filter = all_of(filters);
    let mut out: Vec<String> = Vec::new();
    match (&filter, allowed) {
        // The conditions name the candidates: those live and readable are the members.
        (None, Some(candidates)) => {
            let mut ids: Vec<String> = candidates.into_iter().filter(|i| !excluded.contains(i)).collect();
            ids.sort();
            let obj = db.object(&def.object).await?;
            for chunk in ids.chunks(500) {
                let by_id = parse_filter(&obj, &json!({ "field": "id", "op": "in", "value": chunk }))
                    .map_err(Error::invalid)?;
                out.extend(db.matching_ids(&def.object, Some(&by_id)).await?);
            }
        }
        // Otherwise every record the filter finds, kept if the conditions allow.
        (_, allowed) => {
            let found = db.matching_ids(&def.object, filter.as_ref()).await?;
            out.extend(
                found
                    .into_iter()
                    .filter(|id| allowed.as_ref().is_none_or(|a| a.contains(id)) && !excluded.contains(id)),
            );
        }
    }
    Ok(out)
}
