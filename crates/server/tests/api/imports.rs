//! Importing from the web app: upload, preview with the suggested mapping, run, progress,
//! report and the failed rows as CSV.

use crate::backend_tests;
use crate::helpers::{ADMIN_EMAIL, Backend, PASSWORD, TestApp, csrf_of};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(import_a_file_from_the_web_app);

fn multipart(boundary: &str, csrf: &str, file_name: &str, content: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"encoding\"\r\n\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

async fn import_a_file_from_the_web_app(app: &TestApp) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .post(app.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = client.get(app.url("/records/contact/import")).send().await.expect("send").text().await.expect("text");
    assert!(html.contains("enctype=\"multipart/form-data\""));
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("csrf");
    let csrf: String = html[start..].chars().take_while(|c| *c != '"').collect();

    let csv = "نام,نام خانوادگی,ایمیل,کد عجیب\r\nنگار,صالحی,negar@example.ir,1\r\nبد,ایمیل,not-an-email,2\r\n";
    let boundary = "peyvandboundary42";
    let upload = |csrf: String| {
        client
            .post(app.url("/records/contact/import"))
            .header("origin", &app.base)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(multipart(boundary, &csrf, "people.csv", csv.as_bytes()))
            .send()
    };
    assert_eq!(upload("forged".into()).await.expect("send").status(), StatusCode::FORBIDDEN);
    let r = upload(csrf.clone()).await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let job = r.headers().get("location").and_then(|l| l.to_str().ok()).expect("job page").to_string();
    let preview = client.get(app.url(&job)).send().await.expect("send").text().await.expect("text");
    assert!(preview.contains("<option value=\"first_name\" selected>"), "the first column maps to first_name");
    assert!(preview.contains("<option value=\"emails\" selected>"));
    assert!(preview.contains("negar@example.ir"), "a preview of the values");

    let id = job.rsplit('/').next().expect("id");
    let r = client
        .post(app.url(&format!("/imports/{id}/run")))
        .header("origin", &app.base)
        .form(&[
            ("csrf", csrf.as_str()),
            ("encoding", "UTF-8"),
            ("map.0", "first_name"),
            ("map.1", "last_name"),
            ("map.2", "emails"),
            ("map.3", ""),
            ("dedupe_by", "emails"),
            ("on_duplicate", "skip"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut page = String::new();
    for _ in 0..100 {
        page = client.get(app.url(&job)).send().await.expect("send").text().await.expect("text");
        if page.contains("id=\"import-summary\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(page.contains("2 rows: 1 created, 0 updated, 0 skipped, 0 imported before, 1 failed."), "{page}");
    assert!(page.contains("Not a valid e-mail address."));
    let errors = client
        .get(app.url(&format!("/imports/{id}/errors.csv")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(errors.contains("3,ایمیل,emails,invalid_email,not-an-email"), "{errors}");
    // The same summary in Persian: a skipped row is one passed over, not one refused.
    let r = client
        .post(app.url("/settings/language"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("lang", "fa")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let fa = client.get(app.url(&job)).send().await.expect("send").text().await.expect("text");
    assert!(fa.contains("۲ سطر: ۱ ایجاد، ۰ به‌روزرسانی، ۰ صرف‌نظرشده، ۰ از قبل واردشده، ۱ ناموفق."), "{fa}");
    assert!(fa.contains("<tr><td>۳</td>"), "the failed row's number in Persian digits: {fa}");
    let filter = json!({"field": "emails", "op": "eq", "value": "negar@example.ir"}).to_string();
    assert_eq!(app.list("contact", &[("filter", &filter), ("total", "1")]).await["total"], json!(1));
    // The job belongs to its user only.
    app.user_with_role("other@test.peyvand.ir", "agent").await;
    let other = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = other
        .post(app.url("/login"))
        .form(&[("email", "other@test.peyvand.ir"), ("password", PASSWORD)])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(other.get(app.url(&job)).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    assert_eq!(
        other.get(app.url(&format!("/imports/{id}/errors.csv"))).send().await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
}

/// Sends a request by hand and returns the first line of the answer, or `None` if none came
/// within 10 s: the body is written only up to `body_start` of a declared 100 MB, so a server
/// that reads the whole body before answering never answers.
async fn answer_to_unfinished_upload(app: &TestApp, cookie: &str, body_start: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /records/contact/import HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nOrigin: {}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n{body_start}",
        app.base
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer)).await.ok()?.ok()?;
    String::from_utf8_lossy(&answer[..n]).lines().next().map(str::to_string)
}

/// Item 7 of issue 24: an upload's file is written only after the form's CSRF token is
/// checked, kept in the upload folder readable by the server's user alone, bounded per user,
/// and deleted when abandoned.
async fn uploads_are_checked_first_private_bounded_and_swept(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("peyvand-upload-test-{}", uuid::Uuid::now_v7()));
    let config = peyvand_web::WebConfig {
        upload_dir: dir.clone(),
        upload_quota_bytes: 2048,
        ..peyvand_web::WebConfig::default()
    };
    let Some(app) = TestApp::spawn_with(backend, config.clone()).await else { return };
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .expect("send");
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_string();
    let form = app.client.get(app.url("/records/contact/import")).header("cookie", &cookie).send().await.expect("send");
    let csrf = csrf_of(&form.text().await.expect("html"));

    // A forged token, or none before the file: refused before the file is read.
    let forged = "--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nforged\r\n\
                  --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\nname\r\n";
    let file_first = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\nname\r\n";
    for start in [forged, file_first] {
        let answer = answer_to_unfinished_upload(&app, &cookie, start).await;
        assert!(answer.as_deref().is_some_and(|a| a.contains(" 403 ")), "answered {answer:?} before the body ended");
    }
    assert!(std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 0, "nothing written");

    let boundary = "peyvandboundary42";
    let upload = |size: usize| {
        let content = format!("first_name\r\n{}\r\n", "x".repeat(size));
        app.client
            .post(app.url("/records/contact/import"))
            .header("cookie", &cookie)
            .header("origin", &app.base)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(multipart(boundary, &csrf, "people.csv", content.as_bytes()))
            .send()
    };
    let r = upload(1000).await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    use std::os::unix::fs::PermissionsExt;
    let files: Vec<_> = std::fs::read_dir(&dir).expect("upload folder").flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::metadata(&files[0]).expect("file").permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).expect("folder").permissions().mode() & 0o777, 0o700);

    // Over the user's quota (1,000 bytes waiting, 2,048 allowed): refused with the reason.
    let r = upload(1500).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("html").contains("2 KB"), "the quota is said");
    assert_eq!(std::fs::read_dir(&dir).expect("folder").count(), 1, "the refused upload left nothing");

    // Abandoned: the sweep deletes the waiting file and the job is no longer offered.
    let state = peyvand_web::AppState::new(app.db.clone(), config).expect("state");
    assert_eq!(peyvand_web::html::imports::sweep_uploads(&state, std::time::Duration::ZERO).await.expect("sweep"), 1);
    assert_eq!(std::fs::read_dir(&dir).expect("folder").count(), 0);
    assert_eq!(upload(1500).await.expect("send").status(), StatusCode::SEE_OTHER, "room again");
    app.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn uploads_are_checked_first_private_bounded_and_swept_sqlite() {
    uploads_are_checked_first_private_bounded_and_swept(Backend::Sqlite).await;
}

#[tokio::test]
async fn uploads_are_checked_first_private_bounded_and_swept_postgres() {
    uploads_are_checked_first_private_bounded_and_swept(Backend::Postgres).await;
}
