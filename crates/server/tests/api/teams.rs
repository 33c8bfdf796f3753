//! Issue 25: teams and who sees what, over HTTP. An admin makes a region with two teams, a
//! manager and three reps; each rep reaches exactly their own and their team's customers in the
//! API (lists, counts, records, search, aggregates) and on the pages (the list, a record, the
//! export); shares and admins' rules change that, and nothing else does.

use crate::backend_tests;
use crate::helpers::{TestApp, problem, sign_in_as};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    each_rep_sees_their_own_and_their_teams_customers,
    teams_and_rules_are_for_admins,
    admins_make_teams_set_access_and_hand_over_on_the_pages
);

async fn json_of(r: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    r.json().await.expect("json")
}

/// The last names a token lists, sorted, and the list's count.
async fn names(app: &TestApp, token: &str) -> (Vec<String>, i64) {
    let page =
        json_of(app.send_as(token, Method::GET, "/api/v1/records/contact?total=true", None).await, StatusCode::OK)
            .await;
    let mut names: Vec<String> = page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["fields"]["last_name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    (names, page["total"].as_i64().expect("total"))
}

async fn each_rep_sees_their_own_and_their_teams_customers(app: &TestApp) {
    let (manager, manager_token) = app.user_id_with_role("manager@test.peyvand.ir", "manager").await;
    let (r1, rep1) = app.user_id_with_role("rep1@test.peyvand.ir", "agent").await;
    let (r2, _rep2) = app.user_id_with_role("rep2@test.peyvand.ir", "agent").await;
    let (r3, rep3) = app.user_id_with_role("rep3@test.peyvand.ir", "agent").await;
    let region = json_of(
        app.post("/api/v1/teams", json!({"name": "منطقه شمال‌غرب", "manager_id": manager})).await,
        StatusCode::CREATED,
    )
    .await;
    let region = region["id"].as_str().expect("id");
    let tabriz = json!({"name": "تبریز", "parent_id": region, "members": [r1, r2]});
    let tabriz = json_of(app.post("/api/v1/teams", tabriz).await, StatusCode::CREATED).await;
    assert_eq!(tabriz["members"].as_array().map(Vec::len), Some(2));
    json_of(
        app.post("/api/v1/teams", json!({"name": "ارومیه", "parent_id": region, "members": [r3]})).await,
        StatusCode::CREATED,
    )
    .await;
    let made = async |name: &str, owner: &str| {
        app.create("contact", json!({"last_name": name, "city": "تبریز", "owner": owner})).await["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    made("Ahmadi", &r1).await;
    made("Bahrami", &r2).await;
    let rezaei = made("Rezaei", &r3).await;
    made("Karimi", &manager).await;

    assert_eq!(names(app, &rep1).await, (vec!["Ahmadi".into(), "Bahrami".into()], 2));
    assert_eq!(names(app, &rep3).await, (vec!["Rezaei".into()], 1));
    assert_eq!(names(app, &manager_token).await.1, 4, "the manager sees the region's teams and their own");
    let path = format!("/api/v1/records/contact/{rezaei}");
    problem(app.send_as(&rep1, Method::GET, &path, None).await, StatusCode::NOT_FOUND).await;
    problem(app.send_as(&rep1, Method::GET, &format!("{path}/history"), None).await, StatusCode::NOT_FOUND).await;
    let change = Some(json!({"fields": {"job_title": "x"}}));
    problem(app.send_as(&rep1, Method::PATCH, &path, change.clone()).await, StatusCode::NOT_FOUND).await;
    let search = json_of(app.send_as(&rep1, Method::GET, "/api/v1/search?q=Rezaei", None).await, StatusCode::OK).await;
    assert_eq!(search["hits"].as_array().map(Vec::len), Some(0), "{search}");
    let search = json_of(app.send_as(&rep3, Method::GET, "/api/v1/search?q=Rezaei", None).await, StatusCode::OK).await;
    assert_eq!(search["hits"].as_array().map(Vec::len), Some(1), "{search}");
    let counted =
        json_of(app.send_as(&rep1, Method::GET, "/api/v1/aggregate/contact?group=city", None).await, StatusCode::OK)
            .await;
    assert_eq!(counted["rows"][0]["count"], json!(2), "{counted}");
    // A new record is its maker's.
    let mine = json!({"fields": {"last_name": "Jafari"}});
    let mine =
        json_of(app.send_as(&rep3, Method::POST, "/api/v1/records/contact", Some(mine)).await, StatusCode::CREATED)
            .await;
    assert_eq!(mine["fields"]["owner"], json!(r3));

    // The pages: the list, a record, the export.
    let page = crate::helpers::browser();
    sign_in_as(app, &page, "rep1@test.peyvand.ir").await;
    let list = page.get(app.url("/records/contact")).send().await.expect("send").text().await.expect("html");
    assert!(
        list.contains("Ahmadi") && list.contains("Bahrami") && !list.contains("Rezaei") && !list.contains("Karimi")
    );
    let r = page.get(app.url(&format!("/records/contact/{rezaei}"))).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let csv = page.get(app.url("/records/contact/export.csv")).send().await.expect("send").text().await.expect("csv");
    assert!(csv.contains("Ahmadi") && !csv.contains("Rezaei"), "{csv}");

    // On the pages: a rep shares their own contact with another team's rep; a company they
    // read but may not change shows no way to change it.
    let ahmadi = list
        .split("/records/contact/")
        .find(|p| p.contains("Ahmadi"))
        .map(|p| p.split('"').next().unwrap_or("").to_string());
    let ahmadi = ahmadi.expect("Ahmadi's link");
    let own_page = page
        .get(app.url(&format!("/records/contact/{ahmadi}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(
        own_page.contains("action=\"/records/contact/") && own_page.contains("/share\""),
        "a share form on one's own record"
    );
    let csrf = crate::helpers::csrf_of(&own_page);
    let grantee = format!("user:{r3}");
    let form = [("csrf", csrf.as_str()), ("grantee", grantee.as_str()), ("level", "read")];
    let r = page.post(app.url(&format!("/records/contact/{ahmadi}/share"))).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let theirs = app.send_as(&rep3, Method::GET, &format!("/api/v1/records/contact/{ahmadi}"), None).await;
    assert_eq!(theirs.status(), StatusCode::OK, "shared from the page");
    let company = app.create("company", json!({"name": "Urmia Steel", "owner": r3})).await;
    let company_page =
        page.get(app.url(&format!("/records/company/{}", company["id"].as_str().expect("id")))).send().await;
    let company_page = company_page.expect("send").text().await.expect("html");
    assert!(
        company_page.contains("Urmia Steel") && !company_page.contains("/edit\""),
        "read, not changed: no edit link"
    );

    // A share lets rep1 read Rezaei; ending it hides Rezaei again.
    let share = format!("{path}/shares/user/{r1}");
    let shared = app.send_as(&rep3, Method::PUT, &share, Some(json!({"level": "read"}))).await;
    assert_eq!(json_of(shared, StatusCode::OK).await["shares"], json!([{"kind": "user", "id": r1, "level": "read"}]));
    assert_eq!(app.send_as(&rep1, Method::GET, &path, None).await.status(), StatusCode::OK);
    problem(app.send_as(&rep1, Method::PATCH, &path, change).await, StatusCode::FORBIDDEN).await;
    assert_eq!(app.send_as(&rep3, Method::DELETE, &share, None).await.status(), StatusCode::NO_CONTENT);
    problem(app.send_as(&rep1, Method::GET, &path, None).await, StatusCode::NOT_FOUND).await;

    // An admin's rule: agents read only their own contacts.
    let rule = app
        .send_as(
            &app.token,
            Method::PUT,
            "/api/v1/access_rules/agent/contact",
            Some(json!({"read": "own", "change": "all"})),
        )
        .await;
    assert_eq!(
        json_of(rule, StatusCode::OK).await,
        json!({"role": "agent", "object": "contact", "read": "own", "change": "own", "custom": true})
    );
    assert_eq!(names(app, &rep1).await, (vec!["Ahmadi".into()], 1));
    assert_eq!(app.delete("/api/v1/access_rules/agent/contact").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(names(app, &rep1).await.1, 2);
}

async fn teams_and_rules_are_for_admins(app: &TestApp) {
    let agent = app.user_with_role("agent@test.peyvand.ir", "agent").await;
    problem(
        app.send_as(&agent, Method::POST, "/api/v1/teams", Some(json!({"name": "Mine"}))).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(app.send_as(&agent, Method::GET, "/api/v1/access_rules", None).await, StatusCode::FORBIDDEN).await;
    let rule = Some(json!({"read": "all", "change": "all"}));
    problem(
        app.send_as(&agent, Method::PUT, "/api/v1/access_rules/agent/contact", rule.clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // No rule may narrow what admins reach (none can lock every admin out).
    let r = app
        .send_as(
            &app.token,
            Method::PUT,
            "/api/v1/access_rules/admin/contact",
            Some(json!({"read": "none", "change": "none"})),
        )
        .await;
    assert_eq!(
        problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"],
        json!("admins_reach_everything")
    );
    problem(
        app.send_as(&app.token, Method::PUT, "/api/v1/access_rules/boss/contact", rule).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let rules = json_of(app.get("/api/v1/access_rules").await, StatusCode::OK).await;
    let agent_company = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["role"] == "agent" && r["object"] == "company")
        .cloned();
    assert_eq!(
        agent_company,
        Some(json!({"role": "agent", "object": "company", "read": "all", "change": "own", "custom": false}))
    );
    // A team under itself, a member who is nobody: refused with the field named.
    let team = json_of(app.post("/api/v1/teams", json!({"name": "A"})).await, StatusCode::CREATED).await;
    let id = team["id"].as_str().expect("id");
    let r = app
        .send_as(&app.token, Method::PUT, &format!("/api/v1/teams/{id}"), Some(json!({"name": "A", "parent_id": id})))
        .await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], json!("team_cycle"));
    let r = app.post("/api/v1/teams", json!({"name": "B", "members": ["nobody"]})).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"], json!("members"));
    assert_eq!(
        app.send_as(&agent, Method::GET, "/api/v1/teams", None).await.status(),
        StatusCode::OK,
        "everyone reads the teams"
    );

    // A field hidden from agents: absent from their answers, the object's fields and the page.
    let hide = Some(json!({"access": "hidden"}));
    let r = app.send_as(&app.token, Method::PUT, "/api/v1/field_rules/agent/contact/job_title", hide.clone()).await;
    assert_eq!(json_of(r, StatusCode::OK).await["access"], json!("hidden"));
    let r = app.send_as(&agent, Method::PUT, "/api/v1/field_rules/agent/contact/job_title", hide).await;
    problem(r, StatusCode::FORBIDDEN).await;
    let (_, rep) = app.user_id_with_role("rep@test.peyvand.ir", "agent").await;
    let made = json!({"fields": {"last_name": "Hidden", "job_title": "Buyer"}});
    let r = app.send_as(&rep, Method::POST, "/api/v1/records/contact", Some(made)).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], json!("unknown_field"));
    let made = json!({"fields": {"last_name": "Hidden"}});
    let made =
        json_of(app.send_as(&rep, Method::POST, "/api/v1/records/contact", Some(made)).await, StatusCode::CREATED)
            .await;
    assert!(made["fields"].get("job_title").is_none(), "{made}");
    let fields = json_of(app.send_as(&rep, Method::GET, "/api/v1/objects/contact", None).await, StatusCode::OK).await;
    assert!(!fields.to_string().contains("\"job_title\""), "the object as the agent sees it");
    let rules = json_of(app.get("/api/v1/field_rules").await, StatusCode::OK).await;
    // Beside the products' cost price, hidden from agents and read-only users from the start.
    assert_eq!(
        rules["rules"],
        json!([{"role": "agent", "object": "contact", "field": "job_title", "access": "hidden"},
            {"role": "agent", "object": "product", "field": "cost_price", "access": "hidden"},
            {"role": "read_only", "object": "product", "field": "cost_price", "access": "hidden"}])
    );
}

/// The admin pages: a team made with a manager and members, a rule set in the access matrix,
/// and a leaver's handover from the users page, each seen in what the users then reach.
async fn admins_make_teams_set_access_and_hand_over_on_the_pages(app: &TestApp) {
    let (manager, _) = app.user_id_with_role("manager@test.peyvand.ir", "manager").await;
    let (rep, rep_token) = app.user_id_with_role("rep@test.peyvand.ir", "agent").await;
    let (leaver, _) = app.user_id_with_role("leaver@test.peyvand.ir", "agent").await;
    for (name, owner) in [("Mine", &rep), ("Theirs", &leaver)] {
        app.create("contact", json!({"last_name": name, "owner": owner})).await;
    }
    assert_eq!(names(app, &rep_token).await.1, 1, "no team yet: the rep's own");
    let page = crate::helpers::signed_in(app).await;
    let html = async |path: &str| page.get(app.url(path)).send().await.expect("send").text().await.expect("html");
    // A form's answer: the page it redirects to (303), or the page itself with its errors.
    let post = async |path: &str, form: &[(&str, &str)]| {
        let r = page.post(app.url(path)).form(form).send().await.expect("send");
        match r.headers().get("location").and_then(|l| l.to_str().ok()) {
            Some(to) if r.status() == StatusCode::SEE_OTHER => html(to).await,
            _ => r.text().await.expect("html"),
        }
    };
    let teams = html("/admin/teams").await;
    assert!(teams.contains("No teams yet"), "an empty state that says what to do");
    let csrf = crate::helpers::csrf_of(&teams);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Tabriz <b>"),
        ("manager_id", &manager),
        ("members", &rep),
        ("members", &leaver),
    ];
    let teams = post("/admin/teams", &form).await;
    assert!(teams.contains("Tabriz &#60;b&#62;") && !teams.contains("Tabriz <b>"), "the name, escaped");
    assert_eq!(names(app, &rep_token).await.1, 2, "the team's records");
    let bad = [("csrf", csrf.as_str()), ("name", "tabriz <b>")];
    let again = post("/admin/teams", &bad).await;
    assert!(again.contains("already has this value"), "a taken name is refused in words");

    // The access matrix: agents read only their own contacts.
    let access = html("/admin/access").await;
    assert!(access.contains("name=\"agent.contact.read\""));
    let form = [("csrf", csrf.as_str()), ("agent.contact.read", "own"), ("agent.contact.change", "own")];
    let saved = post("/admin/access", &form).await;
    assert!(saved.contains("Access saved"));
    assert_eq!(names(app, &rep_token).await, (vec!["Mine".into()], 1));
    let form = [("csrf", csrf.as_str()), ("agent.contact.read", "team"), ("agent.contact.change", "team")];
    post("/admin/access", &form).await;
    let rules = json_of(app.get("/api/v1/access_rules").await, StatusCode::OK).await;
    let rule = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["role"] == "agent" && r["object"] == "contact")
        .cloned();
    assert_eq!(rule.expect("rule")["custom"], json!(false), "the default again is no rule");

    // The leaver hands over to the rep from the users page.
    let form = [("csrf", csrf.as_str()), ("successor_id", rep.as_str())];
    let users = post(&format!("/admin/users/{leaver}/handover"), &form).await;
    assert!(users.contains("1 records and 0 views are now"), "{users}");
    let theirs =
        app.list("contact", &[("filter", &json!({"field": "owner", "op": "eq", "value": leaver}).to_string())]).await;
    assert_eq!(theirs["records"].as_array().map(Vec::len), Some(0));
    let form = [("csrf", csrf.as_str()), ("successor_id", rep.as_str())];
    let refused = post(&format!("/admin/users/{rep}/handover"), &form).await;
    assert!(refused.contains("someone other than the person leaving"), "{refused}");

    // Item 7: the security log has each of these, and a failed sign-in, for admins to read.
    let wrong = json!({"email": "rep@test.peyvand.ir", "password": "not the password"});
    assert_eq!(app.post("/api/v1/auth/token", wrong).await.status(), StatusCode::UNAUTHORIZED);
    let log = html("/admin/security").await;
    for kind in ["Team changed", "Access changed", "Handover", "Failed sign-in", "Signed in", "User added"] {
        assert!(log.contains(kind), "{kind} in the security log");
    }
    let handovers = json_of(app.get("/api/v1/security_log?kind=handover").await, StatusCode::OK).await;
    let entries = handovers["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0]["subject"].as_str(), entries[0]["details"]["moved"].as_i64()),
        (Some(leaver.as_str()), Some(1))
    );
    let failed =
        json_of(app.get(&format!("/api/v1/security_log?kind=sign_in_failed&user={rep}")).await, StatusCode::OK).await;
    assert_eq!(failed["entries"][0]["details"]["email"], json!("rep@test.peyvand.ir"));
    problem(app.send_as(&rep_token, Method::GET, "/api/v1/security_log", None).await, StatusCode::FORBIDDEN).await;
    problem(app.get("/api/v1/security_log?kind=nonsense").await, StatusCode::BAD_REQUEST).await;
}
