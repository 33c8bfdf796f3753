//! Generated data: believable bilingual companies, contacts, products, and the contacts'
//! activities, deals and orders over two years, at any scale, written through the bulk create path
//! (the same rows, index entries, search terms and history as real ones), for demos and
//! benchmarks. The same seed gives the same data. Fields an admin added get plausible values too,
//! so a business can try Peyvand at scale with its own fields.

use crate::TransferError;
use peyvand_records::{FieldDef, FieldType, Mode, ObjectDef, Origin, Value, validate};
use peyvand_store::{CheckedRecords, Db, Dialect, PreparedRecords, WrittenIds};
use serde_json::{Map, Value as Json, json};
use std::sync::Arc;

/// A small, fast, seedable generator (SplitMix64); statistical quality is ample for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A whole number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const FIRST_FA: &[&str] = &[
    "علی",
    "محمد",
    "حسین",
    "رضا",
    "مهدی",
    "امیر",
    "سعید",
    "حمید",
    "مجید",
    "کاوه",
    "بابک",
    "آرش",
    "پویا",
    "نیما",
    "سینا",
    "فرهاد",
    "کیوان",
    "بهرام",
    "زهرا",
    "فاطمه",
    "مریم",
    "سارا",
    "نرگس",
    "لیلا",
    "مینا",
    "شیرین",
    "نگار",
    "الهام",
    "سمیرا",
    "پریسا",
    "ندا",
    "آزاده",
    "مهسا",
    "یاسمن",
    "رویا",
    "ترانه",
];
const LAST_FA: &[&str] = &[
    "کریمی",
    "رضایی",
    "احمدی",
    "حسینی",
    "محمدی",
    "موسوی",
    "جعفری",
    "کاظمی",
    "نوری",
    "صادقی",
    "رحیمی",
    "حیدری",
    "قاسمی",
    "یزدانی",
    "تهرانی",
    "شیرازی",
    "اصفهانی",
    "فرهادی",
    "سلیمانی",
    "عباسی",
    "مرادی",
    "نجفی",
    "طاهری",
    "بهرامی",
    "کرمانی",
    "زمانی",
    "پاکزاد",
    "افشار",
    "صالحی",
    "امینی",
];
const FIRST_EN: &[&str] = &[
    "Ali", "Sara", "Reza", "Neda", "Omid", "Laleh", "Daniel", "Emma", "James", "Olivia", "Arman", "Nina", "David",
    "Mina", "Peter", "Hannah",
];
const LAST_EN: &[&str] = &[
    "Tehrani", "Farahani", "Smith", "Johnson", "Rahimi", "Brown", "Sadeghi", "Miller", "Davis", "Karimi", "Wilson",
    "Moradi", "Taylor", "Clark",
];
const COMPANY_FA_HEAD: &[&str] = &["صنایع", "گروه", "بازرگانی", "شرکت", "فناوری اطلاعات", "تولیدی", "پخش", "مهندسی"];
const COMPANY_FA_TAIL: &[&str] = &[
    "پارس",
    "آریا",
    "البرز",
    "کوروش",
    "سپهر",
    "ایرانیان",
    "نوین",
    "پیشرو",
    "آفتاب",
    "دماوند",
    "زاگرس",
    "خلیج فارس",
    "کاسپین",
    "مهر",
    "آینده",
    "سپید",
];
const COMPANY_EN: &[&str] =
    &["Caspian", "Zagros", "Persepolis", "Alborz", "Silk Road", "Tabriz", "Golestan", "Arvand", "Kish", "Karun"];
const COMPANY_EN_TAIL: &[&str] =
    &["Logistics", "Trading", "Software", "Foods", "Textiles", "Health", "Energy", "Steel", "Media", "Tours"];
const CITIES: &[&str] = &[
    "تهران",
    "مشهد",
    "اصفهان",
    "شیراز",
    "تبریز",
    "کرج",
    "اهواز",
    "قم",
    "رشت",
    "کرمانشاه",
    "یزد",
    "ارومیه",
    "همدان",
    "Kish",
];
const TITLES: &[&str] = &[
    "مدیر عامل",
    "مدیر فروش",
    "کارشناس خرید",
    "مدیر مالی",
    "کارشناس فنی",
    "Head of Procurement",
    "CTO",
    "Marketing Manager",
    "مسئول انبار",
];
const INDUSTRIES: &[&str] =
    &["manufacturing", "retail", "services", "technology", "finance", "health", "education", "construction", "other"];
const STAGES: &[&str] =
    &["subscriber", "lead", "lead", "opportunity", "customer", "customer", "customer", "evangelist", "former"];
const SOURCES: &[&str] = &["web", "phone", "referral", "event", "social", "partner", "other"];

const ACTIVITY_KINDS: &[&str] =
    &["call", "call", "call", "email", "email", "email", "meeting", "note", "note", "sms", "chat", "visit", "social"];
const SUBJECTS_FA: &[&str] = &[
    "پیگیری پیش‌فاکتور",
    "هماهنگی جلسه معرفی محصول",
    "درخواست کاتالوگ",
    "پرسش درباره قیمت",
    "شکایت از تأخیر ارسال",
    "تمدید قرارداد پشتیبانی",
    "معرفی مشتری جدید",
    "ارسال نمونه کالا",
    "بررسی رضایت از خرید",
    "پیشنهاد تخفیف ویژه",
];
const SUBJECTS_EN: &[&str] = &[
    "Quote follow-up",
    "Product demo",
    "Catalogue request",
    "Pricing question",
    "Late delivery",
    "Support renewal",
    "Referral",
    "Sample shipment",
];

/// Products by kind: the category (a value of the product's `category` field) and names in
/// Persian and English.
const PRODUCT_KINDS: &[(&str, &[&str], &[&str])] = &[
    (
        "hardware",
        &["لپ‌تاپ", "چاپگر لیزری", "سرور", "روتر", "مانیتور", "اسکنر"],
        &["Laptop", "Laser printer", "Server", "Router"],
    ),
    (
        "software",
        &["نرم‌افزار حسابداری", "آنتی‌ویروس", "نرم‌افزار انبارداری"],
        &["Accounting suite", "Antivirus", "ERP licence"],
    ),
    (
        "service",
        &["نصب و راه‌اندازی", "قرارداد پشتیبانی", "آموزش کارکنان"],
        &["Installation", "Support contract", "Training"],
    ),
    ("consumable", &["کارتریج", "کاغذ A4", "نوار چاپ"], &["Toner", "A4 paper", "Ribbon"]),
    ("spare_part", &["باتری", "منبع تغذیه", "هارد دیسک"], &["Battery", "Power supply", "Hard disk"]),
];
const DEAL_FA: &[&str] = &["خرید", "تأمین", "قرارداد سالانه", "تمدید", "پروژه"];
const DEAL_EN: &[&str] = &["Purchase of", "Supply of", "Annual contract:", "Renewal:", "Project:"];

/// Records per transaction by default: 5,000 wrote 23 % faster than 1,000 on SQLite (pages every
/// batch touches are written once per commit); the generator then holds about 190 MiB.
pub const BATCH: usize = 5_000;

/// How much to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub companies: usize,
    pub contacts: usize,
    /// Activities (calls, e-mails, meetings, …) spread over the contacts and the last two years.
    pub activities: usize,
    /// Products, in the categories of the standard `category` field, a few of them popular.
    pub products: usize,
    /// Deals of the last two years: the older ones closed (won or lost), the recent ones open.
    pub deals: usize,
    /// Orders of the last two years (one product line each), bought by some of the contacts:
    /// each buyer from the day they first bought until they stopped (many still buy), some far
    /// more often than others, mostly in a category of their own.
    pub orders: usize,
    pub seed: u64,
    /// Records per transaction.
    pub batch: usize,
    /// Users whose records these are, in turn (none: the records have no owner).
    pub owners: Vec<String>,
}

impl GenerateOptions {
    /// How many of each for `contacts` contacts, in the proportions of issue #4's data set (per
    /// million contacts: 100,000 companies, 10 million activities, 300,000 deals, 2 million
    /// orders) and a product for every 500 contacts (at least 20).
    pub fn scaled(contacts: usize, seed: u64) -> GenerateOptions {
        GenerateOptions {
            companies: contacts / 10,
            contacts,
            activities: contacts * 10,
            products: (contacts / 500).max(20),
            deals: contacts * 3 / 10,
            orders: contacts * 2,
            seed,
            batch: BATCH,
            owners: Vec::new(),
        }
    }
}

/// What was generated.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Generated {
    pub companies: usize,
    pub contacts: usize,
    pub activities: usize,
    pub products: usize,
    pub deals: usize,
    pub orders: usize,
}

impl Generated {
    pub fn total(&self) -> usize {
        self.companies + self.contacts + self.activities + self.products + self.deals + self.orders
    }
}

/// The objects generated, in the order they are made (each refers only to those before it).
pub const OBJECTS: [&str; 6] = ["company", "contact", "product", "activity", "deal", "order"];

fn company(rng: &mut Rng, i: usize) -> Json {
    let name = if rng.chance(75) {
        format!("{} {} {}", rng.pick(COMPANY_FA_HEAD), rng.pick(COMPANY_FA_TAIL), i + 1)
    } else {
        format!("{} {} {}", rng.pick(COMPANY_EN), rng.pick(COMPANY_EN_TAIL), i + 1)
    };
    json!({
        "name": name,
        "industry": rng.pick(INDUSTRIES),
        "city": rng.pick(CITIES),
        "phones": [format!("021{:08}", 10_000_000 + i)],
        "website": format!("https://c{}.example.ir", i + 1),
        "lifecycle_stage": rng.pick(STAGES),
        "source": rng.pick(SOURCES),
    })
}

fn contact(rng: &mut Rng, i: usize, company: Option<&String>) -> Json {
    let persian = rng.chance(80);
    let (first, last) =
        if persian { (rng.pick(FIRST_FA), rng.pick(LAST_FA)) } else { (rng.pick(FIRST_EN), rng.pick(LAST_EN)) };
    let year = 1960 + rng.below(45);
    let mut c = json!({
        "first_name": first,
        "last_name": last,
        "emails": [format!("person{}@example.ir", i + 1)],
        "phones": [format!("09{:09}", 120_000_000 + i)],
        "city": rng.pick(CITIES),
        "job_title": rng.pick(TITLES),
        "birth_date": format!("{year}-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)),
        "lifecycle_stage": rng.pick(STAGES),
        "source": rng.pick(SOURCES),
    });
    if let Some(id) = company {
        c["company"] = json!(id);
    }
    if rng.chance(10) {
        c["tags"] = json!(["VIP"]);
    }
    c
}

/// A generated product as the later objects see it.
struct Product {
    name: String,
    /// Index into [`PRODUCT_KINDS`].
    kind: usize,
    /// Rials.
    price: u64,
}

/// The `i`-th product: a kind, a name with a model code, and a price between about 500,000 and
/// 2,000,000,000 rials, spread evenly over the orders of magnitude (consumables cheap, servers
/// dear).
fn product(rng: &mut Rng, i: usize) -> (Product, Json) {
    let kind = i % PRODUCT_KINDS.len();
    let (category, fa, en) = PRODUCT_KINDS[kind];
    let model = format!("{}-{}", (b'A' + rng.below(26) as u8) as char, 100 + rng.below(900));
    let name =
        if rng.chance(75) { format!("{} مدل {model}", rng.pick(fa)) } else { format!("{} {model}", rng.pick(en)) };
    let price = (10f64.powf(5.7 + 3.6 * rng.below(10_000) as f64 / 10_000.0) as u64 / 1_000).max(1) * 1_000;
    let input = json!({
        "name": name,
        "sku": format!("P{:06}", i + 1),
        "category": category,
        "price": price.to_string(),
        "active": !rng.chance(8),
    });
    (Product { name, kind, price }, input)
}

/// Seconds in the two years activities are spread over, ending at `end` (seconds since 1970).
const SPAN: u64 = 2 * 365 * 86_400;
const DAY: u64 = 86_400;

/// When the `i`-th of `n` activities happened: in the two years before `end`, in order (as a
/// business logs them, so the time index grows at its end as in real use), more of them recent
/// (the business grows): the share of activities up to a moment is the square of the share of
/// the span gone by, as for the larger of two uniform draws.
fn activity_time(rng: &mut Rng, end: u64, i: usize, n: usize) -> u64 {
    let share = (i as f64 + rng.below(1_000) as f64 / 1_000.0) / n.max(1) as f64;
    end - SPAN + (SPAN as f64 * share.sqrt()) as u64
}

fn moment(at: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(at as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `at` (seconds since 1970) as a datetime field's input.
fn instant(at: u64) -> String {
    moment(at).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The UTC day of `at`, as a date field's input.
fn day(at: u64) -> String {
    moment(at).date().to_string()
}

/// An activity of `contact` at `at` (seconds since 1970).
fn activity(rng: &mut Rng, at: u64, contact: &str, company: Option<&String>) -> Json {
    let kind = *rng.pick(ACTIVITY_KINDS);
    let subject = if rng.chance(80) { rng.pick(SUBJECTS_FA) } else { rng.pick(SUBJECTS_EN) };
    let mut a = json!({
        "kind": kind,
        "subject": subject,
        "occurred_at": instant(at),
        "contact": contact,
    });
    if matches!(kind, "call" | "email" | "sms" | "chat") {
        a["direction"] = json!(if rng.chance(50) { "inbound" } else { "outbound" });
    }
    if let Some(id) = company {
        a["company"] = json!(id);
    }
    a
}

/// A deal opened at `opened` (seconds since 1970) with a contact, for a product: one expected to
/// close two weeks to four months later is closed if that day is before today (three in ten
/// won), else open in one of the earlier stages.
fn deal(rng: &mut Rng, opened: u64, end: u64, contact: &str, company: Option<&String>, product: &Product) -> Json {
    let name = if rng.chance(80) {
        format!("{} {}", rng.pick(DEAL_FA), product.name)
    } else {
        format!("{} {}", rng.pick(DEAL_EN), product.name)
    };
    let units = 1 + rng.below(if product.price > 100_000_000 { 5 } else { 50 }) as u64;
    let expected = opened + (14 + rng.below(106) as u64) * DAY;
    let mut d = json!({
        "name": name,
        "amount": (product.price * units).to_string(),
        "contact": contact,
        "expected_close": day(expected),
    });
    // Due before today (UTC days, as the date fields hold them): closed.
    if expected / DAY < end / DAY {
        let won = rng.chance(30);
        d["stage"] = json!(if won { "won" } else { "lost" });
        let closed = (expected + rng.below(15) as u64 * DAY).min(end).saturating_sub(rng.below(10) as u64 * DAY);
        d["closed_on"] = json!(day(closed.max(opened)));
    } else {
        let stage = match rng.below(100) {
            0..35 => "qualification",
            35..60 => "needs_analysis",
            60..80 => "proposal",
            _ => "negotiation",
        };
        d["stage"] = json!(stage);
    }
    if let Some(id) = company {
        d["company"] = json!(id);
    }
    d
}

/// One order as generated: who bought, when, what.
struct Order {
    at: u64,
    buyer: u32,
    product: u32,
}

/// A contact who buys: from `from` until `until` (seconds since 1970), mostly in one category.
struct Buyer {
    contact: u32,
    from: u64,
    until: u64,
    kind: usize,
}

/// A normally distributed number (Box–Muller).
fn gaussian(rng: &mut Rng) -> f64 {
    let (u, v) = (unit(rng), unit(rng));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A share in (0, 1), evenly spread.
fn unit(rng: &mut Rng) -> f64 {
    (1 + rng.below(1_000_000)) as f64 / 1_000_001.0
}

/// The purchase history of `contacts` contacts: `n` orders over the two years before `end`, in
/// time order. Six contacts in ten may buy (one whose rate and months draw no order does not:
/// at two orders per contact, about a third of the contacts buy); a buyer's first purchase falls anywhere in the two years,
/// more of them recent (the business grows); each stops buying after a time drawn with a mean of
/// a year and a half (a third of them before the end: the lapsed customers churn analysis looks
/// for); and buyers differ in how often they buy (a rate drawn from a log-normal law, so a few
/// buy very often). Orders go to buyers in proportion to rate × time as a buyer, each at a time
/// in that buyer's months; six in ten are of the buyer's own category, and within a category a
/// few products sell most.
fn purchases(rng: &mut Rng, contacts: usize, products: &[Product], n: usize, end: u64) -> (Vec<Buyer>, Vec<Order>) {
    let mut buyers = Vec::new();
    let mut cumulative = Vec::new();
    let mut weight = 0.0;
    for contact in 0..contacts {
        if !rng.chance(60) {
            continue;
        }
        let from = end - SPAN + (SPAN as f64 * unit(rng).sqrt() * 0.98) as u64;
        let stays = -(unit(rng).ln()) * 1.5 * 365.0 * DAY as f64;
        let until = (from + stays as u64).clamp(from + DAY, end);
        let rate = gaussian(rng).exp();
        weight += rate * (until - from) as f64;
        cumulative.push(weight);
        buyers.push(Buyer { contact: contact as u32, from, until, kind: rng.below(PRODUCT_KINDS.len()) });
    }
    if buyers.is_empty() || products.is_empty() {
        return (buyers, Vec::new());
    }
    let mut by_kind: Vec<Vec<u32>> = vec![Vec::new(); PRODUCT_KINDS.len()];
    for (i, p) in products.iter().enumerate() {
        by_kind[p.kind].push(i as u32);
    }
    // The cube of an even share: the first tenth of a list gets nearly half of the picks.
    let popular = |rng: &mut Rng, list: &[u32]| list[((list.len() as f64) * unit(rng).powi(3)) as usize % list.len()];
    let all: Vec<u32> = (0..products.len() as u32).collect();
    let mut orders: Vec<Order> = (0..n)
        .map(|_| {
            let target = unit(rng) * weight;
            let k = cumulative.partition_point(|&c| c < target).min(buyers.len() - 1);
            let b = &buyers[k];
            let at = b.from + rng.below((b.until - b.from) as usize) as u64;
            let own = &by_kind[b.kind];
            let product = if !own.is_empty() && rng.chance(60) { popular(rng, own) } else { popular(rng, &all) };
            Order { at, buyer: k as u32, product }
        })
        .collect();
    orders.sort_by_key(|o| o.at);
    (buyers, orders)
}

/// The order numbered `number`, as an input: its product, quantity, total and a status that
/// follows its age (recent orders still on their way, older ones delivered or, some, cancelled
/// or returned).
fn order(
    rng: &mut Rng,
    number: usize,
    at: u64,
    end: u64,
    (contact, company): (&str, Option<&String>),
    (product_id, product): (&str, &Product),
) -> Json {
    let quantity: u64 = match rng.below(10) {
        0..7 => 1,
        7..9 => 2,
        _ => 3 + rng.below(8) as u64,
    };
    // One order in ten at a discount of 5 to 20 %.
    let discount = if rng.chance(10) { 5 + rng.below(16) as u64 } else { 0 };
    let total = product.price * quantity * (100 - discount) / 100;
    let age = end.saturating_sub(at);
    let status = if age < 3 * DAY {
        if rng.chance(40) { "pending" } else { "paid" }
    } else if age < 10 * DAY {
        if rng.chance(30) { "paid" } else { "shipped" }
    } else {
        match rng.below(100) {
            0..90 => "delivered",
            90..96 => "cancelled",
            _ => "returned",
        }
    };
    let channel = match rng.below(100) {
        0..45 => "online",
        45..70 => "store",
        70..85 => "phone",
        _ => "dealer",
    };
    let mut o = json!({
        "number": format!("SO-{:08}", number),
        "contact": contact,
        "product": product_id,
        "quantity": quantity,
        "total": total.to_string(),
        "ordered_at": instant(at),
        "status": status,
        "channel": channel,
    });
    if let Some(id) = company {
        o["company"] = json!(id);
    }
    o
}

/// A plausible value for a field an admin added, by its type; `None` leaves it empty (types
/// without a sensible random value, and unique fields, which random values would break).
fn custom_value(rng: &mut Rng, f: &FieldDef) -> Option<Json> {
    if f.unique {
        return None;
    }
    let day = |rng: &mut Rng| {
        let d = time::Date::from_calendar_date(2023, time::Month::January, 1).ok()?;
        d.checked_add(time::Duration::days(rng.below(3 * 365) as i64))
    };
    Some(match f.field_type {
        FieldType::Integer => json!(rng.below(100_000)),
        FieldType::Rating => json!(1 + rng.below(f.options.max.unwrap_or(5).max(1) as usize)),
        FieldType::Decimal | FieldType::Currency => json!(rng.below(1_000_000).to_string()),
        FieldType::Boolean => json!(rng.chance(50)),
        FieldType::Select if !f.options.options.is_empty() => json!(rng.pick(&f.options.options).value),
        FieldType::MultiSelect if !f.options.options.is_empty() => json!([rng.pick(&f.options.options).value]),
        FieldType::Date => json!(day(rng)?.to_string()),
        FieldType::Datetime => json!(format!("{}T{:02}:{:02}:00Z", day(rng)?, rng.below(24), rng.below(60))),
        FieldType::Text => json!(format!("{} {}", rng.pick(CITIES), rng.below(1000))),
        _ => return None,
    })
}

/// Generates companies, contacts that mostly work at them, products, then the contacts'
/// activities, deals and orders. Into an empty database, the indexes that need no checking are
/// built once at the end instead of row by row (see `peyvand_store::Db::defer_indexes_for_load`);
/// progress reports them as "indexes". Consumers known and caught up are moved past the
/// generated records' events ([`Db::pass_consumers_over_written`]).
pub async fn generate(
    db: &Db,
    opts: &GenerateOptions,
    mut progress: impl FnMut(&str, usize),
) -> Result<Generated, TransferError> {
    if opts.products == 0 && (opts.deals > 0 || opts.orders > 0) && opts.contacts > 0 {
        return Err(TransferError::NeedsProducts);
    }
    let from = db.placed_end().await?;
    let deferred = db.defer_indexes_for_load(&OBJECTS).await?;
    let made = fill(db, opts, &mut progress).await;
    // Built whether or not the load finished: what was written is usable either way.
    if deferred > 0 {
        progress("indexes", 0);
        db.build_deferred_indexes().await?;
        progress("indexes", deferred);
    }
    let made = made?;
    db.refresh_statistics(&OBJECTS).await?;
    // Generated records are nobody's business after commit (see the method).
    db.pass_consumers_over_written(from).await?;
    Ok(made)
}

/// How the batches will be written, so the maker prepares them for it.
#[derive(Clone, Copy)]
enum Writing {
    Sql(Dialect),
    Native,
}

/// Validated records of one object, ready to write.
struct Batch {
    object: &'static str,
    records: PreparedRecords,
}

/// Makes the data on a thread of its own, a batch of records at a time validated and turned
/// into statements, while this task writes the batch before it: making took about a third of
/// the time and writing two thirds, one after the other.
async fn fill(
    db: &Db,
    opts: &GenerateOptions,
    progress: &mut impl FnMut(&str, usize),
) -> Result<Generated, TransferError> {
    let mut defs = Vec::with_capacity(OBJECTS.len());
    for object in OBJECTS {
        defs.push(db.object(object).await?);
    }
    // On SQLite, batches go through a connection of the load's own (`peyvand_store::NativeWriter`).
    let mut native = db.native_writer().await?;
    let writing = match native {
        Some(_) => Writing::Native,
        None => Writing::Sql(db.dialect()),
    };
    // One batch waits while one is written and the next is made: three in memory at most.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Batch, TransferError>>(1);
    // The rows written come back to the maker, which frees them (see `peyvand_store::Spent`).
    let (spent, written) = std::sync::mpsc::channel();
    if let Some(writer) = &mut native {
        writer.send_spent_to(spent);
    }
    // What the load wrote of the objects its records point at: those references need no look-up.
    let mut written_ids = WrittenIds::for_targets_of(&defs.iter().map(|d| d.as_ref()).collect::<Vec<_>>());
    let maker_opts = opts.clone();
    let maker = std::thread::Builder::new().name("generate".into()).spawn(move || {
        make(writing, &defs, &maker_opts, |batch| {
            written.try_iter().for_each(drop);
            sender.blocking_send(batch).is_ok()
        })
    })?;
    let mut made = Generated::default();
    let mut count = |object: &str, written: usize| {
        let total = match object {
            "company" => &mut made.companies,
            "contact" => &mut made.contacts,
            "product" => &mut made.products,
            "activity" => &mut made.activities,
            "deal" => &mut made.deals,
            _ => &mut made.orders,
        };
        *total += written;
        progress(object, *total);
    };
    // A batch checked and waiting for the writer: the next one is checked on a reader while it
    // is written (the check was a fifth of the time, on the writer's path), unless it points at
    // the object being written.
    let mut waiting: Option<(&'static str, CheckedRecords)> = None;
    // Returning early drops the receiver, which stops the maker at its next batch.
    while let Some(batch) = receiver.recv().await {
        let Batch { object, records } = batch?;
        let Some(writer) = &mut native else {
            let mut tx = db.write_long().await?;
            let written = db.write_prepared(&mut tx, records).await?.len();
            tx.commit().await?;
            count(object, written);
            continue;
        };
        let checked = match waiting.take() {
            Some((before, earlier)) if !records.refers_to(before) => {
                let (written, checked) = tokio::join!(
                    db.write_checked_native(writer, earlier),
                    db.check_native_knowing(records, &written_ids)
                );
                let written = written?;
                written_ids.note(before, &written);
                count(before, written.len());
                checked?
            }
            Some((before, earlier)) => {
                let written = db.write_checked_native(writer, earlier).await?;
                written_ids.note(before, &written);
                count(before, written.len());
                db.check_native_knowing(records, &written_ids).await?
            }
            None => db.check_native_knowing(records, &written_ids).await?,
        };
        waiting = Some((object, checked));
    }
    if let Some(writer) = &mut native
        && let Some((object, last)) = waiting.take()
    {
        count(object, db.write_checked_native(writer, last).await?.len());
    }
    if let Some(writer) = native {
        writer.finish().await?;
    }
    // The channel also closes when the maker panics: that is an error, not a smaller data set.
    match tokio::task::spawn_blocking(move || maker.join()).await {
        Ok(Ok(())) => Ok(made),
        _ => Err(TransferError::Io(std::io::Error::other("the thread making the data stopped half-way"))),
    }
}

/// Makes the objects of [`OBJECTS`] (whose definitions `defs` holds, in that order) in batches of
/// `opts.batch`, handing each to `send` until it returns false (the writer stopped) or a batch
/// fails.
fn make(
    writing: Writing,
    defs: &[Arc<ObjectDef>],
    opts: &GenerateOptions,
    mut send: impl FnMut(Result<Batch, TransferError>) -> bool,
) {
    let mut rng = Rng::new(opts.seed);
    let batch = opts.batch.max(1);
    // Makes, prepares and sends the records `0..n` of `OBJECTS[k]` a batch at a time; their ids
    // if `keep` (the records others point to; ten million activities' ids were a gigabyte of
    // memory nobody read), or None once nothing more is wanted.
    let mut made = |rng: &mut Rng, k: usize, n: usize, keep: bool, row: &mut dyn FnMut(&mut Rng, usize) -> Json| {
        let mut ids = Vec::with_capacity(if keep { n } else { 0 });
        for start in (0..n).step_by(batch) {
            let mut rows: Vec<Json> = (start..(start + batch).min(n)).map(|i| row(rng, i)).collect();
            if !opts.owners.is_empty() && defs[k].field(peyvand_records::access::OWNER_FIELD).is_some() {
                for (i, row) in rows.iter_mut().enumerate() {
                    row[peyvand_records::access::OWNER_FIELD] =
                        Json::String(opts.owners[(start + i) % opts.owners.len()].clone());
                }
            }
            match prepare(writing, rng, &defs[k], rows) {
                Ok(records) => {
                    if keep {
                        ids.extend(records.ids.iter().cloned());
                    }
                    if !send(Ok(Batch { object: OBJECTS[k], records })) {
                        return None;
                    }
                }
                Err(e) => {
                    send(Err(e));
                    return None;
                }
            }
        }
        Some(ids)
    };
    let Some(company_ids) = made(&mut rng, 0, opts.companies, true, &mut |rng, i| company(rng, i)) else { return };
    // The index of each contact's company, for its activities, deals and orders.
    let mut works_at: Vec<Option<u32>> = Vec::with_capacity(opts.contacts);
    let Some(contact_ids) = made(&mut rng, 1, opts.contacts, true, &mut |rng, i| {
        let at = (!company_ids.is_empty() && rng.chance(80)).then(|| rng.below(company_ids.len()));
        works_at.push(at.map(|k| k as u32));
        contact(rng, i, at.map(|k| &company_ids[k]))
    }) else {
        return;
    };
    let mut products = Vec::with_capacity(opts.products);
    let Some(product_ids) = made(&mut rng, 2, opts.products, true, &mut |rng, i| {
        let (p, input) = product(rng, i);
        products.push(p);
        input
    }) else {
        return;
    };
    if contact_ids.is_empty() {
        return;
    }
    let company_of = |k: usize| works_at[k].map(|c| &company_ids[c as usize]);
    let end = time::OffsetDateTime::now_utc().unix_timestamp().max(SPAN as i64) as u64;
    // Some customers are far busier than others: a quarter of the contacts get half of the
    // activities and deals.
    let busy = |rng: &mut Rng| {
        if rng.chance(50) { rng.below(contact_ids.len().div_ceil(4)) } else { rng.below(contact_ids.len()) }
    };
    let activities = made(&mut rng, 3, opts.activities, false, &mut |rng, i| {
        let k = busy(rng);
        let at = activity_time(rng, end, i, opts.activities);
        activity(rng, at, &contact_ids[k], company_of(k))
    });
    if activities.is_none() || product_ids.is_empty() {
        return;
    }
    let deals = made(&mut rng, 4, opts.deals, false, &mut |rng, i| {
        let k = busy(rng);
        let opened = activity_time(rng, end, i, opts.deals);
        let p = rng.below(products.len());
        deal(rng, opened, end, &contact_ids[k], company_of(k), &products[p])
    });
    if deals.is_none() {
        return;
    }
    let (buyers, orders) = purchases(&mut rng, contact_ids.len(), &products, opts.orders, end);
    made(&mut rng, 5, orders.len(), false, &mut |rng, i| {
        let o = &orders[i];
        let k = buyers[o.buyer as usize].contact as usize;
        let p = o.product as usize;
        order(rng, i + 1, o.at, end, (&contact_ids[k], company_of(k)), (&product_ids[p], &products[p]))
    });
}

/// Fills in the fields an admin added, validates `rows` as new records of `obj` and prepares
/// their statements.
fn prepare(
    writing: Writing,
    rng: &mut Rng,
    obj: &ObjectDef,
    rows: Vec<Json>,
) -> Result<PreparedRecords, TransferError> {
    let custom: Vec<&FieldDef> = obj.live_fields().filter(|f| f.origin == Origin::Custom).collect();
    let mut inputs: Vec<Map<String, Json>> = rows
        .into_iter()
        .map(|r| match r {
            Json::Object(map) => map,
            _ => Map::new(),
        })
        .collect();
    for input in &mut inputs {
        for f in &custom {
            if let Some(v) = custom_value(rng, f) {
                input.insert(f.api_name.clone(), v);
            }
        }
    }
    let mut values: Vec<Vec<(&FieldDef, Value)>> = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let changes = validate(obj, input, Mode::Create)
            .map_err(|e| TransferError::Store(peyvand_store::Error::Validation(e)))?;
        values.push(changes.values);
    }
    Ok(match writing {
        Writing::Sql(dialect) => PreparedRecords::new(dialect, None, obj, &values)?,
        Writing::Native => PreparedRecords::native(None, obj, &values)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(contact(&mut a, 3, None), contact(&mut b, 3, None));
        let mut c = Rng::new(8);
        assert_ne!((0..5).map(|_| c.next_u64()).collect::<Vec<_>>(), (0..5).map(|_| a.next_u64()).collect::<Vec<_>>());
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    #[test]
    fn activities_come_in_time_order_more_of_them_recent() {
        let (end, n) = (SPAN * 3, 10_000);
        let mut rng = Rng::new(5);
        let times: Vec<u64> = (0..n).map(|i| activity_time(&mut rng, end, i, n)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order");
        assert!(times[0] >= end - SPAN && times[n - 1] < end, "within the two years");
        // Three quarters fall in the later year (the share up to a moment is its square).
        let later = times.iter().filter(|&&t| t >= end - SPAN / 2).count();
        assert!((7_400..=7_600).contains(&later), "{later} of {n} in the later year");
    }
}
