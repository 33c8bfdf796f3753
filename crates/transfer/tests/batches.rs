//! Imports of plainly new records (on SQLite through the bulk-load connection): a file run twice
//! at once, or again after a first run, creates each record once (rows by their key, rows without
//! one by the import log); rows whose key a record (or an earlier row) already holds are
//! de-duplicated; rows the batch refuses are named, and the others of their batch still go in. On
//! both backends.

use peyvand_store::Db;
use peyvand_store::testing::{Backend, TestDb};
use peyvand_transfer::{ImportOptions, import_csv};
use sqlx::Row;
use std::path::PathBuf;

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("peyvand-transfer-tests");
    std::fs::create_dir_all(&dir).expect("dir");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let path = dir.join(format!("{nanos:x}-{name}"));
    std::fs::write(&path, text).expect("write");
    path
}

/// Contacts `from..to`, one per row: a last name, an e-mail, a city; `bad` rows get an e-mail
/// that is not one.
fn contacts(from: usize, to: usize, bad: &[usize]) -> String {
    let mut csv = String::from("last_name,emails,city\r\n");
    for i in from..to {
        let email = if bad.contains(&i) { format!("broken{i}") } else { format!("p{i}@example.ir") };
        csv.push_str(&format!("رضایی {i},{email},{}\r\n", ["تهران", "Tabriz"][i % 2]));
    }
    csv
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(db.pool()).await.expect("count").get(0)
}

fn options() -> ImportOptions {
    let mut opts = ImportOptions::new("contact");
    opts.dedupe_by = Some("emails".into());
    opts.batch_size = 50;
    opts
}

async fn plain_batches(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    let opts = options();

    // The same file twice at once: every row is created by one of the two, never by both.
    let first = file("first.csv", &contacts(0, 600, &[7, 420]));
    let (a, b) =
        tokio::join!(import_csv(&db, None, &first, &opts, |_| {}), import_csv(&db, None, &first, &opts, |_| {}));
    let (a, b) = (a.expect("first import"), b.expect("second import"));
    assert_eq!(a.created + b.created, 598, "{a:?} {b:?}");
    assert_eq!(a.failed, 2, "both bad rows are named by each run: {a:?}");
    assert_eq!(b.failed, 2, "{b:?}");
    // The other run found each row's record by its e-mail.
    assert_eq!(a.skipped + b.skipped, 598, "{a:?} {b:?}");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM r_contact").await, 598);
    let named: Vec<(usize, Option<String>)> = a.errors.iter().map(|e| (e.row, e.field.clone())).collect();
    assert_eq!(named, vec![(9, Some("emails".to_string())), (422, Some("emails".to_string()))]);
    // Every record has its history entry, which is its event, pending; none an import-log row, as
    // every row is known by its e-mail.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit_log").await, 598);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit_log WHERE published_at IS NULL").await, 598);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM import_log").await, 0);
    assert_eq!(db.search("p599@example.ir", 5).await.expect("search").len(), 1);

    // Run again: nothing new.
    let again = import_csv(&db, None, &first, &opts, |_| {}).await.expect("again");
    assert_eq!((again.created, again.skipped, again.failed), (0, 598, 2), "{again:?}");

    // Another file with some of the same people (other rows, so not in the import log): those
    // are skipped by e-mail (any of a row's e-mails), the new ones go in, and a person twice
    // in the file once.
    let mut second = contacts(550, 700, &[]).replace("رضایی", "Rezaei");
    second.push_str("Twice,p650@example.ir,Tabriz\r\n");
    // Known by the second of its e-mails.
    second.push_str("Known,fresh@example.ir;p560@example.ir,Tabriz\r\n");
    let second = file("second.csv", &second);
    let report = import_csv(&db, None, &second, &opts, |_| {}).await.expect("second file");
    assert_eq!((report.created, report.skipped, report.failed), (100, 52, 0), "{report:?}");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM r_contact").await, 698);
    let kept: String = sqlx::query("SELECT c_last_name FROM r_contact r JOIN record_values v ON v.record_id = r.id WHERE v.value_norm = 'p560@example.ir'")
        .fetch_one(db.pool())
        .await
        .expect("p560")
        .get(0);
    assert_eq!(kept, "رضایی 560", "a skipped duplicate leaves the record as it was");

    // Rows without an e-mail have no key of their own: the import log keeps them (and only them),
    // so a second run, whole batches of them at once, creates none again.
    let mut unkeyed = String::from(
        "last_name,emails,city
",
    );
    for i in 0..120 {
        let email = if i % 24 == 5 { format!("k{i}@example.ir") } else { String::new() };
        unkeyed.push_str(&format!(
            "بی‌نشانی {i},{email},Tabriz
"
        ));
    }
    let unkeyed = file("unkeyed.csv", &unkeyed);
    let report = import_csv(&db, None, &unkeyed, &opts, |_| {}).await.expect("rows without a key");
    assert_eq!((report.created, report.failed), (120, 0), "{report:?}");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM import_log").await, 115);
    let again = import_csv(&db, None, &unkeyed, &opts, |_| {}).await.expect("again");
    assert_eq!((again.created, again.already_imported, again.skipped), (0, 115, 5), "{again:?}");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM r_contact").await, 818);
    // Creating duplicates on purpose, every row is logged: run again, nothing twice.
    let mut create = options();
    create.on_duplicate = peyvand_transfer::OnDuplicate::Create;
    let both = file("both.csv", "last_name,emails\r\nOne,p1@example.ir\r\nNone,\r\n");
    let report = import_csv(&db, None, &both, &create, |_| {}).await.expect("create");
    assert_eq!(report.created, 2, "p1 again, on purpose: {report:?}");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM import_log").await, 117);
    let again = import_csv(&db, None, &both, &create, |_| {}).await.expect("create again");
    assert_eq!((again.created, again.already_imported), (0, 2), "{again:?}");
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn plain_batches_sqlite() {
    plain_batches(Backend::Sqlite).await;
}

#[tokio::test]
async fn plain_batches_postgres() {
    plain_batches(Backend::Postgres).await;
}

/// A batch the database refuses (here a unique code a record already holds; on SQLite checked on
/// the reading thread while the batch before is written) goes in row by row: the row is named,
/// the rest of its batch is created, and the batches before and after go in whole.
async fn a_batch_the_database_refuses(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    let code =
        serde_json::json!({"api_name": "code", "label_fa": "کد", "label_en": "Code", "type": "text", "unique": true});
    db.add_field(None, "contact", serde_json::from_value(code).expect("field")).await.expect("unique field");
    let held = serde_json::json!({"last_name": "Held", "code": "K75"});
    db.create_record(None, "contact", held.as_object().expect("input"), None).await.expect("holder");
    let mut csv = String::from("last_name,emails,code\r\n");
    for i in 0..200 {
        // Every fourth row has no e-mail: the import log keeps those.
        let email = if i % 4 == 0 { String::new() } else { format!("q{i}@example.ir") };
        csv.push_str(&format!("رضایی {i},{email},K{}\r\n", if i == 75 { 75 } else { 1000 + i }));
    }
    let report = import_csv(&db, None, &file("codes.csv", &csv), &options(), |_| {}).await.expect("import");
    assert_eq!((report.created, report.failed), (199, 1), "{report:?}");
    let named: Vec<(usize, Option<String>)> = report.errors.iter().map(|e| (e.row, e.field.clone())).collect();
    assert_eq!(named, vec![(77, Some("code".to_string()))], "{report:?}");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM r_contact").await, 200);
    // Those of the refused batch too, written row by row.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM import_log").await, 50);
    let refused_batch: i64 = sqlx::query(
        "SELECT COUNT(*) FROM import_log l JOIN r_contact r ON r.id = l.record_id WHERE r.c_code IN ('K1052', 'K1056', 'K1096')",
    )
    .fetch_one(db.pool())
    .await
    .expect("count")
    .get(0);
    assert_eq!(refused_batch, 3);
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn a_batch_the_database_refuses_sqlite() {
    a_batch_the_database_refuses(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_batch_the_database_refuses_postgres() {
    a_batch_the_database_refuses(Backend::Postgres).await;
}

/// Issue 25: a rep's import goes through the engine's access checks: a new record is theirs (or
/// a teammate's, by e-mail), one given outside the team is refused, and an update of a record of
/// another team is refused for that row alone.
async fn a_reps_import_obeys_their_reach(backend: Backend) {
    use peyvand_records::access::Role;
    use peyvand_store::access::TeamInput;
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    let user = async |email: &str| db.create_user(email, email, Role::Agent, "x", "en").await.expect("user").id;
    let (rep, mate, other) = (user("rep@x.ir").await, user("mate@x.ir").await, user("other@x.ir").await);
    let team = TeamInput { name: "North".into(), members: vec![rep.clone(), mate.clone()], ..Default::default() };
    db.create_team(&team).await.expect("team");
    let theirs = serde_json::json!({ "last_name": "Theirs", "emails": ["theirs@x.ir"], "owner": other });
    db.create_record(None, "contact", theirs.as_object().expect("object"), None).await.expect("theirs");
    let scoped = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    let csv = "last_name,emails,owner\r\nMine,mine@x.ir,\r\nMate's,mates@x.ir,mate@x.ir\r\nGiven away,away@x.ir,other@x.ir\r\nTheirs again,theirs@x.ir,\r\n";
    let mut opts = options();
    opts.on_duplicate = peyvand_transfer::OnDuplicate::Update;
    let report = import_csv(&scoped, Some(&rep), &file("reach.csv", csv), &opts, |_| {}).await.expect("import");
    assert_eq!((report.created, report.updated, report.failed), (2, 0, 2), "{report:?}");
    let codes: Vec<(usize, &str)> = report.errors.iter().map(|e| (e.row, e.code.as_str())).collect();
    assert_eq!(codes, [(4, "owner_out_of_reach"), (5, "record_out_of_reach")]);
    let owner_of = async |last: &str| {
        let sql = "SELECT c_owner FROM r_contact WHERE c_last_name = $1";
        sqlx::query(sql).bind(last.to_string()).fetch_one(db.pool()).await.expect("row").get::<String, _>(0)
    };
    assert_eq!(owner_of("Mine").await, rep);
    assert_eq!(owner_of("Mate's").await, mate);
    assert_eq!(owner_of("Theirs").await, other, "not changed");
}

#[tokio::test]
async fn a_reps_import_obeys_their_reach_sqlite() {
    a_reps_import_obeys_their_reach(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_reps_import_obeys_their_reach_postgres() {
    a_reps_import_obeys_their_reach(Backend::Postgres).await;
}
