//! The proxy: what happens to each request on the public and the staff listener. The hooks are
//! here; what they screen (listeners, limits, the WAF), how they answer themselves (problems),
//! how they pick a member (balance) and what they log (access) live beside.

mod access;
mod balance;
mod problems;
mod screen;

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::{
    Error, ErrorType, Result,
    cache::{CacheKey, RespCacheable},
    http::{RequestHeader, ResponseHeader},
    modules::http::HttpModules,
    prelude::HttpPeer,
    proxy::{FailToProxy, ProxyHttp, Session},
    upstreams::peer::Peer,
};
use pingora_limits::rate::Rate;

use crate::{
    cache::MicroCache,
    config::{Balance, EdgeConfig},
    pools::Pools,
    site::SiteState,
    waf::{Inspected, Waf},
};

pub(crate) use problems::kind_of;
use problems::security_headers;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Staff,
}

impl Listener {
    fn as_str(self) -> &'static str {
        match self {
            Listener::Public => "public",
            Listener::Staff => "staff",
        }
    }
}

/// What every listener shares.
pub struct Shared {
    pub config: EdgeConfig,
    pub pools: Arc<Pools>,
    pub site: Arc<SiteState>,
    pub waf: Option<Arc<Waf>>,
    cache: Option<MicroCache>,
    /// Inspections of large bodies running at once on the blocking pool: one per core. More
    /// would only queue on the CPU, and a burst of hundreds of inspecting threads starves the
    /// event loops that carry the traffic.
    waf_slots: tokio::sync::Semaphore,
    per_second: Rate,
    per_minute: Rate,
    /// Requests in flight to each member (`host:port`), for least-connections balancing.
    in_flight: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    security_headers: Vec<(&'static str, String)>,
}

impl Shared {
    pub fn new(config: EdgeConfig, pools: Arc<Pools>, site: Arc<SiteState>, waf: Option<Arc<Waf>>) -> Self {
        Self {
            cache: config.cache.enabled.then(|| MicroCache::new(config.cache.clone())),
            pools,
            site,
            waf,
            waf_slots: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)),
            per_second: Rate::new(Duration::from_secs(1)),
            per_minute: Rate::new(Duration::from_secs(60)),
            in_flight: std::sync::Mutex::default(),
            security_headers: security_headers(&config),
            config,
        }
    }
}

/// The edge on one listener.
pub struct Edge {
    pub shared: Arc<Shared>,
    pub listener: Listener,
}

/// One request's state.
pub struct Ctx {
    request_id: String,
    started: Instant,
    client: Option<IpAddr>,
    pool: Option<usize>,
    /// Members already tried (a failed connect moves on to another).
    tried: Vec<String>,
    body_bytes: u64,
    /// Why the edge answered itself, for the access log.
    refused: Option<&'static str>,
    /// A request with a body waits here, whole, for the WAF's verdict before any of it goes on.
    held: Option<(Inspected, bytes::BytesMut)>,
    /// Rules the WAF matched.
    waf_rules: Vec<u32>,
    /// The member this request counts as in flight to.
    counted: Option<String>,
    /// This request's place in its trace: the trace id, the edge's own span id (the parent the
    /// service sees in `traceparent`) and the caller's span, if it sent one.
    trace: (String, String, Option<String>),
    /// When the request came, for the edge's span.
    at: chrono::DateTime<chrono::Utc>,
}
/// The services' probes and metrics: for the health checks and for Prometheus on the
/// application network, never forwarded from a listener (the admin listener has the edge's own).
const OPS_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

#[async_trait]
impl ProxyHttp for Edge {
    type CTX = Ctx;

    /// No downstream modules: Pingora's default is a response-compression module switched off,
    /// which is still set up for every request.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    fn new_ctx(&self) -> Ctx {
        Ctx {
            request_id: String::new(),
            started: Instant::now(),
            client: None,
            pool: None,
            tried: vec![],
            body_bytes: 0,
            refused: None,
            held: None,
            waf_rules: vec![],
            counted: None,
            trace: (String::new(), String::new(), None),
            at: chrono::Utc::now(),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.client = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        // HTTP/2 names the host in `:authority` only; the WAF, the micro-cache's key and the
        // services read Host, as nginx gives it to ModSecurity.
        let request = session.req_header();
        if request.version == http::Version::HTTP_2
            && !request.headers.contains_key(http::header::HOST)
            && let Some(authority) = request.uri.authority().map(|a| a.as_str().to_owned())
        {
            session.req_header_mut().insert_header(http::header::HOST, authority)?;
        }
        // The WAF judges what the client sent, not the ids the edge adds (which would only
        // give every rule more to read).
        let inspected = self.shared.waf.is_some().then(|| self.inspected(session, ctx));
        let request = session.req_header_mut();
        ctx.request_id = match request.headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            Some(id) if pola_core::http::acceptable_request_id(id) => id.to_owned(),
            _ => uuid::Uuid::now_v7().to_string(),
        };
        request.insert_header("x-request-id", ctx.request_id.as_str())?;
        // The caller's trace goes on (a new one starts otherwise), with the edge's span as the
        // parent of the service's.
        let caller = request
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(pola_apm::parse_traceparent);
        // The edge starts most traces, so it draws which are sampled (their statements traced).
        let (trace_id, caller_span, sampled) = match caller {
            Some(caller) => (caller.trace_id, Some(caller.parent_id), caller.sampled),
            None => (
                pola_apm::new_trace_id(),
                None,
                pola_apm::draw_sampled(self.shared.config.apm.statements_percent),
            ),
        };
        ctx.trace = (trace_id, pola_apm::new_span_id(), caller_span);
        let ours = pola_apm::TraceParent {
            trace_id: ctx.trace.0.clone(),
            parent_id: ctx.trace.1.clone(),
            sampled,
        };
        request.insert_header("traceparent", ours.header())?;
        if self.screen(session, ctx).await? {
            return Ok(true);
        }
        // A client that stalls in the middle of its body is cut off.
        session.set_read_timeout(Some(Duration::from_millis(self.shared.config.limits.body_read_timeout_ms)));
        let Some(request) = inspected else {
            return Ok(false);
        };
        let has_body = session.req_header().headers.contains_key("transfer-encoding")
            || session
                .req_header()
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() != "0");
        if has_body {
            // The request line and headers are judged now, before anything goes upstream; the
            // body is held and the whole request judged again once all of it has arrived.
            let mut head = request.clone();
            // Judged as the same request with an empty body (so it must not look like one to
            // parse): the query and headers go through every phase.
            head.headers.retain(|(name, _)| {
                !["content-length", "transfer-encoding", "content-type"]
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h))
            });
            head.headers.push(("Content-Length".into(), "0".into()));
            if let Some(status) = self.inspect(head, ctx).await? {
                self.waf_problem(session, ctx, status, &[]).await?;
                return Ok(true);
            }
            ctx.held = Some((request, bytes::BytesMut::new()));
            return Ok(false);
        }
        match self.inspect(request, ctx).await? {
            Some(status) => {
                self.waf_problem(session, ctx, status, &[]).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.body_bytes += body.as_ref().map_or(0, |b| b.len() as u64);
        if ctx.body_bytes > self.shared.config.limits.body_bytes {
            ctx.refused = Some("body-too-large");
            return Err(Error::explain(ErrorType::HTTPStatus(413), "request body over the limit"));
        }
        let Some((_, held)) = &mut ctx.held else {
            return Ok(());
        };
        // Nothing of the body goes on until all of it has been inspected. (An empty chunk is
        // sent as nothing; `None` would tell the upstream the body had ended.)
        if let Some(chunk) = body.replace(Bytes::new()) {
            held.extend_from_slice(&chunk);
        }
        if !end {
            return Ok(());
        }
        let (mut request, held) = ctx.held.take().expect("held above");
        let whole = held.freeze();
        request.body = whole.clone();
        if let Some(status) = self.inspect(request, ctx).await? {
            return Err(Error::explain(ErrorType::HTTPStatus(status), "refused by the WAF"));
        }
        *body = Some(whole);
        Ok(())
    }

    /// Anonymous catalogue GETs on the public listener may be answered from the micro-cache
    /// (after the limits and the WAF have passed them).
    fn request_cache_filter(&self, session: &mut Session, _ctx: &mut Ctx) -> Result<()> {
        let Some(cache) = &self.shared.cache else {
            return Ok(());
        };
        if self.listener == Listener::Public && cache.applies(session.req_header()) {
            session
                .cache
                .enable(cache.storage, Some(cache.eviction), None, Some(cache.lock), None);
            session.cache.set_max_file_size_bytes(cache.max_object_bytes());
        }
        Ok(())
    }

    fn cache_key_callback(&self, session: &Session, _ctx: &mut Ctx) -> Result<CacheKey> {
        Ok(MicroCache::key(session.req_header()))
    }

    fn response_cache_filter(&self, _session: &Session, response: &ResponseHeader, _ctx: &mut Ctx) -> Result<RespCacheable> {
        Ok(match &self.shared.cache {
            Some(cache) => cache.cacheable(response),
            None => RespCacheable::Uncacheable(pingora::cache::NoCacheReason::NeverEnabled),
        })
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let pool = self.shared.pools.get(ctx.pool.expect("routed before choosing a peer"));
        let balancer = pool.at(self.shared.site.active());
        let untried = |b: &pingora::lb::Backend| !ctx.tried.contains(&b.addr.to_string());
        let least = match pool.balance {
            Balance::LeastConnections => self.shared.least_loaded(balancer, &ctx.tried),
            Balance::RoundRobin => None,
        };
        let backend = least
            .or_else(|| balancer.select_with(b"", 256, |b, healthy| healthy && untried(b)))
            // Nothing healthy left untried: a member the checks have not caught up with yet
            // (or whose check timed out in a burst), or else one tried already — a connect that
            // timed out sent nothing, and the retries are counted.
            .or_else(|| balancer.select_with(b"", 256, |b, _| untried(b)))
            .or_else(|| balancer.select_with(b"", 256, |_, _| true))
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(503), "no member of the pool can take the request"))?;
        ctx.tried.push(backend.addr.to_string());
        self.shared.count(ctx, Some(backend.addr.to_string()));
        let upstream = &self.shared.config.upstream;
        let mut peer = HttpPeer::new(backend, false, String::new());
        peer.options.connection_timeout = Some(Duration::from_millis(upstream.connect_timeout_ms));
        peer.options.read_timeout = Some(Duration::from_millis(upstream.read_timeout_ms));
        Ok(Box::new(peer))
    }

    /// A failed connect sent nothing upstream, so the request goes to another member, for any
    /// method, up to `upstream.connect_retries` times.
    fn fail_to_connect(&self, _session: &mut Session, peer: &HttpPeer, ctx: &mut Ctx, mut e: Box<Error>) -> Box<Error> {
        let retries = usize::try_from(self.shared.config.upstream.connect_retries).unwrap_or(0);
        tracing::warn!(upstream = %peer.address(), request_id = %ctx.request_id, error = %e, "upstream connect failed");
        if ctx.tried.len() <= retries {
            e.set_retry(true);
        }
        e
    }

    /// A member that died with the request in flight, before any of its answer came back, is
    /// left for another when sending the request again is safe: GET, HEAD and OPTIONS, or a
    /// request carrying an `Idempotency-Key` on a route whose service honours it (and whose
    /// body the edge still has whole). Anything else fails: a second try could do it twice.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let died = matches!(
            e.etype(),
            ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
        );
        let request = session.req_header();
        let upstream = &self.shared.config.upstream;
        let repeatable = matches!(request.method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS)
            || (request.headers.contains_key("idempotency-key")
                && upstream
                    .idempotency_key_routes
                    .iter()
                    .any(|r| r.allows(&request.method, request.uri.path())));
        let unanswered = session.response_written().is_none() && !session.as_ref().retry_buffer_truncated();
        let tries_left = ctx.tried.len() <= usize::try_from(upstream.connect_retries).unwrap_or(0);
        if died && repeatable && unanswered && tries_left {
            tracing::warn!(upstream = %peer.address(), request_id = %ctx.request_id, error = %e, "a member failed before answering; trying another");
            metrics::counter!("edge_upstream_retries_total", "after" => "member-failed").increment(1);
            e.set_retry(true);
        } else if request.method.is_idempotent() && !session.as_ref().retry_buffer_truncated() {
            // Pingora's own rule: a pooled connection that turned out closed may be retried.
            e.retry.decide_reuse(client_reused);
        } else {
            e.set_retry(false);
        }
        e
    }

    async fn upstream_request_filter(&self, _session: &mut Session, upstream: &mut RequestHeader, ctx: &mut Ctx) -> Result<()> {
        if let Some(client) = ctx.client {
            upstream.insert_header("x-forwarded-for", client.to_string())?;
        }
        upstream.insert_header(
            "x-forwarded-proto",
            if self.shared.config.tls.is_some() { "https" } else { "http" },
        )?;
        upstream.insert_header("x-pola-listener", self.listener.as_str())?;
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Whatever it said, the member answered: its health checks may time out while it is
        // this busy without it counting as lost.
        if let Some(member) = ctx.tried.last() {
            self.shared.pools.answered(member);
        }
        Ok(())
    }

    async fn response_filter(&self, session: &mut Session, response: &mut ResponseHeader, ctx: &mut Ctx) -> Result<()> {
        response.insert_header("x-request-id", ctx.request_id.as_str())?;
        if session.cache.enabled() {
            let phase = session.cache.phase().as_str();
            metrics::counter!("edge_cache_lookups_total", "result" => phase).increment(1);
            response.insert_header("x-cache", phase)?;
        }
        for (name, value) in &self.shared.security_headers {
            response.insert_header(*name, value.as_str())?;
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let (status, detail) = match e.etype() {
            ErrorType::HTTPStatus(413) => (413, "The request body is too large."),
            // Nothing was sent: no member could be reached. Clients know to come back after a
            // 503 with Retry-After; a 502 would say the shop answered badly.
            ErrorType::ConnectTimedout | ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError
                if !matches!(e.esource(), pingora::ErrorSource::Downstream) =>
            {
                (503, "The shop cannot be reached right now; try again in a moment.")
            }
            ErrorType::HTTPStatus(503) => (503, "The shop cannot take this request right now; try again in a moment."),
            ErrorType::HTTPStatus(code) => (*code, "The request could not be served."),
            ErrorType::ReadTimedout if matches!(e.esource(), pingora::ErrorSource::Downstream) => {
                (408, "The request body stopped arriving.")
            }
            _ if matches!(e.esource(), pingora::ErrorSource::Downstream) => (400, "The request could not be read."),
            _ => (502, "The shop did not answer; try again in a moment."),
        };
        // The connection is not reused after a failure: say so, or a client would send its next
        // request down a connection that is about to close.
        session.set_keepalive(None);
        let mut headers = vec![("connection", "close".to_owned())];
        match status {
            503 => headers.push(("retry-after", "1".to_owned())),
            502.. => headers.push(("retry-after", "5".to_owned())),
            _ => {}
        }
        let written = match ctx.refused {
            Some("waf") => self.waf_problem(session, ctx, status, &headers).await,
            _ => self.problem(session, ctx, status, detail, &headers).await,
        };
        if let Err(write) = written {
            tracing::debug!(error = %write, "could not send the error response");
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        self.log_request(session, e, ctx);
    }
}
