//! Pola's APM: every process ships its traces (a span per request, per database call, per relay
//! and consumer step), its log lines (already redacted) and its metrics to OpenSearch with the
//! bulk API, from a bounded buffer. Nothing here ever blocks a request or a worker: when the
//! buffer is full (OpenSearch slow or down), documents are dropped and counted
//! (`apm_documents_dropped_total`), and shipping resumes by itself when OpenSearch answers again.
//!
//! Indices are daily, `<prefix>-traces-YYYY.MM.DD`, `<prefix>-logs-…`, `<prefix>-metrics-…`;
//! [`setup`] installs their templates and the retention that deletes old ones.

pub mod chart;
mod layer;
pub mod query;
pub mod setup;
mod shipper;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use crate::layer::{ApmLayer, PROBE, TRACE_ID, TRACE_PARENT, TRACE_SAMPLED};
pub use crate::shipper::Shipped;

/// `[apm]`: where telemetry goes, and how much of it may wait.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApmConfig {
    /// OpenSearch's address (`http://10.0.3.10:9200`). None (the default): no APM, logs to
    /// standard output only.
    pub url: Option<String>,
    /// Index names start with this. Default `pola`.
    pub index_prefix: String,
    /// Documents that may wait for OpenSearch; more are dropped and counted. Default 20000.
    pub buffer: usize,
    /// Documents per bulk request. Default 1000.
    pub batch: usize,
    /// The longest a document waits before its batch goes, in milliseconds. Default 1000.
    pub flush_ms: u64,
    /// How long a bulk request may take before it counts as failed, in seconds. Default 5.
    pub timeout_secs: u64,
    /// How often the process's metrics are sent, in seconds. Default 15.
    pub metrics_interval_secs: u64,
    /// Days indices are kept. Default 30.
    pub retention_days: u32,
    /// This process's site (`dc`, `dr`), on every document. Default none.
    pub site: Option<String>,
    /// What is shipped (tracing's `EnvFilter` directives, like `log.filter`, and apart from
    /// it: standard output may stay quiet while every request is traced). Default `info`.
    pub filter: String,
    /// The share of traces, in percent, whose database statements are spans too (every request
    /// and step is a span whatever this says). Whoever starts a trace draws: a `traceparent`'s
    /// sampled flag decides for the traces it carries, and the edge passes its draw on that
    /// way. Default 10.
    pub statements_percent: f64,
}

impl Default for ApmConfig {
    fn default() -> Self {
        Self {
            url: None,
            index_prefix: "pola".into(),
            buffer: 20_000,
            batch: 1_000,
            flush_ms: 1_000,
            timeout_secs: 5,
            metrics_interval_secs: 15,
            retention_days: 30,
            site: None,
            filter: "info".into(),
            statements_percent: 10.0,
        }
    }
}

impl ApmConfig {
    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.url {
            opensearch::http::Url::parse(url).map_err(|e| format!("apm.url: {e}"))?;
        }
        if !(0.0..=100.0).contains(&self.statements_percent) {
            return Err(format!(
                "apm.statements_percent must be from 0 to 100, not {}",
                self.statements_percent
            ));
        }
        let prefix_ok = !self.index_prefix.is_empty()
            && self.index_prefix.len() <= 40
            && self
                .index_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !prefix_ok {
            return Err("apm.index_prefix must be 1-40 characters of a-z, 0-9 and -".into());
        }
        tracing_subscriber::EnvFilter::try_new(&self.filter).map_err(|e| format!("apm.filter `{}`: {e}", self.filter))?;
        if self.buffer == 0 || self.batch == 0 || self.flush_ms == 0 || self.timeout_secs == 0 {
            return Err("apm.buffer, batch, flush_ms and timeout_secs must be positive".into());
        }
        if self.retention_days == 0 {
            return Err("apm.retention_days must be at least 1".into());
        }
        Ok(())
    }
}

/// What a document is, which decides its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Traces,
    Logs,
    Metrics,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Traces, Kind::Logs, Kind::Metrics];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Traces => "traces",
            Kind::Logs => "logs",
            Kind::Metrics => "metrics",
        }
    }
}

/// Who is shipping: the process's name and site, put on every document.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `pola-serve`, `pola-worker`, `pola-edge`.
    pub service: String,
    pub site: Option<String>,
}

static SHIPPER: OnceLock<shipper::Shipper> = OnceLock::new();

/// Starts shipping this process's telemetry to `config.url` (nothing when it is None): a thread
/// of its own sends batches, so that it runs whatever the rest of the process does. `metrics`
/// renders the process's metrics in Prometheus's text format. Returns the tracing layer that
/// turns spans and log lines into documents. Only the first call in a process starts anything.
pub fn start(
    config: &ApmConfig,
    origin: Origin,
    redact: fn(&str) -> String,
    metrics: Option<Box<dyn Fn() -> String + Send>>,
) -> Option<ApmLayer> {
    let url = config.url.as_ref()?;
    let shipper = shipper::Shipper::start(config, url, metrics, origin).ok()?;
    let _ = SHIPPER.set(shipper);
    Some(ApmLayer::new(redact, config.statements_percent))
}

/// Hands a document to the shipper without waiting: dropped and counted when the buffer is full.
pub fn ship(kind: Kind, document: serde_json::Value) {
    if let Some(shipper) = SHIPPER.get() {
        shipper.offer(kind, document);
    }
}

/// A span timed elsewhere (the edge's, around a proxied request), shipped as it is.
#[derive(Debug, Clone, Serialize)]
pub struct SpanDocument {
    #[serde(rename = "@timestamp")]
    pub start: chrono::DateTime<chrono::Utc>,
    #[serde(rename = "trace.id")]
    pub trace_id: String,
    #[serde(rename = "span.id")]
    pub span_id: String,
    #[serde(rename = "parent.id", skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub name: String,
    /// `server`, `client`, `db`, `internal`.
    pub kind: &'static str,
    pub duration_ms: f64,
    /// Fields of the span (`request_id`, `http.route`, `http.status`, …).
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Ships a span timed elsewhere, with this process's origin.
pub fn ship_span(span: SpanDocument) {
    let Some(shipper) = SHIPPER.get() else { return };
    if let Ok(mut document) = serde_json::to_value(&span) {
        shipper.stamp(&mut document);
        shipper.offer(Kind::Traces, document);
    }
}

/// How shipping has gone in this process so far.
pub fn shipped() -> Option<Shipped> {
    SHIPPER.get().map(shipper::Shipper::shipped)
}

/// A new W3C trace id (32 hex digits) and span id (16).
pub fn new_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub fn new_span_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Draws whether a trace this process starts is sampled: its database statements become spans.
pub fn draw_sampled(percent: f64) -> bool {
    rand::random::<f64>() * 100.0 < percent
}

/// What a W3C `traceparent` (`00-<trace>-<parent>-<flags>`) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: String,
    /// The caller's span.
    pub parent_id: String,
    /// Whether the caller records this trace in full (flag 01).
    pub sampled: bool,
}

impl TraceParent {
    /// The header's value.
    pub fn header(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace_id, self.parent_id)
    }
}

/// Reads a `traceparent` header; None when it is not one.
pub fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let mut parts = value.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (parts.next().is_none() && hex(version, 2) && hex(trace, 32) && hex(parent, 16) && hex(flags, 2)).then(|| TraceParent {
        trace_id: trace.to_ascii_lowercase(),
        parent_id: parent.to_ascii_lowercase(),
        sampled: u8::from_str_radix(flags, 16).is_ok_and(|f| f & 1 == 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_gives_its_trace_and_parent() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = parse_traceparent(header).expect("valid");
        assert_eq!(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.parent_id, "00f067aa0ba902b7");
        assert!(parent.sampled);
        assert_eq!(parent.header(), header);
        let unsampled = parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-02").expect("valid");
        assert!(!unsampled.sampled, "only the sampled bit counts");
        assert_eq!(unsampled.header(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert_eq!(parse_traceparent("00-xyz-00f067aa0ba902b7-01"), None);
        assert_eq!(
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"),
            None
        );
        assert_eq!(new_trace_id().len(), 32);
        assert_eq!(new_span_id().len(), 16);
    }

    #[test]
    fn configuration_is_checked() {
        let mut config = ApmConfig::default();
        assert!(config.validate().is_ok());
        config.index_prefix = "Pola Logs".into();
        assert!(config.validate().is_err());
        config.index_prefix = "pola".into();
        config.statements_percent = 100.5;
        assert!(config.validate().is_err());
        config.statements_percent = 0.0;
        assert!(config.validate().is_ok());
        config.url = Some("not a url".into());
        assert!(config.validate().is_err());
    }
}
