//! Queues: the teams that answer tickets, each with its way of giving out a new ticket — by
//! hand, to its active members in turn, or to the member with the fewest open tickets. The
//! ticket's `queue` choices are kept in step with them (a team's id, its name).

use super::RUNNING;
use peyvand_records::FieldError;
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::aggregate::parse_aggregate;
use peyvand_records::filter::parse_filter;
use peyvand_store::records::Record;
use peyvand_store::schema::opt;
use peyvand_store::{Db, Error, Result, WriteTx, now};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sqlx::Row;

/// How a queue gives out a new ticket that has no assignee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Manual,
    RoundRobin,
    LeastLoaded,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Manual, Mode::RoundRobin, Mode::LeastLoaded];
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Manual => "manual",
            Mode::RoundRobin => "round_robin",
            Mode::LeastLoaded => "least_loaded",
        }
    }
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A queue: its team and how it assigns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Queue {
    pub team_id: String,
    pub name: String,
    pub manager_id: Option<String>,
    pub members: Vec<String>,
    pub mode: Mode,
}

/// Every queue, by its team's name.
pub async fn list(db: &Db) -> Result<Vec<Queue>> {
    let rows = sqlx::query("SELECT team_id, assign_mode FROM service_queues").fetch_all(db.pool()).await?;
    let teams = db.list_teams().await?;
    let mut out = Vec::new();
    for r in rows {
        let id: String = r.try_get(0)?;
        let mode: String = r.try_get(1)?;
        if let Some(t) = teams.iter().find(|t| t.id == id) {
            out.push(Queue {
                team_id: id,
                name: t.name.clone(),
                manager_id: t.manager_id.clone(),
                members: t.members.clone(),
                mode: Mode::parse(&mode).unwrap_or(Mode::Manual),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Makes a team a queue, or changes how it assigns.
pub async fn save(db: &Db, actor: Option<&str>, team_id: &str, mode: Mode) -> Result<Queue> {
    if db.get_team(team_id).await.is_err() {
        return Err(Error::invalid(FieldError::new("team_id", "unknown_team")));
    }
    let mut tx = db.write_long().await?;
    let at = now();
    sqlx::query(
        "INSERT INTO service_queues (team_id, assign_mode, turns, created_at, updated_at) VALUES ($1, $2, 0, $3, $3) \
         ON CONFLICT (team_id) DO UPDATE SET assign_mode = $2, updated_at = $3",
    )
    .bind(team_id.to_string())
    .bind(mode.as_str())
    .bind(at)
    .execute(&mut *tx.tx)
    .await?;
    sync_in(db, &mut tx, actor).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    list(db)
        .await?
        .into_iter()
        .find(|q| q.team_id == team_id)
        .ok_or_else(|| Error::NotFound(format!("queue {team_id}")))
}

/// Stops a team being a queue (refused while tickets are in it: `option_in_use`).
pub async fn delete(db: &Db, actor: Option<&str>, team_id: &str) -> Result<()> {
    let mut tx = db.write_long().await?;
    let n = sqlx::query("DELETE FROM service_queues WHERE team_id = $1")
        .bind(team_id.to_string())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound(format!("queue {team_id}")));
    }
    sync_in(db, &mut tx, actor).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    Ok(())
}

async fn sync_in(db: &Db, tx: &mut WriteTx, actor: Option<&str>) -> Result<()> {
    let ids: Vec<String> = sqlx::query("SELECT team_id FROM service_queues")
        .fetch_all(&mut *tx.tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let mut teams = db.list_teams().await?;
    teams.retain(|t| ids.contains(&t.id));
    teams.sort_by(|a, b| a.name.cmp(&b.name));
    let choices = teams.iter().map(|t| opt(&t.id, &t.name, &t.name)).collect();
    db.set_choices_in(tx, actor, "ticket", "queue", choices, None).await
}

/// The queue choices in step with the teams' names (at start-up: a team renamed meanwhile).
pub(crate) async fn sync(db: &Db) -> Result<()> {
    db.reload_catalog().await?;
    let mut tx = db.write_long().await?;
    sync_in(db, &mut tx, None).await?;
    tx.commit().await?;
    db.reload_catalog().await?;
    Ok(())
}

/// Who a new ticket of `queue` goes to, in the write making it: none for a queue assigned by
/// hand, an unknown one, or one without active members.
pub(crate) async fn next_assignee(db: &Db, tx: &mut WriteTx, queue: &str) -> Result<Option<String>> {
    let Some(mode) = sqlx::query("SELECT assign_mode FROM service_queues WHERE team_id = $1")
        .bind(queue.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?
        .and_then(|m| Mode::parse(&m))
    else {
        return Ok(None);
    };
    if mode == Mode::Manual {
        return Ok(None);
    }
    let Ok(team) = db.get_team(queue).await else { return Ok(None) };
    let users = db.list_users().await?;
    let members: Vec<String> =
        team.members.into_iter().filter(|m| users.iter().any(|u| u.id == *m && u.active)).collect();
    if members.is_empty() {
        return Ok(None);
    }
    match mode {
        Mode::Manual => Ok(None),
        Mode::RoundRobin => {
            let turn: i64 =
                sqlx::query("UPDATE service_queues SET turns = turns + 1 WHERE team_id = $1 RETURNING turns")
                    .bind(queue.to_string())
                    .fetch_one(&mut *tx.tx)
                    .await?
                    .try_get(0)?;
            Ok(Some(members[((turn - 1).max(0) as usize) % members.len()].clone()))
        }
        Mode::LeastLoaded => {
            let load = open_load(db, &members).await?;
            Ok(members.iter().min_by_key(|m| (load.get(*m).copied().unwrap_or(0), (*m).clone())).cloned())
        }
    }
}

/// Open tickets (new, open, reopened, waiting) per user of `users`.
pub async fn open_load(db: &Db, users: &[String]) -> Result<std::collections::HashMap<String, i64>> {
    let obj = db.object("ticket").await?;
    let mut statuses: Vec<&str> = RUNNING.to_vec();
    statuses.push("waiting");
    let filter = parse_filter(
        &obj,
        &json!({ "and": [
            { "field": OWNER_FIELD, "op": "in", "value": users },
            { "field": "status", "op": "in", "value": statuses },
        ]}),
    )
    .map_err(Error::invalid)?;
    let spec = parse_aggregate(&obj, OWNER_FIELD, "").map_err(Error::invalid)?;
    let result = db.system().aggregate("ticket", Some(&filter), &spec).await?;
    Ok(result
        .rows
        .into_iter()
        .filter_map(|r| r.group.get(OWNER_FIELD).and_then(Json::as_str).map(|o| (o.to_string(), r.count)))
        .collect())
}

/// The handle's user takes an unassigned ticket they may read (refused if it has an assignee).
pub async fn take(db: &Db, user: &str, ticket_id: &str) -> Result<Record> {
    let ticket = db.get_record("ticket", ticket_id, false).await?;
    if ticket.fields.get(OWNER_FIELD).is_some_and(|o| !o.is_null()) {
        return Err(Error::Conflict {
            code: "already_assigned",
            details: vec![FieldError::new(OWNER_FIELD, "already_assigned")],
        });
    }
    let mut input = Map::new();
    input.insert(OWNER_FIELD.into(), json!(user));
    db.system().update_record(Some(user), "ticket", ticket_id, &input, None).await
}
