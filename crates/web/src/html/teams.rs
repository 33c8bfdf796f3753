//! The admin pages of teams and access (`peyvand_store::access`): teams with their parent,
//! manager and members; the matrix of what each role reads and changes in each object; and a
//! leaver's handover from the users page.

use super::admin::{Option_, Pairs, Words, get, messages, named_options};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::t;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_records::access::{Action, FieldAccess, ObjectAccess, Reach, Role};
use peyvand_store::access::TeamInput;
use peyvand_store::accounts::User;
use peyvand_store::security::Kind;

/// Teams, access and the security log are the user managers' (admins).
fn require(session: &Session) -> Result<(), ApiError> {
    super::admin::require(session, Action::ManageUsers)
}

/// One team's form: the choices of parent, manager and members, with the team's own selected.
pub struct TeamForm {
    pub id: String,
    pub name: String,
    pub parents: Vec<Option_>,
    pub managers: Vec<Option_>,
    pub members: Vec<Option_>,
}

#[derive(Template)]
#[template(path = "admin_teams.html")]
struct TeamsPage {
    layout: Layout,
    tr: Words,
    teams: Vec<TeamForm>,
    new_team: TeamForm,
    errors: Vec<String>,
}

fn user_options(users: &[User], selected: &[String]) -> Vec<Option_> {
    users
        .iter()
        .filter(|u| u.active)
        .map(|u| Option_ { value: u.id.clone(), label: u.name.clone(), selected: selected.contains(&u.id) })
        .collect()
}

pub async fn teams_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    teams_view(&state, &session, Vec::new()).await.unwrap_or_else(fail)
}

async fn teams_view(state: &AppState, session: &Session, errors: Vec<String>) -> Result<Response, ApiError> {
    require(session)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let users = state.db.list_users().await?;
    let teams = state.db.list_teams().await?;
    let form = |id: &str, name: &str, parent: Option<&str>, manager: Option<&str>, members: &[String]| TeamForm {
        id: id.to_string(),
        name: name.to_string(),
        parents: teams
            .iter()
            .filter(|t| t.id != id)
            .map(|t| Option_ { value: t.id.clone(), label: t.name.clone(), selected: parent == Some(t.id.as_str()) })
            .collect(),
        managers: user_options(&users, &manager.map(str::to_string).into_iter().collect::<Vec<_>>()),
        members: user_options(&users, members),
    };
    let forms = teams
        .iter()
        .map(|t| form(&t.id, &t.name, t.parent_id.as_deref(), t.manager_id.as_deref(), &t.members))
        .collect();
    Ok(render(&TeamsPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        teams: forms,
        new_team: form("", "", None, None, &[]),
        errors,
    }))
}

fn team_input(pairs: &Pairs) -> TeamInput {
    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
    TeamInput {
        name: get(pairs, "name").to_string(),
        parent_id: some(get(pairs, "parent_id")),
        manager_id: some(get(pairs, "manager_id")),
        members: pairs.iter().filter(|(k, _)| k == "members").map(|(_, v)| v.clone()).collect(),
    }
}

pub async fn create_team(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        match state.db.create_team(&team_input(&pairs)).await {
            Ok(_) => Ok(Redirect::to("/admin/teams").into_response()),
            Err(e) => teams_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn update_team(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        match state.db.update_team(&id, &team_input(&pairs)).await {
            Ok(_) => Ok(Redirect::to("/admin/teams").into_response()),
            Err(e) => teams_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn delete_team(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        match state.db.delete_team(&id).await {
            Ok(()) => Ok(Redirect::to("/admin/teams").into_response()),
            Err(e) => teams_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// One role's access to one object, as two selects.
pub struct AccessCell {
    pub role: String,
    pub read: Vec<Option_>,
    pub change: Vec<Option_>,
    pub custom: bool,
}

pub struct AccessRow {
    pub object: String,
    pub label: String,
    pub cells: Vec<AccessCell>,
}

#[derive(Template)]
#[template(path = "admin_access.html")]
struct AccessPage {
    layout: Layout,
    tr: Words,
    roles: Vec<String>,
    rows: Vec<AccessRow>,
    /// Each role, checked when it must sign in with a second factor.
    two_factor: Vec<Option_>,
    notice: Option<String>,
    errors: Vec<String>,
}

/// The roles whose access admins set (admins reach everything).
const RULED_ROLES: [Role; 3] = [Role::Manager, Role::Agent, Role::ReadOnly];

pub async fn access_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    let state = session.scoped(state);
    let notice = (get(&pairs, "saved") == "1").then(|| t(current_lang(), "admin-access-saved"));
    access_view(&state, &session, notice, Vec::new()).await.unwrap_or_else(fail)
}

async fn access_view(
    state: &AppState,
    session: &Session,
    notice: Option<String>,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    require(session)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let rules = state.db.access_rules().await?;
    let reaches = |selected: Reach| named_options(lang, Reach::ALL, Reach::as_str, "reach", |r| r == selected);
    let rows = catalog
        .objects
        .iter()
        .map(|obj| AccessRow {
            object: obj.api_name.clone(),
            label: obj.plural(lang).to_string(),
            cells: RULED_ROLES
                .iter()
                .filter_map(|role| rules.iter().find(|r| r.role == *role && r.object == obj.api_name))
                .map(|rule| AccessCell {
                    role: rule.role.as_str().into(),
                    read: reaches(rule.read),
                    change: reaches(rule.change),
                    custom: rule.custom,
                })
                .collect(),
        })
        .collect();
    let required = state.db.roles_requiring_two_factor().await?;
    let two_factor = named_options(lang, Role::ALL, Role::as_str, "role", |r| required.contains(&r));
    Ok(render(&AccessPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words::new(lang),
        roles: RULED_ROLES.iter().map(|r| t(lang, &format!("role-{}", r.as_str()))).collect(),
        rows,
        two_factor,
        notice,
        errors,
    }))
}

/// Saves the matrix: each cell that differs from what is set becomes a rule, or goes back to
/// the default when it is the default.
pub async fn save_access(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        let current = state.db.access_rules().await?;
        let mut errors = Vec::new();
        for rule in current.iter().filter(|r| RULED_ROLES.contains(&r.role)) {
            let key = |what: &str| format!("{}.{}.{what}", rule.role.as_str(), rule.object);
            let (Some(read), Some(change)) =
                (Reach::parse(get(&pairs, &key("read"))), Reach::parse(get(&pairs, &key("change"))))
            else {
                continue;
            };
            let wanted = ObjectAccess::new(read, change);
            if wanted == ObjectAccess::new(rule.read, rule.change) {
                continue;
            }
            let set = (wanted != state.db.modules().default_access(rule.role, &rule.object)).then_some(wanted);
            if let Err(e) = state.db.set_access_rule(rule.role, &rule.object, set).await {
                errors.extend(messages(e)?);
            }
        }
        if errors.is_empty() {
            Ok(Redirect::to("/admin/access?saved=1").into_response())
        } else {
            access_view(&state, &session, None, errors).await
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Deactivates a user and hands everything they own to the successor chosen on the users page.
pub async fn hand_over(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        match state.db.hand_over(Some(&session.user.id), &id, get(&pairs, "successor_id")).await {
            Ok(done) => Ok(Redirect::to(&format!("/admin/users?handover={}", encode(&done.id))).into_response()),
            Err(e) => super::admin::users_view(&state, &session, messages(e)?, None).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Saves what each role may do with one field (from the field's admin page).
pub async fn save_field_access(
    State(state): State<AppState>,
    Path((object, field)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        let mut errors = Vec::new();
        for role in RULED_ROLES {
            let Some(access) = FieldAccess::parse(get(&pairs, role.as_str())) else { continue };
            if let Err(e) = state.db.set_field_access(role, &object, &field, access).await {
                errors.extend(messages(e)?);
            }
        }
        if errors.is_empty() {
            Ok(Redirect::to(&format!("/admin/objects/{}/fields/{}", encode(&object), encode(&field))).into_response())
        } else {
            super::admin::field_view(&state, &session, &object, &field, errors).await
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct SecurityRow {
    pub at: String,
    pub kind: String,
    pub kind_label: String,
    pub actor: String,
    pub subject: String,
    pub address: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "admin_security.html")]
struct SecurityPage {
    layout: Layout,
    tr: Words,
    kinds: Vec<Option_>,
    kind: String,
    entries: Vec<SecurityRow>,
    next: Option<String>,
}

/// Entries of the security log on a page.
const SECURITY_PAGE: u32 = 100;

pub async fn security_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        let lang = current_lang();
        let catalog = state.db.visible_catalog().await?;
        let kind = Kind::parse(get(&pairs, "kind"));
        let before = Some(get(&pairs, "before")).filter(|b| !b.is_empty());
        let entries = state.db.security_log(kind, None, before, SECURITY_PAGE).await?;
        let users = state.db.list_users().await?;
        let name = |id: &Option<String>| {
            id.as_ref()
                .map(|id| users.iter().find(|u| &u.id == id).map_or(id.clone(), |u| u.name.clone()))
                .unwrap_or_default()
        };
        let offset = state.config.display_offset;
        let next = (entries.len() == SECURITY_PAGE as usize).then(|| entries.last().map(|e| e.id.clone())).flatten();
        let rows = entries
            .into_iter()
            .map(|e| SecurityRow {
                at: peyvand_records::value::parse_datetime(&e.at)
                    .map(|d| crate::i18n::format_datetime(lang, d, offset))
                    .unwrap_or(e.at.clone()),
                kind_label: t(lang, &format!("security-kind-{}", e.kind)),
                actor: name(&e.actor),
                subject: name(&e.subject),
                address: e.address.unwrap_or_default(),
                details: e.details.to_string(),
                kind: e.kind,
            })
            .collect();
        Ok::<_, ApiError>(render(&SecurityPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
            tr: Words::new(lang),
            kinds: named_options(lang, Kind::ALL, Kind::as_str, "security-kind", |k| Some(k) == kind),
            kind: kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
            entries: rows,
            next,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Saves which roles must sign in with a second factor.
pub async fn save_two_factor(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        let required = state.db.roles_requiring_two_factor().await?;
        for role in Role::ALL {
            let wanted = get(&pairs, role.as_str()) == "on";
            if wanted != required.contains(&role) {
                state.db.require_two_factor(role, wanted).await?;
            }
        }
        Ok::<_, ApiError>(Redirect::to("/admin/access?saved=1").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Turns a user's two-factor sign-in off (a lost phone): they sign in with their password and
/// set it up again.
pub async fn reset_two_factor(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session)?;
        state.db.disable_two_factor(Some(&session.user.id), &id).await?;
        Ok::<_, ApiError>(Redirect::to("/admin/users").into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}
