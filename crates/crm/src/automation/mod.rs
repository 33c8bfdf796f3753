//! Automation and communication: what Peyvand does on its own, and the channels it does it
//! through. Templates admins write (`templates`), workflows they define (`workflows`: triggers,
//! conditions, steps, runs), webhooks out (`webhooks`), and the outbox of e-mails and SMS with
//! their SMTP server and HTTP gateway (`mail`).
//!
//! Builds on the engine's durable consumers and jobs: every trigger is read after commit, every
//! effect that leaves Peyvand goes through an outbox row written in the deciding transaction,
//! keyed by its event id. Builds on every module before it (a workflow may create a task, assign
//! a ticket, tell a user), reaching them through the engine's record operations.

pub mod digest;
pub mod inbox;
pub mod invitations;
pub mod letters;
pub mod mail;
pub mod reports;
pub mod templates;
pub mod webhooks;
pub mod workflows;

use peyvand_records::meta::SelectOption;
use peyvand_store::hooks::{BoxFuture, Module};
use peyvand_store::migrate::Migration;
use peyvand_store::runner::{Consumer, JobKind};
use peyvand_store::schema::FieldPatch;
use peyvand_store::{Db, Result};
use std::sync::Arc;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_automation.sql",
        sqlite: include_str!("../../migrations/automation/sqlite/0001_automation.sql"),
        postgres: include_str!("../../migrations/automation/postgres/0001_automation.sql"),
    },
    Migration {
        version: 2,
        name: "0002_waits_reports.sql",
        sqlite: include_str!("../../migrations/automation/sqlite/0002_waits_reports.sql"),
        postgres: include_str!("../../migrations/automation/postgres/0002_waits_reports.sql"),
    },
    Migration {
        version: 3,
        name: "0003_purpose.sql",
        sqlite: include_str!("../../migrations/automation/sqlite/0003_purpose.sql"),
        postgres: include_str!("../../migrations/automation/postgres/0003_purpose.sql"),
    },
    Migration {
        version: 4,
        name: "0004_scheduled_saved_reports.sql",
        sqlite: include_str!("../../migrations/automation/sqlite/0004_scheduled_saved_reports.sql"),
        postgres: include_str!("../../migrations/automation/postgres/0004_scheduled_saved_reports.sql"),
    },
];

/// The automation module.
pub struct Automation;

impl Module for Automation {
    fn name(&self) -> &'static str {
        "automation"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "message_templates",
            "workflows",
            "workflow_versions",
            "workflow_runs",
            "workflow_run_steps",
            "workflow_effects",
            "webhook_subscriptions",
            "webhook_deliveries",
            "outbound_messages",
            "automation_state",
            "inbound_hooks",
            "inbound_events",
            "inbound_messages",
            "letters_sent",
            "report_schedules",
        ]
    }

    fn consumers(&self) -> Vec<Arc<dyn Consumer>> {
        vec![Arc::new(workflows::Triggers), Arc::new(webhooks::Outbound)]
    }

    /// Activities gain the kind `letter` (a printed letter on the timeline) where they lack it.
    fn upgrade<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let activity = db.object("activity").await?;
            let Some(kind) = activity.field("kind") else { return Ok(()) };
            if kind.options.options.iter().any(|o| o.value == "letter") {
                return Ok(());
            }
            let mut options = kind.options.clone();
            options.options.push(SelectOption {
                value: "letter".into(),
                label_fa: "نامه".into(),
                label_en: "Letter".into(),
                parent: None,
            });
            db.update_field(None, "activity", "kind", FieldPatch { options: Some(options), ..FieldPatch::default() })
                .await?;
            Ok(())
        })
    }

    fn job_kinds(&self) -> Vec<Arc<dyn JobKind>> {
        vec![
            Arc::new(workflows::Runs),
            Arc::new(workflows::Sweeps),
            Arc::new(workflows::Signals),
            Arc::new(webhooks::Deliveries),
            Arc::new(mail::Sender),
            Arc::new(inbox::Poll),
            Arc::new(letters::Log),
            Arc::new(digest::NotificationMail),
            Arc::new(digest::Digest),
            Arc::new(reports::Sends),
            Arc::new(invitations::Invitations),
        ]
    }
}
