//! Reading APM back: latency percentiles and error rates per route, the slowest traces with their
//! spans, a request's log lines, and the latest value of a metric — for the alert worker and
//! the SREs' back-office pages.

use chrono::{DateTime, Utc};
use opensearch::{OpenSearch, SearchParts};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    ApmConfig, Kind,
    setup::{Error, client},
};

/// Reads APM's indices.
pub struct Apm {
    client: OpenSearch,
    prefix: String,
}

/// One route's requests in a window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteStats {
    pub service: String,
    pub route: String,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One route's requests in one step of a series.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A metric's latest value from one process.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sample {
    pub service: String,
    pub site: Option<String>,
    pub labels: Value,
    pub value: f64,
    pub at: DateTime<Utc>,
}

fn f64_at(value: &Value, pointer: &str) -> Option<f64> {
    value.pointer(pointer).and_then(Value::as_f64)
}

fn u64_at(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// The percentiles and the error count of a bucket of request spans.
fn request_aggregations() -> Value {
    json!({
        "latency": {"percentiles": {"field": "duration_ms", "percents": [50, 95, 99]}},
        "errors": {"filter": {"range": {"http.status": {"gte": 500}}}},
    })
}

impl Apm {
    pub fn new(config: &ApmConfig) -> Result<Self, Error> {
        Ok(Self {
            client: client(config)?,
            prefix: config.index_prefix.clone(),
        })
    }

    fn index(&self, kind: Kind) -> String {
        format!("{}-{}-*", self.prefix, kind.as_str())
    }

    async fn search(&self, kind: Kind, body: Value) -> Result<Value, Error> {
        let index = self.index(kind);
        let response = self
            .client
            .search(SearchParts::Index(&[&index]))
            .ignore_unavailable(true)
            .allow_no_indices(true)
            .body(body)
            .send()
            .await?;
        let status = response.status_code();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Refused {
                what: format!("a search of {index}"),
                status,
                body: body.chars().take(500).collect(),
            });
        }
        Ok(response.json().await?)
    }

    /// Requests served (the services' `http.request` spans and the edge's `edge.request`)
    /// since `since`, by service and route: how many, how many failed (5xx), and percentiles.
    pub async fn routes(&self, since: DateTime<Utc>) -> Result<Vec<RouteStats>, Error> {
        let body = json!({
            "size": 0,
            "query": {"bool": {"filter": [
                {"terms": {"name": ["http.request", "edge.request"]}},
                {"range": {"@timestamp": {"gte": since.to_rfc3339()}}},
            ]}},
            "aggs": {"services": {"terms": {"field": "service", "size": 20}, "aggs": {
                "routes": {"terms": {"field": "http.route", "size": 200, "missing": "(edge)"},
                           "aggs": request_aggregations()},
            }}},
        });
        let answer = self.search(Kind::Traces, body).await?;
        let mut stats = vec![];
        for service in answer
            .pointer("/aggregations/services/buckets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for route in service
                .pointer("/routes/buckets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                stats.push(RouteStats {
                    service: text(service, "key"),
                    route: text(route, "key"),
                    requests: u64_at(route, "/doc_count"),
                    errors: u64_at(route, "/errors/doc_count"),
                    p50_ms: f64_at(route, "/latency/values/50.0"),
                    p95_ms: f64_at(route, "/latency/values/95.0"),
                    p99_ms: f64_at(route, "/latency/values/99.0"),
                });
            }
        }
        Ok(stats)
    }

    /// One route's requests over time, in steps of `step` (an OpenSearch interval: `1m`, `1h`).
    pub async fn route_series(&self, route: &str, since: DateTime<Utc>, step: &str) -> Result<Vec<Point>, Error> {
        let body = json!({
            "size": 0,
            "query": {"bool": {"filter": [
                {"term": {"name": "http.request"}},
                {"term": {"http.route": route}},
                {"range": {"@timestamp": {"gte": since.to_rfc3339()}}},
            ]}},
            "aggs": {"steps": {"date_histogram": {"field": "@timestamp", "fixed_interval": step},
                               "aggs": request_aggregations()}},
        });
        let answer = self.search(Kind::Traces, body).await?;
        Ok(answer
            .pointer("/aggregations/steps/buckets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|step| {
                let at = step["key_as_string"].as_str()?.parse().ok()?;
                Some(Point {
                    at,
                    requests: u64_at(step, "/doc_count"),
                    errors: u64_at(step, "/errors/doc_count"),
                    p50_ms: f64_at(step, "/latency/values/50.0"),
                    p99_ms: f64_at(step, "/latency/values/99.0"),
                })
            })
            .collect())
    }

    /// The slowest requests since `since` (their root spans: the edge's when it traced them).
    pub async fn slowest(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Value>, Error> {
        let body = json!({
            "size": limit,
            "query": {"bool": {"filter": [
                {"terms": {"name": ["http.request", "edge.request"]}},
                {"range": {"@timestamp": {"gte": since.to_rfc3339()}}},
            ], "must_not": [{"exists": {"field": "parent.id"}}]}},
            "sort": [{"duration_ms": "desc"}],
        });
        Ok(hits(&self.search(Kind::Traces, body).await?))
    }

    /// Every span of a trace, in the order they started.
    pub async fn trace(&self, trace_id: &str) -> Result<Vec<Value>, Error> {
        self.in_order(Kind::Traces, "trace.id", trace_id, 1000).await
    }

    /// A request's log lines, from every process it went through, in order.
    pub async fn logs(&self, request_id: &str) -> Result<Vec<Value>, Error> {
        self.in_order(Kind::Logs, "request_id", request_id, 500).await
    }

    /// The first `size` documents of `kind` whose `field` is `value`, oldest first.
    async fn in_order(&self, kind: Kind, field: &str, value: &str, size: usize) -> Result<Vec<Value>, Error> {
        let body = json!({
            "size": size,
            "query": {"term": {field: value}},
            "sort": [{"@timestamp": "asc"}],
        });
        Ok(hits(&self.search(kind, body).await?))
    }

    /// The latest value of `metric` from each process (service and site) that sent it since
    /// `since`, one per set of labels.
    pub async fn latest(&self, metric: &str, since: DateTime<Utc>) -> Result<Vec<Sample>, Error> {
        let body = json!({
            "size": 2000,
            "query": {"bool": {"filter": [
                {"term": {"metric": metric}},
                {"range": {"@timestamp": {"gte": since.to_rfc3339()}}},
            ]}},
            "sort": [{"@timestamp": "desc"}],
        });
        let mut seen = std::collections::HashSet::new();
        Ok(hits(&self.search(Kind::Metrics, body).await?)
            .into_iter()
            .filter_map(|last| {
                let key = (text(&last, "service"), text(&last, "site"), last["labels"].to_string());
                seen.insert(key).then_some(())?;
                Some(Sample {
                    service: text(&last, "service"),
                    site: last["site"].as_str().map(str::to_owned),
                    labels: last["labels"].clone(),
                    value: last["value"].as_f64().unwrap_or(0.0),
                    at: last["@timestamp"].as_str()?.parse().ok()?,
                })
            })
            .collect())
    }

    /// Writes an alert's change (the alert worker's memory, and the alerts' history).
    pub async fn record_alert(&self, change: &Value) -> Result<(), Error> {
        let index = format!("{}-alerts", self.prefix);
        let mut document = change.clone();
        document["@timestamp"] = json!(Utc::now().to_rfc3339());
        let response = self
            .client
            .index(opensearch::IndexParts::Index(&index))
            .refresh(opensearch::params::Refresh::True)
            .body(document)
            .send()
            .await?;
        let status = response.status_code();
        if !status.is_success() {
            return Err(Error::Refused {
                what: format!("writing to {index}"),
                status,
                body: response.text().await.unwrap_or_default().chars().take(500).collect(),
            });
        }
        Ok(())
    }

    /// The alerts firing when the alert worker last wrote: each key's latest change, if it fired.
    pub async fn firing_alerts<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, Error> {
        let index = format!("{}-alerts", self.prefix);
        let body = json!({"size": 5000, "sort": [{"@timestamp": "desc"}]});
        let response = self
            .client
            .search(SearchParts::Index(&[&index]))
            .ignore_unavailable(true)
            .allow_no_indices(true)
            .body(body)
            .send()
            .await?;
        let answer: Value = response.json().await?;
        let mut seen = std::collections::HashSet::new();
        Ok(hits(&answer)
            .into_iter()
            .filter(|change| seen.insert(change["alert"]["key"].to_string()))
            .filter(|change| change["state"] == "fired")
            .filter_map(|change| {
                let firing = json!({"alert": change["alert"], "rule": change["rule"], "since": change["at"]});
                serde_json::from_value(firing).ok()
            })
            .collect())
    }

    /// How many requests the edge's WAF stopped since `since`.
    pub async fn waf_blocks(&self, since: DateTime<Utc>) -> Result<u64, Error> {
        let body = json!({
            "size": 0,
            "track_total_hits": true,
            "query": {"bool": {"filter": [
                {"term": {"name": "edge.request"}},
                {"exists": {"field": "waf.rules"}},
                {"range": {"http.status": {"gte": 400}}},
                {"range": {"@timestamp": {"gte": since.to_rfc3339()}}},
            ]}},
        });
        let answer = self.search(Kind::Traces, body).await?;
        Ok(u64_at(&answer, "/hits/total/value"))
    }
}

fn hits(answer: &Value) -> Vec<Value> {
    answer
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|hit| hit["_source"].clone())
        .collect()
}
