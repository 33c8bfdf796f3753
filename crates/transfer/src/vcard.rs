//! vCard (2.1, 3.0, 4.0) contacts as import rows: folded lines are unfolded, quoted-printable
//! values decoded, and each card becomes one row of the columns in [`COLUMNS`].

/// The columns a vCard row has, named as contact fields so they map by themselves.
pub const COLUMNS: [&str; 9] =
    ["first_name", "last_name", "emails", "phones", "company", "job_title", "birth_date", "address", "description"];

/// Whether a file starts like a vCard.
pub fn looks_like_vcard(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.trim_start_matches('\u{FEFF}').trim_start().to_ascii_uppercase().starts_with("BEGIN:VCARD")
}

fn decode_quoted_printable(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() + 1 {
            let hex = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unescape(value: &str) -> String {
    value.replace("\\n", "\n").replace("\\N", "\n").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")
}

/// Splits a structured value at unescaped semicolons.
fn components(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ';' {
            parts.push(unescape(&current));
            current.clear();
        } else {
            current.push(c);
        }
    }
    parts.push(unescape(&current));
    parts
}

/// One card's values by column, or a problem with it.
pub type Card = Result<Vec<String>, String>;

/// Parses vCard text into rows; a card without END, or with a line that is not a property, is
/// reported as a problem instead of a row.
pub fn parse(text: &str) -> Vec<Card> {
    // Unfold: a line starting with a space or tab continues the previous one; a quoted-printable
    // line ending in '=' continues on the next.
    let mut lines: Vec<String> = Vec::new();
    for raw in text.trim_start_matches('\u{FEFF}').split(['\n']) {
        let raw = raw.trim_end_matches('\r');
        match lines.last_mut() {
            Some(last) if raw.starts_with(' ') || raw.starts_with('\t') => last.push_str(&raw[1..]),
            Some(last) if last.ends_with('=') && last.to_ascii_uppercase().contains("QUOTED-PRINTABLE") => {
                last.pop();
                last.push_str(raw);
            }
            _ => lines.push(raw.to_string()),
        }
    }
    let mut cards = Vec::new();
    let mut current: Option<Vec<Vec<String>>> = None;
    let mut problem: Option<String> = None;
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let Some((name_params, value)) = line.split_once(':') else {
            problem.get_or_insert_with(|| format!("not a vCard line: {}", line.chars().take(40).collect::<String>()));
            continue;
        };
        let mut params = name_params.split(';');
        let name = params.next().unwrap_or("").to_ascii_uppercase();
        // Grouped properties (item1.EMAIL) count as their property.
        let name = name.rsplit('.').next().unwrap_or("").to_string();
        let params: Vec<String> = params.map(|p| p.to_ascii_uppercase()).collect();
        let value = if params.iter().any(|p| p.contains("QUOTED-PRINTABLE")) {
            decode_quoted_printable(value)
        } else {
            value.to_string()
        };
        match name.as_str() {
            "BEGIN" if value.eq_ignore_ascii_case("VCARD") => {
                if current.is_some() {
                    cards.push(Err("a card has no END:VCARD".to_string()));
                }
                current = Some(vec![Vec::new(); COLUMNS.len()]);
                problem = None;
            }
            "END" if value.eq_ignore_ascii_case("VCARD") => match (current.take(), problem.take()) {
                (Some(_), Some(p)) => cards.push(Err(p)),
                (Some(card), None) => cards.push(Ok(card.into_iter().map(|v| v.join("; ")).collect())),
                (None, _) => cards.push(Err("END:VCARD without BEGIN:VCARD".to_string())),
            },
            _ => {
                let Some(card) = current.as_mut() else { continue };
                let named = !card[0].is_empty() || !card[1].is_empty();
                let mut put = |column: &str, v: String| {
                    if let Some(i) = COLUMNS.iter().position(|c| *c == column)
                        && !v.trim().is_empty()
                    {
                        card[i].push(v.trim().to_string());
                    }
                };
                match name.as_str() {
                    "N" => {
                        let parts = components(&value);
                        put("last_name", parts.first().cloned().unwrap_or_default());
                        put("first_name", parts.get(1).cloned().unwrap_or_default());
                    }
                    "FN" if !named => {
                        let full = unescape(&value);
                        match full.trim().rsplit_once(' ') {
                            Some((first, last)) => {
                                put("first_name", first.to_string());
                                put("last_name", last.to_string());
                            }
                            None => put("last_name", full),
                        }
                    }
                    "EMAIL" => put("emails", unescape(&value)),
                    "TEL" => put("phones", unescape(&value).trim_start_matches("tel:").to_string()),
                    "ORG" => put("company", components(&value).first().cloned().unwrap_or_default()),
                    "TITLE" => put("job_title", unescape(&value)),
                    "BDAY" => {
                        let v = value.trim();
                        // 19900321 (basic form) becomes 1990-03-21.
                        let iso = if v.len() == 8 && v.chars().all(|c| c.is_ascii_digit()) {
                            format!("{}-{}-{}", &v[..4], &v[4..6], &v[6..])
                        } else {
                            v.chars().take(10).collect()
                        };
                        put("birth_date", iso);
                    }
                    "ADR" => put(
                        "address",
                        components(&value).into_iter().filter(|p| !p.trim().is_empty()).collect::<Vec<_>>().join("، "),
                    ),
                    "NOTE" => put("description", unescape(&value)),
                    _ => {}
                }
            }
        }
    }
    if current.is_some() {
        cards.push(Err("the last card has no END:VCARD".to_string()));
    }
    cards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_become_rows() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:کریمی;علی;;;\r\nFN:علی کریمی\r\nEMAIL;TYPE=work:ali@example.ir\r\nEMAIL:a.karimi@exam\r\n ple.ir\r\nTEL;TYPE=CELL:0912 123 4567\r\nORG:فولاد پارس;فروش\r\nTITLE:مدیر\\, فروش\r\nBDAY:19900321\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nFN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=D8=B3=D8=A7=D8=B1=D8=A7 =\r\nRezaei\r\nEND:VCARD\r\n";
        let cards = parse(text);
        assert_eq!(cards.len(), 2);
        let first = cards[0].clone().expect("card");
        assert_eq!(first[0], "علی");
        assert_eq!(first[1], "کریمی");
        assert_eq!(first[2], "ali@example.ir; a.karimi@example.ir", "a folded line is joined");
        assert_eq!(first[3], "0912 123 4567");
        assert_eq!(first[4], "فولاد پارس");
        assert_eq!(first[5], "مدیر, فروش");
        assert_eq!(first[6], "1990-03-21");
        let second = cards[1].clone().expect("card");
        assert_eq!((second[0].as_str(), second[1].as_str()), ("سارا", "Rezaei"), "quoted-printable, soft line break");
    }

    #[test]
    fn broken_cards_are_reported() {
        let cards = parse("BEGIN:VCARD\nFN:A\nthis is not a property\nEND:VCARD\nBEGIN:VCARD\nFN:B\n");
        assert_eq!(cards.len(), 2);
        assert!(cards[0].as_ref().is_err_and(|e| e.contains("not a vCard line")));
        assert!(cards[1].as_ref().is_err_and(|e| e.contains("no END")));
        assert!(looks_like_vcard(b"\xEF\xBB\xBFbegin:vcard\r\n"));
        assert!(!looks_like_vcard(b"name,email\n"));
    }
}
