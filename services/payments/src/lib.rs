//! Payments and fulfilment: how an order is paid (PayHere's hosted checkout, cash on delivery,
//! bank transfer), refunds, and its way to the customer (pack, ship with a courier, deliver, or
//! bring back), with the couriers' cash reconciled against their remittance reports.
//!
//! Money is never trusted from the client: a PayHere payment counts only when PayHere's signed
//! notification (or its Retrieval API) says so, for our merchant, in the order's currency and
//! for exactly the order's total. Each gateway payment is one row, whose status only moves
//! forward; payments of one order are applied one at a time, so one order is never paid twice
//! (a second payment, or one for an order that cancelled itself meanwhile, is refunded).

pub mod api;
pub mod checkout;
pub mod courier;
pub mod fulfilment;
pub mod model;
pub mod payhere;
pub mod provider;
pub mod refunds;
pub mod settle;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trail;

use std::{sync::Arc, time::Duration};

use pola_core::{Error, auth::Staff, config::PaymentsConfig};
use pola_identity::client::IdentityClient;
use pola_orders::client::OrdersClient;
use sqlx::{MySqlPool, migrate::Migrator};
use tokio::sync::watch;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{courier::Courier, provider::PaymentProvider};

/// The database this service owns: `<prefix>_payments`.
pub const SERVICE: &str = "payments";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The payments service.
pub struct Payments {
    pool: MySqlPool,
    orders: Arc<dyn OrdersClient>,
    identity: Arc<dyn IdentityClient>,
    config: PaymentsConfig,
    /// PayHere, when configured.
    gateway: Option<Arc<dyn PaymentProvider>>,
    couriers: Vec<Box<dyn Courier>>,
}

impl Payments {
    pub fn new(
        pool: MySqlPool,
        orders: Arc<dyn OrdersClient>,
        identity: Arc<dyn IdentityClient>,
        config: PaymentsConfig,
    ) -> anyhow::Result<Arc<Self>> {
        let gateway: Option<Arc<dyn PaymentProvider>> = match &config.payhere {
            Some(payhere) => Some(Arc::new(payhere::PayHere::new(payhere)?)),
            None => None,
        };
        let couriers = config
            .couriers
            .iter()
            .map(courier::from_config)
            .collect::<anyhow::Result<_>>()?;
        Ok(Arc::new(Self {
            pool,
            orders,
            identity,
            config,
            gateway,
            couriers,
        }))
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::payhere_checkout))
            .routes(routes!(api::pay_on_delivery))
            .routes(routes!(api::pay_by_bank_transfer))
            .routes(routes!(api::order_payments))
            .routes(routes!(api::payhere_notify))
            .routes(routes!(api::staff_order_payments))
            .routes(routes!(api::refund))
            .routes(routes!(api::confirm_bank_transfer))
            .routes(routes!(api::import_remittance))
            .routes(routes!(api::cod_owed))
            .routes(routes!(api::staff_payments))
            .routes(routes!(api::staff_checkouts))
            .routes(routes!(api::exceptions))
            .routes(routes!(api::pack))
            .routes(routes!(api::ship))
            .routes(routes!(api::mark_delivered))
            .routes(routes!(api::mark_delivery_failed))
            .routes(routes!(api::mark_returned))
            .routes(routes!(api::staff_cancel))
            .with_state(self.clone())
    }

    fn payment_window(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::try_from(self.config.window_minutes).unwrap_or(i64::MAX / 60_000))
    }

    fn gateway(&self) -> Result<&Arc<dyn PaymentProvider>, Error> {
        self.gateway
            .as_ref()
            .ok_or_else(|| Error::not_found("This shop takes no online payments."))
    }

    fn courier(&self, code: &str) -> Option<&dyn Courier> {
        self.couriers.iter().find(|c| c.code() == code).map(|c| &**c)
    }

    /// Runs one staff action with its audit row: written before it runs (so no staff write is
    /// without one), its result after.
    async fn audited<T>(
        &self,
        staff: &Staff,
        action: &str,
        order: Option<Uuid>,
        detail: serde_json::Value,
        reason: Option<&str>,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let id = store::begin_staff_action(&self.pool, staff, action, order, &detail, reason).await?;
        let done = work.await;
        let result = match &done {
            Ok(_) => "ok".to_owned(),
            Err(e) if e.status().is_client_error() => format!("refused: {e}"),
            Err(_) => "failed".to_owned(),
        };
        if let Err(e) = store::end_staff_action(&self.pool, id, &result).await {
            tracing::warn!(audit.id = id, error = %e, "could not write a staff action's result");
        }
        done
    }

    /// Runs the payment window, reconciliation with the gateway, refunds, payments left
    /// unapplied and courier tracking every `payments.jobs_interval_secs`, until `shutdown`.
    pub fn spawn_jobs(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let interval = Duration::from_secs(this.config.jobs_interval_secs);
            loop {
                if pola_core::events::pause(&mut shutdown, interval).await {
                    return;
                }
                this.run_jobs().await;
            }
        })
    }

    /// One round of every job; each logs its own failure and the others still run.
    pub async fn run_jobs(&self) {
        let jobs: [(&str, Result<usize, Error>); 5] = [
            ("apply payments", self.apply_unapplied().await),
            ("reconcile", self.reconcile().await),
            ("payment window", self.expire_unpaid().await),
            ("refunds", self.run_refunds().await),
            ("courier tracking", self.track_parcels().await),
        ];
        for (job, outcome) in jobs {
            match outcome {
                Ok(0) => {}
                Ok(n) => tracing::info!(job, count = n, "payments job done"),
                Err(e) => tracing::warn!(job, error = %e, "payments job failed; will retry"),
            }
        }
    }
}
