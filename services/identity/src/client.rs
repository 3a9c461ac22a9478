//! How other services use identity: payments asks for the name, email and phone the payment
//! gateway's checkout wants; the notification worker for whom to write to, and the secret of a
//! password reset it sends. In one process the call is a function call on `Identity`.

use async_trait::async_trait;
use pola_core::{Error, client::ServiceClient};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Identity, model::Contact, reset::ResetSecret};

/// Identity as other services see it.
#[async_trait]
pub trait IdentityClient: Send + Sync {
    /// The customer's name, email, phone and preferences, opened now; None once erased.
    async fn contact(&self, customer: Uuid) -> Result<Option<Contact>, Error>;
    /// The secret of the customer's password reset `reset` to send them; None once it was used
    /// or expired.
    async fn reset_secret(&self, customer: Uuid, reset: Uuid) -> Result<Option<ResetSecret>, Error>;
}

#[async_trait]
impl IdentityClient for Identity {
    async fn contact(&self, customer: Uuid) -> Result<Option<Contact>, Error> {
        Identity::contact(self, customer).await
    }

    async fn reset_secret(&self, customer: Uuid, reset: Uuid) -> Result<Option<ResetSecret>, Error> {
        Identity::reset_secret(self, customer, reset).await
    }
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
