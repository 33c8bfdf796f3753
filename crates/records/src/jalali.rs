//! The Jalali (Solar Hijri) calendar at the edges: conversion from and to Gregorian dates (by
//! ICU4X's Persian calendar) and reading dates typed by people in either calendar. Peyvand stores
//! ISO dates; only display and input convert.

use crate::normalize::to_latin_digits;
use icu_calendar::Date;
use icu_calendar::cal::{Iso, Persian};

/// A Gregorian date as a Jalali (Solar Hijri) `(year, month, day)`.
pub fn to_jalali(date: time::Date) -> Option<(i32, u8, u8)> {
    let iso = Date::try_new_iso(date.year(), u8::from(date.month()), date.day()).ok()?;
    let p = iso.to_calendar(Persian);
    Some((p.year().extended_year(), p.month().ordinal, p.day_of_month().0))
}

/// A Jalali date back to Gregorian.
pub fn from_jalali(year: i32, month: u8, day: u8) -> Option<time::Date> {
    let p = Date::try_new_persian(year, month, day).ok()?;
    let iso = p.to_calendar(Iso);
    time::Date::from_calendar_date(
        iso.year().extended_year(),
        time::Month::try_from(iso.month().ordinal).ok()?,
        iso.day_of_month().0,
    )
    .ok()
}

/// Parses a date typed in a form: ISO `YYYY-MM-DD`, or Jalali `YYYY/MM/DD` (any digits). A year
/// below 1700 is read as Jalali.
pub fn parse_form_date(text: &str) -> Option<time::Date> {
    let latin = to_latin_digits(text.trim());
    let parts: Vec<&str> = latin.split(['/', '-']).collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    let (y, m, d): (i32, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if y < 1700 {
        from_jalali(y, m, d)
    } else {
        time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
    }
}

/// The Jalali months' Persian names, Farvardin first.
pub const MONTHS_FA: [&str; 12] =
    ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A date as a letter writes it: `۱۴ آذر ۱۴۰۵` (Jalali, Persian digits) in Persian,
/// `5 December 2026` in English.
pub fn long_date(lang: &str, date: time::Date) -> String {
    if lang == "fa"
        && let Some((y, m, d)) = to_jalali(date)
    {
        let month = MONTHS_FA[usize::from(m.clamp(1, 12)) - 1];
        return crate::normalize::to_persian_digits(&format!("{d} {month} {y}"));
    }
    format!("{} {} {}", date.day(), MONTHS_EN[usize::from(u8::from(date.month())) - 1], date.year())
}

/// A date as a form shows it: `۱۴۰۵/۰۹/۱۴` (Jalali, Persian digits) in Persian, ISO in English.
pub fn short_date(lang: &str, date: time::Date) -> String {
    if lang == "fa"
        && let Some((y, m, d)) = to_jalali(date)
    {
        return crate::normalize::to_persian_digits(&format!("{y:04}/{m:02}/{d:02}"));
    }
    crate::value::format_date(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn jalali_dates() {
        assert_eq!(to_jalali(date!(2024 - 03 - 20)), Some((1403, 1, 1)));
        assert_eq!(to_jalali(date!(2026 - 11 - 22)), Some((1405, 9, 1)));
        assert_eq!(from_jalali(1403, 1, 1), Some(date!(2024 - 03 - 20)));
        assert_eq!(from_jalali(1403, 12, 30), Some(date!(2025 - 03 - 20)));
        assert_eq!(from_jalali(1404, 12, 30), None);
        assert_eq!(parse_form_date("۱۴۰۳/۰۱/۰۱"), Some(date!(2024 - 03 - 20)));
        assert_eq!(parse_form_date("2024-03-20"), Some(date!(2024 - 03 - 20)));
        assert_eq!(parse_form_date("1403/13/01"), None);
        assert_eq!(long_date("fa", date!(2026 - 12 - 05)), "۱۴ آذر ۱۴۰۵");
        assert_eq!(long_date("en", date!(2026 - 12 - 05)), "5 December 2026");
        assert_eq!(short_date("fa", date!(2026 - 12 - 05)), "۱۴۰۵/۰۹/۱۴");
    }
}
