//! Automation pages (admins): workflows (the builder, a test run on a chosen record, the run
//! history, retrying what failed), templates (editor and preview), webhooks (subscriptions,
//! delivery log, replay), the outbox of e-mails and SMS, and the SMTP server and SMS gateway.
//! They call `peyvand_crm::automation`, as the API does.

use super::admin::{Option_, Pairs, Words, get, messages, require};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{format_datetime, t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::automation::templates::{self, MessageTemplate, TemplateInput};
use peyvand_crm::automation::workflows::{self, Action, Assignee, Definition, Run, TestRun, Trigger, WorkflowInput};
use peyvand_crm::automation::{mail, webhooks};
use peyvand_records::access::Action as Can;
use peyvand_records::value::parse_datetime;
use peyvand_records::{FieldType, ObjectDef};
use peyvand_store::records::ListQuery;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;

fn when(lang: &'static str, state: &AppState, at: &str) -> String {
    parse_datetime(at).map(|t| format_datetime(lang, t, state.config.display_offset)).unwrap_or_default()
}

fn options(items: impl IntoIterator<Item = (String, String)>, selected: &str) -> Vec<Option_> {
    items.into_iter().map(|(value, label)| Option_ { selected: value == selected, value, label }).collect()
}

// ---------------------------------------------------------------------------------------------
// Workflows

/// A workflow in the list.
pub struct WorkflowRow {
    pub id: String,
    pub name: String,
    pub object: String,
    pub trigger: String,
    pub enabled: bool,
    pub version: i64,
}

/// A run as the pages show it.
pub struct RunRow {
    pub id: String,
    pub workflow: String,
    pub workflow_id: String,
    pub record_href: String,
    pub status: String,
    pub when: String,
    pub steps: Vec<String>,
    pub error: String,
    pub failed: bool,
}

#[derive(Template)]
#[template(path = "automation.html")]
struct IndexPage {
    layout: Layout,
    tr: Words,
    workflows: Vec<WorkflowRow>,
    failed: Vec<RunRow>,
}

fn trigger_text(lang: &str, obj: Option<&ObjectDef>, trigger: &Trigger) -> String {
    let field = |f: &str| obj.and_then(|o| o.field(f)).map_or_else(|| f.to_string(), |d| d.label(lang).to_string());
    match trigger {
        Trigger::Created => t(lang, "workflow-trigger-created"),
        Trigger::Trashed => t(lang, "workflow-trigger-trashed"),
        Trigger::Changed { field: None, .. } => t(lang, "workflow-trigger-changed"),
        Trigger::Changed { field: Some(f), to, .. } => {
            let def = obj.and_then(|o| o.field(f));
            let shown = |v: &Json| match (def.map(|d| d.field_type), v) {
                (Some(FieldType::Boolean), Json::Bool(b)) => t(lang, if *b { "yes" } else { "no" }),
                (Some(FieldType::Select), Json::String(s)) => {
                    def.map_or(s.clone(), |d| d.option_label(s, lang).to_string())
                }
                (_, Json::String(s)) => s.clone(),
                (_, other) => other.to_string(),
            };
            let to = to.as_ref().map(|v| format!(" → {}", shown(v)));
            format!("{}: {}{}", t(lang, "workflow-trigger-changed"), field(f), to.unwrap_or_default())
        }
        Trigger::DateReached { field: f, offset_days, .. } => {
            format!(
                "{}: {} ({})",
                t(lang, "workflow-trigger-date_reached"),
                field(f),
                super::display::format_number(lang, &offset_days.to_string())
            )
        }
        Trigger::Schedule { .. } => t(lang, "workflow-trigger-schedule"),
        Trigger::FormSubmitted { .. } => t(lang, "workflow-trigger-form_submitted"),
        Trigger::BreachNear { .. } => t(lang, "workflow-trigger-breach_near"),
        Trigger::EmailReceived => t(lang, "workflow-trigger-email_received"),
        Trigger::HookReceived { .. } => t(lang, "workflow-trigger-hook_received"),
        Trigger::TierChanged { .. } => t(lang, "workflow-trigger-tier_changed"),
        Trigger::PointsExpiring { .. } => t(lang, "workflow-trigger-points_expiring"),
    }
}

async fn run_rows(state: &AppState, lang: &'static str, runs: Vec<Run>) -> Result<Vec<RunRow>, ApiError> {
    let names: HashMap<String, (String, String)> =
        workflows::list(&state.db).await?.into_iter().map(|w| (w.id.clone(), (w.name, w.object))).collect();
    Ok(runs
        .into_iter()
        .map(|r| {
            let (name, object) = names.get(&r.workflow_id).cloned().unwrap_or_default();
            RunRow {
                record_href: format!("/records/{}/{}", encode(&object), encode(&r.record_id)),
                workflow: name,
                workflow_id: r.workflow_id.clone(),
                status: t(lang, &format!("workflow-run-{}", r.status)),
                when: when(lang, state, &r.started_at),
                steps: r
                    .steps
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {}",
                            t(lang, &format!("workflow-step-{}", s.kind)),
                            if s.outcome == "failed" { "✗" } else { "✓" }
                        )
                    })
                    .collect(),
                error: r.error.clone().map(|e| t(lang, &format!("workflow-error-{e}"))).unwrap_or_default(),
                failed: r.status == "failed",
                id: r.id,
            }
        })
        .collect())
}

/// `GET /admin/workflows`: the workflows, and the runs that failed.
pub async fn index(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let lang = current_lang();
        let catalog = state.db.catalog().await?;
        let rows = workflows::list(&state.db)
            .await?
            .into_iter()
            .map(|w| {
                let obj = catalog.object(&w.object);
                WorkflowRow {
                    trigger: trigger_text(lang, obj.as_deref(), &w.definition.trigger),
                    object: obj.map_or(w.object.clone(), |o| o.label(lang).to_string()),
                    id: w.id,
                    name: w.name,
                    enabled: w.enabled,
                    version: w.version,
                }
            })
            .collect();
        let failed = run_rows(&state, lang, workflows::runs(&state.db, None, Some("failed"), 50).await?).await?;
        Ok::<_, ApiError>(render(&IndexPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
            tr: Words::new(lang),
            workflows: rows,
            failed,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// One condition row of the builder: field, operator, value.
pub struct CondRow {
    pub i: usize,
    pub field: String,
    pub op: String,
    pub value: String,
}

/// One step row of the builder (every kind's inputs; the page shows the chosen kind's).
#[derive(Default)]
pub struct StepRow {
    pub i: usize,
    pub kind: String,
    /// `main`, `then` or `otherwise` (under the branch above it).
    pub place: String,
    pub values: String,
    pub object: String,
    pub due: String,
    pub assign: String,
    pub template: String,
    pub url: String,
    pub secret: String,
    pub users: Vec<String>,
    pub message: String,
    pub tag: String,
    /// An "add points" step's program and points.
    pub program: String,
    pub points: String,
    pub wait: String,
    pub unit: String,
    pub cfield: String,
    pub cop: String,
    pub cvalue: String,
}

#[derive(Template)]
#[template(path = "workflow_form.html")]
struct BuilderPage {
    layout: Layout,
    tr: Words,
    id: String,
    name: String,
    object: String,
    enabled: bool,
    version: i64,
    objects: Vec<Option_>,
    fields: Vec<Option_>,
    date_fields: Vec<Option_>,
    /// The fields a condition may read: the record's and its related records'.
    cond_fields: Vec<Option_>,
    trigger: String,
    t_field: String,
    t_from: String,
    t_to: String,
    t_offset: String,
    t_hour: String,
    t_weekday: String,
    t_form: String,
    t_target: String,
    t_hook: String,
    t_program: String,
    /// The web forms and inbound webhooks of the object and the loyalty programs (a trigger may
    /// name one).
    forms: Vec<Option_>,
    hooks: Vec<Option_>,
    programs: Vec<Option_>,
    conditions: Vec<CondRow>,
    steps: Vec<StepRow>,
    step_kinds: Vec<(String, String)>,
    ops: Vec<(String, String)>,
    creatable: Vec<Option_>,
    assignees: Vec<(String, String)>,
    templates: Vec<(String, String, String)>,
    people: Vec<(String, String)>,
    records: Vec<Option_>,
    test: Option<TestView>,
    runs: Vec<RunRow>,
    errors: Vec<String>,
    saved: bool,
}

/// A test run as the builder shows it.
pub struct TestView {
    pub met: bool,
    pub steps: Vec<(String, String)>,
}

const STEP_KINDS: [&str; 13] = [
    "update",
    "create",
    "assign",
    "send_email",
    "send_sms",
    "call_webhook",
    "notify",
    "add_tag",
    "remove_tag",
    "wait",
    "wait_until",
    "branch",
    "add_points",
];
const OPS: [&str; 8] = ["eq", "ne", "gt", "lt", "contains", "in", "is_empty", "between"];

fn cond_value(v: &Json) -> String {
    match v {
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// A filter's conditions as rows (an `and` of conditions; anything else is shown as one row
/// per condition found).
fn cond_rows(filter: Option<&Json>) -> Vec<(String, String, String)> {
    let Some(f) = filter else { return Vec::new() };
    let list: Vec<&Json> = match f.get("and").and_then(Json::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![f],
    };
    list.iter()
        .filter_map(|c| {
            if let Some(segment) = c.get("in_segment").and_then(Json::as_str) {
                return Some((format!("segment:{segment}"), "eq".to_string(), String::new()));
            }
            Some((
                c.get("field")?.as_str()?.to_string(),
                c.get("op").and_then(Json::as_str).unwrap_or("eq").to_string(),
                cond_value(c.get("value").unwrap_or(&Json::Null)),
            ))
        })
        .collect()
}

fn values_text(values: &Map<String, Json>) -> String {
    values
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Json::Object(m) => m.get("amount").and_then(Json::as_str).unwrap_or_default().to_string(),
                other => cond_value(other),
            };
            format!("{k}: {text}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Minutes as the builder shows them: days, hours or minutes, whichever is whole.
fn wait_parts(minutes: i64) -> (String, String) {
    let (n, unit) = if minutes % 1440 == 0 {
        (minutes / 1440, "days")
    } else if minutes % 60 == 0 {
        (minutes / 60, "hours")
    } else {
        (minutes, "minutes")
    };
    (n.to_string(), unit.into())
}

fn step_row(i: usize, place: &str, a: &Action) -> StepRow {
    let mut row = StepRow {
        i,
        kind: a.kind().to_string(),
        place: place.to_string(),
        unit: "minutes".into(),
        ..StepRow::default()
    };
    match a {
        Action::Update { values } => row.values = values_text(values),
        Action::Create { object, values, due_in_days } => {
            row.object = object.clone();
            row.values = values_text(values);
            row.due = due_in_days.map(|d| d.to_string()).unwrap_or_default();
        }
        Action::Assign { to } => {
            row.assign = match to {
                Assignee::User { user } => format!("user:{user}"),
                Assignee::RoundRobin { team } => format!("rr:{team}"),
                Assignee::LeastLoaded { team } => format!("ll:{team}"),
            }
        }
        Action::SendEmail { template } | Action::SendSms { template } => row.template = template.clone(),
        Action::CallWebhook { url, secret } => {
            row.url = url.clone();
            row.secret = secret.clone();
        }
        Action::Notify { users, message } => {
            row.users = users.clone();
            row.message = message.clone();
        }
        Action::AddTag { tag } | Action::RemoveTag { tag } => row.tag = tag.clone(),
        Action::AddPoints { program, points } => {
            row.program = program.clone();
            row.points = points.to_string();
        }
        Action::Wait { minutes } => (row.wait, row.unit) = wait_parts(*minutes),
        Action::WaitUntil { condition, timeout_minutes } => {
            (row.wait, row.unit) = wait_parts(*timeout_minutes);
            if let Some((f, o, v)) = cond_rows(Some(condition)).into_iter().next() {
                row.cfield = f;
                row.cop = o;
                row.cvalue = v;
            }
        }
        Action::Branch { condition, .. } => {
            if let Some((f, o, v)) = cond_rows(Some(condition)).into_iter().next() {
                row.cfield = f;
                row.cop = o;
                row.cvalue = v;
            }
        }
    }
    row
}

/// A definition's steps as the builder's rows: a branch's steps follow it, marked then or
/// otherwise (one level; deeper branches are kept as they are by the API only).
fn step_rows(steps: &[Action]) -> Vec<StepRow> {
    let mut rows = Vec::new();
    for s in steps {
        rows.push(step_row(rows.len(), "main", s));
        if let Action::Branch { then, otherwise, .. } = s {
            for (place, list) in [("then", then), ("otherwise", otherwise)] {
                for inner in list {
                    rows.push(step_row(rows.len(), place, inner));
                }
            }
        }
    }
    rows
}

/// A value typed in the builder, as the field takes it.
fn typed(obj: Option<&ObjectDef>, field: &str, text: &str) -> Json {
    let def = obj.and_then(|o| o.field(field));
    match def.map(|d| d.field_type) {
        Some(FieldType::Boolean) => json!(matches!(text, "true" | "1" | "yes" | "on" | "بله")),
        Some(FieldType::Currency) if !text.contains("{{") => json!({ "amount": text, "currency": "IRR" }),
        Some(FieldType::MultiSelect) => {
            json!(text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>())
        }
        _ if def.is_some_and(|d| d.options.multiple) => {
            json!(text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>())
        }
        _ => json!(text),
    }
}

fn parse_values(obj: Option<&ObjectDef>, text: &str) -> Map<String, Json> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), typed(obj, k.trim(), v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn condition(field: &str, op: &str, value: &str) -> Json {
    // Membership of a segment: the operator and value say nothing more.
    if let Some(segment) = field.strip_prefix("segment:") {
        return json!({ "in_segment": segment });
    }
    let list = || value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>();
    let v = match op {
        "in" | "between" => json!(list()),
        "is_empty" => json!(value != "false"),
        _ => json!(value),
    };
    json!({ "field": field, "op": op, "value": v })
}

/// A wait typed as a number and a unit, in minutes.
fn minutes(n: &str, unit: &str) -> i64 {
    let per = match unit {
        "days" => 1440,
        "hours" => 60,
        _ => 1,
    };
    n.parse::<i64>().unwrap_or(0).saturating_mul(per)
}

/// The definition and name the builder posted (rows without a kind are dropped).
fn posted(pairs: &Pairs, catalog: &peyvand_store::catalog::Catalog) -> WorkflowInput {
    let text = |k: &str| get(pairs, k).to_string();
    let object = text("object");
    let obj = catalog.object(&object);
    let num = |k: &str| text(k).parse::<i64>().ok();
    let trigger = match get(pairs, "trigger") {
        "changed" => Trigger::Changed {
            field: Some(text("t_field")).filter(|f| !f.is_empty()),
            from: Some(text("t_from")).filter(|f| !f.is_empty()).map(|v| json!(v)),
            to: Some(text("t_to")).filter(|f| !f.is_empty()).map(|v| json!(v)),
        },
        "trashed" => Trigger::Trashed,
        "date_reached" => Trigger::DateReached {
            field: text("t_field"),
            offset_days: num("t_offset").unwrap_or(0),
            hour: num("t_hour").and_then(|h| u8::try_from(h).ok()).unwrap_or(9),
        },
        "schedule" => Trigger::Schedule {
            weekday: num("t_weekday").and_then(|d| u8::try_from(d).ok()),
            hour: num("t_hour").and_then(|h| u8::try_from(h).ok()).unwrap_or(9),
        },
        "form_submitted" => Trigger::FormSubmitted { form: Some(text("t_form")).filter(|f| !f.is_empty()) },
        "breach_near" => Trigger::BreachNear { target: Some(text("t_target")).filter(|f| !f.is_empty()) },
        "email_received" => Trigger::EmailReceived,
        "hook_received" => Trigger::HookReceived { hook: Some(text("t_hook")).filter(|f| !f.is_empty()) },
        "tier_changed" => Trigger::TierChanged { program: Some(text("t_program")).filter(|f| !f.is_empty()) },
        "points_expiring" => Trigger::PointsExpiring { program: Some(text("t_program")).filter(|f| !f.is_empty()) },
        _ => Trigger::Created,
    };
    let conds: Vec<Json> = (0..50)
        .filter_map(|j| {
            let f = text(&format!("c{j}.field"));
            (!f.is_empty()).then(|| condition(&f, get(pairs, &format!("c{j}.op")), get(pairs, &format!("c{j}.value"))))
        })
        .collect();
    let mut steps: Vec<Action> = Vec::new();
    let mut branch: Option<usize> = None;
    for i in 0..60 {
        let k = |n: &str| text(&format!("s{i}.{n}"));
        let kind = k("kind");
        if kind.is_empty() {
            continue;
        }
        let action = match kind.as_str() {
            "update" => Action::Update { values: parse_values(obj.as_deref(), &k("values")) },
            "create" => {
                let target = catalog.object(&k("object"));
                Action::Create {
                    object: k("object"),
                    values: parse_values(target.as_deref(), &k("values")),
                    due_in_days: k("due").parse().ok(),
                }
            }
            "assign" => Action::Assign {
                to: match k("assign").split_once(':') {
                    Some(("rr", team)) => Assignee::RoundRobin { team: team.into() },
                    Some(("ll", team)) => Assignee::LeastLoaded { team: team.into() },
                    Some((_, user)) => Assignee::User { user: user.into() },
                    None => Assignee::User { user: String::new() },
                },
            },
            "send_email" => Action::SendEmail { template: k("template") },
            "send_sms" => Action::SendSms { template: k("template") },
            "call_webhook" => Action::CallWebhook { url: k("url"), secret: k("secret") },
            "notify" => Action::Notify {
                users: pairs.iter().filter(|(n, _)| *n == format!("s{i}.users")).map(|(_, v)| v.clone()).collect(),
                message: k("message"),
            },
            "add_tag" => Action::AddTag { tag: k("tag") },
            "remove_tag" => Action::RemoveTag { tag: k("tag") },
            "add_points" => Action::AddPoints { program: k("program"), points: k("points").parse().unwrap_or(0) },
            "wait" => Action::Wait { minutes: minutes(&k("wait"), &k("unit")) },
            "wait_until" => Action::WaitUntil {
                condition: condition(&k("cfield"), &k("cop"), &k("cvalue")),
                timeout_minutes: minutes(&k("wait"), &k("unit")),
            },
            "branch" => Action::Branch {
                condition: condition(&k("cfield"), &k("cop"), &k("cvalue")),
                then: Vec::new(),
                otherwise: Vec::new(),
            },
            _ => continue,
        };
        let place = k("place");
        match (place.as_str(), branch, &action) {
            (_, _, Action::Branch { .. }) => {
                steps.push(action);
                branch = Some(steps.len() - 1);
            }
            ("then" | "otherwise", Some(b), _) => {
                if let Some(Action::Branch { then, otherwise, .. }) = steps.get_mut(b) {
                    if place == "then" { then.push(action) } else { otherwise.push(action) }
                }
            }
            _ => steps.push(action),
        }
    }
    WorkflowInput {
        name: text("name"),
        object,
        enabled: get(pairs, "enabled") == "on",
        definition: Definition {
            trigger,
            condition: (!conds.is_empty())
                .then(|| if conds.len() == 1 { conds[0].clone() } else { json!({ "and": conds }) }),
            steps,
        },
    }
}

/// What the builder shows.
struct Shown {
    id: Option<String>,
    version: i64,
    input: WorkflowInput,
    extra_steps: usize,
    test: Option<TestView>,
    errors: Vec<String>,
    saved: bool,
}

async fn builder(state: &AppState, session: &Session, shown: Shown) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.catalog().await?;
    let input = &shown.input;
    let obj = catalog.object(&input.object);
    let fields: Vec<Option_> = obj
        .iter()
        .flat_map(|o| o.live_fields())
        .map(|f| Option_ { value: f.api_name.clone(), label: f.label(lang).to_string(), selected: false })
        .collect();
    // Conditions may also read a related record's fields (`company.city`).
    let mut cond_fields = fields.clone();
    for f in obj.iter().flat_map(|o| o.live_fields()).filter(|f| f.field_type == FieldType::Relation) {
        let Some(target) = f.options.target.as_deref().and_then(|t| catalog.object(t)) else { continue };
        for g in target.live_fields().filter(|g| g.field_type != FieldType::Relation) {
            cond_fields.push(Option_ {
                value: format!("{}.{}", f.api_name, g.api_name),
                label: format!("{} › {}", f.label(lang), g.label(lang)),
                selected: false,
            });
        }
    }
    // And whether the record is in a segment of its object (`segment:<id>`).
    for seg in peyvand_crm::marketing::segments::list(&state.db).await? {
        if seg.definition.object == input.object {
            cond_fields.push(Option_ {
                value: format!("segment:{}", seg.id),
                label: t_args(lang, "workflow-in-segment", &[("name", seg.definition.name.clone())]),
                selected: false,
            });
        }
    }
    let date_fields = obj
        .iter()
        .flat_map(|o| o.live_fields())
        .filter(|f| matches!(f.field_type, FieldType::Date | FieldType::Datetime))
        .map(|f| Option_ { value: f.api_name.clone(), label: f.label(lang).to_string(), selected: false })
        .collect();
    let objects =
        options(catalog.objects.iter().map(|o| (o.api_name.clone(), o.label(lang).to_string())), &input.object);
    let creatable = catalog
        .objects
        .iter()
        .map(|o| Option_ { value: o.api_name.clone(), label: o.label(lang).to_string(), selected: false })
        .collect();
    let (mut t_field, mut t_from, mut t_to, mut t_offset, mut t_hour, mut t_weekday) =
        (String::new(), String::new(), String::new(), "0".to_string(), "9".to_string(), String::new());
    let (mut t_form, mut t_target, mut t_hook, mut t_program) =
        (String::new(), String::new(), String::new(), String::new());
    let trigger = match &input.definition.trigger {
        Trigger::Created => "created",
        Trigger::Trashed => "trashed",
        Trigger::Changed { field, from, to } => {
            t_field = field.clone().unwrap_or_default();
            t_from = from.as_ref().map(cond_value).unwrap_or_default();
            t_to = to.as_ref().map(cond_value).unwrap_or_default();
            "changed"
        }
        Trigger::DateReached { field, offset_days, hour } => {
            t_field = field.clone();
            t_offset = offset_days.to_string();
            t_hour = hour.to_string();
            "date_reached"
        }
        Trigger::Schedule { weekday, hour } => {
            t_weekday = weekday.map(|d| d.to_string()).unwrap_or_default();
            t_hour = hour.to_string();
            "schedule"
        }
        Trigger::FormSubmitted { form } => {
            t_form = form.clone().unwrap_or_default();
            "form_submitted"
        }
        Trigger::BreachNear { target } => {
            t_target = target.clone().unwrap_or_default();
            "breach_near"
        }
        Trigger::EmailReceived => "email_received",
        Trigger::HookReceived { hook } => {
            t_hook = hook.clone().unwrap_or_default();
            "hook_received"
        }
        Trigger::TierChanged { program } => {
            t_program = program.clone().unwrap_or_default();
            "tier_changed"
        }
        Trigger::PointsExpiring { program } => {
            t_program = program.clone().unwrap_or_default();
            "points_expiring"
        }
    };
    let programs = peyvand_crm::loyalty::programs::list(&state.db)
        .await?
        .into_iter()
        .map(|p| Option_ { label: p.definition.name(lang).to_string(), value: p.id, selected: false })
        .collect();
    let forms = peyvand_crm::forms::list(&state.db)
        .await?
        .into_iter()
        .filter(|f| f.definition.object == input.object)
        .map(|f| Option_ { value: f.id, label: f.definition.name, selected: false })
        .collect();
    let hooks = peyvand_crm::automation::webhooks::inbound_list(&state.db)
        .await?
        .into_iter()
        .filter(|h| h.object == input.object)
        .map(|h| Option_ { value: h.id, label: h.name, selected: false })
        .collect();
    let mut conditions: Vec<CondRow> = cond_rows(input.definition.condition.as_ref())
        .into_iter()
        .enumerate()
        .map(|(i, (field, op, value))| CondRow { i, field, op, value })
        .collect();
    for _ in 0..2 {
        conditions.push(CondRow { i: conditions.len(), field: String::new(), op: "eq".into(), value: String::new() });
    }
    let mut steps = step_rows(&input.definition.steps);
    for _ in 0..shown.extra_steps.max(usize::from(steps.is_empty())) {
        steps.push(StepRow { i: steps.len(), place: "main".into(), unit: "minutes".into(), ..StepRow::default() });
    }
    let users = state.db.list_users().await?;
    let teams = state.db.list_teams().await?;
    let mut assignees: Vec<(String, String)> =
        users.iter().filter(|u| u.active).map(|u| (format!("user:{}", u.id), u.name.clone())).collect();
    for tm in &teams {
        assignees.push((format!("rr:{}", tm.id), format!("{} — {}", tm.name, t(lang, "workflow-assign-round_robin"))));
        assignees.push((format!("ll:{}", tm.id), format!("{} — {}", tm.name, t(lang, "workflow-assign-least_loaded"))));
    }
    let mut people = vec![
        ("owner".to_string(), t(lang, "workflow-notify-owner")),
        ("manager".to_string(), t(lang, "workflow-notify-manager")),
    ];
    people.extend(users.iter().filter(|u| u.active).map(|u| (u.id.clone(), u.name.clone())));
    let templates = templates::list(&state.db)
        .await?
        .into_iter()
        .filter(|t| t.object == input.object && t.channel != "letter")
        .map(|t| (t.id, format!("{} ({})", t.name, t.channel), t.channel))
        .collect();
    let mut records = Vec::new();
    if obj.is_some() {
        let query = ListQuery {
            limit: Some(20),
            sort: obj
                .as_deref()
                .and_then(|o| peyvand_records::filter::parse_sort(o, "-created_at").ok())
                .unwrap_or_default(),
            ..ListQuery::default()
        };
        let scoped = session.scoped(state.clone());
        records = scoped
            .db
            .list_records(&input.object, &query)
            .await?
            .records
            .into_iter()
            .map(|r| Option_ { value: r.id, label: r.title, selected: false })
            .collect();
    }
    let runs = match &shown.id {
        Some(id) => run_rows(state, lang, workflows::runs(&state.db, Some(id), None, 20).await?).await?,
        None => Vec::new(),
    };
    let kinds =
        |list: &[&str], prefix: &str| list.iter().map(|k| (k.to_string(), t(lang, &format!("{prefix}-{k}")))).collect();
    Ok(render(&BuilderPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        id: shown.id.clone().unwrap_or_default(),
        name: input.name.clone(),
        object: input.object.clone(),
        enabled: input.enabled,
        version: shown.version,
        objects,
        fields,
        date_fields,
        cond_fields,
        trigger: trigger.into(),
        t_field,
        t_from,
        t_to,
        t_offset,
        t_hour,
        t_weekday,
        t_form,
        t_target,
        t_hook,
        t_program,
        forms,
        hooks,
        programs,
        conditions,
        steps,
        step_kinds: kinds(&STEP_KINDS, "workflow-step"),
        ops: kinds(&OPS, "workflow-op"),
        creatable,
        assignees,
        templates,
        people,
        records,
        test: shown.test,
        runs,
        errors: shown.errors,
        saved: shown.saved,
    }))
}

fn blank(object: &str) -> WorkflowInput {
    WorkflowInput {
        name: String::new(),
        object: object.to_string(),
        enabled: false,
        definition: Definition { trigger: Trigger::Created, condition: None, steps: Vec::new() },
    }
}

/// `GET /admin/workflows/new?object=deal`.
pub async fn new_workflow(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let object = query.get("object").cloned().unwrap_or_else(|| "deal".into());
        state.db.object(&object).await?;
        let shown = Shown {
            id: None,
            version: 0,
            input: blank(&object),
            extra_steps: 1,
            test: None,
            errors: Vec::new(),
            saved: false,
        };
        builder(&state, &session, shown).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /admin/workflows/{id}`: the builder, its test run and run history.
pub async fn edit_workflow(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let wf = workflows::get(&state.db, &id).await?;
        let input = WorkflowInput { name: wf.name, object: wf.object, enabled: wf.enabled, definition: wf.definition };
        let shown = Shown {
            id: Some(id),
            version: wf.version,
            input,
            extra_steps: 0,
            test: None,
            errors: Vec::new(),
            saved: false,
        };
        builder(&state, &session, shown).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/workflows/new` and `/admin/workflows/{id}`: saves, or (the form's other
/// buttons) adds a step or shows another object's fields without saving.
pub async fn create_workflow(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    save_workflow(state, None, session, pairs).await
}

pub async fn update_workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save_workflow(state, Some(id), session, pairs).await
}

async fn save_workflow(state: AppState, id: Option<String>, session: Session, pairs: Pairs) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let catalog = state.db.catalog().await?;
        let input = posted(&pairs, &catalog);
        let version = match &id {
            Some(id) => workflows::get(&state.db, id).await?.version,
            None => 0,
        };
        if !get(&pairs, "add").is_empty() || !get(&pairs, "refresh").is_empty() {
            let extra = usize::from(!get(&pairs, "add").is_empty());
            let shown = Shown { id, version, input, extra_steps: extra, test: None, errors: Vec::new(), saved: false };
            return builder(&state, &session, shown).await;
        }
        match workflows::save(&state.db, Some(&session.user.id), id.as_deref(), &input).await {
            Ok(wf) if id.is_none() => Ok(Redirect::to(&format!("/admin/workflows/{}", encode(&wf.id))).into_response()),
            Ok(wf) => {
                let input =
                    WorkflowInput { name: wf.name, object: wf.object, enabled: wf.enabled, definition: wf.definition };
                let shown = Shown {
                    id,
                    version: wf.version,
                    input,
                    extra_steps: 0,
                    test: None,
                    errors: Vec::new(),
                    saved: true,
                };
                builder(&state, &session, shown).await
            }
            Err(e) => {
                let shown =
                    Shown { id, version, input, extra_steps: 0, test: None, errors: messages(e)?, saved: false };
                builder(&state, &session, shown).await
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/workflows/{id}/test`: what the saved workflow would do to a chosen record.
pub async fn test_workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let lang = current_lang();
        let wf = workflows::get(&state.db, &id).await?;
        let scoped = session.scoped(state.clone());
        let (test, errors) =
            match workflows::test_run(&scoped.db, &wf.object, &wf.definition, get(&pairs, "record")).await {
                Ok(run) => (Some(test_view(lang, &run)), Vec::new()),
                Err(e) => (None, messages(e)?),
            };
        let input = WorkflowInput { name: wf.name, object: wf.object, enabled: wf.enabled, definition: wf.definition };
        builder(
            &state,
            &session,
            Shown { id: Some(id), version: wf.version, input, extra_steps: 0, test, errors, saved: false },
        )
        .await
    }
    .await;
    result.unwrap_or_else(fail)
}

fn test_view(lang: &str, run: &TestRun) -> TestView {
    TestView {
        met: run.condition_met,
        steps: run
            .steps
            .iter()
            .map(|s| {
                let detail = match s.kind.as_str() {
                    "send_email" | "send_sms" => format!(
                        "{} — {}\n{}",
                        s.detail["to"].as_str().unwrap_or("?"),
                        s.detail["subject"].as_str().unwrap_or_default(),
                        s.detail["body"].as_str().unwrap_or_default()
                    ),
                    "notify" => s.detail["message"].as_str().unwrap_or_default().to_string(),
                    "branch" => t(lang, &format!("workflow-took-{}", s.detail["took"].as_str().unwrap_or("then"))),
                    _ => serde_json::to_string(&s.detail).unwrap_or_default(),
                };
                (t(lang, &format!("workflow-step-{}", s.kind)), detail)
            })
            .collect(),
    }
}

/// `POST /admin/workflows/{id}/toggle`: enables or disables.
pub async fn toggle_workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let wf = workflows::get(&state.db, &id).await?;
        workflows::set_enabled(&state.db, &id, !wf.enabled).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/admin/workflows/{}", encode(&id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/workflows/{id}/delete`.
pub async fn delete_workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        workflows::delete(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/admin/workflows").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/workflow-runs/{id}/retry`: takes a failed run up again.
pub async fn retry_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let run = workflows::retry(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/admin/workflows/{}", encode(&run.workflow_id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---------------------------------------------------------------------------------------------
// Templates

#[derive(Template)]
#[template(path = "message_templates.html")]
struct TemplatesPage {
    layout: Layout,
    tr: Words,
    templates: Vec<(MessageTemplate, String)>,
}

/// `GET /admin/templates`.
pub async fn templates_page(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let lang = current_lang();
        let catalog = state.db.catalog().await?;
        let list = templates::list(&state.db)
            .await?
            .into_iter()
            .map(|t| {
                let object = catalog.object(&t.object).map_or(t.object.clone(), |o| o.label(lang).to_string());
                (t, object)
            })
            .collect();
        Ok::<_, ApiError>(render(&TemplatesPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
            tr: Words::new(lang),
            templates: list,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "message_template_form.html")]
struct TemplatePage {
    layout: Layout,
    tr: Words,
    id: String,
    input: TemplateInput,
    objects: Vec<Option_>,
    channels: Vec<Option_>,
    languages: Vec<Option_>,
    fields: Vec<(String, String)>,
    records: Vec<Option_>,
    preview: Option<templates::Rendered>,
    errors: Vec<String>,
    saved: bool,
}

async fn template_page(
    state: &AppState,
    session: &Session,
    id: Option<String>,
    input: TemplateInput,
    preview: Option<templates::Rendered>,
    errors: Vec<String>,
    saved: bool,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.catalog().await?;
    let obj = catalog.object(&input.object);
    let fields = obj
        .iter()
        .flat_map(|o| o.live_fields())
        .map(|f| (format!("{{{{ record.{} }}}}", f.api_name), f.label(lang).to_string()))
        .collect();
    let mut records = Vec::new();
    if let Some(o) = &obj {
        let query = ListQuery {
            limit: Some(20),
            sort: peyvand_records::filter::parse_sort(o, "-created_at").unwrap_or_default(),
            ..ListQuery::default()
        };
        records = session
            .scoped(state.clone())
            .db
            .list_records(&o.api_name, &query)
            .await?
            .records
            .into_iter()
            .map(|r| Option_ { value: r.id, label: r.title, selected: false })
            .collect();
    }
    Ok(render(&TemplatePage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        id: id.unwrap_or_default(),
        objects: options(
            catalog.objects.iter().map(|o| (o.api_name.clone(), o.label(lang).to_string())),
            &input.object,
        ),
        channels: options(
            templates::CHANNELS.iter().map(|c| (c.to_string(), t(lang, &format!("template-channel-{c}")))),
            &input.channel,
        ),
        languages: options(
            [("fa", "فارسی"), ("en", "English")].map(|(v, l)| (v.to_string(), l.to_string())),
            &input.language,
        ),
        fields,
        records,
        input,
        preview,
        errors,
        saved,
    }))
}

/// `GET /admin/templates/new`.
pub async fn new_template(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let input = TemplateInput {
            channel: query.get("channel").cloned().unwrap_or_else(|| "email".into()),
            object: query.get("object").cloned().unwrap_or_else(|| "contact".into()),
            language: "fa".into(),
            ..TemplateInput::default()
        };
        template_page(&state, &session, None, input, None, Vec::new(), false).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /admin/templates/{id}`.
pub async fn edit_template(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let tm = templates::get(&state.db, &id).await?;
        let input = TemplateInput {
            name: tm.name,
            channel: tm.channel,
            object: tm.object,
            language: tm.language,
            subject: tm.subject,
            body: tm.body,
        };
        template_page(&state, &session, Some(id), input, None, Vec::new(), false).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/templates/new` and `/admin/templates/{id}`: saves it, or (the preview button)
/// saves it and shows it for the chosen record.
pub async fn create_template(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    save_template(state, None, session, pairs).await
}

pub async fn update_template(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save_template(state, Some(id), session, pairs).await
}

async fn save_template(state: AppState, id: Option<String>, session: Session, pairs: Pairs) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let input = TemplateInput {
            name: get(&pairs, "name").to_string(),
            channel: get(&pairs, "channel").to_string(),
            object: get(&pairs, "object").to_string(),
            language: get(&pairs, "language").to_string(),
            subject: get(&pairs, "subject").to_string(),
            body: pairs
                .iter()
                .rev()
                .find(|(k, _)| k == "body")
                .map(|(_, v)| v.replace("\r\n", "\n"))
                .unwrap_or_default(),
        };
        match templates::save(&state.db, id.as_deref(), &input).await {
            Ok(tm) => {
                let record = get(&pairs, "record");
                if record.is_empty() {
                    if id.is_none() {
                        return Ok(Redirect::to(&format!("/admin/templates/{}", encode(&tm.id))).into_response());
                    }
                    return template_page(&state, &session, Some(tm.id), input, None, Vec::new(), true).await;
                }
                let scoped = session.scoped(state.clone());
                match templates::render_for(&scoped.db, &tm, record).await {
                    Ok(p) => template_page(&state, &session, Some(tm.id), input, Some(p), Vec::new(), true).await,
                    Err(e) => template_page(&state, &session, Some(tm.id), input, None, messages(e)?, true).await,
                }
            }
            Err(e) => template_page(&state, &session, id, input, None, messages(e)?, false).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/templates/{id}/delete`.
pub async fn delete_template(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        match templates::delete(&state.db, &id).await {
            Ok(()) => Ok(Redirect::to("/admin/templates").into_response()),
            Err(e) => {
                let errors = messages(e)?;
                let tm = templates::get(&state.db, &id).await?;
                let input = TemplateInput {
                    name: tm.name,
                    channel: tm.channel,
                    object: tm.object,
                    language: tm.language,
                    subject: tm.subject,
                    body: tm.body,
                };
                template_page(&state, &session, Some(id), input, None, errors, false).await
            }
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---------------------------------------------------------------------------------------------
// Webhooks

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    tr: Words,
    hooks: Vec<webhooks::Subscription>,
    inbound: Vec<webhooks::InboundHook>,
    objects: Vec<Option_>,
    errors: Vec<String>,
}

async fn webhooks_view(state: &AppState, session: &Session, errors: Vec<String>) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.catalog().await?;
    Ok(render(&WebhooksPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        hooks: webhooks::list(&state.db).await?,
        inbound: webhooks::inbound_list(&state.db).await?,
        objects: options(catalog.objects.iter().map(|o| (o.api_name.clone(), o.label(lang).to_string())), ""),
        errors,
    }))
}

/// `GET /admin/webhooks`.
pub async fn webhooks_page(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        webhooks_view(&state, &session, Vec::new()).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/webhooks`: subscribes a URL.
pub async fn create_webhook(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let input = webhooks::SubscriptionInput {
            url: get(&pairs, "url").to_string(),
            object: Some(get(&pairs, "object").to_string()).filter(|o| !o.is_empty()),
            events: pairs.iter().filter(|(k, _)| k == "events").map(|(_, v)| v.clone()).collect(),
            secret: None,
            active: true,
        };
        match webhooks::save(&state.db, None, &input).await {
            Ok(s) => Ok(Redirect::to(&format!("/admin/webhooks/{}", encode(&s.id))).into_response()),
            Err(e) => webhooks_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    layout: Layout,
    tr: Words,
    hook: webhooks::Subscription,
    deliveries: Vec<(webhooks::Delivery, String)>,
}

/// `GET /admin/webhooks/{id}`: a subscription, its secret and its delivery log.
pub async fn webhook_page(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let lang = current_lang();
        let hook = webhooks::get(&state.db, &id).await?;
        let deliveries = webhooks::deliveries(&state.db, &id, 50)
            .await?
            .into_iter()
            .map(|d| {
                let at = when(lang, &state, &d.created_at);
                (d, at)
            })
            .collect();
        Ok::<_, ApiError>(render(&WebhookPage {
            layout: Layout::new(lang, Some(&session), None, ""),
            tr: Words::new(lang),
            hook,
            deliveries,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/webhooks/inbound`: makes an inbound webhook (its changes are the admin's).
pub async fn create_inbound(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let input = webhooks::InboundInput {
            name: get(&pairs, "name").to_string(),
            object: get(&pairs, "object").to_string(),
            match_field: Some(get(&pairs, "match_field").to_string()).filter(|f| !f.is_empty()),
        };
        match webhooks::create_inbound(&state.db, Some(&session.user.id), &input).await {
            Ok(_) => Ok(Redirect::to("/admin/webhooks").into_response()),
            Err(e) => webhooks_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/webhooks/inbound/{id}/delete`.
pub async fn delete_inbound(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        webhooks::delete_inbound(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/admin/webhooks").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/webhooks/{id}/resume`, `/delete`, and `/admin/webhook-deliveries/{id}/replay`.
pub async fn resume_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        webhooks::resume(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/admin/webhooks/{}", encode(&id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn delete_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        webhooks::delete(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/admin/webhooks").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn replay_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let d = webhooks::replay(&state.db, &id).await?;
        let back =
            d.subscription_id.map_or("/admin/webhooks".to_string(), |s| format!("/admin/webhooks/{}", encode(&s)));
        Ok::<_, ApiError>(Redirect::to(&back).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---------------------------------------------------------------------------------------------
// The outbox and the channels' settings

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    layout: Layout,
    tr: Words,
    messages: Vec<(mail::Message, String)>,
    status: String,
    received: Vec<(String, String, String, String)>,
}

/// `GET /admin/messages?status=failed`: what was sent, what waits, what failed.
pub async fn outbox(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let lang = current_lang();
        let status = query.get("status").cloned().unwrap_or_default();
        let list = mail::messages(&state.db, Some(&status).filter(|s| !s.is_empty()).map(String::as_str), 100)
            .await?
            .into_iter()
            .map(|m| {
                let at = when(lang, &state, m.sent_at.as_deref().unwrap_or(&m.created_at));
                (m, at)
            })
            .collect();
        let received = peyvand_crm::automation::inbox::received(&state.db, 30)
            .await?
            .into_iter()
            .map(|m| {
                let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
                let href = match (m["object"].as_str(), m["record_id"].as_str()) {
                    (Some(o), Some(r)) => format!("/records/{}/{}", encode(o), encode(r)),
                    _ => String::new(),
                };
                (when(lang, &state, &s("received_at")), s("sender"), s("subject"), format!("{}|{href}", s("outcome")))
            })
            .collect();
        Ok::<_, ApiError>(render(&OutboxPage {
            layout: Layout::new(lang, Some(&session), None, ""),
            tr: Words::new(lang),
            messages: list,
            status,
            received,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/messages/{id}/retry`.
pub async fn retry_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        mail::retry(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/admin/messages").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "messaging.html")]
struct MessagingPage {
    layout: Layout,
    tr: Words,
    smtp: mail::SmtpSettings,
    has_password: bool,
    sms: mail::SmsSettings,
    has_key: bool,
    imap: peyvand_crm::automation::inbox::ImapSettings,
    has_imap_password: bool,
    imap_error: Option<String>,
    errors: Vec<String>,
    saved: bool,
}

async fn messaging_view(
    state: &AppState,
    session: &Session,
    errors: Vec<String>,
    saved: bool,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let smtp = mail::smtp_settings(&state.db).await?;
    let sms = mail::sms_settings(&state.db).await?;
    let imap = peyvand_crm::automation::inbox::imap_settings(&state.db).await?;
    Ok(render(&MessagingPage {
        has_imap_password: imap.as_ref().is_some_and(|s| !s.password.is_empty()),
        imap: imap.unwrap_or(peyvand_crm::automation::inbox::ImapSettings {
            port: 993,
            security: "tls".into(),
            mailbox: "INBOX".into(),
            poll_seconds: 60,
            ..Default::default()
        }),
        imap_error: peyvand_crm::automation::inbox::last_error(&state.db).await?,
        layout: Layout::new(lang, Some(session), None, ""),
        tr: Words::new(lang),
        has_password: smtp.as_ref().is_some_and(|s| !s.password.is_empty()),
        smtp: smtp.unwrap_or(mail::SmtpSettings {
            port: 587,
            security: "starttls".into(),
            ..mail::SmtpSettings::default()
        }),
        has_key: sms.as_ref().is_some_and(|s| !s.auth_value.is_empty()),
        sms: sms.unwrap_or(mail::SmsSettings { body_kind: "form".into(), ..mail::SmsSettings::default() }),
        errors,
        saved,
    }))
}

/// `GET /admin/messaging`: the SMTP server and the SMS gateway.
pub async fn messaging(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        messaging_view(&state, &session, Vec::new(), false).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /admin/messaging`: saves the form's half that was sent (`which`: smtp or sms).
pub async fn save_messaging(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let result = async {
        require(&session, Can::ManageSchema)?;
        let text = |k: &str| get(&pairs, k).to_string();
        let saved = if get(&pairs, "which") == "imap" {
            peyvand_crm::automation::inbox::save_imap(
                &state.db,
                &peyvand_crm::automation::inbox::ImapSettings {
                    host: text("host"),
                    port: text("port").parse().unwrap_or(0),
                    security: text("security"),
                    username: text("username"),
                    password: text("password"),
                    mailbox: Some(text("mailbox")).filter(|m| !m.is_empty()).unwrap_or_else(|| "INBOX".into()),
                    support_address: text("support_address"),
                    poll_seconds: text("poll_seconds").parse().unwrap_or(0),
                },
            )
            .await
            .map(|_| ())
        } else if get(&pairs, "which") == "sms" {
            mail::save_sms(
                &state.db,
                &mail::SmsSettings {
                    url: text("url"),
                    body_kind: text("body_kind"),
                    body: text("body"),
                    auth_header: text("auth_header"),
                    auth_value: text("auth_value"),
                    sender: text("sender"),
                },
            )
            .await
            .map(|_| ())
        } else {
            mail::save_smtp(
                &state.db,
                &mail::SmtpSettings {
                    host: text("host"),
                    port: text("port").parse().unwrap_or(0),
                    security: text("security"),
                    username: text("username"),
                    password: text("password"),
                    from_address: text("from_address"),
                    from_name: text("from_name"),
                    extra_root_pem: pairs
                        .iter()
                        .rev()
                        .find(|(k, _)| k == "extra_root_pem")
                        .map(|(_, v)| v.trim().to_string())
                        .unwrap_or_default(),
                    public_url: text("public_url"),
                },
            )
            .await
            .map(|_| ())
        };
        match saved {
            Ok(()) => messaging_view(&state, &session, Vec::new(), true).await,
            Err(e) => messaging_view(&state, &session, messages(e)?, false).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

// ---------------------------------------------------------------------------------------------
// Letters

#[derive(Template)]
#[template(path = "letters_print.html")]
struct LettersPage {
    lang: &'static str,
    dir: &'static str,
    css: String,
    js: String,
    tr: Words,
    business_name: String,
    date: String,
    letters: Vec<peyvand_crm::automation::letters::Letter>,
    back: String,
}

/// `POST /letters`: a letter template (`template`) printed for the records chosen — `ids`
/// (comma-separated) or a list's `filter` — that the user may read, in the template's language,
/// a page each; each customer's timeline notes that the letter went out.
pub async fn print_letters(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    use peyvand_crm::automation::letters::{self, Selection};
    let result = async {
        require(&session, Can::ReadRecords)?;
        let tm = templates::get(&state.db, get(&pairs, "template")).await?;
        let ids: Vec<String> =
            get(&pairs, "ids").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        let selection = if ids.is_empty() {
            let filter = get(&pairs, "filter");
            let parsed = if filter.is_empty() {
                None
            } else {
                Some(
                    serde_json::from_str::<Json>(filter)
                        .map_err(|_| peyvand_records::FieldError::new("filter", "filter_syntax"))?,
                )
            };
            Selection::Filter(parsed)
        } else {
            Selection::Ids(ids)
        };
        let scoped = session.scoped(state.clone());
        let printed = letters::render(&scoped.db, &tm, &selection).await?;
        letters::log(&state.db, &tm, &printed, Some(&session.user.id)).await?;
        let lang: &'static str = if tm.language == "en" { "en" } else { "fa" };
        let details = peyvand_crm::sales::business::get(&state.db).await?;
        let (first, second) = if lang == "fa" { ("name_fa", "name_en") } else { ("name_en", "name_fa") };
        let back = match printed.as_slice() {
            [one] => format!("/records/{}/{}", encode(&tm.object), encode(&one.record_id)),
            _ => format!("/records/{}", encode(&tm.object)),
        };
        Ok::<_, ApiError>(render(&LettersPage {
            lang,
            dir: if lang == "fa" { "rtl" } else { "ltr" },
            css: super::assets::url("app.css"),
            js: super::assets::url("app.js"),
            tr: Words::new(lang),
            business_name: details.get(first).or_else(|| details.get(second)).cloned().unwrap_or_default(),
            date: peyvand_records::jalali::long_date(lang, state.db.today()),
            letters: printed,
            back,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "letters_panel.html")]
struct LettersPanel {
    tr: Words,
    csrf: String,
    ids: String,
    templates: Vec<(String, String)>,
}

/// On a record's page: its object's letter templates, to print one for it.
pub async fn letters_panel(
    state: &AppState,
    session: &Session,
    object: &str,
    record: &peyvand_store::records::Record,
) -> Result<Option<String>, ApiError> {
    let list = letter_templates(state, object).await?;
    if list.is_empty() {
        return Ok(None);
    }
    let panel = LettersPanel {
        tr: Words::new(current_lang()),
        csrf: session.csrf.clone(),
        ids: record.id.clone(),
        templates: list,
    };
    Ok(Some(panel.render().map_err(|e| ApiError::Internal(e.to_string()))?))
}

/// A list's letter templates, to print one for every record the list shows.
pub async fn letter_templates(state: &AppState, object: &str) -> Result<Vec<(String, String)>, ApiError> {
    Ok(templates::list(&state.db)
        .await?
        .into_iter()
        .filter(|t| t.channel == "letter" && t.object == object)
        .map(|t| (t.id, t.name))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Scheduled reports

struct ScheduleRow {
    id: String,
    name: String,
    view: String,
    format: String,
    when: String,
    recipients: String,
    last_sent: String,
}

#[derive(Template)]
#[template(path = "report_schedules.html")]
struct SchedulesPage {
    layout: Layout,
    tr: Words,
    rows: Vec<ScheduleRow>,
    views: Vec<Option_>,
    people: Vec<(String, String)>,
    me: String,
    errors: Vec<String>,
    notice: String,
}

fn may_schedule(session: &Session) -> Result<(), ApiError> {
    if peyvand_crm::automation::reports::may_keep(session.user.role) { Ok(()) } else { Err(ApiError::Forbidden) }
}

async fn schedules_view(
    state: &AppState,
    session: &Session,
    errors: Vec<String>,
    notice: String,
    selected: &str,
) -> Result<Response, ApiError> {
    use peyvand_crm::automation::reports;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let mut views = Vec::new();
    for o in &catalog.objects {
        for v in state.db.list_views(&o.api_name, &session.user.id).await? {
            views.push(Option_ { value: v.id, label: format!("{} — {}", o.label(lang), v.name), selected: false });
        }
    }
    // Saved reports the user reads, after the views (`report:` before their id).
    let scoped = session.scoped(state.clone());
    for r in peyvand_crm::insights::reports::list(&scoped.db).await? {
        let value = format!("report:{}", r.id);
        let label = format!("{} — {}", t(lang, "widget-report"), r.definition.name);
        views.push(Option_ { selected: value == selected, value, label });
    }
    let users = state.db.list_users().await?;
    let name_of = |id: &str| users.iter().find(|u| u.id == id).map_or_else(|| id.to_string(), |u| u.name.clone());
    let offset = state.config.display_offset;
    let rows = reports::list(&state.db)
        .await?
        .into_iter()
        .map(|s| {
            let day =
                s.weekday.map_or_else(|| t(lang, "workflow-every-day"), |d| t(lang, &format!("workflow-weekday-{d}")));
            let hour = super::display::format_number(lang, &format!("{:02}:00", s.hour));
            ScheduleRow {
                view: {
                    let source = s.report_id.as_ref().map_or_else(|| s.view_id.clone(), |r| format!("report:{r}"));
                    views.iter().find(|v| v.value == source).map_or(source, |v| v.label.clone())
                },
                format: s.format.to_uppercase(),
                when: format!("{day} {hour}"),
                recipients: s.recipients.iter().map(|r| name_of(r)).collect::<Vec<_>>().join("، "),
                last_sent: s
                    .last_sent_at
                    .as_deref()
                    .and_then(parse_datetime)
                    .map(|d| format_datetime(lang, d, offset))
                    .unwrap_or_default(),
                id: s.id,
                name: s.name,
            }
        })
        .collect();
    let people = users.iter().filter(|u| u.active).map(|u| (u.id.clone(), u.name.clone())).collect();
    Ok(render(&SchedulesPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "reports-scheduled"),
        tr: Words::new(lang),
        rows,
        views,
        people,
        me: session.user.id.clone(),
        errors,
        notice,
    }))
}

/// `GET /reports/scheduled`: the scheduled reports and a form for a new one (managers, admins).
/// `?report=ID` opens the form on that saved report.
pub async fn report_schedules(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    let result = async {
        may_schedule(&session)?;
        let selected = match get(&pairs, "report") {
            "" => String::new(),
            id => format!("report:{id}"),
        };
        schedules_view(&state, &session, Vec::new(), String::new(), &selected).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /reports/scheduled`: a new schedule.
pub async fn create_report_schedule(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    use peyvand_crm::automation::reports;
    let result = async {
        may_schedule(&session)?;
        let text = |k: &str| get(&pairs, k).to_string();
        let source = text("view_id");
        let (view_id, report_id) = match source.strip_prefix("report:") {
            Some(report) => (String::new(), Some(report.to_string())),
            None => (source.clone(), None),
        };
        let input = reports::ScheduleInput {
            name: text("name"),
            view_id,
            report_id,
            format: text("format"),
            recipients: pairs.iter().filter(|(k, _)| k == "recipients").map(|(_, v)| v.clone()).collect(),
            weekday: text("weekday").parse().ok(),
            hour: text("hour").parse().unwrap_or(24),
            enabled: true,
        };
        match reports::save(&state.db, &session.user.id, None, &input).await {
            Ok(_) => Ok(Redirect::to("/reports/scheduled").into_response()),
            Err(e) => schedules_view(&state, &session, messages(e)?, String::new(), &source).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /reports/scheduled/{id}/delete`.
pub async fn delete_report_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        may_schedule(&session)?;
        peyvand_crm::automation::reports::delete(&state.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/reports/scheduled").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /reports/scheduled/{id}/send`: sends it now.
pub async fn send_report_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        may_schedule(&session)?;
        let n = peyvand_crm::automation::reports::send_now(&state.db, &id).await?;
        let lang = current_lang();
        let notice = format!("{} {}", t(lang, "reports-sent"), super::display::format_number(lang, &n.to_string()));
        schedules_view(&state, &session, Vec::new(), notice, "").await
    }
    .await;
    result.unwrap_or_else(fail)
}
