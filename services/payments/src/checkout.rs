//! What the customer does: choose how to pay an order (PayHere, cash on delivery, bank
//! transfer), and see where its payment stands.

use chrono::{DateTime, Utc};
use pola_core::{Error, Money};
use pola_orders::{
    Viewer,
    client::{MoveOrder, OwnedOrder},
    model::{Moved, OrderStatus, order_number},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Payments,
    model::{
        BankTransferInstructions, CodRefusal, HostedCheckout, Method, Payer, PaymentView, RefundView, bank_reference, check_cod,
        split_name,
    },
    store::{self, Checkout},
};

/// An order's payment, as its customer (or staff) sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderPayment {
    pub order_id: Uuid,
    pub order_status: OrderStatus,
    pub total: Money,
    /// How the customer chose to pay; none yet.
    pub method: Option<Method>,
    /// While unpaid: when the order cancels itself if nothing arrives.
    pub pay_by: Option<DateTime<Utc>>,
    /// Where to transfer, for a bank transfer.
    pub bank_transfer: Option<BankTransferInstructions>,
    pub payments: Vec<PaymentView>,
    pub refunds: Vec<RefundView>,
}

impl Payments {
    /// The customer's own order, or 404 (another customer's order is "not found" too).
    async fn own_order(&self, customer: Uuid, order: Uuid, viewer: Viewer) -> Result<OwnedOrder, Error> {
        self.orders
            .order(order, viewer)
            .await?
            .filter(|o| o.customer == customer)
            .ok_or_else(|| Error::not_found("No such order."))
    }

    /// 409 unless the order still waits for payment, its window is open, and it was priced
    /// for this way of paying: an order placed for cash on delivery carries the surcharge in
    /// its total, one placed to be paid now does not.
    fn payable(&self, owned: &OwnedOrder, checkout: Option<&Checkout>, cod: bool) -> Result<DateTime<Utc>, Error> {
        let order = &owned.order;
        if order.status != OrderStatus::PendingPayment {
            return Err(Error::conflict(
                "not-payable",
                format!("This order is {}: there is nothing to pay.", order.status),
            ));
        }
        match (order.pricing.cash_on_delivery, cod) {
            (true, false) => {
                return Err(Error::conflict(
                    "priced-for-cash-on-delivery",
                    "This order was placed to be paid on delivery, and its total includes the cash-on-delivery charge: choose cash on delivery, or place the order again to pay now.",
                ));
            }
            (false, true) => {
                return Err(Error::conflict(
                    "priced-to-pay-now",
                    "This order was placed to be paid now; cash on delivery has a charge of its own. Place the order again choosing cash on delivery.",
                ));
            }
            _ => {}
        }
        let pay_by = checkout
            .and_then(|c| c.pay_by)
            .unwrap_or(order.created_at + self.payment_window());
        if pay_by <= Utc::now() {
            return Err(Error::conflict(
                "payment-window-over",
                "The time to pay this order is over; it is being cancelled. Place it again.",
            ));
        }
        Ok(pay_by)
    }

    fn checkout_row(
        &self,
        owned: &OwnedOrder,
        method: Method,
        reference: Option<String>,
        pay_by: Option<DateTime<Utc>>,
    ) -> Checkout {
        Checkout {
            order_id: owned.order.id,
            customer_id: owned.customer,
            method,
            amount_minor: owned.order.total.amount_minor,
            currency: owned.order.total.currency.code().to_owned(),
            reference,
            pay_by,
            settled: false,
            checked_at: None,
            created_at: Utc::now(),
        }
    }

    /// The signed PayHere form for the customer's unpaid order. Nothing about the amount comes
    /// from the client: it is the order's total as placed.
    pub async fn payhere_checkout(&self, customer: Uuid, order: Uuid) -> Result<HostedCheckout, Error> {
        let gateway = self.gateway()?;
        let owned = self.own_order(customer, order, Viewer::Customer).await?;
        let mut conn = self.pool.acquire().await?;
        let existing = store::checkout(&mut conn, order).await?;
        self.payable(&owned, existing.as_ref(), false)?;
        let contact = self
            .identity
            .contact(customer)
            .await?
            .ok_or_else(|| Error::Gone("This account's personal data was erased.".into()))?;
        let o = &owned.order;
        let (first_name, last_name) = split_name(&contact.name);
        let delivery = o.delivery.as_ref();
        let items = match o.lines.as_slice() {
            [one] => format!("{} × {}", one.title, one.quantity),
            lines => format!("Pola order {} ({} items)", order_number(o.id), lines.len()),
        };
        let payer = Payer {
            order,
            amount: o.total,
            items: items.chars().take(200).collect(),
            first_name,
            last_name,
            email: contact.email,
            phone: delivery.map(|d| d.phone.clone()).or(contact.phone).unwrap_or_default(),
            // PayHere asks for an address even for what is not delivered.
            address: delivery.map_or_else(|| "No delivery".to_owned(), |d| d.line1.clone()),
            city: delivery.map_or_else(|| "No delivery".to_owned(), |d| d.city.clone()),
        };
        store::choose(&mut conn, &self.checkout_row(&owned, gateway.method(), None, None)).await?;
        tracing::info!(order.id = %order, "hosted checkout started");
        Ok(gateway.checkout(&payer))
    }

    /// Cash on delivery: the order is confirmed at once, within the ceiling and unless the
    /// customer's parcels keep coming back. Choosing it again answers the same.
    pub async fn pay_on_delivery(&self, customer: Uuid, order: Uuid) -> Result<OrderPayment, Error> {
        let owned = self.own_order(customer, order, Viewer::Customer).await?;
        let mut conn = self.pool.acquire().await?;
        let existing = store::checkout(&mut conn, order).await?;
        let already = existing.as_ref().is_some_and(|c| c.method == Method::Cod) && owned.order.status == OrderStatus::Confirmed;
        if !already {
            self.payable(&owned, existing.as_ref(), true)?;
            let failed = self.orders.failed_deliveries(customer).await?;
            let (ceiling, max_failed) = (self.config.cod_max_minor, self.config.cod_max_failed_deliveries);
            check_cod(owned.order.total, owned.order.delivery.is_some(), failed, ceiling, max_failed).map_err(|refusal| {
                let detail = match refusal {
                    CodRefusal::OverCeiling { ceiling } => {
                        format!(
                            "Cash on delivery is for orders up to {}; pay this one online or by bank transfer.",
                            Money::lkr(ceiling)
                        )
                    }
                    CodRefusal::FailedDeliveries { .. } => {
                        "Cash on delivery is not available for this account; pay online or by bank transfer.".into()
                    }
                    CodRefusal::NoDeliveryAddress => "Cash on delivery needs a delivery address.".into(),
                };
                Error::Unprocessable {
                    code: "cod-not-available",
                    detail,
                }
            })?;
            // The order's move decides, not this row: a PayHere payment that lands first makes
            // the move illegal; one that lands after finds the order confirmed and is refunded.
            // Whether a parcel carries cash is read from the order's history, never from here.
            let moved = self
                .orders
                .advance(MoveOrder {
                    id: order,
                    customer: Some(customer),
                    to: OrderStatus::Confirmed,
                    actor: "customer".into(),
                    shipment: None,
                })
                .await?;
            if let Moved::Illegal { from } = moved {
                return Err(Error::conflict("not-payable", format!("This order is {from}.")));
            }
            store::choose(&mut conn, &self.checkout_row(&owned, Method::Cod, None, None)).await?;
            store::settle(&mut conn, order).await?;
            tracing::info!(order.id = %order, "order confirmed for cash on delivery");
        }
        drop(conn);
        self.order_payment(order, Some(customer)).await
    }

    /// A bank transfer: the shop's account, the reference to write, and until when. Asking
    /// again answers the same deadline.
    pub async fn pay_by_bank_transfer(&self, customer: Uuid, order: Uuid) -> Result<BankTransferInstructions, Error> {
        let owned = self.own_order(customer, order, Viewer::Customer).await?;
        let mut conn = self.pool.acquire().await?;
        let existing = store::checkout(&mut conn, order).await?;
        self.payable(&owned, existing.as_ref(), false)?;
        let days = i64::try_from(self.config.bank_transfer_days).unwrap_or(3);
        let pay_by = Utc::now() + chrono::Duration::days(days);
        let row = self.checkout_row(&owned, Method::BankTransfer, Some(bank_reference(order)), Some(pay_by));
        store::choose(&mut conn, &row).await?;
        let chosen = store::checkout(&mut conn, order)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the checkout just written is gone"))?;
        tracing::info!(order.id = %order, "bank transfer chosen");
        self.instructions(&chosen)
            .ok_or_else(|| anyhow::anyhow!("a bank transfer without its reference").into())
    }

    fn instructions(&self, checkout: &Checkout) -> Option<BankTransferInstructions> {
        let bank = &self.config.bank;
        Some(BankTransferInstructions {
            bank: bank.bank.clone(),
            branch: bank.branch.clone(),
            account_name: bank.account_name.clone(),
            account_number: bank.account_number.clone(),
            reference: checkout.reference.clone()?,
            amount: Money::lkr(checkout.amount_minor),
            pay_by: checkout.pay_by?,
        })
    }

    /// Where the order's payment stands; for its customer only when `customer` is given. A
    /// gateway checkout still unanswered a minute after it started is asked about now (at most
    /// every 30 s), so a customer back from the gateway before (or without) its notification
    /// sees their payment.
    pub async fn order_payment(&self, order: Uuid, customer: Option<Uuid>) -> Result<OrderPayment, Error> {
        let viewer = if customer.is_some() { Viewer::Customer } else { Viewer::Staff };
        let mut owned = match customer {
            Some(c) => self.own_order(c, order, viewer).await?,
            None => self
                .orders
                .order(order, viewer)
                .await?
                .ok_or_else(|| Error::not_found("No such order."))?,
        };
        let checkout = store::checkout(&mut *self.pool.acquire().await?, order).await?;
        let now = Utc::now();
        let ask = checkout.as_ref().is_some_and(|c| {
            c.method == Method::Payhere
                && !c.settled
                && c.created_at < now - chrono::Duration::minutes(1)
                && c.checked_at.is_none_or(|at| at < now - chrono::Duration::seconds(30))
        });
        if ask && self.reconcile_order(order).await.is_ok_and(|found| found > 0) {
            owned = self
                .orders
                .order(order, viewer)
                .await?
                .ok_or_else(|| Error::not_found("No such order."))?;
        }
        let payments = store::order_payments(&self.pool, order).await?;
        let refunds = store::order_refunds(&self.pool, order).await?;
        let unpaid = owned.order.status == OrderStatus::PendingPayment;
        Ok(OrderPayment {
            order_id: order,
            order_status: owned.order.status,
            total: owned.order.total,
            method: checkout.as_ref().map(|c| c.method),
            pay_by: unpaid.then(|| {
                checkout
                    .as_ref()
                    .and_then(|c| c.pay_by)
                    .unwrap_or(owned.order.created_at + self.payment_window())
            }),
            bank_transfer: checkout
                .as_ref()
                .filter(|c| c.method == Method::BankTransfer && unpaid)
                .and_then(|c| self.instructions(c)),
            payments: payments
                .into_iter()
                .map(PaymentView::from)
                .map(|p| match customer {
                    // Why finance looks at a payment is finance's business.
                    Some(_) => PaymentView { flag: None, ..p },
                    None => p,
                })
                .collect(),
            refunds: refunds
                .into_iter()
                .map(RefundView::from)
                .map(|r| match customer {
                    Some(_) => RefundView {
                        requested_by: String::new(),
                        last_error: None,
                        ..r
                    },
                    None => r,
                })
                .collect(),
        })
    }
}
