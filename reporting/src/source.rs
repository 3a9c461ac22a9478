//! Where reports read: the standby site's databases (the replica), through a read-only user, with
//! a time limit on every statement and a cap on the rows of every report. The primary is refused
//! unless the caller allows it, so that a report never loads the database that takes orders.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::{StreamExt, future::join_all};
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row, prelude::*};
use pola_core::config::Config;
use secrecy::ExposeSecret;
use serde::Serialize;

/// MariaDB's error for a statement stopped by `max_statement_time`.
const ER_STATEMENT_TIMEOUT: u16 = 1969;

/// How long a site may take to give a connection before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No replica answered and running on the primary was not allowed.
    #[error("no standby replica to report from ({seen}); reports do not run on the primary unless allowed")]
    NoStandby { seen: String },
    #[error("the report ran longer than {0} s and was stopped; narrow its dates or filters")]
    TimedOut(u64),
    #[error("the report has more than {0} rows; narrow its dates or filters")]
    TooManyRows(usize),
    #[error("{0}")]
    BadRequest(String),
    /// A row did not have the shape its report expects: a bug in the report, never a silent 0.
    #[error("a report's row did not decode: {0}")]
    Decode(String),
    #[error("reporting database: {0}")]
    Database(#[from] mysql_async::Error),
}

/// A site's database as reports see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Replicating from the primary: what reports are for.
    Replica,
    /// Takes writes.
    Primary,
}

/// How fresh a report's data is: which site it was read on and how far that site lagged.
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    pub site: String,
    pub role: Role,
    /// The replica's lag behind the primary; None when replication is not running (the data is
    /// as of the last change it applied) or on the primary.
    pub lag_secs: Option<u64>,
    /// When the data was read, minus the lag: what the primary held then. None when not known.
    pub as_of: Option<DateTime<Utc>>,
}

impl std::fmt::Display for Freshness {
    /// `data as of 2026-12-03 12:30:05 Colombo (replica dr, lag 0 s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_of {
            Some(at) => write!(
                f,
                "data as of {} Colombo",
                at.with_timezone(&pola_core::clock::colombo()).format("%Y-%m-%d %H:%M:%S")
            )?,
            None => write!(f, "data as of the last change this site applied")?,
        }
        match (self.role, self.lag_secs) {
            (Role::Replica, Some(lag)) => write!(f, " (replica {}, replica lag {lag} s)", self.site),
            (Role::Replica, None) => write!(f, " (replica {}, REPLICATION NOT RUNNING)", self.site),
            (Role::Primary, _) => write!(f, " (read on the PRIMARY, site {}, as allowed)", self.site),
        }
    }
}

struct Site {
    name: String,
    /// host:port, never the password.
    server: String,
    pool: Pool,
}

/// The sites reports may read, and the limits every report keeps to.
pub struct Reporting {
    sites: Vec<Site>,
    allow_primary: bool,
    timeout_secs: u64,
    row_cap: usize,
    prefix: String,
}

impl std::fmt::Debug for Reporting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<_> = self.sites.iter().map(|s| format!("{}={}", s.name, s.server)).collect();
        f.debug_struct("Reporting").field("sites", &servers).finish_non_exhaustive()
    }
}

impl Reporting {
    /// The sites of `[reporting] sites` (or `database.url` alone), connected lazily.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let reporting = &config.reporting;
        let urls: Vec<(String, String)> = if reporting.sites.is_empty() {
            vec![("this".into(), config.database.url.expose_secret().to_owned())]
        } else {
            reporting
                .sites
                .iter()
                .map(|(name, url)| (name.clone(), url.expose_secret().to_owned()))
                .collect()
        };
        let sites = urls
            .into_iter()
            .map(|(name, url)| {
                let opts = Opts::from_url(&url).map_err(|e| Error::BadRequest(format!("reporting.sites.{name}: {e}")))?;
                let server = format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port());
                let opts = OptsBuilder::from_opts(opts)
                    .db_name(None::<String>)
                    .init(vec![
                        format!("SET SESSION max_statement_time = {}", reporting.statement_timeout_secs),
                        "SET SESSION TRANSACTION READ ONLY".to_owned(),
                        "SET SESSION time_zone = '+00:00'".to_owned(),
                        // Reports join whole histories to a grouped derived table (each
                        // customer's first sale): materialised once it is seconds, "split" per
                        // outer row (made for a few rows) it was a minute on a million orders.
                        "SET SESSION optimizer_switch = 'split_materialized=off'".to_owned(),
                    ])
                    .pool_opts(PoolOpts::default().with_constraints(PoolConstraints::new(0, 4).expect("0 <= 4")));
                Ok(Site {
                    name,
                    server,
                    pool: Pool::new(opts),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            sites,
            allow_primary: reporting.allow_primary,
            timeout_secs: reporting.statement_timeout_secs,
            row_cap: reporting.row_cap,
            prefix: config.database.prefix.clone(),
        })
    }

    /// Lets reports run on the primary when no replica answers (`--allow-primary`).
    pub fn allowing_primary(mut self, allow: bool) -> Self {
        self.allow_primary |= allow;
        self
    }

    /// A session on the standby: the replica that lags least, asked afresh each time (a
    /// switchover swaps the sites' roles).
    pub async fn standby(&self) -> Result<Session, Error> {
        let seen = join_all(self.sites.iter().map(observe)).await;
        let mut best: Option<(Conn, Freshness)> = None;
        let mut said = vec![];
        for (site, result) in self.sites.iter().zip(seen) {
            match result {
                Ok((conn, freshness)) => {
                    said.push(format!("{}: {:?}", site.name, freshness.role).to_lowercase());
                    let rank = |f: &Freshness| (f.role != Role::Replica, f.lag_secs.is_none(), f.lag_secs);
                    let better = best.as_ref().is_none_or(|(_, b)| rank(&freshness) < rank(b));
                    if better && (freshness.role == Role::Replica || self.allow_primary) {
                        best = Some((conn, freshness));
                    }
                }
                Err(e) => {
                    tracing::warn!(site = %site.name, server = %site.server, error = %e, "a reporting site cannot be asked");
                    said.push(format!("{}: unreachable", site.name));
                }
            }
        }
        let (conn, freshness) = best.ok_or_else(|| Error::NoStandby { seen: said.join(", ") })?;
        Ok(Session {
            conn,
            freshness,
            timeout_secs: self.timeout_secs,
            row_cap: self.row_cap,
            prefix: self.prefix.clone(),
        })
    }

    /// Closes every site's connections, once every [`Session`] is dropped (it waits for them).
    pub async fn close(self) {
        for site in self.sites {
            if let Err(e) = site.pool.disconnect().await {
                tracing::debug!(site = %site.name, error = %e, "closing a reporting pool");
            }
        }
    }
}

/// The rows of `SHOW SLAVE STATUS` that say how a replica stands.
#[derive(Debug, FromRow)]
struct ReplicaStatus {
    #[mysql(rename = "Slave_SQL_Running")]
    sql_running: String,
    #[mysql(rename = "Seconds_Behind_Master")]
    lag_secs: Option<u64>,
}

async fn observe(site: &Site) -> Result<(Conn, Freshness), Error> {
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, site.pool.get_conn())
        .await
        .map_err(|_| Error::BadRequest(format!("{} did not answer within {CONNECT_TIMEOUT:?}", site.server)))??;
    let (read_only, now): (bool, NaiveDateTime) = conn
        .query_first("SELECT @@read_only, UTC_TIMESTAMP(6)")
        .await?
        .ok_or_else(|| Error::BadRequest("the server said nothing".into()))?;
    let replica: Option<ReplicaStatus> = conn.query_first("SHOW SLAVE STATUS").await?;
    let now = now.and_utc();
    let freshness = match replica {
        Some(status) if read_only => {
            let lag_secs = (status.sql_running == "Yes").then_some(status.lag_secs).flatten();
            Freshness {
                site: site.name.clone(),
                role: Role::Replica,
                lag_secs,
                as_of: lag_secs.map(|lag| now - chrono::Duration::seconds(lag.try_into().unwrap_or(i64::MAX))),
            }
        }
        _ if read_only => {
            // A fenced primary that replicates from nobody: its data stopped when it was fenced.
            Freshness {
                site: site.name.clone(),
                role: Role::Replica,
                lag_secs: None,
                as_of: None,
            }
        }
        _ => Freshness {
            site: site.name.clone(),
            role: Role::Primary,
            lag_secs: Some(0),
            as_of: Some(now),
        },
    };
    Ok((conn, freshness))
}

/// One connection to the standby, for one report.
pub struct Session {
    conn: Conn,
    pub freshness: Freshness,
    timeout_secs: u64,
    row_cap: usize,
    prefix: String,
}

impl Session {
    /// `sql` with `{p}` replaced by the databases' prefix (`{p}_orders.orders`).
    pub fn sql(&self, sql: &str) -> String {
        sql.replace("{p}", &self.prefix)
    }

    /// The rows of `sql` (see [`Session::sql`]), refused past the row cap and stopped past the
    /// time limit.
    pub async fn rows<R: FromRow + Send + 'static>(
        &mut self,
        sql: &str,
        params: impl Into<Params> + Send,
    ) -> Result<Vec<R>, Error> {
        let sql = self.sql(sql);
        let started = std::time::Instant::now();
        let rows = self.fetch(&sql, params.into()).await.map_err(|e| match e {
            Error::Database(mysql_async::Error::Server(ref server)) if server.code == ER_STATEMENT_TIMEOUT => {
                Error::TimedOut(self.timeout_secs)
            }
            other => other,
        });
        tracing::debug!(
            duration_ms = started.elapsed().as_millis() as u64,
            ok = rows.is_ok(),
            "report query"
        );
        rows
    }

    async fn fetch<R: FromRow + Send + 'static>(&mut self, sql: &str, params: Params) -> Result<Vec<R>, Error> {
        let mut result = self.conn.exec_iter(sql, params).await?;
        let mut rows = vec![];
        let mut too_many = false;
        if let Some(mut stream) = result.stream::<Row>().await? {
            while let Some(row) = stream.next().await {
                let row = row?;
                if rows.len() == self.row_cap {
                    too_many = true;
                    continue; // read to the end, so the connection stays usable
                }
                rows.push(mysql_async::from_row_opt::<R>(row).map_err(|e| Error::Decode(e.to_string()))?);
            }
        }
        drop(result);
        if too_many {
            return Err(Error::TooManyRows(self.row_cap));
        }
        Ok(rows)
    }
}
