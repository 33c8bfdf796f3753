//! Field values: parsing from JSON with validation per field type, and back to JSON.

use crate::decimal::{Decimal, DecimalError};
use crate::meta::{FieldDef, FieldType};
use crate::normalize::{latin_digit, to_latin_digits};
use serde::Serialize;
use serde_json::{Value as Json, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

/// A validated value of one field.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Decimal(Decimal),
    Money(Decimal, String),
    Date(Date),
    Datetime(OffsetDateTime),
    Bool(bool),
    List(Vec<String>),
}

/// A problem with one field of a request, as a stable code plus parameters; the web layer turns
/// it into a message in the user's language.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Json::is_null")]
    pub params: Json,
}

impl FieldError {
    pub fn new(field: &str, code: &'static str) -> Self {
        FieldError { field: field.to_string(), code, params: Json::Null }
    }
    pub fn with(field: &str, code: &'static str, params: Json) -> Self {
        FieldError { field: field.to_string(), code, params }
    }
}

/// Default longest single-line text, in characters.
pub const DEFAULT_TEXT_MAX: u32 = 1_000;
/// Default longest long text, in characters.
pub const DEFAULT_LONG_TEXT_MAX: u32 = 100_000;

impl Value {
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::List(items) => items.is_empty(),
            _ => false,
        }
    }

    /// The value as the API shows it.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Text(s) => Json::String(s.clone()),
            Value::Int(i) => json!(i),
            Value::Decimal(d) => Json::String(d.to_string()),
            Value::Money(d, cur) => json!({ "amount": d.to_string(), "currency": cur }),
            Value::Date(d) => Json::String(format_date(*d)),
            Value::Datetime(t) => Json::String(format_datetime(*t)),
            Value::Bool(b) => Json::Bool(*b),
            Value::List(items) => json!(items),
        }
    }

    /// A plain-text rendering for search terms, audit and exports.
    pub fn to_plain(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Money(d, cur) => format!("{d} {cur}"),
            Value::Date(d) => format_date(*d),
            Value::Datetime(t) => format_datetime(*t),
            Value::Bool(b) => b.to_string(),
            Value::List(items) => items.join(", "),
        }
    }
}

/// `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    let mut out = String::with_capacity(10);
    push_date(&mut out, d);
    out
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC: fixed width, so the text order is the time order.
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let mut out = String::with_capacity(27);
    push_date(&mut out, t.date());
    out.push('T');
    push_digits(&mut out, u32::from(t.hour()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(t.minute()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(t.second()), 2);
    out.push('.');
    push_digits(&mut out, t.microsecond(), 6);
    out.push('Z');
    out
}

/// Appends `YYYY-MM-DD` (digit by digit: `format!` was a twentieth of preparing a generated activity).
fn push_date(out: &mut String, d: Date) {
    match u32::try_from(d.year()) {
        Ok(year) if year <= 9999 => push_digits(out, year, 4),
        _ => out.push_str(&format!("{:04}", d.year())),
    }
    out.push('-');
    push_digits(out, u32::from(u8::from(d.month())), 2);
    out.push('-');
    push_digits(out, u32::from(d.day()), 2);
}

/// Appends the last `width` decimal digits of `n`, with leading zeros.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Parses `YYYY-MM-DD` (any digits).
pub fn parse_date(s: &str) -> Option<Date> {
    let s = to_latin_digits(s.trim());
    let mut parts = s.split('-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let d: u8 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=9999).contains(&y) {
        return None;
    }
    Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

/// Parses an RFC 3339 instant (any digits), truncated to microseconds.
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(&to_latin_digits(s.trim()), &Rfc3339).ok()?;
    let t = t.to_offset(UtcOffset::UTC);
    t.replace_nanosecond(t.microsecond() * 1000).ok()
}

fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars().any(|c| {
        c.is_control() && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'))
            || c == '\u{FFFE}'
            || c == '\u{FFFF}'
    })
}

fn text_of(field: &FieldDef, json: &Json) -> Result<String, FieldError> {
    match json {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) if matches!(field.field_type, FieldType::Text | FieldType::Phone | FieldType::NationalId) => {
            Ok(n.to_string())
        }
        _ => Err(FieldError::with(&field.api_name, "invalid_type", json!({ "expected": "string" }))),
    }
}

/// Validates and parses one JSON value for a field. `null` (and an empty string or list) is
/// [`Value::Null`]; whether that is allowed is decided by [`crate::validate`].
pub fn parse_value(field: &FieldDef, json: &Json) -> Result<Value, FieldError> {
    let name = field.api_name.as_str();
    // U+0000 cannot be kept in text by PostgreSQL, nor looked for: refused in every type, so
    // both databases answer alike.
    let holds_nul = |j: &Json| j.as_str().is_some_and(|s| s.contains('\0'));
    if holds_nul(json) || json.as_array().is_some_and(|items| items.iter().any(holds_nul)) {
        return Err(FieldError::new(name, "control_characters"));
    }
    if json.is_null() || json.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Ok(Value::Null);
    }
    match field.field_type {
        FieldType::MultiSelect => parse_list(field, json),
        FieldType::Email | FieldType::Phone if field.options.multiple => parse_list(field, json),
        FieldType::Text | FieldType::LongText => {
            let s = text_of(field, json)?;
            let long = field.field_type == FieldType::LongText;
            if has_control(&s, long) {
                return Err(FieldError::new(name, "control_characters"));
            }
            let max = field.options.max_length.unwrap_or(if long { DEFAULT_LONG_TEXT_MAX } else { DEFAULT_TEXT_MAX });
            let len = s.chars().count();
            if len > max as usize {
                return Err(FieldError::with(name, "too_long", json!({ "max": max, "length": len })));
            }
            // A name or title is shown inside other text (lists, headings, links): formatting
            // characters that would reorder what follows it are dropped.
            Ok(Value::Text(if long { s } else { crate::normalize::strip_bidi_controls(s.trim()).trim().to_string() }))
        }
        FieldType::Email => parse_email(name, &text_of(field, json)?).map(Value::Text),
        FieldType::Phone => parse_phone(name, &text_of(field, json)?).map(Value::Text),
        FieldType::Url => parse_url(name, &text_of(field, json)?).map(Value::Text),
        FieldType::NationalId => parse_national_id(name, &text_of(field, json)?).map(Value::Text),
        FieldType::Select => {
            let s = text_of(field, json)?;
            check_option(field, s.trim()).map(Value::Text)
        }
        FieldType::Relation | FieldType::User => {
            let s = text_of(field, json)?;
            let s = s.trim();
            if s.len() > 64 || has_control(s, false) {
                return Err(FieldError::new(name, "invalid_reference"));
            }
            Ok(Value::Text(s.to_string()))
        }
        FieldType::Integer | FieldType::Rating => {
            let i = match json {
                Json::Number(n) => n.as_i64().ok_or_else(|| FieldError::new(name, "invalid_integer"))?,
                Json::String(s) => to_latin_digits(s.trim())
                    .replace([',', '\u{066C}'], "")
                    .parse::<i64>()
                    .map_err(|_| FieldError::new(name, "invalid_integer"))?,
                _ => {
                    return Err(FieldError::with(name, "invalid_type", json!({ "expected": "integer" })));
                }
            };
            if field.field_type == FieldType::Rating {
                let max = field.options.max.unwrap_or(5);
                if !(1..=max).contains(&i) {
                    return Err(FieldError::with(name, "out_of_range", json!({ "min": 1, "max": max })));
                }
            }
            Ok(Value::Int(i))
        }
        FieldType::Decimal => parse_decimal(field, json).map(Value::Decimal),
        FieldType::Currency => {
            let default_cur = field.options.currency.clone().unwrap_or_else(|| "IRR".to_string());
            match json {
                Json::Object(map) => {
                    let amount = map.get("amount").ok_or_else(|| FieldError::new(name, "invalid_money"))?;
                    let cur = match map.get("currency") {
                        None | Some(Json::Null) => default_cur,
                        Some(Json::String(c)) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
                            c.to_ascii_uppercase()
                        }
                        Some(_) => return Err(FieldError::new(name, "invalid_currency")),
                    };
                    if map.keys().any(|k| k != "amount" && k != "currency") {
                        return Err(FieldError::new(name, "invalid_money"));
                    }
                    Ok(Value::Money(parse_decimal(field, amount)?, cur))
                }
                _ => Ok(Value::Money(parse_decimal(field, json)?, default_cur)),
            }
        }
        FieldType::Date => match json {
            Json::String(s) => parse_date(s).map(Value::Date).ok_or_else(|| FieldError::new(name, "invalid_date")),
            _ => Err(FieldError::new(name, "invalid_date")),
        },
        FieldType::Datetime => match json {
            Json::String(s) => {
                parse_datetime(s).map(Value::Datetime).ok_or_else(|| FieldError::new(name, "invalid_datetime"))
            }
            _ => Err(FieldError::new(name, "invalid_datetime")),
        },
        FieldType::Boolean => match json {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::String(s) if matches!(s.as_str(), "true" | "on" | "1") => Ok(Value::Bool(true)),
            Json::String(s) if matches!(s.as_str(), "false" | "off" | "0") => Ok(Value::Bool(false)),
            _ => Err(FieldError::with(name, "invalid_type", json!({ "expected": "boolean" }))),
        },
    }
}

fn parse_decimal(field: &FieldDef, json: &Json) -> Result<Decimal, FieldError> {
    let name = field.api_name.as_str();
    let scale = field.options.scale_or_default(field.field_type);
    let text = match json {
        Json::Number(n) => n.to_string(),
        Json::String(s) => s.clone(),
        _ => {
            return Err(FieldError::with(name, "invalid_type", json!({ "expected": "decimal" })));
        }
    };
    Decimal::parse(&text, scale).map_err(|e| match e {
        DecimalError::Invalid => FieldError::new(name, "invalid_number"),
        DecimalError::TooManyDecimals => FieldError::with(name, "too_many_decimals", json!({ "scale": scale })),
        DecimalError::OutOfRange => FieldError::new(name, "out_of_range"),
    })
}

fn parse_list(field: &FieldDef, json: &Json) -> Result<Value, FieldError> {
    let name = field.api_name.as_str();
    let items: Vec<&Json> = match json {
        Json::Array(items) => items.iter().collect(),
        Json::String(_) => vec![json],
        _ => {
            return Err(FieldError::with(name, "invalid_type", json!({ "expected": "array" })));
        }
    };
    if items.len() > 100 {
        return Err(FieldError::with(name, "too_many_values", json!({ "max": 100 })));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Json::String(s) = item else {
            return Err(FieldError::with(name, "invalid_type", json!({ "expected": "string" })));
        };
        if s.trim().is_empty() {
            continue;
        }
        let v = match field.field_type {
            FieldType::Email => parse_email(name, s)?,
            FieldType::Phone => parse_phone(name, s)?,
            _ => check_option(field, s.trim())?,
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(Value::List(out))
}

fn check_option(field: &FieldDef, s: &str) -> Result<String, FieldError> {
    if has_control(s, false) || s.chars().count() > 200 {
        return Err(FieldError::new(&field.api_name, "invalid_option"));
    }
    if field.options.allow_new || field.options.options.iter().any(|o| o.value == s) {
        Ok(s.to_string())
    } else {
        let allowed: Vec<&str> = field.options.options.iter().map(|o| o.value.as_str()).collect();
        Err(FieldError::with(&field.api_name, "invalid_option", json!({ "value": s, "allowed": allowed })))
    }
}

/// Checks an e-mail address and returns it trimmed and in lower case.
pub fn parse_email(field: &str, s: &str) -> Result<String, FieldError> {
    let s = s.trim().to_lowercase();
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        })
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c));
    if ok { Ok(s) } else { Err(FieldError::new(field, "invalid_email")) }
}

/// Normalizes a phone number to E.164. Accepts Iranian national forms (0912…, 912…),
/// +98…, 0098… and any other +/00 international number, with Persian or Arabic digits and
/// common separators.
pub fn parse_phone(field: &str, s: &str) -> Result<String, FieldError> {
    let mut digits = String::new();
    let mut plus = false;
    for (i, c) in s.trim().chars().enumerate() {
        if let Some(d) = latin_digit(c) {
            digits.push(d);
        } else if c == '+' && i == 0 {
            plus = true;
        } else if !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{200C}') {
            return Err(FieldError::new(field, "invalid_phone"));
        }
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("98{rest}")
    } else if digits.len() == 10 && digits.starts_with('9') {
        format!("98{digits}")
    } else {
        return Err(FieldError::new(field, "invalid_phone"));
    };
    let valid = if let Some(national) = international.strip_prefix("98") {
        national.len() == 10 && !national.starts_with('0')
    } else {
        (8..=15).contains(&international.len()) && !international.starts_with('0')
    };
    if valid { Ok(format!("+{international}")) } else { Err(FieldError::new(field, "invalid_phone")) }
}

/// Checks a web address; one without a scheme gets `https://`.
pub fn parse_url(field: &str, s: &str) -> Result<String, FieldError> {
    let s = s.trim();
    let with_scheme =
        if s.starts_with("http://") || s.starts_with("https://") { s.to_string() } else { format!("https://{s}") };
    let rest = with_scheme.split_once("://").map(|(_, r)| r).unwrap_or("");
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let ok = with_scheme.len() <= 2048
        && !host.is_empty()
        && host.contains('.')
        && !with_scheme.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    if ok { Ok(with_scheme) } else { Err(FieldError::new(field, "invalid_url")) }
}

/// Checks an Iranian national ID (کد ملی): ten digits, not all the same, with the check digit
/// `c` satisfying, for `s = Σ d_i × (10 − i)` over the first nine digits and `r = s mod 11`:
/// `c = r` if `r < 2`, else `c = 11 − r`. Persian and Arabic digits are accepted; the stored
/// form has Latin digits.
pub fn parse_national_id(field: &str, s: &str) -> Result<String, FieldError> {
    let digits: String = to_latin_digits(s.trim()).chars().filter(|c| *c != '-' && *c != ' ').collect();
    if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(FieldError::new(field, "invalid_national_id"));
    }
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.iter().all(|x| *x == d[0]) {
        return Err(FieldError::new(field, "invalid_national_id"));
    }
    let sum: u32 = (0..9).map(|i| d[i] * (10 - i as u32)).sum();
    let r = sum % 11;
    let check = if r < 2 { r } else { 11 - r };
    if d[9] == check { Ok(digits) } else { Err(FieldError::new(field, "invalid_national_id")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::FieldOptions;

    fn field(t: FieldType, options: FieldOptions) -> FieldDef {
        FieldDef { id: "f".into(), options, ..FieldDef::plain("contact", "x", t) }
    }

    #[test]
    fn dates_and_times_are_written_at_fixed_width() {
        let cases = [
            ("2024-03-20T10:11:12.5Z", "2024-03-20T10:11:12.500000Z"),
            ("0999-01-02T00:00:00Z", "0999-01-02T00:00:00.000000Z"),
            ("2026-12-31T23:59:59.999999Z", "2026-12-31T23:59:59.999999Z"),
            ("2025-06-01T03:04:05.000007+03:30", "2025-05-31T23:34:05.000007Z"),
        ];
        for (text, written) in cases {
            let t = parse_datetime(text).expect(text);
            assert_eq!(format_datetime(t), written, "{text}");
            let u = t.to_offset(UtcOffset::UTC);
            assert_eq!(format_date(u.date()), written[..10].to_string(), "{text}");
            let long = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                u.year(),
                u8::from(u.month()),
                u.day(),
                u.hour(),
                u.minute(),
                u.second(),
                u.microsecond()
            );
            assert_eq!(format_datetime(t), long, "as format! writes it");
        }
        let first = Date::from_calendar_date(1, time::Month::January, 1).expect("date");
        assert_eq!(format_date(first), "0001-01-01");
    }

    fn code(t: FieldType, json: Json) -> &'static str {
        parse_value(&field(t, FieldOptions::default()), &json).err().map(|e| e.code).unwrap_or("ok")
    }

    #[test]
    fn phones_become_e164() {
        for input in ["09121234567", "+989121234567", "00989121234567", "۰۹۱۲ ۱۲۳ ۴۵۶۷", "9121234567", "0912-123-4567"]
        {
            assert_eq!(parse_phone("p", input), Ok("+989121234567".to_string()), "{input}");
        }
        assert_eq!(parse_phone("p", "+44 20 7946 0958"), Ok("+442079460958".to_string()));
        assert!(parse_phone("p", "12").is_err());
        assert!(parse_phone("p", "0912abc").is_err());
        assert!(parse_phone("p", "091212345678").is_err());
    }

    #[test]
    fn national_ids() {
        // The check digit of 008457594 is computed by hand: s = 0·10+0·9+8·8+4·7+5·6+7·5+5·4+9·3+4·2 = 212,
        // 212 mod 11 = 3, so the check digit is 11 − 3 = 8.
        assert_eq!(parse_national_id("n", "0084575948"), Ok("0084575948".to_string()));
        assert_eq!(parse_national_id("n", "۰۰۸۴۵۷۵۹۴۸"), Ok("0084575948".to_string()));
        assert!(parse_national_id("n", "0084575947").is_err());
        assert!(parse_national_id("n", "1111111111").is_err());
        assert!(parse_national_id("n", "123").is_err());
    }

    #[test]
    fn emails_and_urls() {
        assert_eq!(parse_email("e", " Sara@Example.COM "), Ok("sara@example.com".to_string()));
        for bad in ["sara", "sara@", "@x.com", "a@b", "a b@c.com", "a@b..com", "a@@b.com"] {
            assert!(parse_email("e", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_url("u", "peyvand.ir/x"), Ok("https://peyvand.ir/x".to_string()));
        assert!(parse_url("u", "http://").is_err());
        assert!(parse_url("u", "javascript:alert(1)").is_err());
    }

    #[test]
    fn types_are_checked() {
        assert_eq!(code(FieldType::Integer, json!("۴۲")), "ok");
        assert_eq!(code(FieldType::Integer, json!(4.5)), "invalid_integer");
        assert_eq!(code(FieldType::Integer, json!(true)), "invalid_type");
        assert_eq!(code(FieldType::Date, json!("2024-02-30")), "invalid_date");
        assert_eq!(code(FieldType::Date, json!("۲۰۲۴-۰۳-۲۰")), "ok");
        assert_eq!(code(FieldType::Datetime, json!("2024-03-20T10:00:00+03:30")), "ok");
        assert_eq!(code(FieldType::Datetime, json!("yesterday")), "invalid_datetime");
        assert_eq!(code(FieldType::Boolean, json!("maybe")), "invalid_type");
        assert_eq!(code(FieldType::Rating, json!(6)), "out_of_range");
        assert_eq!(code(FieldType::Text, json!("a\u{0007}b")), "control_characters");
        assert_eq!(code(FieldType::Text, json!("x".repeat(1001))), "too_long");
        assert_eq!(code(FieldType::LongText, json!("line one\nline two")), "ok");
        assert_eq!(code(FieldType::Text, json!("'; DROP TABLE r_contact; --")), "ok");
        assert_eq!(code(FieldType::Decimal, json!("1.234")), "too_many_decimals");
        assert_eq!(code(FieldType::Currency, json!({"amount": "12", "currency": "usd"})), "ok");
        assert_eq!(code(FieldType::Currency, json!({"amount": "12", "currency": "dollars"})), "invalid_currency");
    }

    #[test]
    fn values_print_back() {
        let f = field(FieldType::Currency, FieldOptions::default());
        let v = parse_value(&f, &json!("۱۲٬۵۰۰")).expect("valid");
        assert_eq!(v.to_json(), json!({"amount": "12500", "currency": "IRR"}));
        let f = field(FieldType::Datetime, FieldOptions::default());
        let v = parse_value(&f, &json!("2024-03-20T10:00:00.123456789+03:30")).expect("valid");
        assert_eq!(v.to_json(), json!("2024-03-20T06:30:00.123456Z"));
    }

    #[test]
    fn selects_and_lists() {
        let opts = FieldOptions {
            options: vec![crate::meta::SelectOption {
                value: "gold".into(),
                label_fa: "طلایی".into(),
                label_en: "Gold".into(),
                parent: None,
            }],
            ..FieldOptions::default()
        };
        let sel = field(FieldType::Select, opts.clone());
        assert_eq!(parse_value(&sel, &json!("gold")), Ok(Value::Text("gold".into())));
        assert_eq!(parse_value(&sel, &json!("tin")).map_err(|e| e.code), Err("invalid_option"));
        let multi = field(FieldType::MultiSelect, FieldOptions { allow_new: true, ..opts });
        assert_eq!(parse_value(&multi, &json!(["a", "b", "a", ""])), Ok(Value::List(vec!["a".into(), "b".into()])));
        let phones = field(FieldType::Phone, FieldOptions { multiple: true, ..FieldOptions::default() });
        assert_eq!(
            parse_value(&phones, &json!(["09121234567", "+989121234567"])),
            Ok(Value::List(vec!["+989121234567".into()]))
        );
        assert_eq!(parse_value(&phones, &json!([])), Ok(Value::List(vec![])));
    }
}
