//! The web pages: sign in, lists and record pages in Persian and English, CSRF, health checks.

use crate::backend_tests;
use crate::helpers::{ADMIN_EMAIL, TestApp, browser, csrf_of, sign_in};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(
    sign_in_and_read_in_both_languages,
    forms_need_the_csrf_token,
    health_and_request_ids,
    fields_edit_in_place,
    display_preferences,
    the_timeline_shows_interactions_newest_first,
    the_demo_is_a_lived_in_crm,
    filters_take_names_and_show_that_they_are_on,
    a_customers_page_summarizes_orders_and_deals,
    words_and_digits_read_right
);

async fn sign_in_and_read_in_both_languages(app: &TestApp) {
    let client = browser();
    let r = client.get(app.url("/records/contact")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "pages need a session");
    let login = client
        .get(app.url("/login"))
        .header("accept-language", "fa")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(login.contains("dir=\"rtl\"") && login.contains("ورود"));
    let r = client
        .post(app.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", "wrong")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    sign_in(app, &client).await;

    let company = app.create("company", json!({"name": "فولاد پارس"})).await;
    let contact = app.create("contact", json!({"first_name": "مریم", "last_name": "احمدی", "birth_date": "1990-03-21", "company": company["id"], "phones": ["09121234567"]})).await;
    let page = format!("/records/contact/{}", contact["id"].as_str().expect("id"));

    // The admin's language is English (see TestApp); switch to Persian with the form.
    let html = client.get(app.url(&page)).send().await.expect("send").text().await.expect("text");
    assert!(html.contains("dir=\"ltr\""));
    assert!(html.contains("1990-03-21"), "Gregorian date in English");
    let r = client
        .post(app.url("/settings/language"))
        .header("origin", &app.base)
        .header("referer", app.url(&page))
        .form(&[("csrf", csrf_of(&html).as_str()), ("lang", "fa")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = client.get(app.url(&page)).send().await.expect("send").text().await.expect("text");
    assert!(html.contains("dir=\"rtl\""));
    assert!(html.contains("۱۳۶۹/۰۱/۰۱"), "the same date in Jalali with Persian digits");
    assert!(html.contains("فولاد پارس"), "the related company by name");
    assert!(html.contains("تاریخچه"), "the history in Persian");

    let list = client.get(app.url("/records/contact")).send().await.expect("send").text().await.expect("text");
    assert!(list.contains("مریم احمدی") && list.contains("مخاطبان"));
    let filtered = client
        .get(app.url("/records/contact?q=%D8%A7%D8%AD%D9%85%D8%AF%D9%8A"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(filtered.contains("مریم احمدی"), "list filter with an Arabic yeh");
    let company_page = client
        .get(app.url(&format!("/records/company/{}", company["id"].as_str().expect("id"))))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(company_page.contains("مریم احمدی"), "the company page lists its contacts");
    let search =
        client.get(app.url("/search?q=%D9%85%D8%B1%DB%8C")).send().await.expect("send").text().await.expect("text");
    assert!(search.contains(&page));
    let missing = client.get(app.url("/records/contact/nothing")).send().await.expect("send");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let css = client.get(app.url("/assets/app.css")).send().await.expect("send");
    assert_eq!(css.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/css; charset=utf-8"));
}

async fn forms_need_the_csrf_token(app: &TestApp) {
    let client = browser();
    sign_in(app, &client).await;
    let r = client
        .post(app.url("/settings/language"))
        .header("origin", &app.base)
        .form(&[("csrf", "forged"), ("lang", "fa")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The session cookie alone does not authorize API writes: they need the CSRF header.
    let r = client
        .post(app.url("/api/v1/records/company"))
        .json(&json!({"fields": {"name": "CSRF"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = client.get(app.url("/records/company")).send().await.expect("send").text().await.expect("text");
    let r = client
        .post(app.url("/api/v1/records/company"))
        .header("x-csrf-token", csrf_of(&html))
        .json(&json!({"fields": {"name": "CSRF"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = client
        .post(app.url("/logout"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(client.get(app.url("/records/company")).send().await.expect("send").status(), StatusCode::SEE_OTHER);
}

async fn health_and_request_ids(app: &TestApp) {
    let r = app.client.get(app.url("/healthz")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("x-request-id").is_some_and(|v| v.len() >= 32));
    let r = app.client.get(app.url("/readyz")).header("x-request-id", "trace-me").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("trace-me"));
}

async fn fields_edit_in_place(app: &TestApp) {
    let client = browser();
    sign_in(app, &client).await;
    let contact = app.create("contact", json!({"last_name": "Inline", "phones": ["09121234567"]})).await;
    let id = contact["id"].as_str().expect("id");
    let html =
        client.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send").text().await.expect("text");
    let csrf = csrf_of(&html);
    let cell = format!("/records/contact/{id}/cell/birth_date");
    let editor = client.get(app.url(&cell)).send().await.expect("send").text().await.expect("text");
    assert!(editor.contains("name=\"f.birth_date\"") && editor.contains("hx-post"), "{editor}");
    let r = client
        .post(app.url(&cell))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("f.birth_date", "2024-02-30")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK, "htmx swaps the editor with its error");
    assert!(r.text().await.expect("text").contains("Not a valid date."));
    let r = client
        .post(app.url(&cell))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("f.birth_date", "2024-03-20")])
        .send()
        .await
        .expect("send");
    let shown = r.text().await.expect("text");
    assert!(shown.contains("2024-03-20") && !shown.contains("<form"), "{shown}");
    let now: serde_json::Value = app.get(&format!("/api/v1/records/contact/{id}")).await.json().await.expect("json");
    assert_eq!(now["fields"]["birth_date"], json!("2024-03-20"));
    assert_eq!(now["fields"]["phones"], json!(["+989121234567"]), "other fields stay as they were");
    let r = client
        .post(app.url(&cell))
        .header("origin", &app.base)
        .form(&[("csrf", "forged"), ("f.birth_date", "2020-01-01")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let shown = client.get(app.url(&format!("{cell}?show=1"))).send().await.expect("send").text().await.expect("text");
    assert!(shown.contains("2024-03-20"));
}

async fn display_preferences(app: &TestApp) {
    let client = browser();
    sign_in(app, &client).await;
    app.add_field("company", json!({"api_name": "revenue", "type": "currency", "label_en": "Revenue"})).await;
    let company = app.create("company", json!({"name": "Toman Co", "revenue": "1234565"})).await;
    let page = format!("/records/company/{}", company["id"].as_str().expect("id"));
    let html = client.get(app.url(&page)).send().await.expect("send").text().await.expect("text");
    assert!(html.contains("1,234,565 IRR") && html.contains("data-theme=\"light\""));
    let csrf = csrf_of(&html);
    for (name, value) in [("money", "toman"), ("theme", "dark")] {
        let r = client
            .post(app.url("/settings/display"))
            .header("origin", &app.base)
            .header("referer", app.url(&page))
            .form(&[("csrf", csrf.as_str()), (name, value)])
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let html = client.get(app.url(&page)).send().await.expect("send").text().await.expect("text");
    assert!(html.contains("123,456.5 toman"), "an exact tenth, in toman");
    assert!(html.contains("data-theme=\"dark\""));
    // The API is not affected: amounts stay exact rials.
    let api: serde_json::Value = app
        .get(&format!("/api/v1/records/company/{}", company["id"].as_str().expect("id")))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(api["fields"]["revenue"], json!({"amount": "1234565", "currency": "IRR"}));
}

async fn the_timeline_shows_interactions_newest_first(app: &TestApp) {
    let client = browser();
    sign_in(app, &client).await;
    let company = app.create("company", json!({"name": "Arvand Foods"})).await;
    let contact = app.create("contact", json!({"last_name": "Rahimi", "company": company["id"]})).await;
    let other = app.create("contact", json!({"last_name": "Karimi"})).await;
    let (contact_id, company_id) = (contact["id"].as_str().expect("id"), company["id"].as_str().expect("id"));
    // 55 interactions, created oldest first, so the page's order is the field's, not creation's.
    for day in 1..=55 {
        let kind = if day % 2 == 0 { "call" } else { "meeting" };
        let at = format!("2026-{:02}-{:02}T09:00:00Z", 1 + (day - 1) / 28, 1 + (day - 1) % 28);
        app.create(
            "activity",
            json!({"kind": kind, "subject": format!("Talk {day}"), "occurred_at": at, "contact": contact_id, "company": company_id}),
        )
        .await;
    }
    app.create("activity", json!({"kind": "sms", "subject": "Someone else", "occurred_at": "2026-03-01T09:00:00Z", "contact": other["id"]}))
        .await;
    let html = client
        .get(app.url(&format!("/records/contact/{contact_id}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let timeline = &html[html.find("id=\"timeline\"").expect("a timeline")..];
    let timeline = &timeline[..timeline.find("</section>").expect("its end")];
    let talks = |html: &str| -> Vec<String> {
        html.split(">Talk ").skip(1).map(|s| s[..s.find('<').expect("end")].to_string()).collect()
    };
    // A page of 20: the contact's making (just now), then the newest talks by their own times
    // (Talk 55 is on 2026-02-27, Talk 54 on 2026-02-26, …).
    let expected: Vec<String> = (37..=55).rev().map(|d| d.to_string()).collect();
    assert_eq!(talks(timeline), expected);
    // Earlier: the next page goes on where this one stopped.
    let more = timeline
        .split("hx-get=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').expect("end")])
        .find(|url| url.contains("cursor="))
        .expect("an Earlier link")
        .replace("&amp;", "&");
    let next = client.get(app.url(&more)).send().await.expect("send").text().await.expect("text");
    let expected: Vec<String> = (17..=36).rev().map(|d| d.to_string()).collect();
    assert_eq!(talks(&next), expected);
    assert!(!timeline.contains("Someone else"), "another contact's activity stays on its page");
    assert!(timeline.contains("Call") && timeline.contains("Meeting"), "each entry says its kind");
    assert!(timeline.contains(&format!("/records/activity/new?contact={contact_id}")), "log a new one from here");
    // The company sees its contacts' activities too.
    let html = client
        .get(app.url(&format!("/records/company/{company_id}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(html.contains("id=\"timeline\"") && html.contains(">Talk 55<"));
    // The new-activity form comes with the contact filled in.
    let form = client
        .get(app.url(&format!("/records/activity/new?contact={contact_id}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(form.contains(&format!("value=\"{contact_id}\"")), "the contact is chosen");
    // A contact without activities says so.
    let html = client
        .get(app.url(&format!("/records/contact/{}", other["id"].as_str().expect("id"))))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Someone else") && !html.contains("Nothing has happened"));
    // A contact without activities: its story is its making; narrowed to activities, nothing.
    let lonely = app.create("contact", json!({"last_name": "Tehrani"})).await;
    let lonely = lonely["id"].as_str().expect("id");
    let html = client
        .get(app.url(&format!("/records/contact/{lonely}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(html.contains(">created<"), "its making");
    let html = client
        .get(app.url(&format!("/records/contact/{lonely}/timeline?kind=activity")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Nothing has happened with this customer yet."));
}

/// `peyvand demo`'s data: the hand-picked records plus a slice of the generator, with deals on
/// the pipeline board and orders behind the contacts; seeding again adds nothing.
async fn the_demo_is_a_lived_in_crm(app: &TestApp) {
    let totals = async || {
        let mut totals = Vec::new();
        for object in ["company", "contact", "product", "activity", "deal", "order"] {
            totals.push(app.list(object, &[("total", "true"), ("limit", "1")]).await["total"].as_i64().expect("total"));
        }
        totals
    };
    peyvand::demo::seed(&app.db).await.expect("demo");
    let slice = peyvand::demo::slice();
    // The sales story adds two converted leads (a contact and a company each), four dealers'
    // deals and a converted lead's, and a quote's order; the support desk the two requesters of
    // the website's complaints; the automation story one deal won through its workflow; the
    // loyalty story a referred friend and three orders (two of his referrer's and his first);
    // last seasons' leads 19 contacts, converted without a company.
    let expected = vec![
        6 + 2 + slice.companies as i64,
        12 + 2 + 1 + 2 + 1 + 19 + slice.contacts as i64,
        slice.products as i64,
        slice.activities as i64 + 1,
        slice.deals as i64 + 6,
        slice.orders as i64 + 1 + 3,
    ];
    assert!(slice.deals > 0 && slice.orders > 0);
    assert_eq!(totals().await, expected);
    peyvand::demo::seed(&app.db).await.expect("demo again");
    assert_eq!(totals().await, expected, "a seeded database is left alone");
    let client = browser();
    sign_in(app, &client).await;
    let board = client.get(app.url("/records/deal/board")).send().await.expect("send").text().await.expect("text");
    for stage in [">Qualification<", ">Negotiation<", ">Won<", ">Lost<"] {
        assert!(board.contains(stage), "the pipeline board has a column for {stage}");
    }
    let order = &app.list("order", &[("limit", "1")]).await["records"][0];
    let buyer = order["fields"]["contact"].as_str().expect("an order has its buyer");
    let bought = app
        .list(
            "order",
            &[("filter", &json!({"field": "contact", "op": "eq", "value": buyer}).to_string()), ("total", "true")],
        )
        .await;
    assert!(bought["total"].as_i64().expect("total") >= 1);
    // The sales story: leads, two pipelines, quotes; every order has its lines, every deal its stages.
    let leads = app.list("lead", &[("total", "true")]).await["total"].clone();
    assert_eq!(leads, json!(8 + 3 + 48), "three from the web form, 48 decided last seasons");
    assert_eq!(app.list("quote", &[("total", "true")]).await["total"], json!(3));
    // The automation story: four workflows (and loyalty's fifth), the manager's weekly report.
    let flows: serde_json::Value = app.get("/api/v1/workflows").await.json().await.expect("json");
    assert_eq!(flows["workflows"].as_array().map(Vec::len), Some(5), "{flows}");
    // The loyalty story: a club whose members earned from past orders, one customer at gold who
    // brought a friend (both rewarded) and redeemed a gift card.
    let clubs: serde_json::Value = app.get("/api/v1/loyalty/programs").await.json().await.expect("json");
    let club = clubs["programs"][0]["id"].as_str().expect("a club").to_string();
    let members: serde_json::Value =
        app.get(&format!("/api/v1/loyalty/programs/{club}/members?limit=500")).await.json().await.expect("json");
    let members = members["members"].as_array().expect("members");
    assert!(members.len() > 50, "past orders earned: {}", members.len());
    let gold: Vec<&serde_json::Value> = members.iter().filter(|m| m["tier"] == "gold").collect();
    assert!(!gold.is_empty());
    let redeemed = members.iter().find(|m| m["spent"].as_i64() == Some(800)).expect("the gift card's member");
    let sara = redeemed["contact_id"].as_str().expect("id");
    let refs: serde_json::Value =
        app.get(&format!("/api/v1/contacts/{sara}/referrals")).await.json().await.expect("json");
    assert!(refs["referrals"][0]["rewarded_at"].is_string(), "{refs}");
    // The marketing story: an offers model from every order, Sara offered what others bought;
    // a newsletter started to recent buyers who opted in (fewer than all recent buyers).
    let model: serde_json::Value = app.get("/api/v1/offers/model").await.json().await.expect("json");
    assert!(model["model"]["pairs"].as_i64().expect("a model") > 0, "{model}");
    let offers: serde_json::Value =
        app.get(&format!("/api/v1/contacts/{sara}/offers")).await.json().await.expect("json");
    assert_eq!(offers["offers"].as_array().map(Vec::len), Some(5), "{offers}");
    let segments: serde_json::Value = app.get("/api/v1/segments").await.json().await.expect("json");
    let count = |i: usize| {
        let id = segments["segments"][i]["id"].as_str().expect("a segment").to_string();
        async move {
            let m: serde_json::Value =
                app.get(&format!("/api/v1/segments/{id}/members?limit=0")).await.json().await.expect("json");
            m["count"].as_i64().expect("count")
        }
    };
    let (a, b) = (count(0).await, count(1).await);
    let (all, opted) = (a.max(b), a.min(b));
    assert!(opted > 0 && opted < all, "{opted} opted in of {all}");
    let campaigns: serde_json::Value = app.get("/api/v1/campaigns").await.json().await.expect("json");
    assert_ne!(campaigns["campaigns"][0]["status"], json!("draft"), "{campaigns}");
    let reports: serde_json::Value = app.get("/api/v1/report_schedules").await.json().await.expect("json");
    assert_eq!(reports["schedules"][0]["format"], json!("xlsx"), "{reports}");
    let pipelines: serde_json::Value = app.get("/api/v1/pipelines").await.json().await.expect("json");
    assert_eq!(pipelines["pipelines"].as_array().map(Vec::len), Some(2));
    // The insights story: the manager's shared reports, with figures, on everyone's list.
    let list = client.get(app.url("/reports")).send().await.expect("send").text().await.expect("text");
    assert!(list.contains("درآمد ماهانه به تفکیک کانال فروش") && list.contains("قیف معاملات باز"), "shared reports");
    assert!(!list.contains("مشتریان هر شهر"), "the manager's own report is theirs");
    let named = list.find("درآمد ماهانه به تفکیک کانال فروش").expect("the revenue report");
    let start = list[..named].rfind("href=\"").expect("its link") + "href=\"".len();
    let revenue = list[start..].split('"').next().expect("href").to_string();
    let page = client.get(app.url(&revenue)).send().await.expect("send").text().await.expect("text");
    assert!(
        page.contains("<svg class=\"chart chart-stacked") && page.contains("<rect class=\"s0\""),
        "drawn: {revenue}"
    );
    assert!(page.contains("/records/order?filter="), "each month's row opens its orders");
    // The portal story: Sara signs in with her e-mail and the demo password and finds the support
    // agent's answer to the question she asked about her latest order.
    let sara = crate::helpers::browser();
    let r = sara
        .post(app.url("/portal/password"))
        .header("origin", &app.base)
        .form(&[("address", "contact2@demo.peyvand.ir"), ("password", "peyvand-demo")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "Sara signs in to the portal");
    let asked = sara.get(app.url("/portal/requests")).send().await.expect("send").text().await.expect("text");
    let list = asked.split("class=\"portal-list\"").nth(1).expect("her requests");
    let href = list.split("href=\"/portal/requests/").nth(1).and_then(|s| s.split('"').next()).expect("her question");
    let thread =
        sara.get(app.url(&format!("/portal/requests/{href}"))).send().await.expect("send").text().await.expect("text");
    assert!(thread.contains("زمان نصب بخاری") && thread.contains("فردا ساعت ۱۰"), "her question and the answer");
    // The performance story: a quota per rep and per sales team, an award, the manager's
    // shared dashboard with the revenue KPI, and every dashboard widget drawn.
    let quotas: serde_json::Value = app.get("/api/v1/quotas").await.json().await.expect("json");
    let quotas = quotas["quotas"].as_array().expect("quotas");
    let per_rep = |measure: &str| {
        quotas.iter().filter(|q| q["quota"]["user_id"].is_string() && q["quota"]["measure"] == measure).count()
    };
    assert_eq!(per_rep("won_amount"), 3, "one per rep");
    assert_eq!(per_rep("paid_amount"), 3, "and last month's paid orders, for commissions");
    assert_eq!(quotas.iter().filter(|q| q["quota"]["team_id"].is_string()).count(), 2, "one per sales team");
    assert!(
        quotas
            .iter()
            .all(|q| q["quota"]["target"].as_str().is_some_and(|t| t.parse::<i64>().is_ok_and(|t| t >= 50_000_000)))
    );
    let dashboards = client.get(app.url("/dashboard")).send().await.expect("send").text().await.expect("text");
    assert!(dashboards.contains("مرور هفتگی فروش"), "the manager's shared dashboard is offered");
    assert!(!dashboards.contains("widget-unavailable"), "every widget drawn");
    assert!(dashboards.contains(r#"class="kpi""#) && dashboards.contains("chart-funnel"), "revenue and the pipeline");
    // Commissions: the reps' plan; the first rep's last month approved, then an order of it
    // returned and clawed back this month; the order split with the second rep in theirs.
    use peyvand_records::aggregate::{Bucket, Calendar};
    let plans: serde_json::Value = app.get("/api/v1/commissions/plans").await.json().await.expect("json");
    let reps = plans["plans"][0]["members"].as_array().expect("members").clone();
    assert_eq!(reps.len(), 3, "{plans}");
    let this_month = Bucket::Month.start(Calendar::Jalali, app.db.today());
    let key = |d: time::Date| Bucket::Month.key(Calendar::Jalali, d);
    let last_month = key(this_month - time::Duration::days(1));
    let statement = async |rep: &serde_json::Value, key: &str| -> serde_json::Value {
        let path = format!("/api/v1/commissions/statements/{}/{key}", rep.as_str().expect("id"));
        app.get(&path).await.json().await.expect("json")
    };
    let first = statement(&reps[0], &last_month).await;
    assert_eq!(first["status"], json!("approved"), "{first}");
    assert!(first["total"].as_str().and_then(|t| t.parse::<f64>().ok()).is_some_and(|t| t > 0.0), "{first}");
    let now = statement(&reps[0], &key(this_month)).await;
    assert!(now["lines"].as_array().expect("lines").iter().any(|l| l["clawback"] == json!(true)), "{now}");
    let second = statement(&reps[1], &last_month).await;
    assert_eq!(second["status"], json!("open"));
    assert!(second["lines"].as_array().expect("lines").iter().any(|l| l["share"] == json!("50")), "{second}");
    let page = client.get(app.url("/commissions")).send().await.expect("send").text().await.expect("text");
    assert!(page.contains("پورسانت فروش"), "the plan on its page");
    // Award rules: last month's best seller recognized by the rule, once however often it runs.
    let rules: serde_json::Value = app.get("/api/v1/award_rules").await.json().await.expect("json");
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1), "{rules}");
    let again = app.post("/api/v1/award_rules/apply", json!({})).await.json::<serde_json::Value>().await.expect("json");
    assert_eq!(again["given"], json!(0), "given already");
    // Lead scores: learned from the demo's converted and lost leads.
    let scored = serde_json::json!({"field": "score", "op": "is_empty", "value": false}).to_string();
    let scored = app.list("lead", &[("filter", scored.as_str()), ("total", "true"), ("limit", "1")]).await;
    assert!(scored["total"].as_i64().expect("total") > 0, "{scored}");
    // Customer value: fitted on the demo's orders, written to the contacts who bought.
    let scored = serde_json::json!({"field": "churn_risk", "op": "is_empty", "value": false}).to_string();
    let scored = app.list("contact", &[("filter", scored.as_str()), ("total", "true"), ("limit", "1")]).await;
    assert!(scored["total"].as_i64().expect("total") > 10, "{scored}");
    let value = client.get(app.url("/customer-value")).send().await.expect("send").text().await.expect("text");
    assert!(value.contains("BG/NBD r") && value.contains("chart-bar"), "the fit and its calibration");
    let lines = app.list("order_line", &[("total", "true"), ("limit", "1")]).await;
    assert!(lines["total"].as_i64().expect("total") >= slice.orders as i64, "{lines}");
    let deal = &app.list("deal", &[("limit", "1")]).await["records"][0];
    let stays: serde_json::Value = app
        .get(&format!("/api/v1/deals/{}/stages", deal["id"].as_str().expect("id")))
        .await
        .json()
        .await
        .expect("json");
    assert!(!stays["stages"].as_array().expect("stages").is_empty(), "{stays}");
    let board = client.get(app.url("/pipelines/dealers")).send().await.expect("send").text().await.expect("text");
    assert!(board.contains("Shop visit") && board.contains("Isfahan dealership"));
    // Each demo user's side navigation starts with favourites.
    let users = app.db.list_users().await.expect("users");
    let manager = users.iter().find(|u| u.email == "manager@demo.peyvand.ir").expect("the demo manager");
    let favourites = app.db.marks(&manager.id, false, 10).await.expect("favourites");
    assert_eq!(favourites.len(), 3, "{favourites:?}");
    assert!(favourites.iter().all(|f| f.object == "company" && !f.title.is_empty()));
    // Everyone's day: each rep and the manager has five tasks, their reminders waiting, one of
    // them ringing within the demo's first minute; a rep's day lists the overdue call first.
    // With the won deal's onboarding meeting, which its workflow's run makes (in the demo's
    // rounds or, when its step comes due a moment later, in the server's).
    let mut tasks = app.list("task", &[("total", "true"), ("limit", "100")]).await;
    for _ in 0..100 {
        if tasks["total"] == json!(20 + 3 + 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        tasks = app.list("task", &[("total", "true"), ("limit", "100")]).await;
    }
    let subjects: Vec<&str> =
        tasks["records"].as_array().expect("tasks").iter().filter_map(|t| t["fields"]["subject"].as_str()).collect();
    assert_eq!(tasks["total"], json!(20 + 3 + 1), "and a weekly meeting each rep: {subjects:?}");
    let jobs = app.db.jobs(Some("pending"), 100).await.expect("jobs");
    let soon = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc() + time::Duration::minutes(2));
    let reminders: Vec<_> = jobs.iter().filter(|j| j.kind == "reminder").collect();
    assert_eq!(reminders.len(), 12, "{reminders:?}");
    assert_eq!(reminders.iter().filter(|j| j.run_at < soon).count(), 4, "one for each of them in the first minute");
    let rep = browser();
    let signed = rep
        .post(app.url("/login"))
        .header("origin", &app.base)
        .form(&[("email", "rep1@demo.peyvand.ir"), ("password", "peyvand-demo"), ("next", "/my-day")])
        .send()
        .await
        .expect("send");
    assert_eq!(signed.status(), reqwest::StatusCode::SEE_OTHER);
    let day = rep.get(app.url("/my-day")).send().await.expect("send").text().await.expect("html");
    let overdue = day.find("پیگیری پیش‌فاکتور").expect("the overdue call");
    assert!(overdue < day.find("جلسهٔ کوتاه تیم فروش").expect("the meeting in a minute"), "overdue first");
    // The customer 360: the web form's leads went to the Tehran team in turn; the contact typed
    // twice waits in the duplicates queue; the first customer's meeting had three people.
    let forms: serde_json::Value = app.get("/api/v1/forms").await.json().await.expect("json");
    let form = forms["forms"]
        .as_array()
        .expect("forms")
        .iter()
        .find(|f| f["object"] == "lead")
        .and_then(|f| f["id"].as_str())
        .expect("the lead form");
    let kept: serde_json::Value =
        app.get(&format!("/api/v1/forms/{form}/submissions")).await.json().await.expect("json");
    let owners: std::collections::BTreeSet<&str> =
        kept["submissions"].as_array().expect("submissions").iter().filter_map(|s| s["owner"].as_str()).collect();
    assert_eq!(owners.len(), 2, "both Tehran reps: {kept}");
    let queue: serde_json::Value = app.get("/api/v1/duplicates?object=contact").await.json().await.expect("json");
    assert!(
        queue["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .any(|p| p["a_title"].as_str().is_some_and(|t| t.contains("كريمي") || t.contains("کریمی"))),
        "{queue}"
    );
}

/// Issue 24, item 17: the builder takes and shows names (a related record's title, a choice's
/// label in either language, a user's name) instead of ids, an applied filter shows that it is
/// on (and "All records" is no longer the current view), and the raw JSON box is for admins.
async fn filters_take_names_and_show_that_they_are_on(app: &TestApp) {
    let foolad = app.create("company", json!({"name": "فولاد پارس"})).await["id"].as_str().expect("id").to_string();
    app.create("company", json!({"name": "Zagros"})).await;
    let me: serde_json::Value = app.get("/api/v1/me").await.json().await.expect("me");
    let admin_id = me["id"].as_str().expect("admin id");
    app.create("contact", json!({"first_name": "Kaveh", "last_name": "Alavi", "company": foolad, "lifecycle_stage": "customer", "owner": admin_id})).await;
    let (other, _) = app.user_id_with_role("other@test.peyvand.ir", "agent").await;
    app.create(
        "contact",
        json!({"first_name": "Sara", "last_name": "Bahrami", "lifecycle_stage": "lead", "owner": other}),
    )
    .await;
    let page = crate::helpers::signed_in(app).await;
    let html = |query: Vec<(&'static str, &'static str)>| {
        let request = page.get(app.url("/records/contact")).query(&query);
        async move { request.send().await.expect("send").text().await.expect("html") }
    };
    let all = html(vec![]).await;
    assert!(all.contains("aria-current=\"page\">All records"), "no filter: all records");
    assert!(!all.contains("id=\"filter-count\""));
    assert!(
        all.contains("<datalist id=\"dl-company\">") && all.contains("<option value=\"فولاد پارس\">"),
        "names offered"
    );
    assert!(all.contains("name=\"filter\" rows="), "admins may edit the filter as JSON");
    for (field, name, shown) in [
        ("company", "فولاد پارس", "فولاد پارس"),
        ("lifecycle_stage", "Customer", "Customer"),
        ("lifecycle_stage", "مشتری", "Customer"),
        ("owner", "Admin", "Admin"),
    ] {
        let filtered = html(vec![("cf", field), ("co", "eq"), ("cv", name)]).await;
        assert!(filtered.contains("Kaveh Alavi") && !filtered.contains("Sara Bahrami"), "{field} = {name}");
        assert!(filtered.contains("id=\"filter-count\">1<"), "{field}: the filter shows it is on");
        assert!(!filtered.contains("aria-current=\"page\">All records"), "{field}: not all records");
        assert!(filtered.contains(&format!("name=\"cv\" value=\"{shown}\"")), "{field}: shown by name");
        assert!(!filtered.contains(&format!("value=\"{foolad}\"")), "no id in the value box");
    }
    app.user_with_role("agent@test.peyvand.ir", "agent").await;
    let agent = crate::helpers::browser();
    crate::helpers::sign_in_as(app, &agent, "agent@test.peyvand.ir").await;
    let theirs = agent.get(app.url("/records/contact")).send().await.expect("send").text().await.expect("html");
    assert!(theirs.contains("name=\"cf\"") && !theirs.contains("name=\"filter\" rows="), "no JSON box for agents");
}

/// Issue 24, items 18 and 19: a customer's page lists their orders with date, total and status
/// (deals with stage, amount and expected close), says how many of how many it shows, and
/// links to all of them; the Persian heading reads «سفارش‌های مرتبط».
async fn a_customers_page_summarizes_orders_and_deals(app: &TestApp) {
    let contact = app.create("contact", json!({"first_name": "Nima", "last_name": "Karimi"})).await;
    let id = contact["id"].as_str().expect("id").to_string();
    for i in 0..25 {
        let at = format!("2026-0{}-1{}T08:00:00Z", 1 + i % 9, i % 10);
        app.create("order", json!({"number": format!("SO-{i:03}"), "contact": id, "total": {"amount": "1250000", "currency": "IRR"}, "ordered_at": at, "status": "paid"})).await;
    }
    app.create("deal", json!({"name": "Renewal", "contact": id, "stage": "proposal", "amount": {"amount": "900", "currency": "USD"}, "expected_close": "2026-12-20"})).await;
    let page = crate::helpers::signed_in(app).await;
    let html =
        page.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send").text().await.expect("html");
    for expected in [
        "Related Orders",
        "Ordered at",
        "Total",
        "Status",
        "Paid",
        "1,250,000",
        "20 of 25",
        "Stage",
        "Renewal",
        "Show all",
    ] {
        assert!(html.contains(expected), "{expected} on the customer's page");
    }
    assert!(html.contains(&format!("/records/order?cf=contact&#38;co=eq&#38;cv={id}")), "all the orders, filtered");
    // The newest first (SO-008 of 18 September, then SO-017 of the 17th); the five oldest, of
    // January and February, are behind "Show all".
    let at = |number: &str| html.find(&format!(">{number}<"));
    assert!(at("SO-008").is_some_and(|a| at("SO-017").is_some_and(|b| a < b)), "newest first");
    for oldest in ["SO-000", "SO-018", "SO-009", "SO-010", "SO-001"] {
        assert!(at(oldest).is_none(), "{oldest} is among the five oldest");
    }
    let all = page
        .get(app.url("/records/order"))
        .query(&[("cf", "contact"), ("co", "eq"), ("cv", id.as_str())])
        .send()
        .await
        .expect("send");
    let all = all.text().await.expect("html");
    assert!(
        all.contains("id=\"filter-count\">1<") && all.contains("SO-000") && all.contains("value=\"Nima Karimi\""),
        "the filtered list"
    );
    let me: serde_json::Value = app.get("/api/v1/me").await.json().await.expect("me");
    app.db.set_user_language(me["id"].as_str().expect("id"), "fa").await.expect("Persian");
    let persian =
        page.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(persian.contains("سفارش‌های مرتبط") && persian.contains("۲۰ از ۲۵"), "Persian heading and digits");
}

/// Issue 24, item 19: history says who (a user, or the system for a record made without one)
/// in words that read right; numbers on admin pages are in the page's digits; a custom field
/// of the wrong type is refused with a whole sentence, not a raw placeholder.
async fn words_and_digits_read_right(app: &TestApp) {
    let input = json!({"name": "Imported Co"});
    let by_system =
        app.db.create_record(None, "company", input.as_object().expect("map"), None).await.expect("create").0.id;
    let by_admin = app.create("company", json!({"name": "Typed Co"})).await["id"].as_str().expect("id").to_string();
    let r = app
        .post("/api/v1/objects/company/fields", json!({"api_name": "handler", "type": "user", "label_en": "Handler"}))
        .await;
    let problem = crate::helpers::problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["code"], "custom_user_field");
    assert!(!problem["detail"].as_str().unwrap_or("{").contains('{'), "{problem}");
    let me: serde_json::Value = app.get("/api/v1/me").await.json().await.expect("me");
    app.db.set_user_language(me["id"].as_str().expect("id"), "fa").await.expect("Persian");
    let page = crate::helpers::signed_in(app).await;
    let get = async |path: String| page.get(app.url(&path)).send().await.expect("send").text().await.expect("html");
    let system = get(format!("/records/company/{by_system}")).await;
    assert!(system.contains("<strong><bdi>سیستم</bdi></strong> ایجاد کرد"), "the system made it");
    assert!(!system.contains("کسی"));
    let admin = get(format!("/records/company/{by_admin}")).await;
    assert!(admin.contains("<strong><bdi>Admin</bdi></strong> ایجاد کرد"), "the admin made it");
    let objects = get("/admin/objects".into()).await;
    let contact = peyvand_store::Db::object(&app.db, "contact").await.expect("contact").live_fields().count();
    let persian = peyvand_records::normalize::to_persian_digits(&contact.to_string());
    assert!(objects.contains(&format!("<td>{persian}</td>")), "field counts in Persian digits");
}
