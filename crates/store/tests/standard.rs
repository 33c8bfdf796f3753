//! The standard objects at start-up: made once, and an object of an admin's own that has a
//! standard object's name (made before that standard object existed) left as the admin made it.

use peyvand_records::Origin;
use peyvand_store::Db;
use peyvand_store::schema::ensure_standard_objects;

peyvand_crm::crm_tests!(standard_objects_are_made_once_and_leave_an_admins_object_alone);

async fn standard_objects_are_made_once_and_leave_an_admins_object_alone(db: &Db) {
    let catalog = db.reload_catalog().await.expect("catalog");
    for name in ["company", "contact", "activity", "product", "deal", "order"] {
        let obj = catalog.object(name).unwrap_or_else(|| panic!("{name} is a standard object"));
        assert_eq!(obj.origin, Origin::Builtin, "{name}");
    }
    let count = catalog.objects.len();
    ensure_standard_objects(db).await.expect("again");
    assert_eq!(db.reload_catalog().await.expect("catalog").objects.len(), count, "nothing made twice");

    // An older database where an admin had made an `order` object of their own, without a
    // `channel` field (its table has such a column here, so adding the field would fail).
    sqlx::query("UPDATE meta_objects SET origin = 'custom' WHERE api_name = 'order'")
        .execute(db.pool())
        .await
        .expect("origin");
    sqlx::query(
        "DELETE FROM meta_fields WHERE api_name = 'channel' AND object_id = (SELECT id FROM meta_objects WHERE api_name = 'order')",
    )
    .execute(db.pool())
    .await
    .expect("field");
    ensure_standard_objects(db).await.expect("start-up with an admin's object of a standard name");
    let order = db.reload_catalog().await.expect("catalog").object("order").expect("order");
    assert_eq!(order.origin, Origin::Custom);
    assert!(order.field("channel").is_none(), "no standard field added to the admin's object");
}
