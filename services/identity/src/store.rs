//! Identity's SQL.

use chrono::{DateTime, Utc};
use pola_core::auth::{Realm, Role};
use sqlx::{MySqlPool, Row};
use uuid::Uuid;

use crate::model::parse_roles;

/// A stored account, with what login needs.
pub struct Account {
    pub id: Uuid,
    pub password_hash: String,
    pub roles: Vec<Role>,
}

/// A customer row as stored: personal data sealed, look-ups by blind index.
pub struct SealedCustomer {
    pub id: Uuid,
    pub email_index: [u8; 32],
    pub phone_index: Option<[u8; 32]>,
    /// The customer's data key, wrapped by the key service.
    pub data_key: String,
    pub email_sealed: Vec<u8>,
    pub name_sealed: Vec<u8>,
    pub phone_sealed: Option<Vec<u8>>,
}

pub async fn insert_customer(pool: &MySqlPool, customer: &SealedCustomer, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO customers (id, email_index, phone_index, data_key, email_sealed, name_sealed, phone_sealed, password_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(customer.id)
    .bind(&customer.email_index[..])
    .bind(customer.phone_index.as_ref().map(|i| &i[..]))
    .bind(&customer.data_key)
    .bind(&customer.email_sealed)
    .bind(&customer.name_sealed)
    .bind(&customer.phone_sealed)
    .bind(password_hash)
    .bind(Utc::now())
    .execute(pool)
    .await
    .map(drop)
}

/// Which blind index a customer look-up uses.
#[derive(Debug, Clone, Copy)]
pub enum Lookup {
    Email,
    Phone,
}

/// The customer account whose email or phone has this blind index.
pub async fn customer_by_index(pool: &MySqlPool, lookup: Lookup, index: &[u8; 32]) -> sqlx::Result<Option<Account>> {
    let sql = match lookup {
        Lookup::Email => "SELECT id, password_hash FROM customers WHERE email_index = ?",
        // A phone number may be on more than one account; only an unambiguous one signs in.
        Lookup::Phone => "SELECT id, password_hash FROM customers WHERE phone_index = ? LIMIT 2",
    };
    let rows = sqlx::query(sql).bind(&index[..]).fetch_all(pool).await?;
    match &rows[..] {
        [row] => Ok(Some(Account {
            id: row.try_get("id")?,
            password_hash: row.try_get("password_hash")?,
            roles: vec![],
        })),
        _ => Ok(None),
    }
}

pub async fn insert_staff(
    pool: &MySqlPool,
    id: Uuid,
    email: &str,
    name: &str,
    roles: &[Role],
    password_hash: &str,
) -> sqlx::Result<()> {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    sqlx::query("INSERT INTO staff (id, email, name, roles, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(id)
        .bind(email)
        .bind(name)
        .bind(roles.join(","))
        .bind(password_hash)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(drop)
}

/// The staff account with this (normalised) email.
pub async fn staff_by_email(pool: &MySqlPool, email: &str) -> sqlx::Result<Option<Account>> {
    let row = sqlx::query("SELECT id, password_hash, roles FROM staff WHERE email = ?")
        .bind(email)
        .fetch_optional(pool)
        .await?;
    row.map(|row| {
        Ok(Account {
            id: row.try_get("id")?,
            password_hash: row.try_get("password_hash")?,
            roles: parse_roles(row.try_get("roles")?),
        })
    })
    .transpose()
}

/// The current roles of a staff member (none for a customer, or a deleted staff member).
pub async fn staff_roles(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<Vec<Role>>> {
    let roles: Option<String> = sqlx::query_scalar("SELECT roles FROM staff WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(roles.as_deref().map(parse_roles))
}

/// A customer's sealed row.
pub async fn sealed_customer(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<SealedCustomer>> {
    let row = sqlx::query(
        "SELECT id, email_index, phone_index, data_key, email_sealed, name_sealed, phone_sealed FROM customers WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let index = |bytes: Vec<u8>| <[u8; 32]>::try_from(bytes).map_err(|_| sqlx::Error::Decode("a blind index is 32 bytes".into()));
    row.map(|row| {
        Ok(SealedCustomer {
            id: row.try_get("id")?,
            email_index: index(row.try_get("email_index")?)?,
            phone_index: row.try_get::<Option<Vec<u8>>, _>("phone_index")?.map(index).transpose()?,
            data_key: row.try_get("data_key")?,
            email_sealed: row.try_get("email_sealed")?,
            name_sealed: row.try_get("name_sealed")?,
            phone_sealed: row.try_get("phone_sealed")?,
        })
    })
    .transpose()
}

fn realm_name(realm: Realm) -> &'static str {
    match realm {
        Realm::Customer => "customer",
        Realm::Staff => "staff",
    }
}

/// Stores a new refresh token (by hash) in `family`.
pub async fn insert_refresh_token(
    executor: impl sqlx::MySqlExecutor<'_>,
    hash: &[u8; 32],
    family: Uuid,
    realm: Realm,
    subject: Uuid,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, realm, subject_id, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&hash[..])
    .bind(family)
    .bind(realm_name(realm))
    .bind(subject)
    .bind(expires_at)
    .bind(Utc::now())
    .execute(executor)
    .await
    .map(drop)
}

/// What a refresh attempt found.
pub enum Rotation {
    /// The token was live and is now used; the caller's new token joined its family.
    Rotated { subject: Uuid },
    /// Unknown, expired, revoked, or of another realm.
    Invalid,
    /// Already used: someone replayed it. The family is now revoked.
    Reused,
}

/// Uses up a refresh token and stores its successor, in one transaction: two refreshes racing
/// with the same token cannot both succeed (the row is locked), and the loser revokes the family.
pub async fn rotate_refresh_token(
    pool: &MySqlPool,
    realm: Realm,
    presented: &[u8; 32],
    next: &[u8; 32],
    next_expires_at: DateTime<Utc>,
) -> sqlx::Result<Rotation> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT family_id, realm, subject_id, expires_at, used_at, revoked_at
         FROM refresh_tokens WHERE token_hash = ? FOR UPDATE",
    )
    .bind(&presented[..])
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    let family: Uuid = row.try_get("family_id")?;
    let stored_realm: String = row.try_get("realm")?;
    let subject: Uuid = row.try_get("subject_id")?;
    let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
    let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
    let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
    let now = Utc::now();
    if stored_realm != realm_name(realm) || revoked_at.is_some() || expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if used_at.is_some() {
        revoke_family_in(&mut *tx, family).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?")
        .bind(now)
        .bind(&presented[..])
        .execute(&mut *tx)
        .await?;
    insert_refresh_token(&mut *tx, next, family, realm, subject, next_expires_at).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { subject })
}

async fn revoke_family_in(executor: impl sqlx::MySqlExecutor<'_>, family: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL")
        .bind(Utc::now())
        .bind(family)
        .execute(executor)
        .await
        .map(drop)
}

/// Revokes the family of the token with this hash; false if no such token exists.
pub async fn revoke_family_of(pool: &MySqlPool, hash: &[u8; 32]) -> sqlx::Result<bool> {
    let family: Option<Uuid> = sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = ?")
        .bind(&hash[..])
        .fetch_optional(pool)
        .await?;
    match family {
        Some(family) => revoke_family_in(pool, family).await.map(|()| true),
        None => Ok(false),
    }
}

/// Up to `limit` customers whose data key is not wrapped by key version `current`, by id.
pub async fn keys_to_rewrap(pool: &MySqlPool, current: u32, limit: u32) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query("SELECT id, data_key FROM customers WHERE data_key NOT LIKE ? ORDER BY id LIMIT ?")
        .bind(format!("%:v{current}:%"))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("data_key")?))).collect()
}

/// How many customers' data keys are not wrapped by key version `current`.
pub async fn count_keys_to_rewrap(pool: &MySqlPool, current: u32) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE data_key NOT LIKE ?")
        .bind(format!("%:v{current}:%"))
        .fetch_one(pool)
        .await
}

/// Replaces a data key with its rewrapped self, unless the row changed meanwhile.
pub async fn replace_data_key(pool: &MySqlPool, id: Uuid, old: &str, new: &str) -> sqlx::Result<bool> {
    let result = sqlx::query("UPDATE customers SET data_key = ? WHERE id = ? AND data_key = ?")
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}
