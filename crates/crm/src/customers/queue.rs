//! The duplicates queue: a batch scan of every live contact, company or lead finds the pairs
//! that share an e-mail, a phone or a name that reads the same (`merge::name_key`), and keeps
//! them for someone to merge or mark as not duplicates. The scan runs as a scheduled job
//! (`duplicates`), so a million records take their minute or two away from any request.
//!
//! It reads the records a page at a time and keeps, per record, only a 64-bit hash of each key
//! and the record's place in a list of ids; sorting the (key, record) pairs brings each group
//! together. A group of more than [`MAX_GROUP`] records (a very common name) says too little to
//! list as pairs, and is counted instead.

use super::merge::name_key;
use super::name_keys;
use peyvand_records::filter::parse_sort;
use peyvand_records::{FieldDef, FieldError, Value};
use peyvand_store::events::Job;
use peyvand_store::records::ListQuery;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, now};
use serde::Serialize;
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// The objects the queue scans.
pub const OBJECTS: [&str; 3] = ["contact", "company", "lead"];
/// The kind of scheduled job a scan is.
pub const SCAN_JOB: &str = "duplicates";
/// Most records of one group listed as pairs.
pub const MAX_GROUP: usize = 8;
/// Records read per page.
const PAGE: u32 = 500;

/// Why two records may be one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    Email = 0,
    Phone = 1,
    Name = 2,
}

impl Reason {
    fn as_str(self) -> &'static str {
        ["email", "phone", "name"][self as usize]
    }
}

/// What a scan saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Scan {
    pub object: String,
    pub scanned_at: String,
    pub records: i64,
    pub pairs: i64,
    pub skipped_groups: i64,
    pub milliseconds: i64,
}

fn key_hash(reason: Reason, text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (reason as u8).hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::Text(s) => vec![s.clone()],
        Value::List(items) => items.clone(),
        _ => Vec::new(),
    }
}

fn refuse_object(object: &str) -> Result<()> {
    if OBJECTS.contains(&object) {
        Ok(())
    } else {
        Err(Error::invalid(FieldError::with("object", "invalid_option", json!({ "allowed": OBJECTS }))))
    }
}

/// After a bulk load, whose records set off no consumer (`peyvand generate`): an object scanned
/// before is scanned again, so its name keys cover the loaded records as their invariant says
/// (`name_keys`); one never scanned waits for its first scan, as before.
pub async fn rescan_after_bulk_load(db: &Db) -> Result<()> {
    for object in OBJECTS {
        if last_scan(db, object).await?.is_some() {
            scan(db, object).await?;
        }
    }
    Ok(())
}

/// Scans every live record of `object` and replaces its open pairs with those found (pairs
/// marked as not duplicates stay marked).
pub async fn scan(db: &Db, object: &str) -> Result<Scan> {
    refuse_object(object)?;
    let started = std::time::Instant::now();
    let db = db.system();
    let obj = db.object(object).await?;
    // The fields the keys are made of: e-mails, phones and the title's.
    let mut fields: Vec<(FieldDef, Option<Reason>)> = Vec::new();
    for (name, reason) in
        [("emails", Reason::Email), ("email", Reason::Email), ("phones", Reason::Phone), ("phone", Reason::Phone)]
    {
        if let Some(f) = obj.field(name) {
            fields.push((f.clone(), Some(reason)));
        }
    }
    for name in obj.title_field.split(' ') {
        if let Some(f) = obj.field(name) {
            fields.push((f.clone(), None));
        }
    }
    let defs: Vec<FieldDef> = fields.iter().map(|(f, _)| f.clone()).collect();
    let mut ids: Vec<String> = Vec::new();
    let mut keys: Vec<(u64, u32, Reason)> = Vec::new();
    // Each record's name key, for one record's check (`name_keys`).
    let mut names: Vec<(u32, String)> = Vec::new();
    let began = now();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            sort: parse_sort(&obj, "id").map_err(Error::invalid)?,
            limit: Some(PAGE),
            cursor: cursor.take(),
            fields: Some(defs.iter().map(|f| f.api_name.clone()).collect()),
            ..ListQuery::default()
        };
        let (rows, next) = db.list_values(object, &query, &defs).await?;
        for (id, values) in rows {
            let at = ids.len() as u32;
            ids.push(id);
            let mut name = Vec::new();
            for ((_, reason), value) in fields.iter().zip(&values) {
                match reason {
                    Some(r) => {
                        for t in texts(value) {
                            keys.push((key_hash(*r, &t.to_lowercase()), at, *r));
                        }
                    }
                    None => name.extend(texts(value)),
                }
            }
            let key = name_key(&name.join(" "));
            if name_keys::usable(&key) {
                keys.push((key_hash(Reason::Name, &key), at, Reason::Name));
                names.push((at, key));
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    keys.sort_unstable();
    let mut pairs: BTreeMap<(u32, u32), Vec<Reason>> = BTreeMap::new();
    let mut skipped = 0i64;
    let mut i = 0;
    while i < keys.len() {
        let mut j = i + 1;
        while j < keys.len() && keys[j].0 == keys[i].0 {
            j += 1;
        }
        let mut group: Vec<u32> = keys[i..j].iter().map(|k| k.1).collect();
        group.dedup();
        if group.len() > MAX_GROUP {
            skipped += 1;
        } else {
            for (x, &a) in group.iter().enumerate() {
                for &b in &group[x + 1..] {
                    let reasons = pairs.entry((a.min(b), a.max(b))).or_default();
                    if !reasons.contains(&keys[i].2) {
                        reasons.push(keys[i].2);
                    }
                }
            }
        }
        i = j;
    }
    let at = now();
    let mut tx = db.write_long().await?;
    sqlx::query("DELETE FROM duplicate_pairs WHERE object = $1 AND dismissed_at IS NULL")
        .bind(object.to_string())
        .execute(&mut *tx.tx)
        .await?;
    // Pairs someone marked as not duplicates stay so.
    let dismissed: std::collections::HashSet<(String, String)> =
        sqlx::query("SELECT a, b FROM duplicate_pairs WHERE object = $1 AND dismissed_at IS NOT NULL")
            .bind(object.to_string())
            .fetch_all(&mut *tx.tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_>>()?;
    let ordered = |(a, b): (u32, u32)| {
        let (a, b) = (ids[a as usize].clone(), ids[b as usize].clone());
        if a < b { (a, b) } else { (b, a) }
    };
    let all: Vec<((String, String), Vec<Reason>)> =
        pairs.into_iter().map(|(p, r)| (ordered(p), r)).filter(|(p, _)| !dismissed.contains(p)).collect();
    for chunk in all.chunks(200) {
        let mut sql = String::from("INSERT INTO duplicate_pairs (object, a, b, reasons, found_at) VALUES ");
        for (n, _) in chunk.iter().enumerate() {
            let p = n * 3;
            sql.push_str(&format!("{}($1, ${}, ${}, ${}, $2)", if n > 0 { ", " } else { "" }, p + 3, p + 4, p + 5));
        }
        sql.push_str(" ON CONFLICT (object, a, b) DO NOTHING");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(object.to_string()).bind(at.clone());
        for ((a, b), reasons) in chunk {
            let mut reasons = reasons.clone();
            reasons.sort();
            let text = reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
            q = q.bind(a.clone()).bind(b.clone()).bind(text);
        }
        q.execute(&mut *tx.tx).await?;
    }
    let scan = Scan {
        object: object.to_string(),
        scanned_at: at,
        records: ids.len() as i64,
        pairs: all.len() as i64,
        skipped_groups: skipped,
        milliseconds: started.elapsed().as_millis() as i64,
    };
    sqlx::query("DELETE FROM duplicate_scans WHERE object = $1").bind(object.to_string()).execute(&mut *tx.tx).await?;
    sqlx::query(
        "INSERT INTO duplicate_scans (object, scanned_at, records, pairs, skipped_groups, milliseconds) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(object.to_string())
    .bind(scan.scanned_at.clone())
    .bind(scan.records)
    .bind(scan.pairs)
    .bind(scan.skipped_groups)
    .bind(scan.milliseconds)
    .execute(&mut *tx.tx)
    .await?;
    let named: Vec<(&str, String)> = names.into_iter().map(|(at, key)| (ids[at as usize].as_str(), key)).collect();
    name_keys::replace_all(&mut tx, object, &named).await?;
    tx.commit().await?;
    // Records renamed while the scan read: their keeper may have written their new key before
    // the scan wrote the old one.
    let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {} WHERE deleted_at IS NULL AND updated_at >= $1 LIMIT 10000",
        obj.table
    )))
    .bind(began)
    .fetch_all(db.pool())
    .await?;
    for r in &changed {
        name_keys::refresh(&db, object, &r.try_get::<String, _>(0)?).await?;
    }
    tracing::info!(object, records = scan.records, pairs = scan.pairs, ms = scan.milliseconds, "duplicates scanned");
    Ok(scan)
}

/// The last scan of `object`, if there was one.
pub async fn last_scan(db: &Db, object: &str) -> Result<Option<Scan>> {
    let row = sqlx::query(
        "SELECT scanned_at, records, pairs, skipped_groups, milliseconds FROM duplicate_scans WHERE object = $1",
    )
    .bind(object.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Scan {
            object: object.to_string(),
            scanned_at: r.try_get(0)?,
            records: r.try_get(1)?,
            pairs: r.try_get(2)?,
            skipped_groups: r.try_get(3)?,
            milliseconds: r.try_get(4)?,
        })
    })
    .transpose()
}

/// Asks for a scan of `object` now (one waiting at a time); the runner does it.
pub async fn request_scan(db: &Db, object: &str) -> Result<String> {
    refuse_object(object)?;
    db.schedule_job(SCAN_JOB, Some(&format!("duplicates:{object}")), &now(), &json!({ "object": object })).await
}

/// The next nightly scan of `object`: a quarter past two, the business's time (keyed by it, so
/// every instance schedules the same one). Nightly scans keep the queue and the name keys whole.
pub(crate) async fn schedule_nightly_in(db: &Db, tx: &mut peyvand_store::WriteTx, object: &str) -> Result<()> {
    let at = crate::tomorrow_at(db, 2, 15);
    let payload = json!({ "object": object, "nightly": true });
    db.schedule_job_in(tx, SCAN_JOB, Some(&format!("duplicates:{object}:{at}")), &at, &payload).await?;
    Ok(())
}

/// One pair of the queue, as the reader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub a: String,
    pub a_title: String,
    pub b: String,
    pub b_title: String,
    pub reasons: Vec<String>,
    pub found_at: String,
}

/// The open pairs of `object` whose two records the handle's user may read (both still live),
/// after `after` (`a~b` of the last pair of a page), at most `limit`; and the next page's mark.
pub async fn pairs(db: &Db, object: &str, after: Option<&str>, limit: u32) -> Result<(Vec<Pair>, Option<String>)> {
    refuse_object(object)?;
    let limit = limit.clamp(1, 100);
    let (from_a, from_b) = after.and_then(|c| c.split_once('~')).unwrap_or(("", ""));
    let mut out = Vec::new();
    let (mut from_a, mut from_b) = (from_a.to_string(), from_b.to_string());
    // Pairs out of the reader's sight are passed over: read on until a page is full.
    loop {
        let rows = sqlx::query(
            "SELECT a, b, reasons, found_at FROM duplicate_pairs WHERE object = $1 AND dismissed_at IS NULL \
             AND (a > $2 OR (a = $2 AND b > $3)) ORDER BY a, b LIMIT $4",
        )
        .bind(object.to_string())
        .bind(from_a.clone())
        .bind(from_b.clone())
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            return Ok((out, None));
        }
        let mut ids: Vec<String> = Vec::new();
        let mut read: Vec<(String, String, String, String)> = Vec::new();
        for r in &rows {
            let (a, b): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            ids.push(a.clone());
            ids.push(b.clone());
            read.push((a, b, r.try_get(2)?, r.try_get(3)?));
        }
        ids.sort();
        ids.dedup();
        // Live records the reader may read, with their titles.
        let obj = db.object(object).await?;
        let query = ListQuery {
            filter: Some(
                peyvand_records::filter::parse_filter(&obj, &json!({ "field": "id", "op": "in", "value": ids }))
                    .map_err(Error::invalid)?,
            ),
            limit: Some(peyvand_store::records::MAX_PAGE),
            fields: Some(Vec::new()),
            ..ListQuery::default()
        };
        let titles: std::collections::HashMap<String, String> =
            db.list_records(object, &query).await?.records.into_iter().map(|r| (r.id, r.title)).collect();
        for (a, b, reasons, found_at) in read {
            (from_a, from_b) = (a.clone(), b.clone());
            if let (Some(at), Some(bt)) = (titles.get(&a), titles.get(&b)) {
                out.push(Pair {
                    a_title: at.clone(),
                    b_title: bt.clone(),
                    a,
                    b,
                    reasons: reasons.split(',').map(str::to_string).collect(),
                    found_at,
                });
                if out.len() == limit as usize {
                    return Ok((out, Some(format!("{from_a}~{from_b}"))));
                }
            }
        }
    }
}

/// Marks a pair as not duplicates (it is not offered again, even by the next scan).
pub async fn dismiss(db: &Db, actor: &str, object: &str, a: &str, b: &str) -> Result<()> {
    refuse_object(object)?;
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    // Only a pair both of whose records the user may read.
    let titles = db.titles(object, &[a.to_string(), b.to_string()]).await?;
    if titles.len() < 2 {
        return Err(Error::NotFound(format!("duplicate pair {a} {b}")));
    }
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "UPDATE duplicate_pairs SET dismissed_at = $1, dismissed_by = $2 WHERE object = $3 AND a = $4 AND b = $5",
    )
    .bind(now())
    .bind(actor.to_string())
    .bind(object.to_string())
    .bind(a.to_string())
    .bind(b.to_string())
    .execute(&mut *tx.tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("duplicate pair {a} {b}")));
    }
    tx.commit().await
}

/// The scheduled scan.
pub(crate) struct Scans;

impl JobKind for Scans {
    fn kind(&self) -> &'static str {
        SCAN_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let object = job.payload.get("object").and_then(Json::as_str).unwrap_or("contact");
            let round = async {
                scan(db, object).await?;
                if job.payload.get("nightly").and_then(Json::as_bool) == Some(true) {
                    let mut tx = db.write().await?;
                    schedule_nightly_in(db, &mut tx, object).await?;
                    tx.commit().await?;
                }
                Ok::<_, Error>(())
            };
            round.await.map_err(|e| e.to_string())
        })
    }
}
