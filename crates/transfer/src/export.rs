//! Export to CSV: any object, optionally filtered, page by page with the keyset cursor, so
//! memory stays constant however many records there are.

use crate::TransferError;
use peyvand_records::filter::parse_filter;
use peyvand_records::{FieldDef, FieldType, ObjectDef, Value};
use peyvand_store::Db;
use peyvand_store::records::{ListQuery, Record};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::io::Write;

/// Escapes a CSV cell, and neutralizes text a spreadsheet would run as a formula (a leading `=`,
/// `+`, `-`, `@`, tab or carriage return gets an apostrophe; see [`unguard`]).
pub fn csv_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_csv_cell(&mut out, text);
    out
}

/// [`csv_cell`] written onto the end of `out`.
pub fn push_csv_cell(out: &mut String, text: &str) {
    let quoted = text.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if needs_guard(text) {
        out.push('\'');
    }
    if quoted {
        for c in text.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// Undoes [`csv_cell`]'s formula guard, so that an exported file imports back as it was: an
/// apostrophe before `=`, `+`, `-` or `@` is dropped (a phone `'+98912…` is `+98912…` again).
pub fn unguard(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        _ => text,
    }
}

/// A text a spreadsheet would run, or one that already looks guarded (guarded again, so that
/// `unguard` gives it back whole).
fn needs_guard(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(['=', '+', '-', '@', '\t', '\r'])
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

/// A value as one CSV cell, as [`plain`] writes it from a record: several values joined with
/// `; `, the rest as `Value::to_plain` (money as `amount currency`).
pub fn value_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::Text(s) => Cow::Borrowed(s),
        Value::List(items) => Cow::Owned(items.join("; ")),
        other => Cow::Owned(other.to_plain()),
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
            object
                .field(n)
                .ok_or_else(|| TransferError::UnknownField { object: object.api_name.clone(), field: n.clone() })
        })
        .collect()
}

/// An export in progress: the header first, then one page of rows at a time, so a caller can
/// write to a file or stream a response in constant memory.
pub struct Export {
    /// What reading a page needs (a copy goes to the task reading the next page).
    reader: PageReader,
    started: bool,
    finished: bool,
    /// The next page, being read while the caller writes this one.
    reading: Option<tokio::task::JoinHandle<Result<ValuePage, peyvand_store::Error>>>,
    pub rows: usize,
}

/// Each record's id and the values of the exported fields, and the cursor of the page after.
type ValuePage = (Vec<(String, Vec<Value>)>, Option<String>);

impl Export {
    /// Prepares an export of `object`: the records matching `filter` (the API's JSON syntax), in
    /// `sort` order, with the named fields (all when empty). The header row has field API names,
    /// so the file imports back as it is.
    pub async fn new(
        db: &Db,
        object: &str,
        filter: Option<&Json>,
        sort: &str,
        names: &[String],
    ) -> Result<Export, TransferError> {
        let obj = db.visible_object(object).await?;
        let fields = columns(&obj, names)?.into_iter().cloned().collect();
        let invalid = |e| TransferError::Store(peyvand_store::Error::invalid(e));
        let filter = match filter {
            Some(f) => Some(parse_filter(&obj, f).map_err(invalid)?),
            None => None,
        };
        let sort = peyvand_records::filter::parse_sort(&obj, sort).map_err(invalid)?;
        Ok(Export {
            reader: PageReader { db: db.clone(), object: object.to_string(), fields, filter, sort },
            started: false,
            finished: false,
            reading: None,
            rows: 0,
        })
    }

    /// The header row: `id` and the field API names (so a file imports back as it is).
    pub fn header(&self) -> Vec<String> {
        std::iter::once("id".to_string()).chain(self.reader.fields.iter().map(|f| f.api_name.clone())).collect()
    }

    /// The next page: each record's id and the values of the exported fields, or `None` at the
    /// end. The page after it is read meanwhile, on a task of its own, so the database makes
    /// the next page while the caller writes this one (on SQLite the reading takes a third of
    /// an export's time, on the connection's own thread).
    async fn next_page(&mut self) -> Result<Option<Vec<(String, Vec<Value>)>>, TransferError> {
        if self.finished {
            return Ok(None);
        }
        let (rows, next_cursor) = match self.reading.take() {
            Some(reading) => reading.await.map_err(|e| TransferError::Io(std::io::Error::other(e.to_string())))??,
            None => self.reader.clone().read(None).await?,
        };
        self.rows += rows.len();
        match next_cursor {
            Some(cursor) => {
                let reader = self.reader.clone();
                self.reading = Some(tokio::spawn(async move { reader.read(Some(cursor)).await }));
            }
            None => self.finished = true,
        }
        Ok(Some(rows))
    }

    /// The next page of rows as plain values, or `None` at the end.
    pub async fn next_rows(&mut self) -> Result<Option<Vec<Vec<String>>>, TransferError> {
        Ok(self.next_page().await?.map(|rows| {
            rows.into_iter()
                .map(|(id, values)| {
                    std::iter::once(id).chain(values.iter().map(|v| value_text(v).into_owned())).collect()
                })
                .collect()
        }))
    }

    /// The next piece of CSV text (the header first), or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<String>, TransferError> {
        if !self.started {
            self.started = true;
            let mut line = String::new();
            for (i, h) in self.header().iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                push_csv_cell(&mut line, h);
            }
            line.push_str("\r\n");
            return Ok(Some(line));
        }
        let Some(rows) = self.next_page().await? else { return Ok(None) };
        let mut out = String::with_capacity(rows.len() * 128);
        for (id, values) in &rows {
            push_csv_cell(&mut out, id);
            for v in values {
                out.push(',');
                push_csv_cell(&mut out, &value_text(v));
            }
            out.push_str("\r\n");
        }
        Ok(Some(out))
    }
}

/// The part of an [`Export`] that reads pages.
#[derive(Clone)]
struct PageReader {
    db: Db,
    object: String,
    fields: Vec<FieldDef>,
    filter: Option<peyvand_records::Filter>,
    sort: Vec<peyvand_records::SortKey>,
}

impl PageReader {
    async fn read(self, cursor: Option<String>) -> Result<ValuePage, peyvand_store::Error> {
        let query = ListQuery {
            filter: self.filter,
            sort: self.sort,
            limit: Some(500),
            cursor,
            trash: false,
            with_total: false,
            exact_total: false,
            fields: Some(self.fields.iter().map(|f| f.api_name.clone()).collect()),
        };
        let (mut rows, cursor) = self.db.list_values(&self.object, &query, &self.fields).await?;
        // A relation is written as its record's title and id (`relation_cell`), so the file
        // imports back by id into the same database and by title into another.
        for (i, field) in self.fields.iter().enumerate() {
            let Some(target) = field.options.target.as_deref().filter(|_| field.field_type == FieldType::Relation)
            else {
                continue;
            };
            let ids: Vec<String> = rows
                .iter()
                .filter_map(|(_, values)| match &values[i] {
                    Value::Text(id) => Some(id.clone()),
                    _ => None,
                })
                .collect();
            if ids.is_empty() {
                continue;
            }
            let titles = self.db.titles(target, &ids).await?;
            for (_, values) in &mut rows {
                if let Value::Text(id) = &values[i] {
                    let title = titles.get(id).map_or("", String::as_str);
                    values[i] = Value::Text(relation_cell(title, id));
                }
            }
        }
        Ok((rows, cursor))
    }
}

/// A relation's cell: the related record's title and its id in brackets (`Acme Ltd [0190…]`),
/// readable in a spreadsheet and read back by [`parse_relation_cell`].
pub fn relation_cell(title: &str, id: &str) -> String {
    if title.is_empty() { format!("[{id}]") } else { format!("{title} [{id}]") }
}

/// Whether `text` has the form of a record's id (a UUID in its hyphenated form).
pub fn is_record_id(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The title and the id of a relation's cell as [`relation_cell`] writes it; a cell without an
/// id in brackets at its end is a title (or an id) alone.
pub fn parse_relation_cell(cell: &str) -> (&str, Option<&str>) {
    let cell = cell.trim();
    if let Some(rest) = cell.strip_suffix(']')
        && let Some((title, id)) = rest.rsplit_once('[')
        && is_record_id(id)
    {
        return (title.trim(), Some(id));
    }
    (cell, None)
}

/// Writes the records as an XLSX workbook at `path`, a page at a time (constant memory);
/// returns the number of records.
pub async fn export_xlsx(
    db: &Db,
    object: &str,
    filter: Option<&Json>,
    sort: &str,
    names: &[String],
    path: &std::path::Path,
) -> Result<usize, TransferError> {
    let err = |e: rust_xlsxwriter::XlsxError| TransferError::Io(std::io::Error::other(e.to_string()));
    let mut export = Export::new(db, object, filter, sort, names).await?;
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(err)?;
    sheet.set_name(object.chars().take(31).collect::<String>()).map_err(err)?;
    for (c, h) in export.header().iter().enumerate() {
        sheet.write_string(0, c as u16, h).map_err(err)?;
    }
    let mut row = 1u32;
    while let Some(rows) = export.next_rows().await? {
        for cells in rows {
            for (c, cell) in cells.iter().enumerate() {
                // A string cell is never run as a formula, so nothing needs escaping here.
                sheet.write_string(row, c as u16, cell).map_err(err)?;
            }
            row += 1;
        }
    }
    workbook.save(path).map_err(err)?;
    Ok(export.rows)
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
    let mut export = Export::new(db, object, filter, "", names).await?;
    while let Some(chunk) = export.next_chunk().await? {
        out.write_all(chunk.as_bytes())?;
    }
    out.flush()?;
    Ok(export.rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_cells_read_back_as_written() {
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(parse_relation_cell(&relation_cell("Acme [Iran] Ltd", id)), ("Acme [Iran] Ltd", Some(id)));
        assert_eq!(parse_relation_cell(&relation_cell("", id)), ("", Some(id)));
        assert_eq!(parse_relation_cell(" شرکت آلفا "), ("شرکت آلفا", None));
        assert_eq!(parse_relation_cell("Acme [not an id]"), ("Acme [not an id]", None));
    }

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

    #[test]
    fn guarded_cells_read_back_as_written() {
        for text in ["=SUM(A1)", "+98912", "@cmd", "-1", "'=x", "'+1", "plain", "'quoted'", "it's", "'", ""] {
            let guarded = csv_cell(text);
            let unquoted = guarded.strip_prefix('"').and_then(|g| g.strip_suffix('"')).unwrap_or(&guarded);
            assert_eq!(unguard(unquoted), text, "{guarded}");
        }
        // An apostrophe before anything else is the user's own and stays.
        assert_eq!(unguard("'plain"), "'plain");
    }
}
