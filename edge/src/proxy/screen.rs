//! Screening a request before it goes anywhere: its listener (the VPN ranges, the public
//! allow-list), the rate limits, its size, its route, and the WAF.

use std::{net::IpAddr, time::Duration};

use bytes::Bytes;
use pingora::{Error, ErrorType, Result, http::RequestHeader, proxy::Session};

use super::{Ctx, Edge, Listener, OPS_PATHS};
use crate::waf::{Inspected, Verdict};

/// How long a refused request's body is read and dropped before its connection closes.
const LINGER: Duration = Duration::from_secs(2);

/// Requests with bodies up to this size are inspected on the event loop, as nginx's module
/// does (about 0.4 ms for a GET with the CRS at PL1): handing each to another thread and back
/// cost a third of the throughput on two cores. Larger bodies go to the blocking pool.
const INLINE_INSPECTION_BYTES: usize = 16 * 1024;

fn bearer(request: &RequestHeader) -> Option<&str> {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn http_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2.0",
        _ => "1.1",
    }
}

impl Edge {
    /// What the WAF sees of this request (the body comes later, if there is one).
    pub(super) fn inspected(&self, session: &Session, ctx: &Ctx) -> Inspected {
        let request = session.req_header();
        Inspected {
            client: ctx.client.unwrap_or(IpAddr::from([0, 0, 0, 0])),
            client_port: session.client_addr().and_then(|a| a.as_inet()).map_or(0, |a| a.port()),
            method: request.method.to_string(),
            uri: request
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            http_version: http_version(request.version).to_owned(),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: Bytes::new(),
        }
    }

    /// Runs the WAF on a whole request; the status to refuse it with, if
    /// it is refused. Every match is an audit line with the rule ids.
    pub(super) async fn inspect(&self, request: Inspected, ctx: &mut Ctx) -> Result<Option<u16>> {
        let Some(waf) = &self.shared.waf else {
            return Ok(None);
        };
        let engine = waf.engine();
        let (method, path) = (request.method.clone(), request.uri.split('?').next().unwrap_or("").to_owned());
        let verdict = if request.body.len() <= INLINE_INSPECTION_BYTES {
            engine.inspect(&request)
        } else {
            let _slot = self
                .shared
                .waf_slots
                .acquire()
                .await
                .map_err(|e| Error::because(ErrorType::InternalError, "the WAF is closed", e))?;
            tokio::task::spawn_blocking(move || engine.inspect(&request))
                .await
                .map_err(|e| Error::because(ErrorType::InternalError, "the WAF task failed", e))?
        }
        .map_err(|e| Error::explain(ErrorType::InternalError, format!("the WAF failed: {e}")))?;
        let (refusal, rules) = match verdict {
            Verdict::Pass => return Ok(None),
            Verdict::Matched(rules) => (None, rules),
            Verdict::Blocked { status, rules } => (Some(status), rules),
        };
        let blocked = refusal.is_some();
        let ids = rules.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        tracing::warn!(
            target: "waf",
            request_id = %ctx.request_id,
            client = ctx.client.map(|c| c.to_string()).unwrap_or_default(),
            method = %method,
            path = %path,
            rules = %ids,
            action = if blocked { "blocked" } else { "detected" },
            "WAF match"
        );
        for rule in &rules {
            metrics::counter!("edge_waf_matches_total", "rule" => rule.to_string(), "blocked" => blocked.to_string())
                .increment(1);
        }
        ctx.waf_rules = rules;
        if blocked {
            ctx.refused = Some("waf");
        }
        Ok(refusal)
    }

    /// The first limit this request goes over, with the seconds to wait.
    pub(super) fn over_limit(&self, ctx: &Ctx, request: &RequestHeader) -> Option<(&'static str, u64)> {
        let limits = &self.shared.config.limits;
        let client = ctx.client?;
        if self.shared.per_second.observe(&client, 1) > isize::try_from(limits.per_ip_per_sec).unwrap_or(isize::MAX) {
            return Some(("too many requests from this address", 1));
        }
        if let Some(token) = bearer(request)
            && self.shared.per_second.observe(&token, 1) > isize::try_from(limits.per_token_per_sec).unwrap_or(isize::MAX)
        {
            return Some(("too many requests with this token", 1));
        }
        let path = request.uri.path();
        // Only attempts count: reading the sign-in page is not one.
        if request.method == http::Method::POST
            && limits.auth_paths.iter().any(|p| p == path)
            && self.shared.per_minute.observe(&("auth", client), 1)
                > isize::try_from(limits.auth_per_ip_per_min).unwrap_or(isize::MAX)
        {
            return Some(("too many sign-in or registration attempts from this address", 60));
        }
        None
    }

    /// Answers the request itself (true) or lets it through (false).
    pub(super) async fn screen(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let config = &self.shared.config;
        let path = session.req_header().uri.path().to_owned();
        match self.listener {
            Listener::Staff => {
                let inside = ctx
                    .client
                    .is_some_and(|ip| config.staff.vpn_ranges.iter().any(|r| r.contains(&ip)));
                if !inside {
                    tracing::warn!(client = ?ctx.client, request_id = %ctx.request_id, "staff listener refused a client outside the VPN ranges");
                    ctx.refused = Some("outside-vpn");
                    self.problem(
                        session,
                        ctx,
                        403,
                        "The staff entrance is only open from the company VPN.",
                        &[],
                    )
                    .await?;
                    return Ok(true);
                }
            }
            Listener::Public => {
                if !config.public.allows(&session.req_header().method, &path) {
                    ctx.refused = Some("not-public");
                    self.problem(session, ctx, 404, "No such page.", &[]).await?;
                    return Ok(true);
                }
            }
        }
        if OPS_PATHS.contains(&path.as_str()) {
            ctx.refused = Some("ops-path");
            self.problem(session, ctx, 404, "No such page.", &[]).await?;
            return Ok(true);
        }
        if let Some((why, wait)) = self.over_limit(ctx, session.req_header()) {
            ctx.refused = Some("rate-limited");
            metrics::counter!("edge_rate_limited_total", "listener" => self.listener.as_str()).increment(1);
            self.problem(
                session,
                ctx,
                429,
                &format!("Slow down: {why}."),
                &[("retry-after", wait.to_string())],
            )
            .await?;
            return Ok(true);
        }
        let declared = session
            .req_header()
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > config.limits.body_bytes) {
            ctx.refused = Some("body-too-large");
            self.problem(
                session,
                ctx,
                413,
                "The request body is too large.",
                &[("connection", "close".to_owned())],
            )
            .await?;
            // Closing on a client still sending would reset the connection before it reads the
            // answer: take in (and drop) what it sends for a moment first, as nginx lingers.
            session.set_keepalive(None);
            let _ = tokio::time::timeout(LINGER, session.drain_request_body()).await;
            return Ok(true);
        }
        match self.shared.pools.route(&path) {
            Some((index, _)) => ctx.pool = Some(index),
            None => {
                ctx.refused = Some("no-route");
                self.problem(session, ctx, 404, "No such page.", &[]).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }
}
