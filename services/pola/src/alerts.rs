//! `pola worker alerts`: checks every rule each `alerts.interval_secs` against APM in OpenSearch
//! (request spans, the processes' metrics), RabbitMQ's parking queues and the disks it can see,
//! and tells the on-call staff through the notification worker (`alert.fired`,
//! `alert.resolved` events): once when an alert fires, once when it resolves. A rule whose
//! source cannot be asked changes nothing (no alert resolves because OpenSearch is away).
//!
//! What is firing is also written to OpenSearch (`<prefix>-alerts`), so that a restarted worker
//! neither repeats an alert nor forgets to resolve it.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use pola_apm::query::{Apm, Sample};
use pola_core::config::{AlertsConfig, Config};
use serde::{Deserialize, Serialize};

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// What it is about, stable while it holds: `errors:pola-serve`, `lag:dr`, `disk:/var/lib/mysql`.
    pub key: String,
    /// What the on-call engineer reads first.
    pub title: String,
    /// The figures behind it.
    pub detail: String,
}

/// What one rule found: the alerts that hold now, or that it could not tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Holds(Vec<Alert>),
    Unknown(String),
}

/// An alert starting or ending.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Change {
    Fired {
        alert: Alert,
        rule: String,
        at: DateTime<Utc>,
    },
    Resolved {
        alert: Alert,
        rule: String,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    },
}

/// A firing alert, as remembered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub alert: Alert,
    pub rule: String,
    pub since: DateTime<Utc>,
}

/// What is firing now, by key.
#[derive(Debug, Default)]
pub struct Board {
    firing: BTreeMap<String, Firing>,
    /// How long a firing alert's cause must stay gone before it resolves (none: at once).
    quiet: chrono::Duration,
    /// When each firing alert's cause was first found gone, by key.
    gone_since: BTreeMap<String, DateTime<Utc>>,
}

impl Board {
    pub fn with(firing: Vec<Firing>) -> Self {
        Self {
            firing: firing.into_iter().map(|f| (f.alert.key.clone(), f)).collect(),
            ..Self::default()
        }
    }

    /// Resolves an alert only once its cause has stayed gone for `quiet`: a rate hovering at
    /// its threshold is told once, not at every check.
    pub fn resolving_after(self, quiet: Duration) -> Self {
        Self {
            quiet: chrono::Duration::from_std(quiet).unwrap_or_default(),
            ..self
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &Firing> {
        self.firing.values()
    }

    /// Takes one rule's finding: alerts it finds that were not firing fire, this rule's alerts
    /// it no longer finds resolve once they have stayed gone long enough; each once. An unknown
    /// finding changes nothing.
    pub fn update(&mut self, rule: &str, finding: Finding, now: DateTime<Utc>) -> Vec<Change> {
        let Finding::Holds(found) = finding else { return vec![] };
        let mut changes = vec![];
        let keys: Vec<String> = found.iter().map(|a| a.key.clone()).collect();
        let gone: Vec<String> = self
            .firing
            .values()
            .filter(|f| f.rule == rule && !keys.contains(&f.alert.key))
            .map(|f| f.alert.key.clone())
            .collect();
        for key in gone {
            let since = *self.gone_since.entry(key.clone()).or_insert(now);
            if now - since < self.quiet {
                continue;
            }
            self.gone_since.remove(&key);
            if let Some(f) = self.firing.remove(&key) {
                changes.push(Change::Resolved {
                    alert: f.alert,
                    rule: f.rule,
                    since: f.since,
                    at: now,
                });
            }
        }
        for alert in found {
            self.gone_since.remove(&alert.key);
            if !self.firing.contains_key(&alert.key) {
                self.firing.insert(
                    alert.key.clone(),
                    Firing {
                        alert: alert.clone(),
                        rule: rule.to_owned(),
                        since: now,
                    },
                );
                changes.push(Change::Fired {
                    alert,
                    rule: rule.to_owned(),
                    at: now,
                });
            }
        }
        changes
    }
}

/// The rules, by name.
pub const RULES: [&str; 9] = [
    "errors",
    "latency",
    "replication",
    "semi_sync",
    "outbox",
    "parked",
    "waf",
    "edge_site",
    "disk",
];

fn alert(key: String, title: String, detail: String) -> Alert {
    Alert { key, title, detail }
}

/// Requests answered 5xx, per service (the edge's own count as `pola-edge`).
fn errors(stats: &[pola_apm::query::RouteStats], config: &AlertsConfig) -> Vec<Alert> {
    let mut by_service: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in stats {
        let e = by_service.entry(&s.service).or_default();
        *e = (e.0 + s.requests, e.1 + s.errors);
    }
    by_service
        .into_iter()
        .filter(|(_, (requests, _))| *requests >= config.min_requests)
        .filter_map(|(service, (requests, errors))| {
            let percent = errors as f64 * 100.0 / requests as f64;
            (percent >= config.error_rate_percent).then(|| {
                alert(
                    format!("errors:{service}"),
                    format!(
                        "{service}: {percent:.1}% of requests failed in the last {} minutes",
                        config.window_minutes
                    ),
                    format!(
                        "{errors} of {requests} requests answered 5xx (threshold {}%)",
                        config.error_rate_percent
                    ),
                )
            })
        })
        .collect()
}

/// Routes whose 99th percentile is past the threshold.
fn latency(stats: &[pola_apm::query::RouteStats], config: &AlertsConfig) -> Vec<Alert> {
    stats
        .iter()
        .filter(|s| s.requests >= config.min_requests && s.route != "(edge)")
        .filter_map(|s| {
            let p99 = s.p99_ms?;
            (p99 > config.p99_ms).then(|| {
                alert(
                    format!("latency:{}:{}", s.service, s.route),
                    format!("{} {}: p99 {p99:.0} ms", s.service, s.route),
                    format!(
                        "99th percentile {p99:.0} ms over {} requests in the last {} minutes (threshold {} ms)",
                        s.requests, config.window_minutes, config.p99_ms
                    ),
                )
            })
        })
        .collect()
}

fn site_of(sample: &Sample) -> String {
    sample.site.clone().unwrap_or_else(|| "?".into())
}

/// Replicas behind or not replicating (from `pola serve`'s site metrics).
fn replication(lag: &[Sample], io: &[Sample], sql: &[Sample], configured: &[Sample], config: &AlertsConfig) -> Vec<Alert> {
    let mut found = vec![];
    for sample in configured.iter().filter(|s| s.value >= 1.0) {
        let site = site_of(sample);
        let of = |all: &[Sample]| {
            all.iter()
                .find(|s| s.service == sample.service && s.site == sample.site)
                .map(|s| s.value)
        };
        let stopped = of(io).is_some_and(|v| v < 1.0) || of(sql).is_some_and(|v| v < 1.0);
        match (stopped, of(lag)) {
            (true, _) => found.push(alert(
                format!("replication:{site}"),
                format!("replication at {site} has stopped"),
                format!("io thread running: {:?}, sql thread running: {:?}", of(io), of(sql)),
            )),
            (false, Some(seconds)) if seconds > config.replication_lag_secs => found.push(alert(
                format!("replication:{site}"),
                format!("replica at {site} is {seconds:.0} s behind"),
                format!("replication lag {seconds:.0} s (threshold {} s)", config.replication_lag_secs),
            )),
            _ => {}
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found.dedup_by(|a, b| a.key == b.key);
    found
}

/// A primary whose semi-synchronous replication fell back to asynchronous.
fn semi_sync(enabled: &[Sample], active: &[Sample], writable: &[Sample]) -> Vec<Alert> {
    let mut found: Vec<Alert> = writable
        .iter()
        .filter(|w| w.value >= 1.0)
        .filter(|w| {
            let of = |all: &[Sample]| {
                all.iter()
                    .find(|s| s.service == w.service && s.site == w.site)
                    .map(|s| s.value)
            };
            of(enabled).is_some_and(|v| v >= 1.0) && of(active).is_some_and(|v| v < 1.0)
        })
        .map(|w| {
            let site = site_of(w);
            alert(
                format!("semi_sync:{site}"),
                format!("the primary at {site} fell back to asynchronous replication"),
                "no replica acknowledged commits in time: an acknowledged order could be lost with this site".into(),
            )
        })
        .collect();
    found.dedup_by(|a, b| a.key == b.key);
    found
}

/// Outboxes whose oldest unsent event waits too long.
fn outbox(ages: &[Sample], config: &AlertsConfig) -> Vec<Alert> {
    let mut found: Vec<Alert> = ages
        .iter()
        .filter(|s| s.value > config.outbox_age_secs)
        .map(|s| {
            let service = s.labels["service"].as_str().unwrap_or("?");
            let site = site_of(s);
            alert(
                format!("outbox:{site}:{service}"),
                format!("{service}'s events at {site} wait {:.0} s to be sent", s.value),
                format!(
                    "the oldest unsent event is {:.0} s old (threshold {} s)",
                    s.value, config.outbox_age_secs
                ),
            )
        })
        .collect();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found.dedup_by(|a, b| a.key == b.key);
    found
}

/// The edge serving from a site other than the home site.
fn edge_site(active_dr: &[Sample], config: &AlertsConfig) -> Vec<Alert> {
    let serving_dr = active_dr.iter().any(|s| s.value >= 1.0);
    let serving = if serving_dr { "dr" } else { "dc" };
    if active_dr.is_empty() || serving == config.home_site {
        return vec![];
    }
    vec![alert(
        "edge_site".into(),
        format!("the edge serves from {serving}, not {}", config.home_site),
        "the edge moved traffic to the other site (a failover or a switchover)".into(),
    )]
}

/// Free space on a folder's disk, in percent (from `df`).
fn free_percent(path: &std::path::Path) -> Result<f64, String> {
    let output = std::process::Command::new("df")
        .arg("-P")
        .arg(path)
        .output()
        .map_err(|e| format!("df: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .nth(1)
        .ok_or_else(|| format!("df said nothing about {}", path.display()))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (size, available): (f64, f64) = match fields.as_slice() {
        [_, size, _, available, ..] => (
            size.parse().map_err(|_| "df's size".to_owned())?,
            available.parse().map_err(|_| "df's free space".to_owned())?,
        ),
        _ => return Err(format!("df's line: {line}")),
    };
    Ok(if size > 0.0 { available * 100.0 / size } else { 100.0 })
}

fn disks(config: &AlertsConfig) -> Finding {
    let mut found = vec![];
    for path in &config.disks {
        match free_percent(path) {
            Ok(free) if free < config.disk_free_percent => found.push(alert(
                format!("disk:{}", path.display()),
                format!("{} has {free:.1}% of its disk free", path.display()),
                format!("threshold {}%", config.disk_free_percent),
            )),
            Ok(_) => {}
            Err(e) => return Finding::Unknown(e),
        }
    }
    Finding::Holds(found)
}

/// Parked events per watched queue (RabbitMQ's parking queues, asked passively).
async fn parked(config: &Config) -> Finding {
    let result = async {
        let (connection, _) = pola_core::events::broker::connect(&config.events, "pola-alerts").await?;
        let mut found = vec![];
        for queue in &config.alerts.queues {
            let parking = pola_core::events::broker::parking_queue(queue);
            // A passive declaration of a missing queue closes its channel: one channel each.
            let channel = connection.create_channel().await?;
            let declared = channel
                .queue_declare(
                    parking.as_str().into(),
                    lapin::options::QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    Default::default(),
                )
                .await;
            // A parking queue nobody declared yet holds nothing.
            let Ok(declared) = declared else { continue };
            let count = u64::from(declared.message_count());
            if count >= config.alerts.parked_events {
                found.push(alert(
                    format!("parked:{queue}"),
                    format!("{count} events parked on {queue}"),
                    format!("`pola events dlq list --queue {queue}` shows them; `replay` sends them again"),
                ));
            }
        }
        pola_core::events::broker::close(&connection, "checked").await;
        anyhow::Ok(found)
    }
    .await;
    match result {
        Ok(found) => Finding::Holds(found),
        Err(e) => Finding::Unknown(format!("RabbitMQ: {e:#}")),
    }
}

/// Checks every rule once.
pub async fn check(apm: &Apm, config: &Config, now: DateTime<Utc>) -> Vec<(&'static str, Finding)> {
    let alerts = &config.alerts;
    let window = now - chrono::Duration::minutes(i64::try_from(alerts.window_minutes).unwrap_or(5));
    // Metrics come every 15 s: the last two minutes hold each process's latest.
    let recent = now - chrono::Duration::minutes(2);
    let unknown = |e: pola_apm::setup::Error| Finding::Unknown(format!("OpenSearch: {e}"));
    let mut findings = vec![];
    match apm.routes(window).await {
        Ok(stats) => {
            findings.push(("errors", Finding::Holds(errors(&stats, alerts))));
            findings.push(("latency", Finding::Holds(latency(&stats, alerts))));
        }
        Err(e) => {
            let said = unknown(e);
            findings.push(("errors", said.clone()));
            findings.push(("latency", said));
        }
    }
    let mut latest = BTreeMap::new();
    for metric in [
        "db_replica_lag_seconds",
        "db_replica_io_running",
        "db_replica_sql_running",
        "db_replica_configured",
        "db_semi_sync_primary_enabled",
        "db_semi_sync_primary_active",
        "db_writable",
        "events_outbox_oldest_unsent_seconds",
        "edge_active_site_dr",
    ] {
        latest.insert(metric, apm.latest(metric, recent).await);
    }
    let got = |name: &str| match latest.get(name) {
        Some(Ok(samples)) => Ok(samples.clone()),
        Some(Err(e)) => Err(Finding::Unknown(format!("OpenSearch: {e}"))),
        None => Err(Finding::Unknown(format!("{name} was not asked"))),
    };
    let replication_found = (|| {
        Ok::<_, Finding>(replication(
            &got("db_replica_lag_seconds")?,
            &got("db_replica_io_running")?,
            &got("db_replica_sql_running")?,
            &got("db_replica_configured")?,
            alerts,
        ))
    })();
    findings.push(("replication", replication_found.map_or_else(|f| f, Finding::Holds)));
    let semi = (|| {
        Ok::<_, Finding>(semi_sync(
            &got("db_semi_sync_primary_enabled")?,
            &got("db_semi_sync_primary_active")?,
            &got("db_writable")?,
        ))
    })();
    findings.push(("semi_sync", semi.map_or_else(|f| f, Finding::Holds)));
    let outboxes = got("events_outbox_oldest_unsent_seconds").map(|ages| outbox(&ages, alerts));
    findings.push(("outbox", outboxes.map_or_else(|f| f, Finding::Holds)));
    findings.push(("parked", parked(config).await));
    let waf = match apm.waf_blocks(now - chrono::Duration::minutes(1)).await {
        Ok(blocks) if blocks >= alerts.waf_blocks_per_minute => Finding::Holds(vec![alert(
            "waf".into(),
            format!("the WAF stopped {blocks} requests in the last minute"),
            format!(
                "threshold {} a minute: an attack, or a rule stopping real customers",
                alerts.waf_blocks_per_minute
            ),
        )]),
        Ok(_) => Finding::Holds(vec![]),
        Err(e) => unknown(e),
    };
    findings.push(("waf", waf));
    let site = got("edge_active_site_dr").map(|samples| edge_site(&samples, alerts));
    findings.push(("edge_site", site.map_or_else(|f| f, Finding::Holds)));
    findings.push(("disk", disks(alerts)));
    findings
}

/// Runs the alert worker until `stop`: checks, tells, remembers.
pub async fn run(config: &Config, mut stop: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<()> {
    let apm = Apm::new(&config.apm)?;
    let mut board = Board::with(apm.firing_alerts().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the alerts firing before this start could not be read; starting afresh");
        vec![]
    }))
    .resolving_after(Duration::from_secs(config.alerts.resolve_after_secs));
    let every = Duration::from_secs(config.alerts.interval_secs.max(1));
    loop {
        let now = Utc::now();
        for (rule, finding) in check(&apm, config, now).await {
            if let Finding::Unknown(why) = &finding {
                tracing::warn!(rule, why, "an alert rule could not be checked; its alerts stay as they were");
            }
            for change in board.update(rule, finding, now) {
                tell(config, &change).await;
                if let Err(e) = apm.record_alert(&serde_json::to_value(&change)?).await {
                    tracing::warn!(error = %e, "an alert's change could not be written to OpenSearch");
                }
            }
        }
        metrics::gauge!("alerts_firing").set(board.firing().count() as f64);
        if pola_core::events::pause(&mut stop, every).await {
            return Ok(());
        }
    }
}

/// Sends an alert's change to the notification worker (RabbitMQ), retrying a little: an alert
/// that cannot be told is logged at error level, which APM ships.
pub async fn tell(config: &Config, change: &Change) {
    let (kind, alert) = match change {
        Change::Fired { alert, .. } => ("alert.fired", alert),
        Change::Resolved { alert, .. } => ("alert.resolved", alert),
    };
    tracing::warn!(alert.key = %alert.key, alert.title = %alert.title, kind, "alert");
    let envelope = pola_core::events::Envelope {
        id: pola_core::new_id(),
        kind: kind.to_owned(),
        occurred_at: Utc::now(),
        version: 1,
        data: serde_json::to_value(change).unwrap_or_default(),
    };
    for attempt in 1..=3 {
        match pola_core::events::broker::publish_event(&config.events, &envelope).await {
            Ok(()) => return,
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %format!("{e:#}"), attempt, "an alert could not be sent yet");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), alert.key = %alert.key, "an alert could not be sent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(keys: &[&str]) -> Finding {
        Finding::Holds(
            keys.iter()
                .map(|k| alert((*k).into(), format!("{k} holds"), String::new()))
                .collect(),
        )
    }

    fn kinds(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Fired { alert, .. } => format!("fired {}", alert.key),
                Change::Resolved { alert, .. } => format!("resolved {}", alert.key),
            })
            .collect()
    }

    #[test]
    fn an_alert_fires_once_and_resolves_once_and_an_unknown_finding_changes_nothing() {
        let mut board = Board::default();
        let now = Utc::now();
        assert_eq!(
            kinds(&board.update("errors", found(&["errors:pola-serve"]), now)),
            ["fired errors:pola-serve"]
        );
        assert!(board.update("errors", found(&["errors:pola-serve"]), now).is_empty(), "once");
        assert!(board.update("errors", Finding::Unknown("away".into()), now).is_empty());
        assert!(
            board.update("latency", found(&[]), now).is_empty(),
            "another rule's alerts stay"
        );
        assert_eq!(
            kinds(&board.update("errors", found(&[]), now)),
            ["resolved errors:pola-serve"]
        );
        assert!(board.update("errors", found(&[]), now).is_empty(), "once");
        let restarted = Board::with(vec![Firing {
            alert: alert("lag:dr".into(), "behind".into(), String::new()),
            rule: "replication".into(),
            since: now,
        }]);
        let mut restarted = restarted;
        assert!(
            restarted.update("replication", found(&["lag:dr"]), now).is_empty(),
            "remembered across a restart"
        );
    }

    #[test]
    fn an_alert_resolves_only_once_its_cause_has_stayed_gone_for_the_quiet_period() {
        let mut board = Board::default().resolving_after(Duration::from_secs(60));
        let start = Utc::now();
        let at = |secs| start + chrono::Duration::seconds(secs);
        assert_eq!(
            kinds(&board.update("errors", found(&["errors:pola-edge"]), at(0))),
            ["fired errors:pola-edge"]
        );
        assert!(
            board.update("errors", found(&[]), at(30)).is_empty(),
            "gone, not yet for long"
        );
        assert!(
            board.update("errors", found(&["errors:pola-edge"]), at(60)).is_empty(),
            "back: still the same alert"
        );
        assert!(
            board.update("errors", found(&[]), at(90)).is_empty(),
            "gone again, the quiet period starts again"
        );
        assert!(board.update("errors", Finding::Unknown("away".into()), at(120)).is_empty());
        assert_eq!(
            kinds(&board.update("errors", found(&[]), at(150))),
            ["resolved errors:pola-edge"]
        );
        assert!(board.update("errors", found(&[]), at(300)).is_empty(), "once");
    }

    fn sample(service: &str, site: &str, labels: serde_json::Value, value: f64) -> Sample {
        Sample {
            service: service.into(),
            site: Some(site.into()),
            labels,
            value,
            at: Utc::now(),
        }
    }

    #[test]
    fn rules_read_rates_latencies_and_site_metrics() {
        let config = AlertsConfig::default();
        let stats = |requests, errors, p99| pola_apm::query::RouteStats {
            service: "pola-serve".into(),
            route: "/api/v1/orders".into(),
            requests,
            errors,
            p50_ms: None,
            p95_ms: None,
            p99_ms: Some(p99),
        };
        assert_eq!(errors(&[stats(100, 6, 10.0)], &config).len(), 1, "6% fails");
        assert!(errors(&[stats(100, 4, 10.0)], &config).is_empty(), "4% does not");
        assert!(errors(&[stats(10, 10, 10.0)], &config).is_empty(), "too few to judge");
        assert_eq!(
            latency(&[stats(100, 0, 2_500.0)], &config)[0].key,
            "latency:pola-serve:/api/v1/orders"
        );
        let none = serde_json::Value::Null;
        let replica = [sample("pola-serve", "dr", none.clone(), 1.0)];
        let lag = [sample("pola-serve", "dr", none.clone(), 45.0)];
        let running = [sample("pola-serve", "dr", none.clone(), 1.0)];
        let stopped = [sample("pola-serve", "dr", none.clone(), 0.0)];
        assert_eq!(
            replication(&lag, &running, &running, &replica, &config)[0].key,
            "replication:dr"
        );
        assert!(
            replication(
                &[sample("pola-serve", "dr", none.clone(), 3.0)],
                &running,
                &running,
                &replica,
                &config
            )
            .is_empty()
        );
        assert!(
            replication(&lag, &stopped, &running, &replica, &config)[0]
                .title
                .contains("stopped")
        );
        let on = [sample("pola-serve", "dc", none.clone(), 1.0)];
        let off = [sample("pola-serve", "dc", none.clone(), 0.0)];
        assert_eq!(semi_sync(&on, &off, &on).len(), 1, "enabled but not active on the primary");
        assert!(semi_sync(&on, &on, &on).is_empty());
        let age = [sample("pola-serve", "dc", serde_json::json!({"service": "orders"}), 300.0)];
        assert_eq!(outbox(&age, &config)[0].key, "outbox:dc:orders");
        assert_eq!(edge_site(&[sample("pola-edge", "-", none.clone(), 1.0)], &config).len(), 1);
        assert!(edge_site(&[sample("pola-edge", "-", none, 0.0)], &config).is_empty());
    }

    #[test]
    fn a_disk_is_read_with_df() {
        let free = free_percent(std::path::Path::new("/")).expect("df answers for /");
        assert!((0.0..=100.0).contains(&free), "{free}");
        assert!(free_percent(std::path::Path::new("/no/such/folder")).is_err());
    }
}
