//! Web forms: public forms an admin builds from a lead's or a contact's fields, published at
//! `/f/SLUG` (a link, or a snippet that embeds it). A submission makes the record with its
//! source and campaign, keeps its attribution (UTM parameters, referrer) and the consent text it
//! showed, gives it an owner (a fixed user, or the members of a team in turn), tells the owner,
//! and checks it against the records it may repeat — all but the check in one transaction.
//!
//! The web layer keeps robots and floods out (a honeypot, a limit per address, a body limit);
//! this module refuses what a form cannot take: fields it does not ask, values too long or with
//! markup, a required field left empty.

use crate::customers::merge;
use crate::notifications;
use crate::sales::leads;
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::validate::{Mode, validate};
use peyvand_records::{FieldError, FieldType};
use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_web_forms.sql",
    sqlite: include_str!("../migrations/forms/sqlite/0001_web_forms.sql"),
    postgres: include_str!("../migrations/forms/postgres/0001_web_forms.sql"),
}];

/// The web forms module: its tables, no objects of its own.
pub struct Forms;

impl Module for Forms {
    fn name(&self) -> &'static str {
        "forms"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["web_forms", "form_submissions"]
    }
}

/// The objects a form can make.
pub const OBJECTS: [&str; 4] = ["lead", "contact", "ticket", "suggestion"];
/// Most fields on one form.
pub const MAX_FIELDS: usize = 30;
/// Longest value of a one-line field, and of a long text.
pub const MAX_VALUE: usize = 500;
pub const MAX_LONG_VALUE: usize = 4000;
/// Longest text an admin writes (an introduction, the consent, the thanks).
const MAX_TEXT: usize = 2000;
/// The attribution parameters a submission keeps, as the form's address carries them.
/// `ref` is a customer's referral code (their link carries it; `loyalty::referrals`).
pub const ATTRIBUTION: [&str; 7] =
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "ref"];

/// Who a form's records go to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assign {
    /// Always this user.
    User { user: String },
    /// The team's active members in turn (by id), one submission each.
    RoundRobin { team: String },
}

/// One field a form asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormField {
    /// The object's field (API name).
    pub field: String,
    #[serde(default)]
    pub required: bool,
}

/// A form as an admin writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    /// `lead` or `contact`.
    pub object: String,
    pub fields: Vec<FormField>,
    /// Shown above the fields, in each language.
    #[serde(default)]
    pub intro_fa: String,
    #[serde(default)]
    pub intro_en: String,
    /// The consent asked (a box to tick) and kept with each submission; none when empty.
    #[serde(default)]
    pub consent_fa: String,
    #[serde(default)]
    pub consent_en: String,
    /// Whether the box must be ticked to send.
    #[serde(default)]
    pub consent_required: bool,
    /// Shown after sending, unless `redirect` sends the visitor elsewhere.
    #[serde(default)]
    pub thanks_fa: String,
    #[serde(default)]
    pub thanks_en: String,
    /// An http(s) address to go to after sending.
    #[serde(default)]
    pub redirect: Option<String>,
    /// The campaign a record is tagged with when the address carries no `utm_campaign`.
    #[serde(default)]
    pub campaign: Option<String>,
    pub assign: Assign,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A saved form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Form {
    pub id: String,
    /// Its public address is `/f/{slug}`.
    pub slug: String,
    #[serde(flatten)]
    pub definition: Definition,
    pub created_at: String,
    pub updated_at: String,
}

impl Form {
    pub fn intro(&self, lang: &str) -> &str {
        pick(lang, &self.definition.intro_fa, &self.definition.intro_en)
    }
    pub fn consent(&self, lang: &str) -> &str {
        pick(lang, &self.definition.consent_fa, &self.definition.consent_en)
    }
    pub fn thanks(&self, lang: &str) -> &str {
        pick(lang, &self.definition.thanks_fa, &self.definition.thanks_en)
    }
}

/// The language's text, or the other's when it has none.
pub fn pick<'a>(lang: &str, fa: &'a str, en: &'a str) -> &'a str {
    let (mine, other) = if lang == "fa" { (fa, en) } else { (en, fa) };
    if mine.trim().is_empty() { other } else { mine }
}

/// Fields of an object a visitor never fills: what the desk keeps about a ticket, and a
/// suggestion's votes and place on the public board.
const KEPT: [&str; 14] = [
    "number",
    "status",
    "queue",
    "sla_policy",
    "first_response_breached",
    "resolution_breached",
    "sla_paused_seconds",
    "channel",
    "kb_article",
    "requester_contact",
    "helpful_yes",
    "helpful_no",
    "votes",
    "published",
];

/// Whether a public form may ask `field` of its object: a type a visitor can fill, not the
/// owner, not what the desk keeps.
pub fn offered(field: &peyvand_records::FieldDef) -> bool {
    askable(field.field_type)
        && field.api_name != OWNER_FIELD
        && !field.hidden
        && !KEPT.contains(&field.api_name.as_str())
}

/// The field types a public form can ask.
pub fn askable(t: FieldType) -> bool {
    use FieldType as T;
    matches!(t, T::Text | T::LongText | T::Email | T::Phone | T::Select | T::Integer | T::Decimal | T::Url | T::Boolean)
}

/// Checks a definition against the object's fields and the users and teams there are; the
/// errors name the definition's parts (`fields.2.field`, `assign.user`…).
async fn check(db: &Db, d: &Definition) -> Result<()> {
    let mut errors = Vec::new();
    let text = |errors: &mut Vec<FieldError>, name: &str, value: &str, max: usize| {
        if value.chars().count() > max {
            errors.push(FieldError::with(name, "too_long", json!({ "max": max })));
        } else if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
            errors.push(FieldError::new(name, "control_characters"));
        }
    };
    if d.name.trim().is_empty() {
        errors.push(FieldError::new("name", "required"));
    }
    text(&mut errors, "name", &d.name, 100);
    for (name, value) in [
        ("intro_fa", &d.intro_fa),
        ("intro_en", &d.intro_en),
        ("consent_fa", &d.consent_fa),
        ("consent_en", &d.consent_en),
        ("thanks_fa", &d.thanks_fa),
        ("thanks_en", &d.thanks_en),
    ] {
        text(&mut errors, name, value, MAX_TEXT);
    }
    if let Some(c) = &d.campaign {
        text(&mut errors, "campaign", c, 200);
    }
    if let Some(url) = &d.redirect {
        let lower = url.trim().to_ascii_lowercase();
        let scheme = lower.starts_with("https://") || lower.starts_with("http://");
        if !scheme || url.len() > 500 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.push(FieldError::new("redirect", "invalid_url"));
        }
    }
    if d.consent_required && d.consent_fa.trim().is_empty() && d.consent_en.trim().is_empty() {
        errors.push(FieldError::new("consent_fa", "required"));
    }
    if !OBJECTS.contains(&d.object.as_str()) {
        errors.push(FieldError::with("object", "invalid_option", json!({ "allowed": OBJECTS })));
        return Err(Error::Validation(errors));
    }
    let obj = db.object(&d.object).await?;
    if d.fields.is_empty() || d.fields.len() > MAX_FIELDS {
        errors.push(FieldError::with("fields", "out_of_range", json!({ "min": 1, "max": MAX_FIELDS })));
    }
    for (i, f) in d.fields.iter().enumerate() {
        let name = format!("fields.{i}.field");
        match obj.field(&f.field) {
            None => errors.push(FieldError::new(&name, "unknown_field")),
            Some(def) if !offered(def) => errors.push(FieldError::new(&name, "not_askable")),
            Some(_) if d.fields[..i].iter().any(|g| g.field == f.field) => {
                errors.push(FieldError::new(&name, "asked_twice"))
            }
            Some(_) => {}
        }
    }
    // A record the form makes must be able to exist: the object's required fields are asked,
    // and required, unless they have a default.
    for req in obj.live_fields().filter(|f| f.required && f.default_value.is_none()) {
        if !d.fields.iter().any(|f| f.field == req.api_name && f.required) {
            errors.push(FieldError::with("fields", "required_field_missing", json!({ "field": req.api_name })));
        }
    }
    match &d.assign {
        Assign::User { user } => {
            if !db.list_users().await?.iter().any(|u| u.id == *user && u.active) {
                errors.push(FieldError::new("assign.user", "unknown_user"));
            }
        }
        Assign::RoundRobin { team } => {
            if !db.list_teams().await?.iter().any(|t| t.id == *team) {
                errors.push(FieldError::new("assign.team", "unknown_team"));
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

fn form_from_row(r: &sqlx::any::AnyRow) -> Result<Form> {
    let definition: String = r.try_get("definition_json")?;
    let mut definition: Definition =
        serde_json::from_str(&definition).map_err(|e| Error::Corrupt(format!("a stored web form: {e}")))?;
    definition.active = r.try_get::<i64, _>("active")? != 0;
    Ok(Form {
        id: r.try_get("id")?,
        slug: r.try_get("slug")?,
        definition,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, slug, definition_json, active, created_at, updated_at";

/// Every form, by name.
pub async fn list(db: &Db) -> Result<Vec<Form>> {
    let rows = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM web_forms ORDER BY name, id")))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(form_from_row).collect()
}

/// A form by id.
pub async fn get(db: &Db, id: &str) -> Result<Form> {
    let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM web_forms WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("web form {id}")))?;
    form_from_row(&row)
}

/// An active form by its public key (a form switched off is not found).
pub async fn published(db: &Db, slug: &str) -> Result<Form> {
    let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM web_forms WHERE slug = $1 AND active = 1")))
        .bind(slug.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("web form {slug}")))?;
    form_from_row(&row)
}

/// A new public key: 10 letters and digits, unguessable enough that forms are not listed.
fn new_slug() -> String {
    let id = new_id();
    // The id's random tail, lower-cased (ids are ULID-like: time first, randomness after).
    id.chars().rev().take(10).collect::<String>().to_ascii_lowercase()
}

/// Makes a form (`id` none) or replaces one's definition (its address stays).
pub async fn save(db: &Db, id: Option<&str>, d: Definition) -> Result<Form> {
    check(db, &d).await?;
    let d = Definition {
        name: d.name.trim().to_string(),
        redirect: d.redirect.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
        campaign: d.campaign.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
        ..d
    };
    let json = serde_json::to_string(&d).map_err(|e| Error::Corrupt(e.to_string()))?;
    let at = now();
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE web_forms SET name = $1, object = $2, definition_json = $3, active = $4, updated_at = $5 WHERE id = $6",
            )
            .bind(d.name.clone())
            .bind(d.object.clone())
            .bind(json)
            .bind(i64::from(d.active))
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(Error::NotFound(format!("web form {id}")));
            }
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO web_forms (id, slug, name, object, definition_json, active, turns, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
            )
            .bind(id.clone())
            .bind(new_slug())
            .bind(d.name.clone())
            .bind(d.object.clone())
            .bind(json)
            .bind(i64::from(d.active))
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

/// Removes a form (its submissions' records stay; the submissions go with it).
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM form_submissions WHERE form_id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    let done = sqlx::query("DELETE FROM web_forms WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("web form {id}")));
    }
    tx.commit().await
}

/// What a visitor sent: each field's text, the consent box, and the address's attribution.
#[derive(Clone, Debug, Default)]
pub struct Submission {
    pub values: BTreeMap<String, String>,
    pub consent: bool,
    pub attribution: BTreeMap<String, String>,
    /// The language the form was shown in (its consent text is the one kept).
    pub lang: String,
}

/// What a submission made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Submitted {
    pub id: String,
    pub object: String,
    pub record_id: String,
    pub owner: Option<String>,
}

/// A submission as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub id: String,
    pub object: String,
    pub record_id: String,
    pub owner: Option<String>,
    pub at: String,
    pub attribution: Json,
    pub consent_text: Option<String>,
    pub consent_given: bool,
    pub duplicates: Json,
}

/// Whether a value carries markup (a tag or a script address), which no form field takes.
fn has_markup(value: &str) -> bool {
    let lower = value.to_lowercase();
    let tag = lower
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!' || w[1] == b'?'));
    tag || lower.contains("javascript:")
}

/// A visitor's submission to the form at `slug`: checked, made as the system in one
/// transaction with its owner, its attribution and its notification; then checked for
/// duplicates. Errors name the form's fields.
pub async fn submit(db: &Db, slug: &str, s: &Submission) -> Result<Submitted> {
    let db = db.system();
    let form = published(&db, slug).await?;
    let d = &form.definition;
    let obj = db.object(&d.object).await?;
    let mut errors = Vec::new();
    for name in s.values.keys() {
        if !d.fields.iter().any(|f| f.field == *name) {
            errors.push(FieldError::new(name, "unknown_field"));
        }
    }
    for name in s.attribution.keys() {
        if !ATTRIBUTION.contains(&name.as_str()) {
            errors.push(FieldError::new(name, "unknown_field"));
        }
    }
    for (name, value) in &s.attribution {
        if value.chars().count() > MAX_VALUE || has_markup(value) || value.chars().any(char::is_control) {
            errors.push(FieldError::new(name, "invalid_value"));
        }
    }
    let consent_text = form.consent(&s.lang).trim().to_string();
    if d.consent_required && !s.consent {
        errors.push(FieldError::new("consent", "consent_required"));
    }
    let mut input = Map::new();
    for f in &d.fields {
        let Some(def) = obj.field(&f.field) else { continue };
        let value = s.values.get(&f.field).map(|v| v.trim()).unwrap_or("");
        let max = if def.field_type == FieldType::LongText { MAX_LONG_VALUE } else { MAX_VALUE };
        if value.chars().count() > max {
            errors.push(FieldError::with(&f.field, "too_long", json!({ "max": max })));
            continue;
        }
        if has_markup(value) {
            errors.push(FieldError::new(&f.field, "markup_not_allowed"));
            continue;
        }
        if value.is_empty() {
            if f.required {
                errors.push(FieldError::new(&f.field, "required"));
            }
            continue;
        }
        let json = match def.field_type {
            FieldType::Boolean => json!(matches!(value, "on" | "true" | "1")),
            FieldType::Email | FieldType::Phone if def.options.multiple => json!([value]),
            _ => json!(value),
        };
        input.insert(f.field.clone(), json);
    }
    let campaign = s.attribution.get("utm_campaign").filter(|c| !c.trim().is_empty()).or(d.campaign.as_ref());
    match d.object.as_str() {
        "lead" => {
            input.insert("source".into(), json!("web_form"));
            input.entry("status").or_insert(json!("new"));
            if let Some(c) = campaign.filter(|_| obj.field("campaign").is_some()) {
                input.entry("campaign").or_insert(json!(c));
            }
        }
        "ticket" => {
            input.insert("channel".into(), json!("web_form"));
        }
        _ if obj.field("source").is_some_and(|f| f.options.options.iter().any(|o| o.value == "web")) => {
            input.entry("source").or_insert(json!("web"));
        }
        _ => {}
    }
    // The record's own rules (an e-mail that is not one, a choice not offered), as the form's.
    let changes = match validate(&obj, &input, Mode::Create) {
        Ok(c) if errors.is_empty() => c,
        Ok(_) => return Err(Error::Validation(errors)),
        Err(more) => {
            errors.extend(more);
            return Err(Error::Validation(errors));
        }
    };
    // A contact who ticked the consent: their e-mail consent, pending until confirmed (its link
    // made with what is read before the write).
    let consent_links = if d.object == "contact" && s.consent && !consent_text.is_empty() {
        Some(crate::customers::consent::Links::read(&db).await?)
    } else {
        None
    };
    let mut tx = db.write().await?;
    let owner = match &d.assign {
        Assign::User { user } => Some(user.clone()),
        // A ticket goes to the team's queue, which gives it out its own way (`service::queues`).
        Assign::RoundRobin { .. } if d.object == "ticket" => None,
        Assign::RoundRobin { team } => {
            let turn: i64 = sqlx::query("UPDATE web_forms SET turns = turns + 1 WHERE id = $1 RETURNING turns")
                .bind(form.id.clone())
                .fetch_one(&mut *tx.tx)
                .await?
                .try_get(0)?;
            let users = db.list_users().await?;
            let members: Vec<String> = db
                .list_teams()
                .await?
                .into_iter()
                .find(|t| t.id == *team)
                .map(|t| t.members)
                .unwrap_or_default()
                .into_iter()
                .filter(|m| users.iter().any(|u| u.id == *m && u.active))
                .collect();
            (!members.is_empty()).then(|| members[((turn - 1).max(0) as usize) % members.len()].clone())
        }
    };
    let mut values = changes.values;
    if d.object == "ticket"
        && let Assign::RoundRobin { team } = &d.assign
        && let Some(def) = obj.field("queue").filter(|f| f.options.options.iter().any(|o| o.value == *team))
    {
        values.push((def, peyvand_records::Value::Text(team.clone())));
    }
    if let Some(owner) = &owner {
        values.retain(|(f, _)| f.api_name != OWNER_FIELD);
        if let Some(def) = obj.field(OWNER_FIELD) {
            values.push((def, peyvand_records::Value::Text(owner.clone())));
        }
    }
    let record_id = db.create_in(&mut tx, None, &obj, &values).await?;
    let owner = if d.object == "ticket" {
        let made = db.get_in(&mut tx, &obj, &record_id).await?;
        made.fields.get(OWNER_FIELD).and_then(Json::as_str).map(str::to_string)
    } else {
        owner
    };
    let id = new_id();
    let attribution: Map<String, Json> = s.attribution.iter().map(|(k, v)| (k.clone(), json!(v.trim()))).collect();
    sqlx::query(
        "INSERT INTO form_submissions (id, form_id, object, record_id, owner, at, attribution_json, consent_text, consent_given, duplicates_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '[]')",
    )
    .bind(id.clone())
    .bind(form.id.clone())
    .bind(d.object.clone())
    .bind(record_id.clone())
    .bind(owner.clone())
    .bind(now())
    .bind(Json::Object(attribution).to_string())
    .bind(Some(consent_text.clone()).filter(|c| !c.is_empty()))
    .bind(i64::from(s.consent))
    .execute(&mut *tx.tx)
    .await?;
    // A lead's or a ticket's owner is told by the assignments consumer (`notifications`); a
    // contact's here.
    if d.object == "contact"
        && let Some(owner) = &owner
    {
        let record = db.get_in(&mut tx, &obj, &record_id).await?;
        let link = format!("/records/{}/{record_id}", d.object);
        notifications::notify_in(&mut tx, &format!("form:{id}"), owner, "web_form", &record.title, Some(&link), None)
            .await?;
    }
    if let Some(links) = &consent_links {
        crate::customers::consent::from_form_in(&db, &mut tx, links, &record_id, &consent_text).await?;
    }
    if d.object == "contact"
        && let Some(code) = s.attribution.get("ref").filter(|c| !c.trim().is_empty())
    {
        crate::on_referred_in(&db, &mut tx, &record_id, code).await?;
    }
    crate::on_form_submitted(&db, &mut tx, &form.id, &d.object, &record_id, &id).await?;
    tx.commit().await?;
    // The duplicate check, after: the submission stands whatever it finds. (A ticket's
    // requester was matched to a contact as it was made.)
    if d.object != "ticket"
        && let Err(e) = note_duplicates(&db, &id, &d.object, &record_id).await
    {
        tracing::warn!(error = %e, submission = %id, "could not check a web form's record for duplicates");
    }
    Ok(Submitted { id, object: d.object.clone(), record_id, owner })
}

/// Keeps with a submission the records its record may repeat.
async fn note_duplicates(db: &Db, submission: &str, object: &str, id: &str) -> Result<()> {
    let found: Vec<Json> = if object == "lead" {
        let lead = db.get_record("lead", id, false).await?;
        let (contacts, companies) = leads::matches(db, &lead).await?;
        contacts
            .iter()
            .map(|r| json!({ "object": "contact", "id": r.id }))
            .chain(companies.iter().map(|r| json!({ "object": "company", "id": r.id })))
            .collect()
    } else {
        merge::duplicates(db, object, id).await?.iter().map(|(r, _)| json!({ "object": object, "id": r.id })).collect()
    };
    if found.is_empty() {
        return Ok(());
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE form_submissions SET duplicates_json = $1 WHERE id = $2")
        .bind(Json::Array(found).to_string())
        .bind(submission.to_string())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await
}

/// A form's newest submissions.
pub async fn submissions(db: &Db, form_id: &str, limit: u32) -> Result<Vec<Kept>> {
    get(db, form_id).await?;
    let rows = sqlx::query(
        "SELECT id, object, record_id, owner, at, attribution_json, consent_text, consent_given, duplicates_json FROM form_submissions WHERE form_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(form_id.to_string())
    .bind(i64::from(limit.clamp(1, 500)))
    .fetch_all(db.pool())
    .await?;
    let json = |s: String| serde_json::from_str(&s).unwrap_or(Json::Null);
    rows.iter()
        .map(|r| {
            Ok(Kept {
                id: r.try_get(0)?,
                object: r.try_get(1)?,
                record_id: r.try_get(2)?,
                owner: r.try_get(3)?,
                at: r.try_get(4)?,
                attribution: json(r.try_get(5)?),
                consent_text: r.try_get(6)?,
                consent_given: r.try_get::<i64, _>(7)? != 0,
                duplicates: json(r.try_get(8)?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_seen_and_ordinary_text_is_not() {
        for bad in ["<script>alert(1)</script>", "hi <b>there</b>", "</p>", "<!-- x -->", "JavaScript:alert(1)"] {
            assert!(has_markup(bad), "{bad}");
        }
        for good in ["a < b", "3<4", "علی رضایی", "price <= 100", "email me: a@b.example"] {
            assert!(!has_markup(good), "{good}");
        }
    }

    #[test]
    fn a_text_falls_back_to_the_other_language() {
        assert_eq!(pick("fa", "", "Thanks"), "Thanks");
        assert_eq!(pick("en", "ممنون", "Thanks"), "Thanks");
        assert_eq!(pick("en", "ممنون", " "), "ممنون");
    }
}
