//! The CRM above the record engine: a module per capability, each with its standard objects,
//! its rules on record writes (typed hooks run in the write's transaction) and its operations.
//! The engine (`peyvand-store`) runs them and knows none of their concepts; pages and API routes
//! are in `peyvand-web` (a file per capability), which calls the operations here.
//!
//! A module's room: `crm/src/<module>` (objects, rules, operations, unit tests), its routes in
//! `web/src/api/<module>.rs` and `web/src/html/<module>.rs`, its integration tests in
//! `server/tests/api/<module>.rs`. A module builds on those before it (sales on customers: a
//! customer group) and never on those after; modules meet in records.

pub mod activities;
pub mod customers;
pub mod sales;
pub mod testing;

use peyvand_store::hooks::{Module, Modules};
use peyvand_store::{Db, Result, Workload};
use std::sync::Arc;

/// Every module of the CRM, in the order their objects are made (a relation's target first).
pub fn modules() -> Modules {
    let list: Vec<Arc<dyn Module>> =
        vec![Arc::new(customers::Customers), Arc::new(sales::Sales), Arc::new(activities::Activities)];
    Modules::new(list)
}

/// Opens the database for serving with every module running (see `Db::open_with`).
pub async fn open(url: &str) -> Result<Db> {
    open_for(url, Workload::Serve).await
}

/// [`open`] for a workload.
pub async fn open_for(url: &str, workload: Workload) -> Result<Db> {
    Db::open_with(url, workload, modules()).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn standard_objects_are_well_formed() {
        for o in super::modules().objects() {
            peyvand_store::schema::check_new_object(&o).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
