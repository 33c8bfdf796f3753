//! Insights: what managers see of where the business is going. `reports`: an object's records
//! counted and measured in groups (up to three; dates by day, week, month, quarter or year in
//! the Gregorian or Jalali calendar), saved, shared, drawn as a chart and a pivot table, and
//! each group leading to the records it counts. Every figure is computed through the viewer's
//! handle, so a rep's report counts only what the rep may see.
//!
//! `dashboards`: widgets on a grid, each a report or a built-in, with a default per role.
//! `quotas`: targets per person or team and period, and their attainment. `performance`:
//! leaderboards, scorecards and awards; `award_rules`, awards given by rules when a period
//! ends. `commissions`: plans, splits, statements approved and locked, clawbacks. `profit`:
//! what each customer earns the business. `lead_scores`: each open lead's chance of
//! converting, learned nightly. `forecast`: revenue ahead with its accuracy.
//! `credit_lines`: the lines statements credit, kept per person and day.
//! `value`: the nightly customer-value fit written to every contact. `standard_rollups`: the
//! rollups those figures are read from at scale.
//!
//! Builds on the engine's aggregates (`Db::aggregate`).

pub mod award_rules;
pub mod commissions;
pub mod credit_lines;
pub mod dashboards;
pub mod forecast;
pub mod lead_scores;
pub mod performance;
pub mod profit;
pub mod quotas;
pub mod reports;
pub mod standard_rollups;
pub mod value;

use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_reports.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0001_reports.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0001_reports.sql"),
    },
    Migration {
        version: 2,
        name: "0002_dashboards_quotas.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0002_dashboards_quotas.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0002_dashboards_quotas.sql"),
    },
    Migration {
        version: 3,
        name: "0003_value_runs.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0003_value_runs.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0003_value_runs.sql"),
    },
    Migration {
        version: 4,
        name: "0004_commissions.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0004_commissions.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0004_commissions.sql"),
    },
    Migration {
        version: 5,
        name: "0005_lead_scores.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0005_lead_scores.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0005_lead_scores.sql"),
    },
    Migration {
        version: 6,
        name: "0006_award_rules.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0006_award_rules.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0006_award_rules.sql"),
    },
    Migration {
        version: 7,
        name: "0007_statement_credited.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0007_statement_credited.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0007_statement_credited.sql"),
    },
    Migration {
        version: 8,
        name: "0008_credit_lapsed.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0008_credit_lapsed.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0008_credit_lapsed.sql"),
    },
    Migration {
        version: 9,
        name: "0009_credit_lines.sql",
        sqlite: include_str!("../../migrations/insights/sqlite/0009_credit_lines.sql"),
        postgres: include_str!("../../migrations/insights/postgres/0009_credit_lines.sql"),
    },
];

/// The insights module: its tables.
pub struct Insights;

impl Module for Insights {
    fn name(&self) -> &'static str {
        "insights"
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "reports",
            "dashboards",
            "quotas",
            "awards",
            "value_runs",
            "commission_plans",
            "commission_splits",
            "commission_statements",
            "commission_credits",
            "lead_score_runs",
            "lead_score_factors",
            "award_rules",
            "credit_lines",
            "credit_lines_fill",
        ]
    }

    fn owned(&self) -> &'static [(&'static str, &'static str)] {
        &[("reports", "owner_id"), ("dashboards", "owner_id")]
    }

    fn job_kinds(&self) -> Vec<std::sync::Arc<dyn peyvand_store::runner::JobKind>> {
        vec![
            std::sync::Arc::new(value::Nightly),
            std::sync::Arc::new(standard_rollups::Declare),
            std::sync::Arc::new(credit_lines::Fill),
        ]
    }

    fn hooks(&self) -> Vec<std::sync::Arc<dyn peyvand_store::hooks::WriteHook>> {
        vec![std::sync::Arc::new(commissions::Lapsed), std::sync::Arc::new(credit_lines::Keep)]
    }

    fn upgrade<'a>(
        &'a self,
        db: &'a peyvand_store::Db,
    ) -> peyvand_store::hooks::BoxFuture<'a, peyvand_store::Result<()>> {
        Box::pin(async move {
            let mut tx = db.write().await?;
            value::schedule_nightly_in(db, &mut tx).await?;
            standard_rollups::schedule_in(db, &mut tx).await?;
            credit_lines::schedule_in(db, &mut tx).await?;
            commissions::settle(db, &mut tx, None).await?;
            tx.commit().await
        })
    }
}
