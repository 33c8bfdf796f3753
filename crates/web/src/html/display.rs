//! Field values for reading: Jalali dates and Persian digits in `fa`, grouped numbers, option
//! labels, names of related records and users.

use crate::i18n::{format_date, format_datetime, t};
use peyvand_records::normalize::to_persian_digits;
use peyvand_records::value::{parse_date, parse_datetime};
use peyvand_records::{FieldDef, FieldType};
use serde_json::Value as Json;
use std::collections::HashMap;

/// A value ready for a page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    /// Left-to-right content (phones, e-mails, web addresses) inside a right-to-left page.
    pub ltr: bool,
    /// The field shown, when the cell can be edited in place.
    pub field: String,
}

/// Names of what records point at: related records by object and id, users by id.
#[derive(Default)]
pub struct Refs {
    pub records: HashMap<(String, String), String>,
    pub users: HashMap<String, String>,
}

/// Groups the integer part of a plain decimal text by thousands, in the language's digits.
pub fn format_number(lang: &str, plain: &str) -> String {
    let (sign, rest) = plain.strip_prefix('-').map(|r| ("-", r)).unwrap_or(("", plain));
    let (int, frac) = rest.split_once('.').map(|(i, f)| (i, Some(f))).unwrap_or((rest, None));
    let (group, point) = if lang == "fa" { ('\u{066C}', '\u{066B}') } else { (',', '.') };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let mut out = format!("{sign}{grouped}");
    if let Some(f) = frac {
        out.push(point);
        out.push_str(f);
    }
    if lang == "fa" { to_persian_digits(&out) } else { out }
}

fn currency_name(lang: &str, code: &str) -> String {
    match (lang, code) {
        ("fa", "IRR") => "ریال".into(),
        ("fa", "IRT") => "تومان".into(),
        (_, "IRT") => "toman".into(),
        _ => code.to_string(),
    }
}

/// A field's value for display.
pub fn display_value(lang: &str, field: &FieldDef, value: &Json, refs: &Refs, offset: time::UtcOffset) -> Cell {
    let text = |s: String| Cell { text: s, ..Cell::default() };
    if value.is_null() || value.as_array().is_some_and(Vec::is_empty) {
        return text(t(lang, "record-empty"));
    }
    match field.field_type {
        FieldType::Date => text(value.as_str().and_then(parse_date).map(|d| format_date(lang, d)).unwrap_or_default()),
        FieldType::Datetime => {
            text(value.as_str().and_then(parse_datetime).map(|d| format_datetime(lang, d, offset)).unwrap_or_default())
        }
        FieldType::Boolean => text(t(lang, if value.as_bool() == Some(true) { "yes" } else { "no" })),
        FieldType::Integer | FieldType::Decimal | FieldType::Rating => text(format_number(lang, &plain(value))),
        FieldType::Currency => {
            let amount = value.get("amount").and_then(Json::as_str).unwrap_or("");
            let code = value.get("currency").and_then(Json::as_str).unwrap_or("IRR");
            if code == "IRR"
                && crate::i18n::current_prefs().toman
                && let Some(toman) = crate::i18n::rial_to_toman(amount)
            {
                return text(format!("{} {}", format_number(lang, &toman), currency_name(lang, "IRT")));
            }
            text(format!("{} {}", format_number(lang, amount), currency_name(lang, code)))
        }
        FieldType::Select => text(value.as_str().map(|v| field.option_label(v, lang).to_string()).unwrap_or_default()),
        FieldType::MultiSelect => {
            let items: Vec<String> = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
                .map(|v| field.option_label(v, lang).to_string())
                .collect();
            text(items.join(if lang == "fa" { "، " } else { ", " }))
        }
        FieldType::Relation => {
            let id = value.as_str().unwrap_or_default();
            let target = field.options.target.clone().unwrap_or_default();
            let title = refs.records.get(&(target.clone(), id.to_string())).cloned().unwrap_or_else(|| id.to_string());
            Cell { text: title, href: Some(format!("/records/{target}/{id}")), ltr: false, field: String::new() }
        }
        FieldType::User => {
            text(value.as_str().and_then(|id| refs.users.get(id).cloned()).unwrap_or_else(|| plain(value)))
        }
        FieldType::Email | FieldType::Phone | FieldType::Url | FieldType::NationalId => {
            let items: Vec<String> = match value {
                Json::Array(items) => items.iter().filter_map(Json::as_str).map(str::to_string).collect(),
                other => vec![plain(other)],
            };
            let items: Vec<String> = match field.field_type {
                FieldType::Phone => items.iter().map(|p| format_phone(lang, p)).collect(),
                FieldType::NationalId if lang == "fa" => items.iter().map(|p| to_persian_digits(p)).collect(),
                _ => items,
            };
            Cell { text: items.join(", "), href: None, ltr: true, field: String::new() }
        }
        FieldType::Text | FieldType::LongText => text(plain(value)),
    }
}

/// An Iranian number (+98…) in the national form people dial, `0912 345 6789`; others stay
/// in E.164. Persian digits in `fa`.
pub fn format_phone(lang: &str, e164: &str) -> String {
    let text = match e164.strip_prefix("+98") {
        Some(n) if n.len() == 10 && n.starts_with('9') => {
            format!("0{} {} {}", &n[..3], &n[3..6], &n[6..])
        }
        Some(n) if n.len() == 10 => format!("0{} {}", &n[..2], &n[2..]),
        _ => e164.to_string(),
    };
    if lang == "fa" { to_persian_digits(&text) } else { text }
}

fn plain(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_by_language() {
        assert_eq!(format_number("en", "1234567.50"), "1,234,567.50");
        assert_eq!(format_number("fa", "-1234"), "-۱٬۲۳۴");
        assert_eq!(format_number("en", "12"), "12");
    }

    #[test]
    fn phones_in_national_form() {
        assert_eq!(format_phone("en", "+989121234567"), "0912 123 4567");
        assert_eq!(format_phone("fa", "+989121234567"), "۰۹۱۲ ۱۲۳ ۴۵۶۷");
        assert_eq!(format_phone("en", "+982188776655"), "021 88776655");
        assert_eq!(format_phone("en", "+442079460958"), "+442079460958");
    }
}
