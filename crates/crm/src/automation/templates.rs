//! Templates admins write for e-mails, SMS and letters: Jinja text (minijinja) with merge
//! fields from a record, the records it points to and the lists that point at it.
//!
//! A template is checked when it is saved, not when it is sent: a syntax error or a merge field
//! the object does not have is refused with its line and column. Rendering is sandboxed: no
//! loader (a template reads nothing but its context), no includes, fuel (a loop that runs
//! forever is stopped) and a cap on the output's size.
//!
//! The context, for a record of object `o`:
//! - `record.<field>`: each field as a reader sees it (dates Jalali with Persian digits in a
//!   Persian template, amounts grouped with their currency, choices by their labels); a relation
//!   prints the related record's name and opens it: `record.company.city`;
//! - `raw.<field>`: the stored values (for conditions: `{% if raw.amount > 1000000 %}`);
//! - `related.<object>`: up to 50 records of `<object>` that point at this one (`{% for o in
//!   related.order %}`), newest first;
//! - `owner.name`, `owner.email`: the record's owner; `today`: the date, as a letter writes it;
//! - `offers`: for a contact (or a record with a contact), the products they are most likely to
//!   buy next (`crate::sales::offers`), each with `name` and `price`: `{% for p in offers %}`.
//!
//! Filters besides Jinja's: `long_date`, `short_date` (a stored date or instant), `number` (digit
//! grouping), `digits` (Persian digits in a Persian template).

use minijinja::value::{Enumerator, Object, Value as Mv};
use minijinja::{Environment, ErrorKind};
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::filter::{Condition, Filter, Op, Operand, resolve};
use peyvand_records::normalize::{format_number, to_persian_digits};
use peyvand_records::value::{parse_date, parse_datetime};
use peyvand_records::{FieldError, FieldType, ObjectDef, Value, jalali};
use peyvand_store::catalog::Catalog;
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// What a template is for.
pub const CHANNELS: [&str; 3] = ["email", "sms", "letter"];
/// Languages a template is written in.
pub const LANGUAGES: [&str; 2] = ["fa", "en"];
/// The longest template source, and the longest output one render may make.
pub const MAX_SOURCE: usize = 64 * 1024;
pub const MAX_OUTPUT: usize = 256 * 1024;
/// Instructions one render may run (a template's loops over 50 related records use a few
/// thousand; `{% for i in range(100000) %}` runs out).
const FUEL: u64 = 200_000;
/// Records of a related list in the context.
const RELATED: u32 = 50;
/// What a context's top level may name.
const ROOTS: [&str; 6] = ["record", "raw", "related", "owner", "today", "offers"];
/// Offers in a template's context.
const OFFERS: usize = 3;

/// A saved template.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageTemplate {
    pub id: String,
    pub name: String,
    pub channel: String,
    /// The object whose records it is written for.
    pub object: String,
    pub language: String,
    /// An e-mail's subject (empty for SMS and letters).
    pub subject: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A template as written in a form or a request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub name: String,
    pub channel: String,
    pub object: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    pub subject: String,
    pub body: String,
}

fn default_language() -> String {
    "fa".into()
}

/// A template rendered for one record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// A record in a template's context: prints as its name, opens to its fields.
#[derive(Debug)]
struct Rec {
    title: String,
    fields: BTreeMap<String, Mv>,
}

impl Object for Rec {
    fn get_value(self: &Arc<Self>, key: &Mv) -> Option<Mv> {
        self.fields.get(key.as_str()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.fields.keys().map(|k| Mv::from(k.as_str())).collect())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title)
    }
}

/// The environment of a language: Jinja's built-in filters and tests, Peyvand's filters, no
/// loader, fuel. Made once per language.
fn environment(lang: &str) -> &'static Environment<'static> {
    static FA: OnceLock<Environment<'static>> = OnceLock::new();
    static EN: OnceLock<Environment<'static>> = OnceLock::new();
    let (cell, lang) = if lang == "en" { (&EN, "en") } else { (&FA, "fa") };
    cell.get_or_init(|| {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(50);
        env.add_filter("long_date", move |v: Mv| date_filter(lang, &v, true));
        env.add_filter("short_date", move |v: Mv| date_filter(lang, &v, false));
        env.add_filter("number", move |v: Mv| {
            let plain = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            format_number(lang, &plain)
        });
        env.add_filter("digits", move |v: Mv| {
            let text = v.to_string();
            if lang == "fa" { to_persian_digits(&text) } else { text }
        });
        env
    })
}

fn date_filter(lang: &str, v: &Mv, long: bool) -> String {
    let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    let date = parse_date(&text).or_else(|| parse_datetime(&text).map(|t| t.date()));
    match date {
        Some(d) if long => jalali::long_date(lang, d),
        Some(d) => jalali::short_date(lang, d),
        None => text,
    }
}

/// The line and column (from 1) of a byte offset in `source`.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Checks one part of a template (`subject` or `body`) for `object`: its syntax, and that every
/// merge field it names exists. The error names the part, with line and column.
pub fn check(catalog: &Catalog, object: &ObjectDef, part: &str, source: &str) -> std::result::Result<(), FieldError> {
    if source.len() > MAX_SOURCE {
        return Err(FieldError::with(part, "too_long", json!({ "max": MAX_SOURCE })));
    }
    let env = environment("fa");
    let template = match env.template_from_str(source) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = match e.range() {
                Some(r) => line_column(source, r.start),
                None => (e.line().unwrap_or(1), 1),
            };
            let detail = e.detail().unwrap_or_else(|| e.kind().to_string().leak()).to_string();
            return Err(FieldError::with(
                part,
                "template_syntax",
                json!({ "line": line, "column": column, "detail": detail }),
            ));
        }
    };
    for path in sorted(template.undeclared_variables(true)) {
        if let Some(unknown) = unknown_path(catalog, object, &path) {
            let (line, column) = source.find(&unknown).map_or((1, 1), |at| line_column(source, at));
            return Err(FieldError::with(
                part,
                "template_unknown_field",
                json!({ "name": unknown, "line": line, "column": column }),
            ));
        }
    }
    Ok(())
}

fn sorted(set: HashSet<String>) -> Vec<String> {
    set.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
}

/// The part of a merge path that names nothing, if any (`record.nope`, `related.thing`).
fn unknown_path(catalog: &Catalog, object: &ObjectDef, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    let root = parts[0];
    if !ROOTS.contains(&root) {
        // Jinja's own globals (range, loop helpers) are declared; anything else is a typo.
        return (!matches!(root, "range" | "dict" | "namespace" | "loop")).then(|| root.to_string());
    }
    if root == "offers" {
        return customer_field(object).is_none().then(|| "offers".to_string());
    }
    let name = parts.get(1)?;
    let known =
        |o: &ObjectDef, n: &str| o.field(n).is_some() || matches!(n, "id" | "title" | "created_at" | "updated_at");
    match root {
        "record" | "raw" => {
            if !known(object, name) {
                return Some(format!("{root}.{name}"));
            }
            let (Some(next), Some(f)) = (parts.get(2), object.field(name)) else { return None };
            if root == "raw" || f.field_type != FieldType::Relation {
                return Some(format!("{root}.{name}.{next}"));
            }
            let target = f.options.target.as_deref().and_then(|t| catalog.object(t))?;
            (!known(&target, next)).then(|| format!("{root}.{name}.{next}"))
        }
        "related" => referrer(catalog, object, name).is_none().then(|| format!("related.{name}")),
        "owner" => (!matches!(*name, "name" | "email")).then(|| format!("owner.{name}")),
        _ => None,
    }
}

/// Where a record of `object` names its customer for offers: the record itself (a contact), or
/// its `contact` relation.
fn customer_field(object: &ObjectDef) -> Option<Option<&str>> {
    if object.api_name == "contact" {
        return Some(None);
    }
    object
        .field("contact")
        .filter(|f| f.field_type == FieldType::Relation && f.options.target.as_deref() == Some("contact"))
        .map(|f| Some(f.api_name.as_str()))
}

/// The object named and its first relation field pointing at `object`.
fn referrer(catalog: &Catalog, object: &ObjectDef, name: &str) -> Option<(Arc<ObjectDef>, String)> {
    let other = catalog.object(name)?;
    let field = other
        .live_fields()
        .find(|f| f.field_type == FieldType::Relation && f.options.target.as_deref() == Some(object.api_name.as_str()))?
        .api_name
        .clone();
    Some((other, field))
}

/// A field's value as a reader of `lang` sees it, in plain text.
pub fn display_text(lang: &str, offset: time::UtcOffset, field: &peyvand_records::FieldDef, value: &Json) -> String {
    let plain = |v: &Json| match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    };
    match (field.field_type, value) {
        (_, Json::Null) => String::new(),
        (FieldType::Date, Json::String(s)) => parse_date(s).map_or_else(|| s.clone(), |d| jalali::short_date(lang, d)),
        (FieldType::Datetime, Json::String(s)) => parse_datetime(s).map(|t| t.to_offset(offset)).map_or_else(
            || s.clone(),
            |t| {
                let clock = format!("{:02}:{:02}", t.hour(), t.minute());
                let clock = if lang == "fa" { to_persian_digits(&clock) } else { clock };
                format!("{} {clock}", jalali::short_date(lang, t.date()))
            },
        ),
        (FieldType::Boolean, Json::Bool(b)) => match (lang, b) {
            ("fa", true) => "بله".into(),
            ("fa", false) => "خیر".into(),
            (_, true) => "yes".into(),
            (_, false) => "no".into(),
        },
        (FieldType::Integer | FieldType::Decimal | FieldType::Rating, v) => format_number(lang, &plain(v)),
        (FieldType::Currency, v) => {
            let amount = v.get("amount").and_then(Json::as_str).unwrap_or("");
            let code = v.get("currency").and_then(Json::as_str).unwrap_or("IRR");
            let name = match (lang, code) {
                ("fa", "IRR") => "ریال",
                ("fa", "IRT") => "تومان",
                _ => code,
            };
            format!("{} {name}", format_number(lang, amount))
        }
        (FieldType::Select, Json::String(s)) => field.option_label(s, lang).to_string(),
        (FieldType::MultiSelect, Json::Array(items)) => items
            .iter()
            .filter_map(Json::as_str)
            .map(|v| field.option_label(v, lang).to_string())
            .collect::<Vec<_>>()
            .join(if lang == "fa" { "، " } else { ", " }),
        (_, Json::Array(items)) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        (FieldType::NationalId | FieldType::Phone, v) if lang == "fa" => to_persian_digits(&plain(v)),
        (_, v) => plain(v),
    }
}

/// A record's fields as a reader of `lang` sees them.
fn shown(lang: &str, offset: time::UtcOffset, object: &ObjectDef, record: &Record) -> BTreeMap<String, Mv> {
    let mut fields = BTreeMap::new();
    for f in object.live_fields() {
        let value = record.fields.get(&f.api_name).unwrap_or(&Json::Null);
        fields.insert(f.api_name.clone(), Mv::from(display_text(lang, offset, f, value)));
    }
    fields.insert("id".into(), Mv::from(record.id.as_str()));
    fields.insert("title".into(), Mv::from(record.title.as_str()));
    let at = |s: &str| parse_datetime(s).map_or_else(|| s.to_string(), |t| jalali::short_date(lang, t.date()));
    fields.insert("created_at".into(), Mv::from(at(&record.created_at)));
    fields.insert("updated_at".into(), Mv::from(at(&record.updated_at)));
    fields
}

/// The merge paths a template's parts use (a syntax error uses none: checked at save).
pub fn used_paths(sources: &[&str]) -> HashSet<String> {
    let env = environment("fa");
    let mut used = HashSet::new();
    for source in sources {
        if let Ok(t) = env.template_from_str(source) {
            used.extend(t.undeclared_variables(true));
        }
    }
    used
}

/// The context for `record` (of `object`), reading only what `used` names besides the record.
pub async fn context(db: &Db, object: &ObjectDef, record: &Record, lang: &str, used: &HashSet<String>) -> Result<Mv> {
    let catalog = db.catalog().await?;
    let mut fields = shown(lang, db.local_offset(), object, record);
    let wants = |prefix: &str| used.iter().any(|p| p == prefix || p.starts_with(&format!("{prefix}.")));
    // Relations a template opens or prints: the related record by name, with its fields.
    for f in object.live_fields().filter(|f| f.field_type == FieldType::Relation) {
        if !wants(&format!("record.{}", f.api_name)) {
            continue;
        }
        let (Some(target), Some(id)) = (
            f.options.target.as_deref().and_then(|t| catalog.object(t)),
            record.fields.get(&f.api_name).and_then(Json::as_str),
        ) else {
            continue;
        };
        if let Ok(other) = db.get_record(&target.api_name, id, false).await {
            let rec = Rec { title: other.title.clone(), fields: shown(lang, db.local_offset(), &target, &other) };
            fields.insert(f.api_name.clone(), Mv::from_object(rec));
        }
    }
    let mut related = BTreeMap::new();
    for path in used.iter().filter(|p| p.starts_with("related.")) {
        let name = path.split('.').nth(1).unwrap_or_default();
        if related.contains_key(name) {
            continue;
        }
        let Some((other, field)) = referrer(&catalog, object, name) else { continue };
        let Some(field_ref) = resolve(&other, &field) else { continue };
        let query = ListQuery {
            filter: Some(Filter::Cond(Condition {
                field: field_ref,
                op: Op::Eq,
                operand: Operand::One(Value::Text(record.id.clone())),
            })),
            sort: peyvand_records::filter::parse_sort(&other, "-created_at").unwrap_or_default(),
            limit: Some(RELATED),
            ..ListQuery::default()
        };
        let page = db.list_records(&other.api_name, &query).await?;
        let items: Vec<Mv> = page
            .records
            .iter()
            .map(|r| Mv::from_object(Rec { title: r.title.clone(), fields: shown(lang, db.local_offset(), &other, r) }))
            .collect();
        related.insert(name.to_string(), Mv::from(items));
    }
    let mut owner = BTreeMap::new();
    if wants("owner")
        && let Some(id) = record.fields.get(OWNER_FIELD).and_then(Json::as_str)
        && let Ok(user) = db.user(id).await
    {
        owner.insert("name".to_string(), Mv::from(user.name));
        owner.insert("email".to_string(), Mv::from(user.email));
    }
    let mut offers = Vec::new();
    let contact = match customer_field(object) {
        Some(None) => Some(record.id.as_str()),
        Some(Some(field)) => record.fields.get(field).and_then(Json::as_str),
        None => None,
    };
    if wants("offers")
        && let Some(contact) = contact
        && let Some(price_field) = catalog.object("product").and_then(|p| p.field("price").cloned())
    {
        let found = match crate::sales::offers::for_contact(db, contact, OFFERS).await {
            Ok(found) => found,
            Err(Error::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        for o in found {
            let mut item = BTreeMap::new();
            item.insert("id".to_string(), Mv::from(o.product_id));
            item.insert("name".to_string(), Mv::from(o.name));
            item.insert("price".to_string(), Mv::from(display_text(lang, db.local_offset(), &price_field, &o.price)));
            offers.push(Mv::from(item));
        }
    }
    let raw = Mv::from(minijinja::value::Serde(&record.fields));
    let today = jalali::long_date(lang, db.today());
    let mut top = BTreeMap::new();
    top.insert("record", Mv::from_object(Rec { title: record.title.clone(), fields }));
    top.insert("raw", raw);
    top.insert("related", Mv::from(related));
    top.insert("owner", Mv::from(owner));
    top.insert("today", Mv::from(today));
    top.insert("offers", Mv::from(offers));
    Ok(Mv::from(top))
}

/// Renders a checked template's part with a context. Running out of fuel or writing too much
/// is a validation error naming the part.
pub fn render(lang: &str, part: &str, source: &str, ctx: &Mv) -> std::result::Result<String, FieldError> {
    let env = environment(lang);
    let failed = |e: minijinja::Error| {
        let code = if e.kind() == ErrorKind::OutOfFuel { "template_too_slow" } else { "template_render" };
        let line = e.line().unwrap_or(1);
        FieldError::with(part, code, json!({ "line": line, "detail": e.detail().unwrap_or_default() }))
    };
    let template = env.template_from_str(source).map_err(failed)?;
    let out = template.render(ctx).map_err(failed)?;
    if out.len() > MAX_OUTPUT {
        return Err(FieldError::with(part, "template_too_large", json!({ "max": MAX_OUTPUT })));
    }
    Ok(out)
}

/// Renders a template for one record, read through `db` (a user's handle sees what they may).
pub async fn render_for(db: &Db, template: &MessageTemplate, record_id: &str) -> Result<Rendered> {
    let object = db.object(&template.object).await?;
    let record = db.get_record(&template.object, record_id, false).await?;
    let used = used_paths(&[&template.subject, &template.body]);
    let ctx = context(db, &object, &record, &template.language, &used).await?;
    let lang = template.language.as_str();
    let subject = render(lang, "subject", &template.subject, &ctx).map_err(|e| Error::Validation(vec![e]))?;
    let body = render(lang, "body", &template.body, &ctx).map_err(|e| Error::Validation(vec![e]))?;
    // A subject is one line.
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Rendered { subject, body })
}

fn validate(catalog: &Catalog, input: &TemplateInput) -> std::result::Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if input.name.trim().is_empty() {
        errors.push(FieldError::new("name", "required"));
    } else if input.name.chars().count() > 200 {
        errors.push(FieldError::with("name", "too_long", json!({ "max": 200 })));
    }
    if !CHANNELS.contains(&input.channel.as_str()) {
        errors.push(FieldError::with("channel", "invalid_option", json!({ "options": CHANNELS })));
    }
    if !LANGUAGES.contains(&input.language.as_str()) {
        errors.push(FieldError::with("language", "invalid_option", json!({ "options": LANGUAGES })));
    }
    let Some(object) = catalog.object(&input.object) else {
        errors.push(FieldError::new("object", "unknown_object"));
        return Err(errors);
    };
    if input.channel == "email" && input.subject.trim().is_empty() {
        errors.push(FieldError::new("subject", "required"));
    }
    if input.body.trim().is_empty() {
        errors.push(FieldError::new("body", "required"));
    }
    for (part, source) in [("subject", &input.subject), ("body", &input.body)] {
        if let Err(e) = check(catalog, &object, part, source) {
            errors.push(e);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<MessageTemplate> {
    Ok(MessageTemplate {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        channel: row.try_get("channel")?,
        object: row.try_get("object")?,
        language: row.try_get("language")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, name, channel, object, language, subject, body, created_at, updated_at";

/// Saves a template (a new one without `id`), checked first.
pub async fn save(db: &Db, id: Option<&str>, input: &TemplateInput) -> Result<MessageTemplate> {
    let catalog = db.catalog().await?;
    validate(&catalog, input).map_err(Error::Validation)?;
    let at = now();
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let changed = sqlx::query(
                "UPDATE message_templates SET name = $1, channel = $2, object = $3, language = $4, subject = $5, \
                 body = $6, updated_at = $7 WHERE id = $8",
            )
            .bind(input.name.trim().to_string())
            .bind(input.channel.clone())
            .bind(input.object.clone())
            .bind(input.language.clone())
            .bind(input.subject.clone())
            .bind(input.body.clone())
            .bind(at.clone())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(Error::NotFound(format!("template {id}")));
            }
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO message_templates (id, name, channel, object, language, subject, body, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(id.clone())
            .bind(input.name.trim().to_string())
            .bind(input.channel.clone())
            .bind(input.object.clone())
            .bind(input.language.clone())
            .bind(input.subject.clone())
            .bind(input.body.clone())
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

pub async fn get(db: &Db, id: &str) -> Result<MessageTemplate> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM message_templates WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("template {id}")))?;
    from_row(&row)
}

/// Every template, by name.
pub async fn list(db: &Db) -> Result<Vec<MessageTemplate>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM message_templates ORDER BY name, id")))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes a template no enabled workflow uses.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    get(db, id).await?;
    if super::workflows::template_in_use(db, id).await? {
        return Err(Error::Conflict { code: "template_in_use", details: Vec::new() });
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM message_templates WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use peyvand_records::FieldDef;

    fn catalog() -> Catalog {
        let mut company =
            ObjectDef::plain("company", "name", vec![FieldDef::plain("company", "name", FieldType::Text)]);
        company.fields.push(FieldDef::plain("company", "city", FieldType::Text));
        let mut rel = FieldDef::plain("contact", "company", FieldType::Relation);
        rel.options.target = Some("company".into());
        let contact = ObjectDef::plain(
            "contact",
            "last_name",
            vec![FieldDef::plain("contact", "last_name", FieldType::Text), rel],
        );
        let mut order_rel = FieldDef::plain("order", "contact", FieldType::Relation);
        order_rel.options.target = Some("contact".into());
        let order =
            ObjectDef::plain("order", "number", vec![FieldDef::plain("order", "number", FieldType::Text), order_rel]);
        Catalog { objects: vec![Arc::new(company), Arc::new(contact), Arc::new(order)], ..Catalog::default() }
    }

    #[test]
    fn a_template_is_checked_at_save_with_line_and_column() {
        let c = catalog();
        let contact = c.object("contact").unwrap_or_else(|| panic!("contact"));
        assert_eq!(check(&c, &contact, "body", "سلام {{ record.last_name }} از {{ record.company.city }}"), Ok(()));
        assert_eq!(check(&c, &contact, "body", "{% for o in related.order %}{{ o.number }}{% endfor %}"), Ok(()));
        let e = check(&c, &contact, "body", "Hi\n  {{ record.last_nme }}").expect_err("unknown field");
        assert_eq!(e.code, "template_unknown_field");
        assert_eq!(e.params["name"], "record.last_nme");
        assert_eq!((e.params["line"].as_u64(), e.params["column"].as_u64()), (Some(2), Some(6)));
        let e = check(&c, &contact, "body", "{{ record.company.nope }}").expect_err("unknown related field");
        assert_eq!(e.params["name"], "record.company.nope");
        let e = check(&c, &contact, "body", "ok\n{% if record.last_name %}\nno end").expect_err("syntax");
        assert_eq!(e.code, "template_syntax");
        assert!(e.params["line"].as_u64().is_some_and(|l| l >= 2), "{:?}", e.params);
        assert!(check(&c, &contact, "body", "{% include 'x' %}").is_err(), "no includes");
        assert!(check(&c, &contact, "body", "{{ related.thing }}").is_err());
    }

    #[test]
    fn rendering_is_bounded_and_formats_as_the_reader_expects() {
        let ctx = Mv::from(minijinja::value::Serde(json!({ "raw": { "d": "2026-12-05", "n": "1250000" } })));
        assert_eq!(
            render("fa", "body", "{{ raw.d | long_date }} {{ raw.n | number }}", &ctx),
            Ok("۱۴ آذر ۱۴۰۵ ۱٬۲۵۰٬۰۰۰".into())
        );
        assert_eq!(
            render("en", "body", "{{ raw.d | long_date }} {{ raw.n | number }}", &ctx),
            Ok("5 December 2026 1,250,000".into())
        );
        let e = render(
            "fa",
            "body",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &ctx,
        )
        .expect_err("runs forever");
        assert_eq!(e.code, "template_too_slow");
    }
}
