//! The answers the edge gives itself: RFC 9457 problems, with the request id and the headers
//! every answer carries.

use bytes::Bytes;
use pingora::{Result, http::ResponseHeader, proxy::Session};
use pola_core::error::Problem;

use super::{Ctx, Edge};
use crate::config::EdgeConfig;

/// What a client refused by the WAF is told: a body that does not parse as its content type
/// says (400), or anything else the rules refuse.
fn waf_refused(status: u16) -> &'static str {
    match status {
        400 => "The request body could not be read as its content type says.",
        _ => "The shop's firewall refused this request.",
    }
}

pub(crate) fn kind_of(status: u16) -> &'static str {
    match status {
        400 => "bad-request",
        403 => "forbidden",
        408 => "request-timeout",
        404 => "not-found",
        413 => "payload-too-large",
        429 => "rate-limited",
        502 => "bad-gateway",
        503 => "unavailable",
        _ => "error",
    }
}

/// The headers every answer carries, proxied or made by the edge itself.
pub(super) fn security_headers(config: &EdgeConfig) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-content-type-options", "nosniff".to_owned()),
        ("x-frame-options", "DENY".to_owned()),
        ("referrer-policy", "no-referrer".to_owned()),
    ];
    if let Some(tls) = &config.tls {
        headers.push((
            "strict-transport-security",
            format!("max-age={}; includeSubDomains", tls.hsts_max_age_secs),
        ));
    }
    headers
}

impl Edge {
    /// An RFC 9457 problem from the edge itself, with the request id.
    pub(super) async fn problem(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        detail: &str,
        headers: &[(&str, String)],
    ) -> Result<()> {
        self.problem_of_kind(session, ctx, status, kind_of(status), detail, headers)
            .await
    }

    /// A refusal by the WAF: `firewall`, or `bad-request` for a body that does not parse.
    pub(super) async fn waf_problem(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        headers: &[(&str, String)],
    ) -> Result<()> {
        let kind = if status == 403 { "firewall" } else { kind_of(status) };
        self.problem_of_kind(session, ctx, status, kind, waf_refused(status), headers)
            .await
    }

    pub(super) async fn problem_of_kind(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        kind: &str,
        detail: &str,
        headers: &[(&str, String)],
    ) -> Result<()> {
        let status_code = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let problem = Problem::new(status_code, kind, Some(detail.to_owned()), Some(ctx.request_id.clone()));
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = ResponseHeader::build(status, Some(10))?;
        response.insert_header("content-type", "application/problem+json")?;
        response.insert_header("content-length", body.len().to_string())?;
        response.insert_header("x-request-id", ctx.request_id.as_str())?;
        response.insert_header("cache-control", "no-store")?;
        for (name, value) in self.shared.security_headers.iter().chain(headers) {
            response.insert_header(name.to_string(), value.as_str())?;
        }
        session.write_response_header(Box::new(response), false).await?;
        session.write_response_body(Some(Bytes::from(body)), true).await
    }
}
