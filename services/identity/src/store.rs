//! Identity's SQL.

pub mod staff;

use chrono::{DateTime, Utc};
use pola_core::auth::{Realm, Role};
use sqlx::{MySqlPool, Row};
use uuid::Uuid;

use crate::model::{Language, Preferences, parse_roles};

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
pub struct StoredCustomer {
    pub id: Uuid,
    pub email_sealed: Option<Vec<u8>>,
    pub name_sealed: Option<Vec<u8>>,
    pub phone_sealed: Option<Vec<u8>>,
    pub nic_sealed: Option<Vec<u8>>,
    pub blind_version: u32,
    pub created_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
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
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for candidate in candidates {
        query = query.bind(&candidate[..]);
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("password_hash")?)))
        .collect()
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

pub async fn insert_staff<'c, E>(
    executor: E,
    id: Uuid,
    email: &str,
    name: &str,
    roles: &[Role],
    password_hash: &str,
) -> sqlx::Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::MySql>,
{
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    sqlx::query("INSERT INTO staff (id, email, name, roles, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(id)
        .bind(email)
        .bind(name)
        .bind(roles.join(","))
        .bind(password_hash)
        .bind(Utc::now())
        .execute(executor)
        .await
        .map(drop)
}

/// The current roles of a staff member (none for a customer, or a deleted staff member).
pub async fn staff_roles(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<Vec<Role>>> {
    let roles: Option<String> = sqlx::query_scalar("SELECT roles FROM staff WHERE id = ? AND disabled_at IS NULL")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(roles.as_deref().map(parse_roles))
}

/// A customer's row.
pub async fn customer(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<StoredCustomer>> {
    let row = sqlx::query(
        "SELECT id, email_sealed, name_sealed, phone_sealed, nic_sealed, blind_version, created_at, erased_at,
                language, notify_email, notify_sms
         FROM customers WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(StoredCustomer {
            id: row.try_get("id")?,
            email_sealed: row.try_get("email_sealed")?,
            name_sealed: row.try_get("name_sealed")?,
            phone_sealed: row.try_get("phone_sealed")?,
            nic_sealed: row.try_get("nic_sealed")?,
            blind_version: row.try_get("blind_version")?,
            created_at: row.try_get("created_at")?,
            erased_at: row.try_get("erased_at")?,
            preferences: Preferences {
                language: Language::from_code(row.try_get("language")?),
                email: row.try_get("notify_email")?,
                sms: row.try_get("notify_sms")?,
            },
        })
    })
    .transpose()
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

/// Revokes every sign-in (refresh-token family) of a customer.
async fn revoke_sessions(conn: &mut sqlx::MySqlConnection, customer: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = ? WHERE realm = 'customer' AND subject_id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(customer)
        .execute(conn)
        .await
        .map(drop)
}

/// A sign-in (refresh-token family), for the customer's export.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Session {
    pub started_at: DateTime<Utc>,
    pub last_refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

pub async fn sessions(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<Vec<Session>> {
    let rows = sqlx::query(
        "SELECT MIN(created_at) AS started_at, MAX(created_at) AS last_refreshed_at, MAX(expires_at) AS expires_at,
                MAX(revoked_at IS NOT NULL) AS revoked
         FROM refresh_tokens WHERE realm = 'customer' AND subject_id = ? GROUP BY family_id ORDER BY started_at",
    )
    .bind(customer)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Session {
                started_at: r.try_get("started_at")?,
                last_refreshed_at: r.try_get("last_refreshed_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
            })
        })
        .collect()
}

/// A reveal of a customer's field by a staff member.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Reveal {
    pub id: Uuid,
    pub staff_id: Uuid,
    pub customer_id: Uuid,
    pub field: String,
    pub reason: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

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
    let rows = sqlx::query(
        "SELECT id, staff_id, customer_id, field, reason, request_id, created_at FROM pii_reveals
         WHERE customer_id = ? ORDER BY created_at, id",
    )
    .bind(customer)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Reveal {
                id: r.try_get("id")?,
                staff_id: r.try_get("staff_id")?,
                customer_id: r.try_get("customer_id")?,
                field: r.try_get("field")?,
                reason: r.try_get("reason")?,
                request_id: r.try_get("request_id")?,
                at: r.try_get("created_at")?,
            })
        })
        .collect()
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

/// A password reset as stored.
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

fn stored_reset(row: &sqlx::mysql::MySqlRow) -> sqlx::Result<StoredReset> {
    Ok(StoredReset {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        channel: row.try_get("channel")?,
        secret_hash: row.try_get("secret_hash")?,
        secret_sealed: row.try_get("secret_sealed")?,
        attempts: row.try_get("attempts")?,
    })
}

const RESET_COLUMNS: &str = "id, customer_id, channel, secret_hash, secret_sealed, attempts";

/// A reset that can still be used: not used, not expired.
pub async fn live_reset(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<StoredReset>> {
    let query = format!("SELECT {RESET_COLUMNS} FROM password_resets WHERE id = ? AND used_at IS NULL AND expires_at > ?");
    sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(id)
        .bind(Utc::now())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(stored_reset)
        .transpose()
}

/// The newest live reset of `customer` by `channel`.
pub async fn newest_live_reset(pool: &MySqlPool, customer: Uuid, channel: &str) -> sqlx::Result<Option<StoredReset>> {
    let query = format!(
        "SELECT {RESET_COLUMNS} FROM password_resets WHERE customer_id = ? AND channel = ? AND used_at IS NULL \
         AND expires_at > ? ORDER BY created_at DESC LIMIT 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(customer)
        .bind(channel)
        .bind(Utc::now())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(stored_reset)
        .transpose()
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
