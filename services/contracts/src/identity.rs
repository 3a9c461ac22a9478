//! Identity as other services see it: payments asks for the name, email and phone the payment
//! gateway's checkout wants; the notification worker for whom to write to, and the secret of a
//! password reset it sends.

use async_trait::async_trait;
use chrono::Duration;
use pola_core::{Error, client::ServiceClient, language::Language};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How long a password reset's link or code works (identity refuses it after; messages say so).
pub const RESET_LIFETIME: Duration = Duration::minutes(15);

/// How a customer wants to hear from the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[sqlx(try_from = "String")]
    pub language: Language,
    /// Order news by email.
    #[sqlx(rename = "notify_email")]
    pub email: bool,
    /// Order news by SMS (to the phone on the account).
    #[sqlx(rename = "notify_sms")]
    pub sms: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            language: Language::En,
            email: true,
            sms: true,
        }
    }
}

/// What a notification needs to reach a customer, opened at the time of sending.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contact {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// E.164 (`+94771234567`).
    pub phone: Option<String>,
    pub preferences: Preferences,
}

/// The secret of a password reset, for the notification worker to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "secret")]
pub enum ResetSecret {
    /// The token of the link, for email.
    Link(String),
    /// The six digits, for SMS.
    Code(String),
}

/// Identity as other services see it.
#[async_trait]
pub trait IdentityClient: Send + Sync {
    /// The customer's name, email, phone and preferences, opened now; None once erased.
    async fn contact(&self, customer: Uuid) -> Result<Option<Contact>, Error>;
    /// The secret of the customer's password reset `reset` to send them; None once it was used
    /// or expired.
    async fn reset_secret(&self, customer: Uuid, reset: Uuid) -> Result<Option<ResetSecret>, Error>;
}

/// Identity in another process, through its internal API.
pub struct HttpIdentity(pub ServiceClient);

/// Body of the internal contact call.
#[derive(Debug, Serialize, Deserialize)]
pub struct ContactQuery {
    pub customer: Uuid,
}

/// Body of the internal reset-secret call.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResetQuery {
    pub customer: Uuid,
    pub reset: Uuid,
}

#[async_trait]
impl IdentityClient for HttpIdentity {
    async fn contact(&self, customer: Uuid) -> Result<Option<Contact>, Error> {
        self.0.post("/internal/v1/identity/contact", &ContactQuery { customer }).await
    }

    async fn reset_secret(&self, customer: Uuid, reset: Uuid) -> Result<Option<ResetSecret>, Error> {
        let query = ResetQuery { customer, reset };
        self.0.post("/internal/v1/identity/reset-secret", &query).await
    }
}
