//! Issue 26: a user's favourites and recent records (the side navigation, the command palette),
//! on both backends: kept per user, newest first, trimmed, and listed only while the user may
//! read the record.

use peyvand_records::access::Role;
use peyvand_store::marks::MAX_RECENT;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

peyvand_crm::crm_tests!(marks_are_per_user_and_follow_access);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().expect("an object").clone()
}

async fn contact(db: &Db, name: &str, owner: &str) -> String {
    let record = input(json!({ "last_name": name, "owner": owner }));
    db.create_record(None, "contact", &record, None).await.expect("contact").0.id
}

async fn marks_are_per_user_and_follow_access(db: &Db) {
    let rep = db.create_user("rep@example.com", "Rep", Role::Agent, "x", "en").await.expect("user").id;
    let other = db.create_user("other@example.com", "Other", Role::Agent, "x", "en").await.expect("user").id;
    let mine = contact(db, "Mine", &rep).await;
    let theirs = contact(db, "Theirs", &other).await;
    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));

    // Recent: newest first, once each, and a record opened again moves to the top.
    as_rep.mark_recent(&rep, "contact", &mine).await.expect("recent");
    let titles = |marks: Vec<peyvand_store::marks::Marked>| marks.into_iter().map(|m| m.title).collect::<Vec<_>>();
    assert_eq!(titles(as_rep.marks(&rep, true, 10).await.expect("marks")), ["Mine"]);
    let mut ids = Vec::new();
    for i in 0..(MAX_RECENT + 5) {
        let id = contact(db, &format!("C{i:02}"), &rep).await;
        as_rep.mark_recent(&rep, "contact", &id).await.expect("recent");
        ids.push(id);
    }
    as_rep.mark_recent(&rep, "contact", &ids[MAX_RECENT as usize]).await.expect("again");
    let recent = titles(as_rep.marks(&rep, true, 100).await.expect("marks"));
    assert_eq!(recent.len() as i64, MAX_RECENT, "trimmed: {recent:?}");
    assert_eq!(recent[0], format!("C{:02}", MAX_RECENT), "opened again, first");
    assert!(!recent.contains(&"Mine".to_string()), "the oldest fell off");

    // Favourites: only a record the user may read; others' favourites are theirs.
    as_rep.set_favourite(&rep, "contact", &mine, true).await.expect("star");
    as_rep.set_favourite(&rep, "contact", &mine, true).await.expect("star twice");
    let refused = as_rep.set_favourite(&rep, "contact", &theirs, true).await;
    assert!(matches!(refused, Err(Error::NotFound(_))), "another's record is not found: {refused:?}");
    assert_eq!(titles(as_rep.marks(&rep, false, 10).await.expect("favourites")), ["Mine"]);
    assert!(as_rep.is_favourite(&rep, "contact", &mine).await.expect("is"));
    assert!(db.marks(&other, false, 10).await.expect("favourites").is_empty());

    // The record changes hands: the rep no longer reads it, and it leaves their lists.
    db.update_record(None, "contact", &mine, &input(json!({ "owner": other })), None).await.expect("hand over");
    assert!(as_rep.marks(&rep, false, 10).await.expect("favourites").is_empty());
    as_rep.set_favourite(&rep, "contact", &ids[0], true).await.expect("star");
    as_rep.set_favourite(&rep, "contact", &ids[0], false).await.expect("unstar");
    assert!(!as_rep.is_favourite(&rep, "contact", &ids[0]).await.expect("is"));
}
