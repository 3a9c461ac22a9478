//! Identity's SQL.

use chrono::{DateTime, Utc};
use pola_core::auth::{Realm, Role};
use sqlx::{MySqlPool, Row};
use uuid::Uuid;

use crate::model::{CustomerProfile, parse_roles};

/// A stored account, with what login needs.
pub struct Account {
    pub id: Uuid,
    pub password_hash: String,
    pub roles: Vec<Role>,
}

pub async fn insert_customer(
    pool: &MySqlPool,
    id: Uuid,
    email: &str,
    name: &str,
    phone: Option<&str>,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO customers (id, email, name, phone, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(id)
        .bind(email)
        .bind(name)
        .bind(phone)
        .bind(password_hash)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(drop)
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

/// The account with this (normalised) email in `realm`.
pub async fn account_by_email(pool: &MySqlPool, realm: Realm, email: &str) -> sqlx::Result<Option<Account>> {
    let sql = match realm {
        Realm::Customer => "SELECT id, password_hash, '' AS roles FROM customers WHERE email = ?",
        Realm::Staff => "SELECT id, password_hash, roles FROM staff WHERE email = ?",
    };
    let row = sqlx::query(sql).bind(email).fetch_optional(pool).await?;
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

pub async fn customer_profile(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<CustomerProfile>> {
    let row = sqlx::query("SELECT id, email, name, phone FROM customers WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|row| {
        Ok(CustomerProfile {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            phone: row.try_get("phone")?,
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
