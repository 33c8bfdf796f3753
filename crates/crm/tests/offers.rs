//! Offers from purchase history on both backends: the co-purchase model built from sold orders'
//! lines (cancelled ones do not count), a customer's offers from what others who bought the same
//! bought, less what they own (read live) and what is no longer sold, best sellers after; the
//! `offers` merge field; the build as a job.

use peyvand_crm::automation::templates::{self, TemplateInput};
use peyvand_crm::crm_tests;
use peyvand_crm::sales::documents::{self, Kind, LinesInput};
use peyvand_crm::sales::offers;
use peyvand_store::runner::Runner;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;

crm_tests!(customers_are_offered_what_those_who_bought_the_same_bought);

fn input(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("an object")
}

async fn make(db: &Db, object: &str, fields: Json) -> String {
    db.create_record(None, object, &input(fields), None).await.unwrap_or_else(|e| panic!("{object}: {e:?}")).0.id
}

/// An order of `contact` for `products` (one of each), at `status`.
async fn buy(db: &Db, contact: &str, products: &[&String], status: &str) {
    let at = peyvand_records::value::format_datetime(time::OffsetDateTime::now_utc());
    let order = make(db, "order", json!({"contact": contact, "status": "pending", "ordered_at": at})).await;
    let lines = products.iter().map(|p| input(json!({"product": p, "quantity": "1"}))).collect();
    documents::set_lines(db, None, Kind::Order, &order, LinesInput { version: None, lines }).await.expect("lines");
    if status != "pending" {
        db.update_record(None, "order", &order, &input(json!({"status": status})), None).await.expect("status");
    }
}

fn names(found: &[offers::Offer]) -> Vec<(&str, &str)> {
    found.iter().map(|o| (o.name.as_str(), o.reason)).collect()
}

async fn customers_are_offered_what_those_who_bought_the_same_bought(db: &Db) {
    let mut p = HashMap::new();
    for name in ["Tea", "Sugar", "Cups", "Honey", "Coffee", "Milk"] {
        let id = make(db, "product", json!({"name": name, "price": {"amount": "150000", "currency": "IRR"}})).await;
        p.insert(name, id);
    }
    let mut c = HashMap::new();
    for name in ["Ana", "Bob", "Cyrus", "Dara", "Elham", "Farid", "Xerxes", "Yasmin"] {
        c.insert(name, make(db, "contact", json!({"last_name": name})).await);
    }
    assert!(offers::info(db).await.expect("info").is_none(), "no model yet");
    assert!(offers::for_contact(db, &c["Farid"], 3).await.expect("offers").is_empty(), "nothing to go on yet");

    buy(db, &c["Ana"], &[&p["Tea"], &p["Sugar"], &p["Cups"]], "delivered").await;
    buy(db, &c["Bob"], &[&p["Tea"], &p["Sugar"]], "paid").await;
    buy(db, &c["Bob"], &[&p["Cups"]], "pending").await;
    buy(db, &c["Cyrus"], &[&p["Tea"], &p["Sugar"], &p["Honey"]], "delivered").await;
    buy(db, &c["Dara"], &[&p["Coffee"], &p["Milk"]], "shipped").await;
    buy(db, &c["Elham"], &[&p["Coffee"], &p["Milk"], &p["Sugar"]], "delivered").await;
    buy(db, &c["Farid"], &[&p["Tea"]], "delivered").await;
    // Two cancelled baskets of coffee and honey: were they counted, coffee would lead to honey.
    buy(db, &c["Xerxes"], &[&p["Coffee"], &p["Honey"]], "cancelled").await;
    buy(db, &c["Yasmin"], &[&p["Coffee"], &p["Honey"]], "cancelled").await;

    let info = offers::build(db).await.expect("build");
    assert_eq!((info.customers, info.products), (6, 6), "the cancelled baskets are not purchases: {info:?}");
    // Pairs bought by at least two customers: tea–sugar, tea–cups, sugar–cups, coffee–milk, both ways.
    assert_eq!(info.pairs, 8, "{info:?}");
    assert_eq!(offers::info(db).await.expect("info"), Some(info.clone()));

    // Farid bought tea: three others who bought tea bought sugar, two cups; then best sellers.
    let farid = offers::for_contact(db, &c["Farid"], 3).await.expect("offers");
    assert_eq!(&names(&farid)[..2], &[("Sugar", "bought_with"), ("Cups", "bought_with")], "{farid:?}");
    assert!(farid[0].score > farid[1].score, "{farid:?}");
    assert_eq!(farid[2].reason, "popular");
    assert!(["Coffee", "Milk"].contains(&farid[2].name.as_str()), "the next best seller he does not own: {farid:?}");
    assert_eq!(farid[0].price, json!({"amount": "150000", "currency": "IRR"}));
    // Dara bought coffee and milk: nobody else's basket leads anywhere (the cancelled honey does
    // not count), so the best sellers she does not own.
    let dara = offers::for_contact(db, &c["Dara"], 2).await.expect("offers");
    assert_eq!(
        names(&dara),
        [("Tea", "popular"), ("Sugar", "popular")],
        "equal sales, the older product first: {dara:?}"
    );
    // Xerxes's only order was cancelled: he owns nothing, so coffee may be offered to him.
    let xerxes = offers::for_contact(db, &c["Xerxes"], 6).await.expect("offers");
    assert!(xerxes.iter().any(|o| o.name == "Coffee") && xerxes.iter().all(|o| o.reason == "popular"), "{xerxes:?}");

    // What he owns is read live: sugar bought since the build is not offered again; a product no
    // longer sold is never offered.
    buy(db, &c["Farid"], &[&p["Sugar"]], "paid").await;
    db.update_record(None, "product", &p["Cups"], &input(json!({"active": false})), None).await.expect("retire");
    let farid = offers::for_contact(db, &c["Farid"], 3).await.expect("offers");
    assert!(farid.iter().all(|o| o.name != "Sugar" && o.name != "Cups" && o.name != "Tea"), "{farid:?}");
    assert_eq!(farid.len(), 3, "filled from best sellers: {farid:?}");
    assert!(matches!(offers::for_contact(db, "no-such-contact", 3).await, Err(Error::NotFound(_))));

    // The merge field, for a contact and for a record that has one; an object without a
    // customer cannot name it.
    let template = |object: &str, body: &str| TemplateInput {
        name: format!("Offers for {object}"),
        channel: "email".into(),
        object: object.into(),
        language: "en".into(),
        subject: "For you".into(),
        body: body.into(),
    };
    let body = "{% for p in offers %}{{ p.name }} at {{ p.price }};{% endfor %}";
    let t = templates::save(db, None, &template("contact", body)).await.expect("template");
    let mail = templates::render_for(db, &t, &c["Farid"]).await.expect("render");
    assert!(mail.body.starts_with("Coffee at 150,000 IRR;"), "{}", mail.body);
    assert_eq!(mail.body.matches(';').count(), 3, "{}", mail.body);
    templates::save(db, None, &template("ticket", body)).await.expect("a ticket has a contact");
    let e = templates::save(db, None, &template("product", body)).await.expect_err("a product has no customer");
    let Error::Validation(errors) = e else { panic!("{e:?}") };
    assert_eq!((errors[0].code, errors[0].params["name"].as_str()), ("template_unknown_field", Some("offers")));

    // The build as a job, asked for now; the model replaced.
    buy(db, &c["Dara"], &[&p["Tea"], &p["Honey"]], "delivered").await;
    buy(db, &c["Elham"], &[&p["Tea"], &p["Honey"]], "delivered").await;
    offers::build_soon(db).await.expect("ask");
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    runner.register().await.expect("register");
    while runner.round().await.expect("round") > 0 {}
    let dara = offers::for_contact(db, &c["Dara"], 1).await.expect("offers");
    assert_eq!(names(&dara), [("Sugar", "bought_with")], "tea and honey now lead to sugar: {dara:?}");
    let rebuilt = offers::info(db).await.expect("info").expect("a model");
    assert_eq!(rebuilt.customers, 6);
    assert!(rebuilt.pairs > info.pairs, "{rebuilt:?}");
}
