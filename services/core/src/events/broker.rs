//! The connection to RabbitMQ and the topology every consumer declares for itself.
//!
//! For a consumer queue `q`: `q` (durable, bound to the events exchange by its routing keys);
//! one delay queue per retry delay, `q.retry.<ms>`, whose messages expire after `<ms>` into the
//! default exchange with routing key `q` — back to `q`; and `q.parking` for deliveries that kept
//! failing. Everything is published through confirms.

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
    options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString, ShortString},
};
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::config::EventsConfig;

/// A message header: how many times a delivery has been tried.
pub const ATTEMPT_HEADER: &str = "x-pola-attempt";
/// A message header: why a delivery was parked.
pub const ERROR_HEADER: &str = "x-pola-error";
/// Transient failures in a row (they do not count as attempts: such a delivery is never parked).
pub const TRANSIENT_HEADER: &str = "x-pola-transient";

/// The longest any single exchange with RabbitMQ may take (connecting, a confirmation, an
/// acknowledgement, closing): a broker that restarts or stops answering mid-way must turn into
/// an error the caller recovers from, never into a wait without end.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// `operation`, or an error once it has taken [`BROKER_TIMEOUT`].
pub async fn within<T, E>(what: &str, operation: impl Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    anyhow::Error: From<E>,
{
    match tokio::time::timeout(BROKER_TIMEOUT, operation).await {
        Ok(result) => Ok(result?),
        Err(_) => anyhow::bail!("RabbitMQ did not answer within {BROKER_TIMEOUT:?} ({what})"),
    }
}

/// Closes `connection`, waiting at most [`BROKER_TIMEOUT`] for the broker (a dead one never answers).
pub async fn close(connection: &Connection, why: &str) {
    let _ = within("closing", connection.close(200, ShortString::from(why))).await;
}

/// Opens a connection and a channel in confirm mode, with the events exchange declared.
pub async fn connect(config: &EventsConfig, name: &str) -> anyhow::Result<(Connection, Channel)> {
    within("connecting", open(config, name)).await
}

async fn open(config: &EventsConfig, name: &str) -> anyhow::Result<(Connection, Channel)> {
    let url = config
        .amqp_url
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("events.amqp_url is not set"))?;
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    let connection = Connection::connect(url.expose_secret(), properties).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    channel
        .exchange_declare(
            ShortString::from(config.exchange.as_str()),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel))
}

fn durable(arguments: FieldTable) -> (QueueDeclareOptions, FieldTable) {
    (
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        arguments,
    )
}

pub fn retry_queue(queue: &str, delay_ms: u64) -> String {
    format!("{queue}.retry.{delay_ms}")
}

pub fn parking_queue(queue: &str) -> String {
    format!("{queue}.parking")
}

/// Binds `queue` to the events exchange for each of `bindings` (event types, `order.*`).
pub async fn bind(channel: &Channel, config: &EventsConfig, queue: &str, bindings: &[String]) -> lapin::Result<()> {
    for key in bindings {
        channel
            .queue_bind(
                ShortString::from(queue),
                ShortString::from(config.exchange.as_str()),
                ShortString::from(key.as_str()),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Declares a consumer's queue, its bindings, its delay queues and its parking queue.
pub async fn declare_queue(channel: &Channel, config: &EventsConfig, queue: &str, bindings: &[String]) -> lapin::Result<()> {
    let (options, arguments) = durable(FieldTable::default());
    channel.queue_declare(ShortString::from(queue), options, arguments).await?;
    bind(channel, config, queue, bindings).await?;
    for &delay in &config.retry_delays_ms {
        let mut arguments = FieldTable::default();
        arguments.insert(
            ShortString::from("x-message-ttl"),
            AMQPValue::LongLongInt(i64::try_from(delay).unwrap_or(i64::MAX)),
        );
        arguments.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from("")),
        );
        arguments.insert(
            ShortString::from("x-dead-letter-routing-key"),
            AMQPValue::LongString(LongString::from(queue)),
        );
        let (options, arguments) = durable(arguments);
        channel
            .queue_declare(ShortString::from(retry_queue(queue, delay)), options, arguments)
            .await?;
    }
    let (options, arguments) = durable(FieldTable::default());
    channel
        .queue_declare(ShortString::from(parking_queue(queue)), options, arguments)
        .await?;
    Ok(())
}

/// Persistent JSON message properties for an event.
pub fn properties(id: &str, kind: &str, headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(id))
        .with_type(ShortString::from(kind))
        .with_timestamp(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0))
        .with_headers(headers)
}

/// Publishes to `exchange` with `routing_key` and waits for the broker's confirmation.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let confirmation = within("publishing", async {
        channel
            .basic_publish(
                ShortString::from(exchange),
                ShortString::from(routing_key),
                BasicPublishOptions::default(),
                payload,
                properties,
            )
            .await?
            .await
    })
    .await?;
    anyhow::ensure!(confirmation.is_ack(), "RabbitMQ refused a message for {routing_key}");
    Ok(())
}

/// Publishes one event that no outbox holds (an operational message, such as an alert) on a
/// connection of its own, and waits for the broker's confirmation.
pub async fn publish_event(config: &EventsConfig, event: &super::Envelope) -> anyhow::Result<()> {
    let (connection, channel) = connect(config, "pola-publish").await?;
    let payload = serde_json::to_vec(event)?;
    let properties = properties(&event.id.to_string(), &event.kind, FieldTable::default());
    let published = publish_confirmed(&channel, &config.exchange, &event.kind, &payload, properties).await;
    close(&connection, "published").await;
    published
}

/// A header's value as a number (attempts), or text (errors).
pub fn header_number(properties: &BasicProperties, name: &str) -> i64 {
    let value = properties.headers().as_ref().and_then(|h| h.inner().get(name).cloned());
    match value {
        Some(AMQPValue::LongLongInt(n)) => n,
        Some(AMQPValue::LongInt(n)) => i64::from(n),
        _ => 0,
    }
}

pub fn header_text(properties: &BasicProperties, name: &str) -> Option<String> {
    let value = properties.headers().as_ref().and_then(|h| h.inner().get(name).cloned())?;
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}
