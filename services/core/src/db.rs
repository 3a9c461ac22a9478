//! MariaDB: one database per service on one server, each with its own pool and migrations.

use std::{str::FromStr, time::Duration};

use secrecy::ExposeSecret;
use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection, Executor, MySqlPool,
    migrate::Migrator,
    mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions},
};

use crate::config::DatabaseConfig;

/// The MariaDB error number for a duplicate key.
const ER_DUP_ENTRY: u16 = 1062;
/// The MariaDB error numbers for a deadlock and a lock wait timeout: the transaction was rolled
/// back and may simply be run again.
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// "The MariaDB server is running with the --read-only option": a replica, or a fenced primary.
const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;
/// The connection was killed (a fenced primary kills its clients' connections).
const ER_CONNECTION_KILLED: u16 = 1927;

/// A service's database name: `<prefix>_<service>`.
pub fn database_name(config: &DatabaseConfig, service: &str) -> String {
    format!("{}_{service}", config.prefix)
}

fn server_options(config: &DatabaseConfig) -> anyhow::Result<MySqlConnectOptions> {
    Ok(MySqlConnectOptions::from_str(config.url.expose_secret())?
        .charset("utf8mb4")
        .timezone(Some("+00:00".into()))
        .log_statements(tracing::log::LevelFilter::Trace))
}

/// One connection to the server, with no database selected (for CREATE/DROP DATABASE).
pub async fn connect_server(config: &DatabaseConfig) -> anyhow::Result<MySqlConnection> {
    Ok(server_options(config)?.connect().await?)
}

/// Creates the service's database if needed, opens a pool on it, and (if `migrate`) applies the
/// service's migrations. sqlx holds a lock while migrating, so instances starting together are safe.
pub async fn connect_service(
    config: &DatabaseConfig,
    service: &str,
    migrator: &Migrator,
    migrate: bool,
) -> anyhow::Result<MySqlPool> {
    let name = database_name(config, service);
    if migrate {
        let mut conn = connect_server(config).await?;
        let read_only: i64 = sqlx::query_scalar("SELECT @@global.read_only").fetch_one(&mut conn).await?;
        if read_only != 0 {
            tracing::info!(database = %name, "the database is a read-only replica: its primary applies migrations");
            return open_pool(config, &name).await;
        }
        let create = format!("CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        conn.execute(AssertSqlSafe(create)).await?;
        conn.close().await?;
    }
    let pool = open_pool(config, &name).await?;
    if migrate {
        crate::audit::MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrating the audit trail of {name}: {e}"))?;
        migrator
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrating database {name}: {e}"))?;
        crate::events::MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrating the outbox and inbox of {name}: {e}"))?;
    }
    Ok(pool)
}

async fn open_pool(config: &DatabaseConfig, name: &str) -> anyhow::Result<MySqlPool> {
    MySqlPoolOptions::new()
        // READ COMMITTED: the services lock the rows they change (`FOR UPDATE`) and rely on
        // nothing else; REPEATABLE READ's gap locks on absent keys only add deadlocks between
        // concurrent inserts (first seen with 200 carts reserving at once).
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await?;
                Ok(())
            })
        })
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .connect_with(server_options(config)?.database(name))
        .await
        .map_err(|e| anyhow::anyhow!("connecting to database {name}: {e}"))
}

fn mysql_error_number(e: &sqlx::Error) -> Option<u16> {
    let db = e.as_database_error()?;
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|e| e.number())
}

/// Whether `e` is a duplicate on the unique key `key` (MariaDB error 1062). MariaDB names the key
/// only inside its message, as `for key '<table>.<key>'` or `for key '<key>'`.
pub fn is_duplicate_key(e: &sqlx::Error, key: &str) -> bool {
    if mysql_error_number(e) != Some(ER_DUP_ENTRY) {
        return false;
    }
    let message = e.as_database_error().map(|d| d.message()).unwrap_or_default();
    let Some(name) = message.rsplit("for key '").next() else {
        return false;
    };
    let name = name.trim_end_matches('\'');
    name == key || name.ends_with(&format!(".{key}"))
}

/// Whether `e` says the server takes no writes, or threw this connection out.
pub fn is_read_only(e: &sqlx::Error) -> bool {
    matches!(
        mysql_error_number(e),
        Some(ER_OPTION_PREVENTS_STATEMENT | ER_CONNECTION_KILLED)
    )
}

/// Whether the transaction was chosen as a deadlock victim or timed out on a lock, and may be
/// retried from the start.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(mysql_error_number(e), Some(ER_LOCK_DEADLOCK | ER_LOCK_WAIT_TIMEOUT))
}

/// Runs `attempt` until it succeeds or fails with something other than a deadlock, at most five
/// times. Each attempt must be a whole transaction, so that a retry starts from nothing.
pub async fn retry_deadlocks<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: AsDeadlock,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(e) if tries < 5 && e.is_deadlock() => {
                tracing::debug!(attempt = tries, "deadlock, retrying the transaction");
                tokio::time::sleep(Duration::from_millis(2 * tries)).await;
            }
            other => return other,
        }
    }
}

/// Errors that can say whether they are a retryable lock failure.
pub trait AsDeadlock {
    fn is_deadlock(&self) -> bool;
}

impl AsDeadlock for sqlx::Error {
    fn is_deadlock(&self) -> bool {
        is_retryable(self)
    }
}

impl AsDeadlock for crate::Error {
    fn is_deadlock(&self) -> bool {
        matches!(self, crate::Error::Internal(e) if e.downcast_ref::<sqlx::Error>().is_some_and(is_retryable))
    }
}
