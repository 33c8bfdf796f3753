//! Loyalty over HTTP: an admin configures a two-tier program; a customer's orders earn; the
//! higher tier's discount lands on the next quote; a reward is redeemed once however often the
//! request is sent; a return takes back what it earned; the contact's page shows the panel and
//! its forms work; bad input gets localized problems.

use crate::backend_tests;
use crate::helpers::{TestApp, csrf_of, problem, signed_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(
    a_customer_earns_reaches_gold_redeems_and_returns,
    the_loyalty_pages_configure_and_redeem,
    a_referral_link_brings_a_customer_through_a_web_form
);

fn club() -> Value {
    json!({
        "name_fa": "باشگاه مشتریان", "name_en": "Customer club",
        "spend_rules": [{"per": "1000000", "points": 1}],
        "action_rules": [{"action": "join", "points": 10}],
        "tiers": [
            {"key": "silver", "name_fa": "نقره‌ای", "name_en": "Silver", "threshold": 0},
            {"key": "gold", "name_fa": "طلایی", "name_en": "Gold", "threshold": 100, "factor": "1.5", "discount_percent": "5"}
        ],
        "expiry_days": 365
    })
}

async fn a_customer_earns_reaches_gold_redeems_and_returns(app: &TestApp) {
    // Bad input first: overlapping tiers and a negative rate, each named.
    let mut bad = club();
    bad["tiers"][1]["threshold"] = json!(0);
    bad["spend_rules"][0]["points"] = json!(-1);
    let r = app.post("/api/v1/loyalty/programs", bad).await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> =
        p["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert!(fields.contains(&"tiers.1.threshold") && fields.contains(&"spend_rules.0.points"), "{p}");

    let r = app.post("/api/v1/loyalty/programs", club()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let contact = app.create("contact", json!({"last_name": "Rahimi", "emails": ["rahimi@example.ir"]})).await;
    let contact = contact["id"].as_str().expect("id").to_string();
    let order = app
        .create(
            "order",
            json!({"contact": contact, "status": "delivered", "ordered_at": "2026-11-01T08:00:00Z",
                "total": {"amount": "95000000", "currency": "IRR"}}),
        )
        .await;
    let member = format!("/api/v1/loyalty/programs/{id}/members/{contact}");
    let m: Value = app.get(&member).await.json().await.expect("json");
    assert_eq!(
        (m["balance"].clone(), m["tier"].clone()),
        (json!(105), json!("gold")),
        "10 for joining, 95 for the order: {m}"
    );
    assert_eq!(m["next_tier"], Value::Null);

    // Gold's 5 % is a benefit now: the next quote's line takes it.
    let product = app
        .create(
            "product",
            json!({"name": "Boiler", "price": {"amount": "2000000", "currency": "IRR"}, "tax_percent": "0"}),
        )
        .await;
    let quote = app.create("quote", json!({"contact": contact})).await;
    let r = app
        .put(
            &format!("/api/v1/quotes/{}/lines", quote["id"].as_str().expect("id")),
            json!({"lines": [{"product": product["id"], "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["lines"][0]["fields"]["discount"]["amount"], "100000", "5 % of 2,000,000: {body}");

    // A reward, redeemed with a key: the retry is the same redemption.
    let r = app
        .post(
            &format!("/api/v1/loyalty/programs/{id}/rewards"),
            json!({"name_fa": "کارت هدیه", "name_en": "Gift card", "kind": "voucher", "points": 40, "value": "500000"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let reward = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let redeem = async || {
        app.client
            .post(app.url(&format!("{member}/redeem")))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "redeem-1")
            .json(&json!({"reward": reward}))
            .send()
            .await
            .expect("send")
    };
    let first: Value = redeem().await.json().await.expect("json");
    let again: Value = redeem().await.json().await.expect("json");
    assert_eq!(first["id"], again["id"]);
    assert_eq!(app.get(&member).await.json::<Value>().await.expect("json")["balance"], 65);
    // More than the balance: refused, in Persian when asked.
    let r = app
        .client
        .post(app.url(&format!("{member}/adjust")))
        .bearer_auth(&app.token)
        .header("Accept-Language", "fa")
        .json(&json!({"points": -500, "note": "اشتباه"}))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["code"], "insufficient_points", "{p}");
    assert!(p["errors"][0]["message"].as_str().is_some_and(|m| m.contains("امتیاز")), "{p}");

    // The order comes back: its 95 are taken back as far as the balance goes; gold is lost.
    app.patch(
        &format!("/api/v1/records/order/{}", order["id"].as_str().expect("id")),
        json!({"fields": {"status": "returned"}}),
    )
    .await;
    let m: Value = app.get(&member).await.json().await.expect("json");
    assert_eq!((m["balance"].clone(), m["tier"].clone()), (json!(0), json!("silver")), "{m}");
    let st: Value = app.get(&format!("{member}/statement?from=2020-01-01")).await.json().await.expect("json");
    let kinds: Vec<&str> =
        st["entries"].as_array().expect("entries").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["earn", "earn", "redeem", "reverse"], "{st}");
    let mine: Value = app.get(&format!("/api/v1/contacts/{contact}/loyalty")).await.json().await.expect("json");
    assert_eq!(mine["memberships"].as_array().map(Vec::len), Some(1));
    // A voucher is used once.
    let code = first["code"].as_str().expect("a voucher code");
    let use_it =
        async || app.post(&format!("/api/v1/loyalty/vouchers/{code}/use"), json!({"order": order["id"]})).await;
    assert_eq!(use_it().await.status(), StatusCode::OK);
    assert_eq!(problem(use_it().await, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "voucher_used");
}

async fn the_loyalty_pages_configure_and_redeem(app: &TestApp) {
    let client = signed_in(app).await;
    let html = client.get(app.url("/loyalty/new")).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("name_fa", "باشگاه"),
        ("name_en", "Club"),
        ("active", "on"),
        ("currency", "IRR"),
        ("s0.points", "۲"),
        ("s0.per", "1000000"),
        ("a.join", "5"),
        ("earn_on", "delivered"),
        ("qualify_by", "points"),
        ("window_days", "365"),
        ("keep_days", "0"),
        ("t0.key", "silver"),
        ("t0.name_fa", "نقره‌ای"),
        ("t0.name_en", "Silver"),
        ("t0.threshold", "0"),
        ("t1.key", "gold"),
        ("t1.name_fa", "طلایی"),
        ("t1.name_en", "Gold"),
        ("t1.threshold", "0"),
        ("expiry_days", "365"),
        ("warn_days", "14"),
    ];
    // Overlapping tiers: the form comes back with the reason.
    let r = client.post(app.url("/loyalty/new")).form(&form).send().await.expect("send");
    let html = r.text().await.expect("html");
    assert!(html.contains("Each tier must start above the one before it"), "the reason is shown");
    let mut form = form.to_vec();
    form.retain(|(k, _)| *k != "t1.threshold");
    form.push(("t1.threshold", "50"));
    let r = client.post(app.url("/loyalty/new")).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = r.headers()["location"].to_str().expect("location").to_string();
    let programs: Value = app.get("/api/v1/loyalty/programs").await.json().await.expect("json");
    let program = &programs["programs"][0];
    assert_eq!(program["spend_rules"][0]["points"], 2, "Persian digits read: {program}");
    let id = program["id"].as_str().expect("id").to_string();
    assert_eq!(at, format!("/loyalty/{id}"));
    let html = client.get(app.url(&at)).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    let r = client
        .post(app.url(&format!("/loyalty/{id}/rewards")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name_fa", "لیوان"),
            ("name_en", "Mug"),
            ("kind", "custom"),
            ("points", "20"),
            ("valid_days", "90"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The contact's page: enrol, then redeem what the balance allows.
    let contact = app.create("contact", json!({"last_name": "Karimi"})).await;
    let contact = contact["id"].as_str().expect("id").to_string();
    let page = format!("/records/contact/{contact}");
    let html = client.get(app.url(&page)).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("Not a member yet"), "the panel offers to enrol");
    let csrf = csrf_of(&html);
    let r = client
        .post(app.url(&format!("/loyalty/{id}/members/{contact}/enrol")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.create(
        "order",
        json!({"contact": contact, "status": "delivered", "ordered_at": "2026-11-01T08:00:00Z",
            "total": {"amount": "10000000", "currency": "IRR"}}),
    )
    .await;
    let html = client.get(app.url(&page)).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("Mug (20 points)"), "a reward within the balance (5 + 20) is offered");
    let reward: Value = app.get(&format!("/api/v1/loyalty/programs/{id}/rewards")).await.json().await.expect("json");
    let reward = reward["rewards"][0]["id"].as_str().expect("id").to_string();
    let csrf = csrf_of(&html);
    let r = client
        .post(app.url(&format!("/loyalty/{id}/members/{contact}/redeem")))
        .form(&[("csrf", csrf.as_str()), ("reward", reward.as_str()), ("key", "k1")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let m: Value =
        app.get(&format!("/api/v1/loyalty/programs/{id}/members/{contact}")).await.json().await.expect("json");
    assert_eq!((m["balance"].clone(), m["tier"].clone()), (json!(5), json!("silver")), "{m}");
    // Again: more than is left; the panel says why.
    let r = client
        .post(app.url(&format!("/loyalty/{id}/members/{contact}/redeem")))
        .form(&[("csrf", csrf.as_str()), ("reward", reward.as_str()), ("key", "k2")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("html").contains("Not enough points"));
    let html = client
        .get(app.url(&format!("/loyalty/{id}/members/{contact}?from=2020-01-01")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Redeemed") && html.contains("Earned") && html.contains("Mug"), "the statement");
}

async fn a_referral_link_brings_a_customer_through_a_web_form(app: &TestApp) {
    let me: Value = app.get("/api/v1/me").await.json().await.expect("me");
    let form = json!({"name": "Join the club", "object": "contact", "fields": [{"field": "last_name", "required": true}, {"field": "emails"}],
        "assign": {"kind": "user", "user": me["id"]}});
    let form: Value = app.post("/api/v1/forms", form).await.json().await.expect("form");
    let slug = form["slug"].as_str().unwrap_or_else(|| panic!("{form}")).to_string();
    let mut def = club();
    def["action_rules"] = json!([{"action": "referral", "points": 200}, {"action": "referred", "points": 100}]);
    def["referral_form"] = json!(slug);
    let r = app.post("/api/v1/loyalty/programs", def).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let sara = app.create("contact", json!({"last_name": "Sara", "emails": ["sara@example.ir"]})).await;
    let sara = sara["id"].as_str().expect("id").to_string();
    let mine: Value = app.get(&format!("/api/v1/contacts/{sara}/referrals")).await.json().await.expect("json");
    let code = mine["code"].as_str().expect("code").to_string();
    let link = mine["links"][0]["link"].as_str().expect("a link").to_string();
    assert!(link.ends_with(&format!("/f/{slug}?ref={code}")), "{link}");

    // The friend opens the link and sends the form: they arrive referred.
    let visitor = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let html = visitor
        .get(app.url(&format!("/f/{slug}?ref={code}&lang=en")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(html.contains(&format!("name=\"ref\" value=\"{code}\"")), "the code rides along");
    let r = visitor
        .post(app.url(&format!("/f/{slug}")))
        .header("origin", "https://shop.example")
        .form(&[("lang", "en"), ("last_name", "Nima"), ("emails", "nima@example.ir"), ("ref", code.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let nima = app.list("contact", &[("filter", r#"{"field": "last_name", "op": "eq", "value": "Nima"}"#)]).await;
    let nima = nima["records"][0]["id"].as_str().expect("the new contact").to_string();
    let theirs: Value = app.get(&format!("/api/v1/contacts/{nima}/referrals")).await.json().await.expect("json");
    assert_eq!(theirs["referred_by"]["referrer_id"], json!(sara));
    // Their first order rewards both.
    app.create(
        "order",
        json!({"contact": nima, "status": "delivered", "ordered_at": "2026-11-01T08:00:00Z",
            "total": {"amount": "1000000", "currency": "IRR"}}),
    )
    .await;
    let balance = async |who: &str| -> Value {
        app.get(&format!("/api/v1/loyalty/programs/{id}/members/{who}")).await.json::<Value>().await.expect("json")["balance"].clone()
    };
    assert_eq!((balance(&sara).await, balance(&nima).await), (json!(200), json!(101)));
    // Sara cannot bring herself in again under another name.
    let again = app.create("contact", json!({"last_name": "S.", "emails": ["sara@example.ir"]})).await;
    let r = app.post("/api/v1/referrals", json!({"code": code, "contact": again["id"]})).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "self_referral");
}
