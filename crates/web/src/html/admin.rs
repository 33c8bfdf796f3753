//! Administration pages: objects and fields (add custom fields and objects, hide standard
//! fields, reorder, edit choices, mark fields required, unique or indexed), users and roles, and
//! each user's own API tokens. They call the same store operations as the API.

use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::auth::{MIN_PASSWORD_CHARS, hash_password};
use crate::error::{ApiError, current_lang};
use crate::i18n::{field_error_message, t, t_args};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_records::access::{Action, Role};
use peyvand_records::meta::SelectOption;
use peyvand_records::{FieldDef, FieldError, FieldOptions, FieldType, ObjectDef, Origin};
use peyvand_store::Error as StoreError;
use peyvand_store::schema::{FieldPatch, NewField, NewObject};
use serde_json::json;

pub(super) type Pairs = Vec<(String, String)>;

pub(super) fn get<'a>(pairs: &'a Pairs, key: &str) -> &'a str {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.trim()).unwrap_or("")
}

fn flag(pairs: &Pairs, key: &str) -> bool {
    get(pairs, key) == "on"
}

/// Messages for a failed change, in the user's language.
pub fn messages(e: StoreError) -> Result<Vec<String>, ApiError> {
    let lang = current_lang();
    let list = |errors: Vec<FieldError>| {
        errors.iter().map(|e| format!("{}: {}", e.field, field_error_message(lang, e.code, &e.params))).collect()
    };
    match e {
        StoreError::Validation(errors) => Ok(list(errors)),
        StoreError::Conflict { code, details } if details.is_empty() => {
            Ok(vec![field_error_message(lang, code, &serde_json::Value::Null)])
        }
        StoreError::Conflict { details, .. } => Ok(list(details)),
        StoreError::NotFound(_) => Err(ApiError::NotFound),
        other => Err(other.into()),
    }
}

pub(super) fn require(session: &Session, action: Action) -> Result<(), ApiError> {
    if session.user.role.allows(action) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// Reads choices typed one per line as `value | Persian label | English label`, with the
/// choice's parent fourth where the field depends on another (`new | تازه | New | retail`).
pub fn parse_choices(text: &str) -> Vec<SelectOption> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.split('|').map(str::trim);
            let value = parts.next().unwrap_or("").to_string();
            let label_fa = parts.next().unwrap_or("").to_string();
            let label_en = parts.next().unwrap_or("").to_string();
            let parent = parts.next().filter(|p| !p.is_empty()).map(str::to_string);
            SelectOption { value, label_fa, label_en, parent }
        })
        .collect()
}

fn choices_text(options: &[SelectOption]) -> String {
    let line = |o: &SelectOption| match &o.parent {
        Some(p) => format!("{} | {} | {} | {p}", o.value, o.label_fa, o.label_en),
        None => format!("{} | {} | {}", o.value, o.label_fa, o.label_en),
    };
    options.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// The choices of a closed set in the page's language: each `items`' name as the value, the
/// catalog's `prefix-name` as the label.
pub fn named_options<T: Copy>(
    lang: &str,
    items: impl IntoIterator<Item = T>,
    name: impl Fn(T) -> &'static str,
    prefix: &str,
    selected: impl Fn(T) -> bool,
) -> Vec<Option_> {
    items
        .into_iter()
        .map(|item| Option_ {
            value: name(item).into(),
            label: t(lang, &format!("{prefix}-{}", name(item))),
            selected: selected(item),
        })
        .collect()
}

#[derive(Clone)]
pub struct Option_ {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct ObjectRow {
    pub href: String,
    pub label: String,
    pub api_name: String,
    pub origin: String,
    pub fields: usize,
}

#[derive(Template)]
#[template(path = "admin_objects.html")]
struct ObjectsPage {
    layout: Layout,
    tr: Words,
    objects: Vec<ObjectRow>,
    /// Custom objects in the trash, each with a button to bring it back.
    trashed: Vec<ObjectRow>,
    errors: Vec<String>,
}

/// The words the admin pages use, looked up once per page.
pub struct Words {
    lang: &'static str,
}

impl Words {
    pub fn new(lang: &'static str) -> Words {
        Words { lang }
    }
    pub fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }
    /// A number in the page's digits.
    pub fn num(&self, n: impl std::fmt::Display) -> String {
        super::display::format_number(self.lang, &n.to_string())
    }
    /// A problem code of an import row, in words.
    pub fn problem(&self, code: &str) -> String {
        let own = t(self.lang, &format!("import-code-{code}"));
        if !own.starts_with("import-code-") {
            return own;
        }
        let message = field_error_message(self.lang, code, &serde_json::Value::Null);
        // Messages with placeholders need parameters an import report does not keep.
        if message.contains('{') { format!("{} ({code})", t(self.lang, "field-invalid")) } else { message }
    }
}

pub async fn objects_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    objects_view(&state, &session, Vec::new()).await.unwrap_or_else(fail)
}

async fn objects_view(state: &AppState, session: &Session, errors: Vec<String>) -> Result<Response, ApiError> {
    require(session, Action::ManageSchema)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let row = |o: &std::sync::Arc<peyvand_records::ObjectDef>| ObjectRow {
        href: format!("/admin/objects/{}", o.api_name),
        label: o.plural(lang).to_string(),
        api_name: o.api_name.clone(),
        origin: t(lang, &format!("admin-origin-{}", o.origin.as_str())),
        fields: o.live_fields().count(),
    };
    Ok(render(&ObjectsPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words { lang },
        objects: catalog.objects.iter().map(row).collect(),
        trashed: catalog.trashed.iter().map(row).collect(),
        errors,
    }))
}

/// Moves a custom object to the trash (back to the objects page, where it can be restored).
pub async fn object_action_trash(
    State(state): State<AppState>,
    Path(object): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        match state.db.trash_object(Some(session.user.id.as_str()), &object).await {
            Ok(()) => Ok(Redirect::to("/admin/objects").into_response()),
            Err(e) => fields_view(&state, &session, &object, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Brings a custom object back from the trash.
pub async fn object_action_restore(
    State(state): State<AppState>,
    Path(object): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        match state.db.restore_object(Some(session.user.id.as_str()), &object).await {
            Ok(o) => Ok(Redirect::to(&format!("/admin/objects/{}", o.api_name)).into_response()),
            Err(e) => objects_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn create_object(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let name_field = NewField {
            api_name: "name".into(),
            label_fa: "نام".into(),
            label_en: "Name".into(),
            field_type: FieldType::Text,
            required: true,
            unique: false,
            indexed: true,
            hidden: false,
            default_value: None,
            help_fa: String::new(),
            help_en: String::new(),
            options: FieldOptions::default(),
        };
        let new = NewObject {
            api_name: get(&pairs, "api_name").to_string(),
            label_fa: get(&pairs, "label_fa").to_string(),
            label_en: get(&pairs, "label_en").to_string(),
            plural_fa: get(&pairs, "plural_fa").to_string(),
            plural_en: get(&pairs, "plural_en").to_string(),
            fields: vec![name_field],
            title_field: None,
        };
        match state.db.create_object(Some(&session.user.id), new).await {
            Ok(o) => Ok(Redirect::to(&format!("/admin/objects/{}", o.api_name)).into_response()),
            Err(e) => objects_view(&state, &session, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct FieldRow {
    pub href: String,
    pub api_name: String,
    pub label: String,
    pub kind: String,
    pub flags: String,
    pub hidden: bool,
    pub custom: bool,
}

#[derive(Template)]
#[template(path = "admin_fields.html")]
struct FieldsPage {
    layout: Layout,
    tr: Words,
    object: String,
    /// A custom object, which may be moved to the trash.
    custom: bool,
    heading: String,
    fields: Vec<FieldRow>,
    archived: Vec<FieldRow>,
    types: Vec<Option_>,
    targets: Vec<Option_>,
    errors: Vec<String>,
}

fn type_options(lang: &str, selected: FieldType) -> Vec<Option_> {
    FieldType::ALL
        .iter()
        .filter(|t| **t != FieldType::User)
        .map(|t| Option_ {
            value: t.as_str().into(),
            label: crate::i18n::t(lang, &format!("type-{}", t.as_str())),
            selected: *t == selected,
        })
        .collect()
}

fn field_row(lang: &str, object: &ObjectDef, f: &FieldDef) -> FieldRow {
    let mut flags = Vec::new();
    for (on, key) in [
        (f.required, "admin-required"),
        (f.unique, "admin-unique"),
        (f.indexed, "admin-indexed"),
        (f.hidden, "admin-hidden"),
    ] {
        if on {
            flags.push(t(lang, key));
        }
    }
    FieldRow {
        href: format!("/admin/objects/{}/fields/{}", object.api_name, f.api_name),
        api_name: f.api_name.clone(),
        label: f.label(lang).to_string(),
        kind: t(lang, &format!("type-{}", f.field_type.as_str())),
        flags: flags.join(lang_sep(lang)),
        hidden: f.hidden,
        custom: f.origin == Origin::Custom,
    }
}

fn lang_sep(lang: &str) -> &'static str {
    if lang == "fa" { "، " } else { ", " }
}

pub async fn fields_page(State(state): State<AppState>, session: Session, Path(object): Path<String>) -> Response {
    let state = session.scoped(state);
    fields_view(&state, &session, &object, Vec::new()).await.unwrap_or_else(fail)
}

async fn fields_view(
    state: &AppState,
    session: &Session,
    object: &str,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    require(session, Action::ManageSchema)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(object).ok_or(ApiError::NotFound)?;
    let mut live: Vec<&FieldDef> = obj.live_fields().collect();
    live.sort_by_key(|f| f.position);
    let page = FieldsPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words { lang },
        object: object.to_string(),
        custom: obj.origin == Origin::Custom,
        heading: obj.plural(lang).to_string(),
        fields: live.iter().map(|f| field_row(lang, &obj, f)).collect(),
        archived: obj
            .fields
            .iter()
            .filter(|f| f.archived && obj.field(&f.api_name).is_none())
            .map(|f| field_row(lang, &obj, f))
            .collect(),
        types: type_options(lang, FieldType::Text),
        targets: catalog
            .objects
            .iter()
            .map(|o| Option_ { value: o.api_name.clone(), label: o.label(lang).to_string(), selected: false })
            .collect(),
        errors,
    };
    Ok(render(&page))
}

fn options_from(pairs: &Pairs, field_type: FieldType, base: FieldOptions) -> FieldOptions {
    let mut options = base;
    if matches!(field_type, FieldType::Select | FieldType::MultiSelect) {
        options.options = parse_choices(get(pairs, "choices"));
        options.allow_new = flag(pairs, "allow_new");
    }
    if field_type == FieldType::Relation && !get(pairs, "target").is_empty() {
        options.target = Some(get(pairs, "target").to_string());
    }
    if matches!(field_type, FieldType::Email | FieldType::Phone) {
        options.multiple = flag(pairs, "multiple");
    }
    if let Ok(scale) = get(pairs, "scale").parse::<u8>() {
        options.scale = Some(scale);
    }
    options
}

pub async fn create_field(
    State(state): State<AppState>,
    Path(object): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let field_type = FieldType::parse(get(&pairs, "type")).unwrap_or(FieldType::Text);
        let new = NewField {
            api_name: get(&pairs, "api_name").to_string(),
            label_fa: get(&pairs, "label_fa").to_string(),
            label_en: get(&pairs, "label_en").to_string(),
            field_type,
            required: flag(&pairs, "required"),
            unique: flag(&pairs, "unique"),
            indexed: flag(&pairs, "indexed"),
            hidden: false,
            default_value: Some(get(&pairs, "default")).filter(|d| !d.is_empty()).map(|d| json!(d)),
            help_fa: get(&pairs, "help_fa").to_string(),
            help_en: get(&pairs, "help_en").to_string(),
            options: options_from(&pairs, field_type, FieldOptions::default()),
        };
        match state.db.add_field(Some(&session.user.id), &object, new).await {
            Ok(_) => Ok(Redirect::to(&format!("/admin/objects/{object}")).into_response()),
            Err(e) => fields_view(&state, &session, &object, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// Quick changes from the field list: hide or show, move up or down, remove, restore.
pub async fn field_action(
    State(state): State<AppState>,
    Path((object, field, action)): Path<(String, String, String)>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let actor = Some(session.user.id.as_str());
        let obj = state.db.visible_object(&object).await?;
        let outcome = match action.as_str() {
            "hide" | "show" => state
                .db
                .update_field(
                    actor,
                    &object,
                    &field,
                    FieldPatch { hidden: Some(action == "hide"), ..FieldPatch::default() },
                )
                .await
                .map(|_| ()),
            "delete" => state.db.delete_field(actor, &object, &field).await,
            "restore" => state
                .db
                .update_field(actor, &object, &field, FieldPatch { archived: Some(false), ..FieldPatch::default() })
                .await
                .map(|_| ()),
            "up" | "down" => {
                let mut live: Vec<&FieldDef> = obj.live_fields().collect();
                live.sort_by_key(|f| f.position);
                let i = live.iter().position(|f| f.api_name == field).ok_or(ApiError::NotFound)?;
                let j = if action == "up" { i.checked_sub(1) } else { Some(i + 1).filter(|j| *j < live.len()) };
                match j {
                    Some(j) => {
                        let (a, b) = (live[i].clone(), live[j].clone());
                        // Positions may repeat; give the pair distinct ones in the new order.
                        let (pa, pb) = if a.position == b.position {
                            (b.position + 1, b.position)
                        } else {
                            (b.position, a.position)
                        };
                        let (pa, pb) = if action == "up" { (pa.min(pb), pa.max(pb)) } else { (pa.max(pb), pa.min(pb)) };
                        state
                            .db
                            .update_field(
                                actor,
                                &object,
                                &a.api_name,
                                FieldPatch { position: Some(pa), ..FieldPatch::default() },
                            )
                            .await?;
                        state
                            .db
                            .update_field(
                                actor,
                                &object,
                                &b.api_name,
                                FieldPatch { position: Some(pb), ..FieldPatch::default() },
                            )
                            .await
                            .map(|_| ())
                    }
                    None => Ok(()),
                }
            }
            _ => return Err(ApiError::NotFound),
        };
        match outcome {
            Ok(()) => Ok(Redirect::to(&format!("/admin/objects/{object}")).into_response()),
            Err(e) => fields_view(&state, &session, &object, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "admin_field.html")]
struct FieldPage {
    layout: Layout,
    tr: Words,
    object: String,
    field: FieldDef,
    custom: bool,
    types: Vec<Option_>,
    choices: String,
    default_value: String,
    /// What each role (but admins) may do with the field.
    access: Vec<FieldAccessRow>,
    errors: Vec<String>,
}

pub struct FieldAccessRow {
    pub role: String,
    pub label: String,
    pub options: Vec<Option_>,
}

pub async fn field_page(
    State(state): State<AppState>,
    session: Session,
    Path((object, field)): Path<(String, String)>,
) -> Response {
    let state = session.scoped(state);
    field_view(&state, &session, &object, &field, Vec::new()).await.unwrap_or_else(fail)
}

pub async fn field_view(
    state: &AppState,
    session: &Session,
    object: &str,
    field: &str,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    require(session, Action::ManageSchema)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(object).ok_or(ApiError::NotFound)?;
    let f = obj.field(field).cloned().ok_or(ApiError::NotFound)?;
    let page = FieldPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words { lang },
        object: object.to_string(),
        custom: f.origin == Origin::Custom,
        types: type_options(lang, f.field_type),
        choices: choices_text(&f.options.options),
        default_value: f
            .default_value
            .as_ref()
            .map(|d| d.as_str().map(str::to_string).unwrap_or_else(|| d.to_string()))
            .unwrap_or_default(),
        access: field_access_rows(state, lang, object, &f.api_name).await?,
        field: f,
        errors,
    };
    Ok(render(&page))
}

/// Each role's access to a field, as choices (`peyvand_store::access::FieldRule`).
async fn field_access_rows(
    state: &AppState,
    lang: &str,
    object: &str,
    field: &str,
) -> Result<Vec<FieldAccessRow>, ApiError> {
    use peyvand_records::access::FieldAccess;
    let rules = state.db.field_rules().await?;
    Ok([Role::Manager, Role::Agent, Role::ReadOnly]
        .into_iter()
        .map(|role| {
            let set = rules
                .iter()
                .find(|r| r.role == role && r.object == object && r.field == field)
                .map_or(FieldAccess::Editable, |r| r.access);
            FieldAccessRow {
                role: role.as_str().into(),
                label: t(lang, &format!("role-{}", role.as_str())),
                options: named_options(lang, FieldAccess::ALL, FieldAccess::as_str, "field-access", |a| a == set),
            }
        })
        .collect())
}

pub async fn update_field(
    State(state): State<AppState>,
    Path((object, field)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageSchema)?;
        let obj = state.db.visible_object(&object).await?;
        let current = obj.field(&field).cloned().ok_or(ApiError::NotFound)?;
        let field_type = FieldType::parse(get(&pairs, "type"))
            .filter(|_| current.origin == Origin::Custom)
            .unwrap_or(current.field_type);
        let default = get(&pairs, "default");
        let patch = FieldPatch {
            label_fa: Some(get(&pairs, "label_fa").to_string()),
            label_en: Some(get(&pairs, "label_en").to_string()),
            field_type: Some(field_type),
            required: Some(flag(&pairs, "required")),
            unique: Some(flag(&pairs, "unique")),
            indexed: Some(flag(&pairs, "indexed")),
            hidden: Some(flag(&pairs, "hidden")),
            archived: None,
            default_value: Some(Some(default).filter(|d| !d.is_empty()).map(|d| json!(d))),
            help_fa: Some(get(&pairs, "help_fa").to_string()),
            help_en: Some(get(&pairs, "help_en").to_string()),
            options: Some(options_from(&pairs, field_type, current.options.clone())),
            position: None,
        };
        match state.db.update_field(Some(&session.user.id), &object, &field, patch).await {
            Ok(_) => Ok(Redirect::to(&format!("/admin/objects/{object}")).into_response()),
            Err(e) => field_view(&state, &session, &object, &field, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<Option_>,
    pub active: bool,
    pub me: bool,
    /// Who may take over what the user owns when they leave: the other active users.
    pub successors: Vec<Option_>,
    /// Whether the user signs in with a second factor (an admin may turn it off).
    pub two_factor: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    tr: Words,
    users: Vec<UserRow>,
    roles: Vec<Option_>,
    errors: Vec<String>,
    notice: Option<String>,
}

fn role_options(lang: &str, selected: Role) -> Vec<Option_> {
    named_options(lang, Role::ALL, Role::as_str, "role", |r| r == selected)
}

pub async fn users_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    let state = session.scoped(state);
    let mut notice = match get(&pairs, "added") {
        "" => None,
        email => Some(t_args(current_lang(), "admin-user-added", &[("email", email.to_string())])),
    };
    let handover = get(&pairs, "handover");
    if !handover.is_empty() {
        notice = handover_notice(&state, handover).await.unwrap_or(None);
    }
    users_view(&state, &session, Vec::new(), notice).await.unwrap_or_else(fail)
}

/// What a finished handover moved, in words.
async fn handover_notice(state: &AppState, id: &str) -> Result<Option<String>, ApiError> {
    let Some(done) = state.db.handovers().await?.into_iter().find(|h| h.id == id) else { return Ok(None) };
    let users = state.db.list_users().await?;
    let name = |id: &str| users.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default();
    let lang = current_lang();
    let num = |n: i64| super::display::format_number(lang, &n.to_string());
    Ok(Some(t_args(
        lang,
        "admin-handover-done",
        &[
            ("leaver", name(&done.leaver_id)),
            ("successor", name(&done.successor_id)),
            ("moved", num(done.moved)),
            ("views", num(done.views)),
        ],
    )))
}

pub async fn users_view(
    state: &AppState,
    session: &Session,
    errors: Vec<String>,
    notice: Option<String>,
) -> Result<Response, ApiError> {
    require(session, Action::ManageUsers)?;
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let all = state.db.list_users().await?;
    let with_two_factor = state.db.two_factor_users().await?;
    let users = all
        .iter()
        .cloned()
        .map(|u| UserRow {
            two_factor: with_two_factor.contains(&u.id),
            successors: all
                .iter()
                .filter(|s| s.active && s.id != u.id)
                .map(|s| Option_ { value: s.id.clone(), label: s.name.clone(), selected: false })
                .collect(),
            roles: role_options(lang, u.role),
            me: u.id == session.user.id,
            id: u.id,
            email: u.email,
            name: u.name,
            active: u.active,
        })
        .collect();
    Ok(render(&UsersPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words { lang },
        users,
        roles: role_options(lang, Role::Agent),
        errors,
        notice,
    }))
}

pub async fn invite_user(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageUsers)?;
        let password = get(&pairs, "password");
        if password.chars().count() < MIN_PASSWORD_CHARS {
            let msg = field_error_message(current_lang(), "too_short", &json!({ "min": MIN_PASSWORD_CHARS }));
            return users_view(&state, &session, vec![msg], None).await;
        }
        let role = Role::parse(get(&pairs, "role")).unwrap_or(Role::Agent);
        let language = if get(&pairs, "language") == "en" { "en" } else { "fa" };
        match state
            .db
            .create_user(get(&pairs, "email"), get(&pairs, "name"), role, &hash_password(password)?, language)
            .await
        {
            Ok(u) => Ok(Redirect::to(&format!("/admin/users?added={}", encode(&u.email))).into_response()),
            Err(e) => users_view(&state, &session, messages(e)?, None).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn change_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        require(&session, Action::ManageUsers)?;
        let role = Role::parse(get(&pairs, "role"));
        let active = match get(&pairs, "active") {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        match state.db.update_user(Some(&session.user.id), &id, role, None, active).await {
            Ok(_) => Ok(Redirect::to("/admin/users").into_response()),
            Err(e) => users_view(&state, &session, messages(e)?, None).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    tr: Words,
    tokens: Vec<TokenRow>,
    secret: Option<String>,
    errors: Vec<String>,
}

async fn tokens_view(
    state: &AppState,
    session: &Session,
    secret: Option<String>,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let offset = state.config.display_offset;
    let when = |s: &Option<String>| {
        s.as_deref()
            .and_then(peyvand_records::value::parse_datetime)
            .map(|d| crate::i18n::format_datetime(lang, d, offset))
            .unwrap_or_else(|| t(lang, "record-empty"))
    };
    let tokens = state
        .db
        .list_api_tokens(&session.user.id)
        .await?
        .into_iter()
        .map(|tk| TokenRow {
            created: when(&Some(tk.created_at.clone())),
            last_used: when(&tk.last_used_at),
            revoked: tk.revoked_at.is_some(),
            id: tk.id,
            name: tk.name,
        })
        .collect();
    Ok(render(&TokensPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), ""),
        tr: Words { lang },
        tokens,
        secret,
        errors,
    }))
}

pub async fn tokens_page(State(state): State<AppState>, session: Session) -> Response {
    let state = session.scoped(state);
    tokens_view(&state, &session, None, Vec::new()).await.unwrap_or_else(fail)
}

pub async fn create_token(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let state = session.scoped(state);
    let result = async {
        match state.db.create_api_token(&session.user.id, get(&pairs, "name")).await {
            Ok((_, secret)) => tokens_view(&state, &session, Some(secret), Vec::new()).await,
            Err(e) => tokens_view(&state, &session, None, messages(e)?).await,
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    match state.db.revoke_api_token(&session.user.id, &id).await {
        Ok(()) => Redirect::to("/settings/tokens").into_response(),
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_read_one_per_line() {
        let c = parse_choices("gold | طلایی | Gold\n\nsilver|نقره‌ای\n bronze ");
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].value.as_str(), c[0].label_fa.as_str(), c[0].label_en.as_str()), ("gold", "طلایی", "Gold"));
        assert_eq!((c[1].value.as_str(), c[1].label_fa.as_str(), c[1].label_en.as_str()), ("silver", "نقره‌ای", ""));
        assert_eq!(c[2].value, "bronze");
        assert_eq!(parse_choices(&choices_text(&c)), c);
    }
}
