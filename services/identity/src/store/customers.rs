//! Customers' SQL: their sealed rows, look-ups by blind index, preferences and erasure.

use chrono::{DateTime, Utc};
use pola_core::auth::Role;
use sqlx::MySqlPool;
use uuid::Uuid;

use super::tokens::revoke_sessions;
use crate::model::{Language, Preferences};

/// A stored account, with what login needs.
pub struct Account {
    pub id: Uuid,
    pub password_hash: String,
    pub roles: Vec<Role>,
}

/// A customer row as stored: personal data sealed with the customer's data key (kept by the key
/// service), look-ups by blind index.
pub struct SealedCustomer {
    pub id: Uuid,
    pub email_index: [u8; 32],
    pub phone_index: Option<[u8; 32]>,
    pub nic_index: Option<[u8; 32]>,
    /// The key-encryption key version that wraps the data key.
    pub key_version: u32,
    /// The blind-index key version of the indexes.
    pub blind_version: u32,
    pub email_sealed: Vec<u8>,
    pub name_sealed: Vec<u8>,
    pub phone_sealed: Option<Vec<u8>>,
    pub nic_sealed: Option<Vec<u8>>,
    pub language: Language,
}

/// A customer as read back: sealed fields (none once erased).
#[derive(sqlx::FromRow)]
pub struct StoredCustomer {
    pub id: Uuid,
    pub email_sealed: Option<Vec<u8>>,
    pub name_sealed: Option<Vec<u8>>,
    pub phone_sealed: Option<Vec<u8>>,
    pub nic_sealed: Option<Vec<u8>>,
    pub blind_version: u32,
    pub created_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub preferences: Preferences,
}

/// Writes a new customer and the `customer.registered` event, in one transaction.
pub async fn insert_customer(pool: &MySqlPool, customer: &SealedCustomer, password_hash: &str) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO customers (id, email_index, phone_index, nic_index, key_version, blind_version,
                                email_sealed, name_sealed, phone_sealed, nic_sealed, password_hash, created_at, language)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(customer.id)
    .bind(&customer.email_index[..])
    .bind(customer.phone_index.as_ref().map(|i| &i[..]))
    .bind(customer.nic_index.as_ref().map(|i| &i[..]))
    .bind(customer.key_version)
    .bind(customer.blind_version)
    .bind(&customer.email_sealed)
    .bind(&customer.name_sealed)
    .bind(&customer.phone_sealed)
    .bind(&customer.nic_sealed)
    .bind(password_hash)
    .bind(Utc::now())
    .bind(customer.language.code())
    .execute(&mut *tx)
    .await?;
    pola_core::events::record(
        &mut tx,
        &CustomerRegistered {
            customer_id: customer.id,
        },
    )
    .await?;
    tx.commit().await
}

/// `customer.registered`: a new account (its id only).
#[derive(Debug, serde::Serialize)]
pub struct CustomerRegistered {
    pub customer_id: Uuid,
}

impl pola_core::events::Event for CustomerRegistered {
    fn kind(&self) -> &'static str {
        "customer.registered"
    }
}

/// Which blind index a customer look-up uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Email,
    Phone,
    Nic,
}

impl Lookup {
    /// The blind index's kind (its HMAC domain).
    pub fn kind(self) -> &'static str {
        match self {
            Lookup::Email => "email",
            Lookup::Phone => "phone",
            Lookup::Nic => "nic",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Lookup::Email => "email_index",
            Lookup::Phone => "phone_index",
            Lookup::Nic => "nic_index",
        }
    }
}

/// The live (not erased) customers whose `lookup` index is one of `candidates` (the value's
/// index under each blind-index key version), at most `limit`.
pub async fn customers_by_index(
    pool: &MySqlPool,
    lookup: Lookup,
    candidates: &[[u8; 32]],
    limit: u32,
) -> sqlx::Result<Vec<(Uuid, Option<String>)>> {
    let placeholders = vec!["?"; candidates.len()].join(", ");
    let sql = format!(
        "SELECT id, password_hash FROM customers WHERE {} IN ({placeholders}) AND erased_at IS NULL ORDER BY id LIMIT ?",
        lookup.column()
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for candidate in candidates {
        query = query.bind(&candidate[..]);
    }
    query.bind(limit).fetch_all(pool).await
}

/// A customer's password hash, unless erased.
pub async fn customer_password(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<String>> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM customers WHERE id = ? AND erased_at IS NULL")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(hash.flatten())
}

/// A customer's row.
pub async fn customer(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<StoredCustomer>> {
    sqlx::query_as(
        "SELECT id, email_sealed, name_sealed, phone_sealed, nic_sealed, blind_version, created_at, erased_at,
                language, notify_email, notify_sms
         FROM customers WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Sets how a customer wants to hear from the shop.
pub async fn set_preferences(pool: &MySqlPool, id: Uuid, preferences: &Preferences) -> sqlx::Result<bool> {
    let updated =
        sqlx::query("UPDATE customers SET language = ?, notify_email = ?, notify_sms = ? WHERE id = ? AND erased_at IS NULL")
            .bind(preferences.language.code())
            .bind(preferences.email)
            .bind(preferences.sms)
            .bind(id)
            .execute(pool)
            .await?;
    Ok(updated.rows_affected() > 0)
}

/// Erases a customer's row: every sealed field, index and the password go, the id and the
/// time of erasure stay (orders still point at the id). Their sign-ins are revoked in the
/// same transaction.
pub async fn erase_customer(pool: &MySqlPool, id: Uuid) -> sqlx::Result<()> {
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE customers SET email_index = NULL, phone_index = NULL, nic_index = NULL, email_sealed = NULL,
                name_sealed = NULL, phone_sealed = NULL, nic_sealed = NULL, password_hash = NULL, erased_at = ?
         WHERE id = ? AND erased_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    revoke_sessions(&mut tx, id, now).await?;
    tx.commit().await
}
