//! Generated data: believable bilingual companies, contacts and their activities at any scale,
//! written through the bulk create path (the same rows, index entries, search terms and history
//! as real ones), for demos and benchmarks. The same seed gives the same data. Fields an admin
//! added get plausible values too, so a business can try Peyvand at scale with its own fields.
//!
//! Deals, products and orders join the generator when those objects exist.

use crate::TransferError;
use peyvand_records::{FieldDef, FieldType, Mode, ObjectDef, Origin, Value, validate};
use peyvand_store::{Db, Dialect, PreparedRecords};
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
    pub seed: u64,
    /// Records per transaction.
    pub batch: usize,
}

/// What was generated.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Generated {
    pub companies: usize,
    pub contacts: usize,
    pub activities: usize,
}

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

/// Seconds in the two years activities are spread over, ending at `end` (seconds since 1970).
const SPAN: u64 = 2 * 365 * 86_400;

/// When the `i`-th of `n` activities happened: in the two years before `end`, in order (as a
/// business logs them, so the time index grows at its end as in real use), more of them recent
/// (the business grows): the share of activities up to a moment is the square of the share of
/// the span gone by, as for the larger of two uniform draws.
fn activity_time(rng: &mut Rng, end: u64, i: usize, n: usize) -> u64 {
    let share = (i as f64 + rng.below(1_000) as f64 / 1_000.0) / n.max(1) as f64;
    end - SPAN + (SPAN as f64 * share.sqrt()) as u64
}

/// An activity of `contact` at `at` (seconds since 1970).
fn activity(rng: &mut Rng, at: u64, contact: &str, company: Option<&String>) -> Json {
    let kind = *rng.pick(ACTIVITY_KINDS);
    let at = time::OffsetDateTime::from_unix_timestamp(at as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let subject = if rng.chance(80) { rng.pick(SUBJECTS_FA) } else { rng.pick(SUBJECTS_EN) };
    let mut a = json!({
        "kind": kind,
        "subject": subject,
        "occurred_at": at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
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

/// Generates companies, then contacts that mostly work at them, then their activities. Into
/// an empty database, the indexes that need no checking are built once at the end instead of
/// row by row (see `peyvand_store::Db::defer_indexes_for_load`); progress reports them as
/// "indexes".
pub async fn generate(
    db: &Db,
    opts: &GenerateOptions,
    mut progress: impl FnMut(&str, usize),
) -> Result<Generated, TransferError> {
    let objects = ["company", "contact", "activity"];
    let deferred = db.defer_indexes_for_load(&objects).await?;
    let made = fill(db, opts, &mut progress).await;
    // Built whether or not the load finished: what was written is usable either way.
    if deferred > 0 {
        progress("indexes", 0);
        db.build_deferred_indexes().await?;
        progress("indexes", deferred);
    }
    let made = made?;
    db.refresh_statistics(&objects).await?;
    Ok(made)
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
    let objects = [db.object("company").await?, db.object("contact").await?, db.object("activity").await?];
    let dialect = db.dialect();
    // One batch waits while one is written and the next is made: three in memory at most.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Batch, TransferError>>(1);
    let maker_opts = opts.clone();
    let maker = std::thread::Builder::new()
        .name("generate".into())
        .spawn(move || make(dialect, &objects, &maker_opts, |batch| sender.blocking_send(batch).is_ok()))?;
    let mut made = Generated::default();
    // Returning early drops the receiver, which stops the maker at its next batch.
    while let Some(batch) = receiver.recv().await {
        let Batch { object, records } = batch?;
        let mut tx = db.write_long().await?;
        let written = db.write_prepared(&mut tx, records).await?.len();
        tx.commit().await?;
        let total = match object {
            "company" => &mut made.companies,
            "contact" => &mut made.contacts,
            _ => &mut made.activities,
        };
        *total += written;
        progress(object, *total);
    }
    // The channel also closes when the maker panics: that is an error, not a smaller data set.
    match tokio::task::spawn_blocking(move || maker.join()).await {
        Ok(Ok(())) => Ok(made),
        _ => Err(TransferError::Io(std::io::Error::other("the thread making the data stopped half-way"))),
    }
}

/// Makes companies, their contacts and the contacts' activities in batches of `opts.batch`,
/// handing each to `send` until it returns false (the writer stopped) or a batch fails.
fn make(
    dialect: Dialect,
    [company_def, contact_def, activity_def]: &[Arc<ObjectDef>; 3],
    opts: &GenerateOptions,
    mut send: impl FnMut(Result<Batch, TransferError>) -> bool,
) {
    let mut rng = Rng::new(opts.seed);
    let batch = opts.batch.max(1);
    // Prepares and sends one batch; its ids, or None once nothing more is wanted.
    let mut hand_over = |rng: &mut Rng, object: &'static str, def: &ObjectDef, rows: Vec<Json>| match prepare(
        dialect, rng, def, rows,
    ) {
        Ok(records) => {
            let ids = records.ids.clone();
            send(Ok(Batch { object, records })).then_some(ids)
        }
        Err(e) => {
            send(Err(e));
            None
        }
    };
    let mut company_ids = Vec::with_capacity(opts.companies);
    for start in (0..opts.companies).step_by(batch) {
        let rows: Vec<Json> = (start..(start + batch).min(opts.companies)).map(|i| company(&mut rng, i)).collect();
        let Some(ids) = hand_over(&mut rng, "company", company_def, rows) else { return };
        company_ids.extend(ids);
    }
    // Each contact's id and the index of its company, for its activities.
    let mut contacts: Vec<(String, Option<u32>)> = Vec::with_capacity(opts.contacts);
    for start in (0..opts.contacts).step_by(batch) {
        let mut works_at = Vec::with_capacity(batch);
        let rows: Vec<Json> = (start..(start + batch).min(opts.contacts))
            .map(|i| {
                let at = (!company_ids.is_empty() && rng.chance(80)).then(|| rng.below(company_ids.len()));
                works_at.push(at.map(|k| k as u32));
                contact(&mut rng, i, at.map(|k| &company_ids[k]))
            })
            .collect();
        let Some(ids) = hand_over(&mut rng, "contact", contact_def, rows) else { return };
        contacts.extend(ids.into_iter().zip(works_at));
    }
    if contacts.is_empty() {
        return;
    }
    let end = time::OffsetDateTime::now_utc().unix_timestamp().max(SPAN as i64) as u64;
    for start in (0..opts.activities).step_by(batch) {
        let rows: Vec<Json> = (start..(start + batch).min(opts.activities))
            .map(|i| {
                // Some customers are far busier than others: a quarter of the contacts get half
                // of the activities.
                let k = if rng.chance(50) { rng.below(contacts.len().div_ceil(4)) } else { rng.below(contacts.len()) };
                let (id, company) = &contacts[k];
                let at = activity_time(&mut rng, end, i, opts.activities);
                activity(&mut rng, at, id, company.map(|c| &company_ids[c as usize]))
            })
            .collect();
        if hand_over(&mut rng, "activity", activity_def, rows).is_none() {
            return;
        }
    }
}

/// Fills in the fields an admin added, validates `rows` as new records of `obj` and prepares
/// their statements.
fn prepare(
    dialect: Dialect,
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
    Ok(PreparedRecords::new(dialect, None, obj, &values)?)
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
