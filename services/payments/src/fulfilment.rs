//! An order's way to the customer: packed, shipped with a courier (the waybill and the cash to
//! collect), delivered (cash on delivery becomes money the courier owes), or not delivered and
//! brought back (its stock on sale again); and the couriers' remittance reports.

use chrono::{DateTime, Utc};
use pola_core::{Error, Money, auth::Staff};
use pola_orders::{
    Viewer,
    client::MoveOrder,
    model::{Moved, OrderStatus, Shipment, order_number},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Payments,
    courier::{Parcel, Tracked},
    model::{Method, Outcome, PaymentStatus, check_reason, check_reference, parse_remittance},
    store::{self, Payment},
};

/// `POST /api/v1/fulfilment/orders/{id}/ship`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"courier": "koombiyo"}))]
pub struct ShipRequest {
    /// The courier's code (`payments.couriers`).
    pub courier: String,
    /// The waybill on the label: needed for couriers without an API; the others issue one.
    pub waybill: Option<String>,
}

/// `POST /api/v1/fulfilment/orders/{id}/delivery-failed` and `/cancel`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Nobody at home, phone off"}))]
pub struct ReasonRequest {
    pub reason: String,
}

/// What a staff action on an order did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Fulfilled {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub shipment: Option<Shipment>,
}

/// One line of a remittance report that did not simply settle a parcel.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemittanceException {
    /// The row in the file (the header is row 1).
    pub row: usize,
    pub waybill: String,
    pub amount: Money,
    /// `unknown_waybill`, `not_delivered`, `amount_differs` (less than owed) or `overpaid`.
    pub verdict: String,
    /// What the courier owed for it before this file.
    pub owed: Option<Money>,
    pub order_id: Option<Uuid>,
}

/// What an imported remittance report settled.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemittanceReport {
    pub remittance_id: Uuid,
    pub courier: String,
    pub lines: usize,
    pub total: Money,
    /// Paid over for delivered parcels, and counted against what the courier owes.
    pub matched: Money,
    pub exceptions: Vec<RemittanceException>,
}

/// What one courier still owes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Owed {
    pub courier: String,
    pub parcels: usize,
    pub owed: Money,
    pub oldest_delivered_at: Option<DateTime<Utc>>,
    pub items: Vec<OwedParcel>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OwedParcel {
    pub order_id: Uuid,
    pub waybill: String,
    pub owed: Money,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What finance must look at.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Exceptions {
    /// Chargebacks, payments refunded because their order could not take them.
    pub flagged_payments: Vec<crate::model::StaffPayment>,
    /// Refunds the gateway refused, or that have waited an hour.
    pub stuck_refunds: Vec<crate::model::RefundView>,
    /// Correctly signed notifications (and retrievals) refused in the last 30 days: the amount,
    /// currency or order did not match, so real money may be waiting for a decision.
    pub refused_notifications: Vec<store::RefusedNotification>,
}

impl Payments {
    async fn move_order(&self, order: Uuid, to: OrderStatus, actor: String, shipment: Option<Shipment>) -> Result<Moved, Error> {
        let moved = self
            .orders
            .advance(MoveOrder {
                id: order,
                customer: None,
                to,
                actor,
                shipment,
            })
            .await?;
        if let Moved::Illegal { from } = moved {
            return Err(Error::conflict(
                "illegal-transition",
                format!("An order that is {from} cannot become {to}."),
            ));
        }
        Ok(moved)
    }

    async fn fulfilled(&self, order: Uuid) -> Result<Fulfilled, Error> {
        let owned = self
            .orders
            .order(order, Viewer::Staff)
            .await?
            .ok_or_else(|| Error::not_found("No such order."))?;
        Ok(Fulfilled {
            order_id: order,
            status: owned.order.status,
            shipment: owned.order.shipment,
        })
    }

    /// A staff move of an order with nothing else to it (pack, mark returned, cancel).
    pub async fn staff_move(
        &self,
        staff: &Staff,
        action: &str,
        order: Uuid,
        to: OrderStatus,
        reason: Option<String>,
    ) -> Result<Fulfilled, Error> {
        let reason = reason
            .map(|r| check_reason("reason", &r))
            .transpose()
            .map_err(|e| Error::Validation(vec![e]))?;
        self.audited(staff, action, Some(order), json!({"to": to}), reason.as_deref(), async {
            self.move_order(order, to, format!("staff:{}", staff.id), None).await?;
            if to == OrderStatus::Cancelled {
                store::settle(&mut *self.pool.acquire().await?, order).await?;
            }
            self.fulfilled(order).await
        })
        .await
    }

    /// Hands a packed order (or one that comes back for another try) to a courier: books it
    /// (the courier issues the waybill, or staff typed it), with the cash to collect when it is
    /// paid on delivery. Shipping it again reuses its booking.
    pub async fn ship(&self, staff: &Staff, order: Uuid, request: ShipRequest) -> Result<Fulfilled, Error> {
        let detail = json!({"courier": request.courier, "waybill": request.waybill});
        self.audited(staff, "ship", Some(order), detail, None, async {
            let courier = self
                .courier(&request.courier)
                .ok_or_else(|| Error::field("courier", "no such courier"))?;
            let typed = request
                .waybill
                .as_deref()
                .map(|w| check_reference("waybill", w))
                .transpose()
                .map_err(|e| Error::Validation(vec![e]))?;
            let shipment = match store::shipment(&self.pool, order).await? {
                Some(booked) => Shipment {
                    tracking_url: self.courier(&booked.courier).and_then(|c| c.tracking_url(&booked.waybill)),
                    courier: booked.courier,
                    waybill: booked.waybill,
                },
                None => {
                    let owned = self
                        .orders
                        .order(order, Viewer::Handover)
                        .await?
                        .ok_or_else(|| Error::not_found("No such order."))?;
                    if owned.order.status != OrderStatus::Packed {
                        return Err(Error::conflict(
                            "illegal-transition",
                            format!("An order that is {} cannot be shipped; pack it first.", owned.order.status),
                        ));
                    }
                    let delivery = owned
                        .order
                        .delivery
                        .clone()
                        .ok_or_else(|| Error::conflict("nothing-to-ship", "This order has no delivery address."))?;
                    // Cash on delivery is an order confirmed without payment: its history says.
                    let cod = match owned.order.history.iter().any(|h| h.to == OrderStatus::Confirmed) {
                        true => owned.order.total,
                        false => Money::lkr(0),
                    };
                    let parcel = Parcel {
                        number: order_number(order),
                        recipient: delivery.recipient,
                        phone: delivery.phone,
                        street: [Some(delivery.line1), delivery.line2].into_iter().flatten().collect::<Vec<_>>().join(", "),
                        city: delivery.city,
                        description: owned
                            .order
                            .lines
                            .iter()
                            .map(|l| format!("{} x {}", l.quantity, l.sku))
                            .collect::<Vec<_>>()
                            .join(", ")
                            .chars()
                            .take(200)
                            .collect(),
                        cod,
                    };
                    let waybill = courier.book(&parcel, typed.as_deref()).await.map_err(|e| match e {
                        crate::courier::CourierError::Unavailable(m) => {
                            Error::Unavailable(format!("The courier is not answering; try again: {m}"))
                        }
                        crate::courier::CourierError::Refused(m) => Error::Unprocessable {
                            code: "courier-refused",
                            detail: m,
                        },
                    })?;
                    store::insert_shipment(
                        &self.pool,
                        &store::Shipment {
                            order_id: order,
                            courier: courier.code().to_owned(),
                            waybill: waybill.clone(),
                            cod_minor: cod.amount_minor,
                            currency: cod.currency.code().to_owned(),
                            courier_status: None,
                            shipped_at: Utc::now(),
                            delivered_at: None,
                            remitted_minor: 0,
                        },
                    )
                    .await?;
                    tracing::info!(order.id = %order, courier = courier.code(), waybill = %waybill, cod_minor = cod.amount_minor, "parcel booked");
                    Shipment {
                        tracking_url: courier.tracking_url(&waybill),
                        courier: courier.code().to_owned(),
                        waybill,
                    }
                }
            };
            self.move_order(order, OrderStatus::Shipped, format!("staff:{}", staff.id), Some(shipment))
                .await?;
            self.fulfilled(order).await
        })
        .await
    }

    /// The parcel arrived: the order is delivered, and cash collected on delivery is now owed by
    /// the courier (a payment, settled by its remittance report).
    pub async fn deliver(&self, order: Uuid, actor: String) -> Result<Fulfilled, Error> {
        self.move_order(order, OrderStatus::Delivered, actor, None).await?;
        if let Some(shipment) = store::shipment(&self.pool, order).await? {
            let mut tx = self.pool.begin().await?;
            store::mark_delivered(&mut tx, order).await?;
            if shipment.cod_minor > 0 {
                let owned = self
                    .orders
                    .order(order, Viewer::Staff)
                    .await?
                    .ok_or_else(|| Error::not_found("No such order."))?;
                let cash = Payment {
                    id: pola_core::new_id(),
                    order_id: order,
                    customer_id: owned.customer,
                    method: Method::Cod,
                    reference: format!("{}:{}", shipment.courier, shipment.waybill),
                    status: PaymentStatus::Succeeded,
                    amount_minor: shipment.cod_minor,
                    currency: shipment.currency.clone(),
                    refunded_minor: 0,
                    outcome: Outcome::Applied,
                    instrument: None,
                    flag: None,
                    created_at: Utc::now(),
                };
                store::insert_payment(&mut tx, &cash).await?;
            }
            tx.commit().await?;
        }
        self.fulfilled(order).await
    }

    /// Staff mark a delivery (couriers without an API).
    pub async fn mark_delivered(&self, staff: &Staff, order: Uuid) -> Result<Fulfilled, Error> {
        self.audited(staff, "delivered", Some(order), json!({}), None, async {
            self.deliver(order, format!("staff:{}", staff.id)).await
        })
        .await
    }

    /// Asks the couriers with an API where their undelivered parcels are, and moves the orders
    /// along: delivered, or delivery failed.
    pub async fn track_parcels(&self) -> Result<usize, Error> {
        let mut moved = 0;
        let recently = Utc::now() - chrono::Duration::minutes(10);
        for courier in self.couriers.iter().filter(|c| c.has_api()) {
            for parcel in store::undelivered(&self.pool, courier.code(), recently, 100).await? {
                let tracked = match courier.track(&parcel.waybill).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(courier = courier.code(), error = %e, "courier tracking failed; will retry");
                        break;
                    }
                };
                let (words, to) = match &tracked {
                    Tracked::InTransit(words) => (words.as_str(), None),
                    Tracked::Delivered => ("Delivered", Some(OrderStatus::Delivered)),
                    Tracked::Failed(words) => (words.as_str(), Some(OrderStatus::DeliveryFailed)),
                };
                store::set_courier_status(&self.pool, parcel.order_id, words).await?;
                let actor = format!("system:{}", courier.code());
                let result = match to {
                    Some(OrderStatus::Delivered) => self.deliver(parcel.order_id, actor).await.map(drop),
                    Some(to) => self.move_order(parcel.order_id, to, actor, None).await.map(drop),
                    None => continue,
                };
                match result {
                    Ok(()) => moved += 1,
                    // Already moved on by staff (or a failed delivery seen again): nothing to do.
                    Err(e) if e.status().is_client_error() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(moved)
    }

    /// Imports a courier's remittance report (finance): each line settles what the courier owed
    /// for a delivered cash-on-delivery parcel; what does not match is listed. A file with a bad
    /// row changes nothing; the same file twice is refused.
    pub async fn import_remittance(&self, staff: &Staff, courier: &str, csv: &str) -> Result<RemittanceReport, Error> {
        let sha: [u8; 32] = Sha256::digest(csv.as_bytes()).into();
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        self.audited(staff, "import_remittance", None, json!({"courier": courier, "file_sha256": hex}), None, async {
            if self.courier(courier).is_none() {
                return Err(Error::field("courier", "no such courier"));
            }
            let lines = parse_remittance(csv).map_err(Error::Validation)?;
            let id = pola_core::new_id();
            let mut tx = self.pool.begin().await?;
            let total: i64 = lines.iter().map(|l| l.amount_minor).sum();
            let mut matched = 0;
            let mut exceptions = vec![];
            for (i, line) in lines.iter().enumerate() {
                let parcel = store::lock_shipment_by_waybill(&mut tx, courier, &line.waybill).await?;
                let owed = parcel.as_ref().map(|p| p.cod_minor - p.remitted_minor);
                let verdict = match &parcel {
                    None => "unknown_waybill",
                    Some(p) if p.delivered_at.is_none() => "not_delivered",
                    Some(p) => {
                        let owed = p.cod_minor - p.remitted_minor;
                        if line.amount_minor > owed {
                            "overpaid"
                        } else {
                            store::add_remitted(&mut tx, p.order_id, line.amount_minor).await?;
                            matched += line.amount_minor;
                            if line.amount_minor == owed { "matched" } else { "amount_differs" }
                        }
                    }
                };
                let order = parcel.as_ref().map(|p| p.order_id);
                store::insert_remittance_line(&mut tx, id, i + 1, &line.waybill, line.amount_minor, order, verdict).await?;
                if verdict != "matched" {
                    exceptions.push(RemittanceException {
                        row: i + 2,
                        waybill: line.waybill.clone(),
                        amount: Money::lkr(line.amount_minor),
                        verdict: verdict.to_owned(),
                        owed: owed.map(Money::lkr),
                        order_id: order,
                    });
                }
            }
            let by = format!("staff:{}", staff.id);
            let remittance = store::Remittance {
                id,
                courier,
                sha256: &sha,
                lines: lines.len(),
                total_minor: total,
                matched_minor: matched,
                imported_by: &by,
            };
            if !store::insert_remittance(&mut tx, &remittance).await? {
                return Err(Error::conflict("already-imported", "This report was imported before."));
            }
            tx.commit().await?;
            tracing::info!(courier, remittance.id = %id, lines = lines.len(), matched_minor = matched, exceptions = exceptions.len(), "remittance imported");
            Ok(RemittanceReport {
                remittance_id: id,
                courier: courier.to_owned(),
                lines: lines.len(),
                total: Money::lkr(total),
                matched: Money::lkr(matched),
                exceptions,
            })
        })
        .await
    }

    /// What each courier still owes for cash it collected.
    pub async fn cod_owed(&self) -> Result<Vec<Owed>, Error> {
        let mut owed: Vec<Owed> = vec![];
        for parcel in store::owed(&self.pool, 10_000).await? {
            let amount = parcel.cod_minor - parcel.remitted_minor;
            let item = OwedParcel {
                order_id: parcel.order_id,
                waybill: parcel.waybill,
                owed: Money::lkr(amount),
                delivered_at: parcel.delivered_at,
            };
            match owed.last_mut().filter(|o| o.courier == parcel.courier) {
                Some(o) => {
                    o.parcels += 1;
                    o.owed.amount_minor += amount;
                    o.items.push(item);
                }
                None => owed.push(Owed {
                    courier: parcel.courier,
                    parcels: 1,
                    owed: Money::lkr(amount),
                    oldest_delivered_at: parcel.delivered_at,
                    items: vec![item],
                }),
            }
        }
        Ok(owed)
    }

    /// What finance must look at.
    pub async fn exceptions(&self) -> Result<Exceptions, Error> {
        let now = Utc::now();
        let flagged = store::flagged(&self.pool, 200).await?;
        let stuck = store::stuck_refunds(&self.pool, now - chrono::Duration::hours(1), 200).await?;
        Ok(Exceptions {
            flagged_payments: flagged.into_iter().map(crate::model::StaffPayment::from).collect(),
            stuck_refunds: stuck.into_iter().map(crate::model::RefundView::from).collect(),
            refused_notifications: store::refused_signed(&self.pool, now - chrono::Duration::days(30), 200).await?,
        })
    }
}
