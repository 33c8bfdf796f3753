//! The customer 360's timeline on both backends: a contact's calls and e-mails, changes to its
//! fields, its deals' stages, quotes and orders in one story, newest first; filtered by kind;
//! paged by keyset with nothing lost or repeated; a company's rolls up its contacts'; a rep sees
//! only what they may (another's deal is not there, a hidden field's change is not shown).

use peyvand_crm::activities::timeline::{Kind, Query, timeline};
use peyvand_crm::crm_tests;
use peyvand_records::access::{FieldAccess, Role};
use peyvand_store::records::Record;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

crm_tests!(
    one_story_newest_first_paged_and_filtered,
    a_rep_sees_only_what_they_may,
    participants_see_the_meeting_on_their_timeline_and_keep_it_through_a_merge
);

async fn make(db: &Db, object: &str, fields: Json) -> Record {
    let fields = fields.as_object().cloned().expect("an object");
    db.create_record(None, object, &fields, None).await.unwrap_or_else(|e| panic!("{object}: {e:?}")).0
}

async fn change(db: &Db, object: &str, id: &str, fields: Json) {
    let fields: Map<String, Json> = fields.as_object().cloned().expect("an object");
    db.update_record(None, object, id, &fields, None).await.unwrap_or_else(|e| panic!("{object}: {e:?}"));
}

/// Every entry of the timeline, read `limit` at a time: (kind, title) pairs and the pages read.
async fn read_all(db: &Db, object: &str, id: &str, kinds: &[Kind], limit: u32) -> (Vec<(Kind, String)>, usize) {
    let (mut all, mut ats, mut pages, mut cursor) = (Vec::new(), Vec::new(), 0, None);
    loop {
        let page = timeline(db, object, id, &Query { kinds: kinds.to_vec(), cursor: cursor.clone(), limit })
            .await
            .expect("a page");
        pages += 1;
        assert!(page.entries.len() <= limit as usize);
        for e in &page.entries {
            ats.push((e.at.clone(), e.id.clone()));
            all.push((e.kind, e.title.clone()));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 50, "paging ends");
    }
    let mut sorted = ats.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ats, sorted, "newest first, none twice");
    (all, pages)
}

async fn one_story_newest_first_paged_and_filtered(db: &Db) {
    let company = make(db, "company", json!({"name": "Pars Steel"})).await;
    let contact =
        make(db, "contact", json!({"first_name": "Sara", "last_name": "Ahmadi", "company": company.id})).await;
    let colleague = make(db, "contact", json!({"last_name": "Karimi", "company": company.id})).await;
    let stranger = make(db, "contact", json!({"last_name": "Stranger"})).await;
    let activity = async |who: &Record, kind: &str, subject: &str, at: &str| {
        make(db, "activity", json!({"kind": kind, "subject": subject, "occurred_at": at, "contact": who.id})).await
    };
    activity(&contact, "call", "Asked for prices", "2026-10-01T08:00:00Z").await;
    activity(&contact, "email", "Sent the catalogue", "2026-10-02T08:00:00Z").await;
    activity(&colleague, "visit", "Visited the plant", "2026-10-03T08:00:00Z").await;
    activity(&stranger, "call", "Not theirs", "2026-10-04T08:00:00Z").await;
    make(
        db,
        "order",
        json!({"contact": contact.id, "company": company.id, "ordered_at": "2026-10-05T08:00:00Z",
        "status": "delivered", "total": {"amount": "5000", "currency": "IRR"}, "number": "O-1"}),
    )
    .await;
    let deal = make(db, "deal", json!({"name": "Steel for Tabriz", "contact": contact.id, "stage": "proposal"})).await;
    change(db, "deal", &deal.id, json!({"stage": "negotiation"})).await;
    make(db, "quote", json!({"contact": contact.id, "number": "Q-1"})).await;
    change(db, "contact", &contact.id, json!({"job_title": "Buyer"})).await;

    // Everything about the contact, newest first: the change, the quote, the deal's two stages
    // (made now), then the order and the activities by their own times; the colleague's visit
    // and the stranger's call are not hers.
    let (all, _) = read_all(db, "contact", &contact.id, &[], 50).await;
    let kinds: Vec<Kind> = all.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Change).count(), 2, "made and changed: {all:?}");
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Stage).count(), 2, "{all:?}");
    assert_eq!(
        &all[all.len() - 3..],
        &[
            (Kind::Order, "O-1".to_string()),
            (Kind::Email, "Sent the catalogue".to_string()),
            (Kind::Activity, "Asked for prices".to_string())
        ],
        "the dated ones by their own times"
    );
    assert!(all.contains(&(Kind::Quote, "Q-1".into())) && all.contains(&(Kind::Stage, "Steel for Tabriz".into())));
    assert!(!all.iter().any(|(_, t)| t == "Visited the plant" || t == "Not theirs"));

    // Paged two at a time: the same story, nothing lost or repeated.
    let (paged, pages) = read_all(db, "contact", &contact.id, &[], 2).await;
    assert_eq!(paged, all);
    assert!(pages >= 4, "{pages} pages");

    // By kind.
    let (emails, _) = read_all(db, "contact", &contact.id, &[Kind::Email], 10).await;
    assert_eq!(emails, vec![(Kind::Email, "Sent the catalogue".to_string())]);
    let (some, _) = read_all(db, "contact", &contact.id, &[Kind::Activity, Kind::Order], 1).await;
    assert_eq!(some, vec![(Kind::Order, "O-1".into()), (Kind::Activity, "Asked for prices".into())]);

    // The company's rolls up its contacts': the colleague's visit too, and the changes of both
    // contacts and of the company.
    let (rolled, _) = read_all(db, "company", &company.id, &[], 3).await;
    assert!(rolled.contains(&(Kind::Activity, "Visited the plant".into())), "{rolled:?}");
    assert!(rolled.contains(&(Kind::Stage, "Steel for Tabriz".into())));
    assert!(rolled.contains(&(Kind::Change, "Pars Steel".into())));
    assert!(rolled.iter().any(|(k, t)| *k == Kind::Change && t.contains("Karimi")));
    assert!(!rolled.iter().any(|(_, t)| t == "Not theirs"));

    // Bad input: a made-up cursor, a page too big, another object, a record not there.
    let bad = |cursor: Option<&str>, limit| Query { kinds: vec![], cursor: cursor.map(str::to_string), limit };
    for (q, field) in [(bad(Some("yesterday~x"), 10), "cursor"), (bad(None, 0), "limit"), (bad(None, 1000), "limit")] {
        match timeline(db, "contact", &contact.id, &q).await {
            Err(Error::Validation(errors)) => assert_eq!(errors[0].field, field),
            other => panic!("refused: {other:?}"),
        }
    }
    assert!(matches!(timeline(db, "deal", &deal.id, &bad(None, 10)).await, Err(Error::NotFound(_))));
    assert!(matches!(timeline(db, "contact", "nobody", &bad(None, 10)).await, Err(Error::NotFound(_))));
}

async fn a_rep_sees_only_what_they_may(db: &Db) {
    let rep = db.create_user("rep@timeline.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let other = db.create_user("other@timeline.ir", "Other", Role::Agent, "x", "fa").await.expect("other").id;
    db.set_field_access(Role::Agent, "contact", "job_title", FieldAccess::Hidden).await.expect("hide");
    let contact = make(db, "contact", json!({"last_name": "Ahmadi", "owner": rep})).await;
    make(db, "deal", json!({"name": "Mine", "contact": contact.id, "owner": rep, "stage": "proposal"})).await;
    make(db, "deal", json!({"name": "Theirs", "contact": contact.id, "owner": other, "stage": "proposal"})).await;
    change(db, "contact", &contact.id, json!({"job_title": "Buyer"})).await;
    change(db, "contact", &contact.id, json!({"city": "Tabriz"})).await;

    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    let page = timeline(&as_rep, "contact", &contact.id, &Query { limit: 50, ..Query::default() }).await.expect("page");
    let deals: Vec<&str> = page.entries.iter().filter(|e| e.kind == Kind::Stage).map(|e| e.title.as_str()).collect();
    assert_eq!(deals, vec!["Mine"], "another rep's deal is not in the story");
    let changes: Vec<&Json> = page.entries.iter().filter(|e| e.kind == Kind::Change).map(|e| &e.detail).collect();
    assert_eq!(changes.len(), 2, "made, and the city; not the hidden job title: {changes:?}");
    assert!(!changes.iter().any(|c| c.to_string().contains("Buyer") || c.to_string().contains("job_title")));
    // The admin's view has all three changes and both deals.
    let page = timeline(db, "contact", &contact.id, &Query { limit: 50, ..Query::default() }).await.expect("page");
    assert_eq!(page.entries.iter().filter(|e| e.kind == Kind::Change).count(), 3);
    assert_eq!(page.entries.iter().filter(|e| e.kind == Kind::Stage).count(), 2);
    // A contact the rep may not read is not found.
    let theirs = make(db, "contact", json!({"last_name": "Theirs", "owner": other})).await;
    let q = Query { limit: 10, ..Query::default() };
    assert!(matches!(timeline(&as_rep, "contact", &theirs.id, &q).await, Err(Error::NotFound(_))));
}

async fn participants_see_the_meeting_on_their_timeline_and_keep_it_through_a_merge(db: &Db) {
    use peyvand_crm::activities::participants::{self, Participants};
    use peyvand_crm::customers::merge::{MergeInput, merge};
    let host = make(db, "contact", json!({"last_name": "Host"})).await;
    let guest =
        make(db, "contact", json!({"first_name": "Sara", "last_name": "Guest", "emails": ["sara@guest.example"]}))
            .await;
    let twin = make(db, "contact", json!({"first_name": "Sara", "last_name": "Guest"})).await;
    let meeting = make(
        db,
        "activity",
        json!({"kind": "meeting", "subject": "Plant tour", "occurred_at": "2026-10-10T08:00:00Z",
        "contact": host.id, "outcome": "completed", "duration_minutes": 90}),
    )
    .await;
    let colleague = db.create_user("mate@timeline.ir", "Mate", Role::Agent, "x", "fa").await.expect("user").id;
    let who = Participants { contacts: vec![twin.id.clone()], users: vec![colleague.clone()] };
    assert_eq!(participants::set(db, "activity", &meeting.id, &who).await.expect("set"), who);
    let bad = Participants { contacts: vec!["nobody".into()], users: vec!["ghost".into()] };
    match participants::set(db, "activity", &meeting.id, &bad).await {
        Err(Error::Validation(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, vec!["contacts.0", "users.0"]);
        }
        other => panic!("refused: {other:?}"),
    }
    let titles = async |id: &str| -> Vec<String> {
        let page = timeline(db, "contact", id, &Query { kinds: vec![Kind::Activity], limit: 10, ..Query::default() })
            .await
            .expect("timeline");
        page.entries.into_iter().map(|e| e.title).collect()
    };
    assert_eq!(titles(&host.id).await, vec!["Plant tour"]);
    assert_eq!(titles(&twin.id).await, vec!["Plant tour"], "a participant's timeline has it too");
    // The twin merged into the guest: the guest took part now.
    merge(db, None, "contact", &guest.id, &MergeInput { with: twin.id.clone(), take: vec![] }).await.expect("merge");
    assert_eq!(titles(&guest.id).await, vec!["Plant tour"]);
    assert_eq!(participants::get(db, "activity", &meeting.id).await.expect("get").contacts, vec![guest.id.clone()]);
}
