//! Defects found by outside testing (issue 24), each with the test that failed before its fix:
//! a writer broken by a full disk, an open redirect after sign-in, a database that cannot be
//! reached, login limits behind a proxy, reused idempotency keys.

use crate::backend_tests;
use crate::helpers::{ADMIN_EMAIL, Backend, PASSWORD, TestApp, problem};
use peyvand_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A tmpfs of `size` mounted at a new folder, unmounted when dropped; `None` where this
/// process may not mount (not root), which the caller reports as skipped.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = std::env::temp_dir().join(format!("peyvand-small-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(SmallDisk { dir })
    }

    /// Fills what is left of the disk with a file of zeros.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last, partial block.
        while file.write_all(&block[..512]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

async fn create_status(app: &TestApp, name: &str) -> StatusCode {
    app.post("/api/v1/records/company", json!({"fields": {"name": name}})).await.status()
}

/// Item 1: with the database on a full disk a write fails (503, not 500), `/readyz` says the
/// writer cannot write, and once space is freed writes work again without a restart (before
/// the fix every later write answered 500: "begin_with at non-zero transaction depth").
#[tokio::test]
async fn a_full_disk_fails_writes_only_while_it_is_full() {
    let Some(disk) = SmallDisk::mount("20m") else {
        eprintln!("skipped: cannot mount a small filesystem here (needs root)");
        assert!(std::env::var_os("CI").is_none(), "CI runs as root and must run this test");
        return;
    };
    let app = TestApp::spawn_on(TestDb::sqlite_at(&disk.dir.join("crm.db")), Default::default()).await;
    assert_eq!(create_status(&app, "before").await, StatusCode::CREATED);
    // With the log emptied, the next commit needs new space, and a full disk has none.
    peyvand_store::testing::truncate_sqlite_log(&app.db).await;
    let filler = disk.fill();
    let r = app.post("/api/v1/records/company", json!({"fields": {"name": "while full"}})).await;
    let body = problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["code"], "unavailable");
    assert_eq!(
        app.client.get(app.url("/readyz")).send().await.expect("readyz").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    std::fs::remove_file(filler).expect("free the space");
    for i in 0..3 {
        assert_eq!(create_status(&app, &format!("after {i}")).await, StatusCode::CREATED, "write {i} after freeing");
    }
    assert_eq!(app.client.get(app.url("/readyz")).send().await.expect("readyz").status(), StatusCode::OK);
    // Sign-ins and tokens write too.
    assert!(!app.token_for(ADMIN_EMAIL, PASSWORD).await.is_empty());
    let names: Vec<Value> = app.list("company", &[("sort", "created_at")]).await["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["fields"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("before"), json!("after 0"), json!("after 1"), json!("after 2")]);
    app.stop().await;
}

/// Item 2: `next` after signing in stays on this server whatever the browser would make of it.
async fn sign_in_goes_only_to_local_paths(app: &TestApp) {
    for (next, expected) in [
        ("/\t/other-host/page", "/"),
        ("/\n/other-host", "/"),
        ("//other-host", "/"),
        ("/\\other-host", "/"),
        ("/records/contact?view=all", "/records/contact?view=all"),
    ] {
        let r = app
            .client
            .post(app.url("/login"))
            .form(&[("email", ADMIN_EMAIL), ("password", PASSWORD), ("next", next)])
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "next {next:?}");
        assert_eq!(r.headers()["location"], expected, "next {next:?}");
        // The sign-in page carries the same cleaned `next` in its form.
        let page = app.client.get(app.url("/login")).query(&[("next", next)]).send().await.expect("send");
        assert_eq!(page.status(), StatusCode::OK, "sign-in page with next {next:?}");
        let html = page.text().await.expect("html");
        assert!(html.contains(&format!("name=\"next\" value=\"{}\"", expected.replace('&', "&amp;"))), "{next:?}");
    }
}

/// Item 5: a database that cannot be reached answers 503 with `Retry-After` and a problem
/// document, in the API and on pages, and `/readyz` says so.
async fn an_unreachable_database_answers_503(app: &TestApp) {
    app.db.close().await;
    let r = app.get("/api/v1/records/contact").await;
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["code"], "unavailable");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(
        app.client.get(app.url("/readyz")).send().await.expect("readyz").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let r = app.client.post(app.url("/api/v1/auth/token")).json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}));
    assert_eq!(r.send().await.expect("send").status(), StatusCode::SERVICE_UNAVAILABLE);
}

backend_tests!(sign_in_goes_only_to_local_paths, an_unreachable_database_answers_503);

/// Item 5 on PostgreSQL for real: the database stops accepting connections and the ones open
/// are ended by the server.
#[tokio::test]
async fn a_postgres_database_that_refuses_connections_answers_503() {
    let Some(test_db) = TestDb::new(Backend::Postgres).await else { return };
    let app = TestApp::spawn_on(test_db, Default::default()).await;
    assert_eq!(create_status(&app, "before").await, StatusCode::CREATED);
    app.test_db().refuse_connections(true).await;
    let r = app.get("/api/v1/records/company").await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(problem(r, StatusCode::SERVICE_UNAVAILABLE).await["code"], "unavailable");
    assert_eq!(create_status(&app, "while refused").await, StatusCode::SERVICE_UNAVAILABLE);
    app.test_db().refuse_connections(false).await;
    assert_eq!(create_status(&app, "after").await, StatusCode::CREATED);
    app.stop().await;
}

/// The field a 422 problem document names first, refused for holding a control character.
async fn refused_field(r: reqwest::Response) -> String {
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["code"], "control_characters", "{body}");
    body["errors"][0]["field"].as_str().unwrap_or_default().to_string()
}

/// The field a 422 problem document names first, whatever the reason.
async fn invalid_field(r: reqwest::Response) -> String {
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    body["errors"][0]["field"].as_str().unwrap_or_default().to_string()
}

/// Item 4: U+0000 answers alike on both backends and never 500 (PostgreSQL cannot keep it in
/// text): a 422 naming the field or parameter, a 404 for a path, nothing found in search.
async fn the_nul_character_never_answers_500(app: &TestApp) {
    app.create("contact", json!({"first_name": "Nima", "last_name": "Jones"})).await;
    let nul_eq = json!({"field": "last_name", "op": "eq", "value": "Jo\u{0}"}).to_string();
    let nul_contains = json!({"field": "last_name", "op": "contains", "value": "\u{0}"}).to_string();
    // An equal value with it is refused; a pattern takes it as a space, and one of nothing
    // else is empty.
    for filter in [&nul_eq, &nul_contains] {
        let r = app.get_query("/api/v1/records/contact", &[("filter", filter.as_str()), ("total", "true")]).await;
        assert_eq!(invalid_field(r).await, "last_name");
        let r = app.get_query("/api/v1/aggregate/contact", &[("filter", filter.as_str())]).await;
        assert_eq!(invalid_field(r).await, "last_name");
    }
    let r = app.get_query("/api/v1/records/contact", &[("filter", nul_eq.as_str())]).await;
    assert_eq!(refused_field(r).await, "last_name");
    let contains = json!({"field": "last_name", "op": "contains", "value": "Jon\u{0}"}).to_string();
    assert_eq!(
        app.list("contact", &[("filter", contains.as_str())]).await["records"].as_array().map(Vec::len),
        Some(1)
    );
    // A raw U+0000 in a parameter is refused by name.
    let r = app.get_query("/api/v1/search", &[("q", "Jo\u{0}")]).await;
    assert_eq!(refused_field(r).await, "q");
    let r = app.get_query("/api/v1/records/contact", &[("sort", "\u{0}")]).await;
    assert_eq!(refused_field(r).await, "sort");
    // Bodies: the value's place is named.
    let r = app.post("/api/v1/records/contact", json!({"fields": {"first_name": "a\u{0}b"}})).await;
    assert_eq!(refused_field(r).await, "fields.first_name");
    let r = app.post("/api/v1/records/contact", json!({"fields": {"emails": ["a@b.ir", "\u{0}"]}})).await;
    assert_eq!(refused_field(r).await, "fields.emails.1");
    let r = app.post("/api/v1/auth/token", json!({"email": "\u{0}", "password": "x"})).await;
    assert_eq!(refused_field(r).await, "email");
    // Paths: nothing has such an id.
    for path in
        ["/api/v1/records/contact/abc%00", "/api/v1/records/contact%00", "/api/v1/records/contact/abc%00/history"]
    {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Pages: quick search and look-ups take it as a space; an export with such a filter is
    // refused before it starts instead of being cut off.
    let page = crate::helpers::signed_in(app).await;
    for (path, query, status) in [
        ("/records/contact", vec![("q", "Jo\u{0}nes")], StatusCode::OK),
        ("/records/contact/options", vec![("q", "Jo\u{0}")], StatusCode::OK),
        ("/search", vec![("q", "\u{0}")], StatusCode::OK),
        ("/search/suggest", vec![("q", "Jo\u{0}")], StatusCode::OK),
        ("/records/contact/abc\u{0}", vec![], StatusCode::NOT_FOUND),
        ("/records/contact/export.csv", vec![("filter", nul_eq.as_str())], StatusCode::BAD_REQUEST),
        ("/records/contact", vec![("filter", nul_contains.as_str())], StatusCode::OK),
    ] {
        let r = page.get(app.url(path)).query(&query).send().await.expect("send");
        assert_eq!(r.status(), status, "{path} {query:?}");
    }
    let html = page.get(app.url("/records/contact/options")).query(&[("q", "Jo\u{0}")]).send().await.expect("send");
    assert!(html.text().await.expect("html").contains("Nima Jones"), "Jo before U+0000 still finds Jones");
}

backend_tests!(the_nul_character_never_answers_500);

/// Signs in through the API from `forwarded_for` (as a proxy would say); returns the status.
async fn sign_in_as(app: &TestApp, email: &str, password: &str, forwarded_for: &str) -> StatusCode {
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("send");
    r.status()
}

/// Failed sign-ins of the last 15 minutes from an address.
async fn failures_from(app: &TestApp, ip: &str) -> i64 {
    app.db.recent_login_failures("", ip, time::Duration::minutes(15)).await.expect("failures").1
}

/// Item 6: many failures from one address slow it down but never lock out a right password
/// from it; without trusted proxies `X-Forwarded-For` is ignored (anyone can write it).
async fn many_failures_from_one_address_do_not_lock_out_the_office(app: &TestApp) {
    let limit = peyvand_web::auth::MAX_FAILURES_PER_IP;
    for i in 0..limit {
        let status = sign_in_as(app, &format!("nobody{i}@example.ir"), "wrong", &format!("203.0.113.{i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(failures_from(app, "127.0.0.1").await, limit, "counted for the peer, not the header");
    assert_eq!(failures_from(app, "203.0.113.1").await, 0);
    // Answered 429 for 15 minutes before.
    assert_eq!(sign_in_as(app, ADMIN_EMAIL, PASSWORD, "203.0.113.1").await, StatusCode::CREATED);
    assert_eq!(sign_in_as(app, "nobody@example.ir", "wrong", "203.0.113.1").await, StatusCode::UNAUTHORIZED);
}

backend_tests!(many_failures_from_one_address_do_not_lock_out_the_office);

/// Item 6: behind a trusted proxy each client is counted by its own address.
#[tokio::test]
async fn behind_a_trusted_proxy_clients_are_counted_apart() {
    let config = peyvand_web::WebConfig {
        trusted_proxies: vec!["127.0.0.1".parse().expect("net")],
        ..peyvand_web::WebConfig::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await.expect("sqlite");
    for _ in 0..3 {
        assert_eq!(
            sign_in_as(&app, "nobody@example.ir", "wrong", "198.51.100.1, 203.0.113.5").await,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app
        .client
        .post(app.url("/login"))
        .header("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")
        .form(&[("email", "nobody@example.ir"), ("password", "wrong")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(failures_from(&app, "203.0.113.5").await, 3, "the nearest address the proxy saw");
    assert_eq!(failures_from(&app, "2001:db8::7").await, 1);
    assert_eq!(failures_from(&app, "127.0.0.1").await, 0);
    assert_eq!(failures_from(&app, "198.51.100.1").await, 0, "written by the client, not the proxy");
    app.stop().await;
}

/// Item 8: a trashed record is seen by those who may list the trash, and by nobody else,
/// whichever way they ask (before, every role read it with `include_deleted` and on its page).
async fn the_trash_is_seen_by_those_who_may_list_it(app: &TestApp) {
    let (agent_id, agent) = app.user_id_with_role("agent@test.peyvand.ir", "agent").await;
    let manager = app.user_with_role("manager@test.peyvand.ir", "manager").await;
    let company = json!({"name": "Trashed Ltd", "owner": agent_id});
    let id = app.create("company", company).await["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/records/company/{id}");
    assert_eq!(app.send_as(&agent, reqwest::Method::DELETE, &path, None).await.status(), StatusCode::NO_CONTENT);
    let get = async |token: &str, path: String| app.send_as(token, reqwest::Method::GET, &path, None).await;
    problem(get(&agent, format!("{path}?include_deleted=true")).await, StatusCode::FORBIDDEN).await;
    problem(get(&agent, "/api/v1/records/company?trash=true".into()).await, StatusCode::FORBIDDEN).await;
    problem(get(&agent, path.clone()).await, StatusCode::NOT_FOUND).await;
    problem(get(&agent, format!("{path}/history")).await, StatusCode::NOT_FOUND).await;
    assert_eq!(get(&manager, format!("{path}?include_deleted=true")).await.status(), StatusCode::OK);
    assert_eq!(get(&manager, format!("{path}/history")).await.status(), StatusCode::OK);
    let page = crate::helpers::browser();
    crate::helpers::sign_in_as(app, &page, "agent@test.peyvand.ir").await;
    let r = page.get(app.url(&format!("/records/company/{id}"))).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let page = crate::helpers::browser();
    crate::helpers::sign_in_as(app, &page, "manager@test.peyvand.ir").await;
    let r = page.get(app.url(&format!("/records/company/{id}"))).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}

backend_tests!(the_trash_is_seen_by_those_who_may_list_it);

/// Item 10: bidirectional overrides are dropped from names and titles on input (a title with
/// U+202E reversed what followed it), labels refuse them, and user text is isolated on pages.
async fn bidi_overrides_are_dropped_and_user_text_isolated(app: &TestApp) {
    let company =
        app.create("company", json!({"name": "Acme\u{202E}gpj.exe", "description": "نام\u{200F} (Ltd.)"})).await;
    assert_eq!(company["fields"]["name"], "Acmegpj.exe");
    assert_eq!(company["fields"]["description"], "نام\u{200F} (Ltd.)", "marks are kept");
    let contact = app.create("contact", json!({"first_name": "\u{2067}علی\u{2069}", "last_name": "ACME-42"})).await;
    assert_eq!(contact["fields"]["first_name"], "علی");
    let r = app
        .post("/api/v1/objects/company/fields", json!({"api_name": "code", "type": "text", "label_en": "Code\u{202E}"}))
        .await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "control_characters");
    let page = crate::helpers::signed_in(app).await;
    let id = contact["id"].as_str().expect("id");
    let html =
        page.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("<h1><bdi>علی ACME-42</bdi></h1>"), "the title is isolated");
    let list = page.get(app.url("/records/contact")).send().await.expect("send").text().await.expect("html");
    assert!(list.contains("<bdi>علی ACME-42</bdi>"), "list cells are isolated");
}

backend_tests!(bidi_overrides_are_dropped_and_user_text_isolated);

/// Item 11: where schemathesis found the server and its document disagreeing, they agree now
/// (`.ci/schemathesis` runs it in CI).
async fn the_api_does_what_its_document_says(app: &TestApp) {
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.expect("document");
    let schemas = &doc["components"]["schemas"];
    // Bodies with members the document does not name are refused, and the document says so.
    for name in ["TokenName", "NewObject", "NewField", "FieldPatch", "UserPatch", "RecordBody", "NewView", "NewRollup"]
    {
        assert_eq!(schemas[name]["additionalProperties"], json!(false), "{name}");
    }
    assert_eq!(app.post("/api/v1/tokens", json!({"name": "x", "extra": 1})).await.status(), StatusCode::BAD_REQUEST);
    // An empty token name: refused by the server and by the document's pattern.
    assert!(schemas["TokenName"]["properties"]["name"]["pattern"].is_string());
    assert_eq!(app.post("/api/v1/tokens", json!({"name": " "})).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A body that is not an object is refused (serde read a struct from an array: 200).
    let users: Value = app.get("/api/v1/users").await.json().await.expect("users");
    let me = users["users"][0]["id"].as_str().expect("id").to_string();
    let r = app
        .send_as(&app.token, reqwest::Method::PATCH, &format!("/api/v1/users/{me}"), Some(json!([null, null])))
        .await;
    assert_eq!(problem(r, StatusCode::BAD_REQUEST).await["code"], "invalid_body");
    // An admin may not demote or deactivate themselves (another admin may).
    let r = app.patch(&format!("/api/v1/users/{me}"), json!({"active": false})).await;
    assert_eq!(problem(r, StatusCode::CONFLICT).await["code"], "own_account");
    // Null where the document allows it, and 10.0 where it asks for an integer.
    assert_eq!(schemas["FieldOptions"]["properties"]["scale"]["type"], json!(["integer", "null"]));
    let field = json!({"api_name": "ratio", "type": "decimal", "options": {"scale": null, "max_length": 10.0}});
    assert_eq!(app.post("/api/v1/objects/company/fields", field).await.status(), StatusCode::CREATED);
    assert_eq!(schemas["View"]["properties"]["group_by"]["type"], json!(["string", "null"]));
    // A rollup made before answers 200, which the document lists.
    let rollups = &doc["paths"]["/api/v1/objects/{object}/rollups"]["post"]["responses"];
    assert!(rollups["200"].is_object() && rollups["201"].is_object());
    // Header formats as documented: visible ASCII keys, digits for versions.
    let r = app
        .client
        .post(app.url("/api/v1/records/company"))
        .bearer_auth(&app.token)
        .header("idempotency-key", "a b")
        .json(&json!({"fields": {"name": "Spaced"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(problem(r, StatusCode::BAD_REQUEST).await["code"], "invalid_idempotency_key");
    let id = app.create("company", json!({"name": "Versioned"})).await["id"].as_str().expect("id").to_string();
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/records/company/{id}")))
        .bearer_auth(&app.token)
        .header("if-match", "\"-1\"")
        .json(&json!({"fields": {"name": "Changed"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(problem(r, StatusCode::BAD_REQUEST).await["code"], "invalid_if_match");
    // A user's name with a control character is refused on creation, as on change.
    let r = app
        .post(
            "/api/v1/users",
            json!({"email": "ctl@example.ir", "name": "A\u{84}B", "role": "agent", "password": PASSWORD}),
        )
        .await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "control_characters");
}

backend_tests!(the_api_does_what_its_document_says);

/// Issue 25, item 8: every answer (page, API, asset, error, health check) tells the browser to
/// run only this server's scripts and styles, never to be framed, never to guess a type.
async fn every_answer_carries_the_security_headers(app: &TestApp) {
    let page = crate::helpers::signed_in(app).await;
    for path in
        ["/records/contact", "/login", "/assets/app.js", "/no/such/page", "/healthz", "/api/v1/me", "/api/v1/nothing"]
    {
        let r = if path.starts_with("/api") {
            app.get(path).await
        } else {
            page.get(app.url(path)).send().await.expect("send")
        };
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
    }
    // No page holds an inline script or style for the policy to refuse.
    let html = page.get(app.url("/records/contact")).send().await.expect("send").text().await.expect("html");
    assert!(!html.contains("<script>") && !html.contains(" style=\"") && !html.contains("<style"), "inline code");
}

backend_tests!(every_answer_carries_the_security_headers);
