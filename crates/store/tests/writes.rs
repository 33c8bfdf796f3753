//! Concurrent writers: on SQLite they share commits (group commit); on both backends each one
//! keeps its own outcome — a writer that fails or gives up takes nothing of the others with it.

use peyvand_records::Value;
use peyvand_store::schema::NewField;
use peyvand_store::{Db, Dialect, Error, backend_tests};
use serde_json::json;
use std::time::{Duration, Instant};

backend_tests!(concurrent_writers_keep_their_own_outcome, short_writes_do_not_wait_for_a_long_one);

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
        assert_eq!(writers, 49, "every writer is counted");
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
