//! The customer 360's timeline: one story of a contact or a company, newest first, merged from
//! what happened around them — their activities (e-mails apart), changes to their own fields,
//! their deals' moves between stages, their quotes and their orders. A company's timeline rolls
//! up its contacts'. Everything is read as the handle's user may see it: records out of their
//! reach are not there, and a change of a field hidden from them is not shown.
//!
//! Each source is read by keyset from the cursor (the last entry's instant and id), at most one
//! page plus one entry each, and the sources merged; so a page costs the same at the start of a
//! long story as deep in it.

use crate::sales::pipelines;
use peyvand_records::FieldError;
use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_records::value::parse_datetime;
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Error, Result};
use serde::Serialize;
use serde_json::{Value as Json, json};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A call, meeting, visit, chat, SMS, social message or note.
    Activity,
    /// An e-mail (an activity of that channel).
    Email,
    /// The customer's own fields changed (or the customer was made).
    Change,
    /// One of their deals entered a stage.
    Stage,
    Quote,
    Order,
    /// A complaint, request, question or return (the service module's tickets).
    Ticket,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Activity, Kind::Email, Kind::Change, Kind::Stage, Kind::Quote, Kind::Order, Kind::Ticket];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Activity => "activity",
            Kind::Email => "email",
            Kind::Change => "change",
            Kind::Stage => "stage",
            Kind::Quote => "quote",
            Kind::Order => "order",
            Kind::Ticket => "ticket",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of the timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub kind: Kind,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// The entry's own id (an activity's, an audit entry's, a stage stay's, a document's).
    pub id: String,
    /// The record it is about and its title: the activity, the customer whose fields changed,
    /// the deal, the quote, the order.
    pub object: String,
    pub record_id: String,
    pub title: String,
    /// The user who did it, when one did: the activity's owner, who changed the fields, who
    /// moved the deal, the document's owner.
    pub by: Option<String>,
    /// What each kind adds: an activity its `channel` and `direction`; a change its `action`
    /// and `changes` (`field`, `old`, `new`); a stage its `pipeline`, `stage` and the stage's
    /// `label_fa`/`label_en`; a quote or an order its `status`, `total` and `currency`.
    pub detail: Json,
}

/// One page of a timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<String>,
}

/// What to read.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only these kinds (all when empty).
    pub kinds: Vec<Kind>,
    /// From where the previous page ended.
    pub cursor: Option<String>,
    /// Entries per page (see [`MAX_PAGE`]).
    pub limit: u32,
}

/// Most entries in a page.
pub const MAX_PAGE: u32 = 100;
/// Most contacts of a company whose stories roll up into the company's (the first by id).
pub const MAX_ROLLED_UP: u32 = 500;
/// Most deals of a customer whose stage moves are read.
const MAX_DEALS: u32 = 500;

/// Where a page starts: after the entry at `at` with id `id` (newest first).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cursor {
    at: String,
    id: String,
}

impl Cursor {
    fn encode(&self) -> String {
        format!("{}~{}", self.at, self.id)
    }

    fn decode(s: &str) -> Option<Cursor> {
        let (at, id) = s.split_once('~')?;
        let valid_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        // The instant must be one the store writes, so that text order is time order.
        let at = parse_datetime(at).map(peyvand_records::value::format_datetime)?;
        valid_id.then(|| Cursor { at, id: id.to_string() })
    }
}

/// Whose story a timeline tells: the customer, and the contacts it rolls up.
struct Subject {
    object: String,
    id: String,
    /// For a company, its contacts (at most [`MAX_ROLLED_UP`]); for a contact, none.
    contacts: Vec<String>,
}

impl Subject {
    /// The filters on an object with `contact` and `company` relations that find this subject's
    /// records, each read on its own (an `or` of two relations would read the whole table; each
    /// alone is an index range).
    fn links(&self) -> Vec<Json> {
        if self.object == "contact" {
            return vec![json!({ "field": "contact", "op": "eq", "value": self.id })];
        }
        let mut all = vec![json!({ "field": "company", "op": "eq", "value": self.id })];
        if !self.contacts.is_empty() {
            all.push(json!({ "field": "contact", "op": "in", "value": self.contacts }));
        }
        all
    }

    /// The customers whose own changes are on the timeline.
    fn changed(&self) -> Vec<(&str, &str)> {
        let mut all = vec![(self.object.as_str(), self.id.as_str())];
        all.extend(self.contacts.iter().map(|c| ("contact", c.as_str())));
        all
    }
}

/// The timeline of a `contact` or a `company` (404 for another object or a record the handle's
/// user may not read). A bad cursor or page size is a validation error.
pub async fn timeline(db: &Db, object: &str, id: &str, query: &Query) -> Result<Page> {
    if !matches!(object, "contact" | "company") {
        return Err(Error::NotFound(format!("{object}/{id}")));
    }
    db.get_record(object, id, false).await?;
    if query.limit == 0 || query.limit > MAX_PAGE {
        return Err(Error::invalid(FieldError::with("limit", "out_of_range", json!({ "min": 1, "max": MAX_PAGE }))));
    }
    let cursor = match &query.cursor {
        None => None,
        Some(c) => Some(Cursor::decode(c).ok_or_else(|| Error::invalid(FieldError::new("cursor", "invalid_cursor")))?),
    };
    let contacts = if object == "company" { company_contacts(db, id).await? } else { Vec::new() };
    let subject = Subject { object: object.to_string(), id: id.to_string(), contacts };
    let wanted = |k: Kind| query.kinds.is_empty() || query.kinds.contains(&k);
    // Each source gives at most a page and one more; whether one had more than it gave.
    let take = query.limit + 1;
    let mut entries = Vec::new();
    let mut more = false;
    let catalog = db.visible_catalog().await?;
    if (wanted(Kind::Activity) || wanted(Kind::Email)) && catalog.object("activity").is_some() {
        let channel = match (wanted(Kind::Activity), wanted(Kind::Email)) {
            (true, true) => None,
            (false, true) => Some(json!({ "field": "kind", "op": "eq", "value": "email" })),
            _ => Some(json!({ "field": "kind", "op": "ne", "value": "email" })),
        };
        // And those the contact took part in without being their contact.
        let also = if object == "contact" {
            crate::activities::participants::of_contact(db, id, peyvand_records::filter::MAX_IN_VALUES as u32).await?
        } else {
            Vec::new()
        };
        let found = records(db, "activity", "occurred_at", &subject, &also, channel, cursor.as_ref(), take).await?;
        more |= found.len() as u32 == take;
        entries.extend(found.into_iter().map(|r| {
            let channel = r.fields.get("kind").cloned().unwrap_or(Json::Null);
            Entry {
                kind: if channel == "email" { Kind::Email } else { Kind::Activity },
                at: text(&r, "occurred_at"),
                by: owner(&r),
                detail: json!({ "channel": channel, "direction": r.fields.get("direction").cloned().unwrap_or(Json::Null) }),
                object: "activity".into(),
                id: r.id.clone(),
                record_id: r.id,
                title: r.title,
            }
        }));
    }
    for (kind, object, at) in [(Kind::Quote, "quote", "created_at"), (Kind::Order, "order", "ordered_at")] {
        if !wanted(kind) || catalog.object(object).is_none() {
            continue;
        }
        let found = records(db, object, at, &subject, &[], None, cursor.as_ref(), take).await?;
        more |= found.len() as u32 == take;
        entries.extend(found.into_iter().map(|r| Entry {
            kind,
            at: if at == "created_at" { r.created_at.clone() } else { text(&r, at) },
            by: owner(&r),
            detail: json!({
                "status": r.fields.get("status").cloned().unwrap_or(Json::Null),
                "total": r.fields.get("total").cloned().unwrap_or(Json::Null),
                "currency": r.fields.get("currency").cloned().unwrap_or(Json::Null),
            }),
            object: object.into(),
            id: r.id.clone(),
            record_id: r.id,
            title: r.title,
        }));
    }
    // Tickets meet this module in records: found by their object's name, not by its module.
    if wanted(Kind::Ticket) && catalog.object("ticket").is_some() {
        let found = records(db, "ticket", "opened_at", &subject, &[], None, cursor.as_ref(), take).await?;
        more |= found.len() as u32 == take;
        entries.extend(found.into_iter().map(|r| {
            let field = |f: &str| r.fields.get(f).cloned().unwrap_or(Json::Null);
            Entry {
                kind: Kind::Ticket,
                at: text(&r, "opened_at"),
                by: owner(&r),
                detail: json!({ "number": field("number"), "status": field("status"), "priority": field("priority"), "type": field("kind") }),
                object: "ticket".into(),
                id: r.id.clone(),
                record_id: r.id,
                title: r.title,
            }
        }));
    }
    if wanted(Kind::Stage) && catalog.object("deal").is_some() {
        let (found, full) = stages(db, &subject, cursor.as_ref(), take).await?;
        more |= full;
        entries.extend(found);
    }
    if wanted(Kind::Change) {
        let (found, full) = changes(db, &subject, cursor.as_ref(), take).await?;
        more |= full;
        entries.extend(found);
    }
    entries.sort_by(|a, b| (&b.at, &b.id).cmp(&(&a.at, &a.id)));
    more |= entries.len() > query.limit as usize;
    entries.truncate(query.limit as usize);
    let next = entries.last().filter(|_| more).map(|e| Cursor { at: e.at.clone(), id: e.id.clone() }.encode());
    Ok(Page { entries, next })
}

/// A company's contacts the handle's user may read, the first [`MAX_ROLLED_UP`] by id.
async fn company_contacts(db: &Db, company: &str) -> Result<Vec<String>> {
    let Ok(obj) = db.visible_object("contact").await else { return Ok(Vec::new()) };
    if obj.field("company").is_none() {
        return Ok(Vec::new());
    }
    let query = ListQuery {
        filter: Some(
            parse_filter(&obj, &json!({ "field": "company", "op": "eq", "value": company })).map_err(Error::invalid)?,
        ),
        sort: parse_sort(&obj, "id").map_err(Error::invalid)?,
        limit: Some(MAX_ROLLED_UP),
        fields: Some(Vec::new()),
        ..ListQuery::default()
    };
    Ok(db.list_records("contact", &query).await?.records.into_iter().map(|r| r.id).collect())
}

/// The subject's records of `object` (which has `contact` and `company` relations) and those
/// of ids `also`, newest by `at` first, after the cursor; `extra` narrows them.
#[allow(clippy::too_many_arguments)]
async fn records(
    db: &Db,
    object: &str,
    at: &str,
    subject: &Subject,
    also: &[String],
    extra: Option<Json>,
    cursor: Option<&Cursor>,
    take: u32,
) -> Result<Vec<Record>> {
    let obj = db.visible_object(object).await?;
    if obj.field("contact").is_none() || obj.field("company").is_none() {
        return Ok(Vec::new());
    }
    let mut links = subject.links();
    if !also.is_empty() {
        links.push(json!({ "field": "id", "op": "in", "value": also }));
    }
    let fields = ["kind", "direction", "status", "total", "currency", "number", "priority", at, "owner"];
    let when = |r: &Record| if at == "created_at" { r.created_at.clone() } else { text(r, at) };
    let mut found: Vec<Record> = Vec::new();
    for link in links {
        let mut all = vec![link];
        all.extend(extra.clone());
        if let Some(c) = cursor {
            all.push(json!({ "or": [
                { "field": at, "op": "lt", "value": c.at },
                { "and": [{ "field": at, "op": "eq", "value": c.at }, { "field": "id", "op": "lt", "value": c.id }] },
            ] }));
        }
        let query = ListQuery {
            filter: Some(parse_filter(&obj, &json!({ "and": all })).map_err(Error::invalid)?),
            sort: parse_sort(&obj, &format!("-{at},-id")).map_err(Error::invalid)?,
            limit: Some(take),
            fields: Some(fields.iter().filter(|f| obj.field(f).is_some()).map(|f| f.to_string()).collect()),
            ..ListQuery::default()
        };
        for r in db.list_records(object, &query).await?.records {
            if !found.iter().any(|f| f.id == r.id) {
                found.push(r);
            }
        }
    }
    found.sort_by(|a, b| (when(b), &b.id).cmp(&(when(a), &a.id)));
    found.truncate(take as usize);
    Ok(found)
}

/// The subject's deals' entries into stages, newest first, after the cursor; and whether there
/// were more than `take`.
async fn stages(db: &Db, subject: &Subject, cursor: Option<&Cursor>, take: u32) -> Result<(Vec<Entry>, bool)> {
    let obj = db.visible_object("deal").await?;
    if obj.field("contact").is_none() || obj.field("company").is_none() {
        return Ok((Vec::new(), false));
    }
    let mut deals: HashMap<String, String> = HashMap::new();
    for link in subject.links() {
        let query = ListQuery {
            filter: Some(parse_filter(&obj, &link).map_err(Error::invalid)?),
            limit: Some(MAX_DEALS),
            fields: Some(Vec::new()),
            ..ListQuery::default()
        };
        deals.extend(db.list_records("deal", &query).await?.records.into_iter().map(|r| (r.id, r.title)));
    }
    if deals.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut sql = String::from(
        "SELECT id, deal_id, pipeline, stage, entered_at, entered_by FROM deal_stage_history WHERE deal_id IN (",
    );
    let mut n = 0;
    for _ in &deals {
        n += 1;
        sql.push_str(&format!("{}${n}", if n > 1 { ", " } else { "" }));
    }
    sql.push(')');
    if cursor.is_some() {
        sql.push_str(&format!(" AND (entered_at < ${a} OR (entered_at = ${a} AND id < ${b}))", a = n + 1, b = n + 2));
    }
    sql.push_str(&format!(" ORDER BY entered_at DESC, id DESC LIMIT {take}"));
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for id in deals.keys() {
        q = q.bind(id.clone());
    }
    if let Some(c) = cursor {
        q = q.bind(c.at.clone()).bind(c.id.clone());
    }
    let rows = q.fetch_all(db.pool()).await?;
    let full = rows.len() as u32 == take;
    let pipelines = pipelines::list(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (deal, pipeline, stage): (String, String, String) = (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let found = pipelines.iter().find(|p| p.key == pipeline).and_then(|p| p.stage(&stage));
        out.push(Entry {
            kind: Kind::Stage,
            id: r.try_get(0)?,
            at: r.try_get(4)?,
            by: r.try_get(5)?,
            object: "deal".into(),
            title: deals.get(&deal).cloned().unwrap_or_default(),
            record_id: deal,
            detail: json!({
                "pipeline": pipeline,
                "stage": stage,
                "label_fa": found.map(|s| s.label("fa")),
                "label_en": found.map(|s| s.label("en")),
            }),
        });
    }
    Ok((out, full))
}

/// Changes to the subject's own fields (and its contacts', for a company), newest first, after
/// the cursor, without the fields hidden from the reader; and whether there were more than
/// `take`.
async fn changes(db: &Db, subject: &Subject, cursor: Option<&Cursor>, take: u32) -> Result<(Vec<Entry>, bool)> {
    let changed = subject.changed();
    let mut sql = String::from(
        "SELECT id, object, record_id, action, actor, at, changes_json FROM audit_log WHERE record_id IN (",
    );
    for n in 1..=changed.len() {
        sql.push_str(&format!("{}${n}", if n > 1 { ", " } else { "" }));
    }
    sql.push_str(") AND action IN ('create', 'update', 'delete', 'restore')");
    let n = changed.len();
    if cursor.is_some() {
        sql.push_str(&format!(" AND (at < ${a} OR (at = ${a} AND id < ${b}))", a = n + 1, b = n + 2));
    }
    sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT {take}"));
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for (_, id) in &changed {
        q = q.bind(id.to_string());
    }
    if let Some(c) = cursor {
        q = q.bind(c.at.clone()).bind(c.id.clone());
    }
    let rows = q.fetch_all(db.pool()).await?;
    let full = rows.len() as u32 == take;
    let mut titles: HashMap<String, String> = HashMap::new();
    if subject.object == "company" {
        let contacts: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(1).ok().filter(|o| o == "contact").and(r.try_get(2).ok()))
            .collect();
        titles = db.titles("contact", &contacts).await?;
    }
    titles.extend(db.titles(&subject.object, std::slice::from_ref(&subject.id)).await?);
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (object, record_id, action): (String, String, String) = (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        // Only the subject and its contacts (an id is unique across objects, but be exact).
        if !changed.iter().any(|(o, id)| *o == object && *id == record_id) {
            continue;
        }
        let hidden: Vec<&str> = db.viewer().map(|v| v.hidden_fields(&object).collect()).unwrap_or_default();
        let text: String = r.try_get(6)?;
        let mut list = match serde_json::from_str(&text) {
            Ok(Json::Array(list)) => list,
            _ => Vec::new(),
        };
        list.retain(|c| c["field"].as_str().is_some_and(|f| !hidden.contains(&f)));
        // A change only of what the reader may not see is not theirs to see.
        if action == "update" && list.is_empty() {
            continue;
        }
        out.push(Entry {
            kind: Kind::Change,
            id: r.try_get(0)?,
            at: r.try_get(5)?,
            by: r.try_get(4)?,
            title: titles.get(&record_id).cloned().unwrap_or_default(),
            object,
            record_id,
            detail: json!({ "action": action, "changes": list }),
        });
    }
    Ok((out, full))
}

fn text(r: &Record, field: &str) -> String {
    r.fields.get(field).and_then(|v| v.as_str()).unwrap_or_default().to_string()
}

fn owner(r: &Record) -> Option<String> {
    r.fields.get("owner").and_then(|v| v.as_str()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_the_store_never_wrote() {
        let c = Cursor { at: "2026-12-05T08:30:00.000001Z".into(), id: "01JABCDEF".into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c.clone()));
        // Another spelling of the same instant is read as the store's.
        assert_eq!(Cursor::decode("2026-12-05T12:00:00.000001+03:30~01JABCDEF"), Some(c.clone()));
        for bad in ["", "~", "2026-12-05~x", "2026-12-05T08:30:00Z~", "2026-12-05T08:30:00Z~a'b", "nonsense"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
