//! Orders: checkout with an `Idempotency-Key`, prices re-read and stock sold all-or-nothing;
//! history; cancellation; the order status machine.

pub mod api;
pub mod client;
pub mod model;
pub mod staff;
pub mod store;

use std::{sync::Arc, time::Duration};

use pola_cart::{client::CartClient, model::check_codes, price_item};
use pola_catalog::client::CatalogClient;
use pola_core::{Error, FieldError, Money, config::TaxConfig, http::run_to_completion, personal::PersonalData};
use pola_inventory::{client::InventoryClient, model::StockItem};
use pola_pii::{
    KeyService, PiiError,
    seal::{Place, open, seal},
};
use pola_promotions::{
    client::{PriceRequest, PromotionsClient},
    pricing::Destination,
    rejected_problem,
};
use sha2::{Digest, Sha256};
use sqlx::{MySqlConnection, MySqlPool, migrate::Migrator};
use tokio::sync::watch;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use chrono::SubsecRound;

use crate::model::{
    DeliveryAddress, Moved, Order, OrderLine, OrderStatus, PlaceOrder, Pricing, Shipment, StatusChange, check_lines, subtotal,
};

/// The database this service owns: `<prefix>_orders`.
pub const SERVICE: &str = "orders";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The orders service.
pub struct Orders {
    pool: MySqlPool,
    catalog: Arc<dyn CatalogClient>,
    inventory: Arc<dyn InventoryClient>,
    cart: Arc<dyn CartClient>,
    promotions: Arc<dyn PromotionsClient>,
    /// Seals delivery addresses with the customer's data key.
    pii: Arc<dyn KeyService>,
    /// The seller on tax invoices.
    tax: TaxConfig,
}

/// Who is looking at an order: its customer sees the delivery address, staff see it masked, and
/// the handover to a courier or a payment gateway reads it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    Customer,
    Staff,
    /// Pola itself, to hand the address to whoever must have it; staff see it so only through
    /// `reveal_address`, for a reason the audit trail keeps.
    Handover,
}

fn delivery_place(order: Uuid) -> Place<'static> {
    Place {
        table: "orders",
        column: "delivery",
        record: order,
    }
}

/// A placed order, and whether it was placed by an earlier request with the same key.
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

impl Orders {
    pub fn new(
        pool: MySqlPool,
        catalog: Arc<dyn CatalogClient>,
        inventory: Arc<dyn InventoryClient>,
        cart: Arc<dyn CartClient>,
        promotions: Arc<dyn PromotionsClient>,
        pii: Arc<dyn KeyService>,
        tax: TaxConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            catalog,
            inventory,
            cart,
            promotions,
            pii,
            tax,
        })
    }

    /// The order with its delivery address opened for `viewer`. An erased customer's address
    /// no longer opens: the order says so and keeps the rest.
    pub async fn open(&self, stored: store::StoredOrder, viewer: Viewer) -> Result<Order, Error> {
        let mut order = stored.order;
        let Some(sealed) = stored.delivery_sealed else {
            return Ok(order);
        };
        let key = match self.pii.data_key(stored.customer).await {
            Ok(key) => key,
            Err(PiiError::Erased) => {
                order.personal_data_erased = true;
                return Ok(order);
            }
            Err(e) => return Err(e.into()),
        };
        let json = open(&key, delivery_place(order.id), &sealed).map_err(Error::from)?;
        let delivery: DeliveryAddress = serde_json::from_str(&json).map_err(anyhow::Error::from)?;
        order.delivery = Some(match viewer {
            Viewer::Customer | Viewer::Handover => delivery,
            Viewer::Staff => delivery.masked(),
        });
        Ok(order)
    }

    /// The order if it is `customer`'s, opened for them.
    pub async fn customer_order(&self, customer: Uuid, id: Uuid) -> Result<Order, Error> {
        let stored = store::order(&self.pool, id, Some(customer))
            .await?
            .ok_or_else(|| Error::not_found("No such order."))?;
        self.open(stored, Viewer::Customer).await
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The customer's tax invoice for their order, when a business placed it.
    pub async fn tax_invoice(&self, customer: Uuid, id: Uuid) -> Result<model::TaxInvoice, Error> {
        let order = self.customer_order(customer, id).await?;
        if order.status == OrderStatus::Cancelled {
            return Err(Error::conflict("order-cancelled", "A cancelled order has no tax invoice."));
        }
        model::TaxInvoice::of(&order, &self.tax).map_err(Error::not_found)
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::place_order, api::list_orders))
            .routes(routes!(api::get_order))
            .routes(routes!(api::cancel_order))
            .routes(routes!(api::tax_invoice))
            .routes(routes!(api::staff::search))
            .routes(routes!(api::staff::order))
            .routes(routes!(api::staff::reveal_address))
            .routes(routes!(api::staff::at_a_glance))
            .route(
                "/internal/v1/orders/personal-data",
                axum::routing::post(api::internal::personal_data),
            )
            .route("/internal/v1/orders/order", axum::routing::post(api::internal::order))
            .route("/internal/v1/orders/brief", axum::routing::post(api::internal::brief))
            .route("/internal/v1/orders/move", axum::routing::post(api::internal::move_order))
            .route("/internal/v1/orders/unpaid", axum::routing::post(api::internal::unpaid))
            .route(
                "/internal/v1/orders/failed-deliveries",
                axum::routing::post(api::internal::failed_deliveries),
            )
            .route("/internal/v1/orders/purchases", axum::routing::post(api::internal::purchases))
            .route(
                "/internal/v1/orders/purchases/count",
                axum::routing::post(api::internal::count_purchases),
            )
            .route("/internal/v1/orders/basket", axum::routing::post(api::internal::basket))
            .with_state(self.clone())
    }

    /// Places an order; see `place_uncancelled`. The work runs on its own task, so that a client
    /// hanging up half-way cannot cancel it between the sale and the order.
    pub async fn place(self: &Arc<Self>, customer: Uuid, key: &str, request: PlaceOrder) -> Result<Placed, Error> {
        let this = self.clone();
        let key = key.to_owned();
        run_to_completion(async move { this.place_uncancelled(customer, &key, &request).await }).await
    }

    /// Places an order exactly once per (customer, key).
    ///
    /// The key's row is written first and then locked for the whole checkout, so a retry that
    /// arrives while the first attempt runs waits for it and then returns its order. The order
    /// id is fixed by that row, and inventory's commit is idempotent per order id, so a retry
    /// after a crash between the sale and the order insert sells nothing twice. A request
    /// refused as the client's fault (4xx) sold nothing, and forgets the key.
    async fn place_uncancelled(&self, customer: Uuid, key: &str, request: &PlaceOrder) -> Result<Placed, Error> {
        let hash: [u8; 32] = Sha256::digest(serde_json::to_vec(request).map_err(anyhow::Error::from)?).into();
        // The reaper may forget an old unfinished key between our claim and our lock; then the
        // key is claimed afresh.
        let mut attempts = 0;
        let (mut tx, claimed) = loop {
            attempts += 1;
            store::claim_idempotency_key(&self.pool, customer, key, &hash, pola_core::new_id()).await?;
            let mut tx = self.pool.begin().await?;
            match store::lock_idempotency_key(&mut tx, customer, key).await? {
                Some(claimed) => break (tx, claimed),
                None if attempts < 3 => continue,
                None => return Err(Error::Unavailable("The order could not be started; try again.".into())),
            }
        };
        let order_id = claimed.order_id;
        if claimed.request_hash != hash {
            return Err(Error::Unprocessable {
                code: "idempotency-key-reused",
                detail: "This Idempotency-Key was used for a different order; use a new key for a new order.".into(),
            });
        }
        if claimed.placed {
            drop(tx);
            let order = self.customer_order(customer, order_id).await?;
            return Ok(Placed { order, replayed: true });
        }
        let (consumed, order) = match self.sell(&mut tx, customer, order_id, request).await {
            Ok(sold) => sold,
            Err(e) if e.status().is_client_error() => {
                store::forget_idempotency_key(&mut tx, customer, key).await?;
                tx.commit().await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        tx.commit().await?;
        if !consumed.is_empty()
            && let Err(e) = self.cart.remove_checked_out(customer, &consumed).await
        {
            // The order stands; the lines stay in the cart with their stock already sold, and a
            // later checkout of them reserves afresh.
            tracing::warn!(order.id = %order_id, error = %e, "could not clear checked-out cart lines");
        }
        Ok(Placed { order, replayed: false })
    }

    /// Prices the lines (from the cart, or the request), sells their stock and writes the order
    /// in `tx`. Returns the cart lines it used up, and the order.
    async fn sell(
        &self,
        tx: &mut MySqlConnection,
        customer: Uuid,
        order_id: Uuid,
        request: &PlaceOrder,
    ) -> Result<(Vec<Uuid>, Order), Error> {
        let (wanted, from_cart, cart_codes) = match &request.lines {
            Some(lines) => (check_lines(lines).map_err(Error::Validation)?, vec![], vec![]),
            None => {
                let cart = self.cart.checkout_lines(customer).await?;
                if cart.lines.is_empty() {
                    return Err(Error::Unprocessable {
                        code: "empty-cart",
                        detail: "The cart is empty: add something first, or send the lines to buy.".into(),
                    });
                }
                (
                    cart.lines.iter().map(|l| (l.variant_id, l.quantity)).collect(),
                    cart.lines,
                    cart.codes,
                )
            }
        };
        let codes = match &request.codes {
            Some(codes) => check_codes(codes).map_err(Error::Validation)?,
            None => cart_codes,
        };
        let ids: Vec<Uuid> = wanted.iter().map(|(v, _)| *v).collect();
        let infos = self.catalog.variants(&ids).await?;
        let mut lines = vec![];
        let mut items = vec![];
        let mut priced_items = vec![];
        let mut errors = vec![];
        for (i, (variant, quantity)) in wanted.iter().enumerate() {
            match infos.get(variant) {
                Some(info) if info.purchasable => {
                    let line = OrderLine::new(
                        *variant,
                        info.product_id,
                        info.sku.clone(),
                        info.title.clone(),
                        info.price,
                        *quantity,
                    )
                    .ok_or_else(|| Error::field(format!("lines[{i}].quantity"), "is too large"))?;
                    lines.push(line);
                    priced_items.push(price_item(info, *quantity));
                    items.extend(info.stock_items.iter().map(|s| StockItem {
                        variant_id: s.variant_id,
                        quantity: s.quantity * quantity,
                    }));
                }
                Some(_) => errors.push(FieldError::new(format!("lines[{i}].variant_id"), "is no longer sold")),
                None => errors.push(FieldError::new(format!("lines[{i}].variant_id"), "no such variant")),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let delivery = request
            .delivery
            .clone()
            .map(DeliveryAddress::check)
            .transpose()
            .map_err(Error::Validation)?;
        let business = request
            .business
            .clone()
            .map(model::Business::check)
            .transpose()
            .map_err(Error::Validation)?;
        if request.cash_on_delivery && delivery.is_none() {
            return Err(Error::field(
                "cash_on_delivery",
                "needs a delivery address: the courier collects the cash",
            ));
        }
        // Sealed before anything is sold: a key service that cannot be reached sells nothing.
        let delivery_sealed = match &delivery {
            Some(address) => {
                let key = self.pii.data_key(customer).await.map_err(Error::from)?;
                let json = serde_json::to_string(address).map_err(anyhow::Error::from)?;
                Some(seal(&key, delivery_place(order_id), &json))
            }
            None => None,
        };
        let subtotal = subtotal(&lines).ok_or_else(|| Error::field("lines", "the total is too large"))?;
        let destination = delivery
            .as_ref()
            .and_then(|d| d.district.clone())
            .map(|district| Destination {
                district,
                cash_on_delivery: request.cash_on_delivery,
            });
        let priced = self
            .promotions
            .price(&PriceRequest {
                customer: Some(customer),
                items: priced_items,
                codes: codes.clone(),
                destination,
                at: None,
            })
            .await?;
        if let Some(rejected) = priced.rejected_codes.first() {
            return Err(rejected_problem(rejected));
        }
        for (line, priced_line) in lines.iter_mut().zip(&priced.lines) {
            line.discount = priced_line.discount;
            line.vat = Some(priced_line.vat);
        }
        let total: Money = priced.total;
        let consume: Vec<Uuid> = from_cart.iter().map(|l| l.line_id).collect();
        // The uses and the stock at once (each waits for its own commit): a use refused gives
        // the stock back, stock refused gives the uses back. Both are idempotent per order id,
        // and the reaper gives both back for a checkout that died before writing its order.
        let (redeemed, sold) = tokio::join!(
            self.promotions.redeem(order_id, customer, &priced.uses),
            self.inventory.commit(order_id, &consume, &items)
        );
        // When the undoing fails, the answer is a 503, never the refusal: a refusal forgets the
        // key, and a kept key is how the reaper finds what to give back.
        let unfinished = |e: Error| {
            tracing::warn!(order.id = %order_id, error = %e, "could not undo half a refused checkout; the reaper will");
            Error::Unavailable("The order could not be placed; try again.".into())
        };
        if let Err(e) = redeemed {
            if sold.is_ok() {
                self.inventory.return_order(order_id).await.map_err(unfinished)?;
            }
            return Err(e);
        }
        if let Err(e) = sold {
            self.promotions.release(order_id).await.map_err(unfinished)?;
            return Err(e);
        }
        // Microseconds: what the database keeps, so that a replay reads back the same order.
        let now = chrono::Utc::now().trunc_subsecs(6);
        let order = Order {
            id: order_id,
            status: OrderStatus::PendingPayment,
            lines,
            subtotal,
            total,
            delivery,
            personal_data_erased: false,
            created_at: now,
            shipment: None,
            history: vec![StatusChange {
                from: None,
                to: OrderStatus::PendingPayment,
                actor: "customer".into(),
                at: now,
            }],
            pricing: Pricing {
                codes,
                adjustments: priced.adjustments,
                delivery_charge: priced.delivery,
                delivery_fee: priced.delivery_fee,
                vat: Some(priced.vat),
                cash_on_delivery: request.cash_on_delivery,
                business,
            },
        };
        store::insert_order(tx, customer, &order, delivery_sealed.as_deref()).await?;
        tracing::info!(order.id = %order_id, order.total_minor = total.amount_minor, order.lines = order.lines.len(), "order placed");
        Ok((consume, order))
    }

    /// Returns the stock of checkouts that sold but never wrote their order (the process died
    /// between the two) and forgets their keys, once they are `older_than` old. A checkout in
    /// flight holds its key's row lock, and is skipped.
    pub async fn reap_abandoned_checkouts(&self, older_than: Duration) -> Result<u64, Error> {
        let before = chrono::Utc::now() - older_than;
        let mut reaped = 0;
        for (customer, key, order) in store::abandoned_keys(&self.pool, before, 100).await? {
            let mut tx = self.pool.begin().await?;
            if !store::lock_abandoned_key(&mut tx, customer, &key, order).await? {
                continue;
            }
            self.inventory.return_order(order).await?;
            self.promotions.release(order).await?;
            store::forget_idempotency_key(&mut tx, customer, &key).await?;
            tx.commit().await?;
            tracing::warn!(order.id = %order, "abandoned checkout reaped: its stock is back on sale");
            reaped += 1;
        }
        Ok(reaped)
    }

    /// Runs `reap_abandoned_checkouts` every minute, for checkouts over two minutes old, until
    /// `shutdown` changes.
    pub fn spawn_reaper(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                if let Err(e) = this.reap_abandoned_checkouts(Duration::from_secs(120)).await {
                    tracing::warn!(error = %e, "reaping abandoned checkouts failed; will retry");
                }
            }
        })
    }

    /// Cancels the customer's own order while it is unpaid (or cash on delivery not yet
    /// packed); its stock goes back on sale. Cancelling it again answers the same.
    pub async fn cancel(self: &Arc<Self>, id: Uuid, customer: Uuid) -> Result<Order, Error> {
        match self
            .advance(id, Some(customer), OrderStatus::Cancelled, "customer".into(), None)
            .await?
        {
            Moved::Done { .. } | Moved::Already => self.customer_order(customer, id).await,
            Moved::Illegal { from } => Err(Error::conflict(
                "illegal-transition",
                format!("An order that is {from} cannot be cancelled."),
            )),
        }
    }

    /// Moves an order to `to` if that is legal (`customer` limits it to their own orders), and
    /// puts its stock back on sale when the goods never left or came back. Runs on its own task:
    /// a move must not stop between the status change and the stock's return.
    pub async fn advance(
        self: &Arc<Self>,
        id: Uuid,
        customer: Option<Uuid>,
        to: OrderStatus,
        actor: String,
        shipment: Option<Shipment>,
    ) -> Result<Moved, Error> {
        let this = self.clone();
        run_to_completion(async move { this.advance_uncancelled(id, customer, to, &actor, shipment.as_ref()).await }).await
    }

    async fn advance_uncancelled(
        &self,
        id: Uuid,
        customer: Option<Uuid>,
        to: OrderStatus,
        actor: &str,
        shipment: Option<&Shipment>,
    ) -> Result<Moved, Error> {
        let transition =
            pola_core::db::retry_deadlocks(|| store::transition(&self.pool, id, customer, to, actor, shipment)).await?;
        let moved = match transition {
            store::Transition::NotFound => return Err(Error::not_found("No such order.")),
            store::Transition::Illegal { from } if from == to => Moved::Already,
            store::Transition::Illegal { from } => return Ok(Moved::Illegal { from }),
            store::Transition::Done { from, .. } => {
                tracing::info!(order.id = %id, order.from = %from, order.to = %to, actor, "order status changed");
                Moved::Done { from }
            }
        };
        // After the status is committed, never before: stock returned for an order that then
        // failed to move could be sold twice. Moving there again makes sure of the stock: the
        // first move may have died between the two (returning it is idempotent).
        let returns = match moved {
            Moved::Done { from } => from.returns_stock(to),
            _ => matches!(to, OrderStatus::Cancelled | OrderStatus::Returned),
        };
        if returns {
            self.inventory.return_order(id).await?;
        }
        // Promotion uses (and a membership bought) go back with the order: cancelled, expired
        // unpaid, returned or refunded. Idempotent, like the stock's return.
        if matches!(to, OrderStatus::Cancelled | OrderStatus::Returned | OrderStatus::Refunded) {
            self.promotions.release(id).await?;
        }
        if to == OrderStatus::Paid
            && let Some(stored) = store::order(&self.pool, id, None).await?
        {
            let variants: Vec<(Uuid, u32)> = stored.order.lines.iter().map(|l| (l.variant_id, l.quantity)).collect();
            self.promotions.order_paid(id, stored.customer, &variants).await?;
        }
        Ok(moved)
    }

    /// Unpaid orders placed before `before`, oldest first after `after`: the payment window's
    /// candidates.
    pub async fn unpaid_before(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>, Error> {
        Ok(store::unpaid_before(&self.pool, before, after, limit).await?)
    }

    /// How many of the customer's orders the courier failed to deliver.
    pub async fn failed_deliveries(&self, customer: Uuid) -> Result<i64, Error> {
        Ok(store::failed_deliveries(&self.pool, customer).await?)
    }

    /// The order and its customer, opened for `viewer`.
    pub async fn order(&self, id: Uuid, viewer: Viewer) -> Result<Option<client::OwnedOrder>, Error> {
        let Some(stored) = store::order(&self.pool, id, None).await? else {
            return Ok(None);
        };
        let customer = stored.customer;
        Ok(Some(client::OwnedOrder {
            customer,
            order: self.open(stored, viewer).await?,
        }))
    }
}

#[async_trait::async_trait]
impl PersonalData for Orders {
    fn section(&self) -> &'static str {
        "orders"
    }

    /// Every order of the customer, with its delivery address.
    async fn export(&self, customer: Uuid) -> Result<serde_json::Value, Error> {
        let mut orders = vec![];
        for id in store::customer_orders(&self.pool, customer).await? {
            orders.push(self.customer_order(customer, id).await?);
        }
        Ok(serde_json::to_value(orders).map_err(anyhow::Error::from)?)
    }
}
