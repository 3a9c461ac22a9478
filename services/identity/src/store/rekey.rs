//! The SQL of the background passes that move customers' rows to the newest keys: data keys
//! rewrapped after `pola keys rotate`, blind indexes remade after a blind-index key rotation.

use sqlx::MySqlPool;
use uuid::Uuid;

/// Which version column a background pass moves forward.
#[derive(Debug, Clone, Copy)]
pub enum Pass {
    /// `pola keys rotate`: data keys to rewrap.
    Rewrap,
    /// After a blind-index key rotation: indexes to remake.
    Reindex,
}

impl Pass {
    fn column(self) -> &'static str {
        match self {
            Pass::Rewrap => "key_version",
            Pass::Reindex => "blind_version",
        }
    }
}

/// Up to `limit` live customers behind `current` for `pass`, by id. Only ever forward: a
/// process that has not seen a rotation yet must not move rows back to its older version.
pub async fn behind(pool: &MySqlPool, pass: Pass, current: u32, limit: u32) -> sqlx::Result<Vec<Uuid>> {
    let sql = format!(
        "SELECT id FROM customers WHERE {} < ? AND erased_at IS NULL ORDER BY id LIMIT ?",
        pass.column()
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(current)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// How many live customers are behind `current` for `pass`.
pub async fn count_behind(pool: &MySqlPool, pass: Pass, current: u32) -> sqlx::Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM customers WHERE {} < ? AND erased_at IS NULL",
        pass.column()
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(current)
        .fetch_one(pool)
        .await
}

/// Records that a customer's data key is now wrapped by `version` (never a step back).
pub async fn set_key_version(pool: &MySqlPool, id: Uuid, version: u32) -> sqlx::Result<()> {
    sqlx::query("UPDATE customers SET key_version = ? WHERE id = ? AND key_version < ?")
        .bind(version)
        .bind(id)
        .bind(version)
        .execute(pool)
        .await
        .map(drop)
}

/// The remade indexes of one customer.
pub struct Indexes {
    pub email: Option<[u8; 32]>,
    pub phone: Option<[u8; 32]>,
    pub nic: Option<[u8; 32]>,
    pub version: u32,
}

/// Replaces a customer's indexes, unless another pass (or an erasure) changed the row since it
/// was read at `from_version`.
pub async fn replace_indexes(pool: &MySqlPool, id: Uuid, from_version: u32, indexes: &Indexes) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE customers SET email_index = ?, phone_index = ?, nic_index = ?, blind_version = ?
         WHERE id = ? AND blind_version = ? AND erased_at IS NULL",
    )
    .bind(indexes.email.as_ref().map(|i| &i[..]))
    .bind(indexes.phone.as_ref().map(|i| &i[..]))
    .bind(indexes.nic.as_ref().map(|i| &i[..]))
    .bind(indexes.version)
    .bind(id)
    .bind(from_version)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}
