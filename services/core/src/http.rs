//! What every HTTP service shares: request ids, access logs, metrics, health and readiness.

use std::time::{Duration, Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;

use crate::{
    Error,
    auth::TokenKeys,
    client::ServiceToken,
    config::HttpConfig,
    extract::Json,
    site::{ANSWER_WITHIN, Writable},
};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A guest's cart token travels in this header, both ways.
pub const CART_TOKEN: &str = "x-cart-token";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Work a server's requests started with `run_to_completion` and that has not finished yet:
/// a server that stops waits for it ([`InFlight::finish`]), so a checkout whose client went away
/// is not cut between its sale and its order. Also whether the server is draining: leaving its
/// load balancers before it stops ([`InFlight::drain`]).
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    unfinished: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Counts one unit of unfinished work while it lives.
struct Unfinished(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl InFlight {
    fn start(&self) -> Unfinished {
        self.unfinished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Unfinished(self.unfinished.clone())
    }

    /// From now on `/readyz` answers 503 (draining) while requests are still served: an edge's
    /// next check takes this server out of its pool; then it can stop accepting with nothing
    /// on its way to it.
    pub async fn drain(&self, period: Duration) {
        self.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(period).await;
    }

    fn draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits (up to `limit`) for the work to finish; how much was left.
    pub async fn finish(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = self.unfinished.load(std::sync::atomic::Ordering::SeqCst);
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

tokio::task_local! {
    /// The server whose request is being handled.
    static IN_FLIGHT: InFlight;
}

async fn track_in_flight(State(in_flight): State<InFlight>, request: Request, next: Next) -> Response {
    IN_FLIGHT.scope(in_flight, next.run(request)).await
}

/// Runs `work` on its own task to the end, even if the request that started it is dropped (the
/// client hung up, or the request timed out), keeping the request's id and log span; counted
/// in its server's [`InFlight`].
pub async fn run_to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    let scoped = REQUEST_ID.scope(current_request_id().unwrap_or_default(), work);
    let unfinished = IN_FLIGHT.try_with(InFlight::start).ok();
    tokio::spawn(
        async move {
            let _unfinished = unfinished;
            scoped.await
        }
        .in_current_span(),
    )
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

/// Whether a client's `x-request-id` is kept (by the edge and by every service alike, so that a
/// client sees one id end to end): 1 to 64 letters, digits, `-`, `_` and `.`. Any other is
/// replaced by a new UUIDv7.
pub fn acceptable_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Gives every request an id (the client's `x-request-id` if sane, else a new UUIDv7), a span
/// carrying it, one access-log line and request metrics.
async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable_request_id(id))
        .map_or_else(|| crate::new_id().to_string(), str::to_owned);
    let method = request.method().clone();
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    // The trace the edge (or the caller) started: this request's span is a child of theirs.
    let caller = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(pola_apm::parse_traceparent);
    let span = tracing::info_span!(
        "http.request",
        request_id = %request_id,
        http.method = %method,
        http.route = tracing::field::Empty,
        http.status = tracing::field::Empty,
        probe = tracing::field::Empty,
        trace.id = caller.as_ref().map(|c| c.trace_id.as_str()),
        trace.parent = caller.as_ref().map(|c| c.parent_id.as_str()),
        trace.sampled = caller.as_ref().map(|c| c.sampled),
    );
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    let route = slot.0.get().cloned().unwrap_or_else(|| "unmatched".to_owned());
    span.record("http.route", route.as_str());
    let status = response.status().as_u16();
    span.record("http.status", status);
    // Health checks come every second from every edge: they are not worth a line each.
    if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") && status == 200 {
        // Not worth a trace each either (see pola_apm::PROBE).
        span.record("probe", true);
        tracing::debug!(parent: &span, http.status = status, "probe answered");
    } else {
        tracing::info!(
            parent: &span,
            http.status = status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    }
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}

/// The matched route of a request, filled in after routing (`record_route`) and read by `observe`,
/// which runs before routing and so cannot see it directly.
#[derive(Clone, Default)]
struct RouteSlot(std::sync::Arc<std::sync::OnceLock<String>>);

async fn record_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        request.extensions().get::<RouteSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        // Set once per request; a second set cannot happen and would be harmless.
        let _ = slot.0.set(path.as_str().to_owned());
    }
    next.run(request).await
}

async fn fallback() -> Error {
    Error::NotFound("No such endpoint.".into())
}

async fn method_not_allowed(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        return Error::Status {
            status: StatusCode::METHOD_NOT_ALLOWED,
            detail: "This endpoint does not take that method.".into(),
        }
        .into_response();
    }
    response
}

/// Wraps the merged service routes with the shared layers and adds `/healthz`, `/readyz` and
/// `/metrics` (`/readyz` from the database watch behind `writable`).
pub fn finish(
    router: Router,
    config: &HttpConfig,
    keys: TokenKeys,
    service_token: ServiceToken,
    writable: Writable,
    in_flight: InFlight,
) -> Router {
    // Install the recorder now: what is recorded before it exists is lost.
    let metrics = crate::telemetry::metrics();
    router
        .route("/healthz", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .route("/readyz", {
            let (writable, in_flight) = (writable.clone(), in_flight.clone());
            get(move || ready(writable.clone(), in_flight.clone()))
        })
        .route("/metrics", get(move || async move { metrics.render() }))
        .route_layer(middleware::from_fn(record_route))
        .fallback(fallback)
        .layer(middleware::from_fn(method_not_allowed))
        .layer(middleware::from_fn(no_store_unless_public))
        .layer(middleware::from_fn_with_state(writable, refuse_changes_while_read_only))
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(axum::Extension(keys))
        .layer(axum::Extension(service_token))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(middleware::from_fn_with_state(in_flight, track_in_flight))
        .layer(middleware::from_fn(observe))
}

/// Answers that may carry tokens or personal data are never kept by a browser or a proxy
/// (RFC 6749 §5.1): every answer to a request that is signed in, carries a cart token or may
/// change something, unless its handler chose its own `Cache-Control`. Anonymous reads (the
/// catalogue) stay cacheable by the edge's micro-cache.
async fn no_store_unless_public(request: Request, next: Next) -> Response {
    let personal = !request.method().is_safe()
        || request.headers().contains_key(http::header::AUTHORIZATION)
        || request.headers().contains_key(CART_TOKEN);
    let mut response = next.run(request).await;
    if personal && !response.headers().contains_key(http::header::CACHE_CONTROL) {
        let headers = response.headers_mut();
        headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// While this site's database takes no writes (a replica, or unreachable), a request that may
/// change something is answered 503 with Retry-After before any of it runs: nothing is half
/// written, and the client retries (with its idempotency key) once a primary serves again.
async fn refuse_changes_while_read_only(State(writable): State<Writable>, request: Request, next: Next) -> Response {
    if request.method().is_safe() || writable.get() {
        return next.run(request).await;
    }
    Error::NotWritable.into_response()
}

/// 200 while every database answers (this process serves reads, at least), with whether its
/// site's database takes writes: the edge sends traffic where writes can happen. 503 while the
/// server drains before it stops.
async fn ready(writable: Writable, in_flight: InFlight) -> Result<Json<serde_json::Value>, Error> {
    if in_flight.draining() {
        return Err(Error::Unavailable("This server is stopping: draining.".into()));
    }
    if !writable.answering(ANSWER_WITHIN) {
        tracing::warn!("readiness check failed: the database has not answered for {ANSWER_WITHIN:?}");
        return Err(Error::Unavailable("The database is not answering.".into()));
    }
    Ok(Json(serde_json::json!({"status": "ready", "writable": writable.get()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_kept_only_when_short_and_plain() {
        assert!(acceptable_request_id("0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d"));
        assert!(acceptable_request_id("checkout_42.retry"));
        for refused in ["", "has space", "semi;colon", "<script>", "ಠ_ಠ"] {
            assert!(!acceptable_request_id(refused), "{refused}");
        }
        assert!(acceptable_request_id(&"x".repeat(64)) && !acceptable_request_id(&"x".repeat(65)));
    }
}
