//! `pola status`: each site's database (primary or replica, GTID positions, lag, semi-sync) and
//! the edge's active site, for an SRE deciding what to do next.

use std::{fmt::Write, str::FromStr, time::Duration};

use anyhow::Context;
use pola_core::site::{Observed, observe};
use serde::Serialize;
use sqlx::{ConnectOptions, mysql::MySqlConnectOptions};

/// A site to look at: `dc=mysql://user:password@host:port`.
#[derive(Debug, Clone)]
pub struct SiteUrl {
    pub name: String,
    pub url: String,
}

impl FromStr for SiteUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, url) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected NAME=URL, e.g. dc=mysql://pola@10.0.1.10:3306"))?;
        MySqlConnectOptions::from_str(url).map_err(|e| format!("`{name}`: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            url: url.to_owned(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct SiteReport {
    pub site: String,
    /// host:port, never the password.
    pub server: String,
    /// What the server said, or why it could not be asked.
    pub observed: Result<Observed, String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub sites: Vec<SiteReport>,
    /// The edge's `/status` answer, when an edge was named.
    pub edge: Option<Result<serde_json::Value, String>>,
}

impl Report {
    /// How many sites take writes: 1 is healthy, 0 is an outage, 2 is split brain.
    pub fn writable_sites(&self) -> usize {
        self.sites
            .iter()
            .filter(|s| s.observed.as_ref().is_ok_and(Observed::writable))
            .count()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for site in &self.sites {
            let _ = match &site.observed {
                Ok(o) => render_site(&mut out, &site.site, &site.server, o),
                Err(e) => writeln!(out, "{} ({}): UNREACHABLE: {e}", site.site, site.server),
            };
        }
        match &self.edge {
            Some(Ok(edge)) => {
                let active = edge.get("active_site").and_then(|v| v.as_str()).unwrap_or("?");
                let _ = writeln!(out, "edge: active site {active}");
            }
            Some(Err(e)) => {
                let _ = writeln!(out, "edge: UNREACHABLE: {e}");
            }
            None => {}
        }
        let _ = match self.writable_sites() {
            1 => writeln!(out, "verdict: one primary"),
            0 => writeln!(out, "verdict: NO SITE TAKES WRITES (checkouts answer 503)"),
            _ => writeln!(out, "verdict: MORE THAN ONE SITE TAKES WRITES (split brain: fence one now)"),
        };
        out
    }
}

fn render_site(out: &mut String, name: &str, server: &str, o: &Observed) -> std::fmt::Result {
    let writes = match o.role() {
        "primary" => " (takes writes)",
        "replica" => " (read-only)",
        _ => "",
    };
    writeln!(out, "{name} ({server}): {}{writes}, server_id {}", o.role(), o.server_id)?;
    writeln!(out, "  gtid binlog {:?}  applied {:?}", o.gtid_binlog_pos, o.gtid_slave_pos)?;
    let semi = &o.semi_sync;
    if o.writable() {
        let state = match (semi.primary_enabled, semi.primary_active) {
            (false, _) => "off (asynchronous replication)".to_owned(),
            (true, true) => format!("waiting for {} replica(s)", semi.primary_clients),
            (true, false) => "FELL BACK TO ASYNC (no replica acknowledged in time)".to_owned(),
        };
        writeln!(
            out,
            "  semi-sync: {state}; commits acknowledged {}, not acknowledged {}",
            semi.primary_yes_tx, semi.primary_no_tx
        )?;
    }
    if let Some(r) = &o.replica {
        let lag = r.lag_seconds.map_or("unknown".to_owned(), |s| format!("{s} s"));
        writeln!(
            out,
            "  replicating from {}: io {}, sql {}, lag {lag}, received {:?}, semi-sync {}",
            r.source,
            r.io_running,
            if r.sql_running { "Yes" } else { "No" },
            r.gtid_io_pos,
            if semi.replica_active { "on" } else { "off" }
        )?;
        for error in [&r.last_io_error, &r.last_sql_error] {
            if !error.is_empty() {
                writeln!(out, "  last error: {error}")?;
            }
        }
    }
    Ok(())
}

/// The sites configured in `[backoffice] sites`, or this process's database alone (as `this`).
pub fn configured_sites(config: &pola_core::config::Config) -> Vec<SiteUrl> {
    use secrecy::ExposeSecret;
    if config.backoffice.sites.is_empty() {
        return vec![SiteUrl {
            name: "this".into(),
            url: config.database.url.expose_secret().to_owned(),
        }];
    }
    config
        .backoffice
        .sites
        .iter()
        .map(|(name, url)| SiteUrl {
            name: name.clone(),
            url: url.expose_secret().to_owned(),
        })
        .collect()
}

/// One site as the back-office's dashboard shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SiteState {
    pub site: String,
    /// `primary` (takes writes), `replica`, `read-only` (neither: a fenced old primary), or
    /// `unreachable`.
    pub role: String,
    /// How far a replica is behind its primary; absent while a replication thread is stopped.
    pub lag_seconds: Option<u64>,
    /// On a primary: whether commits wait for the replica (`waiting`), fell back to
    /// asynchronous replication (`fell_back`), or semi-sync is `off`.
    pub semi_sync: Option<String>,
    /// Why it could not be asked, or replication's last error.
    pub error: Option<String>,
}

impl From<SiteReport> for SiteState {
    fn from(report: SiteReport) -> Self {
        match report.observed {
            Err(e) => SiteState {
                site: report.site,
                role: "unreachable".into(),
                lag_seconds: None,
                semi_sync: None,
                error: Some(e),
            },
            Ok(o) => {
                let semi = &o.semi_sync;
                let semi_sync = o.writable().then(|| {
                    match (semi.primary_enabled, semi.primary_active) {
                        (false, _) => "off",
                        (true, true) => "waiting",
                        (true, false) => "fell_back",
                    }
                    .to_owned()
                });
                let replica = o.replica.as_ref();
                let error = replica
                    .map(|r| {
                        [r.last_io_error.as_str(), r.last_sql_error.as_str()]
                            .join(" ")
                            .trim()
                            .to_owned()
                    })
                    .filter(|e| !e.is_empty());
                SiteState {
                    site: report.site,
                    role: o.role().to_owned(),
                    lag_seconds: replica.and_then(|r| r.lag_seconds),
                    semi_sync,
                    error,
                }
            }
        }
    }
}

/// The sites `GET /api/v1/sites` looks at.
type Sites = std::sync::Arc<Vec<SiteUrl>>;

pub fn router(sites: Vec<SiteUrl>) -> utoipa_axum::router::OpenApiRouter {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(sites_now))
        .with_state(std::sync::Arc::new(sites))
}

/// Both sites now: which database takes writes, how far the replica lags, whether semi-sync
/// still waits for it (any staff member: the dashboard shows it).
#[utoipa::path(get, path = "/api/v1/sites", tags = ["staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Each configured site", body = Vec<SiteState>)))]
pub async fn sites_now(
    axum::extract::State(sites): axum::extract::State<Sites>,
    _: pola_core::auth::Staff,
) -> pola_core::extract::Json<Vec<SiteState>> {
    let report = report(&sites, None).await;
    pola_core::extract::Json(report.sites.into_iter().map(SiteState::from).collect())
}

/// Asks every site, and the edge's admin listener at `edge` (host:port) if given.
pub async fn report(sites: &[SiteUrl], edge: Option<&str>) -> Report {
    let mut reports = vec![];
    for site in sites {
        let options = MySqlConnectOptions::from_str(&site.url);
        let server = options
            .as_ref()
            .map(|o| format!("{}:{}", o.get_host(), o.get_port()))
            .unwrap_or_default();
        let observed = async {
            let mut conn = tokio::time::timeout(Duration::from_secs(3), options?.connect())
                .await
                .context("no answer in 3 s")??;
            anyhow::Ok(observe(&mut conn).await?)
        }
        .await
        .map_err(|e| format!("{e:#}"));
        reports.push(SiteReport {
            site: site.name.clone(),
            server,
            observed,
        });
    }
    let edge = match edge {
        Some(addr) => Some(edge_status(addr).await.map_err(|e| format!("{e:#}"))),
        None => None,
    };
    Report { sites: reports, edge }
}

async fn edge_status(addr: &str) -> anyhow::Result<serde_json::Value> {
    let url = format!("http://{addr}/status");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
    Ok(client.get(&url).send().await?.error_for_status()?.json().await?)
}
