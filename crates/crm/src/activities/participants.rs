//! Who took part in an activity besides its contact and its owner (several contacts: a meeting
//! with three people of a customer; several users: a colleague on the call), and who attends a
//! task or appointment. Kept beside the record (`activity_participants`, by the activity's or
//! the task's id); an activity is on each participant contact's timeline, and a merge of
//! contacts moves their part too (`crate::follow_merge`).

use peyvand_records::FieldError;
use peyvand_records::access::{Intent, OWNER_FIELD};
use peyvand_store::{Db, Error, Result, WriteTx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// Most participants of each kind.
pub const MAX_EACH: usize = 50;

/// An activity's participants, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
}

/// The objects that have participants: activities, and tasks (their attendees).
pub const OBJECTS: [&str; 2] = ["activity", "task"];

/// An activity's participants or a task's attendees (404 for a record the handle's user may not
/// read, or of another object).
pub async fn get(db: &Db, object: &str, activity: &str) -> Result<Participants> {
    if !OBJECTS.contains(&object) {
        return Err(Error::NotFound(format!("{object}/{activity}")));
    }
    db.get_record(object, activity, false).await?;
    let rows = sqlx::query(
        "SELECT kind, participant_id FROM activity_participants WHERE activity_id = $1 ORDER BY kind, participant_id",
    )
    .bind(activity.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut out = Participants::default();
    for r in &rows {
        let (kind, id): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        if kind == "contact" { out.contacts.push(id) } else { out.users.push(id) }
    }
    // Contacts out of the reader's sight are not theirs to see.
    let seen = db.titles("contact", &out.contacts).await?;
    out.contacts.retain(|c| seen.contains_key(c));
    Ok(out)
}

/// Replaces a record's participants, if the handle's user may change the record: each contact
/// one they may read, each user an active one. Errors name `contacts.N` and `users.N`.
pub async fn set(db: &Db, object: &str, activity: &str, who: &Participants) -> Result<Participants> {
    if !OBJECTS.contains(&object) {
        return Err(Error::NotFound(format!("{object}/{activity}")));
    }
    let record = db.get_record(object, activity, false).await?;
    if let Some(viewer) = db.viewer() {
        let owner = record.fields.get(OWNER_FIELD).and_then(|o| o.as_str());
        if !viewer.reaches(object, Intent::Change, activity, owner) {
            return Err(Error::Forbidden(object.into()));
        }
    }
    let mut errors = Vec::new();
    for (name, list) in [("contacts", &who.contacts), ("users", &who.users)] {
        if list.len() > MAX_EACH {
            errors.push(FieldError::with(name, "too_many", json!({ "max": MAX_EACH })));
        }
    }
    let seen = db.titles("contact", &who.contacts).await?;
    for (i, c) in who.contacts.iter().enumerate() {
        if !seen.contains_key(c) {
            errors.push(FieldError::new(&format!("contacts.{i}"), "invalid_reference"));
        }
    }
    let users = db.list_users().await?;
    for (i, u) in who.users.iter().enumerate() {
        if !users.iter().any(|x| x.id == *u && x.active) {
            errors.push(FieldError::new(&format!("users.{i}"), "invalid_reference"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = db.write().await?;
    set_in(&mut tx, activity, who).await?;
    tx.commit().await?;
    get(db, object, activity).await
}

/// [`set`]'s write, in the caller's transaction, unchecked.
pub async fn set_in(tx: &mut WriteTx, activity: &str, who: &Participants) -> Result<()> {
    sqlx::query("DELETE FROM activity_participants WHERE activity_id = $1")
        .bind(activity.to_string())
        .execute(&mut *tx.tx)
        .await?;
    let mut seen = std::collections::HashSet::new();
    for (kind, list) in [("contact", &who.contacts), ("user", &who.users)] {
        for id in list.iter().filter(|id| seen.insert((kind, id.as_str()))) {
            sqlx::query("INSERT INTO activity_participants (activity_id, kind, participant_id) VALUES ($1, $2, $3)")
                .bind(activity.to_string())
                .bind(kind)
                .bind(id.clone())
                .execute(&mut *tx.tx)
                .await?;
        }
    }
    Ok(())
}

/// The activities a contact took part in (at most `limit`, newest ids first).
pub async fn of_contact(db: &Db, contact: &str, limit: u32) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT activity_id FROM activity_participants WHERE kind = 'contact' AND participant_id = $1 ORDER BY activity_id DESC LIMIT $2",
    )
    .bind(contact.to_string())
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Moves a merged contact's part in activities to the survivor, in the merge's transaction.
pub async fn merge_contact_in(tx: &mut WriteTx, other: &str, survivor: &str) -> Result<()> {
    // Where both took part, the survivor's row stays and the other's goes.
    sqlx::query(
        "DELETE FROM activity_participants WHERE kind = 'contact' AND participant_id = $1 AND activity_id IN \
         (SELECT activity_id FROM activity_participants WHERE kind = 'contact' AND participant_id = $2)",
    )
    .bind(other.to_string())
    .bind(survivor.to_string())
    .execute(&mut *tx.tx)
    .await?;
    sqlx::query("UPDATE activity_participants SET participant_id = $1 WHERE kind = 'contact' AND participant_id = $2")
        .bind(survivor.to_string())
        .bind(other.to_string())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}
