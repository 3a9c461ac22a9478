//! The admin listener, for operators on loopback: status, the site switch, drain, metrics.

#![expect(
    clippy::disallowed_types,
    reason = "the admin API is the edge's own, outside pola-core's problem conventions"
)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use pingora::{server::ShutdownWatch, services::background::BackgroundService};
use serde::{Deserialize, Serialize};

use crate::{
    pools::{PoolStatus, Pools},
    site::{Move, Round, Site, SiteState},
    waf::Waf,
};

/// What the admin API reads and changes.
pub struct Admin {
    pub addr: SocketAddr,
    pub pools: Arc<Pools>,
    pub site: Arc<SiteState>,
    pub waf: Option<Arc<Waf>>,
    /// Set by `POST /drain`: `/readyz` answers 503, so that a load balancer in front of the
    /// edge stops sending new connections while these finish.
    pub draining: Arc<AtomicBool>,
}

/// `GET /status`
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    pub active_site: Site,
    /// Consecutive check rounds that found a reason to leave the active site.
    pub strikes: u32,
    /// What the last round of checks found at each site.
    pub sites: Option<Round>,
    /// Why and when the active site last changed, since this edge started.
    pub last_move: Option<Move>,
    pub draining: bool,
    #[serde(default)]
    pub pools: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Activate {
    site: Site,
}

type Shared = State<Arc<AdminState>>;

struct AdminState {
    pools: Arc<Pools>,
    site: Arc<SiteState>,
    waf: Option<Arc<Waf>>,
    draining: Arc<AtomicBool>,
}

fn status(state: &AdminState) -> Status {
    let pools: Vec<PoolStatus> = state.pools.status();
    Status {
        active_site: state.site.active(),
        strikes: state.site.strikes(),
        sites: state.site.last_round(),
        last_move: state.site.last_move(),
        draining: state.draining.load(Ordering::Acquire),
        pools: pools.iter().filter_map(|p| serde_json::to_value(p).ok()).collect(),
    }
}

async fn get_status(State(state): Shared) -> Json<Status> {
    Json(status(&state))
}

async fn activate(State(state): Shared, Json(request): Json<Activate>) -> impl IntoResponse {
    match state.site.activate(request.site, "operator: site activate") {
        Ok(()) => (StatusCode::OK, Json(serde_json::to_value(status(&state)).unwrap_or_default())),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({"error": format!("could not record the active site: {e}")})),
        ),
    }
}

/// Reads the WAF's rule files again, without a restart; on an error the old rules stay.
async fn reload_waf(State(state): Shared) -> impl IntoResponse {
    let Some(waf) = state.waf.clone() else {
        return (StatusCode::CONFLICT, Json(serde_json::json!({"error": "the WAF is off"})));
    };
    match tokio::task::spawn_blocking(move || waf.reload()).await {
        Ok(Ok(files)) => (StatusCode::OK, Json(serde_json::json!({"files": files}))),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "WAF reload failed; the old rules stay");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({"error": e.to_string()})),
            )
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({"error": e.to_string()})),
        ),
    }
}

async fn drain(State(state): Shared) -> StatusCode {
    state.draining.store(true, Ordering::Release);
    tracing::warn!("draining: /readyz now answers 503");
    StatusCode::NO_CONTENT
}

async fn readyz(State(state): Shared) -> StatusCode {
    match state.draining.load(Ordering::Acquire) {
        true => StatusCode::SERVICE_UNAVAILABLE,
        false => StatusCode::OK,
    }
}

async fn metrics() -> String {
    pola_core::telemetry::metrics().render()
}

/// A plain-HTTP listener that sends every request to the same place over HTTPS.
pub struct Redirect {
    pub from: SocketAddr,
    pub https_port: u16,
}

#[async_trait]
impl BackgroundService for Redirect {
    async fn start(&self, shutdown: ShutdownWatch) {
        let https_port = self.https_port;
        let redirect = move |request: axum::extract::Request| async move {
            let host = request
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.rsplit_once(':').map_or(Some(h), |(name, _)| Some(name)))
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b)))
                .unwrap_or("localhost")
                .to_owned();
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
            let port = if https_port == 443 {
                String::new()
            } else {
                format!(":{https_port}")
            };
            (
                StatusCode::MOVED_PERMANENTLY,
                [(axum::http::header::LOCATION, format!("https://{host}{port}{path}"))],
            )
        };
        serve(self.from, Router::new().fallback(redirect), shutdown, "HTTPS redirect").await;
    }
}

/// Serves `app` on `addr` until Pingora shuts down.
async fn serve(addr: SocketAddr, app: Router, mut shutdown: ShutdownWatch, what: &str) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(listener.addr = %addr, error = %e, "the {what} listener cannot bind");
            return;
        }
    };
    tracing::info!(listener.addr = %addr, "{what} listener up");
    let served = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = shutdown.changed().await;
    });
    if let Err(e) = served.await {
        tracing::error!(error = %e, "the {what} listener stopped");
    }
}

#[async_trait]
impl BackgroundService for Admin {
    async fn start(&self, shutdown: ShutdownWatch) {
        let state = Arc::new(AdminState {
            pools: self.pools.clone(),
            site: self.site.clone(),
            waf: self.waf.clone(),
            draining: self.draining.clone(),
        });
        let app = Router::new()
            .route("/status", get(get_status))
            .route("/site/activate", post(activate))
            .route("/drain", post(drain))
            .route("/waf/reload", post(reload_waf))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(state);
        serve(self.addr, app, shutdown, "admin").await;
    }
}
