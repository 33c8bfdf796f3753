//! Quotes and orders: a header with lines. A line's price comes from the price lists (`prices`)
//! unless a manager overrides it; its figures (gross, discount, tax, total) and the document's
//! totals are computed here, exactly (`peyvand_records::money`, whose module doc gives the
//! rounding rule), and a total sent by a client that disagrees with the lines is refused naming
//! the field. Lines are written together (`set_lines`, one transaction, the header's version
//! checked), or one by one through the records API; either way the header is totalled in the
//! same transaction. Numbers come from a sequence per kind and year (`sales_numbering`).
//!
//! An order made the way earlier releases made them (a product, a quantity and a total, no
//! lines) gets one line carrying them, its total unchanged.

use super::benefits::{self, BenefitKind};
use super::prices::{self, Customer};
use peyvand_records::access::{OWNER_FIELD, Role};
use peyvand_records::decimal::Decimal;
use peyvand_records::money::{self, Discount, Line, Totals};
use peyvand_records::validate::{Mode, validate};
use peyvand_records::{FieldError, ObjectDef, Value};
use peyvand_store::hooks::{Action, BoxFuture, HookCx, Pending, WriteHook, Written};
use peyvand_store::records::Record;
use peyvand_store::{Db, Error, Result, WriteTx};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;

/// Most lines on one document.
pub const MAX_LINES: usize = 200;

/// A quote or an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Quote,
    Order,
}

impl Kind {
    pub fn header(self) -> &'static str {
        match self {
            Kind::Quote => "quote",
            Kind::Order => "order",
        }
    }

    pub fn line(self) -> &'static str {
        match self {
            Kind::Quote => "quote_line",
            Kind::Order => "order_line",
        }
    }

    pub fn of_header(object: &str) -> Option<Kind> {
        [Kind::Quote, Kind::Order].into_iter().find(|k| k.header() == object)
    }

    fn of_line(object: &str) -> Option<Kind> {
        [Kind::Quote, Kind::Order].into_iter().find(|k| k.line() == object)
    }

    /// The numbering pattern unless an admin set one.
    pub fn default_pattern(self) -> &'static str {
        match self {
            Kind::Quote => "Q-{jy}-{n:5}",
            Kind::Order => "SO-{jy}-{n:5}",
        }
    }
}

/// The fields of a line a client may send; the rest are computed.
const LINE_INPUT: [&str; 7] =
    ["product", "description", "quantity", "unit_price", "discount_percent", "discount_amount", "tax_percent"];
/// A line's computed figures.
const LINE_FIGURES: [&str; 4] = ["gross", "discount", "tax", "total"];
/// A document's computed totals, and the line figure each sums.
const TOTALS: [(&str, &str); 4] =
    [("subtotal", "gross"), ("discount_total", "discount"), ("tax_total", "tax"), ("total", "total")];

/// The lines of a document as sent, to replace its lines (`version`: the header's, as read).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinesInput {
    #[serde(default)]
    pub version: Option<i64>,
    pub lines: Vec<Map<String, Json>>,
}

fn object(db: &Db, name: &str) -> Result<std::sync::Arc<ObjectDef>> {
    db.catalog_cached()?.object(name).ok_or_else(|| Error::NotFound(format!("object {name}")))
}

/// A note on the transaction: the lines of `id` are being written together.
fn batch_note(id: &str) -> String {
    format!("sales.lines:{id}")
}

/// Replaces a document's lines, in one transaction: refused as a whole (errors naming
/// `lines.<n>.<field>`) or written as a whole, with the header totalled once and its version
/// moved on. Returns the header and its lines.
pub async fn set_lines(
    db: &Db,
    actor: Option<&str>,
    kind: Kind,
    id: &str,
    input: LinesInput,
) -> Result<(Record, Vec<Record>)> {
    if input.lines.len() > MAX_LINES {
        return Err(Error::invalid(FieldError::with("lines", "too_many_values", json!({ "max": MAX_LINES }))));
    }
    let (header_obj, line_obj) = (db.object(kind.header()).await?, db.object(kind.line()).await?);
    // Every line's own problems first, all at once (the hooks' come one line at a time).
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(input.lines.len());
    for (i, line) in input.lines.iter().enumerate() {
        let mut fields = Map::new();
        for (name, value) in line {
            if LINE_INPUT.contains(&name.as_str()) {
                fields.insert(name.clone(), value.clone());
            } else if LINE_FIGURES.contains(&name.as_str()) || line_obj.field(name).is_some() {
                errors.push(FieldError::new(&format!("lines.{i}.{name}"), "read_only"));
            } else {
                errors.push(FieldError::new(&format!("lines.{i}.{name}"), "unknown_field"));
            }
        }
        fields.insert(kind.header().into(), json!(id));
        fields.insert("position".into(), json!(i + 1));
        match validate(&line_obj, &fields, Mode::Create) {
            Ok(_) => parsed.push(fields),
            Err(e) => errors.extend(under(&format!("lines.{i}"), e)),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = db.write().await?;
    let header = db.get_in(&mut tx, &header_obj, id).await?;
    if input.version.is_some_and(|v| v != header.version) {
        return Err(Error::Conflict {
            code: "version_conflict",
            details: vec![FieldError::with("version", "version_conflict", json!({ "current": header.version }))],
        });
    }
    let note = batch_note(id);
    tx.notes.insert(note.clone());
    let system = db.system();
    // The lines there are, in order, become the lines sent place by place: a line whose inputs
    // are unchanged stays as it is, another is changed (its figures, price and benefit found
    // again), those past the end go and new ones are added (half the writes of replacing all).
    let olds = lines_of(&system, &mut tx, kind, id).await?;
    for (i, fields) in parsed.iter().enumerate() {
        let at = |e: Error| renamed(e, &format!("lines.{i}"));
        let Some(old) = olds.get(i) else {
            let changes = validate(&line_obj, fields, Mode::Create).map_err(Error::Validation)?;
            db.create_in(&mut tx, actor, &line_obj, &changes.values).await.map_err(at)?;
            continue;
        };
        let mut update = Map::new();
        for name in LINE_INPUT.iter().chain(&["position"]) {
            update.insert(name.to_string(), fields.get(*name).cloned().unwrap_or(Json::Null));
        }
        let changes = validate(&line_obj, &update, Mode::Update).map_err(Error::Validation)?;
        let stored = |name: &str| old.fields.get(name).cloned().unwrap_or(Json::Null);
        let differs = |name: &str| changes.get(name).map(Value::to_json).unwrap_or(Json::Null) != stored(name);
        if !LINE_INPUT.iter().any(|f| differs(f)) {
            if differs("position") {
                let position = changes.values.into_iter().filter(|(f, _)| f.api_name == "position").collect();
                db.update_in(&mut tx, actor, &line_obj, &old.id, position, None).await.map_err(at)?;
            }
            continue;
        }
        // What the rules derived from the old inputs is found again from the new ones.
        let mut values = changes.values;
        for derived in ["benefit", "price_source"] {
            if let Some(f) = line_obj.field(derived) {
                values.push((f, Value::Null));
            }
        }
        db.update_in(&mut tx, actor, &line_obj, &old.id, values, None).await.map_err(at)?;
    }
    for old in olds.iter().skip(parsed.len()) {
        system.delete_in(&mut tx, actor, &line_obj, &old.id).await?;
    }
    tx.notes.remove(&note);
    tx.memo.remove(&format!("sales.pricing:{id}"));
    let header = total_document(&system, &mut tx, actor, kind, id, true).await?;
    let lines = lines_of(&system, &mut tx, kind, id).await?;
    tx.commit().await?;
    Ok((header, lines))
}

/// A document's lines, in order.
async fn lines_of(db: &Db, tx: &mut WriteTx, kind: Kind, id: &str) -> Result<Vec<Record>> {
    let line_obj = object(db, kind.line())?;
    let mut lines = db.find_in(tx, &line_obj, &[(kind.header(), Value::Text(id.into()))], 500).await?;
    lines.sort_by_key(|l| l.fields.get("position").and_then(Json::as_i64).unwrap_or(0));
    Ok(lines)
}

/// A document's lines, in order, for someone who may read it.
pub async fn lines(db: &Db, kind: Kind, id: &str) -> Result<Vec<Record>> {
    db.get_record(kind.header(), id, false).await?;
    let line_obj = db.object(kind.line()).await?;
    let query = peyvand_store::records::ListQuery {
        filter: Some(
            peyvand_records::filter::parse_filter(
                &line_obj,
                &json!({ "field": kind.header(), "op": "eq", "value": id }),
            )
            .map_err(Error::invalid)?,
        ),
        sort: peyvand_records::filter::parse_sort(&line_obj, "position").map_err(Error::invalid)?,
        limit: Some(MAX_LINES as u32),
        cursor: None,
        trash: false,
        with_total: false,
        exact_total: false,
        fields: None,
    };
    Ok(db.system().list_records(kind.line(), &query).await?.records)
}

/// Errors of a part named under `prefix` (`lines.2.quantity`).
fn under(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.into_iter().map(|e| FieldError { field: format!("{prefix}.{}", e.field), ..e }).collect()
}

fn renamed(e: Error, prefix: &str) -> Error {
    match e {
        Error::Validation(errors) => Error::Validation(under(prefix, errors)),
        Error::Conflict { code, details } => Error::Conflict { code, details: under(prefix, details) },
        other => other,
    }
}

/// The money fields' scale of the document's object (rial: 0).
fn scale_of(obj: &ObjectDef) -> u8 {
    obj.field("total").map_or(0, |f| f.options.scale_or_default(f.field_type))
}

fn amount(d: i64, scale: u8, currency: &str) -> Value {
    Value::Money(Decimal { units: d, scale }, currency.to_string())
}

/// The sums of a document's lines, in its currency (`None`: it has no lines).
async fn sums(db: &Db, tx: &mut WriteTx, kind: Kind, id: &str, currency: &str, scale: u8) -> Result<Option<Totals>> {
    let lines = lines_of(db, tx, kind, id).await?;
    if lines.is_empty() {
        return Ok(None);
    }
    let figures: Vec<Totals> = lines
        .iter()
        .map(|l| {
            let get = |f: &str| prices::money_in(l.fields.get(f), currency, scale).map_or(0, |d| d.units);
            Totals {
                gross: get("gross"),
                discount: get("discount"),
                net: get("gross") - get("discount"),
                tax: get("tax"),
                total: get("total"),
            }
        })
        .collect();
    money::sum(&figures).map(Some).map_err(Error::invalid)
}

/// Writes a document's totals from its lines (and, `lines_changed`, the time its lines changed,
/// which moves its version on even when the totals stay).
async fn total_document(
    db: &Db,
    tx: &mut WriteTx,
    actor: Option<&str>,
    kind: Kind,
    id: &str,
    lines_changed: bool,
) -> Result<Record> {
    let header_obj = object(db, kind.header())?;
    let header = db.get_in(tx, &header_obj, id).await?;
    let currency = header.fields.get("currency").and_then(Json::as_str).unwrap_or("IRR").to_string();
    let scale = scale_of(&header_obj);
    let mut input = Map::new();
    match sums(db, tx, kind, id, &currency, scale).await? {
        Some(t) => {
            for (field, value) in
                [("subtotal", t.gross), ("discount_total", t.discount), ("tax_total", t.tax), ("total", t.total)]
            {
                input.insert(field.into(), amount(value, scale, &currency).to_json());
            }
        }
        None => {
            for (field, _) in TOTALS {
                input.insert(field.into(), json!({ "amount": "0", "currency": currency }));
            }
        }
    }
    if lines_changed && header_obj.field("lines_updated_at").is_some() {
        input.insert("lines_updated_at".into(), json!(peyvand_store::now()));
    }
    let changes = validate(&header_obj, &input, Mode::Update).map_err(Error::Validation)?;
    db.update_in(tx, actor, &header_obj, id, changes.values, None).await
}

/// The next number of `kind` for `day` (ISO), from its pattern and its year's counter.
async fn next_number(tx: &mut WriteTx, kind: Kind, day: time::Date) -> Result<String> {
    let row = sqlx::query("SELECT pattern, persian_digits FROM sales_numbering WHERE kind = $1")
        .bind(kind.header())
        .fetch_optional(&mut *tx.tx)
        .await?;
    let (pattern, persian) = match row {
        Some(r) => (r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)? != 0),
        None => (kind.default_pattern().to_string(), false),
    };
    let (jalali_year, period) = period_of(&pattern, day);
    sqlx::query(
        "INSERT INTO sales_sequences (kind, period, next) VALUES ($1, $2, 1) ON CONFLICT (kind, period) DO NOTHING",
    )
    .bind(kind.header())
    .bind(period.clone())
    .execute(&mut *tx.tx)
    .await?;
    let n: i64 =
        sqlx::query("UPDATE sales_sequences SET next = next + 1 WHERE kind = $1 AND period = $2 RETURNING next - 1")
            .bind(kind.header())
            .bind(period)
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?;
    let number = format_number(&pattern, jalali_year, day.year(), n);
    Ok(if persian { peyvand_records::normalize::to_persian_digits(&number) } else { number })
}

/// How one kind's documents are numbered, and the number the next one will take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Numbering {
    pub kind: String,
    pub pattern: String,
    pub persian_digits: bool,
    /// The number the next document would take today (not reserved).
    pub next: String,
}

/// The numbering of quotes and orders, as set or by default.
pub async fn numbering(db: &Db) -> Result<Vec<Numbering>> {
    let today = db.today();
    let mut conn = db.pool().acquire().await?;
    let mut all = Vec::new();
    for kind in [Kind::Quote, Kind::Order] {
        let row = sqlx::query("SELECT pattern, persian_digits FROM sales_numbering WHERE kind = $1")
            .bind(kind.header())
            .fetch_optional(&mut *conn)
            .await?;
        let (pattern, persian) = match row {
            Some(r) => (r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)? != 0),
            None => (kind.default_pattern().to_string(), false),
        };
        let (jalali_year, period) = period_of(&pattern, today);
        let next: Option<i64> = sqlx::query("SELECT next FROM sales_sequences WHERE kind = $1 AND period = $2")
            .bind(kind.header())
            .bind(period)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let number = format_number(&pattern, jalali_year, today.year(), next.unwrap_or(1));
        let next = if persian { peyvand_records::normalize::to_persian_digits(&number) } else { number };
        all.push(Numbering { kind: kind.header().to_string(), pattern, persian_digits: persian, next });
    }
    Ok(all)
}

/// Longest numbering pattern.
const MAX_PATTERN: usize = 40;

/// Sets how `kind`'s documents are numbered from now on: a pattern of text and the tokens
/// `{jy}` (Jalali year), `{y}` (Gregorian year) and exactly one `{n}` or `{n:W}` (the counter,
/// zero-padded to W ≤ 12), in Latin or Persian digits. The counter runs per year the pattern
/// names (per Jalali year with `{jy}`), on from where it stood for that year.
pub async fn set_numbering(db: &Db, kind: Kind, pattern: &str, persian_digits: bool) -> Result<()> {
    let mut tx = db.write().await?;
    set_numbering_in(&mut tx, kind, pattern, persian_digits).await?;
    tx.commit().await
}

/// [`set_numbering`] inside a write of the caller's.
pub async fn set_numbering_in(tx: &mut WriteTx, kind: Kind, pattern: &str, persian_digits: bool) -> Result<()> {
    let pattern = pattern.trim();
    check_pattern(pattern).map_err(|code| Error::invalid(FieldError::new("pattern", code)))?;
    sqlx::query("DELETE FROM sales_numbering WHERE kind = $1").bind(kind.header()).execute(&mut *tx.tx).await?;
    sqlx::query("INSERT INTO sales_numbering (kind, pattern, persian_digits, updated_at) VALUES ($1, $2, $3, $4)")
        .bind(kind.header())
        .bind(pattern.to_string())
        .bind(i64::from(persian_digits))
        .bind(peyvand_store::now())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

/// Why a numbering pattern cannot be used, if it cannot.
fn check_pattern(pattern: &str) -> std::result::Result<(), &'static str> {
    if pattern.is_empty() {
        return Err("required");
    }
    if pattern.chars().count() > MAX_PATTERN {
        return Err("too_long");
    }
    if pattern.chars().any(|c| c.is_control() || peyvand_records::normalize::is_bidi_control(c)) {
        return Err("control_characters");
    }
    // Every brace opens one of the known tokens; the counter appears once.
    let mut counters = 0;
    let mut rest = pattern;
    while let Some(start) = rest.find(['{', '}']) {
        let tail = &rest[start..];
        let end = tail.find('}').filter(|_| tail.starts_with('{')).ok_or("invalid_number_pattern")?;
        match &tail[1..end] {
            "jy" | "y" => {}
            "n" => counters += 1,
            t => match t.strip_prefix("n:").and_then(|w| w.parse::<u8>().ok()) {
                Some(1..=12) => counters += 1,
                _ => return Err("invalid_number_pattern"),
            },
        }
        rest = &tail[end + 1..];
    }
    if counters == 1 { Ok(()) } else { Err("invalid_number_pattern") }
}

/// The Jalali year of `day` and the period a pattern's counter runs in on that day.
fn period_of(pattern: &str, day: time::Date) -> (i32, String) {
    let jalali_year = peyvand_records::jalali::to_jalali(day).map_or(0, |(y, _, _)| y);
    let period = if pattern.contains("{jy}") {
        jalali_year.to_string()
    } else if pattern.contains("{y}") {
        day.year().to_string()
    } else {
        String::new()
    };
    (jalali_year, period)
}

/// A pattern with its tokens filled: `{jy}`, `{y}`, `{n}` or `{n:W}` (zero-padded to W).
pub fn format_number(pattern: &str, jalali_year: i32, year: i32, n: i64) -> String {
    let mut out = pattern.replace("{jy}", &jalali_year.to_string()).replace("{y}", &year.to_string());
    if let Some(start) = out.find("{n") {
        if let Some(len) = out[start..].find('}') {
            let token = &out[start..start + len + 1];
            let width: usize =
                token.strip_prefix("{n:").and_then(|w| w.strip_suffix('}')).and_then(|w| w.parse().ok()).unwrap_or(0);
            let filled = format!("{n:0width$}");
            out = out.replacen(token, &filled, 1);
        }
    } else {
        out.push_str(&format!("-{n}"));
    }
    out
}

/// A decimal field's value as written (`"2.5"`, `2`), at `scale`.
fn decimal(value: &Json, scale: u8) -> Option<Decimal> {
    match value {
        Json::String(s) => Decimal::parse(s, scale).ok(),
        Json::Number(n) => Decimal::parse(&n.to_string(), scale).ok(),
        _ => None,
    }
}

/// The rules of a document's header.
pub(crate) struct DocumentRules;

impl WriteHook for DocumentRules {
    fn objects(&self) -> &'static [&'static str] {
        &["quote", "order"]
    }

    fn before<'a>(&'a self, cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(kind) = Kind::of_header(&write.object.api_name) else { return Ok(()) };
            let scale = scale_of(write.object);
            // A price list chosen for the document is in its currency.
            if (write.is_create() || write.changes("price_list") || write.changes("currency"))
                && let Some(list) = write.after("price_list").as_str()
            {
                let obj = object(cx.db, "price_list")?;
                let found = cx.db.find_in(cx.tx, &obj, &[("id", Value::Text(list.into()))], 1).await?;
                let theirs = found.first().and_then(|l| l.fields.get("currency")).and_then(Json::as_str);
                if theirs != Some(currency_of(write).as_str()) {
                    let params = json!({ "currency": currency_of(write) });
                    return Err(Error::invalid(FieldError::with("price_list", "currency_mismatch", params)));
                }
            }
            if write.is_create() {
                let currency = write.after("currency");
                let currency = currency.as_str().unwrap_or("IRR").to_string();
                prices::check_currency(&currency)?;
                if write.after("currency").is_null() && write.object.field("currency").is_some() {
                    write.set("currency", Value::Text(currency));
                }
                if write.after("number").is_null() {
                    let number = next_number(cx.tx, kind, cx.db.today()).await?;
                    write.set("number", Value::Text(number));
                }
                // An order as earlier releases made them: its one line's figures are its totals.
                if let Some((quantity, unit, discount, _)) = legacy_figures(write, scale) {
                    let gross = unit * quantity;
                    write.set("subtotal", amount(gross, scale, &currency_of(write)));
                    write.set("discount_total", amount(discount, scale, &currency_of(write)));
                    write.set("tax_total", amount(0, scale, &currency_of(write)));
                }
                return Ok(());
            }
            let id = write.current.map(|c| c.id.clone()).unwrap_or_default();
            let currency = write.after("currency").as_str().unwrap_or("IRR").to_string();
            let lines = lines_of(cx.db, cx.tx, kind, &id).await?;
            if write.changes("currency") && !lines.is_empty() {
                return Err(Error::invalid(FieldError::new("currency", "currency_locked")));
            }
            if TOTALS.iter().any(|(f, _)| write.changes(f))
                && !lines.is_empty()
                && let Some(sums) = sums(cx.db, cx.tx, kind, &id, &currency, scale).await?
            {
                let mut errors = Vec::new();
                for (field, value) in [
                    ("subtotal", sums.gross),
                    ("discount_total", sums.discount),
                    ("tax_total", sums.tax),
                    ("total", sums.total),
                ] {
                    let sent = write.new_value(field).map(Value::to_json);
                    if let Some(sent) = sent
                        && prices::money_in(Some(&sent), &currency, scale).map(|d| d.units) != Some(value)
                    {
                        errors.push(FieldError::with(
                            field,
                            "total_disagrees",
                            json!({ "expected": amount(value, scale, &currency).to_json()["amount"] }),
                        ));
                    }
                }
                if !errors.is_empty() {
                    return Err(Error::Validation(errors));
                }
            }
            Ok(())
        })
    }

    fn after<'a>(&'a self, mut cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(kind) = Kind::of_header(&written.object.api_name) else { return Ok(()) };
            match written.action {
                // An order made as earlier releases made them: its product, quantity and total
                // become its one line.
                Action::Create if kind == Kind::Order => legacy_line(&mut cx, written).await,
                Action::Update
                    if ["contact", "company", "ordered_at", OWNER_FIELD].iter().any(|f| written.changed(f)) =>
                {
                    let cx = cx.reborrow();
                    let line_obj = object(cx.db, kind.line())?;
                    let note = batch_note(written.id);
                    cx.tx.notes.insert(note.clone());
                    for line in lines_of(cx.db, cx.tx, kind, written.id).await? {
                        let mut input = Map::new();
                        for f in ["contact", "company", "ordered_at", OWNER_FIELD] {
                            if line_obj.field(f).is_some() {
                                input.insert(f.into(), written.after.get(f).cloned().unwrap_or(Json::Null));
                            }
                        }
                        let changes = validate(&line_obj, &input, Mode::Update).map_err(Error::Validation)?;
                        cx.db.update_in(cx.tx, cx.actor, &line_obj, &line.id, changes.values, None).await?;
                    }
                    cx.tx.notes.remove(&note);
                    Ok(())
                }
                _ => Ok(()),
            }
        })
    }
}

fn currency_of(write: &Pending<'_, '_>) -> String {
    write.after("currency").as_str().unwrap_or("IRR").to_string()
}

/// An order written with a product, a quantity and a total but no lines (as earlier releases
/// wrote them): its one line's quantity, unit price (rounded up so that it multiplies up to the
/// total), discount (the difference) and product.
fn legacy_figures(write: &Pending<'_, '_>, scale: u8) -> Option<(i64, i64, i64, String)> {
    if write.object.api_name != "order" {
        return None;
    }
    let product = write.after("product").as_str()?.to_string();
    let total = prices::money_in(Some(&write.after("total")), &currency_of(write), scale)?;
    let quantity = write.after("quantity").as_i64().filter(|q| *q > 0).unwrap_or(1);
    let (unit, discount) = legacy_split(total.units, quantity);
    Some((quantity, unit, discount, product))
}

/// An order's total over its quantity, as earlier releases kept them: a unit price rounded up so
/// that it multiplies up to the total, and the difference as a discount.
fn legacy_split(total: i64, quantity: i64) -> (i64, i64) {
    let unit = (total + quantity - 1).div_euclid(quantity).max(0);
    (unit, unit * quantity - total)
}

/// The one line of an order written as earlier releases wrote them (`legacy_figures`), no tax
/// (the total holds it), so the order's total is unchanged; the header was totalled before.
async fn legacy_line(cx: &mut HookCx<'_>, written: &Written<'_>) -> Result<()> {
    let (Some(product), Some(total)) =
        (written.after.get("product").and_then(Json::as_str), written.after.get("total"))
    else {
        return Ok(());
    };
    let lines = lines_of(cx.db, cx.tx, Kind::Order, written.id).await?;
    if !lines.is_empty() {
        return Ok(());
    }
    let scale = scale_of(written.object);
    let currency = total.get("currency").and_then(Json::as_str).unwrap_or("IRR").to_string();
    let Some(total) = prices::money_in(Some(total), &currency, scale) else { return Ok(()) };
    let quantity = written.after.get("quantity").and_then(Json::as_i64).filter(|q| *q > 0).unwrap_or(1);
    let (unit, discount) = legacy_split(total.units, quantity);
    let mut input = Map::new();
    input.insert("order".into(), json!(written.id));
    input.insert("position".into(), json!(1));
    input.insert("product".into(), json!(product));
    input.insert("quantity".into(), json!(quantity.to_string()));
    input.insert("unit_price".into(), amount(unit, scale, &currency).to_json());
    if discount > 0 {
        input.insert("discount_amount".into(), amount(discount, scale, &currency).to_json());
    }
    input.insert("tax_percent".into(), json!("0"));
    input.insert("price_source".into(), json!("order"));
    let line_obj = object(cx.db, "order_line")?;
    let changes = validate(&line_obj, &input, Mode::Create).map_err(Error::Validation)?;
    let (note, legacy) = (batch_note(written.id), LEGACY_NOTE.to_string());
    cx.tx.notes.insert(note.clone());
    cx.tx.notes.insert(legacy.clone());
    let made = cx.db.create_in(cx.tx, cx.actor, &line_obj, &changes.values).await;
    cx.tx.notes.remove(&note);
    cx.tx.notes.remove(&legacy);
    made.map(|_| ())
}

/// A note on the transaction: the line being written carries an order's own figures (no price
/// is overridden by anyone).
const LEGACY_NOTE: &str = "sales.legacy_line";

/// What pricing a document's lines needs: the document, its day, its customer's groups and
/// benefits, the price lists of its currency. Looked up once while its lines are written
/// together (kept in the transaction's memo), else for each line.
struct Pricing {
    header: Record,
    day: String,
    groups: Vec<String>,
    offered: Vec<benefits::Applying>,
    lists: Vec<Record>,
}

async fn pricing(db: &Db, tx: &mut WriteTx, kind: Kind, header_id: &str) -> Result<std::sync::Arc<Pricing>> {
    let key = format!("sales.pricing:{header_id}");
    let batch = tx.notes.contains(&batch_note(header_id));
    if batch && let Some(found) = tx.memo.get(&key).cloned().and_then(|m| m.downcast::<Pricing>().ok()) {
        return Ok(found);
    }
    let header_obj = object(db, kind.header())?;
    let header = db
        .find_in(tx, &header_obj, &[("id", Value::Text(header_id.into()))], 1)
        .await?
        .pop()
        .ok_or_else(|| Error::invalid(FieldError::new(kind.header(), "invalid_reference")))?;
    let text = |f: &str| header.fields.get(f).and_then(Json::as_str).map(str::to_string);
    // The document's day where the business is: its issue day, else the day it was ordered on.
    let ordered_on = text("ordered_at")
        .and_then(|t| time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok())
        .map(|t| t.to_offset(db.local_offset()).date().to_string());
    let day = text("issued_on").or(ordered_on).unwrap_or_else(|| db.today().to_string());
    let currency = text("currency").unwrap_or_else(|| "IRR".into());
    let who = benefits::customer(db, tx, text("contact").as_deref(), text("company").as_deref()).await?;
    let offered = benefits::applying(db, tx, &who, &day, Some(header_id)).await?;
    let lists = prices::candidate_lists(db, tx, &currency).await?;
    let found = std::sync::Arc::new(Pricing { header, day, groups: who.groups, offered, lists });
    if batch {
        tx.memo.insert(key, found.clone());
    }
    Ok(found)
}

/// The rules of a line: priced, figured and tied to its document's customer.
pub(crate) struct LineRules;

impl WriteHook for LineRules {
    fn objects(&self) -> &'static [&'static str] {
        &["quote_line", "order_line"]
    }

    fn before<'a>(&'a self, cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(kind) = Kind::of_line(&write.object.api_name) else { return Ok(()) };
            let inputs_changed = write.is_create() || LINE_INPUT.iter().any(|f| write.changes(f));
            if !inputs_changed && !LINE_FIGURES.iter().any(|f| write.changes(f)) && !write.changes(kind.header()) {
                return Ok(());
            }
            let header_id = write.after(kind.header()).as_str().unwrap_or_default().to_string();
            let pricing = pricing(cx.db, cx.tx, kind, &header_id).await?;
            let header = &pricing.header;
            let currency = header.fields.get("currency").and_then(Json::as_str).unwrap_or("IRR").to_string();
            let scale = scale_of(write.object);
            let text = |r: &Record, f: &str| r.fields.get(f).and_then(Json::as_str).map(str::to_string);
            // The product, if any: its name, price and tax.
            let product = match write.after("product").as_str() {
                Some(id) => {
                    let obj = object(cx.db, "product")?;
                    let found = cx.db.find_in(cx.tx, &obj, &[("id", Value::Text(id.into()))], 1).await?;
                    Some(
                        found
                            .into_iter()
                            .next()
                            .ok_or_else(|| Error::invalid(FieldError::new("product", "invalid_reference")))?,
                    )
                }
                None => None,
            };
            let mut errors = Vec::new();
            let day = pricing.day.clone();
            let customer = Customer {
                contact: header.fields.get("contact").and_then(Json::as_str),
                company: header.fields.get("company").and_then(Json::as_str),
            };
            // The customer's benefits, unless the line copies another's (its benefit came along).
            let trusted = cx.tx.notes.contains(LEGACY_NOTE) || cx.tx.notes.contains(COPIED_NOTE);
            let offered: &[benefits::Applying] = if trusted || !inputs_changed { &[] } else { &pricing.offered };
            let product_id = product.as_ref().map(|p| p.id.clone());
            let covering =
                |kind: BenefitKind| offered.iter().find(|b| b.kind == kind && b.covers(product_id.as_deref()));
            let mut resolved = None;
            if let (Some(p), Some(b)) = (&product, covering(BenefitKind::PriceList))
                && let Some(list) = b.record.fields.get("price_list").and_then(Json::as_str)
                && let Some(price) = prices::price_in_list(cx.db, cx.tx, list, &p.id, &currency, scale).await?
            {
                resolved = Some((price, format!("benefit:{}", b.record.id)));
                write.set("benefit", Value::Text(b.record.id.clone()));
            }
            let resolved = match (&product, resolved) {
                (_, Some(r)) => Some(r),
                (Some(p), None) => {
                    // The price list chosen for the document, then the most specific that applies.
                    let chosen = match header.fields.get("price_list").and_then(Json::as_str) {
                        Some(list) => prices::price_in_list(cx.db, cx.tx, list, &p.id, &currency, scale)
                            .await?
                            .map(|price| (price, prices::source_of_list(list))),
                        None => None,
                    };
                    match chosen {
                        Some(found) => Some(found),
                        None => {
                            let (groups, lists) = (&pricing.groups, &pricing.lists);
                            prices::resolve(cx.db, cx.tx, p, &customer, groups, lists, &currency, &day, scale).await?
                        }
                    }
                }
                (None, None) => None,
            };
            let given = write.new_value("unit_price").map(Value::to_json).filter(|v| !v.is_null());
            let unit_price = match (&given, &resolved) {
                (Some(sent), _) if sent.get("currency").and_then(Json::as_str).is_some_and(|c| c != currency) => {
                    errors.push(FieldError::with("unit_price", "currency_mismatch", json!({ "currency": currency })));
                    None
                }
                (Some(sent), resolved) => {
                    let price = prices::money_in(
                        Some(&json!({ "amount": sent["amount"], "currency": currency })),
                        &currency,
                        scale,
                    );
                    let overriding = resolved.as_ref().is_none_or(|(r, _)| Some(*r) != price);
                    let may = cx.tx.notes.contains(LEGACY_NOTE)
                        || cx.tx.notes.contains(COPIED_NOTE)
                        || cx.viewer.is_none_or(|v| matches!(v.role, None | Some(Role::Admin) | Some(Role::Manager)));
                    if overriding && resolved.is_some() && !may {
                        errors.push(FieldError::new("unit_price", "price_override_not_allowed"));
                    }
                    if overriding && write.new_value("price_source").is_none() {
                        write.set("price_source", Value::Text("manual".into()));
                    }
                    price
                }
                (None, Some((price, source))) => {
                    write.set("price_source", Value::Text(source.clone()));
                    Some(*price)
                }
                (None, None) => match write.after("unit_price") {
                    // An update that leaves the price: the price it has.
                    v if !v.is_null() && !write.is_create() => prices::money_in(Some(&v), &currency, scale),
                    _ => {
                        errors.push(FieldError::new("unit_price", "required"));
                        None
                    }
                },
            };
            if let Some(price) = unit_price {
                write.set("unit_price", amount(price.units, scale, &currency));
            }
            let quantity = decimal(&write.after("quantity"), 3);
            if quantity.is_none() {
                errors.push(FieldError::new("quantity", "required"));
            }
            // No discount of its own: the customer's benefit's, recorded on the line.
            if write.after("discount_percent").is_null() && write.after("discount_amount").is_null() {
                if let Some(b) = covering(BenefitKind::PercentDiscount)
                    && let Some(p) = b.record.fields.get("percent").and_then(|p| decimal(p, 2))
                {
                    write.set("discount_percent", Value::Decimal(p));
                    write.set("benefit", Value::Text(b.record.id.clone()));
                } else if let Some(b) = covering(BenefitKind::AmountDiscount)
                    && let Some(a) = prices::money_in(b.record.fields.get("amount"), &currency, scale)
                    && let (Some(q), Some(u)) = (decimal(&write.after("quantity"), 3), unit_price)
                {
                    // At most the line's gross.
                    let plain = Line {
                        quantity: q,
                        unit_price: u,
                        discount: Discount::None,
                        tax_percent: Decimal { units: 0, scale: 2 },
                    };
                    let gross = money::price_line(&plain, scale).map_or(0, |t| t.gross);
                    write.set("discount_amount", amount(a.units.min(gross), scale, &currency));
                    write.set("benefit", Value::Text(b.record.id.clone()));
                }
            }
            let percent = decimal(&write.after("discount_percent"), 2);
            let fixed = prices::money_in(
                Some(&json!({ "amount": write.after("discount_amount")["amount"], "currency": currency })),
                &currency,
                scale,
            )
            .filter(|_| !write.after("discount_amount").is_null());
            if percent.is_some() && fixed.is_some() {
                errors.push(FieldError::new("discount_amount", "one_discount"));
            }
            if !write.after("discount_amount").is_null()
                && write.after("discount_amount").get("currency").and_then(Json::as_str).is_some_and(|c| c != currency)
            {
                errors.push(FieldError::with("discount_amount", "currency_mismatch", json!({ "currency": currency })));
            }
            let tax = match write.after("tax_percent") {
                Json::Null => product.as_ref().and_then(|p| p.fields.get("tax_percent")).and_then(|t| decimal(t, 2)),
                t => decimal(&t, 2),
            }
            .unwrap_or(Decimal { units: 0, scale: 2 });
            if write.after("tax_percent").is_null() {
                write.set("tax_percent", Value::Decimal(tax));
            }
            if write.after("description").is_null()
                && let Some(name) = product.as_ref().and_then(|p| text(p, "name"))
            {
                write.set("description", Value::Text(name));
            }
            if !errors.is_empty() {
                return Err(Error::Validation(errors));
            }
            let (Some(quantity), Some(unit_price)) = (quantity, unit_price) else { return Ok(()) };
            let discount = match (percent, fixed) {
                (Some(p), _) => Discount::Percent(p),
                (None, Some(a)) => Discount::Amount(a),
                (None, None) => Discount::None,
            };
            let figures = money::price_line(&Line { quantity, unit_price, discount, tax_percent: tax }, scale)
                .map_err(|e| {
                    let field = match (e.field.as_str(), &discount) {
                        ("discount", Discount::Percent(_)) => "discount_percent",
                        ("discount", _) => "discount_amount",
                        (f, _) => f,
                    };
                    Error::invalid(FieldError { field: field.to_string(), ..e })
                })?;
            // Figures a client sent must be the ones computed.
            let mut disagree = Vec::new();
            for (field, value) in [
                ("gross", figures.gross),
                ("discount", figures.discount),
                ("tax", figures.tax),
                ("total", figures.total),
            ] {
                if let Some(sent) = write.new_value(field).map(Value::to_json).filter(|v| !v.is_null())
                    && prices::money_in(Some(&sent), &currency, scale).map(|d| d.units) != Some(value)
                    && !(write.current.is_some() && !inputs_changed && sent == write.before(field))
                {
                    disagree.push(FieldError::with(
                        field,
                        "total_disagrees",
                        json!({ "expected": amount(value, scale, &currency).to_json()["amount"] }),
                    ));
                }
                write.set(field, amount(value, scale, &currency));
            }
            if !disagree.is_empty() {
                return Err(Error::Validation(disagree));
            }
            // The document's customer, day and owner, for purchase histories and access.
            for f in ["contact", "company", "ordered_at", OWNER_FIELD] {
                if write.object.field(f).is_some()
                    && let Some(v) = header.fields.get(f).filter(|v| !v.is_null())
                {
                    let value = match f {
                        "ordered_at" => {
                            v.as_str().and_then(peyvand_records::value::parse_datetime).map(Value::Datetime)
                        }
                        _ => v.as_str().map(|s| Value::Text(s.to_string())),
                    };
                    if let Some(value) = value {
                        write.set(f, value);
                    }
                }
            }
            Ok(())
        })
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(kind) = Kind::of_line(&written.object.api_name) else { return Ok(()) };
            let mut headers: Vec<&str> = written.after.get(kind.header()).and_then(Json::as_str).into_iter().collect();
            if let Some(before) = written.before.get(kind.header()).and_then(Json::as_str)
                && !headers.contains(&before)
            {
                headers.push(before);
            }
            for id in headers {
                if cx.tx.notes.contains(&batch_note(id)) {
                    continue;
                }
                match total_document(cx.db, cx.tx, cx.actor, kind, id, true).await {
                    Ok(_) | Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }
}

/// A note on the transaction: the lines being written copy a quote's, prices and all (the
/// quoted price holds, whatever the lists say now).
const COPIED_NOTE: &str = "sales.copied_lines";

/// The fields a line keeps when copied from a quote to an order.
const COPIED: [&str; 8] = [
    "product",
    "description",
    "quantity",
    "unit_price",
    "discount_percent",
    "discount_amount",
    "tax_percent",
    "price_source",
];

/// Makes an order in `tx` with `fields` and `lines` (each a line's fields, kept as they are),
/// totalled once.
async fn create_order(
    db: &Db,
    tx: &mut WriteTx,
    actor: Option<&str>,
    fields: Map<String, Json>,
    lines: Vec<Map<String, Json>>,
) -> Result<Record> {
    make_order(db, tx, actor, fields, lines, true).await
}

/// A customer's own order (the portal's): its header's `fields` and lines naming a product and
/// a quantity only, each priced by the rules as a line staff add is (price lists, benefits, tax),
/// all in one transaction. Returns the order and its lines.
pub async fn customer_order(
    db: &Db,
    fields: Map<String, Json>,
    lines: Vec<(String, String)>,
) -> Result<(Record, Vec<Record>)> {
    let system = db.system();
    let mut tx = system.write().await?;
    let lines = lines
        .into_iter()
        .map(|(product, quantity)| {
            Map::from_iter([("product".into(), json!(product)), ("quantity".into(), json!(quantity))])
        })
        .collect();
    let order = make_order(&system, &mut tx, None, fields, lines, false).await?;
    let lines = lines_of(&system, &mut tx, Kind::Order, &order.id).await?;
    tx.commit().await?;
    Ok((order, lines))
}

async fn make_order(
    db: &Db,
    tx: &mut WriteTx,
    actor: Option<&str>,
    fields: Map<String, Json>,
    lines: Vec<Map<String, Json>>,
    copied: bool,
) -> Result<Record> {
    let (order_obj, line_obj) = (object(db, "order")?, object(db, "order_line")?);
    let fields: Map<String, Json> = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
    let changes = validate(&order_obj, &fields, Mode::Create).map_err(Error::Validation)?;
    let id = db.create_in(tx, actor, &order_obj, &changes.values).await?;
    let note = batch_note(&id);
    tx.notes.insert(note.clone());
    if copied {
        tx.notes.insert(COPIED_NOTE.to_string());
    }
    let mut made = Ok(());
    for (i, mut line) in lines.into_iter().enumerate() {
        line.retain(|_, v| !v.is_null());
        line.insert("order".into(), json!(id));
        line.insert("position".into(), json!(i + 1));
        let changes = match validate(&line_obj, &line, Mode::Create) {
            Ok(c) => c,
            Err(e) => {
                made = Err(Error::Validation(under(&format!("lines.{i}"), e)));
                break;
            }
        };
        if let Err(e) = db.create_in(tx, actor, &line_obj, &changes.values).await {
            made = Err(renamed(e, &format!("lines.{i}")));
            break;
        }
    }
    tx.notes.remove(&note);
    tx.notes.remove(COPIED_NOTE);
    made?;
    total_document(&db.system(), tx, actor, Kind::Order, &id, true).await
}

/// The order a quote becomes, in one step: its customer, deal and lines at the quoted prices;
/// the quote accepted. A quote that became an order, or was rejected or expired, is refused.
pub async fn order_from_quote(db: &Db, actor: Option<&str>, quote_id: &str) -> Result<(Record, Vec<Record>)> {
    let (quote_obj, order_obj) = (db.object("quote").await?, db.object("order").await?);
    let mut tx = db.write().await?;
    let quote = db.get_in(&mut tx, &quote_obj, quote_id).await?;
    let system = db.system();
    let made = system.find_in(&mut tx, &order_obj, &[("quote", Value::Text(quote_id.into()))], 1).await?;
    if let Some(order) = made.first() {
        return Err(Error::Conflict {
            code: "quote_has_order",
            details: vec![FieldError::with("quote", "quote_has_order", json!({ "order": order.id }))],
        });
    }
    if !matches!(quote.fields.get("status").and_then(Json::as_str), Some("draft" | "sent" | "accepted")) {
        return Err(Error::Conflict {
            code: "quote_not_open",
            details: vec![FieldError::new("status", "quote_not_open")],
        });
    }
    let mut fields = Map::new();
    for f in ["contact", "company", "deal", "currency", "price_list", "notes", OWNER_FIELD] {
        fields.insert(f.into(), quote.fields.get(f).cloned().unwrap_or(Json::Null));
    }
    fields.insert("quote".into(), json!(quote.id));
    fields.insert("ordered_at".into(), json!(peyvand_store::now()));
    fields.insert("status".into(), json!("pending"));
    let lines: Vec<Map<String, Json>> = lines_of(&system, &mut tx, Kind::Quote, quote_id)
        .await?
        .iter()
        .map(|l| COPIED.iter().map(|f| (f.to_string(), l.fields.get(*f).cloned().unwrap_or(Json::Null))).collect())
        .collect();
    let order = create_order(db, &mut tx, actor, fields, lines).await?;
    let accepted = validate(&quote_obj, &Map::from_iter([("status".into(), json!("accepted"))]), Mode::Update)
        .map_err(Error::Validation)?;
    db.update_in(&mut tx, actor, &quote_obj, quote_id, accepted.values, None).await?;
    let lines = lines_of(&system, &mut tx, Kind::Order, &order.id).await?;
    tx.commit().await?;
    Ok((order, lines))
}

/// The order a won deal makes: from its latest accepted (or else sent) quote if it has one,
/// else one line of the deal's amount. A deal with an order already, or not won, is refused.
pub async fn order_from_deal(db: &Db, actor: Option<&str>, deal_id: &str) -> Result<(Record, Vec<Record>)> {
    let (deal_obj, order_obj, quote_obj) =
        (db.object("deal").await?, db.object("order").await?, db.object("quote").await?);
    let system = db.system();
    let quote = {
        let mut tx = db.write().await?;
        let deal = db.get_in(&mut tx, &deal_obj, deal_id).await?;
        let won = super::pipelines::stage_kind(&mut tx, &deal).await? == Some(super::pipelines::StageKind::Won);
        if !won {
            return Err(Error::Conflict {
                code: "deal_not_won",
                details: vec![FieldError::new("stage", "deal_not_won")],
            });
        }
        if let Some(order) =
            system.find_in(&mut tx, &order_obj, &[("deal", Value::Text(deal_id.into()))], 1).await?.first()
        {
            return Err(Error::Conflict {
                code: "deal_has_order",
                details: vec![FieldError::with("deal", "deal_has_order", json!({ "order": order.id }))],
            });
        }
        let quotes = system.find_in(&mut tx, &quote_obj, &[("deal", Value::Text(deal_id.into()))], 100).await?;
        let pick = |status: &str| {
            quotes
                .iter()
                .filter(|q| q.fields.get("status").and_then(Json::as_str) == Some(status))
                .max_by(|a, b| a.created_at.cmp(&b.created_at))
                .map(|q| q.id.clone())
        };
        match pick("accepted").or_else(|| pick("sent")) {
            Some(q) => Some(q),
            None => {
                let mut fields = Map::new();
                for f in ["contact", "company", OWNER_FIELD] {
                    fields.insert(f.into(), deal.fields.get(f).cloned().unwrap_or(Json::Null));
                }
                let amount = deal.fields.get("amount").cloned().unwrap_or(Json::Null);
                let currency = amount.get("currency").and_then(Json::as_str).unwrap_or("IRR").to_string();
                fields.insert("currency".into(), json!(currency));
                fields.insert("deal".into(), json!(deal.id));
                fields.insert("ordered_at".into(), json!(peyvand_store::now()));
                fields.insert("status".into(), json!("pending"));
                let line = Map::from_iter([
                    ("description".to_string(), json!(deal.title)),
                    ("quantity".to_string(), json!("1")),
                    (
                        "unit_price".to_string(),
                        if amount.is_null() { json!({ "amount": "0", "currency": currency }) } else { amount },
                    ),
                    ("tax_percent".to_string(), json!("0")),
                    ("price_source".to_string(), json!("deal")),
                ]);
                let order = create_order(db, &mut tx, actor, fields, vec![line]).await?;
                let lines = lines_of(&system, &mut tx, Kind::Order, &order.id).await?;
                tx.commit().await?;
                return Ok((order, lines));
            }
        }
    };
    match quote {
        Some(q) => order_from_quote(db, actor, &q).await,
        None => Err(Error::NotFound(format!("deal {deal_id}"))),
    }
}

/// Runs `step` once: `name` is kept in `sales_upgrades` when it has run.
pub(crate) async fn once(db: &Db, name: &str, step: impl AsyncFnOnce(&Db) -> Result<()>) -> Result<()> {
    let done = sqlx::query("SELECT 1 FROM sales_upgrades WHERE name = $1")
        .bind(name.to_string())
        .fetch_optional(db.pool())
        .await?
        .is_some();
    if done {
        return Ok(());
    }
    step(db).await?;
    sqlx::query("INSERT INTO sales_upgrades (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name.to_string())
        .bind(peyvand_store::now())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// One person's orders of a period in time order, from an index of owner and day (each field's
/// own index reads every order of the person, or of the period, to find them): commission
/// statements and the period's orders behind a quota. Made at start-up if missing (it is one
/// sort of the orders the first time), as a bulk load may set it aside and build it again.
pub(crate) async fn owner_day_index(db: &Db) -> Result<()> {
    let catalog = db.reload_catalog().await?;
    let Some(order) = catalog.object("order") else { return Ok(()) };
    let (Some(owner), Some(at)) = (order.field("owner"), order.field("ordered_at")) else { return Ok(()) };
    let statement = format!(
        "CREATE INDEX IF NOT EXISTS ix_{table}_owner_ordered ON {table} ({}, {}, id) WHERE deleted_at IS NULL",
        owner.column,
        at.column,
        table = order.table
    );
    let mut tx = db.write_long().await?;
    sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// Orders of earlier releases get their lines (same numbers, totals, days and customers); an
/// order's number and total are no longer required (numbers come from the sequence, totals
/// from the lines); the cost price is hidden from agents and read-only users.
pub(crate) async fn upgrade(db: &Db) -> Result<()> {
    once(db, "order_fields_derived", async |db| {
        let catalog = db.reload_catalog().await?;
        let Some(order) = catalog.object("order") else { return Ok(()) };
        for name in ["number", "total"] {
            if order.field(name).is_some_and(|f| f.required) {
                let patch = peyvand_store::schema::FieldPatch { required: Some(false), ..Default::default() };
                db.update_field(None, "order", name, patch).await?;
            }
        }
        Ok(())
    })
    .await?;
    once(db, "cost_price_hidden", async |db| {
        if db.reload_catalog().await?.object("product").is_some_and(|p| p.field("cost_price").is_some()) {
            for role in [Role::Agent, Role::ReadOnly] {
                db.set_field_access(role, "product", "cost_price", peyvand_records::access::FieldAccess::Hidden)
                    .await?;
            }
        }
        Ok(())
    })
    .await?;
    once(db, "orders_have_lines", async |db| {
        let written = lines_for_orders_without(db).await?;
        if written > 0 {
            tracing::info!(written, "gave the orders of earlier releases their lines");
        }
        Ok(())
    })
    .await
}

/// Gives every order written with a product but no lines (earlier releases, bulk loads) its
/// one line, as `legacy_line` would (the same figures), through the bulk path a thousand orders
/// at a time, and totals their headers; returns how many.
pub async fn lines_for_orders_without(db: &Db) -> Result<u64> {
    let catalog = db.reload_catalog().await?;
    let (Some(order), Some(line)) = (catalog.object("order"), catalog.object("order_line")) else { return Ok(0) };
    let (Some(product), Some(link)) = (order.field("product"), line.field("order")) else { return Ok(0) };
    let scale = scale_of(&order);
    let system = db.system();
    let mut written = 0;
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    // Orders by id, a thousand at a time, leaving out those with lines: one look at the lines per
    // batch (a bulk load builds the lines' index only at its end; a NOT EXISTS per order read
    // every line for every order, and 200,000 orders took most of an hour).
    let mut after = String::new();
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT o.id FROM {} o WHERE o.deleted_at IS NULL AND o.{} IS NOT NULL AND o.id > $1 ORDER BY o.id LIMIT 1000",
            order.table, product.column
        )))
        .bind(after.clone())
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            return Ok(written);
        }
        let batch: Vec<String> = rows.iter().map(|r| r.try_get(0)).collect::<std::result::Result<_, _>>()?;
        after = batch.last().cloned().unwrap_or_default();
        let placeholders = (1..=batch.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let mut with_lines = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT {link} FROM {} WHERE {link} IN ({placeholders})",
            line.table,
            link = link.column
        )));
        for id in &batch {
            with_lines = with_lines.bind(id.clone());
        }
        let have: std::collections::HashSet<String> =
            with_lines.fetch_all(db.pool()).await?.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).collect();
        let ids: Vec<String> = batch.into_iter().filter(|id| !have.contains(id)).collect();
        if ids.is_empty() {
            continue;
        }
        let mut tx = db.write_long().await?;
        let mut lines: Vec<Map<String, Json>> = Vec::with_capacity(ids.len());
        let mut headers: Vec<(String, Totals, String)> = Vec::with_capacity(ids.len());
        for id in &ids {
            let Some(o) = system.find_in(&mut tx, &order, &[("id", Value::Text(id.clone()))], 1).await?.pop() else {
                continue;
            };
            let f = &o.fields;
            let (Some(product), Some(total)) = (f.get("product").and_then(Json::as_str), f.get("total")) else {
                continue;
            };
            let currency = total.get("currency").and_then(Json::as_str).unwrap_or("IRR").to_string();
            let Some(total) = prices::money_in(Some(total), &currency, scale) else { continue };
            let quantity = f.get("quantity").and_then(Json::as_i64).filter(|q| *q > 0).unwrap_or(1);
            let (unit, discount) = legacy_split(total.units, quantity);
            let figures = money::price_line(
                &Line {
                    quantity: Decimal { units: quantity * 1000, scale: 3 },
                    unit_price: Decimal { units: unit, scale },
                    discount: if discount > 0 {
                        Discount::Amount(Decimal { units: discount, scale })
                    } else {
                        Discount::None
                    },
                    tax_percent: Decimal { units: 0, scale: 2 },
                },
                scale,
            )
            .map_err(Error::invalid)?;
            let money = |v: i64| amount(v, scale, &currency).to_json();
            let mut l = Map::new();
            for (k, v) in [
                ("order", json!(id)),
                ("position", json!(1)),
                ("product", json!(product)),
                ("quantity", json!(quantity.to_string())),
                ("unit_price", money(unit)),
                ("tax_percent", json!("0")),
                ("gross", money(figures.gross)),
                ("discount", money(figures.discount)),
                ("tax", money(figures.tax)),
                ("total", money(figures.total)),
                ("price_source", json!("order")),
            ] {
                l.insert(k.into(), v);
            }
            if discount > 0 {
                l.insert("discount_amount".into(), money(discount));
            }
            for k in ["contact", "company", "ordered_at", OWNER_FIELD] {
                if let Some(v) = f.get(k).filter(|v| !v.is_null()) {
                    l.insert(k.into(), v.clone());
                }
            }
            if !names.contains_key(product)
                && let Some(obj) = catalog.object("product")
            {
                let found = system.find_in(&mut tx, &obj, &[("id", Value::Text(product.into()))], 1).await?;
                let name = found.first().and_then(|p| p.fields.get("name")).and_then(Json::as_str).unwrap_or_default();
                names.insert(product.to_string(), name.to_string());
            }
            if let Some(name) = names.get(product).filter(|n| !n.is_empty()) {
                l.insert("description".into(), json!(name));
            }
            lines.push(l);
            headers.push((id.clone(), figures, currency));
        }
        let mut values = Vec::with_capacity(lines.len());
        for l in &lines {
            values.push(validate(&line, l, Mode::Create).map_err(Error::Validation)?.values);
        }
        if !values.is_empty() {
            let prepared = peyvand_store::PreparedRecords::new(db.dialect(), None, &line, &values)?;
            db.write_prepared(&mut tx, prepared).await?;
        }
        // The headers' totals, straight to their columns: figures of what they already hold.
        let column = |name: &str| order.field(name).map(|f| f.column.clone());
        if let (Some(sub), Some(disc), Some(tax)) = (column("subtotal"), column("discount_total"), column("tax_total"))
        {
            for (id, t, currency) in &headers {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {} SET {sub} = $1, {sub}__cur = $4, {disc} = $2, {disc}__cur = $4, {tax} = $3, {tax}__cur = $4 WHERE id = $5",
                    order.table
                )))
                .bind(t.gross)
                .bind(t.discount)
                .bind(t.tax)
                .bind(currency.clone())
                .bind(id.clone())
                .execute(&mut *tx.tx)
                .await?;
            }
        }
        tx.commit().await?;
        written += headers.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_their_pattern() {
        assert_eq!(format_number("SO-{jy}-{n:5}", 1405, 2026, 123), "SO-1405-00123");
        assert_eq!(format_number("{y}/{n}", 1405, 2026, 7), "2026/7");
        assert_eq!(format_number("INV", 1405, 2026, 7), "INV-7");
        assert_eq!(format_number("{jy}-{n:3}", 1405, 2026, 12345), "1405-12345", "wider than its width");
    }

    #[test]
    fn patterns_are_checked() {
        for ok in ["{jy}-{n:5}", "SO-{y}/{n}", "فاکتور {n:3}"] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        for (bad, code) in [
            ("", "required"),
            ("INV", "invalid_number_pattern"),
            ("{n}-{n}", "invalid_number_pattern"),
            ("{n:0}", "invalid_number_pattern"),
            ("{n:13}", "invalid_number_pattern"),
            ("{month}-{n}", "invalid_number_pattern"),
            ("{n", "invalid_number_pattern"),
            ("n}", "invalid_number_pattern"),
            ("{n}\u{202e}", "control_characters"),
        ] {
            assert_eq!(check_pattern(bad), Err(code), "{bad}");
        }
        assert_eq!(check_pattern(&format!("{{n}}{}", "x".repeat(40))), Err("too_long"));
    }
}
