//! Personal data held by more than one service: each one that keeps something about a customer
//! contributes its part to the customer's PDPA export.

use async_trait::async_trait;
use uuid::Uuid;

use crate::Error;

/// A service's part of a customer's data export.
#[async_trait]
pub trait PersonalData: Send + Sync {
    /// The section's name in the export (`orders`).
    fn section(&self) -> &'static str;
    /// Everything this service holds about `customer`, opened, as JSON.
    async fn export(&self, customer: Uuid) -> Result<serde_json::Value, Error>;
}
