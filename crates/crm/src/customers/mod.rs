//! Customers: companies and the people in them (contacts), the core of the customer 360; their
//! duplicates and merge (`merge`); their consent per channel, its history and the suppression
//! list (`consent`).

pub mod consent;
pub mod merge;
pub mod name_keys;
pub mod queue;

use peyvand_records::FieldType;
use peyvand_records::access::{ObjectAccess, Role};
use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;
use peyvand_store::schema::{NewField, NewObject, opt, owner_field, relation, std_field, with};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_merges.sql",
        sqlite: include_str!("../../migrations/customers/sqlite/0001_merges.sql"),
        postgres: include_str!("../../migrations/customers/postgres/0001_merges.sql"),
    },
    Migration {
        version: 2,
        name: "0002_duplicate_pairs.sql",
        sqlite: include_str!("../../migrations/customers/sqlite/0002_duplicate_pairs.sql"),
        postgres: include_str!("../../migrations/customers/postgres/0002_duplicate_pairs.sql"),
    },
    Migration {
        version: 3,
        name: "0003_consent.sql",
        sqlite: include_str!("../../migrations/customers/sqlite/0003_consent.sql"),
        postgres: include_str!("../../migrations/customers/postgres/0003_consent.sql"),
    },
    Migration {
        version: 4,
        name: "0004_name_keys.sql",
        sqlite: include_str!("../../migrations/customers/sqlite/0004_name_keys.sql"),
        postgres: include_str!("../../migrations/customers/postgres/0004_name_keys.sql"),
    },
];

/// The customers module.
pub struct Customers;

impl Module for Customers {
    fn name(&self) -> &'static str {
        "customers"
    }

    fn objects(&self) -> Vec<NewObject> {
        objects()
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "merged_records",
            "duplicate_pairs",
            "duplicate_scans",
            "consents",
            "consent_events",
            "suppressions",
            "consent_settings",
            "name_keys",
        ]
    }

    fn upgrade<'a>(
        &'a self,
        db: &'a peyvand_store::Db,
    ) -> peyvand_store::hooks::BoxFuture<'a, peyvand_store::Result<()>> {
        Box::pin(async move {
            let mut tx = db.write().await?;
            for object in queue::OBJECTS {
                queue::schedule_nightly_in(db, &mut tx, object).await?;
            }
            tx.commit().await
        })
    }

    fn consumers(&self) -> Vec<std::sync::Arc<dyn peyvand_store::runner::Consumer>> {
        vec![std::sync::Arc::new(name_keys::Keeper)]
    }

    fn job_kinds(&self) -> Vec<std::sync::Arc<dyn peyvand_store::runner::JobKind>> {
        vec![std::sync::Arc::new(queue::Scans)]
    }

    fn default_access(&self, role: Role, object: &str) -> Option<ObjectAccess> {
        match object {
            "contact" => Some(crate::Reaches::Customers.of(role)),
            "company" => Some(crate::Reaches::Shared.of(role)),
            _ => None,
        }
    }
}

/// Fields every customer (a company, a contact) has: how to reach them, whose they are, where
/// they came from.
pub(crate) fn shared_fields() -> Vec<NewField> {
    use FieldType as T;
    vec![
        with(std_field("emails", T::Email, "ایمیل‌ها", "Emails"), |f| f.options.multiple = true),
        with(std_field("phones", T::Phone, "تلفن‌ها", "Phones"), |f| f.options.multiple = true),
        std_field("address", T::LongText, "نشانی", "Address"),
        with(std_field("city", T::Text, "شهر", "City"), |f| f.indexed = true),
        std_field("province", T::Text, "استان", "Province"),
        std_field("postal_code", T::Text, "کد پستی", "Postal code"),
        owner_field(),
        with(std_field("source", T::Select, "منبع", "Source"), |f| {
            f.options.options = vec![
                opt("web", "وب‌سایت", "Website"),
                opt("phone", "تماس تلفنی", "Phone call"),
                opt("referral", "معرفی مشتری", "Referral"),
                opt("event", "رویداد و نمایشگاه", "Event"),
                opt("social", "شبکه‌های اجتماعی", "Social media"),
                opt("partner", "شریک تجاری", "Partner"),
                opt("import", "ورود اطلاعات", "Import"),
                opt("other", "سایر", "Other"),
            ]
        }),
        with(std_field("lifecycle_stage", T::Select, "مرحله چرخه عمر", "Lifecycle stage"), |f| {
            f.indexed = true;
            f.options.options = vec![
                opt("subscriber", "مشترک", "Subscriber"),
                opt("lead", "سرنخ فروش", "Lead"),
                opt("opportunity", "فرصت فروش", "Opportunity"),
                opt("customer", "مشتری", "Customer"),
                opt("evangelist", "مروج", "Evangelist"),
                opt("former", "مشتری سابق", "Former customer"),
            ]
        }),
        with(std_field("tags", T::MultiSelect, "برچسب‌ها", "Tags"), |f| f.options.allow_new = true),
        std_field("description", T::LongText, "توضیحات", "Description"),
    ]
}

/// What a customer is worth, computed from their orders by the nightly fit (`insights::value`)
/// and written as derived data: expected purchases and the chance they are still buying, churn
/// risk, expected spend and lifetime value over the next year, and RFM scores and segment.
fn value_fields() -> Vec<NewField> {
    use FieldType as T;
    vec![
        with(
            std_field("expected_purchases", T::Decimal, "خرید مورد انتظار در یک سال", "Expected purchases (a year)"),
            |f| f.options.scale = Some(2),
        ),
        with(std_field("p_alive", T::Decimal, "احتمال ادامهٔ خرید", "Probability still buying"), |f| {
            f.options.scale = Some(3)
        }),
        with(std_field("churn_risk", T::Select, "ریسک ریزش", "Churn risk"), |f| {
            f.indexed = true;
            f.options.options =
                vec![opt("low", "کم", "Low"), opt("medium", "متوسط", "Medium"), opt("high", "زیاد", "High")]
        }),
        std_field("expected_spend", T::Currency, "میانگین خرید مورد انتظار", "Expected average purchase"),
        with(
            std_field("lifetime_value", T::Currency, "ارزش طول عمر (یک سال)", "Lifetime value (a year)"),
            |f| f.indexed = true,
        ),
        // Recency, frequency and monetary scores, 1 to 5 each, as one number (545).
        std_field("rfm_score", T::Integer, "امتیاز RFM", "RFM score"),
        with(std_field("rfm_segment", T::Select, "بخش RFM", "RFM segment"), |f| {
            f.indexed = true;
            f.options.options = vec![
                opt("champions", "قهرمانان", "Champions"),
                opt("loyal", "وفادار", "Loyal"),
                opt("new", "تازه", "New"),
                opt("potential", "امیدبخش", "Potential"),
                opt("cant_lose", "نباید از دست داد", "Can't lose"),
                opt("at_risk", "در خطر", "At risk"),
                opt("hibernating", "خفته", "Hibernating"),
                opt("lost", "از دست رفته", "Lost"),
            ]
        }),
        std_field("value_scored_at", T::Datetime, "زمان محاسبهٔ ارزش", "Value scored at"),
    ]
}

/// The instant of the customer's last order that counts, kept by the sales rules
/// (`sales::last_order`): segments of recent buyers read it.
fn last_order() -> NewField {
    with(std_field("last_order_at", FieldType::Datetime, "آخرین سفارش", "Last order"), |f| f.indexed = true)
}

fn objects() -> Vec<NewObject> {
    use FieldType as T;
    let mut company_fields = vec![
        with(std_field("name", T::Text, "نام شرکت", "Company name"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        std_field("website", T::Url, "وب‌سایت", "Website"),
        with(std_field("industry", T::Select, "صنعت", "Industry"), |f| {
            f.options.options = vec![
                opt("manufacturing", "تولید", "Manufacturing"),
                opt("retail", "خرده‌فروشی", "Retail"),
                opt("services", "خدمات", "Services"),
                opt("technology", "فناوری", "Technology"),
                opt("finance", "مالی و بانکی", "Finance"),
                opt("health", "سلامت", "Health"),
                opt("education", "آموزش", "Education"),
                opt("construction", "ساختمان", "Construction"),
                opt("other", "سایر", "Other"),
            ]
        }),
    ];
    company_fields.push(customer_group());
    company_fields.extend(shared_fields());
    company_fields.push(last_order());
    company_fields.extend(value_fields());
    let mut contact_fields = vec![
        with(std_field("first_name", T::Text, "نام", "First name"), |f| f.indexed = true),
        with(std_field("last_name", T::Text, "نام خانوادگی", "Last name"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        relation("company", "company", "شرکت", "Company"),
        std_field("job_title", T::Text, "سمت", "Job title"),
        std_field("national_id", T::NationalId, "کد ملی", "National ID"),
        std_field("birth_date", T::Date, "تاریخ تولد", "Birth date"),
        customer_group(),
        // Kept by the activities logged with the contact (silent customers are found by it).
        with(std_field("last_activity_at", T::Datetime, "آخرین فعالیت", "Last activity"), |f| {
            f.indexed = true
        }),
    ];
    contact_fields.extend(shared_fields());
    contact_fields.push(last_order());
    contact_fields.extend(value_fields());
    vec![
        NewObject {
            api_name: "company".into(),
            label_fa: "شرکت".into(),
            label_en: "Company".into(),
            plural_fa: "شرکت‌ها".into(),
            plural_en: "Companies".into(),
            fields: company_fields,
            title_field: Some("name".into()),
        },
        NewObject {
            api_name: "contact".into(),
            label_fa: "مخاطب".into(),
            label_en: "Contact".into(),
            plural_fa: "مخاطبان".into(),
            plural_en: "Contacts".into(),
            fields: contact_fields,
            title_field: Some("first_name last_name".into()),
        },
    ]
}

/// A customer group (a company's or a contact's): price lists and benefits may be for one.
pub fn customer_group() -> NewField {
    with(std_field("customer_group", FieldType::Select, "گروه مشتری", "Customer group"), |f| {
        f.indexed = true;
        f.options.allow_new = true;
        f.options.options = vec![
            opt("retail", "خرده‌فروشی", "Retail"),
            opt("wholesale", "عمده‌فروشی", "Wholesale"),
            opt("dealer", "نمایندگی", "Dealer"),
            opt("vip", "ویژه", "VIP"),
        ];
    })
}
