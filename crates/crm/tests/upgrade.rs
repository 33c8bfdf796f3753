//! A database made by the release before the sales module (commit 44eed9f: `peyvand generate`,
//! a deal moved through three stages and one won, an order of an amount only, then `peyvand
//! backup`) upgrades without loss: every value of every deal and order is as it was, deals are in
//! the default pipeline with their stage histories from the audit log, and every order with a
//! product has its one line adding up to its total. On both backends.

use peyvand_records::access::OWNER_FIELD;
use peyvand_store::Db;
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::testing::{Backend, TestDb};
use serde_json::{Value as Json, json};

const FIXTURE: &str = include_str!("fixtures/release-44eed9f.jsonl");

async fn all(db: &Db, object: &str) -> Vec<Record> {
    let query = ListQuery { limit: Some(500), ..ListQuery::default() };
    let mut records = db.list_records(object, &query).await.expect(object).records;
    records.sort_by(|a, b| a.id.cmp(&b.id));
    records
}

async fn upgrade_on(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    // The release before, as it was: its backup restored by the bare engine and read back.
    let bare = Db::connect(&test_db.url).await.expect("connect");
    bare.restore(FIXTURE.as_bytes()).await.expect("restore the release's backup");
    bare.reload_catalog().await.expect("catalog");
    let (deals_before, orders_before) = (all(&bare, "deal").await, all(&bare, "order").await);
    let stages_before: Vec<String> = bare
        .catalog()
        .await
        .expect("catalog")
        .object("deal")
        .expect("deal")
        .field("stage")
        .expect("stage")
        .options
        .options
        .iter()
        .map(|o| o.value.clone())
        .collect();
    bare.close().await;
    assert_eq!((deals_before.len(), orders_before.len()), (12, 26), "the fixture's records");

    // This release starts on it.
    let db = peyvand_crm::open(&test_db.url).await.expect("upgrade at start-up");
    let (deals, orders) = (all(&db, "deal").await, all(&db, "order").await);
    for (before, after) in deals_before.iter().zip(&deals).chain(orders_before.iter().zip(&orders)) {
        assert_eq!(before.id, after.id);
        assert_eq!(
            (before.version, &before.created_at, &before.updated_at),
            (after.version, &after.created_at, &after.updated_at)
        );
        for (field, value) in &before.fields {
            assert_eq!(after.fields.get(field), Some(value), "{} {}: {field}", after.object, after.id);
        }
    }
    // The default pipeline holds the release's stages, and every deal is in it.
    let pipelines = peyvand_crm::sales::pipelines::list(&db).await.expect("pipelines");
    let keys: Vec<String> = pipelines[0].stages.iter().map(|s| s.key.clone()).collect();
    assert_eq!(keys, stages_before);
    assert!(deals.iter().all(|d| d.fields["pipeline"] == json!("default")));
    // The histories come from the audit log: the deal moved three times, the one won.
    let moved = "01a242b8-df06-71f4-be42-5c366a953951";
    let stays = peyvand_crm::sales::pipelines::history(&db, moved).await.expect("history");
    let path: Vec<&str> = stays.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(path, ["qualification", "needs_analysis", "proposal", "negotiation"]);
    let won =
        peyvand_crm::sales::pipelines::history(&db, "01a242b8-df06-71f4-be42-5c357e631674").await.expect("history");
    assert_eq!(won.iter().map(|s| s.stage.as_str()).collect::<Vec<_>>(), ["proposal", "won"]);
    for d in &deals {
        assert!(!peyvand_crm::sales::pipelines::history(&db, &d.id).await.expect("history").is_empty(), "{}", d.id);
    }
    // Each order with a product has its one line, adding up to its total; the order of an amount
    // only has none.
    for o in &orders {
        let lines = peyvand_crm::sales::documents::lines(&db, peyvand_crm::sales::documents::Kind::Order, &o.id)
            .await
            .expect("lines");
        if o.fields["product"].is_null() {
            assert!(lines.is_empty(), "{}", o.fields["number"]);
            continue;
        }
        assert_eq!(lines.len(), 1, "{}", o.fields["number"]);
        let line = &lines[0].fields;
        assert_eq!(line["total"], o.fields["total"], "{}", o.fields["number"]);
        assert_eq!(line["product"], o.fields["product"]);
        assert_eq!(line["quantity"], json!(format!("{}.000", o.fields["quantity"].as_i64().unwrap_or(1))));
        for f in ["contact", "company", "ordered_at", OWNER_FIELD] {
            assert_eq!(line.get(f).unwrap_or(&Json::Null), o.fields.get(f).unwrap_or(&Json::Null), "{f}");
        }
        let amount = |f: &str| o.fields[f]["amount"].as_str().and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
        assert_eq!(
            amount("subtotal") - amount("discount_total") + amount("tax_total"),
            amount("total"),
            "{}",
            o.fields["number"]
        );
    }
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_release_before_upgrades_without_loss_sqlite() {
    upgrade_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_release_before_upgrades_without_loss_postgres() {
    upgrade_on(Backend::Postgres).await;
}
