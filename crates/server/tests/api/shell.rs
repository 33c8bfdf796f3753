//! Issue 26: the app's frame. Shared files are served under hashed names and kept a year;
//! answers are compressed; the command palette offers records (by part of a phone number too),
//! pages and the actions the user may take; a starred record is in the side navigation.

use crate::backend_tests;
use crate::helpers::{TestApp, browser, csrf_of, sign_in, sign_in_as};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(assets_are_hashed_cached_and_compressed, the_palette_offers_what_the_user_may_do);

async fn assets_are_hashed_cached_and_compressed(app: &TestApp) {
    let page = browser();
    sign_in(app, &page).await;
    let html = page.get(app.url("/records/contact")).send().await.expect("send").text().await.expect("html");
    let css = html.split("rel=\"stylesheet\" href=\"").nth(1).and_then(|r| r.split('"').next()).expect("a stylesheet");
    assert!(css.starts_with("/assets/app.") && css.len() == "/assets/app.0123456789.css".len(), "{css}");
    let r = page.get(app.url(css)).header("accept-encoding", "br, gzip").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header(&r, "content-encoding"), "br");
    let compressed = r.bytes().await.expect("bytes").len();
    let plain = page.get(app.url(css)).send().await.expect("send").bytes().await.expect("bytes");
    assert!(compressed * 3 < plain.len(), "{compressed} of {} bytes", plain.len());
    // The stylesheet names the typeface by its hashed name; the typeface is not compressed again.
    let text = String::from_utf8_lossy(&plain);
    let font = text.split("url(\"").nth(1).and_then(|r| r.split('"').next()).expect("the font");
    assert!(font.starts_with("/assets/vazirmatn.") && font.ends_with(".woff2"), "{font}");
    let r = page.get(app.url(font)).header("accept-encoding", "br, gzip").send().await.expect("send");
    assert_eq!(
        (r.status(), header(&r, "content-type"), header(&r, "content-encoding")),
        (StatusCode::OK, "font/woff2".into(), String::new())
    );
    // A page is compressed; a plain name is re-checked; an unknown one is not found.
    let r = page.get(app.url("/records/contact")).header("accept-encoding", "gzip").send().await.expect("send");
    assert_eq!(header(&r, "content-encoding"), "gzip");
    let r = page.get(app.url("/assets/app.css")).send().await.expect("send");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    let r = page.get(app.url("/assets/app.0000000000.css")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The web app can be installed: its manifest names its icon by its hashed name.
    let manifest = html.split("rel=\"manifest\" href=\"").nth(1).and_then(|r| r.split('"').next()).expect("manifest");
    let manifest: serde_json::Value =
        page.get(app.url(manifest)).send().await.expect("send").json().await.expect("json");
    let icon = manifest["icons"][0]["src"].as_str().expect("icon");
    assert!(icon.starts_with("/assets/logo.") && manifest["start_url"] == "/", "{manifest}");
    assert_eq!(page.get(app.url(icon)).send().await.expect("send").status(), StatusCode::OK);
    let png = manifest["icons"].as_array().expect("icons").iter().find(|i| i["sizes"] == "512x512").expect("512 px");
    let r = page.get(app.url(png["src"].as_str().expect("src"))).send().await.expect("send");
    assert_eq!(header(&r, "content-type"), "image/png");
    assert!(r.bytes().await.expect("bytes").starts_with(b"\x89PNG"), "a PNG");
}

async fn the_palette_offers_what_the_user_may_do(app: &TestApp) {
    let contact =
        app.create("contact", json!({"first_name": "کاوه", "last_name": "یزدانی", "phones": ["+989121234567"]})).await;
    let id = contact["id"].as_str().expect("id").to_string();
    let admin = browser();
    sign_in(app, &admin).await;
    let palette = async |client: &reqwest::Client, q: &str| {
        client.get(app.url("/palette")).query(&[("q", q)]).send().await.expect("send").text().await.expect("html")
    };
    // Actions and pages by their words, in the user's language (the admin reads English).
    let new = palette(&admin, "new cont").await;
    assert!(new.contains("href=\"/records/contact/new\""), "{new}");
    assert!(!new.contains("href=\"/records/company/new\""), "only what matches: {new}");
    assert!(palette(&admin, "access").await.contains("href=\"/admin/access\""));
    // A record by its name typed with Arabic letters, and by part of its phone number.
    assert!(palette(&admin, "كاوه").await.contains(&format!("href=\"/records/contact/{id}\"")));
    assert!(palette(&admin, "0912 123").await.contains(&format!("href=\"/records/contact/{id}\"")));
    let none = palette(&admin, "zzzzqqq").await;
    assert!(none.contains("palette-empty"), "{none}");

    // A read-only user is offered no new records and no administration.
    let email = "reader@test.peyvand.ir";
    app.user_with_role(email, "read_only").await;
    let reader = browser();
    sign_in_as(app, &reader, email).await;
    let offered = palette(&reader, "").await;
    assert!(!offered.contains("/new\"") && !offered.contains("/admin/"), "{offered}");
    assert!(offered.contains("href=\"/records/contact\""), "{offered}");

    // Starred from its page, the record is in the side navigation, and not in another user's.
    let record = admin.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send");
    let record = record.text().await.expect("html");
    assert!(record.contains("aria-pressed=\"false\""), "not starred yet");
    let r = admin
        .post(app.url(&format!("/records/contact/{id}/favourite")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf_of(&record).as_str()), ("on", "1")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let marks = admin.get(app.url("/shell/marks")).send().await.expect("send").text().await.expect("html");
    let favourites = marks.split("marks-recent").next().unwrap_or_default();
    assert!(favourites.contains(&format!("/records/contact/{id}")) && favourites.contains("یزدانی"), "{marks}");
    let theirs = reader.get(app.url("/shell/marks")).send().await.expect("send").text().await.expect("html");
    assert!(!theirs.contains(&id), "{theirs}");
    let record = admin.get(app.url(&format!("/records/contact/{id}"))).send().await.expect("send");
    assert!(record.text().await.expect("html").contains("aria-pressed=\"true\""));
}
