//! Many customers and many clients (issue 34): overload is an answer, not an error.

use crate::helpers::{Backend, TestApp, problem};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// With every handler busy and the waiting room full, a request is answered 503 with
/// `Retry-After` at once; one that waits longer than allowed is answered 503 too; the busy one
/// finishes when it can; health checks are always answered. (Before, requests queued without
/// end and answered 500 when the pool's wait ran out.)
#[tokio::test]
async fn overload_is_an_answer_not_an_error() {
    let limits = peyvand_web::admission::Limits { in_flight: 1, waiting: 1, wait: Duration::from_millis(400) };
    let config = peyvand_web::WebConfig { admission: limits, ..peyvand_web::WebConfig::default() };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await.expect("sqlite");
    // The one handler is kept busy by a create waiting for a write this test holds.
    let held = app.db.write().await.expect("hold the write lock");
    let send = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut request = app.client.request(method, app.url(path)).bearer_auth(&app.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        tokio::spawn(request.send())
    };
    let busy = send(reqwest::Method::POST, "/api/v1/records/company", Some(json!({"fields": {"name": "Busy"}})));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waits = send(reqwest::Method::GET, "/api/v1/records/company", None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused =
        app.client.get(app.url("/api/v1/records/company")).bearer_auth(&app.token).send().await.expect("send");
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(problem(refused, StatusCode::SERVICE_UNAVAILABLE).await["code"], "unavailable");
    assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("healthz").status(), StatusCode::OK);
    let waited = waits.await.expect("task").expect("send");
    assert_eq!(waited.status(), StatusCode::SERVICE_UNAVAILABLE, "waited past the limit");
    drop(held);
    let done = busy.await.expect("task").expect("send");
    assert_eq!(done.status(), StatusCode::CREATED, "the busy request finishes");
    assert_eq!(app.get("/api/v1/records/company").await.status(), StatusCode::OK, "served again");
    app.stop().await;
}

/// A request whose client leaves stops using the database: a create waiting for a table this
/// test locks is abandoned by its client; once the lock is gone, nothing was created, and the
/// one handler it held is free again (another request is served at once, not refused).
async fn an_abandoned_request_stops(backend: Backend) {
    let limits = peyvand_web::admission::Limits { in_flight: 1, waiting: 0, wait: Duration::from_millis(100) };
    let config = peyvand_web::WebConfig { admission: limits, ..peyvand_web::WebConfig::default() };
    let Some(app) = TestApp::spawn_with(backend, config).await else { return };
    let table = app.db.object("company").await.expect("company").table.clone();
    let mut held = app.db.write().await.expect("hold the write lock");
    if backend == Backend::Postgres {
        // PostgreSQL's writers do not wait for each other: the table's lock makes the insert wait.
        sqlx::query(sqlx::AssertSqlSafe(format!("LOCK TABLE {table} IN EXCLUSIVE MODE")))
            .execute(&mut *held.tx)
            .await
            .expect("lock");
    }
    let request = app
        .client
        .post(app.url("/api/v1/records/company"))
        .bearer_auth(&app.token)
        .json(&json!({"fields": {"name": "Left behind"}}))
        .send();
    let leaving = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!leaving.is_finished(), "the create waits for the lock");
    // The client gives up: its connection closes.
    leaving.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(held);
    // The one handler is free: a request is served, not refused as overloaded.
    let served = app.get("/api/v1/records/company?limit=5").await;
    assert_eq!(served.status(), StatusCode::OK, "the abandoned request let its handler go");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let filter = json!({"field": "name", "op": "eq", "value": "Left behind"}).to_string();
    let found = app.list("company", &[("filter", filter.as_str())]).await;
    assert_eq!(found["records"].as_array().map(Vec::len), Some(0), "nothing was written for it: {found}");
    app.stop().await;
}

#[tokio::test]
async fn an_abandoned_request_stops_sqlite() {
    an_abandoned_request_stops(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_abandoned_request_stops_postgres() {
    an_abandoned_request_stops(Backend::Postgres).await;
}

/// A list's count says whether it is exact; `total=exact` asks for every match to be counted.
async fn counts_say_whether_they_are_exact(app: &TestApp) {
    for name in ["A", "B", "C"] {
        app.create("company", json!({"name": name})).await;
    }
    for total in ["true", "exact"] {
        let page = app.list("company", &[("total", total), ("limit", "1")]).await;
        assert_eq!((page["total"].as_i64(), page["total_exact"].as_bool()), (Some(3), Some(true)), "total={total}");
    }
    let page = app.list("company", &[("limit", "1")]).await;
    assert!(page.get("total").is_none() && page.get("total_exact").is_none(), "no count unless asked: {page}");
}

crate::backend_tests!(counts_say_whether_they_are_exact);
