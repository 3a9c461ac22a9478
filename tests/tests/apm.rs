//! APM on both sites of the `local` inventory, shipping to a real OpenSearch node: one request
//! through the edge is one trace (the edge's span, the service's, its database calls), its log
//! lines are found by its request id, and an OpenSearch that is not there costs telemetry (dropped
//! and counted), never requests, and shipping resumes when it comes.

use std::time::{Duration, Instant};

use pola_apm::TraceParent;
use pola_e2e::{ONE_AT_A_TIME, Site, Sites};
use serde_json::{Value, json};
use uuid::Uuid;

/// Documents of `index` (a pattern) matching `query`, once `wanted` says they are all there
/// (OpenSearch shows new documents after its refresh, and the shippers send every second).
async fn search(url: &str, index: &str, query: Value, wanted: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let reply = client
            .post(format!("{url}/{index}/_search"))
            .json(&json!({"size": 500, "query": query}))
            .send()
            .await;
        let hits: Vec<Value> = match reply {
            Ok(reply) if reply.status().is_success() => {
                let body: Value = reply.json().await.expect("a search answer");
                body["hits"]["hits"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|h| h["_source"].clone())
                    .collect()
            }
            _ => vec![],
        };
        if wanted(&hits) {
            return hits;
        }
        assert!(Instant::now() < deadline, "{index} never held what was wanted: {hits:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A product listing through the edge with the request id `id`, in a trace its caller started;
/// with a cookie, so that the edge's micro-cache never answers it and each reaches the service.
async fn list_products(sites: &Sites, id: &str, trace: &TraceParent) {
    let reply = reqwest::Client::new()
        .get(format!("{}/api/v1/catalog/products?limit=5", sites.edge()))
        .header("x-request-id", id)
        .header("cookie", format!("visit={id}"))
        .header("traceparent", trace.header())
        .send()
        .await
        .expect("the edge answers");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["x-request-id"], id, "one request id, end to end");
}

/// A new trace as a caller starts it, sampled or not.
fn a_trace(sampled: bool) -> TraceParent {
    TraceParent {
        trace_id: pola_apm::new_trace_id(),
        parent_id: pola_apm::new_span_id(),
        sampled,
    }
}

fn field<'a>(span: &'a Value, key: &str) -> &'a str {
    span[key].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_through_the_edge_is_one_trace_of_edge_service_and_database_spans_and_its_logs_are_found_by_its_id() {
    let _one = ONE_AT_A_TIME.lock().await;
    let sites = Sites::up("apm-trace").await;
    let url = pola_core::testing::test_opensearch_url();
    // Sites::up gives each test's telemetry indices of its own: e2e-<name>-….
    let index = |kind: &str| format!("e2e-apm-trace-{kind}-*");
    // site.yml ran `pola apm setup`: the templates are there.
    for kind in ["traces", "logs", "metrics"] {
        let template = reqwest::get(format!("{url}/_index_template/e2e-apm-trace-{kind}"))
            .await
            .expect("OpenSearch answers");
        assert_eq!(template.status(), 200, "the {kind} template");
    }

    // A trace its caller sampled: its statements are spans too.
    let sampled = a_trace(true);
    let id = format!("apm-{}", Uuid::now_v7().simple());
    list_products(&sites, &id, &sampled).await;
    let spans = search(&url, &index("traces"), json!({"term": {"request_id": id}}), |hits| {
        let has = |name: &str| hits.iter().any(|s| field(s, "name") == name);
        has("edge.request") && has("http.request") && has("db.query")
    })
    .await;
    let edge = spans
        .iter()
        .find(|s| field(s, "name") == "edge.request")
        .expect("the edge's span");
    let service = spans
        .iter()
        .find(|s| field(s, "name") == "http.request")
        .expect("the service's span");
    let trace = field(edge, "trace.id");
    assert_eq!(trace, sampled.trace_id, "the caller's trace goes on: {edge}");
    assert_eq!(field(edge, "parent.id"), sampled.parent_id, "under the caller's span");
    assert!(spans.iter().all(|s| field(s, "trace.id") == trace), "one trace: {spans:#?}");
    assert_eq!(field(edge, "service"), "pola-edge");
    assert_eq!(field(service, "service"), "pola-serve");
    assert_eq!(field(service, "site"), "dc");
    assert_eq!(
        field(service, "parent.id"),
        field(edge, "span.id"),
        "the service's span is the edge's child"
    );
    assert_eq!(service["http.route"], "/api/v1/catalog/products");
    assert_eq!(service["http.status"], 200);
    assert!(
        edge["duration_ms"].as_f64() >= service["duration_ms"].as_f64(),
        "the edge's span holds the service's"
    );
    // Every database span hangs, through its parents, from the service's span.
    let all = search(&url, &index("traces"), json!({"term": {"trace.id": trace}}), |hits| {
        hits.len() >= spans.len()
    })
    .await;
    let parent_of = |span: &Value| all.iter().find(|s| field(s, "span.id") == field(span, "parent.id")).cloned();
    let queries: Vec<&Value> = spans.iter().filter(|s| field(s, "kind") == "db").collect();
    assert!(
        queries
            .iter()
            .any(|q| field(q, "db.statement").to_uppercase().starts_with("SELECT")),
        "the listing's queries: {queries:#?}"
    );
    for query in queries {
        let mut at = query.clone();
        while let Some(parent) = parent_of(&at) {
            at = parent;
        }
        assert_eq!(
            field(&at, "span.id"),
            field(edge, "span.id"),
            "a query's chain of parents leads to the edge: {query}"
        );
    }

    // Its log lines: the service's and the edge's, by the request id.
    let logs = search(&url, &index("logs"), json!({"term": {"request_id": id}}), |hits| {
        hits.iter().any(|l| field(l, "service") == "pola-serve") && hits.iter().any(|l| field(l, "service") == "pola-edge")
    })
    .await;
    let finished = logs
        .iter()
        .find(|l| field(l, "message") == "request finished")
        .expect("the access line");
    assert_eq!(field(finished, "trace.id"), trace, "a log line carries its trace");

    // The SREs' pages read the same trace back: a waterfall from the edge down to the queries,
    // and the route's figures.
    let apm = pola_apm::query::Apm::new(&pola_apm::ApmConfig {
        url: Some(url.clone()),
        index_prefix: "e2e-apm-trace".into(),
        ..Default::default()
    })
    .expect("a reader");
    let bars = pola_apm::chart::waterfall(&apm.trace(trace).await.expect("the trace"));
    assert_eq!(bars.len(), all.len(), "{bars:#?}");
    assert!(bars[0].label.starts_with("pola-edge edge.request"), "{bars:#?}");
    assert!(
        bars[1].label.starts_with("pola-serve http.request /api/v1/catalog/products"),
        "{bars:#?}"
    );
    assert_eq!((bars[0].depth, bars[1].depth), (0, 1));
    assert!(
        bars[2..].iter().all(|b| b.depth >= 2 && b.offset_ms >= bars[1].offset_ms),
        "{bars:#?}"
    );
    let since = chrono::Utc::now() - chrono::Duration::minutes(10);
    let routes = apm.routes(since).await.expect("the routes");
    let listing = routes
        .iter()
        .find(|r| r.service == "pola-serve" && r.route == "/api/v1/catalog/products")
        .expect("the listing's route");
    assert!(listing.requests >= 1 && listing.p99_ms.is_some(), "{listing:?}");

    // A trace its caller did not sample: the request's spans, not its statements (shipped
    // before the service's span, which closes last).
    let unsampled = format!("apm-{}", Uuid::now_v7().simple());
    list_products(&sites, &unsampled, &a_trace(false)).await;
    let spans = search(&url, &index("traces"), json!({"term": {"request_id": unsampled}}), |hits| {
        let has = |name: &str| hits.iter().any(|s| field(s, "name") == name);
        has("edge.request") && has("http.request")
    })
    .await;
    assert!(spans.iter().all(|s| field(s, "kind") != "db"), "{spans:#?}");

    // Metrics arrive too, every 15 seconds.
    search(
        &url,
        &index("metrics"),
        json!({"bool": {"filter": [
        {"term": {"service": "pola-serve"}}, {"term": {"metric": "http_requests_total"}}]}}),
        |hits| !hits.is_empty(),
    )
    .await;
}

/// The counter `name` with `labels` in a Prometheus text, summed over its other labels.
fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_opensearch_requests_are_served_telemetry_is_dropped_and_counted_and_shipping_resumes_when_it_comes() {
    let _one = ONE_AT_A_TIME.lock().await;
    // An OpenSearch that is not there yet, on a port of this test's own.
    let port = pola_core::testing::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let sites = Sites::up_with("apm-outage", json!({"pola_apm_url": url})).await;
    let name = format!("apm-outage-{port}");
    let node = OpenSearchNode { name: name.clone() };

    for i in 0..50 {
        list_products(&sites, &format!("before-{i}-{}", Uuid::now_v7().simple()), &a_trace(false)).await;
    }
    let metrics = || async {
        reqwest::get(format!("{}/metrics", sites.app(Site::Dc)))
            .await
            .expect("pola serve answers")
            .text()
            .await
            .expect("metrics")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = metrics().await;
        if counter(&text, "apm_documents_dropped_total", &["reason=\"opensearch_unavailable\""]) > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing counted as dropped:\n{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // OpenSearch comes: what is sent from then on arrives.
    let started = std::process::Command::new(pola_e2e::root().join("scripts/opensearch.sh"))
        .args(["start", &name, &port.to_string()])
        .status()
        .expect("scripts/opensearch.sh runs");
    assert!(started.success(), "a second OpenSearch node starts");
    let id = format!("after-{}", Uuid::now_v7().simple());
    let deadline = Instant::now() + Duration::from_secs(90);
    let client = reqwest::Client::new();
    loop {
        // The shipper may still be backing off: ask again until the service's own span of a
        // request arrives (the edge ships its spans on its own and may be back sooner).
        list_products(&sites, &id, &a_trace(false)).await;
        let query = json!({"bool": {"filter": [
            {"term": {"request_id": id}}, {"term": {"service": "pola-serve"}}]}});
        let found = client
            .post(format!("{url}/e2e-apm-outage-traces-*/_search"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if let Some(found) = found {
            let body: Value = found.json().await.expect("an answer");
            if body["hits"]["total"]["value"].as_u64() > Some(0) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "shipping did not resume within 90 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let text = metrics().await;
    assert!(counter(&text, "apm_documents_shipped_total", &[]) > 0.0, "{text}");
    drop(node);
}

/// The test's own OpenSearch node, stopped and removed when the test ends.
struct OpenSearchNode {
    name: String,
}

impl Drop for OpenSearchNode {
    fn drop(&mut self) {
        let _ = std::process::Command::new(pola_e2e::root().join("scripts/opensearch.sh"))
            .args(["stop", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(pola_e2e::root().join("var").join(&self.name));
    }
}
