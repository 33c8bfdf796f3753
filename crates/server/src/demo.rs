//! The demo data set: an admin, a sales manager over two sales teams of reps, a support agent,
//! three custom fields (the products' cost price hidden from reps), a few hand-picked bilingual
//! companies and contacts, and a small slice of `peyvand generate` (companies, contacts,
//! products and two years of activities, deals and orders) owned by the sales people, so that
//! `peyvand demo` shows a living CRM, and each person sees it as their role and team allow.

use peyvand_records::access::{FieldAccess, Role};
use peyvand_store::Db;
use peyvand_store::access::TeamInput;
use peyvand_store::schema::NewField;
use serde_json::{Map, Value, json};

/// The demo admin's e-mail and password.
pub const DEMO_EMAIL: &str = "admin@demo.peyvand.ir";
pub const DEMO_PASSWORD: &str = "peyvand-demo";

/// The demo's other people (e-mail, name, role), who sign in with the same password: the sales
/// manager, three reps in two teams, and a support agent who reads every customer.
pub const DEMO_PEOPLE: [(&str, &str, Role); 5] = [
    ("manager@demo.peyvand.ir", "نرگس امینی", Role::Manager),
    ("rep1@demo.peyvand.ir", "کیان شریفی", Role::Agent),
    ("rep2@demo.peyvand.ir", "Elham Navabi", Role::Agent),
    ("rep3@demo.peyvand.ir", "بهرام صدری", Role::Agent),
    ("support@demo.peyvand.ir", "شیوا مرادی", Role::ReadOnly),
];

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Fills an empty database with the demo data; a database that already has the demo admin is
/// left alone. Returns the e-mail and password to sign in with.
pub async fn seed(db: &Db) -> anyhow::Result<(String, String)> {
    if db.user_for_login(DEMO_EMAIL).await?.is_some() {
        return Ok((DEMO_EMAIL.into(), DEMO_PASSWORD.into()));
    }
    let hash = peyvand_web::auth::hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let admin = db.create_user(DEMO_EMAIL, "مدیر نمونه", Role::Admin, &hash, "fa").await?;
    let actor = Some(admin.id.as_str());
    let mut people = Vec::new();
    for (email, name, role) in DEMO_PEOPLE {
        people.push(
            db.create_user(email, name, role, &hash, if email.starts_with("rep2") { "en" } else { "fa" }).await?.id,
        );
    }
    let (manager, reps) = (people[0].clone(), people[1..4].to_vec());
    let sales = TeamInput { name: "فروش".into(), manager_id: Some(manager.clone()), ..TeamInput::default() };
    let sales = db.create_team(&sales).await?;
    for (name, members) in [("فروش تهران", &reps[..2]), ("فروش اصفهان", &reps[2..])] {
        let team = TeamInput {
            name: name.into(),
            parent_id: Some(sales.id.clone()),
            members: members.to_vec(),
            ..TeamInput::default()
        };
        db.create_team(&team).await?;
    }
    let cost: NewField = serde_json::from_value(json!({
        "api_name": "cost", "label_fa": "قیمت تمام‌شده", "label_en": "Cost price", "type": "currency"
    }))?;
    db.add_field(actor, "product", cost).await?;
    db.set_field_access(Role::Agent, "product", "cost", FieldAccess::Hidden).await?;
    let tier: NewField = serde_json::from_value(json!({
        "api_name": "loyalty_tier", "label_fa": "سطح وفاداری", "label_en": "Loyalty tier", "type": "select", "indexed": true,
        "options": {"options": [
            {"value": "bronze", "label_fa": "برنزی", "label_en": "Bronze"},
            {"value": "silver", "label_fa": "نقره‌ای", "label_en": "Silver"},
            {"value": "gold", "label_fa": "طلایی", "label_en": "Gold"}]}
    }))?;
    db.add_field(actor, "contact", tier).await?;
    let revenue: NewField = serde_json::from_value(json!({
        "api_name": "annual_revenue", "label_fa": "درآمد سالانه", "label_en": "Annual revenue", "type": "currency", "indexed": true
    }))?;
    db.add_field(actor, "company", revenue).await?;

    let companies = [
        ("فولاد پارس", "manufacturing", "تهران", "120000000000", "https://foolad-pars.example"),
        ("نرم‌افزار آریا", "technology", "اصفهان", "8500000000", "https://arya-soft.example"),
        ("فروشگاه‌های زنجیره‌ای کوروش", "retail", "شیراز", "56000000000", "https://kourosh.example"),
        ("Caspian Logistics", "services", "رشت", "23000000000", "https://caspian-logistics.example"),
        ("بیمه امید", "finance", "مشهد", "91000000000", "https://omid-insurance.example"),
        ("Zagros Health", "health", "کرمانشاه", "4000000000", "https://zagros-health.example"),
    ];
    let mut company_ids = Vec::new();
    for (name, industry, city, revenue, website) in companies {
        let (c, _) = db
            .create_record(
                actor,
                "company",
                &fields(json!({"name": name, "industry": industry, "city": city, "website": website,
                "annual_revenue": revenue, "lifecycle_stage": "customer", "owner": reps[company_ids.len() % reps.len()]})),
                None,
            )
            .await?;
        company_ids.push(c.id);
    }
    let people = [
        ("علی", "کریمی", "مدیر خرید", "bronze", "lead"),
        ("سارا", "رضایی", "مدیر عامل", "gold", "customer"),
        ("محمد", "حسینی", "کارشناس فنی", "silver", "customer"),
        ("مریم", "احمدی", "مسئول مالی", "gold", "customer"),
        ("Reza", "Tehrani", "Head of Operations", "silver", "opportunity"),
        ("Neda", "Farahani", "Procurement Lead", "bronze", "lead"),
        ("حسین", "موسوی", "مدیر فروش", "gold", "evangelist"),
        ("زهرا", "کاظمی", "کارشناس بازاریابی", "bronze", "subscriber"),
        ("Omid", "Rahimi", "CTO", "silver", "customer"),
        ("فاطمه", "جعفری", "مدیر منابع انسانی", "bronze", "lead"),
        ("امیر", "نوری", "مشاور", "silver", "opportunity"),
        ("Laleh", "Sadeghi", "Marketing Manager", "gold", "customer"),
    ];
    for (i, (first, last, title, tier, stage)) in people.into_iter().enumerate() {
        let source = ["web", "referral", "event", "phone"][i % 4];
        let tags = if i % 3 == 0 { json!(["VIP"]) } else { json!([]) };
        let birth = format!("{}-{:02}-{:02}", 1970 + i * 2, 1 + i % 12, 1 + (i * 7) % 28);
        db.create_record(
            actor,
            "contact",
            &fields(json!({
                "first_name": first, "last_name": last, "job_title": title, "loyalty_tier": tier, "lifecycle_stage": stage,
                "company": company_ids[i % company_ids.len()], "phones": [format!("0912{:07}", 1_000_000 + i * 7919)],
                "emails": [format!("contact{}@demo.peyvand.ir", i + 1)], "birth_date": birth, "owner": reps[i % reps.len()],
                "source": source, "tags": tags
            })),
            None,
        )
        .await?;
    }
    // Each one's side navigation starts with favourites: the admin and the manager the largest
    // customers, each rep the companies they own.
    for (i, company) in company_ids.iter().enumerate() {
        db.set_favourite(&reps[i % reps.len()], "company", company, true).await?;
        if i < 3 {
            db.set_favourite(&admin.id, "company", company, true).await?;
            db.set_favourite(&manager, "company", company, true).await?;
        }
    }
    let mut slice = slice();
    slice.owners = reps.iter().cloned().chain([manager]).collect();
    peyvand_transfer::generate::generate(db, &slice, |_, _| {}).await?;
    Ok((DEMO_EMAIL.into(), DEMO_PASSWORD.into()))
}

/// The generator's part of the demo: enough for lists, boards, timelines and purchase
/// histories to look lived-in, made in a second or two.
pub fn slice() -> peyvand_transfer::generate::GenerateOptions {
    let mut opts = peyvand_transfer::generate::GenerateOptions::scaled(300, 1);
    opts.products = 40;
    opts
}
