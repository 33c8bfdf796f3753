//! The `peyvand` binary itself: help, migrate, user add, serve, and a graceful stop on SIGTERM,
//! on SQLite and PostgreSQL; logs on standard error, a command's output on standard output.

use peyvand_store::testing::{Backend, TestDb};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn peyvand() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peyvand"));
    c.env_remove("PEYVAND_DATABASE_URL").env("PEYVAND_LOG", "info").env("NO_COLOR", "1");
    c
}

#[test]
fn help_lists_the_commands() {
    let out = peyvand().arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "migrate", "user", "demo", "--database-url"] {
        assert!(text.contains(command), "--help mentions {command}:\n{text}");
    }
    let out = peyvand().args(["user", "add", "--help"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--password-stdin"));
}

async fn binary_story(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let url = test_db.url.clone();
    let out = peyvand().args(["migrate", "--database-url", &url]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    let mut add = peyvand()
        .args([
            "user",
            "add",
            "--email",
            "CLI@Test.Peyvand.ir",
            "--role",
            "admin",
            "--password-stdin",
            "--database-url",
            &url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    add.stdin.take().expect("stdin").write_all(b"a long enough password\n").expect("write");
    let out = add.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cli@test.peyvand.ir"));

    let out = peyvand()
        .args([
            "user",
            "add",
            "--email",
            "x@test.peyvand.ir",
            "--role",
            "boss",
            "--password-stdin",
            "--database-url",
            &url,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));

    let mut server = peyvand()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    // The server logs to standard error, standard output being a command's own.
    let logs = server.stderr.take().expect("stderr");
    let mut lines = BufReader::new(logs).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").expect("line");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/api/v1/auth/token"))
        .json(&serde_json::json!({"email": "cli@test.peyvand.ir", "password": "a long enough password"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = server.wait().expect("wait");
    assert!(exit.success(), "a SIGTERM stops the server cleanly: {exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
    test_db.cleanup().await;
}

#[tokio::test]
async fn binary_story_sqlite() {
    binary_story(Backend::Sqlite).await;
}

#[tokio::test]
async fn binary_story_postgres() {
    binary_story(Backend::Postgres).await;
}

/// A command's standard output is its own: an export to standard output of a database that is
/// migrated first holds the CSV alone, the migration's log lines go to standard error.
#[tokio::test]
async fn logs_stay_out_of_standard_output() {
    let Some(test_db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let out = peyvand()
        .args(["export", "contact", "--columns", "last_name", "--database-url", &test_db.url])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "id,last_name\r\n", "the CSV and nothing else");
    assert!(String::from_utf8_lossy(&out.stderr).contains("applied migration"), "the logs are on standard error");
    test_db.cleanup().await;
}

#[tokio::test]
async fn import_and_export_from_the_command_line() {
    let Some(test_db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let url = test_db.url.clone();
    let dir = std::env::temp_dir().join(format!("peyvand-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let csv = dir.join("people.csv");
    std::fs::write(
        &csv,
        "نام,نام خانوادگی,ایمیل,شرکت\r\nعلی,کریمی,ali@example.ir,فولاد پارس\r\nبد,ردیف,not-an-email,\r\n",
    )
    .expect("write");
    let errors = dir.join("errors.csv");
    let out = peyvand()
        .args(["import", "contact"])
        .arg(&csv)
        .args(["--dedupe-by", "emails", "--database-url", &url, "--errors"])
        .arg(&errors)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 rows") && stdout.contains("created 1") && stdout.contains("failed 1"), "{stdout}");
    let report = std::fs::read_to_string(&errors).expect("errors file");
    assert!(report.contains("3,ایمیل,emails,invalid_email,not-an-email"), "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("row 3") && stderr.contains("invalid_email"), "{stderr}");

    // Again: nothing twice.
    let out = peyvand()
        .args(["import", "contact"])
        .arg(&csv)
        .args(["--dedupe-by", "emails", "--database-url", &url])
        .output()
        .expect("run");
    // The row is found by its e-mail.
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 0, updated 0, skipped 1"));

    let exported = dir.join("out.csv");
    let out = peyvand()
        .args(["export", "contact", "--columns", "first_name,last_name,emails", "--database-url", &url, "--output"])
        .arg(&exported)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&exported).expect("exported");
    assert!(text.starts_with("id,first_name,last_name,emails\r\n"));
    assert!(text.contains(",علی,کریمی,ali@example.ir\r\n"), "{text}");
    let workbook = dir.join("out.xlsx");
    let out = peyvand()
        .args(["export", "contact", "--format", "xlsx", "--database-url", &url, "--output"])
        .arg(&workbook)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&workbook).expect("workbook").starts_with(b"PK"));
    let out = peyvand().args(["export", "contact", "--format", "pdf", "--database-url", &url]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("csv or xlsx"));
    let out = peyvand().args(["export", "contact", "--format", "xlsx", "--database-url", &url]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --output"));
    let out = peyvand()
        .args(["import", "contact"])
        .arg(dir.join("missing.csv"))
        .args(["--database-url", &url])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    test_db.cleanup().await;
}

#[tokio::test]
async fn backup_restore_and_move_to_another_backend() {
    let Some(source) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let Some(restored) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("peyvand-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut add = peyvand()
        .args([
            "user",
            "add",
            "--email",
            "b@test.peyvand.ir",
            "--role",
            "admin",
            "--password-stdin",
            "--database-url",
            &source.url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    add.stdin.take().expect("stdin").write_all(b"backup password\n").expect("write");
    assert!(add.wait().expect("wait").success());
    let backup = dir.join("backup.jsonl");
    let out = peyvand().args(["backup", "--database-url", &source.url, "--output"]).arg(&backup).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Backed up"));
    let out = peyvand().arg("restore").arg(&backup).args(["--database-url", &restored.url]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = peyvand_crm::open(&restored.url).await.expect("open restored");
    assert!(db.user_for_login("b@test.peyvand.ir").await.expect("user").is_some());
    db.close().await;
    // Restoring over data is refused, and says why.
    let out = peyvand().arg("restore").arg(&backup).args(["--database-url", &restored.url]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("target_not_empty"));
    if let Some(pg) = TestDb::new(Backend::Postgres).await {
        let out = peyvand().args(["migrate-data", "--from", &source.url, "--to", &pg.url]).output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("from sqlite to postgres"));
        let db = peyvand_crm::open(&pg.url).await.expect("open postgres");
        assert!(db.user_for_login("b@test.peyvand.ir").await.expect("user").is_some());
        db.close().await;
        pg.cleanup().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    source.cleanup().await;
    restored.cleanup().await;
}

#[test]
fn analytics_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("peyvand-analytics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let csv = dir.join("orders.csv");
    // Deterministic purchase histories: customer i buys every (i % 5 + 1) weeks for a while.
    let mut text = String::from("customer,date,amount\n");
    let start = time::Date::from_calendar_date(2024, time::Month::January, 1).expect("date");
    for i in 0..60 {
        let every = 7 * (i % 5 + 1);
        let purchases = 1 + (i * 7) % 9;
        for k in 0..purchases {
            let day = start + time::Duration::days(i64::from(i * 3 + k * every));
            text.push_str(&format!("c{i},{day},{}\n", 100 + (i * 37 + k * 11) % 400));
        }
    }
    text.push_str("c99,۱۴۰۳/۰۱/۰۱,۲۵۰\n");
    std::fs::write(&csv, &text).expect("write");
    let per_customer = dir.join("clv.csv");
    let out = peyvand()
        .args(["analytics", "clv", "--transactions"])
        .arg(&csv)
        .args(["--calibration-end", "2024-12-31", "--horizon", "26", "--output"])
        .arg(&per_customer)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(summary["customers"], serde_json::json!(61));
    for p in ["r", "alpha", "a", "b"] {
        assert!(summary["bgnbd"]["params"][p].as_f64().is_some_and(|v| v > 0.0 && v.is_finite()), "{summary}");
    }
    assert!(summary["bgnbd"]["log_likelihood"].as_f64().is_some_and(f64::is_finite));
    let rows = std::fs::read_to_string(&per_customer).expect("csv");
    assert!(rows.starts_with("customer,frequency,recency,T,expected_purchases,p_alive,expected_spend,clv\n"));
    assert_eq!(rows.lines().count(), 62);

    let out = peyvand().args(["analytics", "rfm", "--transactions"]).arg(&csv).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rfm: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rfm["customers"], serde_json::json!(61));
    let counted: u64 =
        rfm["segments"].as_object().expect("segments").values().filter_map(serde_json::Value::as_u64).sum();
    assert_eq!(counted, 61);

    let out = peyvand()
        .args(["analytics", "forecast", "--transactions"])
        .arg(&csv)
        .args(["--period", "week", "--horizon", "4", "--season", "4"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(f["forecast"].as_array().map(Vec::len), Some(4));
    assert!(f["forecast"][0]["low"].as_f64() <= f["forecast"][0]["value"].as_f64());
    assert!(f["model"]["aic"].as_f64().is_some_and(f64::is_finite), "{f}");
    assert!(f["backtest"]["model"]["mae"].as_f64().is_some());

    std::fs::write(&csv, "customer,date,amount\nc1,yesterday,10\n").expect("write");
    let out = peyvand().args(["analytics", "rfm", "--transactions"]).arg(&csv).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("row 2"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 24, items 13 and 14: the analytics commands read Peyvand's own order export as it is
/// (money cells like `132458000 IRR`, relations as `title [id]`, instants), leave out orders
/// cancelled or returned, leave out a last period that has only begun, and forecast revenue
/// without going below zero.
#[test]
fn analytics_read_the_crms_own_order_export() {
    let dir = std::env::temp_dir().join(format!("peyvand-order-analytics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}", dir.join("crm.db").display());
    let out = peyvand()
        .args(["generate", "--companies", "20", "--contacts", "200", "--products", "20", "--orders", "3000"])
        .args(["--database-url", &url])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let orders = dir.join("orders.csv");
    let out =
        peyvand().args(["export", "order", "--database-url", &url, "--output"]).arg(&orders).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&orders).expect("csv");
    assert!(text.lines().nth(1).is_some_and(|l| l.contains(" IRR")), "money as exported: {text:.300}");

    let run = |args: &[&str]| {
        let out = peyvand().args(["analytics"]).args(args).arg("--transactions").arg(&orders).output().expect("run");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let rfm = run(&["rfm"]);
    let customers = rfm["customers"].as_u64().expect("customers");
    assert!((50..=200).contains(&customers), "customers who bought: {rfm}");
    let today = time::OffsetDateTime::now_utc().date();
    let calibration_end = (today - time::Duration::days(120)).to_string();
    let clv = run(&["clv", "--calibration-end", &calibration_end, "--horizon", "12"]);
    assert!(clv["bgnbd"]["log_likelihood"].as_f64().is_some_and(f64::is_finite), "{clv}");
    let forecast = run(&["forecast", "--period", "week", "--horizon", "8"]);
    let points = forecast["forecast"].as_array().expect("points");
    assert_eq!(points.len(), 8);
    assert!(points.iter().all(|p| p["low"].as_f64().is_some_and(|low| low >= 0.0)), "{forecast}");
    // The data end on the last order's day, so its week may have only begun: then it is left out.
    let through = forecast["last_period"].as_str().expect("last period").to_string();
    let left_out = forecast["incomplete_period_left_out"].as_str().map(str::to_string);
    // With the data declared complete through a day after the last week, nothing is left out.
    let later = (today + time::Duration::days(14)).to_string();
    let whole = run(&["forecast", "--period", "week", "--horizon", "8", "--through", &later]);
    assert_eq!(whole["incomplete_period_left_out"], serde_json::Value::Null);
    match left_out {
        Some(week) => assert_eq!(whole["last_period"].as_str(), Some(week.as_str()), "{forecast} {whole}"),
        None => assert_eq!(whole["last_period"].as_str(), Some(through.as_str())),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 24, item 20: logs written to a file or a pipe carry no colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = std::env::temp_dir().join(format!("peyvand-plain-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}", dir.join("crm.db").display());
    let out = peyvand().env_remove("NO_COLOR").args(["migrate", "--database-url", &url]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("INFO"), "it logged: {logs}");
    assert!(!logs.contains('\u{1b}'), "no escape codes: {logs:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 27's base: `peyvand jobs list` shows the jobs and the parked events, `peyvand jobs
/// retry` puts a parked one back, and says what is not there.
#[tokio::test]
async fn jobs_are_listed_and_retried_from_the_command_line() {
    let Some(test_db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    let job = db.schedule_job("reminder", None, "2026-01-01T00:00:00Z", &serde_json::json!({})).await.expect("job");
    for _ in 0..peyvand_store::events::MAX_ATTEMPTS {
        let claimed =
            db.claim_due_jobs("cli-test", time::Duration::seconds(30), 1, &["reminder"]).await.expect("claim");
        if claimed.is_empty() {
            sqlx::query("UPDATE scheduled_jobs SET run_at = '2026-01-01T00:00:00Z' WHERE id = $1")
                .bind(job.clone())
                .execute(db.pool())
                .await
                .expect("due");
            db.claim_due_jobs("cli-test", time::Duration::seconds(30), 1, &["reminder"]).await.expect("claim");
        }
        db.finish_job(&job, "cli-test", Some("no SMTP server")).await.expect("failed");
    }
    db.close().await;
    let out =
        peyvand().args(["jobs", "list", "--status", "parked", "--database-url", &test_db.url]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&job) && listed.contains("parked") && listed.contains("no SMTP server"), "{listed}");
    let out = peyvand().args(["jobs", "retry", &job, "--database-url", &test_db.url]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out =
        peyvand().args(["jobs", "list", "--status", "pending", "--database-url", &test_db.url]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&job), "pending again");
    let out = peyvand().args(["jobs", "retry", "mailer:99", "--database-url", &test_db.url]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("parked event 99 of mailer"));
    test_db.cleanup().await;
}

/// Starts `peyvand serve` on `url` (instances take over a stopped one's jobs after 2 s) and
/// returns it with its address; its logs are read on a thread of their own.
fn serve(url: &str) -> (std::process::Child, String) {
    let mut server = peyvand()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .env("PEYVAND_TAKEOVER_SECONDS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut lines = BufReader::new(server.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").expect("line");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (server, addr)
}

/// Reminders and assignments survive a dying server: an admin gives a rep 300 tasks due in a
/// few seconds, each with a reminder; a server is killed (SIGKILL) while its event consumer tells
/// the rep of the assignments, the next one while its scheduler sends the reminders, and a third
/// finishes: the rep is told of each task exactly twice (assigned, reminded), nothing lost,
/// nothing repeated.
async fn reminders_survive_the_server_being_killed(backend: Backend) {
    const TASKS: i64 = 300;
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let url = test_db.url.clone();
    let db = peyvand_crm::open(&url).await.expect("open");
    let role = peyvand_records::access::Role::Agent;
    let rep = db.create_user("rep@kill.peyvand.ir", "Rep", role, "x", "fa").await.expect("user").id;
    let admin = db.create_user("admin@kill.peyvand.ir", "Admin", peyvand_records::access::Role::Admin, "x", "fa").await;
    let admin = admin.expect("admin").id;
    // The consumer is known before the tasks are made (a new one starts at the stream's end).
    db.register_consumer("notifications.assignments", false).await.expect("consumer");
    let due = time::OffsetDateTime::now_utc() + time::Duration::seconds(15);
    let due = peyvand_records::value::format_datetime(due);
    for i in 0..TASKS {
        let fields = serde_json::json!({"subject": format!("Call customer {i}"), "due_at": due, "reminders": ["at_time"],
            "owner": rep});
        db.create_record(Some(&admin), "task", fields.as_object().expect("map"), None).await.expect("task");
    }
    let told = async |kind: &str| -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notifications WHERE kind = $1")
            .bind(kind.to_string())
            .fetch_one(db.pool())
            .await
            .expect("count")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let kill_once = async |kind: &str| {
        let (mut server, _) = serve(&url);
        while told(kind).await == 0 {
            assert!(std::time::Instant::now() < deadline, "no {kind} notification came");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let status = Command::new("kill").args(["-KILL", &server.id().to_string()]).status().expect("kill");
        assert!(status.success());
        server.wait().expect("wait");
        told(kind).await
    };
    let assigned_at_kill = kill_once("assigned").await;
    assert!(assigned_at_kill < TASKS, "killed mid-stream: {assigned_at_kill} of {TASKS} assignments told");
    let reminded_at_kill = kill_once("reminder").await;
    assert!(reminded_at_kill < TASKS, "killed mid-stream: {reminded_at_kill} of {TASKS} reminders out");

    let (mut last, _) = serve(&url);
    while told("assigned").await < TASKS || told("reminder").await < TASKS {
        assert!(
            std::time::Instant::now() < deadline,
            "after the restarts: {} assigned, {} reminded",
            told("assigned").await,
            told("reminder").await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Past the dead instances' leases and claims: nothing more comes, nobody was told twice.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!((told("assigned").await, told("reminder").await), (TASKS, TASKS));
    let twice: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT kind, link FROM notifications GROUP BY kind, link HAVING COUNT(*) > 1) AS repeated",
    )
    .fetch_one(db.pool())
    .await
    .expect("count");
    assert_eq!(twice, 0, "a task's owner told twice of the same thing");
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM scheduled_jobs WHERE kind = 'reminder' AND status <> 'done'")
            .fetch_one(db.pool())
            .await
            .expect("count");
    assert_eq!(left, 0, "every reminder done, none parked");
    assert!(db.parked_events().await.expect("parked").is_empty(), "no event parked");
    let status = Command::new("kill").args(["-TERM", &last.id().to_string()]).status().expect("kill");
    assert!(status.success());
    assert!(last.wait().expect("wait").success());
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn reminders_survive_the_server_being_killed_sqlite() {
    reminders_survive_the_server_being_killed(Backend::Sqlite).await;
}

#[tokio::test]
async fn reminders_survive_the_server_being_killed_postgres() {
    reminders_survive_the_server_being_killed(Backend::Postgres).await;
}

/// Issue 30: workflows survive a dying server. A workflow e-mails each new contact (through a
/// real SMTP server) and calls a webhook (a real receiver); 60 contacts are made, the server is
/// killed (SIGKILL) while the messages go out, and a second one finishes: every run completes,
/// every contact got its e-mail and every webhook its call, and a message sent again carries
/// the same event id.
async fn workflows_survive_the_server_being_killed(backend: Backend) {
    use peyvand_crm::automation::{mail, templates, workflows};
    const CONTACTS: usize = 60;
    let Some(smtp) = peyvand_crm::testing::SmtpServer::start(None).await else { return };
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let url = test_db.url.clone();
    let db = peyvand_crm::open(&url).await.expect("open");
    // The receiver: every call's event id.
    let got: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let keep = keep.clone();
            async move {
                let id = headers.get("peyvand-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                keep.lock().expect("lock").push(id);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let hook_port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let settings = mail::SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.port,
        security: "none".into(),
        from_address: "crm@peyvand.test".into(),
        ..mail::SmtpSettings::default()
    };
    mail::save_smtp(&db, &settings).await.expect("smtp");
    let welcome = templates::TemplateInput {
        name: "Welcome".into(),
        channel: "email".into(),
        object: "contact".into(),
        language: "en".into(),
        subject: "Welcome, {{ record.last_name }}".into(),
        body: "Hello {{ record.last_name }}".into(),
    };
    let t = templates::save(&db, None, &welcome).await.expect("template");
    let flow: workflows::WorkflowInput = serde_json::from_value(serde_json::json!({
        "name": "Welcome", "object": "contact", "enabled": true, "definition": {
            "trigger": {"kind": "created"},
            "steps": [{"kind": "send_email", "template": t.id},
                      {"kind": "call_webhook", "url": format!("http://127.0.0.1:{hook_port}/hook"), "secret": "a-secret-of-sixteen"}]}}))
    .expect("definition");
    let wf = workflows::save(&db, None, None, &flow).await.expect("workflow");
    db.register_consumer("workflows", false).await.expect("consumer");
    for i in 0..CONTACTS {
        let fields =
            serde_json::json!({"last_name": format!("Customer {i}"), "emails": [format!("c{i}@customer.example")]});
        db.create_record(None, "contact", fields.as_object().expect("map"), None).await.expect("contact");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let (mut first, _) = serve(&url);
    while smtp.messages().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no e-mail went out");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let status = Command::new("kill").args(["-KILL", &first.id().to_string()]).status().expect("kill");
    assert!(status.success());
    first.wait().expect("wait");
    let at_kill = smtp.messages().len();
    assert!(at_kill < CONTACTS, "killed mid-stream: {at_kill} of {CONTACTS} sent");

    let (mut second, _) = serve(&url);
    let done = async || -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = $1 AND status = 'done'")
            .bind(wf.id.clone())
            .fetch_one(db.pool())
            .await
            .expect("count")
    };
    let event_ids = |messages: &[String]| -> std::collections::BTreeSet<String> {
        messages
            .iter()
            .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Peyvand-Event-Id: ")).map(|s| s.trim().to_string()))
            .collect()
    };
    loop {
        let sent = event_ids(&smtp.messages());
        let called: std::collections::BTreeSet<String> = got.lock().expect("lock").iter().cloned().collect();
        if done().await == CONTACTS as i64 && sent.len() == CONTACTS && called.len() == CONTACTS {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let runs: Vec<(String, i64)> = sqlx::query_as("SELECT status, COUNT(*) FROM workflow_runs GROUP BY status")
                .fetch_all(db.pool())
                .await
                .expect("runs");
            let jobs: Vec<(String, String, i64)> =
                sqlx::query_as("SELECT kind, status, COUNT(*) FROM scheduled_jobs GROUP BY kind, status")
                    .fetch_all(db.pool())
                    .await
                    .expect("jobs");
            panic!(
                "after the restart: {} runs done, {} e-mails, {} calls; runs {runs:?}; jobs {jobs:?}; parked {:?}",
                done().await,
                sent.len(),
                called.len(),
                db.parked_events().await
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Every e-mail's event id is its run's step, however often it was sent.
    let runs: Vec<String> = sqlx::query_scalar("SELECT id FROM workflow_runs WHERE workflow_id = $1")
        .bind(wf.id.clone())
        .fetch_all(db.pool())
        .await
        .expect("runs");
    let wanted: std::collections::BTreeSet<String> = runs.iter().map(|r| format!("{r}.0")).collect();
    assert_eq!(event_ids(&smtp.messages()), wanted);
    let status = Command::new("kill").args(["-TERM", &second.id().to_string()]).status().expect("kill");
    assert!(status.success());
    assert!(second.wait().expect("wait").success());
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_survive_the_server_being_killed_sqlite() {
    workflows_survive_the_server_being_killed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_survive_the_server_being_killed_postgres() {
    workflows_survive_the_server_being_killed(Backend::Postgres).await;
}
