//! The administration pages: custom fields and objects, hiding and ordering fields, users and
//! roles, API tokens; and the users API.

use crate::backend_tests;
use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    admins_shape_objects_from_the_pages,
    admins_manage_users_and_everyone_their_tokens,
    custom_objects_go_to_the_trash_and_come_back
);

struct Page {
    client: reqwest::Client,
    csrf: String,
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> Page {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r =
        client.post(app.url("/login")).form(&[("email", email), ("password", password)]).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = client.get(app.url("/settings/tokens")).send().await.expect("send").text().await.expect("text");
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("csrf");
    Page { client, csrf: html[start..].chars().take_while(|c| *c != '"').collect() }
}

impl Page {
    async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut f: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        f.extend_from_slice(form);
        self.client.post(app.url(path)).header("origin", &app.base).form(&f).send().await.expect("send")
    }
    async fn html(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let r = self.client.get(app.url(path)).send().await.expect("send");
        (r.status(), r.text().await.expect("text"))
    }
}

async fn field(app: &TestApp, object: &str, name: &str) -> Option<Value> {
    let o: Value = app.get(&format!("/api/v1/objects/{object}")).await.json().await.expect("json");
    o["fields"].as_array().expect("fields").iter().find(|f| f["api_name"] == json!(name)).cloned()
}

async fn admins_shape_objects_from_the_pages(app: &TestApp) {
    let page = signed_in(app, ADMIN_EMAIL, PASSWORD).await;
    let (status, html) = page.html(app, "/admin/objects").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("contact") && html.contains("company"));

    let r = page
        .post(
            app,
            "/admin/objects/contact/fields",
            &[
                ("api_name", "tier"),
                ("label_fa", "سطح"),
                ("label_en", "Tier"),
                ("type", "select"),
                ("choices", "gold | طلایی | Gold\nsilver | نقره‌ای | Silver"),
                ("indexed", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let tier = field(app, "contact", "tier").await.expect("tier");
    assert_eq!(tier["options"]["options"][0], json!({"value": "gold", "label_fa": "طلایی", "label_en": "Gold"}));
    assert_eq!(tier["indexed"], json!(true));
    let r = page.post(app, "/admin/objects/contact/fields", &[("api_name", "Bad Name"), ("type", "text")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("text").contains("class=\"error\""), "the refusal is shown on the page");

    // Hide a standard field; it leaves the forms but keeps its data.
    assert_eq!(
        page.post(app, "/admin/objects/contact/fields/province/hide", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(field(app, "contact", "province").await.expect("province")["hidden"], json!(true));
    let (_, form) = page.html(app, "/records/contact/new").await;
    assert!(!form.contains("name=\"f.province\"") && form.contains("name=\"f.tier\""));

    // Order: move tier up one place.
    let before = field(app, "contact", "tier").await.expect("tier")["position"].as_i64().expect("position");
    assert_eq!(page.post(app, "/admin/objects/contact/fields/tier/up", &[]).await.status(), StatusCode::SEE_OTHER);
    let after = field(app, "contact", "tier").await.expect("tier")["position"].as_i64().expect("position");
    assert!(after < before, "{after} < {before}");

    // Edit choices; removing one in use is refused with the reason.
    app.create("contact", json!({"last_name": "Gold", "tier": "gold"})).await;
    app.create("contact", json!({"last_name": "Untiered"})).await;
    let r = page
        .post(
            app,
            "/admin/objects/contact/fields/tier",
            &[
                ("label_fa", "سطح"),
                ("label_en", "Level"),
                ("type", "select"),
                ("choices", "silver | نقره‌ای | Silver"),
                ("indexed", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("text").contains("gold"));
    let r = page
        .post(
            app,
            "/admin/objects/contact/fields/tier",
            &[
                ("label_fa", "سطح"),
                ("label_en", "Level"),
                ("type", "select"),
                ("choices", "gold | طلایی | Gold\nsilver | نقره‌ای | Silver\nbronze | برنزی | Bronze"),
                ("indexed", "on"),
                ("required", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "required refused: a record has no tier");
    let r = page
        .post(
            app,
            "/admin/objects/contact/fields/tier",
            &[
                ("label_fa", "سطح"),
                ("label_en", "Level"),
                ("type", "select"),
                ("choices", "gold | طلایی | Gold\nsilver | نقره‌ای | Silver\nbronze | برنزی | Bronze"),
                ("indexed", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let tier = field(app, "contact", "tier").await.expect("tier");
    assert_eq!(tier["label_en"], json!("Level"));
    assert_eq!(tier["options"]["options"].as_array().map(Vec::len), Some(3));

    // Remove and restore a custom field; standard fields cannot be removed.
    assert_eq!(page.post(app, "/admin/objects/contact/fields/tier/delete", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(field(app, "contact", "tier").await.is_none());
    let (_, html) = page.html(app, "/admin/objects/contact").await;
    assert!(html.contains("/admin/objects/contact/fields/tier/restore"));
    assert_eq!(page.post(app, "/admin/objects/contact/fields/tier/restore", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(field(app, "contact", "tier").await.is_some());
    assert_eq!(page.post(app, "/admin/objects/contact/fields/city/delete", &[]).await.status(), StatusCode::OK);

    // A custom object appears in the navigation and works at once.
    let r = page
        .post(
            app,
            "/admin/objects",
            &[
                ("api_name", "project"),
                ("label_fa", "پروژه"),
                ("label_en", "Project"),
                ("plural_fa", "پروژه‌ها"),
                ("plural_en", "Projects"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page.html(app, "/records/contact").await;
    assert!(html.contains("href=\"/records/project\""));
    app.create("project", json!({"name": "CRM rollout"})).await;
    let (status, html) = page.html(app, "/records/project").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("CRM rollout"));
}

async fn admins_manage_users_and_everyone_their_tokens(app: &TestApp) {
    let page = signed_in(app, ADMIN_EMAIL, PASSWORD).await;
    let r = page
        .post(
            app,
            "/admin/users",
            &[
                ("email", "new@test.peyvand.ir"),
                ("name", "تازه‌وارد"),
                ("role", "agent"),
                ("language", "fa"),
                ("password", "temporary pass"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = page
        .post(app, "/admin/users", &[("email", "short@test.peyvand.ir"), ("role", "agent"), ("password", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let users: Value = app.get("/api/v1/users").await.json().await.expect("json");
    let agent = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == json!("new@test.peyvand.ir"))
        .cloned()
        .expect("agent");
    assert_eq!(agent["role"], json!("agent"));
    assert!(users["users"].as_array().expect("users").iter().all(|u| u["email"] != json!("short@test.peyvand.ir")));

    // The agent signs in, sees no admin pages, and makes and revokes a token of their own.
    let agent_page = signed_in(app, "new@test.peyvand.ir", "temporary pass").await;
    assert_eq!(agent_page.html(app, "/admin/objects").await.0, StatusCode::FORBIDDEN);
    assert_eq!(agent_page.html(app, "/admin/users").await.0, StatusCode::FORBIDDEN);
    let r = agent_page.post(app, "/settings/tokens", &[("name", "my script")]).await;
    let html = r.text().await.expect("text");
    let start = html.find("id=\"new-token\">").map(|i| i + "id=\"new-token\">".len()).expect("token shown once");
    let secret: String = html[start..].chars().take_while(|c| *c != '<').collect();
    assert!(secret.starts_with("pv_"));
    assert_eq!(app.send_as(&secret, Method::GET, "/api/v1/me", None).await.status(), StatusCode::OK);
    let (_, html) = agent_page.html(app, "/settings/tokens").await;
    assert!(!html.contains(&secret), "the secret is shown only once");
    let tokens: Value = app.send_as(&secret, Method::GET, "/api/v1/tokens", None).await.json().await.expect("json");
    let id = tokens["tokens"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        agent_page.post(app, &format!("/settings/tokens/{id}/revoke"), &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    problem(app.send_as(&secret, Method::GET, "/api/v1/me", None).await, StatusCode::UNAUTHORIZED).await;

    // Promote, then deactivate: the agent's session ends.
    let agent_id = agent["id"].as_str().expect("id");
    assert_eq!(
        page.post(app, &format!("/admin/users/{agent_id}"), &[("role", "manager")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let r = app.patch(&format!("/api/v1/users/{agent_id}"), json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.expect("json");
    assert_eq!((updated["role"].clone(), updated["active"].clone()), (json!("manager"), json!(false)));
    assert_eq!(
        agent_page.html(app, "/records/contact").await.0,
        StatusCode::SEE_OTHER,
        "a deactivated user is signed out"
    );
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"email": "new@test.peyvand.ir", "password": "temporary pass"}))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::UNAUTHORIZED).await;

    // An admin keeps their own role, and the last admin stays an admin whoever asks.
    let me: Value = app.get("/api/v1/me").await.json().await.expect("json");
    let me = me["id"].as_str().expect("id");
    let r = app.patch(&format!("/api/v1/users/{me}"), json!({"role": "agent"})).await;
    assert_eq!(problem(r, StatusCode::CONFLICT).await["code"], json!("own_account"));
    let last = app.db.update_user(None, me, Some(peyvand_records::access::Role::Agent), None, None).await;
    assert!(matches!(last, Err(peyvand_store::Error::Conflict { code: "last_admin", .. })), "{last:?}");
}

/// Issue 24, item 20: a custom object goes to the trash with its records and comes back with
/// them; refused while another object's field points to it, and for standard objects.
async fn custom_objects_go_to_the_trash_and_come_back(app: &TestApp) {
    let object = |name: &str, fields: Value| json!({"api_name": name, "label_fa": name, "label_en": name, "plural_fa": name, "plural_en": format!("{name}s"), "fields": fields});
    let r = app
        .post("/api/v1/objects", object("vehicle", json!([{"api_name": "plate", "type": "text", "label_en": "Plate"}])))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let garage = object(
        "garage",
        json!([{"api_name": "name", "type": "text"}, {"api_name": "car", "type": "relation", "options": {"target": "vehicle"}}]),
    );
    assert_eq!(app.post("/api/v1/objects", garage).await.status(), StatusCode::CREATED);
    let car = app.create("vehicle", json!({"plate": "IR-12-345"})).await["id"].as_str().expect("id").to_string();
    let found = |q: &'static str| async move {
        let body: Value = app.get_query("/api/v1/search", &[("q", q)]).await.json().await.expect("json");
        body["hits"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(found("IR-12").await, 1);

    let r = app.delete("/api/v1/objects/vehicle").await;
    let body = problem(r, StatusCode::CONFLICT).await;
    assert_eq!(body["code"], "object_referenced");
    assert_eq!(body["errors"][0]["field"], "car");
    assert_eq!(app.delete("/api/v1/objects/garage/fields/car").await.status(), StatusCode::NO_CONTENT);
    let agent = app.user_with_role("agent@test.peyvand.ir", "agent").await;
    let r = app.send_as(&agent, reqwest::Method::DELETE, "/api/v1/objects/vehicle", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.delete("/api/v1/objects/vehicle").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/objects/vehicle").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/records/vehicle/{car}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(found("IR-12").await, 0, "its records are not found meanwhile");
    let objects: Value = app.get("/api/v1/objects").await.json().await.expect("json");
    assert!(objects["objects"].as_array().expect("objects").iter().all(|o| o["api_name"] != "vehicle"));
    let again = object("vehicle", json!([{"api_name": "plate", "type": "text"}]));
    assert_eq!(
        problem(app.post("/api/v1/objects", again).await, StatusCode::CONFLICT).await["code"],
        "object_in_trash"
    );
    assert_eq!(
        problem(app.delete("/api/v1/objects/contact").await, StatusCode::CONFLICT).await["code"],
        "builtin_object"
    );

    // The admin pages list it in the trash and bring it back with its records.
    let page = crate::helpers::signed_in(app).await;
    let html = page.get(app.url("/admin/objects")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("action=\"/admin/objects/vehicle/restore\""), "in the trash on the objects page");
    let csrf = crate::helpers::csrf_of(&html);
    let r = page
        .post(app.url("/admin/objects/vehicle/restore"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/api/v1/records/vehicle/{car}")).await.status(), StatusCode::OK);
    assert_eq!(found("IR-12").await, 1, "found again");
    let r = page
        .post(app.url("/admin/objects/vehicle/trash"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "moved to the trash from its page");
    assert_eq!(app.get("/api/v1/objects/vehicle").await.status(), StatusCode::NOT_FOUND);
}
