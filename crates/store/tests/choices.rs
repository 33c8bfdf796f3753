//! Choices that depend on another field (a model under its make, a stage under its pipeline):
//! the field's definition is checked, and every write path refuses a choice that is not under
//! the other field's value.

use peyvand_records::Value;
use peyvand_store::records::ListQuery;
use peyvand_store::schema::{FieldPatch, NewField, NewObject};
use peyvand_store::{Db, Error};
use serde_json::{Value as Json, json};

peyvand_crm::crm_tests!(dependent_choices_are_checked_on_every_write);

fn refused_code(e: Error) -> (String, &'static str) {
    match e {
        Error::Validation(errors) => (errors[0].field.clone(), errors[0].code),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn map(v: Json) -> serde_json::Map<String, Json> {
    v.as_object().cloned().expect("an object")
}

async fn dependent_choices_are_checked_on_every_write(db: &Db) {
    let object: NewObject = serde_json::from_value(json!({
        "api_name": "car", "label_fa": "خودرو", "label_en": "Car", "fields": [
            { "api_name": "name", "label_fa": "نام", "label_en": "Name", "type": "text" },
            { "api_name": "make", "label_fa": "سازنده", "label_en": "Make", "type": "select", "options": { "options": [
                { "value": "saipa" }, { "value": "ikco" } ] } }
        ]
    }))
    .expect("object json");
    db.create_object(None, object).await.expect("object");

    let model = |options: Json| -> NewField {
        serde_json::from_value(json!({ "api_name": "model", "label_fa": "مدل", "label_en": "Model", "type": "select", "options": options }))
            .expect("field json")
    };
    // A definition that does not hold together is refused, naming its options.
    for (options, code) in [
        (json!({ "options": [{ "value": "pride", "parent": "saipa" }] }), "parent_without_depends_on"),
        (json!({ "options": [{ "value": "pride" }], "depends_on": "name" }), "invalid_depends_on"),
        (json!({ "options": [{ "value": "pride" }], "depends_on": "model" }), "invalid_depends_on"),
        (json!({ "options": [{ "value": "pride", "parent": "kia" }], "depends_on": "make" }), "unknown_parent"),
    ] {
        let e = db.add_field(None, "car", model(options)).await.expect_err("refused");
        assert_eq!(refused_code(e), ("options".to_string(), code));
    }
    let options = json!({ "depends_on": "make", "options": [
        { "value": "pride", "parent": "saipa" }, { "value": "samand", "parent": "ikco" }, { "value": "other" } ] });
    db.add_field(None, "car", model(options)).await.expect("a dependent field");
    let field = db.object("car").await.expect("car").field("model").cloned().expect("model");
    assert_eq!(field.options.depends_on.as_deref(), Some("make"));
    assert_eq!(field.options.options[0].parent.as_deref(), Some("saipa"));

    // One record at a time: a choice under the make, or under none, is taken; another is not.
    let (car, _) = db
        .create_record(None, "car", &map(json!({"name": "A", "make": "saipa", "model": "pride"})), None)
        .await
        .expect("fits");
    db.create_record(None, "car", &map(json!({"name": "B", "make": "ikco", "model": "other"})), None)
        .await
        .expect("a choice under no make fits any");
    let e = db
        .create_record(None, "car", &map(json!({"name": "C", "make": "ikco", "model": "pride"})), None)
        .await
        .expect_err("a Saipa model for Iran Khodro");
    assert_eq!(refused_code(e), ("model".to_string(), "choice_not_under"));
    // Changing only the make checks the model it leaves.
    let e = db.update_record(None, "car", &car.id, &map(json!({"make": "ikco"})), None).await.expect_err("stale model");
    assert_eq!(refused_code(e), ("model".to_string(), "choice_not_under"));
    let moved = db.update_record(None, "car", &car.id, &map(json!({"make": "ikco", "model": "samand"})), None).await;
    assert_eq!(moved.expect("both together").fields["model"], json!("samand"));

    // In a batch (imports, the generator): the whole batch is refused before anything is written.
    let obj = db.object("car").await.expect("car");
    let (name, make, model_field) =
        (obj.field("name").expect("name"), obj.field("make").expect("make"), obj.field("model").expect("model"));
    let row = |n: &str, m: &str, d: &str| {
        vec![(name, Value::Text(n.into())), (make, Value::Text(m.into())), (model_field, Value::Text(d.into()))]
    };
    let mut tx = db.write().await.expect("write");
    let e = db
        .create_many(&mut tx, None, &obj, &[row("D", "saipa", "pride"), row("E", "saipa", "samand")])
        .await
        .expect_err("one row's model is not a Saipa");
    drop(tx);
    assert_eq!(refused_code(e), ("model".to_string(), "choice_not_under"));
    let query = ListQuery { with_total: true, ..ListQuery::default() };
    let page = db.list_records("car", &query).await.expect("list");
    assert_eq!(page.total, Some(2), "nothing of the refused batch was written");

    // Dropping the dependency lets any model go with any make.
    let patch = FieldPatch {
        options: Some(
            serde_json::from_value(
                json!({ "options": [{ "value": "pride" }, { "value": "samand" }, { "value": "other" }] }),
            )
            .expect("options"),
        ),
        ..FieldPatch::default()
    };
    db.update_field(None, "car", "model", patch).await.expect("no longer dependent");
    db.create_record(None, "car", &map(json!({"name": "F", "make": "ikco", "model": "pride"})), None)
        .await
        .expect("any model");
}
