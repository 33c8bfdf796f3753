//! A ticket's conversation: public replies (the customer sees them) and internal notes, with
//! files; the reply's effect on the ticket (its first response, its status, an unassigned
//! ticket taken) in the same transaction; two tickets merged into one.
//!
//! Files are kept in the database (base64 text), so backups and `migrate-data` carry them; each
//! is at most [`MAX_FILE`] bytes, of a type recognised by its content as well as its name (no
//! markup, no programs), and is always served as a download.

use base64::Engine as _;
use peyvand_records::FieldError;
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::validate::{Mode, validate};
use peyvand_records::value::format_datetime;
use peyvand_store::records::Record;
use peyvand_store::{Db, Error, Result, WriteTx, new_id};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use time::OffsetDateTime;

/// Largest file, in bytes.
pub const MAX_FILE: usize = 5 * 1024 * 1024;
/// Most files on one message.
pub const MAX_FILES: usize = 5;
/// Longest message, in characters.
pub const MAX_BODY: usize = 20_000;

/// The file types a message may carry: extension, content type.
pub const TYPES: [(&str, &str); 11] = [
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("txt", "text/plain; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("zip", "application/zip"),
];

/// A file sent with a message.
#[derive(Clone, Debug)]
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A kept file, without its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub id: String,
    pub message_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
}

/// One message of a ticket's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: String,
    pub ticket_id: String,
    /// A reply the customer sees; else an internal note.
    pub public: bool,
    pub author_user: Option<String>,
    pub author_contact: Option<String>,
    pub body: String,
    /// What the desk wrote itself (`merged_from`, `merged_into`: the body is the other ticket).
    pub event: Option<String>,
    pub created_at: String,
    pub attachments: Vec<Attachment>,
}

/// A reply or note as written.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub body: String,
    pub public: bool,
    /// The ticket's status after it (none: a public reply opens a new ticket, else unchanged).
    pub status: Option<String>,
    pub files: Vec<Upload>,
    /// A published article the reply answers with: named at its end, kept on the ticket.
    pub article: Option<String>,
}

/// The content type of a file by its name, if its content is of that type.
pub fn file_type(name: &str, bytes: &[u8]) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    let (ext, ct) = TYPES.iter().find(|(e, _)| *e == ext)?;
    let ok = match *ext {
        "pdf" => bytes.starts_with(b"%PDF-"),
        "png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "jpg" | "jpeg" => bytes.starts_with(b"\xff\xd8\xff"),
        "gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "webp" => bytes.len() > 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP",
        "docx" | "xlsx" | "zip" => bytes.starts_with(b"PK\x03\x04"),
        _ => std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0')),
    };
    ok.then_some(*ct)
}

/// A file's name as kept: its last path part, without control or bidi characters, at most 200.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Checks the files, naming each (`files.2`).
pub(crate) fn check_files(files: &[Upload]) -> std::result::Result<Vec<(String, &'static str)>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut kept = Vec::new();
    if files.len() > MAX_FILES {
        errors.push(FieldError::with("files", "too_many", json!({ "max": MAX_FILES })));
    }
    for (i, f) in files.iter().enumerate() {
        let name = clean_name(&f.file_name);
        let field = format!("files.{i}");
        if f.bytes.len() > MAX_FILE {
            errors.push(FieldError::with(&field, "file_too_large", json!({ "max_mb": MAX_FILE / (1024 * 1024) })));
        } else if f.bytes.is_empty() {
            errors.push(FieldError::new(&field, "empty_file"));
        } else {
            match file_type(&name, &f.bytes) {
                Some(ct) => kept.push((name, ct)),
                None => errors.push(FieldError::with(
                    &field,
                    "file_type_not_allowed",
                    json!({ "allowed": TYPES.iter().map(|t| t.0).collect::<Vec<_>>().join(", ") }),
                )),
            }
        }
    }
    if errors.is_empty() { Ok(kept) } else { Err(errors) }
}

/// What a reply to a closed ticket does: `reopen` it (the default) or be refused.
pub async fn closed_reply(db: &Db) -> Result<String> {
    let v: Option<String> = sqlx::query("SELECT text FROM service_settings WHERE name = 'closed_reply'")
        .fetch_optional(db.pool())
        .await?
        .and_then(|r| r.try_get(0).ok());
    Ok(v.filter(|v| v == "refuse").unwrap_or_else(|| "reopen".into()))
}

/// Sets what a reply to a closed ticket does.
pub async fn set_closed_reply(db: &Db, value: &str) -> Result<()> {
    if !matches!(value, "reopen" | "refuse") {
        return Err(Error::invalid(FieldError::with(
            "closed_reply",
            "invalid_option",
            json!({ "allowed": ["reopen", "refuse"] }),
        )));
    }
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO service_settings (name, number, text) VALUES ('closed_reply', 0, $1) ON CONFLICT (name) DO UPDATE SET text = $1",
    )
    .bind(value.to_string())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await
}

/// The conversation of a ticket the handle's viewer may read, oldest first.
pub async fn messages(db: &Db, ticket_id: &str) -> Result<Vec<Message>> {
    db.get_record("ticket", ticket_id, false).await?;
    let rows = sqlx::query(
        "SELECT id, ticket_id, public, author_user, author_contact, body, event, created_at FROM ticket_messages WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(ticket_id.to_string())
    .fetch_all(db.pool())
    .await?;
    let files = sqlx::query(
        "SELECT id, message_id, file_name, content_type, size FROM ticket_attachments WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(ticket_id.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut all: Vec<Attachment> = files
        .iter()
        .map(|r| {
            Ok(Attachment {
                id: r.try_get(0)?,
                message_id: r.try_get(1)?,
                file_name: r.try_get(2)?,
                content_type: r.try_get(3)?,
                size: r.try_get(4)?,
            })
        })
        .collect::<Result<_>>()?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let (mine, rest): (Vec<Attachment>, Vec<Attachment>) = all.drain(..).partition(|a| a.message_id == id);
            all = rest;
            Ok(Message {
                id,
                ticket_id: r.try_get(1)?,
                public: r.try_get::<i64, _>(2)? != 0,
                author_user: r.try_get(3)?,
                author_contact: r.try_get(4)?,
                body: r.try_get(5)?,
                event: r.try_get(6)?,
                created_at: r.try_get(7)?,
                attachments: mine,
            })
        })
        .collect()
}

/// A file of a ticket the handle's viewer may read, with its content.
pub async fn attachment(db: &Db, ticket_id: &str, id: &str) -> Result<(Attachment, Vec<u8>)> {
    db.get_record("ticket", ticket_id, false).await?;
    let r = sqlx::query(
        "SELECT id, message_id, file_name, content_type, size, content_b64 FROM ticket_attachments WHERE id = $1 AND ticket_id = $2",
    )
    .bind(id.to_string())
    .bind(ticket_id.to_string())
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| Error::NotFound(format!("attachment {id}")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r.try_get::<String, _>(5)?)
        .map_err(|e| Error::Corrupt(e.to_string()))?;
    Ok((
        Attachment {
            id: r.try_get(0)?,
            message_id: r.try_get(1)?,
            file_name: r.try_get(2)?,
            content_type: r.try_get(3)?,
            size: r.try_get(4)?,
        },
        bytes,
    ))
}

/// A user's reply or note on a ticket, as the handle's viewer: a note needs the ticket readable;
/// a public reply needs it changeable, or unassigned (the reply takes it). With the message in
/// the same transaction: the first response's time, the status (a reply to a closed ticket
/// reopens it or is refused, as the desk is set), the files.
pub async fn reply(db: &Db, user: &str, ticket_id: &str, r: &Reply) -> Result<Message> {
    let ticket = db.get_record("ticket", ticket_id, false).await?;
    let mut errors = Vec::new();
    let body = r.body.trim();
    if body.is_empty() && r.files.is_empty() {
        errors.push(FieldError::new("body", "required"));
    } else if body.chars().count() > MAX_BODY {
        errors.push(FieldError::with("body", "too_long", json!({ "max": MAX_BODY })));
    } else if body.contains('\0') {
        errors.push(FieldError::new("body", "control_characters"));
    }
    let kept = match check_files(&r.files) {
        Ok(k) => k,
        Err(more) => {
            errors.extend(more);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let field = |f: &str| ticket.fields.get(f).cloned().unwrap_or(Json::Null);
    let status = field("status").as_str().unwrap_or("new").to_string();
    let mut input = Map::new();
    let mut body = body.to_string();
    if let Some(id) = r.article.as_deref().filter(|a| !a.is_empty()) {
        let article = match db.get_record("kb_article", id, false).await {
            Ok(a) if a.fields.get("status").and_then(Json::as_str) == Some("published") => a,
            Ok(_) | Err(Error::NotFound(_)) => {
                return Err(Error::invalid(FieldError::new("article", "unknown_article")));
            }
            Err(e) => return Err(e),
        };
        body = format!("{body}\n\n📄 {} (/kb/{id})", article.title).trim().to_string();
        input.insert("kb_article".into(), json!(id));
    }
    let body = body.as_str();
    let mut next = r.status.clone();
    if status == "closed" {
        if closed_reply(db).await? == "refuse" {
            return Err(Error::Conflict {
                code: "ticket_closed",
                details: vec![FieldError::new("status", "ticket_closed")],
            });
        }
        // A closed ticket only reopens.
        if next.as_deref() != Some("closed") {
            next = Some("reopened".into());
        }
    }
    if r.public && next.is_none() && status == "new" {
        next = Some("open".into());
    }
    if let Some(n) = next.filter(|n| *n != status) {
        input.insert("status".into(), json!(n));
    }
    let unassigned = field(OWNER_FIELD).is_null();
    if r.public {
        if field("first_response_at").is_null() {
            input.insert("first_response_at".into(), json!(format_datetime(OffsetDateTime::now_utc())));
        }
        if unassigned {
            input.insert(OWNER_FIELD.into(), json!(user));
        }
    }
    let obj = db.object("ticket").await?;
    let changes = validate(&obj, &input, Mode::Update).map_err(Error::Validation)?;
    let mut tx = db.write().await?;
    // Taking an unassigned ticket is the desk's act; changing an assigned one is the user's.
    let acting = if unassigned { db.system() } else { db.clone() };
    if !changes.values.is_empty() {
        acting.update_in(&mut tx, Some(user), &obj, ticket_id, changes.values, None).await?;
    } else if r.public {
        acting.get_in(&mut tx, &obj, ticket_id).await?;
    }
    let id = new_id();
    let at = peyvand_store::now();
    sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, public, author_user, author_contact, body, event, created_at) VALUES ($1, $2, $3, $4, NULL, $5, NULL, $6)",
    )
    .bind(id.clone())
    .bind(ticket_id.to_string())
    .bind(i64::from(r.public))
    .bind(user.to_string())
    .bind(body.to_string())
    .bind(at.clone())
    .execute(&mut *tx.tx)
    .await?;
    let attachments = keep_files(&mut tx, ticket_id, &id, &at, kept.into_iter().zip(&r.files)).await?;
    if r.public {
        crate::on_public_reply(&mut tx, db, ticket_id, &id, body).await?;
    }
    tx.commit().await?;
    Ok(Message {
        id,
        ticket_id: ticket_id.to_string(),
        public: r.public,
        author_user: Some(user.to_string()),
        author_contact: None,
        body: body.to_string(),
        event: None,
        created_at: at,
        attachments,
    })
}

/// Keeps a message's files (checked) in the write of the message.
async fn keep_files<'a>(
    tx: &mut WriteTx,
    ticket_id: &str,
    message_id: &str,
    at: &str,
    files: impl Iterator<Item = ((String, &'static str), &'a Upload)>,
) -> Result<Vec<Attachment>> {
    let mut attachments = Vec::new();
    for ((name, ct), f) in files {
        let a = Attachment {
            id: new_id(),
            message_id: message_id.to_string(),
            file_name: name,
            content_type: ct.to_string(),
            size: f.bytes.len() as i64,
        };
        sqlx::query(
            "INSERT INTO ticket_attachments (id, message_id, ticket_id, file_name, content_type, size, content_b64, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id.clone())
        .bind(message_id.to_string())
        .bind(ticket_id.to_string())
        .bind(a.file_name.clone())
        .bind(a.content_type.clone())
        .bind(a.size)
        .bind(base64::engine::general_purpose::STANDARD.encode(&f.bytes))
        .bind(at.to_string())
        .execute(&mut *tx.tx)
        .await?;
        attachments.push(a);
    }
    Ok(attachments)
}

/// A message from the customer (their e-mail's reply) in a write of the caller's: public, by
/// the contact when known; the files the desk accepts are kept (others are named in the body);
/// a ticket waiting on the customer opens again, a resolved or closed one reopens.
pub async fn customer_message_in(
    db: &Db,
    tx: &mut WriteTx,
    ticket_id: &str,
    contact: Option<&str>,
    body: &str,
    files: &[Upload],
) -> Result<Message> {
    // In the caller's write: the catalog as cached (no connection of the pool is waited for).
    let obj = db.catalog_cached()?.object("ticket").ok_or_else(|| Error::NotFound("object ticket".into()))?;
    let ticket = db.system().get_in(tx, &obj, ticket_id).await?;
    let mut body: String = body.trim().chars().take(MAX_BODY).collect();
    let mut kept = Vec::new();
    for f in files.iter().take(MAX_FILES) {
        let name = clean_name(&f.file_name);
        match file_type(&name, &f.bytes) {
            Some(ct) if !f.bytes.is_empty() && f.bytes.len() <= MAX_FILE => kept.push(((name, ct), f)),
            _ => body.push_str(&format!("\n[{name}]")),
        }
    }
    let status = ticket.fields.get("status").and_then(Json::as_str).unwrap_or("new");
    let next = match status {
        "waiting" => Some("open"),
        "resolved" | "closed" => Some("reopened"),
        _ => None,
    };
    if let Some(n) = next {
        let mut input = Map::new();
        input.insert("status".into(), json!(n));
        let changes = validate(&obj, &input, Mode::Update).map_err(Error::Validation)?;
        db.system().update_in(tx, None, &obj, ticket_id, changes.values, None).await?;
    }
    let id = new_id();
    let at = peyvand_store::now();
    sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, public, author_user, author_contact, body, event, created_at) VALUES ($1, $2, 1, NULL, $3, $4, NULL, $5)",
    )
    .bind(id.clone())
    .bind(ticket_id.to_string())
    .bind(contact.map(str::to_string))
    .bind(body.clone())
    .bind(at.clone())
    .execute(&mut *tx.tx)
    .await?;
    let attachments = keep_files(tx, ticket_id, &id, &at, kept.into_iter()).await?;
    Ok(Message {
        id,
        ticket_id: ticket_id.to_string(),
        public: true,
        author_user: None,
        author_contact: contact.map(str::to_string),
        body,
        event: None,
        created_at: at,
        attachments,
    })
}

/// Merges ticket `from` into `into`, as the handle's user (who must be able to change both):
/// its conversation and files move, each says so, and `from` is closed pointing at `into`.
pub async fn merge(db: &Db, user: &str, from: &str, into: &str) -> Result<Record> {
    if from == into {
        return Err(Error::invalid(FieldError::new("into", "same_ticket")));
    }
    let obj = db.object("ticket").await?;
    let mut tx = db.write().await?;
    let a = db.get_in(&mut tx, &obj, from).await?;
    let b = db.get_in(&mut tx, &obj, into).await.map_err(|e| match e {
        Error::NotFound(_) => Error::invalid(FieldError::new("into", "unknown_ticket")),
        other => other,
    })?;
    for (t, name) in [(&a, "id"), (&b, "into")] {
        if t.fields.get("merged_into").is_some_and(|m| !m.is_null()) {
            return Err(Error::invalid(FieldError::new(name, "already_merged")));
        }
    }
    for table in ["ticket_messages", "ticket_attachments"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET ticket_id = $1 WHERE ticket_id = $2")))
            .bind(into.to_string())
            .bind(from.to_string())
            .execute(&mut *tx.tx)
            .await?;
    }
    let at = peyvand_store::now();
    for (ticket, event, other) in [(into, "merged_from", from), (from, "merged_into", into)] {
        sqlx::query(
            "INSERT INTO ticket_messages (id, ticket_id, public, author_user, author_contact, body, event, created_at) VALUES ($1, $2, 0, $3, NULL, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(ticket.to_string())
        .bind(user.to_string())
        .bind(other.to_string())
        .bind(event)
        .bind(at.clone())
        .execute(&mut *tx.tx)
        .await?;
    }
    let mut input = Map::new();
    input.insert("merged_into".into(), json!(into));
    if a.fields.get("status").and_then(Json::as_str) != Some("closed") {
        input.insert("status".into(), json!("closed"));
    }
    let changes = validate(&obj, &input, Mode::Update).map_err(Error::Validation)?;
    db.update_in(&mut tx, Some(user), &obj, from, changes.values, None).await?;
    tx.commit().await?;
    db.get_record("ticket", into, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_of_the_type_its_name_says_or_refused() {
        assert_eq!(file_type("invoice.PDF", b"%PDF-1.7 ..."), Some("application/pdf"));
        assert_eq!(file_type("photo.jpg", b"\xff\xd8\xff\xe0 jfif"), Some("image/jpeg"));
        assert_eq!(file_type("photo.png", b"\xff\xd8\xff\xe0 jfif"), None, "a JPEG named PNG");
        assert_eq!(file_type("page.html", b"<script>"), None, "markup is not a type we keep");
        assert_eq!(file_type("notes.txt", "سلام".as_bytes()), Some("text/plain; charset=utf-8"));
        assert_eq!(file_type("notes.txt", b"\x00\x01"), None);
        assert_eq!(file_type("run.exe", b"MZ"), None);
        assert_eq!(file_type("noext", b"%PDF-"), None);
    }

    #[test]
    fn a_files_name_loses_its_path_and_controls() {
        assert_eq!(clean_name("C:\\Users\\a\\fa\u{202e}ctura.pdf"), "factura.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
    }

    #[test]
    fn files_over_the_limit_or_too_many_are_named() {
        let big = Upload { file_name: "a.txt".into(), bytes: vec![b'a'; MAX_FILE + 1] };
        let bad = Upload { file_name: "a.svg".into(), bytes: b"<svg/>".to_vec() };
        let codes: Vec<(String, &str)> =
            check_files(&[big, bad]).expect_err("refused").into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            codes,
            [("files.0".to_string(), "file_too_large"), ("files.1".to_string(), "file_type_not_allowed")]
        );
        let many: Vec<Upload> =
            (0..6).map(|i| Upload { file_name: format!("{i}.txt"), bytes: b"x".to_vec() }).collect();
        assert_eq!(check_files(&many).expect_err("refused")[0].code, "too_many");
    }
}
