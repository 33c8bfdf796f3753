//! Saved views through the API, and bulk actions and the board move through the pages.

use crate::backend_tests;
use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(views_are_checked_and_scoped, bulk_actions_change_all_or_nothing);

async fn views_are_checked_and_scoped(app: &TestApp) {
    let agent = app.user_with_role("agent@test.peyvand.ir", "agent").await;
    let r = app
        .post("/api/v1/views", json!({"object": "contact", "name": "Tehran", "filter": {"field": "city", "op": "eq", "value": "تهران"}, "sort": "-created_at", "columns": ["city", "phones"]}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mine: Value = r.json().await.expect("json");
    let r = app.post("/api/v1/views", json!({"object": "contact", "name": "Shared", "shared": true})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let shared: Value = r.json().await.expect("json");

    // The agent sees the shared view only, and may not publish one.
    let listed: Value =
        app.send_as(&agent, Method::GET, "/api/v1/views?object=contact", None).await.json().await.expect("json");
    let names: Vec<&str> =
        listed["views"].as_array().expect("views").iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, vec!["Shared"]);
    let r = app
        .send_as(
            &agent,
            Method::POST,
            "/api/v1/views",
            Some(json!({"object": "contact", "name": "Mine too", "shared": true})),
        )
        .await;
    problem(r, StatusCode::FORBIDDEN).await;
    let r = app
        .send_as(&agent, Method::DELETE, &format!("/api/v1/views/{}", shared["id"].as_str().expect("id")), None)
        .await;
    problem(r, StatusCode::NOT_FOUND).await;
    let r =
        app.send_as(&agent, Method::DELETE, &format!("/api/v1/views/{}", mine["id"].as_str().expect("id")), None).await;
    problem(r, StatusCode::NOT_FOUND).await;

    for (body, code) in [
        (json!({"object": "contact", "name": "", "sort": ""}), "required"),
        (
            json!({"object": "contact", "name": "x", "filter": {"field": "nope", "op": "eq", "value": 1}}),
            "unknown_field",
        ),
        (json!({"object": "contact", "name": "x", "sort": "-nope"}), "unknown_field"),
        (json!({"object": "contact", "name": "x", "columns": ["nope"]}), "unknown_field"),
        (json!({"object": "contact", "name": "x", "kind": "board", "group_by": "city"}), "not_a_select"),
    ] {
        let r = app.post("/api/v1/views", body.clone()).await;
        assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], json!(code), "{body}");
    }
    problem(app.post("/api/v1/views", json!({"object": "nothing", "name": "x"})).await, StatusCode::NOT_FOUND).await;
    problem(app.get("/api/v1/views").await, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.delete(&format!("/api/v1/views/{}", mine["id"].as_str().expect("id"))).await.status(),
        StatusCode::NO_CONTENT
    );
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("csrf field");
    html[start..].chars().take_while(|c| *c != '"').collect()
}

async fn bulk_actions_change_all_or_nothing(app: &TestApp) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .post(app.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = client.get(app.url("/records/contact")).send().await.expect("send").text().await.expect("text");
    let csrf = csrf_of(&html);
    let reader = app.user_with_role("owner@test.peyvand.ir", "agent").await;
    let owner: Value = app.send_as(&reader, Method::GET, "/api/v1/me", None).await.json().await.expect("json");
    let mut ids = Vec::new();
    for name in ["=cmd", "B", "C"] {
        ids.push(
            app.create("contact", json!({"last_name": name, "city": "Tabriz"})).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let post = |form: Vec<(String, String)>| {
        client.post(app.url("/records/contact/bulk")).header("origin", &app.base).form(&form).send()
    };
    let form = |action: &str, extra: &[(&str, &str)], ids: &[String]| {
        let mut f: Vec<(String, String)> = vec![
            ("csrf".into(), csrf.clone()),
            ("action".into(), action.into()),
            ("back".into(), "/records/contact".into()),
        ];
        f.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        f.extend(ids.iter().map(|i| ("id".to_string(), i.clone())));
        f
    };

    let r = post(form("assign_owner", &[("owner", owner["id"].as_str().expect("id"))], &ids)).await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers().get("location").and_then(|l| l.to_str().ok()).is_some_and(|l| l.ends_with("done=3")));
    let r = post(form("add_tag", &[("tag", "VIP")], &ids[..2])).await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let tagged = json!({"field": "tags", "op": "eq", "value": "VIP"}).to_string();
    assert_eq!(app.list("contact", &[("filter", &tagged), ("total", "1")]).await["total"], json!(2));
    let owned = json!({"field": "owner", "op": "eq", "value": owner["id"]}).to_string();
    assert_eq!(app.list("contact", &[("filter", &owned), ("total", "1")]).await["total"], json!(3));

    // A bulk change that fails for one record changes none.
    let mut with_missing = ids.clone();
    with_missing.push("no-such-id".into());
    let r = post(form("add_tag", &[("tag", "Later")], &with_missing)).await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let later = json!({"field": "tags", "op": "eq", "value": "Later"}).to_string();
    assert_eq!(app.list("contact", &[("filter", &later), ("total", "1")]).await["total"], json!(0));

    // Export: CSV with the chosen columns, formulas neutralized.
    let r = post(form("export", &[("columns", "last_name,city")], &ids)).await.expect("send");
    assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
    let csv = r.text().await.expect("text");
    let lines: Vec<&str> = csv.trim_start_matches('\u{FEFF}').lines().collect();
    assert_eq!(lines[0], "id,Last name,City");
    assert_eq!(lines.len(), 4);
    assert!(csv.contains(",'=cmd,Tabriz"), "{csv}");

    // The whole list as shown (filter and columns) streams as CSV.
    let filter = json!({"field": "tags", "op": "eq", "value": "VIP"}).to_string();
    let url = format!("/records/contact/export.csv?filter={}&columns=city", urlencode(&filter));
    let r = client.get(app.url(&url)).send().await.expect("send");
    assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
    let csv = r.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,first_name,last_name,city");
    assert_eq!(lines.len(), 3, "the two tagged records: {csv}");
    assert!(csv.contains(",'=cmd,Tabriz"));
    let r = client.get(app.url(&url.replace("export.csv", "export.xlsx"))).send().await.expect("send");
    assert_eq!(
        r.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    let bytes = r.bytes().await.expect("bytes");
    // One file per test server: both backends' tests run at once in this process.
    let port = app.base.rsplit(':').next().unwrap_or("0").to_string();
    let path = std::env::temp_dir().join(format!("peyvand-web-export-{}-{port}.xlsx", std::process::id()));
    std::fs::write(&path, &bytes).expect("write");
    let rows = peyvand_transfer::xlsx::sheet_rows(&path).expect("a workbook");
    let _ = std::fs::remove_file(&path);
    assert_eq!(rows[0], vec!["id", "first_name", "last_name", "city"]);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().any(|r| r[2] == "=cmd"), "a string cell, never a formula");

    // Forged or missing CSRF tokens change nothing.
    let mut forged = form("delete", &[], &ids);
    forged[0].1 = "forged".into();
    assert_eq!(post(forged).await.expect("send").status(), StatusCode::FORBIDDEN);
    let r = post(form("delete", &[], &ids)).await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.list("contact", &[("total", "1")]).await["total"], json!(0));

    // The board move sets a select field.
    let c = app.create("contact", json!({"last_name": "Mover"})).await;
    let r = client
        .post(app.url(&format!("/records/contact/{}/move", c["id"].as_str().expect("id"))))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("field", "lifecycle_stage"), ("value", "customer")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let now: Value = app
        .get(&format!("/api/v1/records/contact/{}", c["id"].as_str().expect("id")))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(now["fields"]["lifecycle_stage"], json!("customer"));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
