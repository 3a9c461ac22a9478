//! Events: every change a customer or staff member cares about, as a versioned JSON envelope
//! carrying ids (never personal data).
//!
//! A service records an event in its own `outbox` table in the same transaction as the change
//! ([`record`]), so an event exists exactly when its change does. The [`relay`] publishes the
//! outbox to a RabbitMQ topic exchange (routing key: the event type) with publisher confirms,
//! and marks rows sent only once the broker has confirmed them. [`consume`] runs a handler for
//! each delivery with manual acknowledgements, an `inbox` so that a redelivered event is handled
//! once, retries through delay queues, and a parking queue for what keeps failing ([`parking`]).
//!
//! Delivery is at least once from the outbox to the broker (a relay that stops between publish
//! and mark publishes again), and exactly once into a consumer's handler thanks to its inbox.

pub mod broker;
pub mod consume;
pub mod follow;
pub mod parking;
pub mod relay;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{MySqlConnection, migrate::Migrator};
use uuid::Uuid;

/// What travels: one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Envelope {
    pub id: Uuid,
    /// `order.placed`, `customer.registered`, …: also the routing key.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    /// The version of `data`'s shape for this type; a consumer refuses versions it does not
    /// know.
    pub version: u16,
    #[sqlx(json)]
    pub data: serde_json::Value,
}

/// An event a service records. Its fields are ids, statuses and amounts: consumers fetch
/// anything personal when they need it, from the service that keeps it sealed.
pub trait Event: Serialize {
    /// The routing key: `<entity>.<what happened>`.
    fn kind(&self) -> &'static str;
    /// The version of this type's data.
    fn version(&self) -> u16 {
        1
    }
}

/// The outbox and inbox tables, in every service's database (their own migration history, so
/// that they live beside each service's).
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!("./migrations/events");
    migrator.dangerous_set_table_name("_pola_events_migrations");
    migrator
});

/// Waits `duration`, or less if told to stop; true when it is time to stop: asked to, or the one
/// who could ask is gone.
pub async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, duration: std::time::Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// Writes `event` to the outbox on `conn`, which should be the transaction making the change.
pub async fn record(conn: &mut MySqlConnection, event: &impl Event) -> sqlx::Result<Uuid> {
    let id = crate::new_id();
    let data = serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO outbox (id, type, version, occurred_at, data) VALUES (?, ?, ?, ?, ?)")
        .bind(id)
        .bind(event.kind())
        .bind(event.version())
        .bind(Utc::now())
        .bind(sqlx::types::Json(data))
        .execute(conn)
        .await?;
    Ok(id)
}
