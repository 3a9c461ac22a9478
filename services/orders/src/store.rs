//! Orders' SQL.

pub mod staff;

use chrono::Utc;
use pola_core::Money;
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder, Row, mysql::MySqlRow};
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
pub struct ClaimedKey {
    pub request_hash: Vec<u8>,
    pub order_id: Uuid,
    /// The order was placed already (this request is a replay).
    pub placed: bool,
}

/// Locks the key's row for the rest of the transaction; `None` if it is gone.
pub async fn lock_idempotency_key(conn: &mut MySqlConnection, customer: Uuid, key: &str) -> sqlx::Result<Option<ClaimedKey>> {
    let row = sqlx::query(
        "SELECT k.request_hash, k.order_id, EXISTS (SELECT 1 FROM orders o WHERE o.id = k.order_id) AS placed
         FROM idempotency_keys k WHERE k.customer_id = ? AND k.idem_key = ? FOR UPDATE",
    )
    .bind(customer)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(ClaimedKey {
            request_hash: row.try_get("request_hash")?,
            order_id: row.try_get("order_id")?,
            placed: row.try_get::<i64, _>("placed")? == 1,
        })
    })
    .transpose()
}

/// Keys older than `before` whose order was never written: checkouts that died half-way.
pub async fn abandoned_keys(
    pool: &MySqlPool,
    before: chrono::DateTime<Utc>,
    limit: u32,
) -> sqlx::Result<Vec<(Uuid, String, Uuid)>> {
    let rows = sqlx::query(
        "SELECT k.customer_id, k.idem_key, k.order_id FROM idempotency_keys k
         WHERE k.created_at < ? AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = k.order_id) LIMIT ?",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("customer_id")?, r.try_get("idem_key")?, r.try_get("order_id")?)))
        .collect()
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

fn status_of(row: &MySqlRow) -> sqlx::Result<OrderStatus> {
    let s: String = row.try_get("status")?;
    OrderStatus::parse(&s).ok_or_else(|| sqlx::Error::Decode(format!("unknown order status {s}").into()))
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

/// The order, if it is `customer`'s (any customer's when `customer` is `None`: staff).
pub async fn order(pool: &MySqlPool, id: Uuid, customer: Option<Uuid>) -> sqlx::Result<Option<StoredOrder>> {
    let Some(row) = sqlx::query(
        "SELECT id, customer_id, status, subtotal_minor, total_minor, delivery_sealed, courier, waybill, tracking_url,
                pricing, created_at
         FROM orders WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let owner: Uuid = row.try_get("customer_id")?;
    if customer.is_some_and(|c| c != owner) {
        return Ok(None);
    }
    let lines = sqlx::query(
        "SELECT variant_id, product_id, sku, title, unit_price_minor, quantity, line_total_minor, discount_minor, vat_minor
         FROM order_lines WHERE order_id = ? ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|l| {
        let quantity: i32 = l.try_get("quantity")?;
        Ok(OrderLine {
            variant_id: l.try_get("variant_id")?,
            product_id: l.try_get("product_id")?,
            sku: l.try_get("sku")?,
            title: l.try_get("title")?,
            unit_price: Money::lkr(l.try_get("unit_price_minor")?),
            quantity: u32::try_from(quantity).unwrap_or(0),
            line_total: Money::lkr(l.try_get("line_total_minor")?),
            discount: Money::lkr(l.try_get("discount_minor")?),
            vat: l.try_get::<Option<i64>, _>("vat_minor")?.map(Money::lkr),
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    let history =
        sqlx::query("SELECT from_status, to_status, actor, created_at FROM order_status_history WHERE order_id = ? ORDER BY id")
            .bind(id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|h| {
                let from: Option<String> = h.try_get("from_status")?;
                let to: String = h.try_get("to_status")?;
                Ok(StatusChange {
                    from: from.as_deref().and_then(OrderStatus::parse),
                    to: OrderStatus::parse(&to).ok_or_else(|| sqlx::Error::Decode("unknown status".into()))?,
                    actor: h.try_get("actor")?,
                    at: h.try_get("created_at")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Some(StoredOrder {
        order: Order {
            id,
            status: status_of(&row)?,
            lines,
            subtotal: Money::lkr(row.try_get("subtotal_minor")?),
            total: Money::lkr(row.try_get("total_minor")?),
            delivery: None,
            personal_data_erased: false,
            created_at: row.try_get("created_at")?,
            shipment: match (row.try_get("courier")?, row.try_get("waybill")?) {
                (Some(courier), Some(waybill)) => Some(Shipment {
                    courier,
                    waybill,
                    tracking_url: row.try_get("tracking_url")?,
                }),
                _ => None,
            },
            history,
            pricing: row
                .try_get::<Option<sqlx::types::Json<Pricing>>, _>("pricing")?
                .map(|p| p.0)
                .unwrap_or_default(),
        },
        customer: owner,
        delivery_sealed: row.try_get("delivery_sealed")?,
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
    let rows = sqlx::query(
        "SELECT o.id, o.status, o.total_minor, o.created_at,
                CAST((SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l WHERE l.order_id = o.id) AS SIGNED) AS item_count
         FROM orders o WHERE o.customer_id = ? AND (? IS NULL OR o.id < ?) ORDER BY o.id DESC LIMIT ?",
    )
    .bind(customer)
    .bind(after)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(OrderSummary {
                id: row.try_get("id")?,
                status: status_of(row)?,
                total: Money::lkr(row.try_get("total_minor")?),
                item_count: row.try_get("item_count")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
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
    let Some(row) = sqlx::query("SELECT customer_id, status, total_minor FROM orders WHERE id = ? FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(Transition::NotFound);
    };
    let owner: Uuid = row.try_get("customer_id")?;
    if customer.is_some_and(|c| c != owner) {
        return Ok(Transition::NotFound);
    }
    let from = status_of(&row)?;
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
    let total = Money::lkr(row.try_get("total_minor")?);
    record_change(&mut tx, id, owner, &total, &change).await?;
    tx.commit().await?;
    Ok(Transition::Done { from, customer: owner })
}

/// Orders still waiting for payment that were placed before `before`, oldest first (ids are
/// time-ordered), after `after`.
pub async fn unpaid_before(
    pool: &MySqlPool,
    before: chrono::DateTime<Utc>,
    after: Option<Uuid>,
    limit: u32,
) -> sqlx::Result<Vec<Uuid>> {
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
    created_at: chrono::DateTime<Utc>,
    status: String,
    product_id: Uuid,
}

/// Folds lines, ordered by order, into baskets.
fn baskets(lines: Vec<BasketLine>) -> sqlx::Result<Vec<Basket>> {
    let mut out: Vec<Basket> = vec![];
    for line in lines {
        let status = OrderStatus::parse(&line.status).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: format!("unknown order status `{}`", line.status).into(),
        })?;
        match out.last_mut() {
            Some(basket) if basket.order_id == line.order_id => {
                if !basket.products.contains(&line.product_id) {
                    basket.products.push(line.product_id);
                }
            }
            _ => out.push(Basket {
                order_id: line.order_id,
                placed_at: line.created_at,
                bought: status.is_purchase(),
                products: vec![line.product_id],
            }),
        }
    }
    Ok(out)
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
    baskets(query.build_query_as().fetch_all(pool).await?)
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
    Ok(baskets(lines)?.pop())
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
    pub placed_at: chrono::DateTime<Utc>,
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
