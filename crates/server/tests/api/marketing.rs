//! Marketing over HTTP: a segment made on the page (conditions on orders and consent) with its
//! live count, one through the API whose filter later names a removed field (a clear problem),
//! a campaign made, started once, and reported; a segment's members given points (API, once per
//! Idempotency-Key) and a benefit (its page).

use crate::backend_tests;
use crate::helpers::{TestApp, csrf_of, problem, signed_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(segments_count_and_campaigns_start_once, a_segments_members_are_given_points_and_a_benefit);

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

async fn a_segments_members_are_given_points_and_a_benefit(app: &TestApp) {
    let mut ids = Vec::new();
    for (name, days) in [("Ana", 10), ("Bob", 200)] {
        let id = app.create("contact", json!({"last_name": name})).await["id"].as_str().expect("id").to_string();
        let at = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() - time::Duration::days(days));
        app.create("order", json!({"contact": id, "ordered_at": at, "status": "paid", "total": {"amount": "1000000", "currency": "IRR"}}))
            .await;
        ids.push(id);
    }
    let club: Value = app
        .post("/api/v1/loyalty/programs", json!({"name_fa": "باشگاه", "name_en": "Club"}))
        .await
        .json()
        .await
        .expect("program");
    let seg: Value = app
        .post(
            "/api/v1/segments",
            json!({"name": "Recent", "object": "contact", "conditions": [{"kind": "bought_within", "days": 90}]}),
        )
        .await
        .json()
        .await
        .expect("segment");
    let seg = seg["id"].as_str().expect("id").to_string();
    let grant = json!({"program": club["id"], "points": 250, "note": "Yalda bonus"});
    let send = |token: String, key: &'static str| {
        let grant = grant.clone();
        let url = app.url(&format!("/api/v1/segments/{seg}/points"));
        async move {
            app.client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&grant)
                .send()
                .await
                .expect("send")
        }
    };
    let agent = app.user_with_role("rep@grants.peyvand.ir", "agent").await;
    assert_eq!(send(agent, "g-1").await.status(), StatusCode::FORBIDDEN, "managers and admins give");
    let first: Value = send(app.token.clone(), "g-1").await.json().await.expect("json");
    assert_eq!((first["members"].as_u64(), first["given"].as_u64()), (Some(1), Some(1)), "{first}");
    let again: Value = send(app.token.clone(), "g-1").await.json().await.expect("json");
    assert_eq!(again["given"].as_u64(), Some(0), "a retry gives nothing twice: {again}");
    let member: Value = app
        .get(&format!("/api/v1/loyalty/programs/{}/members/{}", club["id"].as_str().expect("id"), ids[0]))
        .await
        .json()
        .await
        .expect("member");
    assert_eq!(member["balance"].as_i64(), Some(250), "{member}");
    let bad = app
        .post(&format!("/api/v1/segments/{seg}/points"), json!({"program": club["id"], "points": 0, "note": "x"}))
        .await;
    assert_eq!(problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"], "points");

    // On the segment's page: a benefit for every member, said on the page.
    let client = signed_in(app).await;
    let page = format!("/marketing/segments/{seg}");
    let html = client.get(app.url(&page)).send().await.expect("send").text().await.expect("html");
    assert!(html.contains(&format!("action=\"/marketing/segments/{seg}/points\"")), "the points form");
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("key", "form-1"),
        ("name", "Yalda 10%"),
        ("kind", "percent_discount"),
        ("percent", "۱۰"),
    ];
    let html = client
        .post(app.url(&format!("{page}/benefits")))
        .form(&form)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Given to 1 of 1 members."), "{html}");
    let html = client
        .post(app.url(&format!("{page}/benefits")))
        .form(&form)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Given to 0 of 1 members."), "the same form sent twice gives once");
    let benefits =
        app.list("benefit", &[("filter", &format!(r#"{{"field":"contact","op":"eq","value":"{}"}}"#, ids[0]))]).await;
    let list = benefits["records"].as_array().expect("records");
    assert_eq!(list.len(), 1, "{benefits}");
    assert_eq!(
        (list[0]["fields"]["percent"].as_str(), list[0]["fields"]["applies_to"].as_str()),
        (Some("10.00"), Some("contact"))
    );
}
