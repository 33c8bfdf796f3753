//! Feedback: what customers say. Surveys — CSAT when a ticket is resolved, NPS to customer
//! groups on a schedule, polls an admin builds — answered through signed, single-use links
//! (`surveys`); customers' ratings of the staff who served them (`surveys::staff_ratings`); and
//! the suggestion box with its public board (`suggestions`).
//!
//! Builds on service (a resolved ticket sends its CSAT, through this module's own rule on
//! tickets) and on customers (contacts and their customer groups).

pub mod suggestions;
pub mod surveys;

use peyvand_records::access::{OWNER_FIELD, ObjectAccess, Role};
use peyvand_store::Db;
use peyvand_store::Result;
use peyvand_store::hooks::{BoxFuture, HookCx, Module, WriteHook, Written};
use peyvand_store::migrate::Migration;
use peyvand_store::runner::JobKind;
use peyvand_store::schema::NewObject;
use serde_json::Value as Json;
use std::sync::Arc;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_feedback.sql",
    sqlite: include_str!("../../migrations/feedback/sqlite/0001_feedback.sql"),
    postgres: include_str!("../../migrations/feedback/postgres/0001_feedback.sql"),
}];

/// The feedback module.
pub struct Feedback;

impl Module for Feedback {
    fn name(&self) -> &'static str {
        "feedback"
    }

    fn objects(&self) -> Vec<NewObject> {
        vec![suggestions::object()]
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["surveys", "survey_invitations", "survey_responses", "suggestion_askers", "feedback_settings"]
    }

    fn hooks(&self) -> Vec<Arc<dyn WriteHook>> {
        vec![Arc::new(Csat), Arc::new(suggestions::SuggestionRules)]
    }

    fn job_kinds(&self) -> Vec<Arc<dyn JobKind>> {
        vec![Arc::new(surveys::Rounds)]
    }

    fn default_access(&self, role: Role, object: &str) -> Option<ObjectAccess> {
        (object == "suggestion").then(|| crate::Reaches::Shared.of(role))
    }

    fn upgrade<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<()>> {
        Box::pin(surveys::upgrade(db))
    }
}

/// A ticket resolved (or closed unresolved) asks its customer for a CSAT answer about its
/// owner, in the same write; once per ticket, and not for one merged into another.
struct Csat;

impl WriteHook for Csat {
    fn objects(&self) -> &'static [&'static str] {
        &["ticket"]
    }

    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let get = |m: &serde_json::Map<String, Json>, f: &str| m.get(f).cloned().unwrap_or(Json::Null);
            let done = |v: &Json| v.as_str().is_some_and(|s| crate::service::DONE.contains(&s));
            if !written.changed("status")
                || !done(&get(written.after, "status"))
                || done(&get(written.before, "status"))
            {
                return Ok(());
            }
            if !get(written.after, "merged_into").is_null() {
                return Ok(());
            }
            let Some(contact) = get(written.after, "contact").as_str().map(str::to_string) else { return Ok(()) };
            let owner = get(written.after, OWNER_FIELD).as_str().map(str::to_string);
            surveys::on_ticket_done(cx.tx, written.id, &contact, owner.as_deref()).await
        })
    }
}
