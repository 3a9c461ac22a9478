//! Orders' SQL.

pub mod staff;

use chrono::{DateTime, Utc};
use pola_core::Money;
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use uuid::Uuid;

use crate::model::{Basket, Order, OrderEvent, OrderLine, OrderStatus, OrderSummary, Pricing, Shipment, StatusChange};

/// Records the key's order id unless the key is known already.
pub async fn claim_idempotency_key(
    pool: &MySqlPool,
    customer: Uuid,
    key: &str,
    hash: &[u8; 32],
    order: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT IGNORE INTO idempotency_keys (customer_id, idem_key, request_hash, order_id, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(customer)
    .bind(key)
    .bind(&hash[..])
    .bind(order)
    .bind(Utc::now())
    .execute(pool)
    .await
    .map(drop)
}

/// A claimed idempotency key, locked.
#[derive(sqlx::FromRow)]
pub struct ClaimedKey {
    pub request_hash: Vec<u8>,
    pub order_id: Uuid,
    /// The order was placed already (this request is a replay).
    pub placed: bool,
}

/// Locks the key's row for the rest of the transaction; `None` if it is gone.
pub async fn lock_idempotency_key(conn: &mut MySqlConnection, customer: Uuid, key: &str) -> sqlx::Result<Option<ClaimedKey>> {
    sqlx::query_as(
        "SELECT k.request_hash, k.order_id, EXISTS (SELECT 1 FROM orders o WHERE o.id = k.order_id) AS placed
         FROM idempotency_keys k WHERE k.customer_id = ? AND k.idem_key = ? FOR UPDATE",
    )
    .bind(customer)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// Keys older than `before` whose order was never written: checkouts that died half-way.
pub async fn abandoned_keys(pool: &MySqlPool, before: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<(Uuid, String, Uuid)>> {
    sqlx::query_as(
        "SELECT k.customer_id, k.idem_key, k.order_id FROM idempotency_keys k
         WHERE k.created_at < ? AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = k.order_id) LIMIT ?",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Locks an abandoned key unless a checkout holds it; false when it is held, gone, or its order
/// now exists.
pub async fn lock_abandoned_key(conn: &mut MySqlConnection, customer: Uuid, key: &str, order: Uuid) -> sqlx::Result<bool> {
    let locked: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM idempotency_keys WHERE customer_id = ? AND idem_key = ? AND order_id = ? FOR UPDATE SKIP LOCKED",
    )
    .bind(customer)
    .bind(key)
    .bind(order)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(locked.is_some() && !order_exists(conn, order).await?)
}

/// Forgets a key whose request was refused, so that nothing of it remains.
pub async fn forget_idempotency_key(conn: &mut MySqlConnection, customer: Uuid, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE customer_id = ? AND idem_key = ?")
        .bind(customer)
        .bind(key)
        .execute(conn)
        .await
        .map(drop)
}

/// Writes a new order with its lines and first status; the delivery address goes in sealed.
pub async fn insert_order(
    conn: &mut MySqlConnection,
    customer: Uuid,
    order: &Order,
    delivery_sealed: Option<&[u8]>,
) -> sqlx::Result<()> {
    let (id, now, lines) = (order.id, order.created_at, &order.lines);
    sqlx::query(
        "INSERT INTO orders (id, customer_id, status, currency, subtotal_minor, total_minor, delivery_sealed, pricing,
                             discount_minor, delivery_fee_minor, vat_minor, district, created_at, updated_at)
         VALUES (?, ?, 'pending_payment', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(customer)
    .bind(order.total.currency.code())
    .bind(order.subtotal.amount_minor)
    .bind(order.total.amount_minor)
    .bind(delivery_sealed)
    .bind(sqlx::types::Json(&order.pricing))
    .bind(order.lines.iter().map(|l| l.discount.amount_minor).sum::<i64>())
    .bind(order.pricing.delivery_fee.amount_minor)
    .bind(order.pricing.vat.as_ref().map(|v| v.amount.amount_minor))
    .bind(order.pricing.delivery_charge.as_ref().map(|d| &d.district))
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    insert_lines(conn, lines.iter().enumerate().map(|(i, l)| (id, i, l))).await?;
    for change in &order.history {
        record_change(conn, id, customer, &order.total, change).await?;
    }
    Ok(())
}

/// Writes order lines: (order, line number, line).
async fn insert_lines(
    conn: &mut MySqlConnection,
    lines: impl IntoIterator<Item = (Uuid, usize, &OrderLine)>,
) -> sqlx::Result<()> {
    let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
        "INSERT INTO order_lines (order_id, line_no, variant_id, product_id, sku, title, unit_price_minor, quantity,
                                  line_total_minor, discount_minor, vat_minor) ",
    );
    insert.push_values(lines, |mut row, (order, i, l)| {
        row.push_bind(order)
            .push_bind(i as i32)
            .push_bind(l.variant_id)
            .push_bind(l.product_id)
            .push_bind(&l.sku)
            .push_bind(&l.title)
            .push_bind(l.unit_price.amount_minor)
            .push_bind(l.quantity)
            .push_bind(l.line_total.amount_minor)
            .push_bind(l.discount.amount_minor)
            .push_bind(l.vat.map(|v| v.amount_minor));
    });
    insert.build().execute(conn).await.map(drop)
}

/// Writes a status change to the order's history, and its event to the outbox, in `conn`'s
/// transaction.
async fn record_change(
    conn: &mut MySqlConnection,
    order: Uuid,
    customer: Uuid,
    total: &Money,
    change: &StatusChange,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO order_status_history (order_id, from_status, to_status, actor, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(order)
        .bind(change.from.map(OrderStatus::as_str))
        .bind(change.to.as_str())
        .bind(&change.actor)
        .bind(change.at)
        .execute(&mut *conn)
        .await?;
    let event = OrderEvent {
        order_id: order,
        customer_id: customer,
        status: change.to,
        from: change.from,
        total_minor: total.amount_minor,
        currency: total.currency.code().to_owned(),
    };
    pola_core::events::record(conn, &event).await.map(drop)
}

/// An order as stored: its delivery address still sealed.
pub struct StoredOrder {
    /// With no delivery address yet.
    pub order: Order,
    pub customer: Uuid,
    pub delivery_sealed: Option<Vec<u8>>,
}

/// The ids of every order of `customer`, oldest first.
pub async fn customer_orders(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM orders WHERE customer_id = ? ORDER BY id")
        .bind(customer)
        .fetch_all(pool)
        .await
}

/// An order's row, before its lines and history.
#[derive(sqlx::FromRow)]
struct OrderRow {
    customer_id: Uuid,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
    #[sqlx(rename = "subtotal_minor", try_from = "i64")]
    subtotal: Money,
    #[sqlx(rename = "total_minor", try_from = "i64")]
    total: Money,
    delivery_sealed: Option<Vec<u8>>,
    courier: Option<String>,
    waybill: Option<String>,
    tracking_url: Option<String>,
    /// Absent on orders from before pricing was kept.
    #[sqlx(json(nullable))]
    pricing: Option<Pricing>,
    created_at: DateTime<Utc>,
}

/// An order line as stored.
#[derive(sqlx::FromRow)]
struct LineRow {
    variant_id: Uuid,
    product_id: Uuid,
    sku: String,
    title: String,
    unit_price_minor: i64,
    #[sqlx(try_from = "i32")]
    quantity: u32,
    line_total_minor: i64,
    discount_minor: i64,
    vat_minor: Option<i64>,
}

impl From<LineRow> for OrderLine {
    fn from(row: LineRow) -> Self {
        OrderLine {
            variant_id: row.variant_id,
            product_id: row.product_id,
            sku: row.sku,
            title: row.title,
            unit_price: Money::lkr(row.unit_price_minor),
            quantity: row.quantity,
            line_total: Money::lkr(row.line_total_minor),
            discount: Money::lkr(row.discount_minor),
            vat: row.vat_minor.map(Money::lkr),
        }
    }
}

/// A row of an order's status history.
#[derive(sqlx::FromRow)]
struct ChangeRow {
    /// None for the first status.
    from_status: Option<String>,
    #[sqlx(try_from = "String")]
    to_status: OrderStatus,
    actor: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<ChangeRow> for StatusChange {
    type Error = sqlx::Error;

    fn try_from(row: ChangeRow) -> sqlx::Result<Self> {
        let from = row
            .from_status
            .map(OrderStatus::try_from)
            .transpose()
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: "from_status".into(),
                source: e.into(),
            })?;
        Ok(StatusChange {
            from,
            to: row.to_status,
            actor: row.actor,
            at: row.created_at,
        })
    }
}

/// The order, if it is `customer`'s (any customer's when `customer` is `None`: staff).
pub async fn order(pool: &MySqlPool, id: Uuid, customer: Option<Uuid>) -> sqlx::Result<Option<StoredOrder>> {
    let Some(row) = sqlx::query_as::<_, OrderRow>(
        "SELECT customer_id, status, subtotal_minor, total_minor, delivery_sealed, courier, waybill, tracking_url,
                pricing, created_at
         FROM orders WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    if customer.is_some_and(|c| c != row.customer_id) {
        return Ok(None);
    }
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT variant_id, product_id, sku, title, unit_price_minor, quantity, line_total_minor, discount_minor, vat_minor
         FROM order_lines WHERE order_id = ? ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let history: Vec<ChangeRow> = sqlx::query_as(
        "SELECT from_status, to_status, actor, created_at FROM order_status_history WHERE order_id = ? ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(StoredOrder {
        order: Order {
            id,
            status: row.status,
            lines: lines.into_iter().map(OrderLine::from).collect(),
            subtotal: row.subtotal,
            total: row.total,
            delivery: None,
            personal_data_erased: false,
            created_at: row.created_at,
            shipment: match (row.courier, row.waybill) {
                (Some(courier), Some(waybill)) => Some(Shipment {
                    courier,
                    waybill,
                    tracking_url: row.tracking_url,
                }),
                _ => None,
            },
            history: history.into_iter().map(StatusChange::try_from).collect::<sqlx::Result<_>>()?,
            pricing: row.pricing.unwrap_or_default(),
        },
        customer: row.customer_id,
        delivery_sealed: row.delivery_sealed,
    }))
}

pub async fn order_exists(conn: &mut MySqlConnection, id: Uuid) -> sqlx::Result<bool> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM orders WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// A page of a customer's orders, newest first.
pub async fn list_orders(pool: &MySqlPool, customer: Uuid, after: Option<Uuid>, limit: u32) -> sqlx::Result<Vec<OrderSummary>> {
    sqlx::query_as(
        "SELECT o.id, o.status, o.total_minor, o.created_at,
                CAST((SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l WHERE l.order_id = o.id) AS SIGNED) AS item_count
         FROM orders o WHERE o.customer_id = ? AND (? IS NULL OR o.id < ?) ORDER BY o.id DESC LIMIT ?",
    )
    .bind(customer)
    .bind(after)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// An order as a status change locks it.
#[derive(sqlx::FromRow)]
struct LockedOrder {
    customer_id: Uuid,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
    #[sqlx(rename = "total_minor", try_from = "i64")]
    total: Money,
}

/// What a status change found.
pub enum Transition {
    Done { from: OrderStatus, customer: Uuid },
    NotFound,
    Illegal { from: OrderStatus },
}

/// Moves an order to `to` if that is legal from its current status, recording who did it and,
/// when it ships, how it travels.
pub async fn transition(
    pool: &MySqlPool,
    id: Uuid,
    customer: Option<Uuid>,
    to: OrderStatus,
    actor: &str,
    shipment: Option<&Shipment>,
) -> sqlx::Result<Transition> {
    let mut tx = pool.begin().await?;
    let Some(locked) =
        sqlx::query_as::<_, LockedOrder>("SELECT customer_id, status, total_minor FROM orders WHERE id = ? FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(Transition::NotFound);
    };
    let (owner, from) = (locked.customer_id, locked.status);
    if customer.is_some_and(|c| c != owner) {
        return Ok(Transition::NotFound);
    }
    if !from.can_become(to) {
        return Ok(Transition::Illegal { from });
    }
    sqlx::query(
        "UPDATE orders SET status = ?, updated_at = ?, courier = COALESCE(?, courier), waybill = COALESCE(?, waybill),
                tracking_url = CASE WHEN ? THEN ? ELSE tracking_url END
         WHERE id = ?",
    )
    .bind(to.as_str())
    .bind(Utc::now())
    .bind(shipment.map(|s| &s.courier))
    .bind(shipment.map(|s| &s.waybill))
    .bind(shipment.is_some())
    .bind(shipment.and_then(|s| s.tracking_url.as_ref()))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let change = StatusChange {
        from: Some(from),
        to,
        actor: actor.to_owned(),
        at: Utc::now(),
    };
    record_change(&mut tx, id, owner, &locked.total, &change).await?;
    tx.commit().await?;
    Ok(Transition::Done { from, customer: owner })
}

/// Orders still waiting for payment that were placed before `before`, oldest first (ids are
/// time-ordered), after `after`.
pub async fn unpaid_before(pool: &MySqlPool, before: DateTime<Utc>, after: Option<Uuid>, limit: u32) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'pending_payment' AND (? IS NULL OR id > ?) AND created_at < ?
         ORDER BY id LIMIT ?",
    )
    .bind(after)
    .bind(after)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct BasketLine {
    order_id: Uuid,
    created_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
    product_id: Uuid,
}

/// Folds lines, ordered by order, into baskets.
fn baskets(lines: Vec<BasketLine>) -> Vec<Basket> {
    let mut out: Vec<Basket> = vec![];
    for line in lines {
        match out.last_mut() {
            Some(basket) if basket.order_id == line.order_id => {
                if !basket.products.contains(&line.product_id) {
                    basket.products.push(line.product_id);
                }
            }
            _ => out.push(Basket {
                order_id: line.order_id,
                placed_at: line.created_at,
                bought: line.status.is_purchase(),
                products: vec![line.product_id],
            }),
        }
    }
    out
}

/// `status IN (…the statuses of a purchase…)`.
fn push_purchase(query: &mut QueryBuilder<MySql>) {
    query.push("status IN (");
    let mut statuses = query.separated(", ");
    for status in OrderStatus::purchases() {
        statuses.push_bind(status.as_str());
    }
    query.push(")");
}

/// Up to `limit` purchases (see `OrderStatus::is_purchase`) after `after`, oldest first.
pub async fn purchases(pool: &MySqlPool, after: Option<Uuid>, limit: u32) -> sqlx::Result<Vec<Basket>> {
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT o.id AS order_id, o.created_at, o.status, l.product_id FROM (SELECT id, created_at, status FROM orders WHERE ",
    );
    push_purchase(&mut query);
    if let Some(after) = after {
        query.push(" AND id > ").push_bind(after);
    }
    query
        .push(" ORDER BY id LIMIT ")
        .push_bind(limit)
        .push(") AS o JOIN order_lines l ON l.order_id = o.id ORDER BY o.id, l.line_no");
    Ok(baskets(query.build_query_as().fetch_all(pool).await?))
}

/// How many orders are purchases.
pub async fn count_purchases(pool: &MySqlPool) -> sqlx::Result<i64> {
    let mut query: QueryBuilder<MySql> = QueryBuilder::new("SELECT COUNT(*) FROM orders WHERE ");
    push_purchase(&mut query);
    query.build_query_scalar().fetch_one(pool).await
}

/// The basket of one order, whatever its status.
pub async fn basket(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<Basket>> {
    let lines = sqlx::query_as(
        "SELECT o.id AS order_id, o.created_at, o.status, l.product_id FROM orders o JOIN order_lines l ON l.order_id = o.id
         WHERE o.id = ? ORDER BY l.line_no",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(baskets(lines).pop())
}

/// How many of `customer`'s orders the courier failed to deliver at least once.
pub async fn failed_deliveries(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(DISTINCT h.order_id) FROM orders o JOIN order_status_history h ON h.order_id = o.id
         WHERE o.customer_id = ? AND h.to_status = 'delivery_failed'",
    )
    .bind(customer)
    .fetch_one(pool)
    .await
}

/// An order of the demo shop's history.
pub struct SeedOrder {
    pub id: Uuid,
    pub customer: Uuid,
    pub placed_at: DateTime<Utc>,
    /// Where it ended: delivered, cancelled, refunded, …
    pub status: OrderStatus,
    pub district: &'static str,
    /// Lines with what promotions took off them (negative `discount`).
    pub lines: Vec<OrderLine>,
    pub delivery_fee_minor: i64,
    /// Who moved it to where it ended: `customer`, `system:payment-window`, `system:koombiyo`, ….
    pub actor: &'static str,
}

impl SeedOrder {
    /// Goods before discounts.
    pub fn subtotal_minor(&self) -> i64 {
        self.lines.iter().map(|l| l.line_total.amount_minor).sum()
    }

    /// What promotions took off (negative).
    pub fn discount_minor(&self) -> i64 {
        self.lines.iter().map(|l| l.discount.amount_minor).sum()
    }

    /// What the customer pays: goods after discounts, and delivery.
    pub fn total_minor(&self) -> i64 {
        self.subtotal_minor() + self.discount_minor() + self.delivery_fee_minor
    }
}

/// Writes a history of orders as they ended (no stock moves, no events, no delivery address:
/// these customers are ids only), for the demo shop.
pub async fn seed_orders(pool: &MySqlPool, orders: &[SeedOrder]) -> sqlx::Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
        "INSERT INTO orders (id, customer_id, status, currency, subtotal_minor, total_minor, discount_minor,
                             delivery_fee_minor, district, created_at, updated_at) ",
    );
    insert.push_values(orders, |mut row, o| {
        row.push_bind(o.id)
            .push_bind(o.customer)
            .push_bind(o.status.as_str())
            .push_bind("LKR")
            .push_bind(o.subtotal_minor())
            .push_bind(o.total_minor())
            .push_bind(o.discount_minor())
            .push_bind(o.delivery_fee_minor)
            .push_bind(o.district)
            .push_bind(o.placed_at)
            .push_bind(o.placed_at);
    });
    insert.build().execute(&mut *tx).await?;
    let lines = orders
        .iter()
        .flat_map(|o| o.lines.iter().enumerate().map(move |(i, l)| (o.id, i, l)));
    insert_lines(&mut tx, lines).await?;
    let mut insert: QueryBuilder<MySql> =
        QueryBuilder::new("INSERT INTO order_status_history (order_id, from_status, to_status, actor, created_at) ");
    insert.push_values(orders, |mut row, o| {
        row.push_bind(o.id)
            .push_bind(OrderStatus::PendingPayment.as_str())
            .push_bind(o.status.as_str())
            .push_bind(o.actor)
            .push_bind(o.placed_at);
    });
    insert.build().execute(&mut *tx).await?;
    tx.commit().await
}

/// How many orders there are.
pub async fn count_orders(pool: &MySqlPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM orders").fetch_one(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_earlier_status_is_a_decode_error_not_a_first_status() {
        let row = ChangeRow {
            from_status: Some("lost".into()),
            to_status: OrderStatus::Paid,
            actor: "system".into(),
            created_at: Utc::now(),
        };
        let error = StatusChange::try_from(row).expect_err("refused");
        assert!(
            matches!(&error, sqlx::Error::ColumnDecode { index, .. } if index == "from_status"),
            "{error}"
        );
        assert!(error.to_string().contains("unknown order status `lost`"), "{error}");
    }
}
