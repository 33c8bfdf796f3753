//! The business as its quotes and invoices name it (name, address, economic code, national id,
//! phone, postal code, in both languages where words are), kept by key in `sales_business`.

use super::documents::{Kind, set_numbering_in};
use peyvand_records::FieldError;
use peyvand_store::{Db, Error, Result, WriteTx};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;

/// The keys the business's details are kept under, in the order the settings page shows them;
/// the last, what serving one ticket costs (for customers' profitability), is an amount.
pub const KEYS: [&str; 9] = [
    "name_fa",
    "name_en",
    "address_fa",
    "address_en",
    "economic_code",
    "national_id",
    "phone",
    "postal_code",
    "cost_per_ticket",
];

/// Longest value.
const MAX_VALUE: usize = 500;

/// The business's details, by key (absent keys: not given).
pub async fn get(db: &Db) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT key, value FROM sales_business").fetch_all(db.pool()).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Sets the business's details (an empty value removes one); unknown keys and overlong or
/// control-character values are refused by key.
pub async fn set(db: &Db, values: &BTreeMap<String, String>) -> Result<()> {
    let mut tx = db.write().await?;
    set_in(&mut tx, values).await?;
    tx.commit().await
}

/// [`set`] inside a write of the caller's.
pub async fn set_in(tx: &mut WriteTx, values: &BTreeMap<String, String>) -> Result<()> {
    let mut errors = Vec::new();
    for (key, value) in values {
        if !KEYS.contains(&key.as_str()) {
            errors.push(FieldError::new(key, "unknown_field"));
        } else if value.chars().count() > MAX_VALUE {
            errors.push(FieldError::with(key, "too_long", json!({ "max": MAX_VALUE })));
        } else if value.chars().any(|c| c.is_control() && c != '\n') {
            errors.push(FieldError::new(key, "control_characters"));
        } else if key == "cost_per_ticket" && !value.trim().is_empty() {
            match peyvand_records::decimal::Decimal::parse(value, 2) {
                Ok(d) if d.units < 0 => errors.push(FieldError::new(key, "negative")),
                Ok(_) => {}
                Err(_) => errors.push(FieldError::new(key, "invalid_number")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    for (key, value) in values {
        sqlx::query("DELETE FROM sales_business WHERE key = $1").bind(key.clone()).execute(&mut *tx.tx).await?;
        if !value.trim().is_empty() {
            // An amount is kept in Latin digits without separators.
            let value = match peyvand_records::decimal::Decimal::parse(value, 2) {
                Ok(d) if key == "cost_per_ticket" => d.to_string(),
                _ => value.trim().to_string(),
            };
            sqlx::query("INSERT INTO sales_business (key, value) VALUES ($1, $2)")
                .bind(key.clone())
                .bind(value)
                .execute(&mut *tx.tx)
                .await?;
        }
    }
    Ok(())
}

/// The sales settings an admin changes at once: the business's details and how quotes and
/// orders are numbered. Nothing is written unless all of it is right; errors name
/// `business.KEY` and `numbering.I.pattern` (`I`: the place in `numbering`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub business: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub numbering: Vec<NumberingInput>,
}

/// How one kind's documents are to be numbered (`kind`: quote or order).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberingInput {
    pub kind: String,
    pub pattern: String,
    #[serde(default)]
    pub persian_digits: bool,
}

/// Writes `settings` in one transaction.
pub async fn save(db: &Db, settings: &Settings) -> Result<()> {
    let mut tx = db.write().await?;
    let mut errors = Vec::new();
    if let Some(values) = &settings.business {
        match set_in(&mut tx, values).await {
            Err(Error::Validation(e)) => errors.extend(prefixed("business", e)),
            other => other?,
        }
    }
    for (i, n) in settings.numbering.iter().enumerate() {
        let Some(kind) = Kind::of_header(&n.kind) else {
            errors.push(FieldError::with(&format!("numbering.{i}.kind"), "invalid_option", json!({ "value": n.kind })));
            continue;
        };
        match set_numbering_in(&mut tx, kind, &n.pattern, n.persian_digits).await {
            Err(Error::Validation(e)) => errors.extend(prefixed(&format!("numbering.{i}"), e)),
            other => other?,
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    tx.commit().await
}

fn prefixed(prefix: &str, errors: Vec<FieldError>) -> impl Iterator<Item = FieldError> {
    errors.into_iter().map(move |e| FieldError { field: format!("{prefix}.{}", e.field), ..e })
}
