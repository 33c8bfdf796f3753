//! Service levels: policies (first-response and resolution targets per priority, for tickets
//! of some categories and customer groups), the business-hours calendars they count in and the
//! days off every calendar keeps; each ticket's deadlines (set by its write's hook: `apply`),
//! the jobs that warn before a deadline and escalate at it (`schedule`, `Deadlines`), and the
//! compliance report.
//!
//! The clock: a ticket's resolution deadline is its opening plus the target plus the working
//! time it spent paused (waiting on the customer, or resolved until reopened), so changing its
//! priority or policy moves the deadline exactly, and a pause moves it by the working time the
//! pause took. While paused it has no deadline. The first response is not paused.

use super::clock::{Clock, DaysOff, Hours};
use super::{DONE, PRIORITIES, running, time_of};
use crate::notifications;
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::aggregate::{AggregateSpec, parse_aggregate};
use peyvand_records::filter::parse_filter;
use peyvand_records::validate::{Mode, validate};
use peyvand_records::value::format_datetime;
use peyvand_records::{FieldError, Value};
use peyvand_store::events::Job;
use peyvand_store::hooks::{Action, HookCx, Pending, Written};
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::schema::opt;
use peyvand_store::{Db, Error, Result, WriteTx, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::{Date, Duration, OffsetDateTime};

/// The kind of scheduled job a deadline's warning or breach is.
pub const DEADLINE_JOB: &str = "sla";
/// The days off shipped for a new desk: the official holidays of the Iranian year 1405
/// (Jalali dates; the lunar ones as the official calendar announced them, which may move by a
/// day on sighting — the admin's list is the truth once saved).
const HOLIDAYS_1405: &str = include_str!("../../data/holidays-1405.csv");

/// A priority's targets, in working minutes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub priority: String,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
}

/// What happens when a deadline passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Tell the assignee and the queue's manager.
    #[serde(default = "yes")]
    pub notify: bool,
    /// Raise the ticket's priority one step.
    #[serde(default)]
    pub raise_priority: bool,
    /// Give the ticket to this user.
    #[serde(default)]
    pub reassign_to: Option<String>,
}

impl Default for Escalation {
    fn default() -> Self {
        Escalation { notify: true, raise_priority: false, reassign_to: None }
    }
}

fn yes() -> bool {
    true
}

fn warn_default() -> i64 {
    60
}

/// A service-level policy; the first (by position) whose conditions a ticket meets applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub position: i64,
    /// The categories it is for (any when empty).
    #[serde(default)]
    pub categories: Vec<String>,
    /// The customer groups (the contact's, else the company's) it is for (any when empty).
    #[serde(default)]
    pub customer_groups: Vec<String>,
    /// The calendar its minutes count in.
    pub calendar: String,
    pub targets: Vec<Target>,
    /// How long before a deadline its warning comes (none at 0).
    #[serde(default = "warn_default")]
    pub warn_minutes: i64,
    #[serde(default)]
    pub escalation: Escalation,
}

impl Policy {
    pub fn target(&self, priority: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.priority == priority)
    }

    fn matches(&self, category: Option<&str>, group: Option<&str>) -> bool {
        (self.categories.is_empty() || category.is_some_and(|c| self.categories.iter().any(|x| x == c)))
            && (self.customer_groups.is_empty() || group.is_some_and(|g| self.customer_groups.iter().any(|x| x == g)))
    }
}

/// A business-hours calendar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    #[serde(default)]
    pub id: String,
    pub name: String,
    pub hours: Hours,
    #[serde(default)]
    pub is_default: bool,
}

time::serde::format_description!(iso_day, Date, "[year]-[month]-[day]");

/// Days off, with their names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    /// ISO dates (Gregorian), inclusive.
    #[serde(with = "iso_day")]
    pub from: Date,
    #[serde(with = "iso_day")]
    pub to: Date,
    pub name_fa: String,
    #[serde(default)]
    pub name_en: String,
}

/// Everything the desk's clock needs, read once per write.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub policies: Vec<Policy>,
    pub calendars: Vec<Calendar>,
    pub holidays: Vec<Holiday>,
}

impl Setup {
    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.id == id)
    }

    /// The clock of a calendar (the default one if it is gone; around the clock if none is).
    pub fn clock(&self, calendar: &str, offset: time::UtcOffset) -> Clock {
        let cal =
            self.calendars.iter().find(|c| c.id == calendar).or_else(|| self.calendars.iter().find(|c| c.is_default));
        let week = cal
            .and_then(|c| c.hours.week().ok())
            .unwrap_or_else(|| Hours::always().week().expect("a full week is a week"));
        let off = self.holidays.iter().map(|h| DaysOff { from: h.from, to: h.to }).collect();
        Clock::new(week, off, offset)
    }
}

async fn read_setup(conn: &mut sqlx::AnyConnection) -> Result<Setup> {
    let corrupt = |e: serde_json::Error| Error::Corrupt(e.to_string());
    let mut setup = Setup::default();
    for r in sqlx::query("SELECT id, position, definition_json FROM sla_policies ORDER BY position, id")
        .fetch_all(&mut *conn)
        .await?
    {
        let mut p: Policy = serde_json::from_str(&r.try_get::<String, _>(2)?).map_err(corrupt)?;
        p.id = r.try_get(0)?;
        p.position = r.try_get(1)?;
        setup.policies.push(p);
    }
    for r in sqlx::query("SELECT id, name, hours_json, is_default FROM service_calendars ORDER BY name, id")
        .fetch_all(&mut *conn)
        .await?
    {
        setup.calendars.push(Calendar {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            hours: serde_json::from_str(&r.try_get::<String, _>(2)?).map_err(corrupt)?,
            is_default: r.try_get::<i64, _>(3)? != 0,
        });
    }
    for r in sqlx::query("SELECT starts_on, ends_on, name_fa, name_en FROM service_holidays ORDER BY starts_on")
        .fetch_all(&mut *conn)
        .await?
    {
        let date = |s: String| {
            peyvand_records::value::parse_date(&s).ok_or_else(|| Error::Corrupt(format!("a holiday's date {s}")))
        };
        setup.holidays.push(Holiday {
            from: date(r.try_get(0)?)?,
            to: date(r.try_get(1)?)?,
            name_fa: r.try_get(2)?,
            name_en: r.try_get(3)?,
        });
    }
    Ok(setup)
}

/// The desk's setup as it is now.
pub async fn setup(db: &Db) -> Result<Setup> {
    let mut conn = db.pool().acquire().await?;
    read_setup(&mut conn).await
}

/// The setup inside a write, read once per transaction.
async fn setup_in(tx: &mut WriteTx) -> Result<Arc<Setup>> {
    const KEY: &str = "service.setup";
    if let Some(s) = tx.memo.get(KEY).and_then(|m| m.clone().downcast::<Setup>().ok()) {
        return Ok(s);
    }
    let s = Arc::new(read_setup(&mut tx.tx).await?);
    tx.memo.insert(KEY.into(), s.clone());
    Ok(s)
}

/// Where an open ticket without a running deadline stands on the desk: after every deadline.
pub const DESK_LAST: &str = "9999-12-31T00:00:00.000000Z";

/// A ticket's place on the desk: its next deadline while open, after every deadline when it has
/// none, nowhere once done.
fn desk_order(status: &str, next: Option<OffsetDateTime>) -> Value {
    if DONE.contains(&status) {
        return Value::Null;
    }
    match next {
        Some(t) => Value::Datetime(t),
        None => peyvand_records::value::parse_datetime(DESK_LAST).map(Value::Datetime).unwrap_or(Value::Null),
    }
}

/// A ticket's place within its queue: `QUEUE|DESK_ORDER`, none when done or in no queue.
fn desk_key(queue: Option<&str>, order: &Value) -> Value {
    match (queue, order) {
        (Some(q), Value::Datetime(t)) if !q.is_empty() => Value::Text(format!("{q}|{}", format_datetime(*t))),
        _ => Value::Null,
    }
}

/// Sets `field` unless it already holds `value`.
fn put(write: &mut Pending<'_, '_>, field: &str, value: Value) {
    if write.after(field) != value.to_json() {
        write.set(field, value);
    }
}

fn at(t: Option<OffsetDateTime>) -> Value {
    t.map(Value::Datetime).unwrap_or(Value::Null)
}

/// A ticket's deadlines in its write: the policy that applies (chosen again when its category
/// or customer changes, unless the write names one), the clock paused and resumed with its
/// status, the deadlines from its opening, late answers marked.
pub(crate) async fn apply(mut cx: HookCx<'_>, write: &mut Pending<'_, '_>, now: OffsetDateTime) -> Result<()> {
    let create = write.is_create();
    let relevant =
        ["priority", "category", "contact", "company", "status", "sla_policy", "opened_at", "first_response_at"];
    if !create && !relevant.iter().any(|f| write.changes(f)) {
        return Ok(());
    }
    let setup = setup_in(cx.tx).await?;
    let text = |write: &Pending<'_, '_>, f: &str| write.after(f).as_str().map(str::to_string);
    let chosen = if write.changes("sla_policy") {
        text(write, "sla_policy")
    } else if create || write.changes("category") || write.changes("contact") || write.changes("company") {
        None
    } else {
        text(write, "sla_policy").filter(|p| setup.policy(p).is_some())
    };
    let policy = match chosen {
        Some(id) => setup.policy(&id),
        None => {
            let group = if setup.policies.iter().any(|p| !p.customer_groups.is_empty()) {
                customer_group(cx.reborrow(), write).await?
            } else {
                None
            };
            let category = text(write, "category");
            setup.policies.iter().find(|p| p.matches(category.as_deref(), group.as_deref()))
        }
    };
    let priority = text(write, "priority").unwrap_or_else(|| "normal".into());
    let status_now = text(write, "status").unwrap_or_else(|| "new".into());
    let Some((policy, target)) = policy.and_then(|p| p.target(&priority).map(|t| (p, t))) else {
        put(write, "sla_policy", policy.map(|p| Value::Text(p.id.clone())).unwrap_or(Value::Null));
        for f in ["first_response_due", "resolution_due", "next_due"] {
            put(write, f, Value::Null);
        }
        let order = desk_order(&status_now, None);
        put(write, "desk_key", desk_key(text(write, "queue").as_deref(), &order));
        put(write, "desk_order", order);
        return Ok(());
    };
    put(write, "sla_policy", Value::Text(policy.id.clone()));
    let clock = setup.clock(&policy.calendar, cx.db.local_offset());
    let status = text(write, "status").unwrap_or_else(|| "new".into());
    let runs = running(&status);
    let ran = if create { runs } else { write.before("status").as_str().is_none_or(running) };
    let mut paused = write.after("sla_paused_seconds").as_i64().unwrap_or(0);
    let paused_at = time_of(&write.after("sla_paused_at"));
    if !runs && (ran || create) && paused_at.is_none() {
        put(write, "sla_paused_at", Value::Datetime(now));
    }
    if runs && let Some(since) = paused_at {
        paused += clock.between(since, now).max(0);
        put(write, "sla_paused_seconds", Value::Int(paused));
        put(write, "sla_paused_at", Value::Null);
    }
    let opened = time_of(&write.after("opened_at")).unwrap_or(now);
    let first_due = clock.add(opened, target.first_response_minutes * 60);
    put(write, "first_response_due", Value::Datetime(first_due));
    let answered = time_of(&write.after("first_response_at"));
    if let Some(answered) = answered
        && answered > first_due
    {
        put(write, "first_response_breached", Value::Bool(true));
    }
    let due = if runs {
        Some(clock.add(opened, target.resolution_minutes * 60 + paused))
    } else if DONE.contains(&status.as_str()) && ran {
        // Resolved while the clock ran: late if resolved past its deadline.
        let due = time_of(&write.before("resolution_due"))
            .unwrap_or_else(|| clock.add(opened, target.resolution_minutes * 60 + paused));
        if time_of(&write.after("resolved_at")).unwrap_or(now) > due {
            put(write, "resolution_breached", Value::Bool(true));
        }
        Some(due)
    } else if status == "waiting" {
        None
    } else {
        time_of(&write.after("resolution_due"))
    };
    put(write, "resolution_due", at(due));
    let next = if runs { [answered.is_none().then_some(first_due), due].into_iter().flatten().min() } else { None };
    put(write, "next_due", at(next));
    let order = desk_order(&status, next);
    put(write, "desk_key", desk_key(text(write, "queue").as_deref(), &order));
    put(write, "desk_order", order);
    Ok(())
}

/// The customer group of a ticket's contact, else of its company.
async fn customer_group(cx: HookCx<'_>, write: &Pending<'_, '_>) -> Result<Option<String>> {
    for object in ["contact", "company"] {
        let Some(id) = write.after(object).as_str().map(str::to_string) else { continue };
        let obj = cx.db.object(object).await?;
        let found = cx.db.system().find_in(cx.tx, &obj, &[("id", Value::Text(id))], 1).await?;
        if let Some(g) = found.first().and_then(|r| r.fields.get("customer_group")).and_then(Json::as_str) {
            return Ok(Some(g.to_string()));
        }
    }
    Ok(None)
}

/// A ticket's place in `sla_daily`: its business day, queue, agent, category and missed
/// targets; none for a ticket under no service level (or deleted).
fn daily_key(fields: &Map<String, Json>, offset: time::UtcOffset) -> Option<[String; 6]> {
    let f = |k: &str| fields.get(k).cloned().unwrap_or(Json::Null);
    f("sla_policy").as_str()?;
    let day = time_of(&f("opened_at"))?.to_offset(offset).date().to_string();
    let text = |k: &str| f(k).as_str().unwrap_or("").to_string();
    let flag = |k: &str| if f(k).as_bool() == Some(true) { "1".to_string() } else { "0".to_string() };
    Some([
        day,
        text("queue"),
        text(peyvand_records::access::OWNER_FIELD),
        text("category"),
        flag("first_response_breached"),
        flag("resolution_breached"),
    ])
}

async fn add_daily(tx: &mut WriteTx, key: &[String; 6], n: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO sla_daily (day, queue, agent, category, first_late, resolution_late, tickets) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (day, queue, agent, category, first_late, resolution_late) DO UPDATE SET tickets = sla_daily.tickets + $7",
    )
    .bind(key[0].clone())
    .bind(key[1].clone())
    .bind(key[2].clone())
    .bind(key[3].clone())
    .bind(key[4].parse::<i64>().unwrap_or(0))
    .bind(key[5].parse::<i64>().unwrap_or(0))
    .bind(n)
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// After a ticket's write: its count in `sla_daily` moved with it (out of its old place, into
/// its new one), in the same transaction.
pub(crate) async fn count_in(cx: HookCx<'_>, written: &Written<'_>) -> Result<()> {
    let offset = cx.db.local_offset();
    let had = match written.action {
        Action::Create | Action::Restore => None,
        _ => daily_key(written.before, offset),
    };
    let has = match written.action {
        Action::Delete => None,
        _ => daily_key(written.after, offset),
    };
    if had == has {
        return Ok(());
    }
    if let Some(k) = &had {
        add_daily(cx.tx, k, -1).await?;
    }
    if let Some(k) = &has {
        add_daily(cx.tx, k, 1).await?;
    }
    Ok(())
}

/// `sla_daily` counted again from the tickets (at start-up, once: tickets made before it).
async fn rebuild_daily(db: &Db) -> Result<()> {
    let db = db.system();
    let mut tx = db.write_long().await?;
    let built: Option<i64> = sqlx::query("SELECT number FROM service_settings WHERE name = 'sla_daily'")
        .fetch_optional(&mut *tx.tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    if built.is_some() {
        return Ok(());
    }
    sqlx::query("DELETE FROM sla_daily").execute(&mut *tx.tx).await?;
    let obj = db.object("ticket").await?;
    let offset = db.local_offset();
    let fields = [
        "sla_policy",
        "opened_at",
        "queue",
        peyvand_records::access::OWNER_FIELD,
        "category",
        "first_response_breached",
        "resolution_breached",
    ];
    let mut counts: BTreeMap<[String; 6], i64> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let query = peyvand_store::records::ListQuery {
            filter: Some(
                parse_filter(&obj, &json!({ "field": "sla_policy", "op": "is_empty", "value": false }))
                    .map_err(Error::invalid)?,
            ),
            limit: Some(500),
            cursor: cursor.take(),
            fields: Some(fields.iter().map(|f| f.to_string()).collect()),
            ..Default::default()
        };
        let page = db.list_records("ticket", &query).await?;
        for r in &page.records {
            if let Some(k) = daily_key(&r.fields, offset) {
                *counts.entry(k).or_insert(0) += 1;
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    for (k, n) in &counts {
        add_daily(&mut tx, k, *n).await?;
    }
    sqlx::query("INSERT INTO service_settings (name, number) VALUES ('sla_daily', 1)").execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// The two targets: the field with the deadline, the field saying it was missed.
const TARGETS: [(&str, &str, &str); 2] = [
    ("first_response", "first_response_due", "first_response_breached"),
    ("resolution", "resolution_due", "resolution_breached"),
];

/// The deadline jobs a ticket in the state `fields` waits for: (key, run at, payload).
fn jobs_of(id: &str, fields: &Map<String, Json>, setup: &Setup) -> Vec<(String, OffsetDateTime, Json)> {
    let get = |f: &str| fields.get(f).cloned().unwrap_or(Json::Null);
    let Some(status) = get("status").as_str().map(str::to_string) else { return Vec::new() };
    let warn = get("sla_policy").as_str().and_then(|p| setup.policy(p)).map(|p| p.warn_minutes).unwrap_or(0);
    let mut out = Vec::new();
    for (target, due_field, late_field) in TARGETS {
        let done = match target {
            "first_response" => !get("first_response_at").is_null(),
            _ => !running(&status),
        };
        let Some(due) = time_of(&get(due_field)) else { continue };
        if done || get(late_field).as_bool() == Some(true) {
            continue;
        }
        let due_text = format_datetime(due);
        let payload = |stage: &str| json!({ "ticket": id, "target": target, "stage": stage, "due": due_text });
        if warn > 0 {
            out.push((format!("sla:{id}:{target}:warn:{due_text}"), due - Duration::minutes(warn), payload("warn")));
        }
        out.push((format!("sla:{id}:{target}:breach:{due_text}"), due, payload("breach")));
    }
    out
}

/// After a ticket's write: its deadline jobs in step with its deadlines (the old ones cancelled,
/// the new ones scheduled in the same transaction).
pub(crate) async fn schedule(cx: HookCx<'_>, written: &Written<'_>) -> Result<()> {
    let watched = [
        "first_response_due",
        "resolution_due",
        "first_response_at",
        "status",
        "sla_policy",
        "first_response_breached",
        "resolution_breached",
    ];
    if written.action == Action::Update && !watched.iter().any(|f| written.changed(f)) {
        return Ok(());
    }
    let setup = setup_in(cx.tx).await?;
    let had = jobs_of(written.id, written.before, &setup);
    let has = if written.action == Action::Delete { Vec::new() } else { jobs_of(written.id, written.after, &setup) };
    let gone: Vec<String> =
        had.iter().filter(|(k, ..)| !has.iter().any(|(n, ..)| n == k)).map(|(k, ..)| k.clone()).collect();
    cx.db.cancel_jobs_in(cx.tx, DEADLINE_JOB, &gone).await?;
    for (key, run_at, payload) in has.iter().filter(|(k, ..)| !had.iter().any(|(o, ..)| o == k)) {
        cx.db.schedule_job_in(cx.tx, DEADLINE_JOB, Some(key), &format_datetime(*run_at), payload).await?;
    }
    Ok(())
}

/// A deadline's warning or breach: if the ticket still has that deadline unmet, its assignee
/// (and, at a breach, the queue's manager) is told once; at a breach the ticket is marked late
/// and escalated as its policy says — all in one transaction.
pub(crate) struct Deadlines;

impl JobKind for Deadlines {
    fn kind(&self) -> &'static str {
        DEADLINE_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move { deadline(db, job).await.map_err(|e| e.to_string()) })
    }

    /// A ticket's deadlines one after another: a warning never overtakes its breach.
    fn group(&self, job: &Job) -> Option<String> {
        job.payload.get("ticket").and_then(Json::as_str).map(str::to_string)
    }
}

async fn deadline(db: &Db, job: &Job) -> Result<()> {
    let text = |f: &str| job.payload.get(f).and_then(Json::as_str).unwrap_or_default().to_string();
    let (id, target, stage, due) = (text("ticket"), text("target"), text("stage"), text("due"));
    let Some(&(_, due_field, late_field)) = TARGETS.iter().find(|t| t.0 == target) else {
        return Err(Error::Corrupt(format!("a deadline of no target: {target}")));
    };
    let db = db.system();
    let obj = db.object("ticket").await?;
    let mut tx = db.write().await?;
    let Some(ticket) = db.find_in(&mut tx, &obj, &[("id", Value::Text(id.clone()))], 1).await?.pop() else {
        return Ok(());
    };
    let setup = setup_in(&mut tx).await?;
    let field = |f: &str| ticket.fields.get(f).cloned().unwrap_or(Json::Null);
    let waiting = jobs_of(&id, &ticket.fields, &setup);
    let still = time_of(&field(due_field)).map(format_datetime) == Some(due.clone())
        && waiting.iter().any(|(k, ..)| k == &format!("sla:{id}:{target}:{stage}:{due}"));
    // A warning whose deadline has passed says nothing its breach does not.
    let passed = time_of(&json!(due)).is_some_and(|d| d <= OffsetDateTime::now_utc());
    if !still || (stage == "warn" && passed) {
        return Ok(());
    }
    let policy = field("sla_policy").as_str().and_then(|p| setup.policy(p)).cloned();
    let escalation = policy.as_ref().map(|p| p.escalation.clone()).unwrap_or_default();
    let owner = field(OWNER_FIELD).as_str().map(str::to_string);
    let manager = match field("queue").as_str() {
        Some(team) => db.get_team(team).await.ok().and_then(|t| t.manager_id),
        None => None,
    };
    let title = format!("{} {}", field("number").as_str().unwrap_or_default(), ticket.title);
    let link = format!("/records/ticket/{id}");
    let mut told: Vec<String> = Vec::new();
    if stage == "warn" {
        told.extend(owner.clone().or(manager.clone()));
        for user in &told {
            let nid = format!("sla:{}:{user}", job.id);
            notifications::notify_in(&mut tx, &nid, user, "sla_warning", &title, Some(&link), Some(&due)).await?;
        }
        crate::on_breach_near(&db, &mut tx, &id, &target, &job.id).await?;
        return tx.commit().await;
    }
    let mut input = Map::new();
    input.insert(late_field.into(), json!(true));
    if escalation.raise_priority {
        let now = field("priority").as_str().and_then(|p| PRIORITIES.iter().position(|x| *x == p)).unwrap_or(1);
        if let Some(up) = PRIORITIES.get(now + 1) {
            input.insert("priority".into(), json!(up));
        }
    }
    if let Some(to) = &escalation.reassign_to
        && owner.as_deref() != Some(to.as_str())
        && db.user(to).await.is_ok_and(|u| u.active)
    {
        input.insert(OWNER_FIELD.into(), json!(to));
    }
    let changes = validate(&obj, &input, Mode::Update).map_err(Error::Validation)?;
    let updated = db.update_in(&mut tx, None, &obj, &id, changes.values, None).await?;
    if escalation.notify {
        let new_owner = updated.fields.get(OWNER_FIELD).and_then(Json::as_str).map(str::to_string);
        told.extend(new_owner.into_iter().chain(owner).chain(manager));
        told.sort();
        told.dedup();
        for user in &told {
            let nid = format!("sla:{}:{user}", job.id);
            notifications::notify_in(&mut tx, &nid, user, "sla_breach", &title, Some(&link), Some(&due)).await?;
        }
    }
    tx.commit().await
}

// ---- The setup: calendars, days off, policies ----

/// Checks a calendar's hours and name.
fn check_calendar(c: &Calendar) -> Result<()> {
    let mut errors = Vec::new();
    if c.name.trim().is_empty() || c.name.chars().count() > 100 {
        errors.push(FieldError::new("name", "required"));
    }
    if let Err(more) = c.hours.week() {
        errors.extend(more.into_iter().map(|e| FieldError { field: format!("hours.{}", e.field), ..e }));
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

/// Every calendar.
pub async fn calendars(db: &Db) -> Result<Vec<Calendar>> {
    Ok(setup(db).await?.calendars)
}

/// Creates a calendar (`id` None) or replaces one; the default one is the only default.
pub async fn save_calendar(db: &Db, id: Option<&str>, c: Calendar) -> Result<Calendar> {
    check_calendar(&c)?;
    let hours = serde_json::to_string(&c.hours).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut tx = db.write().await?;
    let at = now();
    let id = match id {
        Some(id) => {
            let n =
                sqlx::query("UPDATE service_calendars SET name = $1, hours_json = $2, updated_at = $3 WHERE id = $4")
                    .bind(c.name.trim().to_string())
                    .bind(hours)
                    .bind(at)
                    .bind(id.to_string())
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
            if n == 0 {
                return Err(Error::NotFound(format!("calendar {id}")));
            }
            id.to_string()
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO service_calendars (id, name, hours_json, is_default, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $4)",
            )
            .bind(id.clone())
            .bind(c.name.trim().to_string())
            .bind(hours)
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    if c.is_default {
        sqlx::query("UPDATE service_calendars SET is_default = CASE WHEN id = $1 THEN 1 ELSE 0 END")
            .bind(id.clone())
            .execute(&mut *tx.tx)
            .await?;
    }
    tx.commit().await?;
    calendars(db).await?.into_iter().find(|x| x.id == id).ok_or_else(|| Error::NotFound(format!("calendar {id}")))
}

/// Removes a calendar no policy counts in (the default stays).
pub async fn delete_calendar(db: &Db, id: &str) -> Result<()> {
    let s = setup(db).await?;
    let cal = s.calendars.iter().find(|c| c.id == id).ok_or_else(|| Error::NotFound(format!("calendar {id}")))?;
    if cal.is_default || s.policies.iter().any(|p| p.calendar == id) {
        return Err(Error::Conflict {
            code: "calendar_in_use",
            details: vec![FieldError::new("id", "calendar_in_use")],
        });
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM service_calendars WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// The days off, earliest first.
pub async fn holidays(db: &Db) -> Result<Vec<Holiday>> {
    Ok(setup(db).await?.holidays)
}

/// Replaces the days off with `list` (none may overlap another; names required).
pub async fn set_holidays(db: &Db, list: &[Holiday]) -> Result<()> {
    let mut errors: Vec<FieldError> =
        super::clock::overlaps(&list.iter().map(|h| DaysOff { from: h.from, to: h.to }).collect::<Vec<_>>());
    for (i, h) in list.iter().enumerate() {
        if h.name_fa.trim().is_empty() && h.name_en.trim().is_empty() {
            errors.push(FieldError::new(&format!("holidays.{i}.name_fa"), "required"));
        }
        if h.name_fa.chars().count() > 200 || h.name_en.chars().count() > 200 {
            errors.push(FieldError::with(&format!("holidays.{i}.name_fa"), "too_long", json!({ "max": 200 })));
        }
    }
    if list.len() > 1000 {
        errors.push(FieldError::with("holidays", "too_many", json!({ "max": 1000 })));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = db.write().await?;
    write_holidays(&mut tx, list).await?;
    tx.commit().await
}

async fn write_holidays(tx: &mut WriteTx, list: &[Holiday]) -> Result<()> {
    sqlx::query("DELETE FROM service_holidays").execute(&mut *tx.tx).await?;
    let at = now();
    for h in list {
        sqlx::query(
            "INSERT INTO service_holidays (id, starts_on, ends_on, name_fa, name_en, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(h.from.to_string())
        .bind(h.to.to_string())
        .bind(h.name_fa.trim().to_string())
        .bind(h.name_en.trim().to_string())
        .bind(at.clone())
        .execute(&mut *tx.tx)
        .await?;
    }
    Ok(())
}

/// The shipped days off: the Iranian year 1405's official holidays, Gregorian dates.
pub fn shipped_holidays() -> Vec<Holiday> {
    HOLIDAYS_1405
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut parts = line.splitn(4, ',');
            let jalali = |s: &str| {
                let mut p = s.split('-').map(|n| n.parse::<i32>().ok());
                let (y, m, d) = (p.next()??, p.next()??, p.next()??);
                peyvand_records::jalali::from_jalali(y, u8::try_from(m).ok()?, u8::try_from(d).ok()?)
            };
            let (from, to) = (jalali(parts.next()?)?, jalali(parts.next()?)?);
            Some(Holiday { from, to, name_fa: parts.next()?.to_string(), name_en: parts.next()?.to_string() })
        })
        .collect()
}

/// Every policy, in the order they are tried.
pub async fn policies(db: &Db) -> Result<Vec<Policy>> {
    Ok(setup(db).await?.policies)
}

/// Checks a policy against the calendars, priorities and users there are.
async fn check_policy(db: &Db, p: &Policy, s: &Setup) -> Result<()> {
    let mut errors = Vec::new();
    if p.name.trim().is_empty() {
        errors.push(FieldError::new("name", "required"));
    } else if p.name.chars().count() > 100 {
        errors.push(FieldError::with("name", "too_long", json!({ "max": 100 })));
    }
    if !s.calendars.iter().any(|c| c.id == p.calendar) {
        errors.push(FieldError::new("calendar", "unknown_calendar"));
    }
    if p.targets.is_empty() {
        errors.push(FieldError::new("targets", "required"));
    }
    for (i, t) in p.targets.iter().enumerate() {
        if !PRIORITIES.contains(&t.priority.as_str()) {
            errors.push(FieldError::with(
                &format!("targets.{i}.priority"),
                "invalid_option",
                json!({ "allowed": PRIORITIES }),
            ));
        } else if p.targets[..i].iter().any(|o| o.priority == t.priority) {
            errors.push(FieldError::new(&format!("targets.{i}.priority"), "duplicate"));
        }
        for (name, v) in
            [("first_response_minutes", t.first_response_minutes), ("resolution_minutes", t.resolution_minutes)]
        {
            if !(1..=525_600).contains(&v) {
                errors.push(FieldError::with(
                    &format!("targets.{i}.{name}"),
                    "out_of_range",
                    json!({ "min": 1, "max": 525_600 }),
                ));
            }
        }
    }
    let missing: Vec<&str> =
        PRIORITIES.iter().copied().filter(|x| !p.targets.iter().any(|t| t.priority == *x)).collect();
    if !p.targets.is_empty() && !missing.is_empty() {
        errors.push(FieldError::with("targets", "missing_priority", json!({ "priorities": missing })));
    }
    if !(0..=10_080).contains(&p.warn_minutes) {
        errors.push(FieldError::with("warn_minutes", "out_of_range", json!({ "min": 0, "max": 10_080 })));
    }
    if let Some(user) = &p.escalation.reassign_to
        && db.user(user).await.is_err()
    {
        errors.push(FieldError::new("escalation.reassign_to", "unknown_user"));
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

/// Creates a policy (`id` None) or replaces one, with the ticket's choices in step.
pub async fn save_policy(db: &Db, actor: Option<&str>, id: Option<&str>, mut p: Policy) -> Result<Policy> {
    let s = setup(db).await?;
    check_policy(db, &p, &s).await?;
    let mut tx = db.write_long().await?;
    let at = now();
    match id {
        Some(id) => {
            let old = s.policy(id).ok_or_else(|| Error::NotFound(format!("policy {id}")))?;
            p.id = id.to_string();
            if p.position == 0 {
                p.position = old.position;
            }
            sqlx::query("UPDATE sla_policies SET position = $1, definition_json = $2, updated_at = $3 WHERE id = $4")
                .bind(p.position)
                .bind(serde_json::to_string(&p).map_err(|e| Error::Corrupt(e.to_string()))?)
                .bind(at)
                .bind(p.id.clone())
                .execute(&mut *tx.tx)
                .await?;
        }
        None => {
            p.id = new_id();
            if p.position == 0 {
                p.position = s.policies.iter().map(|x| x.position).max().unwrap_or(0) + 1;
            }
            sqlx::query("INSERT INTO sla_policies (id, position, definition_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(p.id.clone())
                .bind(p.position)
                .bind(serde_json::to_string(&p).map_err(|e| Error::Corrupt(e.to_string()))?)
                .bind(at)
                .execute(&mut *tx.tx)
                .await?;
        }
    }
    sync_choices_in(db, &mut tx, actor).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    Ok(p)
}

/// Removes a policy no ticket is under.
pub async fn delete_policy(db: &Db, actor: Option<&str>, id: &str) -> Result<()> {
    let mut tx = db.write_long().await?;
    let n = sqlx::query("DELETE FROM sla_policies WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound(format!("policy {id}")));
    }
    sync_choices_in(db, &mut tx, actor).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    Ok(())
}

/// The ticket's `sla_policy` choices from the policies (a policy tickets are under cannot go).
async fn sync_choices_in(db: &Db, tx: &mut WriteTx, actor: Option<&str>) -> Result<()> {
    let s = read_setup(&mut tx.tx).await?;
    let choices = s.policies.iter().map(|p| opt(&p.id, &p.name, &p.name)).collect();
    db.set_choices_in(tx, actor, "ticket", "sla_policy", choices, None).await
}

/// At start-up: a new desk gets the Iranian office week as its default calendar, this year's
/// official holidays and a standard policy; the policy choices are kept in step.
pub(crate) async fn upgrade(db: &Db) -> Result<()> {
    let s = setup(db).await?;
    let mut tx = db.write_long().await?;
    let fresh: Option<i64> = sqlx::query("SELECT number FROM service_settings WHERE name = 'setup'")
        .fetch_optional(&mut *tx.tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    if fresh.is_none() {
        let at = now();
        let cal = if s.calendars.is_empty() {
            let id = new_id();
            let hours = serde_json::to_string(&Hours::iranian_office()).map_err(|e| Error::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO service_calendars (id, name, hours_json, is_default, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4)",
            )
            .bind(id.clone())
            .bind("ساعات اداری / Office hours")
            .bind(hours)
            .bind(at.clone())
            .execute(&mut *tx.tx)
            .await?;
            id
        } else {
            s.calendars[0].id.clone()
        };
        if s.holidays.is_empty() {
            write_holidays(&mut tx, &shipped_holidays()).await?;
        }
        if s.policies.is_empty() {
            let target = |p: &str, f: i64, r: i64| Target {
                priority: p.into(),
                first_response_minutes: f,
                resolution_minutes: r,
            };
            let p = Policy {
                id: new_id(),
                name: "استاندارد / Standard".into(),
                position: 1,
                categories: vec![],
                customer_groups: vec![],
                calendar: cal,
                targets: vec![
                    target("urgent", 30, 4 * 60),
                    target("high", 60, 8 * 60),
                    target("normal", 4 * 60, 3 * 8 * 60),
                    target("low", 8 * 60, 5 * 8 * 60),
                ],
                warn_minutes: 60,
                escalation: Escalation { notify: true, raise_priority: true, reassign_to: None },
            };
            sqlx::query("INSERT INTO sla_policies (id, position, definition_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(p.id.clone())
                .bind(p.position)
                .bind(serde_json::to_string(&p).map_err(|e| Error::Corrupt(e.to_string()))?)
                .bind(at)
                .execute(&mut *tx.tx)
                .await?;
        }
        sqlx::query("INSERT INTO service_settings (name, number) VALUES ('setup', 1)").execute(&mut *tx.tx).await?;
    }
    db.reload_catalog().await?;
    sync_choices_in(db, &mut tx, None).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    backfill_desk_order(db).await?;
    rebuild_daily(db).await
}

/// Open tickets made before they had a place on the desk get one (once; a page at a time).
async fn backfill_desk_order(db: &Db) -> Result<()> {
    let db = db.system();
    let obj = db.object("ticket").await?;
    let (Some(def), Some(key_def)) = (obj.field("desk_order"), obj.field("desk_key")) else { return Ok(()) };
    let open: Vec<&str> = super::RUNNING.iter().copied().chain(["waiting"]).collect();
    let filter = parse_filter(
        &obj,
        &json!({ "and": [
            { "field": "status", "op": "in", "value": open },
            { "or": [
                { "field": "desk_order", "op": "is_empty", "value": true },
                { "and": [
                    { "field": "desk_key", "op": "is_empty", "value": true },
                    { "field": "queue", "op": "is_empty", "value": false },
                ]},
            ]},
        ]}),
    )
    .map_err(Error::invalid)?;
    loop {
        let query =
            peyvand_store::records::ListQuery { filter: Some(filter.clone()), limit: Some(500), ..Default::default() };
        let page = db.list_records("ticket", &query).await?.records;
        if page.is_empty() {
            return Ok(());
        }
        let mut tx = db.write_long().await?;
        for r in &page {
            let status = r.fields.get("status").and_then(Json::as_str).unwrap_or("new");
            let next = r.fields.get("next_due").and_then(Json::as_str).and_then(peyvand_records::value::parse_datetime);
            let order = desk_order(status, next);
            let key = desk_key(r.fields.get("queue").and_then(Json::as_str), &order);
            db.update_in(&mut tx, None, &obj, &r.id, vec![(def, order), (key_def, key)], None).await?;
        }
        tx.commit().await?;
    }
}

// ---- The compliance report ----

/// What the compliance report is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Month,
    Queue,
    Agent,
    Category,
}

impl By {
    pub const ALL: [By; 4] = [By::Month, By::Queue, By::Agent, By::Category];
    pub fn as_str(self) -> &'static str {
        match self {
            By::Month => "month",
            By::Queue => "queue",
            By::Agent => "agent",
            By::Category => "category",
        }
    }
    pub fn parse(s: &str) -> Option<By> {
        By::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// One row of the compliance report: tickets under a service level and how many missed each
/// target (an open ticket not yet late counts as kept so far).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Compliance {
    /// The group: a month (`1405-09` in Persian, `2026-11` in English), a team, a user or a
    /// category; empty for none.
    pub key: String,
    pub tickets: i64,
    pub first_response_late: i64,
    pub resolution_late: i64,
}

impl Compliance {
    /// The share of tickets whose first response was in time, in per cent (none without tickets).
    pub fn first_response_kept(&self) -> Option<f64> {
        (self.tickets > 0).then(|| 100.0 * (self.tickets - self.first_response_late) as f64 / self.tickets as f64)
    }
    pub fn resolution_kept(&self) -> Option<f64> {
        (self.tickets > 0).then(|| 100.0 * (self.tickets - self.resolution_late) as f64 / self.tickets as f64)
    }
}

/// Service-level compliance of the tickets opened in `[from, to)` (days, the business's) that
/// the handle's viewer may read, grouped `by`; months are Jalali when `jalali`.
pub async fn compliance(db: &Db, by: By, from: Date, to: Date, jalali: bool) -> Result<Vec<Compliance>> {
    let obj = db.object("ticket").await?;
    // Counted as it happened, for whoever reads every ticket (the desk is shared); a viewer an
    // admin's rule limits is counted from the tickets they reach.
    let reads_all = db.viewer().is_none_or(|v| {
        v.reach("ticket", peyvand_records::access::Intent::Read) == peyvand_records::access::Reach::All
    });
    let mut rows: BTreeMap<String, Compliance> = BTreeMap::new();
    let month = |day: &str| -> String {
        let Some(day) = peyvand_records::value::parse_date(&day[..day.len().min(10)]) else { return String::new() };
        if jalali {
            peyvand_records::jalali::to_jalali(day).map(|(y, m, _)| format!("{y:04}-{m:02}")).unwrap_or_default()
        } else {
            format!("{:04}-{:02}", day.year(), u8::from(day.month()))
        }
    };
    let mut add = |key: String, n: i64, first: bool, resolution: bool| {
        let row = rows.entry(key.clone()).or_insert_with(|| Compliance { key, ..Compliance::default() });
        row.tickets += n;
        if first {
            row.first_response_late += n;
        }
        if resolution {
            row.resolution_late += n;
        }
    };
    if reads_all {
        let column = match by {
            By::Month => "day",
            By::Queue => "queue",
            By::Agent => "agent",
            By::Category => "category",
        };
        let sql = format!(
            "SELECT {column}, first_late, resolution_late, CAST(SUM(tickets) AS BIGINT) FROM sla_daily WHERE day >= $1 AND day < $2 \
             GROUP BY {column}, first_late, resolution_late"
        );
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(db.pool())
            .await?
        {
            let value: String = r.try_get(0)?;
            let n: i64 = r.try_get(3)?;
            if n == 0 {
                continue;
            }
            let key = if by == By::Month { month(&value) } else { value };
            add(key, n, r.try_get::<i64, _>(1)? != 0, r.try_get::<i64, _>(2)? != 0);
        }
        return Ok(rows.into_values().filter(|r| r.tickets > 0).collect());
    }
    let offset = db.local_offset();
    let bound = |d: Date| format_datetime(d.midnight().assume_offset(offset));
    let filter = parse_filter(
        &obj,
        &json!({ "and": [
            { "field": "opened_at", "op": "gte", "value": bound(from) },
            { "field": "opened_at", "op": "lt", "value": bound(to) },
            { "field": "sla_policy", "op": "is_empty", "value": false },
        ]}),
    )
    .map_err(Error::invalid)?;
    let group = match by {
        By::Month => "opened_at:day",
        By::Queue => "queue",
        By::Agent => OWNER_FIELD,
        By::Category => "category",
    };
    let spec: AggregateSpec =
        parse_aggregate(&obj, &format!("{group},first_response_breached,resolution_breached"), "")
            .map_err(Error::invalid)?;
    for r in db.aggregate("ticket", Some(&filter), &spec).await?.rows {
        let g = |f: &str| r.group.get(f).cloned().unwrap_or(Json::Null);
        let key = match by {
            By::Month => month(g("opened_at").as_str().unwrap_or("")),
            _ => g(group).as_str().unwrap_or_default().to_string(),
        };
        add(
            key,
            r.count,
            g("first_response_breached").as_bool() == Some(true),
            g("resolution_breached").as_bool() == Some(true),
        );
    }
    Ok(rows.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_holidays_are_this_years_and_do_not_overlap() {
        let list = shipped_holidays();
        assert_eq!(list.len(), 22, "every line of the data file parses");
        assert_eq!(list[0].from, time::macros::date!(2026 - 03 - 21), "1 Farvardin 1405");
        assert_eq!(list[0].to, time::macros::date!(2026 - 03 - 24));
        assert_eq!(list.last().map(|h| h.from), Some(time::macros::date!(2027 - 03 - 20)), "29 Esfand 1405");
        let off: Vec<DaysOff> = list.iter().map(|h| DaysOff { from: h.from, to: h.to }).collect();
        assert!(super::super::clock::overlaps(&off).is_empty());
        assert!(list.iter().all(|h| !h.name_fa.is_empty() && !h.name_en.is_empty()));
    }

    #[test]
    fn a_policy_matches_its_categories_and_groups() {
        let p = Policy {
            id: "p".into(),
            name: "VIP".into(),
            position: 1,
            categories: vec!["billing".into()],
            customer_groups: vec!["vip".into()],
            calendar: "c".into(),
            targets: vec![],
            warn_minutes: 0,
            escalation: Escalation::default(),
        };
        assert!(p.matches(Some("billing"), Some("vip")));
        assert!(!p.matches(Some("billing"), None));
        assert!(!p.matches(Some("delivery"), Some("vip")));
        let any = Policy { categories: vec![], customer_groups: vec![], ..p };
        assert!(any.matches(None, None));
    }
}
