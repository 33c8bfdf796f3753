//! Field values for reading: Jalali dates and Persian digits in `fa`, grouped numbers, option
//! labels, names of related records and users.

use crate::escape;
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
    /// A choice's (or several choices') label with its colour: its place in the field's list.
    pub badges: Vec<(String, usize)>,
    /// Each of several values with its own link: `tel:` for phones (and `sms:`), `mailto:`.
    pub links: Vec<CellLink>,
    /// A number or an amount, aligned to the end so digits line up.
    pub num: bool,
    /// A date or time as "3 days ago", for lists (the exact `text` on hover).
    pub relative: Option<String>,
}

/// One value of a multi-valued field, with where it leads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CellLink {
    pub text: String,
    pub href: String,
    /// For a phone: a text message to it, and the word for that.
    pub sms: Option<(String, String)>,
}

impl Cell {
    /// The value as HTML, every text escaped: coloured badges for choices, a link per phone
    /// (`tel:`, and `sms:` where `full`), e-mail and address, a related record's link, and in
    /// lists (`full` false) a relative date with the exact one on hover.
    pub fn html(&self, full: bool) -> String {
        if !self.badges.is_empty() {
            return self
                .badges
                .iter()
                .map(|(label, colour)| format!("<span class=\"badge c{colour}\"><bdi>{}</bdi></span>", escape(label)))
                .collect::<Vec<_>>()
                .join(" ");
        }
        if !self.links.is_empty() {
            let items: Vec<String> = self
                .links
                .iter()
                .map(|l| {
                    let mut item = format!("<a href=\"{}\" dir=\"ltr\">{}</a>", escape(&l.href), escape(&l.text));
                    if full && let Some((href, word)) = &l.sms {
                        item.push_str(&format!(
                            " <a class=\"sms small\" href=\"{}\">{}</a>",
                            escape(href),
                            escape(word)
                        ));
                    }
                    item
                })
                .collect();
            return items.join("<span class=\"sep\">, </span>");
        }
        if !full && let Some(relative) = &self.relative {
            return format!("<time title=\"{}\">{}</time>", escape(&self.text), escape(relative));
        }
        match &self.href {
            Some(href) => format!("<a href=\"{}\"><bdi>{}</bdi></a>", escape(href), escape(&self.text)),
            None => format!("<bdi>{}</bdi>", escape(&self.text)),
        }
    }
}

/// How long ago (or how soon) `at` is from `now`, in words: minutes, hours, days, months, years.
pub fn relative_time(lang: &str, at: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    let secs = (now - at).whole_seconds();
    let (ago, secs) = (secs >= 0, secs.unsigned_abs());
    let (unit, n) = match secs {
        0..=59 => return t(lang, "time-now"),
        60..=3_599 => ("minutes", secs / 60),
        3_600..=86_399 => ("hours", secs / 3_600),
        86_400..=2_591_999 => ("days", secs / 86_400),
        2_592_000..=31_535_999 => ("months", secs / 2_592_000),
        _ => ("years", secs / 31_536_000),
    };
    let key = format!("time-{unit}-{}", if ago { "ago" } else { "ahead" });
    crate::i18n::t_args(lang, &key, &[("n", n.to_string())])
}

/// A date (no time of day) from today: today, yesterday, tomorrow, else as [`relative_time`].
pub fn relative_date(lang: &str, date: time::Date, today: time::Date) -> String {
    match (today - date).whole_days() {
        0 => t(lang, "time-today"),
        1 => t(lang, "time-yesterday"),
        -1 => t(lang, "time-tomorrow"),
        _ => relative_time(lang, date.midnight().assume_utc(), today.midnight().assume_utc()),
    }
}

/// Names of what records point at: related records by object and id, users by id.
#[derive(Default)]
pub struct Refs {
    pub records: HashMap<(String, String), String>,
    pub users: HashMap<String, String>,
}

/// Groups the integer part of a plain decimal text by thousands, in the language's digits.
pub fn format_number(lang: &str, plain: &str) -> String {
    peyvand_records::normalize::format_number(lang, plain)
}

fn currency_name(lang: &str, code: &str) -> String {
    match (lang, code) {
        ("fa", "IRR") => "ریال".into(),
        ("fa", "IRT") => "تومان".into(),
        (_, "IRT") => "toman".into(),
        _ => code.to_string(),
    }
}

/// An amount with its currency's name, in rial or toman as the user prefers.
pub fn format_money(lang: &str, amount: &str, code: &str) -> String {
    if code == "IRR"
        && crate::i18n::current_prefs().toman
        && let Some(toman) = crate::i18n::rial_to_toman(amount)
    {
        return format!("{} {}", format_number(lang, &toman), currency_name(lang, "IRT"));
    }
    format!("{} {}", format_number(lang, amount), currency_name(lang, code))
}

/// A field's value for display.
pub fn display_value(lang: &str, field: &FieldDef, value: &Json, refs: &Refs, offset: time::UtcOffset) -> Cell {
    let text = |s: String| Cell { text: s, ..Cell::default() };
    if value.is_null() || value.as_array().is_some_and(Vec::is_empty) {
        return text(t(lang, "record-empty"));
    }
    let now = time::OffsetDateTime::now_utc();
    let number = |s: String| Cell { text: s, num: true, ..Cell::default() };
    let colour = |v: &str| field.options.options.iter().position(|o| o.value == v).unwrap_or(0) % 8;
    match field.field_type {
        FieldType::Date => match value.as_str().and_then(parse_date) {
            Some(d) => Cell {
                text: format_date(lang, d),
                relative: Some(relative_date(lang, d, now.to_offset(offset).date())),
                ..Cell::default()
            },
            None => text(String::new()),
        },
        FieldType::Datetime => match value.as_str().and_then(parse_datetime) {
            Some(at) => Cell {
                text: format_datetime(lang, at, offset),
                relative: Some(relative_time(lang, at, now)),
                ..Cell::default()
            },
            None => text(String::new()),
        },
        FieldType::Boolean => text(t(lang, if value.as_bool() == Some(true) { "yes" } else { "no" })),
        FieldType::Integer | FieldType::Decimal | FieldType::Rating => number(format_number(lang, &plain(value))),
        FieldType::Currency => {
            let amount = value.get("amount").and_then(Json::as_str).unwrap_or("");
            let code = value.get("currency").and_then(Json::as_str).unwrap_or("IRR");
            number(format_money(lang, amount, code))
        }
        FieldType::Select => {
            let v = value.as_str().unwrap_or_default();
            let label = field.option_label(v, lang).to_string();
            Cell { text: label.clone(), badges: vec![(label, colour(v))], ..Cell::default() }
        }
        FieldType::MultiSelect => {
            let badges: Vec<(String, usize)> = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
                .map(|v| (field.option_label(v, lang).to_string(), colour(v)))
                .collect();
            let items: Vec<&str> = badges.iter().map(|(l, _)| l.as_str()).collect();
            Cell { text: items.join(if lang == "fa" { "، " } else { ", " }), badges, ..Cell::default() }
        }
        FieldType::Relation => {
            let id = value.as_str().unwrap_or_default();
            let target = field.options.target.clone().unwrap_or_default();
            let title = refs.records.get(&(target.clone(), id.to_string())).cloned().unwrap_or_else(|| id.to_string());
            Cell { text: title, href: Some(format!("/records/{target}/{id}")), ..Cell::default() }
        }
        FieldType::User => {
            text(value.as_str().and_then(|id| refs.users.get(id).cloned()).unwrap_or_else(|| plain(value)))
        }
        FieldType::Email | FieldType::Phone | FieldType::Url | FieldType::NationalId => {
            let items: Vec<String> = match value {
                Json::Array(items) => items.iter().filter_map(Json::as_str).map(str::to_string).collect(),
                other => vec![plain(other)],
            };
            let links: Vec<CellLink> = match field.field_type {
                FieldType::Phone => items
                    .iter()
                    .map(|p| CellLink {
                        text: format_phone(lang, p),
                        href: format!("tel:{p}"),
                        sms: Some((format!("sms:{p}"), t(lang, "phone-sms"))),
                    })
                    .collect(),
                FieldType::Email => {
                    items.iter().map(|e| CellLink { text: e.clone(), href: format!("mailto:{e}"), sms: None }).collect()
                }
                FieldType::Url => items
                    .iter()
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                    .map(|u| CellLink { text: u.clone(), href: u.clone(), sms: None })
                    .collect(),
                _ => Vec::new(),
            };
            let items: Vec<String> = match field.field_type {
                FieldType::Phone => items.iter().map(|p| format_phone(lang, p)).collect(),
                FieldType::NationalId if lang == "fa" => items.iter().map(|p| to_persian_digits(p)).collect(),
                _ => items,
            };
            Cell { text: items.join(", "), ltr: true, links, ..Cell::default() }
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
    fn values_are_escaped_and_linked() {
        let cell = Cell { text: "<b>\"x\"</b>".into(), href: Some("/records/a?x=1&y=\"2\"".into()), ..Cell::default() };
        assert_eq!(
            cell.html(true),
            "<a href=\"/records/a?x=1&amp;y=&quot;2&quot;\"><bdi>&lt;b&gt;&quot;x&quot;&lt;/b&gt;</bdi></a>"
        );
        let badge = Cell { badges: vec![("<i>".into(), 3)], ..Cell::default() };
        assert_eq!(badge.html(false), "<span class=\"badge c3\"><bdi>&lt;i&gt;</bdi></span>");
        let date = Cell { text: "2026-01-01".into(), relative: Some("today".into()), ..Cell::default() };
        assert_eq!(date.html(false), "<time title=\"2026-01-01\">today</time>");
        assert_eq!(date.html(true), "<bdi>2026-01-01</bdi>");
    }

    #[test]
    fn relative_times_in_both_languages() {
        let now = time::macros::datetime!(2026-12-04 12:00 UTC);
        assert_eq!(relative_time("en", time::macros::datetime!(2026-12-01 11:00 UTC), now), "3 days ago");
        assert_eq!(relative_time("fa", time::macros::datetime!(2026-12-04 09:00 UTC), now), "۳ ساعت پیش");
        assert_eq!(relative_time("en", time::macros::datetime!(2027-02-10 12:00 UTC), now), "in 2 months");
        let today = time::macros::date!(2026 - 12 - 04);
        assert_eq!(relative_date("en", time::macros::date!(2026 - 12 - 03), today), "yesterday");
        assert_eq!(relative_date("fa", today, today), "امروز");
        assert_eq!(relative_date("en", time::macros::date!(2025 - 11 - 01), today), "1 year ago");
    }

    #[test]
    fn phones_in_national_form() {
        assert_eq!(format_phone("en", "+989121234567"), "0912 123 4567");
        assert_eq!(format_phone("fa", "+989121234567"), "۰۹۱۲ ۱۲۳ ۴۵۶۷");
        assert_eq!(format_phone("en", "+982188776655"), "021 88776655");
        assert_eq!(format_phone("en", "+442079460958"), "+442079460958");
    }
}
