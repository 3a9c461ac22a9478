//! The access log line, the request metrics and the edge's span of each request.

use pingora::{Error, proxy::Session};

use super::{Ctx, Edge};

impl Edge {
    /// One line per request (the path only: a query string can carry personal data), its
    /// metrics, and its span in the trace the edge issued.
    pub(super) fn log_request(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        self.shared.count(ctx, None);
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let request = session.req_header();
        let pool = ctx.pool.map(|i| self.shared.pools.get(i).name.clone()).unwrap_or_default();
        let elapsed = ctx.started.elapsed();
        tracing::info!(
            target: "access",
            request_id = %ctx.request_id,
            listener = self.listener.as_str(),
            client = ctx.client.map(|c| c.to_string()).unwrap_or_default(),
            method = %request.method,
            path = request.uri.path(),
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            pool = %pool,
            site = self.shared.site.active().as_str(),
            upstream = ctx.tried.last().map(String::as_str).unwrap_or(""),
            tries = ctx.tried.len(),
            refused = ctx.refused.unwrap_or(""),
            waf_rules = ctx.waf_rules.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
            error = e.map(|e| e.to_string()).unwrap_or_default(),
            "request"
        );
        let labels = [
            ("listener", self.listener.as_str().to_owned()),
            ("status", status.to_string()),
            ("pool", pool),
        ];
        metrics::counter!("edge_requests_total", &labels).increment(1);
        metrics::histogram!("edge_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
        if !ctx.trace.0.is_empty() {
            let (trace_id, span_id, parent_id) = std::mem::take(&mut ctx.trace);
            let mut fields = serde_json::Map::new();
            fields.insert("request_id".into(), ctx.request_id.clone().into());
            fields.insert("http.method".into(), request.method.as_str().into());
            fields.insert("http.path".into(), request.uri.path().into());
            fields.insert("http.status".into(), status.into());
            fields.insert("edge.listener".into(), self.listener.as_str().into());
            fields.insert("edge.pool".into(), labels[2].1.clone().into());
            fields.insert("edge.upstream".into(), ctx.tried.last().cloned().unwrap_or_default().into());
            if !ctx.waf_rules.is_empty() {
                fields.insert(
                    "waf.rules".into(),
                    ctx.waf_rules.iter().map(|r| serde_json::json!(r)).collect(),
                );
            }
            pola_apm::ship_span(pola_apm::SpanDocument {
                start: ctx.at,
                trace_id,
                span_id,
                parent_id,
                name: "edge.request".into(),
                kind: "server",
                duration_ms: elapsed.as_secs_f64() * 1000.0,
                fields,
            });
        }
    }
}
