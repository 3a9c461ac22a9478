//! Upstream pools: each a round-robin balancer over its DC members and one over its DR members,
//! both health-checked on `site.check_path`; a background service runs the checks and tells the
//! site state whether DC can serve.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::{
    http::RequestHeader,
    lb::{Backend, LoadBalancer, health_check::HttpHealthCheck, selection::RoundRobin},
    server::ShutdownWatch,
    services::background::BackgroundService,
};
use serde::Serialize;

use crate::{
    config::{Balance, EdgeConfig, PoolConfig},
    site::{Site, SiteState},
};

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

fn balancer(members: &[String], config: &EdgeConfig) -> anyhow::Result<Arc<Balancer>> {
    let mut balancer = Balancer::try_from_iter(members.iter().map(String::as_str))?;
    let mut check = HttpHealthCheck::new("localhost", false);
    let mut request = RequestHeader::build("GET", config.site.check_path.as_bytes(), None)?;
    request.insert_header("Host", "localhost")?;
    request.insert_header("User-Agent", "pola-edge-health-check")?;
    check.req = request;
    let timeout = Some(config.site.check_interval().min(std::time::Duration::from_secs(1)));
    check.peer_template.options.connection_timeout = timeout;
    check.peer_template.options.read_timeout = timeout;
    balancer.set_health_check(Box::new(check));
    Ok(Arc::new(balancer))
}

impl Pool {
    fn new(pool: &PoolConfig, config: &EdgeConfig) -> anyhow::Result<Self> {
        Ok(Self {
            name: pool.name.clone(),
            prefixes: pool.prefixes.clone(),
            balance: pool.balance,
            dc: balancer(&pool.dc, config)?,
            dr: match pool.dr.is_empty() {
                true => None,
                false => Some(balancer(&pool.dr, config)?),
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
}

/// A member's health, for the admin status.
#[derive(Debug, Serialize)]
pub struct MemberStatus {
    pub site: Site,
    pub addr: String,
    pub healthy: bool,
}

#[derive(Debug, Serialize)]
pub struct PoolStatus {
    pub name: String,
    pub members: Vec<MemberStatus>,
}

impl Pools {
    pub fn new(config: &EdgeConfig) -> anyhow::Result<Self> {
        let pools = config
            .pools
            .iter()
            .map(|p| Pool::new(p, config))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { pools })
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

    /// DC can serve: every pool has a healthy DC member.
    pub fn dc_healthy(&self) -> bool {
        self.pools
            .iter()
            .all(|pool| members(&pool.dc).iter().any(|(_, healthy)| *healthy))
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
        for status in self.status() {
            for member in status.members {
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
            self.site.observe(self.pools.dc_healthy());
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
