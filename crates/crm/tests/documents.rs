//! Quotes and orders on both backends: prices from the most specific price list, lines and
//! totals computed exactly (checked by hand below), bad lines refused by field with nothing
//! written, versions, totals that disagree, numbering, and orders of earlier releases upgraded.

use peyvand_crm::crm_tests;
use peyvand_crm::sales::documents::{self, Kind, LinesInput};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

crm_tests!(
    prices_come_from_the_most_specific_list,
    lines_and_totals_are_exact_to_the_rial,
    bad_lines_are_refused_by_field_and_nothing_is_written,
    orders_of_earlier_releases_get_their_lines,
    a_quote_and_a_won_deal_become_orders,
    a_customers_benefits_are_offered_on_their_lines,
    lines_sent_again_change_in_place
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

async fn make(db: &Db, object: &str, fields: Json) -> Record {
    db.create_record(None, object, &input(fields), None).await.unwrap_or_else(|e| panic!("{object}: {e:?}")).0
}

fn irr(amount: &str) -> Json {
    json!({"amount": amount, "currency": "IRR"})
}

fn codes(e: &Error) -> Vec<(String, &'static str)> {
    match e {
        Error::Validation(errors) | Error::Conflict { details: errors, .. } => {
            errors.iter().map(|e| (e.field.clone(), e.code)).collect()
        }
        other => panic!("not a validation error: {other:?}"),
    }
}

fn lines(value: Json) -> LinesInput {
    LinesInput { version: None, lines: value.as_array().expect("lines").iter().map(|l| input(l.clone())).collect() }
}

async fn prices_come_from_the_most_specific_list(db: &Db) {
    let product = make(db, "product", json!({"name": "Boiler", "price": irr("1000000"), "tax_percent": "0"})).await;
    let ours = make(db, "company", json!({"name": "Pars Steel", "customer_group": "wholesale"})).await;
    let fellow = make(db, "company", json!({"name": "Tabriz Steel", "customer_group": "wholesale"})).await;
    let retail = make(db, "company", json!({"name": "Corner shop", "customer_group": "retail"})).await;
    let list = async |fields: Json, price: &str| {
        let l = make(db, "price_list", fields).await;
        make(db, "price_list_item", json!({"price_list": l.id, "product": product.id, "price": irr(price)})).await;
        l
    };
    let everyone = list(json!({"name": "Public 1405", "valid_from": "2026-03-21"}), "900000").await;
    let wholesale =
        list(json!({"name": "Wholesale", "applies_to": "group", "customer_group": "wholesale"}), "850000").await;
    let theirs = list(json!({"name": "Pars Steel", "applies_to": "customer", "company": ours.id}), "800000").await;
    list(json!({"name": "Old deal", "applies_to": "customer", "company": ours.id, "valid_to": "2025-01-01"}), "1")
        .await;
    list(json!({"name": "Dollars", "currency": "USD"}), "20").await;
    list(json!({"name": "Paused", "active": false}), "2").await;
    for (company, price, source) in [
        (&ours, "800000", theirs.id.clone()),
        (&fellow, "850000", wholesale.id.clone()),
        (&retail, "900000", everyone.id.clone()),
    ] {
        let quote = make(db, "quote", json!({"company": company.id})).await;
        let (_, made) = documents::set_lines(
            db,
            None,
            Kind::Quote,
            &quote.id,
            lines(json!([{"product": product.id, "quantity": "1"}])),
        )
        .await
        .expect("lines");
        assert_eq!(made[0].fields["unit_price"], irr(price), "for {}", company.title);
        assert_eq!(made[0].fields["price_source"], json!(format!("price_list:{source}")));
        assert_eq!(made[0].fields["description"], json!("Boiler"));
    }
    // A quote priced from a list chosen for it; a list in another currency is refused.
    let special = list(json!({"name": "Fair offer", "applies_to": "group", "customer_group": "none"}), "777777").await;
    let quote = make(db, "quote", json!({"company": ours.id, "price_list": special.id})).await;
    let (_, made) = documents::set_lines(
        db,
        None,
        Kind::Quote,
        &quote.id,
        lines(json!([{"product": product.id, "quantity": "1"}])),
    )
    .await
    .expect("lines");
    assert_eq!(made[0].fields["unit_price"], irr("777777"), "the quote's own list first");
    let dollars = make(db, "price_list", json!({"name": "USD", "currency": "USD"})).await;
    let e = db
        .create_record(None, "quote", &input(json!({"company": ours.id, "price_list": dollars.id})), None)
        .await
        .expect_err("another currency");
    assert_eq!(codes(&e), [("price_list".to_string(), "currency_mismatch")]);
    // No list in the quote's currency: the product's own price does not apply either.
    let dollars = make(db, "quote", json!({"company": retail.id, "currency": "EUR"})).await;
    let e = documents::set_lines(
        db,
        None,
        Kind::Quote,
        &dollars.id,
        lines(json!([{"product": product.id, "quantity": "1"}])),
    )
    .await
    .expect_err("no price");
    assert_eq!(codes(&e), [("lines.0.unit_price".to_string(), "required")]);
}

async fn lines_and_totals_are_exact_to_the_rial(db: &Db) {
    let contact = make(db, "contact", json!({"last_name": "Ahmadi"})).await;
    let quote = make(db, "quote", json!({"contact": contact.id})).await;
    let year = peyvand_records::jalali::to_jalali(time::OffsetDateTime::now_utc().date()).expect("jalali").0;
    assert_eq!(quote.fields["number"], json!(format!("Q-{year}-00001")), "numbered");
    let second = make(db, "quote", json!({})).await;
    assert_eq!(second.fields["number"], json!(format!("Q-{year}-00002")));
    // An admin's pattern in the Jalali-year form with Persian digits: its counter runs on.
    let e = documents::set_numbering(db, Kind::Quote, "{jy}", true).await.expect_err("no counter");
    assert_eq!(codes(&e), [("pattern".to_string(), "invalid_number_pattern")]);
    documents::set_numbering(db, Kind::Quote, " {jy}-{n:5} ", true).await.expect("pattern");
    let persian = |s: String| peyvand_records::normalize::to_persian_digits(&s);
    let shown = documents::numbering(db).await.expect("numbering");
    assert_eq!((shown[0].pattern.as_str(), shown[0].next.clone()), ("{jy}-{n:5}", persian(format!("{year}-00003"))));
    let third = make(db, "quote", json!({})).await;
    assert_eq!(third.fields["number"], json!(persian(format!("{year}-00003"))), "۱۴۰۵-۰۰۰۰۳");
    assert_eq!(shown[1].next, format!("SO-{year}-00001"), "orders keep theirs");
    // By hand: 2 × 1,250,000 = 2,500,000 − 10 % = 2,250,000 + 10 % tax = 2,475,000;
    // 1.5 × 333,333 = 499,999.5 → 500,000 − 1,000 = 499,000 + 9 % = 44,910 → 543,910;
    // 3 × 10,001 = 30,003, no tax. Totals: 3,030,003 gross, 251,000 off, 269,910 tax, 3,048,913.
    let sent = json!([
        {"description": "Boiler", "quantity": "2", "unit_price": irr("1250000"), "discount_percent": "10", "tax_percent": "10"},
        {"description": "Pipe", "quantity": "1.5", "unit_price": irr("333333"), "discount_amount": irr("1000"), "tax_percent": "9"},
        {"description": "Valve", "quantity": 3, "unit_price": irr("10001"), "tax_percent": "0"},
    ]);
    let (header, made) = documents::set_lines(
        db,
        None,
        Kind::Quote,
        &quote.id,
        LinesInput { version: Some(quote.version), ..lines(sent) },
    )
    .await
    .expect("lines");
    let figures: Vec<Vec<Json>> = made
        .iter()
        .map(|l| ["gross", "discount", "tax", "total"].iter().map(|f| l.fields[*f]["amount"].clone()).collect())
        .collect();
    assert_eq!(
        figures,
        [
            vec![json!("2500000"), json!("250000"), json!("225000"), json!("2475000")],
            vec![json!("500000"), json!("1000"), json!("44910"), json!("543910")],
            vec![json!("30003"), json!("0"), json!("0"), json!("30003")],
        ]
    );
    let totals: Vec<Json> = ["subtotal", "discount_total", "tax_total", "total"]
        .iter()
        .map(|f| header.fields[*f]["amount"].clone())
        .collect();
    assert_eq!(totals, [json!("3030003"), json!("251000"), json!("269910"), json!("3048913")]);
    assert!(header.version > quote.version);
    // A total sent that disagrees with the lines is refused, naming it.
    let e = db
        .update_record(None, "quote", &quote.id, &input(json!({"total": irr("3000000")})), None)
        .await
        .expect_err("disagrees");
    assert_eq!(codes(&e), [("total".to_string(), "total_disagrees")]);
    // Someone else's lines, written over a version they did not see: refused.
    let stale = LinesInput {
        version: Some(quote.version),
        ..lines(json!([{"description": "x", "quantity": "1", "unit_price": irr("1")}]))
    };
    let e = documents::set_lines(db, None, Kind::Quote, &quote.id, stale).await.expect_err("stale");
    assert_eq!(codes(&e), [("version".to_string(), "version_conflict")]);
    // One line changed through the records API totals the quote again.
    db.update_record(None, "quote_line", &made[2].id, &input(json!({"quantity": "4"})), None).await.expect("a line");
    let again = db.get_record("quote", &quote.id, false).await.expect("quote");
    assert_eq!(again.fields["total"], irr("3058914"), "one more valve");
}

async fn bad_lines_are_refused_by_field_and_nothing_is_written(db: &Db) {
    let quote = make(db, "quote", json!({})).await;
    documents::set_lines(
        db,
        None,
        Kind::Quote,
        &quote.id,
        lines(json!([{"description": "Kept", "quantity": "1", "unit_price": irr("500")}])),
    )
    .await
    .expect("a line");
    for (line, field, code) in [
        (json!({"description": "x", "quantity": "0", "unit_price": irr("10")}), "lines.0.quantity", "not_positive"),
        (json!({"description": "x", "quantity": "-2", "unit_price": irr("10")}), "lines.0.quantity", "not_positive"),
        (
            json!({"description": "x", "quantity": "1", "unit_price": irr("10"), "discount_percent": "120"}),
            "lines.0.discount_percent",
            "discount_over_100",
        ),
        (
            json!({"description": "x", "quantity": "1", "unit_price": irr("10"), "discount_amount": irr("11")}),
            "lines.0.discount_amount",
            "discount_over_amount",
        ),
        (
            json!({"description": "x", "quantity": "1", "unit_price": irr("10"), "discount_amount": irr("1"), "discount_percent": "5"}),
            "lines.0.discount_amount",
            "one_discount",
        ),
        (
            json!({"description": "x", "quantity": "1", "unit_price": {"amount": "10", "currency": "USD"}}),
            "lines.0.unit_price",
            "currency_mismatch",
        ),
        (
            json!({"description": "x", "quantity": "1", "unit_price": irr("10"), "total": irr("10")}),
            "lines.0.total",
            "read_only",
        ),
        (
            json!({"description": "x", "quantity": "1", "unit_price": irr("10"), "colour": "red"}),
            "lines.0.colour",
            "unknown_field",
        ),
    ] {
        let e = documents::set_lines(db, None, Kind::Quote, &quote.id, lines(json!([line]))).await.expect_err(field);
        assert_eq!(codes(&e), [(field.to_string(), code)], "{line}");
    }
    let kept = documents::lines(db, Kind::Quote, &quote.id).await.expect("lines");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].fields["description"], json!("Kept"));
    let header = db.get_record("quote", &quote.id, false).await.expect("quote");
    assert_eq!(header.fields["total"], irr("500"));
}

async fn orders_of_earlier_releases_get_their_lines(db: &Db) {
    let contact = make(db, "contact", json!({"last_name": "Karimi"})).await;
    let product = make(db, "product", json!({"name": "Filter", "price": irr("400")})).await;
    // As earlier releases wrote them: a product, a quantity and a total.
    let order = make(
        db,
        "order",
        json!({"number": "SO-001", "contact": contact.id, "product": product.id, "quantity": 3,
        "total": irr("1000"), "ordered_at": "2026-05-01T10:00:00Z", "status": "paid"}),
    )
    .await;
    assert_eq!(order.version, 1);
    assert_eq!((order.fields["subtotal"].clone(), order.fields["discount_total"].clone()), (irr("1002"), irr("2")));
    let check = async |db: &Db| {
        let made = documents::lines(db, Kind::Order, &order.id).await.expect("lines");
        assert_eq!(made.len(), 1);
        let line = &made[0].fields;
        assert_eq!(
            (line["quantity"].clone(), line["unit_price"].clone(), line["total"].clone()),
            (json!("3.000"), irr("334"), irr("1000"))
        );
        assert_eq!(
            (line["contact"].clone(), line["ordered_at"].clone()),
            (json!(contact.id), json!("2026-05-01T10:00:00.000000Z"))
        );
        let header = db.get_record("order", &order.id, false).await.expect("order");
        for f in ["number", "total", "ordered_at", "contact", "status", "product", "quantity"] {
            assert_eq!(header.fields[f], order.fields[f], "{f} unchanged");
        }
    };
    check(db).await;
    // A database of the release before lines: the lines gone, the upgrade not yet run.
    let catalog = db.reload_catalog().await.expect("catalog");
    let table = catalog.object("order_line").expect("lines").table.clone();
    for sql in [format!("DELETE FROM {table}"), "DELETE FROM sales_upgrades".to_string()] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(db.pool()).await.expect("as before");
    }
    let again = peyvand_crm::open(db.url()).await.expect("upgrade at start-up");
    check(&again).await;
    // The purchase history: a customer's order lines, newest first, from one index.
    let filter = json!({"field": "contact", "op": "eq", "value": contact.id});
    let line_obj = catalog.object("order_line").expect("lines");
    let query = ListQuery {
        filter: Some(peyvand_records::filter::parse_filter(&line_obj, &filter).expect("filter")),
        sort: peyvand_records::filter::parse_sort(&line_obj, "-ordered_at").expect("sort"),
        limit: Some(50),
        cursor: None,
        trash: false,
        with_total: false,
        exact_total: false,
        fields: None,
    };
    let history = again.list_records("order_line", &query).await.expect("history");
    assert_eq!(history.records.len(), 1);
    assert_eq!(history.records[0].fields["product"], json!(product.id));
    again.close().await;
}

async fn a_quote_and_a_won_deal_become_orders(db: &Db) {
    let contact = make(db, "contact", json!({"last_name": "Rahimi"})).await;
    let product = make(db, "product", json!({"name": "Pump", "price": irr("700"), "tax_percent": "10"})).await;
    let deal = make(db, "deal", json!({"name": "Pumps for Qom", "contact": contact.id, "amount": irr("5000")})).await;
    let quote = make(db, "quote", json!({"contact": contact.id, "deal": deal.id, "status": "sent"})).await;
    documents::set_lines(db, None, Kind::Quote, &quote.id, lines(json!([{"product": product.id, "quantity": "2"}])))
        .await
        .expect("lines");
    // The list price changes after the quote: the order keeps the quoted price.
    db.update_record(None, "product", &product.id, &input(json!({"price": irr("900")})), None).await.expect("price");
    let (order, made) = documents::order_from_quote(db, None, &quote.id).await.expect("an order");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].fields["unit_price"], irr("700"));
    assert_eq!(order.fields["total"], irr("1540"), "2 × 700 + 10 %");
    assert_eq!((order.fields["contact"].clone(), order.fields["quote"].clone()), (json!(contact.id), json!(quote.id)));
    assert_eq!(db.get_record("quote", &quote.id, false).await.expect("quote").fields["status"], json!("accepted"));
    let e = documents::order_from_quote(db, None, &quote.id).await.expect_err("twice");
    assert_eq!(codes(&e), [("quote".to_string(), "quote_has_order")]);

    // A deal not won makes no order; won, it makes one from its quote, once.
    let e = documents::order_from_deal(db, None, &deal.id).await.expect_err("not won");
    assert_eq!(codes(&e), [("stage".to_string(), "deal_not_won")]);
    let other = make(
        db,
        "deal",
        json!({"name": "Spare parts", "contact": contact.id, "amount": irr("12000"),
        "stage": "won", "won_reason": "price"}),
    )
    .await;
    let (order, made) = documents::order_from_deal(db, None, &other.id).await.expect("from the deal's amount");
    assert_eq!(
        (made[0].fields["description"].clone(), order.fields["total"].clone()),
        (json!("Spare parts"), irr("12000"))
    );
    assert_eq!(order.fields["deal"], json!(other.id));
    let e = documents::order_from_deal(db, None, &other.id).await.expect_err("twice");
    assert_eq!(codes(&e), [("deal".to_string(), "deal_has_order")]);
}

async fn a_customers_benefits_are_offered_on_their_lines(db: &Db) {
    let company = make(db, "company", json!({"name": "Pars Steel", "customer_group": "vip"})).await;
    let contact = make(db, "contact", json!({"last_name": "Ahmadi", "company": company.id})).await;
    let boiler = make(db, "product", json!({"name": "Boiler", "price": irr("1000000"), "tax_percent": "0"})).await;
    let pipe = make(db, "product", json!({"name": "Pipe", "price": irr("2000"), "tax_percent": "0"})).await;
    let valve = make(db, "product", json!({"name": "Valve", "price": irr("300"), "tax_percent": "0"})).await;
    // VIP customers buy boilers from their own list; Ahmadi has 7 % off once; the company 500
    // off each line of pipe; and free delivery, in words.
    let vip = make(db, "price_list", json!({"name": "VIP", "applies_to": "group", "customer_group": "retail"})).await;
    make(db, "price_list_item", json!({"price_list": vip.id, "product": boiler.id, "price": irr("900000")})).await;
    let list = make(
        db,
        "benefit",
        json!({"name": "VIP prices", "kind": "price_list", "applies_to": "group",
        "customer_group": "vip", "price_list": vip.id}),
    )
    .await;
    let seven = make(
        db,
        "benefit",
        json!({"name": "Loyal customer", "kind": "percent_discount", "applies_to": "contact",
        "contact": contact.id, "percent": "7", "max_uses": 1}),
    )
    .await;
    let pipes = make(
        db,
        "benefit",
        json!({"name": "Pipes", "kind": "amount_discount", "applies_to": "company",
        "company": company.id, "product": pipe.id, "amount": irr("500")}),
    )
    .await;
    make(
        db,
        "benefit",
        json!({"name": "Free delivery", "kind": "free_delivery", "applies_to": "contact", "contact": contact.id}),
    )
    .await;
    make(
        db,
        "benefit",
        json!({"name": "Expired", "kind": "percent_discount", "applies_to": "contact", "contact": contact.id,
        "percent": "50", "valid_to": "2020-01-01"}),
    )
    .await;

    let quote = make(db, "quote", json!({"contact": contact.id})).await;
    let sent = json!([
        {"product": boiler.id, "quantity": "1"},
        {"product": pipe.id, "quantity": "2", "discount_percent": "0"},
        {"product": valve.id, "quantity": "1", "discount_percent": "1"},
    ]);
    let (header, made) = documents::set_lines(db, None, Kind::Quote, &quote.id, lines(sent)).await.expect("lines");
    let boiler_line = &made[0].fields;
    assert_eq!(boiler_line["unit_price"], irr("900000"), "the group's list");
    assert_eq!(boiler_line["price_source"], json!(format!("benefit:{}", list.id)));
    assert_eq!(
        (boiler_line["discount_percent"].clone(), boiler_line["benefit"].clone()),
        (json!("7.00"), json!(seven.id))
    );
    assert_eq!(boiler_line["total"], irr("837000"), "900,000 − 7 %");
    // A line with a discount of its own keeps it (the pipe's 0 %, the valve's 1 %).
    assert_eq!(made[1].fields["discount"], irr("0"));
    assert_eq!(made[2].fields["discount"], irr("3"));
    assert_eq!(header.fields["total"], irr("841297"), "837,000 + 4,000 + 297");
    // Without a discount of its own the pipe line takes the company's 500.
    let again = json!([{"product": pipe.id, "quantity": "2"}]);
    let (_, made) = documents::set_lines(db, None, Kind::Quote, &quote.id, lines(again)).await.expect("lines");
    // The 7 % still comes first for the contact; once the boiler line is gone, the pipe line takes it.
    assert_eq!(made[0].fields["benefit"], json!(seven.id));
    // The 7 % was for one document: a second quote gets the company's 500 on its pipes instead.
    let second = make(db, "quote", json!({"contact": contact.id})).await;
    let (_, made) =
        documents::set_lines(db, None, Kind::Quote, &second.id, lines(json!([{"product": pipe.id, "quantity": "2"}])))
            .await
            .expect("lines");
    assert_eq!(
        (made[0].fields["discount_amount"].clone(), made[0].fields["benefit"].clone()),
        (irr("500"), json!(pipes.id))
    );
    assert_eq!(made[0].fields["total"], irr("3500"));
    // The customer's page lists what applies today.
    let shown = peyvand_crm::sales::benefits::for_customer(db, Some(&contact.id), None).await.expect("benefits");
    let mut names: Vec<String> = shown.iter().map(|b| b.record.title.clone()).collect();
    names.sort();
    assert_eq!(names, ["Free delivery", "Loyal customer", "Pipes", "VIP prices"]);
}

async fn lines_sent_again_change_in_place(db: &Db) {
    let contact = make(db, "contact", json!({"last_name": "Ahmadi"})).await;
    let boiler = make(db, "product", json!({"name": "Boiler", "price": irr("1000000"), "tax_percent": "0"})).await;
    let pipe = make(db, "product", json!({"name": "Pipe", "price": irr("2000"), "tax_percent": "0"})).await;
    let seven = make(
        db,
        "benefit",
        json!({"name": "Loyal", "kind": "percent_discount", "applies_to": "contact", "contact": contact.id, "percent": "7"}),
    )
    .await;
    let quote = make(db, "quote", json!({"contact": contact.id})).await;
    let first = json!([
        {"product": boiler.id, "quantity": "1"},
        {"product": pipe.id, "quantity": "2", "discount_percent": "0"},
        {"product": pipe.id, "quantity": "5", "unit_price": irr("1500")},
    ]);
    let (_, before) = documents::set_lines(db, None, Kind::Quote, &quote.id, lines(first)).await.expect("lines");
    let versions: Vec<i64> = before.iter().map(|l| l.version).collect();
    // The boiler now a pipe with its own 2 %, the pipe line sent back as it reads (as the lines'
    // form does), the third dropped.
    let echo: Map<String, Json> =
        ["product", "description", "quantity", "unit_price", "discount_percent", "tax_percent"]
            .iter()
            .map(|f| (f.to_string(), before[1].fields[*f].clone()))
            .collect();
    let second = json!([{"product": pipe.id, "quantity": "3", "discount_percent": "2"}, echo]);
    let (header, after) = documents::set_lines(db, None, Kind::Quote, &quote.id, lines(second)).await.expect("again");
    assert_eq!(after.len(), 2);
    assert_eq!(
        (after[0].id.as_str(), after[1].id.as_str()),
        (before[0].id.as_str(), before[1].id.as_str()),
        "the same lines"
    );
    assert_eq!(after[1].version, versions[1], "a line sent as it was is not written");
    assert!(after[0].version > versions[0], "a changed line is");
    let changed = &after[0].fields;
    assert_eq!(changed["unit_price"], irr("2000"), "priced again from the new product");
    assert_eq!(changed["discount_percent"], json!("2.00"));
    assert_eq!(changed["benefit"], Json::Null, "its own discount: the benefit no longer applies");
    assert_eq!(changed["total"], irr("5880"), "3 × 2,000 − 2 %");
    assert!(matches!(db.get_record("quote_line", &before[2].id, false).await, Err(Error::NotFound(_))), "dropped");
    assert_eq!(header.fields["total"], irr("9880"), "5,880 + 4,000");
    // And back: the benefit is found again for a line without a discount of its own.
    let third = json!([{"product": boiler.id, "quantity": "1"}]);
    let (_, last) = documents::set_lines(db, None, Kind::Quote, &quote.id, lines(third)).await.expect("third");
    assert_eq!((last[0].id.as_str(), last[0].fields["benefit"].clone()), (before[0].id.as_str(), json!(seven.id)));
    assert_eq!(last[0].fields["total"], irr("930000"));
}
