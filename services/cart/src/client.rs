//! How other services use the cart.

use async_trait::async_trait;
use pola_core::{Error, client::ServiceClient};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Cart, store};

/// A cart line as checkout takes it. `line_id` is also the id of the reservation holding its stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutLine {
    pub line_id: Uuid,
    pub variant_id: Uuid,
    pub quantity: u32,
}

/// What checkout takes from a cart: its lines and its promotion codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutCart {
    pub lines: Vec<CheckoutLine>,
    pub codes: Vec<String>,
}

/// The cart as orders sees it.
#[async_trait]
pub trait CartClient: Send + Sync {
    /// The customer's cart lines and codes (none if they have no cart).
    async fn checkout_lines(&self, customer: Uuid) -> Result<CheckoutCart, Error>;
    /// Removes lines that became an order; their reservations were used up by the sale.
    async fn remove_checked_out(&self, customer: Uuid, lines: &[Uuid]) -> Result<(), Error>;
}

#[async_trait]
impl CartClient for Cart {
    async fn checkout_lines(&self, customer: Uuid) -> Result<CheckoutCart, Error> {
        let Some(cart) = store::find_customer_cart(&self.pool, customer).await? else {
            return Ok(CheckoutCart::default());
        };
        let lines = store::lines(&self.pool, cart)
            .await?
            .into_iter()
            .map(|l| CheckoutLine {
                line_id: l.id,
                variant_id: l.variant_id,
                quantity: l.quantity,
            })
            .collect();
        Ok(CheckoutCart {
            lines,
            codes: store::codes(&self.pool, cart).await?,
        })
    }

    async fn remove_checked_out(&self, customer: Uuid, lines: &[Uuid]) -> Result<(), Error> {
        let Some(cart) = store::find_customer_cart(&self.pool, customer).await? else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await?;
        store::lock_cart(&mut tx, cart).await?;
        store::delete_lines(&mut tx, cart, lines).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The cart in another process, through its internal API.
pub struct HttpCart(pub ServiceClient);

/// Body of the internal cart calls.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckoutQuery {
    pub customer: Uuid,
    #[serde(default)]
    pub lines: Vec<Uuid>,
}

#[async_trait]
impl CartClient for HttpCart {
    async fn checkout_lines(&self, customer: Uuid) -> Result<CheckoutCart, Error> {
        let query = CheckoutQuery { customer, lines: vec![] };
        self.0.post("/internal/v1/cart/checkout-lines", &query).await
    }

    async fn remove_checked_out(&self, customer: Uuid, lines: &[Uuid]) -> Result<(), Error> {
        let query = CheckoutQuery {
            customer,
            lines: lines.to_vec(),
        };
        self.0.post("/internal/v1/cart/checked-out", &query).await
    }
}
