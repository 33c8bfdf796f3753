//! Activities: every interaction with a customer on every channel (a call, an e-mail, a
//! meeting, a chat, an SMS, a visit, a note), the record page's timeline; and what is to be done
//! next (`tasks`: tasks and appointments with their reminders).

pub mod tasks;

use peyvand_records::FieldType;
use peyvand_records::access::{ObjectAccess, Role};
use peyvand_store::hooks::{Module, WriteHook};
use peyvand_store::runner::JobKind;
use peyvand_store::schema::{NewObject, opt, owner_field, relation, std_field, with};
use serde_json::json;
use std::sync::Arc;

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
