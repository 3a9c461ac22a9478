//! Logs (tracing, JSON by default) and Prometheus metrics.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use pola_apm::ApmConfig;

use crate::config::{LogConfig, LogFormat};

/// Where log lines go: standard output for servers and workers, standard error for commands
/// whose standard output is their answer (`pola report --format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    Stdout,
    Stderr,
}

/// Log lines through [`crate::redact::redact`]: the formatter hands each event over in one
/// write, so each line is redacted whole.
#[derive(Clone, Copy)]
pub struct Redacted(LogOutput);

impl std::io::Write for Redacted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let line = crate::redact::redact(&text);
        match self.0 {
            LogOutput::Stdout => std::io::stdout().lock().write_all(line.as_bytes())?,
            LogOutput::Stderr => std::io::stderr().lock().write_all(line.as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0 {
            LogOutput::Stdout => std::io::stdout().flush(),
            LogOutput::Stderr => std::io::stderr().flush(),
        }
    }
}

impl<'a> fmt::MakeWriter<'a> for Redacted {
    type Writer = Redacted;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Installs the global log subscriber on standard output, writing through the redaction of
/// personal data. `RUST_LOG` overrides the configured filter.
pub fn init_logging(config: &LogConfig) {
    init_telemetry(config, &ApmConfig::default(), "pola", LogOutput::Stdout);
}

/// The global subscriber: log lines on `output` (filtered by `RUST_LOG` or the configured
/// filter), and, when `apm.url` is set, traces, logs and metrics shipped to OpenSearch as
/// `service` (with sqlx's statements as database spans, whatever the log filter says).
pub fn init_telemetry(config: &LogConfig, apm: &ApmConfig, service: &str, output: LogOutput) {
    // The recorder first: counters touched before it exists are lost.
    metrics();
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let writer = Redacted(output);
    let logs = match config.format {
        LogFormat::Json => fmt::layer()
            .with_writer(writer)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter())
            .boxed(),
        LogFormat::Pretty => fmt::layer().with_writer(writer).with_filter(filter()).boxed(),
    };
    let origin = pola_apm::Origin {
        service: service.to_owned(),
        site: apm.site.clone(),
    };
    let render: Box<dyn Fn() -> String + Send> = Box::new(|| metrics().render());
    // sqlx reports statements at trace level (db::server_options): each one is a database span.
    let shipped = pola_apm::start(apm, origin, |text| crate::redact::redact(text).into_owned(), Some(render)).map(|layer| {
        let directives = format!("{},sqlx::query=trace", apm.filter);
        layer.with_filter(EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info,sqlx::query=trace")))
    });
    let result = tracing_subscriber::registry().with(logs).with(shipped).try_init();
    // A second init (tests starting several apps in one process) keeps the first subscriber.
    drop(result);
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
            .expect("static bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed, in which case ours simply stays unused.
        drop(metrics::set_global_recorder(recorder));
        handle
    })
}
