//! The suggestion box: customers' ideas as records of `suggestion` (lists, boards by status,
//! access, custom fields and history from the engine), triaged from new through under review
//! and planned to done or declined. Each keeps the customers who asked for it — the first, and
//! each who voted — so that they can be told when it is done; its votes are their number. An
//! admin publishes an idea to the public board (`/ideas`), where visitors suggest and vote.

use crate::notifications;
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::filter::parse_filter;
use peyvand_records::{FieldError, FieldType, Value};
use peyvand_store::hooks::{Action, BoxFuture, HookCx, Pending, WriteHook, Written};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::schema::{NewObject, opt, owner_field, relation, std_field, with};
use peyvand_store::{Db, Error, Result, WriteTx, now};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use time::OffsetDateTime;

/// Statuses, in the order an idea goes through them.
pub const STATUSES: [&str; 5] = ["new", "under_review", "planned", "done", "declined"];

pub(crate) fn object() -> NewObject {
    use FieldType as T;
    let fields = vec![
        with(std_field("title", T::Text, "عنوان", "Title"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        std_field("description", T::LongText, "شرح", "Description"),
        with(std_field("status", T::Select, "وضعیت", "Status"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("new"));
            f.options.options = vec![
                opt("new", "جدید", "New"),
                opt("under_review", "در حال بررسی", "Under review"),
                opt("planned", "در برنامه", "Planned"),
                opt("done", "انجام‌شده", "Done"),
                opt("declined", "ردشده", "Declined"),
            ];
        }),
        with(std_field("category", T::Select, "دسته", "Category"), |f| {
            f.indexed = true;
            f.options.allow_new = true;
            f.options.options = vec![
                opt("product", "کالا", "Product"),
                opt("service", "خدمات", "Service"),
                opt("website", "وب‌سایت و برنامه", "Website and app"),
                opt("other", "سایر", "Other"),
            ];
        }),
        relation("product", "product", "کالا", "Product"),
        relation("contact", "contact", "پیشنهاددهنده", "Suggested by"),
        std_field("requester_name", T::Text, "نام شما", "Your name"),
        std_field("requester_email", T::Email, "ایمیل شما", "Your e-mail"),
        std_field("requester_phone", T::Phone, "تلفن شما", "Your phone"),
        with(std_field("votes", T::Integer, "رأی‌ها", "Votes"), |f| {
            f.indexed = true;
            f.default_value = Some(json!(0));
        }),
        with(std_field("published", T::Boolean, "در تابلوی عمومی", "On the public board"), |f| {
            f.default_value = Some(json!(false))
        }),
        std_field("done_at", T::Datetime, "زمان انجام", "Done"),
        owner_field(),
    ];
    NewObject {
        api_name: "suggestion".into(),
        label_fa: "پیشنهاد".into(),
        label_en: "Suggestion".into(),
        plural_fa: "صندوق پیشنهادها".into(),
        plural_en: "Suggestion box".into(),
        fields,
        title_field: Some("title".into()),
    }
}

/// A suggestion's rules: the suggester found or made a contact (from a web form's name, e-mail
/// and phone) and counted as its first vote; done says when; the owner hears when it is done,
/// with how many customers to tell.
pub(crate) struct SuggestionRules;

impl WriteHook for SuggestionRules {
    fn objects(&self) -> &'static [&'static str] {
        &["suggestion"]
    }

    fn before<'a>(&'a self, cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if write.after("votes").as_i64().is_some_and(|n| n < 0) {
                return Err(Error::invalid(FieldError::new("votes", "negative")));
            }
            if write.is_create() && write.after("contact").is_null() {
                crate::service::requester_contact(cx, write).await?;
            }
            if write.is_create() && !write.after("contact").is_null() && write.after("votes").as_i64().unwrap_or(0) < 1
            {
                write.set("votes", Value::Int(1));
            }
            if write.changes("status") {
                if write.after("status").as_str() == Some("done") {
                    write.set("done_at", Value::Datetime(OffsetDateTime::now_utc()));
                } else if !write.after("done_at").is_null() {
                    write.set("done_at", Value::Null);
                }
            }
            Ok(())
        })
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let field = |f: &str| written.after.get(f).cloned().unwrap_or(Json::Null);
            if written.action == Action::Create
                && let Some(contact) = field("contact").as_str()
            {
                insert_asker(cx.tx, written.id, contact).await?;
            }
            if written.changed("status")
                && field("status").as_str() == Some("done")
                && let Some(owner) = field(OWNER_FIELD).as_str()
            {
                let askers = count_askers(cx.tx, written.id).await?;
                let title = format!("{} · {askers}", field("title").as_str().unwrap_or_default());
                let link = format!("/records/suggestion/{}", written.id);
                let id = format!("suggestion_done:{}:{}", written.id, written.at);
                notifications::notify_in(cx.tx, &id, owner, "suggestion_done", &title, Some(&link), None).await?;
            }
            Ok(())
        })
    }
}

async fn insert_asker(tx: &mut WriteTx, suggestion: &str, contact: &str) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO suggestion_askers (suggestion_id, contact_id, asked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(suggestion.to_string())
    .bind(contact.to_string())
    .bind(now())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A customer who asked for a suggestion.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Asker {
    pub contact_id: String,
    pub asked_at: String,
    /// When they were told it is done.
    pub told_at: Option<String>,
}

/// How many customers asked for a suggestion (its votes), in a write.
async fn count_askers(tx: &mut WriteTx, suggestion: &str) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM suggestion_askers WHERE suggestion_id = $1")
        .bind(suggestion.to_string())
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?)
}

/// The customers who asked for a suggestion, the first first.
pub async fn askers(db: &Db, suggestion: &str) -> Result<Vec<Asker>> {
    let rows = sqlx::query(
        "SELECT contact_id, asked_at, told_at FROM suggestion_askers WHERE suggestion_id = $1 ORDER BY asked_at, contact_id",
    )
    .bind(suggestion.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok(Asker { contact_id: r.try_get(0)?, asked_at: r.try_get(1)?, told_at: r.try_get(2)? }))
        .collect()
}

/// Counts `contact` among those who asked for `suggestion` (a vote; a second is no change); the
/// suggestion with its votes. `db` is the caller's view: one may vote for what one may read.
pub async fn add_asker(db: &Db, actor: Option<&str>, suggestion: &str, contact: &str) -> Result<Record> {
    db.get_record("suggestion", suggestion, false).await?;
    let system = db.system();
    system
        .get_record("contact", contact, false)
        .await
        .map_err(|_| Error::invalid(FieldError::new("contact", "unknown_record")))?;
    let obj = system.object("suggestion").await?;
    let mut tx = system.write().await?;
    let record = if insert_asker(&mut tx, suggestion, contact).await? {
        let n = count_askers(&mut tx, suggestion).await?;
        let def = obj.field("votes").ok_or_else(|| Error::NotFound("votes".into()))?;
        system.update_in(&mut tx, actor, &obj, suggestion, vec![(def, Value::Int(n))], None).await?
    } else {
        system.find_in(&mut tx, &obj, &[("id", Value::Text(suggestion.to_string()))], 1).await?.remove(0)
    };
    tx.commit().await?;
    Ok(record)
}

/// Records that the customers who asked for a done suggestion were told; how many.
pub async fn mark_told(db: &Db, suggestion: &str) -> Result<u64> {
    let record = db.get_record("suggestion", suggestion, false).await?;
    if record.fields.get("status").and_then(Json::as_str) != Some("done") {
        return Err(Error::conflict("suggestion_not_done"));
    }
    let mut tx = db.write().await?;
    let n = sqlx::query("UPDATE suggestion_askers SET told_at = $1 WHERE suggestion_id = $2 AND told_at IS NULL")
        .bind(now())
        .bind(suggestion.to_string())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// The ideas on the public board: published and not declined, the most voted first.
pub async fn board(db: &Db, limit: u32) -> Result<Vec<Record>> {
    let system = db.system();
    let obj = system.object("suggestion").await?;
    let filter = parse_filter(
        &obj,
        &json!({ "and": [
            { "field": "published", "op": "eq", "value": true },
            { "field": "status", "op": "ne", "value": "declined" }
        ] }),
    )
    .map_err(Error::invalid)?;
    let sort = peyvand_records::filter::parse_sort(&obj, "-votes").map_err(Error::invalid)?;
    let query = ListQuery { filter: Some(filter), sort, limit: Some(limit), ..Default::default() };
    Ok(system.list_records("suggestion", &query).await?.records)
}

/// A visitor's vote on the public board: the contact with this e-mail (else one made from the
/// name and e-mail) counted among the askers of a published idea.
pub async fn public_vote(db: &Db, suggestion: &str, name: &str, email: &str) -> Result<Record> {
    let system = db.system();
    let record = system.get_record("suggestion", suggestion, false).await?;
    let published = record.fields.get("published").and_then(Json::as_bool) == Some(true);
    if !published || record.fields.get("status").and_then(Json::as_str) == Some("declined") {
        return Err(Error::NotFound(format!("suggestion {suggestion}")));
    }
    let email = email.trim();
    if email.is_empty() {
        return Err(Error::invalid(FieldError::new("requester_email", "required")));
    }
    let obj = system.object("contact").await?;
    let filter =
        parse_filter(&obj, &json!({ "field": "emails", "op": "eq", "value": email })).map_err(Error::invalid)?;
    let query = ListQuery { filter: Some(filter), limit: Some(1), ..Default::default() };
    let contact = match system.list_records("contact", &query).await?.records.pop() {
        Some(c) => c.id,
        None => {
            let name = name.trim();
            let (first, last) = match name.rsplit_once(' ') {
                Some((f, l)) => (f.trim(), l.trim()),
                None if !name.is_empty() => ("", name),
                None => ("", email),
            };
            let mut input = Map::new();
            if !first.is_empty() {
                input.insert("first_name".into(), json!(first));
            }
            input.insert("last_name".into(), json!(last));
            input.insert("emails".into(), json!([email]));
            system
                .create_record(None, "contact", &input, None)
                .await
                .map_err(|e| match e {
                    Error::Validation(errors) => Error::Validation(
                        errors
                            .into_iter()
                            .map(|e| FieldError {
                                field: if e.field == "emails" {
                                    "requester_email".into()
                                } else {
                                    "requester_name".into()
                                },
                                ..e
                            })
                            .collect(),
                    ),
                    e => e,
                })?
                .0
                .id
        }
    };
    add_asker(&system, None, suggestion, &contact).await
}
