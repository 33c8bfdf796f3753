//! Automatic letters (seed 002): a letter template run for one record or a whole selection (ids,
//! or a list's filter) gives printable pages, and each customer's timeline an entry that the
//! letter went out.
//!
//! Rendering reads the records a page at a time and fills the one compiled template; the
//! timeline entries are written after, by `letter_log` jobs of 200 records each, once per
//! batch and record (`letters_sent`), so that printing 10,000 letters waits for no writes.

use super::templates::{self, MessageTemplate};
use peyvand_records::FieldError;
use peyvand_records::filter::{Condition, Filter, Op, Operand, parse_filter, resolve};
use peyvand_records::{FieldType, Value};
use peyvand_store::events::Job;
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

/// Most letters in one batch.
pub const MAX_LETTERS: usize = 10_000;
/// The job that writes a batch's timeline entries.
pub const LOG_JOB: &str = "letter_log";
const LOG_CHUNK: usize = 200;
const PAGE: u32 = 500;

/// Which records letters are for.
#[derive(Clone, Debug)]
pub enum Selection {
    Ids(Vec<String>),
    /// A filter in the lists' syntax over the template's object (none: every record).
    Filter(Option<Json>),
}

/// One printed letter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Letter {
    pub record_id: String,
    pub title: String,
    pub subject: String,
    pub body: String,
}

async fn records(db: &Db, template: &MessageTemplate, selection: &Selection) -> Result<Vec<Record>> {
    let object = db.object(&template.object).await?;
    let mut out = Vec::new();
    match selection {
        Selection::Ids(ids) => {
            if ids.len() > MAX_LETTERS {
                return Err(Error::invalid(FieldError::with("ids", "too_many", json!({ "max": MAX_LETTERS }))));
            }
            let Some(by_id) = resolve(&object, "id") else { return Ok(out) };
            for chunk in ids.chunks(PAGE as usize) {
                let query = ListQuery {
                    filter: Some(Filter::Cond(Condition {
                        field: by_id.clone(),
                        op: Op::In,
                        operand: Operand::Many(chunk.iter().map(|i| Value::Text(i.clone())).collect()),
                    })),
                    limit: Some(PAGE),
                    ..ListQuery::default()
                };
                let mut page = db.list_records(&object.api_name, &query).await?.records;
                // In the order asked for.
                page.sort_by_key(|r| chunk.iter().position(|i| *i == r.id));
                out.extend(page);
            }
        }
        Selection::Filter(filter) => {
            let filter = match filter {
                Some(f) => Some(parse_filter(&object, f).map_err(Error::invalid)?),
                None => None,
            };
            // Oldest first, as the records were made.
            let sort = peyvand_records::filter::parse_sort(&object, "created_at").map_err(Error::invalid)?;
            let mut cursor = None;
            loop {
                let query = ListQuery {
                    filter: filter.clone(),
                    sort: sort.clone(),
                    limit: Some(PAGE),
                    cursor,
                    ..ListQuery::default()
                };
                let page = db.list_records(&object.api_name, &query).await?;
                out.extend(page.records);
                if out.len() > MAX_LETTERS {
                    return Err(Error::invalid(FieldError::with("filter", "too_many", json!({ "max": MAX_LETTERS }))));
                }
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The letters of a letter template for the records selected that `db`'s handle may read.
pub async fn render(db: &Db, template: &MessageTemplate, selection: &Selection) -> Result<Vec<Letter>> {
    if template.channel != "letter" {
        return Err(Error::invalid(FieldError::new("template", "template_mismatch")));
    }
    let object = db.object(&template.object).await?;
    let used = templates::used_paths(&[&template.subject, &template.body]);
    let lang = template.language.as_str();
    let mut letters = Vec::new();
    for r in records(db, template, selection).await? {
        let ctx = templates::context(db, &object, &r, lang, &used).await?;
        let subject =
            templates::render(lang, "subject", &template.subject, &ctx).map_err(|e| Error::Validation(vec![e]))?;
        let body = templates::render(lang, "body", &template.body, &ctx).map_err(|e| Error::Validation(vec![e]))?;
        letters.push(Letter {
            record_id: r.id.clone(),
            title: r.title.clone(),
            subject: subject.trim().to_string(),
            body,
        });
    }
    Ok(letters)
}

/// Schedules the timeline entries of a printed batch (as `by`); returns the batch's id.
pub async fn log(db: &Db, template: &MessageTemplate, letters: &[Letter], by: Option<&str>) -> Result<String> {
    let batch = new_id();
    let mut tx = db.write().await?;
    for (n, chunk) in letters.chunks(LOG_CHUNK).enumerate() {
        let ids: Vec<&str> = chunk.iter().map(|l| l.record_id.as_str()).collect();
        let subjects: Vec<&str> = chunk.iter().map(|l| l.subject.as_str()).collect();
        db.schedule_job_in(
            &mut tx,
            LOG_JOB,
            Some(&format!("{batch}:{n}")),
            &now(),
            &json!({ "batch": batch, "template": template.id, "object": template.object, "name": template.name,
                     "ids": ids, "subjects": subjects, "by": by }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(batch)
}

/// Writes a chunk of a batch's timeline entries: a letter activity for each record's contact.
pub struct Log;

impl JobKind for Log {
    fn kind(&self) -> &'static str {
        LOG_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move { write_log(db, &job.payload).await.map_err(|e| e.to_string()) })
    }
}

async fn write_log(db: &Db, p: &Json) -> Result<()> {
    let system = db.system();
    let text = |k: &str| p.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
    let (batch, object_name, name, by) =
        (text("batch"), text("object"), text("name"), p.get("by").and_then(Json::as_str));
    let ids: Vec<String> = p
        .get("ids")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .map(str::to_string)
        .collect();
    let subjects: Vec<String> = p
        .get("subjects")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect();
    let object = system.object(&object_name).await?;
    let activity = system.object("activity").await?;
    let link = activity
        .live_fields()
        .find(|f| f.field_type == FieldType::Relation && f.options.target.as_deref() == Some(object_name.as_str()))
        .map(|f| f.api_name.clone());
    let mut tx = system.write().await?;
    for (i, id) in ids.iter().enumerate() {
        let written = sqlx::query(
            "INSERT INTO letters_sent (batch_id, record_id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(batch.clone())
        .bind(id.clone())
        .bind(now())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        if written == 0 {
            continue;
        }
        let record = match system.get_in(&mut tx, &object, id).await {
            Ok(r) => r,
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let contact = if object_name == "contact" {
            Some(record.id.clone())
        } else {
            record.fields.get("contact").and_then(Json::as_str).map(str::to_string)
        };
        let subject = subjects.get(i).filter(|s| !s.is_empty()).cloned().unwrap_or_else(|| name.clone());
        let mut input = Map::new();
        input.insert("kind".into(), json!("letter"));
        input.insert("direction".into(), json!("outbound"));
        input.insert("subject".into(), json!(subject.chars().take(200).collect::<String>()));
        input.insert("occurred_at".into(), json!(now()));
        if let Some(c) = contact {
            input.insert("contact".into(), json!(c));
        }
        if let Some(f) = &link
            && object_name != "contact"
        {
            input.insert(f.clone(), json!(record.id));
        }
        if let Some(u) = by {
            input.insert("owner".into(), json!(u));
        }
        let checked =
            peyvand_records::validate(&activity, &input, peyvand_records::Mode::Create).map_err(Error::Validation)?;
        system.create_in(&mut tx, by, &activity, &checked.values).await?;
    }
    tx.commit().await
}
