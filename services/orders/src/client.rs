//! How other services use orders: identity asks for a customer's part of their data export.

use async_trait::async_trait;
use pola_core::{Error, client::ServiceClient, personal::PersonalData};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Orders in another process, through its internal API.
pub struct HttpOrders(pub ServiceClient);

/// Body of the internal personal-data call.
#[derive(Debug, Serialize, Deserialize)]
pub struct PersonalDataQuery {
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
