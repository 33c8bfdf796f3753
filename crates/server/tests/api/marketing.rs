//! Marketing over HTTP: a segment made on the page (conditions on orders and consent) with its
//! live count, one through the API whose filter later names a removed field (a clear problem),
//! a campaign made, started once, and reported.

use crate::backend_tests;
use crate::helpers::{TestApp, csrf_of, problem, signed_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(segments_count_and_campaigns_start_once);

async fn segments_count_and_campaigns_start_once(app: &TestApp) {
    let mut ids = Vec::new();
    for (name, days) in [("Ana", 10), ("Bob", 200)] {
        let c = app.create("contact", json!({"last_name": name, "emails": [format!("{name}@example.ir")]})).await;
        let id = c["id"].as_str().expect("id").to_string();
        let at = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() - time::Duration::days(days));
        app.create("order", json!({"contact": id, "ordered_at": at, "status": "paid", "total": {"amount": "1000000", "currency": "IRR"}}))
            .await;
        ids.push(id);
    }
    let client = signed_in(app).await;
    let html = client.get(app.url("/marketing")).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    let r = client
        .post(app.url("/marketing/segments"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Recent buyers"),
            ("object", "contact"),
            ("kind", "dynamic"),
            ("bought_within", "۹۰"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = r.headers()["location"].to_str().expect("location").to_string();
    let page = client.get(app.url(&at)).send().await.expect("send").text().await.expect("html");
    assert!(page.contains("Ana") && !page.contains("Bob"), "the live members");
    let segments: Value = app.get("/api/v1/segments").await.json().await.expect("json");
    let seg = segments["segments"][0]["id"].as_str().expect("id").to_string();
    let members: Value = app.get(&format!("/api/v1/segments/{seg}/members")).await.json().await.expect("json");
    assert_eq!(members["count"], 1);

    // A filter on a field that is later removed: a clear problem.
    app.post(
        "/api/v1/objects/contact/fields",
        json!({"api_name": "vip", "label_fa": "ویژه", "label_en": "VIP", "type": "boolean"}),
    )
    .await;
    let r = app
        .post(
            "/api/v1/segments",
            json!({"name": "VIP", "object": "contact", "filter": {"field": "vip", "op": "eq", "value": true}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let vip = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    app.delete("/api/v1/objects/contact/fields/vip").await;
    let r = app.get(&format!("/api/v1/segments/{vip}/members")).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "segment_filter_broken");

    let t = json!({"name": "News", "channel": "email", "object": "contact", "subject": "News", "body": "Hello {{ record.last_name }}"});
    let template: Value = app.post("/api/v1/templates", t).await.json().await.expect("template");
    let r = app.post("/api/v1/campaigns", json!({"name": "Autumn", "template": template["id"], "segment": seg})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let campaign = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let html = client
        .get(app.url(&format!("/marketing/campaigns/{campaign}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    let csrf = csrf_of(&html);
    let start = async || {
        client
            .post(app.url(&format!("/marketing/campaigns/{campaign}/start")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .expect("send")
    };
    assert_eq!(start().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(start().await.status(), StatusCode::UNPROCESSABLE_ENTITY, "once");
    let body: Value = app.get(&format!("/api/v1/campaigns/{campaign}")).await.json().await.expect("json");
    assert_ne!(body["campaign"]["status"], "draft", "{body}");
}
