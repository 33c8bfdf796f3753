//! The demo data set: an admin, a sales manager over two sales teams of reps, a support agent,
//! two custom fields, a few hand-picked bilingual companies and contacts, a small slice of
//! `peyvand generate` (companies, contacts, products and two years of activities, deals with
//! their stage histories and orders with their lines) owned by the sales people, and a sales
//! story (a second pipeline, price lists, benefits, leads from the web, quotes and an order), so
//! that `peyvand demo` shows a living CRM, and each person sees it as their role and team allow.

use peyvand_records::access::Role;
use peyvand_records::value::format_datetime;
use peyvand_store::Db;
use peyvand_store::access::TeamInput;
use peyvand_store::schema::NewField;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

/// The demo admin's e-mail and password.
pub const DEMO_EMAIL: &str = "admin@demo.peyvand.ir";
pub const DEMO_PASSWORD: &str = "peyvand-demo";

/// The demo's other people (e-mail, name, role), who sign in with the same password: the sales
/// manager (of sales and of the support desk), three reps in two teams, and a support agent who
/// answers the desk's tickets.
pub const DEMO_PEOPLE: [(&str, &str, Role); 5] = [
    ("manager@demo.peyvand.ir", "نرگس امینی", Role::Manager),
    ("rep1@demo.peyvand.ir", "کیان شریفی", Role::Agent),
    ("rep2@demo.peyvand.ir", "Elham Navabi", Role::Agent),
    ("rep3@demo.peyvand.ir", "بهرام صدری", Role::Agent),
    ("support@demo.peyvand.ir", "شیوا مرادی", Role::Agent),
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
    let (manager, reps, support) = (people[0].clone(), people[1..4].to_vec(), people[4].clone());
    let sales = TeamInput { name: "فروش".into(), manager_id: Some(manager.clone()), ..TeamInput::default() };
    let sales = db.create_team(&sales).await?;
    let mut tehran = String::new();
    for (name, members) in [("فروش تهران", &reps[..2]), ("فروش اصفهان", &reps[2..])] {
        let team = TeamInput {
            name: name.into(),
            parent_id: Some(sales.id.clone()),
            members: members.to_vec(),
            ..TeamInput::default()
        };
        let made = db.create_team(&team).await?;
        if tehran.is_empty() {
            tehran = made.id;
        }
    }
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
    let mut contact_ids = Vec::new();
    for (i, (first, last, title, tier, stage)) in people.into_iter().enumerate() {
        let source = ["web", "referral", "event", "phone"][i % 4];
        let tags = if i % 3 == 0 { json!(["VIP"]) } else { json!([]) };
        let group = if i % 3 == 0 { "vip" } else { "retail" };
        let birth = format!("{}-{:02}-{:02}", 1970 + i * 2, 1 + i % 12, 1 + (i * 7) % 28);
        let (contact, _) = db.create_record(
            actor,
            "contact",
            &fields(json!({
                "first_name": first, "last_name": last, "job_title": title, "loyalty_tier": tier, "lifecycle_stage": stage,
                "company": company_ids[i % company_ids.len()], "phones": [format!("0912{:07}", 1_000_000 + i * 7919)],
                "emails": [format!("contact{}@demo.peyvand.ir", i + 1)], "birth_date": birth, "owner": reps[i % reps.len()],
                "source": source, "tags": tags, "customer_group": group
            })),
            None,
        )
        .await?;
        contact_ids.push((contact.id, reps[i % reps.len()].clone()));
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
    slice.owners = reps.iter().cloned().chain([manager.clone()]).collect();
    peyvand_transfer::generate::generate(db, &slice, |_, _| {}).await?;
    peyvand_crm::settle_bulk_load(db).await?;
    sales_story(db, actor, &reps, &company_ids).await?;
    day_story(db, actor, &manager, &contact_ids).await?;
    customer_story(db, actor, &tehran, &reps, &contact_ids).await?;
    service_story(db, actor, &manager, &support, &contact_ids).await?;
    feedback_story(db, actor, &manager, &contact_ids).await?;
    automation_story(db, actor, &manager, &contact_ids).await?;
    loyalty_story(db, actor, &contact_ids).await?;
    marketing_story(db, actor).await?;
    insights_story(db, &manager, &admin.id, &reps).await?;
    portal_story(db, &support, &contact_ids).await?;
    Ok((DEMO_EMAIL.into(), DEMO_PASSWORD.into()))
}

/// Reports the manager keeps and shares: revenue by Jalali month and sales channel (stacked),
/// the open pipeline by stage (a funnel), tickets by category and priority (a pivot), and
/// customers by city with their distinct owners.
async fn insights_story(db: &Db, manager: &str, admin: &str, reps: &[String]) -> anyhow::Result<()> {
    use peyvand_crm::insights::reports::{self, ReportDef};
    let as_manager = db.for_viewer(db.viewer_for(manager).await?);
    let kept = [
        json!({"name": "درآمد ماهانه به تفکیک کانال فروش", "object": "order", "group": "ordered_at:month,channel",
            "measures": "sum:total", "chart": "stacked", "shared": true,
            "filter": {"field": "status", "op": "in", "value": ["paid", "part_shipped", "shipped", "delivered"]}}),
        json!({"name": "قیف معاملات باز", "object": "deal", "group": "stage", "measures": "sum:amount", "chart": "funnel",
            "shared": true, "filter": {"field": "stage", "op": "in", "value": ["qualification", "needs_analysis", "proposal", "negotiation"]}}),
        json!({"name": "تیکت‌ها به تفکیک دسته و اولویت", "object": "ticket", "group": "category,priority", "chart": "stacked",
            "shared": true}),
        json!({"name": "مشتریان هر شهر", "object": "contact", "group": "city", "measures": "distinct:owner", "chart": "bar"}),
    ];
    let mut saved = Vec::new();
    for def in kept {
        let def: ReportDef = serde_json::from_value(def)?;
        match reports::save(&as_manager, None, def.clone()).await {
            Ok(r) => saved.push(r.id),
            // A report the demo's own objects cannot make is a bug in this story.
            Err(e) => anyhow::bail!("the demo's report {:?}: {e:?}", def.name),
        }
    }
    performance_story(db, manager, admin, reps, &saved).await
}

/// Sales performance: each rep's quota for this Jalali month and each team's for the quarter (a
/// tenth above their pace over the three months before), an award rule recognizing each month's
/// best seller, the manager's own award to the busiest rep, and the manager's shared dashboard
/// of revenue as a KPI beside their reports.
async fn performance_story(
    db: &Db,
    manager: &str,
    admin: &str,
    reps: &[String],
    reports: &[String],
) -> anyhow::Result<()> {
    use peyvand_crm::insights::dashboards::{self, DashboardDef, Widget};
    use peyvand_crm::insights::performance::{self, AwardInput};
    use peyvand_crm::insights::quotas::{self, QuotaInput};
    use peyvand_records::aggregate::{Bucket, Calendar};
    let as_manager = db.for_viewer(db.viewer_for(manager).await?);
    let as_admin = db.for_viewer(db.viewer_for(admin).await?);
    let jalali = Calendar::Jalali;
    // What each rep won in the three months before this one sets their pace.
    let month = Bucket::Month.start(jalali, db.today());
    let mut from = month;
    for _ in 0..3 {
        from = Bucket::Month.start(jalali, from - Duration::days(1));
    }
    let last = Bucket::Month.start(jalali, month - Duration::days(1));
    let board = performance::leaderboard(&as_admin, "won_amount", "IRR", from, month).await?;
    let quota = |user: Option<&str>, team: Option<&str>, period: &str, key: String, target: i64| QuotaInput {
        user_id: user.map(str::to_string),
        team_id: team.map(str::to_string),
        period: period.into(),
        calendar: "jalali".into(),
        key,
        measure: "won_amount".into(),
        target: target.to_string(),
        currency: "IRR".into(),
    };
    // Targets in whole millions of rials, never below fifty million.
    let round = |v: f64| ((v / 1e6).ceil() as i64).max(50) * 1_000_000;
    for rep in reps {
        let won = board.iter().find(|s| s.user_id == *rep).map_or(0.0, |s| s.value);
        let q = quota(Some(rep), None, "month", Bucket::Month.key(jalali, month), round(won / 3.0 * 1.1));
        quotas::save(&as_manager, None, &q).await?;
    }
    let quarter = Bucket::Quarter.key(jalali, db.today());
    for team in db.list_teams().await?.iter().filter(|t| t.members.iter().any(|m| reps.contains(m))) {
        let won: f64 = board.iter().filter(|s| team.members.contains(&s.user_id)).map(|s| s.value).sum();
        quotas::save(&as_admin, None, &quota(None, Some(&team.id), "quarter", quarter.clone(), round(won * 1.1)))
            .await?;
    }
    // The best seller of each month is recognized by a rule (last month's already), and the
    // manager thanks the rep with the most activities by hand.
    let rule = peyvand_crm::insights::award_rules::RuleInput {
        title: "فروشندهٔ برتر ماه".into(),
        reason: "بیشترین مبلغ فرصت‌های موفق در ماه".into(),
        measure: "won_amount".into(),
        period: "month".into(),
        top: 1,
    };
    peyvand_crm::insights::award_rules::create(&as_admin, &rule).await?;
    peyvand_crm::insights::award_rules::apply(db, db.today()).await?;
    let busiest = performance::leaderboard(&as_admin, "activities", "IRR", last, month).await?;
    if let Some(best) = busiest.iter().find(|s| reps.contains(&s.user_id) && s.value > 0.0) {
        let award = AwardInput {
            user_id: best.user_id.clone(),
            title: "پیگیرترین همکار".into(),
            reason: "بیشترین تماس و جلسه با مشتریان در ماه گذشته".into(),
        };
        performance::give(&as_manager, &award).await?;
    }
    let revenue: peyvand_crm::insights::reports::ReportDef = serde_json::from_value(json!({
        "name": "درآمد ماه", "object": "order", "group": "ordered_at:month", "measures": "sum:total", "chart": "kpi",
        "shared": true, "filter": {"field": "status", "op": "in", "value": ["paid", "part_shipped", "shipped", "delivered"]}}))?;
    let kpi = peyvand_crm::insights::reports::save(&as_manager, None, revenue).await?;
    // Revenue by Jalali month and product category, from the order lines, sent every Saturday.
    let by_category: peyvand_crm::insights::reports::ReportDef = serde_json::from_value(json!({
        "name": "درآمد ماهانه به تفکیک دستهٔ کالا", "object": "order_line", "group": "ordered_at:month,product.category",
        "measures": "sum:total", "chart": "stacked", "calendar": "jalali", "shared": true}))?;
    let by_category = peyvand_crm::insights::reports::save(&as_manager, None, by_category).await?;
    let schedule = peyvand_crm::automation::reports::ScheduleInput {
        name: "درآمد هفتگی به تفکیک دسته".into(),
        view_id: String::new(),
        report_id: Some(by_category.id.clone()),
        format: "xlsx".into(),
        recipients: vec![manager.to_string()],
        weekday: Some(0),
        hour: 9,
        enabled: true,
    };
    peyvand_crm::automation::reports::save(db, manager, None, &schedule).await?;
    let report = |id: &String, width: u8| Widget { kind: "report".into(), report: Some(id.clone()), width };
    let mut widgets = vec![report(&kpi.id, 1), Widget::new("quota", 2), Widget::new("leaderboard", 1)];
    widgets.extend(reports.iter().take(2).map(|id| report(id, 2)));
    widgets.push(report(&by_category.id, 4));
    let def = DashboardDef { name: "مرور هفتگی فروش".into(), widgets, shared: true, role: None };
    dashboards::save(&as_manager, None, def).await?;
    // Every customer's value from their orders, and the manager's list of valuable customers
    // at risk of leaving: the ones to call first.
    peyvand_crm::insights::value::score(db).await?;
    // Open leads scored from the converted and lost ones, as each night.
    match peyvand_crm::insights::lead_scores::train(db).await {
        Ok(_) | Err(peyvand_store::Error::Validation(_)) => {}
        Err(e) => return Err(e.into()),
    }
    db.create_view(
        manager,
        &peyvand_records::view::NewView {
            object: "contact".into(),
            name: "مشتریان ارزشمند در خطر ریزش".into(),
            shared: true,
            kind: peyvand_records::view::ViewKind::List,
            filter: Some(json!({"and": [
                {"field": "churn_risk", "op": "in", "value": ["medium", "high"]},
                {"field": "lifetime_value", "op": "gte", "value": "100000000"}
            ]})),
            sort: "-lifetime_value".into(),
            columns: vec!["churn_risk".into(), "lifetime_value".into(), "rfm_segment".into(), "owner".into()],
            group_by: None,
        },
    )
    .await?;
    commissions_story(db, manager, admin, reps).await
}

/// Commissions: every rep on one plan since the Jalali year began (2 % of paid orders, services
/// 5 %, ×1.5 from their quota and ×2 from half as much again), last month's paid-order quotas at
/// their pace, one order split between two reps, the first rep's statement approved and locked,
/// and then one of its orders returned, clawed back in this month's statement.
async fn commissions_story(db: &Db, manager: &str, admin: &str, reps: &[String]) -> anyhow::Result<()> {
    use peyvand_crm::insights::commissions::{self, PlanInput, Split, Tier};
    use peyvand_crm::insights::performance;
    use peyvand_crm::insights::quotas::{self, PAID, QuotaInput};
    use peyvand_records::aggregate::{Bucket, Calendar};
    let (as_manager, as_admin) =
        (db.for_viewer(db.viewer_for(manager).await?), db.for_viewer(db.viewer_for(admin).await?));
    let jalali = Calendar::Jalali;
    let month = Bucket::Month.start(jalali, db.today());
    let last = Bucket::Month.start(jalali, month - Duration::days(1));
    let mut from = last;
    for _ in 0..3 {
        from = Bucket::Month.start(jalali, from - Duration::days(1));
    }
    let plan = PlanInput {
        name: "پورسانت فروش".into(),
        basis: "paid_orders".into(),
        rate: "2".into(),
        currency: "IRR".into(),
        period: "month".into(),
        calendar: "jalali".into(),
        tiers: vec![
            Tier { from: "100".into(), to: Some("150".into()), multiplier: "1.5".into() },
            Tier { from: "150".into(), to: None, multiplier: "2".into() },
        ],
        category_rates: [("service".to_string(), "5".to_string())].into(),
        members: reps.to_vec(),
        valid_from: peyvand_records::value::format_date(Bucket::Year.start(jalali, from)),
        valid_to: None,
    };
    commissions::save_plan(&as_admin, None, &plan).await?;
    // Last month's paid-order quota of each rep: a tenth above their pace in the three before.
    let pace = performance::leaderboard(&as_admin, "paid_amount", "IRR", from, last).await?;
    for rep in reps {
        let paid = pace.iter().find(|s| s.user_id == *rep).map_or(0.0, |s| s.value);
        let target = ((paid / 3.0 * 1.1 / 1e6).ceil() as i64).max(50) * 1_000_000;
        let q = QuotaInput {
            user_id: Some(rep.clone()),
            team_id: None,
            period: "month".into(),
            calendar: "jalali".into(),
            key: Bucket::Month.key(jalali, last),
            measure: "paid_amount".into(),
            target: target.to_string(),
            currency: "IRR".into(),
        };
        quotas::save(&as_manager, None, &q).await?;
    }
    let key = Bucket::Month.key(jalali, last);
    let Some(first) = reps.first() else { return Ok(()) };
    // Last month's orders of the first rep: the largest is split with the second rep.
    let offset = db.local_offset();
    let at = |d: time::Date| peyvand_records::value::format_datetime(d.midnight().assume_offset(offset));
    let obj = db.object("order").await?;
    let filter = json!({"and": [
        {"field": "owner", "op": "eq", "value": first},
        {"field": "status", "op": "in", "value": PAID},
        {"field": "ordered_at", "op": "gte", "value": at(last)},
        {"field": "ordered_at", "op": "lt", "value": at(month)}
    ]});
    let query = peyvand_store::records::ListQuery {
        filter: Some(peyvand_records::filter::parse_filter(&obj, &filter).map_err(|e| anyhow::anyhow!("{e:?}"))?),
        sort: peyvand_records::filter::parse_sort(&obj, "-total").map_err(|e| anyhow::anyhow!("{e:?}"))?,
        limit: Some(2),
        ..Default::default()
    };
    let orders = db.list_records("order", &query).await?.records;
    if let (Some(largest), Some(second)) = (orders.first(), reps.get(1)) {
        let split = [
            Split { user_id: first.clone(), share: "50".into() },
            Split { user_id: second.clone(), share: "50".into() },
        ];
        commissions::set_splits(&as_manager, "order", &largest.id, &split).await?;
    }
    commissions::approve(&as_manager, first, &key).await?;
    if let Some(returned) = orders.get(1) {
        db.update_record(None, "order", &returned.id, &serde_json::from_value(json!({"status": "returned"}))?, None)
            .await?;
    }
    Ok(())
}

/// Loyalty: a two-tier club (points per million rials, more in the Yalda week; points for joining,
/// birthdays, referrals and surveys; gold at 1,000 points with 5 % off), its rewards, every past
/// order's points posted, one customer's orders reaching gold, a friend she brought rewarding
/// both, a voucher she redeemed, and a workflow telling the owner when a customer's tier moves.
async fn loyalty_story(db: &Db, actor: Option<&str>, contacts: &[(String, String)]) -> anyhow::Result<()> {
    use peyvand_crm::automation::workflows::{self, Action, Definition, Trigger, WorkflowInput};
    use peyvand_crm::loyalty::{earning, programs, referrals, rewards};
    let today = db.today();
    let year = today.year();
    let def: programs::Definition = serde_json::from_value(json!({
        "name_fa": "باشگاه مشتریان پیوند", "name_en": "Peyvand Club",
        "spend_rules": [{"per": "1000000", "points": 1}, {"per": "1000000", "points": 1, "category": "service"}],
        "action_rules": [{"action": "join", "points": 50}, {"action": "birthday", "points": 100},
            {"action": "referral", "points": 300}, {"action": "referred", "points": 150}, {"action": "survey_answered", "points": 20}],
        "periods": [{"from": format!("{year}-12-15"), "to": format!("{year}-12-21"), "factor": "2"}],
        "tiers": [
            {"key": "silver", "name_fa": "نقره‌ای", "name_en": "Silver", "threshold": 0},
            {"key": "gold", "name_fa": "طلایی", "name_en": "Gold", "threshold": 1000, "factor": "1.5", "discount_percent": "5"}
        ],
        "expiry_days": 365, "warn_days": 14, "cap_per_order": 5000
    }))?;
    let club = programs::save(db, None, def).await?;
    for reward in [
        json!({"name_fa": "۱۰٪ تخفیف سفارش بعدی", "name_en": "10% off the next order", "kind": "discount_percent", "points": 500, "value": "10", "valid_days": 60}),
        json!({"name_fa": "کارت هدیهٔ یک میلیون ریالی", "name_en": "1,000,000 IRR gift card", "kind": "voucher", "points": 800, "value": "1000000"}),
        json!({"name_fa": "نصب رایگان", "name_en": "Free installation", "kind": "custom", "points": 300, "stock": 20}),
    ] {
        rewards::save(db, &club.id, None, serde_json::from_value(reward)?).await?;
    }
    // Sara (the second customer) buys twice and reaches gold; her order before the club opened
    // earns with everyone else's below.
    let sara = &contacts[1].0;
    for (days, total) in [(40, "650000000"), (12, "480000000")] {
        let at = format_datetime(OffsetDateTime::now_utc() - Duration::days(days));
        db.create_record(
            actor,
            "order",
            &fields(json!({"contact": sara, "status": "delivered", "ordered_at": at, "owner": contacts[1].1,
                "total": {"amount": total, "currency": "IRR"}})),
            None,
        )
        .await?;
    }
    earning::post_orders(db, &club.id).await?;
    // A friend she brought: his first order rewards both.
    let code = referrals::code_for(db, sara).await?;
    let (nima, _) = db
        .create_record(
            actor,
            "contact",
            &fields(json!({"first_name": "نیما", "last_name": "صالحی", "emails": ["nima.salehi@demo.peyvand.ir"],
                "phones": ["09121234567"], "owner": contacts[1].1, "customer_group": "retail"})),
            None,
        )
        .await?;
    referrals::attribute(db, &code, &nima.id, "staff", actor).await?;
    let at = format_datetime(OffsetDateTime::now_utc() - Duration::days(3));
    db.create_record(
        actor,
        "order",
        &fields(json!({"contact": nima.id, "status": "paid", "ordered_at": at, "owner": contacts[1].1,
            "total": {"amount": "95000000", "currency": "IRR"}})),
        None,
    )
    .await?;
    let gift = rewards::list(db, &club.id).await?.into_iter().find(|r| r.definition.kind == "voucher");
    if let Some(gift) = gift {
        let ask = rewards::Redeem { reward: &gift.id, order: None, key: Some("demo-gift"), actor };
        rewards::redeem(db, &club.id, sara, ask).await?;
    }
    let input = WorkflowInput {
        name: "خبر سطح تازهٔ مشتری به مسئولش".into(),
        object: "contact".into(),
        enabled: true,
        definition: Definition {
            trigger: Trigger::TierChanged { program: Some(club.id.clone()) },
            condition: None,
            steps: vec![Action::Notify {
                users: vec!["owner".into()],
                message: "سطح باشگاه {{ record.first_name }} {{ record.last_name }} تغییر کرد.".into(),
            }],
        },
    };
    workflows::save(db, actor, None, &input).await?;
    Ok(())
}

/// The customer portal: Sara (the club's gold member) has an account that acts for her company
/// and signs in with her e-mail and the demo password (or a code, which waits in the outbox until
/// an SMTP server is set up); she asked from the portal about her latest order, with a photo,
/// and the support agent answered.
async fn portal_story(db: &Db, support: &str, contacts: &[(String, String)]) -> anyhow::Result<()> {
    use peyvand_crm::portal::{self, customer, sign_in};
    use peyvand_crm::service::conversation::{self, Reply};
    let sara = &contacts[1].0;
    let account = portal::invite(db, None, sara, true, false).await?;
    let account = portal::mark_verified(db, &account.id).await?;
    let hash = peyvand_web::auth::hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    sign_in::set_password(db, &account.id, &hash).await?;
    let Some(her) = customer::customer(db, account).await? else { return Ok(()) };
    let latest = customer::documents(db, &her, "order").await?.into_iter().next();
    let ask = customer::NewTicket {
        subject: "زمان نصب بخاری".into(),
        kind: "question".into(),
        body: "سلام، سفارش آخرم رسید. چه روزی برای نصب می‌آیید؟".into(),
        order: latest.map(|o| o.id),
        files: Vec::new(),
    };
    let ticket = customer::open_ticket(db, &her, &ask).await?;
    let reply = Reply {
        body: "سلام سارا خانم، همکار ما فردا ساعت ۱۰ برای نصب می‌آید. اگر زمان دیگری بهتر است همین‌جا بنویسید.".into(),
        public: true,
        status: Some("waiting".into()),
        ..Reply::default()
    };
    conversation::reply(db, support, &ticket.id, &reply).await?;
    Ok(())
}

/// Marketing: two of three recent buyers agreed to the newsletter by e-mail (one has since
/// unsubscribed with the link), a segment of those bought in the last 90 days and opted in, a
/// Yalda newsletter whose template lists each reader's offers, started (its messages wait in the
/// outbox until an SMTP server is set up), and the offers' model built from every order.
async fn marketing_story(db: &Db, actor: Option<&str>) -> anyhow::Result<()> {
    use peyvand_crm::automation::templates::{self, TemplateInput};
    use peyvand_crm::customers::consent;
    use peyvand_crm::marketing::{campaigns, segments};
    peyvand_crm::sales::offers::build(db).await?;
    let buyers: segments::SegmentDef = serde_json::from_value(json!({
        "name": "خریداران ۹۰ روز اخیر", "object": "contact", "conditions": [{"kind": "bought_within", "days": 90}]
    }))?;
    let buyers = segments::save(db, None, buyers).await?;
    let recent = segments::members(db, &buyers).await?;
    let text = "با دریافت خبرنامه و پیشنهادهای ویژه موافقم.";
    let mut tx = db.write().await?;
    for (i, contact) in recent.iter().enumerate().filter(|(i, _)| i % 3 != 2) {
        let source = if i % 2 == 0 { "web_form" } else { "confirm_link" };
        consent::record_in(&mut tx, contact, "email", "granted", source, Some(text), actor, None).await?;
    }
    tx.commit().await?;
    if let Some(leaver) = recent.first() {
        let token = consent::unsubscribe_token(db, leaver, "email").await?;
        consent::unsubscribe(db, &token).await?;
    }
    let opted: segments::SegmentDef = serde_json::from_value(json!({
        "name": "خریداران ۹۰ روز اخیر با رضایت خبرنامه", "object": "contact",
        "conditions": [{"kind": "bought_within", "days": 90}, {"kind": "consented", "channel": "email"}]
    }))?;
    let opted = segments::save(db, None, opted).await?;
    let template = templates::save(
        db,
        None,
        &TemplateInput {
            name: "خبرنامهٔ یلدا".into(),
            channel: "email".into(),
            object: "contact".into(),
            language: "fa".into(),
            subject: "{{ record.first_name }} عزیز، یلدا با پیوند".into(),
            body: "{{ record.first_name }} {{ record.last_name }} گرامی،\n\nبلندترین شب سال نزدیک است. \
                   به پاس همراهی شما، این‌ها را برایتان برگزیده‌ایم:\n\
                   {% for p in offers %}- {{ p.name }}: {{ p.price }}\n{% endfor %}\n\
                   فهرست کامل: https://shop.example/yalda\n\nپیوند — {{ today }}"
                .into(),
        },
    )
    .await?;
    let campaign = campaigns::save(
        db,
        None,
        campaigns::CampaignDef {
            name: "خبرنامهٔ یلدا".into(),
            template: template.id,
            segment: opted.id,
            scheduled_at: None,
            per_minute: 600,
            attribution_days: 14,
        },
    )
    .await?;
    campaigns::start(db, &campaign.id).await?;
    Ok(())
}

/// The customer 360's side of the demo: a meeting with two of a customer's people and a
/// colleague, a weekly team meeting that repeats, a lead form on the website whose visitors
/// reach the Tehran team in turn, and a contact typed twice (ي and ی) waiting in the
/// duplicates queue.
async fn customer_story(
    db: &Db,
    actor: Option<&str>,
    tehran: &str,
    reps: &[String],
    contacts: &[(String, String)],
) -> anyhow::Result<()> {
    use peyvand_crm::activities::participants::{self, Participants};
    use peyvand_crm::forms::{self, Assign, Definition, FormField, Submission};
    let now = time::OffsetDateTime::now_utc();
    let at = |d: time::Duration| peyvand_records::value::format_datetime(now + d);
    let (first, owner) = &contacts[0];
    let (meeting, _) = db
        .create_record(
            actor,
            "activity",
            &fields(json!({"kind": "meeting", "subject": "جلسهٔ بررسی قرارداد سالانه", "occurred_at": at(time::Duration::days(-3)),
                "contact": first, "direction": "outbound", "outcome": "interested", "duration_minutes": 75, "owner": owner})),
            None,
        )
        .await?;
    let who = Participants {
        contacts: contacts.iter().skip(1).take(2).map(|(c, _)| c.clone()).collect(),
        users: vec![reps[1].clone()],
    };
    let mut tx = db.write().await?;
    participants::set_in(&mut tx, &meeting.id, &who).await?;
    tx.commit().await?;
    for rep in reps {
        let weekly = json!({"subject": "جلسهٔ هفتگی تیم فروش", "kind": "meeting", "due_at": at(time::Duration::days(6)),
            "recurrence": "FREQ=WEEKLY;COUNT=52", "video_link": "https://meet.example/weekly", "owner": rep});
        db.create_record(actor, "task", &fields(weekly), None).await?;
    }
    // The website's form: its visitors' leads go to the Tehran team in turn.
    let form = forms::save(
        db,
        None,
        Definition {
            name: "درخواست مشاوره".into(),
            object: "lead".into(),
            fields: ["first_name", "last_name", "emails", "phones", "company_name", "description"]
                .iter()
                .map(|f| FormField { field: f.to_string(), required: *f == "last_name" })
                .collect(),
            intro_fa: "نام و راه تماستان را بگذارید؛ کارشناسان ما امروز تماس می‌گیرند.".into(),
            intro_en: "Leave your name and how to reach you; we will call you today.".into(),
            consent_fa: "با دریافت خبرنامه و پیشنهادهای ویژه موافقم.".into(),
            consent_en: "I agree to receive the newsletter and special offers.".into(),
            consent_required: false,
            thanks_fa: "سپاس! کارشناس ما به‌زودی با شما تماس می‌گیرد.".into(),
            thanks_en: "Thank you! One of our team will call you soon.".into(),
            redirect: None,
            campaign: Some("وب‌سایت".into()),
            assign: Assign::RoundRobin { team: tehran.to_string() },
            active: true,
        },
    )
    .await?;
    for (first_name, last_name, email, source, campaign) in [
        ("نیلوفر", "شکوهی", "niloufar@mail.example", "instagram", "yalda-1405"),
        ("Arash", "Kamali", "arash@mail.example", "google", "brand"),
        ("کامران", "یگانه", "kamran@mail.example", "instagram", "yalda-1405"),
    ] {
        let pairs = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let submission = Submission {
            values: pairs(&[("first_name", first_name), ("last_name", last_name), ("emails", email)]),
            consent: true,
            attribution: pairs(&[("utm_source", source), ("utm_medium", "social"), ("utm_campaign", campaign)]),
            lang: "fa".into(),
        };
        forms::submit(db, &form.slug, &submission).await?;
    }
    // The same customer typed twice, the Arabic way and the Persian way.
    db.create_record(
        actor,
        "contact",
        &fields(json!({"first_name": "علي", "last_name": "كريمي", "phones": ["09121000000"], "owner": reps[0]})),
        None,
    )
    .await?;
    peyvand_crm::customers::queue::scan(db, "contact").await?;
    Ok(())
}

/// The support desk: a support team (the manager over it, the agent in it) whose queue takes
/// every new ticket; a faster service level for VIP customers; a complaints form on the website;
/// three months of tickets — most resolved (some late), a few open, one waiting on the
/// customer, two already past their deadlines (escalated by the runner as the demo starts) —
/// and a conversation on the newest.
async fn service_story(
    db: &Db,
    actor: Option<&str>,
    manager: &str,
    support: &str,
    contacts: &[(String, String)],
) -> anyhow::Result<()> {
    use peyvand_crm::forms::{self, Assign, Definition, FormField, Submission};
    use peyvand_crm::service::conversation::{self, Reply};
    use peyvand_crm::service::levels::{self, Escalation, Policy, Target};
    use peyvand_crm::service::queues::{self, Mode};
    let team = TeamInput {
        name: "پشتیبانی".into(),
        manager_id: Some(manager.to_string()),
        members: vec![support.to_string()],
        ..TeamInput::default()
    };
    let team = db.create_team(&team).await?;
    queues::save(db, actor, &team.id, Mode::RoundRobin).await?;
    let calendar = levels::calendars(db).await?.into_iter().find(|c| c.is_default).map(|c| c.id).unwrap_or_default();
    let target =
        |p: &str, f: i64, r: i64| Target { priority: p.into(), first_response_minutes: f, resolution_minutes: r };
    levels::save_policy(
        db,
        actor,
        None,
        Policy {
            id: String::new(),
            name: "مشتریان ویژه / VIP".into(),
            position: -1,
            categories: vec![],
            customer_groups: vec!["vip".into()],
            calendar,
            targets: vec![
                target("urgent", 15, 120),
                target("high", 30, 240),
                target("normal", 60, 480),
                target("low", 120, 960),
            ],
            warn_minutes: 30,
            escalation: Escalation { notify: true, raise_priority: true, reassign_to: None },
        },
    )
    .await?;
    let form = forms::save(
        db,
        None,
        Definition {
            name: "ثبت شکایت یا درخواست".into(),
            object: "ticket".into(),
            fields: [
                ("requester_name", true),
                ("requester_email", true),
                ("requester_phone", false),
                ("subject", true),
                ("category", false),
                ("description", false),
            ]
            .iter()
            .map(|(f, required)| FormField { field: f.to_string(), required: *required })
            .collect(),
            intro_fa: "مشکل یا درخواستتان را بنویسید؛ کارشناس پشتیبانی در ساعات کاری پاسخ می‌دهد.".into(),
            intro_en: "Tell us the problem or what you need; our support team answers in working hours.".into(),
            consent_fa: String::new(),
            consent_en: String::new(),
            consent_required: false,
            thanks_fa: "درخواست شما ثبت شد و شمارهٔ پیگیری به ایمیلتان می‌آید.".into(),
            thanks_en: "Your request is in; we will be in touch.".into(),
            redirect: None,
            campaign: None,
            assign: Assign::RoundRobin { team: team.id.clone() },
            active: true,
        },
    )
    .await?;
    let now = time::OffsetDateTime::now_utc();
    let at = |d: time::Duration| peyvand_records::value::format_datetime(now + d);
    let subjects = [
        ("complaint", "product_quality", "دستگاه پس از دو روز خاموش شد"),
        ("request", "installation", "درخواست نصب در محل"),
        ("question", "billing", "فاکتور ماه قبل دوبار صادر شده؟"),
        ("complaint", "delivery", "ارسال یک هفته دیر رسید"),
        ("return", "warranty", "مرجوعی به‌علت ایراد رنگ"),
        ("request", "warranty", "تمدید گارانتی"),
        ("complaint", "billing", "Charged twice for one order"),
        ("question", "installation", "Which power adapter fits?"),
    ];
    let priorities = ["normal", "high", "normal", "low", "urgent", "normal"];
    let channels = ["phone", "email", "web_form", "walk_in", "social", "phone"];
    for i in 0..36i64 {
        let (kind, category, subject) = subjects[i as usize % subjects.len()];
        let days_ago = 90 - i * 5 / 2;
        let opened = time::Duration::days(-days_ago) + time::Duration::hours(i % 7);
        let (contact, _) = &contacts[i as usize % contacts.len()];
        let made = db
            .create_record(
                actor,
                "ticket",
                &fields(json!({"subject": subject, "kind": kind, "category": category, "priority": priorities[i as usize % priorities.len()],
                    "channel": channels[i as usize % channels.len()], "contact": contact, "queue": team.id, "owner": support,
                    "opened_at": at(opened)})),
                None,
            )
            .await?
            .0;
        // The older ones answered and resolved, one in four late; the newest still open.
        if days_ago > 6 {
            let late = i % 4 == 1;
            let answered = opened + if late { time::Duration::hours(30) } else { time::Duration::minutes(40 + i * 3) };
            let resolved = opened + if late { time::Duration::days(6) } else { time::Duration::hours(5 + i % 20) };
            let status = if i % 3 == 0 { "closed" } else { "resolved" };
            db.update_record(
                actor,
                "ticket",
                &made.id,
                &fields(json!({"first_response_at": at(answered), "status": status, "resolved_at": at(resolved)})),
                None,
            )
            .await?;
        } else if i == 34 {
            db.update_record(
                actor,
                "ticket",
                &made.id,
                &fields(json!({"first_response_at": at(opened + time::Duration::hours(1)), "status": "waiting"})),
                None,
            )
            .await?;
        }
    }
    // Two that came in from the website today, and a conversation on one of them.
    let mut newest = String::new();
    for (name, email, subject, category) in [
        ("پرستو نیک‌نام", "parastoo@mail.example", "کولر گازی آب می‌دهد", "product_quality"),
        ("Kaveh Daneshvar", "kaveh@mail.example", "Invoice missing the VAT line", "billing"),
    ] {
        let pairs = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sent = Submission {
            values: pairs(&[
                ("requester_name", name),
                ("requester_email", email),
                ("subject", subject),
                ("category", category),
            ]),
            consent: false,
            attribution: pairs(&[]),
            lang: "fa".into(),
        };
        newest = forms::submit(db, &form.slug, &sent).await?.record_id;
    }
    let as_support = db.for_viewer(db.viewer_for(support).await?);
    let note = Reply {
        body: "شماره فاکتور را از بخش مالی بپرسم.".into(), public: false, ..Reply::default()
    };
    conversation::reply(&as_support, support, &newest, &note).await?;
    let answer = Reply {
        body: "Hello Kaveh, thank you for telling us. We are issuing a corrected invoice today.".into(),
        public: true,
        status: Some("open".into()),
        files: Vec::new(),
        article: None,
    };
    conversation::reply(&as_support, support, &newest, &answer).await?;
    Ok(())
}

/// What runs on its own: the three workflows a newcomer expects — a won deal makes an onboarding
/// task and thanks the customer by e-mail; a complaint left unanswered past its first-response
/// target (4 working hours) tells the manager; a customer silent for 90 days gets a follow-up
/// task — with their templates, and one deal won just now, so that its run, the task and the
/// e-mail waiting in the outbox (until an SMTP server is set up) are there to see.
async fn automation_story(
    db: &Db,
    actor: Option<&str>,
    manager: &str,
    contacts: &[(String, String)],
) -> anyhow::Result<()> {
    use peyvand_crm::automation::templates::{self, TemplateInput};
    use peyvand_crm::automation::workflows::{self, Action, Definition, Trigger, WorkflowInput};
    let thanks = templates::save(
        db,
        None,
        &TemplateInput {
            name: "سپاس پس از خرید".into(),
            channel: "email".into(),
            object: "deal".into(),
            language: "fa".into(),
            subject: "سپاس از اعتماد شما — {{ record.name }}".into(),
            body: "{{ record.contact }} گرامی،\n\nاز اینکه {{ record.name }} را به ما سپردید سپاسگزاریم. \
                   مبلغ قرارداد {{ record.amount }} است و {{ owner.name }} در روزهای آینده برای راه‌اندازی با شما تماس می‌گیرد.\n\n\
                   با احترام،\nپیوند — {{ today }}"
                .into(),
        },
    )
    .await?;
    let flows = [
        (
            "پس از برد: راه‌اندازی و سپاس",
            "deal",
            Definition {
                trigger: Trigger::Changed { field: Some("stage".into()), from: None, to: Some(json!("won")) },
                condition: None,
                steps: vec![
                    Action::Create {
                        object: "task".into(),
                        values: fields(json!({"subject": "جلسهٔ راه‌اندازی {{ record.name }}", "priority": "high"})),
                        due_in_days: Some(2),
                    },
                    Action::SendEmail { template: thanks.id.clone() },
                ],
            },
        ),
        (
            "شکایت بی‌پاسخ: خبر به مدیر",
            "ticket",
            Definition {
                trigger: Trigger::Changed {
                    field: Some("first_response_breached".into()),
                    from: None,
                    to: Some(json!(true)),
                },
                condition: Some(json!({"field": "kind", "op": "eq", "value": "complaint"})),
                steps: vec![Action::Notify {
                    users: vec!["manager".into()],
                    message: "شکایت «{{ record.subject }}» از زمان پاسخ نخست گذشت و هنوز پاسخی نگرفته است".into(),
                }],
            },
        ),
        (
            "مشتری خاموش: پیگیری پس از ۹۰ روز",
            "contact",
            Definition {
                trigger: Trigger::DateReached { field: "last_activity_at".into(), offset_days: 90, hour: 9 },
                condition: None,
                steps: vec![Action::Create {
                    object: "task".into(),
                    values: fields(json!({"subject": "تماس پیگیری با {{ record.title }}"})),
                    due_in_days: Some(1),
                }],
            },
        ),
    ];
    let mut flows = flows.to_vec();
    // A customer's e-mail waits for nobody: a task for their owner, due the same day.
    flows.push((
        "ایمیل مشتری: پیگیری همان روز",
        "contact",
        Definition {
            trigger: Trigger::EmailReceived,
            condition: None,
            steps: vec![Action::Create {
                object: "task".into(),
                values: fields(json!({"subject": "پاسخ به ایمیل {{ record.title }}", "priority": "high"})),
                due_in_days: Some(0),
            }],
        },
    ));
    for (name, object, definition) in flows {
        let input = WorkflowInput { name: name.into(), object: object.into(), enabled: true, definition };
        workflows::save(db, actor, None, &input).await?;
    }
    // The manager hears of breaches at once by e-mail and of the rest in the morning's digest,
    // and gets the open deals every Saturday at 8 as a workbook.
    use peyvand_crm::notifications::{self, Preference};
    let choice = |kind: &str, email: &str| Preference { kind: kind.into(), bell: true, email: email.into() };
    notifications::set_preferences(
        db,
        manager,
        &[choice("sla_breach", "instant"), choice("assigned", "daily"), choice("workflow", "daily")],
    )
    .await?;
    let view = db
        .create_view(
            manager,
            &peyvand_records::view::NewView {
                object: "deal".into(),
                name: "معامله‌های باز".into(),
                shared: true,
                kind: peyvand_records::view::ViewKind::List,
                filter: Some(
                    json!({"field": "stage", "op": "in", "value": ["qualification", "proposal", "negotiation"]}),
                ),
                sort: "-amount".into(),
                columns: vec!["stage".into(), "amount".into(), "owner".into()],
                group_by: None,
            },
        )
        .await?;
    peyvand_crm::automation::reports::save(
        db,
        manager,
        None,
        &peyvand_crm::automation::reports::ScheduleInput {
            name: "قیف هفتگی".into(),
            view_id: view.id,
            report_id: None,
            format: "xlsx".into(),
            recipients: vec![manager.to_string()],
            weekday: Some(0),
            hour: 8,
            enabled: true,
        },
    )
    .await?;
    // A deal won now, with the workflows listening: its run, task and e-mail are real.
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = peyvand_store::runner::Runner::new(db.clone(), consumers, kinds);
    runner.register().await?;
    let (contact, rep) = &contacts[1];
    let (deal, _) = db
        .create_record(
            actor,
            "deal",
            &fields(json!({"name": "قرارداد نگهداری سالانه", "contact": contact, "owner": rep, "stage": "negotiation",
                "amount": {"amount": "4800000000", "currency": "IRR"}})),
            None,
        )
        .await?;
    db.update_record(Some(rep), "deal", &deal.id, &fields(json!({"stage": "won", "won_reason": "relationship"})), None)
        .await?;
    while runner.round().await? > 0 {}
    Ok(())
}

/// What customers said: CSAT answers to most resolved tickets (the support agent's page and
/// the report show them), a quarterly NPS to VIP customers with its first answers, a poll on a
/// new product with skip logic, and the suggestion box with ideas, votes and one done.
async fn feedback_story(
    db: &Db,
    actor: Option<&str>,
    manager: &str,
    contacts: &[(String, String)],
) -> anyhow::Result<()> {
    use peyvand_crm::feedback::suggestions;
    use peyvand_crm::feedback::surveys::{self, Choice, Condition, Definition, Invitee, Question, Schedule};
    let now = time::OffsetDateTime::now_utc();
    let answers = |v: Value| v.as_object().cloned().unwrap_or_default();
    // CSAT: the resolved tickets asked their customers; three in four answered, a day later.
    let obj = db.object("ticket").await?;
    let filter = peyvand_records::filter::parse_filter(
        &obj,
        &json!({"field": "status", "op": "in", "value": ["resolved", "closed"]}),
    )
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let query = peyvand_store::records::ListQuery { filter: Some(filter), limit: Some(100), ..Default::default() };
    let done = db.list_records("ticket", &query).await?.records;
    let said = [
        (5, "praise", "خیلی سریع و مؤدبانه جواب دادند."),
        (4, "praise", "مشکل حل شد، ممنون."),
        (2, "comment", "سه بار تماس گرفتم تا کسی جواب داد."),
        (5, "praise", "The technician explained everything clearly."),
        (3, "comment", "حل شد ولی طول کشید."),
        (4, "", ""),
    ];
    for (i, t) in done.iter().enumerate() {
        let Some(inv) = surveys::invitations_for(db, &t.id).await?.into_iter().next() else { continue };
        if i % 4 == 3 {
            continue;
        }
        let (score, key, text) = said[i % said.len()];
        let mut given = json!({"score": score});
        if !key.is_empty() {
            given[key] = json!(text);
        }
        let resolved =
            t.fields.get("resolved_at").and_then(Value::as_str).and_then(peyvand_records::value::parse_datetime);
        let at = resolved.map(|r| r + time::Duration::days(1)).filter(|a| *a < now).unwrap_or(now);
        let token = surveys::link_token(db, &inv.id).await?;
        surveys::answer_at(db, &token, &answers(given), at).await?;
    }
    // NPS every quarter to VIP customers (its first round goes out when the server starts), and
    // eight customers' answers from last month.
    let q = |key: &str, kind: &str, fa: &str, en: &str| Question {
        key: key.into(),
        kind: kind.into(),
        label_fa: fa.into(),
        label_en: en.into(),
        ..Question::default()
    };
    let nps = surveys::save(
        db,
        None,
        Definition {
            name: "NPS فصلی مشتریان ویژه".into(),
            kind: "nps".into(),
            active: true,
            intro_fa: "یک پرسش، کمتر از یک دقیقه.".into(),
            intro_en: "One question, under a minute.".into(),
            thanks_fa: String::new(),
            thanks_en: String::new(),
            questions: vec![
                Question {
                    required: true,
                    ..q(
                        "score",
                        "nps",
                        "چقدر احتمال دارد ما را به دوستانتان پیشنهاد کنید؟",
                        "How likely are you to recommend us to a friend?",
                    )
                },
                q("why", "text", "دلیل اصلی امتیازتان چیست؟", "What is the main reason for your score?"),
            ],
            schedule: Some(Schedule { every_days: 90, customer_groups: vec!["vip".into()], per_run: 200 }),
            expires_days: 30,
        },
    )
    .await?;
    let scores = [10, 9, 9, 8, 7, 10, 6, 3];
    let why = ["پشتیبانی عالی", "", "کیفیت خوب", "", "قیمت کمی بالاست", "همیشه به‌موقع", "", "ارسال دیر بود"];
    for (i, (contact, _)) in contacts.iter().take(scores.len()).enumerate() {
        let made =
            surveys::invite(db, &nps.id, &[Invitee { contact: Some(contact.clone()), ..Invitee::default() }]).await?;
        let mut given = json!({"score": scores[i]});
        if !why[i].is_empty() {
            given["why"] = json!(why[i]);
        }
        let at = now - time::Duration::days(20 + i as i64);
        surveys::answer_at(db, &made[0].1, &answers(given), at).await?;
    }
    // A poll on the new air conditioner: why not, asked only of those who did not buy it.
    let c = |v: &str, fa: &str, en: &str| Choice { value: v.into(), label_fa: fa.into(), label_en: en.into() };
    let poll = surveys::save(
        db,
        None,
        Definition {
            name: "نظرخواهی کولر گازی اینورتر".into(),
            kind: "poll".into(),
            active: true,
            intro_fa: "دربارهٔ کولر گازی تازهٔ ما نظرتان را بگویید.".into(),
            intro_en: "Tell us what you think of our new inverter air conditioner.".into(),
            thanks_fa: String::new(),
            thanks_en: String::new(),
            questions: vec![
                Question {
                    required: true,
                    choices: vec![c("yes", "بله", "Yes"), c("no", "خیر", "No")],
                    ..q("bought", "single", "آن را خریده‌اید؟", "Have you bought it?")
                },
                Question {
                    required: true,
                    choices: vec![
                        c("price", "قیمت", "Price"),
                        c("noise", "کم‌صدایی", "Quiet"),
                        c("power", "مصرف برق کم", "Low power use"),
                    ],
                    when: Some(Condition { question: "bought".into(), any_of: vec!["yes".into()] }),
                    ..q("liked", "multiple", "چه چیزی را پسندیدید؟", "What did you like?")
                },
                Question {
                    when: Some(Condition { question: "bought".into(), any_of: vec!["no".into()] }),
                    ..q("why_not", "text", "چرا نه؟", "Why not?")
                },
                q("stars", "rating", "به طراحی آن چه امتیازی می‌دهید؟", "How do you rate its design?"),
            ],
            schedule: None,
            expires_days: 30,
        },
    )
    .await?;
    let poll_answers = [
        json!({"bought": "yes", "liked": ["noise", "power"], "stars": 5}),
        json!({"bought": "yes", "liked": ["price"], "stars": 4}),
        json!({"bought": "no", "why_not": "منتظر تخفیف پاییزه‌ام", "stars": 4}),
        json!({"bought": "yes", "liked": ["noise"], "stars": 3}),
        json!({"bought": "no", "why_not": "Too big for my flat", "stars": 2}),
    ];
    for (i, (contact, _)) in contacts.iter().skip(2).take(6).enumerate() {
        let made =
            surveys::invite(db, &poll.id, &[Invitee { contact: Some(contact.clone()), ..Invitee::default() }]).await?;
        if let Some(a) = poll_answers.get(i) {
            surveys::answer_at(db, &made[0].1, &answers(a.clone()), now - time::Duration::days(3 + i as i64)).await?;
        }
    }
    // The suggestion box: ideas from customers, on the public board, with votes; one done.
    let ideas = [
        ("پرداخت اقساطی برای کولرها", "فروش قسطی شش‌ماهه برای مشتریان قدیمی", "planned", true),
        ("پیگیری سفارش با پیامک", "Send an SMS when the order leaves the warehouse", "done", true),
        ("ساعت کاری پشتیبانی در پنجشنبه", "پشتیبانی تا ساعت ۱۶ پنجشنبه پاسخ دهد", "under_review", true),
        ("Spare parts shop online", "Let us order filters and remotes on the website", "new", false),
    ];
    for (i, (title, description, status, published)) in ideas.iter().enumerate() {
        let (first, _) = &contacts[(i * 3) % contacts.len()];
        let made = db
            .create_record(
                actor,
                "suggestion",
                &fields(json!({"title": title, "description": description, "contact": first, "owner": manager,
                    "published": published, "category": if i == 3 { "website" } else { "service" }})),
                None,
            )
            .await?
            .0;
        for (voter, _) in contacts.iter().skip(i + 1).step_by(2).take(5 - i) {
            suggestions::add_asker(db, actor, &made.id, voter).await?;
        }
        if *status != "new" {
            db.update_record(actor, "suggestion", &made.id, &fields(json!({"status": status})), None).await?;
        }
    }
    Ok(())
}

/// Everyone's day: for each rep (and the manager) a call overdue since yesterday, a call today
/// with a reminder, a visit later in the week, one done yesterday, and one due a minute after the
/// demo starts whose reminder rings under the bell in the first minute.
async fn day_story(db: &Db, actor: Option<&str>, manager: &str, contacts: &[(String, String)]) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let at = |d: time::Duration| peyvand_records::value::format_datetime(now + d);
    let mut owners: Vec<&str> = contacts.iter().map(|(_, owner)| owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    for (n, owner) in owners.iter().chain([&manager]).enumerate() {
        let theirs: Vec<&str> = contacts.iter().filter(|(_, o)| o == owner).map(|(c, _)| c.as_str()).collect();
        let about = |k: usize| theirs.get(k % theirs.len().max(1)).copied();
        let tasks = [
            json!({"subject": "پیگیری پیش‌فاکتور", "kind": "call", "due_at": at(time::Duration::hours(-20)), "contact": about(0), "priority": "high"}),
            json!({"subject": "تماس برای تمدید قرارداد", "kind": "call", "due_at": at(time::Duration::hours(3 + n as i64)), "reminders": ["15m"], "contact": about(1)}),
            json!({"subject": "بازدید از کارخانه", "kind": "visit", "due_at": at(time::Duration::days(2 + n as i64)), "ends_at": at(time::Duration::days(2 + n as i64) + time::Duration::hours(2)), "place": "شهرک صنعتی", "reminders": ["day_before_9"], "contact": about(2)}),
            json!({"subject": "ارسال کاتالوگ", "kind": "email", "due_at": at(time::Duration::hours(-26)), "status": "done", "contact": about(0)}),
            json!({"subject": "جلسهٔ کوتاه تیم فروش", "kind": "meeting", "due_at": at(time::Duration::minutes(1)), "reminders": ["at_time"], "video_link": "https://meet.example/sales"}),
        ];
        for mut task in tasks {
            task["owner"] = json!(owner);
            db.create_record(actor, "task", &fields(task), None).await?;
        }
    }
    Ok(())
}

/// The generator's part of the demo: enough for lists, boards, timelines and purchase
/// histories to look lived-in, made in a second or two.
pub fn slice() -> peyvand_transfer::generate::GenerateOptions {
    let mut opts = peyvand_transfer::generate::GenerateOptions::scaled(300, 1);
    opts.products = 40;
    opts
}

/// The sales side of the demo: the business's details, a second pipeline, price lists for
/// everyone and for wholesale customers, customers' benefits, leads from the web (two of them
/// converted), and quotes of three products each (one of them ordered).
async fn sales_story(db: &Db, actor: Option<&str>, reps: &[String], companies: &[String]) -> anyhow::Result<()> {
    use peyvand_crm::sales::{business, documents, leads, pipelines};
    let details: std::collections::BTreeMap<String, String> = [
        ("name_fa", "شرکت پیوند صنعت"),
        ("name_en", "Peyvand Sanat Co."),
        ("address_fa", "تهران، خیابان ولیعصر، پلاک ۱۲۳۴"),
        ("address_en", "1234 Valiasr St., Tehran"),
        ("economic_code", "411234567891"),
        ("national_id", "10101234567"),
        ("phone", "021-88001234"),
        ("postal_code", "1513713111"),
        // What serving one ticket costs, for customers' profitability.
        ("cost_per_ticket", "4500000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    business::set(db, &details).await?;
    let stage = |key: &str, fa: &str, en: &str, probability: i64, kind| pipelines::Stage {
        key: key.into(),
        label_fa: fa.into(),
        label_en: en.into(),
        probability,
        kind,
    };
    use pipelines::StageKind::{Lost, Open, Won};
    let dealers = pipelines::Pipeline {
        key: "dealers".into(),
        name_fa: "جذب نماینده".into(),
        name_en: "Dealers".into(),
        position: 0,
        stale_days: Some(14),
        stages: vec![
            stage("dealer_contact", "تماس اولیه", "First contact", 10, Open),
            stage("dealer_visit", "بازدید از فروشگاه", "Shop visit", 35, Open),
            stage("dealer_terms", "توافق شرایط", "Terms agreed", 70, Open),
            stage("dealer_signed", "قرارداد نمایندگی", "Contract signed", 100, Won),
            stage("dealer_declined", "انصراف", "Declined", 0, Lost),
        ],
    };
    pipelines::save(db, actor, None, dealers).await?;
    for (i, (name, stage, amount)) in [
        ("نمایندگی تبریز", "dealer_contact", "450000000"),
        ("نمایندگی شیراز", "dealer_visit", "800000000"),
        ("Isfahan dealership", "dealer_terms", "1200000000"),
        ("نمایندگی اهواز", "dealer_visit", "300000000"),
    ]
    .into_iter()
    .enumerate()
    {
        db.create_record(
            actor,
            "deal",
            &fields(json!({"name": name, "pipeline": "dealers", "stage": stage, "amount": amount,
                "company": companies[i % companies.len()], "owner": reps[i % reps.len()]})),
            None,
        )
        .await?;
    }

    // Price lists: for everyone, and lower for wholesale customers (two companies).
    let system = db.system();
    let products = system
        .list_records("product", &peyvand_store::records::ListQuery { limit: Some(8), ..Default::default() })
        .await?
        .records;
    let public = db
        .create_record(
            actor,
            "price_list",
            &fields(json!({"name": "فهرست قیمت ۱۴۰۵", "valid_from": "2026-03-21"})),
            None,
        )
        .await?
        .0;
    let wholesale = db
        .create_record(
            actor,
            "price_list",
            &fields(json!({"name": "عمده‌فروشی", "applies_to": "group", "customer_group": "wholesale"})),
            None,
        )
        .await?
        .0;
    for p in &products {
        let Some(price) = p.fields.get("price").and_then(|v| v.get("amount")).and_then(Value::as_str) else { continue };
        let price: i64 = price.parse().unwrap_or(0);
        for (list, share) in [(&public.id, 95), (&wholesale.id, 85)] {
            let item = json!({"price_list": list, "product": p.id, "price": (price * share / 100).to_string()});
            db.create_record(actor, "price_list_item", &fields(item), None).await?;
        }
    }
    for company in &companies[..2] {
        db.update_record(actor, "company", company, &fields(json!({"customer_group": "wholesale"})), None).await?;
    }
    // Benefits: a loyal customer's 5 %, a company's free delivery.
    let contacts = system
        .list_records("contact", &peyvand_store::records::ListQuery { limit: Some(3), ..Default::default() })
        .await?
        .records;
    if let Some(c) = contacts.first() {
        let benefit = json!({"name": "مشتری وفادار ۵٪", "kind": "percent_discount", "applies_to": "contact",
            "contact": c.id, "percent": "5", "max_uses": 10});
        db.create_record(actor, "benefit", &fields(benefit), None).await?;
    }
    let delivery = json!({"name": "ارسال رایگان", "kind": "free_delivery", "applies_to": "company",
        "company": companies[0], "description": "ارسال رایگان به تمام شهرها"});
    db.create_record(actor, "benefit", &fields(delivery), None).await?;

    // Leads from the web form, a fair, the phone; two converted, one disqualified.
    let mut lead_ids = Vec::new();
    for (i, (first, last, company, source, status)) in [
        ("نیما", "اکبری", "صنایع غذایی مهر", "web_form", "new"),
        ("Sahar", "Karimi", "Karimi Trading", "web_form", "contacted"),
        ("پویا", "قاسمی", "ساختمانی البرز", "campaign", "qualified"),
        ("رویا", "مقدم", "", "phone", "new"),
        ("Arash", "Vahidi", "Vahidi Motors", "referral", "qualified"),
        ("مهسا", "عباسی", "پخش دارویی سینا", "walk_in", "contacted"),
        ("کامران", "یوسفی", "", "web_form", "disqualified"),
        ("Shirin", "Zand", "Zand Textiles", "campaign", "new"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut lead = json!({"first_name": first, "last_name": last, "source": source, "status": status,
            "emails": [format!("lead{}@example.ir", i + 1)], "phones": [format!("0935{:07}", 2_000_000 + i * 3571)],
            "campaign": if source == "campaign" { "نمایشگاه صنعت ۱۴۰۵" } else { "" }, "owner": reps[i % reps.len()]});
        if !company.is_empty() {
            lead["company_name"] = json!(company);
        }
        if status == "disqualified" {
            lead["disqualify_reason"] = json!("no_budget");
        }
        let made = db.create_record(actor, "lead", &fields(lead), None).await?.0;
        lead_ids.push(made.id);
    }
    let deal = fields(json!({"amount": "950000000", "stage": "proposal"}));
    leads::convert(db, actor, &lead_ids[2], leads::Conversion { deal: Some(deal), ..Default::default() }).await?;
    leads::convert(db, actor, &lead_ids[4], leads::Conversion::default()).await?;
    // Last seasons' leads, decided: referrals and walk-ins that named their company converted
    // most, bare web-form and phone leads least (what the lead scores learn).
    let (firsts, lasts) = (
        ["بهرام", "لیلا", "سامان", "نرگس", "کاوه", "پریسا", "امید", "هدیه"],
        ["نوری", "صادقی", "رستمی", "فاضلی", "بهرامی", "کاظمی", "شریفی", "یزدانی", "حیدری"],
    );
    let reasons = ["no_budget", "no_need", "unreachable", "competitor"];
    for i in 0..48usize {
        let source = ["referral", "walk_in", "web_form", "campaign", "phone"][i % 5];
        let named = i % 3 != 0;
        let mut lead = json!({"first_name": firsts[i % 8], "last_name": lasts[i % 9], "source": source,
            "owner": reps[i % reps.len()], "phones": [format!("0936{:07}", 3_000_000 + i * 7919)]});
        if named {
            lead["company_name"] = json!(format!("شرکت {}", lasts[(i + 3) % 9]));
        }
        if i % 2 == 0 {
            lead["emails"] = json!([format!("past{}@example.ir", i + 1)]);
        }
        let id = db.create_record(actor, "lead", &fields(lead), None).await?.0.id;
        let converts = (named && matches!(source, "referral" | "walk_in")) || i % 7 == 0;
        if converts {
            leads::convert(db, actor, &id, leads::Conversion { no_company: true, ..Default::default() }).await?;
        } else {
            let lost = json!({"status": "disqualified", "disqualify_reason": reasons[i % 4]});
            db.update_record(actor, "lead", &id, &fields(lost), None).await?;
        }
    }

    // Quotes of three products each: one ordered, one sent, one a draft.
    for (i, status) in ["sent", "sent", "draft"].into_iter().enumerate() {
        let quote = json!({"company": companies[i], "contact": contacts.get(i).map(|c| c.id.clone()),
            "status": status, "issued_on": "2026-11-20", "valid_until": "2026-12-20", "owner": reps[i % reps.len()]});
        let quote = db.create_record(actor, "quote", &fields(quote), None).await?.0;
        let lines = products
            .iter()
            .skip(i)
            .take(3)
            .enumerate()
            .map(|(k, p)| fields(json!({"product": p.id, "quantity": (k + 1).to_string()})))
            .collect();
        documents::set_lines(
            db,
            actor,
            documents::Kind::Quote,
            &quote.id,
            documents::LinesInput { version: None, lines },
        )
        .await?;
        if i == 0 {
            documents::order_from_quote(db, actor, &quote.id).await?;
        }
    }
    Ok(())
}
