//! Records through the API: custom fields, every filter operator, sorting and keyset pages,
//! the record life cycle with history, idempotent creation, optimistic updates.

use crate::backend_tests;
use crate::helpers::{TestApp, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(
    custom_fields_filter_and_sort,
    keyset_pages_cover_everything_once,
    record_life_cycle,
    creation_is_idempotent,
    concurrent_updates_conflict,
    concurrent_updates_without_a_version_all_land
);

fn names(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["fields"]["last_name"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn custom_fields_filter_and_sort(app: &TestApp) {
    app.add_field("contact", json!({"api_name": "score", "type": "integer", "indexed": true, "label_fa": "امتیاز"}))
        .await;
    app.add_field("contact", json!({"api_name": "joined", "type": "date"})).await;
    app.add_field("contact", json!({"api_name": "budget", "type": "currency"})).await;
    app.add_field("contact", json!({"api_name": "vip", "type": "boolean", "default_value": false})).await;
    app.add_field(
        "contact",
        json!({"api_name": "tier", "type": "select", "options": {"options": [{"value": "gold"}, {"value": "silver"}]}}),
    )
    .await;
    let rows = [
        ("کریمی", 30, "2024-03-20", "1500000", true, "gold"),
        ("رضایی", 10, "2023-01-05", "250000", false, "silver"),
        ("Ahmadi", 20, "2025-07-01", "990000", false, "gold"),
        ("Zand", 40, "2022-11-11", "5000000", true, "silver"),
    ];
    for (last, score, joined, budget, vip, tier) in rows {
        app.create(
            "contact",
            json!({"last_name": last, "score": score, "joined": joined, "budget": budget, "vip": vip, "tier": tier}),
        )
        .await;
    }
    app.create("contact", json!({"last_name": "Empty"})).await;

    let f = |filter: Value| filter.to_string();
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (json!({"field": "score", "op": "gt", "value": 15}), "score", vec!["Ahmadi", "کریمی", "Zand"]),
        (json!({"field": "score", "op": "lte", "value": "۲۰"}), "score", vec!["رضایی", "Ahmadi"]),
        (json!({"field": "score", "op": "between", "value": [10, 30]}), "-score", vec!["کریمی", "Ahmadi", "رضایی"]),
        (json!({"field": "score", "op": "in", "value": [10, 40]}), "score", vec!["رضایی", "Zand"]),
        (json!({"field": "score", "op": "is_empty", "value": true}), "", vec!["Empty"]),
        (json!({"field": "tier", "op": "ne", "value": "gold"}), "last_name", vec!["Empty", "Zand", "رضایی"]),
        (json!({"field": "joined", "op": "gte", "value": "2024-01-01"}), "joined", vec!["کریمی", "Ahmadi"]),
        (json!({"field": "budget", "op": "lt", "value": "1000000"}), "budget", vec!["رضایی", "Ahmadi"]),
        (json!({"field": "vip", "op": "eq", "value": true}), "last_name", vec!["Zand", "کریمی"]),
        (json!({"field": "last_name", "op": "contains", "value": "HMAD"}), "", vec!["Ahmadi"]),
        (json!({"field": "last_name", "op": "starts_with", "value": "رض"}), "", vec!["رضایی"]),
        (json!({"field": "last_name", "op": "contains", "value": "كريم"}), "", vec!["کریمی"]),
        (
            json!({"or": [{"field": "tier", "op": "eq", "value": "silver"}, {"and": [{"field": "vip", "op": "eq", "value": true}, {"field": "score", "op": "lt", "value": 35}]}]}),
            "-score",
            vec!["Zand", "کریمی", "رضایی"],
        ),
    ];
    for (filter, sort, expected) in cases {
        let page = app.list("contact", &[("filter", &f(filter.clone())), ("sort", sort), ("total", "true")]).await;
        assert_eq!(names(&page), expected, "filter {filter} sort {sort}");
        assert_eq!(page["total"], json!(expected.len()), "filter {filter}");
    }
    // The default value applied to records created before and after the field.
    let page =
        app.list("contact", &[("filter", &f(json!({"field": "last_name", "op": "eq", "value": "Empty"})))]).await;
    assert_eq!(page["records"][0]["fields"]["vip"], json!(false));
    assert_eq!(page["records"][0]["fields"]["budget"], Value::Null);
    let karimi = app.list("contact", &[("filter", &f(json!({"field": "score", "op": "eq", "value": 30})))]).await;
    assert_eq!(karimi["records"][0]["fields"]["budget"], json!({"amount": "1500000", "currency": "IRR"}));
}

async fn keyset_pages_cover_everything_once(app: &TestApp) {
    app.add_field("contact", json!({"api_name": "rank", "type": "integer", "indexed": true})).await;
    let mut expected = Vec::new();
    for i in 0..23 {
        // Ranks repeat and some are empty, so ties and NULLs cross page boundaries.
        let rank = if i % 5 == 0 { Value::Null } else { json!(i % 4) };
        let r = app.create("contact", json!({"last_name": format!("P{i:02}"), "rank": rank})).await;
        expected.push(r["id"].as_str().expect("id").to_string());
    }
    expected.sort();
    for sort in ["rank", "-rank", "-rank,last_name", "last_name", "-created_at"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        let mut previous: Option<(Value, String)> = None;
        loop {
            let page = app.list("contact", &[("sort", sort), ("limit", "4"), ("cursor", &cursor)]).await;
            for r in page["records"].as_array().expect("records") {
                seen.push(r["id"].as_str().expect("id").to_string());
                if sort == "rank" {
                    // NULLs first, then ascending.
                    let key = (r["fields"]["rank"].clone(), r["id"].as_str().unwrap_or("").to_string());
                    if let Some((prev_rank, _)) = &previous {
                        assert!(
                            prev_rank.is_null() || (!key.0.is_null() && prev_rank.as_i64() <= key.0.as_i64()),
                            "order broken at {key:?}"
                        );
                    }
                    previous = Some(key);
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, expected, "sort {sort}: every record exactly once");
    }
    let r = app.get_query("/api/v1/records/contact", &[("sort", "last_name"), ("cursor", "6e6f7065")]).await;
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["code"], json!("invalid_cursor"));
    // Some fields only: those asked for, the title's and the sort's, on every page.
    let mut cursor = String::new();
    let mut seen = 0;
    loop {
        let page =
            app.list("contact", &[("sort", "-rank"), ("limit", "10"), ("fields", "city"), ("cursor", &cursor)]).await;
        for r in page["records"].as_array().expect("records") {
            let mut keys: Vec<&str> = r["fields"].as_object().expect("fields").keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(keys, ["city", "first_name", "last_name", "rank"]);
            seen += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, expected.len());
    let r = app.get_query("/api/v1/records/contact", &[("fields", "city,nope")]).await;
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["code"], json!("unknown_field"));
}

async fn record_life_cycle(app: &TestApp) {
    let company = app.create("company", json!({"name": "پیوند"})).await;
    let r = app.post("/api/v1/records/contact", json!({"fields": {"first_name": "سارا", "last_name": "رضایی", "company": company["id"], "emails": ["Sara@Example.com"]}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers().get("etag").and_then(|v| v.to_str().ok()), Some("\"1\""));
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).expect("location").to_string();
    let contact: Value = r.json().await.expect("json");
    assert_eq!(contact["title"], json!("سارا رضایی"));
    assert_eq!(contact["fields"]["emails"], json!(["sara@example.com"]));
    let id = contact["id"].as_str().expect("id").to_string();
    assert_eq!(location, format!("/api/v1/records/contact/{id}"));

    let r = app
        .client
        .patch(app.url(&location))
        .bearer_auth(&app.token)
        .header("if-match", "\"1\"")
        .json(&json!({"fields": {"city": "تهران"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .patch(app.url(&location))
        .bearer_auth(&app.token)
        .header("if-match", "\"1\"")
        .json(&json!({"fields": {"city": "قم"}}))
        .send()
        .await
        .expect("send");
    let body = problem(r, StatusCode::CONFLICT).await;
    assert_eq!(body["code"], json!("version_conflict"));
    assert_eq!(app.get(&location).await.json::<Value>().await.expect("json")["fields"]["city"], json!("تهران"));

    // The company's contacts, through the relation's reverse.
    let filter = json!({"field": "company", "op": "eq", "value": company["id"]}).to_string();
    assert_eq!(app.list("contact", &[("filter", &filter)]).await["records"].as_array().map(Vec::len), Some(1));
    // A relation to nothing is refused.
    let r = app.patch(&location, json!({"fields": {"company": "no-such-company"}})).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], json!("invalid_reference"));

    assert_eq!(app.delete(&location).await.status(), StatusCode::NO_CONTENT);
    problem(app.get(&location).await, StatusCode::NOT_FOUND).await;
    assert_eq!(app.get(&format!("{location}?include_deleted=true")).await.status(), StatusCode::OK);
    assert_eq!(app.list("contact", &[("trash", "true")]).await["records"].as_array().map(Vec::len), Some(1));
    problem(app.delete(&location).await, StatusCode::NOT_FOUND).await;
    let r = app.post(&format!("{location}/restore"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);

    let history: Value = app.get(&format!("{location}/history")).await.json().await.expect("json");
    let actions: Vec<&str> =
        history["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, vec!["restore", "delete", "update", "create"]);
    let update = &history["entries"][2];
    assert_eq!(update["changes"], json!([{"field": "city", "old": null, "new": "تهران"}]));
    let me: Value = app.get("/api/v1/me").await.json().await.expect("json");
    assert_eq!(update["actor"], me["id"]);

    // Every change's audit entry is also its event, written in the same transaction (the
    // server's runner may already have sequenced some: waiting or not is its timing).
    let events = app.db.record_events(&id).await.expect("events");
    let topics: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, ["record.created", "record.updated", "record.deleted", "record.restored"]);
}

async fn creation_is_idempotent(app: &TestApp) {
    let send = || {
        app.client
            .post(app.url("/api/v1/records/company"))
            .bearer_auth(&app.token)
            .header("idempotency-key", "import-42")
            .json(&json!({"fields": {"name": "Idem"}}))
            .send()
    };
    let first = send().await.expect("send");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let second = send().await.expect("send");
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["id"], second["id"]);
    let filter = json!({"field": "name", "op": "eq", "value": "Idem"}).to_string();
    assert_eq!(app.list("company", &[("filter", &filter), ("total", "1")]).await["total"], json!(1));
    // The same key with another body, or for another object, is refused instead of answered
    // with the first record.
    let with = |path: &'static str, body: Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(&app.token)
            .header("idempotency-key", "import-42")
            .header("accept-language", "en")
            .json(&body)
            .send()
    };
    for (path, body) in [
        ("/api/v1/records/company", json!({"fields": {"name": "Other"}})),
        ("/api/v1/records/company", json!({"fields": {"name": "Idem", "website": "https://idem.example"}})),
        ("/api/v1/records/contact", json!({"fields": {"last_name": "Idem"}})),
    ] {
        let body =
            crate::helpers::problem(with(path, body).await.expect("send"), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["code"], "idempotency_key_reused", "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("different request")), "{body}");
    }
    let again = with("/api/v1/records/company", json!({"fields": {"name": "Idem"}})).await.expect("send");
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(app.list("company", &[("filter", &filter), ("total", "1")]).await["total"], json!(1));
}

async fn concurrent_updates_conflict(app: &TestApp) {
    let contact = app.create("contact", json!({"last_name": "Race"})).await;
    let path = format!("/api/v1/records/contact/{}", contact["id"].as_str().expect("id"));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let req = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&app.token)
            .header("if-match", "\"1\"")
            .json(&json!({"fields": {"city": format!("city {i}")}}));
        tasks.push(tokio::spawn(async move { req.send().await.map(|r| r.status()) }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("join").expect("send"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 7, "{statuses:?}");
    let now: Value = app.get(&path).await.json().await.expect("json");
    assert_eq!(now["version"], json!(2));
}

/// Without a version, concurrent changes wait for each other: none is refused or lost, and the
/// history chains each old value to the next (found by the benchmark on PostgreSQL, where the
/// second writer used to get 409).
async fn concurrent_updates_without_a_version_all_land(app: &TestApp) {
    let contact = app.create("contact", json!({"last_name": "Race", "city": "start"})).await;
    let id = contact["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/records/contact/{id}");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let req = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&app.token)
            .json(&json!({"fields": {"city": format!("city {i}")}}));
        tasks.push(tokio::spawn(async move { req.send().await.map(|r| r.status()) }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").expect("send"), StatusCode::OK);
    }
    let now: Value = app.get(&path).await.json().await.expect("json");
    assert_eq!(now["version"], json!(9), "eight changes");
    let history: Value = app.get(&format!("{path}/history")).await.json().await.expect("json");
    let mut entries: Vec<&Value> =
        history["entries"].as_array().expect("entries").iter().filter(|h| h["action"] == "update").collect();
    entries.reverse();
    assert_eq!(entries.len(), 8);
    let mut previous = json!("start");
    for e in entries {
        let change = &e["changes"][0];
        assert_eq!(change["old"], previous, "each change starts from the one before");
        previous = change["new"].clone();
    }
    assert_eq!(previous, now["fields"]["city"]);
}
