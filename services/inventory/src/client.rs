//! How other services use inventory. In one process the call is a function call on `Inventory`.

use std::collections::HashMap;

use async_trait::async_trait;
use pola_core::{Error, client::ServiceClient};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Inventory,
    model::{Hold, OverLimit, Shortage, StockItem},
    store::{self, StockError},
};

/// Inventory as other services see it. A shortage is a 409 `out-of-stock` problem whose
/// `shortages` member lists `{variant_id, requested, available}`.
#[async_trait]
pub trait InventoryClient: Send + Sync {
    /// Units available now per variant; variants with no stock are absent.
    async fn availability(&self, variants: &[Uuid]) -> Result<HashMap<Uuid, i64>, Error>;
    /// Makes `reservation` hold exactly `items` on the terms of `hold` (its holder's limits;
    /// its time, else the configured time). Over a holder's limit it is a 409 `hold-limit`.
    async fn reserve(&self, reservation: Uuid, items: &[StockItem], hold: &Hold) -> Result<(), Error>;
    /// Gives a reservation's units back.
    async fn release(&self, reservation: Uuid) -> Result<(), Error>;
    /// Sells `items` to `order`, using up `consume`d reservations; idempotent per order.
    async fn commit(&self, order: Uuid, consume: &[Uuid], items: &[StockItem]) -> Result<(), Error>;
    /// Puts back what `order` took; idempotent.
    async fn return_order(&self, order: Uuid) -> Result<(), Error>;
}

/// The 409 a shortage becomes.
pub fn shortage_problem(shortages: &[Shortage]) -> Error {
    let detail = match shortages {
        [one] => format!("Only {} of that item are available.", one.available),
        _ => "Some items are not available in the quantities asked for.".to_owned(),
    };
    let mut extra = serde_json::Map::new();
    extra.insert("shortages".into(), serde_json::to_value(shortages).unwrap_or_default());
    Error::Conflict {
        code: "out-of-stock".into(),
        detail,
        extra,
    }
}

/// The 409 a hold over its holder's limit becomes.
pub fn over_limit_problem(over: &OverLimit) -> Error {
    let detail = match over.variant_id {
        Some(_) => format!(
            "Carts from here already hold as many of this item as one shopper may ({}); buy what is in the cart, or sign in to hold more.",
            over.limit
        ),
        None => format!(
            "Carts from here already hold as many items as one shopper may ({}); buy what is in the cart, or sign in to hold more.",
            over.limit
        ),
    };
    let mut extra = serde_json::Map::new();
    extra.insert("limit".into(), over.limit.into());
    if let Some(variant) = over.variant_id {
        extra.insert("variant_id".into(), variant.to_string().into());
    }
    Error::Conflict {
        code: "hold-limit".into(),
        detail,
        extra,
    }
}

impl From<StockError> for Error {
    fn from(e: StockError) -> Self {
        match e {
            StockError::Shortage(s) => shortage_problem(&s),
            StockError::OverLimit(over) => over_limit_problem(&over),
            StockError::Database(e) => e.into(),
        }
    }
}

#[async_trait]
impl InventoryClient for Inventory {
    async fn availability(&self, variants: &[Uuid]) -> Result<HashMap<Uuid, i64>, Error> {
        Ok(store::availability(&self.pool, variants).await?)
    }

    async fn reserve(&self, reservation: Uuid, items: &[StockItem], hold: &Hold) -> Result<(), Error> {
        let ttl = hold
            .ttl_secs
            .map_or_else(|| self.config.reservation_ttl(), std::time::Duration::from_secs);
        let expires_at = chrono::Utc::now() + ttl;
        let reserved = pola_core::db::retry_deadlocks(|| store::reserve(&self.pool, reservation, items, hold, expires_at)).await;
        match reserved {
            Ok(Some(units)) => {
                metrics::histogram!("inventory_units_held_per_holder").record(units as f64);
            }
            Ok(None) => {}
            Err(StockError::OverLimit(over)) => {
                let limit = if over.variant_id.is_some() { "variant" } else { "total" };
                metrics::counter!("inventory_holds_over_limit_total", "limit" => limit).increment(1);
                tracing::info!(reservation.id = %reservation, limit, units = over.would_hold, "hold refused: its holder would hold too much");
                return Err(over_limit_problem(&over));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn release(&self, reservation: Uuid) -> Result<(), Error> {
        pola_core::db::retry_deadlocks(|| store::release(&self.pool, reservation)).await?;
        Ok(())
    }

    async fn commit(&self, order: Uuid, consume: &[Uuid], items: &[StockItem]) -> Result<(), Error> {
        let sale = store::Sale {
            order,
            consume: consume.to_vec(),
            items: items.to_vec(),
        };
        Ok(self.sales.sell(sale).await?)
    }

    async fn return_order(&self, order: Uuid) -> Result<(), Error> {
        pola_core::db::retry_deadlocks(|| store::return_order(&self.pool, order)).await?;
        Ok(())
    }
}

/// Inventory in another process, through its internal API.
pub struct HttpInventory(pub ServiceClient);

/// Body of `POST /internal/v1/inventory/availability`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AvailabilityQuery {
    pub variants: Vec<Uuid>,
}

/// Body of `POST /internal/v1/inventory/reservations/{id}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReserveRequest {
    pub items: Vec<StockItem>,
    #[serde(default)]
    pub hold: Hold,
}

/// Body of `POST /internal/v1/inventory/sales`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SaleRequest {
    pub order: Uuid,
    pub consume: Vec<Uuid>,
    pub items: Vec<StockItem>,
}

#[async_trait]
impl InventoryClient for HttpInventory {
    async fn availability(&self, variants: &[Uuid]) -> Result<HashMap<Uuid, i64>, Error> {
        let query = AvailabilityQuery {
            variants: variants.to_vec(),
        };
        self.0.post("/internal/v1/inventory/availability", &query).await
    }

    async fn reserve(&self, reservation: Uuid, items: &[StockItem], hold: &Hold) -> Result<(), Error> {
        let request = ReserveRequest {
            items: items.to_vec(),
            hold: *hold,
        };
        self.0
            .post(&format!("/internal/v1/inventory/reservations/{reservation}"), &request)
            .await
    }

    async fn release(&self, reservation: Uuid) -> Result<(), Error> {
        self.0
            .post(&format!("/internal/v1/inventory/reservations/{reservation}/release"), &())
            .await
    }

    async fn commit(&self, order: Uuid, consume: &[Uuid], items: &[StockItem]) -> Result<(), Error> {
        let request = SaleRequest {
            order,
            consume: consume.to_vec(),
            items: items.to_vec(),
        };
        self.0.post("/internal/v1/inventory/sales", &request).await
    }

    async fn return_order(&self, order: Uuid) -> Result<(), Error> {
        self.0.post(&format!("/internal/v1/inventory/returns/{order}"), &()).await
    }
}
