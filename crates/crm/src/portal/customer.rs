//! What a signed-in customer reads and does. Every function takes the [`Customer`] and reaches
//! only their records (a record's `contact` is theirs, or its `company` is, where they may act for
//! it); any other id is not found. Each answers a portal view built field by field.

use super::Account;
use crate::loyalty::{ledger, programs, referrals, rewards};
use crate::sales::documents::{self, Kind};
use crate::service::conversation::{self, Upload};
use peyvand_records::FieldError;
use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_records::validate::{Mode, validate};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Error, Result};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

/// A signed-in customer.
#[derive(Clone, Debug)]
pub struct Customer {
    pub account: Account,
    pub contact: String,
    /// Their company, when they may act for it.
    pub company: Option<String>,
    pub name: String,
}

/// The customer an account signs in as (its contact gone: none).
pub async fn customer(db: &Db, account: Account) -> Result<Option<Customer>> {
    let system = db.system();
    let contact = match system.get_record("contact", &account.contact_id, false).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let company = account
        .company_access
        .then(|| contact.fields.get("company").and_then(Json::as_str).map(str::to_string))
        .flatten();
    Ok(Some(Customer { contact: contact.id.clone(), company, name: contact.title.clone(), account }))
}

impl Customer {
    fn filter(&self) -> Json {
        let mine = json!({ "field": "contact", "op": "eq", "value": self.contact });
        match &self.company {
            Some(c) => json!({ "or": [mine, { "field": "company", "op": "eq", "value": c }] }),
            None => mine,
        }
    }

    /// Whether a record is theirs (or their company's, where they act for it).
    pub fn owns(&self, record: &Record) -> bool {
        let of = |f: &str| record.fields.get(f).and_then(Json::as_str);
        of("contact") == Some(self.contact.as_str())
            || self.company.as_deref().is_some_and(|c| of("company") == Some(c))
    }
}

/// The customer's record of `object` by id, or not found.
async fn theirs(db: &Db, c: &Customer, object: &str, id: &str) -> Result<Record> {
    let not_found = || Error::NotFound(format!("{object} {id}"));
    let record = match db.system().get_record(object, id, false).await {
        Ok(r) => r,
        Err(Error::NotFound(_) | Error::Validation(_)) => return Err(not_found()),
        Err(e) => return Err(e),
    };
    if c.owns(&record) && !hidden(&record) { Ok(record) } else { Err(not_found()) }
}

/// What a customer never sees of an object: quotes still being drafted.
fn hidden(record: &Record) -> bool {
    record.object == "quote" && text(record, "status").as_deref() == Some("draft")
}

async fn list_theirs(db: &Db, c: &Customer, object: &str, sort: &str, limit: u32) -> Result<Vec<Record>> {
    Ok(list_page(db, c, object, sort, limit, None).await?.records)
}

async fn list_page(
    db: &Db,
    c: &Customer,
    object: &str,
    sort: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<peyvand_store::records::Page> {
    let system = db.system();
    let obj = system.object(object).await?;
    let mut filter = c.filter();
    if object == "quote" {
        filter = json!({ "and": [filter, { "field": "status", "op": "ne", "value": "draft" }] });
    }
    let query = ListQuery {
        filter: Some(parse_filter(&obj, &filter).map_err(Error::invalid)?),
        sort: parse_sort(&obj, sort).map_err(Error::invalid)?,
        limit: Some(limit),
        cursor: cursor.map(str::to_string),
        ..ListQuery::default()
    };
    system.list_records(object, &query).await
}

fn text(record: &Record, field: &str) -> Option<String> {
    record.fields.get(field).and_then(Json::as_str).map(str::to_string)
}

fn value(record: &Record, field: &str) -> Option<Json> {
    record.fields.get(field).filter(|v| !v.is_null()).cloned()
}

/// An order or a quote as its customer sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Document {
    pub id: String,
    /// `order` or `quote`.
    pub object: String,
    pub number: Option<String>,
    pub status: Option<String>,
    /// When it was ordered (an order) or issued (a quote).
    pub date: Option<String>,
    pub valid_until: Option<String>,
    pub subtotal: Option<Json>,
    pub discount_total: Option<Json>,
    pub tax_total: Option<Json>,
    pub total: Option<Json>,
}

impl Document {
    fn of(record: &Record) -> Document {
        let date = if record.object == "quote" { "issued_on" } else { "ordered_at" };
        Document {
            id: record.id.clone(),
            object: record.object.clone(),
            number: text(record, "number"),
            status: text(record, "status"),
            date: text(record, date),
            valid_until: text(record, "valid_until"),
            subtotal: value(record, "subtotal"),
            discount_total: value(record, "discount_total"),
            tax_total: value(record, "tax_total"),
            total: value(record, "total"),
        }
    }
}

/// One line of an order or quote as its customer sees it (no cost, no price source).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    pub product: Option<String>,
    pub description: Option<String>,
    pub quantity: Option<Json>,
    pub unit_price: Option<Json>,
    pub discount: Option<Json>,
    pub tax: Option<Json>,
    pub total: Option<Json>,
}

/// Most orders or quotes a page lists.
pub const PAGE: u32 = 50;

/// The customer's orders (`order`) or quotes (`quote`), newest first, a page of [`PAGE`] from
/// `cursor`, with the next page's cursor.
pub async fn documents_page(
    db: &Db,
    c: &Customer,
    object: &str,
    cursor: Option<&str>,
) -> Result<(Vec<Document>, Option<String>)> {
    let sort = if object == "quote" { "-issued_on" } else { "-ordered_at" };
    if !matches!(object, "order" | "quote") {
        return Err(Error::NotFound(object.to_string()));
    }
    let page = list_page(db, c, object, sort, PAGE, cursor).await?;
    Ok((page.records.iter().map(Document::of).collect(), page.next_cursor))
}

/// The first page of [`documents_page`].
pub async fn documents(db: &Db, c: &Customer, object: &str) -> Result<Vec<Document>> {
    Ok(documents_page(db, c, object, None).await?.0)
}

/// One of the customer's orders or quotes with its lines.
pub async fn document(db: &Db, c: &Customer, object: &str, id: &str) -> Result<(Document, Vec<Line>)> {
    let kind = Kind::of_header(object).ok_or_else(|| Error::NotFound(object.to_string()))?;
    let record = theirs(db, c, object, id).await?;
    let lines = documents::lines(&db.system(), kind, id).await?;
    let products: Vec<String> = lines.iter().filter_map(|l| text(l, "product")).collect();
    let names = db.system().titles("product", &products).await?;
    let lines = lines
        .iter()
        .map(|l| Line {
            product: text(l, "product").and_then(|p| names.get(&p).cloned()),
            description: text(l, "description"),
            quantity: value(l, "quantity"),
            unit_price: value(l, "unit_price"),
            discount: value(l, "discount"),
            tax: value(l, "tax"),
            total: value(l, "total"),
        })
        .collect();
    Ok((Document::of(&record), lines))
}

/// One of the customer's orders or sent quotes as kept, for its printed invoice or quote (a
/// document made for the customer: the business, the customer, the lines and the totals).
pub async fn printable(db: &Db, c: &Customer, object: &str, id: &str) -> Result<Record> {
    if !matches!(object, "order" | "quote") {
        return Err(Error::NotFound(object.to_string()));
    }
    theirs(db, c, object, id).await
}

/// A request or complaint as its customer sees it (no owner, queue, priority or deadlines).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ticket {
    pub id: String,
    pub number: Option<String>,
    pub subject: String,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub opened_at: Option<String>,
    pub updated_at: String,
}

impl Ticket {
    fn of(record: &Record) -> Ticket {
        Ticket {
            id: record.id.clone(),
            number: text(record, "number"),
            subject: text(record, "subject").unwrap_or_default(),
            kind: text(record, "kind"),
            status: text(record, "status"),
            opened_at: text(record, "opened_at").or_else(|| Some(record.created_at.clone())),
            updated_at: record.updated_at.clone(),
        }
    }

    /// Whether the customer may still write to it and close it.
    pub fn open(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s != "closed")
    }
}

/// A message of a request's conversation the customer sees (public ones only).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub id: String,
    /// Written by the customer (else by the business).
    pub mine: bool,
    pub body: String,
    pub at: String,
    pub files: Vec<(String, String, i64)>,
}

/// The customer's requests and complaints, newest first.
pub async fn tickets(db: &Db, c: &Customer) -> Result<Vec<Ticket>> {
    Ok(list_theirs(db, c, "ticket", "-created_at", PAGE).await?.iter().map(Ticket::of).collect())
}

/// One of the customer's requests with its public conversation, oldest first.
pub async fn ticket(db: &Db, c: &Customer, id: &str) -> Result<(Ticket, Vec<Message>)> {
    let record = theirs(db, c, "ticket", id).await?;
    let messages = conversation::messages(&db.system(), id)
        .await?
        .into_iter()
        .filter(|m| m.public && m.event.is_none())
        .map(|m| Message {
            mine: m.author_contact.is_some() && m.author_user.is_none(),
            files: m.attachments.iter().map(|a| (a.id.clone(), a.file_name.clone(), a.size)).collect(),
            id: m.id,
            body: m.body,
            at: m.created_at,
        })
        .collect();
    Ok((Ticket::of(&record), messages))
}

/// A file of one of the customer's requests (a public message's only).
pub async fn ticket_file(
    db: &Db,
    c: &Customer,
    ticket: &str,
    file: &str,
) -> Result<(conversation::Attachment, Vec<u8>)> {
    let (_, messages) = self::ticket(db, c, ticket).await?;
    if !messages.iter().any(|m| m.files.iter().any(|(id, _, _)| id == file)) {
        return Err(Error::NotFound(format!("file {file}")));
    }
    conversation::attachment(&db.system(), ticket, file).await
}

/// Kinds of request a customer opens.
pub const KINDS: [&str; 4] = ["request", "complaint", "question", "return"];
/// Longest subject.
pub const MAX_SUBJECT: usize = 200;

/// A request or complaint as the customer writes it.
#[derive(Clone, Debug, Default)]
pub struct NewTicket {
    pub subject: String,
    pub kind: String,
    pub body: String,
    /// One of their orders it is about.
    pub order: Option<String>,
    pub files: Vec<Upload>,
}

/// Opens a request from the portal, with its first message and files, in one write.
pub async fn open_ticket(db: &Db, c: &Customer, input: &NewTicket) -> Result<Ticket> {
    let mut errors = Vec::new();
    let subject = input.subject.trim();
    if subject.is_empty() {
        errors.push(FieldError::new("subject", "required"));
    } else if subject.chars().count() > MAX_SUBJECT {
        errors.push(FieldError::with("subject", "too_long", json!({ "max": MAX_SUBJECT })));
    }
    if !KINDS.contains(&input.kind.as_str()) {
        errors.push(FieldError::new("kind", "invalid_option"));
    }
    if input.body.trim().is_empty() {
        errors.push(FieldError::new("body", "required"));
    }
    check_files(&input.files, &mut errors);
    if let Some(order) = input.order.as_deref().filter(|o| !o.is_empty())
        && theirs(db, c, "order", order).await.is_err()
    {
        errors.push(FieldError::new("order", "invalid_option"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let system = db.system();
    let obj = system.object("ticket").await?;
    let mut fields = Map::new();
    fields.insert("subject".into(), json!(subject));
    fields.insert("kind".into(), json!(input.kind));
    fields.insert("channel".into(), json!("portal"));
    fields.insert("contact".into(), json!(c.contact));
    if let Some(company) = &c.company {
        fields.insert("company".into(), json!(company));
    }
    if let Some(order) = input.order.as_deref().filter(|o| !o.is_empty()) {
        fields.insert("order".into(), json!(order));
    }
    fields.insert("description".into(), json!(input.body.trim()));
    let changes = validate(&obj, &fields, Mode::Create).map_err(Error::Validation)?;
    let mut tx = system.write().await?;
    let id = system.create_in(&mut tx, None, &obj, &changes.values).await?;
    conversation::customer_message_in(&system, &mut tx, &id, Some(&c.contact), &input.body, &input.files).await?;
    let record = system.get_in(&mut tx, &obj, &id).await?;
    tx.commit().await?;
    Ok(Ticket::of(&record))
}

fn check_files(files: &[Upload], errors: &mut Vec<FieldError>) {
    if let Err(more) = conversation::check_files(files) {
        errors.extend(more);
    }
}

/// The customer's reply to one of their requests (it opens again if it waited on them or was
/// resolved); a closed one takes none.
pub async fn reply(db: &Db, c: &Customer, ticket: &str, body: &str, files: &[Upload]) -> Result<Message> {
    let record = theirs(db, c, "ticket", ticket).await?;
    let mut errors = Vec::new();
    if body.trim().is_empty() {
        errors.push(FieldError::new("body", "required"));
    }
    check_files(files, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if !Ticket::of(&record).open() {
        return Err(Error::Conflict { code: "ticket_closed", details: Vec::new() });
    }
    let system = db.system();
    let mut tx = system.write().await?;
    let m = conversation::customer_message_in(&system, &mut tx, ticket, Some(&c.contact), body, files).await?;
    tx.commit().await?;
    Ok(Message {
        mine: true,
        files: m.attachments.iter().map(|a| (a.id.clone(), a.file_name.clone(), a.size)).collect(),
        id: m.id,
        body: m.body,
        at: m.created_at,
    })
}

/// The customer closes one of their requests (solved for them).
pub async fn close(db: &Db, c: &Customer, ticket: &str) -> Result<Ticket> {
    let record = theirs(db, c, "ticket", ticket).await?;
    if !Ticket::of(&record).open() {
        return Ok(Ticket::of(&record));
    }
    let system = db.system();
    let obj = system.object("ticket").await?;
    let mut input = Map::new();
    input.insert("status".into(), json!("closed"));
    let changes = validate(&obj, &input, Mode::Update).map_err(Error::Validation)?;
    let mut tx = system.write().await?;
    let updated = system.update_in(&mut tx, None, &obj, ticket, changes.values, None).await?;
    tx.commit().await?;
    Ok(Ticket::of(&updated))
}

/// A program the customer is a member of, as they see it.
#[derive(Clone, Debug, Serialize)]
pub struct Membership {
    pub program: programs::Program,
    pub member: ledger::Member,
    pub tier_name: Option<String>,
    pub next_tier: Option<(String, i64)>,
    pub rewards: Vec<rewards::Reward>,
    pub entries: Vec<ledger::Entry>,
}

/// The customer's loyalty: each program they belong to with its rewards and latest entries,
/// and their referral code.
pub async fn loyalty(db: &Db, c: &Customer, lang: &str) -> Result<(Vec<Membership>, String)> {
    let mut out = Vec::new();
    for member in ledger::memberships(db, &c.contact).await? {
        let program = programs::get(db, &member.program_id).await?;
        let tier_name = member
            .tier
            .as_deref()
            .and_then(|t| program.definition.tier(t))
            .map(|t| crate::forms::pick(lang, &t.name_fa, &t.name_en).to_string());
        let next_tier = program
            .definition
            .tiers
            .iter()
            .filter(|t| t.threshold > member.earned)
            .min_by_key(|t| t.threshold)
            .map(|t| (crate::forms::pick(lang, &t.name_fa, &t.name_en).to_string(), t.threshold - member.earned));
        let rewards =
            rewards::list(db, &program.id).await?.into_iter().filter(|r| r.definition.active).collect::<Vec<_>>();
        let entries = ledger::entries(db, &program.id, &c.contact, "0000", "9999", 20).await?;
        out.push(Membership { program, member, tier_name, next_tier, rewards, entries });
    }
    let code = referrals::code_for(db, &c.contact).await?;
    Ok((out, code))
}

/// The customer redeems a reward of a program they belong to.
pub async fn redeem(db: &Db, c: &Customer, program: &str, reward: &str) -> Result<rewards::Redemption> {
    if ledger::member(db, program, &c.contact).await?.is_none() {
        return Err(Error::NotFound(format!("program {program}")));
    }
    let found = rewards::get(db, reward).await?;
    if found.program_id != program || !found.definition.active {
        return Err(Error::NotFound(format!("reward {reward}")));
    }
    rewards::redeem(db, program, &c.contact, rewards::Redeem { reward, order: None, key: None, actor: None }).await
}

/// A product the customer may order (an active one), at its list price; the order prices each
/// line for them (their price list, their benefits) when it is placed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub category: Option<String>,
    pub unit: Option<String>,
    pub price: Option<Json>,
}

/// Most products the portal's shop lists.
pub const SHOP: u32 = 200;
/// Most lines of an order placed in the portal, and the largest quantity of one.
pub const MAX_ORDER_LINES: usize = 50;
pub const MAX_QUANTITY: i64 = 10_000;

fn product_of(record: &Record) -> Product {
    Product {
        id: record.id.clone(),
        name: record.title.clone(),
        category: text(record, "category"),
        unit: text(record, "unit"),
        price: value(record, "price"),
    }
}

/// The products the customer may order, by name, and the names of the benefits they have now.
pub async fn shop(db: &Db, c: &Customer) -> Result<(Vec<Product>, Vec<String>)> {
    let system = db.system();
    let obj = system.object("product").await?;
    let query = ListQuery {
        filter: Some(
            parse_filter(&obj, &json!({ "field": "active", "op": "eq", "value": true })).map_err(Error::invalid)?,
        ),
        sort: parse_sort(&obj, "name").map_err(Error::invalid)?,
        limit: Some(SHOP),
        ..ListQuery::default()
    };
    let records = system.list_records("product", &query).await?.records;
    let contact = system.get_record("contact", &c.contact, false).await?;
    let company = contact.fields.get("company").and_then(Json::as_str).map(str::to_string);
    // Each at the price that applies to them (their own list, their group's, everyone's), in the
    // orders' currency, as the order will price it before benefits.
    let company_record = match &company {
        Some(id) => system.get_record("company", id, false).await.ok(),
        None => None,
    };
    let groups = crate::sales::benefits::groups_of(Some(&contact), company_record.as_ref());
    let order = system.object("order").await?;
    let (currency, scale) = match order.field("total") {
        Some(f) => {
            (f.options.currency.clone().unwrap_or_else(|| "IRR".into()), f.options.scale_or_default(f.field_type))
        }
        None => ("IRR".to_string(), 0),
    };
    let whom = crate::sales::prices::Customer { contact: Some(&c.contact), company: company.as_deref() };
    let prices = crate::sales::prices::for_customer(&system, &records, &whom, &groups, &currency, scale).await?;
    let products = records
        .iter()
        .map(|r| Product {
            price: prices.get(&r.id).map(|d| json!({ "amount": d.to_string(), "currency": currency })),
            ..product_of(r)
        })
        .collect();
    let benefits = crate::sales::benefits::for_customer(&system, Some(&c.contact), company.as_deref())
        .await?
        .into_iter()
        .map(|b| b.record.title)
        .collect();
    Ok((products, benefits))
}

/// The customer places an order of `(product, quantity)` lines (others left out: a quantity of
/// nothing or zero). It arrives as a pending order of theirs, marked as placed in the portal,
/// for its owner to confirm; every price is the server's. Refused as a whole: a product not
/// sold (inactive or unknown), a quantity that is not a positive number up to [`MAX_QUANTITY`].
pub async fn place_order(db: &Db, c: &Customer, wanted: &[(String, String)]) -> Result<Document> {
    let system = db.system();
    let wanted: Vec<(String, String)> = wanted
        .iter()
        .map(|(p, q)| (p.trim().to_string(), peyvand_records::normalize::to_latin_digits(q.trim())))
        .filter(|(p, q)| !p.is_empty() && !q.is_empty() && !q.trim_start_matches(['0', '.']).is_empty())
        .collect();
    let mut errors = Vec::new();
    if wanted.is_empty() {
        errors.push(FieldError::new("lines", "required"));
    }
    if wanted.len() > MAX_ORDER_LINES {
        errors.push(FieldError::with("lines", "too_many_values", json!({ "max": MAX_ORDER_LINES })));
    }
    for (i, (product, quantity)) in wanted.iter().enumerate() {
        let sold = match system.get_record("product", product, false).await {
            Ok(p) => p.fields.get("active").and_then(Json::as_bool) != Some(false),
            Err(Error::NotFound(_) | Error::Validation(_)) => false,
            Err(e) => return Err(e),
        };
        if !sold {
            errors.push(FieldError::new(&format!("lines.{i}.product"), "portal_not_sold"));
        }
        let fits = peyvand_records::decimal::Decimal::parse(quantity, 3)
            .is_ok_and(|d| d.units > 0 && d.units <= MAX_QUANTITY * 1000);
        if !fits {
            errors.push(FieldError::with(
                &format!("lines.{i}.quantity"),
                "out_of_range",
                json!({ "min": 0, "max": MAX_QUANTITY }),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let contact = system.get_record("contact", &c.contact, false).await?;
    let mut fields = Map::new();
    fields.insert("contact".into(), json!(c.contact));
    for f in ["company", peyvand_records::access::OWNER_FIELD] {
        if let Some(v) = contact.fields.get(f).filter(|v| !v.is_null()) {
            fields.insert(f.into(), v.clone());
        }
    }
    fields.insert("status".into(), json!("pending"));
    fields.insert("channel".into(), json!("online"));
    fields.insert("placed_in_portal".into(), json!(true));
    fields.insert("ordered_at".into(), json!(peyvand_store::now()));
    let (order, _) = documents::customer_order(db, fields, wanted).await?;
    Ok(Document::of(&order))
}

/// The customer accepts one of their quotes that was sent to them.
pub async fn accept_quote(db: &Db, c: &Customer, id: &str) -> Result<Document> {
    let record = theirs(db, c, "quote", id).await?;
    if text(&record, "status").as_deref() != Some("sent") {
        return Err(Error::Conflict {
            code: "quote_not_open",
            details: vec![FieldError::new("status", "quote_not_open")],
        });
    }
    let system = db.system();
    let obj = system.object("quote").await?;
    let changes = validate(&obj, &Map::from_iter([("status".into(), json!("accepted"))]), Mode::Update)
        .map_err(Error::Validation)?;
    let mut tx = system.write().await?;
    let updated = system.update_in(&mut tx, None, &obj, id, changes.values, Some(record.version)).await?;
    // On the customer's timeline (and the deal's), for whoever sent the quote: a note the
    // customer made, in both languages (the staff reading it may read either).
    let number = text(&updated, "number").unwrap_or_default();
    let mut note = Map::new();
    note.insert("kind".into(), json!("note"));
    note.insert("direction".into(), json!("inbound"));
    note.insert(
        "subject".into(),
        json!(format!("پیش‌فاکتور {number} در پرتال مشتری پذیرفته شد · Quote {number} accepted in the customer portal")),
    );
    note.insert("occurred_at".into(), json!(peyvand_store::now()));
    note.insert("quote".into(), json!(updated.id));
    note.insert("contact".into(), json!(c.contact));
    for link in ["company", "deal", "owner"] {
        if let Some(v) = updated.fields.get(link).filter(|v| !v.is_null()) {
            note.insert(link.into(), v.clone());
        }
    }
    let activity = system.object("activity").await?;
    let checked = validate(&activity, &note, Mode::Create).map_err(Error::Validation)?;
    system.create_in(&mut tx, None, &activity, &checked.values).await?;
    tx.commit().await?;
    Ok(Document::of(&updated))
}

/// A survey the customer is asked to answer: its name and its link's token (`/s/{token}`), and
/// the request it is about, if one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SurveyAsked {
    pub name: String,
    pub token: String,
    pub ticket: Option<String>,
}

/// The surveys and polls waiting for the customer's answer.
pub async fn surveys(db: &Db, c: &Customer) -> Result<Vec<SurveyAsked>> {
    use crate::feedback::surveys;
    let mut out = Vec::new();
    for invitation in surveys::open_for_contact(db, &c.contact).await? {
        let survey = match surveys::get(db, &invitation.survey_id).await {
            Ok(s) if s.definition.active => s,
            Ok(_) | Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        out.push(SurveyAsked {
            name: survey.definition.name.clone(),
            token: surveys::link_token(db, &invitation.id).await?,
            ticket: (invitation.record_object.as_deref() == Some("ticket")).then_some(invitation.record_id).flatten(),
        });
    }
    Ok(out)
}

/// A published article of the knowledge base as a customer reads it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub summary: Option<String>,
    pub body: String,
}

fn article_of(r: &Record) -> Article {
    Article {
        id: r.id.clone(),
        title: r.title.clone(),
        summary: text(r, "summary"),
        body: text(r, "body").unwrap_or_default(),
    }
}

/// Published articles answering a question (by its words, the Persian normalization), or the
/// newest ones when it has none worth looking for; in the customer's language first.
pub async fn help(db: &Db, question: &str, lang: &str, limit: usize) -> Result<Vec<Article>> {
    use crate::service::knowledge;
    let system = db.system();
    if knowledge::words(question).is_empty() {
        let obj = system.object("kb_article").await?;
        let filter = json!({ "and": [{ "field": "status", "op": "eq", "value": "published" }, { "field": "language", "op": "eq", "value": lang }] });
        let query = ListQuery {
            filter: Some(parse_filter(&obj, &filter).map_err(Error::invalid)?),
            sort: parse_sort(&obj, "-published_at").map_err(Error::invalid)?,
            limit: Some(limit as u32),
            ..ListQuery::default()
        };
        return Ok(system.list_records("kb_article", &query).await?.records.iter().map(article_of).collect());
    }
    let mut found = knowledge::search(&system, question, Some(lang), limit).await?;
    if found.is_empty() {
        found = knowledge::search(&system, question, None, limit).await?;
    }
    Ok(found.iter().map(article_of).collect())
}

/// A published article, or not found.
pub async fn article(db: &Db, id: &str) -> Result<Article> {
    let not_found = || Error::NotFound(format!("kb_article {id}"));
    let record = match db.system().get_record("kb_article", id, false).await {
        Ok(r) => r,
        Err(Error::NotFound(_) | Error::Validation(_)) => return Err(not_found()),
        Err(e) => return Err(e),
    };
    if text(&record, "status").as_deref() != Some("published") {
        return Err(not_found());
    }
    Ok(article_of(&record))
}
