//! Orders as staff find and work them.

use chrono::{DateTime, Utc};
use pola_core::Money;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{DeliveryAddress, Order, OrderStatus};

/// A line of the staff's order list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct StaffOrderSummary {
    pub id: Uuid,
    /// What customers and couriers call it (`8F3A21C0`).
    pub number: String,
    pub customer_id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    #[sqlx(rename = "total_minor", try_from = "i64")]
    pub total: Money,
    pub item_count: i64,
    /// Where it goes (the district only).
    pub district: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/orders/staff/orders`: every field narrows the list; newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffOrderQuery {
    /// The order number (`8F3A21C0`), any case.
    pub number: Option<String>,
    /// Only these customers' orders (ids, comma-separated; staff find them by email, phone or
    /// NIC through identity's customer search).
    pub customers: Option<String>,
    /// Only these orders (ids, comma-separated, at most 100: the back-office finds an order's
    /// payment method through payments and narrows by it).
    pub orders: Option<String>,
    /// Only orders in these states (comma-separated: `paid,confirmed`).
    pub status: Option<String>,
    /// Only orders to this district.
    pub district: Option<String>,
    /// Placed at or after.
    pub since: Option<DateTime<Utc>>,
    /// Placed before.
    pub until: Option<DateTime<Utc>>,
}

/// An order as staff see it: the delivery address masked, its customer named by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffOrder {
    pub number: String,
    pub customer_id: Uuid,
    #[serde(flatten)]
    pub order: Order,
}

/// `POST …/address`: why the full address is needed (packing, a courier's call).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevealAddress {
    pub reason: String,
}

/// The full delivery address, revealed for a recorded reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevealedAddress {
    pub delivery: DeliveryAddress,
}

/// What the dashboard counts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrdersAtAGlance {
    /// Orders placed since Colombo's midnight (not cancelled, not waiting for payment).
    pub orders_today: i64,
    /// Their total.
    pub revenue_today: Money,
    /// Waiting for a payment (PayHere, bank transfer).
    pub awaiting_payment: i64,
    /// Paid or confirmed (cash on delivery): to pick and pack.
    pub to_pack: i64,
    /// Packed, waiting for the courier.
    pub to_ship: i64,
    /// With the courier.
    pub shipped: i64,
    /// The courier could not deliver.
    pub delivery_failed: i64,
}
