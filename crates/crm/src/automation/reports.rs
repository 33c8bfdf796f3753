//! Scheduled reports: a saved list view (or a saved report of `insights::reports`, its groups
//! and measures) sent by e-mail on a schedule (every day, or every week on
//! a day, at an hour of the business's time) to chosen users, as CSV, an Excel workbook or an
//! HTML table in the message. Each recipient gets the view as they may see it (their record and
//! field access), values as a reader of their language expects (Jalali dates, Persian digits,
//! rial). A chain of jobs per schedule and version, as workflows' time triggers are; each send
//! is keyed by the schedule, recipient and time, so a retry sends nothing twice.

use super::digest::ABOUT_USER;
use super::mail::{self, Attachment, Outgoing};
use super::templates::display_text;
use super::workflows::{Trigger, next_sweep};
use peyvand_records::value::format_datetime;
use peyvand_records::{FieldDef, FieldError, FieldType};
use peyvand_store::events::Job;
use peyvand_store::records::ListQuery;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;
use time::OffsetDateTime;

/// The job that sends a schedule's report.
pub const REPORT_JOB: &str = "report_send";
/// The most records a report carries (a larger list is for an export, not an e-mail).
pub const MAX_ROWS: usize = 5_000;
/// The most rows an HTML report shows in the message.
const MAX_HTML_ROWS: usize = 500;
/// Who keeps scheduled reports: managers and admins (each recipient still gets only what they
/// may see).
pub fn may_keep(role: peyvand_records::access::Role) -> bool {
    use peyvand_records::access::Role;
    matches!(role, Role::Admin | Role::Manager)
}

/// The formats a report is sent in.
pub const FORMATS: [&str; 3] = ["csv", "xlsx", "html"];

/// A report's schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportSchedule {
    pub id: String,
    pub name: String,
    /// The saved list view it sends (empty when it sends a report).
    pub view_id: String,
    /// The saved report it sends instead of a view.
    pub report_id: Option<String>,
    /// `csv`, `xlsx` or `html`.
    pub format: String,
    /// The users it goes to.
    pub recipients: Vec<String>,
    /// 0 = Saturday … 6 = Friday; none: every day.
    pub weekday: Option<u8>,
    pub hour: u8,
    pub enabled: bool,
    pub version: i64,
    pub created_by: Option<String>,
    pub last_sent_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A schedule as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: String,
    /// A saved list view, or else `report_id`.
    #[serde(default)]
    pub view_id: String,
    #[serde(default)]
    pub report_id: Option<String>,
    pub format: String,
    pub recipients: Vec<String>,
    #[serde(default)]
    pub weekday: Option<u8>,
    pub hour: u8,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

const COLUMNS: &str = "id, name, view_id, format, recipients_json, weekday, hour, enabled, version, created_by, \
                       last_sent_at, created_at, updated_at, report_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<ReportSchedule> {
    let recipients: String = r.try_get("recipients_json")?;
    Ok(ReportSchedule {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        view_id: r.try_get("view_id")?,
        report_id: r.try_get("report_id")?,
        format: r.try_get("format")?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        weekday: r.try_get::<Option<i64>, _>("weekday")?.and_then(|d| u8::try_from(d).ok()),
        hour: u8::try_from(r.try_get::<i64, _>("hour")?).unwrap_or(8),
        enabled: r.try_get::<i64, _>("enabled")? == 1,
        version: r.try_get("version")?,
        created_by: r.try_get("created_by")?,
        last_sent_at: r.try_get("last_sent_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The schedule's time trigger (when its report goes).
fn trigger(s: &ReportSchedule) -> Trigger {
    Trigger::Schedule { weekday: s.weekday, hour: s.hour }
}

/// Checks a schedule: its view is one `actor` can see, its recipients active users.
async fn check(db: &Db, actor: &str, input: &ScheduleInput) -> Result<()> {
    let mut errors = Vec::new();
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        errors.push(FieldError::new("name", "required"));
    }
    match input.report_id.as_deref().filter(|r| !r.is_empty()) {
        // A report its creator reads (each recipient gets their own figures).
        Some(report) => {
            let as_actor = db.for_viewer(db.viewer_for(actor).await?);
            if !input.view_id.is_empty() {
                errors.push(FieldError::new("view_id", "not_allowed"));
            } else if crate::insights::reports::get(&as_actor, report).await.is_err() {
                errors.push(FieldError::new("report_id", "invalid_option"));
            }
        }
        None => {
            if db.view(&input.view_id, actor).await.is_err() {
                errors.push(FieldError::new("view_id", "unknown_view"));
            }
        }
    }
    if !FORMATS.contains(&input.format.as_str()) {
        errors.push(FieldError::with("format", "invalid_option", json!({ "options": FORMATS })));
    }
    if input.recipients.is_empty() {
        errors.push(FieldError::new("recipients", "required"));
    }
    let users = db.list_users().await?;
    for (i, r) in input.recipients.iter().enumerate() {
        if !users.iter().any(|u| &u.id == r && u.active) {
            errors.push(FieldError::new(&format!("recipients.{i}"), "unknown_user"));
        }
    }
    if input.weekday.is_some_and(|d| d > 6) {
        errors.push(FieldError::with("weekday", "out_of_range", json!({ "min": 0, "max": 6 })));
    }
    if input.hour > 23 {
        errors.push(FieldError::with("hour", "out_of_range", json!({ "min": 0, "max": 23 })));
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

/// Saves a schedule (a new one without `id`) and, enabled, schedules its next send; a changed
/// schedule's old chain ends (its version is behind).
pub async fn save(db: &Db, actor: &str, id: Option<&str>, input: &ScheduleInput) -> Result<ReportSchedule> {
    check(db, actor, input).await?;
    let report_id = input.report_id.clone().filter(|r| !r.is_empty());
    let at = now();
    let mut tx = db.write().await?;
    let (id, version) = match id {
        Some(id) => {
            let row = sqlx::query("SELECT version FROM report_schedules WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx.tx)
                .await?
                .ok_or_else(|| Error::NotFound(format!("report schedule {id}")))?;
            let version = row.try_get::<i64, _>(0)? + 1;
            sqlx::query(
                "UPDATE report_schedules SET name = $1, view_id = $2, format = $3, recipients_json = $4, weekday = $5, \
                 hour = $6, enabled = $7, version = $8, updated_at = $9, report_id = $11 WHERE id = $10",
            )
            .bind(input.name.trim().to_string())
            .bind(input.view_id.clone())
            .bind(input.format.clone())
            .bind(json!(input.recipients).to_string())
            .bind(input.weekday.map(i64::from))
            .bind(i64::from(input.hour))
            .bind(i64::from(input.enabled))
            .bind(version)
            .bind(at.clone())
            .bind(id.to_string())
            .bind(report_id.clone())
            .execute(&mut *tx.tx)
            .await?;
            (id.to_string(), version)
        }
        None => {
            let id = new_id();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO report_schedules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, NULL, $10, $10, $11)"
            )))
            .bind(id.clone())
            .bind(input.name.trim().to_string())
            .bind(input.view_id.clone())
            .bind(input.format.clone())
            .bind(json!(input.recipients).to_string())
            .bind(input.weekday.map(i64::from))
            .bind(i64::from(input.hour))
            .bind(i64::from(input.enabled))
            .bind(actor.to_string())
            .bind(at.clone())
            .bind(report_id.clone())
            .execute(&mut *tx.tx)
            .await?;
            (id, 1)
        }
    };
    if input.enabled {
        let t = Trigger::Schedule { weekday: input.weekday, hour: input.hour };
        schedule_next_in(db, &mut tx, &id, version, &t, OffsetDateTime::now_utc()).await?;
    }
    tx.commit().await?;
    get(db, &id).await
}

async fn schedule_next_in(
    db: &Db,
    tx: &mut WriteTx,
    id: &str,
    version: i64,
    trigger: &Trigger,
    after: OffsetDateTime,
) -> Result<()> {
    let Some(at) = next_sweep(trigger, after, db.local_offset()) else { return Ok(()) };
    let at = format_datetime(at);
    let payload = json!({ "schedule": id, "version": version, "at": at });
    db.schedule_job_in(tx, REPORT_JOB, Some(&format!("{id}:{version}:{at}")), &at, &payload).await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<ReportSchedule> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM report_schedules WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("report schedule {id}")))?;
    from_row(&row)
}

pub async fn list(db: &Db) -> Result<Vec<ReportSchedule>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM report_schedules ORDER BY name, id")))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Removes a schedule; its pending send finds nothing and does nothing.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    get(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM report_schedules WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// Sends a schedule's report.
pub struct Sends;

impl JobKind for Sends {
    fn kind(&self) -> &'static str {
        REPORT_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let id = job.payload.get("schedule").and_then(Json::as_str).unwrap_or_default();
            let version = job.payload.get("version").and_then(Json::as_i64).unwrap_or_default();
            let at = job.payload.get("at").and_then(Json::as_str).unwrap_or(&job.run_at).to_string();
            let s = match get(db, id).await {
                Ok(s) if s.enabled && s.version == version => s,
                Ok(_) | Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            send(db, &s, &at).await.map_err(|e| e.to_string())?;
            let after = peyvand_records::value::parse_datetime(&at)
                .unwrap_or_else(OffsetDateTime::now_utc)
                .max(OffsetDateTime::now_utc());
            let mut tx = db.write().await.map_err(|e| e.to_string())?;
            schedule_next_in(db, &mut tx, &s.id, s.version, &trigger(&s), after).await.map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())
        })
    }
}

/// A report as one reader sees it: column labels and rows of display text, and whether the list
/// had more than [`MAX_ROWS`] records.
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub more: bool,
}

/// The view `view_id` (as `owner` keeps it) read as `reader` may see it, in their language.
pub async fn table(db: &Db, view_id: &str, owner: &str, reader: &str, lang: &str) -> Result<Table> {
    let view = db.view(view_id, owner).await?;
    let handle = db.for_viewer(db.viewer_for(reader).await?);
    let object = handle.visible_object(&view.object).await?;
    let mut names: Vec<String> = object.title_field.split(' ').map(str::to_string).collect();
    let columns: Vec<String> = if view.columns.is_empty() {
        object.live_fields().filter(|f| !f.hidden).take(6).map(|f| f.api_name.clone()).collect()
    } else {
        view.columns.clone()
    };
    for c in columns {
        if !names.contains(&c) {
            names.push(c);
        }
    }
    let fields: Vec<FieldDef> = names.iter().filter_map(|n| object.field(n).cloned()).collect();
    let filter = match &view.filter {
        Some(f) => Some(peyvand_records::filter::parse_filter(&object, f).map_err(Error::invalid)?),
        None => None,
    };
    let sort = peyvand_records::filter::parse_sort(&object, &view.sort).map_err(Error::invalid)?;
    let mut records = Vec::new();
    let mut cursor = None;
    let mut more = false;
    loop {
        let query = ListQuery {
            filter: filter.clone(),
            sort: sort.clone(),
            limit: Some(500),
            cursor,
            fields: Some(fields.iter().map(|f| f.api_name.clone()).collect()),
            ..ListQuery::default()
        };
        let page = handle.list_records(&object.api_name, &query).await?;
        records.extend(page.records);
        cursor = page.next_cursor;
        if records.len() > MAX_ROWS {
            records.truncate(MAX_ROWS);
            more = true;
            break;
        }
        if cursor.is_none() {
            break;
        }
    }
    // A relation's value is its record's title.
    let mut titles = std::collections::HashMap::new();
    for f in fields.iter().filter(|f| f.field_type == FieldType::Relation) {
        let ids: Vec<String> = records
            .iter()
            .filter_map(|r| r.fields.get(&f.api_name).and_then(Json::as_str))
            .map(str::to_string)
            .collect();
        if let Some(target) = f.options.target.as_deref()
            && !ids.is_empty()
        {
            titles.insert(f.api_name.clone(), handle.titles(target, &ids).await?);
        }
    }
    let offset = db.local_offset();
    let rows = records
        .iter()
        .map(|r| {
            fields
                .iter()
                .map(|f| {
                    let v = r.fields.get(&f.api_name).unwrap_or(&Json::Null);
                    match (titles.get(&f.api_name), v.as_str()) {
                        (Some(t), Some(id)) => t.get(id).cloned().unwrap_or_default(),
                        _ => display_text(lang, offset, f, v),
                    }
                })
                .collect()
        })
        .collect();
    let header = fields.iter().map(|f| if lang == "fa" { f.label_fa.clone() } else { f.label_en.clone() }).collect();
    Ok(Table { title: view.name, header, rows, more })
}

/// The saved report `report_id` as `reader` may see it (their records only), in their language.
pub async fn report_table(db: &Db, report_id: &str, reader: &str, lang: &str) -> Result<Table> {
    let handle = db.for_viewer(db.viewer_for(reader).await?);
    let report = crate::insights::reports::get(&handle, report_id).await?;
    let (header, rows, more) = crate::insights::reports::text_table(&handle, &report.definition, lang).await?;
    Ok(Table { title: report.definition.name, header, rows, more })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The table as an HTML message (right to left in Persian), at most [`MAX_HTML_ROWS`] rows.
pub fn html_table(t: &Table, lang: &str, note: &str) -> String {
    let dir = if lang == "fa" { "rtl" } else { "ltr" };
    let mut out = format!(
        "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><body style=\"font-family: Vazirmatn, Tahoma, sans-serif\">\
         <h1 style=\"font-size: 1.2em\">{}</h1><p>{}</p><table style=\"border-collapse: collapse\"><thead><tr>",
        escape(&t.title),
        escape(note)
    );
    for h in &t.header {
        out.push_str(&format!("<th style=\"border: 1px solid #ccc; padding: 4px\">{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in t.rows.iter().take(MAX_HTML_ROWS) {
        out.push_str("<tr>");
        for c in row {
            out.push_str(&format!("<td style=\"border: 1px solid #ccc; padding: 4px\"><bdi>{}</bdi></td>", escape(c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></body></html>");
    out
}

/// The table as CSV (a byte-order mark first, so a spreadsheet reads Persian right).
pub fn csv_bytes(t: &Table) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    for line in std::iter::once(&t.header).chain(t.rows.iter()) {
        let cells: Vec<String> = line.iter().map(|c| peyvand_transfer::csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// The table as an Excel workbook.
pub fn xlsx_bytes(t: &Table, lang: &str) -> Result<Vec<u8>> {
    let err = |e: rust_xlsxwriter::XlsxError| Error::Corrupt(format!("the workbook: {e}"));
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let name: String = t.title.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect();
    sheet.set_name(if name.trim().is_empty() { "report".to_string() } else { name }).map_err(err)?;
    if lang == "fa" {
        sheet.set_right_to_left(true);
    }
    for (r, line) in std::iter::once(&t.header).chain(t.rows.iter()).enumerate() {
        for (c, cell) in line.iter().enumerate() {
            let (row, col) = (u32::try_from(r).unwrap_or(u32::MAX), u16::try_from(c).unwrap_or(u16::MAX));
            sheet.write_string(row, col, cell).map_err(err)?;
        }
    }
    workbook.save_to_buffer().map_err(err)
}

/// Sends a schedule's report of the time `at` to each recipient, as they see it.
pub async fn send(db: &Db, s: &ReportSchedule, at: &str) -> Result<usize> {
    let owner = s.created_by.clone().unwrap_or_default();
    let mut sent = 0;
    for user_id in &s.recipients {
        let Some((user, lang)) = super::digest::reader(db, user_id).await? else { continue };
        let made = match &s.report_id {
            Some(report) => report_table(db, report, user_id, lang).await,
            None => table(db, &s.view_id, &owner, user_id, lang).await,
        };
        let t = match made {
            Ok(t) => t,
            // A view since removed, or an object the reader may not see: nothing to send.
            Err(Error::NotFound(_) | Error::Forbidden(_)) => continue,
            Err(e) => return Err(e),
        };
        let count = t.rows.len().to_string();
        let count = if lang == "fa" { peyvand_records::normalize::to_persian_digits(&count) } else { count };
        let note = match (lang, t.more) {
            ("fa", false) => format!("{count} ردیف"),
            ("fa", true) => format!("{count} ردیف نخست؛ بقیه را در پیوند ببینید"),
            (_, false) => format!("{count} rows"),
            (_, true) => format!("The first {count} rows; the rest are in Peyvand"),
        };
        let subject = format!("{} — {}", s.name, t.title);
        let file_name = format!(
            "{}.{}",
            s.name.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect::<String>().trim(),
            s.format
        );
        let (html, attachment) = match s.format.as_str() {
            "html" => (Some(html_table(&t, lang, &note)), None),
            "xlsx" => {
                use base64::Engine as _;
                let bytes = xlsx_bytes(&t, lang)?;
                let kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
                (
                    None,
                    Some(Attachment {
                        name: file_name,
                        content_type: kind.into(),
                        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                    }),
                )
            }
            _ => {
                use base64::Engine as _;
                let bytes = csv_bytes(&t);
                (
                    None,
                    Some(Attachment {
                        name: file_name,
                        content_type: "text/csv; charset=utf-8".into(),
                        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                    }),
                )
            }
        };
        let id = format!("report:{}:{user_id}:{at}", s.id);
        let m = Outgoing {
            id: id.clone(),
            channel: "email".into(),
            to: user.email.clone(),
            subject,
            body: format!("{}\n\n{note}", t.title),
            language: lang.into(),
            object: ABOUT_USER.into(),
            record: user_id.clone(),
            contact: None,
            sender: None,
            marketing: false,
        };
        let mut tx = db.write().await?;
        mail::queue_in(db, &mut tx, &m).await?;
        mail::attach_in(&mut tx, &id, html.as_deref(), attachment.as_ref()).await?;
        tx.commit().await?;
        sent += 1;
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE report_schedules SET last_sent_at = $1 WHERE id = $2")
        .bind(now())
        .bind(s.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    tx.commit().await?;
    Ok(sent)
}

/// Sends a schedule's report now (an admin's "send now"), keyed by this moment.
pub async fn send_now(db: &Db, id: &str) -> Result<usize> {
    let s = get(db, id).await?;
    send(db, &s, &now()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table {
            title: "مشتریان تهران".into(),
            header: vec!["نام".into(), "مبلغ".into()],
            rows: vec![
                vec!["=HYPERLINK(\"x\")".into(), "۱٬۲۰۰ ریال".into()],
                vec!["<b>تینا</b>".into(), String::new()],
            ],
            more: false,
        }
    }

    #[test]
    fn a_csv_report_guards_formulas_and_reads_in_persian() {
        let text = String::from_utf8(csv_bytes(&sample())).expect("in the test");
        assert!(text.starts_with('\u{feff}'));
        assert!(!text.contains("\r\n=HYPERLINK"), "{text}");
        assert!(text.contains("۱٬۲۰۰ ریال"));
    }

    #[test]
    fn an_html_report_escapes_and_runs_right_to_left() {
        let html = html_table(&sample(), "fa", "۲ ردیف");
        assert!(html.contains("dir=\"rtl\""));
        assert!(html.contains("&lt;b&gt;تینا&lt;/b&gt;") && !html.contains("<b>تینا"));
    }

    #[test]
    fn an_xlsx_report_is_a_workbook() {
        let bytes = xlsx_bytes(&sample(), "fa").expect("in the test");
        assert_eq!(&bytes[..2], b"PK");
    }
}
