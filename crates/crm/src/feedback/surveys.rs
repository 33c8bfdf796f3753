//! Surveys: CSAT (1–5; the built-in survey `csat`, sent when a ticket is resolved), NPS (0–10, to
//! customer groups on a schedule) and polls built by an admin (single and multiple choice,
//! rating, free text), each question shown or skipped by an earlier answer.
//!
//! An invitation asks one customer about one record (a ticket, an order) served by one member of
//! staff. Its link is the invitation's id and an HMAC of it under the installation's key
//! ([`link_token`]): it needs no login, a forged one opens nothing, and the link can be made
//! again whenever it is sent. It is single-use: the answer and the invitation's `answered_at`
//! are written in one transaction that only one request wins.

use crate::service::dealers::month_of;
use crate::signing::{same, signature};
use peyvand_records::FieldError;
use peyvand_records::value::{format_datetime, parse_datetime};
use peyvand_store::events::Job;
use peyvand_store::records::ListQuery;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// The built-in CSAT survey's id.
pub const CSAT: &str = "csat";
/// Kinds of survey.
pub const KINDS: [&str; 3] = ["csat", "nps", "poll"];
/// Kinds of question.
pub const QUESTION_KINDS: [&str; 5] = ["rating", "nps", "single", "multiple", "text"];
/// The job that sends a scheduled survey's round of invitations.
pub const ROUND_JOB: &str = "survey_round";
/// Longest free-text answer.
pub const MAX_TEXT: usize = 2000;
const MAX_QUESTIONS: usize = 30;
const MAX_CHOICES: usize = 20;
/// Verbatims shown with results.
const VERBATIMS: i64 = 50;

/// One choice of a single- or multiple-choice question.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub value: String,
    pub label_fa: String,
    #[serde(default)]
    pub label_en: String,
}

/// A question is asked only when an earlier question's answer is (or, multiple choice,
/// includes) one of `any_of` (ratings as digits: `["1", "2", "3"]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub question: String,
    pub any_of: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Its name in answers (`[a-z0-9_]`).
    pub key: String,
    /// `rating` (1–5), `nps` (0–10), `single`, `multiple` or `text`.
    pub kind: String,
    pub label_fa: String,
    #[serde(default)]
    pub label_en: String,
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

impl Question {
    pub fn label(&self, lang: &str) -> &str {
        if lang == "en" && !self.label_en.is_empty() { &self.label_en } else { &self.label_fa }
    }

    /// The values a rating or NPS question takes, or a choice question's.
    pub fn values(&self) -> Vec<String> {
        match self.kind.as_str() {
            "rating" => (1..=5).map(|n| n.to_string()).collect(),
            "nps" => (0..=10).map(|n| n.to_string()).collect(),
            _ => self.choices.iter().map(|c| c.value.clone()).collect(),
        }
    }

    /// A value's label in `lang` (a choice's, else the value).
    pub fn value_label(&self, value: &str, lang: &str) -> String {
        match self.choices.iter().find(|c| c.value == value) {
            Some(c) if lang == "en" && !c.label_en.is_empty() => c.label_en.clone(),
            Some(c) => c.label_fa.clone(),
            None => value.to_string(),
        }
    }
}

/// A scheduled survey's rounds: every `every_days` days, the next `per_run` contacts of the
/// customer groups (all contacts when none), each asked at most once in `every_days`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub every_days: i64,
    #[serde(default)]
    pub customer_groups: Vec<String>,
    pub per_run: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    /// `csat`, `nps` or `poll`.
    pub kind: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub intro_fa: String,
    #[serde(default)]
    pub intro_en: String,
    #[serde(default)]
    pub thanks_fa: String,
    #[serde(default)]
    pub thanks_en: String,
    pub questions: Vec<Question>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Days an invitation stays open.
    #[serde(default = "thirty")]
    pub expires_days: i64,
}

fn yes() -> bool {
    true
}

fn thirty() -> i64 {
    30
}

impl Definition {
    pub fn intro(&self, lang: &str) -> &str {
        if lang == "en" && !self.intro_en.is_empty() { &self.intro_en } else { &self.intro_fa }
    }

    pub fn thanks(&self, lang: &str) -> &str {
        if lang == "en" && !self.thanks_en.is_empty() { &self.thanks_en } else { &self.thanks_fa }
    }

    /// Whether its first question's answer is a score (CSAT 1–5, NPS 0–10).
    pub fn scored(&self) -> bool {
        matches!(self.kind.as_str(), "csat" | "nps")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Survey {
    pub id: String,
    #[serde(flatten)]
    pub definition: Definition,
    pub created_at: String,
    pub updated_at: String,
}

/// The built-in CSAT survey: a score and, below 4, what went wrong.
pub fn csat_definition() -> Definition {
    let q = |key: &str, kind: &str, fa: &str, en: &str| Question {
        key: key.into(),
        kind: kind.into(),
        label_fa: fa.into(),
        label_en: en.into(),
        ..Question::default()
    };
    Definition {
        name: "رضایت از پشتیبانی (CSAT)".into(),
        kind: "csat".into(),
        active: true,
        intro_fa: "درخواست شما بسته شد. پاسخ‌گویی ما را چطور ارزیابی می‌کنید؟".into(),
        intro_en: "Your request was resolved. How did we do?".into(),
        thanks_fa: "سپاس از پاسخ شما.".into(),
        thanks_en: "Thank you for your answer.".into(),
        questions: vec![
            Question {
                required: true,
                ..q("score", "rating", "از پاسخ‌گویی ما چقدر راضی بودید؟", "How satisfied were you with our help?")
            },
            Question {
                when: Some(Condition { question: "score".into(), any_of: vec!["1".into(), "2".into(), "3".into()] }),
                ..q("comment", "text", "چه چیزی بهتر می‌شد؟", "What could we have done better?")
            },
            Question {
                when: Some(Condition { question: "score".into(), any_of: vec!["4".into(), "5".into()] }),
                ..q("praise", "text", "چه چیزی را پسندیدید؟", "What did you like?")
            },
        ],
        schedule: None,
        expires_days: 30,
    }
}

fn key_ok(key: &str) -> bool {
    !key.is_empty() && key.len() <= 40 && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// What is wrong with a definition, one entry per field (`questions.2.choices`).
pub fn check(def: &Definition) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = def.name.trim();
    if name.is_empty() {
        errors.push(FieldError::new("name", "required"));
    } else if name.chars().count() > 200 {
        errors.push(FieldError::with("name", "too_long", json!({ "max": 200 })));
    }
    if !KINDS.contains(&def.kind.as_str()) {
        errors.push(FieldError::with("kind", "invalid_option", json!({ "allowed": KINDS })));
    }
    for (f, text) in [("intro_fa", &def.intro_fa), ("intro_en", &def.intro_en)] {
        if text.chars().count() > MAX_TEXT {
            errors.push(FieldError::with(f, "too_long", json!({ "max": MAX_TEXT })));
        }
    }
    for (f, text) in [("thanks_fa", &def.thanks_fa), ("thanks_en", &def.thanks_en)] {
        if text.chars().count() > MAX_TEXT {
            errors.push(FieldError::with(f, "too_long", json!({ "max": MAX_TEXT })));
        }
    }
    if def.questions.is_empty() || def.questions.len() > MAX_QUESTIONS {
        errors.push(FieldError::with("questions", "out_of_range", json!({ "min": 1, "max": MAX_QUESTIONS })));
    }
    for (i, q) in def.questions.iter().enumerate() {
        let at = |f: &str| format!("questions.{i}.{f}");
        if !key_ok(&q.key) {
            errors.push(FieldError::new(&at("key"), "invalid_key"));
        } else if def.questions[..i].iter().any(|o| o.key == q.key) {
            errors.push(FieldError::new(&at("key"), "duplicate"));
        }
        if !QUESTION_KINDS.contains(&q.kind.as_str()) {
            errors.push(FieldError::with(&at("kind"), "invalid_option", json!({ "allowed": QUESTION_KINDS })));
        }
        if q.label_fa.trim().is_empty() && q.label_en.trim().is_empty() {
            errors.push(FieldError::new(&at("label_fa"), "required"));
        }
        if q.label_fa.chars().count() > 500 || q.label_en.chars().count() > 500 {
            errors.push(FieldError::with(&at("label_fa"), "too_long", json!({ "max": 500 })));
        }
        let choice = matches!(q.kind.as_str(), "single" | "multiple");
        if choice && !(2..=MAX_CHOICES).contains(&q.choices.len()) {
            errors.push(FieldError::with(&at("choices"), "out_of_range", json!({ "min": 2, "max": MAX_CHOICES })));
        }
        if !choice && !q.choices.is_empty() {
            errors.push(FieldError::new(&at("choices"), "not_allowed"));
        }
        for (j, c) in q.choices.iter().enumerate() {
            if !key_ok(&c.value) {
                errors.push(FieldError::new(&format!("questions.{i}.choices.{j}.value"), "invalid_key"));
            } else if q.choices[..j].iter().any(|o| o.value == c.value) {
                errors.push(FieldError::new(&format!("questions.{i}.choices.{j}.value"), "duplicate"));
            }
            if c.label_fa.trim().is_empty() || c.label_fa.chars().count() > 200 || c.label_en.chars().count() > 200 {
                errors.push(FieldError::new(&format!("questions.{i}.choices.{j}.label_fa"), "required"));
            }
        }
        if let Some(w) = &q.when {
            match def.questions[..i].iter().find(|o| o.key == w.question) {
                None => errors.push(FieldError::new(&at("when.question"), "not_an_earlier_question")),
                Some(earlier) if earlier.kind == "text" => {
                    errors.push(FieldError::new(&at("when.question"), "not_an_earlier_question"))
                }
                Some(earlier) => {
                    let values = earlier.values();
                    if w.any_of.is_empty() || w.any_of.iter().any(|v| !values.contains(v)) {
                        errors.push(FieldError::with(
                            &at("when.any_of"),
                            "invalid_option",
                            json!({ "allowed": values }),
                        ));
                    }
                }
            }
        }
    }
    let first = def.questions.first().map(|q| q.kind.as_str());
    match def.kind.as_str() {
        "csat" if first != Some("rating") => errors.push(FieldError::new("questions.0.kind", "csat_needs_rating")),
        "nps" if first != Some("nps") => errors.push(FieldError::new("questions.0.kind", "nps_needs_nps")),
        _ => {}
    }
    if def.scored() && def.questions.first().is_some_and(|q| !q.required || q.when.is_some()) {
        errors.push(FieldError::new("questions.0.required", "score_required"));
    }
    if let Some(s) = &def.schedule {
        if def.kind == "csat" {
            errors.push(FieldError::new("schedule", "not_allowed"));
        }
        if !(1..=365).contains(&s.every_days) {
            errors.push(FieldError::with("schedule.every_days", "out_of_range", json!({ "min": 1, "max": 365 })));
        }
        if !(1..=10_000).contains(&s.per_run) {
            errors.push(FieldError::with("schedule.per_run", "out_of_range", json!({ "min": 1, "max": 10_000 })));
        }
        if s.customer_groups.len() > 50 {
            errors.push(FieldError::with("schedule.customer_groups", "too_many", json!({ "max": 50 })));
        }
    }
    if !(1..=365).contains(&def.expires_days) {
        errors.push(FieldError::with("expires_days", "out_of_range", json!({ "min": 1, "max": 365 })));
    }
    errors
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Survey> {
    let text: String = r.try_get(1)?;
    let definition = serde_json::from_str(&text).map_err(|e| Error::Corrupt(format!("a survey's definition: {e}")))?;
    Ok(Survey { id: r.try_get(0)?, definition, created_at: r.try_get(2)?, updated_at: r.try_get(3)? })
}

/// Every survey, the built-in CSAT first, then by name.
pub async fn list(db: &Db) -> Result<Vec<Survey>> {
    let rows = sqlx::query("SELECT id, definition_json, created_at, updated_at FROM surveys ORDER BY created_at, id")
        .fetch_all(db.pool())
        .await?;
    let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| (a.id != CSAT, &a.definition.name).cmp(&(b.id != CSAT, &b.definition.name)));
    Ok(out)
}

pub async fn get(db: &Db, id: &str) -> Result<Survey> {
    sqlx::query("SELECT id, definition_json, created_at, updated_at FROM surveys WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .map(|r| from_row(&r))
        .transpose()?
        .ok_or_else(|| Error::NotFound(format!("survey {id}")))
}

/// Makes (no `id`) or replaces a survey; a schedule's first round is due at once, and a changed
/// schedule starts again.
pub async fn save(db: &Db, id: Option<&str>, def: Definition) -> Result<Survey> {
    let mut def = def;
    def.name = def.name.trim().to_string();
    let errors = check(&def);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if id == Some(CSAT) && def.kind != "csat" {
        return Err(Error::invalid(FieldError::new("kind", "csat_is_built_in")));
    }
    let at = now();
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let old = sqlx::query("SELECT definition_json FROM surveys WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx.tx)
                .await?
                .ok_or_else(|| Error::NotFound(format!("survey {id}")))?;
            let old: Definition = serde_json::from_str(&old.try_get::<String, _>(0)?)
                .map_err(|e| Error::Corrupt(format!("a survey's definition: {e}")))?;
            sqlx::query("UPDATE surveys SET kind = $1, definition_json = $2, updated_at = $3 WHERE id = $4")
                .bind(def.kind.clone())
                .bind(serde_json::to_string(&def).unwrap_or_default())
                .bind(at.clone())
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await?;
            if old.schedule != def.schedule || old.active != def.active {
                start_rounds(db, &mut tx, id, &def, &at).await?;
            }
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO surveys (id, kind, definition_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id.clone())
            .bind(def.kind.clone())
            .bind(serde_json::to_string(&def).unwrap_or_default())
            .bind(at.clone())
            .execute(&mut *tx.tx)
            .await?;
            start_rounds(db, &mut tx, &id, &def, &at).await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

/// Deletes a survey no one has answered (one with answers is made inactive instead: its
/// results stay); the built-in CSAT is kept.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    if id == CSAT {
        return Err(Error::conflict("survey_built_in"));
    }
    get(db, id).await?;
    let mut tx = db.write().await?;
    let answered: i64 = sqlx::query("SELECT COUNT(*) FROM survey_responses WHERE survey_id = $1")
        .bind(id.to_string())
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
    if answered > 0 {
        return Err(Error::conflict("survey_answered_keep"));
    }
    for sql in ["DELETE FROM survey_invitations WHERE survey_id = $1", "DELETE FROM surveys WHERE id = $1"] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *tx.tx).await?;
    }
    sqlx::query("DELETE FROM feedback_settings WHERE name = $1").bind(chain_name(id)).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// Makes the built-in CSAT survey if it is missing (an admin may change its wording).
pub(crate) async fn upgrade(db: &Db) -> Result<()> {
    let at = now();
    sqlx::query(
        "INSERT INTO surveys (id, kind, definition_json, created_at, updated_at) VALUES ($1, 'csat', $2, $3, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(CSAT)
    .bind(serde_json::to_string(&csat_definition()).unwrap_or_default())
    .bind(at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Where a survey's current chain of rounds is named: a round of another chain (the schedule
/// changed since it was planned) does nothing.
fn chain_name(survey: &str) -> String {
    format!("rounds:{survey}")
}

/// Starts a new chain of rounds (its first due at once), or none for an inactive or unscheduled
/// survey; either way the old chain's rounds stop.
async fn start_rounds(db: &Db, tx: &mut WriteTx, survey: &str, def: &Definition, at: &str) -> Result<()> {
    let chain = new_id();
    sqlx::query(
        "INSERT INTO feedback_settings (name, text) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET text = $2",
    )
    .bind(chain_name(survey))
    .bind(chain.clone())
    .execute(&mut *tx.tx)
    .await?;
    if def.active && def.schedule.is_some() {
        let key = format!("survey:{survey}:{chain}:first");
        db.schedule_job_in(tx, ROUND_JOB, Some(&key), at, &json!({ "survey": survey, "chain": chain })).await?;
    }
    Ok(())
}

/// Sends a survey now to up to `limit` contacts of the customer groups (all when none) not yet
/// asked in it (a poll to a group); the round runs in the background.
pub async fn send_now(db: &Db, survey: &str, groups: &[String], limit: i64) -> Result<()> {
    let s = get(db, survey).await?;
    if !s.definition.active {
        return Err(Error::conflict("survey_inactive"));
    }
    if s.id == CSAT {
        return Err(Error::conflict("survey_built_in"));
    }
    if !(1..=10_000).contains(&limit) {
        return Err(Error::invalid(FieldError::with("limit", "out_of_range", json!({ "min": 1, "max": 10_000 }))));
    }
    let key = format!("survey:{survey}:now:{}", new_id());
    let payload = json!({ "survey": survey, "once": true, "customer_groups": groups, "per_run": limit });
    db.schedule_job(ROUND_JOB, Some(&key), &now(), &payload).await?;
    Ok(())
}

/// The installation's key for survey links, made on first use.
async fn link_key(db: &Db) -> Result<Vec<u8>> {
    let fresh = peyvand_store::accounts::random_secret()?;
    sqlx::query("INSERT INTO feedback_settings (name, text) VALUES ('link_key', $1) ON CONFLICT (name) DO NOTHING")
        .bind(fresh)
        .execute(db.pool())
        .await?;
    let key: String = sqlx::query("SELECT text FROM feedback_settings WHERE name = 'link_key'")
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    Ok(key.into_bytes())
}

/// The token of an invitation's link (`/s/{token}`): its id and signature.
pub async fn link_token(db: &Db, invitation: &str) -> Result<String> {
    let key = link_key(db).await?;
    Ok(format!("{invitation}.{}", signature(&key, invitation)))
}

/// One customer asked about one record.
#[derive(Clone, Debug, Serialize)]
pub struct Invitation {
    pub id: String,
    pub survey_id: String,
    pub contact_id: Option<String>,
    pub record_object: Option<String>,
    pub record_id: Option<String>,
    pub staff_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub answered_at: Option<String>,
}

const INVITATION_COLUMNS: &str =
    "id, survey_id, contact_id, record_object, record_id, staff_id, created_at, expires_at, answered_at";

fn invitation_row(r: &sqlx::any::AnyRow) -> Result<Invitation> {
    Ok(Invitation {
        id: r.try_get(0)?,
        survey_id: r.try_get(1)?,
        contact_id: r.try_get(2)?,
        record_object: r.try_get(3)?,
        record_id: r.try_get(4)?,
        staff_id: r.try_get(5)?,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        answered_at: r.try_get(8)?,
    })
}

/// Whom and what an invitation is about.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitee {
    pub contact: Option<String>,
    pub record_object: Option<String>,
    pub record_id: Option<String>,
    pub staff: Option<String>,
}

/// Asks `who` to answer `survey`, in a write of the caller's; none when the record was already
/// asked about in this survey.
pub async fn invite_in(tx: &mut WriteTx, survey: &Survey, who: &Invitee, at: OffsetDateTime) -> Result<Option<String>> {
    let id = new_id();
    let expires = at + Duration::days(survey.definition.expires_days);
    let written = sqlx::query(
        "INSERT INTO survey_invitations (id, survey_id, contact_id, record_object, record_id, staff_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(id.clone())
    .bind(survey.id.clone())
    .bind(who.contact.clone())
    .bind(who.record_object.clone())
    .bind(who.record_id.clone())
    .bind(who.staff.clone())
    .bind(format_datetime(at))
    .bind(format_datetime(expires))
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if written == 1 && who.contact.is_some() {
        // Sent to the customer after commit (by automation, which sends messages).
        tx.schedule_job(
            INVITATION_JOB,
            Some(&format!("invite:{id}")),
            &format_datetime(at),
            &json!({ "invitation": id }),
        )
        .await?;
    }
    Ok((written == 1).then_some(id))
}

/// The job that sends an invitation's link to its customer.
pub const INVITATION_JOB: &str = "survey_invitation_send";

/// Invites each of `who` (checked: the contact, the record and the member of staff exist) to an
/// active survey; the invitations made, each with its link's token (a record already asked
/// about is left out).
pub async fn invite(db: &Db, survey: &str, who: &[Invitee]) -> Result<Vec<(Invitation, String)>> {
    let survey = get(db, survey).await?;
    if !survey.definition.active {
        return Err(Error::conflict("survey_inactive"));
    }
    if who.is_empty() || who.len() > 1000 {
        return Err(Error::invalid(FieldError::with("invitations", "out_of_range", json!({ "min": 1, "max": 1000 }))));
    }
    let system = db.system();
    let mut errors = Vec::new();
    for (i, w) in who.iter().enumerate() {
        match &w.contact {
            None => errors.push(FieldError::new(&format!("invitations.{i}.contact"), "required")),
            Some(c) if system.get_record("contact", c, false).await.is_err() => {
                errors.push(FieldError::new(&format!("invitations.{i}.contact"), "unknown_record"))
            }
            Some(_) => {}
        }
        match (&w.record_object, &w.record_id) {
            (None, None) => {}
            (Some(o), Some(r)) => {
                if system.get_record(o, r, false).await.is_err() {
                    errors.push(FieldError::new(&format!("invitations.{i}.record_id"), "unknown_record"));
                }
            }
            _ => errors.push(FieldError::new(&format!("invitations.{i}.record_id"), "record_needs_object")),
        }
        if let Some(s) = &w.staff
            && db.user(s).await.is_err()
        {
            errors.push(FieldError::new(&format!("invitations.{i}.staff"), "unknown_user"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let at = OffsetDateTime::now_utc();
    let mut tx = db.write().await?;
    let mut ids = Vec::new();
    for w in who {
        if let Some(id) = invite_in(&mut tx, &survey, w, at).await? {
            ids.push(id);
        }
    }
    tx.commit().await?;
    let key = link_key(db).await?;
    let mut out = Vec::new();
    for id in ids {
        let token = format!("{id}.{}", signature(&key, &id));
        out.push((invitation(db, &id).await?, token));
    }
    Ok(out)
}

pub async fn invitation(db: &Db, id: &str) -> Result<Invitation> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .map(|r| invitation_row(&r))
        .transpose()?
        .ok_or_else(|| Error::NotFound("survey invitation".into()))
}

/// The invitations about a record (a ticket's CSAT), newest first.
pub async fn invitations_for(db: &Db, record: &str) -> Result<Vec<Invitation>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE record_id = $1 ORDER BY created_at DESC, id DESC"
    )))
    .bind(record.to_string())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(invitation_row)
    .collect()
}

/// A contact's invitations still open (not answered, not past their time), newest first.
pub async fn open_for_contact(db: &Db, contact: &str) -> Result<Vec<Invitation>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE contact_id = $1 AND answered_at IS NULL \
         AND expires_at > $2 ORDER BY created_at DESC, id DESC LIMIT 20"
    )))
    .bind(contact.to_string())
    .bind(peyvand_store::now())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(invitation_row)
    .collect()
}

/// The invitation a link's token opens, with its survey, if it is still open. A forged or
/// unknown token is not found; one answered is `survey_answered`; one past its time,
/// `survey_expired`.
pub async fn open(db: &Db, token: &str) -> Result<(Invitation, Survey)> {
    let (id, sig) = token.split_once('.').ok_or_else(|| Error::NotFound("survey link".into()))?;
    let key = link_key(db).await?;
    if id.len() > 64 || !same(&signature(&key, id), sig) {
        return Err(Error::NotFound("survey link".into()));
    }
    let inv = invitation(db, id).await?;
    if inv.answered_at.is_some() {
        return Err(Error::conflict("survey_answered"));
    }
    if inv.expires_at < now() {
        return Err(Error::conflict("survey_expired"));
    }
    let survey = get(db, &inv.survey_id).await?;
    if !survey.definition.active {
        return Err(Error::conflict("survey_expired"));
    }
    Ok((inv, survey))
}

/// A value as given (a number, or a string of digits in any script).
fn as_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(peyvand_records::normalize::to_latin_digits(s.trim())),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The answers that count: each question shown by the answers before it, its answer checked
/// (a hidden question's answer is dropped). Keys not of the survey are refused.
pub fn read_answers(
    def: &Definition,
    given: &Map<String, Json>,
) -> std::result::Result<Map<String, Json>, Vec<FieldError>> {
    let mut errors = Vec::new();
    for k in given.keys() {
        if !def.questions.iter().any(|q| &q.key == k) {
            errors.push(FieldError::new(&format!("answers.{k}"), "unknown_question"));
        }
    }
    let mut out = Map::new();
    for q in &def.questions {
        if let Some(w) = &q.when {
            let shown = match out.get(&w.question) {
                Some(Json::Array(xs)) => xs.iter().filter_map(as_text).any(|x| w.any_of.contains(&x)),
                Some(v) => as_text(v).is_some_and(|x| w.any_of.contains(&x)),
                None => false,
            };
            if !shown {
                continue;
            }
        }
        let at = format!("answers.{}", q.key);
        let raw = given.get(&q.key).filter(|v| match v {
            Json::Null => false,
            Json::String(s) => !s.trim().is_empty(),
            Json::Array(a) => !a.is_empty(),
            _ => true,
        });
        let Some(raw) = raw else {
            if q.required {
                errors.push(FieldError::new(&at, "required"));
            }
            continue;
        };
        match q.kind.as_str() {
            "rating" | "nps" => {
                let max = if q.kind == "nps" { 10 } else { 5 };
                let min = if q.kind == "nps" { 0 } else { 1 };
                match as_text(raw).and_then(|s| s.parse::<i64>().ok()) {
                    Some(n) if (min..=max).contains(&n) => {
                        out.insert(q.key.clone(), json!(n));
                    }
                    _ => errors.push(FieldError::with(&at, "out_of_range", json!({ "min": min, "max": max }))),
                }
            }
            "single" => match as_text(raw) {
                Some(v) if q.choices.iter().any(|c| c.value == v) => {
                    out.insert(q.key.clone(), json!(v));
                }
                _ => errors.push(FieldError::with(&at, "invalid_option", json!({ "allowed": q.values() }))),
            },
            "multiple" => {
                let list: Vec<Json> = match raw {
                    Json::Array(a) => a.clone(),
                    v => vec![v.clone()],
                };
                let mut values: Vec<String> = Vec::new();
                for v in &list {
                    match as_text(v) {
                        Some(v) if q.choices.iter().any(|c| c.value == v) => {
                            if !values.contains(&v) {
                                values.push(v);
                            }
                        }
                        _ => {
                            errors.push(FieldError::with(&at, "invalid_option", json!({ "allowed": q.values() })));
                            break;
                        }
                    }
                }
                out.insert(q.key.clone(), json!(values));
            }
            _ => match raw {
                Json::String(s) if s.trim().chars().count() <= MAX_TEXT => {
                    out.insert(q.key.clone(), json!(s.trim()));
                }
                Json::String(_) => errors.push(FieldError::with(&at, "too_long", json!({ "max": MAX_TEXT }))),
                _ => errors.push(FieldError::new(&at, "invalid_text")),
            },
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// Answers the survey a link's token opens, once: the answer and the invitation closed in one
/// transaction (a second answer, even at the same moment, is `survey_answered`).
pub async fn answer(db: &Db, token: &str, given: &Map<String, Json>) -> Result<Invitation> {
    answer_at(db, token, given, OffsetDateTime::now_utc()).await
}

/// [`answer`] as if at `at` (the demo's history).
pub async fn answer_at(db: &Db, token: &str, given: &Map<String, Json>, at: OffsetDateTime) -> Result<Invitation> {
    let (inv, survey) = open(db, token).await?;
    let answers = read_answers(&survey.definition, given).map_err(Error::Validation)?;
    let score = if survey.definition.scored() {
        survey.definition.questions.first().and_then(|q| answers.get(&q.key)).and_then(Json::as_i64)
    } else {
        None
    };
    let comment: Vec<String> = survey
        .definition
        .questions
        .iter()
        .filter(|q| q.kind == "text")
        .filter_map(|q| answers.get(&q.key).and_then(Json::as_str).map(str::to_string))
        .collect();
    let at = format_datetime(at);
    let mut tx = db.write().await?;
    let won = sqlx::query("UPDATE survey_invitations SET answered_at = $1 WHERE id = $2 AND answered_at IS NULL")
        .bind(at.clone())
        .bind(inv.id.clone())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    if won != 1 {
        return Err(Error::conflict("survey_answered"));
    }
    sqlx::query(
        "INSERT INTO survey_responses (invitation_id, survey_id, contact_id, record_object, record_id, staff_id, score, \
         answers_json, comment, answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(inv.id.clone())
    .bind(inv.survey_id.clone())
    .bind(inv.contact_id.clone())
    .bind(inv.record_object.clone())
    .bind(inv.record_id.clone())
    .bind(inv.staff_id.clone())
    .bind(score)
    .bind(Json::Object(answers).to_string())
    .bind((!comment.is_empty()).then(|| comment.join("\n\n")))
    .bind(at.clone())
    .execute(&mut *tx.tx)
    .await?;
    if let Some(contact) = &inv.contact_id {
        crate::on_survey_answered(db, &mut tx, contact, &inv.id).await?;
    }
    tx.commit().await?;
    Ok(Invitation { answered_at: Some(at), ..inv })
}

/// One answer to a survey.
#[derive(Clone, Debug, Serialize)]
pub struct Response {
    pub invitation_id: String,
    pub survey_id: String,
    pub contact_id: Option<String>,
    pub record_object: Option<String>,
    pub record_id: Option<String>,
    pub staff_id: Option<String>,
    pub score: Option<i64>,
    pub answers: Json,
    pub comment: Option<String>,
    pub answered_at: String,
}

const RESPONSE_COLUMNS: &str = "invitation_id, survey_id, contact_id, record_object, record_id, staff_id, score, \
                                answers_json, comment, answered_at";

fn response_row(r: &sqlx::any::AnyRow) -> Result<Response> {
    let answers: String = r.try_get(7)?;
    Ok(Response {
        invitation_id: r.try_get(0)?,
        survey_id: r.try_get(1)?,
        contact_id: r.try_get(2)?,
        record_object: r.try_get(3)?,
        record_id: r.try_get(4)?,
        staff_id: r.try_get(5)?,
        score: r.try_get(6)?,
        answers: serde_json::from_str(&answers).unwrap_or(Json::Null),
        comment: r.try_get(8)?,
        answered_at: r.try_get(9)?,
    })
}

/// The answers about a record (a ticket's CSAT), newest first.
pub async fn responses_for(db: &Db, record: &str) -> Result<Vec<Response>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RESPONSE_COLUMNS} FROM survey_responses WHERE record_id = $1 ORDER BY answered_at DESC"
    )))
    .bind(record.to_string())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(response_row)
    .collect()
}

/// NPS from its three counts: promoters' share less detractors', in points (−100 to 100).
pub fn nps(promoters: i64, passives: i64, detractors: i64) -> Option<f64> {
    let all = promoters + passives + detractors;
    (all > 0).then(|| 100.0 * (promoters - detractors) as f64 / all as f64)
}

/// Scores summed up: CSAT's average and share of 4 and 5; NPS's groups and score.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Scores {
    pub answered: i64,
    pub average: Option<f64>,
    /// CSAT: answers of 4 or 5, in percent.
    pub satisfied_pct: Option<f64>,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    pub nps: Option<f64>,
}

impl Scores {
    fn add(&mut self, kind: &str, score: i64) {
        let sum = self.average.unwrap_or(0.0) * self.answered as f64 + score as f64;
        self.answered += 1;
        self.average = Some(sum / self.answered as f64);
        match kind {
            "csat" => {
                let good = self.satisfied_pct.unwrap_or(0.0) * (self.answered - 1) as f64 / 100.0
                    + f64::from(u8::from(score >= 4));
                self.satisfied_pct = Some(100.0 * good / self.answered as f64);
            }
            "nps" => {
                match score {
                    9.. => self.promoters += 1,
                    7 | 8 => self.passives += 1,
                    _ => self.detractors += 1,
                }
                self.nps = nps(self.promoters, self.passives, self.detractors);
            }
            _ => {}
        }
    }
}

/// How often each value of a question was chosen.
#[derive(Clone, Debug, Serialize)]
pub struct QuestionResult {
    pub key: String,
    pub kind: String,
    pub answered: i64,
    /// Value, count (every value of a rating or choice question, in order).
    pub counts: Vec<(String, i64)>,
}

/// One month's answers (a Jalali month, `1405-09`).
#[derive(Clone, Debug, Serialize)]
pub struct MonthResult {
    pub month: String,
    pub scores: Scores,
    pub responses: i64,
}

/// A customer's words.
#[derive(Clone, Debug, Serialize)]
pub struct Verbatim {
    pub answered_at: String,
    pub contact_id: Option<String>,
    pub record_object: Option<String>,
    pub record_id: Option<String>,
    pub staff_id: Option<String>,
    pub score: Option<i64>,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub survey_id: String,
    pub invitations: i64,
    pub responses: i64,
    /// Answers per invitation, in percent.
    pub response_rate: Option<f64>,
    pub scores: Scores,
    pub questions: Vec<QuestionResult>,
    pub months: Vec<MonthResult>,
    pub verbatims: Vec<Verbatim>,
}

/// A survey's results over invitations and answers made in `[from, to)` (stored times).
pub async fn results(db: &Db, survey: &str, from: &str, to: &str) -> Result<Results> {
    let survey = get(db, survey).await?;
    let def = &survey.definition;
    let invitations: i64 = sqlx::query(
        "SELECT COUNT(*) FROM survey_invitations WHERE survey_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind(survey.id.clone())
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RESPONSE_COLUMNS} FROM survey_responses WHERE survey_id = $1 AND answered_at >= $2 \
         AND answered_at < $3 ORDER BY answered_at"
    )))
    .bind(survey.id.clone())
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    let responses = rows.iter().map(response_row).collect::<Result<Vec<_>>>()?;
    let mut scores = Scores::default();
    let mut months: BTreeMap<String, MonthResult> = BTreeMap::new();
    let mut questions: Vec<QuestionResult> = def
        .questions
        .iter()
        .map(|q| QuestionResult {
            key: q.key.clone(),
            kind: q.kind.clone(),
            answered: 0,
            counts: if q.kind == "text" { Vec::new() } else { q.values().into_iter().map(|v| (v, 0)).collect() },
        })
        .collect();
    let offset = db.local_offset();
    for r in &responses {
        let month = parse_datetime(&r.answered_at).and_then(|t| month_of(t, offset)).unwrap_or_default();
        let m = months.entry(month.clone()).or_insert_with(|| MonthResult {
            month,
            scores: Scores::default(),
            responses: 0,
        });
        m.responses += 1;
        if let Some(s) = r.score {
            scores.add(&def.kind, s);
            m.scores.add(&def.kind, s);
        }
        for q in questions.iter_mut() {
            let Some(v) = r.answers.get(&q.key) else { continue };
            q.answered += 1;
            let picked: Vec<String> = match v {
                Json::Array(xs) => xs.iter().filter_map(as_text).collect(),
                v => as_text(v).into_iter().collect(),
            };
            for p in picked {
                if let Some(c) = q.counts.iter_mut().find(|(value, _)| *value == p) {
                    c.1 += 1;
                }
            }
        }
    }
    let verbatims = responses
        .iter()
        .rev()
        .filter_map(|r| {
            r.comment.as_ref().map(|text| Verbatim {
                answered_at: r.answered_at.clone(),
                contact_id: r.contact_id.clone(),
                record_object: r.record_object.clone(),
                record_id: r.record_id.clone(),
                staff_id: r.staff_id.clone(),
                score: r.score,
                text: text.clone(),
            })
        })
        .take(VERBATIMS as usize)
        .collect();
    let count = responses.len() as i64;
    Ok(Results {
        survey_id: survey.id.clone(),
        invitations,
        responses: count,
        response_rate: (invitations > 0).then(|| 100.0 * count as f64 / invitations as f64),
        scores,
        questions,
        months: months.into_values().collect(),
        verbatims,
    })
}

/// Every survey's numbers over `[from, to)` in two grouped queries (the list of surveys): its
/// invitations, its answers and their scores.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub invitations: i64,
    pub responses: i64,
    pub scores: Scores,
}

pub async fn summaries(db: &Db, from: &str, to: &str) -> Result<std::collections::HashMap<String, Summary>> {
    let mut out: std::collections::HashMap<String, Summary> = Default::default();
    let rows = sqlx::query(
        "SELECT survey_id, COUNT(*) FROM survey_invitations WHERE created_at >= $1 AND created_at < $2 GROUP BY survey_id",
    )
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    for r in rows {
        out.entry(r.try_get(0)?).or_default().invitations = r.try_get(1)?;
    }
    let rows = sqlx::query(
        "SELECT r.survey_id, s.kind, r.score, COUNT(*) FROM survey_responses r JOIN surveys s ON s.id = r.survey_id \
         WHERE r.answered_at >= $1 AND r.answered_at < $2 GROUP BY r.survey_id, s.kind, r.score",
    )
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    for r in rows {
        let (survey, kind, score, n): (String, String, Option<i64>, i64) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let summary = out.entry(survey).or_default();
        summary.responses += n;
        if let Some(score) = score {
            for _ in 0..n {
                summary.scores.add(&kind, score);
            }
        }
    }
    Ok(out)
}

/// A member of staff as their customers rated them (CSAT surveys).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StaffRating {
    pub staff_id: String,
    pub scores: Scores,
}

/// Every rated member of staff's CSAT over answers in `[from, to)`, best first.
pub async fn staff_ratings(db: &Db, from: &str, to: &str) -> Result<Vec<StaffRating>> {
    let rows = sqlx::query(
        "SELECT r.staff_id, r.score, COUNT(*) FROM survey_responses r JOIN surveys s ON s.id = r.survey_id \
         WHERE s.kind = 'csat' AND r.staff_id IS NOT NULL AND r.score IS NOT NULL AND r.answered_at >= $1 \
         AND r.answered_at < $2 GROUP BY r.staff_id, r.score",
    )
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut by: BTreeMap<String, Scores> = BTreeMap::new();
    for r in rows {
        let (staff, score, n): (String, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let s = by.entry(staff).or_default();
        for _ in 0..n {
            s.add("csat", score);
        }
    }
    let mut out: Vec<StaffRating> = by.into_iter().map(|(staff_id, scores)| StaffRating { staff_id, scores }).collect();
    out.sort_by(|a, b| b.scores.average.partial_cmp(&a.scores.average).unwrap_or(std::cmp::Ordering::Equal));
    Ok(out)
}

/// A team as its members were rated: every member's CSAT answers together.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TeamRating {
    pub team_id: String,
    pub scores: Scores,
}

/// Each team with a rated member, from `ratings` ([`staff_ratings`]), best first. A member of
/// two teams counts in both.
pub fn team_ratings(ratings: &[StaffRating], teams: &[peyvand_store::access::Team]) -> Vec<TeamRating> {
    let mut out: Vec<TeamRating> = teams
        .iter()
        .filter_map(|t| {
            let mine: Vec<&Scores> =
                ratings.iter().filter(|r| t.members.contains(&r.staff_id)).map(|r| &r.scores).collect();
            let answered: i64 = mine.iter().map(|s| s.answered).sum();
            (answered > 0).then(|| {
                let weighted = |f: fn(&Scores) -> Option<f64>| {
                    Some(mine.iter().map(|s| f(s).unwrap_or(0.0) * s.answered as f64).sum::<f64>() / answered as f64)
                };
                TeamRating {
                    team_id: t.id.clone(),
                    scores: Scores {
                        answered,
                        average: weighted(|s| s.average),
                        satisfied_pct: weighted(|s| s.satisfied_pct),
                        ..Scores::default()
                    },
                }
            })
        })
        .collect();
    out.sort_by(|a, b| b.scores.average.partial_cmp(&a.scores.average).unwrap_or(std::cmp::Ordering::Equal));
    out
}

/// What a member of staff's customers said of them (CSAT answers), newest first.
pub async fn staff_responses(db: &Db, staff: &str, limit: i64) -> Result<Vec<Response>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM survey_responses r JOIN surveys s ON s.id = r.survey_id \
         WHERE r.staff_id = $1 AND s.kind = 'csat' ORDER BY r.answered_at DESC LIMIT $2",
        RESPONSE_COLUMNS.split(", ").map(|c| format!("r.{}", c.trim())).collect::<Vec<_>>().join(", ")
    )))
    .bind(staff.to_string())
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(response_row)
    .collect()
}

/// Sends a survey's CSAT when a ticket is resolved (or closed unresolved), in its write: once per
/// ticket, to its contact, about its owner.
pub(crate) async fn on_ticket_done(tx: &mut WriteTx, ticket: &str, contact: &str, owner: Option<&str>) -> Result<()> {
    let row = sqlx::query("SELECT id, definition_json, created_at, updated_at FROM surveys WHERE id = $1")
        .bind(CSAT)
        .fetch_optional(&mut *tx.tx)
        .await?;
    let Some(row) = row else { return Ok(()) };
    let survey = from_row(&row)?;
    if !survey.definition.active {
        return Ok(());
    }
    let who = Invitee {
        contact: Some(contact.to_string()),
        record_object: Some("ticket".into()),
        record_id: Some(ticket.to_string()),
        staff: owner.map(str::to_string),
    };
    invite_in(tx, &survey, &who, OffsetDateTime::now_utc()).await?;
    Ok(())
}

/// Sends a scheduled survey's rounds: the next contacts of its customer groups, none asked in
/// the last `every_days`; then the next round.
pub(crate) struct Rounds;

impl JobKind for Rounds {
    fn kind(&self) -> &'static str {
        ROUND_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move { round(db, job).await.map(|_| ()).map_err(|e| e.to_string()) })
    }
}

/// Which of `contacts` were asked to answer `survey` at or after `since`, in one query.
async fn asked_since(
    tx: &mut WriteTx,
    survey: &str,
    since: &str,
    contacts: &[peyvand_store::records::Record],
) -> Result<std::collections::HashSet<String>> {
    if contacts.is_empty() {
        return Ok(Default::default());
    }
    let marks: Vec<String> = (0..contacts.len()).map(|i| format!("${}", i + 3)).collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT contact_id FROM survey_invitations WHERE survey_id = $1 AND created_at >= $2 \
         AND contact_id IN ({})",
        marks.join(", ")
    )))
    .bind(survey.to_string())
    .bind(since.to_string());
    for c in contacts {
        query = query.bind(c.id.clone());
    }
    query.fetch_all(&mut *tx.tx).await?.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// One round of a survey now; how many were invited (for the log).
async fn round(db: &Db, job: &Job) -> Result<usize> {
    let text = |f: &str| job.payload.get(f).and_then(Json::as_str).unwrap_or_default().to_string();
    let survey = match get(db, &text("survey")).await {
        Ok(s) => s,
        Err(Error::NotFound(_)) => return Ok(0),
        Err(e) => return Err(e),
    };
    if !survey.definition.active {
        return Ok(0);
    }
    let once = job.payload.get("once").and_then(Json::as_bool) == Some(true);
    let at = OffsetDateTime::now_utc();
    let (groups, per_run, since) = if once {
        let groups: Vec<String> = job
            .payload
            .get("customer_groups")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let per_run = job.payload.get("per_run").and_then(Json::as_i64).unwrap_or(1).clamp(1, 10_000);
        (groups, per_run, String::new())
    } else {
        let chain: Option<String> = sqlx::query("SELECT text FROM feedback_settings WHERE name = $1")
            .bind(chain_name(&survey.id))
            .fetch_optional(db.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let Some(schedule) = survey.definition.schedule.clone() else { return Ok(0) };
        if chain.as_deref() != Some(text("chain").as_str()) {
            return Ok(0);
        }
        (schedule.customer_groups, schedule.per_run, format_datetime(at - Duration::days(schedule.every_days)))
    };
    let system = db.system();
    let obj = system.object("contact").await?;
    let filter = if groups.is_empty() {
        None
    } else {
        let f = json!({ "field": "customer_group", "op": "in", "value": groups });
        Some(peyvand_records::filter::parse_filter(&obj, &f).map_err(Error::invalid)?)
    };
    // Where the last round stopped: it goes on from there, and from the first contact after the
    // last (each contact is asked once in `every_days`, however many there are).
    let mut cursor = if once { None } else { job.payload.get("cursor").and_then(Json::as_str).map(str::to_string) };
    let mut started_over = cursor.is_none();
    let mut invited = 0usize;
    let mut tx = db.write().await?;
    'pages: loop {
        let query = ListQuery {
            filter: filter.clone(),
            limit: Some(200),
            cursor: cursor.clone(),
            fields: Some(vec!["customer_group".into()]),
            ..Default::default()
        };
        let page = system.list_records("contact", &query).await?;
        let asked = asked_since(&mut tx, &survey.id, &since, &page.records).await?;
        for c in &page.records {
            if invited == per_run as usize {
                break 'pages;
            }
            if asked.contains(&c.id) {
                continue;
            }
            let who = Invitee { contact: Some(c.id.clone()), ..Invitee::default() };
            if invite_in(&mut tx, &survey, &who, at).await?.is_some() {
                invited += 1;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => {
                cursor = None;
                if started_over {
                    break;
                }
                started_over = true;
            }
        }
    }
    if let (false, Some(schedule)) = (once, &survey.definition.schedule) {
        let every = Duration::days(schedule.every_days);
        let due = parse_datetime(&job.run_at).unwrap_or(at).max(at - every) + every;
        let mut payload = json!({ "survey": survey.id, "chain": text("chain") });
        if let Some(c) = &cursor {
            payload["cursor"] = json!(c);
        }
        let key = format!("survey:{}:{}:{}", survey.id, text("chain"), format_datetime(due));
        db.schedule_job_in(&mut tx, ROUND_JOB, Some(&key), &format_datetime(due), &payload).await?;
    }
    tx.commit().await?;
    tracing::info!(survey = %survey.id, invited, "survey round sent");
    Ok(invited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> Definition {
        let q = |key: &str, kind: &str| Question {
            key: key.into(),
            kind: kind.into(),
            label_fa: key.into(),
            ..Question::default()
        };
        let c = |v: &str| Choice { value: v.into(), label_fa: v.into(), label_en: String::new() };
        Definition {
            name: "Poll".into(),
            kind: "poll".into(),
            active: true,
            intro_fa: String::new(),
            intro_en: String::new(),
            thanks_fa: String::new(),
            thanks_en: String::new(),
            questions: vec![
                Question { required: true, choices: vec![c("yes"), c("no")], ..q("uses", "single") },
                Question {
                    choices: vec![c("price"), c("quality"), c("service")],
                    when: Some(Condition { question: "uses".into(), any_of: vec!["yes".into()] }),
                    required: true,
                    ..q("likes", "multiple")
                },
                Question {
                    when: Some(Condition { question: "uses".into(), any_of: vec!["no".into()] }),
                    ..q("why_not", "text")
                },
                q("stars", "rating"),
            ],
            schedule: None,
            expires_days: 30,
        }
    }

    #[test]
    fn the_built_in_csat_and_a_poll_are_well_formed() {
        assert_eq!(check(&csat_definition()), vec![]);
        assert_eq!(check(&poll()), vec![]);
    }

    #[test]
    fn a_definition_with_mistakes_says_each() {
        let mut d = poll();
        d.questions[1].when = Some(Condition { question: "stars".into(), any_of: vec!["1".into()] });
        d.questions[2].key = "uses".into();
        d.questions[0].choices.pop();
        d.schedule = Some(Schedule { every_days: 0, customer_groups: vec![], per_run: 10 });
        let fields: Vec<String> = check(&d).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "questions.0.choices",
                "questions.1.when.question",
                "questions.2.key",
                "questions.2.when.any_of", // "no" was the choice removed
                "schedule.every_days"
            ]
        );
        let mut n = csat_definition();
        n.kind = "nps".into();
        assert_eq!(check(&n).into_iter().map(|e| e.code).collect::<Vec<_>>(), ["nps_needs_nps"]);
    }

    #[test]
    fn skip_logic_drops_what_was_not_asked_and_requires_what_was() {
        let d = poll();
        let given = |v: Json| v.as_object().cloned().expect("an object");
        let out = read_answers(&d, &given(json!({ "uses": "no", "likes": ["price"], "why_not": "گران است" })))
            .expect("answers");
        assert_eq!(Json::Object(out), json!({ "uses": "no", "why_not": "گران است" }), "likes was not asked");
        let errors = read_answers(&d, &given(json!({ "uses": "yes" }))).expect_err("likes is required once asked");
        assert_eq!(errors[0].field, "answers.likes");
        let out = read_answers(&d, &given(json!({ "uses": "yes", "likes": ["quality", "quality"], "stars": "۴" })))
            .expect("answers");
        assert_eq!(Json::Object(out), json!({ "uses": "yes", "likes": ["quality"], "stars": 4 }));
        let errors = read_answers(&d, &given(json!({ "uses": "maybe", "stars": 6, "x": 1 }))).expect_err("bad");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["answers.x", "answers.uses", "answers.stars"]);
    }

    #[test]
    fn scores_sum_up_as_csat_and_nps_are_defined() {
        let mut c = Scores::default();
        for s in [5, 4, 3, 1] {
            c.add("csat", s);
        }
        assert_eq!(c.average, Some(3.25));
        assert_eq!(c.satisfied_pct, Some(50.0));
        let mut n = Scores::default();
        for s in [10, 9, 8, 6, 0] {
            n.add("nps", s);
        }
        assert_eq!((n.promoters, n.passives, n.detractors), (2, 1, 2));
        assert_eq!(n.nps, Some(0.0));
        assert_eq!(nps(0, 0, 0), None);
    }

    #[test]
    fn a_team_is_rated_by_all_its_members_answers() {
        let rated = |id: &str, scores: &[i64]| {
            let mut s = Scores::default();
            for x in scores {
                s.add("csat", *x);
            }
            StaffRating { staff_id: id.into(), scores: s }
        };
        let team = |id: &str, members: &[&str]| peyvand_store::access::Team {
            id: id.into(),
            name: id.into(),
            parent_id: None,
            manager_id: None,
            members: members.iter().map(|m| m.to_string()).collect(),
            created_at: String::new(),
        };
        let ratings = [rated("a", &[5, 5, 5]), rated("b", &[1])];
        let teams = [team("both", &["a", "b"]), team("none", &["c"]), team("b only", &["b"])];
        let out = team_ratings(&ratings, &teams);
        assert_eq!(out.len(), 2, "a team without answers has no rating");
        assert_eq!((out[0].team_id.as_str(), out[0].scores.answered, out[0].scores.average), ("both", 4, Some(4.0)));
        assert_eq!(out[0].scores.satisfied_pct, Some(75.0));
        assert_eq!(out[1].scores.average, Some(1.0));
    }

    #[test]
    fn a_signature_depends_on_the_key_and_the_invitation() {
        let a = signature(b"key-one", "01");
        assert_eq!(a, signature(b"key-one", "01"));
        assert_ne!(a, signature(b"key-two", "01"));
        assert_ne!(a, signature(b"key-one", "02"));
        assert_eq!(a.len(), 24);
    }
}
