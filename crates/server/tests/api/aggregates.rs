//! Aggregates for dashboards: counts and sums in groups, filters, money per currency, errors
//! naming the parameter, a cache that a change anywhere clears, and rollups declared by admins.

use crate::backend_tests;
use crate::helpers::{TestApp, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(
    counts_and_sums_in_groups,
    bad_aggregates_are_explained,
    rollups_answer_dashboards,
    compound_indexes_serve_filtered_aggregates
);

async fn aggregate(app: &TestApp, object: &str, query: &[(&str, &str)]) -> Value {
    let r = app.get_query(&format!("/api/v1/aggregate/{object}"), query).await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The rows as (group values…, count, sums…) for easy comparison.
fn rows(body: &Value, group: &[&str], sum: &[&str]) -> Vec<Vec<Value>> {
    body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let mut row: Vec<Value> = group.iter().map(|g| r["group"][*g].clone()).collect();
            row.push(r["count"].clone());
            row.extend(sum.iter().map(|s| r["sum"][*s].clone()));
            row
        })
        .collect()
}

async fn counts_and_sums_in_groups(app: &TestApp) {
    app.add_field("contact", json!({"api_name": "score", "type": "integer"})).await;
    app.add_field("contact", json!({"api_name": "budget", "type": "currency", "options": {"scale": 2}})).await;
    let people = [
        ("A", "lead", "1990-03-21", 10, ("100.50", "IRR")),
        ("B", "lead", "1990-07-01", 5, ("20", "IRR")),
        ("C", "customer", "1991-01-05", 7, ("3", "USD")),
        ("D", "customer", "1991-02-05", 1, ("4", "USD")),
        ("E", "customer", "1990-12-31", 2, ("1000", "IRR")),
    ];
    let mut ids = Vec::new();
    for (name, stage, born, score, (amount, currency)) in people {
        let r = app
            .create(
                "contact",
                json!({"last_name": name, "lifecycle_stage": stage, "birth_date": born, "score": score, "budget": {"amount": amount, "currency": currency}}),
            )
            .await;
        ids.push(r["id"].as_str().expect("id").to_string());
    }
    app.create("contact", json!({"last_name": "No stage"})).await;

    let body = aggregate(app, "contact", &[("group", "lifecycle_stage"), ("sum", "score")]).await;
    assert_eq!(body["truncated"], json!(false));
    assert_eq!(
        rows(&body, &["lifecycle_stage"], &["score"]),
        vec![
            vec![Value::Null, json!(1), Value::Null],
            vec![json!("customer"), json!(3), json!(10)],
            vec![json!("lead"), json!(2), json!(15)]
        ],
        "empty values first, then in order"
    );
    let body =
        aggregate(app, "contact", &[("group", "lifecycle_stage,birth_date:year"), ("sum", "budget,score")]).await;
    assert_eq!(
        rows(&body, &["lifecycle_stage", "birth_date", "budget__currency"], &["budget", "score"]),
        vec![
            vec![Value::Null, Value::Null, Value::Null, json!(1), Value::Null, Value::Null],
            vec![json!("customer"), json!("1990"), json!("IRR"), json!(1), json!("1000.00"), json!(2)],
            vec![json!("customer"), json!("1991"), json!("USD"), json!(2), json!("7.00"), json!(8)],
            vec![json!("lead"), json!("1990"), json!("IRR"), json!(2), json!("120.50"), json!(15)],
        ],
        "money sums stay apart per currency"
    );
    let body = aggregate(
        app,
        "contact",
        &[("group", "birth_date:month"), ("filter", r#"{"field":"score","op":"gte","value":5}"#)],
    )
    .await;
    assert_eq!(
        rows(&body, &["birth_date"], &[]),
        vec![vec![json!("1990-03"), json!(1)], vec![json!("1990-07"), json!(1)], vec![json!("1991-01"), json!(1)]]
    );
    let total = aggregate(app, "contact", &[]).await;
    assert_eq!(rows(&total, &[], &[]), vec![vec![json!(6)]], "no group: one row with the count");

    // The same request again is served the same; any change shows on the next request.
    let first = aggregate(app, "contact", &[("group", "lifecycle_stage"), ("sum", "score")]).await;
    assert_eq!(aggregate(app, "contact", &[("group", "lifecycle_stage"), ("sum", "score")]).await, first);
    let r = app.patch(&format!("/api/v1/records/contact/{}", ids[0]), json!({"fields": {"score": 30}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = aggregate(app, "contact", &[("group", "lifecycle_stage"), ("sum", "score")]).await;
    assert_eq!(rows(&after, &["lifecycle_stage"], &["score"])[2], vec![json!("lead"), json!(2), json!(35)]);
    let r = app.delete(&format!("/api/v1/records/contact/{}", ids[1])).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = aggregate(app, "contact", &[("group", "lifecycle_stage"), ("sum", "score")]).await;
    assert_eq!(
        rows(&after, &["lifecycle_stage"], &["score"])[2],
        vec![json!("lead"), json!(1), json!(30)],
        "the trash is not counted"
    );

    // A reader may aggregate.
    let reader = app.user_with_role("reader@example.com", "read_only").await;
    let r = app.send_as(&reader, reqwest::Method::GET, "/api/v1/aggregate/contact?group=lifecycle_stage", None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn bad_aggregates_are_explained(app: &TestApp) {
    for (query, field, code) in [
        ("group=nope", "group", "unknown_field"),
        ("group=phones", "group", "not_groupable"),
        ("group=city:month", "group", "invalid_bucket"),
        ("sum=city", "sum", "not_numeric"),
        ("filter=%7B", "filter", "filter_syntax"),
    ] {
        let r = app.get(&format!("/api/v1/aggregate/contact?{query}")).await;
        let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], json!(field), "{query}: {body}");
        assert_eq!(body["errors"][0]["code"], json!(code), "{query}: {body}");
    }
    let r = app.get("/api/v1/aggregate/contact?size=3").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "unknown parameters are refused");
    let r = app.get("/api/v1/aggregate/nothing").await;
    problem(r, StatusCode::NOT_FOUND).await;
}

async fn rollups_answer_dashboards(app: &TestApp) {
    app.add_field("contact", json!({"api_name": "score", "type": "integer"})).await;
    app.add_field("contact", json!({"api_name": "budget", "type": "currency", "options": {"scale": 2}})).await;
    for (name, stage, born, score, amount) in [
        ("A", "lead", "1990-03-21", 10, "100.50"),
        ("B", "lead", "1990-07-01", 5, "20"),
        ("C", "customer", "1991-01-05", 7, "3"),
    ] {
        app.create(
            "contact",
            json!({"last_name": name, "lifecycle_stage": stage, "birth_date": born, "score": score, "budget": {"amount": amount, "currency": "IRR"}}),
        )
        .await;
    }
    let question = [("group", "lifecycle_stage,birth_date:year"), ("sum", "budget,score")];
    let scanned = aggregate(app, "contact", &question).await;
    assert_eq!(scanned["source"], json!("scan"));

    // Only admins declare; anyone who reads records sees the list.
    let declaration = json!({"group": "lifecycle_stage,birth_date:month", "sum": "budget,score"});
    let agent = app.user_with_role("agent@example.com", "agent").await;
    let r =
        app.send_as(&agent, reqwest::Method::POST, "/api/v1/objects/contact/rollups", Some(declaration.clone())).await;
    problem(r, StatusCode::FORBIDDEN).await;
    let r = app.post("/api/v1/objects/contact/rollups", declaration.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let rollup: Value = r.json().await.expect("json");
    assert_eq!(rollup["group"], json!("lifecycle_stage,birth_date:month"));
    let r = app.post("/api/v1/objects/contact/rollups", declaration).await;
    assert_eq!(r.status(), StatusCode::OK, "declared again: the same rollup");
    assert_eq!(r.json::<Value>().await.expect("json")["id"], rollup["id"]);
    let r = app.post("/api/v1/objects/contact/rollups", json!({"group": "nope"})).await;
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        (body["errors"][0]["field"].clone(), body["errors"][0]["code"].clone()),
        (json!("group"), json!("unknown_field"))
    );
    let r = app.send_as(&agent, reqwest::Method::GET, "/api/v1/objects/contact/rollups", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Value = r.json().await.expect("json");
    assert_eq!(listed["rollups"].as_array().map(|l| l.len()), Some(1));

    // Years from months: the same answer, from the rollup, and it follows changes.
    let rolled = aggregate(app, "contact", &question).await;
    assert_eq!(rolled["source"], json!("rollup"));
    assert_eq!(rolled["rows"], scanned["rows"]);
    app.create(
        "contact",
        json!({"last_name": "D", "lifecycle_stage": "customer", "birth_date": "1991-05-05", "score": 1}),
    )
    .await;
    let after = aggregate(app, "contact", &[("group", "lifecycle_stage"), ("sum", "score")]).await;
    assert_eq!(after["source"], json!("rollup"));
    assert_eq!(
        rows(&after, &["lifecycle_stage"], &["score"]),
        vec![vec![json!("customer"), json!(2), json!(8)], vec![json!("lead"), json!(2), json!(15)]]
    );
    let filtered = aggregate(
        app,
        "contact",
        &[("group", "lifecycle_stage"), ("filter", r#"{"field":"score","op":"gte","value":5}"#)],
    )
    .await;
    assert_eq!(filtered["source"], json!("scan"), "a filtered question reads the records");

    let id = rollup["id"].as_str().expect("id");
    let r = app.delete(&format!("/api/v1/objects/contact/rollups/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(aggregate(app, "contact", &question).await["source"], json!("scan"));
    let r = app.delete(&format!("/api/v1/objects/contact/rollups/{id}")).await;
    problem(r, StatusCode::NOT_FOUND).await;

    // An object's rollups are bounded, and the refusal says so in the user's words.
    for group in [
        "city",
        "source",
        "lifecycle_stage",
        "birth_date",
        "birth_date:month",
        "birth_date:year",
        "city,source",
        "city,lifecycle_stage",
        "source,lifecycle_stage",
        "owner",
    ] {
        let r = app.post("/api/v1/objects/contact/rollups", json!({"group": group})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{group}");
    }
    let r = app.post("/api/v1/objects/contact/rollups", json!({"group": "city,owner"})).await;
    let body = problem(r, StatusCode::CONFLICT).await;
    assert_eq!(body["errors"][0]["code"], json!("too_many_rollups"), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("10") || message.contains("۱۰"), "{body}");
}

/// Per stage (none first), the contacts of `city` scoring at least `least`: how many, and their
/// scores' sum, as the test's own data says.
fn expected(people: &[(String, &str, Option<&str>, i64)], city: &str, least: i64) -> Vec<Vec<Value>> {
    let mut groups: std::collections::BTreeMap<Option<&str>, (i64, i64)> = std::collections::BTreeMap::new();
    for (_, c, stage, score) in people {
        if *c == city && *score >= least {
            let g = groups.entry(*stage).or_default();
            g.0 += 1;
            g.1 += score;
        }
    }
    groups.into_iter().map(|(stage, (n, sum))| vec![json!(stage), json!(n), json!(sum)]).collect()
}

async fn compound_indexes_serve_filtered_aggregates(app: &TestApp) {
    app.add_field("contact", json!({"api_name": "score", "type": "integer"})).await;
    let stages = ["lead", "customer", "evangelist"];
    let mut people: Vec<(String, &str, Option<&str>, i64)> = Vec::new();
    let add = async |city: &'static str, stage: Option<&'static str>, score: i64| {
        let made = app
            .create(
                "contact",
                json!({"last_name": format!("P{score}"), "city": city, "lifecycle_stage": stage, "score": score}),
            )
            .await;
        (made["id"].as_str().expect("id").to_string(), city, stage, score)
    };
    for i in 0..45_i64 {
        people.push(add(["Tabriz", "Shiraz"][(i % 2) as usize], Some(stages[(i % 3) as usize]), (i * 7) % 50).await);
    }
    // A stage whose only record in the city scores low (a group the walk passes and leaves
    // out), and records with no stage (the empty group).
    people.push(add("Tabriz", Some("former"), 1).await);
    people.push(add("Tabriz", None, 45).await);
    people.push(add("Tabriz", None, 3).await);
    let ask = |least: i64| async move {
        let filter = json!({"and": [{"field": "city", "op": "eq", "value": "Tabriz"},
                                    {"field": "score", "op": "gte", "value": least}]})
        .to_string();
        let q = [("group", "lifecycle_stage"), ("sum", "score"), ("filter", filter.as_str())];
        let body = aggregate(app, "contact", &q).await;
        (body["source"].clone(), rows(&body, &["lifecycle_stage"], &["score"]))
    };
    let (source, before) = ask(20).await;
    assert_eq!(source, json!("scan"));
    assert_eq!(before, expected(&people, "Tabriz", 20));
    assert!(before.len() > 2 && before[0][0].is_null(), "the question has answers, the empty group first: {before:?}");

    // Declared: built in the database, listed, and declaring it again finds the same one.
    let fields = json!({"fields": ["city", "lifecycle_stage", "score"]});
    let r = app.post("/api/v1/objects/contact/indexes", fields.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let index: Value = r.json().await.expect("json");
    assert_eq!(index["fields"], json!(["city", "lifecycle_stage", "score"]), "{index}");
    let id = index["id"].as_str().expect("id").to_string();
    let r = app.post("/api/v1/objects/contact/indexes", fields.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["id"], json!(id));
    let listed: Value = app.get("/api/v1/objects/contact/indexes").await.json().await.expect("json");
    assert_eq!(listed["indexes"].as_array().map(Vec::len), Some(1), "{listed}");
    let built = |names: Vec<String>| names.iter().filter(|n| n.starts_with("ixk_")).count();
    assert_eq!(built(app.db.index_names("r_contact").await.expect("indexes")), 1);

    // The same answers from it, and after changes it is kept with them: a new record, one
    // moved to another city, one trashed.
    assert_eq!(ask(20).await, (json!("index"), before.clone()), "walked along the index");
    let made = app
        .create("contact", json!({"last_name": "New", "city": "Tabriz", "lifecycle_stage": "lead", "score": 49}))
        .await;
    people.push((made["id"].as_str().expect("id").to_string(), "Tabriz", Some("lead"), 49));
    let moved = people.iter().position(|p| p.1 == "Tabriz" && p.3 >= 20).expect("a match");
    let r =
        app.patch(&format!("/api/v1/records/contact/{}", people[moved].0), json!({"fields": {"city": "Shiraz"}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    people[moved].1 = "Shiraz";
    let trashed = people.iter().position(|p| p.1 == "Tabriz" && p.3 >= 20).expect("a match");
    let r = app.delete(&format!("/api/v1/records/contact/{}", people[trashed].0)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    people.remove(trashed);
    for least in [0, 20, 35, 50] {
        assert_eq!(ask(least).await.1, expected(&people, "Tabriz", least), "score ≥ {least}");
    }
    assert_ne!(ask(20).await.1, before, "the changes show");
    // Grouped by a field no index puts after the city, it reads the records.
    let filter = json!({"field": "city", "op": "eq", "value": "Tabriz"}).to_string();
    let by_source = aggregate(app, "contact", &[("group", "source"), ("filter", filter.as_str())]).await;
    assert_eq!(by_source["source"], json!("scan"), "{by_source}");

    // Bad declarations, each named in the user's words; nothing is built.
    for (body, at, code) in [
        (json!({"fields": ["city"]}), "fields", "too_few_fields"),
        (json!({"fields": ["city", "nope"]}), "fields[1]", "unknown_field"),
        (json!({"fields": ["city", "emails"]}), "fields[1]", "not_indexable"),
        (json!({"fields": ["city", "score", "city"]}), "fields[2]", "duplicate"),
        (json!({"fields": ["city", "score", "source", "owner", "lifecycle_stage"]}), "fields", "too_many"),
    ] {
        let r = app.post("/api/v1/objects/contact/indexes", body.clone()).await;
        let problem = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], json!(at), "{body}: {problem}");
        assert_eq!(problem["errors"][0]["code"], json!(code), "{body}: {problem}");
        assert!(!problem["errors"][0]["message"].as_str().unwrap_or("").is_empty(), "{problem}");
    }
    for fields in [["city", "score"], ["source", "score"], ["owner", "score"], ["city", "source"]] {
        let r = app.post("/api/v1/objects/contact/indexes", json!({"fields": fields})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{fields:?}");
    }
    let r = app.post("/api/v1/objects/contact/indexes", json!({"fields": ["source", "city"]})).await;
    let body = problem(r, StatusCode::CONFLICT).await;
    assert_eq!(body["errors"][0]["code"], json!("too_many_indexes"), "{body}");
    assert_eq!(built(app.db.index_names("r_contact").await.expect("indexes")), 5);

    // Removing the score field drops the four indexes that read it, in the database too.
    let r = app.delete("/api/v1/objects/contact/fields/score").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let listed: Value = app.get("/api/v1/objects/contact/indexes").await.json().await.expect("json");
    assert_eq!(listed["indexes"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["indexes"][0]["fields"], json!(["city", "source"]), "{listed}");
    assert_eq!(built(app.db.index_names("r_contact").await.expect("indexes")), 1);
    let last = listed["indexes"][0]["id"].as_str().expect("id").to_string();
    let r = app.delete(&format!("/api/v1/objects/contact/indexes/{last}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(built(app.db.index_names("r_contact").await.expect("indexes")), 0);
    let r = app.delete(&format!("/api/v1/objects/contact/indexes/{last}")).await;
    problem(r, StatusCode::NOT_FOUND).await;
}
