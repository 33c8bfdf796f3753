//! The aggregate cache on both backends: a repeated aggregate comes from the cache, and any
//! record change, or a metadata change, makes the next one fresh.

use peyvand_records::aggregate::parse_aggregate;
use peyvand_store::Db;
use serde_json::json;

peyvand_crm::crm_tests!(cached_until_changed, computed_once_for_concurrent_askers);

async fn cached_until_changed(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let spec = parse_aggregate(&obj, "lifecycle_stage", "").expect("spec");
    let fields = json!({"last_name": "Karimi", "lifecycle_stage": "lead"});
    let (first, _) = db.create_record(None, "contact", fields.as_object().expect("map"), None).await.expect("create");
    let a = db.aggregate("contact", None, &spec).await.expect("aggregate");
    assert!(!a.cached);
    let b = db.aggregate("contact", None, &spec).await.expect("aggregate");
    assert!(b.cached, "the same aggregate again comes from the cache");
    assert_eq!(a.rows, b.rows);
    let other = parse_aggregate(&obj, "city", "").expect("spec");
    assert!(!db.aggregate("contact", None, &other).await.expect("aggregate").cached, "another query is computed");
    // A change to any record, through any path, makes the next result fresh and right.
    let patch = json!({"lifecycle_stage": "customer"});
    db.update_record(None, "contact", &first.id, patch.as_object().expect("map"), None).await.expect("update");
    let c = db.aggregate("contact", None, &spec).await.expect("aggregate");
    assert!(!c.cached);
    assert_eq!(c.rows[0].group["lifecycle_stage"], json!("customer"));
    assert!(db.aggregate("contact", None, &spec).await.expect("aggregate").cached);
}

/// Many dashboards asking the same new question at once: one computes it, the others wait and
/// take its result.
async fn computed_once_for_concurrent_askers(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    for stage in ["lead", "customer", "lead"] {
        let fields = json!({"last_name": "Karimi", "lifecycle_stage": stage});
        db.create_record(None, "contact", fields.as_object().expect("map"), None).await.expect("create");
    }
    let spec = parse_aggregate(&obj, "lifecycle_stage", "").expect("spec");
    let askers = (0..8).map(|_| {
        let db = db.clone();
        let spec = spec.clone();
        tokio::spawn(async move { db.aggregate("contact", None, &spec).await.expect("aggregate") })
    });
    let mut computed = 0;
    for asker in askers.collect::<Vec<_>>() {
        let result = asker.await.expect("join");
        computed += usize::from(!result.cached);
        let counts: Vec<i64> = result.rows.iter().map(|r| r.count).collect();
        assert_eq!(counts, vec![1, 2], "customer 1, lead 2");
    }
    assert_eq!(computed, 1, "one asker computed, seven took its result");
}
