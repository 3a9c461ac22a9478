//! The worker that keeps the counts current: each order event that can make or undo a purchase
//! makes the order's basket count as what it is now (so that events arriving twice or out of
//! order change nothing).

use std::sync::Arc;

use async_trait::async_trait;
use pola_core::{
    config::RecommendationsConfig,
    events::{
        Envelope,
        consume::{Failure, Handler, Subscription},
    },
};
use pola_orders::client::OrdersClient;
use uuid::Uuid;

use crate::Recommendations;

/// The events that make an order a purchase or undo one.
const EVENTS: [&str; 5] = [
    "order.paid",
    "order.confirmed",
    "order.cancelled",
    "order.refunded",
    "order.returned",
];

/// The worker's queue and what it listens to.
pub fn subscription(config: &RecommendationsConfig) -> Subscription {
    Subscription {
        queue: config.queue.clone(),
        bindings: EVENTS.iter().map(|&e| e.to_owned()).collect(),
    }
}

/// Learns from order events, reading baskets from orders.
pub struct Learner {
    pub recommendations: Arc<Recommendations>,
    pub orders: Arc<dyn OrdersClient>,
}

#[async_trait]
impl Handler for Learner {
    async fn handle(&self, event: &Envelope) -> Result<(), Failure> {
        if !EVENTS.contains(&event.kind.as_str()) {
            return Ok(());
        }
        let order: Uuid = event.data["order_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Failure::Reject(anyhow::anyhow!("{} has no order_id", event.kind)))?;
        let Some(basket) = self.orders.basket(order).await? else {
            return Err(Failure::Reject(anyhow::anyhow!(
                "order {order} of {} does not exist",
                event.id
            )));
        };
        Ok(self.recommendations.learn(&basket).await?)
    }
}
