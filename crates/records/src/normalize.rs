//! Persian-aware text normalization for matching (search, filters, de-duplication).
//!
//! Peyvand stores what the user typed and normalizes only for matching, following
//! shared/GLOSSARY.md: Arabic Yeh (U+064A) and Alef Maksura (U+0649) become Persian Yeh
//! (U+06CC); Arabic Kaf (U+0643) becomes Keheh (U+06A9); Persian and Arabic-Indic digits
//! become Latin digits; diacritics (U+064B–U+065F, U+0670) and tatweel (U+0640) are dropped;
//! the zero-width non-joiner and every run of white space become one space; Latin letters are
//! lower-cased.

/// Maps a Persian (U+06F0–U+06F9) or Arabic-Indic (U+0660–U+0669) digit to its Latin digit.
pub fn latin_digit(c: char) -> Option<char> {
    match c {
        '\u{06F0}'..='\u{06F9}' => char::from_digit(c as u32 - 0x06F0, 10),
        '\u{0660}'..='\u{0669}' => char::from_digit(c as u32 - 0x0660, 10),
        '0'..='9' => Some(c),
        _ => None,
    }
}

/// Replaces Persian and Arabic-Indic digits with Latin ones and leaves everything else alone.
pub fn to_latin_digits(s: &str) -> String {
    s.chars().map(|c| latin_digit(c).unwrap_or(c)).collect()
}

/// Replaces Latin digits with Persian digits (for display in the Persian UI).
pub fn to_persian_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(0x06F0 + (c as u32 - '0' as u32)).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Groups the integer part of a plain decimal text (`-1234567.50`) by thousands, in the
/// language's digits and separators (Persian: U+066C and U+066B); pages and templates alike.
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

/// The explicit bidirectional formatting characters: embeddings and overrides (U+202A–U+202E)
/// and isolates (U+2066–U+2069). Left unbalanced in a name, U+202E reverses everything shown
/// after it (a title, the rest of a table row). The marks U+200E, U+200F and U+061C, which
/// Persian text uses to place punctuation, are not among them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` without bidirectional formatting characters (see [`is_bidi_control`]).
pub fn strip_bidi_controls(s: &str) -> String {
    s.chars().filter(|c| !is_bidi_control(*c)).collect()
}

/// Spaces, joiners and control characters (U+0000 among them, which no database text holds)
/// all separate words.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '\u{200C}' || c == '\u{200D}' || c == '\u{FEFF}'
}

/// Normalizes text for matching: one canonical form for the Persian variants listed in the
/// module documentation, lower case, single spaces, no leading or trailing space.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if is_separator(c) {
            pending_space = !out.is_empty();
            continue;
        }
        let mapped = match c {
            '\u{064A}' | '\u{0649}' => '\u{06CC}',
            '\u{0643}' => '\u{06A9}',
            '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' => continue,
            _ => latin_digit(c).unwrap_or(c),
        };
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(mapped.to_lowercase());
    }
    out
}

/// The character-for-character part of [`normalize`], as pairs of a character and what it
/// becomes (nothing: dropped). The store folds stored text with them in SQL for its substring
/// index (`store::grams`), so a pattern normalized here finds what was folded there; Latin
/// letters are lower-cased beside them.
pub const FOLDED_CHARS: &[(char, &str)] = &[
    ('\u{064A}', "\u{06CC}"),
    ('\u{0649}', "\u{06CC}"),
    ('\u{0643}', "\u{06A9}"),
    ('\u{200C}', " "),
    ('\u{0640}', ""),
    ('\u{064B}', ""),
    ('\u{064C}', ""),
    ('\u{064D}', ""),
    ('\u{064E}', ""),
    ('\u{064F}', ""),
    ('\u{0650}', ""),
    ('\u{0651}', ""),
    ('\u{0652}', ""),
    ('\u{0653}', ""),
    ('\u{0654}', ""),
    ('\u{0655}', ""),
    ('\u{0656}', ""),
    ('\u{0657}', ""),
    ('\u{0658}', ""),
    ('\u{0659}', ""),
    ('\u{065A}', ""),
    ('\u{065B}', ""),
    ('\u{065C}', ""),
    ('\u{065D}', ""),
    ('\u{065E}', ""),
    ('\u{065F}', ""),
    ('\u{0670}', ""),
    ('\u{06F0}', "0"),
    ('\u{06F1}', "1"),
    ('\u{06F2}', "2"),
    ('\u{06F3}', "3"),
    ('\u{06F4}', "4"),
    ('\u{06F5}', "5"),
    ('\u{06F6}', "6"),
    ('\u{06F7}', "7"),
    ('\u{06F8}', "8"),
    ('\u{06F9}', "9"),
    ('\u{0660}', "0"),
    ('\u{0661}', "1"),
    ('\u{0662}', "2"),
    ('\u{0663}', "3"),
    ('\u{0664}', "4"),
    ('\u{0665}', "5"),
    ('\u{0666}', "6"),
    ('\u{0667}', "7"),
    ('\u{0668}', "8"),
    ('\u{0669}', "9"),
];

/// The normalized text without any separators: "می‌خواهم", "می خواهم" and "میخواهم" all
/// become "میخواهم", which is how the zero-width non-joiner and the space are made
/// interchangeable when matching.
pub fn compact(s: &str) -> String {
    normalize(s).chars().filter(|c| *c != ' ').collect()
}

/// Splits normalized text into search words at spaces and punctuation.
pub fn words(normalized: &str) -> impl Iterator<Item = &str> {
    normalized
        .split(|c: char| {
            c == ' ' || (c.is_ascii_punctuation() && c != '@' && c != '.' && c != '+') || "،؛؟«»".contains(c)
        })
        .map(|w| w.trim_matches(|c: char| c == '.'))
        .filter(|w| !w.is_empty())
}

/// The terms under which a field value is indexed for prefix search: for each word, the words from
/// it to the end written together (cut at [`MAX_TERM_CHARS`]). A query word matches by prefix, so
/// every word, and every run of words typed with or without the space or zero-width non-joiner
/// between them, finds the value: one term per word, where [`joined_word_terms`] (the rule until
/// schema 9) made each word and its runs of two and three (nine terms for four words, four now).
pub fn search_terms(value: &str) -> Vec<String> {
    let normalized = normalize(value);
    // The words written together once, and where each begins: word i's term is the text from
    // its start, cut (building each run anew, and counting its characters at every word, was
    // about a sixth of the time to prepare a generated activity).
    let mut joined = String::with_capacity(normalized.len());
    let mut starts = Vec::new();
    for w in words(&normalized) {
        starts.push(joined.len());
        joined.push_str(w);
    }
    let mut terms: Vec<String> = starts.iter().map(|&start| truncate_term(&joined[start..])).collect();
    terms.sort();
    terms.dedup();
    terms
}

/// The terms [`search_terms`] made until schema 9: every word, and every run of up to three
/// consecutive words written together. Records not changed since are still indexed under them;
/// the store removes them with a record's values.
pub fn joined_word_terms(value: &str) -> Vec<String> {
    let normalized = normalize(value);
    let ws: Vec<&str> = words(&normalized).collect();
    let mut terms = Vec::with_capacity(ws.len() * 3);
    for i in 0..ws.len() {
        terms.push(truncate_term(ws[i]));
        let mut joined = ws[i].to_string();
        for w in ws.iter().skip(i + 1).take(2) {
            joined.push_str(w);
            terms.push(truncate_term(&joined));
        }
    }
    terms.sort();
    terms.dedup();
    terms
}

/// Longest indexed term, in characters; longer terms are cut (prefix matching still works).
pub const MAX_TERM_CHARS: usize = 64;

fn truncate_term(s: &str) -> String {
    match s.char_indices().nth(MAX_TERM_CHARS) {
        Some((end, _)) => s[..end].to_string(),
        None => s.to_string(),
    }
}

/// The other form under which a query word typed as a phone number is indexed. Phone numbers
/// are indexed once, in the international form they are stored in (`+989121234567`); a word of
/// digits is looked for in that form too: the national form (`0912…`) after `+98`, the
/// international prefix `00` as `+`, and other digits (`98912…`) after `+`.
pub fn phone_query_form(word: &str) -> Option<String> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match (word.strip_prefix("00"), word.strip_prefix('0')) {
        (Some(rest), _) => format!("+{rest}"),
        (None, Some(national)) => format!("+98{national}"),
        (None, None) => format!("+{word}"),
    })
}

/// The query side of [`search_terms`]: the words of the query, and the query compacted.
pub fn query_terms(query: &str) -> (Vec<String>, String) {
    let normalized = normalize(query);
    let ws = words(&normalized).map(truncate_term).collect();
    (ws, truncate_term(&compact(query)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_chars_are_what_normalize_does_to_each_character() {
        for (from, to) in FOLDED_CHARS {
            assert_eq!(normalize(&format!("a{from}b")), format!("a{to}b"), "{from:?}");
        }
        // Every character normalize maps or drops one for one is in the table.
        for c in ('\u{0600}'..='\u{06FF}').chain(['\u{200C}']) {
            let n = normalize(&format!("a{c}b"));
            if n != format!("a{c}b") {
                assert!(FOLDED_CHARS.iter().any(|(from, _)| *from == c), "{c:?} is missing");
            }
        }
    }

    #[test]
    fn phone_queries_in_the_stored_form() {
        assert_eq!(phone_query_form("09121234567").as_deref(), Some("+989121234567"));
        assert_eq!(phone_query_form("0").as_deref(), Some("+98"));
        assert_eq!(phone_query_form("98912").as_deref(), Some("+98912"));
        assert_eq!(phone_query_form("0044207").as_deref(), Some("+44207"));
        assert_eq!(phone_query_form("+98912"), None, "already in the stored form");
        assert_eq!(phone_query_form("علی"), None);
        assert_eq!(phone_query_form("12a"), None);
    }

    #[test]
    fn bidi_controls_are_stripped_and_marks_kept() {
        assert_eq!(strip_bidi_controls("abc\u{202E}fdp.exe"), "abcfdp.exe");
        assert_eq!(strip_bidi_controls("\u{2067}نام\u{2069} \u{202A}x\u{202C}"), "نام x");
        assert_eq!(strip_bidi_controls("A\u{200F}B\u{200E}C\u{061C}"), "A\u{200F}B\u{200E}C\u{061C}");
    }

    #[test]
    fn arabic_letters_become_persian() {
        assert_eq!(normalize("علي كريمي"), "علی کریمی");
        assert_eq!(normalize("موسى"), "موسی");
    }

    #[test]
    fn digits_become_latin() {
        assert_eq!(normalize("۰۹۱۲ ٣٤٥"), "0912 345");
        assert_eq!(to_latin_digits("۱۴۰۳/۰۱/۰۱"), "1403/01/01");
        assert_eq!(to_persian_digits("1403/01/01"), "۱۴۰۳/۰۱/۰۱");
    }

    #[test]
    fn zwnj_space_and_nothing_match() {
        let a = compact("می\u{200C}خواهم");
        assert_eq!(a, compact("می خواهم"));
        assert_eq!(a, compact("میخواهم"));
        assert_eq!(normalize("می\u{200C}خواهم"), "می خواهم");
    }

    #[test]
    fn diacritics_tatweel_case_and_spaces() {
        assert_eq!(normalize("  مُحَمَّد   Ali\tـــرضا "), "محمد ali رضا");
        assert_eq!(normalize(""), "");
    }

    /// Whether a query word finds a value indexed under `terms` (a prefix of one of them).
    fn finds(terms: &[String], query_word: &str) -> bool {
        terms.iter().any(|t| t.starts_with(query_word))
    }

    #[test]
    fn search_terms_cover_joined_words() {
        let terms = search_terms("کتاب‌های خوب");
        let mut expected = vec!["کتابهایخوب".to_string(), "هایخوب".to_string(), "خوب".to_string()];
        expected.sort();
        assert_eq!(terms, expected, "a term per word: the words from it to the end");
        for word in ["کتاب", "های", "خوب", "کتابهای", "کتابهایخوب", "هایخوب"] {
            assert!(finds(&terms, word), "{word}");
        }
        let (words, compacted) = query_terms("كتابهاي");
        assert_eq!(words, vec!["کتابهای".to_string()]);
        assert!(finds(&terms, &compacted));
        assert!(!finds(&terms, "خوبی"));
    }

    #[test]
    fn every_word_and_run_the_earlier_rule_found_is_found() {
        let value = "هماهنگی جلسه معرفی محصول جدید Quarterly review";
        let terms = search_terms(value);
        assert_eq!(terms.len(), 7, "one term per word");
        for earlier in joined_word_terms(value) {
            assert!(finds(&terms, &earlier), "{earlier}");
        }
        // Runs longer than three words are found too.
        assert!(finds(&terms, "جلسهمعرفیمحصولجدید"));
    }

    #[test]
    fn long_values_are_cut() {
        let value = "واژه ".repeat(40);
        let terms = search_terms(&value);
        assert!(terms.iter().all(|t| t.chars().count() <= MAX_TERM_CHARS));
        assert!(finds(&terms, "واژهواژه"));
        // Each word's term is the words from it on, cut at the limit: 40 four-letter words make
        // terms of 64, 60, …, 4 letters (the first 25 words' all 64 long: one term for them).
        let joined = "واژه".repeat(40);
        let mut expected: Vec<String> =
            (0..40).map(|i| joined.chars().skip(4 * i).take(MAX_TERM_CHARS).collect()).collect();
        expected.sort();
        expected.dedup();
        assert_eq!(terms, expected);
        assert_eq!(terms.len(), 16);
        let mixed = search_terms("a bc déf");
        assert_eq!(mixed, vec!["abcdéf".to_string(), "bcdéf".to_string(), "déf".to_string()]);
    }

    #[test]
    fn emails_stay_one_word() {
        assert_eq!(search_terms("Sara@Example.com"), vec!["sara@example.com".to_string()]);
    }
}
