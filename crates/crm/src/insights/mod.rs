//! Insights: what managers see of where the business is going. `reports`: an object's records
//! counted and measured in groups (up to three; dates by day, week, month, quarter or year in
//! the Gregorian or Jalali calendar), saved, shared, drawn as a chart and a pivot table, and
//! each group leading to the records it counts. Every figure is computed through the viewer's
//! handle, so a rep's report counts only what the rep may see.
//!
//! Builds on the engine's aggregates (`Db::aggregate`); later rooms (dashboards, quotas,
//! commissions, customer value) build on reports.

pub mod reports;

use peyvand_store::hooks::Module;
use peyvand_store::migrate::Migration;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_reports.sql",
    sqlite: include_str!("../../migrations/insights/sqlite/0001_reports.sql"),
    postgres: include_str!("../../migrations/insights/postgres/0001_reports.sql"),
}];

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
        &["reports"]
    }
}
