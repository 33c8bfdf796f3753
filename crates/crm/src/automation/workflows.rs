//! Workflows admins define: a trigger on an object's records, a condition in the lists' filter
//! syntax, and steps (update, create, assign, send, call, notify, tag, wait, branch).
//!
//! How they run, durably: the `workflows` consumer reads every record event after commit, and
//! for each enabled workflow whose trigger and condition match it writes a run (once per
//! workflow and event: a unique key) and schedules the run's job. The job (`workflow_run`,
//! grouped by record, so one record's runs go in order) takes the steps one at a time, each in
//! its own transaction that also moves the run's step counter on — compared and set, so a step
//! retaken after a crash is not done twice. A message a step sends is written to an outbox in
//! that transaction, keyed by the run and step (`{run}.{step}`): that key is its event id, the
//! same on every attempt, so a receiver can tell a repeat. Time triggers (a date field reached,
//! a schedule) are sweeps: a job per workflow finds the records due and writes their runs.
//!
//! Loops: a record change a run made is noted with the chain of workflows that led to it
//! (`workflow_effects`); a workflow is not triggered by a change its own chain made, and a chain
//! stops at [`MAX_DEPTH`].

use super::templates;
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::filter::{Condition, Filter, Op, Operand, parse_filter, resolve};
use peyvand_records::value::{format_datetime, parse_datetime};
use peyvand_records::{FieldError, FieldType, ObjectDef, Value};
use peyvand_store::events::{Event, Job};
use peyvand_store::records::ListQuery;
use peyvand_store::runner::{Consumer, JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The job that starts the runs a signal sets off.
pub const SIGNAL_JOB: &str = "workflow_signal";
/// How often a run waiting until a condition looks again, besides whenever its record changes.
const RECHECK_MINUTES: i64 = 15;
/// The job that runs a run's steps.
pub const RUN_JOB: &str = "workflow_run";
/// The job that finds the records a time trigger is due for.
pub const SWEEP_JOB: &str = "workflow_sweep";
/// Workflows one change may set off in a chain (a workflow's change triggering another's).
pub const MAX_DEPTH: i64 = 5;
/// Most steps in a workflow, branches included; most records one sweep starts runs for.
const MAX_STEPS: usize = 50;
const SWEEP_LIMIT: u32 = 10_000;
/// The longest wait a step may ask for.
const MAX_WAIT_MINUTES: i64 = 366 * 24 * 60;

/// What starts a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A record is created.
    Created,
    /// A record is changed: any field, or one field (optionally from one value, to another).
    Changed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Json>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Json>,
    },
    /// A record is moved to the trash.
    Trashed,
    /// A date field is `offset_days` away (−3: three days before; 30: thirty days after), checked
    /// each day at `hour` (the business's time).
    DateReached {
        field: String,
        #[serde(default)]
        offset_days: i64,
        #[serde(default = "nine")]
        hour: u8,
    },
    /// Every day, or every week on `weekday` (0 = Saturday … 6 = Friday), at `hour`: each record
    /// that meets the condition.
    Schedule {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weekday: Option<u8>,
        #[serde(default = "nine")]
        hour: u8,
    },
    /// A web form made the record (`form`: one form's id, or any form).
    FormSubmitted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        form: Option<String>,
    },
    /// A ticket's service-level deadline is near (its warning): `target` is `first_response` or
    /// `resolution`, or either.
    BreachNear {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// An e-mail came in about the record: a contact's mail, a reply to a ticket, a ticket
    /// opened by mail to the support address.
    EmailReceived,
    /// A signed inbound webhook created or changed the record (`hook`: one hook's id, or any).
    HookReceived {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hook: Option<String>,
    },
    /// A contact's loyalty tier changed (`program`: one program's id, or any).
    TierChanged {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        program: Option<String>,
    },
    /// A contact's loyalty points expire in the program's warning days (`program`: one, or any).
    PointsExpiring {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        program: Option<String>,
    },
}

/// What happened outside a record's own change that may set off workflows: written in the
/// transaction of what happened (see [`signal_in`]), read after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    FormSubmitted { form: String },
    BreachNear { target: String },
    EmailReceived { message_id: String },
    HookReceived { hook: String },
    TierChanged { program: String, tier: String, up: bool },
    PointsExpiring { program: String, points: i64, on: String },
}

impl Signal {
    fn fires(&self, trigger: &Trigger) -> bool {
        let one = |want: &Option<String>, got: &String| want.as_ref().is_none_or(|w| w == got);
        match (self, trigger) {
            (Signal::FormSubmitted { form }, Trigger::FormSubmitted { form: want }) => one(want, form),
            (Signal::BreachNear { target }, Trigger::BreachNear { target: want }) => one(want, target),
            (Signal::EmailReceived { .. }, Trigger::EmailReceived) => true,
            (Signal::HookReceived { hook }, Trigger::HookReceived { hook: want }) => one(want, hook),
            (Signal::TierChanged { program, .. }, Trigger::TierChanged { program: want }) => one(want, program),
            (Signal::PointsExpiring { program, .. }, Trigger::PointsExpiring { program: want }) => one(want, program),
            _ => false,
        }
    }
}

fn nine() -> u8 {
    9
}

/// Whom an `assign` step gives the record to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assignee {
    User {
        user: String,
    },
    /// The team's members in turn.
    RoundRobin {
        team: String,
    },
    /// The team's member who owns the fewest of the object's records (tickets: open ones).
    LeastLoaded {
        team: String,
    },
}

/// One step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Sets fields of the record; a text value may use merge fields (`{{ raw.amount }}`).
    Update {
        values: Map<String, Json>,
    },
    /// Creates a record of `object`, linked to this one (and to what this one links to: a deal's
    /// contact becomes the task's contact). `due_in_days` sets its first date or time field
    /// named `due_at` (tasks) or `due_date`.
    Create {
        object: String,
        values: Map<String, Json>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_in_days: Option<i64>,
    },
    Assign {
        to: Assignee,
    },
    /// Sends an e-mail from a template to the record's e-mail (or its contact's).
    SendEmail {
        template: String,
    },
    /// Sends an SMS from a template to the record's mobile (or its contact's).
    SendSms {
        template: String,
    },
    /// Posts the record as JSON, signed with `secret`.
    CallWebhook {
        url: String,
        secret: String,
    },
    /// Tells users under the bell: user ids, `owner`, or `manager` (the owner's team manager).
    Notify {
        users: Vec<String>,
        message: String,
    },
    AddTag {
        tag: String,
    },
    RemoveTag {
        tag: String,
    },
    /// Waits, then goes on.
    Wait {
        minutes: i64,
    },
    /// Waits until the record meets `condition` (looked at whenever it changes, and every
    /// quarter of an hour), or `timeout_minutes` have passed; then goes on.
    WaitUntil {
        condition: Json,
        timeout_minutes: i64,
    },
    /// Takes `then` if the record (as it is then) meets `condition`, `otherwise` if not.
    Branch {
        condition: Json,
        #[serde(default)]
        then: Vec<Action>,
        #[serde(default)]
        otherwise: Vec<Action>,
    },
    /// Gives the record's contact (the record itself, for a contact) points in a loyalty
    /// program, once per run's step.
    AddPoints {
        program: String,
        points: i64,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Update { .. } => "update",
            Action::Create { .. } => "create",
            Action::Assign { .. } => "assign",
            Action::SendEmail { .. } => "send_email",
            Action::SendSms { .. } => "send_sms",
            Action::CallWebhook { .. } => "call_webhook",
            Action::Notify { .. } => "notify",
            Action::AddTag { .. } => "add_tag",
            Action::RemoveTag { .. } => "remove_tag",
            Action::Wait { .. } => "wait",
            Action::WaitUntil { .. } => "wait_until",
            Action::Branch { .. } => "branch",
            Action::AddPoints { .. } => "add_points",
        }
    }
}

/// A workflow's definition (one version of it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub trigger: Trigger,
    /// A filter in the lists' syntax the record must meet (as it is when the run starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Json>,
    pub steps: Vec<Action>,
}

/// A workflow as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub object: String,
    pub enabled: bool,
    pub version: i64,
    pub definition: Definition,
    pub created_at: String,
    pub updated_at: String,
}

/// A workflow as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowInput {
    pub name: String,
    pub object: String,
    #[serde(default)]
    pub enabled: bool,
    pub definition: Definition,
}

/// One step of the program a definition compiles to: branches become jumps.
#[derive(Clone, Debug, PartialEq)]
enum Op2 {
    Do(Action),
    /// Goes on if the record meets the condition, else jumps to `otherwise`.
    If {
        condition: Json,
        otherwise: usize,
    },
    Jump(usize),
}

fn compile(steps: &[Action], out: &mut Vec<Op2>) {
    for step in steps {
        match step {
            Action::Branch { condition, then, otherwise } => {
                let at = out.len();
                out.push(Op2::If { condition: condition.clone(), otherwise: 0 });
                compile(then, out);
                let jump = out.len();
                out.push(Op2::Jump(0));
                let else_at = out.len();
                compile(otherwise, out);
                let end = out.len();
                out[at] = Op2::If { condition: condition.clone(), otherwise: else_at };
                out[jump] = Op2::Jump(end);
            }
            other => out.push(Op2::Do(other.clone())),
        }
    }
}

fn program(def: &Definition) -> Vec<Op2> {
    let mut out = Vec::new();
    compile(&def.steps, &mut out);
    out
}

fn waits_until(steps: &[Action]) -> bool {
    steps.iter().any(|s| match s {
        Action::WaitUntil { .. } => true,
        Action::Branch { then, otherwise, .. } => waits_until(then) || waits_until(otherwise),
        _ => false,
    })
}

fn count_steps(steps: &[Action]) -> usize {
    steps
        .iter()
        .map(|s| match s {
            Action::Branch { then, otherwise, .. } => 1 + count_steps(then) + count_steps(otherwise),
            _ => 1,
        })
        .sum()
}

fn invalid(field: &str, code: &'static str) -> FieldError {
    FieldError::new(field, code)
}

/// Checks a definition against the catalog: fields, objects, templates, users and teams named
/// exist, conditions parse, values validate. Every problem at once, named by its place
/// (`steps.2.values.stage`).
pub async fn check(db: &Db, object: &ObjectDef, def: &Definition) -> std::result::Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    match &def.trigger {
        Trigger::Changed { field: Some(f), .. } if object.field(f).is_none() => {
            errors.push(FieldError::with("trigger.field", "unknown_field", json!({ "field": f })));
        }
        Trigger::DateReached { field, offset_days, hour } => {
            match object.field(field) {
                Some(f) if matches!(f.field_type, FieldType::Date | FieldType::Datetime) => {}
                _ => errors.push(FieldError::with("trigger.field", "not_a_date_field", json!({ "field": field }))),
            }
            if offset_days.abs() > 3650 {
                errors.push(FieldError::with("trigger.offset_days", "out_of_range", json!({ "max": 3650 })));
            }
            if *hour > 23 {
                errors.push(invalid("trigger.hour", "out_of_range"));
            }
        }
        Trigger::Schedule { weekday, hour } if weekday.is_some_and(|d| d > 6) || *hour > 23 => {
            errors.push(invalid("trigger", "out_of_range"));
        }
        Trigger::BreachNear { target } => {
            if object.api_name != "ticket" {
                errors.push(invalid("trigger.kind", "tickets_only"));
            }
            if target.as_deref().is_some_and(|t| !["first_response", "resolution"].contains(&t)) {
                errors.push(invalid("trigger.target", "invalid_option"));
            }
        }
        Trigger::FormSubmitted { form: Some(form) } => match crate::forms::get(db, form).await {
            Ok(f) if f.definition.object == object.api_name => {}
            Ok(_) => errors.push(invalid("trigger.form", "form_mismatch")),
            Err(_) => errors.push(invalid("trigger.form", "unknown_form")),
        },
        Trigger::HookReceived { hook: Some(hook) } => match super::webhooks::inbound(db, hook).await {
            Ok(h) if h.object == object.api_name => {}
            Ok(_) => errors.push(invalid("trigger.hook", "hook_mismatch")),
            Err(_) => errors.push(invalid("trigger.hook", "unknown_hook")),
        },
        Trigger::TierChanged { program } | Trigger::PointsExpiring { program } => {
            if object.api_name != "contact" {
                errors.push(invalid("trigger.kind", "contacts_only"));
            }
            if let Some(p) = program
                && !crate::loyalty_program_exists(db, p).await.unwrap_or(false)
            {
                errors.push(invalid("trigger.program", "unknown_program"));
            }
        }
        Trigger::EmailReceived if !["contact", "ticket"].contains(&object.api_name.as_str()) => {
            let deal_like = db
                .object("activity")
                .await
                .ok()
                .is_some_and(|a| a.live_fields().any(|f| f.options.target.as_deref() == Some(&object.api_name)));
            if !deal_like {
                errors.push(invalid("trigger.kind", "no_email"));
            }
        }
        _ => {}
    }
    let catalog = match db.catalog().await {
        Ok(c) => c,
        Err(_) => return Err(vec![invalid("object", "unavailable")]),
    };
    if let Some(c) = &def.condition {
        if let Err(e) = check_condition(&catalog, object, c) {
            errors.push(FieldError::with("condition", e.code, json!({ "field": e.field, "params": e.params })));
        }
        for segment in unknown_segments(db, object, c).await {
            errors.push(FieldError::with("condition", "unknown_segment", json!({ "segment": segment })));
        }
    }
    if def.steps.is_empty() {
        errors.push(invalid("steps", "required"));
    }
    if count_steps(&def.steps) > MAX_STEPS {
        errors.push(FieldError::with("steps", "too_many", json!({ "max": MAX_STEPS })));
    }
    let teams = db.list_teams().await.unwrap_or_default();
    let users = db.list_users().await.unwrap_or_default();
    let templates = templates::list(db).await.unwrap_or_default();
    let mut stack: Vec<(String, &Action)> =
        def.steps.iter().enumerate().map(|(i, s)| (format!("steps.{i}"), s)).collect();
    while let Some((at, step)) = stack.pop() {
        match step {
            Action::Update { values } => {
                if values.is_empty() {
                    errors.push(invalid(&format!("{at}.values"), "required"));
                }
                check_values(object, values, &at, &mut errors);
            }
            Action::Create { object: other, values, due_in_days } => match catalog.object(other) {
                None => errors.push(invalid(&format!("{at}.object"), "unknown_object")),
                Some(o) => {
                    check_values(&o, values, &at, &mut errors);
                    if due_in_days.is_some() && due_field(&o).is_none() {
                        errors.push(invalid(&format!("{at}.due_in_days"), "no_due_field"));
                    }
                }
            },
            Action::Assign { to } => {
                if object.field(OWNER_FIELD).is_none() {
                    errors.push(invalid(&format!("{at}.to"), "no_owner"));
                }
                match to {
                    Assignee::User { user } if !users.iter().any(|u| &u.id == user && u.active) => {
                        errors.push(invalid(&format!("{at}.to.user"), "unknown_user"));
                    }
                    Assignee::RoundRobin { team } | Assignee::LeastLoaded { team }
                        if !teams.iter().any(|t| &t.id == team) =>
                    {
                        errors.push(invalid(&format!("{at}.to.team"), "unknown_team"));
                    }
                    _ => {}
                }
            }
            Action::SendEmail { template } | Action::SendSms { template } => {
                let channel = if matches!(step, Action::SendEmail { .. }) { "email" } else { "sms" };
                match templates.iter().find(|t| &t.id == template) {
                    None => errors.push(invalid(&format!("{at}.template"), "unknown_template")),
                    Some(t) if t.channel != channel || t.object != object.api_name => {
                        errors.push(invalid(&format!("{at}.template"), "template_mismatch"));
                    }
                    Some(_) => {}
                }
            }
            Action::CallWebhook { url, secret } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
                    errors.push(invalid(&format!("{at}.url"), "invalid_url"));
                }
                if secret.len() < 16 {
                    errors.push(FieldError::with(&format!("{at}.secret"), "too_short", json!({ "min": 16 })));
                }
            }
            Action::Notify { users: to, message } => {
                if to.is_empty() {
                    errors.push(invalid(&format!("{at}.users"), "required"));
                }
                for u in to {
                    if !matches!(u.as_str(), "owner" | "manager") && !users.iter().any(|x| &x.id == u) {
                        errors.push(invalid(&format!("{at}.users"), "unknown_user"));
                    }
                }
                if let Err(e) = templates::check(&catalog, object, &format!("{at}.message"), message) {
                    errors.push(e);
                }
            }
            Action::AddPoints { program, points } => {
                if !crate::loyalty_program_exists(db, program).await.unwrap_or(false) {
                    errors.push(invalid(&format!("{at}.program"), "unknown_program"));
                }
                if !(1..=1_000_000).contains(points) {
                    errors.push(invalid(&format!("{at}.points"), "out_of_range"));
                }
                if object.api_name != "contact" && object.field("contact").is_none() {
                    errors.push(invalid(&format!("{at}.program"), "no_contact"));
                }
            }
            Action::AddTag { tag } | Action::RemoveTag { tag } => {
                if !object.field("tags").is_some_and(|f| f.field_type == FieldType::MultiSelect) {
                    errors.push(invalid(&format!("{at}.tag"), "no_tags"));
                }
                if tag.trim().is_empty() {
                    errors.push(invalid(&format!("{at}.tag"), "required"));
                }
            }
            Action::Wait { minutes } => {
                if *minutes < 1 || *minutes > MAX_WAIT_MINUTES {
                    errors.push(FieldError::with(
                        &format!("{at}.minutes"),
                        "out_of_range",
                        json!({ "min": 1, "max": MAX_WAIT_MINUTES }),
                    ));
                }
            }
            Action::WaitUntil { condition, timeout_minutes } => {
                if let Err(e) = check_condition(&catalog, object, condition) {
                    errors.push(FieldError::with(&format!("{at}.condition"), e.code, json!({ "field": e.field })));
                }
                for segment in unknown_segments(db, object, condition).await {
                    errors.push(FieldError::with(
                        &format!("{at}.condition"),
                        "unknown_segment",
                        json!({ "segment": segment }),
                    ));
                }
                if *timeout_minutes < 1 || *timeout_minutes > MAX_WAIT_MINUTES {
                    errors.push(FieldError::with(
                        &format!("{at}.timeout_minutes"),
                        "out_of_range",
                        json!({ "min": 1, "max": MAX_WAIT_MINUTES }),
                    ));
                }
            }
            Action::Branch { condition, then, otherwise } => {
                if let Err(e) = check_condition(&catalog, object, condition) {
                    errors.push(FieldError::with(&format!("{at}.condition"), e.code, json!({ "field": e.field })));
                }
                for segment in unknown_segments(db, object, condition).await {
                    errors.push(FieldError::with(
                        &format!("{at}.condition"),
                        "unknown_segment",
                        json!({ "segment": segment }),
                    ));
                }
                stack.extend(then.iter().enumerate().map(|(i, s)| (format!("{at}.then.{i}"), s)));
                stack.extend(otherwise.iter().enumerate().map(|(i, s)| (format!("{at}.otherwise.{i}"), s)));
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// A create step's values: fields the object has; text may hold merge fields (checked as
/// templates over the triggering object), other values are checked by the field's rules.
fn check_values(object: &ObjectDef, values: &Map<String, Json>, at: &str, errors: &mut Vec<FieldError>) {
    let mut literal = Map::new();
    for (name, value) in values {
        if object.field(name).is_none() {
            errors.push(FieldError::with(&format!("{at}.values"), "unknown_field", json!({ "field": name })));
        } else if !value.as_str().is_some_and(|s| s.contains("{{") || s.contains("{%")) {
            literal.insert(name.clone(), value.clone());
        }
    }
    if let Err(list) = peyvand_records::validate(object, &literal, peyvand_records::Mode::Update) {
        for e in list {
            errors.push(FieldError::with(&format!("{at}.values.{}", e.field), e.code, e.params));
        }
    }
}

fn due_field(object: &ObjectDef) -> Option<&peyvand_records::FieldDef> {
    ["due_at", "due_date"]
        .iter()
        .filter_map(|n| object.field(n))
        .find(|f| matches!(f.field_type, FieldType::Date | FieldType::Datetime))
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Workflow> {
    let def: String = row.try_get("definition_json")?;
    Ok(Workflow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        object: row.try_get("object")?,
        enabled: row.try_get::<i64, _>("enabled")? == 1,
        version: row.try_get("version")?,
        definition: serde_json::from_str(&def).map_err(|e| Error::Corrupt(format!("workflow definition: {e}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, name, object, enabled, version, definition_json, created_at, updated_at";

/// Saves a workflow: a new one, or a new version of one (its runs keep the version they began
/// with). Enabling one with a time trigger schedules its first sweep.
pub async fn save(db: &Db, actor: Option<&str>, id: Option<&str>, input: &WorkflowInput) -> Result<Workflow> {
    let object = db.object(&input.object).await.map_err(|_| Error::invalid(invalid("object", "unknown_object")))?;
    let mut errors = Vec::new();
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        errors.push(invalid("name", "required"));
    }
    if let Err(list) = check(db, &object, &input.definition).await {
        errors.extend(list);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let def = serde_json::to_string(&input.definition).map_err(|e| Error::Corrupt(e.to_string()))?;
    let at = now();
    let mut tx = db.write().await?;
    let (id, version) = match id {
        Some(id) => {
            let row = sqlx::query("SELECT version FROM workflows WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx.tx)
                .await?
                .ok_or_else(|| Error::NotFound(format!("workflow {id}")))?;
            let version = row.try_get::<i64, _>(0)? + 1;
            sqlx::query(
                "UPDATE workflows SET name = $1, object = $2, enabled = $3, version = $4, definition_json = $5, \
                 updated_at = $6 WHERE id = $7",
            )
            .bind(input.name.trim().to_string())
            .bind(input.object.clone())
            .bind(i64::from(input.enabled))
            .bind(version)
            .bind(def.clone())
            .bind(at.clone())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            (id.to_string(), version)
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO workflows (id, name, object, enabled, version, definition_json, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5, $6, $6)",
            )
            .bind(id.clone())
            .bind(input.name.trim().to_string())
            .bind(input.object.clone())
            .bind(i64::from(input.enabled))
            .bind(def.clone())
            .bind(at.clone())
            .execute(&mut *tx.tx)
            .await?;
            (id, 1)
        }
    };
    sqlx::query(
        "INSERT INTO workflow_versions (workflow_id, version, definition_json, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.clone())
    .bind(version)
    .bind(def)
    .bind(at)
    .bind(actor.map(str::to_string))
    .execute(&mut *tx.tx)
    .await?;
    if input.enabled {
        schedule_sweep(db, &mut tx, &id, version, &input.definition.trigger).await?;
    }
    tx.commit().await?;
    forget_cached();
    get(db, &id).await
}

/// Enables or disables a workflow (a disabled one starts no runs; runs under way go on).
pub async fn set_enabled(db: &Db, id: &str, enabled: bool) -> Result<Workflow> {
    let wf = get(db, id).await?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE workflows SET enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(enabled))
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    if enabled {
        schedule_sweep(db, &mut tx, id, wf.version, &wf.definition.trigger).await?;
    }
    tx.commit().await?;
    forget_cached();
    get(db, id).await
}

pub async fn get(db: &Db, id: &str) -> Result<Workflow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM workflows WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("workflow {id}")))?;
    from_row(&row)
}

pub async fn list(db: &Db) -> Result<Vec<Workflow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM workflows ORDER BY name, id")))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes a workflow with its versions and runs.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    get(db, id).await?;
    let mut tx = db.write().await?;
    for sql in [
        "DELETE FROM workflow_run_steps WHERE run_id IN (SELECT id FROM workflow_runs WHERE workflow_id = $1)",
        "DELETE FROM workflow_runs WHERE workflow_id = $1",
        "DELETE FROM workflow_versions WHERE workflow_id = $1",
        "DELETE FROM workflows WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *tx.tx).await?;
    }
    tx.commit().await?;
    forget_cached();
    Ok(())
}

/// Whether a workflow's current version sends a template.
pub async fn template_in_use(db: &Db, template: &str) -> Result<bool> {
    fn uses(steps: &[Action], t: &str) -> bool {
        steps.iter().any(|s| match s {
            Action::SendEmail { template } | Action::SendSms { template } => template == t,
            Action::Branch { then, otherwise, .. } => uses(then, t) || uses(otherwise, t),
            _ => false,
        })
    }
    Ok(list(db).await?.iter().any(|w| uses(&w.definition.steps, template)))
}

/// A version's definition, read once per instance (a version never changes: a save makes a new
/// one).
async fn version_definition(db: &Db, id: &str, version: i64) -> Result<Arc<Definition>> {
    type Cache = std::collections::HashMap<(String, String, i64), Arc<Definition>>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (db.url().to_string(), id.to_string(), version);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(found);
    }
    let def = Arc::new(read_version(db, id, version).await?);
    if let Ok(mut c) = cache.lock() {
        // Bounded: an instance that has seen very many versions starts again.
        if c.len() > 10_000 {
            c.clear();
        }
        c.insert(key, def.clone());
    }
    Ok(def)
}

async fn read_version(db: &Db, id: &str, version: i64) -> Result<Definition> {
    let row = sqlx::query("SELECT definition_json FROM workflow_versions WHERE workflow_id = $1 AND version = $2")
        .bind(id.to_string())
        .bind(version)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("workflow {id} version {version}")))?;
    let text: String = row.try_get(0)?;
    serde_json::from_str(&text).map_err(|e| Error::Corrupt(format!("workflow definition: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Triggers

/// Whether an event sets off a trigger.
fn fires(trigger: &Trigger, event: &Event) -> bool {
    match (trigger, event.action.as_str()) {
        (Trigger::Created, "create") | (Trigger::Trashed, "delete") => true,
        (Trigger::Changed { field, from, to }, "update") => {
            let Some(field) = field else { return true };
            let Some(change) = event
                .changes
                .as_array()
                .and_then(|list| list.iter().find(|c| c.get("field").and_then(Json::as_str) == Some(field)))
            else {
                return false;
            };
            let same = |want: &Json, got: Option<&Json>| loose_eq(want, got.unwrap_or(&Json::Null));
            from.as_ref().is_none_or(|f| same(f, change.get("old")))
                && to.as_ref().is_none_or(|t| same(t, change.get("new")))
        }
        _ => false,
    }
}

/// Values compared as an admin means them: `"won"` equals `"won"`, `5` equals `"5"`, a money
/// value by its amount.
fn loose_eq(want: &Json, got: &Json) -> bool {
    let text = |v: &Json| match v {
        Json::String(s) => s.clone(),
        Json::Object(m) => m.get("amount").and_then(Json::as_str).unwrap_or_default().to_string(),
        other => other.to_string(),
    };
    want == got || text(want) == text(got)
}

/// A condition on a related record's field (`company.city`): the relation field, its target
/// object, and the condition as the target's (`city`).
fn related_leaf(object: &ObjectDef, leaf: &Map<String, Json>) -> Option<(String, String, Json)> {
    let name = leaf.get("field")?.as_str()?;
    let (relation, rest) = name.split_once('.')?;
    let f = object.field(relation).filter(|f| f.field_type == FieldType::Relation)?;
    let mut inner = leaf.clone();
    inner.insert("field".into(), json!(rest));
    Some((f.api_name.clone(), f.options.target.clone()?, Json::Object(inner)))
}

/// A leaf of a condition read elsewhere than in the record's own columns.
enum Leaf {
    /// On a related record: the relation field, its target object, the target's condition.
    Related(String, String, Json),
    /// The record is a member of a segment (`{"in_segment": "<id>"}`, marketing's).
    Segment(String),
}

fn special_leaf(object: &ObjectDef, m: &Map<String, Json>) -> Option<Leaf> {
    if let Some(segment) = m.get("in_segment").and_then(Json::as_str) {
        return Some(Leaf::Segment(segment.to_string()));
    }
    related_leaf(object, m).map(|(relation, target, leaf)| Leaf::Related(relation, target, leaf))
}

/// A condition's special leaves, in the order [`with_related`] meets them.
fn related_leaves(object: &ObjectDef, condition: &Json, out: &mut Vec<Leaf>) {
    match condition {
        Json::Object(m) if m.contains_key("and") || m.contains_key("or") => {
            for c in m.values().filter_map(Json::as_array).flatten() {
                related_leaves(object, c, out);
            }
        }
        Json::Object(m) => out.extend(special_leaf(object, m)),
        _ => {}
    }
}

/// The condition with each special leaf replaced, in order, by a condition of the record itself
/// that always holds (`true`) or never does: what is left is the object's own filter.
fn with_related(object: &ObjectDef, condition: &Json, values: &mut impl Iterator<Item = bool>) -> Json {
    match condition {
        Json::Object(m) if m.contains_key("and") || m.contains_key("or") => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    let list = v.as_array().map(|l| l.iter().map(|c| with_related(object, c, values)).collect());
                    (k.clone(), list.map_or_else(|| v.clone(), Json::Array))
                })
                .collect(),
        ),
        Json::Object(m) if special_leaf(object, m).is_some() => {
            // Every record has an id: "id is empty" never holds, "id is not empty" always does.
            json!({ "field": "id", "op": "is_empty", "value": !values.next().unwrap_or(false) })
        }
        other => other.clone(),
    }
}

/// Checks a condition in the lists' syntax whose leaves may name a related record's field
/// (`company.city`): each such leaf against its object, the rest against this one. (A segment
/// leaf's segment is checked by [`check`], which reads the database.)
pub fn check_condition(
    catalog: &peyvand_store::catalog::Catalog,
    object: &ObjectDef,
    condition: &Json,
) -> std::result::Result<(), FieldError> {
    let mut special = Vec::new();
    related_leaves(object, condition, &mut special);
    for leaf in &special {
        let Leaf::Related(relation, target, leaf) = leaf else { continue };
        let Some(target) = catalog.object(target) else {
            return Err(FieldError::new(relation, "unknown_object"));
        };
        parse_filter(&target, leaf).map_err(|e| FieldError::new(&format!("{relation}.{}", e.field), e.code))?;
    }
    let own = with_related(object, condition, &mut std::iter::repeat(true));
    parse_filter(object, &own).map(|_| ())
}

/// The segments a condition names that do not exist, or hold another object's records.
async fn unknown_segments(db: &Db, object: &ObjectDef, condition: &Json) -> Vec<String> {
    let mut special = Vec::new();
    related_leaves(object, condition, &mut special);
    let mut unknown = Vec::new();
    for leaf in special {
        if let Leaf::Segment(id) = leaf
            && crate::segment_object(db, &id).await.ok().flatten().as_deref() != Some(object.api_name.as_str())
        {
            unknown.push(id);
        }
    }
    unknown
}

/// Whether the record meets a condition, read as it is now (the trash too, for a trashed one);
/// a leaf on a related record (`company.city`) is read on that record (none linked: it does not
/// hold).
async fn meets(db: &Db, object: &ObjectDef, id: &str, condition: Option<&Json>, trash: bool) -> Result<bool> {
    let Some(condition) = condition else { return Ok(true) };
    let mut related = Vec::new();
    related_leaves(object, condition, &mut related);
    let own = if related.is_empty() {
        condition.clone()
    } else {
        let record = match db.system().get_record(&object.api_name, id, trash).await {
            Ok(r) => r,
            Err(Error::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut values = Vec::new();
        for leaf in &related {
            let holds = match leaf {
                Leaf::Related(relation, target, leaf) => {
                    match record.fields.get(relation).and_then(Json::as_str).map(str::to_string) {
                        Some(other) => {
                            let target = db.object(target).await?;
                            Box::pin(meets(db, &target, &other, Some(leaf), false)).await?
                        }
                        None => false,
                    }
                }
                Leaf::Segment(segment) => crate::in_segment(db, segment, &object.api_name, id).await?,
            };
            values.push(holds);
        }
        with_related(object, condition, &mut values.into_iter())
    };
    let condition = &own;
    let filter = parse_filter(object, condition).map_err(Error::invalid)?;
    let Some(by_id) = resolve(object, "id") else { return Ok(false) };
    let query = ListQuery {
        filter: Some(Filter::And(vec![
            filter,
            Filter::Cond(Condition { field: by_id, op: Op::Eq, operand: Operand::One(Value::Text(id.to_string())) }),
        ])),
        limit: Some(1),
        trash,
        fields: Some(Vec::new()),
        ..ListQuery::default()
    };
    Ok(!db.system().list_records(&object.api_name, &query).await?.records.is_empty())
}

/// What made an event: the chain of workflows behind a change a run made.
struct Cause {
    chain: Vec<String>,
}

async fn cause_of(db: &Db, audit_id: &str) -> Result<Option<Cause>> {
    let row = sqlx::query("SELECT chain FROM workflow_effects WHERE audit_id = $1")
        .bind(audit_id.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => Some(Cause { chain: r.try_get::<String, _>(0)?.split(',').map(str::to_string).collect() }),
        None => None,
    })
}

/// Starts a run in a write: once per workflow and trigger key. Returns its id if new.
#[allow(clippy::too_many_arguments)]
async fn start_in(
    db: &Db,
    tx: &mut WriteTx,
    wf: &Workflow,
    record: &str,
    trigger_key: &str,
    chain: &[String],
    status: &str,
    error: Option<&str>,
) -> Result<Option<String>> {
    let id = new_id();
    let mut chain = chain.to_vec();
    chain.push(wf.id.clone());
    let written = sqlx::query(
        "INSERT INTO workflow_runs (id, workflow_id, version, record_id, trigger_key, chain, status, step, error, \
         started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(id.clone())
    .bind(wf.id.clone())
    .bind(wf.version)
    .bind(record.to_string())
    .bind(trigger_key.to_string())
    .bind(chain.join(","))
    .bind(status.to_string())
    .bind(error.map(str::to_string))
    .bind(now())
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if written == 0 {
        return Ok(None);
    }
    if status == "running" {
        db.schedule_job_in(tx, RUN_JOB, Some(&format!("{id}:0")), &now(), &json!({ "run": id, "record": record }))
            .await?;
    }
    Ok(Some(id))
}

/// The enabled workflows of an object.
async fn enabled_for(db: &Db, object: &str) -> Result<Vec<Workflow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM workflows WHERE object = $1 AND enabled = 1 ORDER BY id"
    )))
    .bind(object.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Reads record events and starts the runs they trigger.
pub struct Triggers;

impl Consumer for Triggers {
    fn name(&self) -> &'static str {
        "workflows"
    }

    fn handle<'a>(&'a self, db: &'a Db, event: &'a Event) -> Outcome<'a> {
        Box::pin(async move { on_event(db, event).await.map_err(|e| e.to_string()) })
    }
}

async fn on_event(db: &Db, event: &Event) -> Result<()> {
    let workflows = enabled_cached(db, &event.object).await?;
    if workflows.is_empty() {
        return Ok(());
    }
    if workflows.iter().any(|w| waits_until(&w.definition.steps)) {
        nudge_waiting(db, event).await?;
    }
    let firing: Vec<&Workflow> = workflows.iter().filter(|w| fires(&w.definition.trigger, event)).collect();
    if firing.is_empty() {
        return Ok(());
    }
    // A run's changes are made by no one (the system); a person's change has no chain behind it.
    let chain = if event.actor.is_some() {
        Vec::new()
    } else {
        cause_of(db, &event.id).await?.map(|c| c.chain).unwrap_or_default()
    };
    let object = match db.object(&event.object).await {
        Ok(o) => o,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let trash = event.action == "delete";
    let mut starts = Vec::new();
    for wf in firing {
        // A workflow is not set off by its own chain's changes; a chain ends at MAX_DEPTH.
        let (status, error) = if chain.contains(&wf.id) {
            continue;
        } else if chain.len() as i64 >= MAX_DEPTH {
            ("stopped", Some("loop_limit"))
        } else {
            match meets(db, &object, &event.record_id, wf.definition.condition.as_ref(), trash).await {
                Ok(true) => ("running", None),
                Ok(false) => continue,
                // A condition naming a field since removed: the run says so.
                Err(Error::Validation(_)) => ("failed", Some("condition_invalid")),
                Err(e) => return Err(e),
            }
        };
        starts.push((wf, status, error));
    }
    if starts.is_empty() {
        return Ok(());
    }
    // The event's runs in one write.
    let mut tx = db.write().await?;
    for (wf, status, error) in starts {
        start_in(db, &mut tx, wf, &event.record_id, &event.id, &chain, status, error).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Notes, in the write of what happened, a signal about a record of `object`: the workflows it
/// sets off are found after commit (a job, keyed by `key`: a signal noted twice starts nothing
/// twice). Cheap whether or not a workflow listens.
pub async fn signal_in(
    db: &Db,
    tx: &mut WriteTx,
    signal: &Signal,
    object: &str,
    record: &str,
    key: &str,
) -> Result<()> {
    let payload = json!({ "signal": signal, "object": object, "record": record });
    db.schedule_job_in(tx, SIGNAL_JOB, Some(&format!("signal:{key}")), &now(), &payload).await?;
    Ok(())
}

/// Starts the runs of the workflows a signal sets off.
pub struct Signals;

impl JobKind for Signals {
    fn kind(&self) -> &'static str {
        SIGNAL_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move { on_signal(db, job).await.map_err(|e| e.to_string()) })
    }

    fn group(&self, job: &Job) -> Option<String> {
        job.payload.get("record").and_then(Json::as_str).map(str::to_string)
    }
}

async fn on_signal(db: &Db, job: &Job) -> Result<()> {
    let text = |f: &str| job.payload.get(f).and_then(Json::as_str).unwrap_or_default().to_string();
    let (object_name, record) = (text("object"), text("record"));
    let Ok(signal) = serde_json::from_value::<Signal>(job.payload.get("signal").cloned().unwrap_or_default()) else {
        return Err(Error::Corrupt(format!("a signal that does not read: {}", job.payload)));
    };
    let workflows = enabled_cached(db, &object_name).await?;
    let firing: Vec<&Workflow> = workflows.iter().filter(|w| signal.fires(&w.definition.trigger)).collect();
    if firing.is_empty() {
        return Ok(());
    }
    let object = match db.object(&object_name).await {
        Ok(o) => o,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut starts = Vec::new();
    for wf in firing {
        match meets(db, &object, &record, wf.definition.condition.as_ref(), false).await {
            Ok(true) => starts.push((wf, "running", None)),
            Ok(false) => {}
            Err(Error::Validation(_)) => starts.push((wf, "failed", Some("condition_invalid"))),
            Err(e) => return Err(e),
        }
    }
    let key = job.key.clone().unwrap_or_else(|| job.id.clone());
    let mut tx = db.write().await?;
    for (wf, status, error) in starts {
        start_in(db, &mut tx, wf, &record, &key, &[], status, error).await?;
    }
    tx.commit().await
}

/// Runs of a record waiting until a condition are looked at again now (it changed).
async fn nudge_waiting(db: &Db, event: &Event) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, step FROM workflow_runs WHERE record_id = $1 AND status = 'waiting' AND wait_deadline IS NOT NULL",
    )
    .bind(event.record_id.clone())
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut tx = db.write().await?;
    for r in rows {
        let (id, step): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
        let payload = json!({ "run": id, "record": event.record_id, "step": step });
        db.schedule_job_in(&mut tx, RUN_JOB, Some(&format!("{id}:{step}:{}", event.id)), &now(), &payload).await?;
    }
    tx.commit().await
}

/// The enabled workflows of an object, read at most once a second by each instance (a workflow
/// enabled, changed or disabled acts within a second).
async fn enabled_cached(db: &Db, object: &str) -> Result<Arc<Vec<Workflow>>> {
    type Cache = std::collections::HashMap<String, (std::time::Instant, u64, Arc<Vec<Workflow>>)>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    // Keyed by the database too: tests open several at once in one process.
    let key = format!("{}\u{0}{object}", db.url());
    let generation = GENERATION.load(std::sync::atomic::Ordering::Acquire);
    if let Ok(c) = cache.lock()
        && let Some((at, seen, list)) = c.get(&key)
        && *seen == generation
        && at.elapsed() < std::time::Duration::from_secs(1)
    {
        return Ok(list.clone());
    }
    let list = Arc::new(enabled_for(db, object).await?);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, (std::time::Instant::now(), generation, list.clone()));
    }
    Ok(list)
}

/// Bumped by every save on this instance: its cache is read afresh at once (other instances'
/// within a second).
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn forget_cached() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

// ---------------------------------------------------------------------------------------------
// Sweeps (time triggers)

/// The next time a time trigger looks for due records, after `after` (UTC), in the business's
/// offset.
pub fn next_sweep(trigger: &Trigger, after: OffsetDateTime, offset: time::UtcOffset) -> Option<OffsetDateTime> {
    let (hour, weekday) = match trigger {
        Trigger::DateReached { hour, .. } => (*hour, None),
        Trigger::Schedule { weekday, hour } => (*hour, *weekday),
        _ => return None,
    };
    let local = after.to_offset(offset);
    for days in 0..9 {
        let date = local.date() + Duration::days(days);
        let at = date.with_hms(hour.min(23), 0, 0).ok()?.assume_offset(offset);
        // Saturday first: Saturday is 0.
        let day = (date.weekday().number_days_from_monday() + 2) % 7;
        if at > after && weekday.is_none_or(|w| w == day) {
            return Some(at.to_offset(time::UtcOffset::UTC));
        }
    }
    None
}

async fn schedule_sweep(db: &Db, tx: &mut WriteTx, id: &str, version: i64, trigger: &Trigger) -> Result<()> {
    let Some(at) = next_sweep(trigger, OffsetDateTime::now_utc(), db.local_offset()) else { return Ok(()) };
    let at = format_datetime(at);
    db.schedule_job_in(
        tx,
        SWEEP_JOB,
        Some(&format!("{id}:{version}:{at}")),
        &at,
        &json!({ "workflow": id, "version": version }),
    )
    .await?;
    Ok(())
}

/// Finds the records a time trigger is due for, starts their runs, and schedules the next sweep.
pub struct Sweeps;

impl JobKind for Sweeps {
    fn kind(&self) -> &'static str {
        SWEEP_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move { sweep(db, job).await.map_err(|e| e.to_string()) })
    }
}

async fn sweep(db: &Db, job: &Job) -> Result<()> {
    let id = job.payload.get("workflow").and_then(Json::as_str).unwrap_or_default();
    let version = job.payload.get("version").and_then(Json::as_i64).unwrap_or_default();
    let wf = match get(db, id).await {
        Ok(w) => w,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    // A sweep of an older version, or of a disabled workflow, does nothing (the current one has
    // its own).
    if !wf.enabled || wf.version != version {
        return Ok(());
    }
    let object = db.object(&wf.object).await?;
    let day = db.today();
    let mut filters = Vec::new();
    if let Trigger::DateReached { field, offset_days, .. } = &wf.definition.trigger {
        // The date that is `offset_days` away today: 3 days before a contract ends (−3) is a
        // contract ending in 3 days.
        let target = day - Duration::days(*offset_days);
        let f = object.field(field).ok_or_else(|| Error::invalid(invalid("trigger.field", "unknown_field")))?;
        let cond = if f.field_type == FieldType::Date {
            json!({ "field": field, "op": "eq", "value": peyvand_records::value::format_date(target) })
        } else {
            let from = target.midnight().assume_offset(db.local_offset());
            json!({ "field": field, "op": "between", "value": [
                format_datetime(from), format_datetime(from + Duration::days(1) - Duration::seconds(1))
            ] })
        };
        filters.push(cond);
    }
    // A condition on related records is read per record (below); the rest narrows the list.
    let mut related = Vec::new();
    if let Some(c) = &wf.definition.condition {
        related_leaves(&object, c, &mut related);
        filters.push(with_related(&object, c, &mut std::iter::repeat(true)));
    }
    let filter = if filters.is_empty() {
        None
    } else {
        Some(parse_filter(&object, &json!({ "and": filters })).map_err(Error::invalid)?)
    };
    let mut cursor = None;
    let mut started = 0u32;
    loop {
        let query = ListQuery {
            filter: filter.clone(),
            limit: Some(500),
            cursor,
            fields: Some(Vec::new()),
            ..ListQuery::default()
        };
        let page = db.system().list_records(&object.api_name, &query).await?;
        let mut due = Vec::new();
        for r in &page.records {
            if related.is_empty() || meets(db, &object, &r.id, wf.definition.condition.as_ref(), false).await? {
                due.push(r);
            }
        }
        let mut tx = db.write().await?;
        for r in due {
            let key = format!("sweep:{}:{}", job.run_at, r.id);
            start_in(db, &mut tx, &wf, &r.id, &key, &[], "running", None).await?;
            started += 1;
        }
        tx.commit().await?;
        cursor = page.next_cursor;
        if cursor.is_none() || started >= SWEEP_LIMIT {
            break;
        }
    }
    let mut tx = db.write().await?;
    let after = parse_datetime(&job.run_at).unwrap_or_else(OffsetDateTime::now_utc).max(OffsetDateTime::now_utc());
    if let Some(at) = next_sweep(&wf.definition.trigger, after, db.local_offset()) {
        let at = format_datetime(at);
        db.schedule_job_in(
            &mut tx,
            SWEEP_JOB,
            Some(&format!("{}:{}:{at}", wf.id, wf.version)),
            &at,
            &json!({ "workflow": wf.id, "version": wf.version }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Runs

/// A run as its history shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    pub id: String,
    pub workflow_id: String,
    pub version: i64,
    pub record_id: String,
    /// `running`, `waiting`, `done`, `failed`, `stopped` (a loop's limit).
    pub status: String,
    pub step: i64,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// While waiting until a condition: when it gives up.
    pub wait_deadline: Option<String>,
    /// The workflows whose runs led to this one (loop protection), this one's last.
    #[serde(skip)]
    pub chain: Vec<String>,
    pub steps: Vec<StepOutcome>,
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepOutcome {
    pub step: i64,
    pub kind: String,
    /// `done`, `skipped`, `failed`, `planned` (a test run).
    pub outcome: String,
    pub detail: Json,
    pub at: String,
}

const RUN_COLUMNS: &str =
    "id, workflow_id, version, record_id, status, step, error, started_at, finished_at, chain, wait_deadline";

fn run_from_row(row: &sqlx::any::AnyRow) -> Result<Run> {
    Ok(Run {
        id: row.try_get("id")?,
        workflow_id: row.try_get("workflow_id")?,
        version: row.try_get("version")?,
        record_id: row.try_get("record_id")?,
        status: row.try_get("status")?,
        step: row.try_get("step")?,
        error: row.try_get("error")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        wait_deadline: row.try_get("wait_deadline")?,
        chain: row.try_get::<String, _>("chain")?.split(',').map(str::to_string).collect(),
        steps: Vec::new(),
    })
}

/// The steps of the runs given, by run, in one query.
async fn steps_of(db: &Db, runs: &[String]) -> Result<std::collections::HashMap<String, Vec<StepOutcome>>> {
    let mut out: std::collections::HashMap<String, Vec<StepOutcome>> = std::collections::HashMap::new();
    if runs.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=runs.len()).map(|i| format!("${i}")).collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT run_id, step, kind, outcome, detail_json, at FROM workflow_run_steps WHERE run_id IN ({}) ORDER BY id",
        marks.join(", ")
    )));
    for r in runs {
        query = query.bind(r.clone());
    }
    for r in query.fetch_all(db.pool()).await? {
        let detail: String = r.try_get(4)?;
        out.entry(r.try_get(0)?).or_default().push(StepOutcome {
            step: r.try_get(1)?,
            kind: r.try_get(2)?,
            outcome: r.try_get(3)?,
            detail: serde_json::from_str(&detail).unwrap_or(Json::Null),
            at: r.try_get(5)?,
        });
    }
    Ok(out)
}

/// A workflow's runs, newest first (`status` to see only the failed ones, say), with steps.
pub async fn runs(db: &Db, workflow: Option<&str>, status: Option<&str>, limit: i64) -> Result<Vec<Run>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE ($1 = '' OR workflow_id = $1) AND ($2 = '' OR status = $2) \
         ORDER BY started_at DESC, id DESC LIMIT $3"
    )))
    .bind(workflow.unwrap_or_default().to_string())
    .bind(status.unwrap_or_default().to_string())
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    let mut out = rows.iter().map(run_from_row).collect::<Result<Vec<Run>>>()?;
    let ids: Vec<String> = out.iter().map(|r| r.id.clone()).collect();
    let mut steps = steps_of(db, &ids).await?;
    for run in &mut out {
        run.steps = steps.remove(&run.id).unwrap_or_default();
    }
    Ok(out)
}

/// A run without its steps (what taking its next step needs).
async fn run_bare(db: &Db, id: &str) -> Result<Run> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("workflow run {id}")))?;
    run_from_row(&row)
}

pub async fn run(db: &Db, id: &str) -> Result<Run> {
    let mut run = run_bare(db, id).await?;
    run.steps = steps_of(db, &[id.to_string()]).await?.remove(id).unwrap_or_default();
    Ok(run)
}

/// Takes a failed run up again at the step that failed.
pub async fn retry(db: &Db, id: &str) -> Result<Run> {
    let current = run(db, id).await?;
    if current.status != "failed" {
        return Err(Error::Conflict { code: "run_not_failed", details: Vec::new() });
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE workflow_runs SET status = 'running', error = NULL, finished_at = NULL WHERE id = $1 AND status = 'failed'")
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
    let key = format!("{id}:{}:retry:{}", current.step, new_id());
    db.schedule_job_in(&mut tx, RUN_JOB, Some(&key), &now(), &json!({ "run": id, "record": current.record_id }))
        .await?;
    tx.commit().await?;
    run(db, id).await
}

/// Runs a run's steps.
pub struct Runs;

impl JobKind for Runs {
    fn kind(&self) -> &'static str {
        RUN_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let id = job.payload.get("run").and_then(Json::as_str).unwrap_or_default();
            let step = job.payload.get("step").and_then(Json::as_i64);
            advance(db, id, step).await.map_err(|e| e.to_string())
        })
    }

    /// One record's runs in order.
    fn group(&self, job: &Job) -> Option<String> {
        job.payload.get("record").and_then(Json::as_str).map(str::to_string)
    }
}

/// What a step did, or why it could not.
enum Did {
    Done(Json),
    /// Jump to a step (a branch).
    Goto(usize, Json),
    /// Wait until a time, then go on.
    Wait(OffsetDateTime, Json),
    /// Stay on this step (waiting until a condition) and look again, giving up at the time.
    Recheck(OffsetDateTime),
    /// A step that cannot succeed as things are (a removed field, a refused value): the run
    /// fails here and an admin may retry it.
    Failed(Json),
}

/// What a step will write (see `StepCx::plan`).
enum Plan {
    Did(Did),
    Update(Map<String, Json>),
    Create(String, Map<String, Json>),
    /// A user, or a team's members to take in turn.
    Assign(Option<String>, Option<(String, Vec<String>)>),
    Queue(super::mail::Outgoing),
    Hook(String, String, Json),
    Notify(Vec<String>, String, String),
    Tags(Vec<String>),
    /// A loyalty program, a contact, points.
    Points(String, String, i64),
}

/// A step that cannot succeed as things are: the run fails there (an admin may retry it);
/// anything else is an error the job retries.
fn failed(e: Error) -> Result<Plan> {
    match e {
        Error::Validation(list) => Ok(Plan::Did(Did::Failed(json!({ "error": "invalid", "details": list })))),
        Error::NotFound(what) => Ok(Plan::Did(Did::Failed(json!({ "error": "not_found", "details": what })))),
        Error::Forbidden(_) | Error::Conflict { .. } => {
            Ok(Plan::Did(Did::Failed(json!({ "error": "refused", "details": e.to_string() }))))
        }
        other => Err(other),
    }
}

/// Takes a run's steps from where it is, one transaction each, until it ends or waits. A job
/// meant for one step (`expected`: a look at a condition) does nothing once the run has left it.
pub async fn advance(db: &Db, id: &str, expected: Option<i64>) -> Result<()> {
    let mut expected = expected;
    loop {
        let current = match run_bare(db, id).await {
            Ok(r) => r,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if !matches!(current.status.as_str(), "running" | "waiting")
            || expected.take().is_some_and(|s| s != current.step)
        {
            return Ok(());
        }
        let def = version_definition(db, &current.workflow_id, current.version).await?;
        let program = program(&def);
        let pc = usize::try_from(current.step).unwrap_or(usize::MAX);
        if pc >= program.len() {
            let mut tx = db.write().await?;
            finish_in(&mut tx, id, current.step, "done", None).await?;
            tx.commit().await?;
            return Ok(());
        }
        let wf = get(db, &current.workflow_id).await?;
        let cx = StepCx {
            db,
            run: id,
            pc,
            record: &current.record_id,
            object: &wf.object,
            chain: &current.chain,
            wait_deadline: current.wait_deadline.as_deref(),
        };
        // Worked out first (reads), then written in one transaction.
        let (kind, plan) = match &program[pc] {
            Op2::Do(action) => (action.kind(), cx.plan(action).await?),
            Op2::If { condition, otherwise } => {
                let object = db.object(&wf.object).await?;
                let did = match meets(db, &object, &current.record_id, Some(condition), false).await {
                    Ok(true) => Did::Done(json!({ "took": "then" })),
                    Ok(false) => Did::Goto(*otherwise, json!({ "took": "otherwise" })),
                    Err(Error::Validation(e)) => Did::Failed(json!({ "error": "condition_invalid", "details": e })),
                    Err(e) => return Err(e),
                };
                ("branch", Plan::Did(did))
            }
            Op2::Jump(to) => ("jump", Plan::Did(Did::Goto(*to, Json::Null))),
        };
        let mut tx = db.write().await?;
        let did = cx.apply(&mut tx, plan).await?;
        let (next, outcome, detail, wait) = match did {
            Did::Done(d) => (pc + 1, "done", d, None),
            Did::Goto(to, d) => (to, "done", d, None),
            Did::Wait(until, d) => (pc + 1, "done", d, Some(until)),
            Did::Recheck(deadline) => {
                let moved = sqlx::query(
                    "UPDATE workflow_runs SET status = 'waiting', wait_deadline = $1 WHERE id = $2 AND step = $3",
                )
                .bind(format_datetime(deadline))
                .bind(id.to_string())
                .bind(current.step)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
                if moved == 1 {
                    let at =
                        format_datetime(deadline.min(OffsetDateTime::now_utc() + Duration::minutes(RECHECK_MINUTES)));
                    let payload = json!({ "run": id, "record": current.record_id, "step": current.step });
                    db.schedule_job_in(&mut tx, RUN_JOB, Some(&format!("{id}:{pc}:{at}")), &at, &payload).await?;
                    tx.commit().await?;
                }
                return Ok(());
            }
            Did::Failed(d) => {
                drop(tx);
                // The step's effects roll back; its failure is written on its own.
                let mut tx = db.write().await?;
                record_step(&mut tx, id, pc, kind, "failed", &d).await?;
                let error = d.get("error").and_then(Json::as_str).unwrap_or("step_failed").to_string();
                finish_in(&mut tx, id, current.step, "failed", Some(&error)).await?;
                tx.commit().await?;
                return Ok(());
            }
        };
        if kind != "jump" {
            record_step(&mut tx, id, pc, kind, outcome, &detail).await?;
        }
        let status = if wait.is_some() { "waiting" } else { "running" };
        let moved = sqlx::query(
            "UPDATE workflow_runs SET step = $1, status = $2, wait_deadline = NULL WHERE id = $3 AND step = $4",
        )
        .bind(i64::try_from(next).unwrap_or(i64::MAX))
        .bind(status)
        .bind(id.to_string())
        .bind(current.step)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        if moved == 0 {
            // Another instance took this step: nothing of this one is kept.
            return Ok(());
        }
        if let Some(until) = wait {
            let at = format_datetime(until);
            db.schedule_job_in(
                &mut tx,
                RUN_JOB,
                Some(&format!("{id}:{next}")),
                &at,
                &json!({ "run": id, "record": current.record_id }),
            )
            .await?;
            sqlx::query("UPDATE workflow_runs SET status = 'waiting' WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await?;
            tx.commit().await?;
            return Ok(());
        }
        tx.commit().await?;
    }
}

async fn record_step(tx: &mut WriteTx, run: &str, pc: usize, kind: &str, outcome: &str, detail: &Json) -> Result<()> {
    sqlx::query(
        "INSERT INTO workflow_run_steps (id, run_id, step, kind, outcome, detail_json, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(run.to_string())
    .bind(i64::try_from(pc).unwrap_or(i64::MAX))
    .bind(kind.to_string())
    .bind(outcome.to_string())
    .bind(detail.to_string())
    .bind(now())
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

async fn finish_in(tx: &mut WriteTx, run: &str, step: i64, status: &str, error: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE workflow_runs SET status = $1, error = $2, finished_at = $3 WHERE id = $4 AND step = $5")
        .bind(status.to_string())
        .bind(error.map(str::to_string))
        .bind(now())
        .bind(run.to_string())
        .bind(step)
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

/// What a step works with.
struct StepCx<'a> {
    db: &'a Db,
    run: &'a str,
    pc: usize,
    record: &'a str,
    object: &'a str,
    chain: &'a [String],
    /// When a wait until a condition gives up, once it has begun.
    wait_deadline: Option<&'a str>,
}

impl StepCx<'_> {
    /// The key of this step's effect: its event id wherever it is sent.
    fn event_id(&self) -> String {
        format!("{}.{}", self.run, self.pc)
    }

    /// Notes that the latest change of `record` was this run's (for loop protection).
    async fn note_effect(&self, tx: &mut WriteTx, record: &str) -> Result<()> {
        let audit: Option<String> =
            sqlx::query("SELECT id FROM audit_log WHERE record_id = $1 ORDER BY id DESC LIMIT 1")
                .bind(record.to_string())
                .fetch_optional(&mut *tx.tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        if let Some(audit) = audit {
            sqlx::query(
                "INSERT INTO workflow_effects (audit_id, run_id, chain) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(audit)
            .bind(self.run.to_string())
            .bind(self.chain.join(","))
            .execute(&mut *tx.tx)
            .await?;
        }
        Ok(())
    }

    /// What a step will write, worked out before its transaction: every read through the pool
    /// (templates, the record, teams) happens here, for a transaction holding a connection must
    /// not wait for another (the engine's rule: 32 runs at once starved the pool).
    async fn plan(&self, action: &Action) -> Result<Plan> {
        // A delay reads nothing: it waits whatever becomes of the record.
        if let Action::Wait { minutes } = action {
            let until = OffsetDateTime::now_utc() + Duration::minutes(*minutes);
            return Ok(Plan::Did(Did::Wait(until, json!({ "until": format_datetime(until) }))));
        }
        let db = self.db.system();
        let object = db.object(self.object).await?;
        let record = match db.get_record(self.object, self.record, false).await {
            Ok(r) => r,
            Err(Error::NotFound(_)) => return Ok(Plan::Did(Did::Failed(json!({ "error": "record_gone" })))),
            Err(e) => return Err(e),
        };
        match action {
            Action::Update { values } => match self.fill(&object, &record, values).await {
                Ok(v) => Ok(Plan::Update(v)),
                Err(e) => failed(e),
            },
            Action::Create { object: other, values, due_in_days } => {
                let target = match db.object(other).await {
                    Ok(o) => o,
                    Err(e) => return failed(e),
                };
                let mut input = match self.fill(&object, &record, values).await {
                    Ok(v) => v,
                    Err(e) => return failed(e),
                };
                // Linked to this record and to what it links to.
                for f in target.live_fields().filter(|f| f.field_type == FieldType::Relation) {
                    if input.contains_key(&f.api_name) {
                        continue;
                    }
                    let t = f.options.target.as_deref().unwrap_or_default();
                    if t == object.api_name {
                        input.insert(f.api_name.clone(), json!(record.id));
                    } else if let Some(v) = object
                        .live_fields()
                        .find(|o| o.field_type == FieldType::Relation && o.options.target.as_deref() == Some(t))
                        .and_then(|o| record.fields.get(&o.api_name))
                        .filter(|v| !v.is_null())
                    {
                        input.insert(f.api_name.clone(), v.clone());
                    }
                }
                if !input.contains_key(OWNER_FIELD)
                    && target.field(OWNER_FIELD).is_some()
                    && let Some(owner) = record.fields.get(OWNER_FIELD).filter(|v| !v.is_null())
                {
                    input.insert(OWNER_FIELD.into(), owner.clone());
                }
                if let (Some(days), Some(f)) = (due_in_days, due_field(&target)) {
                    let due = OffsetDateTime::now_utc().to_offset(db.local_offset()) + Duration::days(*days);
                    let value = if f.field_type == FieldType::Date {
                        json!(peyvand_records::value::format_date(due.date()))
                    } else {
                        json!(format_datetime(
                            due.replace_time(time::Time::from_hms(9, 0, 0).unwrap_or(time::Time::MIDNIGHT))
                        ))
                    };
                    input.insert(f.api_name.clone(), value);
                }
                Ok(Plan::Create(other.clone(), input))
            }
            Action::Assign { to } => Ok(match to {
                Assignee::User { user } => Plan::Assign(Some(user.clone()), None),
                Assignee::RoundRobin { team } => Plan::Assign(None, self.members(team).await?),
                Assignee::LeastLoaded { team } => match self.least_loaded(&object, team).await? {
                    Some(user) => Plan::Assign(Some(user), None),
                    None => Plan::Assign(None, None),
                },
            }),
            Action::SendEmail { template } | Action::SendSms { template } => {
                let t = match templates::get(&db, template).await {
                    Ok(t) => t,
                    Err(e) => return failed(e),
                };
                let rendered = match templates::render_for(&db, &t, self.record).await {
                    Ok(r) => r,
                    Err(e) => return failed(e),
                };
                let channel = if matches!(action, Action::SendEmail { .. }) { "email" } else { "sms" };
                let Some((to, contact)) = super::mail::recipient(&db, None, &object, &record, channel).await? else {
                    return Ok(Plan::Did(Did::Failed(json!({ "error": "no_recipient", "channel": channel }))));
                };
                Ok(Plan::Queue(super::mail::Outgoing {
                    id: self.event_id(),
                    channel: channel.to_string(),
                    to,
                    subject: rendered.subject,
                    body: rendered.body,
                    language: t.language.clone(),
                    object: object.api_name.clone(),
                    record: record.id.clone(),
                    contact,
                    sender: None,
                    marketing: false,
                }))
            }
            Action::CallWebhook { url, secret } => {
                let body = json!({
                    "id": self.event_id(),
                    "type": "workflow.step",
                    "object": object.api_name,
                    "record_id": record.id,
                    "occurred_at": now(),
                    "data": record,
                });
                Ok(Plan::Hook(url.clone(), secret.clone(), body))
            }
            Action::Notify { users, message } => {
                let ctx = templates::context(&db, &object, &record, "fa", &templates::used_paths(&[message])).await?;
                let text = match templates::render("fa", "message", message, &ctx) {
                    Ok(t) => t,
                    Err(e) => return failed(Error::Validation(vec![e])),
                };
                let owner = record.fields.get(OWNER_FIELD).and_then(Json::as_str).map(str::to_string);
                let mut told: Vec<String> = Vec::new();
                for u in users {
                    let who = match u.as_str() {
                        "owner" => owner.clone(),
                        "manager" => match &owner {
                            Some(o) => self.manager_of(o).await?,
                            None => None,
                        },
                        other => Some(other.to_string()),
                    };
                    if let Some(who) = who.filter(|w| !told.contains(w)) {
                        told.push(who);
                    }
                }
                Ok(Plan::Notify(told, text, format!("/records/{}/{}", object.api_name, record.id)))
            }
            Action::AddTag { tag } | Action::RemoveTag { tag } => {
                let mut tags: Vec<String> = record
                    .fields
                    .get("tags")
                    .and_then(Json::as_array)
                    .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                let add = matches!(action, Action::AddTag { .. });
                if add == tags.iter().any(|t| t == tag) {
                    return Ok(Plan::Did(Did::Done(json!({ "tags": tags, "unchanged": true }))));
                }
                if add {
                    tags.push(tag.clone());
                } else {
                    tags.retain(|t| t != tag);
                }
                Ok(Plan::Tags(tags))
            }
            Action::Wait { .. } => Ok(Plan::Did(Did::Done(Json::Null))),
            Action::WaitUntil { condition, timeout_minutes } => {
                match meets(self.db, &object, self.record, Some(condition), false).await {
                    Ok(true) => Ok(Plan::Did(Did::Done(json!({ "met": true })))),
                    Ok(false) => {
                        let now = OffsetDateTime::now_utc();
                        let deadline = self
                            .wait_deadline
                            .and_then(parse_datetime)
                            .unwrap_or(now + Duration::minutes(*timeout_minutes));
                        Ok(Plan::Did(if deadline <= now {
                            Did::Done(json!({ "met": false, "timed_out": true }))
                        } else {
                            Did::Recheck(deadline)
                        }))
                    }
                    Err(Error::Validation(e)) => {
                        Ok(Plan::Did(Did::Failed(json!({ "error": "condition_invalid", "details": e }))))
                    }
                    Err(e) => Err(e),
                }
            }
            Action::Branch { .. } => Ok(Plan::Did(Did::Done(Json::Null))),
            Action::AddPoints { program, points } => {
                let contact = if object.api_name == "contact" {
                    Some(record.id.clone())
                } else {
                    record.fields.get("contact").and_then(Json::as_str).map(str::to_string)
                };
                match contact {
                    Some(c) => Ok(Plan::Points(program.clone(), c, *points)),
                    None => Ok(Plan::Did(Did::Failed(json!({ "error": "no_contact" })))),
                }
            }
        }
    }

    /// Writes what [`StepCx::plan`] worked out, in the step's transaction (the catalog as
    /// cached; nothing read through the pool).
    async fn apply(&self, tx: &mut WriteTx, plan: Plan) -> Result<Did> {
        let db = self.db.system();
        let catalog = db.catalog_cached()?;
        let Some(object) = catalog.object(self.object) else {
            return Ok(Did::Failed(json!({ "error": "not_found", "details": self.object })));
        };
        let done = |r: Result<()>, detail: Json| -> Result<Did> {
            match r {
                Ok(()) => Ok(Did::Done(detail)),
                Err(e) => failed(e).map(|p| match p {
                    Plan::Did(d) => d,
                    _ => Did::Failed(Json::Null),
                }),
            }
        };
        match plan {
            Plan::Did(d) => Ok(d),
            Plan::Update(input) => {
                let r = self.update(tx, &object, &input).await;
                done(r, json!({ "values": input }))
            }
            Plan::Create(other, input) => {
                let Some(target) = catalog.object(&other) else {
                    return Ok(Did::Failed(json!({ "error": "not_found", "details": other })));
                };
                let checked = match peyvand_records::validate(&target, &input, peyvand_records::Mode::Create) {
                    Ok(c) => c,
                    Err(list) => return done(Err(Error::Validation(list)), Json::Null),
                };
                match db.create_in(tx, None, &target, &checked.values).await {
                    Ok(made) => {
                        self.note_effect(tx, &made).await?;
                        Ok(Did::Done(json!({ "object": other, "id": made })))
                    }
                    Err(e) => done(Err(e), Json::Null),
                }
            }
            Plan::Assign(user, turn) => {
                let user = match (user, turn) {
                    (Some(u), _) => Some(u),
                    (None, Some((team, members))) => self.round_robin(tx, &team, &members).await?,
                    (None, None) => None,
                };
                let Some(user) = user else { return Ok(Did::Failed(json!({ "error": "no_member" }))) };
                let mut input = Map::new();
                input.insert(OWNER_FIELD.into(), json!(user));
                let r = self.update(tx, &object, &input).await;
                done(r, json!({ "owner": user }))
            }
            Plan::Queue(message) => {
                super::mail::queue_in(&db, tx, &message).await?;
                Ok(Did::Done(json!({ "to": message.to, "message": message.id })))
            }
            Plan::Hook(url, secret, body) => {
                let to = super::webhooks::Target { subscription: None, url: &url, secret: &secret };
                super::webhooks::queue_in(&db, tx, &to, &self.event_id(), "workflow.step", &body).await?;
                Ok(Did::Done(json!({ "url": url, "event": self.event_id() })))
            }
            Plan::Notify(users, text, link) => {
                for who in &users {
                    crate::notifications::notify_in(
                        tx,
                        &format!("{}:{who}", self.event_id()),
                        who,
                        "workflow",
                        &text,
                        Some(&link),
                        None,
                    )
                    .await?;
                }
                Ok(Did::Done(json!({ "users": users, "message": text })))
            }
            Plan::Tags(tags) => {
                let mut input = Map::new();
                input.insert("tags".into(), json!(tags));
                let r = self.update(tx, &object, &input).await;
                done(r, json!({ "tags": tags }))
            }
            Plan::Points(program, contact, points) => {
                let r = crate::add_points_in(&db, tx, &program, &contact, points, &self.event_id()).await;
                done(r, json!({ "program": program, "contact": contact, "points": points }))
            }
        }
    }

    /// A step's values with their merge fields filled from the record.
    async fn fill(
        &self,
        object: &ObjectDef,
        record: &peyvand_store::records::Record,
        values: &Map<String, Json>,
    ) -> Result<Map<String, Json>> {
        let sources: Vec<&str> =
            values.values().filter_map(Json::as_str).filter(|s| s.contains("{{") || s.contains("{%")).collect();
        if sources.is_empty() {
            return Ok(values.clone());
        }
        let db = self.db.system();
        let ctx = templates::context(&db, object, record, "fa", &templates::used_paths(&sources)).await?;
        let mut out = Map::new();
        for (name, value) in values {
            let v = match value.as_str() {
                Some(s) if s.contains("{{") || s.contains("{%") => {
                    json!(templates::render("fa", name, s, &ctx).map_err(|e| Error::Validation(vec![e]))?.trim())
                }
                _ => value.clone(),
            };
            out.insert(name.clone(), v);
        }
        Ok(out)
    }

    async fn update(&self, tx: &mut WriteTx, object: &ObjectDef, input: &Map<String, Json>) -> Result<()> {
        let db = self.db.system();
        let checked =
            peyvand_records::validate(object, input, peyvand_records::Mode::Update).map_err(Error::Validation)?;
        db.update_in(tx, None, object, self.record, checked.values, None).await?;
        self.note_effect(tx, self.record).await
    }

    async fn manager_of(&self, user: &str) -> Result<Option<String>> {
        let teams = self.db.list_teams().await?;
        Ok(teams
            .iter()
            .find(|t| t.members.iter().any(|m| m == user) && t.manager_id.as_deref().is_some_and(|m| m != user))
            .and_then(|t| t.manager_id.clone()))
    }

    /// A team's active members, to take in turn (none: the team is gone or empty).
    async fn members(&self, team: &str) -> Result<Option<(String, Vec<String>)>> {
        let team = match self.db.get_team(team).await {
            Ok(t) => t,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let users = self.db.list_users().await?;
        let members: Vec<String> =
            team.members.iter().filter(|m| users.iter().any(|u| &u.id == *m && u.active)).cloned().collect();
        Ok((!members.is_empty()).then_some((team.id, members)))
    }

    /// The team's next member after the last one given a record in turn, in the step's write.
    async fn round_robin(&self, tx: &mut WriteTx, team: &str, members: &[String]) -> Result<Option<String>> {
        let Some(first) = members.first() else { return Ok(None) };
        let key = format!("round_robin:{team}");
        let last: Option<String> = sqlx::query("SELECT value FROM automation_state WHERE key = $1")
            .bind(key.clone())
            .fetch_optional(&mut *tx.tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let next = match last.and_then(|l| members.iter().position(|m| *m == l)) {
            Some(i) => members[(i + 1) % members.len()].clone(),
            None => first.clone(),
        };
        sqlx::query(
            "INSERT INTO automation_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(next.clone())
        .execute(&mut *tx.tx)
        .await?;
        Ok(Some(next))
    }

    async fn least_loaded(&self, object: &ObjectDef, team: &str) -> Result<Option<String>> {
        let team = match self.db.get_team(team).await {
            Ok(t) => t,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let users = self.db.list_users().await?;
        let members: Vec<String> =
            team.members.iter().filter(|m| users.iter().any(|u| &u.id == *m && u.active)).cloned().collect();
        if members.is_empty() {
            return Ok(None);
        }
        let load = if object.api_name == "ticket" {
            crate::service::queues::open_load(self.db, &members).await?
        } else {
            let filter = parse_filter(object, &json!({ "field": OWNER_FIELD, "op": "in", "value": members }))
                .map_err(Error::invalid)?;
            let spec = peyvand_records::aggregate::parse_aggregate(object, OWNER_FIELD, "").map_err(Error::invalid)?;
            let result = self.db.system().aggregate(&object.api_name, Some(&filter), &spec).await?;
            result
                .rows
                .into_iter()
                .filter_map(|r| r.group.get(OWNER_FIELD).and_then(Json::as_str).map(|o| (o.to_string(), r.count)))
                .collect()
        };
        Ok(members.into_iter().min_by_key(|m| (load.get(m).copied().unwrap_or(0), m.clone())))
    }
}

// ---------------------------------------------------------------------------------------------
// Test runs

/// What a test run says about one record: whether the trigger's condition holds, and what each
/// step would do, with its templates rendered; nothing is written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestRun {
    pub record_id: String,
    pub condition_met: bool,
    pub steps: Vec<StepOutcome>,
}

/// Walks a definition over a record without doing anything: branches are decided on the record
/// as it is, waits are taken as passed, templates are rendered.
pub async fn test_run(db: &Db, object_name: &str, def: &Definition, record_id: &str) -> Result<TestRun> {
    let object = db.object(object_name).await?;
    check(db, &object, def).await.map_err(Error::Validation)?;
    let record = db.get_record(object_name, record_id, false).await?;
    let condition_met = meets(db, &object, record_id, def.condition.as_ref(), false).await?;
    let program = program(def);
    let mut steps = Vec::new();
    let mut pc = 0usize;
    let system = db.system();
    while pc < program.len() && steps.len() < MAX_STEPS * 2 {
        let (kind, detail, next) = match &program[pc] {
            Op2::Jump(to) => {
                pc = *to;
                continue;
            }
            Op2::If { condition, otherwise } => {
                let yes = meets(db, &object, record_id, Some(condition), false).await?;
                (
                    "branch",
                    json!({ "took": if yes { "then" } else { "otherwise" } }),
                    if yes { pc + 1 } else { *otherwise },
                )
            }
            Op2::Do(action) => {
                let detail = match action {
                    Action::SendEmail { template } | Action::SendSms { template } => {
                        let t = templates::get(db, template).await?;
                        let rendered = templates::render_for(db, &t, record_id).await?;
                        let channel = if matches!(action, Action::SendEmail { .. }) { "email" } else { "sms" };
                        let to = super::mail::recipient(&system, None, &object, &record, channel).await?;
                        json!({ "to": to.map(|(t, _)| t), "subject": rendered.subject, "body": rendered.body })
                    }
                    Action::Notify { message, users } => {
                        let ctx =
                            templates::context(db, &object, &record, "fa", &templates::used_paths(&[message])).await?;
                        let text = templates::render("fa", "message", message, &ctx)
                            .map_err(|e| Error::Validation(vec![e]))?;
                        json!({ "users": users, "message": text })
                    }
                    Action::WaitUntil { condition, timeout_minutes } => {
                        let met = meets(db, &object, record_id, Some(condition), false).await?;
                        json!({ "condition": condition, "timeout_minutes": timeout_minutes, "met_now": met })
                    }
                    other => serde_json::to_value(other).unwrap_or(Json::Null),
                };
                (action.kind(), detail, pc + 1)
            }
        };
        steps.push(StepOutcome {
            step: pc as i64,
            kind: kind.to_string(),
            outcome: "planned".into(),
            detail,
            at: now(),
        });
        pc = next;
    }
    Ok(TestRun { record_id: record_id.to_string(), condition_met, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, changes: Json) -> Event {
        Event {
            seq: 1,
            id: "a".into(),
            object: "deal".into(),
            record_id: "r".into(),
            action: action.into(),
            actor: None,
            at: now(),
            changes,
        }
    }

    #[test]
    fn triggers_match_the_change_they_name() {
        let won = Trigger::Changed { field: Some("stage".into()), from: None, to: Some(json!("won")) };
        let to_won = event("update", json!([{ "field": "stage", "old": "proposal", "new": "won" }]));
        let to_lost = event("update", json!([{ "field": "stage", "old": "proposal", "new": "lost" }]));
        let other = event("update", json!([{ "field": "title", "old": "a", "new": "b" }]));
        assert!(fires(&won, &to_won));
        assert!(!fires(&won, &to_lost));
        assert!(!fires(&won, &other));
        let from = Trigger::Changed { field: Some("stage".into()), from: Some(json!("proposal")), to: None };
        assert!(fires(&from, &to_lost));
        assert!(fires(&Trigger::Changed { field: None, from: None, to: None }, &other));
        assert!(fires(&Trigger::Created, &event("create", json!([]))));
        assert!(!fires(&Trigger::Created, &other));
        assert!(fires(&Trigger::Trashed, &event("delete", json!([]))));
        let amount = Trigger::Changed { field: Some("amount".into()), from: None, to: Some(json!("5")) };
        assert!(fires(
            &amount,
            &event("update", json!([{ "field": "amount", "old": null, "new": {"amount": "5", "currency": "IRR"} }]))
        ));
    }

    #[test]
    fn branches_compile_to_jumps() {
        let def = Definition {
            trigger: Trigger::Created,
            condition: None,
            steps: vec![
                Action::AddTag { tag: "a".into() },
                Action::Branch {
                    condition: json!({}),
                    then: vec![Action::AddTag { tag: "b".into() }],
                    otherwise: vec![Action::AddTag { tag: "c".into() }, Action::Wait { minutes: 5 }],
                },
                Action::AddTag { tag: "d".into() },
            ],
        };
        let p = program(&def);
        assert_eq!(p.len(), 7);
        assert!(matches!(p[1], Op2::If { otherwise: 4, .. }));
        assert_eq!(p[3], Op2::Jump(6));
        assert_eq!(p[6], Op2::Do(Action::AddTag { tag: "d".into() }));
        assert_eq!(count_steps(&def.steps), 6);
    }

    #[test]
    fn sweeps_come_at_the_hour_on_the_day() {
        let tehran = time::UtcOffset::from_hms(3, 30, 0).unwrap_or(time::UtcOffset::UTC);
        // Friday 2026-12-04 10:00 in Tehran.
        let after = time::macros::datetime!(2026-12-04 06:30 UTC);
        let daily = Trigger::DateReached { field: "d".into(), offset_days: 0, hour: 9 };
        assert_eq!(next_sweep(&daily, after, tehran), Some(time::macros::datetime!(2026-12-05 05:30 UTC)));
        let saturdays = Trigger::Schedule { weekday: Some(0), hour: 8 };
        assert_eq!(next_sweep(&saturdays, after, tehran), Some(time::macros::datetime!(2026-12-05 04:30 UTC)));
        let mondays = Trigger::Schedule { weekday: Some(2), hour: 8 };
        assert_eq!(next_sweep(&mondays, after, tehran), Some(time::macros::datetime!(2026-12-07 04:30 UTC)));
        assert_eq!(next_sweep(&Trigger::Created, after, tehran), None);
    }

    #[test]
    fn definitions_read_as_admins_write_them() {
        let def: Definition = serde_json::from_value(json!({
            "trigger": { "kind": "changed", "field": "stage", "to": "won" },
            "steps": [
                { "kind": "create", "object": "task", "values": { "subject": "Onboarding {{ record.title }}" }, "due_in_days": 2 },
                { "kind": "send_email", "template": "t1" },
                { "kind": "branch", "condition": { "field": "amount", "op": "gt", "value": "1000" },
                  "then": [{ "kind": "notify", "users": ["manager"], "message": "Big win" }] }
            ]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(def.steps.len(), 3);
        let bad: std::result::Result<Definition, _> =
            serde_json::from_value(json!({ "trigger": { "kind": "created" }, "steps": [{ "kind": "explode" }] }));
        assert!(bad.is_err());
    }
}
