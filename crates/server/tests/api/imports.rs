//! Importing from the web app: upload, preview with the suggested mapping, run, progress,
//! report and the failed rows as CSV.

use crate::backend_tests;
use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp};
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
