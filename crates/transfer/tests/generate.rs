//! The data generator on both backends: the counts asked for, contacts working at the generated
//! companies, searchable, deals and orders that follow their contacts and products, and a
//! purchase history with repeat buyers and lapsed ones.

use peyvand_store::Db;
use peyvand_store::records::ListQuery;
use peyvand_store::testing::{Backend, TestDb};
use peyvand_transfer::generate::{GenerateOptions, generate};

async fn total(db: &Db, object: &str, filter: Option<serde_json::Value>) -> i64 {
    let obj = db.object(object).await.expect("object");
    let filter = filter.map(|f| peyvand_records::filter::parse_filter(&obj, &f).expect("filter"));
    db.list_records(
        object,
        &ListQuery { filter, with_total: true, exact_total: true, limit: Some(1), ..Default::default() },
    )
    .await
    .expect("list")
    .total
    .expect("total")
}

async fn generated(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    let score = serde_json::json!({"api_name": "score", "type": "integer", "indexed": true});
    db.add_field(None, "contact", serde_json::from_value(score).expect("field")).await.expect("score");
    let tables = [
        "r_company",
        "r_contact",
        "r_activity",
        "r_product",
        "r_deal",
        "r_order",
        "search_terms",
        "audit_log",
        "record_values",
    ];
    let mut indexes = Vec::new();
    for table in tables {
        indexes.push(db.index_names(table).await.expect("indexes"));
    }
    let opts = GenerateOptions {
        companies: 40,
        contacts: 300,
        activities: 900,
        products: 30,
        deals: 200,
        orders: 1_500,
        seed: 42,
        batch: 64,
        owners: Vec::new(),
    };
    // A consumer known before the load (a server ran on the database) is moved past the
    // generated records' events: no webhook, workflow or notification replays them.
    db.register_consumer("test.watcher", false).await.expect("a consumer");
    let before = db.consumer_position("test.watcher").await.expect("position");
    let mut seen = Vec::new();
    let made = generate(&db, &opts, |what, n| seen.push((what.to_string(), n))).await.expect("generate");
    assert_eq!(
        (made.companies, made.contacts, made.activities, made.products, made.deals, made.orders),
        (40, 300, 900, 30, 200, 1_500)
    );
    let end = db.stream_end().await.expect("end");
    assert!(end - before >= 2_970, "each generated record's event is in the stream: {before} → {end}");
    assert_eq!(db.consumer_position("test.watcher").await.expect("position"), end);
    assert!(db.next_events("test.watcher", 10).await.expect("events").is_empty());
    // Into an empty database the indexes were built once at the end, every one of them.
    let orders_done = seen.iter().position(|s| *s == ("order".to_string(), 1_500)).expect("all orders");
    assert!(matches!(seen.last(), Some((what, n)) if what == "indexes" && *n > 10), "{:?}", seen.last());
    assert!(orders_done < seen.len() - 1);
    for (table, before) in tables.iter().zip(&indexes) {
        assert_eq!(&db.index_names(table).await.expect("indexes"), before, "{table}");
    }
    assert_eq!(total(&db, "activity", None).await, 900);
    // Activities belong to generated contacts, the company one with the contact's company.
    let calls = total(&db, "activity", Some(serde_json::json!({"field": "kind", "op": "eq", "value": "call"}))).await;
    assert!((120..=300).contains(&calls), "about 3 in 13 are calls: {calls}");
    let acts =
        db.list_records("activity", &ListQuery { limit: Some(200), ..Default::default() }).await.expect("activities");
    let mut recent = 0;
    let now = time::OffsetDateTime::now_utc();
    for a in &acts.records {
        let contact =
            db.get_record("contact", a.fields["contact"].as_str().expect("contact"), false).await.expect("live");
        assert_eq!(a.fields["company"], contact.fields["company"], "an activity's company is its contact's");
        let at = time::OffsetDateTime::parse(
            a.fields["occurred_at"].as_str().expect("when"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("an instant");
        assert!(at <= now && now - at <= time::Duration::days(731), "{at}");
        recent += usize::from(now - at <= time::Duration::days(365));
    }
    assert!(recent > 120, "most activities are from the last year: {recent} of 200");
    assert_eq!(total(&db, "company", None).await, 40);
    assert_eq!(total(&db, "contact", None).await, 300);
    let scored =
        total(&db, "contact", Some(serde_json::json!({"field": "score", "op": "is_empty", "value": false}))).await;
    assert_eq!(scored, 300, "a field the admin added is filled in too");
    let high = total(&db, "contact", Some(serde_json::json!({"field": "score", "op": "gte", "value": 50000}))).await;
    assert!((100..=200).contains(&high), "scores spread over 0..100000: {high} of 300 at 50000 or more");
    let employed =
        total(&db, "contact", Some(serde_json::json!({"field": "company", "op": "is_empty", "value": false}))).await;
    assert!((180..=290).contains(&employed), "about 80% work at a company: {employed}");
    assert_eq!(db.search("person17@example.ir", 5).await.expect("search").len(), 1);
    let page = db.list_records("contact", &ListQuery { limit: Some(1), ..Default::default() }).await.expect("list");
    let history = db.record_history("contact", &page.records[0].id, 5).await.expect("history");
    assert_eq!(history[0].action, "create", "generated records have their history like any other");
    deals_follow_their_contacts(&db).await;
    orders_make_a_purchase_history(&db).await;
    every_reference_is_to_a_live_record(&db).await;
    db.close().await;
    test_db.cleanup().await;
}

/// Every relation of every generated record points at a live record of its target (the generator's
/// references to records it wrote itself are not looked up again while it loads, so this is where
/// they are checked), and there are relations to check.
async fn every_reference_is_to_a_live_record(db: &Db) {
    use sqlx::Row;
    let mut checked = 0;
    for object in ["company", "contact", "activity", "product", "deal", "order"] {
        let obj = db.object(object).await.expect("object");
        for f in obj.fields.iter().filter(|f| f.field_type == peyvand_records::FieldType::Relation) {
            let target = db.object(f.options.target.as_deref().expect("a target")).await.expect("target");
            let sql = format!(
                "SELECT COUNT(*) FROM {table} r WHERE r.deleted_at IS NULL AND r.{col} IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.id = r.{col} AND t.deleted_at IS NULL)",
                col = f.column,
                table = obj.table,
                target = target.table
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(db.pool()).await.expect("dangling");
            assert_eq!(row.get::<i64, _>(0), 0, "{object}.{} points at missing records", f.api_name);
            let sql = format!("SELECT COUNT({}) FROM {}", f.column, obj.table);
            checked += sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(db.pool()).await.expect("set").get::<i64, _>(0);
        }
    }
    assert!(checked > 3_000, "activities, deals and orders point at contacts and more: {checked} references");
}

async fn all(db: &Db, object: &str) -> Vec<peyvand_store::records::Record> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery { limit: Some(500), cursor, ..Default::default() };
        let page = db.list_records(object, &query).await.expect("list");
        records.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return records,
        }
    }
}

fn text<'a>(r: &'a peyvand_store::records::Record, field: &str) -> &'a str {
    r.fields[field].as_str().unwrap_or_else(|| panic!("{field} of {}: {:?}", r.id, r.fields[field]))
}

fn amount(r: &peyvand_store::records::Record, field: &str) -> u64 {
    text_of(&r.fields[field]["amount"]).parse().expect("a whole amount")
}

fn text_of(v: &serde_json::Value) -> &str {
    v.as_str().expect("text")
}

/// Deals belong to generated contacts (and their companies); those expected to close before
/// today are won or lost with the day they closed, the others open.
async fn deals_follow_their_contacts(db: &Db) {
    let contacts: std::collections::HashMap<String, serde_json::Value> =
        all(db, "contact").await.into_iter().map(|c| (c.id.clone(), c.fields["company"].clone())).collect();
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (mut closed, mut won, mut open) = (0, 0, 0);
    for d in all(db, "deal").await {
        assert_eq!(contacts[text(&d, "contact")], d.fields["company"], "a deal's company is its contact's");
        assert!(amount(&d, "amount") > 0);
        let stage = text(&d, "stage");
        if text(&d, "expected_close") < today.as_str() {
            assert!(matches!(stage, "won" | "lost"), "{stage}");
            assert!(text(&d, "closed_on") <= today.as_str());
            closed += 1;
            won += usize::from(stage == "won");
        } else {
            assert!(!matches!(stage, "won" | "lost") && d.fields["closed_on"].is_null(), "{stage}");
            open += 1;
        }
    }
    assert!(closed > 100 && open > 0, "most of two years' deals are closed: {closed} closed, {open} open");
    assert!(won * 100 / closed >= 15 && won * 100 / closed <= 45, "about three in ten won: {won} of {closed}");
}

/// Orders: numbered in time order, each for a generated product at its price times the quantity
/// (less a discount of at most 20 %), bought by a contact (with the contact's company); some
/// contacts buy again and again, some never, and some stopped buying long before today.
async fn orders_make_a_purchase_history(db: &Db) {
    let products: std::collections::HashMap<String, u64> =
        all(db, "product").await.iter().map(|p| (p.id.clone(), amount(p, "price"))).collect();
    let contacts: std::collections::HashMap<String, serde_json::Value> =
        all(db, "contact").await.into_iter().map(|c| (c.id.clone(), c.fields["company"].clone())).collect();
    let mut orders = all(db, "order").await;
    assert_eq!(orders.len(), 1_500);
    orders.sort_by(|a, b| text(a, "number").cmp(text(b, "number")));
    let now = time::OffsetDateTime::now_utc();
    let mut last_order: std::collections::HashMap<&str, time::OffsetDateTime> = Default::default();
    let mut per_buyer: std::collections::HashMap<&str, usize> = Default::default();
    let mut per_product: std::collections::HashMap<&str, usize> = Default::default();
    let mut previous = None;
    for o in &orders {
        let at = time::OffsetDateTime::parse(text(o, "ordered_at"), &time::format_description::well_known::Rfc3339)
            .expect("an instant");
        assert!(at <= now && now - at <= time::Duration::days(731), "{at}");
        assert!(previous.is_none_or(|p| p <= at), "numbers follow time");
        previous = Some(at);
        let price = products[text(o, "product")];
        let quantity = o.fields["quantity"].as_i64().expect("quantity") as u64;
        let total = amount(o, "total");
        assert!(quantity >= 1 && total <= price * quantity && total * 100 >= price * quantity * 80, "{o:?}");
        let buyer = text(o, "contact");
        assert_eq!(contacts[buyer], o.fields["company"], "an order's company is its buyer's");
        let last = last_order.entry(buyer).or_insert(at);
        *last = (*last).max(at);
        *per_buyer.entry(buyer).or_default() += 1;
        *per_product.entry(text(o, "product")).or_default() += 1;
        assert!(
            matches!(text(o, "status"), "pending" | "paid" | "shipped" | "delivered" | "cancelled" | "returned"),
            "{o:?}"
        );
    }
    let buyers = per_buyer.len();
    assert!(
        (120..=240).contains(&buyers),
        "at five orders per contact, about half of the contacts buy: {buyers} of 300"
    );
    let repeat = per_buyer.values().filter(|&&n| n >= 3).count();
    assert!(repeat * 3 >= buyers, "most buyers come back: {repeat} of {buyers} bought three times or more");
    let busiest = per_buyer.values().max().copied().unwrap_or(0);
    assert!(busiest >= 25, "a few buy far more often than the average of 1,500 / {buyers}: {busiest}");
    let lapsed = last_order.values().filter(|&&at| now - at > time::Duration::days(180)).count();
    assert!(lapsed * 10 >= buyers, "some stopped buying half a year ago or more: {lapsed} of {buyers}");
    let mut sales: Vec<usize> = per_product.values().copied().collect();
    sales.sort_unstable_by(|a, b| b.cmp(a));
    assert!(sales[..3].iter().sum::<usize>() * 100 / 1_500 >= 20, "a few products sell most: {sales:?}");
    let recent = orders.iter().filter(|o| {
        now - time::Duration::days(3)
            <= time::OffsetDateTime::parse(text(o, "ordered_at"), &time::format_description::well_known::Rfc3339)
                .expect("instant")
    });
    assert!(
        recent.clone().all(|o| matches!(text(o, "status"), "pending" | "paid")),
        "the last days' orders are not delivered yet"
    );
}

/// Deals and orders name products: asked for without any, nothing is generated and the error
/// says why.
#[tokio::test]
async fn deals_and_orders_need_products() {
    let Some(test_db) = TestDb::new(Backend::Sqlite).await else { return };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    let opts = GenerateOptions { products: 0, ..GenerateOptions::scaled(50, 1) };
    let refused = generate(&db, &opts, |_, _| {}).await;
    assert!(matches!(refused, Err(peyvand_transfer::TransferError::NeedsProducts)), "{refused:?}");
    assert_eq!(total(&db, "contact", None).await, 0, "nothing generated");
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn generate_sqlite() {
    generated(Backend::Sqlite).await;
}

#[tokio::test]
async fn generate_postgres() {
    generated(Backend::Postgres).await;
}
