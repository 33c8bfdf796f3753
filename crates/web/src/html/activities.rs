//! An activity's page: who else took part (contacts and colleagues, `peyvand_crm::activities::
//! participants`), and, when the number or address it was with belongs to no contact, the offer
//! to make one.

use super::admin::{Pairs, Words, get};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Session};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::activities::participants::{self, Participants};
use peyvand_records::access::{Action, Intent, OWNER_FIELD};
use peyvand_records::filter::parse_filter;
use peyvand_store::records::{ListQuery, Record};
use serde_json::json;

#[derive(Template)]
#[template(path = "activity_participants.html")]
struct ParticipantsPanel {
    tr: Words,
    /// `activity` or `task` (whose attendees they are).
    object: &'static str,
    activity: String,
    csrf: String,
    contacts: Vec<(String, String)>,
    users: Vec<(String, String)>,
    colleagues: Vec<(String, String)>,
    /// The activity's number or address no contact has: as shown, as stored, and the new
    /// contact's field for it.
    unknown: Vec<(String, String, &'static str)>,
    back: String,
    can_change: bool,
}

/// Whether any contact (whoever's) has `value` in `field`.
async fn known(state: &AppState, field: &str, value: &str) -> Result<bool, ApiError> {
    let system = state.db.system();
    let obj = system.object("contact").await?;
    let query = ListQuery {
        filter: Some(parse_filter(&obj, &json!({ "field": field, "op": "eq", "value": value }))?),
        limit: Some(1),
        fields: Some(Vec::new()),
        ..ListQuery::default()
    };
    Ok(!system.list_records("contact", &query).await?.records.is_empty())
}

/// The panel of an activity's page.
pub async fn participants_panel(state: &AppState, session: &Session, record: &Record) -> Result<String, ApiError> {
    let lang = current_lang();
    let object = if record.object == "task" { "task" } else { "activity" };
    let who = participants::get(&state.db, object, &record.id).await?;
    let titles = state.db.titles("contact", &who.contacts).await?;
    let users = state.db.list_users().await?;
    let name = |id: &String| users.iter().find(|u| u.id == *id).map(|u| u.name.clone()).unwrap_or_default();
    let owner = record.fields.get(OWNER_FIELD).and_then(|o| o.as_str());
    let mut unknown = Vec::new();
    for (field, contact_field) in [("phone", "phones"), ("email", "emails")] {
        if let Some(value) = record.fields.get(field).and_then(|v| v.as_str()).filter(|v| !v.is_empty())
            && !known(state, contact_field, value).await?
        {
            let shown = if field == "phone" { super::display::format_phone(lang, value) } else { value.to_string() };
            unknown.push((shown, value.to_string(), contact_field));
        }
    }
    let panel = ParticipantsPanel {
        tr: Words::new(lang),
        object,
        activity: encode(&record.id),
        csrf: session.csrf.clone(),
        contacts: who.contacts.iter().map(|c| (encode(c), titles.get(c).cloned().unwrap_or_default())).collect(),
        users: who.users.iter().map(|u| (u.clone(), name(u))).collect(),
        colleagues: users.iter().filter(|u| u.active).map(|u| (u.id.clone(), u.name.clone())).collect(),
        unknown,
        back: format!("/records/{object}/{}", record.id),
        can_change: session.user.role.allows(Action::WriteRecords)
            && record.deleted_at.is_none()
            && session.viewer.reaches(object, Intent::Change, &record.id, owner),
    };
    panel.render().map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /records/{activity|task}/{id}/participants`: adds or removes one contact or colleague.
pub async fn change_participants(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let pairs: &Pairs = &pairs;
        let mut who: Participants = participants::get(&state.db, &object, &id).await?;
        let (add_contact, add_user) = (get(pairs, "add_contact"), get(pairs, "add_user"));
        if !add_contact.is_empty() && !who.contacts.iter().any(|c| c == add_contact) {
            who.contacts.push(add_contact.to_string());
        }
        if !add_user.is_empty() && !who.users.iter().any(|u| u == add_user) {
            who.users.push(add_user.to_string());
        }
        who.contacts.retain(|c| c != get(pairs, "remove_contact"));
        who.users.retain(|u| u != get(pairs, "remove_user"));
        participants::set(&state.db, &object, &id, &who).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/records/{}/{}", encode(&object), encode(&id))).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}
