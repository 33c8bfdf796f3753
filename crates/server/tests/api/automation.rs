//! Issue 30 over HTTP, on both backends, with the server's own runner: bad workflows and
//! templates answered with clear problems (line and column, the step that is wrong), an SMS
//! gateway and a webhook receiver that are real local HTTP servers (signed events, a receiver
//! down then back, a replay through the API), and the outbox and run history the admin sees.

use crate::backend_tests;
use crate::helpers::{TestApp, problem};
use axum::http::{HeaderMap, StatusCode as AxStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

backend_tests!(
    mistakes_are_refused_with_where_they_are,
    sms_and_webhooks_reach_real_receivers,
    inbound_webhooks_are_signed_and_checked_as_the_api,
    preferences_and_scheduled_reports_over_http
);

async fn mistakes_are_refused_with_where_they_are(app: &TestApp) {
    let r = app
        .post(
            "/api/v1/templates",
            json!({"name": "x", "channel": "email", "object": "contact", "subject": "Hi", "body": "Hello\n{% if record.last_name %}\n{{ record.last_name }"}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["code"], "template_syntax");
    assert!(p["errors"][0]["params"]["line"].as_u64().is_some_and(|l| l >= 3), "{p}");
    assert!(p["errors"][0]["message"].as_str().is_some_and(|m| m.contains("line")), "{p}");
    let r = app
        .post(
            "/api/v1/templates",
            json!({"name": "x", "channel": "sms", "object": "contact", "body": "{{ record.nick }}"}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        (p["errors"][0]["code"].as_str(), p["errors"][0]["params"]["column"].as_u64()),
        (Some("template_unknown_field"), Some(4))
    );
    // A template that would run forever is stopped, not the server.
    let r = app
        .post(
            "/api/v1/templates",
            json!({"name": "loop", "channel": "sms", "object": "contact", "body": "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let looping: Value = r.json().await.expect("template");
    let c = app.create("contact", json!({"last_name": "Amini"})).await;
    let r = app
        .post(
            &format!("/api/v1/templates/{}/preview", looping["id"].as_str().expect("id")),
            json!({"record_id": c["id"]}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["code"], "template_too_slow");

    // A workflow: every wrong part named at once.
    let r = app
        .post(
            "/api/v1/workflows",
            json!({"name": "bad", "object": "deal", "definition": {
                "trigger": {"kind": "changed", "field": "stag"},
                "condition": {"field": "amount", "op": "contains", "value": "x"},
                "steps": [{"kind": "send_email", "template": "none"}, {"kind": "wait", "minutes": 0},
                          {"kind": "create", "object": "task", "values": {"sbject": "x"}}]}}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> =
        p["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    for want in ["trigger.field", "condition", "steps.0.template", "steps.1.minutes", "steps.2.values"] {
        assert!(fields.contains(&want), "{want} in {fields:?}");
    }
    let r = app
        .post(
            "/api/v1/workflows",
            json!({"name": "bad", "object": "deal", "definition": {"trigger": {"kind": "someday"}, "steps": []}}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["code"], "invalid_definition", "an unknown trigger is the definition's problem");
    // Nothing half-done: no workflow was saved.
    let list: Value = app.get("/api/v1/workflows").await.json().await.expect("list");
    assert_eq!(list["workflows"], json!([]));
}

/// A real HTTP receiver: keeps each request's headers and body; answers `status`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    status: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start(&self, port: u16) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let handler = move |headers: HeaderMap, body: String| {
            let me = me.clone();
            async move {
                me.got.lock().expect("lock").push((headers, body));
                AxStatus::from_u16(*me.status.lock().expect("lock")).unwrap_or(AxStatus::OK)
            }
        };
        let app = axum::Router::new().route("/{*path}", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("listen");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
    }

    fn count(&self) -> usize {
        self.got.lock().expect("lock").len()
    }

    async fn wait_for(&self, n: usize) {
        for _ in 0..150 {
            if self.count() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the receiver got {} requests, not {n}", self.count());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port")
}

async fn sms_and_webhooks_reach_real_receivers(app: &TestApp) {
    let receiver = Receiver::default();
    *receiver.status.lock().expect("lock") = 200;
    let port = free_port();
    let _server = receiver.start(port).await;

    // SMS: a gateway that takes a form post with an API key.
    let r = app
        .put(
            "/api/v1/settings/sms",
            json!({"url": format!("http://127.0.0.1:{port}/sms/send"), "body_kind": "form",
                "body": "receptor={{ to | urlencode }}&message={{ text | urlencode }}&sender={{ sender }}&localid={{ id }}",
                "auth_header": "apikey", "auth_value": "secret-key-1", "sender": "10004346"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = app.get("/api/v1/settings/sms").await.json().await.expect("settings");
    assert!(shown["sms"].get("auth_value").is_none(), "the key is never answered back: {shown}");
    let t: Value = app
        .post(
            "/api/v1/templates",
            json!({"name": "خوشامد", "channel": "sms", "object": "contact", "body": "{{ record.first_name }} عزیز، به باشگاه مشتریان خوش آمدید."}),
        )
        .await
        .json()
        .await
        .expect("template");
    let r = app
        .post(
            "/api/v1/workflows",
            json!({"name": "خوشامد پیامکی", "object": "contact", "enabled": true, "definition": {
                "trigger": {"kind": "created"}, "condition": {"field": "phones", "op": "is_empty", "value": false},
                "steps": [{"kind": "send_sms", "template": t["id"]}]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    app.create("contact", json!({"first_name": "Quiet", "last_name": "No phone"})).await;
    app.create("contact", json!({"first_name": "سحر", "last_name": "نادری", "phones": ["09121234567"]})).await;
    receiver.wait_for(1).await;
    {
        let got = receiver.got.lock().expect("lock");
        let (headers, body) = &got[0];
        assert_eq!(headers.get("apikey").and_then(|v| v.to_str().ok()), Some("secret-key-1"));
        assert!(body.starts_with("receptor=%2B989121234567&message=%D8%B3%D8%AD%D8%B1"), "{body}");
        assert!(body.contains("&sender=10004346&localid="), "{body}");
    }
    // The gateway has the message before the outbox records its answer: wait for that.
    let mut sent = Value::Null;
    for _ in 0..100 {
        sent = app.get_query("/api/v1/messages", &[("status", "sent")]).await.json().await.expect("outbox");
        if sent["messages"].as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(1), "only the contact with a phone: {sent}");
    assert_eq!(sent["messages"][0]["channel"], "sms");

    // Webhooks: a subscription, an event signed; the receiver down, then back; a replay.
    let hook: Value = app
        .post(
            "/api/v1/webhooks",
            json!({"url": format!("http://127.0.0.1:{port}/hooks/peyvand"), "object": "company", "events": ["created", "updated"]}),
        )
        .await
        .json()
        .await
        .expect("webhook");
    let hook_id = hook["id"].as_str().expect("id").to_string();
    let secret = hook["secret"].as_str().expect("secret").to_string();
    let before = receiver.count();
    let company = app.create("company", json!({"name": "Alborz Tile"})).await;
    receiver.wait_for(before + 1).await;
    {
        let got = receiver.got.lock().expect("lock");
        let (headers, body) = got.last().expect("a delivery");
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let ts: i64 = header("peyvand-timestamp").parse().expect("a timestamp");
        assert!(peyvand_crm::automation::webhooks::verify(
            &secret,
            &header("peyvand-signature"),
            ts,
            body,
            time::Duration::minutes(5)
        ));
        let event: Value = serde_json::from_str(body).expect("json");
        assert_eq!(
            (event["type"].as_str(), event["record_id"].as_str()),
            (Some("company.created"), company["id"].as_str())
        );
    }
    // Down: the receiver answers 503. (Aborting its accept loop is not "down": a kept-alive
    // connection of the sender's pool is still served by its own task.)
    *receiver.status.lock().expect("lock") = 503;
    let r = app
        .send_as(
            &app.token,
            reqwest::Method::PATCH,
            &format!("/api/v1/records/company/{}", company["id"].as_str().expect("id")),
            Some(json!({"fields": {"city": "کرج"}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut log = Value::Null;
    for _ in 0..100 {
        log = app.get(&format!("/api/v1/webhooks/{hook_id}/deliveries")).await.json().await.expect("log");
        if log["deliveries"].as_array().map(Vec::len) == Some(2) && log["deliveries"][0]["attempts"].as_i64() == Some(1)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let waiting = &log["deliveries"][0];
    assert_eq!((waiting["status"].as_str(), waiting["attempts"].as_i64()), (Some("pending"), Some(1)), "{log}");
    // Back up: a replay sends it now, with its event id.
    *receiver.status.lock().expect("lock") = 200;
    let seen = receiver.count();
    let r = app
        .post(&format!("/api/v1/webhook_deliveries/{}/replay", waiting["id"].as_str().expect("id")), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    receiver.wait_for(seen + 1).await;
    let got = receiver.got.lock().expect("lock");
    let id = got
        .last()
        .and_then(|(h, _)| h.get("peyvand-event-id"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(id, waiting["event_id"].as_str().expect("event id"));
}

async fn inbound_webhooks_are_signed_and_checked_as_the_api(app: &TestApp) {
    use peyvand_crm::automation::webhooks::signature;
    let r = app
        .post("/api/v1/inbound_hooks", json!({"name": "shop", "object": "contact", "match_field": "job_title"}))
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["code"], "not_indexed");
    let hook: Value = app
        .post("/api/v1/inbound_hooks", json!({"name": "فروشگاه", "object": "contact", "match_field": "last_name"}))
        .await
        .json()
        .await
        .expect("hook");
    let (id, secret) =
        (hook["id"].as_str().expect("id").to_string(), hook["secret"].as_str().expect("secret").to_string());
    let send = |body: Value, ts: i64, key: &str, event: Option<&str>| {
        let body = body.to_string();
        let mut r = app
            .client
            .post(app.url(&format!("/api/v1/hooks/{id}")))
            .header("content-type", "application/json")
            .header("peyvand-timestamp", ts.to_string())
            .header("peyvand-signature", signature(key, ts, &body))
            .body(body);
        if let Some(e) = event {
            r = r.header("peyvand-event-id", e);
        }
        r.send()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let order = json!({"fields": {"first_name": "Arash", "last_name": "Kamali", "phones": ["09351112233"]}});
    let r = send(order.clone(), now, "a-wrong-secret-of-16", None).await.expect("send");
    problem(r, StatusCode::UNAUTHORIZED).await;
    let r = send(order.clone(), now - 3600, &secret, None).await.expect("send");
    problem(r, StatusCode::UNAUTHORIZED).await;
    let r = send(json!({"fields": {"first_name": "No last name"}}), now, &secret, None).await.expect("send");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "last_name");
    let r = send(order.clone(), now, &secret, Some("order-1")).await.expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    assert_eq!(made["record"]["fields"]["phones"], json!(["+989351112233"]), "normalized as the API does");
    let r = send(order.clone(), now, &secret, Some("order-1")).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.expect("json");
    assert_eq!(
        (again["outcome"].as_str(), again["record"]["id"].as_str()),
        (Some("repeated"), made["record"]["id"].as_str())
    );
    let r = send(json!({"fields": {"last_name": "Kamali", "job_title": "Buyer"}}), now, &secret, Some("order-2"))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.expect("json");
    assert_eq!(
        (updated["outcome"].as_str(), updated["record"]["fields"]["job_title"].as_str()),
        (Some("updated"), Some("Buyer"))
    );
    let all = app.list("contact", &[("filter", r#"{"field": "last_name", "op": "eq", "value": "Kamali"}"#)]).await;
    assert_eq!(all["records"].as_array().map(Vec::len), Some(1), "one contact: made once, then updated");
}

async fn preferences_and_scheduled_reports_over_http(app: &TestApp) {
    // Each user's choices per kind: a kind or a choice not offered is refused, nothing changed.
    let r = app
        .put(
            "/api/v1/notification_preferences",
            json!({"preferences": [{"kind": "assigned", "bell": true, "email": "hourly"}]}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "preferences.0.email");
    let r = app
        .put(
            "/api/v1/notification_preferences",
            json!({"preferences": [{"kind": "assigned", "bell": false, "email": "daily"}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = app.get("/api/v1/notification_preferences").await.json().await.expect("json");
    let assigned = got["preferences"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["kind"] == "assigned")
        .expect("assigned")
        .clone();
    assert_eq!(assigned, json!({"kind": "assigned", "bell": false, "email": "daily"}));
    let reminder = got["preferences"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["kind"] == "reminder")
        .expect("reminder")
        .clone();
    assert_eq!(reminder, json!({"kind": "reminder", "bell": true, "email": "none"}), "untouched: the bell, no mail");

    // A saved view mailed on a schedule: checked, kept, sent now into the outbox.
    let view: Value = app
        .post("/api/v1/views", json!({"object": "contact", "name": "All", "shared": true}))
        .await
        .json()
        .await
        .expect("view");
    let me: Value = app.get("/api/v1/me").await.json().await.expect("me");
    let r = app
        .post(
            "/api/v1/report_schedules",
            json!({"name": "Daily", "view_id": view["id"], "format": "pdf", "recipients": [me["id"]], "hour": 30}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields: Vec<&str> =
        p["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["format", "hour"]);
    app.create("contact", json!({"first_name": "Tara", "last_name": "Nik"})).await;
    let r = app
        .post(
            "/api/v1/report_schedules",
            json!({"name": "Daily", "view_id": view["id"], "format": "html", "recipients": [me["id"]], "hour": 8}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    let id = made["id"].as_str().expect("id");
    let list: Value = app.get("/api/v1/report_schedules").await.json().await.expect("json");
    assert_eq!(list["schedules"].as_array().map(Vec::len), Some(1));
    let sent: Value =
        app.post(&format!("/api/v1/report_schedules/{id}/send"), json!({})).await.json().await.expect("json");
    assert_eq!(sent["queued"], 1);
    let outbox: Value = app.get("/api/v1/messages").await.json().await.expect("json");
    let messages = outbox["messages"].as_array().expect("messages");
    assert!(messages.iter().any(|m| m["subject"].as_str().is_some_and(|s| s.starts_with("Daily"))), "{outbox}");
    // Agents do not keep schedules.
    let agent = app.user_with_role("agent@reports.test", "agent").await;
    let r = app.send_as(&agent, reqwest::Method::GET, "/api/v1/report_schedules", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&format!("/api/v1/report_schedules/{id}")).await.status(), StatusCode::NO_CONTENT);

    // The same through the pages: the preferences form, and a schedule made from its form.
    let client = crate::helpers::signed_in(app).await;
    let page =
        client.get(app.url("/notifications/preferences")).send().await.expect("send").text().await.expect("html");
    let csrf = crate::helpers::csrf_of(&page);
    let form =
        [("csrf", csrf.as_str()), ("reminder.bell", "on"), ("reminder.email", "instant"), ("assigned.email", "none")];
    let r = client
        .post(app.url("/notifications/preferences"))
        .header("origin", &app.base)
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = app.get("/api/v1/notification_preferences").await.json().await.expect("json");
    let find = |kind: &str| got["preferences"].as_array().expect("list").iter().find(|p| p["kind"] == kind).cloned();
    assert_eq!(find("reminder"), Some(json!({"kind": "reminder", "bell": true, "email": "instant"})));
    assert_eq!(
        find("assigned"),
        Some(json!({"kind": "assigned", "bell": false, "email": "none"})),
        "unticked: no bell"
    );
    let page = client.get(app.url("/reports/scheduled")).send().await.expect("send").text().await.expect("html");
    assert!(page.contains("All"), "the saved view is offered");
    let csrf = crate::helpers::csrf_of(&page);
    let me_id = me["id"].as_str().expect("id");
    let view_id = view["id"].as_str().expect("id");
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "هفتگی"),
        ("view_id", view_id),
        ("format", "xlsx"),
        ("recipients", me_id),
        ("weekday", "0"),
        ("hour", "8"),
    ];
    let r =
        client.post(app.url("/reports/scheduled")).header("origin", &app.base).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "back to the list");
    let page = client.get(app.url("/reports/scheduled")).send().await.expect("send").text().await.expect("html");
    assert!(page.contains("هفتگی") && page.contains("XLSX"), "the new schedule is listed");
}
