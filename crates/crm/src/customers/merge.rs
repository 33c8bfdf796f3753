//! Duplicates and their merge. A record's likely duplicates are those of its object with one of
//! its e-mails or phones, or a name that reads the same once written the Persian way (ي/ی, ك/ک,
//! diacritics, spaces and zero-width non-joiners inside it, a «سید»/«سیده» before it). Merging
//! keeps one record (the survivor) and, in one transaction, gives it the values chosen from the
//! other, fills its empty fields from the other, joins their e-mails and phones, points every
//! record related to the other (activities, deals, orders, tasks…) at it, and moves the other to
//! the trash; the other's id then leads to the survivor.

use peyvand_records::normalize::normalize;
use peyvand_records::validate::{Mode, validate};
use peyvand_records::{FieldError, FieldType, Value};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Error, Result, now};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use sqlx::Row;

/// Most candidates offered.
const MOST: usize = 10;

/// A name as duplicates are compared: normalized, without spaces, ZWNJ or a leading title.
pub fn name_key(name: &str) -> String {
    let n = normalize(name);
    let n = ["سیده ", "سید ", "seyyed ", "seyed ", "sayyed "]
        .iter()
        .find_map(|p| n.strip_prefix(p))
        .map(str::to_string)
        .unwrap_or(n);
    n.chars().filter(|c| !c.is_whitespace() && *c != '\u{200C}').collect()
}

/// The record's likely duplicates among the live records of its object, as the reader may see
/// them, each with why (`email`, `phone`, `name`).
pub async fn duplicates(db: &Db, object: &str, id: &str) -> Result<Vec<(Record, Vec<&'static str>)>> {
    let record = db.get_record(object, id, false).await?;
    let obj = db.object(object).await?;
    let mut found: Vec<(Record, Vec<&'static str>)> = Vec::new();
    let mut add = |r: Record, why: &'static str| {
        if r.id == record.id {
            return;
        }
        match found.iter_mut().find(|(f, _)| f.id == r.id) {
            Some((_, whys)) if !whys.contains(&why) => whys.push(why),
            Some(_) => {}
            None => found.push((r, vec![why])),
        }
    };
    for (field, why) in [("emails", "email"), ("phones", "phone"), ("email", "email"), ("phone", "phone")] {
        if obj.field(field).is_none() {
            continue;
        }
        let values: Vec<Json> = match record.fields.get(field) {
            Some(Json::Array(items)) => items.clone(),
            Some(v @ Json::String(_)) => vec![v.clone()],
            _ => Vec::new(),
        };
        for v in values {
            let filter = json!({ "field": field, "op": "eq", "value": v });
            for r in list(db, &obj, filter).await? {
                add(r, why);
            }
        }
    }
    // Names: once the object was scanned, the keys' index (and the records changed last, which
    // its keeper may not have reached); before, the search finds records with the same words,
    // written any way. The key decides which read the same.
    let key = name_key(&record.title);
    if super::name_keys::usable(&key) {
        let same: Vec<String> = if super::queue::last_scan(db, object).await?.is_some() {
            let mut same = super::name_keys::matching(db, object, &key, &record.id, MOST as u32).await?;
            for id in changed_last(db, &obj, &key, &record.id).await? {
                if !same.contains(&id) {
                    same.push(id);
                }
            }
            same
        } else {
            db.search(&record.title, 50)
                .await?
                .into_iter()
                .filter(|hit| hit.object == object && hit.id != record.id && name_key(&hit.title) == key)
                .map(|hit| hit.id)
                .take(MOST)
                .collect()
        };
        // Read in one query, not one each, as the reader may see them (and only those that
        // still read the same).
        if !same.is_empty() {
            for r in list(db, &obj, json!({ "field": "id", "op": "in", "value": same })).await? {
                if name_key(&r.title) == key {
                    add(r, "name");
                }
            }
        }
    }
    found.truncate(MOST);
    Ok(found)
}

/// How far back [`changed_last`] looks, and at most how many records it reads.
const LATELY_MINUTES: i64 = 10;
const LATELY_MOST: i64 = 200;

/// Ids of the records of `obj` changed in the last minutes (the newest [`LATELY_MOST`]) whose
/// name reads as `key`: changes the keys' keeper may not have reached yet.
async fn changed_last(db: &Db, obj: &peyvand_records::ObjectDef, key: &str, except: &str) -> Result<Vec<String>> {
    let columns: Vec<String> =
        obj.title_field.split(' ').filter_map(|f| obj.field(f)).map(|f| f.column.clone()).collect();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(LATELY_MINUTES);
    let sql = format!(
        "SELECT id, {} FROM {} WHERE deleted_at IS NULL AND updated_at >= $1 ORDER BY updated_at DESC LIMIT $2",
        columns.join(", "),
        obj.table
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(peyvand_records::value::format_datetime(since))
        .bind(LATELY_MOST)
        .fetch_all(db.pool())
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let id: String = r.try_get(0)?;
        let parts: Vec<String> =
            (1..=columns.len()).filter_map(|i| r.try_get::<Option<String>, _>(i).ok().flatten()).collect();
        if id != except && name_key(&parts.join(" ")) == key {
            out.push(id);
        }
    }
    Ok(out)
}

async fn list(db: &Db, obj: &peyvand_records::ObjectDef, filter: Json) -> Result<Vec<Record>> {
    let query = ListQuery {
        filter: Some(peyvand_records::filter::parse_filter(obj, &filter).map_err(Error::invalid)?),
        limit: Some(MOST as u32),
        ..ListQuery::default()
    };
    Ok(db.list_records(&obj.api_name, &query).await?.records)
}

/// What to merge into a record: the other record, and which fields take the other's value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    pub with: String,
    /// Fields whose value comes from the other record (the survivor's own stay otherwise).
    #[serde(default)]
    pub take: Vec<String>,
}

/// Merges `input.with` into `survivor_id` (see the module's doc) and returns the survivor.
pub async fn merge(
    db: &Db,
    actor: Option<&str>,
    object: &str,
    survivor_id: &str,
    input: &MergeInput,
) -> Result<Record> {
    if input.with == survivor_id {
        return Err(Error::invalid(FieldError::new("with", "merge_with_itself")));
    }
    let obj = db.object(object).await?;
    let mut errors = Vec::new();
    for f in &input.take {
        if obj.field(f).is_none() {
            errors.push(FieldError::new(&format!("take.{f}"), "unknown_field"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let catalog = db.catalog_cached()?;
    let mut tx = db.write().await?;
    let survivor = db.get_in(&mut tx, &obj, survivor_id).await?;
    let other = match db.get_in(&mut tx, &obj, &input.with).await {
        Ok(r) => r,
        Err(Error::NotFound(_)) => {
            let merged = sqlx::query("SELECT 1 FROM merged_records WHERE object = $1 AND id = $2")
                .bind(object.to_string())
                .bind(input.with.clone())
                .fetch_optional(&mut *tx.tx)
                .await?
                .is_some();
            let code = if merged { "already_merged" } else { "invalid_reference" };
            return Err(Error::invalid(FieldError::new("with", code)));
        }
        Err(e) => return Err(e),
    };
    // The survivor's values: the ones taken, its empty ones filled, e-mails and phones joined.
    let mut changes = Map::new();
    for f in obj.live_fields().filter(|f| f.api_name != "id") {
        let mine = survivor.fields.get(&f.api_name).cloned().unwrap_or(Json::Null);
        let theirs = other.fields.get(&f.api_name).cloned().unwrap_or(Json::Null);
        let value = if input.take.contains(&f.api_name) {
            theirs
        } else if f.options.multiple || f.field_type == FieldType::MultiSelect {
            let mut all = mine.as_array().cloned().unwrap_or_default();
            for v in theirs.as_array().into_iter().flatten() {
                if !all.contains(v) {
                    all.push(v.clone());
                }
            }
            json!(all)
        } else if mine.is_null() || mine == json!("") {
            theirs
        } else {
            continue;
        };
        if value != mine {
            changes.insert(f.api_name.clone(), value);
        }
    }
    // The other's unique values would clash with the survivor's: it goes to the trash first.
    db.delete_in(&mut tx, actor, &obj, &other.id).await?;
    if !changes.is_empty() {
        let values = validate(&obj, &changes, Mode::Update).map_err(Error::Validation)?.values;
        db.update_in(&mut tx, actor, &obj, survivor_id, values, None).await?;
    }
    // Everything that pointed at the other points at the survivor, whoever's it is (the merge is
    // allowed to whoever may change both records; a link out of their sight must not be lost).
    let system = db.system();
    for related in catalog.objects.iter() {
        for field in related
            .live_fields()
            .filter(|f| f.field_type == FieldType::Relation && f.options.target.as_deref() == Some(object))
        {
            loop {
                let pointing =
                    system.find_in(&mut tx, related, &[(&field.api_name, Value::Text(other.id.clone()))], 200).await?;
                if pointing.is_empty() {
                    break;
                }
                for r in pointing {
                    let to = vec![(field, Value::Text(survivor_id.to_string()))];
                    system.update_in(&mut tx, actor, related, &r.id, to, None).await?;
                }
            }
        }
    }
    // What later modules keep about the other record beside its relations (an activity's
    // participants) follows it too.
    crate::follow_merge(&mut tx, object, &other.id, survivor_id).await?;
    // The queue's pairs with the merged record are settled.
    sqlx::query("DELETE FROM duplicate_pairs WHERE object = $1 AND (a = $2 OR b = $2)")
        .bind(object.to_string())
        .bind(other.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query("INSERT INTO merged_records (object, id, survivor, actor, merged_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(object.to_string())
        .bind(other.id.clone())
        .bind(survivor_id.to_string())
        .bind(actor.map(str::to_string))
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
    // Records already merged into the other now lead to the survivor too.
    sqlx::query("UPDATE merged_records SET survivor = $1 WHERE object = $2 AND survivor = $3")
        .bind(survivor_id.to_string())
        .bind(object.to_string())
        .bind(other.id.clone())
        .execute(&mut *tx.tx)
        .await?;
    let merged = db.get_in(&mut tx, &obj, survivor_id).await?;
    tx.commit().await?;
    Ok(merged)
}

/// The record a merged one became, if `id` was merged.
pub async fn merged_into(db: &Db, object: &str, id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT survivor FROM merged_records WHERE object = $1 AND id = $2")
        .bind(object.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::name_key;

    #[test]
    fn names_that_read_the_same_have_one_key() {
        assert_eq!(name_key("علي رضايي"), name_key("علی رضایی"), "Arabic and Persian yeh");
        assert_eq!(name_key("محمّد كريمي"), name_key("محمد کریمی"), "a shadda, Arabic kaf");
        assert_eq!(name_key("سید علی موسوی"), name_key("علی موسوی"), "a title before the name");
        assert_eq!(name_key("زهرا نیک\u{200C}نام"), name_key("زهرا نیک نام"), "ZWNJ or a space inside");
        assert_eq!(name_key("Reza  Tehrani"), name_key("reza tehrani"));
        assert_ne!(name_key("علی رضایی"), name_key("علی رضا"));
    }
}
