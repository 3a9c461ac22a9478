//! How other services use identity: the trait and its HTTP implementation are in
//! `pola-contracts` (callers depend on that, not on identity); in one process the call is a
//! function call on `Identity`.

use async_trait::async_trait;
pub use pola_contracts::identity::{ContactQuery, HttpIdentity, IdentityClient, ResetQuery};
use pola_core::Error;
use uuid::Uuid;

use crate::{Identity, model::Contact, reset::ResetSecret};

#[async_trait]
impl IdentityClient for Identity {
    async fn contact(&self, customer: Uuid) -> Result<Option<Contact>, Error> {
        Identity::contact(self, customer).await
    }

    async fn reset_secret(&self, customer: Uuid, reset: Uuid) -> Result<Option<ResetSecret>, Error> {
        Identity::reset_secret(self, customer, reset).await
    }
}
