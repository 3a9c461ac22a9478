//! The SQL of staff's reveals of a customer's sealed data: each one is kept, for the customer's
//! export and for audit.

use chrono::{DateTime, Utc};
use sqlx::MySqlPool;
use uuid::Uuid;

/// A reveal of a customer's field by a staff member.
#[derive(Debug, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Reveal {
    pub id: Uuid,
    pub staff_id: Uuid,
    pub customer_id: Uuid,
    pub field: String,
    pub reason: String,
    pub request_id: String,
    #[sqlx(rename = "created_at")]
    pub at: DateTime<Utc>,
}

/// Records a reveal, in the caller's transaction.
pub async fn insert_reveal(conn: &mut sqlx::MySqlConnection, reveal: &Reveal) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO pii_reveals (id, staff_id, customer_id, field, reason, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(reveal.id)
    .bind(reveal.staff_id)
    .bind(reveal.customer_id)
    .bind(&reveal.field)
    .bind(&reveal.reason)
    .bind(&reveal.request_id)
    .bind(reveal.at)
    .execute(conn)
    .await
    .map(drop)
}

/// The reveals of `customer`'s data, oldest first.
pub async fn reveals(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<Vec<Reveal>> {
    sqlx::query_as(
        "SELECT id, staff_id, customer_id, field, reason, request_id, created_at FROM pii_reveals
         WHERE customer_id = ? ORDER BY created_at, id",
    )
    .bind(customer)
    .fetch_all(pool)
    .await
}
