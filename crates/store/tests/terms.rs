//! A record's search terms and list members follow its values through every write (update,
//! delete, restore) and every field change that alters what a field contributes (removed, brought
//! back, converted): they are found by their own keys, not by record, so nothing may be left
//! behind. Each step compares the record's rows in `search_terms` with what its values make.

use peyvand_store::Db;
use peyvand_store::schema::FieldPatch;
use serde_json::{Map, Value as Json, json};
use sqlx::Row;

peyvand_crm::crm_tests!(terms_follow_values, members_follow_the_trash, terms_of_the_earlier_rule_are_replaced);

fn map(v: Json) -> Map<String, Json> {
    v.as_object().expect("object").clone()
}

/// The record's rows in `search_terms`, sorted.
async fn terms(db: &Db, id: &str) -> Vec<String> {
    let mut all: Vec<String> = sqlx::query("SELECT term FROM search_terms WHERE record_id = $1")
        .bind(id.to_string())
        .fetch_all(db.pool())
        .await
        .expect("terms")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    all.sort();
    all
}

fn sorted(terms: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
    all.sort();
    all
}

async fn found(db: &Db, query: &str) -> usize {
    db.search(query, 20).await.expect("search").len()
}

async fn terms_follow_values(db: &Db) {
    let (r, _) = db
        .create_record(
            None,
            "contact",
            &map(json!({"first_name": "سارا", "last_name": "کریمی", "phones": ["09121234567"]})),
            None,
        )
        .await
        .expect("create");
    let id = r.id.clone();
    assert_eq!(terms(db, &id).await, sorted(&["+989121234567", "سارا", "کریمی"]), "a phone number once, as stored");
    for query in ["0912123", "98912", "+98912", "کریم"] {
        assert_eq!(found(db, query).await, 1, "{query}");
    }

    // A phone indexed in the forms of earlier versions loses them with its number.
    for legacy in ["989121234567", "09121234567"] {
        sqlx::query("INSERT INTO search_terms (term, object, record_id) VALUES ($1, 'contact', $2)")
            .bind(legacy)
            .bind(id.clone())
            .execute(db.pool())
            .await
            .expect("legacy term");
    }
    db.update_record(None, "contact", &id, &map(json!({"phones": ["09351112222"], "last_name": "تهرانی"})), None)
        .await
        .expect("update");
    assert_eq!(terms(db, &id).await, sorted(&["+989351112222", "سارا", "تهرانی"]));
    assert_eq!(found(db, "0912123").await, 0, "the old number");
    assert_eq!(found(db, "کریم").await, 0, "the old name");
    assert_eq!(found(db, "0935").await, 1);

    db.delete_record(None, "contact", &id).await.expect("delete");
    assert!(terms(db, &id).await.is_empty(), "a record in the trash has no terms");
    assert_eq!(found(db, "تهرانی").await, 0);
    db.restore_record(None, "contact", &id).await.expect("restore");
    assert_eq!(terms(db, &id).await, sorted(&["+989351112222", "سارا", "تهرانی"]));

    // A custom text field: its words are terms while the field is there.
    let nickname = json!({"api_name": "nickname", "type": "text"});
    db.add_field(None, "contact", serde_json::from_value(nickname).expect("field")).await.expect("add field");
    db.update_record(None, "contact", &id, &map(json!({"nickname": "Sunny 42"})), None).await.expect("nickname");
    assert_eq!(found(db, "sunny").await, 1);
    db.delete_field(None, "contact", "nickname").await.expect("remove field");
    assert_eq!(found(db, "sunny").await, 0, "a removed field's values are not searched");
    assert_eq!(terms(db, &id).await, sorted(&["+989351112222", "سارا", "تهرانی"]));
    let back: FieldPatch = serde_json::from_value(json!({"archived": false})).expect("patch");
    db.update_field(None, "contact", "nickname", back).await.expect("bring back");
    assert_eq!(found(db, "sunny").await, 1, "brought back with its values");

    // Converted to a number, a field's values are no longer words to search.
    db.update_record(None, "contact", &id, &map(json!({"nickname": "42"})), None).await.expect("a number");
    assert_eq!(found(db, "42").await, 1);
    let number: FieldPatch = serde_json::from_value(json!({"type": "integer"})).expect("patch");
    db.update_field(None, "contact", "nickname", number).await.expect("convert");
    assert_eq!(found(db, "42").await, 0);
    assert_eq!(terms(db, &id).await, sorted(&["+989351112222", "سارا", "تهرانی"]));
}

/// Unique e-mails are freed by the trash and taken back by a restore, found by their values.
async fn members_follow_the_trash(db: &Db) {
    let unique: FieldPatch = serde_json::from_value(json!({"unique": true})).expect("patch");
    db.update_field(None, "contact", "emails", unique).await.expect("unique e-mails");
    let input = map(json!({"last_name": "Alavi", "emails": ["Ali@Example.com", "a2@example.com"]}));
    let (first, _) = db.create_record(None, "contact", &input, None).await.expect("create");
    let taken =
        db.create_record(None, "contact", &map(json!({"last_name": "B", "emails": ["ali@example.com"]})), None).await;
    assert!(taken.is_err(), "the address is taken: {taken:?}");
    db.delete_record(None, "contact", &first.id).await.expect("delete");
    let (second, _) = db
        .create_record(None, "contact", &map(json!({"last_name": "B", "emails": ["ali@example.com"]})), None)
        .await
        .expect("freed");
    let refused = db.restore_record(None, "contact", &first.id).await;
    assert!(refused.is_err(), "a live record took the address: {refused:?}");
    db.update_record(None, "contact", &second.id, &map(json!({"emails": ["other@example.com"]})), None)
        .await
        .expect("change the address");
    db.restore_record(None, "contact", &first.id).await.expect("restore");
    let again =
        db.create_record(None, "contact", &map(json!({"last_name": "C", "emails": ["A2@example.com"]})), None).await;
    assert!(again.is_err(), "the restored record holds its second address again: {again:?}");
    let members: i64 = sqlx::query("SELECT COUNT(*) FROM record_values WHERE record_id = $1")
        .bind(second.id.clone())
        .fetch_one(db.pool())
        .await
        .expect("members")
        .get(0);
    assert_eq!(members, 1, "the old address's member went with it");
}

/// The terms `values` make under the current rule, and under the one before schema 9.
fn rule_terms(values: &[&str], rule: fn(&str) -> Vec<String>) -> Vec<String> {
    let mut all: Vec<String> = values.iter().flat_map(|v| rule(v)).collect();
    all.sort();
    all.dedup();
    all
}

/// A record indexed by the rule before schema 9 (each word and its runs of two and three) gets the
/// current terms at its next change, loses the earlier ones, and is found by every word meanwhile
/// and after.
async fn terms_of_the_earlier_rule_are_replaced(db: &Db) {
    use peyvand_records::normalize::{joined_word_terms, search_terms};
    let title = "مدیر ارشد فروش منطقه";
    let (r, _) = db
        .create_record(
            None,
            "contact",
            &map(json!({"first_name": "نیما", "last_name": "یوسفی", "job_title": title})),
            None,
        )
        .await
        .expect("create");
    let id = r.id.clone();
    assert_eq!(terms(db, &id).await, rule_terms(&["نیما", "یوسفی", title], search_terms));
    assert_eq!(terms(db, &id).await.len(), 6, "a term per word");

    // As an earlier version indexed it.
    sqlx::query("DELETE FROM search_terms WHERE record_id = $1")
        .bind(id.clone())
        .execute(db.pool())
        .await
        .expect("clear");
    let earlier = rule_terms(&["نیما", "یوسفی", title], joined_word_terms);
    for term in &earlier {
        sqlx::query("INSERT INTO search_terms (term, object, record_id) VALUES ($1, 'contact', $2)")
            .bind(term.clone())
            .bind(id.clone())
            .execute(db.pool())
            .await
            .expect("earlier term");
    }
    for query in ["مدیر", "فروش", "ارشدفروش", "منطقه"] {
        assert_eq!(found(db, query).await, 1, "{query} before the change");
    }

    // A change to another field: the unchanged title's current terms arrive, the earlier ones go.
    db.update_record(None, "contact", &id, &map(json!({"last_name": "کریمی"})), None).await.expect("update");
    assert_eq!(terms(db, &id).await, rule_terms(&["نیما", "کریمی", title], search_terms));
    for query in ["مدیر", "فروش", "ارشدفروش", "مدیرارشدفروشمنطقه", "کریمی"] {
        assert_eq!(found(db, query).await, 1, "{query} after the change");
    }
    assert_eq!(found(db, "یوسفی").await, 0, "the old name");

    // In the trash, a record indexed by either rule has no terms.
    db.delete_record(None, "contact", &id).await.expect("delete");
    assert!(terms(db, &id).await.is_empty());
}
