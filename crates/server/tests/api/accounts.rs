//! Tokens, roles and the failed-login limit.

use crate::backend_tests;
use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(tokens_authenticate_and_can_be_revoked, roles_are_enforced, failed_logins_are_limited);

async fn tokens_authenticate_and_can_be_revoked(app: &TestApp) {
    let me: Value = app.get("/api/v1/me").await.json().await.expect("json");
    assert_eq!(me["email"], json!(ADMIN_EMAIL));
    assert_eq!(me["role"], json!("admin"));

    let r = app.client.get(app.url("/api/v1/me")).send().await.expect("send");
    let body = problem(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["code"], json!("unauthorized"));
    let r = app.client.get(app.url("/api/v1/me")).bearer_auth("pv_not_a_token").send().await.expect("send");
    problem(r, StatusCode::UNAUTHORIZED).await;

    let r = app.post("/api/v1/tokens", json!({"name": "script"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.expect("json");
    let secret = created["token"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("pv_"));
    assert_eq!(app.send_as(&secret, Method::GET, "/api/v1/me", None).await.status(), StatusCode::OK);
    let listed: Value = app.get("/api/v1/tokens").await.json().await.expect("json");
    assert!(listed["tokens"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == json!("script"))));
    assert!(!listed.to_string().contains(&secret), "secrets are never listed");
    let r = app.delete(&format!("/api/v1/tokens/{}", created["id"].as_str().expect("id"))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.send_as(&secret, Method::GET, "/api/v1/me", None).await;
    problem(r, StatusCode::UNAUTHORIZED).await;
}

async fn roles_are_enforced(app: &TestApp) {
    let reader = app.user_with_role("reader@test.peyvand.ir", "read_only").await;
    let (agent_id, agent) = app.user_id_with_role("agent@test.peyvand.ir", "agent").await;
    // The agent's own contact (issue 25: agents change their team's records, no others').
    let contact = app.create("contact", json!({"last_name": "Role", "owner": agent_id})).await;
    let id = contact["id"].as_str().expect("id");

    assert_eq!(app.send_as(&reader, Method::GET, "/api/v1/records/contact", None).await.status(), StatusCode::OK);
    let r = app
        .send_as(&reader, Method::POST, "/api/v1/records/contact", Some(json!({"fields": {"last_name": "X"}})))
        .await;
    assert_eq!(problem(r, StatusCode::FORBIDDEN).await["code"], json!("forbidden"));
    let r = app
        .send_as(
            &reader,
            Method::POST,
            "/api/v1/objects/contact/fields",
            Some(json!({"api_name": "x", "type": "text"})),
        )
        .await;
    problem(r, StatusCode::FORBIDDEN).await;

    let r = app
        .send_as(
            &agent,
            Method::PATCH,
            &format!("/api/v1/records/contact/{id}"),
            Some(json!({"fields": {"city": "تبریز"}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.send_as(&agent, Method::DELETE, &format!("/api/v1/records/contact/{id}"), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.send_as(&agent, Method::POST, &format!("/api/v1/records/contact/{id}/restore"), None).await;
    problem(r, StatusCode::FORBIDDEN).await;
    let r = app.send_as(&agent, Method::GET, "/api/v1/users", None).await;
    problem(r, StatusCode::FORBIDDEN).await;
    let r = app.post(&format!("/api/v1/records/contact/{id}/restore"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = app
        .post("/api/v1/users", json!({"email": "short@test.peyvand.ir", "role": "agent", "password": "short"}))
        .await;
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], json!("password"));
    let r = app
        .post("/api/v1/users", json!({"email": "reader@test.peyvand.ir", "role": "agent", "password": PASSWORD}))
        .await;
    assert_eq!(problem(r, StatusCode::CONFLICT).await["code"], json!("user_exists"));
}

async fn failed_logins_are_limited(app: &TestApp) {
    for _ in 0..5 {
        let r = app
            .client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"email": ADMIN_EMAIL, "password": "wrong"}))
            .send()
            .await
            .expect("send");
        problem(r, StatusCode::UNAUTHORIZED).await;
    }
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert!(r.headers().get("retry-after").is_some());
    let body = problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["code"], json!("too_many_requests"));
    // The tokens already issued keep working.
    assert_eq!(app.get("/api/v1/me").await.status(), StatusCode::OK);
}
