//! Consent over HTTP: recorded through the API (an e-mail grant pending until confirmed), the
//! public confirmation and one-click unsubscribe pages (a mail client's RFC 8058 POST, no
//! session, no origin), forged links not found, the contact page's panel, the suppression list.

use crate::backend_tests;
use crate::helpers::{TestApp, csrf_of, problem, signed_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(consent_is_recorded_confirmed_and_withdrawn_with_one_click);

async fn consent_is_recorded_confirmed_and_withdrawn_with_one_click(app: &TestApp) {
    let contact = app.create("contact", json!({"last_name": "Rahimi", "emails": ["rahimi@example.ir"]})).await;
    let id = contact["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/contacts/{id}/consent");
    let r = app.put(&path, json!({"channel": "email", "status": "granted", "source": "staff"})).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"], "consent_text");
    let r = app
        .put(&path, json!({"channel": "email", "status": "granted", "source": "phone_call", "consent_text": "Newsletter, monthly"}))
        .await;
    assert_eq!(r.json::<Value>().await.expect("json")["status"], "pending");

    // The link the confirmation e-mail carries: a page, then the confirmation.
    let token = peyvand_crm::customers::consent::confirm_token(&app.db, &id).await.expect("token");
    let visitor = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let page = visitor.get(app.url(&format!("/u/confirm/{token}?lang=en"))).send().await.expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("Do you want to receive our e-mails?"));
    let r = visitor.post(app.url(&format!("/u/confirm/{token}"))).form(&[("lang", "en")]).send().await.expect("send");
    assert!(r.text().await.expect("html").contains("your subscription is confirmed"));
    let forged =
        visitor.get(app.url(&format!("/u/confirm/{}x", &token[..token.len() - 1]))).send().await.expect("send");
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);

    // A mail client's one-click POST: no session, no origin, RFC 8058's body.
    let token = peyvand_crm::customers::consent::unsubscribe_token(&app.db, &id, "email").await.expect("token");
    let r = visitor
        .post(app.url(&format!("/u/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let again = visitor.post(app.url(&format!("/u/{token}"))).form(&[("lang", "en")]).send().await.expect("send");
    assert!(again.text().await.expect("html").contains("You had already unsubscribed"));
    let body: Value = app.get(&path).await.json().await.expect("json");
    assert_eq!(body["consents"][0]["status"], "withdrawn", "{body}");
    let sources: Vec<&str> =
        body["history"].as_array().expect("history").iter().filter_map(|h| h["source"].as_str()).collect();
    assert_eq!(sources, ["unsubscribe_link", "confirm_link", "phone_call"]);
    let list: Value = app.get("/api/v1/suppressions").await.json().await.expect("json");
    assert_eq!(list["suppressions"][0]["address"], "rahimi@example.ir");
    assert_eq!(
        visitor.get(app.url("/u/u.nobody.email.forged")).send().await.expect("send").status(),
        StatusCode::NOT_FOUND
    );

    // The contact's page: the panel, and a change recorded there.
    let client = signed_in(app).await;
    let html =
        client.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("id=\"consent\"") && html.contains("Withdrawn"), "the consent panel");
    let csrf = csrf_of(&html);
    let r = client
        .post(app.url(&format!("/consent/{id}")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("channel", "sms"),
            ("status", "granted"),
            ("source", "staff"),
            ("consent_text", "Texts are fine"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let body: Value = app.get(&path).await.json().await.expect("json");
    let sms =
        body["consents"].as_array().expect("consents").iter().find(|c| c["channel"] == "sms").expect("sms").clone();
    assert_eq!(sms["status"], "granted", "SMS needs no confirmation link");
}
