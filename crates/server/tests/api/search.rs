//! Global search with Persian normalization, and a custom object end to end.

use crate::backend_tests;
use crate::helpers::{TestApp, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(persian_search_finds_every_variant, custom_objects_work_like_standard_ones);

async fn titles(app: &TestApp, q: &str) -> Vec<String> {
    let r = app.get_query("/api/v1/search", &[("q", q)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    let mut t: Vec<String> =
        body["hits"].as_array().expect("hits").iter().map(|h| h["title"].as_str().unwrap_or("").to_string()).collect();
    t.sort();
    t
}

async fn persian_search_finds_every_variant(app: &TestApp) {
    app.create("contact", json!({"first_name": "علی‌رضا", "last_name": "کریمی", "phones": ["09121234567"]})).await;
    app.create("contact", json!({"first_name": "یاسمن", "last_name": "کاظمی", "emails": ["yasaman@example.com"]}))
        .await;
    app.create("company", json!({"name": "کتاب‌های خوب"})).await;
    app.create("contact", json!({"first_name": "John", "last_name": "Smith"})).await;

    assert_eq!(titles(app, "كريمي").await, vec!["علی‌رضا کریمی"], "Arabic kaf and yeh");
    assert_eq!(titles(app, "علیرضا").await, vec!["علی‌رضا کریمی"], "without the zero-width non-joiner");
    assert_eq!(titles(app, "علی رضا").await, vec!["علی‌رضا کریمی"], "with a space for the non-joiner");
    assert_eq!(titles(app, "کاظ").await, vec!["یاسمن کاظمی"], "prefix");
    assert_eq!(titles(app, "يا كا").await, vec!["یاسمن کاظمی"], "two prefixes, Arabic letters");
    assert_eq!(titles(app, "۰۹۱۲۱۲۳").await, vec!["علی‌رضا کریمی"], "Persian digits, national phone form");
    assert_eq!(titles(app, "+98912").await, vec!["علی‌رضا کریمی"], "international phone form");
    assert_eq!(titles(app, "98912123").await, vec!["علی‌رضا کریمی"], "international form without the plus");
    assert_eq!(titles(app, "0098912").await, vec!["علی‌رضا کریمی"], "international form dialled with 00");
    assert_eq!(titles(app, "0912 123 45").await, vec!["علی‌رضا کریمی"], "national form in groups");
    assert!(titles(app, "0913").await.is_empty(), "another number's prefix");
    assert_eq!(titles(app, "YASAMAN@").await, vec!["یاسمن کاظمی"], "e-mail, any case");
    assert_eq!(titles(app, "کتابهای").await, vec!["کتاب‌های خوب"], "company, joined");
    assert_eq!(titles(app, "smi").await, vec!["John Smith"]);
    assert!(titles(app, "ناموجود").await.is_empty());
    assert!(titles(app, "   ").await.is_empty());
    // Punctuation alone has no words to look for (it answered 500).
    let page = crate::helpers::signed_in(app).await;
    for q in ["-", ".", "?", "\"", ",", "*", "-.?", "'"] {
        assert!(titles(app, q).await.is_empty(), "{q}");
        for path in ["/search", "/search/suggest"] {
            let r = page.get(app.url(path)).query(&[("q", q)]).send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK, "{path}?q={q}");
        }
    }
    problem(app.get_query("/api/v1/search", &[("q", &"x".repeat(201))]).await, StatusCode::UNPROCESSABLE_ENTITY).await;
}

async fn custom_objects_work_like_standard_ones(app: &TestApp) {
    let r = app
        .post(
            "/api/v1/objects",
            json!({"api_name": "vehicle", "label_fa": "خودرو", "label_en": "Vehicle", "plural_fa": "خودروها", "plural_en": "Vehicles",
                   "fields": [{"api_name": "plate", "type": "text", "required": true, "unique": true, "label_fa": "پلاک"},
                              {"api_name": "owner_contact", "type": "relation", "options": {"target": "contact"}},
                              {"api_name": "km", "type": "integer", "indexed": true}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let objects: Value = app.get("/api/v1/objects").await.json().await.expect("json");
    assert!(
        objects["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .any(|o| o["api_name"] == json!("vehicle") && o["origin"] == json!("custom"))
    );
    let person = app.create("contact", json!({"last_name": "Driver"})).await;
    app.create("vehicle", json!({"plate": "۱۲ب۳۴۵ ایران ۶۷", "owner_contact": person["id"], "km": 120000})).await;
    app.create("vehicle", json!({"plate": "99X999", "km": 5000})).await;
    let filter = json!({"field": "km", "op": "gt", "value": 10000}).to_string();
    let page = app.list("vehicle", &[("filter", &filter)]).await;
    assert_eq!(page["records"][0]["title"], json!("۱۲ب۳۴۵ ایران ۶۷"));
    assert_eq!(titles(app, "99x").await, vec!["99X999"]);
    let r = app.post("/api/v1/records/vehicle", json!({"fields": {"plate": "99X999"}})).await;
    problem(r, StatusCode::CONFLICT).await;
    let r = app.post("/api/v1/objects", json!({"api_name": "vehicle", "label_fa": "x", "label_en": "x", "fields": [{"api_name": "a", "type": "text"}]})).await;
    assert_eq!(problem(r, StatusCode::CONFLICT).await["code"], json!("object_exists"));
    let r = app.post("/api/v1/objects", json!({"api_name": "gadget", "label_en": "Gadget", "label_fa": "ابزار", "fields": [{"api_name": "link", "type": "relation", "options": {"target": "nothing"}}]})).await;
    problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let catalog: Value = app.get("/api/v1/objects").await.json().await.expect("json");
    assert!(
        catalog["objects"].as_array().expect("objects").iter().all(|o| o["api_name"] != json!("gadget")),
        "a refused object leaves nothing behind"
    );
}
