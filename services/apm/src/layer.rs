//! The tracing layer: spans become trace documents (with the W3C trace id the edge issued, when
//! a request span carries one), sqlx's statement events become database spans under the span
//! that ran them (in sampled traces), and log lines become log documents with their request id
//! and trace.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{Layer, layer::Context, registry::LookupSpan};

use crate::{Kind, draw_sampled, new_span_id, new_trace_id, ship};

/// The field of a request span that carries the trace id (from `traceparent`, else new).
pub const TRACE_ID: &str = "trace.id";
/// The field of a request span that carries the caller's span id (from `traceparent`).
pub const TRACE_PARENT: &str = "trace.parent";
/// The field of a request span that carries the caller's sampling (from `traceparent`); a trace
/// that starts without one draws.
pub const TRACE_SAMPLED: &str = "trace.sampled";

/// A span recorded with `probe = true` (a health check answered) is not shipped.
pub const PROBE: &str = "probe";

/// Turns spans and events into APM documents (see the module's docs).
pub struct ApmLayer {
    redact: fn(&str) -> String,
    /// The share of the traces this process starts whose statements are spans.
    statements_percent: f64,
}

impl ApmLayer {
    pub(crate) fn new(redact: fn(&str) -> String, statements_percent: f64) -> Self {
        Self {
            redact,
            statements_percent,
        }
    }
}

/// What the layer keeps on each span while it is open.
struct Open {
    trace_id: String,
    span_id: String,
    parent_id: Option<String>,
    /// Whether its trace's statements are spans.
    sampled: bool,
    start: DateTime<Utc>,
    started: Instant,
    fields: Map<String, Value>,
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), json!(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), json!(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), json!(format!("{value:?}")));
    }
}

fn milliseconds(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

impl<S> Layer<S> for ApmLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut Fields(&mut fields));
        let inherited = span.parent().and_then(|parent| {
            parent
                .extensions()
                .get::<Open>()
                .map(|open| (open.trace_id.clone(), Some(open.span_id.clone()), open.sampled))
        });
        let (trace_id, parent_id, sampled) = match inherited {
            Some(found) => found,
            None => {
                let trace = fields.remove(TRACE_ID).and_then(|v| v.as_str().map(str::to_owned));
                let parent = fields.remove(TRACE_PARENT).and_then(|v| v.as_str().map(str::to_owned));
                let sampled = fields.remove(TRACE_SAMPLED).and_then(|v| v.as_bool());
                (
                    trace.unwrap_or_else(new_trace_id),
                    parent,
                    sampled.unwrap_or_else(|| draw_sampled(self.statements_percent)),
                )
            }
        };
        span.extensions_mut().insert(Open {
            trace_id,
            span_id: new_span_id(),
            parent_id,
            sampled,
            start: Utc::now(),
            started: Instant::now(),
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(open) = span.extensions_mut().get_mut::<Open>()
        {
            values.record(&mut Fields(&mut open.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        // The shipper's own complaints would only feed it more to ship.
        if metadata.target().starts_with("pola_apm") || metadata.target().starts_with("opensearch") {
            return;
        }
        // The span the event happened in, and the request id of the request it belongs to.
        let mut context = (None, None, None, false);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                let Some(open) = extensions.get::<Open>() else { continue };
                if context.0.is_none() {
                    context = (Some(open.trace_id.clone()), Some(open.span_id.clone()), None, open.sampled);
                }
                if let Some(request_id) = open.fields.get("request_id") {
                    context.2 = Some(request_id.clone());
                    break;
                }
            }
        }
        let (trace_id, span_id, request_id, sampled) = context;
        if metadata.target() == "sqlx::query" {
            // sqlx reports a statement when it is done: a database span under the one that ran
            // it, when its trace is sampled (unsampled, it costs no more than this).
            let Some(trace_id) = trace_id.filter(|_| sampled) else {
                return;
            };
            let mut fields = Map::new();
            event.record(&mut Fields(&mut fields));
            let seconds = fields.get("elapsed_secs").and_then(Value::as_f64).unwrap_or(0.0);
            let start = Utc::now() - chrono::Duration::microseconds((seconds * 1e6) as i64);
            let mut document = json!({
                "@timestamp": start.to_rfc3339(),
                "trace.id": trace_id,
                "span.id": new_span_id(),
                "parent.id": span_id,
                "name": "db.query",
                "kind": "db",
                "duration_ms": seconds * 1000.0,
                "db.statement": fields.get("summary").cloned().unwrap_or(Value::Null),
                "db.rows_returned": fields.get("rows_returned").cloned().unwrap_or(Value::Null),
            });
            if let Some(request_id) = request_id {
                document["request_id"] = request_id;
            }
            ship(Kind::Traces, document);
            return;
        }
        if *metadata.level() > Level::INFO {
            return;
        }
        let mut fields = Map::new();
        event.record(&mut Fields(&mut fields));
        let message = fields
            .remove("message")
            .and_then(|m| m.as_str().map(|m| (self.redact)(m)))
            .unwrap_or_default();
        for value in fields.values_mut() {
            if let Some(text) = value.as_str() {
                *value = Value::String((self.redact)(text));
            }
        }
        let mut document = json!({
            "@timestamp": Utc::now().to_rfc3339(),
            "level": metadata.level().as_str(),
            "target": metadata.target(),
            "message": message,
            "fields": fields,
        });
        if let Some(trace_id) = trace_id {
            document["trace.id"] = json!(trace_id);
            document["span.id"] = json!(span_id);
        }
        if let Some(request_id) = request_id.or_else(|| document["fields"].get("request_id").cloned()) {
            document["request_id"] = request_id;
        }
        ship(Kind::Logs, document);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        if open.fields.get(PROBE) == Some(&Value::Bool(true)) {
            return;
        }
        let name = span.metadata().name();
        let mut document = json!({
            "@timestamp": open.start.to_rfc3339(),
            "trace.id": open.trace_id,
            "span.id": open.span_id,
            "name": name,
            "kind": if name == "http.request" { "server" } else { "internal" },
            "duration_ms": milliseconds(open.started),
        });
        if let Some(parent) = open.parent_id {
            document["parent.id"] = json!(parent);
        }
        if let Some(object) = document.as_object_mut() {
            for (key, value) in open.fields {
                object.entry(key).or_insert(value);
            }
        }
        ship(Kind::Traces, document);
    }
}
