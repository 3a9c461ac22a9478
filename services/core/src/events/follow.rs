//! Following events in one process's memory (a cache that clears what an event changed).
//!
//! Unlike a consumer, a follower has no durable queue, no inbox and no retries: each process
//! declares a queue of its own (exclusive, deleted when the process disconnects), bound to the
//! types it wants, and takes deliveries without acknowledging them. What happens while it is
//! not connected is never told, so the follower hears [`Follower::gap`] each time it (re)joins
//! and starts over from what it can read itself.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use lapin::{
    options::{BasicConsumeOptions, QueueDeclareOptions},
    types::{FieldTable, ShortString},
};
use tokio::sync::watch;

use super::{Envelope, broker};
use crate::config::EventsConfig;

/// What a process does with the events it follows.
pub trait Follower: Send + Sync + 'static {
    /// One event, as soon as the broker delivers it (delivered at most once).
    fn event(&self, event: &Envelope);
    /// Events may have been missed (the process was not connected): forget what they would
    /// have changed.
    fn gap(&self);
}

/// Tells `follower` of the events whose types match `bindings` until `stop`, joining again after
/// a broker outage (with [`Follower::gap`] each time).
pub async fn run(
    config: EventsConfig,
    name: &'static str,
    bindings: Vec<String>,
    follower: Arc<dyn Follower>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    while !*stop.borrow() {
        match follow(&config, name, &bindings, follower.as_ref(), &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                // A gap from here on: clear now rather than when the broker is back.
                follower.gap();
                tracing::warn!(follower = name, error = %format!("{e:#}"), retry_in_ms = backoff.as_millis(), "not following events; joining again");
                if super::pause(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn follow(
    config: &EventsConfig,
    name: &str,
    bindings: &[String],
    follower: &dyn Follower,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (connection, channel) = broker::connect(config, &format!("pola follower {name}")).await?;
    let own = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = broker::within(
        "declaring a queue",
        channel.queue_declare(ShortString::from(""), own, FieldTable::default()),
    )
    .await?;
    broker::within("binding", broker::bind(&channel, config, queue.name().as_str(), bindings)).await?;
    let consuming = channel.basic_consume(
        queue.name().clone(),
        ShortString::from(""),
        BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        },
        FieldTable::default(),
    );
    let mut deliveries = broker::within("starting to consume", consuming).await?;
    // Bound and consuming: from here nothing is missed, and what came before may have been.
    follower.gap();
    tracing::info!(follower = name, bindings = ?bindings, "following events");
    let result = loop {
        tokio::select! {
            delivery = deliveries.next() => match delivery {
                Some(Ok(delivery)) => match serde_json::from_slice::<Envelope>(&delivery.data) {
                    Ok(event) => follower.event(&event),
                    Err(e) => tracing::warn!(follower = name, error = %e, "an event that does not read; ignored"),
                },
                Some(Err(e)) => break Err(e.into()),
                None => break Err(anyhow::anyhow!("the broker closed the follower's queue")),
            },
            _ = stop.changed() => break Ok(()),
        }
    };
    broker::close(&connection, "stopping").await;
    result
}
