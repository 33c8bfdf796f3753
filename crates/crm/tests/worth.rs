//! What a customer is worth, on both backends: orders that count (not cancelled or returned),
//! their revenue and average per currency, the last purchase, the open pipeline; a contact's and
//! a company's.

use peyvand_crm::crm_tests;
use peyvand_crm::sales::worth::{Amount, worth};
use peyvand_store::Db;
use peyvand_store::records::Record;
use serde_json::{Value as Json, json};

crm_tests!(a_customers_orders_and_open_deals_are_summed);

async fn make(db: &Db, object: &str, fields: Json) -> Record {
    let fields = fields.as_object().cloned().expect("an object");
    db.create_record(None, object, &fields, None).await.unwrap_or_else(|e| panic!("{object}: {e:?}")).0
}

fn irr(amount: &str) -> Amount {
    Amount { amount: amount.into(), currency: "IRR".into() }
}

async fn a_customers_orders_and_open_deals_are_summed(db: &Db) {
    let company = make(db, "company", json!({"name": "Pars Steel"})).await;
    let contact = make(db, "contact", json!({"last_name": "Ahmadi", "company": company.id})).await;
    let other = make(db, "contact", json!({"last_name": "Karimi"})).await;
    let boiler = make(
        db,
        "product",
        json!({"name": "Boiler", "price": {"amount": "1000", "currency": "IRR"}, "tax_percent": "0"}),
    )
    .await;
    let order = async |who: &Record, quantity: i64, status: &str, at: &str| {
        make(db, "order", json!({"contact": who.id, "company": who.fields.get("company"), "product": boiler.id,
            "quantity": quantity, "status": status, "ordered_at": at, "total": {"amount": (quantity * 1000).to_string(), "currency": "IRR"}}))
        .await
    };
    order(&contact, 3, "delivered", "2026-10-01T08:00:00Z").await;
    order(&contact, 2, "delivered", "2026-11-20T08:00:00Z").await;
    order(&contact, 9, "cancelled", "2026-12-01T08:00:00Z").await;
    order(&other, 5, "delivered", "2026-12-02T08:00:00Z").await;
    for (stage, amount) in [("proposal", "7000"), ("negotiation", "3000"), ("won", "50000")] {
        let mut fields = json!({"name": format!("Deal {stage}"), "contact": contact.id, "company": company.id,
            "stage": stage, "amount": {"amount": amount, "currency": "IRR"}});
        if stage == "won" {
            fields["won_reason"] = json!("price");
        }
        make(db, "deal", fields).await;
    }

    let w = worth(db, "contact", &contact.id).await.expect("worth");
    assert_eq!((w.orders, w.revenue.clone(), w.average.clone()), (2, vec![irr("5000")], vec![irr("2500")]), "{w:?}");
    assert_eq!(w.last_order.as_deref().map(|d| &d[..10]), Some("2026-11-20"), "a cancelled order is no purchase");
    assert_eq!((w.open_deals, w.pipeline.clone()), (2, vec![irr("10000")]), "won deals are not pipeline");
    let c = worth(db, "company", &company.id).await.expect("worth");
    assert_eq!((c.orders, c.revenue), (2, vec![irr("5000")]), "the company's, through its contact's orders");
    let nobody = worth(db, "contact", &make(db, "contact", json!({"last_name": "New"})).await.id).await.expect("worth");
    assert_eq!((nobody.orders, nobody.revenue.len(), nobody.last_order, nobody.open_deals), (0, 0, None, 0));
}
