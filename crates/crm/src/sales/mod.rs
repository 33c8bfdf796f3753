//! Sales: leads, products, deals moving through pipelines, orders. A deal's pipeline and stage
//! are `pipelines`'; a lead's conversion is `leads`'; the standard objects are in `objects`.

pub mod benefits;
pub mod business;
pub mod documents;
pub mod last_order;
pub mod leads;
mod objects;
pub mod offers;
pub mod pipelines;
pub mod prices;
pub mod worth;

pub use pipelines::DEFAULT_PIPELINE;

use peyvand_records::access::{ObjectAccess, Role};
use peyvand_store::hooks::{BoxFuture, Module, WriteHook};
use peyvand_store::migrate::Migration;
use peyvand_store::schema::NewObject;
use peyvand_store::{Db, Result};
use std::sync::Arc;

/// The sales module.
pub struct Sales;

/// The module's tables, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_pipelines.sql",
        sqlite: include_str!("../../migrations/sales/sqlite/0001_pipelines.sql"),
        postgres: include_str!("../../migrations/sales/postgres/0001_pipelines.sql"),
    },
    Migration {
        version: 2,
        name: "0002_numbering.sql",
        sqlite: include_str!("../../migrations/sales/sqlite/0002_numbering.sql"),
        postgres: include_str!("../../migrations/sales/postgres/0002_numbering.sql"),
    },
    Migration {
        version: 3,
        name: "0003_offers.sql",
        sqlite: include_str!("../../migrations/sales/sqlite/0003_offers.sql"),
        postgres: include_str!("../../migrations/sales/postgres/0003_offers.sql"),
    },
];

impl Module for Sales {
    fn name(&self) -> &'static str {
        "sales"
    }

    fn objects(&self) -> Vec<NewObject> {
        objects::objects()
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "sales_pipelines",
            "deal_stage_history",
            "sales_numbering",
            "sales_sequences",
            "sales_upgrades",
            "sales_business",
            "offer_pairs",
            "offer_products",
            "offer_models",
        ]
    }

    fn hooks(&self) -> Vec<Arc<dyn WriteHook>> {
        vec![
            Arc::new(pipelines::DealRules),
            Arc::new(pipelines::LastActivity),
            Arc::new(leads::LeadRules),
            Arc::new(documents::DocumentRules),
            Arc::new(documents::LineRules),
            Arc::new(last_order::LastOrder),
        ]
    }

    fn upgrade<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            pipelines::upgrade(db).await?;
            documents::upgrade(db).await?;
            let mut tx = db.write().await?;
            offers::schedule_build_in(db, &mut tx).await?;
            tx.commit().await?;
            // The pipeline boards' column totals come from a rollup, not from the deals.
            documents::once(db, "deal_board_rollup", async |db| {
                db.create_rollup(None, "deal", "pipeline,stage", "amount").await.map(|_| ())
            })
            .await?;
            documents::owner_day_index(db).await?;
            // Customers' last orders, for the data of releases that did not keep them.
            documents::once(db, "last_order_filled", last_order::fill).await
        })
    }

    fn job_kinds(&self) -> Vec<Arc<dyn peyvand_store::runner::JobKind>> {
        vec![Arc::new(offers::Build)]
    }

    fn default_access(&self, role: Role, object: &str) -> Option<ObjectAccess> {
        match object {
            "lead" | "deal" | "quote" => Some(crate::Reaches::Customers.of(role)),
            "order" => Some(crate::Reaches::Orders.of(role)),
            "product" => Some(crate::Reaches::Catalog.of(role)),
            _ => None,
        }
    }
}

/// What a bulk load (`peyvand generate`, the demo) left for the sales rules to do: its deals
/// placed in a pipeline with a believable stage history, its orders given their lines, its
/// customers their last order. Returns the stays and lines written.
pub async fn settle_bulk_load(db: &Db) -> Result<(u64, u64)> {
    let stays = pipelines::sample_histories(db).await?;
    let lines = documents::lines_for_orders_without(db).await?;
    last_order::fill(db).await?;
    // Statements' kept lines, of orders written past their rules.
    crate::insights::credit_lines::refill(db).await?;
    Ok((stays, lines))
}
