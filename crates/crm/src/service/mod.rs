//! Service: the support desk. Tickets (complaints, requests, questions, returns) are records —
//! lists, boards, filters, access, custom fields and imports come from the engine — with this
//! module's rules on every write (`TicketRules`: numbering, the requester found or made a
//! contact, status times, assignment in the queue's way, service-level deadlines and their
//! jobs); their conversation and files in its own tables (`conversation`); queues (`queues`);
//! business-hours calendars, days off and service-level policies (`clock`, `levels`); the
//! knowledge base (`knowledge`); dealer quality (`dealers`).
//!
//! Who reaches tickets: the desk is shared — every user reads every ticket (a rep sees their
//! customer's complaints); an agent changes the tickets assigned to them (a manager their
//! teams'), and takes an unassigned one by replying to it or by `queues::take`.

pub mod clock;
pub mod conversation;
pub mod dealers;
pub mod knowledge;
pub mod levels;
pub mod queues;

use peyvand_records::access::{OWNER_FIELD, ObjectAccess, Role};
use peyvand_records::{FieldError, FieldType, Value};
use peyvand_store::hooks::{BoxFuture, HookCx, Module, Pending, WriteHook, Written};
use peyvand_store::migrate::Migration;
use peyvand_store::runner::JobKind;
use peyvand_store::schema::{NewObject, opt, owner_field, relation, std_field, with};
use peyvand_store::{Db, Error, Result, WriteTx};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::sync::Arc;
use time::OffsetDateTime;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_service.sql",
        sqlite: include_str!("../../migrations/service/sqlite/0001_service.sql"),
        postgres: include_str!("../../migrations/service/postgres/0001_service.sql"),
    },
    Migration {
        version: 2,
        name: "0002_sla_daily.sql",
        sqlite: include_str!("../../migrations/service/sqlite/0002_sla_daily.sql"),
        postgres: include_str!("../../migrations/service/postgres/0002_sla_daily.sql"),
    },
];

/// The statuses in which a ticket's resolution clock runs.
pub const RUNNING: [&str; 3] = ["new", "open", "reopened"];
/// The statuses a ticket is done in.
pub const DONE: [&str; 2] = ["resolved", "closed"];
/// Priorities from the lowest.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// Whether the resolution clock runs in `status`.
pub fn running(status: &str) -> bool {
    RUNNING.contains(&status)
}

/// The service module.
pub struct Service;

impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
    }

    fn objects(&self) -> Vec<NewObject> {
        vec![knowledge::object(), ticket(), dealers::object()]
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "service_queues",
            "service_calendars",
            "service_holidays",
            "sla_policies",
            "ticket_messages",
            "ticket_attachments",
            "service_settings",
            "sla_daily",
        ]
    }

    fn hooks(&self) -> Vec<Arc<dyn WriteHook>> {
        vec![Arc::new(TicketRules), Arc::new(knowledge::ArticleRules), Arc::new(dealers::VolumeRules)]
    }

    fn job_kinds(&self) -> Vec<Arc<dyn JobKind>> {
        vec![Arc::new(levels::Deadlines)]
    }

    fn consumers(&self) -> Vec<Arc<dyn peyvand_store::runner::Consumer>> {
        vec![Arc::new(dealers::DealerAlerts)]
    }

    fn default_access(&self, role: Role, object: &str) -> Option<ObjectAccess> {
        matches!(object, "ticket" | "kb_article" | "service_volume").then(|| crate::Reaches::Shared.of(role))
    }

    fn upgrade<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            levels::upgrade(db).await?;
            queues::sync(db).await
        })
    }
}

/// The ticket object's definition.
fn ticket() -> NewObject {
    use FieldType as T;
    let fields = vec![
        with(std_field("number", T::Text, "شماره", "Number"), |f| {
            f.indexed = true;
            f.unique = true;
        }),
        with(std_field("subject", T::Text, "موضوع", "Subject"), |f| f.required = true),
        with(std_field("kind", T::Select, "نوع", "Type"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("request"));
            f.options.options = vec![
                opt("complaint", "شکایت", "Complaint"),
                opt("request", "درخواست", "Request"),
                opt("question", "پرسش", "Question"),
                opt("return", "مرجوعی", "Return"),
            ];
        }),
        with(std_field("category", T::Select, "دسته", "Category"), |f| {
            f.indexed = true;
            f.options.allow_new = true;
            f.options.options = vec![
                opt("product_quality", "کیفیت کالا", "Product quality"),
                opt("delivery", "ارسال و تحویل", "Delivery"),
                opt("billing", "صورت‌حساب و پرداخت", "Billing"),
                opt("installation", "نصب و راه‌اندازی", "Installation"),
                opt("warranty", "گارانتی و تعمیر", "Warranty and repair"),
                opt("other", "سایر", "Other"),
            ];
        }),
        with(std_field("priority", T::Select, "اولویت", "Priority"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("normal"));
            f.options.options = vec![
                opt("low", "کم", "Low"),
                opt("normal", "عادی", "Normal"),
                opt("high", "زیاد", "High"),
                opt("urgent", "فوری", "Urgent"),
            ];
        }),
        with(std_field("status", T::Select, "وضعیت", "Status"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("new"));
            f.options.options = vec![
                opt("new", "جدید", "New"),
                opt("open", "باز", "Open"),
                opt("waiting", "در انتظار مشتری", "Waiting on the customer"),
                opt("resolved", "حل‌شده", "Resolved"),
                opt("closed", "بسته", "Closed"),
                opt("reopened", "بازگشایی‌شده", "Reopened"),
            ];
        }),
        with(std_field("channel", T::Select, "کانال", "Channel"), |f| {
            f.default_value = Some(json!("phone"));
            f.options.options = vec![
                opt("phone", "تلفن", "Phone"),
                opt("email", "ایمیل", "E-mail"),
                opt("web_form", "فرم وب", "Web form"),
                opt("portal", "پورتال مشتریان", "Customer portal"),
                opt("walk_in", "مراجعهٔ حضوری", "Walk-in"),
                opt("social", "شبکه‌های اجتماعی", "Social media"),
            ];
        }),
        // Choices kept in step with the queues (`queues::sync`): a team's id, its name. A select
        // is made with a choice; the placeholder is replaced at start-up.
        with(std_field("queue", T::Select, "صف", "Queue"), |f| {
            f.indexed = true;
            f.options.options = vec![opt("none", "-", "-")];
        }),
        owner_field(),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
        relation("dealer", "company", "نمایندگی", "Dealer"),
        relation("product", "product", "کالا", "Product"),
        relation("order", "order", "سفارش", "Order"),
        std_field("requester_name", T::Text, "نام درخواست‌کننده", "Requester's name"),
        std_field("requester_email", T::Email, "ایمیل درخواست‌کننده", "Requester's e-mail"),
        std_field("requester_phone", T::Phone, "تلفن درخواست‌کننده", "Requester's phone"),
        std_field("description", T::LongText, "شرح", "Description"),
        with(std_field("opened_at", T::Datetime, "زمان ثبت", "Opened"), |f| f.indexed = true),
        // Choices kept in step with the policies (`levels::sync_choices`).
        with(std_field("sla_policy", T::Select, "سطح خدمت", "Service level"), |f| {
            f.indexed = true;
            f.options.options = vec![opt("none", "-", "-")];
        }),
        std_field("first_response_due", T::Datetime, "مهلت نخستین پاسخ", "First response due"),
        std_field("first_response_at", T::Datetime, "نخستین پاسخ", "First response"),
        with(
            std_field("first_response_breached", T::Boolean, "نخستین پاسخ دیر شد", "First response late"),
            |f| {
                f.indexed = true;
                f.default_value = Some(json!(false));
            },
        ),
        std_field("resolution_due", T::Datetime, "مهلت حل", "Resolution due"),
        std_field("resolved_at", T::Datetime, "زمان حل", "Resolved"),
        with(std_field("resolution_breached", T::Boolean, "حل دیر شد", "Resolution late"), |f| {
            f.indexed = true;
            f.default_value = Some(json!(false));
        }),
        std_field("closed_at", T::Datetime, "زمان بستن", "Closed"),
        // The nearest deadline still ahead of an open ticket (a queue sorts by it).
        with(std_field("next_due", T::Datetime, "نزدیک‌ترین مهلت", "Next deadline"), |f| {
            f.indexed = true
        }),
        // Where an open ticket stands on the desk: its nearest deadline, or (waiting, or under no
        // service level) after every deadline; none once done. One index orders the desk.
        with(std_field("desk_order", T::Datetime, "ترتیب میز", "Desk order"), |f| {
            f.hidden = true;
            f.indexed = true;
        }),
        // The same within its queue (`QUEUE|DESK_ORDER`), so one index range orders a queue.
        with(std_field("desk_key", T::Text, "ترتیب صف", "Queue order"), |f| {
            f.hidden = true;
            f.indexed = true;
        }),
        with(std_field("sla_paused_at", T::Datetime, "توقف مهلت از", "Clock paused since"), |f| {
            f.hidden = true
        }),
        with(
            std_field("sla_paused_seconds", T::Integer, "مدت توقف مهلت (ثانیه)", "Clock paused (seconds)"),
            |f| f.hidden = true,
        ),
        relation("merged_into", "ticket", "ادغام‌شده در", "Merged into"),
        relation("kb_article", "kb_article", "پاسخ با مقالهٔ", "Answered with article"),
    ];
    NewObject {
        api_name: "ticket".into(),
        label_fa: "تیکت".into(),
        label_en: "Ticket".into(),
        plural_fa: "تیکت‌ها".into(),
        plural_en: "Tickets".into(),
        fields,
        title_field: Some("subject".into()),
    }
}

/// A ticket's time as written (none if it has none or it does not parse).
pub(crate) fn time_of(v: &Json) -> Option<OffsetDateTime> {
    v.as_str().and_then(peyvand_records::value::parse_datetime)
}

/// The next value of a counter (`ticket`), in the write's transaction.
pub(crate) async fn next_count(tx: &mut WriteTx, name: &str) -> Result<i64> {
    sqlx::query("INSERT INTO service_settings (name, number) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind(name.to_string())
        .execute(&mut *tx.tx)
        .await?;
    let n: i64 = sqlx::query("UPDATE service_settings SET number = number + 1 WHERE name = $1 RETURNING number")
        .bind(name.to_string())
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
    Ok(n)
}

/// A ticket's rules on every write: a number; the requester's contact (found by e-mail or
/// phone, else made); its company from the contact; status times (a closed ticket only
/// reopens); an owner in the queue's way; deadlines and their jobs (`levels`).
pub(crate) struct TicketRules;

impl WriteHook for TicketRules {
    fn objects(&self) -> &'static [&'static str] {
        &["ticket"]
    }

    fn before<'a>(&'a self, mut cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let now = OffsetDateTime::now_utc();
            let status = write.after("status").as_str().unwrap_or("new").to_string();
            if !write.is_create() && write.changes("status") {
                let before = write.before("status");
                if before.as_str() == Some("closed") && !matches!(status.as_str(), "closed" | "reopened") {
                    return Err(Error::invalid(FieldError::new("status", "closed_ticket")));
                }
            }
            if write.is_create() {
                if write.after("number").is_null() {
                    let n = next_count(cx.tx, "ticket").await?;
                    write.set("number", Value::Text(format!("T-{n}")));
                }
                if write.after("opened_at").is_null() {
                    write.set("opened_at", Value::Datetime(now));
                }
            }
            if write.changes("status") || write.is_create() {
                match status.as_str() {
                    "resolved" if write.after("resolved_at").is_null() => {
                        write.set("resolved_at", Value::Datetime(now));
                    }
                    "closed" => {
                        write.set("closed_at", Value::Datetime(now));
                        if write.after("resolved_at").is_null() {
                            write.set("resolved_at", Value::Datetime(now));
                        }
                    }
                    s if running(s) => {
                        if !write.after("resolved_at").is_null() {
                            write.set("resolved_at", Value::Null);
                        }
                        if !write.after("closed_at").is_null() {
                            write.set("closed_at", Value::Null);
                        }
                    }
                    _ => {}
                }
            }
            if write.after(OWNER_FIELD).is_null()
                && (write.is_create() || write.changes("queue"))
                && let Some(queue) = write.after("queue").as_str().map(str::to_string)
                && let Some(user) = queues::next_assignee(cx.db, cx.tx, &queue).await?
            {
                write.set(OWNER_FIELD, Value::Text(user));
            }
            if write.is_create() && write.after("contact").is_null() {
                requester_contact(cx.reborrow(), write).await?;
            }
            if (write.changes("contact") || write.is_create())
                && write.after("company").is_null()
                && let Some(contact) = write.after("contact").as_str()
            {
                let obj = cx.db.object("contact").await?;
                let found = cx.db.system().find_in(cx.tx, &obj, &[("id", Value::Text(contact.into()))], 1).await?;
                if let Some(company) = found.first().and_then(|c| c.fields.get("company")).and_then(Json::as_str) {
                    write.set("company", Value::Text(company.to_string()));
                }
            }
            levels::apply(cx, write, now).await
        })
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut cx = cx;
            levels::count_in(cx.reborrow(), written).await?;
            levels::schedule(cx, written).await
        })
    }
}

/// A new ticket without a contact but with a requester's e-mail or phone: the contact who has
/// it (the first, by id), else one made from the requester's name, e-mail and phone.
pub(crate) async fn requester_contact(cx: HookCx<'_>, write: &mut Pending<'_, '_>) -> Result<()> {
    let email = write.after("requester_email").as_str().map(str::to_string).filter(|s| !s.is_empty());
    let phone = write.after("requester_phone").as_str().map(str::to_string).filter(|s| !s.is_empty());
    if email.is_none() && phone.is_none() {
        return Ok(());
    }
    let obj = cx.db.object("contact").await?;
    let mut any = Vec::new();
    if let Some(e) = &email {
        any.push(json!({ "field": "emails", "op": "eq", "value": e }));
    }
    if let Some(p) = &phone {
        any.push(json!({ "field": "phones", "op": "eq", "value": p }));
    }
    let filter = peyvand_records::filter::parse_filter(&obj, &json!({ "or": any })).map_err(Error::invalid)?;
    let query = peyvand_store::records::ListQuery { filter: Some(filter), limit: Some(1), ..Default::default() };
    let found = cx.db.system().list_records("contact", &query).await?.records;
    let id = match found.first() {
        Some(c) => c.id.clone(),
        None => {
            let name = write.after("requester_name").as_str().unwrap_or("").trim().to_string();
            let (first, last) = match name.rsplit_once(' ') {
                Some((f, l)) => (f.trim().to_string(), l.trim().to_string()),
                None if !name.is_empty() => (String::new(), name),
                None => (String::new(), email.clone().or(phone.clone()).unwrap_or_default()),
            };
            let mut input = Map::new();
            if !first.is_empty() {
                input.insert("first_name".into(), json!(first));
            }
            input.insert("last_name".into(), json!(last));
            if let Some(e) = &email {
                input.insert("emails".into(), json!([e]));
            }
            if let Some(p) = &phone {
                input.insert("phones".into(), json!([p]));
            }
            if let Some(owner) = write.after(OWNER_FIELD).as_str() {
                input.insert(OWNER_FIELD.into(), json!(owner));
            }
            if obj.field("source").is_some_and(|f| f.options.options.iter().any(|o| o.value == "web")) {
                input.insert("source".into(), json!("web"));
            }
            let changes = peyvand_records::validate::validate(&obj, &input, peyvand_records::validate::Mode::Create)
                .map_err(|errors| {
                    Error::Validation(
                        errors.into_iter().map(|e| FieldError { field: "requester_name".into(), ..e }).collect(),
                    )
                })?;
            cx.db.system().create_in(cx.tx, cx.actor, &obj, &changes.values).await?
        }
    };
    write.set("contact", Value::Text(id));
    Ok(())
}
