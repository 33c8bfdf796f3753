//! Activities: every interaction with a customer on every channel (a call, an e-mail, a
//! meeting, a chat, an SMS, a visit, a note), the record page's timeline; and what is to be done
//! next (`tasks`: tasks and appointments with their reminders).

pub mod feed;
pub mod participants;
pub mod recurrence;
pub mod tasks;
pub mod timeline;

use peyvand_records::access::{ObjectAccess, Role};
use peyvand_records::validate::{Mode, validate};
use peyvand_records::{FieldError, FieldType};
use peyvand_store::hooks::{Module, WriteHook};
use peyvand_store::migrate::Migration;
use peyvand_store::records::Record;
use peyvand_store::runner::JobKind;
use peyvand_store::schema::{NewObject, opt, owner_field, relation, std_field, with};
use peyvand_store::{Db, Error, Result};
use serde_json::json;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// The module's tables.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_calendar_feeds.sql",
        sqlite: include_str!("../../migrations/activities/sqlite/0001_calendar_feeds.sql"),
        postgres: include_str!("../../migrations/activities/postgres/0001_calendar_feeds.sql"),
    },
    Migration {
        version: 2,
        name: "0002_participants.sql",
        sqlite: include_str!("../../migrations/activities/sqlite/0002_participants.sql"),
        postgres: include_str!("../../migrations/activities/postgres/0002_participants.sql"),
    },
];

/// The activities module.
pub struct Activities;

impl Module for Activities {
    fn name(&self) -> &'static str {
        "activities"
    }

    fn objects(&self) -> Vec<NewObject> {
        let mut all = objects();
        all.push(tasks::object());
        all
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["calendar_feeds", "activity_participants"]
    }

    fn hooks(&self) -> Vec<Arc<dyn WriteHook>> {
        vec![Arc::new(tasks::TaskRules)]
    }

    fn job_kinds(&self) -> Vec<Arc<dyn JobKind>> {
        vec![Arc::new(tasks::Reminders)]
    }

    fn default_access(&self, role: Role, object: &str) -> Option<ObjectAccess> {
        match object {
            "activity" | "task" => Some(crate::Reaches::Customers.of(role)),
            _ => None,
        }
    }
}

fn objects() -> Vec<NewObject> {
    use FieldType as T;
    let activity_fields = vec![
        with(std_field("kind", T::Select, "نوع", "Kind"), |f| {
            f.required = true;
            f.indexed = true;
            f.default_value = Some(json!("note"));
            f.options.options = vec![
                opt("call", "تماس تلفنی", "Call"),
                opt("email", "ایمیل", "Email"),
                opt("meeting", "جلسه", "Meeting"),
                opt("chat", "گفتگوی آنلاین", "Chat"),
                opt("sms", "پیامک", "SMS"),
                opt("social", "شبکه‌های اجتماعی", "Social media"),
                opt("visit", "بازدید حضوری", "Visit"),
                opt("note", "یادداشت", "Note"),
                opt("letter", "نامه", "Letter"),
            ]
        }),
        with(std_field("subject", T::Text, "موضوع", "Subject"), |f| f.required = true),
        with(std_field("occurred_at", T::Datetime, "زمان", "When"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        with(std_field("direction", T::Select, "جهت", "Direction"), |f| {
            f.options.options = vec![opt("inbound", "ورودی", "Inbound"), opt("outbound", "خروجی", "Outbound")]
        }),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
        relation("deal", "deal", "فرصت فروش", "Deal"),
        relation("lead", "lead", "سرنخ", "Lead"),
        std_field("body", T::LongText, "شرح", "Details"),
        owner_field(),
        // How it went, and how long it took.
        with(std_field("outcome", T::Select, "نتیجه", "Outcome"), |f| {
            f.options.options = vec![
                opt("completed", "انجام شد", "Completed"),
                opt("no_answer", "پاسخ نداد", "No answer"),
                opt("busy", "مشغول بود", "Busy"),
                opt("left_message", "پیام گذاشته شد", "Left a message"),
                opt("interested", "علاقه‌مند", "Interested"),
                opt("not_interested", "بی‌علاقه", "Not interested"),
                opt("rescheduled", "به زمان دیگری موکول شد", "Rescheduled"),
                opt("cancelled", "لغو شد", "Cancelled"),
            ]
        }),
        std_field("duration_minutes", T::Integer, "مدت (دقیقه)", "Duration (minutes)"),
        relation("quote", "quote", "پیش‌فاکتور", "Quote"),
        relation("order", "order", "سفارش", "Order"),
        // The number or address it was with (a call from a number no contact has yet).
        std_field("phone", T::Phone, "شماره تلفن", "Phone number"),
        std_field("email", T::Email, "نشانی ایمیل", "E-mail address"),
    ];
    vec![NewObject {
        api_name: "activity".into(),
        label_fa: "فعالیت".into(),
        label_en: "Activity".into(),
        plural_fa: "فعالیت‌ها".into(),
        plural_en: "Activities".into(),
        fields: activity_fields,
        title_field: Some("subject".into()),
    }]
}

/// Logs an activity and, with `follow_up` (a task's fields: subject, due time, reminders…),
/// schedules what comes next ("log the call, schedule the next"), in one transaction: the task
/// follows the activity and is about whom it was (its contact, company, deal, lead). Nothing is
/// written unless both are right; the task's errors are named `follow_up.FIELD`.
pub async fn log(
    db: &Db,
    actor: Option<&str>,
    activity: &Map<String, Json>,
    follow_up: Option<&Map<String, Json>>,
) -> Result<(Record, Option<Record>)> {
    let (activity_obj, task_obj) = (db.object("activity").await?, db.object("task").await?);
    let changes = validate(&activity_obj, activity, Mode::Create).map_err(Error::Validation)?;
    let mut tx = db.write().await?;
    let id = db.create_in(&mut tx, actor, &activity_obj, &changes.values).await?;
    let logged = db.get_in(&mut tx, &activity_obj, &id).await?;
    let task = match follow_up {
        None => None,
        Some(fields) => {
            let mut fields = fields.clone();
            for link in ["contact", "company", "deal", "lead"] {
                if let Some(v) = logged.fields.get(link).filter(|v| !v.is_null()) {
                    fields.entry(link.to_string()).or_insert_with(|| v.clone());
                }
            }
            fields.insert("follows".into(), Json::String(id.clone()));
            let follow = |e: Error| match e {
                Error::Validation(errors) => Error::Validation(
                    errors.into_iter().map(|e| FieldError { field: format!("follow_up.{}", e.field), ..e }).collect(),
                ),
                other => other,
            };
            let changes = validate(&task_obj, &fields, Mode::Create).map_err(Error::Validation).map_err(follow)?;
            let task_id = db.create_in(&mut tx, actor, &task_obj, &changes.values).await.map_err(follow)?;
            Some(db.get_in(&mut tx, &task_obj, &task_id).await?)
        }
    };
    tx.commit().await?;
    Ok((logged, task))
}
