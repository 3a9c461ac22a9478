//! What a payment gateway does for Pola: sign a hosted checkout, verify its server-to-server
//! notifications, say what it knows about an order's payments, and refund. PayHere is one
//! implementation (`payhere.rs`); another gateway (WebXPay, a bank's IPG) is one more file.

use async_trait::async_trait;
use pola_core::Money;
use uuid::Uuid;

use crate::model::{HostedCheckout, Payer, PaymentStatus};

/// A notification the gateway signed, parsed. Only amounts and ids: what the customer typed
/// (name, card holder, masked card) is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The gateway's id for this payment attempt.
    pub reference: String,
    /// The order id as the checkout sent it (not yet known to exist).
    pub order_ref: String,
    pub status: PaymentStatus,
    /// As the gateway wrote it, and in cents.
    pub amount_text: String,
    pub amount_minor: i64,
    pub currency: String,
    /// Card scheme or wallet, when given.
    pub instrument: Option<String>,
}

/// Why a notification was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a field is missing or malformed: {0}")]
    Malformed(&'static str),
    #[error("it is for another merchant")]
    WrongMerchant,
    #[error("its signature does not verify")]
    BadSignature,
}

/// A payment as the gateway's own records (its retrieval API) show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub reference: String,
    pub status: PaymentStatus,
    pub amount_minor: i64,
    pub currency: String,
    pub instrument: Option<String>,
    /// Refunded at the gateway already (wholly or in part).
    pub refunded: bool,
}

/// Why a call to the gateway failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// Try again later: the gateway did not answer, answered 5xx, or refused our credentials
    /// (which an operator fixes).
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
    /// It answered, and said no for good (already refunded, amount too large, …).
    #[error("the gateway refused: {0}")]
    Refused(String),
    /// This gateway has no API configured: reconciliation and refunds are done by hand.
    #[error("no merchant API is configured")]
    NotConfigured,
}

/// A payment gateway with a hosted checkout.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The method orders paid this way carry.
    fn method(&self) -> crate::model::Method;
    /// The signed form the customer's browser posts to the gateway.
    fn checkout(&self, payer: &Payer) -> HostedCheckout;
    /// A notification's fields, verified; the order, amount and currency are for the caller to
    /// check against the order.
    fn verify(&self, fields: &[(String, String)]) -> Result<Notification, Refusal>;
    /// The gateway's payments for an order.
    async fn lookup(&self, order: Uuid) -> Result<Vec<Found>, GatewayError>;
    /// Refunds `amount` (all of the payment when None) of a payment; the gateway's refund id.
    async fn refund(&self, reference: &str, amount: Option<Money>, reason: &str) -> Result<String, GatewayError>;
}
