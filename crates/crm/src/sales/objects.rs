//! The sales module's standard objects: products, price lists, leads, deals, quotes and orders
//! with their lines.

use super::DEFAULT_PIPELINE;
use peyvand_records::FieldType;
use peyvand_store::schema::{NewField, NewObject, opt, owner_field, relation, std_field, with};
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
        with(std_field("unit", T::Select, "واحد", "Unit"), |f| {
            f.options.allow_new = true;
            f.options.options = vec![
                opt("piece", "عدد", "Piece"),
                opt("box", "جعبه", "Box"),
                opt("kg", "کیلوگرم", "Kilogram"),
                opt("ton", "تن", "Tonne"),
                opt("m", "متر", "Metre"),
                opt("l", "لیتر", "Litre"),
                opt("hour", "ساعت", "Hour"),
                opt("set", "دست", "Set"),
            ]
        }),
        // What it costs the business (for profitability): hidden from agents and read-only users
        // unless an admin says otherwise (`upgrade`).
        std_field("cost_price", T::Currency, "قیمت تمام‌شده", "Cost price"),
        with(std_field("tax_class", T::Select, "گروه مالیاتی", "Tax class"), |f| {
            f.options.options =
                vec![opt("vat", "مشمول مالیات بر ارزش افزوده", "Value-added tax"), opt("exempt", "معاف", "Exempt")]
        }),
        // The tax a line of it carries, in percent (Iran's value-added tax: 10).
        with(std_field("tax_percent", T::Decimal, "درصد مالیات", "Tax %"), |f| {
            f.default_value = Some(json!("10"))
        }),
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
        // Given by the numbering sequence when left empty (`documents`).
        with(std_field("number", T::Text, "شماره سفارش", "Order number"), |f| f.unique = true),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
        relation("product", "product", "محصول", "Product"),
        with(std_field("quantity", T::Integer, "تعداد", "Quantity"), |f| f.default_value = Some(json!(1))),
        std_field("total", T::Currency, "مبلغ کل", "Total"),
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
                opt("part_shipped", "ارسال بخشی", "Partly shipped"),
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
        // An order a customer placed themselves (`crm::portal`), for staff to confirm.
        with(
            std_field("placed_in_portal", T::Boolean, "ثبت مشتری در پورتال", "Placed by the customer (portal)"),
            |f| {
                f.indexed = true;
                f.default_value = Some(json!(false));
            },
        ),
    ];
    let mut order_fields = order_fields;
    order_fields.extend(document_fields());
    order_fields.push(relation("quote", "quote", "پیش‌فاکتور", "Quote"));
    order_fields.push(owner_field());
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
        // Its chance of converting (0 to 100), learned from the business's converted and lost
        // leads (`insights::lead_scores`, which keeps the factors behind it).
        with(std_field("score", T::Integer, "امتیاز سرنخ", "Lead score"), |f| f.indexed = true),
        std_field("scored_at", T::Datetime, "زمان امتیازدهی", "Scored at"),
    ];
    // A priced offer: lines of products, sent, accepted or not; an accepted one becomes an order.
    let mut quote_fields = vec![
        with(std_field("number", T::Text, "شماره پیش‌فاکتور", "Quote number"), |f| f.unique = true),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
        with(std_field("status", T::Select, "وضعیت", "Status"), |f| {
            f.required = true;
            f.indexed = true;
            f.default_value = Some(json!("draft"));
            f.options.options = vec![
                opt("draft", "پیش‌نویس", "Draft"),
                opt("sent", "ارسال‌شده", "Sent"),
                opt("accepted", "پذیرفته", "Accepted"),
                opt("rejected", "ردشده", "Rejected"),
                opt("expired", "منقضی", "Expired"),
            ]
        }),
        with(std_field("issued_on", T::Date, "تاریخ صدور", "Issued on"), |f| f.indexed = true),
        std_field("valid_until", T::Date, "معتبر تا", "Valid until"),
        std_field("total", T::Currency, "مبلغ کل", "Total"),
    ];
    quote_fields.extend(document_fields());
    quote_fields.push(owner_field());
    // A price list: prices of products in one currency, for everyone, a customer group or one
    // customer, in a period; a line's price comes from the most specific that applies (`prices`).
    let price_list_fields = vec![
        with(std_field("name", T::Text, "نام فهرست قیمت", "Price list"), |f| f.required = true),
        with(std_field("currency", T::Text, "ارز", "Currency"), |f| {
            f.required = true;
            f.default_value = Some(json!("IRR"));
        }),
        with(std_field("applies_to", T::Select, "برای", "Applies to"), |f| {
            f.required = true;
            f.default_value = Some(json!("everyone"));
            f.options.options = vec![
                opt("everyone", "همه", "Everyone"),
                opt("group", "گروه مشتری", "A customer group"),
                opt("customer", "یک مشتری", "One customer"),
            ]
        }),
        crate::customers::customer_group(),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
        std_field("valid_from", T::Date, "از تاریخ", "Valid from"),
        std_field("valid_to", T::Date, "تا تاریخ", "Valid to"),
        with(std_field("active", T::Boolean, "فعال", "Active"), |f| f.default_value = Some(json!(true))),
        owner_field(),
    ];
    let price_list_item_fields = vec![
        with(relation("price_list", "price_list", "فهرست قیمت", "Price list"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        with(relation("product", "product", "محصول", "Product"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        with(std_field("price", T::Currency, "قیمت", "Price"), |f| f.required = true),
        owner_field(),
    ];
    // A benefit granted to a customer: a discount, a price list of their own, free delivery or
    // a promise in words; valid for a period and a number of documents (`benefits`).
    let benefit_fields = vec![
        with(std_field("name", T::Text, "عنوان مزیت", "Benefit"), |f| f.required = true),
        with(std_field("kind", T::Select, "نوع", "Kind"), |f| {
            f.required = true;
            f.default_value = Some(json!("percent_discount"));
            f.options.options = vec![
                opt("percent_discount", "تخفیف درصدی", "Percent discount"),
                opt("amount_discount", "تخفیف مبلغی", "Amount discount"),
                opt("price_list", "فهرست قیمت ویژه", "Special price list"),
                opt("free_delivery", "ارسال رایگان", "Free delivery"),
                opt("custom", "مزیت دیگر", "Other benefit"),
            ]
        }),
        with(std_field("applies_to", T::Select, "برای", "Granted to"), |f| {
            f.required = true;
            f.default_value = Some(json!("contact"));
            f.options.options = vec![
                opt("contact", "یک مخاطب", "A contact"),
                opt("company", "یک شرکت", "A company"),
                opt("group", "گروه مشتری", "A customer group"),
            ]
        }),
        with(relation("contact", "contact", "مخاطب", "Contact"), |f| f.indexed = true),
        with(relation("company", "company", "شرکت", "Company"), |f| f.indexed = true),
        crate::customers::customer_group(),
        // Only lines of this product, if given.
        relation("product", "product", "محصول", "Product"),
        with(std_field("percent", T::Decimal, "درصد تخفیف", "Discount %"), |f| f.options.scale = Some(2)),
        std_field("amount", T::Currency, "مبلغ تخفیف", "Discount amount"),
        relation("price_list", "price_list", "فهرست قیمت", "Price list"),
        std_field("valid_from", T::Date, "از تاریخ", "Valid from"),
        std_field("valid_to", T::Date, "تا تاریخ", "Valid to"),
        // At most this many quotes and orders use it (none: no limit).
        std_field("max_uses", T::Integer, "حداکثر دفعات استفاده", "Uses at most"),
        with(std_field("active", T::Boolean, "فعال", "Active"), |f| f.default_value = Some(json!(true))),
        std_field("description", T::LongText, "شرح", "Details"),
        owner_field(),
    ];
    // In the order they are made: a relation's target first.
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
            api_name: "price_list".into(),
            label_fa: "فهرست قیمت".into(),
            label_en: "Price list".into(),
            plural_fa: "فهرست‌های قیمت".into(),
            plural_en: "Price lists".into(),
            fields: price_list_fields,
            title_field: Some("name".into()),
        },
        NewObject {
            api_name: "price_list_item".into(),
            label_fa: "قیمت فهرست".into(),
            label_en: "Price list item".into(),
            plural_fa: "قیمت‌های فهرست".into(),
            plural_en: "Price list items".into(),
            fields: price_list_item_fields,
            title_field: Some("price".into()),
        },
        NewObject {
            api_name: "benefit".into(),
            label_fa: "مزیت مشتری".into(),
            label_en: "Benefit".into(),
            plural_fa: "مزایای مشتریان".into(),
            plural_en: "Benefits".into(),
            fields: benefit_fields,
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
            api_name: "lead".into(),
            label_fa: "سرنخ".into(),
            label_en: "Lead".into(),
            plural_fa: "سرنخ‌ها".into(),
            plural_en: "Leads".into(),
            fields: lead_fields,
            title_field: Some("first_name last_name".into()),
        },
        NewObject {
            api_name: "quote".into(),
            label_fa: "پیش‌فاکتور".into(),
            label_en: "Quote".into(),
            plural_fa: "پیش‌فاکتورها".into(),
            plural_en: "Quotes".into(),
            fields: quote_fields,
            title_field: Some("number".into()),
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
            api_name: "quote_line".into(),
            label_fa: "ردیف پیش‌فاکتور".into(),
            label_en: "Quote line".into(),
            plural_fa: "ردیف‌های پیش‌فاکتور".into(),
            plural_en: "Quote lines".into(),
            fields: line_fields("quote", "پیش‌فاکتور", "Quote"),
            title_field: Some("description".into()),
        },
        NewObject {
            api_name: "order_line".into(),
            label_fa: "ردیف سفارش".into(),
            label_en: "Order line".into(),
            plural_fa: "ردیف‌های سفارش".into(),
            plural_en: "Order lines".into(),
            fields: line_fields("order", "سفارش", "Order"),
            title_field: Some("description".into()),
        },
    ]
}

/// A quote's or an order's figures: its currency, the price list it was priced from, and its
/// totals (the sums of its lines, computed by the server).
fn document_fields() -> Vec<NewField> {
    use FieldType as T;
    vec![
        relation("deal", "deal", "فرصت فروش", "Deal"),
        with(std_field("currency", T::Text, "ارز", "Currency"), |f| f.default_value = Some(json!("IRR"))),
        relation("price_list", "price_list", "فهرست قیمت", "Price list"),
        std_field("subtotal", T::Currency, "جمع ناخالص", "Subtotal"),
        std_field("discount_total", T::Currency, "جمع تخفیف", "Discount"),
        std_field("tax_total", T::Currency, "جمع مالیات", "Tax"),
        std_field("notes", T::LongText, "یادداشت", "Notes"),
        // When its lines last changed: a change of lines moves its version on.
        std_field("lines_updated_at", T::Datetime, "تغییر ردیف‌ها", "Lines changed at"),
    ]
}

/// A line of a quote or an order (`document` names the header): a product, how many, at what
/// price, less what discount, plus what tax; its figures computed by the server (`documents`).
/// An order's line also carries its customer and day, so a purchase history is one index range.
fn line_fields(document: &str, label_fa: &str, label_en: &str) -> Vec<NewField> {
    use FieldType as T;
    let mut fields = vec![
        with(relation(document, document, label_fa, label_en), |f| {
            f.required = true;
            f.indexed = true;
        }),
        std_field("position", T::Integer, "ردیف", "Line"),
        relation("product", "product", "محصول", "Product"),
        std_field("description", T::Text, "شرح", "Description"),
        with(std_field("quantity", T::Decimal, "مقدار", "Quantity"), |f| {
            f.required = true;
            f.options.scale = Some(3);
        }),
        std_field("unit_price", T::Currency, "قیمت واحد", "Unit price"),
        std_field("discount_percent", T::Decimal, "درصد تخفیف", "Discount %"),
        std_field("discount_amount", T::Currency, "مبلغ تخفیف", "Discount amount"),
        std_field("tax_percent", T::Decimal, "درصد مالیات", "Tax %"),
        std_field("gross", T::Currency, "مبلغ ناخالص", "Gross"),
        std_field("discount", T::Currency, "تخفیف", "Discount"),
        std_field("tax", T::Currency, "مالیات", "Tax"),
        std_field("total", T::Currency, "مبلغ", "Amount"),
        // Where its price came from: a price list, the product, a benefit, or a person.
        std_field("price_source", T::Text, "منشأ قیمت", "Price from"),
        // The customer's benefit that priced or discounted it, if one did.
        relation("benefit", "benefit", "مزیت", "Benefit"),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
    ];
    if document == "order" {
        fields.push(with(std_field("ordered_at", T::Datetime, "زمان سفارش", "Ordered at"), |f| {
            f.indexed = true
        }));
    }
    fields.push(owner_field());
    fields
}
