//! Export to CSV: any object, optionally filtered, page by page with the keyset cursor, so
//! memory stays constant however many records there are.

use crate::TransferError;
use peyvand_records::filter::parse_filter;
use peyvand_records::{FieldDef, ObjectDef};
use peyvand_store::Db;
use peyvand_store::records::{ListQuery, Record};
use serde_json::Value as Json;
use std::io::Write;

/// Escapes a CSV cell, and neutralizes text a spreadsheet would run as a formula (a leading `=`,
/// `+`, `-`, `@`, tab or carriage return gets an apostrophe).
pub fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// A value as one CSV cell: text as stored, several values joined with `; `, money as
/// `amount currency`.
pub fn plain(record: &Record, field: &FieldDef) -> String {
    match record.fields.get(&field.api_name) {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect::<Vec<_>>().join("; "),
        Some(Json::Object(m)) => {
            format!(
                "{} {}",
                m.get("amount").and_then(Json::as_str).unwrap_or(""),
                m.get("currency").and_then(Json::as_str).unwrap_or("")
            )
        }
        Some(other) => other.to_string(),
    }
}

/// The fields exported: the named ones, or every live field.
pub fn columns<'a>(object: &'a ObjectDef, names: &[String]) -> Result<Vec<&'a FieldDef>, TransferError> {
    if names.is_empty() {
        return Ok(object.live_fields().collect());
    }
    names
        .iter()
        .map(|n| {
            object.field(n).ok_or_else(|| TransferError::UnknownField {
                object: object.api_name.clone(),
                field: n.clone(),
            })
        })
        .collect()
}

/// Writes the records of `object` matching `filter` (the API's JSON syntax) as CSV with a header
/// row of field API names (so the file imports back as it is); returns the number of records.
pub async fn export_csv(
    db: &Db,
    object: &str,
    filter: Option<&Json>,
    names: &[String],
    out: &mut impl Write,
) -> Result<usize, TransferError> {
    let obj = db.object(object).await?;
    let fields = columns(&obj, names)?;
    let filter = match filter {
        Some(f) => Some(parse_filter(&obj, f).map_err(|e| TransferError::Store(peyvand_store::Error::invalid(e)))?),
        None => None,
    };
    let mut header = vec!["id".to_string()];
    header.extend(fields.iter().map(|f| csv_cell(&f.api_name)));
    write!(out, "{}\r\n", header.join(","))?;
    let mut cursor = None;
    let mut n = 0;
    loop {
        let query = ListQuery {
            filter: filter.clone(),
            sort: Vec::new(),
            limit: Some(500),
            cursor,
            trash: false,
            with_total: false,
        };
        let page = db.list_records(object, &query).await?;
        for r in &page.records {
            let mut line = csv_cell(&r.id);
            for f in &fields {
                line.push(',');
                line.push_str(&csv_cell(&plain(r, f)));
            }
            write!(out, "{line}\r\n")?;
            n += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_and_formulas_neutralized() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("+98912"), "'+98912");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
        assert_eq!(csv_cell("-1,5"), "\"'-1,5\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
