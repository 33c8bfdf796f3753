//! Keyset pages over records created together (an import batch shares one instant), on both
//! backends: every record comes exactly once, in order, whichever way the list is sorted; and the
//! planner statistics a bulk load refreshes.

use peyvand_records::Value;
use peyvand_records::filter::parse_sort;
use peyvand_store::records::ListQuery;
use peyvand_store::{Db, Dialect, Error};

peyvand_crm::crm_tests!(
    pages_over_one_instant,
    statistics_refreshed,
    pages_of_some_fields,
    a_page_reads_every_value_as_one_record_does,
    contains_on_a_list_matches_members,
    contains_is_answered_from_the_substring_index,
    a_dense_contains_reads_its_page_in_order,
    a_filter_no_index_bounds_is_refused_on_a_large_list,
    a_filtered_page_in_creation_order_is_read_from_an_index,
    counts_stop_at_the_cap_unless_a_rollup_or_the_caller_has_the_number,
    a_teams_search_is_estimated_from_the_searchs_and_the_teams_shares,
    a_contains_in_old_records_pages_every_match_once,
    a_teams_whole_list_is_counted_from_a_rollup_of_owners,
    a_search_pages_in_id_order_where_rowids_disagree
);

/// Issue 25: a rep's whole list (no filter of theirs) is counted exactly from a rollup of the
/// owners where one is kept, with the records shared with them beside their team's, as the
/// admin's list is counted from the object's: past the 1,000 a team's count reads, where it was
/// an estimate. Trash and a new owner move the count.
async fn a_teams_whole_list_is_counted_from_a_rollup_of_owners(db: &Db) {
    use peyvand_records::access::{ObjectAccess, Reach, Role};
    use peyvand_store::records::{SCOPED_COUNT_CAP, TotalIs};
    let obj = db.object("contact").await.expect("contact");
    let (last_name, owner) = (obj.field("last_name").expect("last_name"), obj.field("owner").expect("owner"));
    let (rep, mate, other) = reps_with_a_team_of_two(db).await;
    db.set_access_rule(Role::Agent, "contact", Some(ObjectAccess::new(Reach::Team, Reach::Team))).await.expect("rule");
    let many: usize = 6_000;
    let rows: Vec<_> = (0..many)
        .map(|i| {
            let whose = match i % 4 {
                0 => &rep,
                1 => &mate,
                _ => &other,
            };
            vec![(last_name, Value::Text(format!("Nam{i}"))), (owner, Value::Text(whose.clone()))]
        })
        .collect();
    let mut tx = db.write_long().await.expect("write");
    let ids = db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    let mut theirs = (many / 2) as i64;
    assert!(theirs > SCOPED_COUNT_CAP, "past what a team's count reads");
    let count = async || {
        let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
        let page = as_rep
            .list_records("contact", &ListQuery { with_total: true, limit: Some(5), ..Default::default() })
            .await
            .expect("list");
        (page.total.expect("total"), page.total_is.expect("what the total is"))
    };
    // Without the rollup: estimated from a sample, or "at least".
    assert_ne!(count().await.1, TotalIs::Exact);
    db.create_rollup(None, "contact", "owner", "").await.expect("rollup");
    assert_eq!(count().await, (theirs, TotalIs::Exact));
    // Another's record shared with the rep counts; one of theirs in the trash does not; one given
    // to another leaves the count.
    let others: Vec<&String> = ids.iter().enumerate().filter(|(i, _)| i % 4 >= 2).map(|(_, id)| id).collect();
    db.share_record("contact", others[0], ("user", &rep), false).await.expect("share");
    theirs += 1;
    db.delete_record(None, "contact", &ids[0]).await.expect("trash");
    theirs -= 1;
    let given = serde_json::json!({"owner": other});
    db.update_record(None, "contact", &ids[1], given.as_object().expect("map"), None).await.expect("hand over");
    theirs -= 1;
    assert_eq!(count().await, (theirs, TotalIs::Exact));
    // The same as counting the records the rep reads, one by one.
    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    let exact = ListQuery { with_total: true, exact_total: true, limit: Some(1), filter: None, ..Default::default() };
    let mut read = 0i64;
    let mut query = ListQuery { limit: Some(1_000), ..Default::default() };
    loop {
        let page = as_rep.list_records("contact", &query).await.expect("page");
        read += page.records.len() as i64;
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(read, theirs);
    assert_eq!(as_rep.list_records("contact", &exact).await.expect("exact").total, Some(theirs));
}

/// Issue 34: a `contains` whose matches are mostly among the oldest records (PostgreSQL checks
/// the newest 5,000 first, then sorts every match): pages of any size, in either path, list
/// every match once, newest first.
async fn a_contains_in_old_records_pages_every_match_once(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let last_name = obj.field("last_name").expect("last_name");
    let matching = |i: usize| i < 30 || i.is_multiple_of(500);
    let rows: Vec<_> = (0..6_000)
        .map(|i| {
            let name = if matching(i) { format!("Son12-{i}") } else { format!("N{i}") };
            vec![(last_name, Value::Text(name))]
        })
        .collect();
    let mut tx = db.write_long().await.expect("write");
    let made = db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    let mut want: Vec<String> =
        made.iter().enumerate().filter(|(i, _)| matching(*i)).map(|(_, id)| id.clone()).collect();
    want.reverse();
    let search = serde_json::json!({"field": "last_name", "op": "contains", "value": "on12"});
    for limit in [5, 20, 50] {
        let seen = contacts_page_by_page(db, &search, limit).await;
        assert_eq!(seen, want, "pages of {limit}: every match once, newest first");
    }
}

/// The ids of the contacts `filter` matches, read in pages of `limit` in the list's default
/// order, each page no longer than `limit`.
async fn contacts_page_by_page(db: &Db, filter: &serde_json::Value, limit: u32) -> Vec<String> {
    let obj = db.object("contact").await.expect("contact");
    let filter = Some(peyvand_records::filter::parse_filter(&obj, filter).expect("filter"));
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let query = ListQuery { filter: filter.clone(), limit: Some(limit), cursor, ..Default::default() };
        let page = db.list_records("contact", &query).await.expect("page");
        assert!(page.records.len() <= limit as usize);
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
}

/// Issue 34: a search's pages newest first are in the ids' order even where records were
/// written in another (a restore of a PostgreSQL dump writes them in its heap's order; an import
/// prepares its ids before it waits for the writer): SQLite streams a page from the substring
/// index in the order records were written, and must read on until no record written earlier can
/// hold a later id. Checked before and after the index holds the late records, with a condition
/// beside the search, after one match goes to the trash, and for a page of every size.
async fn a_search_pages_in_id_order_where_rowids_disagree(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let (last_name, city) = (obj.field("last_name").expect("last_name"), obj.field("city").expect("city"));
    let matching = |i: usize| i.is_multiple_of(7) || (1_500..1_530).contains(&i);
    let rows: Vec<_> = (0..3_000)
        .map(|i| {
            let name = if matching(i) { format!("Zedan {i}") } else { format!("N{i}") };
            let town = if i.is_multiple_of(2) { "Yazd" } else { "Rasht" };
            vec![(last_name, Value::Text(name)), (city, Value::Text(town.into()))]
        })
        .collect();
    let mut made = Vec::new();
    for part in rows.chunks(1_000) {
        let mut tx = db.write_long().await.expect("write");
        made.extend(db.create_many(&mut tx, None, &obj, part).await.expect("create"));
        tx.commit().await.expect("commit");
    }
    // Forty late records whose ids fall among the first ones' (each just after one of them),
    // written after all of them, every other one a match.
    let mut tx = db.write().await.expect("write");
    let mut late = Vec::new();
    for k in 0..40 {
        let id = format!("{}-late{k:02}", made[k * 50 + 3]);
        let name = if k.is_multiple_of(2) { format!("Zedan late {k}") } else { format!("Late {k}") };
        let town = if k.is_multiple_of(4) { "Yazd" } else { "Rasht" };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {} (id, version, created_at, updated_at, {}, {}) VALUES ($1, 1, $2, $2, $3, $4)",
            obj.table, last_name.column, city.column
        )))
        .bind(id.clone())
        .bind("2026-01-01T00:00:00Z")
        .bind(name)
        .bind(town)
        .execute(&mut *tx.tx)
        .await
        .expect("a late record");
        late.push((id, k));
    }
    tx.commit().await.expect("commit");
    let mut all: Vec<(String, bool, bool)> = made
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), matching(i), i % 2 == 0))
        .chain(late.iter().map(|(id, k)| (id.clone(), k % 2 == 0, k % 4 == 0)))
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0));
    let search = serde_json::json!({"field": "last_name", "op": "contains", "value": "zedan"});
    let in_yazd = serde_json::json!({"and": [{"field": "city", "op": "eq", "value": "Yazd"}, search.clone()]});
    let mut trashed = None;
    for round in ["late records not yet in the index", "every record in the index", "one match in the trash"] {
        match round {
            "every record in the index" => {
                db.flush_substring_indexes().await.expect("flush");
            }
            "one match in the trash" => {
                let id = late[2].0.clone();
                db.delete_record(None, "contact", &id).await.expect("trash");
                trashed = Some(id);
            }
            _ => {}
        }
        let live = |id: &String| Some(id) != trashed.as_ref();
        let want: Vec<String> = all.iter().filter(|r| r.1 && live(&r.0)).map(|r| r.0.clone()).collect();
        let want_yazd: Vec<String> = all.iter().filter(|r| r.1 && r.2 && live(&r.0)).map(|r| r.0.clone()).collect();
        for limit in [1, 7, 50, 500] {
            let (seen, seen_yazd) =
                (contacts_page_by_page(db, &search, limit).await, contacts_page_by_page(db, &in_yazd, limit).await);
            assert_eq!(seen, want, "{round}, pages of {limit}: every match once, by id");
            assert_eq!(seen_yazd, want_yazd, "{round}, pages of {limit}, in Yazd");
        }
    }
}

/// Issue 25: a rep's quick search whose matches are too rare in the sample to estimate (a name
/// part in one record of six, a team of two holding one in 25: about 27 of both in a sample
/// of 4,000) is estimated as the search's share of the sample times the rep's, instead of being
/// counted row by row to the team's cap and shown as "at least 1,000".
async fn a_teams_search_is_estimated_from_the_searchs_and_the_teams_shares(db: &Db) {
    use peyvand_records::access::{ObjectAccess, Reach, Role};
    use peyvand_store::records::{SCOPED_COUNT_CAP, TotalIs};
    let obj = db.object("contact").await.expect("contact");
    let (last_name, owner) = (obj.field("last_name").expect("last_name"), obj.field("owner").expect("owner"));
    let (rep, mate, other) = reps_with_a_team_of_two(db).await;
    let rule = ObjectAccess::new(Reach::Team, Reach::Team);
    db.set_access_rule(Role::Agent, "contact", Some(rule)).await.expect("rule");
    let many: usize = 200_000;
    let mut made = Vec::with_capacity(many);
    let mut tx = db.write_long().await.expect("write");
    for start in (0..many).step_by(50_000) {
        let rows: Vec<_> = (start..start + 50_000)
            .map(|i| {
                let name = if i.is_multiple_of(6) { format!("Karimi{i}") } else { format!("Nam{i}") };
                let whose = match i % 50 {
                    0 => &rep,
                    1 => &mate,
                    _ => &other,
                };
                vec![(last_name, Value::Text(name)), (owner, Value::Text(whose.clone()))]
            })
            .collect();
        made.extend(db.create_many(&mut tx, None, &obj, &rows).await.expect("create"));
    }
    tx.commit().await.expect("commit");
    db.refresh_statistics(&["contact"]).await.expect("statistics");
    let theirs = (0..many).filter(|i: &usize| i.is_multiple_of(150)).count() as i64;
    assert!(theirs > SCOPED_COUNT_CAP, "past what a team's count reads");
    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    let search = serde_json::json!({"field": "last_name", "op": "contains", "value": "rim"});
    let filter = Some(peyvand_records::filter::parse_filter(&obj, &search).expect("filter"));
    let query = ListQuery { filter, with_total: true, limit: Some(5), ..Default::default() };
    let page = as_rep.list_records("contact", &query).await.expect("list");
    assert_eq!(page.records.len(), 5);
    assert!(page.records.iter().all(|r| r.fields["owner"] == serde_json::json!(rep)), "the team's only (hers match)");
    let (n, is) = (page.total.expect("total"), page.total_is.expect("what the total is"));
    assert_eq!(is, TotalIs::Estimate, "estimated, not 'at least {SCOPED_COUNT_CAP}': {n}");
    let off = (n - theirs).abs() as f64 / theirs as f64;
    assert!(off < 0.25, "estimated {n}, {theirs} match");
    let exact = ListQuery { exact_total: true, ..query.clone() };
    let page = as_rep.list_records("contact", &exact).await.expect("list");
    assert_eq!((page.total, page.total_is), (Some(theirs), Some(TotalIs::Exact)), "exact on request");
    // Her first pages of 50, newest first, are her matches and no others, each once, though 1 in
    // 150 records is hers: PostgreSQL looks as far as the estimate says a page needs, SQLite
    // sizes each next chunk of the index's matches by how many of the last passed.
    let mut want: Vec<&String> =
        made.iter().enumerate().filter(|(i, _)| i.is_multiple_of(150)).map(|(_, id)| id).collect();
    want.reverse();
    let (mut seen, mut cursor) = (Vec::new(), None);
    for _ in 0..3 {
        let query = ListQuery { limit: Some(50), cursor, ..query.clone() };
        let page = as_rep.list_records("contact", &query).await.expect("page");
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        cursor = Some(page.next_cursor.expect("a next page"));
    }
    assert_eq!(seen.iter().collect::<Vec<_>>(), want[..150].to_vec(), "her newest 150 matches, in order");
}

/// Issue 34: a list's count reads at most `COUNT_CAP` matches; past them it is estimated from a
/// sample of the records and says so; an unfiltered count is exact from a rollup of the object;
/// the exact number on request.
async fn counts_stop_at_the_cap_unless_a_rollup_or_the_caller_has_the_number(db: &Db) {
    use peyvand_store::records::TotalIs;
    let obj = db.object("contact").await.expect("contact");
    let (last_name, city) = (obj.field("last_name").expect("last_name"), obj.field("city").expect("city"));
    let many = 16_000;
    // Three in four in Tehran, at random (a sample at even steps must not see a pattern).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let rows: Vec<_> = (0..many)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let town = if i < 7 {
                "Yazd"
            } else if !seed.is_multiple_of(4) {
                "Tehran"
            } else {
                "Shiraz"
            };
            vec![(last_name, Value::Text(format!("Nam{i}"))), (city, Value::Text(town.into()))]
        })
        .collect();
    let tehran_count = rows.iter().filter(|r| r[1].1 == Value::Text("Tehran".into())).count() as i64;
    let mut tx = db.write_long().await.expect("write");
    db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    db.refresh_statistics(&["contact"]).await.expect("statistics");
    let count = async |filter: Option<serde_json::Value>, exact: bool| {
        let filter = filter.map(|f| peyvand_records::filter::parse_filter(&obj, &f).expect("filter"));
        let query = ListQuery { filter, with_total: true, exact_total: exact, limit: Some(1), ..Default::default() };
        let page = db.list_records("contact", &query).await.expect("list");
        assert_eq!(page.total_exact, Some(page.total_is == Some(TotalIs::Exact)), "{page:?}");
        (page.total.expect("total"), page.total_is.expect("what the total is"))
    };
    let near = |(n, is): (i64, TotalIs), want: i64, what: &str| {
        assert_eq!(is, TotalIs::Estimate, "{what}: past the cap, estimated");
        let off = (n - want).abs() as f64 / want as f64;
        assert!(off < 0.1, "{what}: estimated {n}, {want} match");
        assert_eq!(n % 10i64.pow(n.ilog10() - 2), 0, "three significant digits: {n}");
    };
    let every = many as i64;
    near(count(None, false).await, every, "unfiltered, no rollup");
    assert_eq!(count(None, true).await, (every, TotalIs::Exact), "the exact number on request");
    let yazd = serde_json::json!({"field": "city", "op": "eq", "value": "Yazd"});
    assert_eq!(count(Some(yazd.clone()), false).await, (7, TotalIs::Exact), "a few matches: exact");
    let tehran = serde_json::json!({"field": "city", "op": "eq", "value": "Tehran"});
    near(count(Some(tehran.clone()), false).await, tehran_count, "three in four");
    assert_eq!(count(Some(tehran), true).await, (tehran_count, TotalIs::Exact));
    // A contains in every record: the substring index's matches say the count would stop at
    // the cap (SQLite), or the count stops there (PostgreSQL); both estimate, exact on request.
    let all = serde_json::json!({"field": "last_name", "op": "contains", "value": "nam"});
    near(count(Some(all.clone()), false).await, every, "contains");
    assert_eq!(count(Some(all), true).await, (every, TotalIs::Exact));
    let some = serde_json::json!({"field": "last_name", "op": "contains", "value": "am100"});
    assert_eq!(count(Some(some), false).await, (111, TotalIs::Exact), "Nam100, Nam1000…Nam1009, Nam10000…Nam10099");
    db.create_rollup(None, "contact", "city", "").await.expect("rollup");
    assert_eq!(count(None, false).await, (every, TotalIs::Exact), "unfiltered, exact from the rollup");
    assert_eq!(count(Some(yazd), false).await, (7, TotalIs::Exact));
}

/// Issue 34: a filter on an indexed field with the lists' default order (newest first) reads
/// the page from the field's index, whose keys end in the id, instead of sorting every match
/// by its instant; and the pages still cover every match once, newest first.
async fn a_filtered_page_in_creation_order_is_read_from_an_index(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let (last_name, city) = (obj.field("last_name").expect("last_name"), obj.field("city").expect("city"));
    let mut made = Vec::new();
    for batch in 0..3 {
        let rows: Vec<_> = (0..40)
            .map(|i| {
                let town = if i % 3 == 0 { "Tehran" } else { "Shiraz" };
                vec![(last_name, Value::Text(format!("P{batch}-{i:02}"))), (city, Value::Text(town.into()))]
            })
            .collect();
        let mut tx = db.write().await.expect("write");
        made.extend(db.create_many(&mut tx, None, &obj, &rows).await.expect("create"));
        tx.commit().await.expect("commit");
    }
    let filter = peyvand_records::filter::parse_filter(
        &obj,
        &serde_json::json!({"field": "city", "op": "eq", "value": "Tehran"}),
    );
    let query = ListQuery { filter: Some(filter.expect("filter")), limit: Some(7), ..Default::default() };
    if db.dialect() == Dialect::Sqlite {
        let plan = db.explain_page("contact", &query).await.expect("plan").join(" | ");
        assert!(!plan.contains("TEMP B-TREE"), "no sort of every match: {plan}");
        assert!(plan.contains("INDEX"), "read from an index: {plan}");
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            db.list_records("contact", &ListQuery { cursor: cursor.clone(), ..query.clone() }).await.expect("page");
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut tehran: Vec<String> =
        made.iter().enumerate().filter(|(i, _)| i % 40 % 3 == 0).map(|(_, id)| id.clone()).collect();
    tehran.reverse();
    assert_eq!(seen, tehran, "every match once, newest first");
}

/// The records a filter selects, by last name.
async fn names_where(db: &Db, filter: serde_json::Value) -> Vec<String> {
    let obj = db.object("contact").await.expect("contact");
    let filter = peyvand_records::filter::parse_filter(&obj, &filter).expect("filter");
    let query =
        ListQuery { filter: Some(filter), sort: parse_sort(&obj, "last_name").expect("sort"), ..Default::default() };
    let page = db.list_records("contact", &query).await.expect("list");
    page.records.iter().map(|r| r.fields["last_name"].as_str().unwrap_or_default().to_string()).collect()
}

/// Issue 34: `contains` on a multi-valued field matches its members, never the
/// JSON text they are kept in (`one.example","b` matched a contact with two e-mails, `["` every
/// contact with one).
async fn contains_on_a_list_matches_members(db: &Db) {
    for (name, emails, phones) in [
        ("Two", vec!["one@one.example", "b@two.example"], vec!["09121234567"]),
        ("One", vec!["Solo@Three.example"], vec![]),
        ("None", vec![], vec!["+44 20 7946 0958"]),
    ] {
        let input = serde_json::json!({"last_name": name, "emails": emails, "phones": phones});
        db.create_record(None, "contact", input.as_object().expect("map"), None).await.expect("create");
    }
    let emails = |op: &str, value: &str| serde_json::json!({"field": "emails", "op": op, "value": value});
    assert!(names_where(db, emails("contains", "one.example\",\"b")).await.is_empty(), "the JSON between two members");
    assert!(names_where(db, emails("contains", "[\"one")).await.is_empty(), "the JSON's opening");
    assert_eq!(names_where(db, emails("contains", "two.example")).await, ["Two"], "the second member");
    assert_eq!(names_where(db, emails("contains", "THREE")).await, ["One"], "any case");
    let phones = |op: &str, value: &str| serde_json::json!({"field": "phones", "op": op, "value": value});
    assert_eq!(names_where(db, phones("contains", "۱۲۳۴")).await, ["Two"], "digits in any script");
    assert_eq!(names_where(db, phones("contains", "0912")).await, ["Two"], "the national form");
    assert_eq!(names_where(db, phones("contains", "7946")).await, ["None"]);
    // A phone pattern without a digit would match every number: refused.
    let obj = db.object("contact").await.expect("contact");
    let refused = peyvand_records::filter::parse_filter(&obj, &phones("contains", "\",\""));
    assert_eq!(refused.map(|_| ()).map_err(|e| e.code), Err("filter_value_missing"));
}

/// Issue 34: `contains` on an indexed text field (and on e-mails and phones) is answered from
/// the substring index, which the database keeps through every write, folds as a pattern is
/// folded (Arabic and Persian letters, digits, the zero-width non-joiner, diacritics, case), and
/// which follows the field's definition: built with the values there when a field is indexed,
/// removed when it no longer is.
async fn contains_is_answered_from_the_substring_index(db: &Db) {
    let mut ids = Vec::new();
    for (first, last, job) in [
        ("علي\u{200C}رضا", "كاظمی", "مدیر فروش"),
        ("Reza", "Tehrani۱۲۳", "Sales MANAGER"),
        ("مَریم", "Ahmadi", "حسابدار"),
    ] {
        let input = serde_json::json!({"first_name": first, "last_name": last, "job_title": job});
        ids.push(db.create_record(None, "contact", input.as_object().expect("map"), None).await.expect("create").0.id);
    }
    let on = |field: &str, value: &str| serde_json::json!({"field": field, "op": "contains", "value": value});
    // Found while the values wait beside the index (SQLite) and once they are in it.
    for flushed in [false, true] {
        if flushed {
            let moved = db.flush_substring_indexes().await.expect("flush");
            assert_eq!(moved > 0, db.dialect() == Dialect::Sqlite, "{moved} changes moved");
            assert_eq!(db.flush_substring_indexes().await.expect("flush"), 0, "nothing left");
        }
        assert_eq!(names_where(db, on("first_name", "علی رضا")).await, ["كاظمی"], "Arabic Yeh, the non-joiner");
        assert_eq!(names_where(db, on("last_name", "کاظ")).await, ["كاظمی"], "Arabic Kaf");
        assert_eq!(names_where(db, on("last_name", "ani123")).await, ["Tehrani۱۲۳"], "Persian digits, case");
        assert_eq!(names_where(db, on("first_name", "مریم")).await, ["Ahmadi"], "diacritics");
        assert_eq!(names_where(db, on("first_name", "EZA")).await, ["Tehrani۱۲۳"]);
        assert!(names_where(db, on("first_name", "rezar")).await.is_empty());
    }
    // Changes reach the index: a new value is found and the old one no longer is, before and
    // after the change is written into the index; a record in the trash is not found.
    let input = serde_json::json!({"first_name": "Ramin"});
    db.update_record(None, "contact", &ids[1], input.as_object().expect("map"), None).await.expect("update");
    for _ in 0..2 {
        assert!(names_where(db, on("first_name", "reza")).await.is_empty(), "the old value");
        assert_eq!(names_where(db, on("first_name", "ami")).await, ["Tehrani۱۲۳"], "the new value");
        db.flush_substring_indexes().await.expect("flush");
    }
    let input = serde_json::json!({"first_name": null});
    db.update_record(None, "contact", &ids[2], input.as_object().expect("map"), None).await.expect("empty");
    assert!(names_where(db, on("first_name", "مریم")).await.is_empty(), "emptied");
    db.flush_substring_indexes().await.expect("flush");
    assert!(names_where(db, on("first_name", "مریم")).await.is_empty(), "emptied, once written");
    db.delete_record(None, "contact", &ids[1]).await.expect("delete");
    assert!(names_where(db, on("first_name", "ami")).await.is_empty(), "in the trash");
    // The page is read through the index (SQLite shows it in the plan; PostgreSQL's planner
    // scans a table this small, so there the index is looked for by name).
    let obj = db.object("contact").await.expect("contact");
    let plan_of = async |field: &str| {
        let filter = peyvand_records::filter::parse_filter(&obj, &on(field, "مدیر")).expect("filter");
        db.explain_page("contact", &ListQuery { filter: Some(filter), ..Default::default() })
            .await
            .expect("plan")
            .join("\n")
    };
    let indexes = async || -> usize {
        let sql = match db.dialect() {
            Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND sql LIKE '%fts5%trigram%'",
            Dialect::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'",
        };
        let n: i64 = sqlx::Row::try_get(&sqlx::query(sql).fetch_one(db.pool()).await.expect("count"), 0).expect("n");
        n as usize
    };
    let standard = indexes().await;
    if db.dialect() == Dialect::Sqlite {
        assert!(plan_of("first_name").await.contains("VIRTUAL TABLE"), "{}", plan_of("first_name").await);
        assert!(!plan_of("job_title").await.contains("VIRTUAL TABLE"), "job title is not indexed");
    }
    assert_eq!(names_where(db, on("job_title", "مدیر")).await, ["كاظمی"], "a scan where there is no index");
    let patch = |indexed: bool| peyvand_store::schema::FieldPatch { indexed: Some(indexed), ..Default::default() };
    db.update_field(None, "contact", "job_title", patch(true)).await.expect("index");
    assert_eq!(indexes().await, standard + 1, "built when the field is indexed");
    if db.dialect() == Dialect::Sqlite {
        assert!(plan_of("job_title").await.contains("VIRTUAL TABLE"), "{}", plan_of("job_title").await);
    }
    assert_eq!(names_where(db, on("job_title", "manager")).await, [] as [&str; 0], "Reza is in the trash");
    assert_eq!(names_where(db, on("job_title", "مدیر")).await, ["كاظمی"], "the values there before");
    let label = peyvand_store::schema::FieldPatch { label_en: Some("Role".into()), ..Default::default() };
    db.update_field(None, "contact", "job_title", label).await.expect("label");
    assert_eq!(indexes().await, standard + 1, "a new label leaves the index");
    db.update_field(None, "contact", "job_title", patch(false)).await.expect("unindex");
    assert_eq!(indexes().await, standard, "removed with the field's index");
    assert_eq!(names_where(db, on("job_title", "حساب")).await, ["Ahmadi"]);
    if db.dialect() == Dialect::Sqlite {
        // The fold nests one replace() per character: SQLite's parser before 3.46 (the sqlite3
        // tools people open a database with) stops at about 25 levels, and then cannot read
        // the schema at all.
        let triggers = sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'g%'")
            .fetch_all(db.pool())
            .await
            .expect("triggers");
        assert!(!triggers.is_empty());
        for t in &triggers {
            let sql: String = sqlx::Row::try_get(t, 0).expect("sql");
            for statement in sql.split(';') {
                assert!(statement.matches("replace(").count() <= 16, "too deep for older parsers: {statement}");
            }
        }
    }
}

/// Issue 34: a `contains` in many records (SQLite: 2,000 or more) reads its page in the list's
/// order, checking each record against the substring index, instead of reading every match and
/// sorting them; the pages still hold every match once, newest first.
async fn a_dense_contains_reads_its_page_in_order(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let (last_name, emails) = (obj.field("last_name").expect("last_name"), obj.field("emails").expect("emails"));
    // Karimi in a third of the records (checked against the index's matches), the karimi
    // domain in five of six (compared in place).
    let rows: Vec<_> = (0..6_000)
        .map(|i| {
            let name = if i % 3 == 0 { "Karimi" } else { "Other" };
            let domain = if i % 6 == 0 { "other" } else { "karimi" };
            let mail = Value::List(vec![format!("a{i}@x.example"), format!("b{i}@{domain}.example")]);
            vec![(last_name, Value::Text(format!("{name} {i}"))), (emails, mail)]
        })
        .collect();
    let mut tx = db.write_long().await.expect("write");
    let mut made = db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    made.sort();
    // A name, and the second of two e-mails (members, compared one by one).
    for (field, value, every) in [("last_name", "rim", 3), ("emails", "@karimi.ex", 6)] {
        let selected = |i: usize| if every == 3 { i.is_multiple_of(3) } else { !i.is_multiple_of(6) };
        let mut expected: Vec<String> =
            made.iter().enumerate().filter(|(i, _)| selected(*i)).map(|(_, id)| id.clone()).collect();
        expected.reverse();
        let filter = serde_json::json!({"field": field, "op": "contains", "value": value});
        let query = ListQuery {
            filter: Some(peyvand_records::filter::parse_filter(&obj, &filter).expect("filter")),
            with_total: true,
            limit: Some(500),
            ..Default::default()
        };
        let total = expected.len() as i64;
        let listed = field == "last_name";
        assert_eq!(pages_of(db, &query, total, listed).await, expected, "{field}: every match once, newest first");
    }
}

/// The ids of every page of `query`, in order; its first page must count `total` (exactly on
/// SQLite, from its index's matches; PostgreSQL estimates the thousands it would read).
/// On SQLite, the page is read in order, checked against the index's matches or not (`listed`).
async fn pages_of(db: &Db, query: &ListQuery, total: i64, listed: bool) -> Vec<String> {
    if db.dialect() == Dialect::Sqlite {
        let plan = db.explain_page("contact", query).await.expect("plan").join("\n");
        assert!(!plan.contains("TEMP B-TREE"), "no sort of every match: {plan}");
        assert_eq!(plan.contains("VIRTUAL TABLE"), listed, "{plan}");
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            db.list_records("contact", &ListQuery { cursor: cursor.clone(), ..query.clone() }).await.expect("page");
        if cursor.is_none() && db.dialect() == Dialect::Sqlite {
            assert_eq!((page.total, page.total_exact), (Some(total), Some(true)), "the count is exact");
        } else if cursor.is_none() {
            // PostgreSQL reads each match to count it: past 1,000 they are estimated.
            let (n, is) = (page.total.expect("total"), page.total_is.expect("what the total is"));
            assert_eq!(is, peyvand_store::records::TotalIs::Estimate, "estimated: {n} of {total}");
            assert!((n - total).abs() as f64 / (total as f64) < 0.15, "estimated {n}, {total} match");
        }
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen
}

/// Issue 34: on a list too large to look through (above `Db::scan_limit`), a filter that no
/// index bounds is refused, naming the field to index, instead of reading every record; one
/// with a condition an index answers is not, nor is the trash or a smaller list.
async fn a_filter_no_index_bounds_is_refused_on_a_large_list(db: &Db) {
    for i in 0..12 {
        let input = serde_json::json!({"last_name": format!("Name {i}"), "job_title": "Buyer", "city": "Yazd"});
        db.create_record(None, "contact", input.as_object().expect("map"), None).await.expect("create");
    }
    let obj = db.object("contact").await.expect("contact");
    let list = async |filter: serde_json::Value, trash: bool| {
        let filter = peyvand_records::filter::parse_filter(&obj, &filter).expect("filter");
        let query = ListQuery { filter: Some(filter), trash, ..Default::default() };
        match db.list_records("contact", &query).await {
            Ok(page) => Ok(page.records.len()),
            Err(Error::Validation(errors)) => Err((errors[0].field.clone(), errors[0].code)),
            Err(e) => panic!("{e}"),
        }
    };
    let on = |field: &str, op: &str, value: &str| serde_json::json!({"field": field, "op": op, "value": value});
    let job = on("job_title", "eq", "Buyer");
    assert_eq!(list(job.clone(), false).await, Ok(12), "a small list is looked through");
    db.set_scan_limit(10);
    let refused = Err(("job_title".to_string(), "field_not_indexed"));
    assert_eq!(list(job.clone(), false).await, refused, "no index for the job title");
    assert_eq!(list(on("job_title", "contains", "buy"), false).await, refused);
    assert_eq!(list(serde_json::json!({"and": [job.clone(), on("city", "eq", "Yazd")]}), false).await, Ok(12));
    assert_eq!(list(serde_json::json!({"or": [on("city", "eq", "Yazd"), job.clone()]}), false).await, refused);
    assert_eq!(list(on("last_name", "contains", "name"), false).await, Ok(12), "the substring index");
    assert_eq!(list(on("city", "ne", "Yazd"), false).await, Err(("city".to_string(), "field_not_indexed")));
    assert_eq!(list(job.clone(), true).await, Ok(0), "the trash is small");
    db.set_scan_limit(peyvand_store::SCAN_LIMIT);
    assert_eq!(list(job, false).await, Ok(12));
}

async fn pages_over_one_instant(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let last_name = obj.field("last_name").expect("last_name");
    let rows: Vec<_> = (0..37).map(|i| vec![(last_name, Value::Text(format!("Batch {i:02}")))]).collect();
    let mut tx = db.write().await.expect("write");
    let mut ids = db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    ids.sort();
    for (sort, descending) in [("", true), ("-created_at", true), ("created_at", false), ("-updated_at", true)] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let query = ListQuery {
                sort: parse_sort(&obj, sort).expect("sort"),
                limit: Some(5),
                cursor: cursor.take(),
                ..ListQuery::default()
            };
            let page = db.list_records("contact", &query).await.expect("page");
            seen.extend(page.records.iter().map(|r| r.id.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // One instant for all of them, so the id decides the order.
        let mut expected = ids.clone();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "sort {sort:?}: each record once, in order");
    }
}

/// After a bulk load the planner's statistics are gathered (PostgreSQL; SQLite needs none).
async fn statistics_refreshed(db: &Db) {
    db.refresh_statistics(&["contact"]).await.expect("refresh");
    if db.dialect() == Dialect::Postgres {
        let analyzed: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(relname AS TEXT) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL ORDER BY relname",
        )
        .fetch_all(db.pool())
        .await
        .expect("stats");
        for table in ["audit_log", "import_log", "r_contact", "record_values", "search_terms"] {
            assert!(analyzed.iter().any(|t| t == table), "{table} analyzed: {analyzed:?}");
        }
        // The records' table is vacuumed too: rows a load wrote are marked visible to all, so
        // a count reads an index alone (issue 34).
        let vacuumed: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(relname AS TEXT) FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL ORDER BY relname",
        )
        .fetch_all(db.pool())
        .await
        .expect("stats");
        assert_eq!(vacuumed, ["r_contact"]);
    }
}

/// A page of some fields holds those, the title's and the sort's, and pages on like a whole one.
async fn pages_of_some_fields(db: &Db) {
    let obj = db.object("contact").await.expect("contact");
    let [first, last, city, stage] =
        ["first_name", "last_name", "city", "lifecycle_stage"].map(|n| obj.field(n).expect("standard field"));
    let rows: Vec<_> = (0..7)
        .map(|i| {
            vec![
                (first, Value::Text(format!("Sara {i}"))),
                (last, Value::Text("Karimi".into())),
                (city, Value::Text(format!("City {i}"))),
                (stage, Value::Text("lead".into())),
            ]
        })
        .collect();
    let mut tx = db.write().await.expect("write");
    db.create_many(&mut tx, None, &obj, &rows).await.expect("create");
    tx.commit().await.expect("commit");
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let query = ListQuery {
            sort: parse_sort(&obj, "-city").expect("sort"),
            limit: Some(3),
            cursor: cursor.take(),
            fields: Some(vec!["lifecycle_stage".into()]),
            ..ListQuery::default()
        };
        let page = db.list_records("contact", &query).await.expect("page");
        for r in &page.records {
            let mut names: Vec<&str> = r.fields.keys().map(String::as_str).collect();
            names.sort();
            assert_eq!(names, ["city", "first_name", "last_name", "lifecycle_stage"], "asked, title and sort fields");
            assert_eq!(r.fields["lifecycle_stage"], "lead");
            assert!(r.title.starts_with("Sara "), "title {}", r.title);
            seen.push(r.fields["city"].as_str().expect("city").to_string());
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).rev().map(|i| format!("City {i}")).collect::<Vec<_>>());
    let unknown = ListQuery { fields: Some(vec!["no_such_field".into()]), ..ListQuery::default() };
    assert!(matches!(db.list_records("contact", &unknown).await, Err(Error::Validation(_))));
}

/// A page is read in one piece on SQLite (one JSON value) and row by row elsewhere; a record read
/// alone is always read row by row. Both give the same record, whatever the values hold.
async fn a_page_reads_every_value_as_one_record_does(db: &Db) {
    for field in [
        serde_json::json!({"api_name": "budget", "type": "currency"}),
        serde_json::json!({"api_name": "ratio", "type": "decimal"}),
        serde_json::json!({"api_name": "active", "type": "boolean"}),
        serde_json::json!({"api_name": "visits", "type": "integer", "indexed": true}),
        serde_json::json!({"api_name": "since", "type": "date"}),
        serde_json::json!({"api_name": "seen_at", "type": "datetime"}),
        serde_json::json!({"api_name": "notes", "type": "long_text"}),
    ] {
        db.add_field(None, "contact", serde_json::from_value(field).expect("field")).await.expect("add field");
    }
    let inputs = [
        serde_json::json!({
            "first_name": "می‌خواهم \"نقل\" قول", "last_name": "back\\slash 😀",
            "notes": "first line\nsecond\tline\r\nthird",
            "emails": ["a@example.ir", "b@example.ir"], "phones": ["09121234567"], "tags": ["VIP", "ویژه"],
            "budget": {"amount": "125000000", "currency": "IRR"}, "ratio": "3.25", "active": true,
            "visits": 9007199254740993_i64, "since": "2024-03-20", "seen_at": "2025-01-02T03:04:05Z",
        }),
        serde_json::json!({"last_name": "تنها", "active": false, "visits": -4}),
        serde_json::json!({"last_name": "{\"not\": [\"json\"]}", "city": "null"}),
    ];
    let mut ids = Vec::new();
    for input in inputs {
        let input = input.as_object().expect("an object").clone();
        ids.push(db.create_record(None, "contact", &input, None).await.expect("create").0.id);
    }
    let obj = db.object("contact").await.expect("contact");
    for sort in ["-visits", "visits", "last_name", ""] {
        let query = ListQuery { sort: parse_sort(&obj, sort).expect("sort"), limit: Some(2), ..ListQuery::default() };
        let mut page = db.list_records("contact", &query).await.expect("page");
        let mut listed = page.records.clone();
        while let Some(cursor) = page.next_cursor.take() {
            let next = ListQuery { cursor: Some(cursor), ..query.clone() };
            page = db.list_records("contact", &next).await.expect("next page");
            listed.extend(page.records.clone());
        }
        assert_eq!(listed.len(), 3, "sorted by {sort:?}");
        for r in &listed {
            let alone = db.get_record("contact", &r.id, false).await.expect("get");
            assert_eq!(serde_json::to_value(r).expect("json"), serde_json::to_value(&alone).expect("json"), "{sort:?}");
        }
        if sort == "-visits" {
            let visits: Vec<_> = listed.iter().map(|r| r.fields["visits"].clone()).collect();
            assert_eq!(
                visits,
                [serde_json::json!(9007199254740993_i64), serde_json::json!(-4), serde_json::Value::Null]
            );
        }
    }
    let first = db.get_record("contact", &ids[0], false).await.expect("first");
    assert_eq!(first.fields["last_name"], "back\\slash 😀");
    assert_eq!(first.fields["notes"], "first line\nsecond\tline\r\nthird");
    assert_eq!(first.fields["emails"], serde_json::json!(["a@example.ir", "b@example.ir"]));
    let titles = db.titles("contact", &ids).await.expect("titles");
    assert_eq!(titles[&ids[1]], "تنها");
    assert_eq!(titles[&ids[0]], first.title);
}

/// Three agents, the first two ("rep", "mate") a team: their ids.
async fn reps_with_a_team_of_two(db: &Db) -> (String, String, String) {
    use peyvand_records::access::Role;
    let user = async |name: &str| {
        db.create_user(&format!("{name}@example.com"), name, Role::Agent, "x", "en").await.expect("user").id
    };
    let (rep, mate, other) = (user("rep").await, user("mate").await, user("other").await);
    let team = peyvand_store::access::TeamInput {
        name: "North".into(),
        members: vec![rep.clone(), mate.clone()],
        ..Default::default()
    };
    db.create_team(&team).await.expect("team");
    (rep, mate, other)
}
