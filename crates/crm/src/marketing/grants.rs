//! What a segment's members are given at once: points in a loyalty program (a bonus for the
//! "bought in the last 90 days" customers), or a benefit of the sales module (a discount each
//! member's next quotes and orders take). A grant goes to the members of the moment — a dynamic
//! segment's later members get nothing — once per member: a retry under the same key gives
//! nobody anything twice, and every member's points or benefit names the segment.

use super::segments::{self, Segment};
use crate::loyalty::{ledger, programs};
use peyvand_records::FieldError;
use peyvand_records::validate::{Mode, validate};
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

/// Members credited per transaction.
const BATCH: usize = 200;
/// Most members one grant reaches.
pub const MAX_MEMBERS: usize = 100_000;

/// Points for every member of a contacts' segment.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsGrant {
    pub program: String,
    pub points: i64,
    /// Why, as each member's statement says it.
    pub note: String,
}

/// What a grant did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Granted {
    /// Members of the segment when it was given.
    pub members: usize,
    /// Those given something now (a retry gives those already given nothing).
    pub given: usize,
}

async fn members_of(db: &Db, seg: &Segment) -> Result<Vec<String>> {
    let members = segments::members(db, seg).await?;
    if members.len() > MAX_MEMBERS {
        return Err(Error::invalid(FieldError::with("segment", "too_many_values", json!({ "max": MAX_MEMBERS }))));
    }
    Ok(members)
}

/// Credits `grant.points` to every member of a contacts' segment, in batches; `key` (an
/// Idempotency-Key) makes a retry give nothing twice.
pub async fn award_points(
    db: &Db,
    actor: Option<&str>,
    segment: &str,
    grant: &PointsGrant,
    key: Option<&str>,
) -> Result<Granted> {
    let seg = segments::get(db, segment).await?;
    let mut errors = Vec::new();
    if seg.definition.object != "contact" {
        errors.push(FieldError::new("segment", "contacts_only"));
    }
    if grant.points <= 0 || grant.points > 1_000_000 {
        errors.push(FieldError::with("points", "out_of_range", json!({ "min": 1, "max": 1_000_000 })));
    }
    let note = grant.note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        errors.push(FieldError::new("note", "required"));
    }
    if programs::get(db, &grant.program).await.is_err() {
        errors.push(FieldError::new("program", "unknown_program"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let members = members_of(db, &seg).await?;
    let key = key.map_or_else(new_id, str::to_string);
    let mut done = Granted { members: members.len(), given: 0 };
    for chunk in members.chunks(BATCH) {
        let mut tx = db.write().await?;
        let program = programs::get_in(&mut tx, &grant.program).await?;
        for contact in chunk {
            let credit = ledger::Credit {
                points: grant.points,
                spend: 0,
                source: "segment",
                source_id: Some(&seg.id),
                dedupe: format!("segment:{}:{key}:{contact}", seg.id),
                actor,
                note: Some(note),
            };
            if ledger::credit_in(db, &mut tx, &program, contact, credit).await?.is_some() {
                done.given += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(done)
}

/// The benefit's fields a grant may set (the rest say whom it is for).
pub const BENEFIT_FIELDS: [&str; 10] =
    ["name", "kind", "percent", "amount", "product", "price_list", "valid_from", "valid_to", "max_uses", "description"];

/// Gives every member of a segment a benefit of their own with `fields` (a contact's or a
/// company's, as the segment holds), written by the engine in batches (history and search
/// apply); `key` makes a retry give nothing twice. Fields that do not validate refuse the
/// whole grant before anything is written.
pub async fn grant_benefit(
    db: &Db,
    actor: Option<&str>,
    segment: &str,
    fields: &Map<String, Json>,
    key: Option<&str>,
) -> Result<Granted> {
    let seg = segments::get(db, segment).await?;
    let errors: Vec<FieldError> = fields
        .keys()
        .filter(|k| !BENEFIT_FIELDS.contains(&k.as_str()))
        .map(|k| FieldError::new(&format!("fields.{k}"), "read_only"))
        .collect();
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let obj = db.object("benefit").await?;
    let object = seg.definition.object.as_str();
    let made = |member: &str| {
        let mut input = fields.clone();
        input.insert("applies_to".into(), json!(object));
        input.insert(object.into(), json!(member));
        validate(&obj, &input, Mode::Create).map_err(Error::Validation)
    };
    // Refused as a whole before anything is written.
    made("00000000-0000-7000-8000-000000000000")?;
    let members = members_of(db, &seg).await?;
    let key = key.map_or_else(new_id, str::to_string);
    let mut done = Granted { members: members.len(), given: 0 };
    for chunk in members.chunks(BATCH) {
        let mut tx = db.write().await?;
        for member in chunk {
            let taken =
                sqlx::query("SELECT 1 FROM segment_grants WHERE segment_id = $1 AND grant_key = $2 AND member_id = $3")
                    .bind(seg.id.clone())
                    .bind(key.clone())
                    .bind(member.clone())
                    .fetch_optional(&mut *tx.tx)
                    .await?;
            if taken.is_some() {
                continue;
            }
            let changes = made(member)?;
            let id = db.create_in(&mut tx, actor, &obj, &changes.values).await?;
            sqlx::query(
                "INSERT INTO segment_grants (segment_id, grant_key, member_id, record_id, at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(seg.id.clone())
            .bind(key.clone())
            .bind(member.clone())
            .bind(id)
            .bind(now())
            .execute(&mut *tx.tx)
            .await?;
            done.given += 1;
        }
        tx.commit().await?;
    }
    Ok(done)
}
