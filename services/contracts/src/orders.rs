//! Orders as a message about one tells them: the notification worker writes "your order
//! 1A2B3C4D of Rs. 4,250.00, two items, to Kandy, with Koombiyo" from an [`OrderBrief`], which
//! orders works out from the order (the same rules in one process or over HTTP).

use async_trait::async_trait;
use pola_core::{Error, client::ServiceClient};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How customers, staff and messages name an order: the last eight hex digits of its id, upper
/// case. (Its first ones are a timestamp, the same for every order of the same minute.)
pub fn order_number(id: Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_uppercase()
}

/// How a shipped order travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"courier": "koombiyo", "waybill": "KB10023456", "tracking_url": "https://koombiyodelivery.lk/Track/track_id?id=KB10023456"}))]
pub struct Shipment {
    /// The courier's code in Pola's configuration (`koombiyo`, `domex`, …).
    pub courier: String,
    /// The courier's number for the parcel.
    pub waybill: String,
    /// Where the customer follows the parcel, when the courier has such a page.
    pub tracking_url: Option<String>,
}

/// An order as its customer is told about it: amounts in minor units (rupee cents), and of the
/// delivery address only the city.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBrief {
    pub id: Uuid,
    pub customer: Uuid,
    pub total_minor: i64,
    /// What promotions took off, free delivery aside (that shows on the delivery line); 0 or less.
    pub savings_minor: i64,
    /// The delivery fee before a free-delivery promotion waived it.
    pub delivery_minor: i64,
    pub vat_minor: Option<i64>,
    pub items: Vec<BriefItem>,
    pub city: Option<String>,
    pub shipment: Option<Shipment>,
    /// Accepted for cash on delivery (now or earlier in its life).
    pub cash_on_delivery: bool,
}

/// A line of an [`OrderBrief`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BriefItem {
    pub title: String,
    pub quantity: u32,
}

/// Orders as the notification worker sees them.
#[async_trait]
pub trait OrderBriefs: Send + Sync {
    /// The order in brief, None when there is no such order.
    async fn brief(&self, id: Uuid) -> Result<Option<OrderBrief>, Error>;
}

/// Orders in another process, through its internal API.
pub struct HttpOrderBriefs(pub ServiceClient);

/// Body of the internal brief call.
#[derive(Debug, Serialize, Deserialize)]
pub struct BriefQuery {
    pub id: Uuid,
}

#[async_trait]
impl OrderBriefs for HttpOrderBriefs {
    async fn brief(&self, id: Uuid) -> Result<Option<OrderBrief>, Error> {
        self.0.post("/internal/v1/orders/brief", &BriefQuery { id }).await
    }
}
