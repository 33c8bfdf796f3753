//! The business as its quotes and invoices name it (name, address, economic code, national id,
//! phone, postal code, in both languages where words are), kept by key in `sales_business`.

use peyvand_records::FieldError;
use peyvand_store::{Db, Error, Result};
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;

/// The keys the business's details are kept under, in the order the settings page shows them.
pub const KEYS: [&str; 8] =
    ["name_fa", "name_en", "address_fa", "address_en", "economic_code", "national_id", "phone", "postal_code"];

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
    let mut errors = Vec::new();
    for (key, value) in values {
        if !KEYS.contains(&key.as_str()) {
            errors.push(FieldError::new(key, "unknown_field"));
        } else if value.chars().count() > MAX_VALUE {
            errors.push(FieldError::with(key, "too_long", json!({ "max": MAX_VALUE })));
        } else if value.chars().any(|c| c.is_control() && c != '\n') {
            errors.push(FieldError::new(key, "control_characters"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = db.write().await?;
    for (key, value) in values {
        sqlx::query("DELETE FROM sales_business WHERE key = $1").bind(key.clone()).execute(&mut *tx.tx).await?;
        if !value.trim().is_empty() {
            sqlx::query("INSERT INTO sales_business (key, value) VALUES ($1, $2)")
                .bind(key.clone())
                .bind(value.trim().to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
    }
    tx.commit().await
}
