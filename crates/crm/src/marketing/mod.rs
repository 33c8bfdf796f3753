//! Marketing: segments of contacts and companies (`segments`: the lists' filters plus
//! conditions on orders, consent and loyalty tier; or members kept by hand) and campaigns
//! that send a template to a segment, throttled, with tracked links and a report (`campaigns`).
//! Consent itself is the customers module's (`customers::consent`), so that the sending path,
//! which comes before this module, enforces it.
//!
//! Builds on sales (orders), loyalty (tiers) and automation (templates, the outbox).

pub mod campaigns;
pub mod grants;
pub mod segments;

use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;
use peyvand_store::runner::JobKind;
use std::sync::Arc;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_marketing.sql",
        sqlite: include_str!("../../migrations/marketing/sqlite/0001_marketing.sql"),
        postgres: include_str!("../../migrations/marketing/postgres/0001_marketing.sql"),
    },
    Migration {
        version: 2,
        name: "0002_grants.sql",
        sqlite: include_str!("../../migrations/marketing/sqlite/0002_grants.sql"),
        postgres: include_str!("../../migrations/marketing/postgres/0002_grants.sql"),
    },
];

/// The marketing module: its tables and the job that starts campaigns.
pub struct Marketing;

impl Module for Marketing {
    fn name(&self) -> &'static str {
        "marketing"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["segments", "segment_members", "campaigns", "campaign_recipients", "segment_grants"]
    }

    fn job_kinds(&self) -> Vec<Arc<dyn JobKind>> {
        vec![Arc::new(campaigns::Starter)]
    }
}
