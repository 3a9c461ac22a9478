//! `pola-edge`: the only way in. Pingora proxies customers (public listener) and staff (a
//! listener open only to the VPN ranges) to upstream pools, balancing across each pool's healthy
//! members at the active site and moving to DR when DC stays down; an admin listener on
//! loopback shows the state and switches sites.

pub mod admin;
pub mod cache;
pub mod config;
pub mod pools;
pub mod proxy;
pub mod routes;
pub mod site;
pub mod slow;
pub mod waf;

use std::sync::{Arc, atomic::AtomicBool};

use pingora::{
    apps::HttpServerOptions,
    listeners::tls::TlsSettings,
    server::{Server, configuration::ServerConf},
    services::background::background_service,
};

use crate::{
    admin::Admin,
    config::EdgeConfig,
    pools::{HealthChecks, Pools},
    proxy::{Edge, Listener, Shared},
    site::SiteState,
};

/// Builds the Pingora server with every listener and background service; `run_forever` serves.
pub fn server(config: EdgeConfig) -> anyhow::Result<Server> {
    let conf = ServerConf {
        threads: 2,
        // Tests and operators stop the edge with SIGTERM or SIGINT: finish in-flight requests
        // for a few seconds, not Pingora's default five minutes.
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    // The metrics recorder, before the first metric is recorded.
    pola_core::telemetry::metrics();
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let pools = Arc::new(Pools::new(&config)?);
    let site = Arc::new(SiteState::load(&config.site.state_file, config.site.failure_threshold)?);
    metrics::gauge!("edge_active_site_dr").set(f64::from(u8::from(site.active() == site::Site::Dr)));
    let waf = match config.waf.mode {
        waf::WafMode::Off => None,
        _ => Some(Arc::new(waf::Waf::new(config.waf.clone())?)),
    };
    let shared = Arc::new(Shared::new(config.clone(), pools.clone(), site.clone(), waf.clone()));

    for (listener, addr, name) in [
        (Listener::Public, config.listen.public, "public"),
        (Listener::Staff, config.listen.staff, "staff"),
    ] {
        let edge = Edge {
            shared: shared.clone(),
            listener,
        };
        // Over TLS, ALPN may choose h2, whose idle connections the server options time out.
        let (tls, server_options) = match &config.tls {
            Some(tls) => {
                let mut settings = TlsSettings::intermediate(&tls.cert.display().to_string(), &tls.key.display().to_string())?;
                let mut options = None;
                if tls.http2 {
                    settings.enable_h2();
                    let mut h2 = HttpServerOptions::default();
                    h2.h2_idle_timeout = Some(std::time::Duration::from_millis(tls.http2_idle_timeout_ms));
                    options = Some(h2);
                }
                (Some(settings), options)
            }
            None => (None, None),
        };
        let mut proxy = pingora::proxy::HttpProxy::new(edge, server.configuration.clone());
        proxy.handle_init_modules();
        proxy.server_options = server_options;
        let app = slow::SlowClients {
            inner: Arc::new(proxy),
            header_timeout: std::time::Duration::from_millis(config.limits.header_read_timeout_ms),
        };
        let mut service = pingora::services::listening::Service::new(name.to_owned(), app);
        match tls {
            Some(settings) => service.add_tls_with_settings(&addr.to_string(), None, settings),
            None => service.add_tcp(&addr.to_string()),
        }
        server.add_service(service);
    }
    if let Some(from) = config.tls.as_ref().and_then(|t| t.redirect_from) {
        server.add_service(background_service(
            "https redirect",
            admin::Redirect {
                from,
                https_port: config.listen.public.port(),
            },
        ));
    }
    server.add_service(background_service(
        "health checks",
        HealthChecks {
            pools: pools.clone(),
            site: site.clone(),
            interval: config.site.check_interval(),
        },
    ));
    server.add_service(background_service(
        "admin",
        Admin {
            addr: config.listen.admin,
            pools,
            site,
            waf,
            draining: Arc::new(AtomicBool::new(false)),
        },
    ));
    Ok(server)
}
