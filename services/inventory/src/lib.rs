//! Inventory: stock per variant and location, reservations with a time limit, and sales that
//! never take more than is there.

pub mod api;
pub mod batch;
pub mod client;
pub mod model;
pub mod store;

use std::{sync::Arc, time::Duration};

use pola_core::config::InventoryConfig;
use sqlx::{MySqlPool, migrate::Migrator};
use tokio::sync::watch;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The database this service owns: `<prefix>_inventory`.
pub const SERVICE: &str = "inventory";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The inventory service.
pub struct Inventory {
    pool: MySqlPool,
    config: InventoryConfig,
    sales: batch::SaleQueue,
}

impl Inventory {
    /// The service, with its sale workers started (so: inside a tokio runtime).
    pub fn new(pool: MySqlPool, config: InventoryConfig) -> Arc<Self> {
        Arc::new(Self {
            sales: batch::SaleQueue::start(pool.clone(), config.sale_batch_max, config.low_stock_threshold),
            pool,
            config,
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        use api::internal;
        use axum::routing::post;
        OpenApiRouter::new()
            .routes(routes!(api::get_stock, api::set_stock))
            .routes(routes!(api::locations))
            .routes(routes!(api::stock))
            .routes(routes!(api::ledger))
            .route("/internal/v1/inventory/availability", post(internal::availability))
            .route("/internal/v1/inventory/reservations/{id}", post(internal::reserve))
            .route("/internal/v1/inventory/reservations/{id}/release", post(internal::release))
            .route("/internal/v1/inventory/sales", post(internal::sell))
            .route("/internal/v1/inventory/returns/{id}", post(internal::return_order))
            .with_state(self.clone())
    }

    /// Returns expired reservations to stock, in batches, until there are none left.
    pub async fn sweep(&self) -> sqlx::Result<u64> {
        // On a replica the reservations are the primary's to return (and writing fails).
        if !pola_core::events::relay::writable(&self.pool).await? {
            return Ok(0);
        }
        let mut released = 0;
        loop {
            let now = chrono::Utc::now();
            let expired = store::expired_reservations(&self.pool, now, 500).await?;
            for &id in &expired {
                if pola_core::db::retry_deadlocks(|| store::release_if_expired(&self.pool, id, now)).await? {
                    released += 1;
                }
            }
            if expired.len() < 500 {
                store::prune_holders(&self.pool).await?;
                return Ok(released);
            }
        }
    }

    /// Runs `sweep` every `sweep_interval_secs` until `shutdown` changes.
    pub fn spawn_sweeper(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let every = Duration::from_secs(this.config.sweep_interval_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                match this.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reservations.released = n, "expired reservations returned to stock"),
                    Err(e) => tracing::warn!(error = %e, "reservation sweep failed; will retry"),
                }
            }
        })
    }
}
