//! How other services use promotions. In one process the call is a function call on
//! `Promotions`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pola_core::{Error, client::ServiceClient};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Promotions,
    pricing::{Destination, Item, Priced, Use},
};

/// A basket to price.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PriceRequest {
    /// None for a guest.
    pub customer: Option<Uuid>,
    pub items: Vec<Item>,
    /// As typed.
    pub codes: Vec<String>,
    pub destination: Option<Destination>,
    /// Now, unless given.
    pub at: Option<DateTime<Utc>>,
}

/// Promotions as other services see them.
#[async_trait]
pub trait PromotionsClient: Send + Sync {
    /// The price of a basket and why (see `pricing`).
    async fn price(&self, request: &PriceRequest) -> Result<Priced, Error>;
    /// Each item priced as a basket of its own, now and without codes (a product page's prices
    /// of its variants), in the items' order.
    async fn price_alone(&self, customer: Option<Uuid>, items: &[Item]) -> Result<Vec<Priced>, Error>;
    /// Records an order's uses, exactly within every limit; idempotent per order. A use past a
    /// limit is a 409 `promotion-unavailable` problem whose `code` member names the code.
    async fn redeem(&self, order: Uuid, customer: Uuid, uses: &[Use]) -> Result<(), Error>;
    /// Gives back an order's uses (and any membership it bought); idempotent.
    async fn release(&self, order: Uuid) -> Result<(), Error>;
    /// Starts the memberships a paid order bought; idempotent.
    async fn order_paid(&self, order: Uuid, customer: Uuid, variants: &[(Uuid, u32)]) -> Result<(), Error>;
}

#[async_trait]
impl PromotionsClient for Promotions {
    async fn price(&self, request: &PriceRequest) -> Result<Priced, Error> {
        Promotions::price(self, request).await
    }

    async fn price_alone(&self, customer: Option<Uuid>, items: &[Item]) -> Result<Vec<Priced>, Error> {
        Promotions::price_alone(self, customer, items).await
    }

    async fn redeem(&self, order: Uuid, customer: Uuid, uses: &[Use]) -> Result<(), Error> {
        Promotions::redeem(self, order, customer, uses).await
    }

    async fn release(&self, order: Uuid) -> Result<(), Error> {
        Promotions::release(self, order).await
    }

    async fn order_paid(&self, order: Uuid, customer: Uuid, variants: &[(Uuid, u32)]) -> Result<(), Error> {
        Promotions::order_paid(self, order, customer, variants).await
    }
}

/// Promotions in another process.
pub struct HttpPromotions(pub ServiceClient);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceAloneRequest {
    pub customer: Option<Uuid>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedeemRequest {
    pub order: Uuid,
    pub customer: Uuid,
    pub uses: Vec<Use>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRef {
    pub order: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaidRequest {
    pub order: Uuid,
    pub customer: Uuid,
    pub variants: Vec<(Uuid, u32)>,
}

#[async_trait]
impl PromotionsClient for HttpPromotions {
    async fn price(&self, request: &PriceRequest) -> Result<Priced, Error> {
        self.0.post("/internal/v1/promotions/price", request).await
    }

    async fn price_alone(&self, customer: Option<Uuid>, items: &[Item]) -> Result<Vec<Priced>, Error> {
        let request = PriceAloneRequest {
            customer,
            items: items.to_vec(),
        };
        self.0.post("/internal/v1/promotions/price-alone", &request).await
    }

    async fn redeem(&self, order: Uuid, customer: Uuid, uses: &[Use]) -> Result<(), Error> {
        let request = RedeemRequest {
            order,
            customer,
            uses: uses.to_vec(),
        };
        self.0.post("/internal/v1/promotions/redeem", &request).await
    }

    async fn release(&self, order: Uuid) -> Result<(), Error> {
        self.0.post("/internal/v1/promotions/release", &OrderRef { order }).await
    }

    async fn order_paid(&self, order: Uuid, customer: Uuid, variants: &[(Uuid, u32)]) -> Result<(), Error> {
        let request = PaidRequest {
            order,
            customer,
            variants: variants.to_vec(),
        };
        self.0.post("/internal/v1/promotions/paid", &request).await
    }
}
