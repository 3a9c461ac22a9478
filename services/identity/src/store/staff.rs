//! Staff accounts' SQL: accounts and their roles, two-factor secrets, recovery codes, lock-out and
//! back-office sessions.

use chrono::{DateTime, Utc};
use pola_core::auth::Role;
use sqlx::{MySql, MySqlPool, Transaction};
use uuid::Uuid;

use crate::model::staff::{RoleList, SessionState, StaffAccount};

/// The statement that reads accounts as the back-office shows them, ending in `$rest`.
macro_rules! select_accounts {
    ($rest:literal) => {
        concat!(
            "SELECT id, email, name, roles, totp_sealed IS NOT NULL AS enrolled, locked_until, disabled_at, created_at FROM staff ",
            $rest
        )
    };
}

/// Creates a staff account.
pub async fn insert_staff<'c, E>(
    executor: E,
    id: Uuid,
    email: &str,
    name: &str,
    roles: &[Role],
    password_hash: &str,
) -> sqlx::Result<()>
where
    E: sqlx::Executor<'c, Database = MySql>,
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

/// An account's roles as stored.
#[derive(sqlx::FromRow)]
struct StoredRoles {
    #[sqlx(try_from = "String")]
    roles: RoleList,
}

/// The current roles of a staff member (none for a customer, or a deleted staff member).
pub async fn staff_roles(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<Vec<Role>>> {
    let stored: Option<StoredRoles> = sqlx::query_as("SELECT roles FROM staff WHERE id = ? AND disabled_at IS NULL")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(stored.map(|s| s.roles.0))
}

/// What signing in needs to know about an account.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub locked_until: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
}

pub async fn credentials(pool: &MySqlPool, email: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as(
        "SELECT id, email, password_hash, totp_sealed, totp_last_step, locked_until, disabled_at FROM staff WHERE email = ?",
    )
    .bind(email)
    .fetch_optional(pool)
    .await
}

/// Counts a failed sign-in; the account locks until `lock_until` when the count reaches `max`
/// (and the count starts again). True when this failure locked it.
pub async fn sign_in_failed(pool: &MySqlPool, id: Uuid, max: u32, lock_until: DateTime<Utc>) -> sqlx::Result<bool> {
    // Single-table assignments run left to right: `locked_until` sees the count before this one.
    sqlx::query(
        "UPDATE staff SET locked_until = IF(failed_sign_ins + 1 >= ?, ?, locked_until),
                          failed_sign_ins = IF(failed_sign_ins + 1 >= ?, 0, failed_sign_ins + 1)
         WHERE id = ?",
    )
    .bind(max)
    .bind(lock_until)
    .bind(max)
    .bind(id)
    .execute(pool)
    .await?;
    let locked: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT locked_until FROM staff WHERE id = ?")
        .bind(id)
        .fetch_one(pool)
        .await?;
    Ok(locked == Some(lock_until))
}

/// Accepts the TOTP code of `step`, unless a code of that step or a later one was accepted
/// meanwhile (two sign-ins racing with one code: one wins).
pub async fn accept_totp_step(pool: &MySqlPool, id: Uuid, step: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE staff SET totp_last_step = ?, failed_sign_ins = 0 WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
    )
    .bind(step)
    .bind(id)
    .bind(step)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a recovery code up; false if it is not one of the account's unused codes.
pub async fn use_recovery_code(pool: &MySqlPool, id: Uuid, hash: &[u8; 32]) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE staff_recovery_codes SET used_at = ? WHERE staff_id = ? AND code_hash = ? AND used_at IS NULL")
            .bind(Utc::now())
            .bind(id)
            .bind(&hash[..])
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn reset_failures(pool: &MySqlPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE staff SET failed_sign_ins = 0 WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

pub async fn set_pending_totp(pool: &MySqlPool, id: Uuid, sealed: &[u8]) -> sqlx::Result<()> {
    sqlx::query("UPDATE staff SET totp_pending_sealed = ? WHERE id = ? AND totp_sealed IS NULL")
        .bind(sealed)
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

pub async fn pending_totp(pool: &MySqlPool, id: Uuid) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT totp_pending_sealed FROM staff WHERE id = ? AND totp_sealed IS NULL")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map(Option::flatten)
}

/// Makes the pending secret the account's, with its first accepted step and new recovery codes,
/// and turns the enrolling session active.
pub async fn confirm_totp(
    tx: &mut Transaction<'_, MySql>,
    id: Uuid,
    step: i64,
    recovery_hashes: &[[u8; 32]],
    session_hash: &[u8; 32],
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE staff SET totp_sealed = totp_pending_sealed, totp_pending_sealed = NULL, totp_last_step = ?
         WHERE id = ? AND totp_sealed IS NULL AND totp_pending_sealed IS NOT NULL",
    )
    .bind(step)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM staff_recovery_codes WHERE staff_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for hash in recovery_hashes {
        sqlx::query("INSERT INTO staff_recovery_codes (staff_id, code_hash) VALUES (?, ?)")
            .bind(id)
            .bind(&hash[..])
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE staff_sessions SET state = 'active' WHERE id_hash = ? AND staff_id = ?")
        .bind(&session_hash[..])
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// Forgets the account's TOTP secret and recovery codes (an admin's re-enrolment): it enrols
/// again at its next sign-in.
pub async fn clear_totp(tx: &mut Transaction<'_, MySql>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE staff SET totp_sealed = NULL, totp_pending_sealed = NULL, totp_last_step = NULL WHERE id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM staff_recovery_codes WHERE staff_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(drop)
}

pub async fn insert_session(
    pool: &MySqlPool,
    hash: &[u8; 32],
    staff: Uuid,
    state: SessionState,
    client_ip: &str,
) -> sqlx::Result<()> {
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO staff_sessions (id_hash, staff_id, state, client_ip, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&hash[..])
    .bind(staff)
    .bind(state.as_str())
    .bind(client_ip)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await
    .map(drop)
}

/// A live session.
#[derive(Debug, sqlx::FromRow)]
pub struct LiveSession {
    pub staff_id: Uuid,
    #[sqlx(try_from = "String")]
    pub state: SessionState,
}

/// The session, if it has not ended, was used since `idle_since`, began after `began_since` and
/// its account is not disabled; marks it used now.
pub async fn touch_session(
    pool: &MySqlPool,
    hash: &[u8; 32],
    idle_since: DateTime<Utc>,
    began_since: DateTime<Utc>,
) -> sqlx::Result<Option<LiveSession>> {
    let done = sqlx::query(
        "UPDATE staff_sessions s JOIN staff a ON a.id = s.staff_id SET s.last_seen_at = ?
         WHERE s.id_hash = ? AND s.ended_at IS NULL AND s.last_seen_at >= ? AND s.created_at >= ? AND a.disabled_at IS NULL",
    )
    .bind(Utc::now())
    .bind(&hash[..])
    .bind(idle_since)
    .bind(began_since)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query_as("SELECT staff_id, state FROM staff_sessions WHERE id_hash = ?")
        .bind(&hash[..])
        .fetch_optional(pool)
        .await
}

pub async fn end_session(pool: &MySqlPool, hash: &[u8; 32]) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE staff_sessions SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL")
        .bind(Utc::now())
        .bind(&hash[..])
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn end_sessions_of(tx: &mut Transaction<'_, MySql>, staff: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE staff_sessions SET ended_at = ? WHERE staff_id = ? AND ended_at IS NULL")
        .bind(Utc::now())
        .bind(staff)
        .execute(&mut **tx)
        .await
        .map(drop)
}

pub async fn account<'c, E>(executor: E, id: Uuid) -> sqlx::Result<Option<StaffAccount>>
where
    E: sqlx::Executor<'c, Database = MySql>,
{
    sqlx::query_as(select_accounts!("WHERE id = ?"))
        .bind(id)
        .fetch_optional(executor)
        .await
}

pub async fn accounts(pool: &MySqlPool) -> sqlx::Result<Vec<StaffAccount>> {
    sqlx::query_as(select_accounts!("ORDER BY email")).fetch_all(pool).await
}

pub async fn update_account(
    tx: &mut Transaction<'_, MySql>,
    id: Uuid,
    roles: &RoleList,
    disabled_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    // An admin's change also lifts a lock-out.
    sqlx::query("UPDATE staff SET roles = ?, disabled_at = ?, locked_until = NULL, failed_sign_ins = 0 WHERE id = ?")
        .bind(roles.stored())
        .bind(disabled_at)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(drop)
}
