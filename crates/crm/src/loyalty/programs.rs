//! A loyalty program as an admin configures it (no code): how points are earned (per amount
//! spent, optionally on a product or category; per action), multipliers by tier and by campaign
//! period, caps per order and per period, tiers qualified by points or spend in a rolling
//! window, and expiry. `earn` computes an order's points from its lines (pure); `check` says
//! everything wrong with a definition at once.

use peyvand_records::FieldError;
use peyvand_records::decimal::Decimal;
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The scale of a multiplier (`1.5`) and of a tier's discount percent.
pub const FACTOR_SCALE: u8 = 2;

/// Longest name and most rules, tiers and periods a program has.
const MAX_NAME: usize = 200;
const MAX_RULES: usize = 50;

/// What earns points per amount spent: `points` for every whole `per` of money, on the lines of
/// `product` or of products in `category` when named, else on the order's total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendRule {
    pub per: String,
    pub points: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// The actions that earn points.
pub const ACTIONS: [&str; 6] = ["join", "birthday", "referral", "referred", "survey_answered", "review"];

/// Points for an action (`ACTIONS`): joining, a birthday, bringing a customer (`referral`, to
/// the referrer), being brought (`referred`), a survey answered, a review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    pub action: String,
    pub points: i64,
}

/// A campaign period (ISO days, both included) multiplying what orders earn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub from: String,
    pub to: String,
    pub factor: String,
}

/// A tier: reached at `threshold` (points or whole money units in the window), with its own
/// earning multiplier and a discount that becomes the member's benefit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub key: String,
    pub name_fa: String,
    pub name_en: String,
    pub threshold: i64,
    #[serde(default = "one")]
    pub factor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_percent: Option<String>,
}

/// At most `points` earned from orders in any `days` days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    pub points: i64,
    pub days: i64,
}

fn one() -> String {
    "1".into()
}
fn yes() -> bool {
    true
}
fn irr() -> String {
    "IRR".into()
}
fn year() -> i64 {
    365
}
fn earning_statuses() -> Vec<String> {
    vec!["paid".into(), "delivered".into()]
}

/// A program's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name_fa: String,
    pub name_en: String,
    #[serde(default = "yes")]
    pub active: bool,
    /// The currency whose orders earn.
    #[serde(default = "irr")]
    pub currency: String,
    #[serde(default)]
    pub spend_rules: Vec<SpendRule>,
    #[serde(default)]
    pub action_rules: Vec<ActionRule>,
    #[serde(default)]
    pub periods: Vec<Period>,
    /// Lowest first; the first is where a member starts (its threshold 0).
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// `points` or `spend`: what qualifies for a tier, in the last `window_days`.
    #[serde(default = "points_word")]
    pub qualify_by: String,
    #[serde(default = "year")]
    pub window_days: i64,
    /// A tier is kept at least this many days after it was reached, whatever the window says.
    #[serde(default)]
    pub keep_days: i64,
    /// Points expire this many days after they were earned; none: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_per_order: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_per_period: Option<Cap>,
    /// The order statuses at which an order earns (once); cancelled and returned take it back.
    #[serde(default = "earning_statuses")]
    pub earn_on: Vec<String>,
    /// Orders made before this day (ISO) earn nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_on: Option<String>,
    /// Days before expiry a member is warned (the workflow trigger "points about to expire").
    #[serde(default = "fortnight")]
    pub warn_days: i64,
    /// The web form (its address's slug) a customer's referral link opens; none: the code only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_form: Option<String>,
}

fn points_word() -> String {
    "points".into()
}
fn fortnight() -> i64 {
    14
}

/// The order statuses that take back what an order earned.
pub const UNDONE: [&str; 2] = ["cancelled", "returned"];

impl Definition {
    /// The program's name in `lang`.
    pub fn name(&self, lang: &str) -> &str {
        crate::forms::pick(lang, &self.name_fa, &self.name_en)
    }

    /// The tier reached with `qualifying` (the highest whose threshold it meets).
    pub fn tier_for(&self, qualifying: i64) -> Option<&Tier> {
        self.tiers.iter().rev().find(|t| qualifying >= t.threshold)
    }

    pub fn tier(&self, key: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.key == key)
    }

    /// The points an action earns, if a rule names it.
    pub fn action_points(&self, action: &str) -> Option<i64> {
        self.action_rules.iter().find(|r| r.action == action).map(|r| r.points).filter(|p| *p > 0)
    }
}

/// A line of an order as earning sees it: its product, the product's category, its amount in
/// whole units of the program's currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub product: Option<String>,
    pub category: Option<String>,
    pub amount: i128,
}

/// An order's points before any cap: each spend rule on the lines it covers (a rule naming no
/// product or category on all of them), times the tier's multiplier and those of the periods
/// `day` (ISO) falls in; rounded down.
pub fn earn(def: &Definition, lines: &[Line], tier: Option<&str>, day: &str) -> i64 {
    let mut base: i128 = 0;
    for rule in &def.spend_rules {
        let Some(per) = whole(&rule.per).filter(|p| *p > 0) else { continue };
        let amount: i128 = lines
            .iter()
            .filter(|l| rule.product.as_ref().is_none_or(|p| l.product.as_ref() == Some(p)))
            .filter(|l| rule.category.as_ref().is_none_or(|c| l.category.as_ref() == Some(c)))
            .map(|l| l.amount.max(0))
            .sum();
        base += amount / per * i128::from(rule.points.max(0));
    }
    let mut factors: Vec<i128> = Vec::new();
    if let Some(t) = tier.and_then(|t| def.tier(t)) {
        factors.push(factor(&t.factor));
    }
    for p in &def.periods {
        if p.from.as_str() <= day && day <= p.to.as_str() {
            factors.push(factor(&p.factor));
        }
    }
    let hundred = 10i128.pow(u32::from(FACTOR_SCALE));
    let mut points = base;
    let mut divisor: i128 = 1;
    for f in factors {
        points *= f;
        divisor *= hundred;
    }
    let points = points / divisor;
    let points = i64::try_from(points).unwrap_or(i64::MAX);
    def.cap_per_order.map_or(points, |cap| points.min(cap))
}

/// A money amount's whole units (`"12500.75"` → 12500).
pub fn whole(text: &str) -> Option<i128> {
    let d = Decimal::parse(text, 6).ok()?;
    Some(i128::from(d.units) / 1_000_000)
}

/// A multiplier at [`FACTOR_SCALE`] (`"1.5"` → 150); one when unreadable (refused at save).
fn factor(text: &str) -> i128 {
    Decimal::parse(text, FACTOR_SCALE).map_or(100, |d| i128::from(d.units))
}

fn valid_day(day: &str) -> bool {
    time::Date::parse(day, &time::format_description::well_known::Iso8601::DATE).is_ok()
}

/// Everything wrong with a definition, each naming its place (`tiers.1.threshold`).
pub fn check(def: &Definition) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut err = |field: String, code: &'static str| errors.push(FieldError::new(&field, code));
    if def.name_fa.trim().is_empty() && def.name_en.trim().is_empty() {
        err("name_fa".into(), "required");
    }
    if def.name_fa.chars().count() > MAX_NAME || def.name_en.chars().count() > MAX_NAME {
        err("name_fa".into(), "too_long");
    }
    if def.spend_rules.len() + def.action_rules.len() + def.periods.len() + def.tiers.len() > MAX_RULES {
        err("spend_rules".into(), "too_many");
    }
    if def.currency.len() != 3 || !def.currency.chars().all(|c| c.is_ascii_uppercase()) {
        err("currency".into(), "invalid_currency");
    }
    for (i, r) in def.spend_rules.iter().enumerate() {
        match whole(&r.per) {
            Some(p) if p > 0 => {}
            Some(_) => err(format!("spend_rules.{i}.per"), "not_positive"),
            None => err(format!("spend_rules.{i}.per"), "invalid_number"),
        }
        if r.points <= 0 {
            err(format!("spend_rules.{i}.points"), "not_positive");
        }
    }
    for (i, r) in def.action_rules.iter().enumerate() {
        if !ACTIONS.contains(&r.action.as_str()) {
            err(format!("action_rules.{i}.action"), "invalid_option");
        }
        if r.points <= 0 {
            err(format!("action_rules.{i}.points"), "not_positive");
        }
        if def.action_rules[..i].iter().any(|o| o.action == r.action) {
            err(format!("action_rules.{i}.action"), "duplicate");
        }
    }
    let positive_factor = |f: &str| Decimal::parse(f, FACTOR_SCALE).is_ok_and(|d| d.units > 0);
    for (i, p) in def.periods.iter().enumerate() {
        if !valid_day(&p.from) {
            err(format!("periods.{i}.from"), "invalid_date");
        }
        if !valid_day(&p.to) || p.to < p.from {
            err(format!("periods.{i}.to"), "invalid_date");
        }
        if !positive_factor(&p.factor) {
            err(format!("periods.{i}.factor"), "not_positive");
        }
    }
    for (i, t) in def.tiers.iter().enumerate() {
        let key_ok = !t.key.is_empty()
            && t.key.len() <= 40
            && t.key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            err(format!("tiers.{i}.key"), "invalid_key");
        } else if def.tiers[..i].iter().any(|o| o.key == t.key) {
            err(format!("tiers.{i}.key"), "duplicate");
        }
        if t.name_fa.trim().is_empty() && t.name_en.trim().is_empty() {
            err(format!("tiers.{i}.name_fa"), "required");
        }
        if i == 0 && t.threshold != 0 {
            err(format!("tiers.{i}.threshold"), "first_tier_starts_at_zero");
        }
        // Tiers overlap unless each starts above the one before.
        if i > 0 && t.threshold <= def.tiers[i - 1].threshold {
            err(format!("tiers.{i}.threshold"), "tiers_overlap");
        }
        if !positive_factor(&t.factor) {
            err(format!("tiers.{i}.factor"), "not_positive");
        }
        if let Some(d) = &t.discount_percent
            && !Decimal::parse(d, FACTOR_SCALE).is_ok_and(|d| d.units > 0 && d.units <= 100 * 100)
        {
            err(format!("tiers.{i}.discount_percent"), "out_of_range");
        }
    }
    if !["points", "spend"].contains(&def.qualify_by.as_str()) {
        err("qualify_by".into(), "invalid_option");
    }
    if !(1..=3650).contains(&def.window_days) {
        err("window_days".into(), "out_of_range");
    }
    if !(0..=3650).contains(&def.keep_days) {
        err("keep_days".into(), "out_of_range");
    }
    if !(0..=365).contains(&def.warn_days) {
        err("warn_days".into(), "out_of_range");
    }
    if def.expiry_days.is_some_and(|d| !(1..=3650).contains(&d)) {
        err("expiry_days".into(), "out_of_range");
    }
    if def.cap_per_order.is_some_and(|c| c <= 0) {
        err("cap_per_order".into(), "not_positive");
    }
    if let Some(c) = &def.cap_per_period
        && (c.points <= 0 || !(1..=3650).contains(&c.days))
    {
        err("cap_per_period".into(), "not_positive");
    }
    const STATUSES: [&str; 5] = ["pending", "paid", "part_shipped", "shipped", "delivered"];
    if def.earn_on.is_empty() || def.earn_on.iter().any(|s| !STATUSES.contains(&s.as_str())) {
        err("earn_on".into(), "invalid_option");
    }
    if def.starts_on.as_deref().is_some_and(|d| !valid_day(d)) {
        err("starts_on".into(), "invalid_date");
    }
    errors
}

/// A program as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Program {
    pub id: String,
    #[serde(flatten)]
    pub definition: Definition,
    pub created_at: String,
    pub updated_at: String,
}

fn parse(id: String, json: &str, created_at: String, updated_at: String) -> Result<Program> {
    let definition =
        serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("a loyalty program's definition: {e}")))?;
    Ok(Program { id, definition, created_at, updated_at })
}

/// Every program, the oldest first.
pub async fn list(db: &Db) -> Result<Vec<Program>> {
    let rows = sqlx::query("SELECT id, definition_json, created_at, updated_at FROM loyalty_programs ORDER BY id")
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(|r| parse(r.try_get(0)?, &r.try_get::<String, _>(1)?, r.try_get(2)?, r.try_get(3)?)).collect()
}

/// The active programs, read in `tx` (earning looks them up in the order's write).
pub async fn active_in(tx: &mut peyvand_store::WriteTx) -> Result<Vec<Program>> {
    let rows = sqlx::query(
        "SELECT id, definition_json, created_at, updated_at FROM loyalty_programs WHERE active = 1 ORDER BY id",
    )
    .fetch_all(&mut *tx.tx)
    .await?;
    rows.into_iter().map(|r| parse(r.try_get(0)?, &r.try_get::<String, _>(1)?, r.try_get(2)?, r.try_get(3)?)).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Program> {
    let r = sqlx::query("SELECT id, definition_json, created_at, updated_at FROM loyalty_programs WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("loyalty program {id}")))?;
    parse(r.try_get(0)?, &r.try_get::<String, _>(1)?, r.try_get(2)?, r.try_get(3)?)
}

/// A program read in `tx`.
pub async fn get_in(tx: &mut peyvand_store::WriteTx, id: &str) -> Result<Program> {
    let r = sqlx::query("SELECT id, definition_json, created_at, updated_at FROM loyalty_programs WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("loyalty program {id}")))?;
    parse(r.try_get(0)?, &r.try_get::<String, _>(1)?, r.try_get(2)?, r.try_get(3)?)
}

/// Saves a program (new when `id` is none) after checking it; a tier in use by members cannot
/// be removed.
pub async fn save(db: &Db, id: Option<&str>, def: Definition) -> Result<Program> {
    let mut def = def;
    def.name_fa = def.name_fa.trim().to_string();
    def.name_en = def.name_en.trim().to_string();
    let errors = check(&def);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if let Some(slug) = def.referral_form.as_deref().filter(|s| !s.is_empty()) {
        let form = crate::forms::published(db, slug)
            .await
            .map_err(|_| Error::invalid(FieldError::new("referral_form", "unknown_form")))?;
        if form.definition.object != "contact" {
            return Err(Error::invalid(FieldError::new("referral_form", "form_mismatch")));
        }
    }
    def.referral_form = def.referral_form.filter(|s| !s.is_empty());
    let at = now();
    let json = serde_json::to_string(&def).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let old = get_in(&mut tx, id).await?;
            for t in &old.definition.tiers {
                if def.tier(&t.key).is_none() {
                    let used = sqlx::query("SELECT 1 FROM loyalty_members WHERE program_id = $1 AND tier = $2 LIMIT 1")
                        .bind(id.to_string())
                        .bind(t.key.clone())
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                    if used.is_some() {
                        return Err(Error::invalid(FieldError::new("tiers", "tier_in_use")));
                    }
                }
            }
            sqlx::query("UPDATE loyalty_programs SET definition_json = $1, active = $2, updated_at = $3 WHERE id = $4")
                .bind(json)
                .bind(i64::from(def.active))
                .bind(at.clone())
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await?;
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query("INSERT INTO loyalty_programs (id, definition_json, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(id.clone())
                .bind(json)
                .bind(i64::from(def.active))
                .bind(at.clone())
                .execute(&mut *tx.tx)
                .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Definition {
        serde_json::from_value(serde_json::json!({
            "name_fa": "باشگاه", "name_en": "Club",
            "spend_rules": [{"per": "100000", "points": 1}, {"per": "100000", "points": 1, "category": "service"}],
            "tiers": [
                {"key": "silver", "name_fa": "نقره‌ای", "name_en": "Silver", "threshold": 0},
                {"key": "gold", "name_fa": "طلایی", "name_en": "Gold", "threshold": 1000, "factor": "1.5", "discount_percent": "5"}
            ],
            "periods": [{"from": "2026-12-01", "to": "2026-12-31", "factor": "2"}],
            "cap_per_order": 5000
        }))
        .expect("a definition")
    }

    fn line(category: &str, amount: i128) -> Line {
        Line { product: None, category: Some(category.into()), amount }
    }

    #[test]
    fn an_order_earns_per_amount_by_category_tier_and_period() {
        let def = program();
        let lines = [line("hardware", 250_000), line("service", 180_000)];
        // 430,000 → 4; the service line's 180,000 → 1 more.
        assert_eq!(earn(&def, &lines, Some("silver"), "2026-11-30"), 5);
        assert_eq!(earn(&def, &lines, Some("gold"), "2026-11-30"), 7, "5 × 1.5 rounded down");
        assert_eq!(earn(&def, &lines, Some("gold"), "2026-12-15"), 15, "5 × 1.5 × 2");
        assert_eq!(earn(&def, &[line("x", 99_999)], None, "2026-11-30"), 0);
        assert_eq!(earn(&def, &[line("x", 10_000_000_000)], None, "2026-11-30"), 5000, "capped per order");
        assert_eq!(earn(&def, &[line("x", -500_000)], None, "2026-11-30"), 0, "a refund line earns nothing");
    }

    #[test]
    fn tiers_are_reached_at_their_thresholds() {
        let def = program();
        assert_eq!(def.tier_for(0).map(|t| t.key.as_str()), Some("silver"));
        assert_eq!(def.tier_for(999).map(|t| t.key.as_str()), Some("silver"));
        assert_eq!(def.tier_for(1000).map(|t| t.key.as_str()), Some("gold"));
    }

    #[test]
    fn a_bad_definition_names_each_mistake() {
        let mut def = program();
        def.spend_rules[0].points = -1;
        def.tiers[1].threshold = 0;
        def.tiers.push(def.tiers[0].clone());
        def.periods[0].factor = "0".into();
        def.action_rules.push(ActionRule { action: "dance".into(), points: 5 });
        let found: Vec<(String, &str)> = check(&def).into_iter().map(|e| (e.field, e.code)).collect();
        for want in [
            ("spend_rules.0.points", "not_positive"),
            ("tiers.1.threshold", "tiers_overlap"),
            ("tiers.2.key", "duplicate"),
            ("tiers.2.threshold", "tiers_overlap"),
            ("periods.0.factor", "not_positive"),
            ("action_rules.0.action", "invalid_option"),
        ] {
            assert!(found.iter().any(|(f, c)| f == want.0 && *c == want.1), "{want:?} in {found:?}");
        }
        assert!(check(&program()).is_empty());
    }
}
