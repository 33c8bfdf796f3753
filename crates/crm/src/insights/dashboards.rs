//! Dashboards: widgets on a grid of four columns (each one to four wide, in order), each a saved
//! report or one of the built-in ones (the pipeline, revenue, quotas, the leaderboard, my tasks,
//! the support queues, service levels, CSAT, segments, campaigns, loyalty). A user keeps their
//! own and reads the shared ones; an admin makes one the default of a role. A user without one
//! of their own opens their role's default (an admin's, else the built-in one for what they
//! do: a rep's sales, a support agent's queues, a manager's team). Every widget is computed
//! through the viewer's handle, so a rep's numbers are theirs.

use super::reports::ReportDef;
use peyvand_records::FieldError;
use peyvand_records::access::Role;
use peyvand_records::aggregate::{Bucket, Calendar};
use peyvand_records::value::format_datetime;
use peyvand_store::{Db, Error, Result, new_id, now};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::Row;

/// What a widget shows: a saved report, or a built-in.
pub const KINDS: [&str; 14] = [
    "report",
    "pipeline",
    "revenue",
    "forecast",
    "quota",
    "commission",
    "leaderboard",
    "tasks",
    "queues",
    "service_levels",
    "csat",
    "segments",
    "campaigns",
    "loyalty",
];

/// Columns of the grid.
pub const COLUMNS_WIDE: u8 = 4;
/// Most widgets on one dashboard.
pub const MAX_WIDGETS: usize = 16;
/// Most dashboards one user keeps.
const MAX_PER_USER: i64 = 50;

fn two() -> u8 {
    2
}

/// One widget: its kind, its report (for `report`), and how many of the grid's columns it spans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    #[serde(default = "two")]
    pub width: u8,
}

impl Widget {
    pub fn new(kind: &str, width: u8) -> Widget {
        Widget { kind: kind.into(), report: None, width }
    }
}

/// A dashboard as its owner defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardDef {
    pub name: String,
    #[serde(default)]
    pub widgets: Vec<Widget>,
    /// Read by everyone.
    #[serde(default)]
    pub shared: bool,
    /// The role it opens for by default (an admin sets it; such a dashboard is shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A dashboard as kept (the built-in defaults have the id `default` and no owner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    pub id: String,
    pub owner_id: String,
    #[serde(flatten)]
    pub definition: DashboardDef,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, owner_id, shared, role, name, widgets_json, created_at, updated_at";

fn parse(r: &sqlx::any::AnyRow) -> Result<Dashboard> {
    let widgets: String = r.try_get(5)?;
    Ok(Dashboard {
        id: r.try_get(0)?,
        owner_id: r.try_get(1)?,
        definition: DashboardDef {
            shared: r.try_get::<i64, _>(2)? != 0,
            role: r.try_get(3)?,
            name: r.try_get(4)?,
            widgets: serde_json::from_str(&widgets).map_err(|e| Error::Corrupt(format!("a dashboard: {e}")))?,
        },
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

/// The viewer's own dashboards and the shared ones, by name.
pub async fn list(db: &Db) -> Result<Vec<Dashboard>> {
    let me = db.viewer().map(|v| v.user_id.clone()).unwrap_or_default();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM dashboards WHERE owner_id = $1 OR shared = 1 ORDER BY id"
    )))
    .bind(me)
    .fetch_all(db.pool())
    .await?;
    let mut out = rows.iter().map(parse).collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.definition.name.cmp(&b.definition.name));
    Ok(out)
}

/// A dashboard the viewer reads (theirs, shared, or any for an admin); `default` is their
/// default one.
pub async fn get(db: &Db, id: &str, lang: &str) -> Result<Dashboard> {
    if id == "default" {
        return default_for(db, lang).await;
    }
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM dashboards WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("dashboard {id}")))?;
    let d = parse(&r)?;
    match db.viewer() {
        Some(v) if v.user_id != d.owner_id && !d.definition.shared && v.role != Some(Role::Admin) => {
            Err(Error::NotFound(format!("dashboard {id}")))
        }
        _ => Ok(d),
    }
}

/// Whether the viewer changes `d`: its owner or an admin (never a built-in default).
pub fn may_change(db: &Db, d: &Dashboard) -> bool {
    d.id != "default" && db.viewer().is_none_or(|v| v.user_id == d.owner_id || v.role == Some(Role::Admin))
}

/// The dashboard the viewer opens: their role's (an admin's choice), else the built-in one for
/// what they do.
pub async fn default_for(db: &Db, lang: &str) -> Result<Dashboard> {
    let role = db.viewer().and_then(|v| v.role).unwrap_or(Role::Admin);
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM dashboards WHERE role = $1 ORDER BY id")))
        .bind(role.as_str())
        .fetch_optional(db.pool())
        .await?;
    if let Some(r) = r {
        return parse(&r);
    }
    let support = match db.viewer() {
        Some(v) if role == Role::Agent => {
            crate::service::queues::list(&db.system()).await?.iter().any(|q| q.members.contains(&v.user_id))
        }
        _ => false,
    };
    let w = Widget::new;
    let (fa, en, widgets) = match (role, support) {
        (Role::Agent, true) => (
            "میز پشتیبانی من",
            "My support desk",
            vec![w("queues", 2), w("service_levels", 2), w("csat", 2), w("tasks", 2)],
        ),
        (Role::Agent, false) => (
            "فروش من",
            "My sales",
            vec![
                w("quota", 2),
                w("commission", 2),
                w("revenue", 2),
                w("pipeline", 2),
                w("tasks", 2),
                w("leaderboard", 2),
            ],
        ),
        (Role::Manager, _) => (
            "فروش تیم",
            "My team's sales",
            vec![
                w("pipeline", 2),
                w("forecast", 2),
                w("quota", 2),
                w("leaderboard", 2),
                w("revenue", 2),
                w("tasks", 2),
            ],
        ),
        (Role::Admin, _) => (
            "نمای کسب‌وکار",
            "The business at a glance",
            vec![
                w("revenue", 2),
                w("pipeline", 2),
                w("forecast", 2),
                w("quota", 2),
                w("leaderboard", 2),
                w("queues", 2),
                w("csat", 2),
                w("segments", 2),
                w("campaigns", 2),
                w("loyalty", 2),
            ],
        ),
        (Role::ReadOnly, _) => ("نمای فروش", "Sales at a glance", vec![w("revenue", 2), w("pipeline", 2)]),
    };
    Ok(Dashboard {
        id: "default".into(),
        owner_id: String::new(),
        definition: DashboardDef {
            name: (if lang == "fa" { fa } else { en }).into(),
            widgets,
            shared: true,
            role: Some(role.as_str().into()),
        },
        created_at: String::new(),
        updated_at: String::new(),
    })
}

/// Everything wrong with a definition.
pub async fn check(db: &Db, def: &DashboardDef) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = def.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "required"));
    }
    if def.widgets.len() > MAX_WIDGETS {
        errors.push(FieldError::with("widgets", "too_many", json!({ "max": MAX_WIDGETS })));
    }
    for (i, w) in def.widgets.iter().enumerate() {
        let at = |name: &str| format!("widgets[{i}].{name}");
        if !KINDS.contains(&w.kind.as_str()) {
            errors.push(FieldError::new(&at("kind"), "invalid_option"));
        }
        if !(1..=COLUMNS_WIDE).contains(&w.width) {
            errors.push(FieldError::with(&at("width"), "out_of_range", json!({ "min": 1, "max": COLUMNS_WIDE })));
        }
        match (w.kind.as_str(), &w.report) {
            ("report", Some(id)) if super::reports::get(db, id).await.is_err() => {
                errors.push(FieldError::new(&at("report"), "invalid_option"))
            }
            ("report", Some(_)) => {}
            ("report", None) => errors.push(FieldError::new(&at("report"), "required")),
            (_, Some(_)) => errors.push(FieldError::new(&at("report"), "not_allowed")),
            _ => {}
        }
    }
    if let Some(role) = &def.role
        && !["admin", "manager", "agent", "read_only"].contains(&role.as_str())
    {
        errors.push(FieldError::new("role", "invalid_option"));
    }
    errors
}

/// Saves a dashboard (new when `id` is none, owned by the viewer). Only an admin makes one a
/// role's default; it then stops being the default of any other dashboard.
pub async fn save(db: &Db, id: Option<&str>, def: DashboardDef) -> Result<Dashboard> {
    let mut def = def;
    def.name = def.name.trim().to_string();
    def.role = def.role.filter(|r| !r.is_empty());
    let errors = check(db, &def).await;
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let viewer = db.viewer().ok_or_else(|| Error::Forbidden("a dashboard needs a user".into()))?;
    let me = viewer.user_id.clone();
    if def.role.is_some() && viewer.role != Some(Role::Admin) {
        return Err(Error::Forbidden("a role's dashboard".into()));
    }
    if def.role.is_some() {
        def.shared = true;
    }
    if let Some(id) = id
        && !may_change(db, &get(db, id, "en").await?)
    {
        return Err(Error::Forbidden(format!("dashboard {id}")));
    }
    let widgets = serde_json::to_string(&def.widgets).map_err(|e| Error::Corrupt(e.to_string()))?;
    let at = now();
    let mut tx = db.write().await?;
    if let Some(role) = &def.role {
        sqlx::query("UPDATE dashboards SET role = NULL WHERE role = $1 AND id <> $2")
            .bind(role.clone())
            .bind(id.unwrap_or("").to_string())
            .execute(&mut *tx.tx)
            .await?;
    }
    let id = match id {
        Some(id) => {
            sqlx::query(
                "UPDATE dashboards SET shared = $1, role = $2, name = $3, widgets_json = $4, updated_at = $5 \
                 WHERE id = $6",
            )
            .bind(i64::from(def.shared))
            .bind(def.role.clone())
            .bind(def.name.clone())
            .bind(widgets)
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
            id.to_string()
        }
        None => {
            let kept: i64 = sqlx::query("SELECT COUNT(*) FROM dashboards WHERE owner_id = $1")
                .bind(me.clone())
                .fetch_one(&mut *tx.tx)
                .await?
                .try_get(0)?;
            if kept >= MAX_PER_USER {
                return Err(Error::Conflict {
                    code: "too_many_dashboards",
                    details: vec![FieldError::with("name", "too_many", json!({ "max": MAX_PER_USER }))],
                });
            }
            let id = new_id();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO dashboards ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
            )))
            .bind(id.clone())
            .bind(me)
            .bind(i64::from(def.shared))
            .bind(def.role.clone())
            .bind(def.name.clone())
            .bind(widgets)
            .bind(at)
            .execute(&mut *tx.tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    get(db, &id, "en").await
}

/// Deletes a dashboard its owner (or an admin) no longer wants.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    let d = get(db, id, "en").await?;
    if !may_change(db, &d) {
        return Err(Error::Forbidden(format!("dashboard {id}")));
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM dashboards WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
    tx.commit().await
}

/// The report a built-in chart widget draws (none for the widgets that are lists), in `lang`;
/// revenue over the twelve months to `today` (at the business's midnight, `offset`). With
/// `mine` (a rep's), the pipeline and revenue are that person's own, not all their team's
/// that their access reaches.
pub fn builtin_report(
    kind: &str,
    lang: &str,
    today: time::Date,
    offset: time::UtcOffset,
    mine: Option<&str>,
) -> Option<ReportDef> {
    let fa = lang == "fa";
    let name = |a: &str, b: &str| (if fa { a } else { b }).to_string();
    let def = |name: String, object: &str, filter: Json, group: &str, measures: &str, chart: &str| ReportDef {
        name,
        object: object.into(),
        filter: Some(match (mine, object) {
            (Some(me), "deal" | "order") => json!({ "and": [filter, { "field": "owner", "op": "eq", "value": me }] }),
            _ => filter,
        }),
        group: group.into(),
        measures: measures.into(),
        calendar: String::new(),
        chart: chart.into(),
        shared: true,
    };
    Some(match kind {
        "pipeline" => def(
            if mine.is_some() {
                name("قیف فروش من", "My pipeline")
            } else {
                name("قیف فروش", "Pipeline")
            },
            "deal",
            json!({ "and": [
                { "field": "stage", "op": "ne", "value": "won" },
                { "field": "stage", "op": "ne", "value": "lost" },
            ]}),
            "stage",
            "sum:amount",
            "funnel",
        ),
        "revenue" => def(
            if mine.is_some() {
                name("درآمد سفارش‌های پرداخت‌شدهٔ من", "My revenue from paid orders")
            } else {
                name("درآمد از سفارش‌های پرداخت‌شده", "Revenue from paid orders")
            },
            "order",
            {
                let calendar = if fa { Calendar::Jalali } else { Calendar::Gregorian };
                let mut from = Bucket::Month.start(calendar, today);
                for _ in 0..12 {
                    from = Bucket::Month.start(calendar, from - time::Duration::days(1));
                }
                let from = format_datetime(from.midnight().assume_offset(offset));
                json!({ "and": [
                    { "field": "status", "op": "in", "value": super::quotas::PAID },
                    { "field": "ordered_at", "op": "gte", "value": from },
                ]})
            },
            "ordered_at:month",
            "sum:total",
            "kpi",
        ),
        "queues" => def(
            name("تیکت‌های باز در صف‌ها", "Open tickets by queue"),
            "ticket",
            json!({ "field": "status", "op": "in", "value": ["new", "open", "reopened", "waiting"] }),
            "queue",
            "",
            "bar",
        ),
        "service_levels" => def(
            name("حل در مهلت", "Resolved within target"),
            "ticket",
            json!({ "field": "resolved_at", "op": "is_empty", "value": false }),
            "resolution_breached",
            "",
            "donut",
        ),
        _ => return None,
    })
}
