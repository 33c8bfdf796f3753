//! Pipelines on both backends: the default one made from the stages of earlier releases, a
//! deal's stage checked against its pipeline, reasons for won and lost, the stage history kept
//! and rebuilt, stages in use kept.

use peyvand_crm::crm_tests;
use peyvand_crm::sales::pipelines::{self, Pipeline, Stage, StageKind};
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

crm_tests!(
    the_default_pipeline_holds_the_earlier_stages,
    a_deal_stays_in_its_pipeline_and_closes_with_a_reason,
    stages_in_use_stay,
    the_history_is_rebuilt_from_the_audit_log
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

async fn deal(db: &Db, fields: Json) -> peyvand_store::records::Record {
    db.create_record(None, "deal", &input(fields), None).await.expect("deal").0
}

async fn update(db: &Db, id: &str, fields: Json) -> Result<peyvand_store::records::Record, Error> {
    db.update_record(None, "deal", id, &input(fields), None).await
}

fn stage(key: &str, en: &str, probability: i64, kind: StageKind) -> Stage {
    Stage { key: key.into(), label_fa: format!("{en} (fa)"), label_en: en.into(), probability, kind }
}

fn projects() -> Pipeline {
    Pipeline {
        key: "projects".into(),
        name_fa: "پروژه‌ها".into(),
        name_en: "Projects".into(),
        position: 0,
        stale_days: Some(14),
        stages: vec![
            stage("brief", "Brief", 20, StageKind::Open),
            stage("tender", "Tender", 60, StageKind::Open),
            stage("awarded", "Awarded", 100, StageKind::Won),
            stage("not_awarded", "Not awarded", 0, StageKind::Lost),
        ],
    }
}

fn codes(e: &Error) -> Vec<(String, &'static str)> {
    match e {
        Error::Validation(errors) | Error::Conflict { details: errors, .. } => {
            errors.iter().map(|e| (e.field.clone(), e.code)).collect()
        }
        other => panic!("not a validation error: {other:?}"),
    }
}

async fn the_default_pipeline_holds_the_earlier_stages(db: &Db) {
    let all = pipelines::list(db).await.expect("pipelines");
    assert_eq!(all.len(), 1);
    let default = &all[0];
    assert_eq!(default.key, "default");
    let keys: Vec<&str> = default.stages.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["qualification", "needs_analysis", "proposal", "negotiation", "won", "lost"]);
    let probabilities: Vec<i64> = default.stages.iter().map(|s| s.probability).collect();
    assert_eq!(probabilities, [10, 30, 50, 70, 100, 0]);
    assert_eq!(default.stage("won").map(|s| s.kind), Some(StageKind::Won));
    // The deal's choices follow the pipelines.
    let catalog = db.reload_catalog().await.expect("catalog");
    let deal = catalog.object("deal").expect("deal");
    let stage_choices: Vec<&str> =
        deal.field("stage").expect("stage").options.options.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(stage_choices, keys);
    assert!(!deal.field("stage").expect("stage").required, "the rules fill the stage");
    // A second start changes nothing.
    let again = peyvand_crm::open(&db_url(db).await).await.expect("open again");
    assert_eq!(pipelines::list(&again).await.expect("pipelines"), all);
    again.close().await;
}

/// The URL the test database was opened with (from its own settings).
async fn db_url(db: &Db) -> String {
    db.url().to_string()
}

async fn a_deal_stays_in_its_pipeline_and_closes_with_a_reason(db: &Db) {
    let made = pipelines::save(db, None, None, projects()).await.expect("a second pipeline");
    assert_eq!(made.position, 2, "after the default one");
    // Each stage is a choice under its pipeline (forms offer a pipeline's own stages).
    let catalog = db.reload_catalog().await.expect("catalog");
    let stage = catalog.object("deal").and_then(|d| d.field("stage").cloned()).expect("stage");
    assert_eq!(stage.options.depends_on.as_deref(), Some("pipeline"));
    let under = |key: &str| stage.options.options.iter().find(|o| o.value == key).and_then(|o| o.parent.clone());
    assert_eq!((under("qualification"), under("brief")), (Some("default".into()), Some("projects".into())));
    // Left out, the pipeline is the first and the stage its first open one.
    let d = deal(db, json!({"name": "Boilers for Tabriz"})).await;
    assert_eq!((d.fields["pipeline"].clone(), d.fields["stage"].clone()), (json!("default"), json!("qualification")));
    assert!(d.fields["stage_entered_at"].is_string(), "{d:?}");
    // A stage of another pipeline is refused, naming the stage.
    let e = db
        .create_record(None, "deal", &input(json!({"name": "x", "pipeline": "projects", "stage": "proposal"})), None)
        .await
        .expect_err("another pipeline's stage");
    assert_eq!(codes(&e), [("stage".to_string(), "stage_not_in_pipeline")]);
    // Moved to another pipeline without a stage, it starts at that pipeline's first.
    let moved = update(db, &d.id, json!({"pipeline": "projects"})).await.expect("moved");
    assert_eq!(moved.fields["stage"], json!("brief"));
    // Won needs a reason; with one it closes today.
    let e = update(db, &d.id, json!({"stage": "awarded"})).await.expect_err("no reason");
    assert_eq!(codes(&e), [("won_reason".to_string(), "reason_required")]);
    let unchanged = db.get_record("deal", &d.id, false).await.expect("deal");
    assert_eq!(unchanged.fields["stage"], json!("brief"), "nothing half-written");
    let won = update(db, &d.id, json!({"stage": "awarded", "won_reason": "price"})).await.expect("won");
    assert_eq!(won.fields["closed_on"], json!(db.today().to_string()), "closed today, where the business is");
    // Its reason cannot be emptied while it is won.
    let e = update(db, &d.id, json!({"won_reason": null})).await.expect_err("emptied");
    assert_eq!(codes(&e), [("won_reason".to_string(), "reason_required")]);
    // The business's day, not UTC's: at +14:00 it is already tomorrow for most of the UTC day.
    db.set_local_offset(time::UtcOffset::from_hms(14, 0, 0).expect("offset"));
    let lost = deal(db, json!({"name": "Lost one", "stage": "lost", "lost_reason": "competitor"})).await;
    assert_eq!(lost.fields["stage"], json!("lost"));
    let there = (time::OffsetDateTime::now_utc() + time::Duration::hours(14)).date();
    assert_eq!(lost.fields["closed_on"], json!(there.to_string()));

    // Every stage it entered, in order, each left when the next began.
    let stays = pipelines::history(db, &d.id).await.expect("history");
    let seen: Vec<(&str, &str)> = stays.iter().map(|s| (s.pipeline.as_str(), s.stage.as_str())).collect();
    assert_eq!(seen, [("default", "qualification"), ("projects", "brief"), ("projects", "awarded")]);
    assert!(stays[..2].iter().all(|s| s.left_at.is_some()) && stays[2].left_at.is_none(), "{stays:?}");
    assert!(stays.iter().all(|s| s.seconds >= 0));
}

async fn stages_in_use_stay(db: &Db) {
    pipelines::save(db, None, None, projects()).await.expect("pipeline");
    deal(db, json!({"name": "In tender", "pipeline": "projects", "stage": "tender"})).await;
    let mut fewer = projects();
    fewer.stages.remove(1);
    let e = pipelines::save(db, None, Some("projects"), fewer).await.expect_err("tender is in use");
    assert_eq!(codes(&e), [("stages".to_string(), "option_in_use")]);
    // Renamed stages keep their keys; a new stage gets one of its own.
    let mut renamed = projects();
    renamed.stages[0].key = String::new();
    renamed.stages[0].label_fa = "خلاصه".into();
    renamed.stages.insert(2, Stage { key: String::new(), ..stage("", "Shortlisted", 80, StageKind::Open) });
    let saved = pipelines::save(db, None, Some("projects"), renamed).await.expect("renamed");
    let keys: Vec<&str> = saved.stages.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["brief", "tender", "projects_3", "awarded", "not_awarded"]);
    // Bad pipelines: every problem at once, naming the field.
    let mut bad = projects();
    for (s, key) in bad.stages.iter_mut().zip(["b1", "b2", "b3", "b4"]) {
        s.key = key.into();
    }
    bad.key = "default".into();
    bad.name_en = String::new();
    bad.stages[0].probability = 120;
    bad.stages[2].probability = 90;
    bad.stages[3].key = "qualification".into();
    let e = pipelines::save(db, None, None, bad).await.expect_err("bad");
    assert_eq!(
        codes(&e),
        [
            ("key".to_string(), "key_taken"),
            ("name_en".to_string(), "required"),
            ("stages.0.probability".to_string(), "out_of_range"),
            ("stages.2.probability".to_string(), "closed_stage_probability"),
            ("stages.3.key".to_string(), "key_taken"),
        ]
    );
    let e = pipelines::delete(db, None, "projects").await.expect_err("a deal is in it");
    assert_eq!(codes(&e), [("key".to_string(), "option_in_use")]);
    pipelines::delete(db, None, "default").await.expect("no deal is in it");
    let e = pipelines::delete(db, None, "projects").await.expect_err("the last");
    assert_eq!(codes(&e), [("key".to_string(), "last_pipeline")]);
    let catalog = db.reload_catalog().await.expect("catalog");
    let deal = catalog.object("deal").expect("deal");
    let choices = &deal.field("pipeline").expect("pipeline").options.options;
    assert_eq!(choices.iter().map(|o| o.value.as_str()).collect::<Vec<_>>(), ["projects"]);
}

async fn the_history_is_rebuilt_from_the_audit_log(db: &Db) {
    let a = deal(db, json!({"name": "A"})).await;
    update(db, &a.id, json!({"stage": "proposal"})).await.expect("proposal");
    update(db, &a.id, json!({"amount": {"amount": "5000000", "currency": "IRR"}})).await.expect("amount");
    update(db, &a.id, json!({"stage": "lost", "lost_reason": "price"})).await.expect("lost");
    let b = deal(db, json!({"name": "B", "stage": "negotiation"})).await;
    let kept_a = pipelines::history(db, &a.id).await.expect("a");
    let kept_b = pipelines::history(db, &b.id).await.expect("b");
    assert_eq!(kept_a.len(), 3);

    // As a database of the release before pipelines: none, no history, deals in no pipeline.
    for sql in ["DELETE FROM sales_pipelines", "DELETE FROM deal_stage_history", "UPDATE r_deal SET c_pipeline = NULL"]
    {
        sqlx::query(sql).execute(db.pool()).await.expect(sql);
    }
    let again = peyvand_crm::open(db.url()).await.expect("upgrade at start-up");
    assert_eq!(pipelines::list(&again).await.expect("pipelines").len(), 1);
    for (id, kept) in [(&a.id, kept_a), (&b.id, kept_b)] {
        let rebuilt = pipelines::history(&again, id).await.expect("history");
        let strip = |s: &[pipelines::StageStay]| {
            s.iter().map(|s| (s.stage.clone(), s.entered_at.clone(), s.left_at.is_some())).collect::<Vec<_>>()
        };
        assert_eq!(strip(&rebuilt), strip(&kept), "the same stays, at the same times");
        let record = again.get_record("deal", id, false).await.expect("deal");
        assert_eq!(record.fields["pipeline"], json!("default"));
    }
    again.close().await;
}
