//! Backup, restore and moving between backends: a dataset with standard and custom objects, a
//! converted field, a removed field, relations, the trash, users, views and history goes from
//! SQLite to PostgreSQL and back, and every record, field and history entry arrives unchanged;
//! so do teams (a team above one made before it), access and field rules, shares, the roles
//! that must use two-factor sign-in and the security log. Every table travels or is declared
//! transient.

use peyvand_records::access::{FieldAccess, ObjectAccess, Reach, Role};
use peyvand_records::view::{NewView, ViewKind};
use peyvand_store::access::TeamInput;
use peyvand_store::records::ListQuery;
use peyvand_store::schema::{FieldPatch, NewField, NewObject};
use peyvand_store::testing::{Backend, TestDb};
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

fn map(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("object")
}

async fn dataset(db: &Db) {
    let user =
        db.create_user("owner@test.peyvand.ir", "مالک", Role::Manager, "$argon2id$fake", "fa").await.expect("user");
    let actor = Some(user.id.as_str());
    let size: NewField =
        serde_json::from_value(json!({"api_name": "size", "type": "text", "indexed": true})).expect("field");
    db.add_field(actor, "contact", size).await.expect("size");
    let gone: NewField = serde_json::from_value(json!({"api_name": "old_code", "type": "text"})).expect("field");
    db.add_field(actor, "contact", gone).await.expect("old_code");
    let project = NewObject {
        api_name: "project".into(),
        label_fa: "پروژه".into(),
        label_en: "Project".into(),
        plural_fa: "پروژه‌ها".into(),
        plural_en: "Projects".into(),
        fields: vec![
            serde_json::from_value(json!({"api_name": "name", "type": "text", "required": true})).expect("field"),
            serde_json::from_value(json!({"api_name": "budget", "type": "currency", "indexed": true})).expect("field"),
            serde_json::from_value(json!({"api_name": "client", "type": "relation", "options": {"target": "company"}}))
                .expect("field"),
        ],
        title_field: None,
    };
    db.create_object(actor, project).await.expect("project");
    let (company, _) = db
        .create_record(actor, "company", &map(json!({"name": "فولاد پارس", "tags": ["VIP"]})), None)
        .await
        .expect("company");
    for i in 0..30 {
        let (c, _) = db
            .create_record(
                actor,
                "contact",
                &map(json!({"first_name": format!("نفر{i}"), "last_name": "آزمون", "size": (i % 7).to_string(), "old_code": format!("X{i}"),
                    "emails": [format!("p{i}@example.ir")], "company": company.id, "owner": user.id, "birth_date": "1990-03-21"})),
                None,
            )
            .await
            .expect("contact");
        if i % 10 == 0 {
            db.update_record(actor, "contact", &c.id, &map(json!({"city": "تهران"})), None).await.expect("update");
        }
        if i == 29 {
            db.delete_record(actor, "contact", &c.id).await.expect("trash");
        }
    }
    db.create_record(
        actor,
        "project",
        &map(json!({"name": "CRM", "budget": {"amount": "125000000", "currency": "IRR"}, "client": company.id})),
        None,
    )
    .await
    .expect("project record");
    // A conversion keeps the old column, and a removed field keeps its values: both travel.
    db.update_field(
        actor,
        "contact",
        "size",
        FieldPatch { field_type: Some(peyvand_records::FieldType::Integer), ..Default::default() },
    )
    .await
    .expect("convert");
    db.delete_field(actor, "contact", "old_code").await.expect("archive");
    let view = NewView {
        object: "contact".into(),
        name: "تهرانی‌ها".into(),
        shared: true,
        kind: ViewKind::List,
        filter: Some(json!({"field": "city", "op": "eq", "value": "تهران"})),
        sort: "-created_at".into(),
        columns: vec!["city".into()],
        group_by: None,
    };
    db.create_view(&user.id, &view).await.expect("view");
    db.create_rollup(actor, "contact", "city", "").await.expect("rollup");
    db.create_rollup(actor, "project", "", "budget").await.expect("rollup");
    db.create_compound_index(actor, "contact", &["city".to_string(), "lifecycle_stage".to_string()])
        .await
        .expect("compound index");
    // A branch made before its region, then moved under it: its row comes first in the table.
    let rep = db.create_user("rep@test.peyvand.ir", "نماینده", Role::Agent, "$argon2id$fake", "fa").await.expect("rep");
    let branch = TeamInput { name: "شعبه تهران".into(), members: vec![rep.id.clone()], ..Default::default() };
    let branch_team = db.create_team(&branch).await.expect("branch");
    let region = TeamInput { name: "منطقه".into(), manager_id: Some(user.id.clone()), ..Default::default() };
    let region_team = db.create_team(&region).await.expect("region");
    db.update_team(&branch_team.id, &TeamInput { parent_id: Some(region_team.id), ..branch }).await.expect("nest");
    db.set_access_rule(Role::Agent, "company", Some(ObjectAccess::new(Reach::Team, Reach::Own))).await.expect("rule");
    db.set_field_access(Role::Agent, "contact", "city", FieldAccess::ReadOnly).await.expect("field rule");
    db.share_record("company", &company.id, ("user", &rep.id), false).await.expect("share");
    db.require_two_factor(Role::Manager, true).await.expect("require");
}

/// Everything a user could see, as JSON, for comparing two databases.
async fn snapshot(db: &Db) -> Json {
    let catalog = db.reload_catalog().await.expect("catalog");
    let mut objects = Vec::new();
    for o in &catalog.objects {
        let mut records = Vec::new();
        for trash in [false, true] {
            let mut cursor = None;
            loop {
                let q = ListQuery {
                    sort: peyvand_records::filter::parse_sort(o, "id").expect("sort"),
                    limit: Some(100),
                    cursor,
                    trash,
                    ..Default::default()
                };
                let page = db.list_records(&o.api_name, &q).await.expect("list");
                for r in &page.records {
                    let history = db.record_history(&o.api_name, &r.id, 100).await.expect("history");
                    records.push(json!({ "record": r, "history": history.iter().map(|h| json!([h.id, h.action, h.actor, h.at, h.changes])).collect::<Vec<_>>() }));
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        let fields: Vec<Json> = o
            .fields
            .iter()
            .map(|f| json!([f.api_name, f.field_type, f.archived, f.indexed, f.unique, f.options, f.position]))
            .collect();
        objects.push(json!({ "object": o.api_name, "fields": fields, "records": records }));
    }
    let users = db.list_users().await.expect("users");
    let owner = users.iter().find(|u| u.email == "owner@test.peyvand.ir").map(|u| u.id.clone()).unwrap_or_default();
    let views = db.list_views("contact", &owner).await.expect("views");
    // Rollups arrive declared and filled: each answers its aggregate as the records do.
    let mut rollups = Vec::new();
    for r in &catalog.rollups {
        let obj = catalog.object(&r.object).expect("object");
        let spec = peyvand_records::aggregate::parse_aggregate(&obj, &r.group, &r.sum).expect("spec");
        let answer = db.aggregate(&r.object, None, &spec).await.expect("aggregate");
        assert_eq!(answer.source, peyvand_store::aggregate::Source::Rollup);
        rollups.push(json!([r.object, r.group, r.sum, answer.rows]));
    }
    // Compound indexes arrive declared and built, under the same names.
    let built = db.index_names("r_contact").await.expect("indexes");
    let compound: Vec<Json> = db
        .compound_indexes("contact")
        .await
        .expect("compound indexes")
        .iter()
        .map(|i| json!([i.id, i.fields, built.contains(&i.index_name)]))
        .collect();
    let mut teams = db.list_teams().await.expect("teams");
    teams.sort_by(|a, b| a.name.cmp(&b.name));
    let companies = catalog.object("company").expect("company");
    let company = db
        .list_records("company", &ListQuery { limit: Some(1), sort: vec![], ..Default::default() })
        .await
        .expect("companies");
    let shares = match company.records.first() {
        Some(c) => db.record_shares(&companies.api_name, &c.id).await.expect("shares"),
        None => vec![],
    };
    let log = db.security_log(None, None, None, 500).await.expect("log");
    let log: Vec<Json> = log.iter().map(|e| json!([e.id, e.kind, e.actor, e.subject, e.details])).collect();
    json!({ "objects": objects, "users": users, "views": views, "rollups": rollups, "compound": compound,
        "search": db.search("نفر1", 50).await.expect("search").len(),
        "teams": teams, "access": db.access_rules().await.expect("rules"), "fields": db.field_rules().await.expect("field rules"),
        "shares": shares, "two_factor_roles": db.roles_requiring_two_factor().await.expect("roles"), "log": log })
}

async fn round_trip(from: Backend, to: Backend) {
    let Some(source_db) = TestDb::new(from).await else {
        return;
    };
    let Some(target_db) = TestDb::new(to).await else {
        source_db.cleanup().await;
        return;
    };
    let source = peyvand_crm::open(&source_db.url).await.expect("source");
    dataset(&source).await;
    let before = snapshot(&source).await;
    assert_eq!(before["objects"][1]["records"].as_array().map(Vec::len), Some(30), "30 contacts, one in the trash");

    let target = Db::connect(&target_db.url).await.expect("target").with_modules(peyvand_crm::modules());
    let rows = target.copy_from(&source).await.expect("copy");
    assert!(rows > 100, "{rows} rows copied");
    let after = snapshot(&target).await;
    assert_eq!(before["teams"].as_array().map(Vec::len), Some(2));
    assert_eq!(before["compound"][0][1], json!(["city", "lifecycle_stage"]), "{}", before["compound"]);
    assert_eq!(before["compound"][0][2], json!(true), "built");
    assert!(before["log"].as_array().is_some_and(|l| l.len() >= 5), "{}", before["log"]);
    assert_eq!(before, after);
    // The planner knows the tables it was given (issue 34: statistics after a bulk change).
    for object in ["company", "contact", "project"] {
        assert!(!target.statistics_missing(object).await.expect("statistics"), "{object} analyzed after the restore");
    }

    // The copy works like the original: the archived field comes back with its values, indexes
    // keep unique values unique, new records can be made.
    target
        .update_field(None, "contact", "old_code", FieldPatch { archived: Some(false), ..Default::default() })
        .await
        .expect("restore field");
    let page = target
        .list_records("contact", &ListQuery { limit: Some(1), sort: vec![], ..Default::default() })
        .await
        .expect("list");
    assert!(page.records[0].fields["old_code"].as_str().is_some_and(|c| c.starts_with('X')));
    target
        .create_record(
            None,
            "project",
            &map(json!({"name": "Next", "budget": {"amount": "5", "currency": "IRR"}})),
            None,
        )
        .await
        .expect("new record");
    let obj = target.object("project").await.expect("project");
    let spec = peyvand_records::aggregate::parse_aggregate(&obj, "", "budget").expect("spec");
    let budget = target.aggregate("project", None, &spec).await.expect("aggregate");
    assert_eq!(budget.source, peyvand_store::aggregate::Source::Rollup);
    assert_eq!(
        (budget.rows[0].count, budget.rows[0].sum["budget"].clone()),
        (2, json!("125000005")),
        "the copy's rollup follows new records"
    );
    // A second restore into a database that has data is refused.
    let again = target.copy_from(&source).await;
    assert!(matches!(again, Err(Error::Conflict { code: "target_not_empty", .. })), "{again:?}");

    source.close().await;
    target.close().await;
    source_db.cleanup().await;
    target_db.cleanup().await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    round_trip(Backend::Sqlite, Backend::Sqlite).await;
}

#[tokio::test]
async fn sqlite_to_postgres() {
    round_trip(Backend::Sqlite, Backend::Postgres).await;
}

#[tokio::test]
async fn postgres_to_sqlite() {
    round_trip(Backend::Postgres, Backend::Sqlite).await;
}

/// Every table a migrated database has is copied or declared transient (`Db::dump_tables`,
/// [`dump::TRANSIENT`]): a table added without a word in either would be lost in every backup.
async fn every_table_travels_or_is_transient(db: &Db) {
    let sql = match db.dialect() {
        peyvand_store::Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        peyvand_store::Dialect::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let rows = sqlx::query(sql).fetch_all(db.pool()).await.expect("tables");
    let names: Vec<String> = rows.iter().map(|r| sqlx::Row::get(r, 0)).collect();
    assert!(names.iter().any(|n| n == "users"), "{names:?}");
    // Record tables, their substring indexes and rollups are made from the metadata (rollups are
    // refilled from their declarations on restore).
    let made_from_records =
        |n: &str| ["r_", "gt_", "gq_", "gb_", "rollup_", "sqlite_"].iter().any(|p| n.starts_with(p));
    let unaccounted: Vec<&String> = names
        .iter()
        .filter(|n| !made_from_records(n))
        .filter(|n| !db.dump_tables().contains(n) && !peyvand_store::dump::TRANSIENT.contains(&n.as_str()))
        .collect();
    assert!(unaccounted.is_empty(), "tables neither copied nor transient: {unaccounted:?}");
}

peyvand_crm::crm_tests!(every_table_travels_or_is_transient);
