//! Loyalty on both backends: orders earn in their own write and a return takes back what its
//! order earned; tiers up and down with their discount as a benefit; redemption never beyond
//! the balance, even two at once; lots expire oldest first; vouchers; the daily round; the
//! ledger's sums always equal the kept balance.

use peyvand_crm::crm_tests;
use peyvand_crm::loyalty::programs::{self, Definition, Program};
use peyvand_crm::loyalty::rewards::{self, Redeem, RewardDef};
use peyvand_crm::loyalty::{self, earning, ledger, referrals};
use peyvand_store::records::Record;
use peyvand_store::{Db, Error};
use serde_json::{Value as Json, json};
use sqlx::Row;

crm_tests!(
    orders_earn_tiers_move_and_a_return_takes_back,
    two_redemptions_at_once_never_overdraw,
    lots_expire_oldest_first_and_the_round_is_idempotent,
    bad_input_is_refused_and_vouchers_are_checked,
    orders_written_before_the_program_are_posted_once,
    a_referral_rewards_both_sides_once_and_nobody_refers_themselves,
    a_survey_answered_earns_its_points_once,
);

async fn make(db: &Db, object: &str, fields: Json) -> Record {
    let fields = fields.as_object().cloned().expect("an object");
    db.create_record(None, object, &fields, None).await.unwrap_or_else(|e| panic!("{object}: {e:?}")).0
}

async fn set(db: &Db, object: &str, id: &str, fields: Json) -> Record {
    let fields = fields.as_object().cloned().expect("an object");
    db.update_record(None, object, id, &fields, None).await.unwrap_or_else(|e| panic!("{object}: {e:?}"))
}

fn definition(extra: Json) -> Definition {
    let mut def = json!({
        "name_fa": "باشگاه مشتریان", "name_en": "Customer club",
        "spend_rules": [{"per": "100000", "points": 1}],
        "action_rules": [{"action": "join", "points": 5}],
        "tiers": [
            {"key": "silver", "name_fa": "نقره‌ای", "name_en": "Silver", "threshold": 0},
            {"key": "gold", "name_fa": "طلایی", "name_en": "Gold", "threshold": 100, "factor": "1.5", "discount_percent": "5"}
        ],
        "expiry_days": 365
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        def[k] = v;
    }
    serde_json::from_value(def).expect("a definition")
}

async fn program(db: &Db, extra: Json) -> Program {
    programs::save(db, None, definition(extra)).await.expect("save the program")
}

fn irr(amount: i64) -> Json {
    json!({"amount": amount.to_string(), "currency": "IRR"})
}

async fn order(db: &Db, contact: &Record, total: i64, status: &str) -> Record {
    let at = peyvand_store::now();
    make(
        db,
        "order",
        json!({"contact": contact.id, "quantity": 1, "status": status, "total": irr(total), "ordered_at": at}),
    )
    .await
}

/// The member's kept balance, the sum of their entries and the sum of their lots' remainders:
/// all three must agree.
async fn sums(db: &Db, program: &str, contact: &str) -> (i64, i64, i64) {
    let kept = ledger::member(db, program, contact).await.expect("member").map_or(0, |m| m.balance);
    let one = async |sql: &'static str| -> i64 {
        sqlx::query(sql)
            .bind(program.to_string())
            .bind(contact.to_string())
            .fetch_one(db.pool())
            .await
            .expect("sum")
            .try_get::<i64, _>(0)
            .expect("a number")
    };
    let entries =
        one("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_entries WHERE program_id = $1 AND contact_id = $2").await;
    let lots = one("SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM loyalty_lots WHERE program_id = $1 AND contact_id = $2").await;
    (kept, entries, lots)
}

async fn balanced(db: &Db, program: &str, contact: &str) -> i64 {
    let (kept, entries, lots) = sums(db, program, contact).await;
    assert_eq!((kept, kept), (entries, lots), "the kept balance is the ledger's sum and the lots'");
    kept
}

fn codes(e: Error) -> Vec<String> {
    match e {
        Error::Validation(list) => list.into_iter().map(|f| format!("{}:{}", f.field, f.code)).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}

async fn orders_earn_tiers_move_and_a_return_takes_back(db: &Db) {
    let club = program(db, json!({})).await;
    let ana = make(db, "contact", json!({"last_name": "Ahmadi"})).await;

    // Pending earns nothing; paid earns, and delivered after paid earns nothing more.
    let first = order(db, &ana, 3_050_000, "pending").await;
    assert!(ledger::member(db, &club.id, &ana.id).await.expect("member").is_none(), "not yet a member");
    set(db, "order", &first.id, json!({"status": "paid"})).await;
    set(db, "order", &first.id, json!({"status": "delivered"})).await;
    set(db, "order", &first.id, json!({"quantity": 2})).await;
    let m = ledger::member(db, &club.id, &ana.id).await.expect("member").expect("joined by the order");
    assert_eq!((m.balance, m.tier.as_deref()), (5 + 30, Some("silver")), "the join's 5 and 30 for 3,050,000");
    assert!(m.benefit_id.is_none(), "silver gives no discount");

    let second = order(db, &ana, 8_000_000, "delivered").await;
    let m = ledger::member(db, &club.id, &ana.id).await.expect("member").expect("a member");
    assert_eq!((m.balance, m.tier.as_deref()), (115, Some("gold")), "115 reaches gold at 100");
    let benefit =
        db.get_record("benefit", m.benefit_id.as_deref().expect("gold's benefit"), false).await.expect("benefit");
    assert_eq!(benefit.fields["percent"], json!("5.00"));
    assert_eq!((benefit.fields["active"].clone(), benefit.fields["contact"].clone()), (json!(true), json!(ana.id)));
    // A tier change tells the workflows.
    let told: i64 = sqlx::query(
        "SELECT COUNT(*) FROM scheduled_jobs WHERE kind = 'workflow_signal' AND payload_json LIKE '%tier_changed%'",
    )
    .fetch_one(db.pool())
    .await
    .expect("jobs")
    .try_get(0)
    .expect("count");
    assert_eq!(told, 1);

    // At gold an order earns 1.5 times.
    order(db, &ana, 1_000_000, "delivered").await;
    assert_eq!(balanced(db, &club.id, &ana.id).await, 130);

    // A reward redeemed: its points leave, its discount becomes a single-use benefit.
    let reward = rewards::save(
        db,
        &club.id,
        None,
        serde_json::from_value::<RewardDef>(json!({"name_fa": "تخفیف ۱۰٪", "name_en": "10% off", "kind": "discount_percent", "points": 60, "value": "10"}))
            .expect("a reward"),
    )
    .await
    .expect("save the reward");
    let r = rewards::redeem(db, &club.id, &ana.id, Redeem { reward: &reward.id, order: None, key: None, actor: None })
        .await
        .expect("redeem");
    let b = db.get_record("benefit", r.benefit_id.as_deref().expect("a benefit"), false).await.expect("benefit");
    assert_eq!((b.fields["percent"].clone(), b.fields["max_uses"].clone()), (json!("10.00"), json!(1)));
    assert_eq!(balanced(db, &club.id, &ana.id).await, 70);

    // The big order is returned: its 80 are taken back, but only 70 are left (never below
    // zero; the shortfall is noted), and the member falls to silver, losing gold's discount.
    set(db, "order", &second.id, json!({"status": "returned"})).await;
    assert_eq!(balanced(db, &club.id, &ana.id).await, 0);
    let m = ledger::member(db, &club.id, &ana.id).await.expect("member").expect("a member");
    assert_eq!(m.tier.as_deref(), Some("silver"), "qualifying 5 + 30 + 80 + 15 − 70 = 60 < 100");
    let benefit = db.get_record("benefit", m.benefit_id.as_deref().expect("kept"), false).await.expect("benefit");
    assert_eq!(benefit.fields["active"], json!(false));
    let today = db.today().to_string();
    let st = ledger::statement(db, &club.id, &ana.id, "2020-01-01", &today).await.expect("statement");
    let kinds: Vec<(&str, i64)> = st.entries.iter().map(|e| (e.kind.as_str(), e.points)).collect();
    assert_eq!(kinds, vec![("earn", 5), ("earn", 30), ("earn", 80), ("earn", 15), ("redeem", -60), ("reverse", -70)]);
    assert_eq!((st.opening, st.closing), (0, 0));
    assert_eq!(st.entries[5].note.as_deref(), Some("short:10"));
    assert_eq!(st.entries[5].source_id.as_deref(), Some(second.id.as_str()), "traceable to the order");
    // Delivered again, it earns again (at silver); cancelled again, it is taken back again.
    set(db, "order", &second.id, json!({"status": "delivered"})).await;
    assert_eq!(balanced(db, &club.id, &ana.id).await, 80);
    set(db, "order", &second.id, json!({"status": "cancelled"})).await;
    assert_eq!(balanced(db, &club.id, &ana.id).await, 0);
    // An order given to another customer: its points leave Ana and go to Bob.
    let bob = make(db, "contact", json!({"last_name": "Bahrami"})).await;
    let third = order(db, &ana, 2_000_000, "delivered").await;
    assert_eq!(balanced(db, &club.id, &ana.id).await, 20);
    set(db, "order", &third.id, json!({"contact": bob.id})).await;
    assert_eq!((balanced(db, &club.id, &ana.id).await, balanced(db, &club.id, &bob.id).await), (0, 5 + 20));
}

async fn two_redemptions_at_once_never_overdraw(db: &Db) {
    let club = program(db, json!({"action_rules": []})).await;
    let ana = make(db, "contact", json!({"last_name": "Ahmadi"})).await;
    loyalty::adjust(db, &club.id, &ana.id, 100, "opening balance", None, None).await.expect("adjust");
    let reward = rewards::save(
        db,
        &club.id,
        None,
        serde_json::from_value(
            json!({"name_fa": "کارت هدیه", "name_en": "Gift card", "kind": "voucher", "points": 60, "value": "500000"}),
        )
        .expect("a reward"),
    )
    .await
    .expect("save");
    let ask = |key: &'static str| Redeem { reward: &reward.id, order: None, key: Some(key), actor: Some("u1") };
    let (a, b) = tokio::join!(
        rewards::redeem(db, &club.id, &ana.id, ask("a")),
        rewards::redeem(db, &club.id, &ana.id, ask("b"))
    );
    let (ok, refused): (Vec<_>, Vec<_>) = [("a", a), ("b", b)].into_iter().partition(|(_, r)| r.is_ok());
    assert_eq!((ok.len(), refused.len()), (1, 1), "one of two at once");
    let refused = refused.into_iter().next().expect("one").1.expect_err("refused");
    assert_eq!(codes(refused), vec!["points:insufficient_points"]);
    assert_eq!(balanced(db, &club.id, &ana.id).await, 40);
    // The same request again is the same redemption, not a second one.
    let (key, first) = ok.into_iter().next().expect("one");
    let first = first.expect("ok");
    let again = rewards::redeem(db, &club.id, &ana.id, ask(key)).await.expect("the retry");
    assert_eq!(again.id, first.id);
    assert_eq!(balanced(db, &club.id, &ana.id).await, 40);
    assert_eq!(first.code.as_deref().map(str::len), Some(10), "a voucher's code");

    // Out of stock.
    let scarce = rewards::save(
        db,
        &club.id,
        None,
        serde_json::from_value(
            json!({"name_fa": "لیوان", "name_en": "Mug", "kind": "custom", "points": 10, "stock": 1}),
        )
        .expect("a reward"),
    )
    .await
    .expect("save");
    let mug = |key: &'static str| Redeem { reward: &scarce.id, order: None, key: Some(key), actor: Some("u1") };
    rewards::redeem(db, &club.id, &ana.id, mug("m1")).await.expect("the last one");
    let e = rewards::redeem(db, &club.id, &ana.id, mug("m2")).await.expect_err("none left");
    assert_eq!(codes(e), vec!["reward:out_of_stock"]);
    assert_eq!(balanced(db, &club.id, &ana.id).await, 30, "the refused one took nothing");
    assert_eq!(rewards::get(db, &scarce.id).await.expect("reward").definition.stock, Some(0));
}

async fn lots_expire_oldest_first_and_the_round_is_idempotent(db: &Db) {
    let club = program(
        db,
        json!({"action_rules": [{"action": "birthday", "points": 50}], "expiry_days": 30, "warn_days": 7, "tiers": []}),
    )
    .await;
    let today = db.today();
    let born = format!("1990-{}", &today.to_string()[5..]);
    let ana = make(db, "contact", json!({"last_name": "Ahmadi"})).await;
    let a = order(db, &ana, 5_000_000, "delivered").await;
    let b = order(db, &ana, 3_000_000, "delivered").await;
    let lot = async |order: &Record| -> String {
        sqlx::query("SELECT id FROM loyalty_entries WHERE source_id = $1")
            .bind(order.id.clone())
            .fetch_one(db.pool())
            .await
            .expect("entry")
            .try_get(0)
            .expect("id")
    };
    let (lot_a, lot_b) = (lot(&a).await, lot(&b).await);
    let expire_on = async |lot: &str, day: time::Date| {
        sqlx::query("UPDATE loyalty_lots SET expires_on = $1 WHERE entry_id = $2")
            .bind(day.to_string())
            .bind(lot.to_string())
            .execute(db.pool())
            .await
            .expect("move the lot's day");
    };
    // B expires first, so a redemption takes B's 30 before A's.
    expire_on(&lot_b, today + time::Duration::days(3)).await;
    expire_on(&lot_a, today + time::Duration::days(7)).await;
    let reward = rewards::save(
        db,
        &club.id,
        None,
        serde_json::from_value(json!({"name_fa": "هدیه", "name_en": "Gift", "kind": "custom", "points": 40}))
            .expect("a reward"),
    )
    .await
    .expect("save");
    rewards::redeem(db, &club.id, &ana.id, Redeem { reward: &reward.id, order: None, key: None, actor: None })
        .await
        .expect("redeem");
    let left = async |lot: &str| -> i64 {
        sqlx::query("SELECT remaining FROM loyalty_lots WHERE entry_id = $1")
            .bind(lot.to_string())
            .fetch_one(db.pool())
            .await
            .expect("lot")
            .try_get(0)
            .expect("n")
    };
    assert_eq!((left(&lot_b).await, left(&lot_a).await), (0, 40), "30 from B, then 10 from A");

    // A has 40 left and expires in 7 days: the round warns; it passed: the round expires it.
    set(db, "contact", &ana.id, json!({"birth_date": born})).await;
    let round = loyalty::daily(db).await.expect("round");
    assert_eq!((round.expired_lots, round.warned, round.birthdays), (0, 1, 1), "{round:?}");
    assert_eq!(balanced(db, &club.id, &ana.id).await, 90, "40 and the birthday's 50");
    expire_on(&lot_a, today - time::Duration::days(1)).await;
    let round = loyalty::daily(db).await.expect("round");
    assert_eq!((round.expired_lots, round.birthdays), (1, 0), "a birthday once a year: {round:?}");
    let again = loyalty::daily(db).await.expect("round");
    assert_eq!(again.expired_lots, 0);
    assert_eq!(balanced(db, &club.id, &ana.id).await, 50);
    let m = ledger::member(db, &club.id, &ana.id).await.expect("member").expect("a member");
    assert_eq!((m.earned, m.spent, m.expired), (130, 40, 40));
    let warned: i64 = sqlx::query(
        "SELECT COUNT(*) FROM scheduled_jobs WHERE kind = 'workflow_signal' AND payload_json LIKE '%points_expiring%'",
    )
    .fetch_one(db.pool())
    .await
    .expect("jobs")
    .try_get(0)
    .expect("count");
    assert_eq!(warned, 1);
}

async fn bad_input_is_refused_and_vouchers_are_checked(db: &Db) {
    let e = programs::save(
        db,
        None,
        definition(json!({
            "spend_rules": [{"per": "100000", "points": -2}],
            "tiers": [
                {"key": "silver", "name_fa": "نقره‌ای", "name_en": "Silver", "threshold": 0},
                {"key": "gold", "name_fa": "طلایی", "name_en": "Gold", "threshold": 0}
            ]
        })),
    )
    .await
    .expect_err("refused");
    let found = codes(e);
    assert!(found.contains(&"spend_rules.0.points:not_positive".to_string()), "{found:?}");
    assert!(found.contains(&"tiers.1.threshold:tiers_overlap".to_string()), "{found:?}");
    assert!(programs::list(db).await.expect("list").is_empty(), "nothing half-written");

    let club = program(db, json!({"action_rules": []})).await;
    let ana = make(db, "contact", json!({"last_name": "Ahmadi"})).await;
    loyalty::adjust(db, &club.id, &ana.id, 300, "welcome", None, None).await.expect("adjust");
    let e = loyalty::adjust(db, &club.id, &ana.id, -500, "too much", None, None).await.expect_err("beyond the balance");
    assert_eq!(codes(e), vec!["points:insufficient_points"]);
    let voucher = rewards::save(
        db,
        &club.id,
        None,
        serde_json::from_value(json!({"name_fa": "کارت هدیه", "name_en": "Gift card", "kind": "voucher", "points": 100, "value": "500000"}))
            .expect("a reward"),
    )
    .await
    .expect("save");
    let e = rewards::save(
        db,
        &club.id,
        None,
        serde_json::from_value(
            json!({"name_fa": "x", "name_en": "x", "kind": "discount_percent", "points": 0, "value": "120"}),
        )
        .expect("a reward"),
    )
    .await
    .expect_err("refused");
    assert_eq!(codes(e), vec!["points:not_positive", "value:out_of_range"]);
    let redeem = async || {
        rewards::redeem(db, &club.id, &ana.id, Redeem { reward: &voucher.id, order: None, key: None, actor: None })
            .await
            .expect("redeem")
    };
    let (one, two) = (redeem().await, redeem().await);
    let shop = order(db, &ana, 1_000, "pending").await;
    let code = one.code.clone().expect("a code");
    let used = rewards::use_voucher(db, &code.to_lowercase(), &shop.id).await.expect("use it");
    assert_eq!(used.used_order_id.as_deref(), Some(shop.id.as_str()));
    let e = rewards::use_voucher(db, &code, &shop.id).await.expect_err("used");
    assert_eq!(codes(e), vec!["code:voucher_used"]);
    sqlx::query("UPDATE loyalty_redemptions SET expires_on = '2020-01-01' WHERE id = $1")
        .bind(two.id.clone())
        .execute(db.pool())
        .await
        .expect("age the voucher");
    let e = rewards::use_voucher(db, two.code.as_deref().expect("code"), &shop.id).await.expect_err("expired");
    assert_eq!(codes(e), vec!["code:voucher_expired"]);
    let e = rewards::use_voucher(db, "NOSUCHCODE", &shop.id).await.expect_err("unknown");
    assert_eq!(codes(e), vec!["code:voucher_unknown"]);
    assert_eq!(balanced(db, &club.id, &ana.id).await, 100);
}

async fn orders_written_before_the_program_are_posted_once(db: &Db) {
    let ana = make(db, "contact", json!({"last_name": "Ahmadi"})).await;
    let bob = make(db, "contact", json!({"last_name": "Bahrami"})).await;
    order(db, &ana, 2_000_000, "delivered").await;
    order(db, &ana, 9_000_000, "cancelled").await;
    order(db, &bob, 500_000, "paid").await;
    let club = program(db, json!({"action_rules": []})).await;
    assert_eq!(earning::post_orders(db, &club.id).await.expect("post"), 2);
    assert_eq!(earning::post_orders(db, &club.id).await.expect("post again"), 0, "once");
    assert_eq!((balanced(db, &club.id, &ana.id).await, balanced(db, &club.id, &bob.id).await), (20, 5));
}

async fn a_referral_rewards_both_sides_once_and_nobody_refers_themselves(db: &Db) {
    let club = program(
        db,
        json!({"action_rules": [{"action": "referral", "points": 100}, {"action": "referred", "points": 50}], "tiers": []}),
    )
    .await;
    let ana =
        make(db, "contact", json!({"last_name": "Ahmadi", "emails": ["ana@example.ir"], "national_id": "0012345679"}))
            .await;
    let code = referrals::code_for(db, &ana.id).await.expect("a code");
    assert_eq!(referrals::code_for(db, &ana.id).await.expect("again"), code, "one code per customer");
    let codes = |e: Error| codes(e);
    // The same person under another name: the same e-mail, or the same national ID.
    let twin = make(db, "contact", json!({"last_name": "A.", "emails": ["ANA@example.ir "]})).await;
    let e = referrals::attribute(db, &code, &twin.id, "staff", None).await.expect_err("self");
    assert_eq!(codes(e), vec!["code:self_referral"]);
    let twin2 = make(db, "contact", json!({"last_name": "B.", "national_id": "0012345679"})).await;
    let e = referrals::attribute(db, &code, &twin2.id, "staff", None).await.expect_err("self");
    assert_eq!(codes(e), vec!["code:self_referral"]);
    let e = referrals::attribute(db, &code, &ana.id, "staff", None).await.expect_err("self");
    assert_eq!(codes(e), vec!["code:self_referral"]);
    let e = referrals::attribute(db, "NOPE1234", &twin.id, "staff", None).await.expect_err("unknown");
    assert_eq!(codes(e), vec!["code:referral_unknown"]);
    // A customer who ordered before is not new.
    let old = make(db, "contact", json!({"last_name": "Old"})).await;
    order(db, &old, 100_000, "pending").await;
    let e = referrals::attribute(db, &code, &old.id, "staff", None).await.expect_err("not new");
    assert_eq!(codes(e), vec!["contact:not_a_new_customer"]);

    let bob = make(db, "contact", json!({"last_name": "Bahrami", "emails": ["bob@example.ir"]})).await;
    referrals::attribute(db, &code.to_lowercase(), &bob.id, "staff", None).await.expect("attributed");
    let e = referrals::attribute(db, &code, &bob.id, "staff", None).await.expect_err("twice");
    assert_eq!(codes(e), vec!["contact:already_referred"]);
    // Nothing until the new customer's first order earns; then both, once.
    order(db, &bob, 50_000, "pending").await;
    assert_eq!(ledger::member(db, &club.id, &ana.id).await.expect("member").map(|m| m.balance), None);
    order(db, &bob, 1_000_000, "delivered").await;
    order(db, &bob, 2_000_000, "delivered").await;
    assert_eq!(balanced(db, &club.id, &ana.id).await, 100);
    assert_eq!(balanced(db, &club.id, &bob.id).await, 50 + 10 + 20);
    let (made, _) = referrals::of_contact(db, &ana.id).await.expect("referrals");
    assert_eq!(made.len(), 1);
    assert!(made[0].rewarded_at.is_some() && made[0].order_id.is_some());
}

async fn a_survey_answered_earns_its_points_once(db: &Db) {
    use peyvand_crm::feedback::surveys::{self, Invitee};
    let club = program(db, json!({"action_rules": [{"action": "survey_answered", "points": 20}], "tiers": []})).await;
    let ana = make(db, "contact", json!({"last_name": "Ahmadi"})).await;
    let made = surveys::invite(db, surveys::CSAT, &[Invitee { contact: Some(ana.id.clone()), ..Invitee::default() }])
        .await
        .expect("invite");
    let answer = json!({"score": 5}).as_object().cloned().expect("an object");
    surveys::answer(db, &made[0].1, &answer).await.expect("answered");
    assert!(surveys::answer(db, &made[0].1, &answer).await.is_err(), "once");
    assert_eq!(balanced(db, &club.id, &ana.id).await, 20, "the answer joined her and earned");
}
