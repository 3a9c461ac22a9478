//! Payments' SQL.

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use uuid::Uuid;

use pola_core::Money;

use crate::model::{Method, Outcome, PaymentStatus, PaymentView, RefundStatus, RefundView};

/// How the customer chose to pay an order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Checkout {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    #[sqlx(try_from = "String")]
    pub method: Method,
    pub amount_minor: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub pay_by: Option<DateTime<Utc>>,
    pub settled: bool,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const CHECKOUT: &str =
    "SELECT order_id, customer_id, method, amount_minor, currency, reference, pay_by, settled, checked_at, created_at
                        FROM checkouts";

pub async fn checkout(conn: &mut MySqlConnection, order: Uuid) -> sqlx::Result<Option<Checkout>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{CHECKOUT} WHERE order_id = ?")))
        .bind(order)
        .fetch_optional(conn)
        .await
}

/// The order's checkout, locked for the rest of the transaction: payments of one order are
/// applied one at a time, so that two of them never both pay it.
pub async fn lock_checkout(conn: &mut MySqlConnection, order: Uuid) -> sqlx::Result<Option<Checkout>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{CHECKOUT} WHERE order_id = ? FOR UPDATE")))
        .bind(order)
        .fetch_optional(conn)
        .await
}

/// Records (or changes, while nothing is settled) how the order is paid. A bank transfer's
/// deadline, once set, stays.
pub async fn choose(conn: &mut MySqlConnection, c: &Checkout) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO checkouts (order_id, customer_id, method, amount_minor, currency, reference, pay_by, settled, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, FALSE, ?, ?)
         ON DUPLICATE KEY UPDATE method = VALUES(method), reference = COALESCE(reference, VALUES(reference)),
                                 pay_by = COALESCE(pay_by, VALUES(pay_by)), updated_at = VALUES(updated_at)",
    )
    .bind(c.order_id)
    .bind(c.customer_id)
    .bind(c.method.as_str())
    .bind(c.amount_minor)
    .bind(&c.currency)
    .bind(&c.reference)
    .bind(c.pay_by)
    .bind(c.created_at)
    .bind(Utc::now())
    .execute(conn)
    .await
    .map(drop)
}

/// Writes a checkout for an order paid without one (a transfer confirmed by finance, a payment
/// the gateway reports for an order nobody started a checkout for); false when another
/// transaction wrote it first.
pub async fn insert_checkout(conn: &mut MySqlConnection, c: &Checkout) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO checkouts (order_id, customer_id, method, amount_minor, currency, settled, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, FALSE, ?, ?)",
    )
    .bind(c.order_id)
    .bind(c.customer_id)
    .bind(c.method.as_str())
    .bind(c.amount_minor)
    .bind(&c.currency)
    .bind(c.created_at)
    .bind(Utc::now())
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if pola_core::db::is_duplicate_key(&e, "PRIMARY") => Ok(false),
        Err(e) => Err(e),
    }
}

/// The order is no longer waiting for its payment.
pub async fn settle(conn: &mut MySqlConnection, order: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE checkouts SET settled = TRUE, updated_at = ? WHERE order_id = ?")
        .bind(Utc::now())
        .bind(order)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn mark_checked(pool: &MySqlPool, order: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE checkouts SET checked_at = ? WHERE order_id = ?")
        .bind(Utc::now())
        .bind(order)
        .execute(pool)
        .await
        .map(drop)
}

/// Gateway checkouts still waiting, started before `started_before` and not asked about since
/// `checked_before`.
pub async fn unanswered_checkouts(
    pool: &MySqlPool,
    method: Method,
    started_before: DateTime<Utc>,
    checked_before: DateTime<Utc>,
    limit: u32,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT order_id FROM checkouts WHERE settled = FALSE AND method = ? AND created_at < ?
           AND (checked_at IS NULL OR checked_at < ?) ORDER BY checked_at, order_id LIMIT ?",
    )
    .bind(method.as_str())
    .bind(started_before)
    .bind(checked_before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One payment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Payment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub customer_id: Uuid,
    #[sqlx(try_from = "String")]
    pub method: Method,
    pub reference: String,
    #[sqlx(try_from = "String")]
    pub status: PaymentStatus,
    pub amount_minor: i64,
    pub currency: String,
    pub refunded_minor: i64,
    #[sqlx(try_from = "String")]
    pub outcome: Outcome,
    pub instrument: Option<String>,
    pub flag: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Payment> for crate::model::StaffPayment {
    fn from(p: Payment) -> Self {
        crate::model::StaffPayment {
            order_id: p.order_id,
            payment: p.into(),
        }
    }
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        PaymentView {
            id: p.id,
            method: p.method,
            reference: Some(p.reference),
            status: p.status,
            amount: Money::lkr(p.amount_minor),
            refunded: Money::lkr(p.refunded_minor),
            outcome: p.outcome,
            instrument: p.instrument,
            flag: p.flag,
            created_at: p.created_at,
        }
    }
}

const PAYMENT: &str = "SELECT id, order_id, customer_id, method, reference, status, amount_minor, currency, refunded_minor,
                              outcome, instrument, flag, created_at FROM payments";

#[derive(sqlx::FromRow)]
struct CheckoutRow {
    order_id: Uuid,
    #[sqlx(try_from = "String")]
    method: Method,
    amount_minor: i64,
    settled: bool,
    created_at: DateTime<Utc>,
}

/// How orders are to be paid, newest order first (order ids are time-ordered).
pub async fn search_checkouts(
    pool: &MySqlPool,
    query: &crate::model::CheckoutQuery,
    page: pola_core::pagination::PageRequest,
) -> sqlx::Result<Vec<crate::model::CheckoutSummary>> {
    let mut select: QueryBuilder<MySql> =
        QueryBuilder::new("SELECT order_id, method, amount_minor, settled, created_at FROM checkouts WHERE TRUE");
    if let Some(method) = query.method {
        select.push(" AND method = ").push_bind(method.as_str());
    }
    if let Some(since) = query.since {
        select.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = query.until {
        select.push(" AND created_at < ").push_bind(until);
    }
    if let Some(after) = page.after {
        select.push(" AND order_id < ").push_bind(after);
    }
    select.push(" ORDER BY order_id DESC LIMIT ").push_bind(page.limit + 1);
    let rows: Vec<CheckoutRow> = select.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| crate::model::CheckoutSummary {
            order_id: r.order_id,
            method: r.method,
            amount: Money::lkr(r.amount_minor),
            settled: r.settled,
            created_at: r.created_at,
        })
        .collect())
}

/// Payments newest first (their ids are time-ordered), narrowed by `query`.
pub async fn search_payments(
    pool: &MySqlPool,
    query: &crate::model::PaymentQuery,
    page: pola_core::pagination::PageRequest,
) -> sqlx::Result<Vec<Payment>> {
    let mut select: QueryBuilder<MySql> = QueryBuilder::new(PAYMENT);
    select.push(" WHERE TRUE");
    if let Some(method) = query.method {
        select.push(" AND method = ").push_bind(method.as_str());
    }
    if let Some(status) = query.status {
        select.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(order) = query.order {
        select.push(" AND order_id = ").push_bind(order);
    }
    if let Some(since) = query.since {
        select.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = query.until {
        select.push(" AND created_at < ").push_bind(until);
    }
    if let Some(after) = page.after {
        select.push(" AND id < ").push_bind(after);
    }
    select.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit + 1);
    select.build_query_as().fetch_all(pool).await
}

/// Writes the payment; false when one with its method and reference exists (another
/// transaction wrote it first).
pub async fn insert_payment(conn: &mut MySqlConnection, p: &Payment) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO payments (id, order_id, customer_id, method, reference, status, amount_minor, currency,
                                      refunded_minor, outcome, instrument, flag, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id)
    .bind(p.order_id)
    .bind(p.customer_id)
    .bind(p.method.as_str())
    .bind(&p.reference)
    .bind(p.status.as_str())
    .bind(p.amount_minor)
    .bind(&p.currency)
    .bind(p.refunded_minor)
    .bind(p.outcome.as_str())
    .bind(&p.instrument)
    .bind(&p.flag)
    .bind(p.created_at)
    .bind(p.created_at)
    .execute(conn)
    .await;
    match done {
        Ok(_) => Ok(true),
        Err(e) if pola_core::db::is_duplicate_key(&e, "uq_payments_reference") => Ok(false),
        Err(e) => Err(e),
    }
}

/// The payment with this method and reference, locked for the rest of the transaction.
pub async fn lock_payment(conn: &mut MySqlConnection, method: Method, reference: &str) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PAYMENT} WHERE method = ? AND reference = ? FOR UPDATE"
    )))
    .bind(method.as_str())
    .bind(reference)
    .fetch_optional(conn)
    .await
}

pub async fn set_status(
    conn: &mut MySqlConnection,
    id: Uuid,
    status: PaymentStatus,
    instrument: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE payments SET status = ?, instrument = COALESCE(?, instrument), updated_at = ? WHERE id = ?")
        .bind(status.as_str())
        .bind(instrument)
        .bind(Utc::now())
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_outcome(conn: &mut MySqlConnection, id: Uuid, outcome: Outcome, flag: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("UPDATE payments SET outcome = ?, flag = COALESCE(?, flag), updated_at = ? WHERE id = ?")
        .bind(outcome.as_str())
        .bind(flag)
        .bind(Utc::now())
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn flag(conn: &mut MySqlConnection, id: Uuid, flag: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE payments SET flag = ?, updated_at = ? WHERE id = ?")
        .bind(flag)
        .bind(Utc::now())
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

/// Whether another payment of the order paid it already.
pub async fn applied_other(conn: &mut MySqlConnection, order: Uuid, except: Uuid) -> sqlx::Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM payments WHERE order_id = ? AND id <> ? AND outcome = 'applied' LIMIT 1")
            .bind(order)
            .bind(except)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

pub async fn order_payments(pool: &MySqlPool, order: Uuid) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PAYMENT} WHERE order_id = ? ORDER BY created_at, id"
    )))
    .bind(order)
    .fetch_all(pool)
    .await
}

/// Succeeded payments not applied to their order yet (the process stopped in between).
pub async fn unapplied(pool: &MySqlPool, before: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PAYMENT} WHERE status = 'succeeded' AND outcome = 'open' AND updated_at < ? LIMIT ?"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Flagged payments, newest first.
pub async fn flagged(pool: &MySqlPool, limit: u32) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PAYMENT} WHERE flag IS NOT NULL ORDER BY updated_at DESC LIMIT ?"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Sets aside `amount` of the payment for a refund; false when that is more than is left. The
/// check and the change are one statement, so two refunds at once never take more than was paid.
pub async fn reserve_refund(conn: &mut MySqlConnection, payment: Uuid, amount: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE payments SET refunded_minor = refunded_minor + ?, updated_at = ?
         WHERE id = ? AND status = 'succeeded' AND refunded_minor + ? <= amount_minor",
    )
    .bind(amount)
    .bind(Utc::now())
    .bind(payment)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives back what a refund the gateway refused had set aside.
pub async fn release_refund(conn: &mut MySqlConnection, payment: Uuid, amount: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE payments SET refunded_minor = refunded_minor - ?, updated_at = ? WHERE id = ?")
        .bind(amount)
        .bind(Utc::now())
        .bind(payment)
        .execute(conn)
        .await
        .map(drop)
}

/// What Pola made of one notification.
pub struct NotificationLog<'a> {
    pub method: Method,
    pub order_ref: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub status_code: Option<&'a str>,
    pub amount: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub verdict: &'static str,
    pub reason: Option<&'a str>,
    pub signed: bool,
}

pub async fn log_notification(pool: &MySqlPool, n: &NotificationLog<'_>) -> sqlx::Result<()> {
    let cut = |v: Option<&str>, max: usize| v.map(|v| v.chars().take(max).collect::<String>());
    sqlx::query(
        "INSERT INTO payment_notifications (method, order_ref, reference, status_code, amount, currency, verdict, reason,
                                            signed, request_id, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(n.method.as_str())
    .bind(cut(n.order_ref, 100))
    .bind(cut(n.reference, 100))
    .bind(cut(n.status_code, 10))
    .bind(cut(n.amount, 30))
    .bind(cut(n.currency, 10))
    .bind(n.verdict)
    .bind(cut(n.reason, 200))
    .bind(n.signed)
    .bind(pola_core::http::current_request_id())
    .bind(Utc::now())
    .execute(pool)
    .await
    .map(drop)
}

/// Correctly signed notifications that were refused: real money may be behind them.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct RefusedNotification {
    pub order_ref: Option<String>,
    pub reference: Option<String>,
    pub status_code: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub reason: Option<String>,
    pub received_at: DateTime<Utc>,
}

pub async fn refused_signed(pool: &MySqlPool, since: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<RefusedNotification>> {
    sqlx::query_as(
        "SELECT order_ref, reference, status_code, amount, currency, reason, received_at FROM payment_notifications
         WHERE verdict = 'refused' AND signed = TRUE AND received_at >= ? ORDER BY id DESC LIMIT ?",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One refund.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Refund {
    pub id: Uuid,
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    #[sqlx(try_from = "String")]
    pub status: RefundStatus,
    pub reference: Option<String>,
    pub requested_by: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Refund> for RefundView {
    fn from(r: Refund) -> Self {
        RefundView {
            id: r.id,
            payment_id: r.payment_id,
            amount: Money::lkr(r.amount_minor),
            reason: r.reason,
            status: r.status,
            reference: r.reference,
            requested_by: r.requested_by,
            last_error: r.last_error,
            created_at: r.created_at,
        }
    }
}

const REFUND: &str = "SELECT id, order_id, payment_id, amount_minor, currency, reason, status, reference, requested_by, attempts,
                             last_error, created_at FROM refunds";

pub async fn insert_refund(conn: &mut MySqlConnection, r: &Refund) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refunds (id, order_id, payment_id, amount_minor, currency, reason, status, reference, requested_by,
                              attempts, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
    )
    .bind(r.id)
    .bind(r.order_id)
    .bind(r.payment_id)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(&r.reason)
    .bind(r.status.as_str())
    .bind(&r.reference)
    .bind(&r.requested_by)
    .bind(r.created_at)
    .bind(r.created_at)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn lock_refund(conn: &mut MySqlConnection, id: Uuid) -> sqlx::Result<Option<Refund>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{REFUND} WHERE id = ? FOR UPDATE")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn finish_refund(
    conn: &mut MySqlConnection,
    id: Uuid,
    status: RefundStatus,
    reference: Option<&str>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refunds SET status = ?, reference = COALESCE(?, reference), last_error = ?, attempts = attempts + 1,
                            updated_at = ? WHERE id = ?",
    )
    .bind(status.as_str())
    .bind(reference)
    .bind(error.map(|e| e.chars().take(300).collect::<String>()))
    .bind(Utc::now())
    .bind(id)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn order_refunds(pool: &MySqlPool, order: Uuid) -> sqlx::Result<Vec<Refund>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{REFUND} WHERE order_id = ? ORDER BY created_at, id"
    )))
    .bind(order)
    .fetch_all(pool)
    .await
}

/// Refunds to send (again) to the gateway: pending and not tried since `before`.
pub async fn due_refunds(pool: &MySqlPool, before: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM refunds WHERE status = 'pending' AND updated_at <= ? ORDER BY created_at LIMIT ?")
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Refunds that failed, or have waited since `before`: finance's to look at.
pub async fn stuck_refunds(pool: &MySqlPool, before: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<Refund>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{REFUND} WHERE status = 'failed' OR (status = 'pending' AND created_at < ?) ORDER BY created_at DESC LIMIT ?"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A parcel with its courier.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Shipment {
    pub order_id: Uuid,
    pub courier: String,
    pub waybill: String,
    pub cod_minor: i64,
    pub currency: String,
    pub courier_status: Option<String>,
    pub shipped_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub remitted_minor: i64,
}

const SHIPMENT: &str = "SELECT order_id, courier, waybill, cod_minor, currency, courier_status, shipped_at, delivered_at,
                               remitted_minor FROM shipments";

pub async fn shipment(pool: &MySqlPool, order: Uuid) -> sqlx::Result<Option<Shipment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SHIPMENT} WHERE order_id = ?")))
        .bind(order)
        .fetch_optional(pool)
        .await
}

pub async fn insert_shipment(pool: &MySqlPool, s: &Shipment) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO shipments (order_id, courier, waybill, cod_minor, currency, shipped_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(s.order_id)
        .bind(&s.courier)
        .bind(&s.waybill)
        .bind(s.cod_minor)
        .bind(&s.currency)
        .bind(s.shipped_at)
        .execute(pool)
        .await
        .map(drop)
}

pub async fn mark_delivered(conn: &mut MySqlConnection, order: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE shipments SET delivered_at = COALESCE(delivered_at, ?) WHERE order_id = ?")
        .bind(Utc::now())
        .bind(order)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_courier_status(pool: &MySqlPool, order: Uuid, status: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE shipments SET courier_status = ?, tracked_at = ? WHERE order_id = ?")
        .bind(status.chars().take(100).collect::<String>())
        .bind(Utc::now())
        .bind(order)
        .execute(pool)
        .await
        .map(drop)
}

/// Parcels of these couriers still on their way, least recently tracked first.
pub async fn undelivered(
    pool: &MySqlPool,
    courier: &str,
    tracked_before: DateTime<Utc>,
    limit: u32,
) -> sqlx::Result<Vec<Shipment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SHIPMENT} WHERE courier = ? AND delivered_at IS NULL AND (tracked_at IS NULL OR tracked_at < ?)
         ORDER BY tracked_at, shipped_at LIMIT ?"
    )))
    .bind(courier)
    .bind(tracked_before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The parcel with this waybill, locked.
pub async fn lock_shipment_by_waybill(
    conn: &mut MySqlConnection,
    courier: &str,
    waybill: &str,
) -> sqlx::Result<Option<Shipment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SHIPMENT} WHERE courier = ? AND waybill = ? FOR UPDATE"
    )))
    .bind(courier)
    .bind(waybill)
    .fetch_optional(conn)
    .await
}

pub async fn add_remitted(conn: &mut MySqlConnection, order: Uuid, amount: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE shipments SET remitted_minor = remitted_minor + ? WHERE order_id = ?")
        .bind(amount)
        .bind(order)
        .execute(conn)
        .await
        .map(drop)
}

/// Delivered cash-on-delivery parcels the courier has not paid over in full.
pub async fn owed(pool: &MySqlPool, limit: u32) -> sqlx::Result<Vec<Shipment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SHIPMENT} WHERE delivered_at IS NOT NULL AND remitted_minor < cod_minor ORDER BY courier, delivered_at LIMIT ?"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// An imported remittance report.
pub struct Remittance<'a> {
    pub id: Uuid,
    pub courier: &'a str,
    pub sha256: &'a [u8],
    pub lines: usize,
    pub total_minor: i64,
    pub matched_minor: i64,
    pub imported_by: &'a str,
}

/// Records an imported remittance report; false when this file was imported before.
pub async fn insert_remittance(conn: &mut MySqlConnection, r: &Remittance<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT IGNORE INTO cod_remittances (id, courier, file_sha256, line_count, total_minor, matched_minor, imported_by, imported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(r.id)
    .bind(r.courier)
    .bind(r.sha256)
    .bind(r.lines as i64)
    .bind(r.total_minor)
    .bind(r.matched_minor)
    .bind(r.imported_by)
    .bind(Utc::now())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_remittance_line(
    conn: &mut MySqlConnection,
    remittance: Uuid,
    line_no: usize,
    waybill: &str,
    amount: i64,
    order: Option<Uuid>,
    verdict: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cod_remittance_lines (remittance_id, line_no, waybill, amount_minor, order_id, verdict) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(remittance)
    .bind(line_no as i64)
    .bind(waybill)
    .bind(amount)
    .bind(order)
    .bind(verdict)
    .execute(conn)
    .await
    .map(drop)
}

/// Writes what a staff member is about to do; its id, for the result.
pub async fn begin_staff_action(
    pool: &MySqlPool,
    staff: &pola_core::auth::Staff,
    action: &str,
    order: Option<Uuid>,
    detail: &serde_json::Value,
    reason: Option<&str>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "INSERT INTO staff_actions (staff_id, action, order_id, detail, reason, request_id, client_ip, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(staff.id)
    .bind(action)
    .bind(order)
    .bind(sqlx::types::Json(detail))
    .bind(reason)
    .bind(pola_core::http::current_request_id())
    .bind(&staff.client_ip)
    .bind(Utc::now())
    .execute(pool)
    .await?;
    Ok(done.last_insert_id())
}

/// Appends what became of a staff action (the action's own row is never changed).
pub async fn end_staff_action(pool: &MySqlPool, id: u64, result: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO staff_action_results (action_id, result, created_at) VALUES (?, ?, ?)")
        .bind(id)
        .bind(result.chars().take(300).collect::<String>())
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(drop)
}

/// One staff action, as the audit trail shows it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct StaffAction {
    pub staff_id: Uuid,
    pub action: String,
    pub order_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub detail: sqlx::types::Json<serde_json::Value>,
    pub reason: Option<String>,
    /// `ok`, or why it was refused or failed; none while it runs (or if it died half-way).
    pub result: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn staff_actions(pool: &MySqlPool, order: Uuid) -> sqlx::Result<Vec<StaffAction>> {
    sqlx::query_as(
        "SELECT a.staff_id, a.action, a.order_id, a.detail, a.reason, r.result, a.request_id, a.created_at
         FROM staff_actions a LEFT JOIN staff_action_results r ON r.action_id = a.id
         WHERE a.order_id = ? ORDER BY a.id",
    )
    .bind(order)
    .fetch_all(pool)
    .await
}

/// A staff action as the audit trail's search reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct TrailRow {
    pub id: i64,
    pub staff_id: Uuid,
    pub action: String,
    pub order_id: Option<Uuid>,
    pub detail: sqlx::types::Json<serde_json::Value>,
    pub reason: Option<String>,
    pub result: Option<String>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Staff actions matching `search` (whose actions read `order.<action>` when they concern an
/// order, `payments.<action>` otherwise), newest first.
pub async fn trail(pool: &MySqlPool, search: &pola_core::audit::Search) -> sqlx::Result<Vec<TrailRow>> {
    let mut query: sqlx::QueryBuilder<sqlx::MySql> = sqlx::QueryBuilder::new(
        "SELECT a.id, a.staff_id, a.action, a.order_id, a.detail, a.reason, r.result, a.request_id, a.client_ip, a.created_at
         FROM staff_actions a LEFT JOIN staff_action_results r ON r.action_id = a.id WHERE 1 = 1",
    );
    if let Some(staff) = search.staff {
        query.push(" AND a.staff_id = ").push_bind(staff);
    }
    match search.entity.as_deref() {
        None => {}
        Some("order") => {
            query.push(" AND a.order_id IS NOT NULL");
        }
        Some("payments") => {
            query.push(" AND a.order_id IS NULL");
        }
        Some(_) => return Ok(vec![]),
    }
    if let Some(id) = &search.entity_id {
        let Ok(order) = id.parse::<Uuid>() else { return Ok(vec![]) };
        query.push(" AND a.order_id = ").push_bind(order);
    }
    if let Some(action) = &search.action {
        query
            .push(" AND CONCAT(IF(a.order_id IS NULL, 'payments.', 'order.'), REPLACE(a.action, '_', '-')) LIKE ")
            .push_bind(pola_core::audit::action_prefix(action));
    }
    if let Some(since) = search.since {
        query.push(" AND a.created_at >= ").push_bind(since);
    }
    if let Some(until) = search.until {
        query.push(" AND a.created_at < ").push_bind(until);
    }
    query.push(" ORDER BY a.id DESC LIMIT ").push_bind(search.limit());
    query.build_query_as().fetch_all(pool).await
}

/// A demo history's money for one order, as it ended (see `seed_history`).
#[derive(Debug, Clone)]
pub struct SeedMoney {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub method: Method,
    pub amount_minor: i64,
    pub placed_at: DateTime<Utc>,
    /// The payment: its reference (PayHere's payment id, the slip's, or the waybill cash was
    /// collected on), status and when. None: nothing was paid.
    pub payment: Option<(String, PaymentStatus, DateTime<Utc>)>,
    /// The parcel: courier, waybill, shipped, delivered, and cash paid over by the courier.
    pub shipment: Option<SeedShipment>,
    /// Money given back in full: the reason and when.
    pub refund: Option<(String, DateTime<Utc>)>,
}

#[derive(Debug, Clone)]
pub struct SeedShipment {
    pub courier: &'static str,
    pub waybill: String,
    pub shipped_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub remitted_minor: i64,
}

/// Writes a demo history's checkouts, payments, parcels and refunds in one transaction (no
/// events: these orders are history), for the demo shop's reports.
pub async fn seed_history(pool: &MySqlPool, orders: &[SeedMoney]) -> sqlx::Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
        "INSERT INTO checkouts (order_id, customer_id, method, amount_minor, currency, reference, settled, created_at, updated_at) ",
    );
    insert.push_values(orders, |mut row, o| {
        let reference = (o.method == Method::BankTransfer).then(|| format!("P{}", &o.order_id.simple().to_string()[20..]));
        row.push_bind(o.order_id)
            .push_bind(o.customer_id)
            .push_bind(o.method.as_str())
            .push_bind(o.amount_minor)
            .push_bind("LKR")
            .push_bind(reference)
            .push_bind(true)
            .push_bind(o.placed_at)
            .push_bind(o.placed_at);
    });
    insert.build().execute(&mut *tx).await?;
    // Payment ids: the order's id with its first byte changed, so that they are new and stable.
    let payment_id = |order: Uuid| {
        let mut bytes = *order.as_bytes();
        bytes[15] ^= 0x5a;
        Uuid::from_bytes(bytes)
    };
    let paid: Vec<_> = orders.iter().filter_map(|o| o.payment.as_ref().map(|p| (o, p))).collect();
    if !paid.is_empty() {
        let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO payments (id, order_id, customer_id, method, reference, status, amount_minor, currency,
                                   refunded_minor, outcome, created_at, updated_at) ",
        );
        insert.push_values(&paid, |mut row, (o, (reference, status, at))| {
            let refunded = if o.refund.is_some() { o.amount_minor } else { 0 };
            let outcome = match (status, refunded) {
                (_, r) if r > 0 => Outcome::Refunded,
                (PaymentStatus::Succeeded, _) => Outcome::Applied,
                _ => Outcome::Open,
            };
            row.push_bind(payment_id(o.order_id))
                .push_bind(o.order_id)
                .push_bind(o.customer_id)
                .push_bind(o.method.as_str())
                .push_bind(reference)
                .push_bind(status.as_str())
                .push_bind(o.amount_minor)
                .push_bind("LKR")
                .push_bind(refunded)
                .push_bind(outcome.as_str())
                .push_bind(at)
                .push_bind(at);
        });
        insert.build().execute(&mut *tx).await?;
    }
    let shipped: Vec<_> = orders.iter().filter_map(|o| o.shipment.as_ref().map(|s| (o, s))).collect();
    if !shipped.is_empty() {
        let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO shipments (order_id, courier, waybill, cod_minor, currency, shipped_at, delivered_at, remitted_minor) ",
        );
        insert.push_values(&shipped, |mut row, (o, s)| {
            let cod = if o.method == Method::Cod { o.amount_minor } else { 0 };
            row.push_bind(o.order_id)
                .push_bind(s.courier)
                .push_bind(&s.waybill)
                .push_bind(cod)
                .push_bind("LKR")
                .push_bind(s.shipped_at)
                .push_bind(s.delivered_at)
                .push_bind(s.remitted_minor);
        });
        insert.build().execute(&mut *tx).await?;
    }
    let refunded: Vec<_> = orders
        .iter()
        .filter(|o| o.payment.is_some())
        .filter_map(|o| o.refund.as_ref().map(|r| (o, r)))
        .collect();
    if !refunded.is_empty() {
        let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO refunds (id, order_id, payment_id, amount_minor, currency, reason, status, requested_by, attempts,
                                  created_at, updated_at) ",
        );
        insert.push_values(&refunded, |mut row, (o, (reason, at))| {
            let mut id = *payment_id(o.order_id).as_bytes();
            id[14] ^= 0x5a;
            row.push_bind(Uuid::from_bytes(id))
                .push_bind(o.order_id)
                .push_bind(payment_id(o.order_id))
                .push_bind(o.amount_minor)
                .push_bind("LKR")
                .push_bind(reason)
                .push_bind(RefundStatus::Done.as_str())
                .push_bind("system:seed")
                .push_bind(1)
                .push_bind(at)
                .push_bind(at);
        });
        insert.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}
