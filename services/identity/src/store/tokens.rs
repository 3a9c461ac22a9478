//! Sign-ins' SQL: refresh tokens (stored by hash) in families, one family per sign-in.

use chrono::{DateTime, Utc};
use pola_core::auth::Realm;
use sqlx::MySqlPool;
use uuid::Uuid;

fn realm_name(realm: Realm) -> &'static str {
    match realm {
        Realm::Customer => "customer",
        Realm::Staff => "staff",
    }
}

/// Revokes every sign-in (refresh-token family) of a customer.
pub(super) async fn revoke_sessions(conn: &mut sqlx::MySqlConnection, customer: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = ? WHERE realm = 'customer' AND subject_id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(customer)
        .execute(conn)
        .await
        .map(drop)
}

/// A sign-in (refresh-token family), for the customer's export.
#[derive(Debug, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Session {
    pub started_at: DateTime<Utc>,
    pub last_refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// A customer's sign-ins, oldest first.
pub async fn sessions(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<Vec<Session>> {
    sqlx::query_as(
        "SELECT MIN(created_at) AS started_at, MAX(created_at) AS last_refreshed_at, MAX(expires_at) AS expires_at,
                MAX(revoked_at IS NOT NULL) AS revoked
         FROM refresh_tokens WHERE realm = 'customer' AND subject_id = ? GROUP BY family_id ORDER BY started_at",
    )
    .bind(customer)
    .fetch_all(pool)
    .await
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

/// A refresh token as a refresh attempt reads it.
#[derive(sqlx::FromRow)]
struct StoredToken {
    family_id: Uuid,
    realm: String,
    subject_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
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
    let token: Option<StoredToken> = sqlx::query_as(
        "SELECT family_id, realm, subject_id, expires_at, used_at, revoked_at
         FROM refresh_tokens WHERE token_hash = ? FOR UPDATE",
    )
    .bind(&presented[..])
    .fetch_optional(&mut *tx)
    .await?;
    let Some(token) = token else {
        return Ok(Rotation::Invalid);
    };
    let now = Utc::now();
    if token.realm != realm_name(realm) || token.revoked_at.is_some() || token.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if token.used_at.is_some() {
        revoke_family_in(&mut *tx, token.family_id).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?")
        .bind(now)
        .bind(&presented[..])
        .execute(&mut *tx)
        .await?;
    insert_refresh_token(&mut *tx, next, token.family_id, realm, token.subject_id, next_expires_at).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated {
        subject: token.subject_id,
    })
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
