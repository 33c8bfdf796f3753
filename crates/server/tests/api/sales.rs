//! Sales over HTTP: pipelines in the API and on the admins' page, a deal's stage checked and its
//! history kept, the pipeline board's columns, weighted sums and deals going stale.

use crate::backend_tests;
use crate::helpers::{TestApp, csrf_of, problem, signed_in};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    pipelines_and_deal_stages_over_the_api,
    the_pipeline_board_weighs_columns_and_marks_stale_deals,
    a_lead_converts_over_the_api_and_on_its_page,
    visitors_leave_leads_through_the_web_form,
    a_quote_becomes_an_order_and_prints_right_to_the_rial,
    customers_are_offered_what_others_who_bought_the_same_bought
);

fn stage(en: &str, fa: &str, probability: i64, kind: &str) -> Value {
    json!({"label_en": en, "label_fa": fa, "probability": probability, "kind": kind})
}

fn dealers() -> Value {
    json!({"key": "dealers", "name_fa": "نمایندگان", "name_en": "Dealers", "stale_days": 10, "stages": [
        stage("Contacted", "تماس", 10, "open"),
        stage("Sample sent", "ارسال نمونه", 40, "open"),
        stage("Signed", "قرارداد", 100, "won"),
        stage("Declined", "رد", 0, "lost"),
    ]})
}

/// The fields a problem document names, with their codes.
fn named(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_string(), e["code"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

async fn pipelines_and_deal_stages_over_the_api(app: &TestApp) {
    let r = app.get("/api/v1/pipelines").await;
    assert_eq!(r.status(), StatusCode::OK);
    let all: Value = r.json().await.expect("json");
    assert_eq!(all["pipelines"][0]["key"], "default");
    assert_eq!(all["pipelines"][0]["stages"][4]["kind"], "won");

    let r = app.post("/api/v1/pipelines", dealers()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    let keys: Vec<&str> = made["stages"].as_array().expect("stages").iter().filter_map(|s| s["key"].as_str()).collect();
    assert_eq!(keys, ["dealers_1", "dealers_2", "dealers_3", "dealers_4"]);

    // Bad pipelines: every problem named, nothing made.
    let mut bad = dealers();
    bad["key"] = json!("dealers");
    bad["stages"][1]["probability"] = json!(101);
    bad["stages"][2]["kind"] = json!("open");
    let p = problem(app.post("/api/v1/pipelines", bad).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        named(&p),
        [
            ("key".to_string(), "key_taken".to_string()),
            ("stages".to_string(), "stage_kind_missing".to_string()),
            ("stages.1.probability".to_string(), "out_of_range".to_string()),
        ]
    );
    let p = problem(app.post("/api/v1/pipelines", json!({"name_fa": "x"})).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["code"], "invalid_body");
    // Only admins change pipelines; everyone reads them.
    let agent = app.user_with_role("rep@test.peyvand.ir", "agent").await;
    let r = app.send_as(&agent, Method::POST, "/api/v1/pipelines", Some(dealers())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.send_as(&agent, Method::GET, "/api/v1/pipelines/dealers", None).await;
    assert_eq!(r.status(), StatusCode::OK);

    // A deal: in the first pipeline unless told; a stage of another pipeline refused by name;
    // won only with a reason, in Persian too.
    let deal = app.create("deal", json!({"name": "Tabriz dealer", "pipeline": "dealers"})).await;
    assert_eq!(deal["fields"]["stage"], "dealers_1");
    let id = deal["id"].as_str().expect("id").to_string();
    let r = app.patch(&format!("/api/v1/records/deal/{id}"), json!({"fields": {"stage": "proposal"}})).await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(named(&p), [("stage".to_string(), "stage_not_in_pipeline".to_string())]);
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/records/deal/{id}")))
        .bearer_auth(&app.token)
        .header("accept-language", "fa")
        .json(&json!({"fields": {"stage": "dealers_3"}}))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(named(&p), [("won_reason".to_string(), "reason_required".to_string())]);
    assert!(p["errors"][0]["message"].as_str().is_some_and(|m| m.contains("دلیل")), "{p}");
    let r = app.patch(&format!("/api/v1/records/deal/{id}"), json!({"fields": {"stage": "dealers_2"}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .patch(&format!("/api/v1/records/deal/{id}"), json!({"fields": {"stage": "dealers_3", "won_reason": "price"}}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let won: Value = r.json().await.expect("json");
    assert!(won["fields"]["closed_on"].is_string(), "{won}");

    let r = app.get(&format!("/api/v1/deals/{id}/stages")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let stays: Value = r.json().await.expect("json");
    let seen: Vec<&str> =
        stays["stages"].as_array().expect("stages").iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(seen, ["dealers_1", "dealers_2", "dealers_3"]);
    assert!(stays["stages"][0]["left_at"].is_string() && stays["stages"][2]["left_at"].is_null());
    let r = app.get("/api/v1/deals/no-such-deal/stages").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A stage deals are in stays; the deal's page lists its stages.
    let mut fewer = dealers();
    let stages = fewer["stages"].as_array_mut().expect("stages");
    stages.remove(2);
    stages.push(stage("Contract", "قرارداد نو", 100, "won"));
    let r = app.client.put(app.url("/api/v1/pipelines/dealers")).bearer_auth(&app.token).json(&fewer).send().await;
    let p = problem(r.expect("send"), StatusCode::CONFLICT).await;
    assert_eq!(named(&p), [("stages".to_string(), "option_in_use".to_string())]);
    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/deal/{id}"))).send().await.expect("send").text().await.expect("html");
    for expected in ["Stages", "Sample sent", "Signed", "Dealers", "in this stage"] {
        assert!(html.contains(expected), "{expected} on the deal's page");
    }
}

async fn the_pipeline_board_weighs_columns_and_marks_stale_deals(app: &TestApp) {
    app.post("/api/v1/pipelines", dealers()).await;
    for (name, stage, amount) in
        [("A", "dealers_2", "1000000"), ("B", "dealers_2", "2500000"), ("C", "dealers_1", "700")]
    {
        let fields = json!({"name": name, "pipeline": "dealers", "stage": stage,
            "amount": {"amount": amount, "currency": "IRR"}});
        app.create("deal", fields).await;
    }
    let other = app.create("deal", json!({"name": "Elsewhere", "amount": {"amount": "5", "currency": "IRR"}})).await;
    // A deal nobody touched for a month, in an open stage, is going stale.
    let old = app.create("deal", json!({"name": "Forgotten", "pipeline": "dealers", "stage": "dealers_1"})).await;
    let catalog = app.db.reload_catalog().await.expect("catalog");
    let deal = catalog.object("deal").expect("deal");
    let entered = deal.field("stage_entered_at").expect("field").column.clone();
    let sql = format!("UPDATE {} SET created_at = $1, {entered} = $1 WHERE id = $2", deal.table);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind("2026-01-01T08:00:00.000000Z")
        .bind(old["id"].as_str().expect("id").to_string())
        .execute(app.db.pool())
        .await
        .expect("age the deal");

    let page = signed_in(app).await;
    let r = page.get(app.url("/pipelines")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page.get(app.url("/pipelines/dealers")).send().await.expect("send").text().await.expect("html");
    // Its own stages only, each with its sum and, for open ones, the sum times its chance.
    assert!(html.contains("Sample sent") && html.contains("Signed") && !html.contains("Negotiation"), "columns");
    assert!(html.contains("3,500,000") && html.contains("1,400,000"), "sum and 40% of it");
    assert!(!html.contains(other["id"].as_str().expect("id")), "no deal of another pipeline");
    let card = html.split("id=\"card-").find(|c| c.starts_with(old["id"].as_str().expect("id"))).expect("the card");
    let card = card.split("</li>").next().unwrap_or_default();
    assert!(card.contains("Going stale"), "{card}");
    let fresh = html.split("id=\"card-").filter(|c| c.contains("Going stale")).count();
    assert_eq!(fresh, 1, "only the forgotten deal is stale");
    // A card shows what is next about it: its soonest open task, overdue in red.
    let due = |hours: i64| {
        peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
    };
    for (subject, hours, status) in
        [("Call the buyer", -2, "open"), ("Send samples", 5, "open"), ("Old call", -9, "done")]
    {
        app.create("task", json!({"subject": subject, "due_at": due(hours), "deal": old["id"], "status": status}))
            .await;
    }
    let html = page.get(app.url("/pipelines/dealers")).send().await.expect("send").text().await.expect("html");
    let card = html.split("id=\"card-").find(|c| c.starts_with(old["id"].as_str().expect("id"))).expect("the card");
    let card = card.split("</li>").next().unwrap_or_default();
    assert!(card.contains("next-task error") && card.contains("Call the buyer") && card.contains("2 h ago"), "{card}");
    assert!(!card.contains("Send samples") && !card.contains("Old call"), "the soonest open one alone: {card}");

    // The admins' page makes a pipeline from its form.
    let html = page.get(app.url("/admin/pipelines")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("Dealers") && html.contains("Sample sent"));
    let csrf = csrf_of(&html);
    let mut form: Vec<(&str, &str)> =
        vec![("csrf", &csrf), ("name_fa", "پروژه"), ("name_en", "Projects"), ("stale_days", "۲۱")];
    for (fa, en, chance, kind) in [
        ("آغاز", "Brief", "20", "open"),
        ("برد", "Awarded", "100", "won"),
        ("باخت", "Lost", "0", "lost"),
        ("", "", "", "open"),
    ] {
        form.extend([
            ("stage_key", ""),
            ("stage_label_fa", fa),
            ("stage_label_en", en),
            ("stage_probability", chance),
            ("stage_kind", kind),
        ]);
    }
    let r = page.post(app.url("/admin/pipelines")).header("origin", &app.base).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let all: Value = app.get("/api/v1/pipelines").await.json().await.expect("json");
    let made = all["pipelines"].as_array().expect("list").iter().find(|p| p["name_en"] == "Projects").expect("made");
    assert_eq!(made["stale_days"], 21);
    assert_eq!(made["stages"].as_array().map(Vec::len), Some(3), "the empty row is left out");
}

async fn a_lead_converts_over_the_api_and_on_its_page(app: &TestApp) {
    let existing = app.create("contact", json!({"last_name": "Ahmadi", "emails": ["sara@parssteel.ir"]})).await;
    let lead = app
        .create(
            "lead",
            json!({"first_name": "Sara", "last_name": "Ahmadi", "company_name": "Pars Steel",
                "emails": ["sara@parssteel.ir"], "source": "web_form"}),
        )
        .await;
    let id = lead["id"].as_str().expect("id").to_string();
    let matches: Value = app.get(&format!("/api/v1/leads/{id}/matches")).await.json().await.expect("json");
    assert_eq!(matches["contacts"][0]["id"], existing["id"], "{matches}");
    assert_eq!(matches["companies"].as_array().map(Vec::len), Some(0));

    // A bad deal: refused naming its field, nothing made.
    let r = app.post(&format!("/api/v1/leads/{id}/convert"), json!({"deal": {"stage": "nowhere"}})).await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(named(&p)[0].0, "deal.stage");
    let r = app.post(&format!("/api/v1/leads/{id}/convert"), json!({"contact_id": 7})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a body of the wrong shape");

    // On its page: the contact the duplicate check found is offered first; converting opens the deal.
    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/lead/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("A new company, “Pars Steel”") && html.contains("Open a deal"), "the form");
    let checked = format!("value=\"{}\" checked", existing["id"].as_str().expect("id"));
    assert!(html.contains(&checked), "the existing contact is chosen");
    let csrf = csrf_of(&html);
    let contact_id = existing["id"].as_str().expect("id").to_string();
    let form = [
        ("csrf", csrf.as_str()),
        ("contact", contact_id.as_str()),
        ("company", ""),
        ("open_deal", "on"),
        ("deal_name", "Steel for Tabriz"),
        ("deal_amount", "۹۰۰۰۰۰۰۰"),
        ("deal_pipeline", "default"),
    ];
    let r = page.post(app.url(&format!("/leads/{id}/convert"))).header("origin", &app.base).form(&form).send().await;
    let r = r.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
    assert!(to.starts_with("/records/deal/"), "{to}");
    let deal: Value =
        app.get(&format!("/api/v1/records/deal/{}", &to["/records/deal/".len()..])).await.json().await.expect("json");
    assert_eq!(deal["fields"]["name"], "Steel for Tabriz");
    assert_eq!(deal["fields"]["amount"]["amount"], "90000000");
    assert_eq!(deal["fields"]["contact"], existing["id"]);

    // Converted: the page says what it became; again over the API is refused, naming it.
    let html =
        page.get(app.url(&format!("/records/lead/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("This lead was converted into:") && !html.contains("Open a deal"));
    let r = app.post(&format!("/api/v1/leads/{id}/convert"), json!({})).await;
    let p = problem(r, StatusCode::CONFLICT).await;
    assert_eq!(p["errors"][0]["params"]["converted_contact"], existing["id"]);
    let contacts = app.list("contact", &[]).await;
    assert_eq!(contacts["records"].as_array().map(Vec::len), Some(1), "no contact made twice");
}

async fn visitors_leave_leads_through_the_web_form(app: &TestApp) {
    let visitor = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let html = visitor
        .get(app.url("/forms/lead?campaign=Expo%201405"))
        .header("accept-language", "fa")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(html.contains("با ما در تماس باشید") && html.contains("value=\"Expo 1405\""), "the form, in Persian");
    let send = async |form: &[(&str, &str)]| {
        visitor
            .post(app.url("/forms/lead"))
            .header("origin", "https://www.parssteel.ir")
            .header("accept-language", "en")
            .form(form)
            .send()
            .await
            .expect("send")
    };
    // A missing last name and a bad e-mail: the form again, each error by its field, nothing kept.
    let r = send(&[("first_name", "Sara"), ("email", "not an address"), ("campaign", "Expo 1405")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains("wf-last_name-error") && html.contains("wf-email-error") && html.contains("value=\"Sara\""));
    // From another site (the business's own), a lead, owned by an admin, tagged with the campaign.
    let r = send(&[
        ("first_name", "Sara"),
        ("last_name", "Ahmadi"),
        ("email", "sara@parssteel.ir"),
        ("phone", "0912 123 4567"),
        ("company_name", "Pars Steel"),
        ("message", "۵۰ تن میلگرد"),
        ("campaign", "Expo 1405"),
        ("website", ""),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("html").contains("Thank you"));
    // A robot fills the hidden field: thanked, and nothing kept.
    let r = send(&[("last_name", "Bot"), ("website", "http://spam.example")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let leads = app.list("lead", &[]).await;
    let list = leads["records"].as_array().expect("records");
    assert_eq!(list.len(), 1, "{leads}");
    let lead = &list[0]["fields"];
    assert_eq!((lead["source"].clone(), lead["campaign"].clone()), (json!("web_form"), json!("Expo 1405")));
    assert_eq!(lead["phones"], json!(["+989121234567"]));
    assert!(lead["owner"].is_string(), "an admin owns it: {lead}");
    // Too many from one address in an hour: asked to wait.
    let mut last = StatusCode::OK;
    for i in 0..10 {
        last = send(&[("last_name", &format!("Visitor {i}"))]).await.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

async fn a_quote_becomes_an_order_and_prints_right_to_the_rial(app: &TestApp) {
    let page = signed_in(app).await;
    // The business as its invoices name it.
    let html = page.get(app.url("/admin/business")).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("name_fa", "فولاد پیوند"),
        ("name_en", "Peyvand Steel"),
        ("economic_code", "411111111111"),
    ];
    let r = page.post(app.url("/admin/business")).header("origin", &app.base).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    // Invoices numbered in the Jalali-year form, in Persian digits; a pattern without its
    // counter is refused by name, and nothing of the request is kept.
    let year = peyvand_records::jalali::to_jalali(time::OffsetDateTime::now_utc().date()).expect("jalali").0;
    let bad = json!({"business": {"phone": "021-5555"}, "numbering": [{"kind": "order", "pattern": "SO-{jy}"}]});
    let p = problem(
        app.send_as(&app.token, Method::PUT, "/api/v1/sales/settings", Some(bad)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(named(&p), [("numbering.0.pattern".to_string(), "invalid_number_pattern".to_string())]);
    let settings: Value = app.get("/api/v1/sales/settings").await.json().await.expect("json");
    assert_eq!(
        (settings["business"]["phone"].clone(), settings["business"]["name_en"].clone()),
        (Value::Null, json!("Peyvand Steel"))
    );
    let agent_first = app.user_with_role("clerk@test.peyvand.ir", "agent").await;
    let numbering = json!({"numbering": [{"kind": "order", "pattern": "{jy}-{n:5}", "persian_digits": true}]});
    let r = app.send_as(&agent_first, Method::PUT, "/api/v1/sales/settings", Some(numbering.clone())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "admins set the numbering");
    let r = app.send_as(&app.token, Method::PUT, "/api/v1/sales/settings", Some(numbering)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let settings: Value = r.json().await.expect("json");
    let next = peyvand_records::normalize::to_persian_digits(&format!("{year}-00001"));
    assert_eq!(settings["numbering"][1]["next"], json!(next));
    let html = page.get(app.url("/admin/business")).send().await.expect("send").text().await.expect("html");
    assert!(
        html.contains("value=\"{jy}-{n:5}\"") && html.contains(&next),
        "the admin's page shows the pattern and the next number"
    );

    let company = app.create("company", json!({"name": "Pars Steel"})).await;
    let contact = app.create("contact", json!({"last_name": "Ahmadi", "company": company["id"]})).await;
    let product = async |name: &str, price: &str| {
        app.create("product", json!({"name": name, "price": {"amount": price, "currency": "IRR"}, "tax_percent": "10"}))
            .await["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let (boiler, pipe, valve) =
        (product("Boiler", "125000000").await, product("Pipe", "333333").await, product("Valve", "10001").await);
    // The rep's quote: a rep may not set a price the list sets.
    let agent = app.user_with_role("rep@test.peyvand.ir", "agent").await;
    let fields = json!({"fields": {"contact": contact["id"], "company": company["id"]}});
    let r = app.send_as(&agent, Method::POST, "/api/v1/records/quote", Some(fields)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let quote: Value = r.json().await.expect("json");
    let id = quote["id"].as_str().expect("id").to_string();
    let cheap =
        json!({"lines": [{"product": boiler, "quantity": "1", "unit_price": {"amount": "1", "currency": "IRR"}}]});
    let r = app.send_as(&agent, Method::PUT, &format!("/api/v1/quotes/{id}/lines"), Some(cheap)).await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(named(&p), [("lines.0.unit_price".to_string(), "price_override_not_allowed".to_string())]);
    // The customer's personal discount: 3 % off what carries no discount of its own.
    app.create(
        "benefit",
        json!({"name": "Loyal customer 3 %", "kind": "percent_discount", "applies_to": "contact",
        "contact": contact["id"], "percent": "3"}),
    )
    .await;
    // Three products, one 5 % off: 125,000,000 × 2 = 250,000,000 − 12,500,000 = 237,500,000,
    // + 10 % = 261,250,000; 333,333 × 3 = 999,999 − 3 % (29,999.97 → 30,000) = 969,999, + 10 %
    // (96,999.9 → 97,000) = 1,066,999; 10,001 × 7 = 70,007 − 3 % (2,100.21 → 2,100) = 67,907,
    // + 10 % (6,790.7 → 6,791) = 74,698. Tax 23,853,791; total 262,391,697.
    let lines = json!({"version": quote["version"], "lines": [
        {"product": boiler, "quantity": "2", "discount_percent": "5"},
        {"product": pipe, "quantity": "3"},
        {"product": valve, "quantity": "7"},
    ]});
    let r = app
        .client
        .put(app.url(&format!("/api/v1/quotes/{id}/lines")))
        .bearer_auth(&app.token)
        .json(&lines)
        .send()
        .await;
    let r = r.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["document"]["fields"]["total"]["amount"], "262391697", "{body}");
    assert_eq!(body["document"]["fields"]["tax_total"]["amount"], "23853791");
    assert_eq!(body["lines"][1]["fields"]["discount"]["amount"], "30000", "the benefit on the pipes");
    // The same version again: someone changed it since.
    let r = app
        .client
        .put(app.url(&format!("/api/v1/quotes/{id}/lines")))
        .bearer_auth(&app.token)
        .json(&lines)
        .send()
        .await;
    assert_eq!(problem(r.expect("send"), StatusCode::CONFLICT).await["code"], "version_conflict");
    let r = app
        .patch(
            &format!("/api/v1/records/quote/{id}"),
            json!({"fields": {"total": {"amount": "1000", "currency": "IRR"}}}),
        )
        .await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(named(&p), [("total".to_string(), "total_disagrees".to_string())]);

    // On its page: the lines and totals; one click makes the order.
    let html =
        page.get(app.url(&format!("/records/quote/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(
        html.contains("262,391,697") && html.contains("Boiler") && html.contains("Make the order"),
        "the quote's page"
    );
    let csrf = csrf_of(&html);
    let r = page
        .post(app.url(&format!("/documents/quote/{id}/order")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
    let order_id = to.trim_start_matches("/records/order/").to_string();
    let order: Value = app.get(&format!("/api/v1/records/order/{order_id}")).await.json().await.expect("json");
    assert_eq!(order["fields"]["total"]["amount"], "262391697");

    // The printed invoice, in Persian: the business, Persian digits, the same total to the rial.
    let printed = page.get(app.url(&format!("/documents/order/{order_id}/print?lang=fa"))).send().await.expect("send");
    assert_eq!(printed.status(), StatusCode::OK);
    let html = printed.text().await.expect("html");
    assert!(html.contains("فولاد پیوند") && html.contains("۴۱۱۱۱۱۱۱۱۱۱۱"), "the business and its economic code");
    assert_eq!(order["fields"]["number"], json!(next), "numbered as the admin set");
    assert!(html.contains(&next), "the invoice's number");
    assert!(html.contains("۲۶۲٬۳۹۱٬۶۹۷"), "the total in Persian digits");
    assert!(html.contains("۲۳٬۸۵۳٬۷۹۱") && html.contains("ریال"), "tax, in rial");
    assert!(html.contains("dir=\"rtl\""));
    // The customer's page shows the purchase.
    let html = page
        .get(app.url(&format!("/records/contact/{}", contact["id"].as_str().expect("id"))))
        .send()
        .await
        .expect("send");
    let html = html.text().await.expect("html");
    assert!(html.contains("Order lines") && html.contains("Boiler") && html.contains("Valve"), "the purchase history");
    assert!(html.contains("Benefits") && html.contains("Loyal customer 3 %"), "the customer's benefits");
    assert!(
        html.contains("Lifetime revenue") && html.contains("<dt>Orders</dt><dd><bdi>1</bdi>"),
        "what they are worth"
    );
}

/// Offers from purchase history: the model built when a manager asks (a job), a contact's offers
/// over the API and on their page.
async fn customers_are_offered_what_others_who_bought_the_same_bought(app: &TestApp) {
    let id = |v: Value| v["id"].as_str().expect("id").to_string();
    let mut products = Vec::new();
    for name in ["Tea", "Sugar", "Cups"] {
        products.push(id(app
            .create("product", json!({"name": name, "price": {"amount": "90000", "currency": "IRR"}}))
            .await));
    }
    let (tea, sugar) = (products[0].clone(), products[1].clone());
    let mut contacts = Vec::new();
    for (name, basket) in [("Ana", vec![&tea, &sugar]), ("Bob", vec![&tea, &sugar]), ("Cyrus", vec![&tea])] {
        let contact = id(app.create("contact", json!({"last_name": name})).await);
        let order = id(app.create("order", json!({"contact": contact, "ordered_at": "2026-11-20T10:00:00Z"})).await);
        let lines: Vec<Value> = basket.iter().map(|p| json!({"product": p, "quantity": "1"})).collect();
        let r = app
            .send_as(&app.token, Method::PUT, &format!("/api/v1/orders/{order}/lines"), Some(json!({"lines": lines})))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        contacts.push(contact);
    }
    let cyrus = &contacts[2];
    let model: Value = app.get("/api/v1/offers/model").await.json().await.expect("model");
    assert_eq!(model["model"], Value::Null, "no model before the first build");
    let agent = app.user_with_role("rep@offers.peyvand.ir", "agent").await;
    let r = app.send_as(&agent, Method::POST, "/api/v1/offers/model", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "managers and admins ask for a build");
    let r = app.send_as(&app.token, Method::POST, "/api/v1/offers/model", None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut model = Value::Null;
    for _ in 0..100 {
        model = app.get("/api/v1/offers/model").await.json().await.expect("model");
        if !model["model"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        (model["model"]["customers"].as_i64(), model["model"]["products"].as_i64()),
        (Some(3), Some(2)),
        "{model}"
    );

    let found: Value = app
        .get_query(&format!("/api/v1/contacts/{cyrus}/offers"), &[("limit", "1")])
        .await
        .json()
        .await
        .expect("offers");
    assert_eq!(found["offers"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(
        (found["offers"][0]["name"].as_str(), found["offers"][0]["reason"].as_str()),
        (Some("Sugar"), Some("bought_with"))
    );
    assert_eq!(found["offers"][0]["price"], json!({"amount": "90000", "currency": "IRR"}));
    let r = app.get_query(&format!("/api/v1/contacts/{cyrus}/offers"), &[("limit", "0")]).await;
    assert_eq!(problem(r, StatusCode::BAD_REQUEST).await["code"], "invalid_parameter");
    let r = app.get(&format!("/api/v1/contacts/{}/offers", "0190a0a0-0000-7000-8000-000000000000")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // On Cyrus's page: the offer, linked to its product.
    let page = signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/contact/{cyrus}"))).send().await.expect("send").text().await.expect("html");
    let panel = html.split("customer-offers").nth(1).expect("the offers panel");
    let panel = panel.split("</section>").next().unwrap_or_default();
    assert!(panel.contains(&format!("/records/product/{sugar}")) && panel.contains("Sugar"), "{panel}");
    assert!(!panel.contains(&format!("/records/product/{tea}")), "never what he owns: {panel}");
}
