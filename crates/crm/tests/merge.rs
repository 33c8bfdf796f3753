//! Duplicates and merge on both backends: two contacts typed with ي and ی are found as one name,
//! one with the same e-mail too; merging keeps the survivor's values unless told, fills its
//! empty ones, joins e-mails and phones, moves every related record, sends the other to the trash
//! and leads its id to the survivor; merging with itself, twice, or twice at once is refused.

use peyvand_crm::crm_tests;
use peyvand_crm::customers::merge::{MergeInput, duplicates, merge, merged_into};
use peyvand_store::records::Record;
use peyvand_store::{Db, Error};
use serde_json::{Value as Json, json};

crm_tests!(duplicates_are_found_and_merged_with_nothing_lost, a_link_out_of_the_mergers_sight_moves_too);

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
