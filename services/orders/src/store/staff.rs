//! The SQL of staff's order look-ups.

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlPool, QueryBuilder};
use uuid::Uuid;

use crate::model::{OrderStatus, staff::StaffOrderSummary};

/// What staff look for; every field narrows the list.
#[derive(Debug, Default)]
pub struct OrderFilter {
    pub number: Option<String>,
    pub customers: Option<Vec<Uuid>>,
    pub orders: Option<Vec<Uuid>>,
    pub statuses: Vec<OrderStatus>,
    pub district: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keyset: orders older than this one.
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// Orders matching `filter`, newest first.
pub async fn search(pool: &MySqlPool, filter: &OrderFilter) -> sqlx::Result<Vec<StaffOrderSummary>> {
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT o.id, o.number, o.customer_id, o.status, o.total_minor, o.district, o.created_at,
                CAST((SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l WHERE l.order_id = o.id) AS SIGNED) AS item_count
         FROM orders o WHERE 1 = 1",
    );
    if let Some(number) = &filter.number {
        query.push(" AND o.number = ").push_bind(number.clone());
    }
    for (column, ids) in [("o.customer_id", &filter.customers), ("o.id", &filter.orders)] {
        let Some(ids) = ids else { continue };
        if ids.is_empty() {
            return Ok(vec![]);
        }
        query.push(format!(" AND {column} IN ("));
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
    }
    if !filter.statuses.is_empty() {
        query.push(" AND o.status IN (");
        let mut statuses = query.separated(", ");
        for status in &filter.statuses {
            statuses.push_bind(status.as_str());
        }
        query.push(")");
    }
    if let Some(district) = &filter.district {
        query.push(" AND o.district = ").push_bind(district.clone());
    }
    if let Some(since) = filter.since {
        query.push(" AND o.created_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND o.created_at < ").push_bind(until);
    }
    if let Some(before) = filter.before {
        query.push(" AND o.id < ").push_bind(before);
    }
    query.push(" ORDER BY o.id DESC LIMIT ").push_bind(filter.limit);
    query.build_query_as().fetch_all(pool).await
}

/// How many orders are in each status, and today's orders and takings.
#[derive(Debug, sqlx::FromRow)]
pub struct StatusCount {
    pub status: String,
    pub orders: i64,
}

pub async fn open_counts(pool: &MySqlPool) -> sqlx::Result<Vec<StatusCount>> {
    sqlx::query_as(
        "SELECT status, COUNT(*) AS orders FROM orders
         WHERE status IN ('pending_payment', 'paid', 'confirmed', 'packed', 'shipped', 'delivery_failed') GROUP BY status",
    )
    .fetch_all(pool)
    .await
}

/// Orders placed since `since` and their total, paid or not (cancelled ones left out).
pub async fn placed_since(pool: &MySqlPool, since: DateTime<Utc>) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(total_minor), 0) AS SIGNED) FROM orders
         WHERE created_at >= ? AND status NOT IN ('cancelled', 'pending_payment')",
    )
    .bind(since)
    .fetch_one(pool)
    .await
}
