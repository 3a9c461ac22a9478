//! The outbox relay: publishes each service's unsent events, oldest first, and marks them sent
//! once RabbitMQ has confirmed them. It works only on a database that is writable (on a replica
//! the rows are the primary's to send), takes its rows with `FOR UPDATE SKIP LOCKED` (two relays
//! share the work instead of sending it twice), and outlives a broker or database outage by
//! reconnecting with back-off; meanwhile the outbox holds the events.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::{Channel, types::FieldTable};
use sqlx::{MySqlPool, QueryBuilder};
use tokio::sync::watch;

use super::{Envelope, broker};
use crate::config::EventsConfig;

/// The longest wait for RabbitMQ to confirm a batch.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// The outboxes of the services this process runs.
pub struct Relay {
    config: EventsConfig,
    outboxes: Vec<(&'static str, MySqlPool)>,
}

impl Relay {
    pub fn new(config: EventsConfig, outboxes: Vec<(&'static str, MySqlPool)>) -> Self {
        Self { config, outboxes }
    }

    /// Relays until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let idle = Duration::from_millis(self.config.relay_idle_ms);
        let mut backoff = Duration::from_millis(500);
        let mut last_purge = std::time::Instant::now();
        while !*stop.borrow() {
            let result = match broker::connect(&self.config, "pola relay").await {
                Ok((connection, channel)) => {
                    backoff = Duration::from_millis(500);
                    tracing::info!(outboxes = self.outboxes.len(), "outbox relay connected to RabbitMQ");
                    let result = self.relay_until_error(&channel, idle, &mut stop, &mut last_purge).await;
                    broker::close(&connection, "stopping").await;
                    result
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis(), "outbox relay stopped; events wait in the outbox");
                if super::pause(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }

    async fn relay_until_error(
        &self,
        channel: &Channel,
        idle: Duration,
        stop: &mut watch::Receiver<bool>,
        last_purge: &mut std::time::Instant,
    ) -> anyhow::Result<()> {
        while !*stop.borrow() {
            let mut sent = 0;
            for (service, pool) in &self.outboxes {
                sent += relay_batch(channel, pool, service, &self.config).await?;
            }
            if last_purge.elapsed() > Duration::from_secs(60) {
                *last_purge = std::time::Instant::now();
                for (_, pool) in &self.outboxes {
                    purge_sent(pool, self.config.outbox_retention_hours).await?;
                }
            }
            if sent == 0 && super::pause(stop, idle).await {
                break;
            }
        }
        Ok(())
    }
}

/// Whether this database takes writes (a replica is `read_only`).
pub async fn writable(pool: &MySqlPool) -> sqlx::Result<bool> {
    let read_only: i64 = sqlx::query_scalar("SELECT @@global.read_only").fetch_one(pool).await?;
    Ok(read_only == 0)
}

/// An unsent event of the outbox.
#[derive(sqlx::FromRow)]
struct Unsent {
    seq: u64,
    #[sqlx(flatten)]
    envelope: Envelope,
}

/// Publishes up to one batch of `service`'s unsent events; how many.
pub async fn relay_batch(channel: &Channel, pool: &MySqlPool, service: &str, config: &EventsConfig) -> anyhow::Result<usize> {
    if !writable(pool).await? {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    let rows: Vec<Unsent> = sqlx::query_as(
        "SELECT seq, id, type, version, occurred_at, data FROM outbox WHERE sent_at IS NULL \
         ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(config.relay_batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        metrics::gauge!("events_outbox_oldest_unsent_seconds", "service" => service.to_owned()).set(0.0);
        return Ok(0);
    }
    let mut confirms = Vec::with_capacity(rows.len());
    let mut sequence = Vec::with_capacity(rows.len());
    let oldest: DateTime<Utc> = rows[0].envelope.occurred_at;
    for Unsent { seq, envelope } in rows {
        let payload = serde_json::to_vec(&envelope)?;
        let properties = broker::properties(&envelope.id.to_string(), &envelope.kind, FieldTable::default());
        let publishing = channel.basic_publish(
            config.exchange.as_str().into(),
            envelope.kind.as_str().into(),
            lapin::options::BasicPublishOptions::default(),
            &payload,
            properties,
        );
        let confirm = broker::within("publishing", publishing).await?;
        confirms.push((envelope.kind, confirm));
        sequence.push(seq);
    }
    // Every publish is on the wire; now wait for all the confirmations at once (the rows stay
    // locked meanwhile: a broker that stops answering must not hold them for ever).
    let confirmed = tokio::time::timeout(CONFIRM_TIMEOUT, async {
        for (kind, confirm) in confirms {
            anyhow::ensure!(confirm.await?.is_ack(), "RabbitMQ refused an event ({kind})");
            metrics::counter!("events_published_total", "type" => kind).increment(1);
        }
        Ok(())
    });
    confirmed
        .await
        .map_err(|_| anyhow::anyhow!("RabbitMQ did not confirm within {CONFIRM_TIMEOUT:?}"))??;
    let mut update = QueryBuilder::new("UPDATE outbox SET sent_at = ");
    update.push_bind(Utc::now()).push(" WHERE seq IN (");
    let mut separated = update.separated(", ");
    for seq in &sequence {
        separated.push_bind(*seq);
    }
    update.push(")");
    update.build().execute(&mut *tx).await?;
    tx.commit().await?;
    let lag = (Utc::now() - oldest).num_milliseconds() as f64 / 1000.0;
    metrics::gauge!("events_outbox_oldest_unsent_seconds", "service" => service.to_owned()).set(lag);
    Ok(sequence.len())
}

/// Marks `service`'s events sent within the last `window` as unsent again, so that the relay
/// publishes them once more: after the loss of a site, the events its broker held but no
/// worker had consumed are gone with it, and the promoted site (whose outbox replicated
/// semi-synchronously) sends them again. Consumers' inboxes (replicated too) turn the ones
/// already handled into no-ops. Only on a writable database; how many events.
pub async fn republish(pool: &MySqlPool, window: Duration) -> anyhow::Result<u64> {
    anyhow::ensure!(writable(pool).await?, "the database is read-only: republish on the primary");
    let since = Utc::now() - chrono::Duration::from_std(window)?;
    let done = sqlx::query("UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL AND sent_at >= ?")
        .bind(since)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

async fn purge_sent(pool: &MySqlPool, retention_hours: u64) -> sqlx::Result<()> {
    if !writable(pool).await? {
        return Ok(());
    }
    let before = Utc::now() - chrono::Duration::hours(i64::try_from(retention_hours).unwrap_or(i64::MAX / 3600));
    sqlx::query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? LIMIT 10000")
        .bind(before)
        .execute(pool)
        .await?;
    Ok(())
}
