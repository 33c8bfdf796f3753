//! Reports on their pages: built with a preview whose state is in the URL, drawn as an SVG chart
//! whose bars open the records they count, saved, exported as CSV, kept from others until
//! shared, and a bad grouping named on the page. Dashboards, quotas, the leaderboard and awards
//! through the API and on their pages: a rep's dashboard shows their numbers, not the team's.
//! Commission plans, splits and statements through the API; a manager approves a statement on
//! its page.

use crate::backend_tests;
use crate::helpers::{TestApp, browser, csrf_of, sign_in_as, signed_in};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(
    a_report_is_built_drawn_saved_and_exported_on_its_pages,
    dashboards_quotas_and_the_leaderboard_show_each_person_their_numbers,
    commissions_are_planned_split_and_approved_through_the_api_and_the_pages,
    the_customer_value_fit_is_the_command_lines_on_the_export
);

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

async fn dashboards_quotas_and_the_leaderboard_show_each_person_their_numbers(app: &TestApp) {
    use reqwest::Method;
    let (manager, manager_token) = app.user_id_with_role("boss@dash.ir", "manager").await;
    let (rep, rep_token) = app.user_id_with_role("rep@dash.ir", "agent").await;
    let (mate, _) = app.user_id_with_role("mate@dash.ir", "agent").await;
    let team = json!({"name": "North", "manager_id": manager, "members": [rep, mate]});
    assert_eq!(app.post("/api/v1/teams", team).await.status(), StatusCode::CREATED);
    // Deals won this month: the rep's 700 and 300, the mate's 5,000; one open deal each.
    for (owner, name, stage, amount) in [
        (&rep, "Rep's first", "won", 700),
        (&rep, "Rep's second", "won", 300),
        (&mate, "Mate's big one", "won", 5000),
        (&rep, "Rep's open", "proposal", 40),
        (&mate, "Mate's open", "proposal", 60),
    ] {
        let mut deal = json!({"name": name, "stage": stage, "owner": owner,
            "amount": {"amount": amount.to_string(), "currency": "IRR"}});
        if stage == "won" {
            deal["won_reason"] = json!("price");
        }
        app.create("deal", deal).await;
    }
    // The manager sets the rep's quota for this Gregorian month through the API.
    let month = time::OffsetDateTime::now_utc().date();
    let key = format!("{}-{:02}", month.year(), u8::from(month.month()));
    let quota = json!({"user_id": rep, "period": "month", "calendar": "gregorian", "key": key,
        "measure": "won_amount", "target": "2000"});
    let r = app.send_as(&manager_token, Method::POST, "/api/v1/quotas", Some(quota.clone())).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<serde_json::Value>().await.expect("quota")["id"].as_str().expect("id").to_string();
    let r = app.send_as(&rep_token, Method::POST, "/api/v1/quotas", Some(quota)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a rep does not set quotas");
    let a: serde_json::Value =
        app.send_as(&rep_token, Method::GET, &format!("/api/v1/quotas/{id}"), None).await.json().await.expect("json");
    // Near a month's turn in Tehran the deals' closing day (the business's) may be next month's.
    assert!(a["actual"] == json!("1000") || a["actual"] == json!("0"), "{a}");
    let overlap = json!({"user_id": rep, "period": "quarter", "calendar": "gregorian",
        "key": format!("{}-Q{}", month.year(), (u8::from(month.month()) - 1) / 3 + 1), "measure": "won_amount", "target": "1"});
    let r = app.send_as(&manager_token, Method::POST, "/api/v1/quotas", Some(overlap)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = r.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["code"], "quota_overlaps", "{problem}");

    // The leaderboard: the manager's people, the mate first.
    let board: serde_json::Value = app
        .send_as(&manager_token, Method::GET, "/api/v1/leaderboard?measure=won_count", None)
        .await
        .json()
        .await
        .expect("board");
    let names: Vec<&str> =
        board["standings"].as_array().expect("standings").iter().map(|s| s["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names.len(), 3, "{board}");
    let r = app.send_as(&manager_token, Method::GET, "/api/v1/leaderboard?from=2026-12-10&to=2026-12-01", None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "an inverted range");

    // An award, on the rep's profile.
    let r = app
        .send_as(
            &manager_token,
            Method::POST,
            "/api/v1/awards",
            Some(json!({"user_id": rep, "title": "Closer of the month"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let rep_browser = browser();
    sign_in_as(app, &rep_browser, "rep@dash.ir").await;
    let get = |path: &str| {
        let client = rep_browser.clone();
        let url = app.url(path);
        async move {
            let r = client.get(url).header("accept-language", "en").send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.expect("html")
        }
    };
    // The rep reads in English.
    let html = get("/quotas").await;
    let r = rep_browser
        .post(app.url("/settings/language"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf_of(&html).as_str()), ("lang", "en")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let profile = get(&format!("/people/{rep}")).await;
    assert!(profile.contains("Closer of the month"), "the award is on the profile");

    // The rep's dashboard: their quota, their pipeline (their open deal, not the mate's).
    let home = rep_browser.get(app.url("/")).send().await.expect("send");
    assert_eq!(home.headers()["location"], "/dashboard", "the home page is the dashboard");
    let dashboard = get("/dashboard").await;
    assert!(dashboard.contains("My sales"), "the rep's built-in dashboard");
    assert!(dashboard.contains("Quota attainment") && dashboard.contains("2,000"), "their quota's target");
    assert!(dashboard.contains(r#"<svg class="chart chart-funnel""#), "the pipeline as a funnel");
    assert!(dashboard.contains(": 40</title>") && !dashboard.contains(": 60</title>"), "their open deal only");
    assert!(dashboard.contains(r#"class="kpi""#), "revenue as a KPI");

    // A dashboard of their own, from the editor's form; a widget of a report not there is named.
    let editor = get("/dashboards/new").await;
    let csrf = csrf_of(&editor);
    let r = rep_browser
        .post(app.url("/dashboards"))
        .header("accept-language", "en")
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Focus"),
            ("w0", "tasks"),
            ("width0", "4"),
            ("pos0", "2"),
            ("w1", "leaderboard"),
            ("width1", "2"),
            ("pos1", "1"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mine = get(r.headers()["location"].to_str().expect("location")).await;
    assert!(mine.contains("Focus"));
    let (board_at, tasks_at) = (mine.find("span-2").expect("leaderboard"), mine.find("span-4").expect("tasks"));
    assert!(board_at < tasks_at, "placed by their numbers");
    let r = rep_browser
        .post(app.url("/dashboards"))
        .header("accept-language", "en")
        .form(&[("csrf", csrf.as_str()), ("name", "Broken"), ("w0", "report:missing"), ("width0", "2")])
        .send()
        .await
        .expect("send");
    let page = r.text().await.expect("html");
    assert!(page.contains(r#"role="alert""#) && page.contains("widgets[0].report"), "the bad widget is named");
    let dashboards: serde_json::Value =
        app.send_as(&rep_token, Method::GET, "/api/v1/dashboards", None).await.json().await.expect("json");
    assert_eq!(dashboards["default"]["id"], "default");
    assert_eq!(dashboards["dashboards"].as_array().map(Vec::len), Some(1));

    // The forecast: with one month of orders, not enough history, said plainly; through the
    // API, the same.
    let forecast = get("/forecast").await;
    assert!(forecast.contains("Not enough history"), "no nonsense numbers");
    let f: serde_json::Value = app
        .send_as(&rep_token, Method::GET, "/api/v1/forecast?period=week&calendar=gregorian", None)
        .await
        .json()
        .await
        .expect("json");
    assert!(f["model"].is_null() && f["points"].as_array().is_some_and(Vec::is_empty), "{f}");
    let r = app.send_as(&rep_token, Method::GET, "/api/v1/forecast?period=day", None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The team's performance and the customer-value page (never fitted here).
    let performance = get("/performance").await;
    assert!(performance.contains("Time in each stage") && performance.contains("/people/"), "the team's scorecards");
    let value = get("/customer-value").await;
    assert!(value.contains("have not been fitted"));

    // The quotas page shows the attainment bar.
    let quotas = get("/quotas").await;
    assert!(quotas.contains(r#"class="attainment"#));
}

async fn commissions_are_planned_split_and_approved_through_the_api_and_the_pages(app: &TestApp) {
    use reqwest::Method;
    let (manager, _) = app.user_id_with_role("boss@com.ir", "manager").await;
    let (rep, rep_token) = app.user_id_with_role("rep@com.ir", "agent").await;
    let team = json!({"name": "North", "manager_id": manager, "members": [rep]});
    assert_eq!(app.post("/api/v1/teams", team).await.status(), StatusCode::CREATED);
    // A plan with overlapping tiers is refused, by name; then the rep's plan (Gregorian months).
    let mut plan = json!({"name": "Sales", "basis": "paid_orders", "rate": "2", "calendar": "gregorian",
        "members": [rep], "valid_from": "2026-01-01",
        "tiers": [{"from": "100", "to": "150", "multiplier": "1.5"}, {"from": "120", "multiplier": "2"}]});
    let r = app.post("/api/v1/commissions/plans", plan.clone()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = r.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["code"], "commission_tiers_overlap", "{problem}");
    plan["tiers"] = json!([]);
    let r = app.send_as(&rep_token, Method::POST, "/api/v1/commissions/plans", Some(plan.clone())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "admins make plans");
    assert_eq!(app.post("/api/v1/commissions/plans", plan).await.status(), StatusCode::CREATED);
    // October's paid orders of the rep: 1,000,000 and 500,000 (a returned one is not paid).
    let mut orders = Vec::new();
    for (day, status, total) in [("10", "paid", 1_000_000), ("20", "delivered", 500_000), ("21", "returned", 9_000)] {
        let order = app
            .create(
                "order",
                json!({"ordered_at": format!("2026-10-{day}T08:00:00Z"), "status": status, "owner": rep,
                "total": {"amount": total.to_string(), "currency": "IRR"}}),
            )
            .await;
        orders.push(order["id"].as_str().expect("id").to_string());
    }
    // Half of the second is the manager's.
    let path = format!("/api/v1/commissions/splits/order/{}", orders[1]);
    let split = |a: &str, b: &str| json!({"splits": [{"user_id": rep, "share": a}, {"user_id": manager, "share": b}]});
    let r = app.put(&path, split("50", "40")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "shares add up to 100");
    assert_eq!(app.put(&path, split("50", "50")).await.status(), StatusCode::OK);
    let statement = format!("/api/v1/commissions/statements/{rep}/2026-10");
    let s: serde_json::Value =
        app.send_as(&rep_token, Method::GET, &statement, None).await.json().await.expect("statement");
    assert_eq!((s["credited"].as_str(), s["total"].as_str()), (Some("1250000"), Some("25000")), "{s}");
    assert_eq!(s["status"], "open");
    let r = app.send_as(&rep_token, Method::POST, &format!("{statement}/approve"), None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a rep does not approve their own");

    // The manager approves it on its page; it reads as locked.
    let manager_browser = browser();
    sign_in_as(app, &manager_browser, "boss@com.ir").await;
    let page = format!("/commissions/statements/{rep}/2026-10");
    let html = manager_browser.get(app.url(&page)).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("Sales") && html.contains(&format!("{page}/approve")), "the approve button");
    let r = manager_browser
        .post(app.url(&format!("{page}/approve")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let s: serde_json::Value =
        app.send_as(&rep_token, Method::GET, &statement, None).await.json().await.expect("statement");
    assert_eq!((s["status"].as_str(), s["approved_by"].as_str()), (Some("approved"), Some(manager.as_str())));
    assert_eq!(app.post(&format!("{statement}/approve"), json!({})).await.status(), StatusCode::CONFLICT);
    let overview = manager_browser.get(app.url("/commissions?day=2026-10-15")).send().await.expect("send");
    let overview = overview.text().await.expect("html");
    assert!(overview.contains("rep@com.ir") || overview.contains(&format!("/people/{rep}")), "the rep's row");
    let order_page = manager_browser.get(app.url(&format!("/records/order/{}", orders[1]))).send().await.expect("send");
    assert!(order_page.text().await.expect("html").contains("id=\"commission-split\""), "the split panel");
}

/// Issue 32: the customer-value fit equals `peyvand analytics clv` run on the orders' export:
/// the same BG/NBD and Gamma-Gamma parameters, and each customer's numbers as written to them.
async fn the_customer_value_fit_is_the_command_lines_on_the_export(app: &TestApp) {
    use reqwest::Method;
    let now = time::OffsetDateTime::now_utc();
    let mut contacts = Vec::new();
    for i in 0..24_i64 {
        let contact = app.create("contact", json!({"last_name": format!("Buyer {i}")})).await;
        let id = contact["id"].as_str().expect("id").to_string();
        let (gap, mut at, mut k) = (20 + (i * 7) % 60, now - time::Duration::days(600 - i * 15), 0);
        while at < now && (i % 3 != 0 || k == 0) && k < 10 {
            let amount = 1_000_000 + (i * 7919 + k * 104_729) % 900_000;
            app.create(
                "order",
                json!({"contact": id, "ordered_at": peyvand_records::value::format_datetime(at),
                "status": "delivered", "total": {"amount": amount.to_string(), "currency": "IRR"}}),
            )
            .await;
            at += time::Duration::days(gap + (k * 11) % 17);
            k += 1;
        }
        contacts.push(id);
    }
    // A returned order counts for neither.
    app.create(
        "order",
        json!({"contact": contacts[1], "status": "returned",
        "ordered_at": peyvand_records::value::format_datetime(now - time::Duration::days(2)),
        "total": {"amount": "999999999", "currency": "IRR"}}),
    )
    .await;
    let r = app.send_as(&app.token, Method::POST, "/api/v1/customer_value/run", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let run: serde_json::Value = r.json().await.expect("run");
    let calibration_end = run["fit"]["calibration_end"].as_str().expect("calibration end").to_string();

    // The orders exported as a user exports them, and the command line run on the file.
    let client = signed_in(app).await;
    let export = client
        .get(app.url("/records/order/export.csv?columns=contact,ordered_at,total,status"))
        .send()
        .await
        .expect("send");
    assert_eq!(export.status(), StatusCode::OK);
    let dir = std::env::temp_dir().join(format!("peyvand-clv-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (orders, per_customer) = (dir.join("orders.csv"), dir.join("clv.csv"));
    std::fs::write(&orders, export.bytes().await.expect("csv")).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_peyvand"))
        .args(["analytics", "clv", "--transactions"])
        .arg(&orders)
        .args(["--calibration-end", &calibration_end, "--horizon", "52", "--output"])
        .arg(&per_customer)
        .output()
        .expect("run the command line");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(cli["customers"], run["fit"]["customers"]);
    for (i, p) in ["r", "alpha", "a", "b"].into_iter().enumerate() {
        assert_eq!(cli["bgnbd"]["params"][p], run["fit"]["bgnbd"][i], "BG/NBD {p}: {cli} {run}");
    }
    for (i, p) in ["p", "q", "gamma"].into_iter().enumerate() {
        assert_eq!(cli["gamma_gamma"]["params"][p], run["fit"]["gamma_gamma"][i], "Gamma-Gamma {p}");
    }
    // Each customer's numbers, as the command line writes them and as the contact holds them.
    let rows = std::fs::read_to_string(&per_customer).expect("per customer");
    let mut checked = 0;
    for line in rows.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let contact = app.get(&format!("/api/v1/records/contact/{}", cells[0])).await;
        let fields = contact.json::<serde_json::Value>().await.expect("contact")["fields"].clone();
        let number = |v: &serde_json::Value| -> f64 {
            v.as_str().or_else(|| v["amount"].as_str()).and_then(|s| s.parse().ok()).expect("a number")
        };
        let (alive, lifetime): (f64, f64) = (cells[5].parse().expect("p"), cells[7].parse().expect("clv"));
        assert!((number(&fields["p_alive"]) - alive).abs() <= 0.0005, "{line} {fields}");
        assert!((number(&fields["lifetime_value"]) - lifetime).abs() <= 0.5, "{line} {fields}");
        checked += 1;
    }
    assert_eq!(checked, 24);
    let _ = std::fs::remove_dir_all(&dir);
}
