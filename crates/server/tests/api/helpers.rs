//! `TestApp`: a real Peyvand server on a random port over a fresh database, and an HTTP client
//! speaking to it. `backend_tests!` runs a test on SQLite and on PostgreSQL.

use peyvand_records::access::Role;
use peyvand_store::Db;
pub use peyvand_store::testing::Backend;
use peyvand_store::testing::TestDb;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@test.peyvand.ir";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    pub db: Db,
    running: peyvand::Running,
    test_db: TestDb,
}

/// Runs each named `async fn NAME(app: &TestApp)` on both backends, as `NAME::sqlite` and
/// `NAME::postgres`; the PostgreSQL one says it was skipped when no server is configured.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    $crate::helpers::run(super::$name, $crate::helpers::Backend::Sqlite).await;
                }
                #[tokio::test]
                async fn postgres() {
                    $crate::helpers::run(super::$name, $crate::helpers::Backend::Postgres).await;
                }
            }
        )*
    };
}

pub async fn run(test: impl AsyncFnOnce(&TestApp), backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    test(&app).await;
    app.stop().await;
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        TestApp::spawn_with(backend, peyvand_web::WebConfig::default()).await
    }

    /// [`TestApp::spawn`] with web settings of the test's own.
    pub async fn spawn_with(backend: Backend, config: peyvand_web::WebConfig) -> Option<TestApp> {
        Some(TestApp::spawn_on(TestDb::new(backend).await?, config).await)
    }

    /// A server over the given (empty) test database.
    pub async fn spawn_on(test_db: TestDb, config: peyvand_web::WebConfig) -> TestApp {
        let db = peyvand_crm::open(&test_db.url).await.expect("open database");
        let hash = peyvand_web::auth::hash_password(PASSWORD).expect("hash");
        db.create_user(ADMIN_EMAIL, "Admin", Role::Admin, &hash, "en").await.expect("admin");
        let running = peyvand::start(db.clone(), "127.0.0.1:0", config, std::future::pending()).await.expect("start");
        let base = format!("http://{}", running.addr);
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let mut app = TestApp { base, client, token: String::new(), db, running, test_db };
        app.token = app.token_for(ADMIN_EMAIL, PASSWORD).await;
        app
    }

    /// Stops the server (finishing requests in flight) and removes the database.
    pub async fn stop(self) {
        self.running.stop().await.expect("graceful stop");
        self.test_db.cleanup().await;
    }

    pub async fn token_for(&self, email: &str, password: &str) -> String {
        let r = self
            .client
            .post(format!("{}/api/v1/auth/token", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::CREATED, "token for {email}");
        r.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_string()
    }

    /// Adds a user with a role and returns an API token for them.
    /// A new user's id and API token.
    pub async fn user_id_with_role(&self, email: &str, role: &str) -> (String, String) {
        let r = self.post("/api/v1/users", json!({"email": email, "role": role, "password": PASSWORD})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let user: Value = r.json().await.expect("user");
        (user["id"].as_str().expect("id").to_string(), self.token_for(email, PASSWORD).await)
    }

    pub async fn user_with_role(&self, email: &str, role: &str) -> String {
        let r = self.post("/api/v1/users", json!({"email": email, "role": role, "password": PASSWORD})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        self.token_for(email, PASSWORD).await
    }

    pub fn test_db(&self) -> &TestDb {
        &self.test_db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token).header("accept-language", "en");
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("send")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send_as(&self.token, Method::GET, path, None).await
    }
    pub async fn get_query(&self, path: &str, query: &[(&str, &str)]) -> Response {
        self.client.get(self.url(path)).query(query).bearer_auth(&self.token).send().await.expect("send")
    }
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send_as(&self.token, Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.send_as(&self.token, Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.send_as(&self.token, Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Response {
        self.send_as(&self.token, Method::DELETE, path, None).await
    }

    /// Creates a record and returns its JSON.
    pub async fn create(&self, object: &str, fields: Value) -> Value {
        let r = self.post(&format!("/api/v1/records/{object}"), json!({ "fields": fields })).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Adds a custom field.
    pub async fn add_field(&self, object: &str, field: Value) {
        let r = self.post(&format!("/api/v1/objects/{object}/fields"), field).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Lists with query parameters; returns the page JSON.
    pub async fn list(&self, object: &str, query: &[(&str, &str)]) -> Value {
        let r = self.get_query(&format!("/api/v1/records/{object}"), query).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// Reads a problem document, checking its content type and status.
pub async fn problem(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_eq!(ct, "application/problem+json");
    let body: Value = r.json().await.expect("problem json");
    assert_eq!(body["status"], json!(status.as_u16()));
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    body
}

/// A client that keeps cookies and does not follow redirects, as a browser's tests need.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The CSRF token of a page's form.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("csrf field");
    html[start..].chars().take_while(|c| *c != '"').collect()
}

/// Signs the admin in on `client` through the sign-in page.
pub async fn sign_in(app: &TestApp, client: &reqwest::Client) {
    sign_in_as(app, client, ADMIN_EMAIL).await;
}

/// Signs a user (whose password is [`PASSWORD`]) in on `client` through the sign-in page.
pub async fn sign_in_as(app: &TestApp, client: &reqwest::Client, email: &str) {
    let r = client
        .post(app.url("/login"))
        .header("origin", &app.base)
        .form(&[("email", email), ("password", PASSWORD), ("next", "/records/contact")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert_eq!(r.headers().get("location").and_then(|v| v.to_str().ok()), Some("/records/contact"));
}

/// A browser-like client with the admin signed in.
pub async fn signed_in(app: &TestApp) -> reqwest::Client {
    let client = browser();
    sign_in(app, &client).await;
    client
}
