//! Consumers: a handler per delivery, acknowledged only after its work is done.
//!
//! Each delivery is claimed in the consumer's `inbox` first: an event already done is
//! acknowledged and skipped (a redelivery after a broker restart, or the relay publishing twice);
//! one being worked on elsewhere waits for a retry. A handler's failure goes to the next delay
//! queue (`events.retry_delays_ms`) with its attempt count, and after the last one — or at once,
//! if the handler says retrying cannot help — to the parking queue, where
//! `pola events dlq` shows and replays it.
//!
//! Deliveries are handled side by side up to the prefetch, except those of one order (or one
//! customer), which are handled one at a time in the order they arrived (a retry can still put
//! an event behind a later one of the same order).

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use chrono::Utc;
use futures_util::StreamExt;
use lapin::{
    Channel,
    message::Delivery,
    options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions},
    types::{AMQPValue, FieldTable, LongString, ShortString},
};
use sqlx::MySqlPool;
use tokio::{sync::watch, task::JoinSet};
use uuid::Uuid;

use super::{Envelope, broker};
use crate::config::EventsConfig;

/// Why a handler could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Worth trying again later (a mail server down, a timeout).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Trying again cannot help (an event this consumer cannot read): parked at once.
    #[error("{0:#}")]
    Reject(anyhow::Error),
    /// Passes by itself (a database switching roles, a service briefly away): retried with
    /// back-off for as long as it lasts, and never parked.
    #[error("{0:#}")]
    Transient(anyhow::Error),
}

/// A service's error, as a consumer sees it: transient ones wait it out, an unexpected one is
/// retried (and parked if it persists), and a refusal (bad data, a 4xx) is parked at once.
impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        match e {
            e if e.is_transient() => Failure::Transient(anyhow::anyhow!("{e}")),
            crate::Error::Internal(e) => Failure::Retry(e),
            e => Failure::Reject(anyhow::anyhow!("{e}")),
        }
    }
}

/// A database error, as a consumer sees it: transient when the database is switching or away.
impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::from(crate::Error::from(e))
    }
}

/// A transient failure waits at most this long between tries: a site switch takes seconds.
const TRANSIENT_MAX_DELAY_MS: u64 = 10_000;

/// What a consumer does with each event.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, event: &Envelope) -> Result<(), Failure>;
}

/// A consumer's queue and the event types it wants (`order.*`, `customer.registered`, …).
#[derive(Debug, Clone)]
pub struct Subscription {
    pub queue: String,
    pub bindings: Vec<String>,
}

/// What orders a delivery among the others: its order, else its customer, else itself.
fn partition(delivery: &Delivery) -> String {
    #[derive(serde::Deserialize)]
    struct Keys {
        order_id: Option<String>,
        customer_id: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Partial {
        data: Keys,
    }
    match serde_json::from_slice::<Partial>(&delivery.data) {
        Ok(Partial {
            data: Keys {
                order_id: Some(order), ..
            },
        }) => order,
        Ok(Partial {
            data: Keys {
                customer_id: Some(customer),
                ..
            },
        }) => customer,
        _ => format!("delivery-{}", delivery.delivery_tag),
    }
}

/// A claim older than this is taken over: its worker died.
const CLAIM_LEASE: Duration = Duration::from_secs(120);

/// Declares the subscription's queues and bindings now, so that events published from here on
/// wait for the consumer even if it has not started yet.
pub async fn declare(config: &EventsConfig, subscription: &Subscription) -> anyhow::Result<()> {
    let (connection, channel) = broker::connect(config, &format!("pola declare {}", subscription.queue)).await?;
    broker::within(
        "declaring queues",
        broker::declare_queue(&channel, config, &subscription.queue, &subscription.bindings),
    )
    .await?;
    broker::close(&connection, "declared").await;
    Ok(())
}

/// Runs `handler` on `subscription` until `stop`, reconnecting after a broker outage. The inbox
/// is in `inbox`'s database.
pub async fn run(
    config: EventsConfig,
    subscription: Subscription,
    inbox: MySqlPool,
    handler: Arc<dyn Handler>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    while !*stop.borrow() {
        if !until_writable(&inbox, &subscription.queue, &mut stop).await {
            return;
        }
        let consumer = Consumer {
            config: config.clone(),
            subscription: subscription.clone(),
            inbox: inbox.clone(),
            handler: handler.clone(),
        };
        match consumer.consume(&mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(queue = %subscription.queue, error = %format!("{e:#}"), retry_in_ms = backoff.as_millis(), "consumer stopped; starting again");
                if super::pause(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Waits until the inbox's database takes writes (a replica's cannot record claims: its
/// site's workers leave the queue to the primary site's). False when stopped first.
async fn until_writable(inbox: &MySqlPool, queue: &str, stop: &mut watch::Receiver<bool>) -> bool {
    let mut logged = false;
    loop {
        match super::relay::writable(inbox).await {
            Ok(true) => return true,
            Ok(false) if !logged => tracing::info!(
                queue,
                "the inbox database is a read-only replica: waiting for it to become primary"
            ),
            Err(e) if !logged => tracing::warn!(queue, error = %e, "the inbox database is unreachable: waiting for it"),
            _ => {}
        }
        logged = true;
        if super::pause(stop, Duration::from_secs(1)).await {
            return false;
        }
    }
}

#[derive(Clone)]
struct Consumer {
    config: EventsConfig,
    subscription: Subscription,
    inbox: MySqlPool,
    handler: Arc<dyn Handler>,
}

/// What became of one delivery.
enum Outcome {
    Done,
    Duplicate,
    Retried,
    Parked,
}

impl Consumer {
    async fn consume(&self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        let queue = &self.subscription.queue;
        let (connection, channel) = broker::connect(&self.config, &format!("pola consumer {queue}")).await?;
        broker::within(
            "declaring queues",
            broker::declare_queue(&channel, &self.config, queue, &self.subscription.bindings),
        )
        .await?;
        broker::within(
            "setting the prefetch",
            channel.basic_qos(self.config.prefetch, BasicQosOptions::default()),
        )
        .await?;
        let consuming = channel.basic_consume(
            ShortString::from(queue.as_str()),
            ShortString::from(""),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        let mut deliveries = broker::within("starting to consume", consuming).await?;
        tracing::info!(queue = %queue, prefetch = self.config.prefetch, "consuming events");
        // Deliveries run side by side, except those of one order (or customer): those run one
        // after another, in the order they came, so that "shipped" never overtakes "packed".
        let mut working = JoinSet::new();
        let mut waiting: HashMap<String, VecDeque<Delivery>> = HashMap::new();
        let result = loop {
            tokio::select! {
                delivery = deliveries.next() => match delivery {
                    Some(Ok(delivery)) => {
                        let key = partition(&delivery);
                        match waiting.get_mut(&key) {
                            Some(queue) => queue.push_back(delivery),
                            None => {
                                waiting.insert(key.clone(), VecDeque::new());
                                self.spawn(&mut working, &channel, key, delivery);
                            }
                        }
                    }
                    Some(Err(e)) => break Err(e.into()),
                    None => break Err(anyhow::anyhow!("the broker closed the consumer")),
                },
                Some(done) = working.join_next(), if !working.is_empty() => {
                    let Ok((key, settled)) = done else { continue };
                    if let Err(e) = settled {
                        // Its database or the broker failed: start again (the broker redelivers
                        // what was not acknowledged) once the inbox takes writes.
                        break Err(e.context("a delivery could not be settled; the broker will redeliver it"));
                    }
                    match waiting.get_mut(&key).and_then(VecDeque::pop_front) {
                        Some(next) => self.spawn(&mut working, &channel, key, next),
                        None => drop(waiting.remove(&key)),
                    }
                }
                _ = stop.changed() => break Ok(()),
            }
        };
        // Work in hand finishes (and is acknowledged) before the connection goes.
        while working.join_next().await.is_some() {}
        broker::close(&connection, "stopping").await;
        result
    }

    fn spawn(&self, working: &mut JoinSet<(String, anyhow::Result<()>)>, channel: &Channel, key: String, delivery: Delivery) {
        let (this, channel) = (self.clone(), channel.clone());
        working.spawn(async move { (key, this.deliver(&channel, delivery).await) });
    }

    /// Handles one delivery and settles it with the broker.
    async fn deliver(&self, channel: &Channel, delivery: Delivery) -> anyhow::Result<()> {
        let outcome = self.outcome(channel, &delivery).await?;
        broker::within("acknowledging", delivery.acker.ack(BasicAckOptions::default())).await?;
        let result = match outcome {
            Outcome::Done => "done",
            Outcome::Duplicate => "duplicate",
            Outcome::Retried => "retried",
            Outcome::Parked => "parked",
        };
        metrics::counter!("events_consumed_total", "queue" => self.subscription.queue.clone(), "result" => result).increment(1);
        Ok(())
    }

    async fn outcome(&self, channel: &Channel, delivery: &Delivery) -> anyhow::Result<Outcome> {
        let envelope: Envelope = match serde_json::from_slice(&delivery.data) {
            Ok(envelope) => envelope,
            Err(e) => {
                self.park(channel, delivery, &format!("not an event envelope: {e}")).await?;
                return Ok(Outcome::Parked);
            }
        };
        if !self.claim(envelope.id).await? {
            if self.is_done(envelope.id).await? {
                return Ok(Outcome::Duplicate);
            }
            // Another worker has it in hand: look again after a delay, without counting an attempt.
            self.retry(channel, delivery, 0).await?;
            return Ok(Outcome::Retried);
        }
        match self.handler.handle(&envelope).await {
            Ok(()) => {
                sqlx::query("UPDATE inbox SET done = TRUE WHERE consumer = ? AND event_id = ?")
                    .bind(&self.subscription.queue)
                    .bind(envelope.id)
                    .execute(&self.inbox)
                    .await?;
                Ok(Outcome::Done)
            }
            Err(failure) => {
                self.release(envelope.id).await?;
                let attempt = broker::header_number(&delivery.properties, broker::ATTEMPT_HEADER) + 1;
                let last = usize::try_from(attempt).unwrap_or(usize::MAX) > self.config.retry_delays_ms.len();
                tracing::warn!(queue = %self.subscription.queue, event.id = %envelope.id, event.type = %envelope.kind, attempt, error = %failure, "event handling failed");
                match failure {
                    Failure::Transient(_) => {
                        self.retry_transient(channel, delivery).await?;
                        Ok(Outcome::Retried)
                    }
                    Failure::Retry(_) if !last => {
                        self.retry(channel, delivery, 1).await?;
                        Ok(Outcome::Retried)
                    }
                    _ => {
                        self.park(channel, delivery, &failure.to_string()).await?;
                        Ok(Outcome::Parked)
                    }
                }
            }
        }
    }

    /// Takes the event for this consumer: false if it is done, or in another worker's hands.
    /// (Two statements: sqlx reports rows *found*, so an upsert's count cannot tell a claim
    /// from a claim left alone.)
    async fn claim(&self, id: Uuid) -> sqlx::Result<bool> {
        let now = Utc::now();
        let inserted = sqlx::query("INSERT IGNORE INTO inbox (consumer, event_id, done, claimed_at) VALUES (?, ?, FALSE, ?)")
            .bind(&self.subscription.queue)
            .bind(id)
            .bind(now)
            .execute(&self.inbox)
            .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        let abandoned =
            sqlx::query("UPDATE inbox SET claimed_at = ? WHERE consumer = ? AND event_id = ? AND NOT done AND claimed_at < ?")
                .bind(now)
                .bind(&self.subscription.queue)
                .bind(id)
                .bind(now - CLAIM_LEASE)
                .execute(&self.inbox)
                .await?;
        Ok(abandoned.rows_affected() == 1)
    }

    async fn is_done(&self, id: Uuid) -> sqlx::Result<bool> {
        sqlx::query_scalar("SELECT done FROM inbox WHERE consumer = ? AND event_id = ?")
            .bind(&self.subscription.queue)
            .bind(id)
            .fetch_optional(&self.inbox)
            .await
            .map(|done: Option<bool>| done.unwrap_or(false))
    }

    async fn release(&self, id: Uuid) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM inbox WHERE consumer = ? AND event_id = ? AND NOT done")
            .bind(&self.subscription.queue)
            .bind(id)
            .execute(&self.inbox)
            .await
            .map(drop)
    }

    /// Sends a copy to the delay queue for its next attempt (`counted` attempts more).
    async fn retry(&self, channel: &Channel, delivery: &Delivery, counted: i64) -> anyhow::Result<()> {
        let attempt = broker::header_number(&delivery.properties, broker::ATTEMPT_HEADER) + counted;
        let delays = &self.config.retry_delays_ms;
        let delay = delays[usize::try_from(attempt.max(1) - 1).unwrap_or(0).min(delays.len() - 1)];
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from(broker::ATTEMPT_HEADER), AMQPValue::LongLongInt(attempt));
        self.delay(channel, delivery, delay, headers).await
    }

    /// A copy with `headers` into the delay queue of `delay` ms, back to this queue after it.
    async fn delay(&self, channel: &Channel, delivery: &Delivery, delay: u64, headers: FieldTable) -> anyhow::Result<()> {
        self.republish(
            channel,
            delivery,
            &broker::retry_queue(&self.subscription.queue, delay),
            headers,
        )
        .await
    }

    /// Sends a copy to a delay queue without counting an attempt towards parking: each
    /// transient failure in a row waits longer, up to the longest configured delay that is at
    /// most `TRANSIENT_MAX_DELAY_MS`.
    async fn retry_transient(&self, channel: &Channel, delivery: &Delivery) -> anyhow::Result<()> {
        let waits = broker::header_number(&delivery.properties, broker::TRANSIENT_HEADER) + 1;
        let delays = &self.config.retry_delays_ms;
        let short: Vec<u64> = delays.iter().copied().filter(|d| *d <= TRANSIENT_MAX_DELAY_MS).collect();
        let delay = short
            .get(
                usize::try_from(waits - 1)
                    .unwrap_or(usize::MAX)
                    .min(short.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or(delays[0]);
        let mut headers = FieldTable::default();
        let attempt = broker::header_number(&delivery.properties, broker::ATTEMPT_HEADER);
        headers.insert(ShortString::from(broker::ATTEMPT_HEADER), AMQPValue::LongLongInt(attempt));
        headers.insert(ShortString::from(broker::TRANSIENT_HEADER), AMQPValue::LongLongInt(waits));
        metrics::counter!("events_transient_retries_total", "queue" => self.subscription.queue.clone()).increment(1);
        self.delay(channel, delivery, delay, headers).await
    }

    async fn park(&self, channel: &Channel, delivery: &Delivery, error: &str) -> anyhow::Result<()> {
        let attempt = broker::header_number(&delivery.properties, broker::ATTEMPT_HEADER) + 1;
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from(broker::ATTEMPT_HEADER), AMQPValue::LongLongInt(attempt));
        headers.insert(
            ShortString::from(broker::ERROR_HEADER),
            AMQPValue::LongString(LongString::from(crate::redact::redact(error).into_owned())),
        );
        tracing::error!(queue = %self.subscription.queue, attempt, error = %crate::redact::redact(error), "event parked");
        self.republish(channel, delivery, &broker::parking_queue(&self.subscription.queue), headers)
            .await
    }

    async fn republish(&self, channel: &Channel, delivery: &Delivery, queue: &str, headers: FieldTable) -> anyhow::Result<()> {
        let properties = &delivery.properties;
        let id = properties.message_id().as_ref().map_or("", |s| s.as_str());
        let kind = properties.kind().as_ref().map_or("", |s| s.as_str());
        broker::publish_confirmed(channel, "", queue, &delivery.data, broker::properties(id, kind, headers)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_that_passes_by_itself_is_transient_a_refusal_is_rejected_the_unexpected_retried() {
        let transient = [
            crate::Error::NotWritable,
            crate::Error::Unavailable("the inventory service is not answering".into()),
            crate::Error::Busy("too many".into()),
        ];
        for e in transient {
            assert!(matches!(Failure::from(e), Failure::Transient(_)));
        }
        assert!(matches!(Failure::from(sqlx::Error::PoolTimedOut), Failure::Transient(_)));
        assert!(matches!(
            Failure::from(crate::Error::NotFound("no such order".into())),
            Failure::Reject(_)
        ));
        assert!(matches!(
            Failure::from(crate::Error::Internal(anyhow::anyhow!("surprise"))),
            Failure::Retry(_)
        ));
    }
}
