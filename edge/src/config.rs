//! The edge's configuration: one TOML file (`--config`, or `POLA_EDGE_CONFIG`) plus
//! `POLA_EDGE_<SECTION>__<KEY>` environment overrides, validated once at start.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::routes::RouteRule;

/// Everything `pola-edge serve` reads.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    pub listen: Listen,
    /// What the public listener forwards.
    pub public: Public,
    /// Who may use the staff listener.
    pub staff: Staff,
    pub site: SiteConfig,
    pub limits: Limits,
    pub upstream: Upstream,
    /// Upstream pools, matched by the longest path prefix.
    pub pools: Vec<PoolConfig>,
    pub waf: crate::waf::WafConfig,
    /// The micro-cache for anonymous catalogue reads.
    pub cache: crate::cache::CacheConfig,
    /// With a certificate and key, the public and staff listeners speak HTTPS only.
    pub tls: Option<TlsConfig>,
    pub log: pola_core::config::LogConfig,
    /// `[apm]`: the edge's spans and log lines to OpenSearch, as for `pola` (pola-apm documents
    /// every key).
    pub apm: pola_apm::ApmConfig,
}

/// TLS for the public and staff listeners.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// A plain-HTTP listener that redirects every request to HTTPS (`127.0.0.1:8079`), if any.
    pub redirect_from: Option<SocketAddr>,
    /// `max-age` of Strict-Transport-Security, in seconds. Default one year.
    #[serde(default = "one_year")]
    pub hsts_max_age_secs: u64,
    /// Offer HTTP/2 (ALPN `h2`, then `http/1.1`): a phone loads a page and its assets over one
    /// connection. Default true.
    #[serde(default = "yes")]
    pub http2: bool,
    /// An HTTP/2 connection with no request open is closed after this long. Default 60000 ms.
    #[serde(default = "one_minute_ms")]
    pub http2_idle_timeout_ms: u64,
}

fn one_year() -> u64 {
    365 * 24 * 3600
}

fn yes() -> bool {
    true
}

fn one_minute_ms() -> u64 {
    60_000
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// Customers. Default `127.0.0.1:8080`.
    pub public: SocketAddr,
    /// Staff: the back-office and staff APIs, for VPN addresses only. Default `127.0.0.1:8081`.
    pub staff: SocketAddr,
    /// Operators: status, site switch, metrics. Keep it on loopback. Default `127.0.0.1:9180`.
    pub admin: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            public: SocketAddr::from(([127, 0, 0, 1], 8080)),
            staff: SocketAddr::from(([127, 0, 0, 1], 8081)),
            admin: SocketAddr::from(([127, 0, 0, 1], 9180)),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Staff {
    /// Client address ranges of the company VPN. Anyone else gets 403 on the staff listener.
    /// Default none: the staff listener refuses everyone.
    pub vpn_ranges: Vec<IpNet>,
}

/// The public listener forwards only the routes customers use; everything else answers 404
/// there, whatever token comes with it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Public {
    /// `METHODS /path` rules (`GET,POST /api/v1/orders`, `POST /api/v1/orders/*/cancel`,
    /// `GET /api/v1/docs/**`; see `src/routes.rs`). Default: the customer API of today
    /// (`routes::customer_routes`). A new route stays private until it is listed here.
    pub routes: Vec<RouteRule>,
}

impl Default for Public {
    fn default() -> Self {
        Self {
            routes: crate::routes::customer_routes(),
        }
    }
}

impl Public {
    pub fn allows(&self, method: &http::Method, path: &str) -> bool {
        self.routes.iter().any(|r| r.allows(method, path))
    }
}

/// Which site serves, and when the edge gives up on DC.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// Where the active site is kept across restarts. Default `var/edge/site.json`.
    pub state_file: PathBuf,
    /// Health checks of every member, this often. Default 1000 ms.
    pub check_interval_ms: u64,
    /// The path checked. Default `/readyz`: 200 while a member serves, and a JSON body whose
    /// `writable` says whether its database takes writes.
    pub check_path: String,
    /// A check that has not answered in this long fails. Default 1000 ms (at most the interval).
    pub check_timeout_ms: u64,
    /// Consecutive check rounds with the same reason to move before traffic moves (DC cannot
    /// serve; or the other site takes writes and the active one does not). Default 3.
    pub failure_threshold: u32,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            state_file: PathBuf::from("var/edge/site.json"),
            check_interval_ms: 1000,
            check_path: "/readyz".into(),
            check_timeout_ms: 1000,
            failure_threshold: 3,
        }
    }
}

impl SiteConfig {
    pub fn check_interval(&self) -> Duration {
        Duration::from_millis(self.check_interval_ms)
    }

    pub fn check_timeout(&self) -> Duration {
        Duration::from_millis(self.check_timeout_ms).min(self.check_interval())
    }
}

/// Abuse limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Requests per second from one client address. Default 200.
    pub per_ip_per_sec: u32,
    /// Requests per second with one bearer token. Default 50.
    pub per_token_per_sec: u32,
    /// Sign-in and registration attempts (POSTs) per minute from one client address. Default 20.
    pub auth_per_ip_per_min: u32,
    /// The paths `auth_per_ip_per_min` applies to: the API's and the web shop's forms.
    pub auth_paths: Vec<String>,
    /// Largest request body, in bytes; larger ones get 413. Default 1 MiB.
    pub body_bytes: u64,
    /// Time from a request's first byte to the end of its headers; a client slower than that
    /// is disconnected. Default 10000 ms.
    pub header_read_timeout_ms: u64,
    /// Longest wait for the next piece of a request body; a client that stalls longer gets 408.
    /// Default 10000 ms.
    pub body_read_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_ip_per_sec: 200,
            per_token_per_sec: 50,
            auth_per_ip_per_min: 20,
            auth_paths: vec![
                "/api/v1/identity/token".into(),
                "/api/v1/identity/register".into(),
                "/api/v1/identity/staff/token".into(),
                "/api/v1/identity/staff/sessions".into(),
                "/backoffice/sign-in".into(),
                "/api/v1/identity/password-reset".into(),
                "/api/v1/identity/password-reset/confirm".into(),
                "/account/sign-in".into(),
                "/account/sign-up".into(),
                "/account/forgot-password".into(),
                "/reset-password".into(),
            ],
            body_bytes: 1024 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstream {
    /// Default 1000 ms.
    pub connect_timeout_ms: u64,
    /// Time to wait for an upstream's response. Default 30000 ms.
    pub read_timeout_ms: u64,
    /// Tries on other members of a request whose connect failed (nothing was sent), or whose
    /// member died before answering when it is safe to send again. Default 2.
    pub connect_retries: u32,
    /// Routes whose services honour an `Idempotency-Key`: a request on them that carries one
    /// may be sent again to another member if its member died before answering (as GET, HEAD
    /// and OPTIONS always may). Default `POST /api/v1/orders`.
    pub idempotency_key_routes: Vec<RouteRule>,
}

impl Default for Upstream {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 1000,
            read_timeout_ms: 30_000,
            connect_retries: 2,
            idempotency_key_routes: vec!["POST /api/v1/orders".parse().expect("a route")],
        }
    }
}

/// One pool: the members at each site.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    /// Path prefixes routed here (`/api/v1/orders`); `/` catches the rest.
    pub prefixes: Vec<String>,
    /// `host:port` of each member at DC.
    pub dc: Vec<String>,
    /// `host:port` of each member at DR.
    #[serde(default)]
    pub dr: Vec<String>,
    /// How a member is chosen. Default `round_robin`.
    #[serde(default)]
    pub balance: Balance,
}

/// `pools[].balance`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    #[default]
    RoundRobin,
    /// The healthy member with the fewest requests in flight from this edge.
    LeastConnections,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            listen: Listen::default(),
            public: Public::default(),
            staff: Staff::default(),
            site: SiteConfig::default(),
            limits: Limits::default(),
            upstream: Upstream::default(),
            pools: vec![PoolConfig {
                name: "pola".into(),
                prefixes: vec!["/".into()],
                dc: vec!["127.0.0.1:8090".into()],
                dr: vec![],
                balance: Balance::RoundRobin,
            }],
            waf: crate::waf::WafConfig::default(),
            cache: crate::cache::CacheConfig::default(),
            apm: pola_apm::ApmConfig::default(),
            tls: None,
            log: pola_core::config::LogConfig::default(),
        }
    }
}

impl EdgeConfig {
    /// Defaults, then the file, then the environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(EdgeConfig::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "configuration file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        let config: EdgeConfig = figment.merge(Env::prefixed("POLA_EDGE_").split("__")).extract()?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.apm.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(!self.pools.is_empty(), "at least one pool is needed");
        for pool in &self.pools {
            anyhow::ensure!(!pool.dc.is_empty(), "pool {} has no DC member", pool.name);
            anyhow::ensure!(
                pool.prefixes.iter().all(|p| p.starts_with('/')),
                "pool {}: prefixes start with /",
                pool.name
            );
            for member in pool.dc.iter().chain(&pool.dr) {
                anyhow::ensure!(
                    member.parse::<SocketAddr>().is_ok(),
                    "pool {}: member {member} is not host:port",
                    pool.name
                );
            }
        }
        if let Some(tls) = &self.tls {
            anyhow::ensure!(
                tls.cert.exists() && tls.key.exists(),
                "tls.cert {} and tls.key {} must exist",
                tls.cert.display(),
                tls.key.display()
            );
        }
        anyhow::ensure!((1..=4).contains(&self.waf.paranoia_level), "waf.paranoia_level is 1 to 4");
        anyhow::ensure!(self.site.failure_threshold > 0, "site.failure_threshold must be at least 1");
        anyhow::ensure!(
            self.site.check_interval_ms >= 50,
            "site.check_interval_ms must be at least 50"
        );
        anyhow::ensure!(
            self.limits.per_ip_per_sec > 0 && self.limits.per_token_per_sec > 0 && self.limits.auth_per_ip_per_min > 0,
            "limits must be positive"
        );
        Ok(())
    }
}
