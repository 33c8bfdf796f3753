//! Bulk writes through the bulk-load connection (`Db::write_native`: rusqlite on SQLite, `COPY`
//! on PostgreSQL): the same rows as sqlx's bulk path (records, e-mail members, search terms, history, events, rollups), checked the same way,
//! and never in the way of this process's other writers.

use peyvand_records::aggregate::parse_aggregate;
use peyvand_records::filter::parse_filter;
use peyvand_records::{FieldDef, Value};
use peyvand_store::aggregate::Source;
use peyvand_store::{Absent, Db, Dialect, Error, PreparedRecords, WrittenIds};
use sqlx::Row;

peyvand_crm::crm_tests!(
    native_writes_are_bulk_writes,
    native_batches_look_before_they_write,
    a_batch_checked_ahead_is_written_after,
    written_rows_go_back_to_be_freed,
    references_to_records_the_load_wrote_are_not_looked_up,
    native_reads_see_every_commit_and_never_write,
    derived_values_reach_live_records_only
);

/// Contacts `from..to`: a name, an e-mail (a multi-valued field), a city and a unique code.
fn contacts(obj: &peyvand_records::ObjectDef, from: usize, to: usize) -> Vec<Vec<(&FieldDef, Value)>> {
    let field = |name: &str| obj.field(name).expect("field");
    (from..to)
        .map(|i| {
            vec![
                (field("first_name"), Value::Text("سارا".into())),
                (field("last_name"), Value::Text(format!("رضایی {}", i % 3))),
                (field("emails"), Value::List(vec![format!("n{i}x@example.ir")])),
                (field("city"), Value::Text(["تهران", "شیراز", "Kish"][i % 3].into())),
                (field("code"), Value::Text(format!("C{i}x"))),
            ]
        })
        .collect()
}

/// What a contact's rows in the shared tables say, without its id and times: its search terms,
/// e-mail members, history entry and event.
async fn shape(db: &Db, id: &str) -> (Vec<String>, Vec<String>, String, String) {
    let texts = async |sql: &str| -> Vec<String> {
        let mut all: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(id.to_string())
            .fetch_all(db.pool())
            .await
            .expect("read")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        all.sort();
        all
    };
    let terms = texts("SELECT term || ' ' || object FROM search_terms WHERE record_id = $1").await;
    let members = texts("SELECT value_norm FROM record_values WHERE record_id = $1").await;
    let audit = texts("SELECT action || ' ' || changes_json FROM audit_log WHERE record_id = $1").await;
    let events = texts("SELECT action FROM audit_log WHERE record_id = $1 AND published_at IS NULL").await;
    assert_eq!((audit.len(), events.len()), (1, 1), "one history entry and one event per record");
    (terms, members, audit[0].replace(id, "ID"), events[0].clone())
}

async fn native_writes_are_bulk_writes(db: &Db) {
    let mut writer = db.native_writer().await.expect("writer").expect("a database on disk or a server has one");
    let code = serde_json::json!({"api_name": "code", "type": "text", "unique": true});
    db.add_field(None, "contact", serde_json::from_value(code).expect("field")).await.expect("unique field");
    db.create_rollup(None, "contact", "city", "").await.expect("rollup");
    let obj = db.object("contact").await.expect("contact");

    // The same contacts (but their numbers) once through sqlx, once natively.
    let mut tx = db.write_long().await.expect("write");
    let by_sqlx = db.create_many(&mut tx, None, &obj, &contacts(&obj, 0, 300)).await.expect("sqlx batch");
    tx.commit().await.expect("commit");
    // Single creates keep coming while native batches are written: none fails or waits forever.
    let creating = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let fields = serde_json::json!({"last_name": format!("تک {i}"), "city": "تهران"});
                db.create_record(None, "contact", fields.as_object().expect("fields"), None).await.expect("create");
            }
        })
    };
    let mut natively = Vec::new();
    for (from, to) in [(300, 450), (450, 600)] {
        let prepared = PreparedRecords::native(None, &obj, &contacts(&obj, from, to)).expect("prepare");
        natively.extend(db.write_native(&mut writer, prepared).await.expect("native batch"));
    }
    creating.await.expect("single creates");
    assert_eq!((by_sqlx.len(), natively.len()), (300, 300));
    for (i, (a, b)) in by_sqlx.iter().zip(&natively).enumerate() {
        // Record i and record 300 + i differ only in their number.
        let renumber = |s: &String| {
            let mut s = s.clone();
            for (from, to) in [("n", "n"), ("C", "C"), ("c", "c")] {
                s = s.replace(&format!("{from}{i}x"), &format!("{to}{}x", i + 300));
            }
            s
        };
        let (sqlx_shape, native_shape) = (shape(db, a).await, shape(db, b).await);
        let mut terms: Vec<String> = sqlx_shape.0.iter().map(renumber).collect();
        terms.sort();
        let members: Vec<String> = sqlx_shape.1.iter().map(renumber).collect();
        let renumbered = (terms, members, renumber(&sqlx_shape.2), sqlx_shape.3.clone());
        assert_eq!(renumbered, native_shape, "the same rows for {a} and {b}");
        assert!(native_shape.0.len() >= 4, "names, city, e-mail and code are searchable: {:?}", native_shape.0);
        let read = db.get_record("contact", b, false).await.expect("a native record reads like any other");
        assert_eq!(read.fields["emails"][0], format!("n{}x@example.ir", i + 300));
    }
    assert_eq!(db.search("n450x@example.ir", 5).await.expect("search").len(), 1);

    // The rollup followed the native batches as its triggers follow any write.
    let spec = parse_aggregate(&obj, "city", "").expect("spec");
    let everything =
        parse_filter(&obj, &serde_json::json!({"field": "created_at", "op": "gte", "value": "2000-01-01T00:00:00Z"}))
            .expect("filter");
    let scanned = db.aggregate("contact", Some(&everything), &spec).await.expect("scan");
    let rolled = db.aggregate("contact", None, &spec).await.expect("rollup");
    assert_eq!(rolled.source, Source::Rollup);
    assert_eq!(rolled.rows, scanned.rows);

    // Checked as sqlx's batches are: a code already taken refuses the whole batch.
    let prepared = PreparedRecords::native(None, &obj, &contacts(&obj, 590, 610)).expect("prepare");
    let taken = db.write_native(&mut writer, prepared).await;
    assert!(matches!(taken, Err(Error::Conflict { code: "not_unique", .. })), "{taken:?}");
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM r_contact WHERE c_code = 'C605x'")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "nothing of a refused batch is written");
    // Records prepared for sqlx's statements are not written natively by mistake.
    let wrong = PreparedRecords::new(db.dialect(), None, &obj, &contacts(&obj, 700, 701)).expect("prepare");
    assert!(matches!(db.write_native(&mut writer, wrong).await, Err(Error::Config(_))));
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM r_contact").fetch_one(db.pool()).await.expect("count").get(0);
    assert_eq!(total, 640);
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(db.pool()).await.expect("count").get(0)
}

/// A batch that must find nothing (import rows already imported, e-mails already held) writes
/// nothing when it finds something, and otherwise writes its records with their import-log rows;
/// once the writer is finished, everything is in the database file itself, not only in its log.
async fn native_batches_look_before_they_write(db: &Db) {
    let mut writer = db.native_writer().await.expect("writer").expect("a database on disk or a server has one");
    let code = serde_json::json!({"api_name": "code", "type": "text"});
    db.add_field(None, "contact", serde_json::from_value(code).expect("field")).await.expect("field");
    let obj = db.object("contact").await.expect("contact");
    let emails = obj.field("emails").expect("emails").clone();
    let hashes = |from: usize, to: usize| (from..to).map(|i| format!("h{i}")).collect::<Vec<_>>();
    let keys = |from: usize, to: usize| (from..to).map(|i| format!("n{i}x@example.ir")).collect::<Vec<_>>();
    let batch = |from: usize, to: usize| {
        let mut prepared = PreparedRecords::native(None, &obj, &contacts(&obj, from, to)).expect("prepare");
        prepared.log_import("contact", hashes(from, to).into_iter().map(Some).collect()).expect("one row per record");
        let mut absent = Absent::default();
        absent.imported(&hashes(from, to)).values(&obj, &emails, &keys(from, to));
        (prepared, absent)
    };

    let mut two = PreparedRecords::native(None, &obj, &contacts(&obj, 900, 902)).expect("prepare");
    assert!(two.log_import("contact", vec![Some("h900".into())]).is_err(), "two records, one import row");
    let (prepared, absent) = batch(0, 700);
    let ids = db.write_native_unless(&mut writer, prepared, absent).await.expect("write").expect("nothing found");
    assert_eq!(ids.len(), 700);
    let logged: i64 = count(db, "SELECT COUNT(*) FROM import_log l JOIN r_contact r ON r.id = l.record_id").await;
    assert_eq!(logged, 700, "each record with its import row");

    // One import row of the next batch was imported before: nothing of it is written.
    let (prepared, mut absent) = batch(700, 800);
    absent.imported(&["h5".to_string()]);
    assert!(db.write_native_unless(&mut writer, prepared, absent).await.expect("look").is_none());
    // One e-mail of the next batch is held by a record.
    let (prepared, mut absent) = batch(700, 800);
    absent.values(&obj, &emails, &keys(650, 651));
    assert!(db.write_native_unless(&mut writer, prepared, absent).await.expect("look").is_none());
    assert_eq!(count(db, "SELECT COUNT(*) FROM r_contact").await, 700, "nothing of either batch");
    assert_eq!(count(db, "SELECT COUNT(*) FROM import_log").await, 700);
    // A deleted record no longer holds its e-mail. Half of this batch's rows are known by their
    // keys and have no import-log row: only the other half are logged.
    db.delete_record(None, "contact", &ids[650]).await.expect("delete");
    let mut prepared = PreparedRecords::native(None, &obj, &contacts(&obj, 700, 800)).expect("prepare");
    let logged: Vec<Option<String>> = (700..800).map(|i| (i % 2 == 0).then(|| format!("h{i}"))).collect();
    prepared.log_import("contact", logged.clone()).expect("one per record");
    let mut absent = Absent::default();
    absent.imported(&logged.into_iter().flatten().collect::<Vec<_>>()).values(&obj, &emails, &keys(650, 651));
    let more = db.write_native_unless(&mut writer, prepared, absent).await.expect("write");
    assert_eq!(more.map(|ids| ids.len()), Some(100));
    assert_eq!(count(db, "SELECT COUNT(*) FROM import_log").await, 750);
    assert_eq!(count(db, "SELECT COUNT(*) FROM import_log WHERE row_hash = 'h701'").await, 0);
    assert_eq!(count(db, "SELECT COUNT(*) FROM import_log l JOIN r_contact r ON r.id = l.record_id").await, 750);

    writer.finish().await.expect("finish");
    if db.dialect() == Dialect::Postgres {
        return;
    }
    // The database file alone (copied without its log) holds every record.
    let path: String = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_one(db.pool())
        .await
        .expect("path")
        .get(0);
    let copy = format!("{path}-copy");
    std::fs::copy(&path, &copy).expect("copy the file");
    let copied = peyvand_crm::open(&format!("sqlite://{copy}")).await.expect("open the copy");
    assert_eq!(count(&copied, "SELECT COUNT(*) FROM r_contact").await, 800);
    copied.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{copy}{suffix}"));
    }
}

/// A load checks its next batch while this one is written (`Db::check_native`, then
/// `Db::write_checked_native`): a batch that points at records of the object being written says so
/// (`refers_to`), as checked before they are written it would find them missing; a unique value
/// taken after the check is still refused, by the unique index.
async fn a_batch_checked_ahead_is_written_after(db: &Db) {
    let mut writer = db.native_writer().await.expect("writer").expect("a database on disk or a server has one");
    let code = serde_json::json!({"api_name": "code", "type": "text", "unique": true});
    db.add_field(None, "contact", serde_json::from_value(code).expect("field")).await.expect("unique field");
    let company = db.object("company").await.expect("company");
    let name = company.field("name").expect("name");
    let companies = PreparedRecords::native(None, &company, &[vec![(name, Value::Text("پارس".into()))]]).expect("one");
    let made = companies.ids[0].clone();
    let obj = db.object("contact").await.expect("contact");
    let working_at = |from: usize, to: usize| {
        let mut rows = contacts(&obj, from, to);
        for row in &mut rows {
            row.push((obj.field("company").expect("company"), Value::Text(made.clone())));
        }
        PreparedRecords::native(None, &obj, &rows).expect("prepare")
    };
    let staff = working_at(0, 3);
    assert!(staff.refers_to("company") && !staff.refers_to("contact") && !companies.refers_to("company"));

    let early = db.check_native(working_at(0, 3)).await;
    assert!(matches!(early, Err(Error::Validation(_))), "the company is not written yet: {:?}", early.err());
    let companies = db.check_native(companies).await.expect("nothing to point at");
    assert_eq!(db.write_checked_native(&mut writer, companies).await.expect("write"), vec![made.clone()]);
    let staff = db.check_native(staff).await.expect("the company is there now");
    // Checked, then the same code taken before it is written.
    let first = db.check_native(working_at(10, 11)).await.expect("checked");
    let second = db.check_native(working_at(10, 11)).await.expect("checked as well");
    assert_eq!(db.write_checked_native(&mut writer, staff).await.expect("write").len(), 3);
    db.write_checked_native(&mut writer, first).await.expect("the code was free");
    let clash = db.write_checked_native(&mut writer, second).await;
    assert!(matches!(clash, Err(Error::Conflict { code: "not_unique", .. })), "{:?}", clash.err());
    assert_eq!(count(db, "SELECT COUNT(*) FROM r_contact").await, 4, "the batch that clashed wrote nothing");
    writer.finish().await.expect("finish");
}

/// The rows of each batch written go to the receiver the load gave (the thread that made them
/// frees them), one for each batch; with the receiver gone, writing goes on.
async fn written_rows_go_back_to_be_freed(db: &Db) {
    let mut writer = db.native_writer().await.expect("writer").expect("a database on disk or a server has one");
    let (to, spent) = std::sync::mpsc::channel();
    writer.send_spent_to(to);
    let obj = db.object("contact").await.expect("contact");
    let field = |name: &str| obj.field(name).expect("field");
    let batch = |from: usize, to: usize| {
        let rows: Vec<Vec<(&FieldDef, Value)>> =
            (from..to).map(|i| vec![(field("last_name"), Value::Text(format!("رضایی {i}")))]).collect();
        PreparedRecords::native(None, &obj, &rows).expect("prepare")
    };
    assert!(spent.try_recv().is_err(), "nothing written yet");
    assert_eq!(db.write_native(&mut writer, batch(0, 5)).await.expect("write").len(), 5);
    assert!(spent.try_recv().is_ok(), "the first batch's rows came back");
    db.write_native(&mut writer, batch(5, 7)).await.expect("write");
    assert!(spent.try_recv().is_ok(), "and the second's");
    assert!(spent.try_recv().is_err(), "one for each batch");
    drop(spent);
    assert_eq!(db.write_native(&mut writer, batch(7, 9)).await.expect("no receiver: freed here").len(), 2);
    assert_eq!(count(db, "SELECT COUNT(*) FROM r_contact").await, 9);
    writer.finish().await.expect("finish");
}

/// A load notes the records it wrote of the objects its records point at (`WrittenIds`), and
/// `Db::check_native_knowing` does not look those up again: a company the load wrote is taken as
/// live even once trashed (as trashing leaves what points at it), where `Db::check_native` looks it
/// up and refuses it. Anything not noted is looked up as before: a company never written, and
/// records of objects nothing loaded points at, which are not kept.
async fn references_to_records_the_load_wrote_are_not_looked_up(db: &Db) {
    let mut writer = db.native_writer().await.expect("writer").expect("a database on disk or a server has one");
    let code = serde_json::json!({"api_name": "code", "type": "text", "unique": true});
    db.add_field(None, "contact", serde_json::from_value(code).expect("field")).await.expect("unique field");
    let company = db.object("company").await.expect("company");
    let contact = db.object("contact").await.expect("contact");
    let activity = db.object("activity").await.expect("activity");
    let name = company.field("name").expect("name");
    let companies = PreparedRecords::native(None, &company, &[vec![(name, Value::Text("پارس".into()))]]).expect("one");
    let never_written =
        PreparedRecords::native(None, &company, &[vec![(name, Value::Text("البرز".into()))]]).expect("one").ids[0]
            .clone();
    let mut known = WrittenIds::for_targets_of(&[&contact]);
    let made = db.write_native(&mut writer, companies).await.expect("write");
    known.note("company", &made);
    assert!(known.holds("company", &made[0]) && !known.holds("company", &never_written));
    assert!(!known.holds("contact", &made[0]), "noted as a company, not as anything else");
    assert!(!known.holds("company", "not-a-uuid"));
    // Activities are nobody's target among the contacts' fields: not kept.
    let calls = PreparedRecords::native(None, &activity, &[vec![]]).expect("an activity");
    let calls = db.write_native(&mut writer, calls).await.expect("write");
    known.note("activity", &calls);
    assert!(!known.holds("activity", &calls[0]));
    db.delete_record(None, "company", &made[0]).await.expect("trash");

    let working_at = |company: &str| {
        let mut rows = contacts(&contact, 0, 1);
        rows[0].push((contact.field("company").expect("company"), Value::Text(company.to_string())));
        PreparedRecords::native(None, &contact, &rows).expect("prepare")
    };
    let looked_up = db.check_native(working_at(&made[0])).await;
    assert!(matches!(looked_up, Err(Error::Validation(_))), "trashed: {:?}", looked_up.err());
    let checked = db.check_native_knowing(working_at(&made[0]), &known).await.expect("written by this load");
    assert_eq!(db.write_checked_native(&mut writer, checked).await.expect("write").len(), 1);
    let missing = db.check_native_knowing(working_at(&never_written), &known).await;
    assert!(matches!(missing, Err(Error::Validation(_))), "not written: {:?}", missing.err());
    assert_eq!(count(db, "SELECT COUNT(*) FROM r_contact").await, 1);
    writer.finish().await.expect("finish");
}

/// Long reads through a connection of their own (`Db::read_native`): on SQLite they see each
/// commit made before them, by a writer's transaction or another read's, and cannot write; on
/// PostgreSQL there are none (the caller reads through the pool).
async fn native_reads_see_every_commit_and_never_write(db: &Db) {
    let count = |db: &Db| {
        let db = db.clone();
        async move {
            db.read_native(|conn| {
                Ok(conn.query_row("SELECT COUNT(*) FROM native_read_probe", [], |r| r.get::<_, i64>(0))?)
            })
            .await
            .expect("a native read")
        }
    };
    if db.dialect() == Dialect::Postgres {
        assert_eq!(count(db).await, None);
        return;
    }
    let mut tx = db.write().await.expect("write");
    sqlx::query("CREATE TABLE native_read_probe (n BIGINT NOT NULL)").execute(&mut *tx.tx).await.expect("create");
    tx.commit().await.expect("commit");
    assert_eq!(count(db).await, Some(0));
    for n in 1..=3i64 {
        let mut tx = db.write().await.expect("write");
        sqlx::query("INSERT INTO native_read_probe (n) VALUES ($1)")
            .bind(n)
            .execute(&mut *tx.tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        // The connection kept from the read before reads this commit too.
        assert_eq!(count(db).await, Some(n));
    }
    // Several at once (more than are kept idle) all read the same.
    let reads: Vec<_> = (0..4).map(|_| tokio::spawn(count(db))).collect();
    for r in reads {
        assert_eq!(r.await.expect("join"), Some(3));
    }
    let written = db.read_native(|conn| Ok(conn.execute("DELETE FROM native_read_probe", [])?)).await;
    assert!(matches!(written, Err(Error::Native(_))), "a native read wrote: {written:?}");
    assert_eq!(count(db).await, Some(3));
}

/// Derived values (`Db::write_derived`, on SQLite through a connection of its own): each live
/// record gets its own values, in sets of different columns, across several transactions; a
/// record in the trash is left alone and not counted; a user's change of another field stays;
/// a searched field is refused before anything is written.
async fn derived_values_reach_live_records_only(db: &Db) {
    for (name, kind) in [("score", "integer"), ("rank", "integer")] {
        let field = serde_json::json!({"api_name": name, "type": kind});
        db.add_field(None, "contact", serde_json::from_value(field).expect("field")).await.expect("add field");
    }
    let mut ids = Vec::new();
    for i in 0..1_203 {
        let fields = serde_json::json!({"last_name": format!("مشتری {i}"), "city": "تهران"});
        let (record, _) =
            db.create_record(None, "contact", fields.as_object().expect("fields"), None).await.expect("create");
        ids.push(record.id);
    }
    db.delete_record(None, "contact", &ids[7]).await.expect("delete");
    let rows: Vec<(String, serde_json::Map<String, serde_json::Value>)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            // Every third record gets a score only: another set of columns.
            let fields = if i % 3 == 0 {
                serde_json::json!({"score": i})
            } else {
                serde_json::json!({"score": i, "rank": 2 * i})
            };
            (id.clone(), fields.as_object().expect("fields").clone())
        })
        .collect();
    let refused = db
        .write_derived(
            "contact",
            &[(ids[0].clone(), serde_json::json!({"last_name": "x"}).as_object().expect("fields").clone())],
        )
        .await;
    assert!(matches!(refused, Err(Error::Validation(_))), "a searched field: {refused:?}");
    // Single creates keep coming meanwhile: none fails or waits forever.
    let creating = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                let fields = serde_json::json!({"last_name": format!("تازه {i}")});
                db.create_record(None, "contact", fields.as_object().expect("fields"), None).await.expect("create");
            }
        })
    };
    let written = db.write_derived("contact", &rows).await.expect("derived values");
    creating.await.expect("single creates");
    assert_eq!(written, 1_202, "every live record, the one in the trash not");
    for (i, id) in ids.iter().enumerate() {
        let record = db.get_record("contact", id, true).await.expect("read");
        if i == 7 {
            assert_eq!(record.fields.get("score"), Some(&serde_json::Value::Null), "the trashed record was written");
            continue;
        }
        assert_eq!(record.fields.get("score").and_then(|v| v.as_i64()), Some(i as i64), "record {i}");
        let rank = (i % 3 != 0).then_some(2 * i as i64);
        assert_eq!(record.fields.get("rank").and_then(|v| v.as_i64()), rank, "record {i}");
        assert_eq!(record.fields.get("city").and_then(|v| v.as_str()), Some("تهران"));
        assert_eq!(record.fields.get("last_name").and_then(|v| v.as_str()), Some(format!("مشتری {i}").as_str()));
    }
}
