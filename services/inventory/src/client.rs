//! How other services use inventory. In one process the call is a function call on `Inventory`.

use std::collections::HashMap;

use async_trait::async_trait;
use pola_core::{Error, client::ServiceClient};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Inventory,
    model::{Shortage, StockItem},
    store::{self, StockError},
};

/// Inventory as other services see it. A shortage is a 409 `out-of-stock` problem whose
/// `shortages` member lists `{variant_id, requested, available}`.
#[async_trait]
pub trait InventoryClient: Send + Sync {
    /// Units available now per variant; variants with no stock are absent.
    async fn availability(&self, variants: &[Uuid]) -> Result<HashMap<Uuid, i64>, Error>;
    /// Makes `reservation` hold exactly `items` for the configured time.
    async fn reserve(&self, reservation: Uuid, items: &[StockItem]) -> Result<(), Error>;
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

impl From<StockError> for Error {
    fn from(e: StockError) -> Self {
        match e {
            StockError::Shortage(s) => shortage_problem(&s),
            StockError::Database(e) => e.into(),
        }
    }
}

#[async_trait]
impl InventoryClient for Inventory {
    async fn availability(&self, variants: &[Uuid]) -> Result<HashMap<Uuid, i64>, Error> {
        Ok(store::availability(&self.pool, variants).await?)
    }

    async fn reserve(&self, reservation: Uuid, items: &[StockItem]) -> Result<(), Error> {
        let expires_at = chrono::Utc::now() + self.config.reservation_ttl();
        pola_core::db::retry_deadlocks(|| store::reserve(&self.pool, reservation, items, expires_at)).await?;
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

    async fn reserve(&self, reservation: Uuid, items: &[StockItem]) -> Result<(), Error> {
        let request = ReserveRequest { items: items.to_vec() };
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
