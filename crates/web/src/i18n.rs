//! Message catalogs (Fluent) for `fa` and `en`, embedded in the binary, and the edge
//! conversions of dates and digits for display.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
pub use peyvand_records::jalali::{from_jalali, parse_form_date, to_jalali};
use peyvand_records::normalize::to_persian_digits;
use std::sync::OnceLock;

/// Display preferences of the browser (cookies), for the request being handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prefs {
    /// Show rial amounts in toman (1 toman = 10 rials).
    pub toman: bool,
    pub dark: bool,
    /// The side navigation folded to its icons.
    pub collapsed: bool,
    /// Tables drawn with less space between rows.
    pub compact: bool,
}

tokio::task_local! {
    pub static PREFS: Prefs;
}

/// The current request's display preferences.
pub fn current_prefs() -> Prefs {
    PREFS.try_with(|p| *p).unwrap_or_default()
}

/// A rial amount (plain decimal text) in toman: divided by ten, exactly.
pub fn rial_to_toman(amount: &str) -> Option<String> {
    let scale = amount.split_once('.').map(|(_, f)| f.len() as u8).unwrap_or(0);
    let d = peyvand_records::Decimal::parse(amount, scale).ok()?;
    let text = peyvand_records::Decimal { units: d.units, scale: d.scale + 1 }.to_string();
    Some(if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text })
}

/// The UI languages; the first is the default.
pub const LANGS: [&str; 2] = ["fa", "en"];

const FA: &str = include_str!("../i18n/fa.ftl");
const EN: &str = include_str!("../i18n/en.ftl");

struct Catalogs {
    fa: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

fn bundle(lang: &str, text: &str) -> FluentBundle<FluentResource> {
    let id = lang.parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Placeables are isolated by the page's markup (`<bdi>`), not by invisible characters.
    bundle.set_use_isolating(false);
    match FluentResource::try_new(text.to_string()) {
        Ok(res) => {
            if let Err(errors) = bundle.add_resource(res) {
                tracing::error!(?errors, lang, "duplicate messages in catalog");
            }
        }
        Err((_, errors)) => tracing::error!(?errors, lang, "catalog does not parse"),
    }
    bundle
}

fn catalogs() -> &'static Catalogs {
    static CATALOGS: OnceLock<Catalogs> = OnceLock::new();
    CATALOGS.get_or_init(|| Catalogs { fa: bundle("fa", FA), en: bundle("en", EN) })
}

/// Picks a supported language from a tag such as `fa-IR` or an `Accept-Language` header.
pub fn pick_lang(header: &str) -> Option<&'static str> {
    header
        .split(',')
        .map(|part| part.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .find_map(|tag| LANGS.into_iter().find(|l| tag == *l || tag.starts_with(&format!("{l}-"))))
}

/// Normalizes a language name to a supported one (`fa` by default).
pub fn lang_or_default(lang: &str) -> &'static str {
    LANGS.into_iter().find(|l| *l == lang).unwrap_or(LANGS[0])
}

/// The message `key` in `lang`, with arguments; the key itself when the catalog lacks it.
/// A Persian noun ready for a word after it (the ezafe): «سفارش‌ها» becomes «سفارش‌های» (as in
/// «سفارش‌های مرتبط»), «خانه» «خانه‌ی»; nouns ending in a consonant («مخاطبان») stay as they are.
pub fn with_ezafe(word: &str) -> String {
    match word.chars().last() {
        Some('ا' | 'و') => format!("{word}ی"),
        Some('ه') => format!("{word}\u{200C}ی"),
        _ => word.to_string(),
    }
}

pub fn t_args(lang: &str, key: &str, args: &[(&str, String)]) -> String {
    let c = catalogs();
    let bundle = if lang == "en" { &c.en } else { &c.fa };
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_string();
    };
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        // Whole numbers go in as numbers, so that plural rules can choose the form.
        match value.parse::<i64>() {
            Ok(n) => fluent_args.set(*name, FluentValue::from(n)),
            Err(_) => fluent_args.set(*name, FluentValue::from(value.clone())),
        }
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors).into_owned();
    if lang == "fa" { to_persian_digits_outside_latin(&text) } else { text }
}

/// The message `key` in `lang`.
pub fn t(lang: &str, key: &str) -> String {
    t_args(lang, key, &[])
}

/// Persian digits for numbers in Persian text, leaving digits inside Latin words (such as the
/// currency code example `IRR` or a field name) alone.
fn to_persian_digits_outside_latin(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_latin = false;
    for c in text.chars() {
        if c.is_ascii_digit() && !prev_latin {
            out.push_str(&to_persian_digits(&c.to_string()));
        } else {
            out.push(c);
            prev_latin = c.is_ascii_alphabetic() || (prev_latin && c.is_ascii_digit());
        }
    }
    out
}

/// A message for a field error code with its parameters.
pub fn field_error_message(lang: &str, code: &str, params: &serde_json::Value) -> String {
    let key = format!("field-{code}");
    let mut args = Vec::new();
    if let serde_json::Value::Object(map) = params {
        for (k, v) in map {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            args.push((k.as_str(), text));
        }
    }
    let text = t_args(lang, &key, &args);
    if text == key { t(lang, "field-invalid") } else { text }
}

/// A date for display: Jalali with Persian digits in `fa`, ISO in `en`.
pub fn format_date(lang: &str, date: time::Date) -> String {
    peyvand_records::jalali::short_date(lang, date)
}

/// An instant for display in the given offset: date as [`format_date`], then hours and minutes.
pub fn format_datetime(lang: &str, t: time::OffsetDateTime, offset: time::UtcOffset) -> String {
    let local = t.to_offset(offset);
    let clock = format!("{:02}:{:02}", local.hour(), local.minute());
    let clock = if lang == "fa" { to_persian_digits(&clock) } else { clock };
    format!("{} {}", format_date(lang, local.date()), clock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn keys(text: &str) -> Vec<String> {
        let mut keys: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && l.contains(" = "))
            .filter_map(|l| l.split(" = ").next().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn catalogs_have_the_same_keys() {
        let (fa, en) = (keys(FA), keys(EN));
        assert!(!fa.is_empty());
        assert_eq!(fa, en);
        let mut dedup = fa.clone();
        dedup.dedup();
        assert_eq!(dedup, fa, "a key is defined twice");
    }

    #[test]
    fn messages_format_in_both_languages() {
        assert_eq!(t("en", "login-title"), "Sign in");
        assert_eq!(t("fa", "login-title"), "ورود");
        assert_eq!(
            t_args("fa", "login-throttled", &[("minutes", "15".into())]),
            "تلاش‌های ناموفق زیاد بود. ۱۵ دقیقه دیگر دوباره امتحان کنید."
        );
        assert_eq!(
            field_error_message("en", "too_long", &serde_json::json!({"max": 100})),
            "Too long: at most 100 characters."
        );
        assert_eq!(field_error_message("fa", "nope_unknown", &serde_json::Value::Null), t("fa", "field-invalid"));
        assert_eq!(t("fa", "field-invalid_currency"), "واحد پول کدی سه‌حرفی مانند IRR است.");
        assert_eq!(t_args("en", "list-total", &[("count", "1".into())]), "1 record");
        assert_eq!(t_args("en", "list-total", &[("count", "12".into())]), "12 records");
        assert_eq!(t_args("fa", "list-total", &[("count", "12".into())]), "۱۲ رکورد");
    }

    #[test]
    fn dates_display_by_language() {
        assert_eq!(format_date("fa", date!(2024 - 03 - 20)), "۱۴۰۳/۰۱/۰۱");
        assert_eq!(format_date("en", date!(2024 - 03 - 20)), "2024-03-20");
        let t = time::macros::datetime!(2024-03-20 06:30 UTC);
        assert_eq!(format_datetime("fa", t, time::UtcOffset::from_hms(3, 30, 0).expect("offset")), "۱۴۰۳/۰۱/۰۱ ۱۰:۰۰");
    }

    #[test]
    fn toman_is_a_tenth_of_a_rial() {
        assert_eq!(rial_to_toman("12500").as_deref(), Some("1250"));
        assert_eq!(rial_to_toman("12505").as_deref(), Some("1250.5"));
        assert_eq!(rial_to_toman("-30").as_deref(), Some("-3"));
        assert_eq!(rial_to_toman("x"), None);
    }

    #[test]
    fn languages_from_headers() {
        assert_eq!(pick_lang("fa-IR,fa;q=0.9,en;q=0.8"), Some("fa"));
        assert_eq!(pick_lang("de, en-US;q=0.5"), Some("en"));
        assert_eq!(pick_lang("de"), None);
    }
}
