//! Issue 25, item 6: two-factor sign-in with TOTP (RFC 6238) and recovery codes, over the pages
//! and the API; a code is taken once; ten wrong codes end the sign-in; an admin can require it
//! per role; "sign out everywhere" ends every session.

use crate::backend_tests;
use crate::helpers::{PASSWORD, TestApp, browser, csrf_of, problem, sign_in_as};
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Builder, Secret};

backend_tests!(a_user_signs_in_with_a_code_and_recovery_codes, admins_require_it_per_role);

/// The code of `secret` (base32) for the 30-second step `ahead` steps from now.
fn code(secret: &str, ahead: u64) -> String {
    let bytes = Secret::try_from_base32(secret).expect("base32").to_vec();
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_secret(bytes)
        .with_step_duration(30)
        .build()
        .expect("totp");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    totp.generate((now / 30 + ahead) * 30).to_string()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    html.split(start).skip(1).filter_map(|part| part.split(end).next()).collect()
}

async fn token(app: &TestApp, email: &str, code: Option<&str>) -> reqwest::Response {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    app.client.post(app.url("/api/v1/auth/token")).json(&body).send().await.expect("send")
}

async fn a_user_signs_in_with_a_code_and_recovery_codes(app: &TestApp) {
    let email = "twofactor@test.peyvand.ir";
    app.user_id_with_role(email, "agent").await;
    let page = browser();
    sign_in_as(app, &page, email).await;
    let get = async |path: &str| page.get(app.url(path)).send().await.expect("send").text().await.expect("html");
    let settings = get("/settings/security").await;
    assert!(settings.contains("ورود دومرحله‌ای خاموش است"), "in the user's language, Persian");
    let csrf = csrf_of(&settings);
    let post = async |path: &str, form: &[(&str, &str)]| {
        page.post(app.url(path)).header("origin", &app.base).form(form).send().await.expect("send")
    };
    let started = post("/settings/security/start", &[("csrf", &csrf)]).await.text().await.expect("html");
    let secret = between(&started, "<code class=\"secret\">", "</code>")[0].to_string();
    assert!(started.contains("otpauth://totp/Peyvand:"), "a link for the app");
    let wrong =
        post("/settings/security/confirm", &[("csrf", &csrf), ("code", "000000")]).await.text().await.expect("html");
    assert!(wrong.contains("این کد درست نیست"));
    let on = post("/settings/security/confirm", &[("csrf", &csrf), ("code", &code(&secret, 0))]).await;
    let on = on.text().await.expect("html");
    let recovery: Vec<String> = between(&on, "<li><code>", "</code>").into_iter().map(str::to_string).collect();
    assert_eq!(recovery.len(), 10, "{on}");

    // A password alone no longer signs in: the code is asked for, taken once.
    let page = browser();
    let r = page
        .post(app.url("/login"))
        .header("origin", &app.base)
        .form(&[("email", email), ("password", PASSWORD), ("next", "/records/contact")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers().get("location").and_then(|l| l.to_str().ok()).is_some_and(|l| l.starts_with("/login/code")));
    assert!(
        !r.headers().get_all("set-cookie").iter().any(|c| c.to_str().is_ok_and(|c| c.starts_with("peyvand_session=")))
    );
    let send_code = async |code: &str| {
        page.post(app.url("/login/code"))
            .header("origin", &app.base)
            .form(&[("code", code), ("next", "/records/contact")])
            .send()
            .await
            .expect("send")
    };
    assert_eq!(send_code("123456").await.status(), StatusCode::UNAUTHORIZED);
    let next_code = code(&secret, 1);
    let r = send_code(&next_code).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some("/records/contact"));
    let list = page.get(app.url("/records/contact")).send().await.expect("send");
    assert_eq!(list.status(), StatusCode::OK, "signed in");

    // The API: the code is required, a code already taken is refused, a recovery code works once.
    assert_eq!(
        problem(token(app, email, None).await, StatusCode::UNAUTHORIZED).await["code"],
        json!("second_factor_required")
    );
    problem(token(app, email, Some(&next_code)).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(token(app, email, Some(&recovery[0])).await.status(), StatusCode::CREATED);
    problem(token(app, email, Some(&recovery[0])).await, StatusCode::UNAUTHORIZED).await;

    // Ten wrong codes end a waiting sign-in: back to the password.
    let page = browser();
    page.post(app.url("/login"))
        .header("origin", &app.base)
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .expect("send");
    for _ in 0..9 {
        let r = page.post(app.url("/login/code")).header("origin", &app.base).form(&[("code", "111111")]).send().await;
        assert_eq!(r.expect("send").status(), StatusCode::UNAUTHORIZED);
    }
    let r = page.post(app.url("/login/code")).header("origin", &app.base).form(&[("code", "111111")]).send().await;
    assert_eq!(r.expect("send").headers().get("location").and_then(|l| l.to_str().ok()), Some("/login?over=true"));
    let r =
        page.post(app.url("/login/code")).header("origin", &app.base).form(&[("code", &code(&secret, 0))]).send().await;
    assert_eq!(
        r.expect("send").headers().get("location").and_then(|l| l.to_str().ok()),
        Some("/login?over=true"),
        "over"
    );

    // Sign out everywhere ends every session of the user, on every device.
    let plain = "plain@test.peyvand.ir";
    app.user_id_with_role(plain, "agent").await;
    let (one, two) = (browser(), browser());
    sign_in_as(app, &one, plain).await;
    sign_in_as(app, &two, plain).await;
    let settings = page_html(app, &one, "/settings/security").await;
    let r = one
        .post(app.url("/settings/security/sign-out-everywhere"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf_of(&settings).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for client in [&one, &two] {
        let after = client.get(app.url("/records/contact")).send().await.expect("send");
        assert_eq!(after.status(), StatusCode::SEE_OTHER, "signed out: to the sign-in page");
    }
    let log: Value = app.get("/api/v1/security_log?kind=two_factor_changed").await.json().await.expect("json");
    assert!(log["entries"].as_array().is_some_and(|e| !e.is_empty()), "{log}");
}

async fn page_html(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    client.get(app.url(path)).send().await.expect("send").text().await.expect("html")
}

async fn admins_require_it_per_role(app: &TestApp) {
    let email = "reader@test.peyvand.ir";
    app.user_id_with_role(email, "read_only").await;
    let admin = crate::helpers::signed_in(app).await;
    let access = page_html(app, &admin, "/admin/access").await;
    let r = admin
        .post(app.url("/admin/two_factor"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf_of(&access).as_str()), ("read_only", "on")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(page_html(app, &admin, "/admin/access").await.contains("name=\"read_only\" checked"));
    // The reader signs in, and every page sends them to set it up; no API token meanwhile.
    let page = browser();
    sign_in_as(app, &page, email).await;
    let r = page.get(app.url("/records/contact")).send().await.expect("send");
    assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some("/settings/security"));
    let settings = page_html(app, &page, "/settings/security").await;
    assert!(settings.contains("نقش شما باید با مرحلهٔ دوم وارد شود"));
    assert_eq!(
        problem(token(app, email, None).await, StatusCode::UNAUTHORIZED).await["code"],
        json!("second_factor_required")
    );
    // Set up, it opens the way.
    let csrf = csrf_of(&settings);
    let started = page
        .post(app.url("/settings/security/start"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    let secret = between(&started, "<code class=\"secret\">", "</code>")[0].to_string();
    let r = page
        .post(app.url("/settings/security/confirm"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("code", &code(&secret, 0))])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(page.get(app.url("/records/contact")).send().await.expect("send").status(), StatusCode::OK);
}
