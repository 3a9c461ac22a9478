//! Payments reaching orders: the gateway's notifications, what its Retrieval API finds, and the
//! payment window that cancels what nobody paid.

use chrono::Utc;
use pola_core::{Error, Money};
use pola_orders::{
    Viewer,
    client::{MoveOrder, OwnedOrder},
    model::{Moved, OrderStatus},
};
use uuid::Uuid;

use crate::{
    Payments,
    model::{Method, Outcome, PaymentEvent, PaymentStatus, RefundStatus},
    provider::{GatewayError, Notification},
    store::{self, Checkout, NotificationLog, Payment, Refund},
};

/// What a gateway (or finance) says about one payment of an order.
#[derive(Debug, Clone)]
pub struct Report {
    pub method: Method,
    pub reference: String,
    pub status: PaymentStatus,
    pub amount_minor: i64,
    pub instrument: Option<String>,
    /// Who reported it: `system:payhere`, `system:retrieval`, `staff:<id>`.
    pub actor: String,
}

/// What a notification came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Believed and recorded (a repeat changes nothing).
    Accepted,
    /// Signed, but about nothing Pola knows: acknowledged, so the gateway stops sending it.
    Ignored,
    /// Signed, but not for this order as it was placed (amount, currency): acknowledged, kept
    /// for finance, changes nothing.
    Refused,
}

impl Verdict {
    /// As `payment_notifications.verdict` and the metric's label write it.
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Ignored => "ignored",
            Verdict::Refused => "refused",
        }
    }
}

impl Payments {
    /// Takes a gateway notification: believed only when signed, for our merchant, for an order
    /// that exists, in its currency and for its total. A forged or malformed one is a 400.
    pub async fn notify(&self, fields: Vec<(String, String)>) -> Result<Verdict, Error> {
        let gateway = self.gateway()?;
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let notification = match gateway.verify(&fields) {
            Ok(n) => n,
            Err(refusal) => {
                metrics::counter!("payments_notifications_total", "verdict" => "forged").increment(1);
                tracing::warn!(order.ref = field("order_id").unwrap_or_default(), why = %refusal, "payment notification refused");
                let log = NotificationLog {
                    method: gateway.method(),
                    order_ref: field("order_id"),
                    reference: field("payment_id"),
                    status_code: field("status_code"),
                    amount: field("payhere_amount"),
                    currency: field("payhere_currency"),
                    verdict: "refused",
                    reason: Some(&refusal.to_string()),
                    signed: false,
                };
                store::log_notification(&self.pool, &log).await?;
                return Err(Error::BadRequest("The notification was refused.".into()));
            }
        };
        let code = field("status_code");
        let (verdict, reason) = self.believe(gateway.method(), &notification, "system:payhere").await?;
        metrics::counter!("payments_notifications_total", "verdict" => verdict.as_str()).increment(1);
        let log = NotificationLog {
            method: gateway.method(),
            order_ref: Some(&notification.order_ref),
            reference: Some(&notification.reference),
            status_code: code,
            amount: Some(&notification.amount_text),
            currency: Some(&notification.currency),
            verdict: verdict.as_str(),
            reason: reason.as_deref(),
            signed: true,
        };
        store::log_notification(&self.pool, &log).await?;
        Ok(verdict)
    }

    /// Checks a verified notification against its order and records it; the verdict, and why
    /// when it was not accepted.
    async fn believe(&self, method: Method, n: &Notification, actor: &str) -> Result<(Verdict, Option<String>), Error> {
        let order = match n.order_ref.parse::<Uuid>() {
            Ok(id) => self.orders.order(id, Viewer::Staff).await?,
            Err(_) => None,
        };
        let Some(owned) = order else {
            tracing::warn!(order.ref = %n.order_ref, payment.reference = %n.reference, "payment notification for an unknown order ignored");
            return Ok((Verdict::Ignored, Some("no such order".into())));
        };
        if let Err(why) = matches_order(&owned, n.amount_minor, &n.currency) {
            tracing::warn!(order.id = %owned.order.id, payment.reference = %n.reference, why = %why, "signed payment notification refused");
            return Ok((Verdict::Refused, Some(why)));
        }
        let report = Report {
            method,
            reference: n.reference.clone(),
            status: n.status,
            amount_minor: n.amount_minor,
            instrument: n.instrument.clone(),
            actor: actor.to_owned(),
        };
        self.record(&owned, &report).await?;
        Ok((Verdict::Accepted, None))
    }

    /// Records what is known of one payment, moving it forward only, and applies a success to
    /// its order (once). Idempotent: the same report again changes nothing, so a transaction
    /// chosen as a deadlock victim (many copies of one notification at once) is simply redone.
    pub async fn record(&self, owned: &OwnedOrder, report: &Report) -> Result<(), Error> {
        let mut attempt = 0;
        let refund = loop {
            attempt += 1;
            match self.record_once(owned, report).await {
                Ok(Recorded::Done(refund)) => break refund,
                // Another transaction wrote the row first: read it, this time.
                Ok(Recorded::Again) if attempt < 10 => {}
                Err(e) if attempt < 10 && pola_core::db::AsDeadlock::is_deadlock(&e) => {}
                Ok(Recorded::Again) => return Err(anyhow::anyhow!("payment {} kept changing", report.reference).into()),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(2 * attempt)).await;
        };
        if let Some(refund) = refund {
            // At once, so the customer has their money back soon; the refunds job retries.
            if let Err(e) = self.send_refund(refund).await {
                tracing::warn!(refund.id = %refund, error = %e, "automatic refund not sent yet; will retry");
            }
        }
        Ok(())
    }

    /// One attempt, in READ COMMITTED: the payment's row (and then its order's checkout row) is
    /// read and locked, or inserted when absent; so many copies of one notification at once
    /// queue on one row lock instead of deadlocking on gap locks.
    async fn record_once(&self, owned: &OwnedOrder, report: &Report) -> Result<Recorded, Error> {
        let order = &owned.order;
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .execute(&mut *conn)
            .await?;
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        let fresh = Payment {
            id: pola_core::new_id(),
            order_id: order.id,
            customer_id: owned.customer,
            method: report.method,
            reference: report.reference.clone(),
            status: report.status,
            amount_minor: report.amount_minor,
            currency: order.total.currency.code().to_owned(),
            refunded_minor: 0,
            outcome: Outcome::Open,
            instrument: report.instrument.clone(),
            flag: None,
            created_at: Utc::now(),
        };
        let (mut payment, inserted) = match store::lock_payment(&mut tx, report.method, &report.reference).await? {
            Some(payment) => (payment, false),
            None if store::insert_payment(&mut tx, &fresh).await? => (fresh, true),
            None => return Ok(Recorded::Again),
        };
        if payment.order_id != order.id {
            // A gateway's payment id belongs to one order: this one is forged or confused.
            tracing::warn!(order.id = %order.id, payment.id = %payment.id, "a payment reference of another order: refused");
            return Err(Error::conflict(
                "payment-of-another-order",
                "That payment belongs to another order.",
            ));
        }
        let moved = !inserted && payment.status.can_become(report.status);
        if moved {
            store::set_status(&mut tx, payment.id, report.status, report.instrument.as_deref()).await?;
            payment.status = report.status;
        }
        if (inserted || moved) && report.status == PaymentStatus::ChargedBack {
            let flag = "charged back: the customer's bank took the money back";
            store::flag(&mut tx, payment.id, flag).await?;
            let event = event("payment.charged_back", &payment, payment.amount_minor);
            pola_core::events::record(&mut tx, &event).await?;
            tracing::warn!(order.id = %order.id, payment.id = %payment.id, "payment charged back: flagged for finance");
        }
        let mut refund = None;
        if payment.status == PaymentStatus::Succeeded && payment.outcome == Outcome::Open {
            match self.apply(&mut tx, owned, &payment, &report.actor).await? {
                Some(applied) => refund = applied,
                None => return Ok(Recorded::Again),
            }
        }
        tx.commit().await?;
        if inserted || moved {
            tracing::info!(order.id = %order.id, payment.id = %payment.id, payment.status = %payment.status, payment.method = payment.method.as_str(), "payment recorded");
        }
        Ok(Recorded::Done(refund))
    }

    /// Applies a succeeded payment to its order, under the order's checkout lock so that two
    /// payments never both pay it: the order becomes paid, or (cancelled meanwhile, or paid by
    /// another payment) the payment is refunded in full. Returns the refund to send; None when
    /// another transaction wrote the checkout first (start again).
    async fn apply(
        &self,
        tx: &mut sqlx::MySqlConnection,
        owned: &OwnedOrder,
        payment: &Payment,
        actor: &str,
    ) -> Result<Option<Option<Uuid>>, Error> {
        let order = &owned.order;
        let checkout = Checkout {
            order_id: order.id,
            customer_id: owned.customer,
            method: payment.method,
            amount_minor: order.total.amount_minor,
            currency: order.total.currency.code().to_owned(),
            reference: None,
            pay_by: None,
            settled: false,
            checked_at: None,
            created_at: Utc::now(),
        };
        if store::lock_checkout(tx, order.id).await?.is_none() && !store::insert_checkout(tx, &checkout).await? {
            return Ok(None);
        }
        let moved = self
            .orders
            .advance(MoveOrder {
                id: order.id,
                customer: None,
                to: OrderStatus::Paid,
                actor: actor.to_owned(),
                shipment: None,
            })
            .await?;
        let refund_why = match moved {
            Moved::Done { .. } => None,
            Moved::Already if !store::applied_other(tx, order.id, payment.id).await? => None,
            Moved::Already => Some("paid twice: the order was paid by another payment".to_owned()),
            Moved::Illegal { from } => Some(format!("paid after the order was {from}")),
        };
        let Some(why) = refund_why else {
            store::set_outcome(tx, payment.id, Outcome::Applied, None).await?;
            store::settle(tx, order.id).await?;
            return Ok(Some(None));
        };
        // Never lost and never kept: the money goes back, and finance sees why.
        store::set_outcome(tx, payment.id, Outcome::Refunded, Some(&why)).await?;
        if !store::reserve_refund(tx, payment.id, payment.amount_minor).await? {
            return Err(anyhow::anyhow!("payment {} has no refundable amount left", payment.id).into());
        }
        let refund = Refund {
            id: pola_core::new_id(),
            order_id: order.id,
            payment_id: payment.id,
            amount_minor: payment.amount_minor,
            currency: payment.currency.clone(),
            reason: format!("Automatic refund: {why}"),
            status: RefundStatus::Pending,
            reference: None,
            requested_by: "system".into(),
            attempts: 0,
            last_error: None,
            created_at: Utc::now(),
        };
        store::insert_refund(tx, &refund).await?;
        metrics::counter!("payments_automatic_refunds_total").increment(1);
        tracing::warn!(order.id = %order.id, payment.id = %payment.id, why = %why, "payment cannot pay its order: refunding it");
        Ok(Some(Some(refund.id)))
    }

    /// Applies succeeded payments a stopped process left unapplied.
    pub async fn apply_unapplied(&self) -> Result<usize, Error> {
        let before = Utc::now() - chrono::Duration::minutes(1);
        let mut applied = 0;
        for payment in store::unapplied(&self.pool, before, 100).await? {
            let Some(owned) = self.orders.order(payment.order_id, Viewer::Staff).await? else {
                continue;
            };
            let report = Report {
                method: payment.method,
                reference: payment.reference.clone(),
                status: payment.status,
                amount_minor: payment.amount_minor,
                instrument: None,
                actor: format!("system:{}", payment.method.as_str()),
            };
            self.record(&owned, &report).await?;
            applied += 1;
        }
        Ok(applied)
    }

    /// Asks the gateway about its checkouts that have had no final answer for
    /// `payments.reconcile_after_minutes`: a customer who paid and closed the tab, a
    /// notification lost on the way.
    pub async fn reconcile(&self) -> Result<usize, Error> {
        let Some(gateway) = &self.gateway else { return Ok(0) };
        let after = chrono::Duration::minutes(i64::try_from(self.config.reconcile_after_minutes).unwrap_or(5));
        let now = Utc::now();
        let mut found = 0;
        for order in store::unanswered_checkouts(&self.pool, gateway.method(), now - after, now - after, 100).await? {
            match self.reconcile_order(order).await {
                Ok(n) => found += n,
                Err(ReconcileError::NotConfigured) => return Ok(found),
                Err(ReconcileError::Failed(e)) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Asks the gateway about one order's payments and records what it says; how many it found.
    pub async fn reconcile_order(&self, order: Uuid) -> Result<usize, ReconcileError> {
        let gateway = self.gateway().map_err(ReconcileError::Failed)?;
        let owned = self.orders.order(order, Viewer::Staff).await?;
        let Some(owned) = owned else { return Ok(0) };
        let payments = match gateway.lookup(order).await {
            Ok(p) => p,
            Err(GatewayError::NotConfigured) => return Err(ReconcileError::NotConfigured),
            Err(e) => return Err(ReconcileError::Failed(Error::Unavailable(e.to_string()))),
        };
        store::mark_checked(&self.pool, order).await?;
        let mut recorded = 0;
        for found in payments {
            if let Err(why) = matches_order(&owned, found.amount_minor, &found.currency) {
                tracing::warn!(order.id = %order, payment.reference = %found.reference, why = %why, "gateway reports a payment that does not match its order");
                let log = NotificationLog {
                    method: gateway.method(),
                    order_ref: Some(&order.to_string()),
                    reference: Some(&found.reference),
                    status_code: Some(found.status.as_str()),
                    amount: Some(&pola_core::money::decimal(found.amount_minor)),
                    currency: Some(&found.currency),
                    verdict: "refused",
                    reason: Some(&format!("retrieval: {why}")),
                    signed: true,
                };
                store::log_notification(&self.pool, &log).await?;
                continue;
            }
            let report = Report {
                method: gateway.method(),
                reference: found.reference.clone(),
                status: found.status,
                amount_minor: found.amount_minor,
                instrument: found.instrument.clone(),
                actor: "system:retrieval".into(),
            };
            self.record(&owned, &report).await?;
            recorded += 1;
        }
        if owned.order.status != OrderStatus::PendingPayment {
            let mut conn = self.pool.acquire().await.map_err(Error::from)?;
            store::settle(&mut conn, order).await?;
        }
        Ok(recorded)
    }

    /// Cancels orders nobody paid within the payment window (a bank transfer's own deadline
    /// when one was chosen); their stock goes back on sale. The gateway is asked first, so a
    /// payment it took is applied rather than refunded. How many were cancelled.
    pub async fn expire_unpaid(&self) -> Result<usize, Error> {
        let now = Utc::now();
        let mut after = None;
        let mut cancelled = 0;
        loop {
            let page = self.orders.unpaid_before(now - self.payment_window(), after, 200).await?;
            let Some(last) = page.last() else { break };
            after = Some(*last);
            for order in page {
                let checkout = store::checkout(&mut *self.pool.acquire().await?, order).await?;
                if checkout.as_ref().and_then(|c| c.pay_by).is_some_and(|by| by > now) {
                    continue;
                }
                if checkout.as_ref().is_some_and(|c| c.method == Method::Payhere) {
                    match self.reconcile_order(order).await {
                        Ok(_) | Err(ReconcileError::NotConfigured) => {}
                        // Not now: asked again next round, before anything is cancelled.
                        Err(ReconcileError::Failed(e)) => {
                            tracing::warn!(order.id = %order, error = %e, "could not ask the gateway before cancelling; will retry");
                            continue;
                        }
                    }
                }
                let moved = self
                    .orders
                    .advance(MoveOrder {
                        id: order,
                        customer: None,
                        to: OrderStatus::Cancelled,
                        actor: "system:payment-window".into(),
                        shipment: None,
                    })
                    .await?;
                if let Moved::Done { .. } = moved {
                    store::settle(&mut *self.pool.acquire().await?, order).await?;
                    metrics::counter!("payments_orders_expired_total").increment(1);
                    tracing::info!(order.id = %order, "unpaid order cancelled: its payment window is over");
                    cancelled += 1;
                }
            }
        }
        Ok(cancelled)
    }
}

/// What one attempt at recording a payment came to.
enum Recorded {
    /// Recorded; the automatic refund to send, if it made one.
    Done(Option<Uuid>),
    /// Another transaction wrote a row this one needed first: start again.
    Again,
}

/// Why reconciling failed.
#[derive(Debug)]
pub enum ReconcileError {
    /// The gateway has no API to ask.
    NotConfigured,
    Failed(Error),
}

impl From<Error> for ReconcileError {
    fn from(e: Error) -> Self {
        ReconcileError::Failed(e)
    }
}

impl From<sqlx::Error> for ReconcileError {
    fn from(e: sqlx::Error) -> Self {
        ReconcileError::Failed(e.into())
    }
}

/// Whether a payment of `amount` in `currency` is for this order as it was placed.
fn matches_order(owned: &OwnedOrder, amount_minor: i64, currency: &str) -> Result<(), String> {
    let total = owned.order.total;
    if currency != total.currency.code() {
        return Err(format!("currency {currency} is not the order's {}", total.currency.code()));
    }
    if amount_minor != total.amount_minor {
        return Err(format!(
            "amount {} is not the order's total {}",
            Money::lkr(amount_minor),
            total
        ));
    }
    Ok(())
}

/// A payment event about `payment`, for `amount_minor`.
pub(crate) fn event(kind: &'static str, payment: &Payment, amount_minor: i64) -> PaymentEvent {
    PaymentEvent {
        kind,
        order_id: payment.order_id,
        customer_id: payment.customer_id,
        payment_id: payment.id,
        amount_minor,
        currency: payment.currency.clone(),
    }
}
