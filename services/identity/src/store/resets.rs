//! Password resets' SQL: a secret sent by email or SMS, spent once, and a limit on how often.

use chrono::{DateTime, Utc};
use sqlx::MySqlPool;
use uuid::Uuid;

use super::tokens::revoke_sessions;

/// A password reset as stored.
#[derive(sqlx::FromRow)]
pub struct StoredReset {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub channel: String,
    pub secret_hash: Vec<u8>,
    pub secret_sealed: Option<Vec<u8>>,
    pub attempts: i32,
}

/// Resets of `customer` asked for since `since` (for the limit).
pub async fn resets_since(pool: &MySqlPool, customer: Uuid, since: DateTime<Utc>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM password_resets WHERE customer_id = ? AND created_at >= ?")
        .bind(customer)
        .bind(since)
        .fetch_one(pool)
        .await
}

/// Writes a reset and its `customer.password_reset_requested` event in one transaction.
pub async fn insert_reset(pool: &MySqlPool, reset: &StoredReset, expires_at: DateTime<Utc>) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO password_resets (id, customer_id, channel, secret_hash, secret_sealed, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(reset.id)
    .bind(reset.customer_id)
    .bind(&reset.channel)
    .bind(&reset.secret_hash)
    .bind(&reset.secret_sealed)
    .bind(Utc::now())
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let event = PasswordResetRequested {
        customer_id: reset.customer_id,
        reset_id: reset.id,
        channel: reset.channel.clone(),
    };
    pola_core::events::record(&mut tx, &event).await?;
    tx.commit().await
}

/// `customer.password_reset_requested`: the worker fetches the secret from identity to send it.
#[derive(Debug, serde::Serialize)]
pub struct PasswordResetRequested {
    pub customer_id: Uuid,
    pub reset_id: Uuid,
    pub channel: String,
}

impl pola_core::events::Event for PasswordResetRequested {
    fn kind(&self) -> &'static str {
        "customer.password_reset_requested"
    }
}

const RESET_COLUMNS: &str = "id, customer_id, channel, secret_hash, secret_sealed, attempts";

/// A reset that can still be used: not used, not expired.
pub async fn live_reset(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<StoredReset>> {
    let query = format!("SELECT {RESET_COLUMNS} FROM password_resets WHERE id = ? AND used_at IS NULL AND expires_at > ?");
    sqlx::query_as(sqlx::AssertSqlSafe(query))
        .bind(id)
        .bind(Utc::now())
        .fetch_optional(pool)
        .await
}

/// The newest live reset of `customer` by `channel`.
pub async fn newest_live_reset(pool: &MySqlPool, customer: Uuid, channel: &str) -> sqlx::Result<Option<StoredReset>> {
    let query = format!(
        "SELECT {RESET_COLUMNS} FROM password_resets WHERE customer_id = ? AND channel = ? AND used_at IS NULL \
         AND expires_at > ? ORDER BY created_at DESC LIMIT 1"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(query))
        .bind(customer)
        .bind(channel)
        .bind(Utc::now())
        .fetch_optional(pool)
        .await
}

/// Counts a wrong code; after `max` the reset is spent.
pub async fn wrong_code(pool: &MySqlPool, id: Uuid, max: i32) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE password_resets SET attempts = attempts + 1, used_at = IF(attempts + 1 >= ?, ?, used_at),
                secret_sealed = IF(attempts + 1 >= ?, NULL, secret_sealed) WHERE id = ?",
    )
    .bind(max)
    .bind(Utc::now())
    .bind(max)
    .bind(id)
    .execute(pool)
    .await
    .map(drop)
}

/// Uses a reset: the new password, every other reset of the customer spent, every sign-in revoked.
/// False if the reset was used meanwhile.
pub async fn use_reset(pool: &MySqlPool, reset: &StoredReset, password_hash: &str) -> sqlx::Result<bool> {
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let used = sqlx::query("UPDATE password_resets SET used_at = ?, secret_sealed = NULL WHERE id = ? AND used_at IS NULL")
        .bind(now)
        .bind(reset.id)
        .execute(&mut *tx)
        .await?;
    if used.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("UPDATE password_resets SET used_at = ?, secret_sealed = NULL WHERE customer_id = ? AND used_at IS NULL")
        .bind(now)
        .bind(reset.customer_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE customers SET password_hash = ? WHERE id = ? AND erased_at IS NULL")
        .bind(password_hash)
        .bind(reset.customer_id)
        .execute(&mut *tx)
        .await?;
    revoke_sessions(&mut tx, reset.customer_id, now).await?;
    tx.commit().await.map(|()| true)
}
