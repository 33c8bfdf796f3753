//! Feedback over HTTP on both backends: a resolved ticket's CSAT answered through its public
//! link on a page (no login; used twice or forged, refused in words), shown on the ticket, the
//! agent's page and the report; a poll built in the page builder and answered through the API;
//! and the public idea board with its votes.

use crate::backend_tests;
use crate::helpers::{TestApp, browser, csrf_of, problem, signed_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(a_csat_answer_reaches_the_agents_page, a_poll_is_built_and_answered, the_idea_board_takes_votes);

async fn a_csat_answer_reaches_the_agents_page(app: &TestApp) {
    let (agent, _) = app.user_id_with_role("sara@t.ir", "agent").await;
    let contact = app.create("contact", json!({"first_name": "Nima", "last_name": "Farahani"})).await;
    let cid = contact["id"].as_str().expect("id");
    let t = app.create("ticket", json!({"subject": "Noisy fridge", "contact": cid, "owner": agent})).await;
    let id = t["id"].as_str().expect("id").to_string();
    app.patch(&format!("/api/v1/records/ticket/{id}"), json!({"fields": {"status": "resolved"}})).await;
    // The ticket's page shows the customer's link until they answer.
    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/ticket/{id}"))).send().await.expect("send").text().await.expect("html");
    let link = html.split("id=\"csat-link\" readonly value=\"").nth(1).and_then(|s| s.split('"').next()).expect("link");
    let path = link.split_once("/s/").map(|(_, t)| format!("/s/{t}")).expect("a survey path");
    // The customer, not signed in, opens it in English and answers 5 with praise.
    let visitor = browser();
    let form = visitor.get(app.url(&format!("{path}?lang=en"))).send().await.expect("send");
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.expect("html");
    assert!(form.contains("How satisfied were you") && form.contains("data-when=\"score\""), "skip logic marked");
    let r = visitor.post(app.url(&path)).form(&[("lang", "en"), ("score", "7")]).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "out of range");
    assert!(r.text().await.expect("html").contains("Out of range"), "said in words");
    let r = visitor
        .post(app.url(&path))
        .form(&[("lang", "en"), ("score", "5"), ("praise", "Fast and kind"), ("comment", "not asked")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("html").contains("Thank you"));
    // Twice: refused; forged: not found.
    let r = visitor.post(app.url(&path)).form(&[("score", "1")]).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // The last character changed (to one it is not).
    let last = if path.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &path[..path.len() - 1]);
    assert_eq!(visitor.get(app.url(&forged)).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    let token = path.trim_start_matches("/s/");
    let r = visitor
        .post(app.url(&format!("/api/v1/survey_answers/{token}")))
        .json(&json!({"answers": {"score": 4}}))
        .send()
        .await
        .expect("send");
    assert_eq!(problem(r, StatusCode::CONFLICT).await["code"], "survey_answered");
    // On the ticket, the agent's page, the report and the API.
    let html =
        page.get(app.url(&format!("/records/ticket/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("Fast and kind") && !html.contains("csat-link"));
    let staff = page.get(app.url(&format!("/staff/{agent}"))).send().await.expect("send");
    assert_eq!(staff.status(), StatusCode::OK);
    let staff = staff.text().await.expect("html");
    assert!(staff.contains("Fast and kind") && staff.contains("Farahani"), "the verbatim and its customer");
    let report = page.get(app.url("/service/report")).send().await.expect("send").text().await.expect("html");
    assert!(report.contains(&format!("/staff/{agent}")), "the agent's rating in the report");
    let f: Value = app.get(&format!("/api/v1/staff/{agent}/feedback")).await.json().await.expect("feedback");
    assert_eq!(f["scores"]["average"], 5.0);
    assert_eq!(f["responses"][0]["answers"], json!({"score": 5, "praise": "Fast and kind"}));
    app.post("/api/v1/teams", json!({"name": "Support", "members": [agent]})).await;
    let all: Value = app.get("/api/v1/staff/ratings").await.json().await.expect("ratings");
    assert_eq!(all["staff"][0]["staff_id"], agent.as_str());
    assert_eq!(all["teams"][0]["scores"]["average"], 5.0, "the team as its member was rated");
    let r: Value = app.get("/api/v1/surveys/csat/results").await.json().await.expect("results");
    assert_eq!((r["invitations"].as_i64(), r["responses"].as_i64()), (Some(1), Some(1)));
    assert_eq!(r["scores"]["satisfied_pct"], 100.0);
    let results = page.get(app.url("/surveys/csat")).send().await.expect("send").text().await.expect("html");
    assert!(results.contains("Fast and kind"), "verbatims on the results page");
}

async fn a_poll_is_built_and_answered(app: &TestApp) {
    let page = signed_in(app).await;
    let html = page.get(app.url("/surveys/new")).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    // Asked for one more question first, then saved with a mistake, then right.
    let base = [
        ("csrf", csrf.as_str()),
        ("name", "کولر تازه"),
        ("kind", "poll"),
        ("active", "on"),
        ("expires_days", "۳۰"),
        ("q0.key", "bought"),
        ("q0.kind", "single"),
        ("q0.label_fa", "خریدید؟"),
        ("q0.required", "on"),
        ("q0.choices", "yes | بله | Yes\nno | نه | No"),
    ];
    let mut more = base.to_vec();
    more.push(("add", "1"));
    let r = page.post(app.url("/surveys/new")).header("origin", &app.base).form(&more).send().await.expect("send");
    assert!(r.text().await.expect("html").contains("name=\"q1.key\""), "a second question to fill");
    let mut wrong = base.to_vec();
    wrong.extend([
        ("q1.key", "why_not"),
        ("q1.kind", "text"),
        ("q1.label_fa", "چرا نه؟"),
        ("q1.when_question", "nope"),
    ]);
    let r = page.post(app.url("/surveys/new")).header("origin", &app.base).form(&wrong).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("html").contains("questions.1.when.question"));
    let mut right = base.to_vec();
    right.extend([
        ("q1.key", "why_not"),
        ("q1.kind", "text"),
        ("q1.label_fa", "چرا نه؟"),
        ("q1.when_question", "bought"),
        ("q1.when_any", "no"),
    ]);
    let r = page.post(app.url("/surveys/new")).header("origin", &app.base).form(&right).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list: Value = app.get("/api/v1/surveys").await.json().await.expect("surveys");
    let poll = list["surveys"].as_array().expect("list").iter().find(|s| s["kind"] == "poll").expect("the poll");
    assert_eq!(poll["questions"][1]["when"], json!({"question": "bought", "any_of": ["no"]}));
    let sid = poll["id"].as_str().expect("id");
    // Invited through the API; answered through the API with a hidden question's answer dropped.
    let c = app.create("contact", json!({"last_name": "Rad"})).await;
    let r =
        app.post(&format!("/api/v1/surveys/{sid}/invitations"), json!({"invitations": [{"contact": c["id"]}]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("made");
    let link = made["invitations"][0]["link"].as_str().expect("link");
    let token = link.rsplit('/').next().expect("token");
    let anonymous = reqwest::Client::new();
    let r = anonymous
        .post(app.url(&format!("/api/v1/survey_answers/{token}")))
        .json(&json!({"answers": {"bought": "yes", "why_not": "dropped"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r: Value = app.get(&format!("/api/v1/surveys/{sid}/results")).await.json().await.expect("results");
    assert_eq!(r["questions"][0]["counts"], json!([["yes", 1], ["no", 0]]));
    assert_eq!(r["verbatims"], json!([]), "the hidden question's answer was not kept");
    // A bad definition through the API: problem+json naming the part.
    let r = app
        .post(
            "/api/v1/surveys",
            json!({"name": "x", "kind": "nps", "questions": [{"key": "a", "kind": "text", "label_fa": "x"}]}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["code"], "nps_needs_nps");
}

async fn the_idea_board_takes_votes(app: &TestApp) {
    let visitor = browser();
    let html = visitor.get(app.url("/ideas")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("action=\"/ideas\""));
    let r = visitor
        .post(app.url("/ideas"))
        .form(&[("title", "قسطی بفروشید"), ("requester_name", "نرگس احمدی")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "an e-mail is needed");
    let r = visitor
        .post(app.url("/ideas"))
        .form(&[("title", "قسطی بفروشید"), ("requester_name", "نرگس احمدی"), ("requester_email", "narges@example.ir")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    // Not on the board until published; then a visitor votes.
    let list = app.list("suggestion", &[]).await;
    let id = list["records"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(list["records"][0]["fields"]["votes"], 1);
    let html = visitor.get(app.url("/ideas")).send().await.expect("send").text().await.expect("html");
    assert!(!html.contains(&format!("/ideas/{id}/vote")));
    app.patch(&format!("/api/v1/records/suggestion/{id}"), json!({"fields": {"published": true, "status": "planned"}}))
        .await;
    let r = visitor
        .post(app.url(&format!("/ideas/{id}/vote")))
        .form(&[("requester_name", "Ali"), ("requester_email", "ali@example.com")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let askers: Value = app.get(&format!("/api/v1/suggestions/{id}/askers")).await.json().await.expect("askers");
    assert_eq!(askers["askers"].as_array().map(Vec::len), Some(2));
    let s: Value = app.get(&format!("/api/v1/records/suggestion/{id}")).await.json().await.expect("s");
    assert_eq!(s["fields"]["votes"], 2);
    // Done: the page says whom to tell; told through the API.
    app.patch(&format!("/api/v1/records/suggestion/{id}"), json!({"fields": {"status": "done"}})).await;
    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/suggestion/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains(&format!("/suggestions/{id}/told")) && html.contains("نرگس"));
    let r: Value = app.post(&format!("/api/v1/suggestions/{id}/told"), json!({})).await.json().await.expect("told");
    assert_eq!(r["told"], 2);
}
