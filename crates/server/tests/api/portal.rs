//! The customer portal: customers sign in with a code sent to them (read here from the outbox,
//! as the customer would read their mail), see and do only their own, and staff see what they
//! did. The isolation test walks the portal's route table with another customer's ids.

use crate::backend_tests;
use crate::helpers::{TestApp, browser, csrf_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(
    a_customer_signs_in_with_a_code_and_serves_themselves,
    no_portal_route_reaches_another_customers_records,
    codes_are_limited_and_say_nothing_of_who_is_a_customer,
    staff_invite_and_disable_from_the_contact_page,
    a_customer_orders_at_their_price_and_accepts_a_quote,
    a_customer_finds_help_and_answers_the_survey,
    the_portal_wears_the_brand_and_answers_alone_on_its_host
);

/// The latest sign-in code sent to `address`, from the outbox.
pub(crate) async fn code_sent_to(app: &TestApp, address: &str) -> Option<String> {
    let outbox: Value = app.get_query("/api/v1/messages", &[("limit", "200")]).await.json().await.expect("outbox");
    let message = outbox["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["recipient"] == address && m["id"].as_str().is_some_and(|id| id.starts_with("portal-code:")))?;
    let body = message["body"].as_str().expect("body");
    let at = body.find(|c: char| c.is_ascii_digit())?;
    Some(body[at..at + 6].to_string())
}

/// Signs a customer in on `client` with the code sent to `address`, typed in Persian digits.
async fn sign_in_customer(app: &TestApp, client: &reqwest::Client, address: &str) {
    let r = client
        .post(app.url("/portal/sign-in"))
        .header("origin", &app.base)
        .form(&[("address", address)])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("html").contains("name=\"code\""), "the code is asked for");
    let code = code_sent_to(app, &address.to_lowercase()).await.expect("a code was sent");
    let persian: String = code.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + 0x06F0).unwrap_or(c)).collect();
    let r = client
        .post(app.url("/portal/code"))
        .header("origin", &app.base)
        .form(&[("address", address), ("code", persian.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some("/portal"));
}

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let r = client.get(app.url(path)).send().await.expect("send");
    (r.status(), r.text().await.expect("html"))
}

/// A multipart form body, the token first, with one file when given.
fn multipart(boundary: &str, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    body
}

async fn post_multipart(app: &TestApp, client: &reqwest::Client, path: &str, body: Vec<u8>) -> reqwest::Response {
    client
        .post(app.url(path))
        .header("origin", &app.base)
        .header("content-type", "multipart/form-data; boundary=portalboundary")
        .body(body)
        .send()
        .await
        .expect("send")
}

/// A small PNG (its signature and header are what the desk recognises).
pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";

/// Two customers, each with an order of a product whose cost price is staff-only, and a ticket.
struct World {
    heater: String,
    sara: String,
    reza: String,
    sara_order: String,
    reza_order: String,
    reza_ticket: String,
}

async fn world(app: &TestApp) -> World {
    let id = |v: Value| v["id"].as_str().expect("id").to_string();
    let heater = id(app
        .create(
            "product",
            json!({"name": "Heater", "price": {"amount": "2000000", "currency": "IRR"},
                "cost_price": {"amount": "1234567", "currency": "IRR"}, "tax_percent": "0"}),
        )
        .await);
    let sara = id(app
        .create("contact", json!({"first_name": "Sara", "last_name": "Rahimi", "emails": ["sara@example.ir"]}))
        .await);
    let reza = id(app
        .create("contact", json!({"first_name": "Reza", "last_name": "Karimi", "phones": ["09121234567"]}))
        .await);
    let mut orders = Vec::new();
    for (who, number) in [(&sara, "S-1001"), (&reza, "R-2002")] {
        let order = id(app
            .create("order", json!({"contact": who, "number": number, "ordered_at": "2026-11-20T10:00:00Z"}))
            .await);
        let lines = json!({"lines": [{"product": heater, "quantity": "2"}]});
        let r =
            app.send_as(&app.token, reqwest::Method::PUT, &format!("/api/v1/orders/{order}/lines"), Some(lines)).await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        orders.push(order);
    }
    let reza_ticket = id(app.create("ticket", json!({"subject": "Reza's heater is loud", "contact": reza})).await);
    World { heater, sara, reza, sara_order: orders[0].clone(), reza_order: orders[1].clone(), reza_ticket }
}

async fn a_customer_signs_in_with_a_code_and_serves_themselves(app: &TestApp) {
    let w = world(app).await;
    // Staff invite Sara: her account waits for her first sign-in, and she is told where.
    let r = app.post(&format!("/api/v1/contacts/{}/portal", w.sara), json!({})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: Value = r.json().await.expect("account");
    assert_eq!((account["status"].as_str(), account["email"].as_str()), (Some("invited"), Some("sara@example.ir")));
    let outbox: Value = app.get("/api/v1/messages").await.json().await.expect("outbox");
    assert!(
        outbox["messages"].as_array().expect("messages").iter().any(|m| m["recipient"] == "sara@example.ir"
            && m["body"].as_str().is_some_and(|b| b.contains("/portal/sign-in"))),
        "the invitation names the portal: {outbox}"
    );

    let sara = browser();
    let r = sara.get(app.url("/portal")).send().await.expect("send");
    assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some("/portal/sign-in"));
    // A wrong code first, then the right one (typed in Persian digits).
    let r = sara
        .post(app.url("/portal/sign-in"))
        .header("origin", &app.base)
        .form(&[("address", "Sara@Example.ir")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let code = code_sent_to(app, "sara@example.ir").await.expect("a code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = sara
        .post(app.url("/portal/code"))
        .header("origin", &app.base)
        .form(&[("address", "sara@example.ir"), ("code", wrong)])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.expect("html").contains("role=\"alert\""), "a wrong code says so");
    let r = sara
        .post(app.url("/portal/code"))
        .header("origin", &app.base)
        .form(&[("address", "sara@example.ir"), ("code", code.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(
        cookie.starts_with("peyvand_portal=") && cookie.contains("Path=/portal") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The code is used: replayed, it signs nobody in.
    let replay = browser();
    let r = replay
        .post(app.url("/portal/code"))
        .header("origin", &app.base)
        .form(&[("address", "sara@example.ir"), ("code", code.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The staff session is not the portal's, nor the other way round.
    assert_eq!(sara.get(app.url("/records/contact")).send().await.expect("send").status(), StatusCode::SEE_OTHER);

    let (status, home) = page(app, &sara, "/portal").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("Sara Rahimi") || home.contains("Rahimi"), "her name: {home}");
    assert!(home.contains("S-1001") && !home.contains("R-2002"), "her order only");
    let (status, order) = page(app, &sara, &format!("/portal/orders/{}", w.sara_order)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(order.contains("Heater"), "the order's lines");
    let (status, invoice) = page(app, &sara, &format!("/portal/orders/{}/print", w.sara_order)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(invoice.contains("Heater") && invoice.contains("<table"), "her printable invoice: {invoice}");
    assert!(!invoice.contains("1234567") && !invoice.contains("1,234,567"), "no cost price on it");
    assert!(
        !order.contains("1,234,567") && !order.contains("۱٬۲۳۴٬۵۶۷") && !order.contains("1234567"),
        "no cost price"
    );
    let (status, _) = page(app, &sara, &format!("/portal/orders/{}", w.reza_order)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another customer's order is not found");

    // A complaint about her order, with a photo.
    let (_, form) = page(app, &sara, &format!("/portal/requests/new?kind=complaint&order={}", w.sara_order)).await;
    let csrf = csrf_of(&form);
    let fields = [
        ("csrf", csrf.as_str()),
        ("kind", "complaint"),
        ("subject", "The heater arrived dented"),
        ("order", w.sara_order.as_str()),
        ("body", "بدنهٔ بخاری فرورفته است."),
    ];
    let r =
        post_multipart(app, &sara, "/portal/requests", multipart("portalboundary", &fields, Some(("dent.png", PNG))))
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let location = r.headers().get("location").and_then(|l| l.to_str().ok()).expect("where").to_string();
    let ticket = location.trim_start_matches("/portal/requests/").to_string();
    let t: Value = app.get(&format!("/api/v1/records/ticket/{ticket}")).await.json().await.expect("ticket");
    assert_eq!(
        (t["fields"]["contact"].as_str(), t["fields"]["channel"].as_str(), t["fields"]["kind"].as_str()),
        (Some(w.sara.as_str()), Some("portal"), Some("complaint"))
    );
    assert_eq!(t["fields"]["order"].as_str(), Some(w.sara_order.as_str()));
    // Staff answer in public and note something internal: she sees the answer alone.
    let r = app
        .post(
            &format!("/api/v1/tickets/{ticket}/messages"),
            json!({"body": "We send a new one tomorrow.", "public": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .post(
            &format!("/api/v1/tickets/{ticket}/messages"),
            json!({"body": "Courier dropped it, claim 77", "public": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, thread) = page(app, &sara, &location).await;
    assert!(thread.contains("We send a new one tomorrow.") && thread.contains("dent.png"), "{thread}");
    assert!(!thread.contains("claim 77"), "internal notes stay internal");
    let photo =
        thread.split(&format!("{location}/files/")).nth(1).and_then(|s| s.split('"').next()).expect("the photo");
    let r = sara.get(app.url(&format!("{location}/files/{photo}"))).send().await.expect("send");
    assert_eq!((r.status(), r.bytes().await.expect("bytes").to_vec()), (StatusCode::OK, PNG.to_vec()));
    // A file of the wrong type is refused in her language, nothing written.
    let csrf = csrf_of(&thread);
    let fields = [("csrf", csrf.as_str()), ("body", "Another photo")];
    let r = post_multipart(
        app,
        &sara,
        &format!("{location}/reply"),
        multipart("portalboundary", &fields, Some(("run.exe", b"MZ\x90\0"))),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let messages: Value = app.get(&format!("/api/v1/tickets/{ticket}/messages")).await.json().await.expect("messages");
    let count = messages["messages"].as_array().expect("messages").len();
    let fields = [("csrf", csrf.as_str()), ("body", "Thank you!")];
    let r = post_multipart(app, &sara, &format!("{location}/reply"), multipart("portalboundary", &fields, None)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let messages: Value = app.get(&format!("/api/v1/tickets/{ticket}/messages")).await.json().await.expect("messages");
    assert_eq!(messages["messages"].as_array().expect("messages").len(), count + 1, "her reply, once");
    // She closes it.
    let r = sara
        .post(app.url(&format!("{location}/close")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let t: Value = app.get(&format!("/api/v1/records/ticket/{ticket}")).await.json().await.expect("ticket");
    assert_eq!(t["fields"]["status"], "closed");
    // Without the token: refused.
    let r = sara
        .post(app.url("/portal/profile/consent"))
        .header("origin", &app.base)
        .form(&[("channel", "sms")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Her consent, recorded as given through the portal.
    let (_, profile) = page(app, &sara, "/portal/profile").await;
    let csrf = csrf_of(&profile);
    let r = sara
        .post(app.url("/portal/profile/consent"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("channel", "sms")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let consent: Value = app.get(&format!("/api/v1/contacts/{}/consent", w.sara)).await.json().await.expect("consent");
    assert!(consent.to_string().contains("\"portal\""), "the source is the portal: {consent}");
    // A password, then a sign-in with it.
    let r = sara
        .post(app.url("/portal/profile/password"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("password", "short")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = sara
        .post(app.url("/portal/profile/password"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("password", "a long enough one")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let other = browser();
    let r = other
        .post(app.url("/portal/password"))
        .header("origin", &app.base)
        .form(&[("address", "sara@example.ir"), ("password", "a long enough one")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(page(app, &other, "/portal/orders").await.0, StatusCode::OK);

    // Staff disable her account: every session ends at once.
    let r = app.patch(&format!("/api/v1/contacts/{}/portal", w.sara), json!({"active": false})).await;
    assert_eq!(r.json::<Value>().await.expect("account")["status"], "disabled");
    for client in [&sara, &other] {
        let r = client.get(app.url("/portal")).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed out");
    }
    let _ = w.reza;
}

async fn no_portal_route_reaches_another_customers_records(app: &TestApp) {
    let w = world(app).await;
    // The route table is the router's (read from its source, as the page matrix reads its own).
    let source = include_str!("../../../web/src/html/portal.rs");
    let routed: Vec<&str> =
        source.split(".route(").skip(1).filter_map(|r| r.trim_start().strip_prefix('"')?.split('"').next()).collect();
    let table: Vec<&str> = peyvand_web::html::portal::ROUTES.iter().map(|(_, p)| *p).collect();
    for path in &routed {
        assert!(table.contains(path), "{path} is routed but not in the portal's table");
    }
    for path in &table {
        assert!(routed.contains(path), "{path} is in the table but not routed");
    }
    // Reza has a club membership with a reward, a ticket with a file; Sara has none of these.
    let program: Value = app
        .post(
            "/api/v1/loyalty/programs",
            json!({"name_fa": "باشگاه", "name_en": "Club", "spend_rules": [{"per": "1000000", "points": 1}]}),
        )
        .await
        .json()
        .await
        .expect("program");
    let program = program["id"].as_str().expect("program id").to_string();
    let reward: Value = app
        .post(
            &format!("/api/v1/loyalty/programs/{program}/rewards"),
            json!({"name_fa": "هدیه", "name_en": "Gift", "kind": "voucher", "points": 1, "value": "1000"}),
        )
        .await
        .json()
        .await
        .expect("reward");
    let reward = reward["id"].as_str().expect("reward id").to_string();
    let r = app.post(&format!("/api/v1/loyalty/programs/{program}/members"), json!({"contact": w.reza})).await;
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/messages", w.reza_ticket),
            json!({"body": "Your invoice", "public": true,
        "files": [{"file_name": "invoice.txt", "content_base64": "aW52b2ljZQ=="}]}),
        )
        .await;
    let message: Value = r.json().await.expect("message");
    let file = message["attachments"][0]["id"].as_str().expect("a file").to_string();
    let quote: Value = app.create("quote", json!({"contact": w.reza, "number": "Q-9", "status": "sent"})).await;
    let quote = quote["id"].as_str().expect("quote").to_string();

    let sara = browser();
    sign_in_customer(app, &sara, "sara@example.ir").await;
    let (_, home) = page(app, &sara, "/portal").await;
    let csrf = csrf_of(&home);
    let mut wrong = Vec::new();
    let anonymous = browser();
    for (method, route) in peyvand_web::html::portal::ROUTES {
        let path = route.replace("{program}", &program).replace("{reward}", &reward).replace("{file}", &file).replace(
            "{id}",
            if route.starts_with("/portal/orders") {
                &w.reza_order
            } else if route.starts_with("/portal/quotes") {
                &quote
            } else {
                &w.reza_ticket
            },
        );
        let public = matches!(
            *route,
            "/portal/sign-in" | "/portal/code" | "/portal/password" | "/portal/brand.css" | "/portal/logo"
        );
        // Without a session: to the sign-in page, nothing done.
        if !public {
            let r = if *method == "GET" {
                anonymous.get(app.url(&path)).send().await
            } else {
                anonymous.post(app.url(&path)).header("origin", &app.base).form(&[("csrf", "x")]).send().await
            }
            .expect("send");
            let to = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
            if r.status() != StatusCode::SEE_OTHER || to != "/portal/sign-in" {
                wrong.push(format!("{method} {path} without a session: {} {to}", r.status()));
            }
        }
        // As Sara, with another customer's ids: not found, whatever the method.
        if route.contains('{') {
            let r = if *method == "GET" {
                sara.get(app.url(&path)).send().await
            } else if path.ends_with("/reply") {
                let fields = [("csrf", csrf.as_str()), ("body", "Not mine")];
                sara.post(app.url(&path))
                    .header("origin", &app.base)
                    .header("content-type", "multipart/form-data; boundary=portalboundary")
                    .body(multipart("portalboundary", &fields, None))
                    .send()
                    .await
            } else {
                sara.post(app.url(&path)).header("origin", &app.base).form(&[("csrf", csrf.as_str())]).send().await
            }
            .expect("send");
            if r.status() != StatusCode::NOT_FOUND {
                wrong.push(format!("{method} {path} as another customer: {}", r.status()));
            }
        }
    }
    assert!(wrong.is_empty(), "the portal reached what it must not:\n{}", wrong.join("\n"));
    // Nothing of Reza's was changed or shown by any of it.
    let t: Value = app.get(&format!("/api/v1/records/ticket/{}", w.reza_ticket)).await.json().await.expect("ticket");
    assert_ne!(t["fields"]["status"], "closed");
    let messages: Value =
        app.get(&format!("/api/v1/tickets/{}/messages", w.reza_ticket)).await.json().await.expect("messages");
    assert!(!messages.to_string().contains("Not mine"));
    for path in ["/portal", "/portal/orders", "/portal/requests", "/portal/points"] {
        let (status, html) = page(app, &sara, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for theirs in ["R-2002", "Q-9", "Reza", "Karimi", "loud"] {
            assert!(!html.contains(theirs), "{path} shows {theirs}");
        }
    }
}

async fn codes_are_limited_and_say_nothing_of_who_is_a_customer(app: &TestApp) {
    let w = world(app).await;
    let ask = |client: reqwest::Client, address: &'static str| async move {
        let r = client
            .post(app.url("/portal/sign-in"))
            .header("origin", &app.base)
            .form(&[("address", address)])
            .send()
            .await
            .expect("send");
        (r.status(), r.text().await.expect("html"))
    };
    // A stranger's address and a customer's get the same answer; only the customer gets a code.
    let (s1, stranger) = ask(browser(), "nobody@example.ir").await;
    let (s2, known) = ask(browser(), "sara@example.ir").await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        stranger.replace("nobody@example.ir", "X"),
        known.replace("sara@example.ir", "X"),
        "the same page either way"
    );
    assert!(code_sent_to(app, "nobody@example.ir").await.is_none());
    // Sara was never invited: signing up matched her by her e-mail.
    let code = code_sent_to(app, "sara@example.ir").await.expect("a code to a contact's address");
    // A mobile number in Persian digits reaches Reza's phone.
    let (status, _) = ask(browser(), "۰۹۱۲۱۲۳۴۵۶۷").await;
    assert_eq!(status, StatusCode::OK);
    assert!(code_sent_to(app, "+989121234567").await.is_some(), "a text message to his mobile");
    // Five wrong tries use the code up; the right one is then refused too.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let client = browser();
    for _ in 0..5 {
        let r = client
            .post(app.url("/portal/code"))
            .header("origin", &app.base)
            .form(&[("address", "sara@example.ir"), ("code", wrong)])
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = client
        .post(app.url("/portal/code"))
        .header("origin", &app.base)
        .form(&[("address", "sara@example.ir"), ("code", code.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Bad input: an address that is neither, in her language.
    let (status, html) = ask(browser(), "not an address").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("class=\"error\""), "{html}");
    // Sign-up closed: a contact not invited gets no code; a disabled account neither.
    let r = app.put("/api/v1/portal/settings", json!({"sign_up": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let late = app.create("contact", json!({"last_name": "Late", "emails": ["late@example.ir"]})).await;
    ask(browser(), "late@example.ir").await;
    assert!(code_sent_to(app, "late@example.ir").await.is_none(), "sign-up is closed");
    let r = app
        .post(&format!("/api/v1/contacts/{}/portal", late["id"].as_str().expect("id")), json!({"send": false}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    ask(browser(), "late@example.ir").await;
    assert!(code_sent_to(app, "late@example.ir").await.is_some(), "invited, the code comes");
    let r = app.patch(&format!("/api/v1/contacts/{}/portal", w.reza), json!({"active": false})).await;
    assert_eq!(r.json::<Value>().await.expect("account")["status"], "disabled");
    let before =
        app.get("/api/v1/messages").await.json::<Value>().await.expect("outbox")["messages"].as_array().map(Vec::len);
    ask(browser(), "+989121234567").await;
    let after =
        app.get("/api/v1/messages").await.json::<Value>().await.expect("outbox")["messages"].as_array().map(Vec::len);
    assert_eq!(before, after, "a disabled account gets no code");
    // A staff member may not invite a contact without an address.
    let r = app
        .post(
            &format!(
                "/api/v1/contacts/{}/portal",
                app.create("contact", json!({"last_name": "Nobody"})).await["id"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn staff_invite_and_disable_from_the_contact_page(app: &TestApp) {
    let w = world(app).await;
    let staff = crate::helpers::signed_in(app).await;
    let path = format!("/records/contact/{}", w.reza);
    let html = staff.get(app.url(&path)).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("id=\"portal\"") && html.contains(&format!("{path}/portal\"")), "the portal panel");
    let csrf = csrf_of(&html);
    let change = |action: &'static str| {
        let staff = staff.clone();
        let (url, csrf) = (app.url(&format!("{path}/portal")), csrf.clone());
        async move {
            staff
                .post(url)
                .header("origin", &app.base)
                .form(&[("csrf", csrf.as_str()), ("action", action), ("company_access", "1")])
                .send()
                .await
                .expect("send")
        }
    };
    assert_eq!(change("invite").await.status(), StatusCode::SEE_OTHER);
    let account: Value = app.get(&format!("/api/v1/contacts/{}/portal", w.reza)).await.json().await.expect("account");
    assert_eq!(
        (
            account["account"]["status"].as_str(),
            account["account"]["phone"].as_str(),
            account["account"]["company_access"].as_bool()
        ),
        (Some("invited"), Some("+989121234567"), Some(true))
    );
    let outbox: Value = app.get("/api/v1/messages").await.json().await.expect("outbox");
    assert!(
        outbox["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["recipient"] == "+989121234567" && m["channel"] == "sms"),
        "no e-mail: the invitation goes by SMS: {outbox}"
    );
    assert_eq!(change("disable").await.status(), StatusCode::SEE_OTHER);
    let html = staff.get(app.url(&path)).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("value=\"enable\""), "a disabled account can be enabled again");
    // A contact with no address to sign in with: the panel says so.
    let nobody = app.create("contact", json!({"last_name": "Nobody"})).await;
    let r = staff
        .post(app.url(&format!("/records/contact/{}/portal", nobody["id"].as_str().expect("id"))))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("action", "invite")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("html").contains("role=\"alert\""));
}

async fn a_customer_orders_at_their_price_and_accepts_a_quote(app: &TestApp) {
    let w = world(app).await;
    let id = |v: Value| v["id"].as_str().expect("id").to_string();
    // Sara's own price list sells the heater at 1,500,000 (its list price is 2,000,000).
    let list = id(app
        .create(
            "price_list",
            json!({"name": "Sara's prices", "currency": "IRR", "applies_to": "customer", "contact": w.sara}),
        )
        .await);
    app.create(
        "price_list_item",
        json!({"price_list": list, "product": w.heater, "price": {"amount": "1500000", "currency": "IRR"}}),
    )
    .await;
    let retired = id(app
        .create("product", json!({"name": "Old model", "active": false, "price": {"amount": "10", "currency": "IRR"}}))
        .await);
    let r = app.post(&format!("/api/v1/contacts/{}/portal", w.sara), json!({"send": false})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sara = browser();
    sign_in_customer(app, &sara, "sara@example.ir").await;
    let (status, shop) = page(app, &sara, "/portal/shop").await;
    assert_eq!(status, StatusCode::OK);
    assert!(shop.contains("Heater") && !shop.contains("Old model"), "active products only");
    // Shown at her own price, not the list price.
    let plain: String = shop.chars().filter(|c| !matches!(c, ',' | '٬')).collect();
    let shown =
        |digits: &str| plain.contains(digits) || plain.contains(&peyvand_records::normalize::to_persian_digits(digits));
    assert!(shown("1500000") && !shown("2000000"), "her price in the shop: {shop}");
    let csrf = csrf_of(&shop);
    let orders_before = app.list("order", &[("total", "true"), ("limit", "1")]).await["total"].clone();
    // Bad input: a product not sold, a quantity below zero; nothing is written.
    for (product, quantity) in [(retired.as_str(), "1"), (w.heater.as_str(), "-1"), ("no-such-product", "1")] {
        let r = sara
            .post(app.url("/portal/orders"))
            .header("origin", &app.base)
            .form(&[("csrf", csrf.as_str()), (format!("q.{product}").as_str(), quantity)])
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{product} × {quantity}");
        assert!(r.text().await.expect("html").contains("role=\"alert\""));
    }
    assert_eq!(
        app.list("order", &[("total", "true"), ("limit", "1")]).await["total"],
        orders_before,
        "nothing half-written"
    );
    // Two heaters (typed in Persian digits), with a price of her own sent along: the server's
    // price is hers.
    let r = sara
        .post(app.url("/portal/orders"))
        .header("origin", &app.base)
        .form(&[
            ("csrf", csrf.as_str()),
            (format!("q.{}", w.heater).as_str(), "۲"),
            ("unit_price", "1"),
            (format!("q.{retired}x").as_str(), ""),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let location = r.headers().get("location").and_then(|l| l.to_str().ok()).expect("where").to_string();
    let order = location.trim_start_matches("/portal/orders/").split('?').next().expect("id").to_string();
    let placed: Value = app.get(&format!("/api/v1/records/order/{order}")).await.json().await.expect("order");
    assert_eq!(
        (
            placed["fields"]["contact"].as_str(),
            placed["fields"]["status"].as_str(),
            placed["fields"]["placed_in_portal"].as_bool()
        ),
        (Some(w.sara.as_str()), Some("pending"), Some(true))
    );
    assert_eq!(placed["fields"]["total"]["amount"], "3000000", "her price, twice: {placed}");
    let (status, html) = page(app, &sara, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("role=\"status\"") && html.contains("Heater"), "placed, with its lines");
    // Quotes: a draft is not hers to see yet; a sent one she accepts.
    let draft = id(app.create("quote", json!({"contact": w.sara, "number": "Q-0", "status": "draft"})).await);
    let sent = id(app.create("quote", json!({"contact": w.sara, "number": "Q-1", "status": "sent"})).await);
    let (_, orders) = page(app, &sara, "/portal/orders").await;
    assert!(orders.contains("Q-1") && !orders.contains("Q-0"), "sent quotes only");
    assert_eq!(page(app, &sara, &format!("/portal/quotes/{draft}")).await.0, StatusCode::NOT_FOUND);
    let (_, quote) = page(app, &sara, &format!("/portal/quotes/{sent}")).await;
    assert!(quote.contains(&format!("/portal/quotes/{sent}/accept")), "a sent quote can be accepted");
    let r = sara
        .post(app.url(&format!("/portal/quotes/{sent}/accept")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let q: Value = app.get(&format!("/api/v1/records/quote/{sent}")).await.json().await.expect("quote");
    assert_eq!(q["fields"]["status"], "accepted");
    // Her acceptance is on her timeline, linked to the quote, for the staff to see.
    let story: Value =
        app.get(&format!("/api/v1/records/contact/{}/timeline", w.sara)).await.json().await.expect("timeline");
    let entries = story["entries"].as_array().expect("entries");
    assert!(
        entries.iter().any(|e| e["kind"] == "activity"
            && e["title"].as_str().is_some_and(|t| t.contains("Quote Q-1 accepted in the customer portal"))),
        "the acceptance on the timeline: {story}"
    );
}

async fn a_customer_finds_help_and_answers_the_survey(app: &TestApp) {
    let w = world(app).await;
    let id = |v: Value| v["id"].as_str().expect("id").to_string();
    let published = id(app
        .create(
            "kb_article",
            json!({"title": "نصب بخاری گازی", "summary": "پیش از نصب", "body": "دودکش را بررسی کنید.", "language": "fa", "status": "published"}),
        )
        .await);
    let draft = id(app
        .create("kb_article", json!({"title": "بخاری برقی (پیش‌نویس)", "body": "هنوز نه", "language": "fa"}))
        .await);
    let r = app.post(&format!("/api/v1/contacts/{}/portal", w.sara), json!({"send": false})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sara = browser();
    sign_in_customer(app, &sara, "sara@example.ir").await;
    // Found by a word typed with the Arabic yeh (ي), as Persian search finds it.
    let (status, html) = page(app, &sara, "/portal/help?q=%D8%A8%D8%AE%D8%A7%D8%B1%D9%8A").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("نصب بخاری گازی") && !html.contains("پیش‌نویس"), "published articles only: {html}");
    let (_, suggested) =
        page(app, &sara, "/portal/help/suggest?subject=%D9%86%D8%B5%D8%A8%20%D8%A8%D8%AE%D8%A7%D8%B1%DB%8C").await;
    assert!(suggested.contains(&format!("/portal/help/{published}")), "suggested while she types: {suggested}");
    assert_eq!(page(app, &sara, &format!("/portal/help/{published}")).await.0, StatusCode::OK);
    assert_eq!(page(app, &sara, &format!("/portal/help/{draft}")).await.0, StatusCode::NOT_FOUND);
    // Her request resolved: its satisfaction survey waits for her on its page and at home.
    let ticket = id(app.create("ticket", json!({"subject": "The heater clicks", "contact": w.sara})).await);
    let r = app.patch(&format!("/api/v1/records/ticket/{ticket}"), json!({"fields": {"status": "resolved"}})).await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let (_, thread) = page(app, &sara, &format!("/portal/requests/{ticket}")).await;
    let link = thread.split("href=\"/s/").nth(1).and_then(|s| s.split('"').next()).expect("a survey link");
    let (_, home) = page(app, &sara, "/portal").await;
    assert!(home.contains(&format!("/s/{link}")), "and on her home page");
    let (status, survey) = page(app, &sara, &format!("/s/{link}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(survey.contains("<form"), "the survey opens");
}

async fn the_portal_wears_the_brand_and_answers_alone_on_its_host(app: &TestApp) {
    for bad in [json!({"colour": "yellow"}), json!({"host": "https://my.example.ir/portal"})] {
        let r = app.put("/api/v1/portal/settings", bad.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let r = app
        .put("/api/v1/portal/settings", json!({"sign_up": true, "colour": "#FFCC00", "host": "My.Example.ir"}))
        .await;
    assert_eq!(
        r.json::<Value>().await.expect("settings"),
        json!({"sign_up": true, "colour": "#ffcc00", "host": "my.example.ir"})
    );
    // A light colour gets dark text on its buttons and a darker shade for links on white.
    let css = reqwest::get(app.url("/portal/brand.css")).await.expect("send").text().await.expect("css");
    assert!(css.contains("--accent: #ffcc00") && css.contains("--accent-fg: #131722"), "{css}");
    assert!(!css.contains("--accent-text: #ffcc00"), "links darker than the colour: {css}");
    // The logo, from the admin's page.
    let admin = crate::helpers::signed_in(app).await;
    let html = admin.get(app.url("/admin/portal")).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    let fields = [("csrf", csrf.as_str()), ("sign_up", "1"), ("colour", "#ffcc00"), ("host", "my.example.ir")];
    let mut body = multipart("portalboundary", &fields, None);
    let end = "--portalboundary--\r\n";
    body.truncate(body.len() - end.len());
    body.extend(b"--portalboundary\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\nContent-Type: image/png\r\n\r\n");
    body.extend(PNG);
    body.extend(format!("\r\n{end}").as_bytes());
    let r = post_multipart(app, &admin, "/admin/portal", body).await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let logo = reqwest::get(app.url("/portal/logo")).await.expect("send");
    assert_eq!(logo.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/png"));
    let sign_in = reqwest::get(app.url("/portal/sign-in")).await.expect("send").text().await.expect("html");
    assert!(sign_in.contains("src=\"/portal/logo\"") && sign_in.contains("/portal/brand.css"), "branded");
    // On its own host: the portal alone.
    let client = browser();
    let on_host = |path: &str| client.get(app.url(path)).header("host", "my.example.ir").send();
    let r = on_host("/").await.expect("send");
    assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some("/portal"));
    assert_eq!(on_host("/records/contact").await.expect("send").status(), StatusCode::NOT_FOUND);
    assert_eq!(on_host("/login").await.expect("send").status(), StatusCode::NOT_FOUND);
    assert_eq!(on_host("/portal/sign-in").await.expect("send").status(), StatusCode::OK);
    // The staff application is where it was.
    assert_eq!(client.get(app.url("/login")).send().await.expect("send").status(), StatusCode::OK);
}
