//! Money going back, and money finance confirms: refunds (full or partial, through the
//! gateway's Refund API or made by hand for cash and transfers), and bank transfers received.

use chrono::Utc;
use pola_core::{Error, FieldError, Money, auth::Staff};
use pola_orders::{
    Viewer,
    client::MoveOrder,
    model::{Moved, OrderStatus},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Payments,
    checkout::OrderPayment,
    model::{ConfirmTransfer, Method, Outcome, PaymentStatus, RefundRequest, RefundStatus, check_reason, check_reference},
    provider::GatewayError,
    settle::{Report, event},
    store::{self, Refund},
};

impl Payments {
    /// Refunds part or all of what was paid for an order (finance), with a reason. A gateway
    /// payment is refunded through the gateway; cash and transfers are refunded by hand, and
    /// finance gives the reference of the transfer made. Refunding everything makes the order
    /// `refunded`. Never more than was paid, however many refunds run at once.
    pub async fn refund(&self, staff: &Staff, order: Uuid, request: RefundRequest) -> Result<OrderPayment, Error> {
        let detail = json!({"amount_minor": request.amount_minor, "reference": request.reference});
        let reason = request.reason.clone();
        self.audited(staff, "refund", Some(order), detail, Some(&reason), async {
            let reason = check_reason("reason", &request.reason).map_err(|e| Error::Validation(vec![e]))?;
            let by_hand = request
                .reference
                .as_deref()
                .map(|r| check_reference("reference", r))
                .transpose()
                .map_err(|e| Error::Validation(vec![e]))?;
            let payments = store::order_payments(&self.pool, order).await?;
            let payment = payments
                .iter()
                .filter(|p| p.outcome == Outcome::Applied && p.status == PaymentStatus::Succeeded)
                .filter(|p| p.refunded_minor < p.amount_minor)
                .max_by_key(|p| p.amount_minor - p.refunded_minor)
                .ok_or_else(|| Error::conflict("nothing-to-refund", "Nothing paid for this order is left to refund."))?;
            let left = payment.amount_minor - payment.refunded_minor;
            let amount = request.amount_minor.unwrap_or(left);
            if amount <= 0 {
                return Err(Error::field("amount_minor", "must be positive"));
            }
            let gateway_refund = payment.method == Method::Payhere && by_hand.is_none();
            if !gateway_refund && by_hand.is_none() {
                return Err(Error::Validation(vec![FieldError::new(
                    "reference",
                    "is needed: this payment is refunded by hand; give the reference of the transfer to the customer",
                )]));
            }
            let mut tx = self.pool.begin().await?;
            if !store::reserve_refund(&mut tx, payment.id, amount).await? {
                return Err(Error::conflict(
                    "refund-too-large",
                    format!("At most {} of this payment is left to refund.", Money::lkr(left)),
                ));
            }
            let refund = Refund {
                id: pola_core::new_id(),
                order_id: order,
                payment_id: payment.id,
                amount_minor: amount,
                currency: payment.currency.clone(),
                reason,
                status: if gateway_refund {
                    RefundStatus::Pending
                } else {
                    RefundStatus::Done
                },
                reference: by_hand,
                requested_by: format!("staff:{}", staff.id),
                attempts: 0,
                last_error: None,
                created_at: Utc::now(),
            };
            store::insert_refund(&mut tx, &refund).await?;
            if !gateway_refund {
                pola_core::events::record(&mut tx, &event("payment.refunded", payment, amount)).await?;
            }
            tx.commit().await?;
            tracing::info!(order.id = %order, refund.id = %refund.id, amount_minor = amount, "refund requested");
            if gateway_refund {
                self.send_refund(refund.id).await?;
            }
            self.close_if_refunded(order, &format!("staff:{}", staff.id)).await?;
            self.order_payment(order, None).await
        })
        .await
    }

    /// Sends a pending refund to the gateway. Refused for good: marked failed, and what it had
    /// set aside is released, so finance may try again. Not answering: left pending for the
    /// refunds job.
    pub async fn send_refund(&self, id: Uuid) -> Result<(), Error> {
        let gateway = self.gateway()?;
        let mut tx = self.pool.begin().await?;
        let Some(refund) = store::lock_refund(&mut tx, id).await? else {
            return Err(Error::not_found("No such refund."));
        };
        if refund.status != RefundStatus::Pending {
            return Ok(());
        }
        let payments = store::order_payments(&self.pool, refund.order_id).await?;
        let payment = payments
            .iter()
            .find(|p| p.id == refund.payment_id)
            .ok_or_else(|| anyhow::anyhow!("refund {id} of a missing payment"))?;
        if payment.method != gateway.method() {
            return Err(Error::conflict(
                "refund-by-hand",
                "This payment is refunded by hand, not through the gateway.",
            ));
        }
        let partial = (refund.amount_minor < payment.amount_minor).then(|| Money::lkr(refund.amount_minor));
        // The row stays locked while the gateway is asked: the job and a retry never send one
        // refund twice at once.
        match gateway.refund(&payment.reference, partial, &refund.reason).await {
            Ok(reference) => {
                store::finish_refund(&mut tx, id, RefundStatus::Done, Some(&reference), None).await?;
                pola_core::events::record(&mut tx, &event("payment.refunded", payment, refund.amount_minor)).await?;
                tx.commit().await?;
                metrics::counter!("payments_refunds_total", "status" => "done").increment(1);
                tracing::info!(order.id = %refund.order_id, refund.id = %id, "refund made");
                Ok(())
            }
            Err(GatewayError::Refused(why)) => {
                store::finish_refund(&mut tx, id, RefundStatus::Failed, None, Some(&why)).await?;
                store::release_refund(&mut tx, payment.id, refund.amount_minor).await?;
                tx.commit().await?;
                metrics::counter!("payments_refunds_total", "status" => "failed").increment(1);
                tracing::warn!(order.id = %refund.order_id, refund.id = %id, why = %why, "the gateway refused a refund: finance must act");
                Err(Error::conflict(
                    "refund-refused",
                    format!("PayHere refused the refund: {why}"),
                ))
            }
            Err(e) => {
                store::finish_refund(&mut tx, id, RefundStatus::Pending, None, Some(&e.to_string())).await?;
                tx.commit().await?;
                Err(Error::Unavailable(format!(
                    "The refund is recorded and will be sent when PayHere answers: {e}"
                )))
            }
        }
    }

    /// Sends the refunds still pending, each at most once a minute.
    pub async fn run_refunds(&self) -> Result<usize, Error> {
        if self.gateway.is_none() {
            return Ok(0);
        }
        let mut sent = 0;
        for id in store::due_refunds(&self.pool, Utc::now() - chrono::Duration::minutes(1), 50).await? {
            match self.send_refund(id).await {
                Ok(()) => sent += 1,
                Err(e) if e.is_transient() => return Err(e),
                Err(_) => {}
            }
        }
        Ok(sent)
    }

    /// Moves the order to `refunded` once everything paid for it was refunded.
    async fn close_if_refunded(&self, order: Uuid, actor: &str) -> Result<(), Error> {
        let payments = store::order_payments(&self.pool, order).await?;
        let applied: Vec<_> = payments.iter().filter(|p| p.outcome == Outcome::Applied).collect();
        let refunds = store::order_refunds(&self.pool, order).await?;
        let refunded: i64 = refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Done)
            .map(|r| r.amount_minor)
            .sum();
        let paid: i64 = applied.iter().map(|p| p.amount_minor).sum();
        if applied.is_empty() || refunded < paid {
            return Ok(());
        }
        let moved = self
            .orders
            .advance(MoveOrder {
                id: order,
                customer: None,
                to: OrderStatus::Refunded,
                actor: actor.to_owned(),
                shipment: None,
            })
            .await?;
        if let Moved::Illegal { from } = moved {
            tracing::info!(order.id = %order, order.status = %from, "order refunded in full; its status stays");
        }
        Ok(())
    }

    /// Finance saw a bank transfer arrive: the order is paid. Only the order's exact total is
    /// taken; a transfer for an order that cancelled itself meanwhile is refunded (by hand).
    pub async fn confirm_transfer(&self, staff: &Staff, order: Uuid, request: ConfirmTransfer) -> Result<OrderPayment, Error> {
        let detail =
            json!({"amount_minor": request.amount_minor, "slip_reference": request.slip_reference, "note": request.note});
        self.audited(staff, "confirm_bank_transfer", Some(order), detail, request.note.as_deref(), async {
            let slip = check_reference("slip_reference", &request.slip_reference).map_err(|e| Error::Validation(vec![e]))?;
            let owned = self
                .orders
                .order(order, Viewer::Staff)
                .await?
                .ok_or_else(|| Error::not_found("No such order."))?;
            if owned.order.status != OrderStatus::PendingPayment {
                return Err(Error::conflict(
                    "not-payable",
                    format!(
                        "This order is {}: nothing is recorded; return the transfer to the customer by hand.",
                        owned.order.status
                    ),
                ));
            }
            if request.amount_minor != owned.order.total.amount_minor {
                return Err(Error::Unprocessable {
                    code: "amount-differs",
                    detail: format!(
                        "The order's total is {}; a transfer of another amount is not taken here (refund or ask for the rest).",
                        owned.order.total
                    ),
                });
            }
            let report = Report {
                method: Method::BankTransfer,
                reference: slip,
                status: PaymentStatus::Succeeded,
                amount_minor: request.amount_minor,
                instrument: None,
                actor: format!("staff:{}", staff.id),
            };
            self.record(&owned, &report).await?;
            self.order_payment(order, None).await
        })
        .await
    }
}
