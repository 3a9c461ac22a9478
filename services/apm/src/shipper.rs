//! The bounded buffer and the thread that empties it into OpenSearch's bulk API.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use opensearch::{
    BulkParts, OpenSearch,
    http::{
        Url,
        request::JsonBody,
        transport::{SingleNodeConnectionPool, TransportBuilder},
    },
};
use serde_json::{Map, Value, json};
use tokio::{sync::mpsc, time::Instant};

use crate::{ApmConfig, Kind, Origin};

/// How shipping has gone so far in this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shipped {
    /// Documents OpenSearch took.
    pub sent: u64,
    /// Documents dropped: the buffer was full, OpenSearch did not answer, or it refused them.
    pub dropped: u64,
    /// Bulk requests that failed as a whole.
    pub failed_batches: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    failed_batches: AtomicU64,
}

impl Counters {
    fn dropped(&self, kind: Kind, reason: &'static str, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("apm_documents_dropped_total", "kind" => kind.as_str(), "reason" => reason).increment(n);
    }
}

pub(crate) struct Shipper {
    tx: mpsc::Sender<(Kind, Value)>,
    origin: Origin,
    counters: Arc<Counters>,
}

impl Shipper {
    pub(crate) fn start(
        config: &ApmConfig,
        url: &str,
        metrics: Option<Box<dyn Fn() -> String + Send>>,
        origin: Origin,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let pool = SingleNodeConnectionPool::new(Url::parse(url)?);
        let transport = TransportBuilder::new(pool)
            .disable_proxy()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()?;
        let client = OpenSearch::new(transport);
        let (tx, rx) = mpsc::channel(config.buffer);
        let counters = Arc::new(Counters::default());
        let shipping = Shipping {
            client,
            config: config.clone(),
            counters: counters.clone(),
            metrics,
            origin: origin.clone(),
        };
        std::thread::Builder::new().name("apm-shipper".into()).spawn(
            move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(shipping.run(rx)),
                Err(e) => eprintln!("apm: no runtime for the shipper: {e}"),
            },
        )?;
        Ok(Self { tx, origin, counters })
    }

    /// Puts the process's name and site on a document that has none.
    pub(crate) fn stamp(&self, document: &mut Value) {
        stamp(&self.origin, document);
    }

    pub(crate) fn offer(&self, kind: Kind, mut document: Value) {
        self.stamp(&mut document);
        if self.tx.try_send((kind, document)).is_err() {
            self.counters.dropped(kind, "buffer_full", 1);
        }
    }

    pub(crate) fn shipped(&self) -> Shipped {
        Shipped {
            sent: self.counters.sent.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
        }
    }
}

fn stamp(origin: &Origin, document: &mut Value) {
    if let Some(fields) = document.as_object_mut() {
        fields
            .entry("service")
            .or_insert_with(|| Value::String(origin.service.clone()));
        if let Some(site) = &origin.site {
            fields.entry("site").or_insert_with(|| Value::String(site.clone()));
        }
    }
}

struct Shipping {
    client: OpenSearch,
    config: ApmConfig,
    counters: Arc<Counters>,
    metrics: Option<Box<dyn Fn() -> String + Send>>,
    origin: Origin,
}

impl Shipping {
    async fn run(self, mut rx: mpsc::Receiver<(Kind, Value)>) {
        let flush = Duration::from_millis(self.config.flush_ms);
        let every = Duration::from_secs(self.config.metrics_interval_secs.max(1));
        let mut next_metrics = Instant::now() + every;
        let mut backoff = Duration::ZERO;
        // Templates first, whenever OpenSearch comes (back).
        let mut installed = false;
        let mut batch: Vec<(Kind, Value)> = Vec::with_capacity(self.config.batch);
        loop {
            let deadline = Instant::now() + flush;
            let mut closed = false;
            while batch.len() < self.config.batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(document)) => batch.push(document),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if Instant::now() >= next_metrics {
                next_metrics = Instant::now() + every;
                if let Some(render) = &self.metrics {
                    let waiting = self.config.buffer.saturating_sub(rx.capacity());
                    metrics::gauge!("apm_buffer_documents").set(waiting as f64);
                    batch.extend(
                        metric_documents(&render(), &self.origin)
                            .into_iter()
                            .map(|d| (Kind::Metrics, d)),
                    );
                }
            }
            if !batch.is_empty() {
                if !installed {
                    installed = crate::setup::install(&self.client, &self.config).await.is_ok();
                }
                let sent = match installed {
                    true => self.send(&batch).await,
                    false => Err("opensearch_unavailable"),
                };
                match sent {
                    Ok(()) => backoff = Duration::ZERO,
                    Err(reason) => {
                        installed = false;
                        self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                        for (kind, _) in &batch {
                            self.counters.dropped(*kind, reason, 1);
                        }
                        // Meanwhile the buffer takes what comes, then drops and counts it.
                        backoff = (backoff * 2).clamp(Duration::from_millis(500), Duration::from_secs(10));
                        tokio::time::sleep(backoff).await;
                    }
                }
                batch.clear();
            }
            if closed {
                return;
            }
        }
    }

    /// One bulk request; Err with why every document of it is lost.
    async fn send(&self, batch: &[(Kind, Value)]) -> Result<(), &'static str> {
        let today = Utc::now().format("%Y.%m.%d").to_string();
        let mut body: Vec<JsonBody<Value>> = Vec::with_capacity(batch.len() * 2);
        for (kind, document) in batch {
            // The index of the document's own day (a late document goes with its day).
            let day = document["@timestamp"]
                .as_str()
                .and_then(|at| at.get(..10))
                .map(|d| d.replace('-', "."))
                .unwrap_or_else(|| today.clone());
            let index = format!("{}-{}-{day}", self.config.index_prefix, kind.as_str());
            body.push(json!({"create": {"_index": index}}).into());
            body.push(document.clone().into());
        }
        let response = self
            .client
            .bulk(BulkParts::None)
            .body(body)
            .send()
            .await
            .map_err(|_| "opensearch_unavailable")?;
        if !response.status_code().is_success() {
            return Err("opensearch_refused");
        }
        let answer: Value = response.json().await.map_err(|_| "opensearch_unavailable")?;
        let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        let mut sent = 0;
        for ((kind, _), item) in batch.iter().zip(items) {
            if item["create"]["error"].is_null() {
                sent += 1;
            } else {
                self.counters.dropped(*kind, "rejected", 1);
            }
        }
        self.counters.sent.fetch_add(sent, Ordering::Relaxed);
        metrics::counter!("apm_documents_shipped_total").increment(sent);
        Ok(())
    }
}

/// A Prometheus text exposition as one document per sample (histogram buckets left out: the
/// traces give latency percentiles).
fn metric_documents(text: &str, origin: &Origin) -> Vec<Value> {
    let at = Utc::now().to_rfc3339();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if name.ends_with("_bucket") || !value.is_finite() {
                return None;
            }
            let labels: Map<String, Value> = labels
                .split("\",")
                .filter_map(|pair| {
                    let (key, value) = pair.split_once("=\"")?;
                    Some((key.trim().to_owned(), Value::String(value.trim_end_matches('"').to_owned())))
                })
                .collect();
            let mut document = json!({"@timestamp": at, "metric": name, "labels": labels, "value": value});
            stamp(origin, &mut document);
            Some(document)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_becomes_one_document_per_sample_without_buckets() {
        let origin = Origin {
            service: "pola-serve".into(),
            site: Some("dc".into()),
        };
        let text = "# TYPE http_requests_total counter\n\
                    http_requests_total{method=\"GET\",route=\"/a,b\",status=\"200\"} 12\n\
                    http_request_duration_seconds_bucket{le=\"0.1\"} 3\n\
                    http_request_duration_seconds_sum 0.5\n\
                    outbox_oldest_unsent_seconds 0\n";
        let documents = metric_documents(text, &origin);
        assert_eq!(documents.len(), 3, "{documents:?}");
        assert_eq!(documents[0]["metric"], "http_requests_total");
        assert_eq!(documents[0]["labels"]["route"], "/a,b");
        assert_eq!(documents[0]["labels"]["status"], "200");
        assert_eq!(documents[0]["value"], 12.0);
        assert_eq!(documents[0]["site"], "dc");
        assert_eq!(documents[2]["metric"], "outbox_oldest_unsent_seconds");
    }
}
