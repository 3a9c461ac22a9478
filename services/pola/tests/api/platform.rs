//! Health, readiness, metrics and request ids.

use crate::harness::{SendReply, spawn_app};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    app.api.get("/healthz", None).await.expect(200);
    let ready = app.api.get("/readyz", None).await.expect(200);
    assert_eq!(ready.get("status"), "ready");
    app.api.get("/api/v1/catalog/categories", None).await.expect(200);
    let metrics = app.api.get("/metrics", None).await.expect(200);
    let text = metrics.body.as_str().expect("text");
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/catalog/categories\""), "{text}");
}

#[tokio::test]
async fn a_request_id_is_kept_or_made_and_problems_quote_it() {
    let app = spawn_app().await;
    let kept = app
        .api
        .request(reqwest::Method::GET, "/api/v1/nowhere")
        .header("x-request-id", "trace-me-42")
        .send_reply()
        .await
        .expect_problem(404);
    assert_eq!(kept.header("x-request-id"), Some("trace-me-42"));
    assert_eq!(kept.body["request_id"], "trace-me-42");
    let made = app.api.get("/api/v1/nowhere", None).await.expect_problem(404);
    let id = made.header("x-request-id").expect("a request id").to_owned();
    assert_eq!(made.body["request_id"], id.as_str());
    let junk = app
        .api
        .request(reqwest::Method::GET, "/healthz")
        .header("x-request-id", "bad id with spaces")
        .send_reply()
        .await
        .expect(200);
    assert_ne!(junk.header("x-request-id"), Some("bad id with spaces"));
}
