//! Tasks over HTTP: made and refused through the API with localized reasons, the agenda of one's
//! day, a task done in one click, and the bell: notifications listed, counted and read, each
//! user's own.

use crate::backend_tests;
use crate::helpers::{TestApp, browser, csrf_of, problem, sign_in_as, signed_in};
use peyvand_records::value::format_datetime;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

backend_tests!(
    tasks_and_my_day,
    the_bell_tells_each_user_their_own,
    a_call_logged_schedules_the_next,
    a_calendar_app_reads_the_feed
);

fn in_(d: Duration) -> String {
    format_datetime(OffsetDateTime::now_utc() + d)
}

async fn tasks_and_my_day(app: &TestApp) {
    let (rep, token) = app.user_id_with_role("rep@tasks.peyvand.ir", "agent").await;
    let contact = app.create("contact", json!({"first_name": "Kaveh", "last_name": "Yazdani", "owner": rep})).await;
    // In the past with a reminder: refused, saying why in the user's language.
    let late = json!({"fields": {"subject": "Call back", "due_at": in_(Duration::hours(-1)), "reminders": ["15m"]}});
    let r = app.send_as(&token, Method::POST, "/api/v1/records/task", Some(late)).await;
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "reminders");
    assert_eq!(p["errors"][0]["code"], "reminder_in_past");
    assert!(p["errors"][0]["message"].as_str().is_some_and(|m| m.contains("already passed")), "{p}");
    let backwards =
        json!({"fields": {"subject": "Visit", "due_at": in_(Duration::hours(3)), "ends_at": in_(Duration::hours(2))}});
    let r = app.send_as(&token, Method::POST, "/api/v1/records/task", Some(backwards)).await;
    assert_eq!(problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["code"], "ends_before_start");
    // Two of the rep's: one overdue, one in an hour about Kaveh; one next week; one of someone else's.
    let made = async |token: &str, fields: Value| -> String {
        let r = app.send_as(token, Method::POST, "/api/v1/records/task", Some(json!({"fields": fields}))).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string()
    };
    let overdue = made(&token, json!({"subject": "Send the catalogue", "due_at": in_(Duration::hours(-3))})).await;
    let soon = made(&token, json!({"subject": "Call Kaveh", "due_at": in_(Duration::hours(1)), "reminders": ["15m"], "contact": contact["id"]})).await;
    made(&token, json!({"subject": "Visit Tabriz", "due_at": in_(Duration::days(3)), "place": "Tabriz"})).await;
    made(&app.token, json!({"subject": "The admin's own", "due_at": in_(Duration::hours(2))})).await;

    let page = browser();
    sign_in_as(app, &page, "rep@tasks.peyvand.ir").await;
    let html = page.get(app.url("/my-day")).send().await.expect("send").text().await.expect("html");
    assert!(
        html.contains("Send the catalogue") && html.contains("Call Kaveh") && html.contains("Kaveh Yazdani"),
        "today's"
    );
    assert!(html.contains("Visit Tabriz") && html.contains("Tabriz"), "the week ahead");
    assert!(!html.contains("The admin&#x27;s own") && !html.contains("The admin's own"), "only the rep's own");
    let overdue_at = html.find("Send the catalogue").expect("overdue");
    assert!(overdue_at < html.find("Call Kaveh").expect("soon"), "soonest first");
    // Done in one click: off the agenda, and it says when.
    let csrf = csrf_of(&html);
    let r = page
        .post(app.url(&format!("/tasks/{overdue}/done")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let task: Value = app.get(&format!("/api/v1/records/task/{overdue}")).await.json().await.expect("json");
    assert_eq!(task["fields"]["status"], "done");
    assert!(task["fields"]["done_at"].is_string());
    let html = page.get(app.url("/my-day")).send().await.expect("send").text().await.expect("html");
    assert!(!html.contains("Send the catalogue") && html.contains("Call Kaveh"));
    // The week, day by day, starting on Saturday in Persian (the rep's language).
    let html = page.get(app.url("/calendar")).send().await.expect("send").text().await.expect("html");
    let first_day = html.split("<h2>").nth(1).and_then(|h| h.split('<').next()).unwrap_or_default().to_string();
    assert!(first_day.starts_with("شنبه"), "{first_day}");
    assert!(html.contains("Call Kaveh") && html.contains("aria-current=\"date\""), "this week, today marked");
    let tehran = time::UtcOffset::from_hms(3, 30, 0).expect("offset");
    let a_week_on = OffsetDateTime::now_utc().to_offset(tehran).date() + Duration::days(7);
    let next = page.get(app.url(&format!("/calendar?week={a_week_on}")));
    let next = next.send().await.expect("send").text().await.expect("html");
    assert!(!next.contains("Call Kaveh"), "next week: {next}");
    assert!(!next.contains("aria-current=\"date\""), "next week, no today");
    // The month, Jalali in Persian: its name and year, today's task on its day.
    let today = OffsetDateTime::now_utc().to_offset(tehran).date();
    let (jy, jm, _) = peyvand_records::jalali::to_jalali(today).expect("jalali");
    let months =
        ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"];
    let month_title =
        format!("{} {}", months[usize::from(jm) - 1], peyvand_records::normalize::to_persian_digits(&jy.to_string()));
    let html = page.get(app.url("/calendar?view=month")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains(&month_title) && html.contains("<table class=\"month\">"), "{month_title}");
    assert!(html.contains(&format!("data-task=\"{soon}\"")), "today's task, draggable");
    // Dragged two days on: the same time of day; dragged into the past, its reminder refuses.
    let due_before: Value = app.get(&format!("/api/v1/records/task/{soon}")).await.json().await.expect("json");
    let due_before =
        peyvand_records::value::parse_datetime(due_before["fields"]["due_at"].as_str().expect("due")).expect("time");
    let csrf = csrf_of(&html);
    let target = today + Duration::days(2);
    let r = page
        .post(app.url(&format!("/tasks/{soon}/reschedule")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("date", &target.to_string())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let moved =
        peyvand_records::value::parse_datetime(r.json::<Value>().await.expect("json")["due_at"].as_str().expect("due"))
            .expect("time")
            .to_offset(tehran);
    assert_eq!((moved.date(), moved.time()), (target, due_before.to_offset(tehran).time()));
    let r = page
        .post(app.url(&format!("/tasks/{soon}/reschedule")))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str()), ("date", &(today - Duration::days(3)).to_string())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a reminder in the past");
    // An admin sees everyone's at once, each with whose it is.
    let admin = crate::helpers::signed_in(app).await;
    let html =
        admin.get(app.url("/calendar?view=month&owner=team")).send().await.expect("send").text().await.expect("html");
    assert!(html.contains("Call Kaveh") && html.contains("The admin"), "the rep's and the admin's");
    // Its reminder waits in the scheduler, for the rep.
    let jobs = app.db.jobs(Some("pending"), 100).await.expect("jobs");
    let reminders: Vec<&Value> = jobs.iter().filter(|j| j.kind == "reminder").map(|j| &j.payload).collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(
        (reminders[0]["task"].as_str(), reminders[0]["user"].as_str()),
        (Some(soon.as_str()), Some(rep.as_str()))
    );
}

async fn the_bell_tells_each_user_their_own(app: &TestApp) {
    let (rep, token) = app.user_id_with_role("rep@bell.peyvand.ir", "agent").await;
    let (_, other) = app.user_id_with_role("other@bell.peyvand.ir", "agent").await;
    let mut tx = app.db.write().await.expect("write");
    for (id, title) in [("n-1", "Call Kaveh"), ("n-2", "Visit Tabriz")] {
        peyvand_crm::notifications::notify_in(&mut tx, id, &rep, "reminder", title, Some("/my-day"), None)
            .await
            .expect("notify");
    }
    tx.commit().await.expect("commit");
    let listed: Value =
        app.send_as(&token, Method::GET, "/api/v1/notifications", None).await.json().await.expect("json");
    assert_eq!(listed["unread"], 2);
    assert_eq!(listed["notifications"][0]["title"], "Visit Tabriz", "newest first");
    // Another user sees none of them and cannot read them.
    let theirs: Value =
        app.send_as(&other, Method::GET, "/api/v1/notifications", None).await.json().await.expect("json");
    assert_eq!((theirs["unread"].clone(), theirs["notifications"].clone()), (json!(0), json!([])));
    let r = app.send_as(&other, Method::POST, "/api/v1/notifications/n-1/read", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The bell counts them; opening one reads it and goes where it leads.
    let page = browser();
    sign_in_as(app, &page, "rep@bell.peyvand.ir").await;
    let badge = page.get(app.url("/notifications/badge")).send().await.expect("send").text().await.expect("html");
    assert!(badge.contains(">۲<") && !badge.contains(" hidden"), "two, in the rep's Persian digits: {badge}");
    let html = page.get(app.url("/notifications")).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    let r = page
        .post(app.url("/notifications/n-1/open"))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some("/my-day"));
    let r = app.send_as(&token, Method::GET, "/api/v1/notifications?unread=true", None).await;
    let unread: Value = r.json().await.expect("json");
    assert_eq!(unread["notifications"].as_array().map(Vec::len), Some(1));
    let r = app.send_as(&token, Method::POST, "/api/v1/notifications/read", None).await;
    assert_eq!(r.json::<Value>().await.expect("json")["marked"], 1);
    let badge = page.get(app.url("/notifications/badge")).send().await.expect("send").text().await.expect("html");
    assert!(badge.contains("bell-count\" hidden"), "nothing unread: {badge}");
    let r = app.send_as(&token, Method::GET, "/api/v1/notifications?limit=500", None).await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["notifications"].as_array().map(Vec::len),
        Some(2),
        "brought into range"
    );
    let r = app.send_as(&token, Method::GET, "/api/v1/notifications?limit=many", None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// "Log the call, schedule the next" in one form and one transaction: the call, and a task that
/// follows it about the same customer, due when asked with its reminder; a follow-up that is
/// not right keeps both from being written.
async fn a_call_logged_schedules_the_next(app: &TestApp) {
    let contact = app.create("contact", json!({"first_name": "Kaveh", "last_name": "Yazdani"})).await;
    let contact_id = contact["id"].as_str().expect("id").to_string();
    let page = signed_in(app).await;
    let html = page
        .get(app.url(&format!("/records/activity/new?contact={contact_id}&kind=call")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Schedule a follow-up") && html.contains("name=\"f.follow_up.subject\""),
        "the follow-up fields"
    );
    let csrf = csrf_of(&html);
    let offset = time::UtcOffset::from_hms(3, 30, 0).expect("offset");
    let tomorrow = OffsetDateTime::now_utc().to_offset(offset).date().next_day().expect("tomorrow");
    let today = OffsetDateTime::now_utc().to_offset(offset).date().to_string();
    let count = async |object: &str| app.list(object, &[("total", "true")]).await["total"].as_i64().expect("total");
    let post = async |follow_up_date: &str| {
        let form = [
            ("csrf", csrf.as_str()),
            ("f.kind", "call"),
            ("f.subject", "Asked for a quote"),
            ("f.occurred_at", today.as_str()),
            ("f.occurred_at__time", "09:15"),
            ("f.contact", contact_id.as_str()),
            ("f.follow_up.subject", "Call Kaveh back"),
            ("f.follow_up.due_at", follow_up_date),
            ("f.follow_up.due_at__time", "10:00"),
            ("f.follow_up.reminders", "15m"),
        ];
        page.post(app.url("/records/activity/new")).header("origin", &app.base).form(&form).send().await.expect("send")
    };
    // A follow-up whose day does not read: neither is written, the form says why.
    let r = post("the day after").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains("err-follow_up.due_at"), "the follow-up's date is named");
    assert_eq!((count("activity").await, count("task").await), (0, 0), "nothing half-written");
    // Right: both, the task following the call about Kaveh, tomorrow at 10 in Tehran.
    let r = post(&tomorrow.to_string()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let calls = app.list("activity", &[]).await;
    let call = &calls["records"][0];
    let tasks = app.list("task", &[]).await;
    let task = &tasks["records"][0]["fields"];
    assert_eq!(task["subject"], "Call Kaveh back");
    assert_eq!((task["follows"].clone(), task["contact"].clone()), (call["id"].clone(), json!(contact_id)));
    let due = format!("{}T06:30:00Z", tomorrow);
    assert!(task["due_at"].as_str().is_some_and(|d| d.starts_with(&due[..16])), "10:00 in Tehran: {task}");
    assert_eq!(task["reminders"], json!(["15m"]));
    // Without a follow-up's subject, the call alone.
    let tomorrow = tomorrow.to_string();
    let form = [
        ("csrf", csrf.as_str()),
        ("f.kind", "call"),
        ("f.subject", "Quick question"),
        ("f.occurred_at", today.as_str()),
        ("f.contact", contact_id.as_str()),
        ("f.follow_up.subject", ""),
        ("f.follow_up.due_at", tomorrow.as_str()),
    ];
    let r =
        page.post(app.url("/records/activity/new")).header("origin", &app.base).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!((count("activity").await, count("task").await), (2, 1));
}

/// The calendar feed, read by an iCalendar parser of its own as a calendar app would: the rep's
/// open tasks as events (an appointment from its start to its end, where and how to join, its
/// reminder as an alarm, Persian text whole across folded lines), nobody else's, none done; a new
/// address stops the old one, and a stopped one answers nothing.
async fn a_calendar_app_reads_the_feed(app: &TestApp) {
    let (rep, token) = app.user_id_with_role("rep@feed.peyvand.ir", "agent").await;
    let made = async |token: &str, fields: Value| {
        let r = app.send_as(token, Method::POST, "/api/v1/records/task", Some(json!({"fields": fields}))).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    };
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).expect("whole seconds") + Duration::days(2);
    let long = "بازدید از خط تولید ورق فولادی و گفت‌وگو دربارهٔ سفارش سالانهٔ ۱۴۰۶ با مدیر خرید و مسئول فنی کارخانه";
    made(&token, json!({"subject": "بازدید از فولاد پارس", "kind": "visit", "due_at": format_datetime(start),
        "ends_at": format_datetime(start + Duration::hours(2)), "place": "Tabriz", "video_link": "https://meet.example/pars",
        "reminders": ["15m"], "body": long})).await;
    made(
        &token,
        json!({"subject": "Call Kaveh", "due_at": in_(Duration::hours(5)), "recurrence": "FREQ=WEEKLY;BYDAY=SA,MO"}),
    )
    .await;
    made(&token, json!({"subject": "Done already", "due_at": in_(Duration::hours(5)), "status": "done"})).await;
    made(&app.token, json!({"subject": "The admin's", "due_at": in_(Duration::hours(5))})).await;

    let page = browser();
    sign_in_as(app, &page, "rep@feed.peyvand.ir").await;
    let make = async || -> String {
        let html = page.get(app.url("/my-day")).send().await.expect("send").text().await.expect("html");
        let csrf = csrf_of(&html);
        let r = page.post(app.url("/calendar/feed")).header("origin", &app.base).form(&[("csrf", csrf.as_str())]);
        let html = r.send().await.expect("send").text().await.expect("html");
        let url = html.split("id=\"feed-url\">").nth(1).and_then(|h| h.split('<').next()).expect("the address, once");
        let path = url.split_once("/calendar/").map(|(_, p)| format!("/calendar/{p}")).expect("a feed path");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        path
    };
    let path = make().await;
    let anonymous = reqwest::Client::new();
    let r = anonymous.get(app.url(&path)).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/calendar"));
    let text = r.text().await.expect("ics");
    assert!(text.lines().all(|l| l.len() <= 75), "lines folded at 75 octets");
    // Unfolded as RFC 5545 says (a line break and the one space after it go), the text is whole.
    assert!(text.replace("\r\n ", "").contains(&format!("DESCRIPTION:{long}\r\n")), "{text}");
    let calendars: Vec<_> = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes())).collect();
    assert_eq!(calendars.len(), 1);
    let calendar = calendars.into_iter().next().expect("one").expect("it parses");
    let prop = |props: &[ical::property::Property], name: &str| {
        props.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap_or_default()
    };
    let mut summaries: Vec<String> = calendar.events.iter().map(|e| prop(&e.properties, "SUMMARY")).collect();
    summaries.sort();
    assert_eq!(summaries, ["Call Kaveh", "بازدید از فولاد پارس"], "the rep's open tasks alone");
    let visit =
        calendar.events.iter().find(|e| prop(&e.properties, "SUMMARY").starts_with("بازدید")).expect("the visit");
    let stamp = |t: OffsetDateTime| {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    assert_eq!(prop(&visit.properties, "DTSTART"), stamp(start));
    assert_eq!(prop(&visit.properties, "DTEND"), stamp(start + Duration::hours(2)));
    assert!(
        prop(&visit.properties, "LOCATION").contains("Tabriz")
            && prop(&visit.properties, "LOCATION").contains("meet.example")
    );
    // The parser trims a line's end before unfolding, so a space the fold left at a line's end
    // is lost to it (the feed keeps it, as checked above): compared without spaces.
    let squeezed = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert_eq!(squeezed(&prop(&visit.properties, "DESCRIPTION")), squeezed(long), "Persian text across folded lines");
    assert_eq!(visit.alarms.len(), 1);
    let trigger = prop(&visit.alarms[0].properties, "TRIGGER");
    assert!(["-PT15M", "-PT900S"].contains(&trigger.as_str()), "15 minutes before: {trigger}");
    assert!(!rep.is_empty());
    let call = calendar.events.iter().find(|e| prop(&e.properties, "SUMMARY") == "Call Kaveh").expect("the call");
    assert_eq!(prop(&call.properties, "RRULE"), "FREQ=WEEKLY;BYDAY=SA,MO", "a recurring task's series");

    // A new address stops the old one; stopping answers nothing.
    let second = make().await;
    assert_eq!(anonymous.get(app.url(&path)).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    assert_eq!(anonymous.get(app.url(&second)).send().await.expect("send").status(), StatusCode::OK);
    let html = page.get(app.url("/my-day")).send().await.expect("send").text().await.expect("html");
    let csrf = csrf_of(&html);
    let r = page.post(app.url("/calendar/feed/revoke")).header("origin", &app.base).form(&[("csrf", csrf.as_str())]);
    assert_eq!(r.send().await.expect("send").status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.get(app.url(&second)).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    let r = anonymous.get(app.url("/calendar/not-a-secret.ics")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
