//! Issue 25: teams and who sees what, on both backends. A region managed by a manager holds two
//! teams; each rep reaches their own and their team's customers in every way the store answers
//! (lists and their counts, a record by id, changes, search, aggregates), and no other's.

use peyvand_records::Value;
use peyvand_records::access::{ObjectAccess, Reach, Role};
use peyvand_records::aggregate::parse_aggregate;
use peyvand_store::access::TeamInput;
use peyvand_store::records::ListQuery;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

peyvand_crm::crm_tests!(
    each_rep_reaches_their_own_and_their_teams_records,
    teams_are_checked,
    a_leaver_hands_everything_over,
    hidden_fields_are_absent_and_read_only_ones_unchanged
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().expect("an object").clone()
}

async fn user(db: &Db, name: &str, role: Role) -> String {
    db.create_user(&format!("{name}@example.com"), name, role, "x", "en").await.expect("user").id
}

async fn contact(db: &Db, name: &str, owner: Option<&str>) -> String {
    let record = input(json!({ "last_name": name, "city": "Tabriz", "owner": owner }));
    db.create_record(None, "contact", &record, None).await.expect("contact").0.id
}

/// The last names of the contacts `db` lists, sorted, with the list's count.
async fn names(db: &Db) -> (Vec<String>, i64) {
    let query = ListQuery { with_total: true, ..Default::default() };
    let page = db.list_records("contact", &query).await.expect("list");
    let mut names: Vec<String> =
        page.records.iter().map(|r| r.fields["last_name"].as_str().expect("a name").to_string()).collect();
    names.sort();
    (names, page.total.expect("a count"))
}

async fn each_rep_reaches_their_own_and_their_teams_records(db: &Db) {
    let manager = user(db, "manager", Role::Manager).await;
    let (r1, r2, r3) =
        (user(db, "rep1", Role::Agent).await, user(db, "rep2", Role::Agent).await, user(db, "rep3", Role::Agent).await);
    let region = db
        .create_team(&TeamInput { name: "Region".into(), manager_id: Some(manager.clone()), ..Default::default() })
        .await
        .expect("region");
    let team = |name: &str, members: Vec<String>| TeamInput {
        name: name.into(),
        parent_id: Some(region.id.clone()),
        members,
        ..Default::default()
    };
    db.create_team(&team("North", vec![r1.clone(), r2.clone()])).await.expect("north");
    db.create_team(&team("South", vec![r3.clone()])).await.expect("south");
    contact(db, "A-r1", Some(&r1)).await;
    contact(db, "B-r1", Some(&r1)).await;
    let r2_contact = contact(db, "C-r2", Some(&r2)).await;
    let r3_contact = contact(db, "D-r3", Some(&r3)).await;
    contact(db, "E-nobody", None).await;
    let as_user = async |id: &str| db.for_viewer(db.viewer_for(id).await.expect("viewer"));
    let (rep1, rep3, boss) = (as_user(&r1).await, as_user(&r3).await, as_user(&manager).await);

    // Lists and their counts.
    assert_eq!(names(&rep1).await, (vec!["A-r1".into(), "B-r1".into(), "C-r2".into()], 3));
    assert_eq!(names(&rep3).await, (vec!["D-r3".into()], 1));
    assert_eq!(names(&boss).await.1, 4, "the region's manager reaches both teams below it");
    assert_eq!(names(db).await.1, 5, "the system reaches everything");

    // A record by id: one the rep may not read is not found; the team's may be changed.
    assert!(matches!(rep1.get_record("contact", &r3_contact, false).await, Err(Error::NotFound(_))));
    let change = input(json!({ "job_title": "buyer" }));
    assert!(matches!(rep1.update_record(None, "contact", &r3_contact, &change, None).await, Err(Error::NotFound(_))));
    assert!(matches!(rep1.delete_record(None, "contact", &r3_contact).await, Err(Error::NotFound(_))));
    rep1.update_record(Some(&r1), "contact", &r2_contact, &change, None).await.expect("a teammate's contact");
    assert!(matches!(rep1.record_history("contact", &r3_contact, 10).await, Err(Error::NotFound(_))));

    // A new record is its maker's; giving it outside the team is refused.
    let made = rep3.create_record(Some(&r3), "contact", &input(json!({ "last_name": "F-r3" })), None).await;
    assert_eq!(made.expect("made").0.fields["owner"], json!(r3));
    let away = input(json!({ "last_name": "G", "owner": r1 }));
    match rep3.create_record(Some(&r3), "contact", &away, None).await {
        Err(Error::Validation(errors)) => assert_eq!(errors[0].code, "owner_out_of_reach"),
        other => panic!("refused, not {other:?}"),
    }

    // Companies: every agent reads them all and changes their own.
    let company = db.create_record(None, "company", &input(json!({ "name": "Pars", "owner": r3 })), None).await;
    let company = company.expect("company").0.id;
    rep1.get_record("company", &company, false).await.expect("read");
    let renamed = input(json!({ "name": "Pars Co" }));
    assert!(matches!(rep1.update_record(None, "company", &company, &renamed, None).await, Err(Error::Forbidden(_))));

    // Search and aggregates count only what the viewer reaches.
    assert!(rep1.search("D-r3", 10).await.expect("search").is_empty());
    assert_eq!(rep3.search("D-r3", 10).await.expect("search").len(), 1);
    let obj = db.object("contact").await.expect("contact");
    let spec = parse_aggregate(&obj, "city", "").expect("spec");
    let counted = rep1.aggregate("contact", None, &spec).await.expect("aggregate");
    assert_eq!(counted.rows.iter().map(|r| r.count).sum::<i64>(), 3);
    db.create_rollup(None, "contact", "owner", "").await.expect("a rollup per owner");
    let by_owner = parse_aggregate(&obj, "owner", "").expect("spec");
    let counted = rep1.aggregate("contact", None, &by_owner).await.expect("aggregate");
    assert_eq!(counted.rows.iter().map(|r| r.count).sum::<i64>(), 3, "from the rollup too");

    // A share lets another team's rep read one record, and change it only if it says so.
    rep3.share_record("contact", &r3_contact, ("user", &r1), false).await.expect("share");
    let rep1 = as_user(&r1).await;
    assert_eq!(names(&rep1).await.1, 4);
    rep1.get_record("contact", &r3_contact, false).await.expect("shared to read");
    assert!(matches!(rep1.update_record(None, "contact", &r3_contact, &change, None).await, Err(Error::Forbidden(_))));
    assert!(matches!(rep1.share_record("contact", &r3_contact, ("user", &r2), false).await, Err(Error::Forbidden(_))));
    rep3.unshare_record("contact", &r3_contact, ("user", &r1)).await.expect("unshare");
    assert_eq!(names(&as_user(&r1).await).await.1, 3);

    // An admin's rule narrows a role: agents read their own contacts only, or none.
    db.set_access_rule(Role::Agent, "contact", Some(ObjectAccess::new(Reach::Own, Reach::Own))).await.expect("rule");
    assert_eq!(names(&as_user(&r1).await).await, (vec!["A-r1".into(), "B-r1".into()], 2));
    db.set_access_rule(Role::Agent, "contact", Some(ObjectAccess::new(Reach::None, Reach::None))).await.expect("rule");
    assert_eq!(names(&as_user(&r1).await).await, (vec![], 0));
    db.set_access_rule(Role::Agent, "contact", None).await.expect("back to the default");
    assert_eq!(names(&as_user(&r1).await).await.1, 3);
    let narrowed = db.set_access_rule(Role::Admin, "contact", Some(ObjectAccess::new(Reach::Own, Reach::Own))).await;
    assert!(narrowed.is_err(), "admins reach everything");
    db.set_access_rule(Role::Admin, "contact", None).await.expect("admins are at the default already");

    // A user made inactive reaches nothing.
    db.update_user(None, &r1, None, None, Some(false)).await.expect("deactivate");
    assert_eq!(names(&as_user(&r1).await).await.1, 0);
}

async fn teams_are_checked(db: &Db) {
    let rep = db.create_user("rep@example.com", "rep", Role::Agent, "x", "en").await.expect("user").id;
    let top = db.create_team(&TeamInput { name: "Top".into(), ..Default::default() }).await.expect("top");
    let below = TeamInput { name: "Below".into(), parent_id: Some(top.id.clone()), ..Default::default() };
    let below = db.create_team(&below).await.expect("below");
    let codes = |e: Error| match e {
        Error::Validation(errors) => errors.into_iter().map(|e| e.code).collect::<Vec<_>>(),
        other => panic!("a validation error, not {other:?}"),
    };
    // A team under one below itself, a taken name, no name, a member who is nobody.
    let circle = TeamInput { name: "Top".into(), parent_id: Some(below.id.clone()), ..Default::default() };
    assert_eq!(codes(db.update_team(&top.id, &circle).await.expect_err("a circle")), ["team_cycle"]);
    let taken = TeamInput { name: "top".into(), ..Default::default() };
    assert_eq!(codes(db.create_team(&taken).await.expect_err("taken")), ["not_unique"]);
    let nameless = TeamInput { members: vec!["nobody".into()], ..Default::default() };
    assert_eq!(codes(db.create_team(&nameless).await.expect_err("nameless")), ["required", "invalid_reference"]);
    assert!(matches!(db.delete_team(&top.id).await, Err(Error::Conflict { code: "team_has_teams", .. })));
    let renamed = TeamInput {
        name: "Under".into(),
        parent_id: Some(top.id.clone()),
        members: vec![rep.clone()],
        ..Default::default()
    };
    assert_eq!(db.update_team(&below.id, &renamed).await.expect("renamed").members, vec![rep]);
    db.delete_team(&below.id).await.expect("delete");
    db.delete_team(&top.id).await.expect("delete");
    assert!(db.list_teams().await.expect("teams").is_empty());
}

/// Item 5: a leaver's records in every object (the trash too), their views and the teams they
/// managed move to the successor in one step; their tokens stop working; every move is in the
/// history; afterwards nothing is owned by them.
async fn a_leaver_hands_everything_over(db: &Db) {
    let admin = user(db, "admin", Role::Admin).await;
    let (leaver, successor) = (user(db, "leaver", Role::Manager).await, user(db, "successor", Role::Agent).await);
    db.create_team(&TeamInput { name: "Team".into(), manager_id: Some(leaver.clone()), ..Default::default() })
        .await
        .expect("team");
    let (_, token) = db.create_api_token(&leaver, "script").await.expect("token");
    let obj = db.object("contact").await.expect("contact");
    let (last_name, owner) = (obj.field("last_name").expect("field"), obj.field("owner").expect("owner"));
    let rows: Vec<_> = (0..1_203)
        .map(|i| vec![(last_name, Value::Text(format!("L{i}"))), (owner, Value::Text(leaver.clone()))])
        .collect();
    let mut tx = db.write_long().await.expect("write");
    let theirs = db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    let trashed = contact(db, "Trashed", Some(&leaver)).await;
    db.delete_record(None, "contact", &trashed).await.expect("trash");
    let deal = input(json!({ "name": "Big deal", "owner": leaver }));
    let deal = db.create_record(None, "deal", &deal, None).await.expect("deal").0.id;
    let other = contact(db, "Other", Some(&admin)).await;
    let view = json!({ "object": "contact", "name": "Mine", "shared": true });
    db.create_view(&leaver, &serde_json::from_value(view).expect("view")).await.expect("view");

    // Refused: the leaver as their own successor, an inactive successor, nobody.
    let code = |r: Result<peyvand_store::access::Handover, Error>| match r {
        Err(Error::Validation(errors)) => errors[0].code,
        other => panic!("refused, not {other:?}"),
    };
    assert_eq!(code(db.hand_over(Some(&admin), &leaver, &leaver).await), "successor_is_leaver");
    assert_eq!(code(db.hand_over(Some(&admin), &leaver, "nobody").await), "invalid_reference");
    let gone = user(db, "gone", Role::Agent).await;
    db.update_user(None, &gone, None, None, Some(false)).await.expect("deactivate");
    assert_eq!(code(db.hand_over(Some(&admin), &leaver, &gone).await), "successor_inactive");
    assert!(db.token_user(&token).await.expect("token").is_some(), "nothing changed yet");

    let done = db.hand_over(Some(&admin), &leaver, &successor).await.expect("handover");
    assert_eq!((done.moved, done.views), (1_205, 1), "every contact, the trashed one and the deal; the view");
    assert!(done.finished_at.is_some());
    assert!(db.token_user(&token).await.expect("token").is_none(), "the leaver's tokens are revoked");
    assert!(!db.list_users().await.expect("users").iter().any(|u| u.id == leaver && u.active));
    for (object, id) in [("contact", &theirs[0]), ("contact", &theirs[1_202]), ("deal", &deal)] {
        assert_eq!(db.get_record(object, id, false).await.expect("record").fields["owner"], json!(successor));
        let history = db.record_history(object, id, 1).await.expect("history");
        assert_eq!(history[0].changes, json!([{ "field": "owner", "old": leaver, "new": successor }]));
        assert_eq!(history[0].actor.as_deref(), Some(admin.as_str()));
    }
    assert_eq!(db.get_record("contact", &trashed, true).await.expect("trashed").fields["owner"], json!(successor));
    assert_eq!(db.get_record("contact", &other, false).await.expect("other").fields["owner"], json!(admin));
    assert_eq!(db.list_teams().await.expect("teams")[0].manager_id.as_deref(), Some(successor.as_str()));
    // Nothing, in any object or the trash, is owned by the leaver.
    for obj in db.catalog().await.expect("catalog").objects.iter() {
        let filter = json!({ "field": "owner", "op": "eq", "value": leaver });
        let filter = peyvand_records::filter::parse_filter(obj, &filter).expect("filter");
        for trash in [false, true] {
            let query = ListQuery { filter: Some(filter.clone()), trash, with_total: true, ..Default::default() };
            let page = db.list_records(&obj.api_name, &query).await.expect("list");
            assert_eq!(page.total, Some(0), "{} (trash: {trash})", obj.api_name);
        }
    }
    // The successor's team now reaches them: as successor, all 1,204 live contacts are theirs.
    let mine = db.for_viewer(db.viewer_for(&successor).await.expect("viewer"));
    let query = ListQuery { with_total: true, exact_total: true, ..Default::default() };
    assert_eq!(mine.list_records("contact", &query).await.expect("list").total, Some(1_203));
}

/// Item 3: a field hidden from a role is absent from its answers, history, filters, sorts,
/// aggregates and search; a read-only one is shown and not changed; admins see everything.
async fn hidden_fields_are_absent_and_read_only_ones_unchanged(db: &Db) {
    use peyvand_records::access::FieldAccess;
    for (name, kind) in [("cost", "currency"), ("supplier", "text")] {
        let field = json!({ "api_name": name, "label_en": name, "type": kind });
        db.add_field(None, "product", serde_json::from_value(field).expect("field")).await.expect("field");
    }
    db.set_field_access(Role::Agent, "product", "cost", FieldAccess::Hidden).await.expect("hide");
    db.set_field_access(Role::Agent, "product", "supplier", FieldAccess::Hidden).await.expect("hide");
    db.set_field_access(Role::Agent, "product", "price", FieldAccess::ReadOnly).await.expect("read-only");
    let refused = db.set_field_access(Role::Agent, "product", "name", FieldAccess::Hidden).await;
    assert!(matches!(refused, Err(Error::Validation(e)) if e[0].code == "title_field_hidden"));
    assert!(db.set_field_access(Role::Admin, "product", "cost", FieldAccess::Hidden).await.is_err());
    let product = input(json!({ "name": "Pump X", "cost": "1000", "supplier": "Zagros Trading", "price": "2000" }));
    let id = db.create_record(None, "product", &product, None).await.expect("product").0.id;
    db.update_record(None, "product", &id, &input(json!({ "cost": "1100" })), None).await.expect("cost");
    let agent = db.for_viewer(db.viewer_for(&user(db, "agent", Role::Agent).await).await.expect("viewer"));
    let admin = db.for_viewer(db.viewer_for(&user(db, "admin", Role::Admin).await).await.expect("viewer"));

    let seen = agent.get_record("product", &id, false).await.expect("read");
    assert!(!seen.fields.contains_key("cost") && !seen.fields.contains_key("supplier"), "{:?}", seen.fields);
    assert!(seen.fields.contains_key("price"));
    assert!(admin.get_record("product", &id, false).await.expect("read").fields.contains_key("cost"));
    let page = agent.list_records("product", &ListQuery::default()).await.expect("list");
    assert!(!page.records[0].fields.contains_key("cost"));
    assert!(agent.visible_object("product").await.expect("object").field("cost").is_none());
    assert!(admin.visible_object("product").await.expect("object").field("cost").is_some());
    let obj = db.object("product").await.expect("product");
    fn unknown<T>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::Validation(e)) if e[0].code == "unknown_field")
    }
    let by_cost = peyvand_records::filter::parse_filter(&obj, &json!({ "field": "cost", "op": "gt", "value": "1" }))
        .expect("filter");
    assert!(unknown(
        agent.list_records("product", &ListQuery { filter: Some(by_cost.clone()), ..Default::default() }).await
    ));
    let sort = peyvand_records::filter::parse_sort(&obj, "cost").expect("sort");
    assert!(unknown(agent.list_records("product", &ListQuery { sort, ..Default::default() }).await));
    let spec = parse_aggregate(&obj, "", "cost").expect("spec");
    assert!(unknown(agent.aggregate("product", None, &spec).await));
    assert_eq!(
        admin
            .list_records("product", &ListQuery { filter: Some(by_cost), ..Default::default() })
            .await
            .expect("list")
            .records
            .len(),
        1
    );
    // Search finds by what the agent sees, never by what is hidden.
    assert_eq!(agent.search("Pump", 10).await.expect("search").len(), 1);
    assert!(agent.search("Zagros", 10).await.expect("search").is_empty());
    assert_eq!(admin.search("Zagros", 10).await.expect("search").len(), 1);
    // The history shows the agent no change of a hidden field.
    let history = agent.record_history("product", &id, 10).await.expect("history");
    assert!(
        !serde_json::to_string(&history.iter().map(|h| &h.changes).collect::<Vec<_>>()).expect("json").contains("cost")
    );
    assert!(
        serde_json::to_string(&admin.record_history("product", &id, 10).await.expect("history")[0].changes)
            .expect("json")
            .contains("cost")
    );
    // Writes: a hidden field is unknown, a read-only one refused; the rest is changed, and the
    // hidden values stay as they were.
    let me = agent.viewer().expect("viewer").user_id.clone();
    let code = |r: Result<_, Error>| match r {
        Err(Error::Validation(e)) => e[0].code,
        Err(other) => panic!("{other:?}"),
        Ok(_) => "accepted",
    };
    let with_cost = input(json!({ "name": "Valve", "cost": "5" }));
    assert_eq!(code(agent.create_record(Some(&me), "product", &with_cost, None).await.map(|_| ())), "unknown_field");
    let pricier = input(json!({ "price": "3000" }));
    assert_eq!(
        code(agent.update_record(Some(&me), "product", &id, &pricier, None).await.map(|_| ())),
        "field_read_only"
    );
    db.set_access_rule(Role::Agent, "product", Some(ObjectAccess::new(Reach::All, Reach::All))).await.expect("rule");
    let agent = db.for_viewer(db.viewer_for(&me).await.expect("viewer"));
    let renamed = agent.update_record(Some(&me), "product", &id, &input(json!({ "name": "Pump Y" })), None).await;
    assert!(!renamed.expect("renamed").fields.contains_key("cost"), "the answer hides it too");
    let whole = db.get_record("product", &id, false).await.expect("read");
    assert_eq!(
        (whole.fields["cost"]["amount"].clone(), whole.fields["supplier"].clone()),
        (json!("1100"), json!("Zagros Trading"))
    );
    assert_eq!(db.search("Zagros", 10).await.expect("search").len(), 1, "its search terms kept");
}
