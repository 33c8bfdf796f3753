//! Pipelines: several (retail, projects, dealers), each an ordered list of stages with a win
//! probability and a kind (open, won, lost). A deal belongs to one pipeline and its stage is one
//! of that pipeline's; won and lost need a reason; every stage a deal enters is kept
//! (`deal_stage_history`: entered, left, by whom), the raw material of sales-cycle length and
//! stage conversion.
//!
//! Pipelines are kept in `sales_pipelines` and validated as a whole. The deal's `pipeline` and
//! `stage` select fields offer their choices (stage keys are unique across pipelines), kept in
//! step in the transaction that saves a pipeline, so lists, filters, boards and rollups work on
//! them as on any choice.

use peyvand_records::meta::SelectOption;
use peyvand_records::{FieldError, Value};
use peyvand_store::hooks::{Action, BoxFuture, HookCx, Pending, WriteHook, Written};
use peyvand_store::schema::{FieldPatch, opt};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;

/// The pipeline deals are in unless they say otherwise, made from the stages of earlier releases.
pub const DEFAULT_PIPELINE: &str = "default";

/// Most stages in a pipeline, and longest names.
const MAX_STAGES: usize = 30;
const MAX_NAME: usize = 100;

/// What a stage means for the deals in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The value of the deal's `stage` field: unique across pipelines.
    #[serde(default)]
    pub key: String,
    pub label_fa: String,
    pub label_en: String,
    /// The chance, in percent, that a deal in this stage is won (won 100, lost 0).
    pub probability: i64,
    pub kind: StageKind,
}

impl Stage {
    pub fn label(&self, lang: &str) -> &str {
        if lang == "fa" { &self.label_fa } else { &self.label_en }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The value of the deal's `pipeline` field.
    #[serde(default)]
    pub key: String,
    pub name_fa: String,
    pub name_en: String,
    /// Its place among the pipelines; the first is where a deal goes unless told otherwise.
    #[serde(default)]
    pub position: i64,
    /// A deal of an open stage with no activity for this many days is going stale.
    #[serde(default)]
    pub stale_days: Option<i64>,
    pub stages: Vec<Stage>,
}

impl Pipeline {
    pub fn name(&self, lang: &str) -> &str {
        if lang == "fa" { &self.name_fa } else { &self.name_en }
    }

    pub fn stage(&self, key: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.key == key)
    }

    fn first_open(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == StageKind::Open)
    }
}

/// The pipelines, in order.
pub async fn list(db: &Db) -> Result<Vec<Pipeline>> {
    let mut conn = db.pool().acquire().await?;
    read(&mut conn).await
}

/// One pipeline.
pub async fn get(db: &Db, key: &str) -> Result<Pipeline> {
    list(db).await?.into_iter().find(|p| p.key == key).ok_or_else(|| Error::NotFound(format!("pipeline {key}")))
}

async fn read(conn: &mut sqlx::AnyConnection) -> Result<Vec<Pipeline>> {
    let rows = sqlx::query(
        "SELECT key, name_fa, name_en, position, stale_days, stages_json FROM sales_pipelines ORDER BY position, key",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let stages: String = r.try_get(5)?;
            Ok(Pipeline {
                key: r.try_get(0)?,
                name_fa: r.try_get(1)?,
                name_en: r.try_get(2)?,
                position: r.try_get(3)?,
                stale_days: r.try_get(4)?,
                stages: serde_json::from_str(&stages).map_err(|e| Error::Corrupt(format!("pipeline stages: {e}")))?,
            })
        })
        .collect()
}

/// Checks a pipeline as sent (`stages.2.probability` names a field of the third stage) against
/// the others, filling the keys it left out; returns every problem at once.
pub fn check(mut p: Pipeline, others: &[Pipeline]) -> std::result::Result<Pipeline, Vec<FieldError>> {
    let mut errors = Vec::new();
    if p.key.is_empty() {
        p.key = free_key("pipeline", others.iter().map(|o| o.key.as_str()));
    } else if !peyvand_records::meta::valid_api_name(&p.key) {
        errors.push(FieldError::new("key", "invalid_key"));
    } else if others.iter().any(|o| o.key == p.key) {
        errors.push(FieldError::new("key", "key_taken"));
    }
    for (field, name) in [("name_fa", &p.name_fa), ("name_en", &p.name_en)] {
        check_name(&mut errors, field, name);
    }
    if !(0..=1_000_000).contains(&p.position) {
        errors.push(FieldError::with("position", "out_of_range", json!({ "min": 0, "max": 1_000_000 })));
    }
    if p.stale_days.is_some_and(|d| !(1..=3650).contains(&d)) {
        errors.push(FieldError::with("stale_days", "out_of_range", json!({ "min": 1, "max": 3650 })));
    }
    if p.stages.len() > MAX_STAGES {
        errors.push(FieldError::with("stages", "too_many_values", json!({ "max": MAX_STAGES })));
    }
    for kind in [StageKind::Open, StageKind::Won, StageKind::Lost] {
        if !p.stages.iter().any(|s| s.kind == kind) {
            errors.push(FieldError::with("stages", "stage_kind_missing", json!({ "kind": kind })));
        }
    }
    let taken: Vec<String> = others.iter().flat_map(|o| o.stages.iter().map(|s| s.key.clone())).collect();
    let mut used: Vec<String> = Vec::new();
    for (i, s) in p.stages.iter_mut().enumerate() {
        let at = |field: &str| format!("stages.{i}.{field}");
        if s.key.is_empty() {
            let prefix = format!("{}_{}", p.key, i + 1);
            s.key = free_key(&prefix, taken.iter().chain(&used).map(String::as_str));
        } else if !peyvand_records::meta::valid_api_name(&s.key) {
            errors.push(FieldError::new(&at("key"), "invalid_key"));
        } else if taken.contains(&s.key) || used.contains(&s.key) {
            errors.push(FieldError::new(&at("key"), "key_taken"));
        }
        used.push(s.key.clone());
        for (field, label) in [("label_fa", &s.label_fa), ("label_en", &s.label_en)] {
            check_name(&mut errors, &at(field), label);
        }
        let fixed = match s.kind {
            StageKind::Won => Some(100),
            StageKind::Lost => Some(0),
            StageKind::Open => None,
        };
        if !(0..=100).contains(&s.probability) {
            errors.push(FieldError::with(&at("probability"), "out_of_range", json!({ "min": 0, "max": 100 })));
        } else if fixed.is_some_and(|f| f != s.probability) {
            errors.push(FieldError::with(&at("probability"), "closed_stage_probability", json!({ "expected": fixed })));
        }
    }
    if errors.is_empty() { Ok(p) } else { Err(errors) }
}

/// A name or label: not blank, not too long, no control characters.
fn check_name(errors: &mut Vec<FieldError>, field: &str, name: &str) {
    if name.trim().is_empty() {
        errors.push(FieldError::new(field, "required"));
    } else if name.chars().count() > MAX_NAME {
        errors.push(FieldError::with(field, "too_long", json!({ "max": MAX_NAME })));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "control_characters"));
    }
}

/// `prefix`, or `prefix_2`, `prefix_3`, … : the first not in `taken`.
fn free_key<'a>(prefix: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    let mut n = 1;
    loop {
        let key = if n == 1 { prefix.to_string() } else { format!("{prefix}_{n}") };
        if !taken.clone().any(|t| t == key) {
            return key;
        }
        n += 1;
    }
}

/// Creates a pipeline (`key` None) or replaces one, with the deal's choices in step, in one
/// transaction. A stage or pipeline that deals are in cannot be removed (`option_in_use`).
pub async fn save(db: &Db, actor: Option<&str>, key: Option<&str>, input: Pipeline) -> Result<Pipeline> {
    let mut tx = db.write_long().await?;
    let saved = save_in(db, &mut tx, actor, key, input).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    Ok(saved)
}

async fn save_in(
    db: &Db,
    tx: &mut WriteTx,
    actor: Option<&str>,
    key: Option<&str>,
    input: Pipeline,
) -> Result<Pipeline> {
    let all = read(&mut tx.tx).await?;
    let existing = match key {
        Some(key) => Some(all.iter().find(|p| p.key == key).ok_or_else(|| Error::NotFound(format!("pipeline {key}")))?),
        None => None,
    };
    let mut input = input;
    if let Some(existing) = existing {
        input.key = existing.key.clone();
        if input.position == 0 {
            input.position = existing.position;
        }
    } else if input.position == 0 {
        input.position = all.iter().map(|p| p.position).max().unwrap_or(0) + 1;
    }
    let others: Vec<Pipeline> = all.iter().filter(|p| Some(p.key.as_str()) != key).cloned().collect();
    // An existing stage keeps its key when sent without one (its labels were edited).
    if let Some(existing) = existing {
        for s in input.stages.iter_mut().filter(|s| s.key.is_empty()) {
            if let Some(old) = existing.stages.iter().find(|o| o.label_en == s.label_en || o.label_fa == s.label_fa) {
                s.key = old.key.clone();
            }
        }
    }
    let p = check(input, &others).map_err(Error::Validation)?;
    let at = now();
    let stages = serde_json::to_string(&p.stages).map_err(|e| Error::Corrupt(e.to_string()))?;
    if existing.is_some() {
        sqlx::query(
            "UPDATE sales_pipelines SET name_fa = $1, name_en = $2, position = $3, stale_days = $4, stages_json = $5, updated_at = $6 WHERE key = $7",
        )
        .bind(p.name_fa.clone())
        .bind(p.name_en.clone())
        .bind(p.position)
        .bind(p.stale_days)
        .bind(stages)
        .bind(at)
        .bind(p.key.clone())
        .execute(&mut *tx.tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO sales_pipelines (key, name_fa, name_en, position, stale_days, stages_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(p.key.clone())
        .bind(p.name_fa.clone())
        .bind(p.name_en.clone())
        .bind(p.position)
        .bind(p.stale_days)
        .bind(stages)
        .bind(at)
        .execute(&mut *tx.tx)
        .await?;
    }
    let mut all: Vec<Pipeline> = others;
    all.push(p.clone());
    all.sort_by_key(|p| (p.position, p.key.clone()));
    sync_choices(db, tx, actor, &all).await.map_err(|e| stage_in_use(e, &p))?;
    Ok(p)
}

/// Removes a pipeline no deal is in (trashed deals count: they may come back).
pub async fn delete(db: &Db, actor: Option<&str>, key: &str) -> Result<()> {
    let mut tx = db.write_long().await?;
    let all = read(&mut tx.tx).await?;
    let p = all.iter().find(|p| p.key == key).ok_or_else(|| Error::NotFound(format!("pipeline {key}")))?;
    if all.len() == 1 {
        return Err(Error::Conflict { code: "last_pipeline", details: vec![FieldError::new("key", "last_pipeline")] });
    }
    sqlx::query("DELETE FROM sales_pipelines WHERE key = $1").bind(key.to_string()).execute(&mut *tx.tx).await?;
    let rest: Vec<Pipeline> = all.iter().filter(|o| o.key != key).cloned().collect();
    sync_choices(db, &mut tx, actor, &rest).await.map_err(|e| stage_in_use(e, p))?;
    tx.commit().await?;
    db.reload_catalog().await?;
    Ok(())
}

/// A removed choice still in use, said of the pipeline: which of its stages (or itself) deals are in.
fn stage_in_use(e: Error, p: &Pipeline) -> Error {
    match e {
        Error::Conflict { code: "option_in_use", details } => {
            let details = details
                .into_iter()
                .map(|d| {
                    let value = d.params["value"].as_str().unwrap_or_default().to_string();
                    let field = match p.stages.iter().position(|s| s.key == value) {
                        Some(i) => format!("stages.{i}"),
                        None if d.field == "stage" => "stages".to_string(),
                        None => "key".to_string(),
                    };
                    FieldError { field, ..d }
                })
                .collect();
            Error::Conflict { code: "option_in_use", details }
        }
        other => other,
    }
}

/// The deal's `pipeline` and `stage` choices from the pipelines.
async fn sync_choices(db: &Db, tx: &mut WriteTx, actor: Option<&str>, all: &[Pipeline]) -> Result<()> {
    let pipelines = all.iter().map(|p| opt(&p.key, &p.name_fa, &p.name_en)).collect();
    let under =
        |p: &Pipeline, s: &Stage| SelectOption { parent: Some(p.key.clone()), ..opt(&s.key, &s.label_fa, &s.label_en) };
    let stages = all.iter().flat_map(|p| p.stages.iter().map(move |s| under(p, s))).collect();
    db.set_choices_in(tx, actor, "deal", "pipeline", pipelines, None).await?;
    db.set_choices_in(tx, actor, "deal", "stage", stages, Some("pipeline")).await
}

/// The default pipeline, made once from the stage choices a deal had before pipelines existed
/// (their keys and labels kept; won and lost by name, added if an admin had removed them), with
/// every deal placed in it and its stage history rebuilt from the audit log. Runs at start-up,
/// in one transaction; does nothing once a pipeline exists.
pub(crate) async fn upgrade(db: &Db) -> Result<()> {
    let catalog = db.reload_catalog().await?;
    let Some(deal) = catalog.object("deal") else { return Ok(()) };
    let mut conn = db.pool().acquire().await?;
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM sales_pipelines").fetch_one(&mut *conn).await?.try_get(0)?;
    drop(conn);
    if existing > 0 {
        // Keeps the deal's choices in step (databases made before stages named their pipeline).
        let mut tx = db.write().await?;
        let all = read(&mut tx.tx).await?;
        sync_choices(db, &mut tx, None, &all).await?;
        tx.commit().await?;
        db.reload_catalog().await?;
        return Ok(());
    }
    // The stage is no longer one list with a default: the rules fill it from the deal's pipeline.
    if let Some(stage) = deal.field("stage")
        && (stage.required || stage.default_value.is_some())
    {
        let patch = FieldPatch { required: Some(false), default_value: Some(None), ..FieldPatch::default() };
        db.update_field(None, "deal", "stage", patch).await?;
    }
    let stage_field = deal.field("stage").cloned();
    let choices = stage_field.map(|f| f.options.options).unwrap_or_default();
    let open: Vec<_> = choices.iter().filter(|c| c.value != "won" && c.value != "lost").collect();
    let mut stages: Vec<Stage> = open
        .iter()
        .enumerate()
        .map(|(i, c)| Stage {
            key: c.value.clone(),
            label_fa: c.label_fa.clone(),
            label_en: c.label_en.clone(),
            // Evenly rising chances: 10 % at the first open stage, 90 % at none.
            probability: 10 + (i as i64 * 80) / (open.len().max(1) as i64),
            kind: StageKind::Open,
        })
        .collect();
    if stages.is_empty() {
        stages.push(Stage {
            key: "qualification".into(),
            label_fa: "ارزیابی".into(),
            label_en: "Qualification".into(),
            probability: 10,
            kind: StageKind::Open,
        });
    }
    for (key, fa, en, probability, kind) in
        [("won", "موفق", "Won", 100, StageKind::Won), ("lost", "ناموفق", "Lost", 0, StageKind::Lost)]
    {
        let (label_fa, label_en) = choices
            .iter()
            .find(|c| c.value == key)
            .map_or((fa.to_string(), en.to_string()), |c| (c.label_fa.clone(), c.label_en.clone()));
        stages.push(Stage { key: key.into(), label_fa, label_en, probability, kind });
    }
    let default = Pipeline {
        key: DEFAULT_PIPELINE.into(),
        name_fa: "فروش".into(),
        name_en: "Sales".into(),
        position: 1,
        stale_days: Some(30),
        stages,
    };
    let mut tx = db.write_long().await?;
    save_in(db, &mut tx, None, None, default).await?;
    let catalog = db.catalog_cached()?;
    let deal = catalog.object("deal").ok_or_else(|| Error::NotFound("object deal".into()))?;
    if let Some(pipeline) = deal.field("pipeline") {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET {} = $1 WHERE {} IS NULL",
            deal.table, pipeline.column, pipeline.column
        )))
        .bind(DEFAULT_PIPELINE)
        .execute(&mut *tx.tx)
        .await?;
    }
    rebuild_history(&mut tx).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    tracing::info!("made the default pipeline from the deals' stages");
    Ok(())
}

/// The stage history of every deal from its audit entries (its creation and each change of
/// stage), for deals made before the history was kept or written by a bulk load.
pub async fn rebuild_history(tx: &mut WriteTx) -> Result<u64> {
    sqlx::query("DELETE FROM deal_stage_history").execute(&mut *tx.tx).await?;
    let rows = sqlx::query(
        "SELECT record_id, action, actor, at, changes_json FROM audit_log WHERE object = 'deal' AND action IN ('create', 'update') ORDER BY record_id, id",
    )
    .fetch_all(&mut *tx.tx)
    .await?;
    // The deal whose stay is open, that stay, and the deal's pipeline.
    let mut open: Option<(String, String)> = None;
    let mut pipeline = DEFAULT_PIPELINE.to_string();
    let mut written = 0u64;
    for r in &rows {
        let (deal, actor, at): (String, Option<String>, String) = (r.try_get(0)?, r.try_get(2)?, r.try_get(3)?);
        let changes: String = r.try_get(4)?;
        let changes: Json = serde_json::from_str(&changes).unwrap_or(Json::Null);
        let new_value = |field: &str| {
            changes
                .as_array()
                .and_then(|c| c.iter().find(|c| c["field"] == field))
                .and_then(|c| c["new"].as_str())
                .map(str::to_string)
        };
        let same_deal = open.as_ref().is_some_and(|(d, _)| *d == deal);
        if !same_deal {
            pipeline = DEFAULT_PIPELINE.to_string();
        }
        if let Some(p) = new_value("pipeline") {
            pipeline = p;
        }
        let Some(stage) = new_value("stage") else { continue };
        if let Some((_, open_id)) = open.as_ref().filter(|_| same_deal) {
            sqlx::query("UPDATE deal_stage_history SET left_at = $1, left_by = $2 WHERE id = $3")
                .bind(at.clone())
                .bind(actor.clone())
                .bind(open_id.clone())
                .execute(&mut *tx.tx)
                .await?;
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO deal_stage_history (id, deal_id, pipeline, stage, entered_at, entered_by) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.clone())
        .bind(deal.clone())
        .bind(pipeline.clone())
        .bind(stage)
        .bind(at)
        .bind(actor)
        .execute(&mut *tx.tx)
        .await?;
        open = Some((deal, id));
        written += 1;
    }
    Ok(written)
}

/// One stay of a deal in a stage.
#[derive(Clone, Debug, Serialize)]
pub struct StageStay {
    pub pipeline: String,
    pub stage: String,
    pub entered_at: String,
    pub entered_by: Option<String>,
    pub left_at: Option<String>,
    pub left_by: Option<String>,
    /// Whole seconds from entering to leaving (or to now, for the stage it is in).
    pub seconds: i64,
}

/// A deal's stages, oldest first. The caller has checked that the user may read the deal.
pub async fn history(db: &Db, deal_id: &str) -> Result<Vec<StageStay>> {
    let rows = sqlx::query(
        "SELECT pipeline, stage, entered_at, entered_by, left_at, left_by FROM deal_stage_history WHERE deal_id = $1 ORDER BY entered_at, id",
    )
    .bind(deal_id.to_string())
    .fetch_all(db.pool())
    .await?;
    let now = time::OffsetDateTime::now_utc();
    rows.iter()
        .map(|r| {
            let entered_at: String = r.try_get(2)?;
            let left_at: Option<String> = r.try_get(4)?;
            let from = parse_instant(&entered_at);
            let to = left_at.as_deref().map_or(Some(now), parse_instant);
            Ok(StageStay {
                pipeline: r.try_get(0)?,
                stage: r.try_get(1)?,
                entered_by: r.try_get(3)?,
                left_by: r.try_get(5)?,
                seconds: from.zip(to).map_or(0, |(a, b)| (b - a).whole_seconds().max(0)),
                entered_at,
                left_at,
            })
        })
        .collect()
}

fn parse_instant(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// The rules on a deal's pipeline and stage, in the write's transaction.
pub(crate) struct DealRules;

impl WriteHook for DealRules {
    fn objects(&self) -> &'static [&'static str] {
        &["deal"]
    }

    fn before<'a>(&'a self, cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let moving = write.is_create() || write.changes("pipeline") || write.changes("stage");
            let emptying = ["won_reason", "lost_reason"].iter().any(|f| write.changes(f) && write.after(f).is_null());
            if !moving && !emptying {
                return Ok(());
            }
            let pipelines = read(&mut cx.tx.tx).await?;
            if !moving {
                let pipeline = write.after("pipeline");
                let stage = write.after("stage");
                let kind = pipelines
                    .iter()
                    .find(|p| Some(p.key.as_str()) == pipeline.as_str())
                    .and_then(|p| p.stage(stage.as_str().unwrap_or_default()))
                    .map(|s| s.kind);
                return check_reasons(write, kind);
            }
            let wanted = write.after("pipeline");
            let pipeline = match wanted.as_str() {
                Some(key) => pipelines.iter().find(|p| p.key == key).ok_or_else(|| {
                    Error::invalid(FieldError::with("pipeline", "invalid_choice", json!({ "value": key })))
                })?,
                None => pipelines.first().ok_or_else(|| Error::invalid(FieldError::new("pipeline", "required")))?,
            };
            if wanted.is_null() {
                write.set("pipeline", Value::Text(pipeline.key.clone()));
            }
            // A stage left out is the pipeline's first open one; a deal moved to another pipeline
            // without a stage starts there.
            let stage_key = match write.after("stage").as_str() {
                Some(key) if write.changes("stage") || pipeline.stage(key).is_some() => key.to_string(),
                _ => {
                    let first = pipeline.first_open().unwrap_or(&pipeline.stages[0]);
                    write.set("stage", Value::Text(first.key.clone()));
                    first.key.clone()
                }
            };
            let Some(stage) = pipeline.stage(&stage_key) else {
                return Err(Error::invalid(FieldError::with(
                    "stage",
                    "stage_not_in_pipeline",
                    json!({ "stage": stage_key, "pipeline": pipeline.key }),
                )));
            };
            if write.is_create() || write.before("stage").as_str() != Some(stage.key.as_str()) {
                write.set("stage_entered_at", Value::Datetime(time::OffsetDateTime::now_utc()));
                if stage.kind != StageKind::Open && write.after("closed_on").is_null() {
                    write.set("closed_on", Value::Date(cx.db.today()));
                }
            }
            check_reasons(write, Some(stage.kind))
        })
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let moved = match written.action {
                Action::Create => true,
                Action::Update => written.changed("stage") || written.changed("pipeline"),
                Action::Delete | Action::Restore => false,
            };
            let (Some(stage), true) = (written.after.get("stage").and_then(Json::as_str), moved) else {
                return Ok(());
            };
            let pipeline = written.after.get("pipeline").and_then(Json::as_str).unwrap_or(DEFAULT_PIPELINE);
            let at = written.at.to_string();
            sqlx::query(
                "UPDATE deal_stage_history SET left_at = $1, left_by = $2 WHERE deal_id = $3 AND left_at IS NULL",
            )
            .bind(at.clone())
            .bind(cx.actor.map(str::to_string))
            .bind(written.id.to_string())
            .execute(&mut *cx.tx.tx)
            .await?;
            sqlx::query(
                "INSERT INTO deal_stage_history (id, deal_id, pipeline, stage, entered_at, entered_by) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_id())
            .bind(written.id.to_string())
            .bind(pipeline.to_string())
            .bind(stage.to_string())
            .bind(at)
            .bind(cx.actor.map(str::to_string))
            .execute(&mut *cx.tx.tx)
            .await?;
            Ok(())
        })
    }
}

/// The kind of the stage `deal` is in (read in `tx`).
pub async fn stage_kind(tx: &mut WriteTx, deal: &peyvand_store::records::Record) -> Result<Option<StageKind>> {
    let pipelines = read(&mut tx.tx).await?;
    let pipeline = deal.fields.get("pipeline").and_then(Json::as_str).unwrap_or(DEFAULT_PIPELINE);
    let stage = deal.fields.get("stage").and_then(Json::as_str).unwrap_or_default();
    Ok(pipelines.iter().find(|p| p.key == pipeline).and_then(|p| p.stage(stage)).map(|s| s.kind))
}

/// A won deal needs a won reason, a lost one a lost reason (`kind`: the stage's, after the write).
fn check_reasons(write: &Pending<'_, '_>, kind: Option<StageKind>) -> Result<()> {
    let mut errors = Vec::new();
    for (field, needed) in [("won_reason", StageKind::Won), ("lost_reason", StageKind::Lost)] {
        if kind == Some(needed) && write.after(field).is_null() {
            errors.push(FieldError::new(field, "reason_required"));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

/// A deal's and a contact's last activity, from the activities logged on them (a deal going
/// stale, a customer gone silent).
pub(crate) struct LastActivity;

impl WriteHook for LastActivity {
    fn objects(&self) -> &'static [&'static str] {
        &["activity"]
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if !matches!(written.action, Action::Create | Action::Update | Action::Restore) {
                return Ok(());
            }
            let Some(at) = written.after.get("occurred_at").and_then(Json::as_str) else { return Ok(()) };
            for object in ["deal", "contact"] {
                let Some(id) = written.after.get(object).and_then(Json::as_str) else { continue };
                if !(written.changed(object) || written.changed("occurred_at")) {
                    continue;
                }
                let catalog = cx.db.catalog_cached()?;
                let Some(obj) = catalog.object(object) else { continue };
                let Some(field) = obj.field("last_activity_at") else { continue };
                // Straight to the column: the record's version and history are the user's, not
                // this rule's.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {} SET {col} = $1 WHERE id = $2 AND ({col} IS NULL OR {col} < $1)",
                    obj.table,
                    col = field.column
                )))
                .bind(at.to_string())
                .bind(id.to_string())
                .execute(&mut *cx.tx.tx)
                .await?;
            }
            Ok(())
        })
    }
}

/// Believable stage histories for deals written by a bulk load (`peyvand generate`, the demo),
/// which has none: each deal placed in the first pipeline if in none, then walked through its
/// pipeline's open stages up to the one it is in (all of them before a won deal, some before a
/// lost one), a few days to three weeks in each, ending on the day it closed (or today).
/// Deals with a history are left alone. Returns the stays written.
pub async fn sample_histories(db: &Db) -> Result<u64> {
    let catalog = db.reload_catalog().await?;
    let Some(deal) = catalog.object("deal") else { return Ok(0) };
    let pipelines = list(db).await?;
    let Some(first) = pipelines.first() else { return Ok(0) };
    let column = |name: &str| deal.field(name).map(|f| f.column.clone());
    let (Some(pipeline_col), Some(stage_col), Some(closed_col)) =
        (column("pipeline"), column("stage"), column("closed_on"))
    else {
        return Ok(0);
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET {pipeline_col} = $1 WHERE {pipeline_col} IS NULL",
        deal.table
    )))
    .bind(first.key.clone())
    .execute(db.pool())
    .await?;
    let now = time::OffsetDateTime::now_utc();
    let mut written = 0u64;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT d.id, d.{pipeline_col}, d.{stage_col}, d.{closed_col}, d.owner_col FROM {} d WHERE d.deleted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM deal_stage_history h WHERE h.deal_id = d.id) ORDER BY d.id LIMIT 500",
            deal.table
        )
        .replace("d.owner_col", &format!("d.{}", column(peyvand_records::access::OWNER_FIELD).unwrap_or_else(|| "created_by".into())))))
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            return Ok(written);
        }
        let mut stays: Vec<SampleStay> = Vec::new();
        for r in &rows {
            let (id, pipeline, stage, closed, owner): (
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            ) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?);
            let Some(p) = pipelines.iter().find(|p| Some(&p.key) == pipeline.as_ref()) else { continue };
            let Some(current) = stage.as_deref().and_then(|s| p.stage(s)) else { continue };
            // A number from the id, the same every run.
            let mut seed = id.bytes().fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            let mut next = |n: u64| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (seed >> 33) % n.max(1)
            };
            let open: Vec<&Stage> = p.stages.iter().filter(|s| s.kind == StageKind::Open).collect();
            let mut path: Vec<&Stage> = match current.kind {
                StageKind::Open => open.iter().take_while(|s| s.key != current.key).copied().collect(),
                StageKind::Won => open.clone(),
                StageKind::Lost => open.iter().take(1 + next(open.len() as u64) as usize).copied().collect(),
            };
            path.push(current);
            let end = closed
                .as_deref()
                .and_then(|d| time::Date::parse(d, &time::format_description::well_known::Iso8601::DATE).ok())
                .map(|d| d.with_hms(9, 0, 0).map(|t| t.assume_utc()).unwrap_or(now))
                .unwrap_or(now)
                .min(now);
            // Days in each stage before the last, walked back from the end.
            let spans: Vec<i64> = path.iter().map(|_| 3 + next(19) as i64).collect();
            let mut at = end - time::Duration::days(spans[..spans.len() - 1].iter().sum());
            for (i, s) in path.iter().enumerate() {
                let entered = format_instant(at);
                let last = i + 1 == path.len();
                if !last {
                    at += time::Duration::days(spans[i]);
                }
                let left = (!last).then(|| format_instant(at));
                stays.push((id.clone(), p.key.clone(), s.key.clone(), entered, left, owner.clone()));
            }
        }
        let mut tx = db.write_long().await?;
        // Each deal in its stage since its last stay began.
        if let Some(entered_col) = column("stage_entered_at") {
            for (deal_id, _, _, entered, left, _) in &stays {
                if left.is_none() {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {} SET {entered_col} = $1 WHERE id = $2",
                        deal.table
                    )))
                    .bind(entered.clone())
                    .bind(deal_id.clone())
                    .execute(&mut *tx.tx)
                    .await?;
                }
            }
        }
        for chunk in stays.chunks(400) {
            let mut sql = String::from(
                "INSERT INTO deal_stage_history (id, deal_id, pipeline, stage, entered_at, left_at, entered_by, left_by) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 8;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                ));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (deal_id, pipeline, stage, entered, left, owner) in chunk {
                q = q
                    .bind(new_id())
                    .bind(deal_id.clone())
                    .bind(pipeline.clone())
                    .bind(stage.clone())
                    .bind(entered.clone())
                    .bind(left.clone())
                    .bind(owner.clone())
                    .bind(left.as_ref().and(owner.clone()));
            }
            q.execute(&mut *tx.tx).await?;
        }
        tx.commit().await?;
        written += stays.len() as u64;
    }
}

/// A sampled stay: deal, pipeline, stage, entered, left, who moved it.
type SampleStay = (String, String, String, String, Option<String>, Option<String>);

/// An instant in the stored text form.
fn format_instant(at: time::OffsetDateTime) -> String {
    peyvand_records::value::format_datetime(at)
}
