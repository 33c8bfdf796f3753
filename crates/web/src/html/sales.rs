//! Sales pages (`peyvand_crm::sales`): a pipeline's board (the deals board seen through the
//! pipeline: its stages as columns, their weighted sums, deals going stale), the admins' page of
//! pipelines, and the stages a deal went through on its page.

use super::admin::{Pairs, Words, get, messages};
use super::list::{BoardLens, board_with};
use super::records::fail;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::sales::pipelines::{self, Pipeline, Stage, StageKind};
use peyvand_records::access::Action;
use peyvand_store::records::Record;
use serde_json::json;

/// `/pipelines`: the first pipeline's board.
pub async fn pipelines_index(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    match pipelines::list(&state.db).await {
        Ok(all) => match all.first() {
            Some(p) => Redirect::to(&format!("/pipelines/{}", super::session::encode(&p.key))).into_response(),
            None => fail(ApiError::NotFound),
        },
        Err(e) => fail(ApiError::from(e)),
    }
}

/// `/pipelines/{key}`: the deals of a pipeline on a board of its stages.
pub async fn pipeline_board(
    State(state): State<AppState>,
    session: Session,
    Path(key): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let lang = current_lang();
        let all = pipelines::list(&state.db).await?;
        let pipeline = all.iter().find(|p| p.key == key).ok_or(ApiError::NotFound)?;
        let lens = BoardLens {
            columns: Some(
                pipeline
                    .stages
                    .iter()
                    .map(|s| (s.key.clone(), s.label(lang).to_string(), Some(s.probability)))
                    .collect(),
            ),
            condition: Some(json!({ "field": "pipeline", "op": "eq", "value": pipeline.key })),
            stale: pipeline
                .stale_days
                .map(|days| (vec!["last_activity_at".to_string(), "stage_entered_at".to_string()], days)),
            heading: Some(pipeline.name(lang).to_string()),
            tabs: all
                .iter()
                .map(|p| (p.name(lang).to_string(), format!("/pipelines/{}", p.key), p.key == pipeline.key))
                .collect(),
            group: Some("stage".into()),
            stale_label: t(lang, "sales-stale"),
        };
        board_with(&state, &session, "deal", &pairs, lens).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// One stage row of a pipeline's form.
pub struct StageRow {
    pub key: String,
    pub label_fa: String,
    pub label_en: String,
    pub probability: String,
    pub kind: &'static str,
}

pub struct PipelineForm {
    pub key: String,
    pub name_fa: String,
    pub name_en: String,
    pub stale_days: String,
    pub stages: Vec<StageRow>,
}

#[derive(Template)]
#[template(path = "admin_pipelines.html")]
struct PipelinesPage {
    layout: Layout,
    tr: Words,
    pipelines: Vec<PipelineForm>,
    new_pipeline: PipelineForm,
    errors: Vec<String>,
}

fn kind_str(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Open => "open",
        StageKind::Won => "won",
        StageKind::Lost => "lost",
    }
}

fn empty_row(kind: &'static str, probability: &str) -> StageRow {
    StageRow {
        key: String::new(),
        label_fa: String::new(),
        label_en: String::new(),
        probability: probability.into(),
        kind,
    }
}

fn form_of(p: &Pipeline) -> PipelineForm {
    let mut stages: Vec<StageRow> = p
        .stages
        .iter()
        .map(|s| StageRow {
            key: s.key.clone(),
            label_fa: s.label_fa.clone(),
            label_en: s.label_en.clone(),
            probability: s.probability.to_string(),
            kind: kind_str(s.kind),
        })
        .collect();
    stages.push(empty_row("open", ""));
    PipelineForm {
        key: p.key.clone(),
        name_fa: p.name_fa.clone(),
        name_en: p.name_en.clone(),
        stale_days: p.stale_days.map(|d| d.to_string()).unwrap_or_default(),
        stages,
    }
}

pub async fn admin_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    admin_view(&state, &session, Vec::new()).await.unwrap_or_else(fail)
}

async fn admin_view(state: &AppState, session: &Session, errors: Vec<String>) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ManageSchema)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let all = pipelines::list(&state.db).await?;
    let new_pipeline = PipelineForm {
        key: String::new(),
        name_fa: String::new(),
        name_en: String::new(),
        stale_days: "30".into(),
        stages: vec![
            empty_row("open", "20"),
            empty_row("open", "50"),
            empty_row("open", "80"),
            empty_row("won", "100"),
            empty_row("lost", "0"),
        ],
    };
    Ok(render(&PipelinesPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        pipelines: all.iter().map(form_of).collect(),
        new_pipeline,
        errors,
    }))
}

/// A pipeline from its form: the stage rows in order (`stage_*` fields repeat, one per row);
/// a row with neither label is left out, as is one marked for removal.
fn pipeline_input(pairs: &Pairs) -> Pipeline {
    let all =
        |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).collect::<Vec<_>>();
    let (keys, fa, en, chances, kinds) =
        (all("stage_key"), all("stage_label_fa"), all("stage_label_en"), all("stage_probability"), all("stage_kind"));
    let removed = all("stage_remove");
    let mut stages = Vec::new();
    for i in 0..fa.len().min(en.len()) {
        let key = keys.get(i).cloned().unwrap_or_default();
        if (fa[i].is_empty() && en[i].is_empty()) || (!key.is_empty() && removed.contains(&key)) {
            continue;
        }
        let kind = match kinds.get(i).map(String::as_str) {
            Some("won") => StageKind::Won,
            Some("lost") => StageKind::Lost,
            _ => StageKind::Open,
        };
        let probability = chances.get(i).and_then(|c| peyvand_records::normalize::to_latin_digits(c).parse().ok());
        let probability = probability.unwrap_or(match kind {
            StageKind::Won => 100,
            StageKind::Lost | StageKind::Open => 0,
        });
        stages.push(Stage { key, label_fa: fa[i].clone(), label_en: en[i].clone(), probability, kind });
    }
    let stale = peyvand_records::normalize::to_latin_digits(get(pairs, "stale_days").trim());
    Pipeline {
        key: String::new(),
        name_fa: get(pairs, "name_fa").trim().to_string(),
        name_en: get(pairs, "name_en").trim().to_string(),
        position: 0,
        // A number that is not one is out of range (refused), not "never".
        stale_days: if stale.is_empty() { None } else { Some(stale.parse().unwrap_or(-1)) },
        stages,
    }
}

pub async fn admin_create(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        match pipelines::save(&state.db, Some(&session.user.id), None, pipeline_input(&pairs)).await {
            Ok(_) => Ok(Redirect::to("/admin/pipelines").into_response()),
            Err(e) => admin_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn admin_update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        match pipelines::save(&state.db, Some(&session.user.id), Some(&key), pipeline_input(&pairs)).await {
            Ok(_) => Ok(Redirect::to("/admin/pipelines").into_response()),
            Err(e) => admin_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn admin_delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm(session, _pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        super::admin::require(&session, Action::ManageSchema)?;
        match pipelines::delete(&state.db, Some(&session.user.id), &key).await {
            Ok(()) => Ok(Redirect::to("/admin/pipelines").into_response()),
            Err(e) => admin_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// A stay of the deal in a stage, as shown.
pub struct StayRow {
    pub stage: String,
    pub pipeline: String,
    pub colour: usize,
    pub entered: String,
    pub spent: String,
    pub by: Option<String>,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "deal_stages.html")]
struct StagesPanel {
    heading: String,
    empty: String,
    stays: Vec<StayRow>,
}

/// `seconds` as days, else hours, else minutes, in words.
fn duration(lang: &str, seconds: i64) -> String {
    let (key, count) = match seconds {
        s if s >= 86_400 => ("sales-days", s / 86_400),
        s if s >= 3_600 => ("sales-hours", s / 3_600),
        s => ("sales-minutes", s / 60),
    };
    t_args(lang, key, &[("count", count.to_string())])
}

/// The deal page's panel of the stages it went through, newest first.
pub async fn deal_panel(state: &AppState, record: &Record) -> Result<String, ApiError> {
    let lang = current_lang();
    let stays = pipelines::history(&state.db, &record.id).await?;
    let all = pipelines::list(&state.db).await?;
    let users = state.db.list_users().await?;
    let offset = state.config.display_offset;
    let rows = stays
        .iter()
        .rev()
        .map(|s| {
            let pipeline = all.iter().find(|p| p.key == s.pipeline);
            let stage = pipeline.and_then(|p| p.stage(&s.stage));
            StayRow {
                stage: stage.map_or_else(|| s.stage.clone(), |st| st.label(lang).to_string()),
                pipeline: pipeline.map_or_else(|| s.pipeline.clone(), |p| p.name(lang).to_string()),
                colour: pipeline.and_then(|p| p.stages.iter().position(|st| st.key == s.stage)).unwrap_or(0) % 8,
                entered: peyvand_records::value::parse_datetime(&s.entered_at)
                    .map(|at| crate::i18n::format_datetime(lang, at, offset))
                    .unwrap_or_default(),
                spent: t_args(lang, "sales-stage-spent", &[("time", duration(lang, s.seconds))]),
                by: s
                    .entered_by
                    .as_ref()
                    .and_then(|id| users.iter().find(|u| &u.id == id))
                    .map(|u| t_args(lang, "sales-stage-by", &[("name", u.name.clone())])),
                current: s.left_at.is_none(),
            }
        })
        .collect();
    let panel = StagesPanel {
        heading: t(lang, "sales-stage-history"),
        empty: t(lang, "sales-stage-history-empty"),
        stays: rows,
    };
    panel.render().map_err(|e| ApiError::Internal(e.to_string()))
}
