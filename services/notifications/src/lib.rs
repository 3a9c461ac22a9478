//! Notifications: the events customers and staff care about, as email and SMS.
//!
//! `pola worker notifications` consumes `customer.registered`, `order.*`, `payment.*` and
//! `stock.low`. For
//! each event it opens what it needs at the time of sending — the customer's name, email, phone
//! and preferences from identity, the order's items and city from orders — renders the message
//! in the customer's language, and sends at most one email and one SMS per recipient: every
//! message is recorded in `deliveries`, and a redelivered event skips what was sent. An SMS that
//! falls in quiet hours waits there until they end. A mail server or gateway that is down
//! makes the event retry (delay queues, then parking); a message that can never go (an SMS
//! longer than allowed, an address refused) is recorded as refused and the rest goes on.

pub mod email;
pub mod sms;
pub mod templates;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, Utc};
use pola_contracts::{
    identity::{Contact, IdentityClient, RESET_LIFETIME, ResetSecret},
    orders::{OrderBriefs, order_number},
};
use pola_core::Language;
use pola_core::{
    config::NotificationsConfig,
    events::{
        Envelope,
        consume::{Failure, Handler, Subscription},
    },
};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{MySqlPool, migrate::Migrator};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    email::Mailer,
    sms::SmsGateway,
    templates::{Rendered, Templates},
};

/// The database this service owns: `<prefix>_notifications`.
pub const SERVICE: &str = "notifications";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The worker's queue (`notifications.queue`) and what it listens to.
pub fn subscription(config: &NotificationsConfig) -> Subscription {
    Subscription {
        queue: config.queue.clone(),
        bindings: vec![
            "customer.*".into(),
            "order.*".into(),
            "payment.*".into(),
            "stock.low".into(),
            "support.*".into(),
            "alert.*".into(),
            "report.*".into(),
        ],
    }
}

/// Why one message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// It can never go as it is: recorded as refused, the event goes on.
    #[error("{0}")]
    Refused(String),
    /// Not now: the event is tried again later.
    #[error("{0}")]
    Unavailable(String),
}

/// The channels a message goes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Email,
    Sms,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// A mail server or gateway that is away is not tried again for every event: after a failure,
/// deliveries on that channel wait (from `notifications.pause_ms`, doubling to 30 s while it
/// stays away), then go ahead to see. The waiting deliveries hold the consumer's prefetch, so
/// RabbitMQ stops handing out more: an outage costs the machine almost nothing.
struct Breaker {
    first: Duration,
    open: std::sync::Mutex<Option<(tokio::time::Instant, Duration)>>,
}

impl Breaker {
    const LONGEST: Duration = Duration::from_secs(30);

    fn new(first: Duration) -> Self {
        Self {
            first,
            open: std::sync::Mutex::new(None),
        }
    }

    async fn wait(&self) {
        loop {
            let until = self.open.lock().expect("unpoisoned").map(|(until, _)| until);
            match until {
                Some(until) if until > tokio::time::Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    fn failed(&self) {
        let mut open = self.open.lock().expect("unpoisoned");
        let pause = open.map_or(self.first, |(_, last)| (last * 2).min(Self::LONGEST));
        *open = Some((tokio::time::Instant::now() + pause, pause));
    }

    fn answered(&self) {
        *self.open.lock().expect("unpoisoned") = None;
    }
}

pub struct Notifications {
    breakers: [Breaker; 2],
    pool: MySqlPool,
    config: NotificationsConfig,
    templates: Templates,
    mailer: Mailer,
    sms: SmsGateway,
    identity: Arc<dyn IdentityClient>,
    orders: Arc<dyn OrderBriefs>,
    quiet: (NaiveTime, NaiveTime),
}

fn parse_time(field: &str, value: &str) -> anyhow::Result<NaiveTime> {
    NaiveTime::parse_from_str(value, "%H:%M").map_err(|e| anyhow::anyhow!("notifications.{field} `{value}`: {e}"))
}

/// `Rs. 1,234.50` from cents.
fn rupees(minor: i64) -> String {
    pola_core::money::Written::PLAIN.amount(minor)
}

fn failure(e: SendError) -> Failure {
    match e {
        SendError::Refused(m) => Failure::Reject(anyhow::anyhow!(m)),
        SendError::Unavailable(m) => Failure::Retry(anyhow::anyhow!(m)),
    }
}

impl Notifications {
    pub fn new(
        pool: MySqlPool,
        config: NotificationsConfig,
        identity: Arc<dyn IdentityClient>,
        orders: Arc<dyn OrderBriefs>,
    ) -> anyhow::Result<Self> {
        let pause = Duration::from_millis(config.pause_ms);
        Ok(Self {
            breakers: [Breaker::new(pause), Breaker::new(pause)],
            quiet: (
                parse_time("quiet_from", &config.quiet_from)?,
                parse_time("quiet_until", &config.quiet_until)?,
            ),
            templates: Templates::load()?,
            mailer: Mailer::new(&config.smtp)?,
            sms: SmsGateway::new(config.sms.clone())?,
            pool,
            config,
            identity,
            orders,
        })
    }

    fn quiet_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        quiet_until(now, self.quiet, self.config.utc_offset_minutes)
    }

    /// Whether this message was settled already (sent, refused, or waiting for quiet hours to end).
    async fn settled(&self, event: Uuid, channel: Channel, recipient: &str) -> sqlx::Result<bool> {
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE event_id = ? AND channel = ? AND recipient = ?")
            .bind(event)
            .bind(channel.as_str())
            .bind(recipient)
            .fetch_one(&self.pool)
            .await
            .map(|n: i64| n > 0)
    }

    async fn record(
        &self,
        event: &Envelope,
        channel: Channel,
        recipient: &str,
        status: &str,
        detail: Option<&str>,
        send_after: Option<DateTime<Utc>>,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO deliveries (event_id, channel, recipient, status, detail, event, send_after, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE status = VALUES(status), detail = VALUES(detail), send_after = VALUES(send_after), \
             updated_at = VALUES(updated_at)",
        )
        .bind(event.id)
        .bind(channel.as_str())
        .bind(recipient)
        .bind(status)
        .bind(detail.map(|d| d.chars().take(255).collect::<String>()))
        .bind(send_after.map(|_| sqlx::types::Json(event)))
        .bind(send_after)
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map(drop)?;
        metrics::counter!("notifications_total", "channel" => channel.as_str(), "status" => status.to_owned()).increment(1);
        Ok(())
    }

    /// Sends one message unless it was settled before, and records what became of it.
    async fn deliver<F>(&self, event: &Envelope, channel: Channel, recipient: &str, send: F) -> Result<(), Failure>
    where
        F: std::future::Future<Output = Result<(), SendError>>,
    {
        if self.settled(event.id, channel, recipient).await.map_err(Failure::from)? {
            return Ok(());
        }
        let breaker = &self.breakers[channel as usize];
        breaker.wait().await;
        let sent = send.await;
        match &sent {
            Err(SendError::Unavailable(_)) => breaker.failed(),
            _ => breaker.answered(),
        }
        match sent {
            Ok(()) => self
                .record(event, channel, recipient, "sent", None, None)
                .await
                .map_err(Failure::from),
            Err(SendError::Refused(why)) => {
                tracing::warn!(event.id = %event.id, event.type = %event.kind, channel = channel.as_str(), why = %why, "message refused; not sent");
                self.record(event, channel, recipient, "refused", Some(&why), None)
                    .await
                    .map_err(Failure::from)
            }
            Err(e) => Err(failure(e)),
        }
    }

    /// What a message about this event may say: the customer's name, the order's number,
    /// total, items and city.
    async fn context(&self, event: &Envelope, contact: &Contact) -> Result<serde_json::Value, Failure> {
        let mut context = json!({
            "name": contact.name,
            "shop_url": self.config.shop_url,
        });
        if let Some(ticket) = event.data["ticket_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) {
            context["ticket"] = event.data["number"].clone();
            context["ticket_url"] = json!(format!("{}/account/support/{ticket}", self.config.shop_url));
        }
        if let Some(order) = event.data["order_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) {
            let order = self
                .orders
                .brief(order)
                .await
                .map_err(Failure::from)?
                .filter(|order| order.customer == contact.id)
                .ok_or_else(|| Failure::Reject(anyhow::anyhow!("{} names an order of another customer, or none", event.kind)))?;
            context["order"] = json!(order_number(order.id));
            context["total"] = json!(rupees(order.total_minor));
            let shown = |minor: i64| (minor != 0).then(|| rupees(minor.abs()));
            context["savings"] = json!(shown(order.savings_minor));
            context["delivery"] = json!(shown(order.delivery_minor));
            context["vat"] = json!(order.vat_minor.and_then(shown));
            context["items"] = json!(order.items);
            context["city"] = json!(order.city);
            let shipment = order.shipment.as_ref();
            context["courier"] = json!(shipment.map(|s| &s.courier));
            context["waybill"] = json!(shipment.map(|s| &s.waybill));
            context["tracking_url"] = json!(shipment.and_then(|s| s.tracking_url.as_ref()));
            context["cod"] = json!(order.cash_on_delivery);
            let amount = event.data["amount_minor"].as_i64().unwrap_or(order.total_minor);
            context["amount"] = json!(rupees(amount));
        }
        Ok(context)
    }

    async fn to_customer(&self, event: &Envelope, only_sms: bool) -> Result<(), Failure> {
        let customer: Uuid = event.data["customer_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Failure::Reject(anyhow::anyhow!("{} has no customer_id", event.kind)))?;
        let Some(contact) = self.identity.contact(customer).await.map_err(Failure::from)? else {
            // Erased: there is no one to write to.
            return Ok(());
        };
        let context = self.context(event, &contact).await?;
        let message = self
            .templates
            .render(contact.preferences.language, &event.kind, &context)
            .map_err(Failure::Reject)?;
        let recipient = customer.to_string();
        if contact.preferences.email && !only_sms {
            let id = format!("{}.email", event.id);
            self.deliver(event, Channel::Email, &recipient, async {
                self.mailer.send(&contact.email, &id, &message).await
            })
            .await?;
        }
        let (Some(text), Some(phone), true) = (&message.sms, &contact.phone, contact.preferences.sms) else {
            return Ok(());
        };
        if !self.sms.configured() {
            return Ok(());
        }
        if !only_sms && let Some(until) = self.quiet_until(Utc::now()) {
            if !self
                .settled(event.id, Channel::Sms, &recipient)
                .await
                .map_err(Failure::from)?
            {
                self.record(event, Channel::Sms, &recipient, "waiting", Some("quiet hours"), Some(until))
                    .await
                    .map_err(Failure::from)?;
            }
            return Ok(());
        }
        self.deliver(event, Channel::Sms, &recipient, async {
            self.sms.send(phone, text).await.map(drop)
        })
        .await
    }

    /// A reset link by email or a code by SMS, at once whatever the hour or the preferences: the
    /// customer is waiting for it. Nothing if the reset was used or expired meanwhile.
    async fn password_reset(&self, event: &Envelope) -> Result<(), Failure> {
        let id = |field: &str| {
            event.data[field]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(|| Failure::Reject(anyhow::anyhow!("{} has no {field}", event.kind)))
        };
        let (customer, reset) = (id("customer_id")?, id("reset_id")?);
        let Some(contact) = self.identity.contact(customer).await.map_err(Failure::from)? else {
            return Ok(());
        };
        let Some(secret) = self.identity.reset_secret(customer, reset).await.map_err(Failure::from)? else {
            return Ok(());
        };
        let minutes = RESET_LIFETIME.num_minutes();
        let (link, code) = match &secret {
            ResetSecret::Link(token) => (
                format!("{}/reset-password?token={token}", self.config.shop_url),
                String::new(),
            ),
            ResetSecret::Code(code) => (String::new(), code.clone()),
        };
        let context =
            json!({"name": contact.name, "shop_url": self.config.shop_url, "minutes": minutes, "link": link, "code": code});
        let message = self
            .templates
            .render(contact.preferences.language, &event.kind, &context)
            .map_err(Failure::Reject)?;
        let recipient = customer.to_string();
        match (secret, &contact.phone, &message.sms) {
            (ResetSecret::Link(_), _, _) => {
                let id = format!("{}.email", event.id);
                self.deliver(
                    event,
                    Channel::Email,
                    &recipient,
                    self.mailer.send(&contact.email, &id, &message),
                )
                .await
            }
            (ResetSecret::Code(_), Some(phone), Some(text)) => {
                self.deliver(event, Channel::Sms, &recipient, async {
                    self.sms.send(phone, text).await.map(drop)
                })
                .await
            }
            (ResetSecret::Code(_), _, _) => Ok(()),
        }
    }

    /// `message` by email to each of `addresses`, once per event: a staff address is recorded
    /// as `<whom>:<hash>`, never in clear.
    async fn email_staff(&self, event: &Envelope, whom: &str, addresses: &[String], message: &Rendered) -> Result<(), Failure> {
        for address in addresses {
            let recipient = format!("{whom}:{}", &hex(&Sha256::digest(address.as_bytes()))[..16]);
            let id = format!("{}.{recipient}", event.id);
            self.deliver(event, Channel::Email, &recipient, async {
                self.mailer.send(address, &id, message).await
            })
            .await?;
        }
        Ok(())
    }

    /// An alert to whoever is on call: by email, and by SMS at any hour.
    async fn to_oncall(&self, event: &Envelope) -> Result<(), Failure> {
        let alert = &event.data["alert"];
        let context = json!({
            "shop_url": self.config.shop_url,
            "title": alert["title"],
            "detail": alert["detail"],
            "key": alert["key"],
            "rule": event.data["rule"],
            "since": event.data["since"],
            "at": event.data["at"],
        });
        let message = self
            .templates
            .render(Language::En, &event.kind, &context)
            .map_err(Failure::Reject)?;
        let addresses = match self.config.oncall_emails.is_empty() {
            true => &self.config.staff_emails,
            false => &self.config.oncall_emails,
        };
        self.email_staff(event, "oncall", addresses, &message).await?;
        if let Some(text) = &message.sms {
            for phone in &self.config.oncall_phones {
                let recipient = format!("oncall:{}", &hex(&Sha256::digest(phone.as_bytes()))[..16]);
                self.deliver(event, Channel::Sms, &recipient, async {
                    self.sms.send(phone, text).await.map(drop)
                })
                .await?;
            }
        }
        Ok(())
    }

    /// The daily summary: figures by report (ids and amounts only), to the managers.
    async fn to_managers(&self, event: &Envelope) -> Result<(), Failure> {
        let mut context = event.data.clone();
        context["shop_url"] = json!(self.config.shop_url);
        let message = self
            .templates
            .render(Language::En, &event.kind, &context)
            .map_err(Failure::Reject)?;
        let addresses = match self.config.manager_emails.is_empty() {
            true => &self.config.staff_emails,
            false => &self.config.manager_emails,
        };
        self.email_staff(event, "manager", addresses, &message).await
    }

    async fn to_staff(&self, event: &Envelope) -> Result<(), Failure> {
        let order = event.data["order_id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
        let context = json!({
            "shop_url": self.config.shop_url,
            "variant": event.data["variant_id"],
            "location": event.data["location"],
            "available": event.data["available"],
            "order": order.map(order_number),
            "order_id": order,
            "amount": event.data["amount_minor"].as_i64().map(rupees),
            "ticket": event.data["number"],
            "ticket_id": event.data["ticket_id"],
            "deadline": event.data["deadline"],
            "category": event.data["category"],
        });
        let message = self
            .templates
            .render(Language::En, &event.kind, &context)
            .map_err(Failure::Reject)?;
        let leads = &self.config.support_emails;
        let addresses = match event.kind.as_str() {
            "support.overdue" if !leads.is_empty() => leads,
            _ => &self.config.staff_emails,
        };
        self.email_staff(event, "staff", addresses, &message).await
    }

    /// Sends the SMS that waited for quiet hours to end; until `stop`.
    pub fn spawn_waiting_sms_sender(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            while !*stop.borrow() {
                if let Err(e) = this.send_waiting().await {
                    tracing::warn!(error = %format!("{e:#}"), "waiting SMS could not be sent yet");
                }
                if pola_core::events::pause(&mut stop, Duration::from_secs(10)).await {
                    return;
                }
            }
        })
    }

    /// Sends every SMS whose quiet hours are over; how many went.
    pub async fn send_waiting(&self) -> anyhow::Result<usize> {
        let due: Vec<sqlx::types::Json<Envelope>> = sqlx::query_scalar(
            "SELECT event FROM deliveries WHERE status = 'waiting' AND send_after <= ? ORDER BY send_after LIMIT 100",
        )
        .bind(Utc::now())
        .fetch_all(&self.pool)
        .await?;
        let mut sent = 0;
        for sqlx::types::Json(event) in due {
            sqlx::query("DELETE FROM deliveries WHERE event_id = ? AND channel = 'sms' AND status = 'waiting'")
                .bind(event.id)
                .execute(&self.pool)
                .await?;
            match self.to_customer(&event, true).await {
                Ok(()) => sent += 1,
                Err(e) => {
                    // Back to waiting, for the next round.
                    let recipient = event.data["customer_id"].as_str().unwrap_or_default().to_owned();
                    let next = Utc::now() + chrono::Duration::minutes(1);
                    self.record(&event, Channel::Sms, &recipient, "waiting", Some(&e.to_string()), Some(next))
                        .await?;
                }
            }
        }
        Ok(sent)
    }
}

/// When the quiet hours (`from`–`until`, local time `offset_minutes` east of UTC) around `now`
/// end, if `now` is in them.
fn quiet_until(now: DateTime<Utc>, (from, until): (NaiveTime, NaiveTime), offset_minutes: i32) -> Option<DateTime<Utc>> {
    let offset = chrono::Duration::minutes(i64::from(offset_minutes));
    let local = (now + offset).naive_utc();
    let time = local.time();
    let quiet = match from <= until {
        true => time >= from && time < until,
        false => time >= from || time < until,
    };
    if !quiet {
        return None;
    }
    let mut end = local.date().and_time(until);
    if end <= local {
        end += chrono::Duration::days(1);
    }
    Some(end.and_utc() - offset)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Handler for Notifications {
    async fn handle(&self, event: &Envelope) -> Result<(), Failure> {
        if event.version != 1 {
            return Err(Failure::Reject(anyhow::anyhow!(
                "{} version {} is not known here",
                event.kind,
                event.version
            )));
        }
        match event.kind.as_str() {
            "stock.low" | "payment.charged_back" | "support.overdue" => self.to_staff(event).await,
            "alert.fired" | "alert.resolved" => self.to_oncall(event).await,
            "report.daily_summary" => self.to_managers(event).await,
            "customer.password_reset_requested" => self.password_reset(event).await,
            kind if self.templates.handles(kind) => self.to_customer(event, false).await,
            // Nothing to say about it.
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_wait_from_nine_in_the_evening_to_eight_in_the_morning_in_colombo() {
        let quiet = (
            NaiveTime::from_hms_opt(21, 0, 0).expect("a time"),
            NaiveTime::from_hms_opt(8, 0, 0).expect("a time"),
        );
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("a time");
        // 22:30 in Colombo is 17:00 UTC: wait until 08:00 Colombo, 02:30 UTC the next day.
        assert_eq!(
            quiet_until(at("2026-11-22T17:00:00Z"), quiet, 330),
            Some(at("2026-11-23T02:30:00Z"))
        );
        // 01:00 in Colombo (19:30 UTC the day before): until 08:00 the same morning.
        assert_eq!(
            quiet_until(at("2026-11-22T19:30:00Z"), quiet, 330),
            Some(at("2026-11-23T02:30:00Z"))
        );
        // Noon in Colombo: send now.
        assert_eq!(quiet_until(at("2026-11-22T06:30:00Z"), quiet, 330), None);
        assert_eq!(
            quiet_until(at("2026-11-22T02:30:00Z"), quiet, 330),
            None,
            "08:00 sharp is not quiet"
        );
    }
}
