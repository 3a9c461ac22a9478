//! The parking queue of a consumer (`<queue>.parking`): what kept failing, with the last error
//! and the attempts made. `pola events dlq list|show|replay` read it without losing anything:
//! messages are taken unacknowledged and, unless replayed, go back when the channel closes.

use lapin::{
    Channel,
    options::{BasicAckOptions, BasicGetOptions},
    types::{AMQPValue, FieldTable, ShortString},
};
use serde::Serialize;

use super::{Envelope, broker};
use crate::config::EventsConfig;

/// One parked delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Parked {
    /// The event id (the message id).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attempts: i64,
    pub error: Option<String>,
    /// The event itself, when it is one.
    pub event: Option<Envelope>,
}

/// Reads up to `limit` parked deliveries of `queue`, in order; `replay` picks those to send back
/// to the queue (their attempts start again) and acknowledges them once the broker has them.
pub async fn visit(
    config: &EventsConfig,
    queue: &str,
    limit: usize,
    replay: impl Fn(&Parked) -> bool,
) -> anyhow::Result<(Vec<Parked>, usize)> {
    let (connection, channel) = broker::connect(config, "pola events dlq").await?;
    let result = visit_on(&channel, queue, limit, replay).await;
    // Whatever was taken and not replayed goes back to the parking queue, in its order.
    let _ = connection.close(200, ShortString::from("done")).await;
    result
}

async fn visit_on(
    channel: &Channel,
    queue: &str,
    limit: usize,
    replay: impl Fn(&Parked) -> bool,
) -> anyhow::Result<(Vec<Parked>, usize)> {
    let parking = broker::parking_queue(queue);
    let mut seen = vec![];
    let mut replayed = 0;
    while seen.len() < limit {
        let Some(message) = channel
            .basic_get(ShortString::from(parking.as_str()), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        let delivery = message.delivery;
        let properties = &delivery.properties;
        let parked = Parked {
            id: properties
                .message_id()
                .as_ref()
                .map_or_else(String::new, |s| s.as_str().to_owned()),
            kind: properties.kind().as_ref().map_or_else(String::new, |s| s.as_str().to_owned()),
            attempts: broker::header_number(properties, broker::ATTEMPT_HEADER),
            error: broker::header_text(properties, broker::ERROR_HEADER),
            event: serde_json::from_slice(&delivery.data).ok(),
        };
        if replay(&parked) {
            let mut headers = FieldTable::default();
            headers.insert(ShortString::from(broker::ATTEMPT_HEADER), AMQPValue::LongLongInt(0));
            broker::publish_confirmed(
                channel,
                "",
                queue,
                &delivery.data,
                broker::properties(&parked.id, &parked.kind, headers),
            )
            .await?;
            delivery.acker.ack(BasicAckOptions::default()).await?;
            replayed += 1;
            tracing::info!(queue, event.id = %parked.id, "parked event replayed");
        }
        seen.push(parked);
    }
    Ok((seen, replayed))
}
