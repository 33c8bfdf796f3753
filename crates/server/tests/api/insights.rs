//! Reports on their pages: built with a preview whose state is in the URL, drawn as an SVG chart
//! whose bars open the records they count, saved, exported as CSV, kept from others until
//! shared, and a bad grouping named on the page.

use crate::backend_tests;
use crate::helpers::{TestApp, browser, csrf_of, sign_in_as, signed_in};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(a_report_is_built_drawn_saved_and_exported_on_its_pages);

async fn a_report_is_built_drawn_saved_and_exported_on_its_pages(app: &TestApp) {
    for (name, stage, amount) in
        [("Boiler", "negotiation", 100), ("Chiller", "negotiation", 300), ("Pump", "won", 1000)]
    {
        let mut deal =
            json!({"name": name, "stage": stage, "amount": {"amount": amount.to_string(), "currency": "IRR"}});
        if stage == "won" {
            deal["won_reason"] = json!("price");
        }
        app.create("deal", deal).await;
    }
    let client = signed_in(app).await;
    let page = |path: String| {
        let client = client.clone();
        async move {
            let r = client.get(app.url(&path)).send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            r.text().await.expect("html")
        }
    };
    // The builder's preview: deals by stage, summed.
    let preview = page("/reports/new?object=deal&g0=stage&m0=sum&f0=amount&chart=bar".into()).await;
    assert!(preview.contains(r#"<svg class="chart chart-bar""#), "a chart drawn on the server");
    assert!(preview.contains("Negotiation") && preview.contains("Won"), "stages by their labels");
    assert!(preview.contains(": 400</title>") && preview.contains(": 1,000</title>"), "each bar says its sum");
    // A bar opens the records it counts.
    let marker = r#"<a href="/records/deal?filter="#;
    let start = preview.find(marker).expect("a bar's link") + r#"<a href=""#.len();
    let link = preview[start..].split('"').next().expect("href").replace("&amp;", "&");
    let list = page(link).await;
    let (negotiating, won) = (list.contains("Boiler") && list.contains("Chiller"), list.contains("Pump"));
    assert!(negotiating != won, "the first bar's records are one stage's: {negotiating} {won}");

    // Saved, then drawn and exported.
    let csrf = csrf_of(&preview);
    let r = client
        .post(app.url("/reports"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Pipeline by stage"),
            ("object", "deal"),
            ("g0", "stage"),
            ("m0", "sum"),
            ("f0", "amount"),
            ("m1", "avg"),
            ("f1", "amount"),
            ("chart", "donut"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = r.headers()["location"].to_str().expect("location").to_string();
    let saved = page(at.clone()).await;
    assert!(saved.contains("Pipeline by stage") && saved.contains("chart-donut"));
    assert!(page("/reports".into()).await.contains("Pipeline by stage"), "on the list of reports");
    let csv = client.get(app.url(&format!("{at}/export.csv"))).send().await.expect("send");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
    let csv = csv.text().await.expect("csv");
    assert!(csv.contains("\"Stage\",\"Count\""), "{csv}");
    assert!(csv.contains("\"Negotiation\",\"2\""), "{csv}");
    assert!(csv.contains("200"), "the average of 100 and 300: {csv}");

    // Another user does not see it until it is shared.
    app.user_with_role("rep@insights.ir", "agent").await;
    let rep = browser();
    sign_in_as(app, &rep, "rep@insights.ir").await;
    assert_eq!(rep.get(app.url(&at)).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    let r = client
        .post(app.url(&at))
        .form(&[
            ("csrf", csrf_of(&saved).as_str()),
            ("name", "Pipeline by stage"),
            ("object", "deal"),
            ("g0", "stage"),
            ("chart", "bar"),
            ("shared", "on"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let theirs = rep.get(app.url(&at)).send().await.expect("send");
    assert_eq!(theirs.status(), StatusCode::OK);
    let theirs = theirs.text().await.expect("html");
    assert!(!theirs.contains("/delete"), "the rep reads it but may not delete it");
    // The rep reads in Persian (a new user's language) and owns no deals, so counts none.
    assert!(theirs.contains("رکوردی برای شمردن نیست."), "the rep counts none of the admin's deals");

    // The API groups by a related record's field too (these deals have no contact).
    let by_city: serde_json::Value =
        app.get("/api/v1/aggregate/deal?group=contact.city&measure=max:amount").await.json().await.expect("json");
    assert_eq!(
        by_city["rows"],
        json!([{"group": {"contact.city": null, "amount__currency": "IRR"}, "count": 3, "sum": {},
        "measures": {"max:amount": "1000"}}])
    );
    assert_eq!(app.get("/api/v1/aggregate/deal?group=contact.ghost").await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A grouping on a field that is not there is named on the page.
    let bad = page("/reports/new?object=deal&g0=ghost".into()).await;
    assert!(bad.contains(r#"role="alert""#) && bad.contains("There is no such field"), "the problem said");
}
