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
