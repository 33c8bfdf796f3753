//! The import engine: reads a CSV file row by row, maps columns to fields, validates each row
//! as the API would, resolves relations by name, de-duplicates by a chosen field, and writes in
//! batches (or all at once), each row under a savepoint; a row its de-duplication key does not
//! identify is logged with its hash ([`Identity`]).

use crate::decode::{Utf8Reader, by_name, check_text, detect};
use crate::{TransferError, mapping};
use peyvand_records::jalali::parse_form_date;
use peyvand_records::value::format_date;
use peyvand_records::{FieldDef, FieldError, FieldType, Mode, ObjectDef, Storage, Value, validate};
use peyvand_store::records::Savepoint;
use peyvand_store::{
    Absent, CheckedRecords, Db, Dialect, Error as StoreError, NativeWriter, PreparedRecords, Spent, WriteTx,
};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// What to do with a row whose de-duplication key matches a live record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDuplicate {
    #[default]
    Skip,
    Update,
    Create,
}

impl OnDuplicate {
    pub fn parse(s: &str) -> Option<OnDuplicate> {
        match s {
            "skip" => Some(OnDuplicate::Skip),
            "update" => Some(OnDuplicate::Update),
            "create" => Some(OnDuplicate::Create),
            _ => None,
        }
    }
}

/// How to import.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ImportOptions {
    pub object: String,
    /// Column header → field API name, over the suggested mapping; an empty field ignores the column.
    pub mapping: Vec<(String, String)>,
    /// The field that identifies a record already in Peyvand (e-mails, phones, an external id).
    pub dedupe_by: Option<String>,
    pub on_duplicate: OnDuplicate,
    /// Check everything and write nothing.
    pub dry_run: bool,
    /// Write every row or none.
    pub all_or_nothing: bool,
    /// `utf-8`, `utf-16le`, `windows-1256`…; detected when absent.
    pub encoding: Option<String>,
    /// Rows per transaction when not all-or-nothing.
    pub batch_size: usize,
    /// Create a related record (a contact's company) when no record has that name.
    pub create_related: bool,
}

/// Rows per transaction where the import shares the database with people at work (the web UI):
/// each batch holds SQLite's one write lock for a few tens of milliseconds.
pub const BATCH_SIZE: usize = 500;
/// Rows per transaction for an import that has the database to itself (the command line). A
/// batch's index entries land on fewer pages per row the larger it is: 200,000 contacts on
/// SQLite took 11.5–12.1 s in batches of 2,000, 9.8–10.5 s in batches of 5,000 and 9.7 s in
/// batches of 10,000, whose peak memory (320 MiB, two batches in flight) was half as much again.
pub const BULK_BATCH_SIZE: usize = 5_000;

impl ImportOptions {
    pub fn new(object: &str) -> Self {
        ImportOptions {
            object: object.to_string(),
            mapping: Vec::new(),
            dedupe_by: None,
            on_duplicate: OnDuplicate::Skip,
            dry_run: false,
            all_or_nothing: false,
            encoding: None,
            batch_size: BATCH_SIZE,
            create_related: true,
        }
    }
}

/// A problem with one row, naming the row (the header is row 1, as in a spreadsheet) and the column.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct RowError {
    pub row: usize,
    pub column: Option<String>,
    pub field: Option<String>,
    pub code: String,
    pub value: Option<String>,
}

/// Which column went to which field.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct MappingEntry {
    pub column: String,
    pub field: Option<String>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct ImportReport {
    pub encoding: String,
    pub mapping: Vec<MappingEntry>,
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub skipped: usize,
    /// Rows imported by an earlier run of the same rows: rows without a de-duplication key of
    /// their own (the import log's, [`Identity`]); a row with one is found by it and counts as
    /// skipped or updated.
    pub already_imported: usize,
    pub failed: usize,
    pub related_created: usize,
    /// Whether the changes were kept (false for a dry run, or an all-or-nothing import with errors).
    pub committed: bool,
    pub errors: Vec<RowError>,
}

impl ImportReport {
    /// Whether the counts describe what would have happened rather than what did.
    pub fn dry_run_or_rolled_back(&self) -> bool {
        !self.committed
    }

    /// The errors as CSV (row, column, field, code, value), for the user to fix the file.
    pub fn errors_csv(&self) -> String {
        let mut out = String::from("row,column,field,code,value\r\n");
        for e in &self.errors {
            let cells = [
                e.row.to_string(),
                e.column.clone().unwrap_or_default(),
                e.field.clone().unwrap_or_default(),
                e.code.clone(),
                e.value.clone().unwrap_or_default(),
            ];
            out.push_str(&cells.iter().map(|c| crate::csv_cell(c)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
        out
    }
}

/// Longest cell accepted, in characters.
pub const MAX_CELL_CHARS: usize = 100_000;
/// Rows an import must create or change before the database's statistics are refreshed.
const STATISTICS_AFTER_ROWS: usize = 10_000;
/// Errors kept in a report; the counts stay exact beyond it.
pub const MAX_REPORTED_ERRORS: usize = 10_000;

/// Hashes the file and checks whether it is valid UTF-8, streaming it once.
fn scan(path: &Path) -> Result<(Vec<u8>, bool), TransferError> {
    let mut file = std::fs::File::open(path)?;
    let mut head = vec![0u8; 8192];
    let mut buf = vec![0u8; 256 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    let mut valid = true;
    let mut first = true;
    loop {
        let n = file.read(&mut buf)?;
        if first {
            let len = n.min(8192);
            head.truncate(len);
            head.copy_from_slice(&buf[..len]);
            first = false;
        }
        if n == 0 {
            valid &= carry.is_empty();
            break;
        }
        if valid {
            carry.extend_from_slice(&buf[..n]);
            match std::str::from_utf8(&carry) {
                Ok(_) => carry.clear(),
                Err(e) if e.error_len().is_none() => {
                    let rest = carry.split_off(e.valid_up_to());
                    carry = rest;
                }
                Err(_) => valid = false,
            }
        }
    }
    Ok((head, valid))
}

#[derive(Clone)]
struct Column {
    name: String,
    field: Option<FieldDef>,
}

/// Splits a cell of a multi-valued field.
fn members(text: &str) -> Vec<String> {
    text.split([';', '؛', '،', ',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

struct Context<'a> {
    db: &'a Db,
    actor: Option<&'a str>,
    opts: &'a ImportOptions,
    /// Related records found or created by name, per target object.
    related: HashMap<(String, String), String>,
    users: HashMap<String, String>,
    /// Related records created for the row being imported (undone with it if it fails).
    row_related: Vec<(String, String)>,
    identity: Identity,
    report: ImportReport,
}

impl Context<'_> {
    fn fail(&mut self, e: RowError) {
        if self.report.errors.len() < MAX_REPORTED_ERRORS {
            self.report.errors.push(e);
        }
    }

    /// The id of the record of `target` named `name`, created if allowed and missing.
    /// The id of the record of `target` named `name`; with `create`, made if allowed and
    /// missing. `Ok(None)` when there is none (and none was made).
    async fn resolve(
        &mut self,
        tx: &mut WriteTx,
        target: &str,
        name: &str,
        create: bool,
    ) -> Result<Option<String>, StoreError> {
        let key = (target.to_string(), peyvand_records::normalize::normalize(name));
        if let Some(id) = self.related.get(&key) {
            return Ok(Some(id.clone()));
        }
        let obj = self.db.object(target).await?;
        let title_fields: Vec<&str> = obj.title_field.split(' ').collect();
        let Some(title) = obj.field(title_fields[0]).cloned() else {
            return Ok(None);
        };
        let value = peyvand_records::Value::Text(name.trim().to_string());
        // A related record is found by its external id (a text field named `external_id`, as
        // legacy systems export it), else by its name.
        let by_external_id = match obj.field("external_id").filter(|f| f.storage() == Storage::Text) {
            Some(key) => self.db.find_by_value(tx, &obj, &key.clone(), &value).await?,
            None => None,
        };
        let by_name = match by_external_id {
            Some(id) => Some(id),
            None => self.db.find_by_value(tx, &obj, &title, &value).await?,
        };
        let found = match by_name {
            Some(id) => Some(id),
            None if create && self.opts.create_related && title_fields.len() == 1 => {
                let mut input = Map::new();
                input.insert(title.api_name.clone(), json!(name.trim()));
                match validate(&obj, &input, Mode::Create) {
                    Ok(changes) => {
                        let id = self.db.create_in(tx, self.actor, &obj, &changes.values).await?;
                        self.report.related_created += 1;
                        self.row_related.push(key.clone());
                        Some(id)
                    }
                    Err(_) => None,
                }
            }
            None => None,
        };
        if let Some(id) = &found {
            self.related.insert(key, id.clone());
        }
        Ok(found)
    }

    /// The API value of one cell for its field. With `create` false, `Ok(None)` says the cell
    /// names a related record that would have to be created.
    async fn cell_value(
        &mut self,
        tx: &mut WriteTx,
        field: &FieldDef,
        text: &str,
        create: bool,
    ) -> Result<Option<Json>, StoreError> {
        if field.field_type != FieldType::Relation || field.storage() == Storage::List {
            return Ok(plain_cell_value(field, text, &self.users));
        }
        let text = crate::export::unguard(text.trim());
        let target = field.options.target.clone().unwrap_or_default();
        // An export writes `title [id]`: the id where that record lives here (the same
        // database), else the title (another database, where it is found by name or made).
        // (Exports before 2026-12 wrote the id alone.)
        let (title, id) = crate::export::parse_relation_cell(text);
        if let Some(id) = id.or(Some(title).filter(|t| crate::export::is_record_id(t))) {
            let obj = self.db.object(&target).await?;
            if self.db.is_live(tx, &obj, id).await? {
                return Ok(Some(json!(id)));
            }
        }
        if title.is_empty() {
            return Ok(Some(json!(text)));
        }
        let text = title;
        Ok(Some(match self.resolve(tx, &target, text, create).await? {
            Some(id) => json!(id),
            None if !create && self.opts.create_related => return Ok(None),
            None => json!(text),
        }))
    }

    /// The API input of a row; `Ok(None)` when (without `create`) a related record is missing.
    async fn row_input(
        &mut self,
        tx: &mut WriteTx,
        columns: &[Column],
        cells: &[String],
        create: bool,
    ) -> Result<Option<Map<String, Json>>, StoreError> {
        let mut input = Map::new();
        for (c, cell) in columns.iter().zip(cells) {
            let Some(field) = &c.field else { continue };
            if cell.trim().is_empty() {
                continue;
            }
            match self.cell_value(tx, field, cell, create).await? {
                Some(value) => {
                    input.insert(field.api_name.clone(), value);
                }
                None => return Ok(None),
            }
        }
        Ok(Some(input))
    }
}

/// The API value of one cell for a field that needs no look-up in the database (anything but a
/// relation; users are looked up in `users`, e-mail → id); `None` for a relation.
fn plain_cell_value(field: &FieldDef, text: &str, users: &HashMap<String, String>) -> Option<Json> {
    let text = crate::export::unguard(text.trim());
    Some(match field.field_type {
        _ if field.storage() == Storage::List => json!(members(text)),
        FieldType::Relation => return None,
        FieldType::User => match users.get(&text.to_lowercase()) {
            Some(id) => json!(id),
            None => json!(text),
        },
        FieldType::Date => parse_form_date(text).map(|d| json!(format_date(d))).unwrap_or(json!(text)),
        FieldType::Currency => money_cell(text),
        FieldType::Boolean => match peyvand_records::normalize::normalize(text).as_str() {
            "yes" | "true" | "1" | "y" | "بله" | "آری" => json!(true),
            "no" | "false" | "0" | "n" | "خیر" | "نه" => json!(false),
            _ => json!(text),
        },
        _ => json!(text),
    })
}

/// A money cell as an export writes it (`amount currency`), or the currency first, or the amount
/// alone (the field's currency); anything else is left for validation to name.
fn money_cell(text: &str) -> Json {
    let code = |c: &str| c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic());
    let parts: Vec<&str> = text.split_whitespace().collect();
    match parts.as_slice() {
        [amount, currency] | [currency, amount] if code(currency) && !code(amount) => {
            json!({ "amount": peyvand_records::normalize::to_latin_digits(amount), "currency": currency.to_ascii_uppercase() })
        }
        _ => json!(text),
    }
}

/// The API input of a row when no cell needs the database (see [`plain_cell_value`]).
fn plain_row_input(columns: &[Column], cells: &[String], users: &HashMap<String, String>) -> Option<Map<String, Json>> {
    let mut input = Map::new();
    for (c, cell) in columns.iter().zip(cells) {
        let Some(field) = &c.field else { continue };
        if cell.trim().is_empty() {
            continue;
        }
        input.insert(field.api_name.clone(), plain_cell_value(field, cell, users)?);
    }
    Some(input)
}

fn row_hash(object: &str, columns: &[Column], cells: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(object.as_bytes());
    for (c, cell) in columns.iter().zip(cells) {
        h.update([0u8]);
        h.update(c.field.as_ref().map(|f| f.api_name.as_str()).unwrap_or("").as_bytes());
        h.update([1u8]);
        h.update(cell.trim().as_bytes());
    }
    peyvand_store::hex(&h.finalize())
}

/// Which rows the import log keeps: those with no identity of their own.
///
/// An import that de-duplicates by a key (and does not create duplicates on purpose) finds a
/// row holding a key by that key when the file runs again, after an interruption or after the
/// user fixed the rows it reported: such a row needs no entry in the import log, whose key (the
/// row's hash) lands at a random place in its B-tree. On an import of a million contacts by
/// e-mail those entries were 29 % of SQLite's own work (BENCHMARKS.md). The log keeps the rows of
/// an import without a key, with `--on-duplicate create`, and those whose key cell is empty.
#[derive(Clone)]
struct Identity {
    object: String,
    /// The de-duplication key, unless duplicates are created on purpose.
    key: Option<FieldDef>,
}

impl Identity {
    fn new(object: &str, key: Option<&FieldDef>, on_duplicate: OnDuplicate) -> Identity {
        let key = key.filter(|_| on_duplicate != OnDuplicate::Create).cloned();
        Identity { object: object.to_string(), key }
    }

    /// The row's hash for the import log, or `None` for a row its key identifies.
    fn log_hash(&self, columns: &[Column], cells: &[String], users: &HashMap<String, String>) -> Option<String> {
        match &self.key {
            Some(key) if holds_key(key, columns, cells, users) => None,
            _ => Some(row_hash(&self.object, columns, cells)),
        }
    }
}

/// Whether the row holds a value of `key` that the import looks records up by: a cell of its
/// column that reads as a value of the field (as the row's input reads it, [`plain_cell_value`]).
fn holds_key(key: &FieldDef, columns: &[Column], cells: &[String], users: &HashMap<String, String>) -> bool {
    columns.iter().zip(cells).any(|(c, cell)| {
        c.field.as_ref().is_some_and(|f| f.api_name == key.api_name)
            && !cell.trim().is_empty()
            && plain_cell_value(key, cell, users)
                .and_then(|v| peyvand_records::value::parse_value(key, &v).ok())
                .is_some_and(|v| !v.is_null())
    })
}

/// Rows of a file after its header: each the cells of one row, or why it cannot be read.
type Rows = Box<dyn Iterator<Item = Result<Vec<String>, String>> + Send>;

/// Opens a file for reading rows: an XLSX workbook or a vCard file (recognized by their
/// content), or CSV. Checks it is
/// text, finds its encoding, reads and checks the header row. Returns the format and encoding,
/// the headers and the remaining rows.
fn open(path: &Path, encoding: Option<&str>) -> Result<(String, Vec<String>, Rows), TransferError> {
    let (head, valid_utf8) = scan(path)?;
    let encoding = match encoding {
        Some(name) => by_name(name)?,
        None => detect(&head, valid_utf8),
    };
    if crate::vcard::looks_like_vcard(&head) {
        let mut text = String::new();
        Utf8Reader::new(std::fs::File::open(path)?, encoding).read_to_string(&mut text)?;
        let headers = crate::vcard::COLUMNS.iter().map(|c| c.to_string()).collect();
        return Ok((format!("vcard {}", encoding.name()), headers, Box::new(crate::vcard::parse(&text).into_iter())));
    }
    if crate::xlsx::looks_like_zip(&head) {
        let mut rows = crate::xlsx::sheet_rows(path)?.into_iter();
        let headers: Vec<String> =
            rows.next().ok_or(TransferError::Empty)?.iter().map(|h| h.trim().to_string()).collect();
        check_headers(&headers)?;
        return Ok(("xlsx".to_string(), headers, Box::new(rows.map(Ok))));
    }
    check_text(&head)?;
    let reader = Utf8Reader::new(std::fs::File::open(path)?, encoding);
    let mut records = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(reader).into_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            return Err(TransferError::Malformed { row: 1, message: e.to_string() });
        }
        None => return Err(TransferError::Empty),
    };
    let headers: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    check_headers(&headers)?;
    let rows = records.map(|r| r.map(|r| r.iter().map(str::to_string).collect()).map_err(|e| e.to_string()));
    Ok((encoding.name().to_string(), headers, Box::new(rows)))
}

/// Refuses a header row that is empty or names a column twice.
fn check_headers(headers: &[String]) -> Result<(), TransferError> {
    if headers.iter().all(String::is_empty) {
        return Err(TransferError::Empty);
    }
    for (i, h) in headers.iter().enumerate() {
        let key = peyvand_records::normalize::compact(h);
        if !key.is_empty() && headers[..i].iter().any(|o| peyvand_records::normalize::compact(o) == key) {
            return Err(TransferError::DuplicateHeader { column: i + 1, name: h.clone() });
        }
    }
    Ok(())
}

/// The first rows of a file and the suggested mapping, for a person to check before importing.
#[derive(Clone, Debug, Serialize)]
pub struct Preview {
    pub encoding: String,
    pub headers: Vec<String>,
    pub suggested: Vec<Option<String>>,
    pub rows: Vec<Vec<String>>,
}

/// Reads the header and up to `rows` rows of a file.
pub async fn preview(
    db: &Db,
    object: &str,
    path: &Path,
    encoding: Option<&str>,
    rows: usize,
) -> Result<Preview, TransferError> {
    let obj = db.visible_object(object).await?;
    let (encoding, headers, records) = open(path, encoding)?;
    let sample = records.take(rows).filter_map(Result::ok).collect();
    Ok(Preview { encoding, suggested: mapping::suggest(&obj, &headers), headers, rows: sample })
}

/// Imports one CSV or vCard file. `progress` is called with the number of rows read so far.
pub async fn import_csv(
    db: &Db,
    actor: Option<&str>,
    path: &Path,
    opts: &ImportOptions,
    mut progress: impl FnMut(usize),
) -> Result<ImportReport, TransferError> {
    let object = db.visible_object(&opts.object).await?;
    let (encoding, headers, records) = open(path, opts.encoding.as_deref())?;
    let columns = build_columns(&object, &headers, opts)?;
    let dedupe = match &opts.dedupe_by {
        Some(name) => Some(
            object
                .field(name)
                .cloned()
                .ok_or_else(|| TransferError::UnknownField { object: object.api_name.clone(), field: name.clone() })?,
        ),
        None => None,
    };
    let users = db.list_users().await?.into_iter().map(|u| (u.email.to_lowercase(), u.id)).collect();
    let mut cx = Context {
        db,
        actor,
        opts,
        related: HashMap::new(),
        users,
        row_related: Vec::new(),
        identity: Identity::new(&object.api_name, dedupe.as_ref(), opts.on_duplicate),
        report: ImportReport::default(),
    };
    cx.report.encoding = encoding;
    cx.report.mapping = columns
        .iter()
        .map(|c| MappingEntry { column: c.name.clone(), field: c.field.as_ref().map(|f| f.api_name.clone()) })
        .collect();

    let single_tx = opts.all_or_nothing || opts.dry_run;
    // Batches of plainly new records go through the bulk-load connection (rusqlite on SQLite,
    // COPY on PostgreSQL); the rest, and everything in an import that is one transaction,
    // through the usual one.
    let mut native = if single_tx || row_by_row(db, &object.api_name) { None } else { db.native_writer().await? };
    // What the reader made comes back to it to be freed (see [`Returned`]).
    let (spent, spent_back) = std::sync::mpsc::channel();
    if let Some(writer) = &mut native {
        writer.send_spent_to(spent);
    }
    let (done, rows_back) = std::sync::mpsc::channel();
    let reader = Reader {
        object: object.clone(),
        columns: columns.clone(),
        users: cx.users.clone(),
        identity: cx.identity.clone(),
        dialect: db.dialect(),
        native: native.is_some(),
        checks: native.is_some().then(|| (db.clone(), tokio::runtime::Handle::current())),
        actor: actor.map(str::to_string),
        batch_size: opts.batch_size.max(1),
        returned: Returned { written: spent_back, rows: rows_back },
    };
    // One batch waits while one is written and the next is read: three in memory at most.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<ReadBatch>(1);
    let reading = std::thread::Builder::new()
        .name("import-read".into())
        .spawn(move || reader.read(records, |batch| sender.blocking_send(batch).is_ok()))?;
    // The open transaction: one for the whole import when it is all or nothing, else one per
    // batch that needs it.
    let mut open = if single_tx { Some(import_tx(db).await?) } else { None };
    // PostgreSQL's statistics are gathered again each time the rows written double: planned
    // for the table as it was, the de-duplication look-up read every value of the field and
    // filtered them (547,565 for a batch of 2,000 half-way through a million), so an import
    // slowed as it went (autovacuum would analyze too, where it is on and has come round).
    // Where they were never gathered, after the first batch already.
    let mut analyze_at = match db.statistics_missing(&object.api_name).await? {
        true => 1,
        false => STATISTICS_AFTER_ROWS,
    };
    // Returning early drops the receiver, which stops the reader at its next batch.
    while let Some(batch) = receiver.recv().await {
        let candidates = sort_out(&mut cx, &columns, batch.rows);
        let mut prepared = batch.prepared;
        let written = match native.as_mut() {
            Some(writer) => {
                import_plain(&mut cx, writer, &object, &columns, dedupe.as_ref(), &candidates, prepared.take()).await?
            }
            None => false,
        };
        if !written && !candidates.is_empty() {
            let tx = match &mut open {
                Some(tx) => tx,
                None => open.insert(import_tx(db).await?),
            };
            let prepared = match prepared {
                Some(NewRecords::Prepared(prepared)) => Some(prepared),
                _ => None,
            };
            import_batch(&mut cx, tx, &object, &columns, dedupe.as_ref(), candidates, prepared).await?;
        } else {
            // Written: the rows go back to the reader (and are freed here if it has stopped).
            let _ = done.send(candidates);
        }
        if !single_tx {
            if let Some(tx) = open.take() {
                tx.commit().await?;
            }
            let written = cx.report.created + cx.report.updated;
            if written >= analyze_at {
                db.refresh_statistics(&[&object.api_name]).await?;
                analyze_at = written * 2;
            }
        }
        progress(cx.report.rows);
    }
    if let Some(writer) = native {
        writer.finish().await?;
    }
    // The channel also closes when the reader panics: that is an error, not a shorter file.
    match tokio::task::spawn_blocking(move || reading.join()).await {
        Ok(Ok(())) => {}
        _ => return Err(TransferError::Io(std::io::Error::other("the thread reading the file stopped half-way"))),
    }
    let rolled_back = opts.dry_run || (opts.all_or_nothing && cx.report.failed > 0);
    let keep = !rolled_back;
    if keep {
        if let Some(tx) = open {
            tx.commit().await?;
        }
        if cx.report.created + cx.report.updated >= STATISTICS_AFTER_ROWS {
            db.refresh_statistics(&[&object.api_name]).await?;
        }
    } else {
        drop(open);
    }
    cx.report.committed = keep;
    Ok(cx.report)
}

/// A write transaction for an import's rows, alone among imports (see [`Db::lock_imports`]).
async fn import_tx(db: &Db) -> Result<WriteTx, StoreError> {
    let mut tx = db.write_long().await?;
    db.lock_imports(&mut tx).await?;
    Ok(tx)
}

fn build_columns(object: &ObjectDef, headers: &[String], opts: &ImportOptions) -> Result<Vec<Column>, TransferError> {
    let suggested = mapping::suggest(object, headers);
    headers
        .iter()
        .zip(suggested)
        .map(|(h, s)| {
            let chosen = match opts.mapping.iter().find(|(col, _)| col.trim() == h) {
                Some((_, field)) if field.is_empty() || field == "-" => None,
                Some((_, field)) => Some(object.field(field).cloned().ok_or_else(|| TransferError::UnknownField {
                    object: object.api_name.clone(),
                    field: field.clone(),
                })?),
                None => s.and_then(|f| object.field(&f).cloned()),
            };
            Ok(Column { name: h.clone(), field: chosen })
        })
        .collect()
}

/// Rows that cannot be imported at all (wrong number of cells, an oversized cell) are counted
/// and reported, empty rows skipped; returns whether the row was dealt with here.
/// What keeps a row from being imported before its values are looked at.
enum Problem {
    Failed(RowError),
    /// Every cell empty.
    Empty,
}

fn row_problem(columns: &[Column], row_no: usize, cells: &[String]) -> Option<Problem> {
    if cells.len() != columns.len() && !(cells.len() == 1 && cells[0].trim().is_empty()) {
        let value = Some(format!("{} of {} columns", cells.len(), columns.len()));
        return Some(Problem::Failed(RowError {
            row: row_no,
            column: None,
            field: None,
            code: "wrong_column_count".into(),
            value,
        }));
    }
    if cells.iter().all(|c| c.trim().is_empty()) {
        return Some(Problem::Empty);
    }
    if let Some((i, _)) = cells.iter().enumerate().find(|(_, c)| c.chars().count() > MAX_CELL_CHARS) {
        return Some(Problem::Failed(RowError {
            row: row_no,
            column: Some(columns[i].name.clone()),
            field: None,
            code: "cell_too_large".into(),
            value: None,
        }));
    }
    None
}

/// Counts and reports a row's problem; whether it had one.
fn basic_check(cx: &mut Context<'_>, columns: &[Column], row_no: usize, cells: &[String]) -> bool {
    match row_problem(columns, row_no, cells) {
        None => false,
        Some(Problem::Empty) => {
            cx.report.skipped += 1;
            true
        }
        Some(Problem::Failed(e)) => {
            cx.report.failed += 1;
            cx.fail(e);
            true
        }
    }
}

/// The de-duplication keys of a row's input, as the store indexes them (every member of a
/// multi-valued field: a row matches a record holding any of its e-mails), when the fast path
/// can look them up in one query (text and multi-valued fields).
fn dedupe_keys(key: &FieldDef, input: &Map<String, Json>) -> Option<Vec<String>> {
    let value = peyvand_records::value::parse_value(key, input.get(&key.api_name)?).ok()?;
    match (key.storage(), value) {
        (Storage::List, peyvand_records::Value::List(items)) if !items.is_empty() => {
            let mut keys: Vec<String> = items.iter().map(|i| peyvand_records::normalize::normalize(i)).collect();
            keys.sort();
            keys.dedup();
            Some(keys)
        }
        (Storage::Text, peyvand_records::Value::Text(t)) => Some(vec![t]),
        _ => None,
    }
}

/// A row on the fast path: its number, cells, hash (if logged), API input and the reader's validation.
type NewRow = (usize, Vec<String>, Option<String>, Map<String, Json>, Checked);

/// A batch of rows as the reading thread hands it over, with what it could work out without
/// the database.
struct ReadBatch {
    rows: Vec<ReadRow>,
    /// The rows found [`Checked::Valid`], in order, as new records; `None` when there are none,
    /// two of them share a unique value, or the database refused them.
    prepared: Option<NewRecords>,
}

/// A batch's new records as the reading thread leaves them.
enum NewRecords {
    /// Prepared; the writer checks them against the database.
    Prepared(PreparedRecords),
    /// Prepared for the bulk-load connection and checked against the database already, on the
    /// reading thread while the batch before was written (the check had been a step of the
    /// writer's, which is the slower of the two threads).
    Checked(CheckedRecords),
}

struct ReadRow {
    row_no: usize,
    /// The row's cells, or why it could not be read.
    cells: Result<Vec<String>, String>,
    /// For a row without a [`Problem`]: its hash (if logged), and its input when no cell needs the database.
    work: Option<RowWork>,
}

struct RowWork {
    /// For the import log ([`Identity::log_hash`]).
    hash: Option<String>,
    input: Option<Map<String, Json>>,
    checked: Checked,
}

/// A row's input validated as a new record.
enum Checked {
    /// Not validated: no input (a cell needs the database).
    No,
    Valid,
    Invalid(Vec<FieldError>),
}

/// What the reading thread needs: the rows' meaning without the database.
struct Reader {
    object: Arc<ObjectDef>,
    columns: Vec<Column>,
    users: HashMap<String, String>,
    identity: Identity,
    dialect: Dialect,
    /// Whether batches are prepared for the bulk-load connection.
    native: bool,
    /// Where such batches are checked against the database before they are handed on.
    checks: Option<(Db, tokio::runtime::Handle)>,
    actor: Option<String>,
    batch_size: usize,
    returned: Returned,
}

/// What the importing task is done with, back on the reading thread that made it, to be freed
/// there: memory freed by the thread that allocated it is the allocator's fast path, and freeing
/// the written batches' values and the rows on other threads was about a tenth of an import's
/// processor time (mimalloc's cross-thread free, 1,000,000 contacts).
struct Returned {
    /// The rows the bulk-load connection wrote ([`NativeWriter::send_spent_to`]).
    written: std::sync::mpsc::Receiver<Spent>,
    /// The rows of batches written that way, as the reader handed them on.
    rows: std::sync::mpsc::Receiver<Vec<Candidate>>,
}

impl Returned {
    fn free(&self) {
        self.written.try_iter().for_each(drop);
        self.rows.try_iter().for_each(drop);
    }
}

impl Reader {
    /// Reads `records` (the file's rows after the header, row 2 on) in batches, each handed to
    /// `send` until it returns false (the importer stopped). Reading, checking, hashing,
    /// validating and preparing a batch took about a quarter of an import's time, and the
    /// writer waited for them.
    fn read(self, records: Rows, mut send: impl FnMut(ReadBatch) -> bool) {
        let mut rows = Vec::with_capacity(self.batch_size);
        for (i, record) in records.enumerate() {
            rows.push((i + 2, record));
            if rows.len() >= self.batch_size {
                self.returned.free();
                if !send(self.batch(std::mem::take(&mut rows))) {
                    return;
                }
            }
        }
        if !rows.is_empty() {
            send(self.batch(rows));
        }
    }

    fn batch(&self, rows: Vec<(usize, Result<Vec<String>, String>)>) -> ReadBatch {
        let mut read = Vec::with_capacity(rows.len());
        let mut valid = Vec::new();
        for (row_no, cells) in rows {
            let work = match &cells {
                Ok(c) if row_problem(&self.columns, row_no, c).is_none() => {
                    let hash = self.identity.log_hash(&self.columns, c, &self.users);
                    let input = plain_row_input(&self.columns, c, &self.users);
                    let checked = match input.as_ref().map(|i| validate(&self.object, i, Mode::Create)) {
                        None => Checked::No,
                        Some(Ok(changes)) => {
                            valid.push(changes.values);
                            Checked::Valid
                        }
                        Some(Err(errors)) => Checked::Invalid(errors),
                    };
                    Some(RowWork { hash, input, checked })
                }
                _ => None,
            };
            read.push(ReadRow { row_no, cells, work });
        }
        let actor = self.actor.as_deref();
        let prepared = match (valid.is_empty(), self.native) {
            (true, _) => None,
            (false, true) => PreparedRecords::native(actor, &self.object, &valid).ok(),
            (false, false) => PreparedRecords::new(self.dialect, actor, &self.object, &valid).ok(),
        };
        let prepared = match (prepared, &self.checks) {
            // Unless they point at records of their own object, which the batch being written
            // may be making.
            (Some(records), Some((db, runtime))) if !records.refers_to(&self.object.api_name) => {
                // Refused (or the database failed): the writer goes the usual way, row by row,
                // which finds the row (or the failure) again.
                runtime.block_on(db.check_native(records)).ok().map(NewRecords::Checked)
            }
            (records, _) => records.map(NewRecords::Prepared),
        };
        ReadBatch { rows: read, prepared }
    }
}

/// A row that can be imported: its number, cells and what the reader worked out.
type Candidate = (usize, Vec<String>, RowWork);

/// Counts a batch's rows, reports those that cannot be imported at all (unreadable, wrong
/// number of cells, an oversized cell) and skips empty ones; the rest are to be imported.
fn sort_out(cx: &mut Context<'_>, columns: &[Column], rows: Vec<ReadRow>) -> Vec<Candidate> {
    let mut candidates = Vec::with_capacity(rows.len());
    for row in rows {
        cx.report.rows += 1;
        match row.cells {
            Err(e) => {
                cx.report.failed += 1;
                cx.fail(RowError {
                    row: row.row_no,
                    column: None,
                    field: None,
                    code: "malformed_row".into(),
                    value: Some(e),
                });
            }
            Ok(cells) => {
                if !basic_check(cx, columns, row.row_no, &cells) {
                    let work = row.work.expect("the reader works on every row without a problem");
                    candidates.push((row.row_no, cells, work));
                }
            }
        }
    }
    candidates
}

/// Counts a row that failed validation and reports its errors.
fn reject(cx: &mut Context<'_>, columns: &[Column], row_no: usize, cells: &[String], errors: Vec<FieldError>) {
    cx.report.failed += 1;
    for e in row_errors(row_no, columns, cells, errors) {
        cx.fail(e);
    }
}

/// Writes a batch through the bulk-load connection when it is plain: every row's
/// input known without the database, no row of the file imported before, no de-duplication key
/// held by a live record or by two rows of the batch. The last two are looked for inside the
/// write's own transaction, so a file run twice at once cannot create a record twice. Returns
/// false, having written nothing, when the batch is not plain: it then goes the usual way
/// ([`import_batch`]), which sorts out each row.
async fn import_plain(
    cx: &mut Context<'_>,
    writer: &mut NativeWriter,
    object: &ObjectDef,
    columns: &[Column],
    dedupe: Option<&FieldDef>,
    candidates: &[Candidate],
    prepared: Option<NewRecords>,
) -> Result<bool, TransferError> {
    let mut prepared = match prepared {
        Some(NewRecords::Checked(checked)) => checked,
        Some(NewRecords::Prepared(prepared)) => match cx.db.check_native(prepared).await {
            Ok(checked) => checked,
            // A reference or unique value the batch check refused: the usual way finds the row.
            Err(StoreError::Validation(_) | StoreError::Conflict { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        },
        None => return Ok(false),
    };
    let mut hashes = Vec::with_capacity(candidates.len());
    let mut valid = Vec::with_capacity(candidates.len());
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for (_, _, work) in candidates {
        let Some(input) = &work.input else { return Ok(false) };
        if let Some(hash) = &work.hash {
            if !seen.insert(hash.as_str()) {
                return Ok(false);
            }
            hashes.push(hash.clone());
        }
        if let Checked::Valid = work.checked {
            valid.push(work.hash.clone());
        }
        if let Some(key) = dedupe {
            match dedupe_keys(key, input) {
                Some(k) => keys.extend(k),
                None if matches!(key.storage(), Storage::List | Storage::Text) => {}
                None if input.get(&key.api_name).is_none() => {}
                // A key the usual way looks up one row at a time.
                None => return Ok(false),
            }
        }
    }
    if keys.iter().collect::<HashSet<_>>().len() != keys.len() {
        return Ok(false);
    }
    prepared.log_import(&object.api_name, valid)?;
    let mut absent = Absent::default();
    absent.imported(&hashes);
    if let Some(key) = dedupe {
        absent.values(object, key, &keys);
    }
    match cx.db.write_checked_native_unless(writer, prepared, absent).await {
        Ok(Some(ids)) => cx.report.created += ids.len(),
        Ok(None) => return Ok(false),
        // A unique value taken since the check: the usual way finds the row.
        Err(StoreError::Conflict { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    for (row_no, cells, work) in candidates {
        if let Checked::Invalid(errors) = &work.checked {
            reject(cx, columns, *row_no, cells, errors.clone());
        }
    }
    Ok(true)
}

/// Imports a batch: rows that are plainly new records go in together with a few statements
/// (as the reading thread prepared them, when every row it prepared is still to be created);
/// the rest (a match to de-duplicate, a related record to create, a row the batch refused) go
/// one at a time under a savepoint.
async fn import_batch(
    cx: &mut Context<'_>,
    tx: &mut WriteTx,
    object: &ObjectDef,
    columns: &[Column],
    dedupe: Option<&FieldDef>,
    candidates: Vec<Candidate>,
    prepared: Option<PreparedRecords>,
) -> Result<(), TransferError> {
    let db = cx.db;
    if candidates.is_empty() {
        return Ok(());
    }
    let hashes: Vec<String> = candidates.iter().filter_map(|c| c.2.hash.clone()).collect();
    let done = db.imported_hashes(tx, &hashes).await?;
    let mut seen = HashSet::new();
    let mut slow: Vec<(usize, Vec<String>)> = Vec::new();
    let mut fast: Vec<NewRow> = Vec::new();
    // Whether every row goes the fast way with the input the reader made: then its validation
    // and its prepared records stand.
    let mut as_read = true;
    for (row_no, cells, work) in candidates {
        if work.hash.as_ref().is_some_and(|hash| done.contains(hash) || !seen.insert(hash.clone())) {
            cx.report.already_imported += 1;
            as_read = false;
            continue;
        }
        if row_by_row(db, &object.api_name) {
            as_read = false;
            slow.push((row_no, cells));
            continue;
        }
        let input = match work.input {
            Some(input) => Some(input),
            None => {
                as_read = false;
                cx.row_input(tx, columns, &cells, false).await?
            }
        };
        match input {
            Some(input) => fast.push((row_no, cells, work.hash, input, work.checked)),
            None => slow.push((row_no, cells)),
        }
    }
    // Rows that match a record (or an earlier row of this batch) on the de-duplication key.
    if let Some(key) = dedupe {
        let keys: Vec<Option<Vec<String>>> = fast.iter().map(|row| dedupe_keys(key, &row.3)).collect();
        let present: Vec<String> = keys.iter().flatten().flatten().cloned().collect();
        let existing = db.find_many_by_value(tx, object, key, &present).await?;
        let mut first = HashSet::new();
        let mut kept = Vec::with_capacity(fast.len());
        for (row, k) in fast.into_iter().zip(keys) {
            let simple = match (&k, key.storage()) {
                // A later row sharing a key with this one goes the slow way too, and finds
                // the record this one made.
                (Some(k), _) => {
                    !k.iter().any(|k| existing.contains_key(k)) && k.iter().all(|k| first.insert(k.clone()))
                }
                (None, Storage::List | Storage::Text) => true,
                (None, _) => row.3.get(&key.api_name).is_none(),
            };
            if simple {
                kept.push(row)
            } else {
                as_read = false;
                slow.push((row.0, row.1))
            }
        }
        fast = kept;
    }
    let mut valid = Vec::with_capacity(fast.len());
    let prepared = if as_read { prepared } else { None };
    for (row_no, cells, hash, input, checked) in fast {
        let errors = match (&prepared, checked) {
            (Some(_), Checked::Valid) => {
                valid.push((row_no, cells, hash, Vec::new()));
                continue;
            }
            (Some(_), Checked::Invalid(errors)) => errors,
            _ => match validate(object, &input, Mode::Create) {
                Ok(changes) => {
                    valid.push((row_no, cells, hash, changes.values));
                    continue;
                }
                Err(errors) => errors,
            },
        };
        reject(cx, columns, row_no, &cells, errors);
    }
    if !valid.is_empty() {
        db.savepoint(tx, Savepoint::Begin).await?;
        let prepared = match prepared {
            Some(prepared) => Ok(prepared),
            None => {
                let values: Vec<Vec<(&FieldDef, Value)>> = valid.iter().map(|v| v.3.clone()).collect();
                PreparedRecords::new(db.dialect(), cx.actor, object, &values)
            }
        };
        let written = match prepared {
            Ok(mut prepared) => {
                prepared.log_import(&object.api_name, valid.iter().map(|v| v.2.clone()).collect())?;
                db.write_prepared(tx, prepared).await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(ids) => {
                db.savepoint(tx, Savepoint::Release).await?;
                cx.report.created += ids.len();
            }
            Err(StoreError::Validation(_) | StoreError::Conflict { .. }) => {
                db.savepoint(tx, Savepoint::Rollback).await?;
                db.savepoint(tx, Savepoint::Release).await?;
                slow.extend(valid.into_iter().map(|v| (v.0, v.1)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    slow.sort_by_key(|(row_no, _)| *row_no);
    for (row_no, cells) in slow {
        import_row(cx, tx, object, columns, dedupe, row_no, &cells).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn import_row(
    cx: &mut Context<'_>,
    tx: &mut WriteTx,
    object: &ObjectDef,
    columns: &[Column],
    dedupe: Option<&FieldDef>,
    row_no: usize,
    cells: &[String],
) -> Result<(), TransferError> {
    let db = cx.db;
    let hash = cx.identity.log_hash(columns, cells, &cx.users);
    if let Some(hash) = &hash
        && db.imported_row(tx, hash).await?.is_some()
    {
        cx.report.already_imported += 1;
        return Ok(());
    }
    db.savepoint(tx, Savepoint::Begin).await?;
    cx.row_related.clear();
    match write_row(cx, tx, object, columns, dedupe, row_no, cells, hash.as_deref()).await {
        Ok(()) => db.savepoint(tx, Savepoint::Release).await?,
        Err(RowFailure::Row(errors)) => {
            db.savepoint(tx, Savepoint::Rollback).await?;
            db.savepoint(tx, Savepoint::Release).await?;
            // The related records this row created are gone with it.
            for key in std::mem::take(&mut cx.row_related) {
                cx.related.remove(&key);
                cx.report.related_created -= 1;
            }
            cx.report.failed += 1;
            for e in errors {
                cx.fail(e);
            }
        }
        Err(RowFailure::Fatal(e)) => return Err(e.into()),
    }
    Ok(())
}

enum RowFailure {
    Row(Vec<RowError>),
    Fatal(StoreError),
}

impl From<StoreError> for RowFailure {
    fn from(e: StoreError) -> Self {
        RowFailure::Fatal(e)
    }
}

fn row_errors(row: usize, columns: &[Column], cells: &[String], errors: Vec<FieldError>) -> Vec<RowError> {
    errors
        .into_iter()
        .map(|e| {
            let col = columns.iter().position(|c| c.field.as_ref().is_some_and(|f| f.api_name == e.field));
            RowError {
                row,
                column: col.map(|i| columns[i].name.clone()),
                field: Some(e.field.clone()),
                code: e.code.to_string(),
                value: col.map(|i| cells[i].clone()),
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn write_row(
    cx: &mut Context<'_>,
    tx: &mut WriteTx,
    object: &ObjectDef,
    columns: &[Column],
    dedupe: Option<&FieldDef>,
    row_no: usize,
    cells: &[String],
    hash: Option<&str>,
) -> Result<(), RowFailure> {
    let db = cx.db;
    let input = cx.row_input(tx, columns, cells, true).await?.unwrap_or_default();
    let existing = match dedupe {
        Some(key) => match input.get(&key.api_name) {
            Some(v) => match peyvand_records::value::parse_value(key, v) {
                Ok(value) => db.find_by_value(tx, object, key, &value).await?,
                Err(_) => None,
            },
            None => None,
        },
        None => None,
    };
    let outcome = match (existing, cx.opts.on_duplicate) {
        (Some(id), OnDuplicate::Skip) => {
            cx.report.skipped += 1;
            (id, "skipped")
        }
        (Some(id), OnDuplicate::Update) => {
            let changes = validate(object, &input, Mode::Update)
                .map_err(|e| RowFailure::Row(row_errors(row_no, columns, cells, e)))?;
            db.update_in(tx, cx.actor, object, &id, changes.values, None)
                .await
                .map_err(|e| store_row_error(row_no, columns, cells, e))?;
            cx.report.updated += 1;
            (id, "updated")
        }
        _ => {
            let changes = validate(object, &input, Mode::Create)
                .map_err(|e| RowFailure::Row(row_errors(row_no, columns, cells, e)))?;
            let id = db
                .create_in(tx, cx.actor, object, &changes.values)
                .await
                .map_err(|e| store_row_error(row_no, columns, cells, e))?;
            cx.report.created += 1;
            (id, "created")
        }
    };
    if let Some(hash) = hash {
        db.log_imported_row(tx, hash, &object.api_name, Some(&outcome.0), outcome.1).await?;
    }
    Ok(())
}

/// Whether rows are written one by one through the record path, not as batches: for a user
/// whose reach is checked per record (a new record is theirs unless given to their team; an
/// update of a record they may not change is refused, that row alone), and for an object whose
/// module has rules on its writes.
fn row_by_row(db: &Db, object: &str) -> bool {
    db.viewer().is_some_and(|v| v.role != Some(peyvand_records::access::Role::Admin)) || db.has_hooks(object)
}

fn store_row_error(row: usize, columns: &[Column], cells: &[String], e: StoreError) -> RowFailure {
    match e {
        StoreError::NotFound(_) | StoreError::Forbidden(_) => {
            let code = "record_out_of_reach".to_string();
            RowFailure::Row(vec![RowError { row, column: None, field: None, code, value: None }])
        }
        StoreError::Validation(errors) => RowFailure::Row(row_errors(row, columns, cells, errors)),
        StoreError::Conflict { code, details } if details.is_empty() => {
            RowFailure::Row(vec![RowError { row, column: None, field: None, code: code.to_string(), value: None }])
        }
        StoreError::Conflict { details, .. } => RowFailure::Row(row_errors(row, columns, cells, details)),
        other => RowFailure::Fatal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_split_on_every_separator() {
        assert_eq!(
            members("a@x.ir; b@x.ir، c@x.ir,d@x.ir\ne@x.ir"),
            vec!["a@x.ir", "b@x.ir", "c@x.ir", "d@x.ir", "e@x.ir"]
        );
        assert!(members(" ; ").is_empty());
    }

    /// Money reads back as an export wrote it (the amount, then the currency), or the other way
    /// round, or the amount alone; the field checks the rest.
    #[test]
    fn money_reads_as_exported() {
        assert_eq!(money_cell("214763018 IRR"), json!({"amount": "214763018", "currency": "IRR"}));
        assert_eq!(money_cell("usd 12.5"), json!({"amount": "12.5", "currency": "USD"}));
        assert_eq!(money_cell("۱۲۰۰ IRR"), json!({"amount": "1200", "currency": "IRR"}));
        assert_eq!(money_cell("1200"), json!("1200"));
        assert_eq!(money_cell("12 dollars"), json!("12 dollars"));
        let field = FieldDef::plain("deal", "amount", FieldType::Currency);
        let value = plain_cell_value(&field, "5000 EUR", &HashMap::new()).expect("a value");
        let parsed = peyvand_records::value::parse_value(&field, &value).expect("valid money");
        assert_eq!(
            parsed,
            peyvand_records::Value::Money(peyvand_records::decimal::Decimal { units: 5000, scale: 0 }, "EUR".into())
        );
    }
}
