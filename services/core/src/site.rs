//! The two sites: which database takes writes, how far its replica is behind, and whether
//! semi-synchronous replication still waits for the replica (it silently falls back to async).
//!
//! A process watches the database it is connected to (`watch`): the answer gates every write
//! request (`Writable`) and feeds the `db_*` metrics. `pola status` reads the same [`Observed`]
//! from every site.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use sqlx::{ConnectOptions, FromRow, MySqlConnection, mysql::MySqlConnectOptions};
use tokio::{sync::watch, task::JoinHandle};

/// How often a process looks at its database.
pub const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// A database that has not answered a look for this long is lost: the process stops taking
/// writes and its readiness check fails. A look that does not answer sooner (a busy machine, a
/// first connection slow to open) leaves the role last seen in place.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// What one MariaDB server says about its part in replication.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Observed {
    pub server_id: u32,
    pub read_only: bool,
    /// The last transaction of each replication domain written to this server's binary log.
    pub gtid_binlog_pos: String,
    /// The last transaction of each domain applied by this server's replica threads.
    pub gtid_slave_pos: String,
    pub semi_sync: SemiSync,
    /// Present while this server is (or is configured as) a replica.
    pub replica: Option<Replica>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SemiSync {
    pub primary_enabled: bool,
    /// On while commits wait for a replica's acknowledgement; off when enabled means it fell
    /// back to asynchronous replication (no replica answered within the timeout).
    pub primary_active: bool,
    /// Replicas connected with semi-sync.
    pub primary_clients: u64,
    /// Commits acknowledged by a replica, and commits that went without (since the server started).
    pub primary_yes_tx: u64,
    pub primary_no_tx: u64,
    pub replica_enabled: bool,
    pub replica_active: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Replica {
    pub source: String,
    pub io_running: String,
    pub sql_running: bool,
    /// `None` while either thread is stopped.
    pub lag_seconds: Option<u64>,
    /// Received from the primary (in the relay log), maybe not yet applied.
    pub gtid_io_pos: String,
    pub last_io_error: String,
    pub last_sql_error: String,
}

impl Observed {
    /// Takes writes: a primary.
    pub fn writable(&self) -> bool {
        !self.read_only
    }

    /// "primary", "replica", or "read-only" for a server that is neither (a fenced old primary).
    pub fn role(&self) -> &'static str {
        match (self.read_only, &self.replica) {
            (false, _) => "primary",
            (true, Some(_)) => "replica",
            (true, None) => "read-only",
        }
    }
}

/// The server's replication settings, as its global variables hold them.
#[derive(sqlx::FromRow)]
struct Globals {
    #[sqlx(try_from = "u64")]
    server_id: u32,
    read_only: bool,
    gtid_binlog_pos: String,
    gtid_slave_pos: String,
    semi_sync_primary: bool,
    semi_sync_replica: bool,
}

/// A replica's state, as `SHOW SLAVE STATUS` names its columns.
#[derive(sqlx::FromRow)]
struct SlaveStatus {
    #[sqlx(rename = "Master_Host")]
    master_host: Option<String>,
    #[sqlx(rename = "Master_Port")]
    master_port: u32,
    #[sqlx(rename = "Slave_IO_Running")]
    slave_io_running: Option<String>,
    #[sqlx(rename = "Slave_SQL_Running")]
    slave_sql_running: Option<String>,
    #[sqlx(rename = "Seconds_Behind_Master")]
    seconds_behind_master: Option<u64>,
    #[sqlx(rename = "Gtid_IO_Pos")]
    gtid_io_pos: Option<String>,
    #[sqlx(rename = "Last_IO_Error")]
    last_io_error: Option<String>,
    #[sqlx(rename = "Last_SQL_Error")]
    last_sql_error: Option<String>,
}

impl From<SlaveStatus> for Replica {
    fn from(status: SlaveStatus) -> Self {
        Replica {
            source: format!("{}:{}", status.master_host.unwrap_or_default(), status.master_port),
            io_running: status.slave_io_running.unwrap_or_default(),
            sql_running: status.slave_sql_running.as_deref() == Some("Yes"),
            lag_seconds: status.seconds_behind_master,
            gtid_io_pos: status.gtid_io_pos.unwrap_or_default(),
            last_io_error: status.last_io_error.unwrap_or_default(),
            last_sql_error: status.last_sql_error.unwrap_or_default(),
        }
    }
}

/// Reads `conn`'s server's replication state. Needs no privilege beyond `SLAVE MONITOR`
/// (for `SHOW SLAVE STATUS`).
pub async fn observe(conn: &mut MySqlConnection) -> sqlx::Result<Observed> {
    let globals: Globals = sqlx::query_as(
        "SELECT @@global.server_id AS server_id, @@global.read_only AS read_only, \
         @@global.gtid_binlog_pos AS gtid_binlog_pos, @@global.gtid_slave_pos AS gtid_slave_pos, \
         @@global.rpl_semi_sync_master_enabled AS semi_sync_primary, \
         @@global.rpl_semi_sync_slave_enabled AS semi_sync_replica",
    )
    .fetch_one(&mut *conn)
    .await?;
    let status: Vec<(String, String)> = sqlx::query_as(
        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
         WHERE VARIABLE_NAME LIKE 'RPL\\_SEMI\\_SYNC\\_%'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let status = |name: &str| {
        status
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    // Absent while the semi-sync plugin is not loaded: none counted yet.
    let count = |name: &str| -> sqlx::Result<u64> {
        match status(name) {
            "" => Ok(0),
            value => value.parse().map_err(|e| sqlx::Error::ColumnDecode {
                index: name.into(),
                source: format!("`{value}` is not a count: {e}").into(),
            }),
        }
    };
    let replica = sqlx::raw_sql("SHOW SLAVE STATUS").fetch_optional(&mut *conn).await?;
    Ok(Observed {
        server_id: globals.server_id,
        read_only: globals.read_only,
        gtid_binlog_pos: globals.gtid_binlog_pos,
        gtid_slave_pos: globals.gtid_slave_pos,
        semi_sync: SemiSync {
            primary_enabled: globals.semi_sync_primary,
            primary_active: status("Rpl_semi_sync_master_status") == "ON",
            primary_clients: count("Rpl_semi_sync_master_clients")?,
            primary_yes_tx: count("Rpl_semi_sync_master_yes_tx")?,
            primary_no_tx: count("Rpl_semi_sync_master_no_tx")?,
            replica_enabled: globals.semi_sync_replica,
            replica_active: status("Rpl_semi_sync_slave_status") == "ON",
        },
        replica: replica
            .map(|row| SlaveStatus::from_row(&row).map(Replica::from))
            .transpose()?,
    })
}

/// The highest sequence number per replication domain in a GTID position such as
/// `0-1-1234,1-2-7`.
pub fn sequence_numbers(position: &str) -> Vec<(u32, u64)> {
    position
        .split(',')
        .filter_map(|gtid| {
            let mut parts = gtid.trim().splitn(3, '-');
            let domain = parts.next()?.parse().ok()?;
            let _server: u32 = parts.next()?.parse().ok()?;
            Some((domain, parts.next()?.parse().ok()?))
        })
        .collect()
}

/// Whether this process's database takes writes right now, and when it last answered, as
/// last seen by [`watch`].
#[derive(Clone, Debug)]
pub struct Writable {
    writable: Arc<AtomicBool>,
    /// When the database last answered a look, in milliseconds since the Unix epoch (0: never).
    answered_at: Arc<AtomicI64>,
}

impl Writable {
    pub fn get(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// Whether the database answered a look within `within`. The watch has a connection of its
    /// own: pools busy with a flood of requests do not make a reachable database look lost.
    pub fn answering(&self, within: Duration) -> bool {
        let at = self.answered_at.load(Ordering::Relaxed);
        at > 0 && chrono::Utc::now().timestamp_millis() - at <= i64::try_from(within.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Looks at `pool`'s server now and every [`WATCH_PERIOD`] until `stop`, on a connection of
/// its own (reopened after a failure): keeps the answer in the returned [`Writable`] and in the
/// `db_*` metrics, and logs each change of role. The looks run on a thread and a runtime of
/// their own: a runtime busy with a flood of requests (or a test's single thread) does not make
/// a look late and a reachable database look lost. The returned task ends when the thread does.
pub async fn watch(pool: sqlx::MySqlPool, mut stop: watch::Receiver<bool>) -> (Writable, JoinHandle<()>) {
    let writable = Writable {
        writable: Arc::new(AtomicBool::new(false)),
        answered_at: Arc::new(AtomicI64::new(0)),
    };
    let options = pool.connect_options();
    let (first_seen, seen) = tokio::sync::oneshot::channel();
    let (ended, end) = tokio::sync::oneshot::channel::<()>();
    let looking = {
        let writable = writable.clone();
        async move {
            let _ended = ended;
            let mut conn = None;
            let started = std::time::Instant::now();
            let mut last = look(&options, &mut conn, &writable, None).await;
            // Nothing was seen yet to keep: look again for a moment before serving, so that a
            // first connection slow to open does not start the process refusing writes.
            while last == "unreachable" && started.elapsed() < ANSWER_WITHIN {
                tokio::time::sleep(WATCH_PERIOD / 5).await;
                last = look(&options, &mut conn, &writable, Some(last)).await;
            }
            let _ = first_seen.send(());
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(WATCH_PERIOD) => {}
                    _ = stop.changed() => return,
                }
                last = look(&options, &mut conn, &writable, Some(last)).await;
            }
        }
    };
    let started = std::thread::Builder::new().name("site-watch".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(looking),
            Err(e) => tracing::error!(error = %e, "the site watch has no runtime: this process takes no writes"),
        }
    });
    if let Err(e) = started {
        tracing::error!(error = %e, "the site watch has no thread: this process takes no writes");
    }
    let _ = seen.await;
    let task = tokio::spawn(async move {
        let _ = end.await;
    });
    (writable, task)
}

/// One look on `conn` (opened first when there is none; dropped when it fails): returns the
/// role seen ("unreachable" when the server did not answer).
async fn look(
    options: &MySqlConnectOptions,
    conn: &mut Option<MySqlConnection>,
    writable: &Writable,
    last: Option<&'static str>,
) -> &'static str {
    let observed = tokio::time::timeout(Duration::from_secs(2), async {
        if conn.is_none() {
            *conn = Some(options.connect().await?);
        }
        observe(conn.as_mut().expect("opened above")).await
    })
    .await;
    let (role, observed) = match observed {
        Ok(Ok(observed)) => (observed.role(), Some(observed)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "the database did not answer");
            ("unreachable", None)
        }
        Err(_) => ("unreachable", None),
    };
    if observed.is_some() {
        writable
            .answered_at
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    } else {
        // A connection that failed or hung half-way is not used again.
        *conn = None;
        if let Some(last) = last.filter(|_| writable.answering(ANSWER_WITHIN)) {
            tracing::debug!(
                role = last,
                "the database did not answer this look; keeping the role it last showed"
            );
            return last;
        }
    }
    writable.writable.store(role == "primary", Ordering::Relaxed);
    record(observed.as_ref());
    if last != Some(role) {
        match role {
            "primary" => tracing::info!(role, "this site's database takes writes"),
            _ => tracing::warn!(
                role,
                "this site's database does not take writes: changes are refused with 503"
            ),
        }
    }
    role
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// While the database does not answer, what it is doing is unknown: its state gauges read off
/// (the lag -1), not what they were at its last answer; its counters and GTID positions keep
/// their last values.
fn record(observed: Option<&Observed>) {
    let semi = observed.map(|o| &o.semi_sync);
    let replica = observed.and_then(|o| o.replica.as_ref());
    metrics::gauge!("db_up").set(flag(observed.is_some()));
    metrics::gauge!("db_writable").set(flag(observed.is_some_and(Observed::writable)));
    metrics::gauge!("db_read_only").set(flag(observed.is_some_and(|o| o.read_only)));
    metrics::gauge!("db_semi_sync_primary_enabled").set(flag(semi.is_some_and(|s| s.primary_enabled)));
    metrics::gauge!("db_semi_sync_primary_active").set(flag(semi.is_some_and(|s| s.primary_active)));
    metrics::gauge!("db_semi_sync_primary_clients").set(semi.map_or(0.0, |s| s.primary_clients as f64));
    metrics::gauge!("db_semi_sync_replica_active").set(flag(semi.is_some_and(|s| s.replica_active)));
    metrics::gauge!("db_replica_configured").set(flag(replica.is_some()));
    metrics::gauge!("db_replica_io_running").set(flag(replica.is_some_and(|r| r.io_running == "Yes")));
    metrics::gauge!("db_replica_sql_running").set(flag(replica.is_some_and(|r| r.sql_running)));
    // -1: unknown, a replication thread is stopped (or no replica, or no answer).
    metrics::gauge!("db_replica_lag_seconds").set(replica.and_then(|r| r.lag_seconds).map_or(-1.0, |s| s as f64));
    let Some(o) = observed else { return };
    metrics::gauge!("db_semi_sync_primary_yes_tx").set(o.semi_sync.primary_yes_tx as f64);
    metrics::gauge!("db_semi_sync_primary_no_tx").set(o.semi_sync.primary_no_tx as f64);
    let received = replica.map(|r| ("received", &r.gtid_io_pos));
    for (position, value) in [("binlog", &o.gtid_binlog_pos), ("slave", &o.gtid_slave_pos)]
        .into_iter()
        .chain(received)
    {
        for (domain, seq) in sequence_numbers(value) {
            metrics::gauge!("db_gtid_seq_no", "position" => position, "domain" => domain.to_string()).set(seq as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gauges `record` leaves, as the Prometheus text lists them.
    fn recorded(observations: &[Option<&Observed>]) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || observations.iter().for_each(|o| record(*o)));
        handle.render()
    }

    #[test]
    fn a_database_that_stops_answering_reads_unknown_not_its_last_state() {
        let replica = Observed {
            server_id: 2,
            read_only: true,
            gtid_binlog_pos: "0-1-10".into(),
            gtid_slave_pos: "0-1-10".into(),
            semi_sync: SemiSync {
                primary_enabled: true,
                primary_active: false,
                primary_clients: 0,
                primary_yes_tx: 7,
                primary_no_tx: 1,
                replica_enabled: true,
                replica_active: true,
            },
            replica: Some(Replica {
                source: "10.10.1.10:3306".into(),
                io_running: "Yes".into(),
                sql_running: true,
                lag_seconds: Some(3),
                gtid_io_pos: "0-1-12".into(),
                last_io_error: String::new(),
                last_sql_error: String::new(),
            }),
        };
        let answering = recorded(&[Some(&replica)]);
        for line in [
            "db_up 1",
            "db_replica_io_running 1",
            "db_replica_lag_seconds 3",
            "db_semi_sync_replica_active 1",
        ] {
            assert!(answering.contains(line), "{line} in {answering}");
        }
        let gone = recorded(&[Some(&replica), None]);
        for line in [
            "db_up 0",
            "db_read_only 0",
            "db_replica_configured 0",
            "db_replica_io_running 0",
            "db_replica_sql_running 0",
            "db_replica_lag_seconds -1",
            "db_semi_sync_replica_active 0",
            // Counters and positions keep their last values.
            "db_semi_sync_primary_yes_tx 7",
            r#"db_gtid_seq_no{position="received",domain="0"} 12"#,
        ] {
            assert!(gone.contains(line), "{line} in {gone}");
        }
    }

    #[test]
    fn sequence_numbers_are_read_per_domain() {
        assert_eq!(sequence_numbers("0-1-1234"), vec![(0, 1234)]);
        assert_eq!(sequence_numbers("0-2-17,1-1-5"), vec![(0, 17), (1, 5)]);
        assert_eq!(sequence_numbers(""), vec![]);
        assert_eq!(sequence_numbers("garbage"), vec![]);
    }
}
