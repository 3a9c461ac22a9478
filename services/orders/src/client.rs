//! How other services use orders: identity asks for a customer's part of their data export;
//! payments reads the orders it is paid for and moves them along (paid, confirmed, packed,
//! shipped, …). In one process the call is a function call on `Orders`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pola_core::{Error, client::ServiceClient, personal::PersonalData};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Orders, Viewer,
    model::{self, Basket, Moved, Order, OrderBrief, OrderStatus, Shipment},
};
pub use pola_contracts::orders::{BriefQuery, HttpOrderBriefs, OrderBriefs};

/// An order with the customer it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnedOrder {
    pub customer: Uuid,
    pub order: Order,
}

/// Orders as other services see them.
#[async_trait]
pub trait OrdersClient: Send + Sync {
    /// The order and its customer, its delivery address opened for `viewer`.
    async fn order(&self, id: Uuid, viewer: Viewer) -> Result<Option<OwnedOrder>, Error>;
    /// Moves the order to `to` if that is legal (only `customer`'s, when given); a move to
    /// where it is already answers `Already`. Returns the stock when the goods never left or
    /// came back. 404 when there is no such order.
    async fn advance(&self, change: MoveOrder) -> Result<Moved, Error>;
    /// Unpaid orders placed before `before`, oldest first after `after` (a page at a time).
    async fn unpaid_before(&self, before: DateTime<Utc>, after: Option<Uuid>, limit: u32) -> Result<Vec<Uuid>, Error>;
    /// How many of the customer's orders could not be delivered at least once.
    async fn failed_deliveries(&self, customer: Uuid) -> Result<i64, Error>;
    /// Purchases (paid, or accepted for cash on delivery, and not undone), oldest first after
    /// `after`, a page at a time: what "customers also bought" learns from.
    async fn purchases(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Basket>, Error>;
    /// How many orders are purchases.
    async fn count_purchases(&self) -> Result<u64, Error>;
    /// One order's basket, whatever its status; None when there is no such order.
    async fn basket(&self, id: Uuid) -> Result<Option<Basket>, Error>;
}

/// One move of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveOrder {
    pub id: Uuid,
    /// Only this customer's order (a customer's own request); None for staff and Pola itself.
    pub customer: Option<Uuid>,
    pub to: OrderStatus,
    /// `customer`, `staff:<id>` or `system:<what>`, as the order's history shows it.
    pub actor: String,
    /// How it travels, when it ships.
    pub shipment: Option<Shipment>,
}

#[async_trait]
impl OrdersClient for Arc<Orders> {
    async fn order(&self, id: Uuid, viewer: Viewer) -> Result<Option<OwnedOrder>, Error> {
        Orders::order(self, id, viewer).await
    }

    async fn advance(&self, m: MoveOrder) -> Result<Moved, Error> {
        Orders::advance(self, m.id, m.customer, m.to, m.actor, m.shipment).await
    }

    async fn unpaid_before(&self, before: DateTime<Utc>, after: Option<Uuid>, limit: u32) -> Result<Vec<Uuid>, Error> {
        Orders::unpaid_before(self, before, after, limit).await
    }

    async fn failed_deliveries(&self, customer: Uuid) -> Result<i64, Error> {
        Orders::failed_deliveries(self, customer).await
    }

    async fn purchases(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Basket>, Error> {
        Ok(crate::store::purchases(self.pool(), after, limit).await?)
    }

    async fn count_purchases(&self) -> Result<u64, Error> {
        let count = crate::store::count_purchases(self.pool()).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn basket(&self, id: Uuid) -> Result<Option<Basket>, Error> {
        Ok(crate::store::basket(self.pool(), id).await?)
    }
}

#[async_trait]
impl OrderBriefs for Orders {
    async fn brief(&self, id: Uuid) -> Result<Option<OrderBrief>, Error> {
        let owned = self.order(id, Viewer::Customer).await?;
        Ok(owned.map(|owned| model::brief(owned.customer, &owned.order)))
    }
}

/// Orders in another process, through its internal API.
pub struct HttpOrders(pub ServiceClient);

/// Body of the internal personal-data call.
#[derive(Debug, Serialize, Deserialize)]
pub struct PersonalDataQuery {
    pub customer: Uuid,
}

/// Body of the internal order call.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderQuery {
    pub id: Uuid,
    pub viewer: Viewer,
}

/// Body of the internal unpaid-orders call.
#[derive(Debug, Serialize, Deserialize)]
pub struct UnpaidQuery {
    pub before: DateTime<Utc>,
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// Body of the internal purchases call.
#[derive(Debug, Serialize, Deserialize)]
pub struct PurchasesQuery {
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// Body of the internal basket call.
#[derive(Debug, Serialize, Deserialize)]
pub struct BasketQuery {
    pub id: Uuid,
}

/// Body of the internal failed-deliveries call.
#[derive(Debug, Serialize, Deserialize)]
pub struct FailedDeliveriesQuery {
    pub customer: Uuid,
}

#[async_trait]
impl PersonalData for HttpOrders {
    fn section(&self) -> &'static str {
        "orders"
    }

    async fn export(&self, customer: Uuid) -> Result<serde_json::Value, Error> {
        self.0
            .post("/internal/v1/orders/personal-data", &PersonalDataQuery { customer })
            .await
    }
}

#[async_trait]
impl OrdersClient for HttpOrders {
    async fn order(&self, id: Uuid, viewer: Viewer) -> Result<Option<OwnedOrder>, Error> {
        self.0.post("/internal/v1/orders/order", &OrderQuery { id, viewer }).await
    }

    async fn advance(&self, change: MoveOrder) -> Result<Moved, Error> {
        self.0.post("/internal/v1/orders/move", &change).await
    }

    async fn unpaid_before(&self, before: DateTime<Utc>, after: Option<Uuid>, limit: u32) -> Result<Vec<Uuid>, Error> {
        self.0
            .post("/internal/v1/orders/unpaid", &UnpaidQuery { before, after, limit })
            .await
    }

    async fn failed_deliveries(&self, customer: Uuid) -> Result<i64, Error> {
        self.0
            .post("/internal/v1/orders/failed-deliveries", &FailedDeliveriesQuery { customer })
            .await
    }

    async fn purchases(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Basket>, Error> {
        self.0
            .post("/internal/v1/orders/purchases", &PurchasesQuery { after, limit })
            .await
    }

    async fn count_purchases(&self) -> Result<u64, Error> {
        self.0
            .post("/internal/v1/orders/purchases/count", &serde_json::json!({}))
            .await
    }

    async fn basket(&self, id: Uuid) -> Result<Option<Basket>, Error> {
        self.0.post("/internal/v1/orders/basket", &BasketQuery { id }).await
    }
}
