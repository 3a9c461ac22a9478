//! Upstream pools: each a round-robin balancer over its DC members and one over its DR members,
//! both checked on `site.check_path` (the services' `/readyz`, which also says whether their
//! database takes writes); a background service runs the checks and tells the site state what
//! each site can do.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use pingora::{
    Error, ErrorType,
    lb::{Backend, LoadBalancer, health_check::HealthCheck, selection::RoundRobin},
    server::ShutdownWatch,
    services::background::BackgroundService,
};
use serde::Serialize;

use crate::{
    config::{Balance, EdgeConfig, PoolConfig},
    site::{Round, Site, SiteHealth, SiteState},
};

/// What each member's last passing check said of its database: takes writes or not.
type Writability = Arc<Mutex<HashMap<String, bool>>>;

/// When each member last answered a request the edge passed to it.
type Answered = Arc<Mutex<HashMap<String, Instant>>>;

/// The check of one member: `check_path` answers 200 while the member can serve, and its JSON
/// body's `writable` says whether its database takes writes. A member that does not say (a
/// plain upstream) counts as writable. A check that times out while the member is answering
/// the traffic it is sent passes: a busy member (shedding a flood with 503s) is not a lost one,
/// and must not move the site; one that neither answers checks nor traffic fails.
struct ReadyCheck {
    client: reqwest::Client,
    path: String,
    writability: Writability,
    answered: Answered,
    /// How recent an answer to traffic must be to stand in for a check that timed out.
    busy_grace: Duration,
}

impl ReadyCheck {
    fn answered_lately(&self, addr: &str) -> bool {
        self.answered
            .lock()
            .expect("unpoisoned")
            .get(addr)
            .is_some_and(|at| at.elapsed() <= self.busy_grace)
    }
}

#[async_trait]
impl HealthCheck for ReadyCheck {
    fn health_threshold(&self, _success: bool) -> usize {
        1
    }

    async fn check(&self, target: &Backend) -> pingora::Result<()> {
        let failed = |e: reqwest::Error| Error::because(ErrorType::ConnectError, "readiness check", e);
        let addr = target.addr.to_string();
        let response = match self.client.get(format!("http://{addr}{}", self.path)).send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() && self.answered_lately(&addr) => {
                tracing::debug!(member = %addr, "readiness check timed out while the member answers traffic: busy, not lost");
                metrics::counter!("edge_checks_busy_total").increment(1);
                return Ok(());
            }
            Err(e) => return Err(failed(e)),
        };
        if response.status() != reqwest::StatusCode::OK {
            return Err(Error::explain(ErrorType::HTTPStatus(response.status().as_u16()), "not ready"));
        }
        let body = response.bytes().await.map_err(failed)?;
        let writable = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("writable").and_then(serde_json::Value::as_bool))
            .unwrap_or(true);
        self.writability.lock().expect("unpoisoned").insert(addr, writable);
        Ok(())
    }
}

pub type Balancer = LoadBalancer<RoundRobin>;

/// One pool.
pub struct Pool {
    pub name: String,
    prefixes: Vec<String>,
    pub balance: Balance,
    pub dc: Arc<Balancer>,
    /// None: the pool has no DR members, and serves from DC whatever the site.
    pub dr: Option<Arc<Balancer>>,
}

/// What every member's check shares: what the checks learnt, what the traffic showed.
struct Seen {
    writability: Writability,
    answered: Answered,
}

fn balancer(members: &[String], config: &EdgeConfig, seen: &Seen) -> anyhow::Result<Arc<Balancer>> {
    let mut balancer = Balancer::try_from_iter(members.iter().map(String::as_str))?;
    let client = reqwest::Client::builder()
        .timeout(config.site.check_timeout())
        .user_agent("pola-edge-health-check")
        .pool_max_idle_per_host(0)
        .build()?;
    balancer.set_health_check(Box::new(ReadyCheck {
        client,
        path: config.site.check_path.clone(),
        writability: seen.writability.clone(),
        answered: seen.answered.clone(),
        busy_grace: config.site.check_interval(),
    }));
    Ok(Arc::new(balancer))
}

impl Pool {
    fn new(pool: &PoolConfig, config: &EdgeConfig, seen: &Seen) -> anyhow::Result<Self> {
        Ok(Self {
            name: pool.name.clone(),
            prefixes: pool.prefixes.clone(),
            balance: pool.balance,
            dc: balancer(&pool.dc, config, seen)?,
            dr: match pool.dr.is_empty() {
                true => None,
                false => Some(balancer(&pool.dr, config, seen)?),
            },
        })
    }

    /// The members serving for `site`.
    pub fn at(&self, site: Site) -> &Balancer {
        match (site, &self.dr) {
            (Site::Dr, Some(dr)) => dr,
            _ => &self.dc,
        }
    }

    fn balancers(&self) -> impl Iterator<Item = (Site, &Arc<Balancer>)> {
        std::iter::once((Site::Dc, &self.dc)).chain(self.dr.iter().map(|dr| (Site::Dr, dr)))
    }
}

/// Every member of `balancer`, with whether its checks pass.
pub fn members(balancer: &Balancer) -> Vec<(Backend, bool)> {
    let backends = balancer.backends();
    backends
        .get_backend()
        .iter()
        .map(|b| (b.clone(), backends.ready(b)))
        .collect()
}

/// Every pool, with the route from path to pool.
pub struct Pools {
    pools: Vec<Pool>,
    writability: Writability,
    answered: Answered,
    /// Each member's health at the last round (pool, site, member), to log the changes.
    last_health: Mutex<HashMap<(String, Site, String), bool>>,
}

/// A member's health, for the admin status.
#[derive(Debug, Serialize)]
pub struct MemberStatus {
    pub site: Site,
    pub addr: String,
    pub healthy: bool,
    /// What its last passing check said of its database.
    pub writable: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct PoolStatus {
    pub name: String,
    pub members: Vec<MemberStatus>,
}

impl Pools {
    pub fn new(config: &EdgeConfig) -> anyhow::Result<Self> {
        let seen = Seen {
            writability: Writability::default(),
            answered: Answered::default(),
        };
        let pools = config
            .pools
            .iter()
            .map(|p| Pool::new(p, config, &seen))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            pools,
            writability: seen.writability,
            answered: seen.answered,
            last_health: Mutex::default(),
        })
    }

    /// `member` (`host:port`) answered a request passed to it just now.
    pub fn answered(&self, member: &str) {
        let mut answered = self.answered.lock().expect("unpoisoned");
        match answered.get_mut(member) {
            Some(at) => *at = Instant::now(),
            None => drop(answered.insert(member.to_owned(), Instant::now())),
        }
    }

    /// The pool whose prefix is the longest that `path` starts with.
    pub fn route(&self, path: &str) -> Option<(usize, &Pool)> {
        self.pools
            .iter()
            .enumerate()
            .flat_map(|(i, pool)| pool.prefixes.iter().map(move |prefix| (i, pool, prefix)))
            .filter(|(_, _, prefix)| path.starts_with(prefix.as_str()))
            .max_by_key(|(_, _, prefix)| prefix.len())
            .map(|(i, pool, _)| (i, pool))
    }

    pub fn get(&self, index: usize) -> &Pool {
        &self.pools[index]
    }

    /// What `site` can do, by its members' last checks.
    fn health(&self, site: Site) -> SiteHealth {
        let writability = self.writability.lock().expect("unpoisoned");
        let (mut serving, mut writable) = (true, true);
        for pool in &self.pools {
            let healthy: Vec<Backend> = members(pool.at(site))
                .into_iter()
                .filter_map(|(backend, healthy)| healthy.then_some(backend))
                .collect();
            serving &= !healthy.is_empty();
            writable &= healthy
                .iter()
                .any(|b| writability.get(&b.addr.to_string()).copied().unwrap_or(false));
        }
        SiteHealth { serving, writable }
    }

    /// What both sites can do now.
    pub fn round(&self) -> Round {
        Round {
            dc: self.health(Site::Dc),
            dr: self.pools.iter().any(|p| p.dr.is_some()).then(|| self.health(Site::Dr)),
        }
    }

    pub fn status(&self) -> Vec<PoolStatus> {
        self.pools
            .iter()
            .map(|pool| PoolStatus {
                name: pool.name.clone(),
                members: pool
                    .balancers()
                    .flat_map(|(site, balancer)| {
                        members(balancer).into_iter().map(move |(backend, healthy)| MemberStatus {
                            site,
                            writable: self
                                .writability
                                .lock()
                                .expect("unpoisoned")
                                .get(&backend.addr.to_string())
                                .copied(),
                            addr: backend.addr.to_string(),
                            healthy,
                        })
                    })
                    .collect(),
            })
            .collect()
    }

    /// One round of health checks of every member, in parallel.
    async fn check(&self) {
        let rounds = self
            .pools
            .iter()
            .flat_map(Pool::balancers)
            .map(|(_, b)| b.backends().run_health_check(true));
        for round in rounds.collect::<Vec<_>>() {
            round.await;
        }
        let mut last = self.last_health.lock().expect("unpoisoned");
        for status in self.status() {
            for member in status.members {
                let before = last.insert((status.name.clone(), member.site, member.addr.clone()), member.healthy);
                match (before, member.healthy) {
                    (Some(true), false) => {
                        tracing::warn!(pool = %status.name, site = member.site.as_str(), member = %member.addr, "member left the pool: its readiness check failed")
                    }
                    (Some(false), true) => {
                        tracing::info!(pool = %status.name, site = member.site.as_str(), member = %member.addr, "member back in the pool")
                    }
                    _ => {}
                }
                metrics::gauge!("edge_upstream_healthy", "pool" => status.name.clone(), "site" => member.site.as_str(), "member" => member.addr)
                    .set(f64::from(u8::from(member.healthy)));
            }
        }
    }
}

/// The background service that checks every member each `check_interval` and moves traffic to
/// DR when DC stays down.
pub struct HealthChecks {
    pub pools: Arc<Pools>,
    pub site: Arc<SiteState>,
    pub interval: std::time::Duration,
}

#[async_trait]
impl BackgroundService for HealthChecks {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            self.pools.check().await;
            self.site.observe(self.pools.round());
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
