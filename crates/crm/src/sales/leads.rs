//! Leads: someone who may buy, from a web form, an import, a call, a walk-in, a referral or a
//! campaign. Qualified, a lead converts in one step and one transaction into a contact (or an
//! existing one the duplicate check found), a company (likewise) and optionally a deal; the lead
//! keeps links to what it became, its activities move to the contact's timeline, and a lead
//! converted once is not converted again (a second try is refused naming what it became).

use super::DEFAULT_PIPELINE;
use peyvand_records::FieldError;
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::filter::parse_filter;
use peyvand_records::validate::{Mode, validate};
use peyvand_store::hooks::{BoxFuture, HookCx, Pending, WriteHook};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

/// What a conversion makes, as asked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// An existing contact to convert into, instead of a new one.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// An existing company, instead of a new one made from the lead's company name.
    #[serde(default)]
    pub company_id: Option<String>,
    /// Make no company even if the lead names one.
    #[serde(default)]
    pub no_company: bool,
    /// A deal to open for the contact: its fields (name, amount, pipeline, stage, expected close…);
    /// the name defaults to the company's or the person's.
    #[serde(default)]
    pub deal: Option<Map<String, Json>>,
}

/// What a lead became.
#[derive(Clone, Debug, Serialize)]
pub struct Converted {
    pub lead: Record,
    pub contact: Record,
    pub company: Option<Record>,
    pub deal: Option<Record>,
    /// Activities moved to the contact's timeline.
    pub activities: usize,
}

/// Fields copied from a lead to the contact it becomes.
const CONTACT_FIELDS: [&str; 6] = ["first_name", "last_name", "job_title", "emails", "phones", "city"];

/// Converts `lead_id` as `how` asks, in one transaction, acting as `db`'s user (who must be able
/// to change the lead and create what it becomes).
pub async fn convert(db: &Db, actor: Option<&str>, lead_id: &str, how: Conversion) -> Result<Converted> {
    let catalog = db.catalog().await?;
    let object = |name: &str| catalog.object(name).ok_or_else(|| Error::NotFound(format!("object {name}")));
    let (lead_obj, contact_obj, company_obj, deal_obj, activity_obj) =
        (object("lead")?, object("contact")?, object("company")?, object("deal")?, object("activity")?);
    // The lead's activities, read before the write begins (it holds no connection while
    // waiting for another).
    let activities = if activity_obj.field("lead").is_some() {
        let filter = parse_filter(&activity_obj, &json!({ "field": "lead", "op": "eq", "value": lead_id }))
            .map_err(Error::invalid)?;
        all_ids(&db.system(), &activity_obj, filter).await?
    } else {
        Vec::new()
    };
    let mut tx = db.write().await?;
    let lead = db.get_in(&mut tx, &lead_obj, lead_id).await?;
    let text = |name: &str| lead.fields.get(name).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty());
    if lead.fields.get("converted_at").is_some_and(|v| !v.is_null()) {
        let became: Map<String, Json> = ["converted_contact", "converted_company", "converted_deal"]
            .iter()
            .map(|f| (f.to_string(), lead.fields.get(*f).cloned().unwrap_or(Json::Null)))
            .collect();
        return Err(Error::Conflict {
            code: "lead_converted",
            details: vec![FieldError::with("lead", "lead_converted", Json::Object(became))],
        });
    }
    if lead.fields.get("status").and_then(Json::as_str) == Some("disqualified") {
        return Err(Error::Conflict {
            code: "lead_disqualified",
            details: vec![FieldError::new("status", "lead_disqualified")],
        });
    }
    let owner = lead.fields.get(OWNER_FIELD).cloned().unwrap_or(Json::Null);

    // The company: the one named, else a new one from the lead's company name (unless asked not to).
    let company = match (&how.company_id, text("company_name")) {
        (Some(id), _) => Some(db.get_in(&mut tx, &company_obj, id).await.map_err(|e| named(e, "company_id"))?),
        (None, Some(name)) if !how.no_company => {
            let input = fields(json!({ "name": name, "city": lead.fields.get("city"), OWNER_FIELD: owner }));
            Some(create(db, &mut tx, actor, &company_obj, &input).await?)
        }
        _ => None,
    };
    // The contact: the one named (given the company if it has none), else a new one.
    let contact = match &how.contact_id {
        Some(id) => {
            let existing = db.get_in(&mut tx, &contact_obj, id).await.map_err(|e| named(e, "contact_id"))?;
            match (&company, existing.fields.get("company").is_none_or(Json::is_null)) {
                (Some(c), true) => {
                    let input = fields(json!({ "company": c.id }));
                    update(db, &mut tx, actor, &contact_obj, id, &input).await?
                }
                _ => existing,
            }
        }
        None => {
            let mut input = Map::new();
            for f in CONTACT_FIELDS {
                if let Some(v) = lead.fields.get(f).filter(|v| !v.is_null()) {
                    input.insert(f.to_string(), v.clone());
                }
            }
            input.insert("company".into(), company.as_ref().map_or(Json::Null, |c| json!(c.id)));
            input.insert(OWNER_FIELD.into(), owner.clone());
            input.insert("lifecycle_stage".into(), json!(if how.deal.is_some() { "opportunity" } else { "lead" }));
            if let Some(source) = lead.fields.get("source").and_then(Json::as_str).and_then(contact_source) {
                input.insert("source".into(), json!(source));
            }
            create(db, &mut tx, actor, &contact_obj, &input).await?
        }
    };
    // The deal, if asked for.
    let deal = match &how.deal {
        Some(given) => {
            let mut input = given.clone();
            let name = company.as_ref().map_or_else(|| contact.title.clone(), |c| c.title.clone());
            input.entry("name").or_insert_with(|| json!(name));
            input.insert("contact".into(), json!(contact.id));
            if let Some(c) = &company {
                input.insert("company".into(), json!(c.id));
            }
            input.entry(OWNER_FIELD).or_insert(owner.clone());
            input.entry("pipeline").or_insert_with(|| json!(DEFAULT_PIPELINE));
            Some(create(db, &mut tx, actor, &deal_obj, &input).await.map_err(|e| prefix(e, "deal"))?)
        }
        None => None,
    };
    // The lead's activities join the contact's timeline (and the deal's).
    let mut moved = 0;
    for id in &activities {
        let mut input = fields(json!({ "contact": contact.id }));
        if let Some(c) = &company {
            input.insert("company".into(), json!(c.id));
        }
        if let Some(d) = &deal {
            input.insert("deal".into(), json!(d.id));
        }
        match update(&db.system(), &mut tx, actor, &activity_obj, id, &input).await {
            Ok(_) => moved += 1,
            // Trashed since it was listed: it stays with the lead.
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut input = fields(json!({
        "status": "qualified",
        "converted_contact": contact.id,
        "converted_company": company.as_ref().map(|c| c.id.clone()),
        "converted_deal": deal.as_ref().map(|d| d.id.clone()),
        "converted_at": peyvand_store::now(),
    }));
    input.retain(|_, v| !v.is_null());
    let lead = update(db, &mut tx, actor, &lead_obj, lead_id, &input).await?;
    tx.commit().await?;
    Ok(Converted { lead, contact, company, deal, activities: moved })
}

/// The lead's source as a contact's source (their lists differ a little).
fn contact_source(lead_source: &str) -> Option<&'static str> {
    Some(match lead_source {
        "web_form" => "web",
        "import" => "import",
        "phone" => "phone",
        "referral" => "referral",
        "campaign" | "walk_in" | "other" => "other",
        _ => return None,
    })
}

fn fields(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

/// An error's fields named under `what` (`deal.stage`).
fn prefix(e: Error, what: &str) -> Error {
    let rename = |errors: Vec<FieldError>| {
        errors.into_iter().map(|e| FieldError { field: format!("{what}.{}", e.field), ..e }).collect()
    };
    match e {
        Error::Validation(errors) => Error::Validation(rename(errors)),
        Error::Conflict { code, details } => Error::Conflict { code, details: rename(details) },
        other => other,
    }
}

/// A record named by the request that is not there (or out of reach), as a field's error.
fn named(e: Error, field: &str) -> Error {
    match e {
        Error::NotFound(_) | Error::Forbidden(_) => Error::invalid(FieldError::new(field, "invalid_reference")),
        other => other,
    }
}

async fn create(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    actor: Option<&str>,
    obj: &peyvand_records::ObjectDef,
    input: &Map<String, Json>,
) -> Result<Record> {
    let input: Map<String, Json> =
        input.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    let changes = validate(obj, &input, Mode::Create).map_err(Error::Validation)?;
    let id = db.create_in(tx, actor, obj, &changes.values).await?;
    db.get_in(tx, obj, &id).await
}

async fn update(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    actor: Option<&str>,
    obj: &peyvand_records::ObjectDef,
    id: &str,
    input: &Map<String, Json>,
) -> Result<Record> {
    let changes = validate(obj, input, Mode::Update).map_err(Error::Validation)?;
    db.update_in(tx, actor, obj, id, changes.values, None).await
}

/// Records that may be the lead already: contacts sharing an e-mail or phone, or of the same
/// name; companies of the same name. What the user may read, at most five of each.
pub async fn matches(db: &Db, lead: &Record) -> Result<(Vec<Record>, Vec<Record>)> {
    let catalog = db.visible_catalog().await?;
    let mut contacts = Vec::new();
    if let Some(contact) = catalog.object("contact") {
        let mut any = Vec::new();
        for field in ["emails", "phones"] {
            for v in lead.fields.get(field).and_then(Json::as_array).into_iter().flatten() {
                if contact.field(field).is_some() {
                    any.push(json!({ "field": field, "op": "eq", "value": v }));
                }
            }
        }
        if let Some(last) = lead.fields.get("last_name").and_then(Json::as_str) {
            let mut same = vec![json!({ "field": "last_name", "op": "eq", "value": last })];
            if let Some(first) = lead.fields.get("first_name").and_then(Json::as_str) {
                same.push(json!({ "field": "first_name", "op": "eq", "value": first }));
            }
            any.push(json!({ "and": same }));
        }
        if !any.is_empty() {
            contacts = first_five(db, &contact, json!({ "or": any })).await?;
        }
    }
    let mut companies = Vec::new();
    if let (Some(company), Some(name)) =
        (catalog.object("company"), lead.fields.get("company_name").and_then(Json::as_str))
    {
        companies = first_five(db, &company, json!({ "field": "name", "op": "eq", "value": name })).await?;
    }
    Ok((contacts, companies))
}

/// Every live record of `obj` meeting `filter`, by pages.
async fn all_ids(
    db: &Db,
    obj: &peyvand_records::ObjectDef,
    filter: peyvand_records::filter::Filter,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            filter: Some(filter.clone()),
            sort: Vec::new(),
            limit: Some(200),
            cursor: cursor.take(),
            trash: false,
            with_total: false,
            exact_total: false,
            fields: Some(Vec::new()),
        };
        let page = db.list_records(&obj.api_name, &query).await?;
        ids.extend(page.records.into_iter().map(|r| r.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
}

async fn first_five(db: &Db, obj: &peyvand_records::ObjectDef, filter: Json) -> Result<Vec<Record>> {
    let query = ListQuery {
        filter: Some(parse_filter(obj, &filter).map_err(Error::invalid)?),
        sort: Vec::new(),
        limit: Some(5),
        cursor: None,
        trash: false,
        with_total: false,
        exact_total: false,
        fields: None,
    };
    Ok(db.list_records(&obj.api_name, &query).await?.records)
}

/// A disqualified lead needs a reason; what a lead became stays as the conversion set it.
pub(crate) struct LeadRules;

impl WriteHook for LeadRules {
    fn objects(&self) -> &'static [&'static str] {
        &["lead"]
    }

    fn before<'a>(&'a self, _cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut errors = Vec::new();
            if write.after("status") == "disqualified" && write.after("disqualify_reason").is_null() {
                errors.push(FieldError::new("disqualify_reason", "reason_required"));
            }
            if !write.before("converted_at").is_null() {
                for field in ["converted_contact", "converted_company", "converted_deal", "converted_at"] {
                    if write.changes(field) {
                        errors.push(FieldError::new(field, "lead_converted"));
                    }
                }
                if write.changes("status") && write.after("status") != "qualified" {
                    errors.push(FieldError::new("status", "lead_converted"));
                }
            }
            if write.is_create() && !write.after("converted_at").is_null() {
                errors.push(FieldError::new("converted_at", "read_only"));
            }
            if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
        })
    }
}

/// A lead as a visitor sends it from the web form.
#[derive(Clone, Debug, Default)]
pub struct WebLead {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub company_name: String,
    pub city: String,
    pub message: String,
    pub campaign: String,
}

/// Makes a lead from the public web form, as the system: source `web_form`, owned by the
/// longest-serving active admin until assignment rules exist (automation). Errors name the
/// form's fields.
pub async fn from_web_form(db: &Db, form: WebLead) -> Result<Record> {
    let db = db.system();
    let owner = db
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.active && u.role == peyvand_records::access::Role::Admin)
        .min_by(|a, b| a.created_at.cmp(&b.created_at))
        .map(|u| u.id);
    let some = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let mut input = Map::new();
    for (field, value) in [
        ("first_name", some(&form.first_name)),
        ("last_name", some(&form.last_name)),
        ("company_name", some(&form.company_name)),
        ("city", some(&form.city)),
        ("description", some(&form.message)),
        ("campaign", some(&form.campaign)),
        (OWNER_FIELD, owner),
    ] {
        if let Some(v) = value {
            input.insert(field.into(), json!(v));
        }
    }
    if let Some(email) = some(&form.email) {
        input.insert("emails".into(), json!([email]));
    }
    if let Some(phone) = some(&form.phone) {
        input.insert("phones".into(), json!([phone]));
    }
    input.insert("source".into(), json!("web_form"));
    input.insert("status".into(), json!("new"));
    let rename = |e: Error| match e {
        Error::Validation(errors) => Error::Validation(
            errors
                .into_iter()
                .map(|e| match e.field.as_str() {
                    "emails" => FieldError { field: "email".into(), ..e },
                    "phones" => FieldError { field: "phone".into(), ..e },
                    "description" => FieldError { field: "message".into(), ..e },
                    _ => e,
                })
                .collect(),
        ),
        other => other,
    };
    Ok(db.create_record(None, "lead", &input, None).await.map_err(rename)?.0)
}
