//! The sales module's standard objects: products, deals, orders.

use super::DEFAULT_PIPELINE;
use peyvand_records::FieldType;
use peyvand_store::schema::{NewObject, opt, owner_field, relation, std_field, with};
use serde_json::json;

/// The sales module's standard objects.
pub(crate) fn objects() -> Vec<NewObject> {
    use FieldType as T;
    // What the business sells: deals and orders point at it.
    let product_fields = vec![
        with(std_field("name", T::Text, "نام محصول", "Product name"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        with(std_field("sku", T::Text, "کد کالا", "SKU"), |f| f.unique = true),
        with(std_field("category", T::Select, "دسته", "Category"), |f| {
            f.indexed = true;
            f.options.allow_new = true;
            f.options.options = vec![
                opt("hardware", "سخت‌افزار", "Hardware"),
                opt("software", "نرم‌افزار", "Software"),
                opt("service", "خدمات", "Services"),
                opt("consumable", "مواد مصرفی", "Consumables"),
                opt("spare_part", "قطعات یدکی", "Spare parts"),
            ]
        }),
        std_field("price", T::Currency, "قیمت", "Price"),
        with(std_field("active", T::Boolean, "فعال", "Active"), |f| f.default_value = Some(json!(true))),
        std_field("description", T::LongText, "شرح", "Description"),
    ];
    // A sale in the making, moving through the stages of the pipeline board.
    let deal_fields =
        vec![
            with(std_field("name", T::Text, "عنوان", "Deal name"), |f| {
                f.required = true;
                f.indexed = true;
            }),
            // The stage: its choices follow the pipelines (`pipelines`); the rules fill it when left
            // empty, from the deal's pipeline.
            with(std_field("stage", T::Select, "مرحله", "Stage"), |f| {
                f.indexed = true;
                f.options.options = vec![
                    opt("qualification", "ارزیابی", "Qualification"),
                    opt("needs_analysis", "نیازسنجی", "Needs analysis"),
                    opt("proposal", "ارائه پیشنهاد", "Proposal"),
                    opt("negotiation", "مذاکره", "Negotiation"),
                    opt("won", "موفق", "Won"),
                    opt("lost", "ناموفق", "Lost"),
                ]
            }),
            with(std_field("amount", T::Currency, "مبلغ", "Amount"), |f| f.indexed = true),
            relation("company", "company", "شرکت", "Company"),
            relation("contact", "contact", "مخاطب", "Contact"),
            with(std_field("expected_close", T::Date, "تاریخ پیش‌بینی بستن", "Expected close"), |f| f.indexed = true),
            std_field("closed_on", T::Date, "تاریخ بستن", "Closed on"),
            // The pipeline it moves through (the first unless told).
            with(std_field("pipeline", T::Select, "قیف فروش", "Pipeline"), |f| {
                f.indexed = true;
                f.options.options = vec![opt(DEFAULT_PIPELINE, "فروش", "Sales")];
            }),
            // Why a deal was won or lost: required when it is; admins edit the lists.
            with(std_field("won_reason", T::Select, "دلیل موفقیت", "Won reason"), |f| {
                f.options.options = vec![
                    opt("price", "قیمت مناسب", "Price"),
                    opt("product_fit", "تناسب محصول", "Product fit"),
                    opt("relationship", "رابطه با مشتری", "Relationship"),
                    opt("service", "خدمات و پشتیبانی", "Service"),
                    opt("delivery", "زمان تحویل", "Delivery time"),
                    opt("other", "سایر", "Other"),
                ]
            }),
            with(std_field("lost_reason", T::Select, "دلیل شکست", "Lost reason"), |f| {
                f.options.options = vec![
                    opt("price", "قیمت بالا", "Price too high"),
                    opt("competitor", "انتخاب رقیب", "Chose a competitor"),
                    opt("no_budget", "نبود بودجه", "No budget"),
                    opt("no_decision", "عدم تصمیم‌گیری", "No decision"),
                    opt("timing", "زمان نامناسب", "Timing"),
                    opt("product_fit", "عدم تناسب محصول", "Product fit"),
                    opt("other", "سایر", "Other"),
                ]
            }),
            std_field("stage_entered_at", T::Datetime, "ورود به مرحله", "In stage since"),
            with(std_field("last_activity_at", T::Datetime, "آخرین فعالیت", "Last activity"), |f| {
                f.indexed = true
            }),
            owner_field(),
            std_field("description", T::LongText, "شرح", "Details"),
        ];
    // What a customer bought: one product line of a purchase, the purchase history's unit.
    let order_fields = vec![
        with(std_field("number", T::Text, "شماره سفارش", "Order number"), |f| {
            f.required = true;
            f.unique = true;
        }),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
        relation("product", "product", "محصول", "Product"),
        with(std_field("quantity", T::Integer, "تعداد", "Quantity"), |f| f.default_value = Some(json!(1))),
        with(std_field("total", T::Currency, "مبلغ کل", "Total"), |f| f.required = true),
        with(std_field("ordered_at", T::Datetime, "زمان سفارش", "Ordered at"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        with(std_field("status", T::Select, "وضعیت", "Status"), |f| {
            f.required = true;
            f.indexed = true;
            f.default_value = Some(json!("pending"));
            f.options.options = vec![
                opt("pending", "در انتظار پرداخت", "Awaiting payment"),
                opt("paid", "پرداخت‌شده", "Paid"),
                opt("shipped", "ارسال‌شده", "Shipped"),
                opt("delivered", "تحویل‌شده", "Delivered"),
                opt("cancelled", "لغوشده", "Cancelled"),
                opt("returned", "مرجوعی", "Returned"),
            ]
        }),
        with(std_field("channel", T::Select, "کانال فروش", "Sales channel"), |f| {
            f.options.options = vec![
                opt("online", "فروشگاه اینترنتی", "Online store"),
                opt("store", "فروشگاه حضوری", "In store"),
                opt("phone", "تلفنی", "By phone"),
                opt("dealer", "نماینده فروش", "Dealer"),
            ]
        }),
    ];
    // Someone who may buy, not yet a customer: qualified, they convert into a contact (and a
    // company, and a deal) in one step (`leads`).
    let lead_fields = vec![
        with(std_field("first_name", T::Text, "نام", "First name"), |f| f.indexed = true),
        with(std_field("last_name", T::Text, "نام خانوادگی", "Last name"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        with(std_field("company_name", T::Text, "نام شرکت", "Company name"), |f| f.indexed = true),
        std_field("job_title", T::Text, "سمت", "Job title"),
        with(std_field("emails", T::Email, "ایمیل‌ها", "Emails"), |f| f.options.multiple = true),
        with(std_field("phones", T::Phone, "تلفن‌ها", "Phones"), |f| f.options.multiple = true),
        with(std_field("city", T::Text, "شهر", "City"), |f| f.indexed = true),
        with(std_field("status", T::Select, "وضعیت", "Status"), |f| {
            f.required = true;
            f.indexed = true;
            f.default_value = Some(json!("new"));
            f.options.options = vec![
                opt("new", "جدید", "New"),
                opt("contacted", "تماس گرفته‌شده", "Contacted"),
                opt("qualified", "واجد شرایط", "Qualified"),
                opt("disqualified", "رد صلاحیت", "Disqualified"),
            ]
        }),
        // Why it was disqualified: required when it is; admins edit the list.
        with(std_field("disqualify_reason", T::Select, "دلیل رد صلاحیت", "Disqualified because"), |f| {
            f.options.options = vec![
                opt("no_budget", "نبود بودجه", "No budget"),
                opt("no_need", "نبود نیاز", "No need"),
                opt("unreachable", "در دسترس نبود", "Unreachable"),
                opt("duplicate", "تکراری", "Duplicate"),
                opt("competitor", "مشتری رقیب", "With a competitor"),
                opt("other", "سایر", "Other"),
            ]
        }),
        with(std_field("source", T::Select, "منبع", "Source"), |f| {
            f.indexed = true;
            f.options.options = vec![
                opt("web_form", "فرم وب‌سایت", "Web form"),
                opt("import", "ورود اطلاعات", "Import"),
                opt("phone", "تماس تلفنی", "Phone call"),
                opt("walk_in", "مراجعه حضوری", "Walk-in"),
                opt("referral", "معرفی", "Referral"),
                opt("campaign", "کمپین", "Campaign"),
                opt("other", "سایر", "Other"),
            ]
        }),
        with(std_field("campaign", T::Text, "کمپین", "Campaign"), |f| f.indexed = true),
        owner_field(),
        std_field("description", T::LongText, "توضیحات", "Details"),
        // What it became: set by the conversion, then fixed.
        relation("converted_contact", "contact", "مخاطب حاصل", "Converted to contact"),
        relation("converted_company", "company", "شرکت حاصل", "Converted to company"),
        relation("converted_deal", "deal", "فرصت حاصل", "Converted to deal"),
        with(std_field("converted_at", T::Datetime, "زمان تبدیل", "Converted at"), |f| f.indexed = true),
    ];
    vec![
        NewObject {
            api_name: "product".into(),
            label_fa: "محصول".into(),
            label_en: "Product".into(),
            plural_fa: "محصولات".into(),
            plural_en: "Products".into(),
            fields: product_fields,
            title_field: Some("name".into()),
        },
        NewObject {
            api_name: "deal".into(),
            label_fa: "فرصت فروش".into(),
            label_en: "Deal".into(),
            plural_fa: "فرصت‌های فروش".into(),
            plural_en: "Deals".into(),
            fields: deal_fields,
            title_field: Some("name".into()),
        },
        NewObject {
            api_name: "order".into(),
            label_fa: "سفارش".into(),
            label_en: "Order".into(),
            plural_fa: "سفارش‌ها".into(),
            plural_en: "Orders".into(),
            fields: order_fields,
            title_field: Some("number".into()),
        },
        NewObject {
            api_name: "lead".into(),
            label_fa: "سرنخ".into(),
            label_en: "Lead".into(),
            plural_fa: "سرنخ‌ها".into(),
            plural_en: "Leads".into(),
            fields: lead_fields,
            title_field: Some("first_name last_name".into()),
        },
    ]
}
