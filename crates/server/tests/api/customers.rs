//! Duplicates and merge over HTTP: found through the API, merged in one call, the merged id's
//! page and API address leading to the survivor. The customer 360's timeline through the API
//! and on the page: narrowed by kind, read on by cursor. Web forms built on the admin page and
//! filled by a visitor.

use crate::backend_tests;
use crate::helpers::{TestApp, csrf_of, problem, signed_in};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    two_contacts_become_one,
    the_merge_screen_chooses_each_value,
    a_customers_story_on_one_page,
    an_admin_builds_a_web_form_and_a_visitor_fills_it,
    a_call_from_an_unknown_number_offers_a_contact,
    the_duplicates_queue_on_its_page
);

async fn two_contacts_become_one(app: &TestApp) {
    let kept =
        app.create("contact", json!({"first_name": "علي", "last_name": "كريمي", "emails": ["ali@pars.example"]})).await;
    let other =
        app.create("contact", json!({"first_name": "علی", "last_name": "کریمی", "phones": ["09121234567"]})).await;
    let (kept, other) = (kept["id"].as_str().expect("id").to_string(), other["id"].as_str().expect("id").to_string());
    app.create(
        "activity",
        json!({"kind": "call", "subject": "Prices", "occurred_at": "2026-11-01T08:00:00Z", "contact": other}),
    )
    .await;
    let found: Value = app.get(&format!("/api/v1/records/contact/{kept}/duplicates")).await.json().await.expect("json");
    assert_eq!(found["duplicates"][0]["record"]["id"], json!(other));
    assert_eq!(found["duplicates"][0]["reasons"], json!(["name"]));
    let r = app.post(&format!("/api/v1/records/contact/{kept}/merge"), json!({"with": kept})).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "merge_with_itself");
    let r = app.post(&format!("/api/v1/records/contact/{kept}/merge"), json!({"with": other})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let merged: Value = r.json().await.expect("json");
    assert_eq!(merged["fields"]["phones"], json!(["+989121234567"]), "the other's phone joined");
    let calls =
        app.list("activity", &[("filter", &json!({"field": "contact", "op": "eq", "value": kept}).to_string())]).await;
    assert_eq!(calls["records"].as_array().map(Vec::len), Some(1), "the call moved");
    // The merged id leads to the survivor, in the API and on its page.
    let r = app.send_as(&app.token, Method::GET, &format!("/api/v1/records/contact/{other}"), None).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()["location"], format!("/api/v1/records/contact/{kept}").as_str());
    let page = signed_in(app).await;
    let r = page.get(app.url(&format!("/records/contact/{other}"))).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()["location"], format!("/records/contact/{kept}").as_str());
}

/// On pages: a contact's page lists its possible duplicate with a link to the merge screen, which
/// shows both side by side; the values picked from the other are the ones kept.
async fn the_merge_screen_chooses_each_value(app: &TestApp) {
    let kept = app.create("contact", json!({"first_name": "سارا", "last_name": "رضايي", "job_title": "کارشناس"})).await;
    let other = app
        .create(
            "contact",
            json!({"first_name": "سارا", "last_name": "رضایی", "job_title": "مدیر خرید", "city": "تبریز"}),
        )
        .await;
    let (kept, other) = (kept["id"].as_str().expect("id").to_string(), other["id"].as_str().expect("id").to_string());
    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/contact/{kept}"))).send().await.expect("send").text().await.expect("html");
    let panel = format!("/records/contact/{kept}/duplicates");
    assert!(html.contains(&panel), "the page fetches its duplicates once shown");
    let html = page.get(app.url(&panel)).send().await.expect("send").text().await.expect("html");
    let screen = format!("/records/contact/{kept}/merge/{other}");
    assert!(html.contains("Possible duplicates") && html.contains(&screen), "the duplicate and the way to merge it");
    let html = page.get(app.url(&screen)).send().await.expect("send").text().await.expect("html");
    assert!(
        html.contains("کارشناس") && html.contains("مدیر خرید") && html.contains("name=\"pick.job_title\""),
        "both values"
    );
    let csrf = csrf_of(&html);
    let form = [("csrf", csrf.as_str()), ("pick.job_title", "other"), ("pick.first_name", "keep")];
    let r = page.post(app.url(&screen)).header("origin", &app.base).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let merged: Value = app.get(&format!("/api/v1/records/contact/{kept}")).await.json().await.expect("json");
    assert_eq!(
        (merged["fields"]["job_title"].clone(), merged["fields"]["city"].clone()),
        (json!("مدیر خرید"), json!("تبریز"))
    );
    let html = page.get(app.url(&panel)).send().await.expect("send").text().await.expect("html");
    assert!(html.trim().is_empty(), "no duplicate left: {html}");
}

/// A contact's story: a call, an e-mail, an order and a change, newest first through the API, by
/// kind, page by page; on the contact's page with chips, and the next entries appended.
async fn a_customers_story_on_one_page(app: &TestApp) {
    let contact = app.create("contact", json!({"first_name": "Sara", "last_name": "Ahmadi"})).await;
    let id = contact["id"].as_str().expect("id").to_string();
    for (kind, subject, at) in
        [("call", "Asked for prices", "2026-10-01T08:00:00Z"), ("email", "Sent the catalogue", "2026-10-02T08:00:00Z")]
    {
        app.create("activity", json!({"kind": kind, "subject": subject, "occurred_at": at, "contact": id})).await;
    }
    app.create(
        "order",
        json!({"contact": id, "ordered_at": "2026-10-05T08:00:00Z", "number": "O-77", "status": "delivered"}),
    )
    .await;
    let r = app.patch(&format!("/api/v1/records/contact/{id}"), json!({"fields": {"city": "Tabriz"}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let story: Value = app.get(&format!("/api/v1/records/contact/{id}/timeline")).await.json().await.expect("json");
    let kinds: Vec<&str> =
        story["entries"].as_array().expect("entries").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["change", "change", "order", "email", "activity"], "{story}");
    assert_eq!(story["entries"][0]["detail"]["changes"][0]["field"], "city");
    assert!(story["next"].is_null());
    let two: Value = app
        .get(&format!("/api/v1/records/contact/{id}/timeline?kind=email,order&limit=1"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(two["entries"][0]["title"], "O-77");
    let cursor = two["next"].as_str().expect("a next page").to_string();
    let rest: Value = app
        .get_query(
            &format!("/api/v1/records/contact/{id}/timeline"),
            &[("kind", "email,order"), ("limit", "1"), ("cursor", &cursor)],
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["entries"][0]["title"], "Sent the catalogue");
    let r = app.get(&format!("/api/v1/records/contact/{id}/timeline?kind=gossip")).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "unknown_kind");
    let r = app.get(&format!("/api/v1/records/contact/{id}/timeline?cursor=yesterday")).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "invalid_cursor");
    let r = app.get("/api/v1/records/deal/nothing/timeline").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send").text().await.expect("html");
    for expected in [
        "Asked for prices",
        "Sent the catalogue",
        "O-77",
        "Tabriz",
        "Deal stages",
        &format!("/records/contact/{id}/timeline?kind=email"),
    ] {
        assert!(html.contains(expected), "{expected} on the page");
    }
    let html = page
        .get(app.url(&format!("/records/contact/{id}/timeline?kind=email")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Sent the catalogue") && !html.contains("Asked for prices") && html.contains("aria-current"));
}

/// An admin builds a lead form on Admin → Web forms (a team in turn as owner); a visitor opens
/// its link with UTM parameters, gets errors by field, then sends it; the lead lands with the
/// team's first member, tagged with the campaign; the form can be framed by another site;
/// a form sent where it redirects goes there.
async fn an_admin_builds_a_web_form_and_a_visitor_fills_it(app: &TestApp) {
    let me: Value = app.get("/api/v1/me").await.json().await.expect("me");
    let me = me["id"].as_str().or(me["user"]["id"].as_str()).expect("my id").to_string();
    let team: Value =
        app.post("/api/v1/teams", json!({"name": "Web", "members": [me]})).await.json().await.expect("team");
    let team = team["id"].as_str().expect("team id").to_string();
    let page = signed_in(app).await;
    let html =
        page.get(app.url("/admin/forms/new?object=lead")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("name=\"ask.last_name\" ") && html.contains(&format!("value=\"team:{team}\"")));
    let csrf = csrf_of(&html);
    let assign = format!("team:{team}");
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Yalda offer"),
        ("object", "lead"),
        ("ask.first_name", "on"),
        ("ask.last_name", "on"),
        ("req.last_name", "on"),
        ("ask.emails", "on"),
        ("consent_en", "Send me offers"),
        ("thanks_en", "We will call you today."),
        ("assign", assign.as_str()),
        ("active", "1"),
    ];
    let r = page.post(app.url("/admin/forms/new")).header("origin", &app.base).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let forms: Value = app.get("/api/v1/forms").await.json().await.expect("forms");
    let slug = forms["forms"][0]["slug"].as_str().expect("slug").to_string();
    let id = forms["forms"][0]["id"].as_str().expect("id").to_string();
    let html = page.get(app.url(&format!("/admin/forms/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(
        html.contains(&format!("/f/{slug}")) && (html.contains("&lt;iframe") || html.contains("&#60;iframe")),
        "the link and the snippet"
    );

    let visitor = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = visitor
        .get(app.url(&format!("/f/{slug}?utm_source=instagram&utm_campaign=yalda&lang=en")))
        .send()
        .await
        .expect("send");
    assert!(r.headers().get("x-frame-options").is_none(), "another site may frame it");
    let csp = r.headers()["content-security-policy"].to_str().expect("csp").to_string();
    assert!(csp.contains("frame-ancestors *"), "{csp}");
    let html = r.text().await.expect("html");
    assert!(html.contains("Yalda offer") && html.contains("value=\"instagram\"") && html.contains("Send me offers"));
    let send = async |fields: &[(&str, &str)]| {
        visitor
            .post(app.url(&format!("/f/{slug}")))
            .header("origin", "https://shop.example")
            .form(fields)
            .send()
            .await
            .expect("send")
    };
    let r = send(&[("lang", "en"), ("first_name", "<b>Sara</b>"), ("emails", "nope"), ("utm_campaign", "yalda")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(
        html.contains("pf-last_name-error") && html.contains("pf-first_name-error") && html.contains("pf-emails-error")
    );
    let r = send(&[
        ("lang", "en"),
        ("last_name", "Ahmadi"),
        ("emails", "sara@mail.example"),
        ("consent", "on"),
        ("utm_campaign", "yalda"),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("html").contains("We will call you today."));
    let leads = app.list("lead", &[]).await;
    let lead = &leads["records"][0]["fields"];
    assert_eq!(
        (lead["owner"].clone(), lead["campaign"].clone(), lead["source"].clone()),
        (json!(me), json!("yalda"), json!("web_form"))
    );
    let kept: Value = app.get(&format!("/api/v1/forms/{id}/submissions")).await.json().await.expect("json");
    assert_eq!(kept["submissions"][0]["consent_text"], "Send me offers");
    assert_eq!(kept["submissions"][0]["consent_given"], true);

    // Sent where the form redirects: there.
    let mut definition = forms["forms"][0].clone();
    for k in ["id", "slug", "created_at", "updated_at"] {
        definition.as_object_mut().expect("form").remove(k);
    }
    definition["redirect"] = json!("https://shop.example/thanks");
    let r = app.send_as(&app.token, Method::PUT, &format!("/api/v1/forms/{id}"), Some(definition)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(&[("last_name", "Karimi")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "https://shop.example/thanks");
}

/// A call logged with a number no contact has: its page offers to make the contact (the number
/// filled in); a colleague added on the page takes part; once a contact has the number, no offer.
async fn a_call_from_an_unknown_number_offers_a_contact(app: &TestApp) {
    let call = app
        .create(
            "activity",
            json!({"kind": "call", "subject": "Asked for prices", "occurred_at": "2026-11-01T08:00:00Z",
            "phone": "09121234567", "outcome": "interested", "duration_minutes": 12}),
        )
        .await;
    let id = call["id"].as_str().expect("id").to_string();
    assert_eq!(call["fields"]["phone"], "+989121234567");
    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/activity/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("/records/contact/new?phones=%2B989121234567"), "the offer, with the number");
    let me: Value = app.get("/api/v1/me").await.json().await.expect("me");
    let me = me["id"].as_str().or(me["user"]["id"].as_str()).expect("my id").to_string();
    let csrf = csrf_of(&html);
    let r = page
        .post(app.url(&format!("/records/activity/{id}/participants")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("add_user", me.as_str()), ("add_contact", "")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let who: Value = app.get(&format!("/api/v1/activities/{id}/participants")).await.json().await.expect("json");
    assert_eq!(who, json!({"contacts": [], "users": [me]}));
    let r = app
        .send_as(
            &app.token,
            Method::PUT,
            &format!("/api/v1/activities/{id}/participants"),
            Some(json!({"contacts": ["nobody"]})),
        )
        .await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"], "contacts.0");
    app.create("contact", json!({"last_name": "Caller", "phones": ["+989121234567"]})).await;
    let html =
        page.get(app.url(&format!("/records/activity/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(!html.contains("/records/contact/new?phones="), "a contact has the number now");
}

/// The queue: an admin asks for a scan (a job), the scan's pairs are listed with why and a way
/// to merge; one marked as not duplicates leaves the list.
async fn the_duplicates_queue_on_its_page(app: &TestApp) {
    let one = app.create("contact", json!({"first_name": "علي", "last_name": "كريمي"})).await;
    let two = app.create("contact", json!({"first_name": "علی", "last_name": "کریمی"})).await;
    let (one, two) = (one["id"].as_str().expect("id").to_string(), two["id"].as_str().expect("id").to_string());
    let page = signed_in(app).await;
    let html = page.get(app.url("/duplicates")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("No search for duplicates has run yet."));
    let csrf = csrf_of(&html);
    let r = page
        .post(app.url("/duplicates/scan"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("object", "contact")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let jobs = app.db.jobs(None, 100).await.expect("jobs");
    assert!(jobs.iter().any(|j| j.kind == "duplicates" && j.payload["object"] == "contact"), "the scan is a job");
    peyvand_crm::customers::queue::scan(&app.db, "contact").await.expect("scan");
    let html = page.get(app.url("/duplicates?object=contact")).send().await.expect("send").text().await.expect("html");
    let (a, b) = if one < two { (&one, &two) } else { (&two, &one) };
    assert!(html.contains(&format!("/records/contact/{a}/merge/{b}")) && html.contains("same name"), "the pair");
    let listed: Value = app.get("/api/v1/duplicates?object=contact").await.json().await.expect("json");
    assert_eq!(listed["pairs"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["last_scan"]["records"], 2);
    let r = page
        .post(app.url("/duplicates/dismiss"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("object", "contact"), ("a", a.as_str()), ("b", b.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page.get(app.url("/duplicates?object=contact")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("No possible duplicates to look at."));
}
