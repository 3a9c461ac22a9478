//! APM over HTTP for the SREs (the back-office's System pages call it): requests, errors and
//! latency per route, a route over time, the slowest traces, one trace's spans as a waterfall,
//! a request's log lines, and what is firing. Admins only: traces and logs are the whole system.

use std::sync::Arc;

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use pola_apm::{
    ApmConfig,
    chart::{self, Bar},
    query::{Apm, Point, RouteStats},
};
use pola_core::{
    auth::{Role, Staff},
    error::Error as ApiError,
    extract::{Json, Path, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::alerts::Firing;

/// APM's reader, when this site ships to OpenSearch.
pub struct Ops {
    apm: Option<Apm>,
}

type AppState = State<Arc<Ops>>;

impl Ops {
    pub fn new(config: &ApmConfig) -> Result<Self, pola_apm::setup::Error> {
        Ok(Self {
            apm: config.url.is_some().then(|| Apm::new(config)).transpose()?,
        })
    }

    /// The reader, once the caller is known to be an admin.
    fn apm(&self, staff: &Staff) -> Result<&Apm, ApiError> {
        staff.require(Role::Admin)?;
        self.apm
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("APM is not set up on this site: `[apm] url` is empty".into()))
    }
}

pub fn router(ops: Arc<Ops>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(series))
        .routes(routes!(trace))
        .routes(routes!(logs))
        .with_state(ops)
}

fn unreadable(e: pola_apm::setup::Error) -> ApiError {
    tracing::warn!(error = %e, "APM could not be read");
    ApiError::Unavailable(format!("OpenSearch did not answer: {e}"))
}

/// How far back a page looks.
#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Window {
    /// Hours back from now, 1–168. Default 1.
    pub hours: Option<i64>,
    /// The route (`/api/v1/products/{slug}`) for a series.
    pub route: Option<String>,
}

impl Window {
    fn hours(&self) -> Result<i64, ApiError> {
        match self.hours.unwrap_or(1) {
            hours @ 1..=168 => Ok(hours),
            other => Err(ApiError::BadRequest(format!("hours {other}: look back 1 to 168 hours"))),
        }
    }

    fn since(&self) -> Result<DateTime<Utc>, ApiError> {
        Ok(Utc::now() - Duration::hours(self.hours()?))
    }

    /// About a hundred points whatever the window.
    fn step(&self) -> Result<&'static str, ApiError> {
        Ok(match self.hours()? {
            1 => "1m",
            2..=6 => "5m",
            7..=24 => "15m",
            _ => "2h",
        })
    }
}

/// A slow request's root span, for the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceSummary {
    pub trace_id: String,
    pub at: Option<String>,
    pub service: Option<String>,
    pub what: Option<String>,
    pub status: Option<u64>,
    pub duration_ms: Option<f64>,
    pub request_id: Option<String>,
}

impl TraceSummary {
    fn of(span: &Value) -> Option<Self> {
        let text = |key: &str| span[key].as_str().map(str::to_owned);
        let what = match (text("http.method"), text("http.route").or_else(|| text("http.path"))) {
            (Some(method), Some(path)) => Some(format!("{method} {path}")),
            (_, path) => path.or_else(|| text("name")),
        };
        Some(Self {
            trace_id: text("trace.id")?,
            at: text("@timestamp"),
            service: text("service"),
            what,
            status: span["http.status"].as_u64(),
            duration_ms: span["duration_ms"].as_f64(),
            request_id: text("request_id"),
        })
    }
}

/// The system at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub since: DateTime<Utc>,
    #[schema(value_type = Vec<Object>)]
    pub routes: Vec<RouteStats>,
    #[schema(value_type = Vec<Object>)]
    pub firing: Vec<Firing>,
    pub slowest: Vec<TraceSummary>,
}

/// Requests, errors and latency per service and route, what is firing, and the slowest traces.
#[utoipa::path(get, path = "/api/v1/ops/overview", tags = ["staff"],
    security(("staff" = [])), params(Window),
    responses((status = 200, description = "The system at a glance", body = Overview),
              (status = 503, description = "APM is not set up, or OpenSearch did not answer")))]
pub async fn overview(State(ops): AppState, staff: Staff, Query(window): Query<Window>) -> Result<Json<Overview>, ApiError> {
    let apm = ops.apm(&staff)?;
    let since = window.since()?;
    let (routes, firing, slowest) =
        tokio::try_join!(apm.routes(since), apm.firing_alerts(), apm.slowest(since, 20)).map_err(unreadable)?;
    let mut routes = routes;
    routes.sort_by(|a, b| (&a.service, &a.route).cmp(&(&b.service, &b.route)));
    Ok(Json(Overview {
        since,
        routes,
        firing,
        slowest: slowest.iter().filter_map(TraceSummary::of).collect(),
    }))
}

/// A route over time.
#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    pub route: String,
    pub step: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<Point>,
    /// p50 and p99 latency and the error rate, as an SVG document (null without requests).
    pub chart_svg: Option<String>,
}

/// One route's latency percentiles and error rate over the window.
#[utoipa::path(get, path = "/api/v1/ops/series", tags = ["staff"],
    security(("staff" = [])), params(Window),
    responses((status = 200, description = "The route over time", body = Series),
              (status = 503, description = "APM is not set up, or OpenSearch did not answer")))]
pub async fn series(State(ops): AppState, staff: Staff, Query(window): Query<Window>) -> Result<Json<Series>, ApiError> {
    let apm = ops.apm(&staff)?;
    let route = window
        .route
        .clone()
        .filter(|r| r.starts_with('/') && r.len() <= 300)
        .ok_or_else(|| ApiError::BadRequest("name the route, as in route=/api/v1/products/{slug}".into()))?;
    let step = window.step()?;
    let since = window.since()?;
    let points = apm.route_series(&route, since, step).await.map_err(unreadable)?;
    let chart_svg = chart::series_svg(&points, since, Utc::now());
    Ok(Json(Series {
        route,
        step,
        points,
        chart_svg,
    }))
}

/// One trace.
#[derive(Debug, Serialize, ToSchema)]
pub struct Trace {
    pub trace_id: String,
    /// The request ids its spans carry (one, unless a process issued its own).
    pub request_ids: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub spans: Vec<Bar>,
    /// The waterfall as an SVG document.
    pub waterfall_svg: Option<String>,
}

/// A trace's spans in tree order with its waterfall.
#[utoipa::path(get, path = "/api/v1/ops/traces/{trace_id}", tags = ["staff"],
    security(("staff" = [])),
    params(("trace_id" = String, Path, description = "32 hex digits")),
    responses((status = 200, description = "The trace", body = Trace),
              (status = 404, description = "No such trace (or it was pruned)")))]
pub async fn trace(State(ops): AppState, staff: Staff, Path(trace_id): Path<String>) -> Result<Json<Trace>, ApiError> {
    let apm = ops.apm(&staff)?;
    if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::BadRequest("a trace id is 32 hex digits".into()));
    }
    let documents = apm.trace(&trace_id.to_ascii_lowercase()).await.map_err(unreadable)?;
    if documents.is_empty() {
        return Err(ApiError::NotFound(format!("no spans of trace {trace_id}")));
    }
    let mut request_ids: Vec<String> = documents
        .iter()
        .filter_map(|s| s["request_id"].as_str().map(str::to_owned))
        .collect();
    request_ids.sort();
    request_ids.dedup();
    let bars = chart::waterfall(&documents);
    let waterfall_svg = chart::waterfall_svg(&bars);
    Ok(Json(Trace {
        trace_id,
        request_ids,
        spans: bars,
        waterfall_svg,
    }))
}

/// Whose log lines.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The request id (`x-request-id`) a customer or a log line gave.
    pub request_id: String,
}

/// A request's log lines from every process it passed through, oldest first (redacted as
/// they were written).
#[utoipa::path(get, path = "/api/v1/ops/logs", tags = ["staff"],
    security(("staff" = [])), params(LogQuery),
    responses((status = 200, description = "The log lines", body = Vec<Object>),
              (status = 503, description = "APM is not set up, or OpenSearch did not answer")))]
pub async fn logs(State(ops): AppState, staff: Staff, Query(query): Query<LogQuery>) -> Result<Json<Vec<Value>>, ApiError> {
    let apm = ops.apm(&staff)?;
    let id = query.request_id.trim();
    if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest("a request id is 1 to 200 visible characters".into()));
    }
    Ok(Json(apm.logs(id).await.map_err(unreadable)?))
}
