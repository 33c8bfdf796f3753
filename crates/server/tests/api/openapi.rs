//! The OpenAPI document matches the real routes: every documented operation reaches a handler,
//! and the document is served without authentication.

use crate::backend_tests;
use crate::helpers::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(every_documented_operation_is_routed);

async fn every_documented_operation_is_routed(app: &TestApp) {
    let r = app.client.get(app.url("/api/v1/openapi.json")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            assert!(op["operationId"].is_string());
            let concrete =
                path.replace("{object}", "contact").replace("{id}", "nonexistent").replace("{field}", "nonexistent");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = if matches!(method, Method::POST | Method::PATCH) { Some(json!({})) } else { None };
            let r = app.send_as(&app.token, method.clone(), &concrete, body).await;
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is documented but not routed");
            assert!(!text.contains("route_not_found"), "{method} {path} is documented but not routed");
            assert!(status.as_u16() < 500, "{method} {path} answered {status}: {text}");
        }
    }
    assert_eq!(operations, peyvand_web::api::ROUTES.len());
}
