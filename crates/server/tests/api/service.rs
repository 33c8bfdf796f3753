//! The support desk over HTTP on both backends: a ticket's conversation through the API (files
//! in and out, refusals with their reasons), its page (the deadlines, the reply form with a
//! file, the download), the desk and the report pages, Admin → Service desk, and the ticket on
//! its customer's timeline.

use crate::backend_tests;
use crate::helpers::{TestApp, csrf_of, problem, signed_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(a_tickets_conversation_through_the_api, a_ticket_on_its_pages, the_desks_setup_on_its_admin_page);

async fn a_tickets_conversation_through_the_api(app: &TestApp) {
    let contact = app.create("contact", json!({"first_name": "Nima", "last_name": "Farahani"})).await;
    let cid = contact["id"].as_str().expect("id");
    let t = app
        .create(
            "ticket",
            json!({"subject": "Broken compressor", "kind": "complaint", "priority": "high", "contact": cid}),
        )
        .await;
    let id = t["id"].as_str().expect("id").to_string();
    assert!(t["fields"]["number"].as_str().is_some_and(|n| n.starts_with("T-")), "{t}");
    assert!(t["fields"]["resolution_due"].is_string(), "the standard service level applies: {t}");
    // A reply with a file; the file comes back as it went, as a download.
    let pdf = "JVBERi0xLjQKJeLjz9M="; // %PDF-1.4 …
    let r = app
        .post(&format!("/api/v1/tickets/{id}/messages"), json!({"body": "The technician comes tomorrow.", "public": true, "files": [{"file_name": "visit.pdf", "content_base64": pdf}]}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let m: Value = r.json().await.expect("message");
    let file = m["attachments"][0]["id"].as_str().expect("a file").to_string();
    let r = app.get(&format!("/api/v1/tickets/{id}/attachments/{file}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"].to_str().expect("header").starts_with("attachment;"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.bytes().await.expect("bytes").starts_with(b"%PDF-1.4"));
    let t: Value = app.get(&format!("/api/v1/records/ticket/{id}")).await.json().await.expect("ticket");
    assert_eq!(t["fields"]["status"], "open", "a reply opens a new ticket");
    assert!(t["fields"]["first_response_at"].is_string());
    // Refused, with reasons and nothing written: a file that is not what it says, bad base64.
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            json!({"body": "x", "files": [{"file_name": "a.pdf", "content_base64": "PHNjcmlwdD4="}]}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "files.0");
    assert_eq!(p["errors"][0]["code"], "file_type_not_allowed");
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            json!({"body": "x", "files": [{"file_name": "a.pdf", "content_base64": "***"}]}),
        )
        .await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "invalid_base64");
    let all: Value = app.get(&format!("/api/v1/tickets/{id}/messages")).await.json().await.expect("messages");
    assert_eq!(all["messages"].as_array().map(Vec::len), Some(1));
    // Closed, and the desk refuses replies to closed tickets: 409 naming why.
    app.patch(&format!("/api/v1/records/ticket/{id}"), json!({"fields": {"status": "closed"}})).await;
    let r = app.put("/api/v1/service/settings", json!({"closed_reply": "refuse"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.post(&format!("/api/v1/tickets/{id}/messages"), json!({"body": "again?", "public": true})).await;
    assert_eq!(problem(r, StatusCode::CONFLICT).await["errors"][0]["code"], "ticket_closed");
    // Days off that overlap, a calendar without hours: refused by name.
    let r = app
        .put(
            "/api/v1/service/holidays",
            json!({"holidays": [{"from": "2027-03-21", "to": "2027-03-24", "name_fa": "نوروز"}, {"from": "2027-03-22", "to": "2027-03-22", "name_fa": "x"}]}),
        )
        .await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"], "holidays.1.from");
    let r = app.post("/api/v1/service/calendars", json!({"name": "Never", "hours": {"shifts": []}})).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "no_working_hours");
    // The report and the customer's story.
    let r: Value = app.get("/api/v1/service/compliance?by=category").await.json().await.expect("report");
    assert_eq!(r["rows"][0]["tickets"], 1, "{r}");
    let r = app.get("/api/v1/service/compliance?by=week").await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"], "by");
    let story: Value =
        app.get(&format!("/api/v1/records/contact/{cid}/timeline?kind=ticket")).await.json().await.expect("timeline");
    assert_eq!(story["entries"][0]["title"], "Broken compressor");
    assert_eq!(story["entries"][0]["detail"]["type"], "complaint");
}

async fn a_ticket_on_its_pages(app: &TestApp) {
    let t = app.create("ticket", json!({"subject": "کولر صدا می‌دهد", "priority": "urgent"})).await;
    let id = t["id"].as_str().expect("id").to_string();
    let number = t["fields"]["number"].as_str().expect("number").to_string();
    let page = signed_in(app).await;
    let desk = page.get(app.url("/service")).send().await.expect("send").text().await.expect("html");
    assert!(desk.contains(&number) && desk.contains("کولر صدا می‌دهد"), "the desk lists it");
    let html =
        page.get(app.url(&format!("/records/ticket/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("ticket-panels") && html.contains(&format!("/tickets/{id}/reply")), "the panel and its form");
    assert!(html.contains("name=\"files\""), "files can be sent");
    // A reply with a file from the page (multipart, the token first).
    let csrf = csrf_of(&html);
    let boundary = "ticketboundary7";
    let part = |name: &str, value: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let mut body =
        [part("csrf", &csrf), part("public", "1"), part("body", "سلام، فردا تماس می‌گیریم."), part("status", "waiting")]
            .concat()
            .into_bytes();
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"note.txt\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes());
    body.extend("یادداشت".as_bytes());
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = page
        .post(app.url(&format!("/tickets/{id}/reply")))
        .header("origin", &app.base)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html =
        page.get(app.url(&format!("/records/ticket/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("سلام، فردا تماس می‌گیریم.") && html.contains("note.txt"));
    let t: Value = app.get(&format!("/api/v1/records/ticket/{id}")).await.json().await.expect("ticket");
    assert_eq!(t["fields"]["status"], "waiting");
    assert_eq!(t["fields"]["resolution_due"], Value::Null, "the clock waits with the customer");
    let link =
        html.split(&format!("/tickets/{id}/files/")).nth(1).and_then(|s| s.split('"').next()).expect("a file link");
    let r = page.get(app.url(&format!("/tickets/{id}/files/{link}"))).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("text"), "یادداشت");
    // Without the token first: refused, nothing written.
    let r = page
        .post(app.url(&format!("/tickets/{id}/reply")))
        .header("origin", &app.base)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body([part("body", "forged"), part("csrf", &csrf)].concat())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let all: Value = app.get(&format!("/api/v1/tickets/{id}/messages")).await.json().await.expect("messages");
    assert_eq!(all["messages"].as_array().map(Vec::len), Some(1));
    // The report: this month's row (Jalali months in Persian are the crm tests' to check).
    let report = page.get(app.url("/service/report")).send().await.expect("send").text().await.expect("html");
    let month = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+03:30));
    let key = format!("{}/{:02}", month.year(), u8::from(month.month()));
    let main = report.split("<main").nth(1).unwrap_or(&report);
    assert!(report.contains(&key), "this month ({key}) has its row: {main}");
}

async fn the_desks_setup_on_its_admin_page(app: &TestApp) {
    let page = signed_in(app).await;
    let html = page.get(app.url("/admin/service")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("2026-03-21 2026-03-24"), "this year's holidays are listed (Nowruz)");
    assert!(html.contains("saturday 08:00-16:00"), "the office week");
    let csrf = csrf_of(&html);
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let mut form = form;
        form.push(("csrf", csrf.clone()));
        page.post(app.url(path)).header("origin", &app.base).form(&form).send()
    };
    let r = post(
        "/admin/service/holidays",
        vec![("holidays", "1405-01-01 1405-01-04 نوروز | Nowruz\n1405-01-03 1405-01-03 x | x".into())],
    )
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("html").contains("holidays.1.from"), "the line is named");
    let team: Value = app.post("/api/v1/teams", json!({"name": "Support"})).await.json().await.expect("team");
    let r = post(
        "/admin/service/queues",
        vec![("team", team["id"].as_str().expect("id").into()), ("mode", "least_loaded".into())],
    )
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let queues: Value = app.get("/api/v1/service/queues").await.json().await.expect("queues");
    assert_eq!(queues["queues"][0]["mode"], "least_loaded");
    // The queue's desk: its open tickets, not others', not those done.
    let queue = team["id"].as_str().expect("id");
    for (subject, q, status) in
        [("In the queue", Some(queue), "open"), ("Elsewhere", None, "open"), ("Done here", Some(queue), "resolved")]
    {
        app.create("ticket", json!({"subject": subject, "queue": q, "status": status})).await;
    }
    let desk =
        page.get(app.url(&format!("/service?queue={queue}"))).send().await.expect("send").text().await.expect("html");
    assert!(desk.contains("In the queue") && !desk.contains("Elsewhere") && !desk.contains("Done here"), "{desk}");
    let r = post(
        "/admin/service/calendars",
        vec![("name", "Night shift".into()), ("hours", "monday 22:00-24:00\ntuesday 00:00-06:00".into())],
    )
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cals: Value = app.get("/api/v1/service/calendars").await.json().await.expect("calendars");
    assert_eq!(cals["calendars"].as_array().map(Vec::len), Some(2));
}
