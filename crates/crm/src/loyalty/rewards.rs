//! A program's rewards catalogue and redemption: a discount on the next order (a percent or an
//! amount) or a free product, given as a single-use benefit the next quote or order applies; a
//! voucher code with its expiry; or a custom reward handed over by staff. A redemption is one
//! transaction: the stock taken, the points debited (never beyond the balance, two at once one
//! after the other), the benefit or voucher made; retried with the same key it is the same one.

use super::ledger::{self, Debit, DebitKind};
use super::programs::{self, Program};
use peyvand_records::FieldError;
use peyvand_records::decimal::Decimal;
use peyvand_records::validate::{Mode, validate};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use time::Duration;

/// What a reward gives.
pub const KINDS: [&str; 5] = ["discount_percent", "discount_amount", "free_product", "voucher", "custom"];

fn yes() -> bool {
    true
}
fn quarter() -> i64 {
    90
}

/// A reward as an admin defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardDef {
    pub name_fa: String,
    pub name_en: String,
    pub kind: String,
    pub points: i64,
    /// The percent (`discount_percent`) or the amount (`discount_amount`, `voucher`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The free product (`free_product`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// How many are left; none: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<i64>,
    /// Days the benefit or voucher it gives stays valid.
    #[serde(default = "quarter")]
    pub valid_days: i64,
    #[serde(default = "yes")]
    pub active: bool,
}

/// A reward as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reward {
    pub id: String,
    pub program_id: String,
    #[serde(flatten)]
    pub definition: RewardDef,
}

impl Reward {
    pub fn name(&self, lang: &str) -> &str {
        crate::forms::pick(lang, &self.definition.name_fa, &self.definition.name_en)
    }
}

fn check(def: &RewardDef) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if def.name_fa.trim().is_empty() && def.name_en.trim().is_empty() {
        errors.push(FieldError::new("name_fa", "required"));
    }
    if def.name_fa.chars().count() > 200 || def.name_en.chars().count() > 200 {
        errors.push(FieldError::new("name_fa", "too_long"));
    }
    if !KINDS.contains(&def.kind.as_str()) {
        errors.push(FieldError::new("kind", "invalid_option"));
    }
    if def.points <= 0 {
        errors.push(FieldError::new("points", "not_positive"));
    }
    if def.stock.is_some_and(|s| s < 0) {
        errors.push(FieldError::new("stock", "not_positive"));
    }
    if !(1..=3650).contains(&def.valid_days) {
        errors.push(FieldError::new("valid_days", "out_of_range"));
    }
    let value = def.value.as_deref().map(|v| Decimal::parse(v, 2));
    let percent_ok = value.is_some_and(|v| v.is_ok_and(|d| d.units > 0 && d.units <= 10_000));
    let amount_ok = value.is_some_and(|v| v.is_ok_and(|d| d.units > 0));
    match def.kind.as_str() {
        "discount_percent" if !percent_ok => errors.push(FieldError::new("value", "out_of_range")),
        "discount_amount" | "voucher" if !amount_ok => errors.push(FieldError::new("value", "not_positive")),
        "free_product" if def.product.is_none() => errors.push(FieldError::new("product", "required")),
        _ => {}
    }
    errors
}

fn reward_of(r: &sqlx::any::AnyRow) -> Result<Reward> {
    let json: String = r.try_get(2)?;
    let mut definition: RewardDef =
        serde_json::from_str(&json).map_err(|e| Error::Corrupt(format!("a reward's definition: {e}")))?;
    definition.stock = r.try_get(3)?;
    Ok(Reward { id: r.try_get(0)?, program_id: r.try_get(1)?, definition })
}

/// A program's rewards, the cheapest first.
pub async fn list(db: &Db, program: &str) -> Result<Vec<Reward>> {
    let rows = sqlx::query(
        "SELECT id, program_id, definition_json, stock FROM loyalty_rewards WHERE program_id = $1 ORDER BY points, id",
    )
    .bind(program.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(reward_of).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Reward> {
    let r = sqlx::query("SELECT id, program_id, definition_json, stock FROM loyalty_rewards WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("reward {id}")))?;
    reward_of(&r)
}

/// Saves a reward of `program` (new when `id` is none).
pub async fn save(db: &Db, program: &str, id: Option<&str>, def: RewardDef) -> Result<Reward> {
    let errors = check(&def);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    programs::get(db, program).await?;
    if let Some(p) = &def.product {
        db.system()
            .get_record("product", p, false)
            .await
            .map_err(|_| Error::invalid(FieldError::new("product", "invalid_reference")))?;
    }
    let at = now();
    let json = serde_json::to_string(&def).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut tx = db.write().await?;
    let id = match id {
        Some(id) => {
            let n = sqlx::query(
                "UPDATE loyalty_rewards SET definition_json = $1, points = $2, stock = $3, active = $4, updated_at = $5 \
                 WHERE id = $6 AND program_id = $7",
            )
            .bind(json)
            .bind(def.points)
            .bind(def.stock)
            .bind(i64::from(def.active))
            .bind(at)
            .bind(id.to_string())
            .bind(program.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(Error::NotFound(format!("reward {id}")));
            }
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO loyalty_rewards (id, program_id, definition_json, points, stock, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(id.clone())
            .bind(program.to_string())
            .bind(json)
            .bind(def.points)
            .bind(def.stock)
            .bind(i64::from(def.active))
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id).await
}

/// A reward redeemed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redemption {
    pub id: String,
    pub program_id: String,
    pub contact_id: String,
    pub reward_id: String,
    pub entry_id: String,
    pub points: i64,
    pub order_id: Option<String>,
    /// A voucher's code and the day it can last be used.
    pub code: Option<String>,
    pub expires_on: Option<String>,
    /// The single-use benefit a discount or free product became.
    pub benefit_id: Option<String>,
    pub used_at: Option<String>,
    pub used_order_id: Option<String>,
    pub at: String,
    pub actor: Option<String>,
}

const REDEMPTION_COLUMNS: &str = "id, program_id, contact_id, reward_id, entry_id, points, order_id, code, expires_on, benefit_id, used_at, used_order_id, at, actor";

fn redemption_of(r: &sqlx::any::AnyRow) -> Result<Redemption> {
    Ok(Redemption {
        id: r.try_get(0)?,
        program_id: r.try_get(1)?,
        contact_id: r.try_get(2)?,
        reward_id: r.try_get(3)?,
        entry_id: r.try_get(4)?,
        points: r.try_get(5)?,
        order_id: r.try_get(6)?,
        code: r.try_get(7)?,
        expires_on: r.try_get(8)?,
        benefit_id: r.try_get(9)?,
        used_at: r.try_get(10)?,
        used_order_id: r.try_get(11)?,
        at: r.try_get(12)?,
        actor: r.try_get(13)?,
    })
}

/// A member's redemptions, newest first.
pub async fn redemptions(db: &Db, program: &str, contact: &str, limit: i64) -> Result<Vec<Redemption>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REDEMPTION_COLUMNS} FROM loyalty_redemptions WHERE program_id = $1 AND contact_id = $2 ORDER BY at DESC, id DESC LIMIT $3"
    )))
    .bind(program.to_string())
    .bind(contact.to_string())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(redemption_of).collect()
}

/// What a redemption asks: the reward, the order it is for (if any), and the request's key
/// (a retry with the same key is the same redemption).
pub struct Redeem<'a> {
    pub reward: &'a str,
    pub order: Option<&'a str>,
    pub key: Option<&'a str>,
    pub actor: Option<&'a str>,
}

/// Redeems a reward for a member, in one transaction.
pub async fn redeem(db: &Db, program: &str, contact: &str, ask: Redeem<'_>) -> Result<Redemption> {
    let mut tx = db.write().await?;
    let redemption = redeem_in(db, &mut tx, program, contact, &ask).await?;
    tx.commit().await?;
    Ok(redemption)
}

async fn redeem_in(db: &Db, tx: &mut WriteTx, program: &str, contact: &str, ask: &Redeem<'_>) -> Result<Redemption> {
    let program: Program = programs::get_in(tx, program).await?;
    let dedupe =
        format!("redeem:{contact}:{}", ask.key.map_or_else(new_id, |k| format!("{}:{k}", ask.actor.unwrap_or(""))));
    if ask.key.is_some()
        && let Some(r) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM loyalty_redemptions r JOIN loyalty_entries e ON e.id = r.entry_id WHERE e.program_id = $1 AND e.dedupe = $2",
            REDEMPTION_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
        )))
        .bind(program.id.clone())
        .bind(dedupe.clone())
        .fetch_optional(&mut *tx.tx)
        .await?
    {
        return redemption_of(&r);
    }
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, program_id, definition_json, stock FROM loyalty_rewards WHERE id = $1 AND program_id = $2{}",
        db.dialect().for_update()
    )))
    .bind(ask.reward.to_string())
    .bind(program.id.clone())
    .fetch_optional(&mut *tx.tx)
    .await?
    .ok_or_else(|| Error::invalid(FieldError::new("reward", "invalid_reference")))?;
    let reward = reward_of(&r)?;
    if !reward.definition.active || !program.definition.active {
        return Err(Error::invalid(FieldError::new("reward", "reward_inactive")));
    }
    if let Some(order) = ask.order {
        db.system()
            .get_in(tx, &*db.catalog_cached()?.object("order").ok_or_else(|| Error::NotFound("order".into()))?, order)
            .await
            .map_err(|_| Error::invalid(FieldError::new("order", "invalid_reference")))?;
    }
    let taken =
        sqlx::query("UPDATE loyalty_rewards SET stock = stock - 1 WHERE id = $1 AND stock IS NOT NULL AND stock > 0")
            .bind(reward.id.clone())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
    if reward.definition.stock.is_some() && taken == 0 {
        return Err(Error::invalid(FieldError::new("reward", "out_of_stock")));
    }
    let debit = Debit {
        kind: DebitKind::Redeem,
        points: reward.definition.points,
        spend: 0,
        source: "reward",
        source_id: Some(&reward.id),
        dedupe,
        actor: ask.actor,
        note: None,
        first_lot: None,
    };
    let (entry, _) = ledger::debit_in(db, tx, &program, contact, debit)
        .await?
        .ok_or_else(|| Error::Conflict { code: "redeemed_twice", details: Vec::new() })?;
    let until = (db.today() + Duration::days(reward.definition.valid_days)).to_string();
    let (mut code, mut expires_on, mut benefit) = (None, None, None);
    match reward.definition.kind.as_str() {
        "voucher" => {
            code = Some(random_code(10)?);
            expires_on = Some(until.clone());
        }
        "discount_percent" | "discount_amount" | "free_product" => {
            benefit = Some(reward_benefit(db, tx, &reward, contact, &until).await?);
            expires_on = Some(until.clone());
        }
        _ => {}
    }
    let id = new_id();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO loyalty_redemptions ({REDEMPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11, $12)"
    )))
    .bind(id.clone())
    .bind(program.id.clone())
    .bind(contact.to_string())
    .bind(reward.id.clone())
    .bind(entry.clone())
    .bind(reward.definition.points)
    .bind(ask.order.map(str::to_string))
    .bind(code.clone())
    .bind(expires_on.clone())
    .bind(benefit.clone())
    .bind(now())
    .bind(ask.actor.map(str::to_string))
    .execute(&mut *tx.tx)
    .await?;
    let r =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {REDEMPTION_COLUMNS} FROM loyalty_redemptions WHERE id = $1")))
            .bind(id)
            .fetch_one(&mut *tx.tx)
            .await?;
    redemption_of(&r)
}

/// A code of `len` letters and digits no one confuses (no 0/O, 1/I), from the system's
/// randomness (32 symbols, so a byte's remainder is unbiased): a voucher's, a referral's.
pub(crate) fn random_code(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect())
}

/// The single-use benefit a discount or free product becomes, valid until `until`.
async fn reward_benefit(db: &Db, tx: &mut WriteTx, reward: &Reward, contact: &str, until: &str) -> Result<String> {
    let catalog = db.catalog_cached()?;
    let obj = catalog.object("benefit").ok_or_else(|| Error::NotFound("benefit".into()))?;
    let mut input = Map::new();
    input.insert("name".into(), json!(reward.name("fa")));
    input.insert("applies_to".into(), json!("contact"));
    input.insert("contact".into(), json!(contact));
    input.insert("valid_from".into(), json!(db.today().to_string()));
    input.insert("valid_to".into(), json!(until));
    input.insert("max_uses".into(), json!(1));
    input.insert("active".into(), json!(true));
    let value = reward.definition.value.clone().unwrap_or_default();
    match reward.definition.kind.as_str() {
        "discount_percent" => {
            input.insert("kind".into(), json!("percent_discount"));
            input.insert("percent".into(), json!(value));
        }
        "discount_amount" => {
            input.insert("kind".into(), json!("amount_discount"));
            input.insert("amount".into(), json!({ "amount": value, "currency": "IRR" }));
        }
        _ => {
            // A free product: its price off one line of it.
            let product = reward.definition.product.clone().unwrap_or_default();
            let products = catalog.object("product").ok_or_else(|| Error::NotFound("product".into()))?;
            let p = db.get_in(tx, &products, &product).await?;
            let price = p.fields.get("price").cloned().unwrap_or(Json::Null);
            input.insert("kind".into(), json!("amount_discount"));
            input.insert("product".into(), json!(product));
            input.insert("amount".into(), price);
        }
    }
    let changes = validate(&obj, &input, Mode::Create).map_err(Error::Validation)?;
    db.create_in(tx, None, &obj, &changes.values).await
}

/// Uses a voucher on an order: refused when unknown, used, or past its day.
pub async fn use_voucher(db: &Db, code: &str, order: &str) -> Result<Redemption> {
    let code = code.trim().to_uppercase();
    let mut tx = db.write().await?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REDEMPTION_COLUMNS} FROM loyalty_redemptions WHERE code = $1{}",
        db.dialect().for_update()
    )))
    .bind(code.clone())
    .fetch_optional(&mut *tx.tx)
    .await?
    .ok_or_else(|| Error::invalid(FieldError::new("code", "voucher_unknown")))?;
    let redemption = redemption_of(&r)?;
    if redemption.used_at.is_some() {
        return Err(Error::invalid(FieldError::new("code", "voucher_used")));
    }
    if redemption.expires_on.as_deref().is_some_and(|d| d < db.today().to_string().as_str()) {
        return Err(Error::invalid(FieldError::new("code", "voucher_expired")));
    }
    let orders = db.catalog_cached()?.object("order").ok_or_else(|| Error::NotFound("order".into()))?;
    db.system()
        .get_in(&mut tx, &orders, order)
        .await
        .map_err(|_| Error::invalid(FieldError::new("order", "invalid_reference")))?;
    sqlx::query("UPDATE loyalty_redemptions SET used_at = $1, used_order_id = $2 WHERE id = $3")
        .bind(now())
        .bind(order.to_string())
        .bind(redemption.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    let r =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {REDEMPTION_COLUMNS} FROM loyalty_redemptions WHERE id = $1")))
            .bind(redemption.id)
            .fetch_one(&mut *tx.tx)
            .await?;
    let used = redemption_of(&r)?;
    tx.commit().await?;
    Ok(used)
}
