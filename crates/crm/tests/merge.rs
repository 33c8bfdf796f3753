//! Duplicates and merge on both backends: two contacts typed with ي and ی are found as one name,
//! one with the same e-mail too; merging keeps the survivor's values unless told, fills its
//! empty ones, joins e-mails and phones, moves every related record, sends the other to the trash
//! and leads its id to the survivor; merging with itself, twice, or twice at once is refused.

use peyvand_crm::crm_tests;
use peyvand_crm::customers::merge::{MergeInput, duplicates, merge, merged_into};
use peyvand_store::records::Record;
use peyvand_store::{Db, Error};
use serde_json::{Value as Json, json};

crm_tests!(
    duplicates_are_found_and_merged_with_nothing_lost,
    a_link_out_of_the_mergers_sight_moves_too,
    the_batch_scan_fills_the_queue,
    after_a_scan_one_records_check_reads_the_name_keys
);

async fn make(db: &Db, object: &str, fields: Json) -> Record {
    let fields = fields.as_object().cloned().expect("an object");
    db.create_record(None, object, &fields, None).await.unwrap_or_else(|e| panic!("{object}: {e:?}")).0
}

fn code(e: &Error) -> (String, &'static str) {
    match e {
        Error::Validation(errors) => (errors[0].field.clone(), errors[0].code),
        other => panic!("not a validation error: {other:?}"),
    }
}

async fn duplicates_are_found_and_merged_with_nothing_lost(db: &Db) {
    let arabic = make(
        db,
        "contact",
        json!({"first_name": "علي", "last_name": "رضايي", "emails": ["ali@pars.example"],
        "phones": ["+989121234567"], "job_title": "کارشناس"}),
    )
    .await;
    let persian = make(
        db,
        "contact",
        json!({"first_name": "علی", "last_name": "رضایی", "emails": ["a.rezaei@pars.example"],
        "city": "تبریز", "job_title": "مدیر خرید"}),
    )
    .await;
    let same_mail = make(db, "contact", json!({"last_name": "Rezaei", "emails": ["ali@pars.example"]})).await;
    make(db, "contact", json!({"first_name": "علی", "last_name": "رضا"})).await;

    let found = duplicates(db, "contact", &arabic.id).await.expect("duplicates");
    let mut seen: Vec<(String, Vec<&str>)> = found.iter().map(|(r, why)| (r.id.clone(), why.clone())).collect();
    seen.sort();
    let mut expected = vec![(persian.id.clone(), vec!["name"]), (same_mail.id.clone(), vec!["email"])];
    expected.sort();
    assert_eq!(seen, expected, "the same name written two ways, and the same e-mail; not «علی رضا»");

    // What hangs on the duplicate: a call, a deal, a task.
    let call = make(db, "activity", json!({"kind": "call", "subject": "Asked for prices", "occurred_at": "2026-11-01T08:00:00Z", "contact": persian.id})).await;
    let deal = make(db, "deal", json!({"name": "Steel for Tabriz", "contact": persian.id})).await;
    let task =
        make(db, "task", json!({"subject": "Call back", "due_at": "2027-01-10T06:30:00Z", "contact": persian.id}))
            .await;

    let e = merge(db, None, "contact", &arabic.id, &MergeInput { with: arabic.id.clone(), take: vec![] })
        .await
        .expect_err("itself");
    assert_eq!(code(&e), ("with".to_string(), "merge_with_itself"));
    let e =
        merge(db, None, "contact", &arabic.id, &MergeInput { with: persian.id.clone(), take: vec!["nickname".into()] })
            .await
            .expect_err("no such field");
    assert_eq!(code(&e), ("take.nickname".to_string(), "unknown_field"));

    // Two merges of the same pair at once: one merges, the other is refused.
    let input = MergeInput { with: persian.id.clone(), take: vec!["job_title".to_string()] };
    let (a, b) =
        tokio::join!(merge(db, None, "contact", &arabic.id, &input), merge(db, None, "contact", &arabic.id, &input));
    let (merged, refused) = match (a, b) {
        (Ok(m), Err(e)) | (Err(e), Ok(m)) => (m, e),
        (a, b) => panic!("exactly one merge: {a:?} {b:?}"),
    };
    assert_eq!(code(&refused), ("with".to_string(), "already_merged"));
    assert_eq!(merged.fields["job_title"], json!("مدیر خرید"), "taken from the other, as asked");
    assert_eq!(merged.fields["city"], json!("تبریز"), "its empty field filled");
    assert_eq!(merged.fields["first_name"], json!("علي"), "its own name kept");
    assert_eq!(merged.fields["emails"], json!(["ali@pars.example", "a.rezaei@pars.example"]), "e-mails joined");
    assert_eq!(merged.fields["phones"], json!(["+989121234567"]));
    for (object, id) in [("activity", &call.id), ("deal", &deal.id), ("task", &task.id)] {
        let r = db.get_record(object, id, false).await.expect("still there");
        assert_eq!(r.fields["contact"], json!(arabic.id), "{object} moved to the survivor");
    }
    assert!(matches!(db.get_record("contact", &persian.id, false).await, Err(Error::NotFound(_))), "in the trash");
    assert_eq!(merged_into(db, "contact", &persian.id).await.expect("merged"), Some(arabic.id.clone()));
    // Merged into a record that is merged later, it leads to the last survivor.
    merge(db, None, "contact", &same_mail.id, &MergeInput { with: arabic.id.clone(), take: vec![] })
        .await
        .expect("again");
    assert_eq!(merged_into(db, "contact", &persian.id).await.expect("merged"), Some(same_mail.id.clone()));
    let e = merge(db, None, "contact", &same_mail.id, &MergeInput { with: persian.id.clone(), take: vec![] })
        .await
        .expect_err("twice");
    assert_eq!(code(&e), ("with".to_string(), "already_merged"));
}

/// A rep merges two of their contacts; a call another team logged on the merged one, which the
/// rep cannot see, moves to the survivor all the same.
async fn a_link_out_of_the_mergers_sight_moves_too(db: &Db) {
    use peyvand_records::access::Role;
    let rep = db.create_user("rep@merge.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let stranger = db.create_user("other@merge.ir", "Other", Role::Agent, "x", "fa").await.expect("other").id;
    let kept = make(db, "contact", json!({"last_name": "Ahmadi", "owner": rep})).await;
    let other = make(db, "contact", json!({"last_name": "Ahmadi", "owner": rep})).await;
    let call = make(
        db,
        "activity",
        json!({"kind": "call", "subject": "Theirs", "occurred_at": "2026-11-01T08:00:00Z",
        "contact": other.id, "owner": stranger}),
    )
    .await;
    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    assert!(
        matches!(as_rep.get_record("activity", &call.id, false).await, Err(Error::NotFound(_))),
        "out of the rep's sight"
    );
    merge(&as_rep, Some(&rep), "contact", &kept.id, &MergeInput { with: other.id.clone(), take: vec![] })
        .await
        .expect("merged");
    let moved = db.get_record("activity", &call.id, false).await.expect("the call");
    assert_eq!(moved.fields["contact"], json!(kept.id));
}

/// The batch scan: pairs by e-mail, phone and a name written two ways; a name shared by more
/// records than a pair list helps with is counted, not listed; a pair marked as not duplicates
/// is not offered again by the next scan; a merge settles its pairs; a rep sees only pairs of
/// records they may read.
async fn the_batch_scan_fills_the_queue(db: &Db) {
    use peyvand_crm::customers::queue;
    use peyvand_records::access::Role;
    let rep = db.create_user("rep@queue.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let ali = make(db, "contact", json!({"first_name": "علي", "last_name": "رضايي", "owner": rep})).await;
    let ali2 = make(
        db,
        "contact",
        json!({"first_name": "علی", "last_name": "رضایی", "phones": ["+989121111111"], "owner": rep}),
    )
    .await;
    let phone = make(db, "contact", json!({"last_name": "Someone", "phones": ["09121111111"], "owner": rep})).await;
    let mail1 = make(db, "contact", json!({"last_name": "Karimi", "emails": ["k@pars.example"]})).await;
    let mail2 = make(db, "contact", json!({"last_name": "Karimy", "emails": ["K@Pars.example"]})).await;
    for i in 0..(queue::MAX_GROUP + 1) {
        make(db, "contact", json!({"first_name": "محمد", "last_name": "محمدی", "city": format!("c{i}")})).await;
    }
    make(db, "contact", json!({"last_name": "Alone"})).await;
    let scan = queue::scan(db, "contact").await.expect("scan");
    assert_eq!((scan.records, scan.skipped_groups), (15, 1), "{scan:?}");
    let (pairs, next) = queue::pairs(db, "contact", None, 100).await.expect("pairs");
    assert!(next.is_none());
    let mut found: Vec<(Vec<String>, Vec<String>)> = pairs
        .iter()
        .map(|p| {
            let mut ids = vec![p.a.clone(), p.b.clone()];
            ids.sort();
            (ids, p.reasons.clone())
        })
        .collect();
    found.sort();
    let pair = |x: &str, y: &str, why: &[&str]| {
        let mut ids = vec![x.to_string(), y.to_string()];
        ids.sort();
        (ids, why.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    };
    let mut expected = vec![
        pair(&ali.id, &ali2.id, &["name"]),
        pair(&ali2.id, &phone.id, &["phone"]),
        pair(&mail1.id, &mail2.id, &["email"]),
    ];
    expected.sort();
    assert_eq!(found, expected);
    // Paged one at a time: the same pairs.
    let (first, next) = queue::pairs(db, "contact", None, 1).await.expect("page");
    let (rest, _) = queue::pairs(db, "contact", next.as_deref(), 10).await.expect("rest");
    assert_eq!(first.len() + rest.len(), 3);
    // The rep reads only their own contacts: the e-mail pair is not theirs.
    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    let (theirs, _) = queue::pairs(&as_rep, "contact", None, 100).await.expect("pairs");
    assert_eq!(theirs.len(), 2);
    // Not duplicates: gone, and not back after the next scan.
    queue::dismiss(db, "admin", "contact", &ali2.id, &phone.id).await.expect("dismiss");
    queue::scan(db, "contact").await.expect("scan again");
    let (pairs, _) = queue::pairs(db, "contact", None, 100).await.expect("pairs");
    assert_eq!(pairs.len(), 2);
    // Merged: its pair is settled.
    merge(db, None, "contact", &mail1.id, &MergeInput { with: mail2.id.clone(), take: vec![] }).await.expect("merge");
    let (pairs, _) = queue::pairs(db, "contact", None, 100).await.expect("pairs");
    assert_eq!(pairs.len(), 1);
    assert_eq!(queue::last_scan(db, "contact").await.expect("last").map(|s| s.pairs), Some(2));
    assert!(matches!(queue::scan(db, "deal").await, Err(Error::Validation(_))));
}

/// After a scan, one record's check finds a twin by name through the keys' index: a record
/// renamed since is found before the keys' keeper has run (it was changed last) and after (its
/// key moved); a twin trashed is not offered; a name that no longer reads the same is not.
async fn after_a_scan_one_records_check_reads_the_name_keys(db: &Db) {
    use peyvand_crm::customers::{name_keys, queue};
    use peyvand_store::runner::Runner;
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    runner.register().await.expect("register");
    let settle = async || while runner.round().await.expect("round") > 0 {};
    let ali = make(db, "contact", json!({"first_name": "سید علي", "last_name": "رضايي"})).await;
    let other = make(db, "contact", json!({"first_name": "Sara", "last_name": "Karimi"})).await;
    queue::scan(db, "contact").await.expect("scan");
    let key = peyvand_crm::customers::merge::name_key("علی رضایی");
    assert_eq!(name_keys::matching(db, "contact", &key, "", 10).await.expect("keys"), vec![ali.id.clone()]);
    let names = |found: Vec<(Record, Vec<&'static str>)>| -> Vec<String> {
        found.into_iter().filter(|(_, why)| why.contains(&"name")).map(|(r, _)| r.id).collect()
    };
    // Renamed into a twin after the scan: found at once (changed last), and by its key once
    // the keeper has run.
    let patch = json!({"first_name": "علی", "last_name": "رضایی"}).as_object().cloned().expect("object");
    db.update_record(None, "contact", &other.id, &patch, None).await.expect("rename");
    assert_eq!(names(duplicates(db, "contact", &ali.id).await.expect("check")), vec![other.id.clone()]);
    settle().await;
    assert_eq!(
        name_keys::matching(db, "contact", &key, &ali.id, 10).await.expect("keys"),
        vec![other.id.clone()],
        "the keeper wrote the new key"
    );
    assert_eq!(names(duplicates(db, "contact", &ali.id).await.expect("check")), vec![other.id.clone()]);
    // Renamed away: its key follows, and it is no longer offered.
    let patch = json!({"first_name": "Reza"}).as_object().cloned().expect("object");
    db.update_record(None, "contact", &other.id, &patch, None).await.expect("rename");
    settle().await;
    assert!(name_keys::matching(db, "contact", &key, &ali.id, 10).await.expect("keys").is_empty());
    assert!(names(duplicates(db, "contact", &ali.id).await.expect("check")).is_empty());
    // A twin made and trashed: its key goes with it.
    let twin = make(db, "contact", json!({"first_name": "علی", "last_name": "رضایی"})).await;
    settle().await;
    assert_eq!(names(duplicates(db, "contact", &ali.id).await.expect("check")), vec![twin.id.clone()]);
    db.delete_record(None, "contact", &twin.id).await.expect("trash");
    settle().await;
    assert!(name_keys::matching(db, "contact", &key, &ali.id, 10).await.expect("keys").is_empty());
    assert!(names(duplicates(db, "contact", &ali.id).await.expect("check")).is_empty());
    // A bulk load after the scan sets off no consumer (the keeper among them); settling it scans
    // again, so every live contact has its key.
    let opts = peyvand_transfer::generate::GenerateOptions {
        companies: 5,
        contacts: 60,
        activities: 0,
        products: 3,
        deals: 0,
        orders: 0,
        seed: 3,
        batch: 64,
        owners: Vec::new(),
    };
    peyvand_transfer::generate::generate(db, &opts, |_, _| {}).await.expect("generate");
    assert_eq!(runner.round().await.expect("round"), 0, "no consumer replays the generated records");
    peyvand_crm::settle_bulk_load(db).await.expect("settle the load");
    // The dashboards' rollups were declared with it: the server's job finds nothing to do.
    assert_eq!(peyvand_crm::insights::standard_rollups::declare(db).await.expect("declare"), 0);
    let live = db
        .list_records("contact", &peyvand_store::records::ListQuery { limit: Some(200), ..Default::default() })
        .await
        .expect("contacts")
        .records;
    let usable = live.iter().filter(|r| name_keys::usable(&peyvand_crm::customers::merge::name_key(&r.title))).count();
    assert!(usable >= 60, "{usable}");
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM name_keys WHERE object = 'contact'")
        .fetch_one(db.pool())
        .await
        .expect("keys");
    assert_eq!(kept as usize, usable, "each live contact's key, the generated ones too");
}
