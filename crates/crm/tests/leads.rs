//! Leads on both backends: conversion into a contact, a company and a deal in one transaction,
//! into existing records the duplicate check finds, never twice (also when two convert at once),
//! nothing half-made when a part is refused; a disqualified lead needs a reason.

use peyvand_crm::crm_tests;
use peyvand_crm::sales::leads::{self, Conversion};
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

crm_tests!(
    a_lead_becomes_a_contact_a_company_and_a_deal,
    a_lead_converts_into_what_already_exists,
    a_lead_converts_once,
    a_refused_part_leaves_nothing
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

async fn make(db: &Db, object: &str, fields: Json) -> peyvand_store::records::Record {
    db.create_record(None, object, &input(fields), None).await.expect(object).0
}

async fn count(db: &Db, object: &str) -> usize {
    let query = peyvand_store::records::ListQuery {
        filter: None,
        sort: Vec::new(),
        limit: Some(100),
        cursor: None,
        trash: false,
        with_total: false,
        exact_total: false,
        fields: None,
    };
    db.list_records(object, &query).await.expect("list").records.len()
}

fn codes(e: &Error) -> Vec<(String, &'static str)> {
    match e {
        Error::Validation(errors) | Error::Conflict { details: errors, .. } => {
            errors.iter().map(|e| (e.field.clone(), e.code)).collect()
        }
        other => panic!("not a validation error: {other:?}"),
    }
}

fn lead_fields() -> Json {
    json!({"first_name": "Sara", "last_name": "Ahmadi", "company_name": "Pars Steel", "job_title": "Buyer",
        "emails": ["sara@parssteel.ir"], "phones": ["+989121234567"], "city": "Tabriz",
        "source": "web_form", "campaign": "Expo 1405"})
}

async fn a_lead_becomes_a_contact_a_company_and_a_deal(db: &Db) {
    let lead = make(db, "lead", lead_fields()).await;
    assert_eq!(lead.fields["status"], json!("new"));
    let call = make(
        db,
        "activity",
        json!({"kind": "call", "subject": "First call", "occurred_at": "2026-11-01T09:00:00Z", "lead": lead.id}),
    )
    .await;
    let deal = input(json!({"amount": {"amount": "450000000", "currency": "IRR"}, "stage": "proposal"}));
    let done = leads::convert(db, None, &lead.id, Conversion { deal: Some(deal), ..Conversion::default() })
        .await
        .expect("converted");
    assert_eq!(done.contact.fields["last_name"], json!("Ahmadi"));
    assert_eq!(done.contact.fields["emails"], json!(["sara@parssteel.ir"]));
    assert_eq!(done.contact.fields["source"], json!("web"));
    assert_eq!(done.contact.fields["lifecycle_stage"], json!("opportunity"));
    let company = done.company.as_ref().expect("a company");
    assert_eq!(company.fields["name"], json!("Pars Steel"));
    assert_eq!(done.contact.fields["company"], json!(company.id));
    let deal = done.deal.as_ref().expect("a deal");
    assert_eq!(deal.fields["name"], json!("Pars Steel"));
    assert_eq!((deal.fields["pipeline"].clone(), deal.fields["stage"].clone()), (json!("default"), json!("proposal")));
    assert_eq!(deal.fields["contact"], json!(done.contact.id));
    assert_eq!(done.lead.fields["status"], json!("qualified"));
    assert_eq!(done.lead.fields["converted_contact"], json!(done.contact.id));
    assert_eq!(done.lead.fields["converted_deal"], json!(deal.id));
    assert!(done.lead.fields["converted_at"].is_string());
    // Its call is on the contact's timeline now, and the deal's.
    assert_eq!(done.activities, 1);
    let call = db.get_record("activity", &call.id, false).await.expect("call");
    assert_eq!((call.fields["contact"].clone(), call.fields["deal"].clone()), (json!(done.contact.id), json!(deal.id)));
    // What it became stays as the conversion set it.
    let e = db
        .update_record(None, "lead", &lead.id, &input(json!({"converted_contact": null})), None)
        .await
        .expect_err("fixed");
    assert_eq!(codes(&e), [("converted_contact".to_string(), "lead_converted")]);
}

async fn a_lead_converts_into_what_already_exists(db: &Db) {
    let company = make(db, "company", json!({"name": "Pars Steel"})).await;
    let contact =
        make(db, "contact", json!({"first_name": "S.", "last_name": "Ahmadi", "emails": ["sara@parssteel.ir"]})).await;
    make(db, "contact", json!({"last_name": "Someone else"})).await;
    let lead = make(db, "lead", lead_fields()).await;
    let (contacts, companies) = leads::matches(db, &lead).await.expect("matches");
    assert_eq!(contacts.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [contact.id.as_str()], "by e-mail");
    assert_eq!(companies.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [company.id.as_str()], "by name");
    let how = Conversion {
        contact_id: Some(contact.id.clone()),
        company_id: Some(company.id.clone()),
        ..Conversion::default()
    };
    let done = leads::convert(db, None, &lead.id, how).await.expect("converted");
    assert_eq!(done.contact.id, contact.id);
    assert_eq!(done.contact.fields["company"], json!(company.id), "the contact joins the company");
    assert!(done.deal.is_none());
    assert_eq!((count(db, "contact").await, count(db, "company").await), (2, 1), "nothing made twice");
}

async fn a_lead_converts_once(db: &Db) {
    let lead = make(db, "lead", lead_fields()).await;
    // Two at once: one converts, the other is told what the lead became.
    let (a, b) = tokio::join!(
        leads::convert(db, None, &lead.id, Conversion::default()),
        leads::convert(db, None, &lead.id, Conversion::default())
    );
    let (done, refused) = match (a, b) {
        (Ok(done), Err(e)) | (Err(e), Ok(done)) => (done, e),
        other => panic!("one conversion, not {other:?}"),
    };
    assert_eq!(codes(&refused), [("lead".to_string(), "lead_converted")]);
    let Error::Conflict { details, .. } = &refused else { unreachable!() };
    assert_eq!(details[0].params["converted_contact"], json!(done.contact.id));
    assert_eq!((count(db, "contact").await, count(db, "company").await), (1, 1));

    // A disqualified lead says why, and is not converted.
    let other = make(db, "lead", json!({"last_name": "Karimi"})).await;
    let e = db
        .update_record(None, "lead", &other.id, &input(json!({"status": "disqualified"})), None)
        .await
        .expect_err("no reason");
    assert_eq!(codes(&e), [("disqualify_reason".to_string(), "reason_required")]);
    db.update_record(
        None,
        "lead",
        &other.id,
        &input(json!({"status": "disqualified", "disqualify_reason": "no_budget"})),
        None,
    )
    .await
    .expect("disqualified");
    let e = leads::convert(db, None, &other.id, Conversion::default()).await.expect_err("disqualified");
    assert_eq!(codes(&e), [("status".to_string(), "lead_disqualified")]);
}

async fn a_refused_part_leaves_nothing(db: &Db) {
    let lead = make(db, "lead", lead_fields()).await;
    let deal = input(json!({"stage": "no_such_stage"}));
    let e = leads::convert(db, None, &lead.id, Conversion { deal: Some(deal), ..Conversion::default() })
        .await
        .expect_err("a bad stage");
    assert_eq!(codes(&e)[0].0, "deal.stage");
    assert_eq!((count(db, "contact").await, count(db, "company").await, count(db, "deal").await), (0, 0, 0));
    let unchanged = db.get_record("lead", &lead.id, false).await.expect("lead");
    assert_eq!(unchanged.fields["status"], json!("new"));
    assert!(unchanged.fields["converted_at"].is_null());
    let e = leads::convert(db, None, &lead.id, Conversion { contact_id: Some("nope".into()), ..Conversion::default() })
        .await
        .expect_err("no such contact");
    assert_eq!(codes(&e), [("contact_id".to_string(), "invalid_reference")]);
}
