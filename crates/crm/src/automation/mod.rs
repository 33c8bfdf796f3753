//! Automation and communication: what Peyvand does on its own, and the channels it does it
//! through. Templates admins write (`templates`), workflows they define (`workflows`: triggers,
//! conditions, steps, runs), webhooks out (`webhooks`), and the outbox of e-mails and SMS with
//! their SMTP server and HTTP gateway (`mail`).
//!
//! Builds on the engine's durable consumers and jobs: every trigger is read after commit, every
//! effect that leaves Peyvand goes through an outbox row written in the deciding transaction,
//! keyed by its event id. Builds on every module before it (a workflow may create a task, assign
//! a ticket, tell a user), reaching them through the engine's record operations.

pub mod inbox;
pub mod mail;
pub mod templates;
pub mod webhooks;
pub mod workflows;

use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;
use peyvand_store::runner::{Consumer, JobKind};
use std::sync::Arc;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_automation.sql",
    sqlite: include_str!("../../migrations/automation/sqlite/0001_automation.sql"),
    postgres: include_str!("../../migrations/automation/postgres/0001_automation.sql"),
}];

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
        ]
    }

    fn consumers(&self) -> Vec<Arc<dyn Consumer>> {
        vec![Arc::new(workflows::Triggers), Arc::new(webhooks::Outbound)]
    }

    fn job_kinds(&self) -> Vec<Arc<dyn JobKind>> {
        vec![
            Arc::new(workflows::Runs),
            Arc::new(workflows::Sweeps),
            Arc::new(webhooks::Deliveries),
            Arc::new(mail::Sender),
        ]
    }
}
