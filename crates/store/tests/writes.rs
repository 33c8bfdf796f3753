//! Concurrent writers: on SQLite they share commits (group commit); on both backends each one
//! keeps its own outcome — a writer that fails or gives up takes nothing of the others with it.

use peyvand_records::FieldError;
use peyvand_records::Value;
use peyvand_records::access::Role;
use peyvand_store::schema::NewField;
use peyvand_store::{Db, Dialect, Error};
use serde_json::json;
use std::time::{Duration, Instant};

peyvand_crm::crm_tests!(
    concurrent_writers_keep_their_own_outcome,
    short_writes_do_not_wait_for_a_long_one,
    a_write_answers_with_the_record_as_read_back,
    a_taken_unique_value_is_named_whichever_check_finds_it,
    writes_in_flight_never_wait_for_a_connection_to_read_the_catalog,
    a_security_entry_waits_out_a_long_write
);

/// A write held longer than the writers' queue waits (on SQLite: a rollup filled on a large
/// database held it for 9 s, and a sign-in's entry was lost) does not cost the security log
/// its entry: it is tried again once the writers are free.
async fn a_security_entry_waits_out_a_long_write(db: &Db) {
    let long = db.write_long().await.expect("a long write");
    let logging = tokio::spawn({
        let db = db.clone();
        async move {
            let details = json!({"note": "during a long write"});
            db.log_security(peyvand_store::security::Kind::SignIn, None, Some("someone"), None, details).await;
        }
    });
    // Past the queue's limit (10 s) on SQLite; PostgreSQL's writers do not queue.
    tokio::time::sleep(Duration::from_secs(11)).await;
    long.commit().await.expect("the long write ends");
    logging.await.expect("logged");
    let log = db.security_log(None, None, None, 10).await.expect("the log");
    assert!(log.iter().any(|e| e.details["note"] == "during a long write"), "{log:?}");
}

async fn concurrent_writers_keep_their_own_outcome(db: &Db) {
    let code: NewField = serde_json::from_value(json!({
        "api_name": "code", "label_fa": "کد", "label_en": "Code", "type": "text", "unique": true
    }))
    .expect("field json");
    db.add_field(None, "contact", code).await.expect("add a unique field");

    // Alone (the first writer of its transaction, on SQLite without a savepoint of its own):
    // given up, nothing is kept; committed, everything is.
    let obj = db.object("contact").await.expect("contact");
    let last_name = obj.field("last_name").expect("last_name");
    let mut tx = db.write().await.expect("write");
    let dropped = db.create_in(&mut tx, None, &obj, &[(last_name, Value::Text("Alone".into()))]).await.expect("insert");
    drop(tx);
    let mut tx = db.write().await.expect("write");
    let kept = db.create_in(&mut tx, None, &obj, &[(last_name, Value::Text("Alone".into()))]).await.expect("insert");
    tx.commit().await.expect("commit");
    assert!(matches!(db.get_record("contact", &dropped, true).await, Err(Error::NotFound(_))));
    assert!(db.get_record("contact", &kept, false).await.is_ok());

    let before = db.write_counts();

    // 40 writers that commit (two of them with the same unique code), 8 that give up half-way.
    let mut committing = Vec::new();
    for i in 0..40 {
        let db = db.clone();
        let code = if i == 7 || i == 23 { "DUP".to_string() } else { format!("C{i}") };
        committing.push(tokio::spawn(async move {
            let fields = json!({ "last_name": format!("Writer {i}"), "code": code });
            db.create_record(None, "contact", fields.as_object().expect("map"), None).await.map(|(r, _)| r.id)
        }));
    }
    let mut giving_up = Vec::new();
    for i in 0..8 {
        let db = db.clone();
        giving_up.push(tokio::spawn(async move {
            let obj = db.object("contact").await.expect("contact");
            let last_name = obj.field("last_name").expect("last_name");
            let mut tx = db.write().await.expect("write");
            let id = db
                .create_in(&mut tx, None, &obj, &[(last_name, Value::Text(format!("Abandoned {i}")))])
                .await
                .expect("insert");
            drop(tx);
            id
        }));
    }

    let mut created = Vec::new();
    let mut conflicts = 0;
    for task in committing {
        match task.await.expect("task") {
            Ok(id) => created.push(id),
            Err(Error::Conflict { code: "not_unique", .. }) => conflicts += 1,
            Err(e) => panic!("a writer failed: {e:?}"),
        }
    }
    let mut abandoned = Vec::new();
    for task in giving_up {
        abandoned.push(task.await.expect("task"));
    }
    // One more write waits for every earlier writer, including the undoing of those that gave up.
    db.write().await.expect("write").commit().await.expect("commit");

    assert_eq!(conflicts, 1, "exactly one of the two writers of the same code is refused");
    assert_eq!(created.len(), 39);
    for id in &created {
        let record = db.get_record("contact", id, false).await.expect("every committed record is stored");
        assert!(record.fields["last_name"].as_str().is_some_and(|n| n.starts_with("Writer ")));
    }
    for id in &abandoned {
        assert!(
            matches!(db.get_record("contact", id, true).await, Err(Error::NotFound(_))),
            "a writer that gave up left nothing behind"
        );
    }
    let after = db.write_counts();
    if db.dialect() == Dialect::Sqlite {
        let (writers, commits) = (after.writers - before.writers, after.commits - before.commits);
        // 40 + 8 + the last; the refused duplicate counts only if it got as far as writing (a
        // check before the write refuses it when its twin has committed already).
        assert!(writers == 49 || (writers == 48 && conflicts == 1), "every writer is counted: {writers}");
        assert!(commits < 40, "writers that queued together shared commits: {commits} commits for {writers} writers");
    }
}

/// A short write that finishes while a long one (a schema change, an import batch) queues behind
/// it is answered at once, not after the long one: on SQLite the long writer commits the group
/// it finds before it starts.
async fn short_writes_do_not_wait_for_a_long_one(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let last_name = obj.field("last_name").expect("last_name");
    let mut short = db.write().await.expect("write");
    let id = db.create_in(&mut short, None, &obj, &[(last_name, Value::Text("Quick".into()))]).await.expect("insert");
    let long = {
        let db = db.clone();
        tokio::spawn(async move {
            let obj = db.object("contact").await.expect("contact");
            let last_name = obj.field("last_name").expect("last_name");
            let mut tx = db.write_long().await.expect("write");
            db.create_in(&mut tx, None, &obj, &[(last_name, Value::Text("Slow".into()))]).await.expect("insert");
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            tx.commit().await.expect("commit");
        })
    };
    // Let the long writer queue behind the short one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    short.commit().await.expect("commit");
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(1_000), "the short write waited {waited:?} for the long one");
    assert!(db.get_record("contact", &id, false).await.is_ok(), "and it is stored when answered");
    long.await.expect("long writer");
}

/// Create and update answer with the record made from what they wrote, without reading it back;
/// it must be exactly what a read gives, for every kind of value (normalized input included).
async fn a_write_answers_with_the_record_as_read_back(db: &Db) {
    for field in [
        json!({"api_name": "budget", "type": "currency"}),
        json!({"api_name": "ratio", "type": "decimal"}),
        json!({"api_name": "active", "type": "boolean"}),
        json!({"api_name": "visits", "type": "integer"}),
        json!({"api_name": "stars", "type": "rating"}),
        json!({"api_name": "since", "type": "date"}),
        json!({"api_name": "seen_at", "type": "datetime"}),
        json!({"api_name": "site", "type": "url"}),
        json!({"api_name": "national_code", "type": "national_id"}),
        json!({"api_name": "grade", "type": "select", "options": {"options": [{"value": "gold"}, {"value": "silver"}]}}),
        json!({"api_name": "level", "type": "integer", "default_value": 3}),
    ] {
        db.add_field(None, "contact", serde_json::from_value(field).expect("field")).await.expect("add field");
    }
    let user = db.create_user("owner@example.ir", "مالک", Role::Agent, "x", "fa").await.expect("user");
    let company = json!({"name": "شرکت كيان"});
    let (company, _) =
        db.create_record(Some(&user.id), "company", company.as_object().expect("map"), None).await.expect("company");
    let input = json!({
        "first_name": "علي", "last_name": "كريمي", "city": "",
        "emails": ["Sara@Example.IR"], "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷"], "tags": ["VIP", "ویژه"],
        "budget": {"amount": "۱۲۵۰", "currency": "USD"}, "ratio": "۳٫۲۵", "active": true, "visits": "۴۲",
        "stars": 4, "since": "1403-01-01", "seen_at": "2025-01-02T06:34:05.123456+03:30",
        "site": "example.ir", "national_code": "0499370899", "grade": "gold",
        "company": company.id, "owner": user.id,
    });
    let (created, fresh) =
        db.create_record(Some(&user.id), "contact", input.as_object().expect("map"), None).await.expect("create");
    assert!(fresh);
    let read = db.get_record("contact", &created.id, false).await.expect("read");
    assert_eq!(created, read, "a create answers with the record as stored");
    assert_eq!(created.fields["level"], json!(3), "the default is in the answer");

    let changes = json!({
        "tags": [], "emails": ["a@example.ir", "b@example.ir"], "budget": null, "since": "2024-03-20",
        "last_name": "رضایی", "active": false, "company": null, "visits": 43,
    });
    let updated = db
        .update_record(None, "contact", &created.id, changes.as_object().expect("map"), Some(created.version))
        .await
        .expect("update");
    let read = db.get_record("contact", &created.id, false).await.expect("read");
    assert_eq!(updated, read, "an update answers with the record as stored");
    assert_eq!(updated.version, created.version + 1);
    assert_eq!(updated.title, "علي رضایی", "the title from the new values, letters as typed");
    let same = db
        .update_record(None, "contact", &created.id, changes.as_object().expect("map"), None)
        .await
        .expect("an update that changes nothing");
    assert_eq!(same, read, "changing nothing answers with the record unchanged");
}

/// A unique value already taken is refused with the field named, whether the check before the
/// write finds it or (two writers at once) only the unique index does; for single- and
/// multi-valued fields alike.
async fn a_taken_unique_value_is_named_whichever_check_finds_it(db: &Db) {
    for field in [
        json!({"api_name": "code", "type": "text", "unique": true}),
        json!({"api_name": "cards", "type": "phone", "unique": true, "options": {"multiple": true}}),
    ] {
        db.add_field(None, "contact", serde_json::from_value(field).expect("field")).await.expect("add field");
    }
    let first = json!({"last_name": "یکم", "code": "A-1", "cards": ["09120000001"]});
    db.create_record(None, "contact", first.as_object().expect("map"), None).await.expect("first");
    let refused_field = |result: Result<_, Error>| match result {
        Err(Error::Conflict { code: "not_unique", details }) => {
            details.iter().map(|d: &FieldError| d.field.clone()).collect::<Vec<_>>()
        }
        other => panic!("expected a not_unique conflict, got {other:?}"),
    };
    let same_code = json!({"last_name": "دوم", "code": "A-1"});
    let result = db.create_record(None, "contact", same_code.as_object().expect("map"), None).await;
    assert_eq!(refused_field(result.map(|_| ())), ["code"]);
    let same_card = json!({"last_name": "سوم", "cards": ["0912 000 0001", "09120000002"]});
    let result = db.create_record(None, "contact", same_card.as_object().expect("map"), None).await;
    assert_eq!(refused_field(result.map(|_| ())), ["cards"]);

    // Two writers of the same new values at once: at most one check before the write can see the
    // other, so the index refuses the loser, and the message still names the fields.
    let mut writers = Vec::new();
    for i in 0..2 {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            let input = json!({"last_name": format!("هم‌زمان {i}"), "code": "B-2", "cards": ["09120000003"]});
            db.create_record(None, "contact", input.as_object().expect("map"), None).await.map(|_| ())
        }));
    }
    let mut outcomes = Vec::new();
    for w in writers {
        outcomes.push(w.await.expect("task"));
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    let refused = outcomes.into_iter().find(Result::is_err).expect("one refused");
    let fields = refused_field(refused);
    assert!(!fields.is_empty() && fields.iter().all(|f| f == "code" || f == "cards"), "{fields:?}");
}

/// A write in progress does not ask the pool for another connection to see whether the catalog
/// changed: on PostgreSQL every open write transaction holds a connection of the one pool, and
/// with all of them held by writes waiting for one more, the pool starved for its timeout. Here
/// as many transactions as the pool has connections (SQLite: its one writer) outlive the
/// catalog's cache and then create records, and must not wait.
async fn writes_in_flight_never_wait_for_a_connection_to_read_the_catalog(db: &Db) {
    let company = json!({"name": "هدف"});
    let (company, _) =
        db.create_record(None, "company", company.as_object().expect("map"), None).await.expect("company");
    let obj = db.object("contact").await.expect("contact");
    let writers = if db.dialect() == Dialect::Postgres { 16 } else { 1 };
    let mut open = Vec::new();
    for _ in 0..writers {
        open.push(db.write().await.expect("write"));
    }
    // Longer than the catalog is trusted without asking the database (500 ms).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let last_name = obj.field("last_name").expect("last_name").clone();
    let company_field = obj.field("company").expect("company").clone();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut tx) in open.into_iter().enumerate() {
        let (db, obj, last_name, company_field, company_id) =
            (db.clone(), obj.clone(), last_name.clone(), company_field.clone(), company.id.clone());
        tasks.push(tokio::spawn(async move {
            let values = [(&last_name, Value::Text(format!("در راه {i}"))), (&company_field, Value::Text(company_id))];
            let id = db.create_in(&mut tx, None, &obj, &values).await?;
            tx.commit().await?;
            Ok::<String, Error>(id)
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("a write with a reference, the catalog's cache expired");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the writes waited {:?}", started.elapsed());
}
