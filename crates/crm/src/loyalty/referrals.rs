//! Referrals: each customer's code (and a link: a web form's address carrying it), a new
//! customer attributed to whoever brought them — by the code typed at the till, through the
//! API, or by a web form opened from the link — and, when the new customer's first order earns,
//! both rewarded by every active program's rules (`referral` to the referrer, `referred` to the
//! new customer). Nobody refers themselves: the same e-mail, phone, national ID or address on
//! both sides is refused, as is a customer already referred or one who has ordered before.

use super::earning;
use peyvand_records::{FieldError, Value};
use peyvand_store::records::Record;
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::Row;
use std::collections::HashSet;

/// A referral as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Referral {
    pub id: String,
    pub referrer_id: String,
    pub referred_id: String,
    pub code: String,
    /// `staff` (typed by someone), `api`, `form` (a web form opened from the link).
    pub source: String,
    pub at: String,
    pub actor: Option<String>,
    pub rewarded_at: Option<String>,
    /// The order that rewarded it.
    pub order_id: Option<String>,
}

const COLUMNS: &str = "id, referrer_id, referred_id, code, source, at, actor, rewarded_at, order_id";

fn referral_of(r: &sqlx::any::AnyRow) -> Result<Referral> {
    Ok(Referral {
        id: r.try_get(0)?,
        referrer_id: r.try_get(1)?,
        referred_id: r.try_get(2)?,
        code: r.try_get(3)?,
        source: r.try_get(4)?,
        at: r.try_get(5)?,
        actor: r.try_get(6)?,
        rewarded_at: r.try_get(7)?,
        order_id: r.try_get(8)?,
    })
}

/// A contact's code, made the first time it is asked for (eight letters and digits no one
/// confuses).
pub async fn code_for(db: &Db, contact: &str) -> Result<String> {
    if let Some(r) = sqlx::query("SELECT code FROM referral_codes WHERE contact_id = $1")
        .bind(contact.to_string())
        .fetch_optional(db.pool())
        .await?
    {
        return Ok(r.try_get(0)?);
    }
    let mut tx = db.write().await?;
    let code = super::rewards::random_code(8)?;
    sqlx::query(
        "INSERT INTO referral_codes (contact_id, code, created_at) VALUES ($1, $2, $3) ON CONFLICT (contact_id) DO NOTHING",
    )
    .bind(contact.to_string())
    .bind(code)
    .bind(now())
    .execute(&mut *tx.tx)
    .await?;
    let r = sqlx::query("SELECT code FROM referral_codes WHERE contact_id = $1")
        .bind(contact.to_string())
        .fetch_one(&mut *tx.tx)
        .await?;
    let code: String = r.try_get(0)?;
    tx.commit().await?;
    Ok(code)
}

/// Who a contact brought, newest first, and who brought them.
pub async fn of_contact(db: &Db, contact: &str) -> Result<(Vec<Referral>, Option<Referral>)> {
    let made = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM referrals WHERE referrer_id = $1 ORDER BY at DESC LIMIT 100"
    )))
    .bind(contact.to_string())
    .fetch_all(db.pool())
    .await?;
    let by = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM referrals WHERE referred_id = $1")))
        .bind(contact.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok((made.iter().map(referral_of).collect::<Result<_>>()?, by.as_ref().map(referral_of).transpose()?))
}

/// Attributes `referred` to the owner of `code`, in one write.
pub async fn attribute(db: &Db, code: &str, referred: &str, source: &str, actor: Option<&str>) -> Result<Referral> {
    let mut tx = db.write().await?;
    let r = attribute_in(db, &mut tx, code, referred, source, actor).await?;
    tx.commit().await?;
    Ok(r)
}

/// [`attribute`] in the caller's write.
pub(crate) async fn attribute_in(
    db: &Db,
    tx: &mut WriteTx,
    code: &str,
    referred: &str,
    source: &str,
    actor: Option<&str>,
) -> Result<Referral> {
    let code = code.trim().to_uppercase();
    let referrer: String = sqlx::query("SELECT contact_id FROM referral_codes WHERE code = $1")
        .bind(code.clone())
        .fetch_optional(&mut *tx.tx)
        .await?
        .ok_or_else(|| Error::invalid(FieldError::new("code", "referral_unknown")))?
        .try_get(0)?;
    let catalog = db.catalog_cached()?;
    let contacts = catalog.object("contact").ok_or_else(|| Error::NotFound("contact".into()))?;
    let system = db.system();
    let read = async |tx: &mut WriteTx, id: &str| -> Result<Option<Record>> {
        Ok(system.find_in(tx, &contacts, &[("id", Value::Text(id.into()))], 1).await?.into_iter().next())
    };
    let new =
        read(tx, referred).await?.ok_or_else(|| Error::invalid(FieldError::new("contact", "invalid_reference")))?;
    let old = read(tx, &referrer).await?.ok_or_else(|| Error::invalid(FieldError::new("code", "referral_unknown")))?;
    if new.id == old.id || same_person(&new, &old) {
        return Err(Error::invalid(FieldError::new("code", "self_referral")));
    }
    let taken = sqlx::query("SELECT 1 FROM referrals WHERE referred_id = $1")
        .bind(referred.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?;
    if taken.is_some() {
        return Err(Error::invalid(FieldError::new("contact", "already_referred")));
    }
    if let Some(orders) = catalog.object("order")
        && !system.find_in(tx, &orders, &[("contact", Value::Text(referred.into()))], 1).await?.is_empty()
    {
        return Err(Error::invalid(FieldError::new("contact", "not_a_new_customer")));
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO referrals (id, referrer_id, referred_id, code, source, at, actor, rewarded_at, order_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
    )
    .bind(id.clone())
    .bind(referrer)
    .bind(referred.to_string())
    .bind(code)
    .bind(source.to_string())
    .bind(now())
    .bind(actor.map(str::to_string))
    .execute(&mut *tx.tx)
    .await?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM referrals WHERE id = $1")))
        .bind(id)
        .fetch_one(&mut *tx.tx)
        .await?;
    referral_of(&r)
}

/// The values that say who a person is, normalized: e-mails, phones (digits), national ID,
/// address (letters and digits).
fn identity(c: &Record) -> HashSet<String> {
    let mut out = HashSet::new();
    let list = |f: &str| -> Vec<String> {
        match c.fields.get(f) {
            Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).map(str::to_string).collect(),
            Some(Json::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    for e in list("emails") {
        out.insert(format!("e:{}", e.trim().to_lowercase()));
    }
    for p in list("phones").into_iter().chain(list("mobile")) {
        let digits: String = p.chars().filter_map(peyvand_records::normalize::latin_digit).collect();
        if digits.len() >= 7 {
            out.insert(format!("p:{}", &digits[digits.len() - 10.min(digits.len())..]));
        }
    }
    for n in list("national_id") {
        let digits: String = n.chars().filter_map(peyvand_records::normalize::latin_digit).collect();
        if !digits.is_empty() {
            out.insert(format!("n:{digits}"));
        }
    }
    for a in list("address") {
        let key: String = peyvand_records::normalize::normalize(&a).chars().filter(|c| c.is_alphanumeric()).collect();
        if key.chars().count() >= 8 {
            out.insert(format!("a:{key}"));
        }
    }
    out
}

fn same_person(a: &Record, b: &Record) -> bool {
    !identity(a).is_disjoint(&identity(b))
}

/// After an order of `contact` earned: if they were referred and not yet rewarded, both sides
/// get their points in every active program, in the order's write, once.
pub(crate) async fn reward_in(db: &Db, tx: &mut WriteTx, contact: &str, order: &str) -> Result<()> {
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM referrals WHERE referred_id = $1 AND rewarded_at IS NULL"
    )))
    .bind(contact.to_string())
    .fetch_optional(&mut *tx.tx)
    .await?
    else {
        return Ok(());
    };
    let r = referral_of(&r)?;
    earning::award_everywhere_in(db, tx, &r.referrer_id, "referral", &r.referred_id, None).await?;
    earning::award_everywhere_in(db, tx, &r.referred_id, "referred", &r.referrer_id, None).await?;
    sqlx::query("UPDATE referrals SET rewarded_at = $1, order_id = $2 WHERE id = $3")
        .bind(now())
        .bind(order.to_string())
        .bind(r.id)
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}
