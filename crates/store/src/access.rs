//! Teams, access rules and shares, and the scoped handle that makes every read and write of
//! records obey them.
//!
//! A [`Db`] made by [`Db::for_viewer`] carries one user's [`Viewer`]: from then on every record
//! operation of that handle reaches only what the user may. Lists, counts, estimates, aggregates
//! and searches add the viewer's [`Scope`] to their filter (a condition on the indexed `owner`
//! field, so the rules are index ranges, not checks after the fact); a record read, changed,
//! trashed or restored by id is checked against it, and one the user may not read is not found.
//! A handle without a viewer is the system's (start-up, imports from the command line, jobs):
//! it reaches everything.

use crate::security::Kind;
use crate::sql::{new_id, now};
use crate::{Db, Error, Result};
use peyvand_records::FieldError;
use peyvand_records::access::{FieldAccess, Intent, OWNER_FIELD, ObjectAccess, Reach, Role, Scope, Viewer};
use peyvand_records::filter::{Condition, Filter, Op, Operand};
use peyvand_records::meta::ObjectDef;
use serde::Serialize;
use serde_json::{Value as Json, json};
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A team: its members, its manager, the team it belongs under.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub manager_id: Option<String>,
    /// User ids, sorted.
    pub members: Vec<String>,
    pub created_at: String,
}

/// A team as created or changed (all of it).
#[derive(Clone, Debug, Default)]
pub struct TeamInput {
    pub name: String,
    pub parent_id: Option<String>,
    pub manager_id: Option<String>,
    pub members: Vec<String>,
}

/// An admin's rule: what one role reaches in one object.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccessRule {
    pub role: Role,
    pub object: String,
    pub read: Reach,
    pub change: Reach,
    /// Whether an admin set it (else it is the default).
    pub custom: bool,
}

/// Longest team name.
const MAX_TEAM_NAME: usize = 200;

impl Db {
    /// This handle, reaching only what `viewer` may (see the module's doc).
    pub fn for_viewer(&self, viewer: Viewer) -> Db {
        Db { viewer: Some(Arc::new(viewer)), ..self.clone() }
    }

    /// The user this handle acts for, if it is scoped to one.
    pub fn viewer(&self) -> Option<&Viewer> {
        self.viewer.as_deref()
    }

    /// `filter` joined to the records of `obj` this handle reaches for `intent` (none reached:
    /// a condition no record meets, `id` empty, which the primary key answers at once).
    pub(crate) fn scoped_filter(&self, obj: &ObjectDef, intent: Intent, filter: Option<&Filter>) -> Option<Filter> {
        let Some(viewer) = self.viewer() else { return filter.cloned() };
        let scope = match viewer.scope(obj, intent) {
            Scope::Everything => return filter.cloned(),
            Scope::Nothing => nothing(obj),
            Scope::Only(scope) => scope,
        };
        Some(match filter {
            Some(f) => Filter::And(vec![scope, f.clone()]),
            None => scope,
        })
    }

    /// [`Db::scoped_filter`] for reading a page of records. On SQLite a team's owners (several)
    /// are matched row by row rather than from the owner index: its planner would otherwise
    /// read every record of the team from that index and sort them all for one page (3.4 s for
    /// 180,000 of a million contacts sorted by name), where reading the list's own order and
    /// passing the others' records reads a few hundred.
    pub(crate) fn scoped_filter_for_page(&self, obj: &ObjectDef, filter: Option<&Filter>) -> Option<Filter> {
        let mut scoped = self.scoped_filter(obj, Intent::Read, filter);
        if self.dialect() == crate::Dialect::Sqlite
            && self.viewer().is_some()
            && let Some(f) = scoped.as_mut()
        {
            owners_row_by_row(f);
        }
        scoped
    }

    /// Refuses `intent` on a record of `obj` with the id `id` owned by `owner` (a field's JSON
    /// value) unless this handle reaches it: one it may not read is not found; one it may read
    /// but not change is forbidden.
    pub(crate) fn check_reach(&self, obj: &ObjectDef, intent: Intent, id: &str, owner: Option<&Json>) -> Result<()> {
        let Some(viewer) = self.viewer() else { return Ok(()) };
        let owner = owner.and_then(Json::as_str);
        if !viewer.reaches(&obj.api_name, Intent::Read, id, owner) {
            return Err(Error::NotFound(format!("{} {id}", obj.api_name)));
        }
        if intent == Intent::Change && !viewer.reaches(&obj.api_name, Intent::Change, id, owner) {
            return Err(Error::Forbidden(format!("{} {id}", obj.api_name)));
        }
        Ok(())
    }

    /// Refuses giving a record of `obj` to `owner` (a user id) unless this handle's change reach
    /// holds records of that owner: a rep creates and hands on records within their team.
    pub(crate) fn check_owner(&self, obj: &ObjectDef, owner: Option<&str>) -> Result<()> {
        let Some(viewer) = self.viewer() else { return Ok(()) };
        let allowed = match viewer.reach(&obj.api_name, Intent::Change) {
            Reach::All => true,
            Reach::None => false,
            Reach::Own | Reach::Team => owner.is_some_and(|o| viewer.team_users.contains(o)),
        };
        if allowed {
            Ok(())
        } else if viewer.reach(&obj.api_name, Intent::Change) == Reach::None {
            Err(Error::Forbidden(obj.api_name.clone()))
        } else {
            Err(Error::invalid(FieldError::new(OWNER_FIELD, "owner_out_of_reach")))
        }
    }

    /// The owner a new record gets when none is given: the user creating it.
    pub(crate) fn default_owner(&self) -> Option<&str> {
        self.viewer().map(|v| v.user_id.as_str())
    }

    /// The viewer of an active user: their role, the admin's rules for it, the users of their
    /// teams (the teams they belong to or manage, and every team below those) and the records
    /// shared with them or those teams. An inactive user reaches nothing.
    /// Built at most [`crate::accounts::AUTH_TTL`] ago (this instance forgets them at once after
    /// a change of users, teams, rules or shares; another instance's change is seen within it).
    pub async fn viewer_for(&self, user_id: &str) -> Result<Viewer> {
        if let Ok(viewers) = self.viewers.lock()
            && let Some((at, viewer)) = viewers.get(user_id)
            && at.elapsed() < crate::accounts::AUTH_TTL
        {
            return Ok((**viewer).clone());
        }
        let viewer = self.build_viewer(user_id).await?;
        if let Ok(mut viewers) = self.viewers.lock() {
            if viewers.len() >= 10_000 {
                viewers.clear();
            }
            viewers.insert(user_id.to_string(), (std::time::Instant::now(), Arc::new(viewer.clone())));
        }
        Ok(viewer)
    }

    /// Forgets the viewers built: after any change of who reaches what.
    pub(crate) fn forget_viewers(&self) {
        if let Ok(mut viewers) = self.viewers.lock() {
            viewers.clear();
        }
    }

    async fn build_viewer(&self, user_id: &str) -> Result<Viewer> {
        let user = sqlx::query("SELECT role, active FROM users WHERE id = $1")
            .bind(user_id.to_string())
            .fetch_optional(self.pool())
            .await?;
        let Some(user) = user else { return Ok(Viewer { user_id: user_id.into(), ..Viewer::default() }) };
        let role = Role::parse(&user.try_get::<String, _>(0)?);
        if user.try_get::<i64, _>(1)? == 0 {
            return Ok(Viewer { user_id: user_id.into(), ..Viewer::default() });
        }
        let teams = self.list_teams().await?;
        let mine: BTreeSet<&str> = teams
            .iter()
            .filter(|t| t.manager_id.as_deref() == Some(user_id) || t.members.iter().any(|m| m == user_id))
            .map(|t| t.id.as_str())
            .collect();
        let reached = below(&teams, mine);
        let mut team_users: BTreeSet<String> = BTreeSet::from([user_id.to_string()]);
        for team in teams.iter().filter(|t| reached.contains(t.id.as_str())) {
            team_users.extend(team.members.iter().cloned());
            team_users.extend(team.manager_id.iter().cloned());
        }
        let mut rules = HashMap::new();
        if let Some(role) = role {
            let rows = sqlx::query(
                "SELECT o.api_name, r.read_reach, r.change_reach FROM access_rules r \
                 JOIN meta_objects o ON o.id = r.object_id WHERE r.role = $1",
            )
            .bind(role.as_str().to_string())
            .fetch_all(self.pool())
            .await?;
            for row in rows {
                let (read, change) = (row.try_get::<String, _>(1)?, row.try_get::<String, _>(2)?);
                if let (Some(read), Some(change)) = (Reach::parse(&read), Reach::parse(&change)) {
                    rules.insert(row.try_get::<String, _>(0)?, ObjectAccess::new(read, change));
                }
            }
            // Where no rule of the admin's speaks, the modules' defaults for their objects.
            for obj in self.catalog().await?.objects.iter() {
                let default = self.modules().default_access(role, &obj.api_name);
                rules.entry(obj.api_name.clone()).or_insert(default);
            }
        }
        let mut fields: HashMap<String, HashMap<String, FieldAccess>> = HashMap::new();
        if let Some(role) = role {
            let rows = sqlx::query(
                "SELECT o.api_name, f.api_name, a.level FROM field_access a JOIN meta_fields f ON f.id = a.field_id \
                 JOIN meta_objects o ON o.id = f.object_id WHERE a.role = $1 AND f.archived = 0",
            )
            .bind(role.as_str().to_string())
            .fetch_all(self.pool())
            .await?;
            for row in rows {
                if let Some(level) = FieldAccess::parse(&row.try_get::<String, _>(2)?) {
                    fields.entry(row.try_get(0)?).or_default().insert(row.try_get(1)?, level);
                }
            }
        }
        let mut grantees = vec![format!("u:{user_id}")];
        grantees.extend(reached.iter().map(|t| format!("t:{t}")));
        let mut shares = crate::sql::Sql::for_dialect(
            self.dialect(),
            "SELECT o.api_name, s.record_id, s.level FROM record_shares s JOIN meta_objects o ON o.id = s.object_id \
             WHERE s.grantee IN (",
        );
        shares.list(grantees.into_iter().map(crate::sql::Bind::text));
        let mut shared: HashMap<String, Vec<(String, bool)>> = HashMap::new();
        for row in shares.query().fetch_all(self.pool()).await? {
            let entry = shared.entry(row.try_get::<String, _>(0)?).or_default();
            entry.push((row.try_get(1)?, row.try_get::<String, _>(2)? == "change"));
        }
        Ok(Viewer { user_id: user_id.into(), role, team_users, rules, shared, fields })
    }

    /// Every team, by name.
    pub async fn list_teams(&self) -> Result<Vec<Team>> {
        let rows = sqlx::query("SELECT id, name, parent_id, manager_id, created_at FROM teams ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        let members =
            sqlx::query("SELECT team_id, user_id FROM team_members ORDER BY user_id").fetch_all(self.pool()).await?;
        let mut by_team: HashMap<String, Vec<String>> = HashMap::new();
        for row in members {
            by_team.entry(row.try_get(0)?).or_default().push(row.try_get(1)?);
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                Ok(Team {
                    members: by_team.remove(&id).unwrap_or_default(),
                    id,
                    name: r.try_get(1)?,
                    parent_id: r.try_get(2)?,
                    manager_id: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub async fn get_team(&self, id: &str) -> Result<Team> {
        self.list_teams().await?.into_iter().find(|t| t.id == id).ok_or_else(|| Error::NotFound(format!("team {id}")))
    }

    /// Makes a team.
    pub async fn create_team(&self, input: &TeamInput) -> Result<Team> {
        let id = new_id();
        self.save_team(&id, input, true).await?;
        self.log_team(&id, "created", input).await;
        self.get_team(&id).await
    }

    /// Changes a team: its name, parent, manager and members, all at once.
    pub async fn update_team(&self, id: &str, input: &TeamInput) -> Result<Team> {
        self.get_team(id).await?;
        self.save_team(id, input, false).await?;
        self.log_team(id, "changed", input).await;
        self.get_team(id).await
    }

    /// Removes a team with no team below it; its members stay, in no team of it.
    pub async fn delete_team(&self, id: &str) -> Result<()> {
        let teams = self.list_teams().await?;
        if !teams.iter().any(|t| t.id == id) {
            return Err(Error::NotFound(format!("team {id}")));
        }
        if teams.iter().any(|t| t.parent_id.as_deref() == Some(id)) {
            return Err(Error::Conflict { code: "team_has_teams", details: vec![] });
        }
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM team_members WHERE team_id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
        sqlx::query("DELETE FROM record_shares WHERE grantee = $1")
            .bind(format!("t:{id}"))
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("DELETE FROM teams WHERE id = $1").bind(id.to_string()).execute(&mut *tx.tx).await?;
        tx.commit().await?;
        self.forget_viewers();
        self.log_security(Kind::TeamChanged, None, Some(id), None, json!({ "action": "deleted" })).await;
        Ok(())
    }

    async fn log_team(&self, id: &str, action: &str, input: &TeamInput) {
        let details = json!({
            "action": action, "name": input.name.trim(), "parent_id": input.parent_id,
            "manager_id": input.manager_id, "members": input.members,
        });
        self.log_security(Kind::TeamChanged, None, Some(id), None, details).await;
    }

    async fn save_team(&self, id: &str, input: &TeamInput, create: bool) -> Result<()> {
        let name = input.name.trim();
        let mut errors = Vec::new();
        if name.is_empty() {
            errors.push(FieldError::new("name", "required"));
        } else if name.chars().any(char::is_control) {
            errors.push(FieldError::new("name", "control_characters"));
        } else if name.chars().count() > MAX_TEAM_NAME {
            errors.push(FieldError::with("name", "too_long", json!({ "max": MAX_TEAM_NAME })));
        }
        let teams = self.list_teams().await?;
        if let Some(parent) = &input.parent_id {
            // The parent must exist, and not be this team or one below it (no circles).
            let below_this = below(&teams, BTreeSet::from([id]));
            if !teams.iter().any(|t| &t.id == parent) {
                errors.push(FieldError::new("parent_id", "invalid_reference"));
            } else if below_this.contains(parent.as_str()) {
                errors.push(FieldError::new("parent_id", "team_cycle"));
            }
        }
        let users = self.list_users().await?;
        let active = |u: &str| users.iter().any(|x| x.id == u && x.active);
        if input.manager_id.as_deref().is_some_and(|m| !active(m)) {
            errors.push(FieldError::new("manager_id", "invalid_reference"));
        }
        if input.members.iter().any(|m| !active(m)) {
            errors.push(FieldError::new("members", "invalid_reference"));
        }
        if teams.iter().any(|t| t.id != id && t.name.to_lowercase() == name.to_lowercase()) {
            errors.push(FieldError::new("name", "not_unique"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let mut tx = self.write().await?;
        if create {
            sqlx::query("INSERT INTO teams (id, name, parent_id, manager_id, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id.to_string())
                .bind(name.to_string())
                .bind(input.parent_id.clone())
                .bind(input.manager_id.clone())
                .bind(now())
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| crate::records::map_unique(e.into()))?;
        } else {
            sqlx::query("UPDATE teams SET name = $1, parent_id = $2, manager_id = $3 WHERE id = $4")
                .bind(name.to_string())
                .bind(input.parent_id.clone())
                .bind(input.manager_id.clone())
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| crate::records::map_unique(e.into()))?;
            sqlx::query("DELETE FROM team_members WHERE team_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
        for member in input.members.iter().collect::<BTreeSet<_>>() {
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                .bind(id.to_string())
                .bind(member.clone())
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_viewers();
        Ok(())
    }

    /// What every role reaches in every live object: the admin's rules, else the defaults.
    pub async fn access_rules(&self) -> Result<Vec<AccessRule>> {
        let catalog = self.catalog().await?;
        let rows = sqlx::query("SELECT role, object_id, read_reach, change_reach FROM access_rules")
            .fetch_all(self.pool())
            .await?;
        let mut set: HashMap<(String, String), (String, String)> = HashMap::new();
        for r in rows {
            set.insert((r.try_get(0)?, r.try_get(1)?), (r.try_get(2)?, r.try_get(3)?));
        }
        let mut out = Vec::new();
        for obj in catalog.objects.iter() {
            for role in Role::ALL {
                let custom = set.get(&(role.as_str().to_string(), obj.id.clone()));
                let access = custom
                    .and_then(|(r, c)| Some(ObjectAccess::new(Reach::parse(r)?, Reach::parse(c)?)))
                    .unwrap_or_else(|| self.modules().default_access(role, &obj.api_name));
                out.push(AccessRule {
                    role,
                    object: obj.api_name.clone(),
                    read: access.read,
                    change: access.change,
                    custom: custom.is_some(),
                });
            }
        }
        Ok(out)
    }

    /// Sets what `role` reaches in `object` (`None`: back to the default). Admins reach
    /// everything, always: a rule for them is refused, so no rule can lock every admin out.
    pub async fn set_access_rule(&self, role: Role, object: &str, access: Option<ObjectAccess>) -> Result<()> {
        if role == Role::Admin && access.is_none() {
            // Admins have no rules: they are at the default already.
            self.object(object).await?;
            return Ok(());
        }
        if role == Role::Admin {
            return Err(Error::invalid(FieldError::new("role", "admins_reach_everything")));
        }
        let obj = self.object(object).await?;
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM access_rules WHERE role = $1 AND object_id = $2")
            .bind(role.as_str().to_string())
            .bind(obj.id.clone())
            .execute(&mut *tx.tx)
            .await?;
        if let Some(access) = access {
            let access = ObjectAccess::new(access.read, access.change);
            sqlx::query("INSERT INTO access_rules (role, object_id, read_reach, change_reach) VALUES ($1, $2, $3, $4)")
                .bind(role.as_str().to_string())
                .bind(obj.id.clone())
                .bind(access.read.as_str().to_string())
                .bind(access.change.as_str().to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_viewers();
        let details = match access {
            Some(a) => {
                json!({ "role": role.as_str(), "object": object, "read": a.read.as_str(), "change": a.change.as_str() })
            }
            None => json!({ "role": role.as_str(), "object": object, "default": true }),
        };
        self.log_security(Kind::AccessChanged, None, None, None, details).await;
        Ok(())
    }
}

/// Who a record is shared with.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Share {
    /// `user` or `team`.
    pub kind: &'static str,
    pub id: String,
    /// `read` or `change`.
    pub level: &'static str,
}

impl Db {
    /// Shares one record with a user or team (`grantee`: `("user" | "team", id)`), to read or
    /// also to change it. Whoever may change the record may share it; sharing again replaces
    /// the level.
    pub async fn share_record(&self, object: &str, id: &str, grantee: (&str, &str), change: bool) -> Result<()> {
        let obj = self.object(object).await?;
        let record = self.get_record(object, id, false).await?;
        self.check_reach(&obj, Intent::Change, id, record.fields.get(OWNER_FIELD))?;
        let key = match grantee {
            ("user", user) if self.list_users().await?.iter().any(|u| u.id == user && u.active) => format!("u:{user}"),
            ("team", team) if self.list_teams().await?.iter().any(|t| t.id == team) => format!("t:{team}"),
            _ => return Err(Error::invalid(FieldError::new("grantee", "invalid_reference"))),
        };
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM record_shares WHERE object_id = $1 AND grantee = $2 AND record_id = $3")
            .bind(obj.id.clone())
            .bind(key.clone())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query(
            "INSERT INTO record_shares (object_id, record_id, grantee, level, created_by, created_at)              VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(obj.id.clone())
        .bind(id.to_string())
        .bind(key)
        .bind(if change { "change" } else { "read" })
        .bind(self.viewer().map(|v| v.user_id.clone()))
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        self.forget_viewers();
        Ok(())
    }

    /// Ends a share (see [`Db::share_record`]).
    pub async fn unshare_record(&self, object: &str, id: &str, grantee: (&str, &str)) -> Result<()> {
        let obj = self.object(object).await?;
        let record = self.get_record(object, id, false).await?;
        self.check_reach(&obj, Intent::Change, id, record.fields.get(OWNER_FIELD))?;
        let key = format!("{}:{}", if grantee.0 == "team" { "t" } else { "u" }, grantee.1);
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM record_shares WHERE object_id = $1 AND grantee = $2 AND record_id = $3")
            .bind(obj.id.clone())
            .bind(key)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        self.forget_viewers();
        Ok(())
    }

    /// Who a record is shared with (for whoever may read it).
    pub async fn record_shares(&self, object: &str, id: &str) -> Result<Vec<Share>> {
        let obj = self.object(object).await?;
        self.get_record(object, id, true).await?;
        let rows = sqlx::query(
            "SELECT grantee, level FROM record_shares WHERE object_id = $1 AND record_id = $2 ORDER BY grantee",
        )
        .bind(obj.id.clone())
        .bind(id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let grantee: String = r.try_get(0)?;
                let (kind, id) = grantee.split_once(':').unwrap_or(("u", &grantee));
                Ok(Share {
                    kind: if kind == "t" { "team" } else { "user" },
                    id: id.to_string(),
                    level: if r.try_get::<String, _>(1)? == "change" { "change" } else { "read" },
                })
            })
            .collect()
    }
}

/// Marks conditions on several owners to be matched row by row (SQLite's unary `+` keeps a
/// column's index out of a plan).
fn owners_row_by_row(filter: &mut Filter) {
    match filter {
        Filter::Cond(c) => {
            if c.field.api_name == OWNER_FIELD
                && c.op == Op::In
                && matches!(&c.operand, Operand::Many(owners) if owners.len() > 1)
                && !c.field.column.starts_with('+')
            {
                c.field.column = format!("+{}", c.field.column);
            }
        }
        Filter::And(children) | Filter::Or(children) => children.iter_mut().for_each(owners_row_by_row),
    }
}

/// A filter no record meets.
fn nothing(obj: &ObjectDef) -> Filter {
    let field = peyvand_records::filter::resolve(obj, "id").expect("every object has ids");
    Filter::Cond(Condition { field, op: Op::IsEmpty, operand: Operand::Flag(true) })
}

/// The teams in `roots` and every team below them.
fn below<'a>(teams: &'a [Team], roots: BTreeSet<&'a str>) -> BTreeSet<&'a str> {
    let mut reached = roots;
    loop {
        let more: Vec<&str> = teams
            .iter()
            .filter(|t| !reached.contains(t.id.as_str()))
            .filter(|t| t.parent_id.as_deref().is_some_and(|p| reached.contains(p)))
            .map(|t| t.id.as_str())
            .collect();
        if more.is_empty() {
            return reached;
        }
        reached.extend(more);
    }
}

/// A leaver's handover (see [`Db::hand_over`]).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Handover {
    pub id: String,
    pub leaver_id: String,
    pub successor_id: String,
    /// Records moved so far, in every object (the trash too).
    pub moved: i64,
    /// Saved views moved.
    pub views: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// Records moved in one transaction of a handover.
const HANDOVER_BATCH: i64 = 500;

impl Db {
    /// Hands everything `leaver` owns to `successor` and makes the leaver inactive: first their
    /// sessions end and their tokens are revoked (so they change nothing meanwhile); then every
    /// record they own in every object, the trash included, moves in batches of
    /// [`HANDOVER_BATCH`], each in one transaction with an audit entry per record (the owner
    /// from the leaver to the successor) and the handover's progress; then their saved views,
    /// the teams they managed and the shares made to them. A run cut short is finished by
    /// running it again. Afterwards nothing is owned by the leaver.
    pub async fn hand_over(&self, by: Option<&str>, leaver: &str, successor: &str) -> Result<Handover> {
        let users = self.list_users().await?;
        let leaving = users.iter().find(|u| u.id == leaver).ok_or_else(|| Error::NotFound(format!("user {leaver}")))?;
        let code = match users.iter().find(|u| u.id == successor) {
            _ if successor == leaver => Some("successor_is_leaver"),
            None => Some("invalid_reference"),
            Some(u) if !u.active => Some("successor_inactive"),
            Some(_) => None,
        };
        if let Some(code) = code {
            return Err(Error::invalid(FieldError::new("successor_id", code)));
        }
        if by == Some(leaver) {
            return Err(Error::Conflict { code: "own_account", details: vec![FieldError::new("user", "own_account")] });
        }
        if leaving.active {
            // Refuses the last admin; ends the sessions.
            self.update_user(by, leaver, None, None, Some(false)).await?;
        }
        let id = new_id();
        let mut tx = self.write().await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(leaver.to_string())
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query(
            "INSERT INTO handovers (id, leaver_id, successor_id, by_id, started_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.clone())
        .bind(leaver.to_string())
        .bind(successor.to_string())
        .bind(by.map(str::to_string))
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        self.forget_viewers();
        self.auth.forget();
        let catalog = self.catalog().await?;
        for obj in catalog.objects.iter() {
            let Some(owner) = obj.field(OWNER_FIELD).filter(|f| f.field_type == peyvand_records::FieldType::User)
            else {
                continue;
            };
            loop {
                let mut tx = self.write_long().await?;
                let ids: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id FROM {} WHERE {} = $1 LIMIT $2",
                    obj.table, owner.column
                )))
                .bind(leaver.to_string())
                .bind(HANDOVER_BATCH)
                .fetch_all(&mut *tx.tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
                if ids.is_empty() {
                    break;
                }
                let at = now();
                let mut moved = crate::sql::Sql::new(&format!("UPDATE {} SET {} = ", obj.table, owner.column));
                moved.bind(crate::sql::Bind::text(successor)).push(", version = version + 1, updated_at = ");
                moved.bind(crate::sql::Bind::text(at.clone())).push(", updated_by = ");
                moved.bind(crate::sql::Bind::Text(by.map(str::to_string))).push(" WHERE id IN (");
                moved.list(ids.iter().map(|i| crate::sql::Bind::text(i.clone())));
                moved.query().execute(&mut *tx.tx).await?;
                self.hooks_reassigned(&mut tx, by, obj, &ids).await?;
                let change = json!([{ "field": OWNER_FIELD, "old": leaver, "new": successor }]);
                let mut script = crate::sql::Script::new(self.dialect(), true);
                for record in &ids {
                    crate::records::audit_statements(&mut script, &obj.api_name, record, "update", by, &at, &change);
                }
                script.execute(&mut tx.tx).await?;
                sqlx::query("UPDATE handovers SET moved = moved + $1 WHERE id = $2")
                    .bind(ids.len() as i64)
                    .bind(id.clone())
                    .execute(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
            }
        }
        let mut tx = self.write().await?;
        let views = sqlx::query("UPDATE views SET owner_id = $1 WHERE owner_id = $2")
            .bind(successor.to_string())
            .bind(leaver.to_string())
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        // What modules keep per user (reports, dashboards): names come from code, not input.
        for module in self.modules().list() {
            for (table, column) in module.owned() {
                sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET {column} = $1 WHERE {column} = $2")))
                    .bind(successor.to_string())
                    .bind(leaver.to_string())
                    .execute(&mut *tx.tx)
                    .await?;
            }
        }
        sqlx::query("UPDATE teams SET manager_id = $1 WHERE manager_id = $2")
            .bind(successor.to_string())
            .bind(leaver.to_string())
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("DELETE FROM team_members WHERE user_id = $1")
            .bind(leaver.to_string())
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("DELETE FROM record_shares WHERE grantee = $1")
            .bind(format!("u:{leaver}"))
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("UPDATE handovers SET views = $1, finished_at = $2 WHERE id = $3")
            .bind(views as i64)
            .bind(now())
            .bind(id.clone())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        self.forget_viewers();
        let done = self
            .handovers()
            .await?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or_else(|| Error::NotFound(format!("handover {id}")))?;
        let details = json!({ "successor": successor, "moved": done.moved, "views": done.views });
        self.log_security(Kind::Handover, by, Some(leaver), None, details).await;
        Ok(done)
    }

    /// Every handover, newest first.
    pub async fn handovers(&self) -> Result<Vec<Handover>> {
        let rows = sqlx::query(
            "SELECT id, leaver_id, successor_id, moved, views, started_at, finished_at FROM handovers ORDER BY id DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Handover {
                    id: r.try_get(0)?,
                    leaver_id: r.try_get(1)?,
                    successor_id: r.try_get(2)?,
                    moved: r.try_get(3)?,
                    views: r.try_get(4)?,
                    started_at: r.try_get(5)?,
                    finished_at: r.try_get(6)?,
                })
            })
            .collect()
    }
}

/// An admin's field rule: what one role may do with one field.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FieldRule {
    pub role: Role,
    pub object: String,
    pub field: String,
    pub access: FieldAccess,
}

impl Db {
    /// Every field rule (fields without one are editable).
    pub async fn field_rules(&self) -> Result<Vec<FieldRule>> {
        let rows = sqlx::query(
            "SELECT a.role, o.api_name, f.api_name, a.level FROM field_access a JOIN meta_fields f ON f.id = a.field_id \
             JOIN meta_objects o ON o.id = f.object_id WHERE f.archived = 0 ORDER BY o.api_name, f.api_name, a.role",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let (role, level) =
                (Role::parse(&r.try_get::<String, _>(0)?), FieldAccess::parse(&r.try_get::<String, _>(3)?));
            if let (Some(role), Some(access)) = (role, level) {
                out.push(FieldRule { role, object: r.try_get(1)?, field: r.try_get(2)?, access });
            }
        }
        Ok(out)
    }

    /// Sets what `role` may do with a field (editable: no rule). Admins always see and change
    /// every field, and a field a record's title is made of cannot be hidden (the title shows it).
    pub async fn set_field_access(&self, role: Role, object: &str, field: &str, access: FieldAccess) -> Result<()> {
        if role == Role::Admin {
            return Err(Error::invalid(FieldError::new("role", "admins_reach_everything")));
        }
        let obj = self.object(object).await?;
        let def = obj.field(field).ok_or_else(|| Error::NotFound(format!("field {object}.{field}")))?;
        if access == FieldAccess::Hidden && obj.title_field.split(' ').any(|t| t == field) {
            return Err(Error::invalid(FieldError::new(field, "title_field_hidden")));
        }
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM field_access WHERE role = $1 AND field_id = $2")
            .bind(role.as_str().to_string())
            .bind(def.id.clone())
            .execute(&mut *tx.tx)
            .await?;
        if access != FieldAccess::Editable {
            sqlx::query("INSERT INTO field_access (role, field_id, level) VALUES ($1, $2, $3)")
                .bind(role.as_str().to_string())
                .bind(def.id.clone())
                .bind(access.as_str().to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_viewers();
        let details = json!({ "role": role.as_str(), "object": object, "field": field, "access": access.as_str() });
        self.log_security(Kind::FieldAccessChanged, None, None, None, details).await;
        Ok(())
    }

    /// The catalog as this handle's user sees it: the fields hidden from them are not there (so
    /// pages, forms, exports and filters never name them). The store itself reads and writes
    /// whole records and takes hidden fields out of its answers ([`Db::redact`]).
    pub async fn visible_catalog(&self) -> Result<Arc<crate::catalog::Catalog>> {
        let catalog = self.catalog().await?;
        let Some(viewer) = self.viewer() else { return Ok(catalog) };
        if catalog.objects.iter().all(|o| viewer.hidden_fields(&o.api_name).next().is_none()) {
            return Ok(catalog);
        }
        let mut seen = (*catalog).clone();
        seen.objects = catalog.objects.iter().map(|o| self.visible_of(o)).collect();
        Ok(Arc::new(seen))
    }

    /// One object as this handle's user sees it (see [`Db::visible_catalog`]).
    pub async fn visible_object(&self, api_name: &str) -> Result<Arc<ObjectDef>> {
        Ok(self.visible_of(&self.object(api_name).await?))
    }

    fn visible_of(&self, obj: &Arc<ObjectDef>) -> Arc<ObjectDef> {
        let Some(viewer) = self.viewer() else { return obj.clone() };
        let hidden: Vec<&str> = viewer.hidden_fields(&obj.api_name).collect();
        if hidden.is_empty() {
            return obj.clone();
        }
        let mut seen = (**obj).clone();
        seen.fields.retain(|f| !hidden.contains(&f.api_name.as_str()));
        Arc::new(seen)
    }

    /// Takes the fields hidden from this handle's user out of a record.
    pub(crate) fn redact(&self, record: &mut crate::records::Record) {
        if let Some(viewer) = self.viewer() {
            for field in viewer.hidden_fields(&record.object) {
                record.fields.remove(field);
            }
        }
    }

    /// Refuses naming a field hidden from this handle's user (in a filter, sort, group or sum):
    /// to them it does not exist.
    pub(crate) fn check_named(&self, obj: &ObjectDef, names: impl IntoIterator<Item = String>) -> Result<()> {
        let Some(viewer) = self.viewer() else { return Ok(()) };
        for name in names {
            if viewer.field_access(&obj.api_name, &name) == FieldAccess::Hidden {
                return Err(Error::invalid(FieldError::new(&name, "unknown_field")));
            }
        }
        Ok(())
    }

    /// Refuses input to a field this handle's user may not change: hidden (unknown to them)
    /// or read-only.
    pub(crate) fn check_input(&self, obj: &ObjectDef, names: impl IntoIterator<Item = String>) -> Result<()> {
        let Some(viewer) = self.viewer() else { return Ok(()) };
        let mut errors = Vec::new();
        for name in names {
            match viewer.field_access(&obj.api_name, &name) {
                FieldAccess::Hidden => errors.push(FieldError::new(&name, "unknown_field")),
                FieldAccess::ReadOnly => errors.push(FieldError::new(&name, "field_read_only")),
                FieldAccess::Editable => {}
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
    }
}

/// The API names of the fields a filter's conditions name.
pub(crate) fn filter_fields(filter: &Filter, out: &mut Vec<String>) {
    match filter {
        Filter::Cond(c) => out.push(c.field.api_name.clone()),
        Filter::And(children) | Filter::Or(children) => children.iter().for_each(|f| filter_fields(f, out)),
    }
}
