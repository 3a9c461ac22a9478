//! Health, readiness, metrics and request ids.

use pola_core::{auth::LISTENER_HEADER, auth::Role, testing::Reply};
use serde_json::json;

use crate::harness::{SendReply, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    app.ops.get("/healthz", None).await.expect(200);
    let ready = app.ops.get("/readyz", None).await.expect(200);
    assert_eq!(ready.get("status"), "ready");
    app.api.get("/api/v1/catalog/categories", None).await.expect(200);
    let metrics = app.ops.get("/metrics", None).await.expect(200);
    let text = metrics.body.as_str().expect("text");
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/catalog/categories\""), "{text}");
}

/// A server told to stop first leaves the edge's pool: `/readyz` answers 503 for `drain_ms`
/// while requests are still served; then it stops accepting.
#[tokio::test]
async fn a_stopping_server_fails_its_readiness_check_while_it_still_serves_then_stops_accepting() {
    let mut app = spawn_app_with(|config| config.http.drain_ms = 5_000).await;
    app.ops.get("/readyz", None).await.expect(200);
    let stopping = app.stopping().expect("running");
    let started = std::time::Instant::now();
    let draining = loop {
        let ready = app.ops.get("/readyz", None).await;
        if ready.status == 503 {
            break ready;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "readyz never said draining"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(
        draining.get("detail").as_str().is_some_and(|d| d.contains("draining")),
        "{:?}",
        draining.body
    );
    app.ops.get("/api/v1/catalog/categories", None).await.expect(200);
    assert!(!stopping.is_finished(), "still draining while it serves");
    stopping.await.expect("stopped");
    let after = app.ops.client.get(format!("{}/readyz", app.ops.base)).send().await;
    assert!(after.is_err(), "no longer accepting: {after:?}");
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
        .ops
        .request(reqwest::Method::GET, "/healthz")
        .header("x-request-id", "bad id with spaces")
        .send_reply()
        .await
        .expect(200);
    assert_ne!(junk.header("x-request-id"), Some("bad id with spaces"));
}

#[tokio::test]
async fn a_staff_token_is_refused_unless_the_request_came_through_the_staff_listener() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Admin]).await;
    let category = json!({"slug": "spices", "name": "Spices"});
    // Straight to the app (as a client that found its way past the edge would), or marked as
    // coming through the public listener: no such endpoint, and nothing created.
    for marker in [None, Some("public"), Some("STAFF")] {
        let mut request = app
            .ops
            .request(reqwest::Method::POST, "/api/v1/catalog/categories")
            .bearer_auth(&staff)
            .json(&category);
        if let Some(marker) = marker {
            request = request.header(LISTENER_HEADER, marker);
        }
        request.send_reply().await.expect_problem(404);
    }
    let sign_in = json!({"grant_type": "password", "username": "admin@pola.lk", "password": "whatever it is"});
    app.ops
        .request(reqwest::Method::POST, "/api/v1/identity/staff/token")
        .json(&sign_in)
        .send_reply()
        .await
        .expect_problem(404);
    let categories = app.ops.get("/api/v1/catalog/categories", None).await.expect(200);
    assert!(!categories.body.to_string().contains("spices"), "{}", categories.body);
    // Through the staff listener it works.
    app.ops
        .request(reqwest::Method::POST, "/api/v1/catalog/categories")
        .bearer_auth(&staff)
        .header(LISTENER_HEADER, "staff")
        .json(&category)
        .send_reply()
        .await
        .expect(201);
}

#[tokio::test]
async fn answers_with_tokens_or_personal_data_are_never_stored_and_anonymous_catalogue_reads_may_be() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let no_store = |reply: &Reply| {
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
        assert_eq!(reply.header("pragma"), Some("no-cache"), "{reply:?}");
    };
    no_store(&app.login(&shopper.email, &shopper.password).await);
    no_store(&app.api.get("/api/v1/identity/me", Some(&shopper.access)).await.expect(200));
    no_store(
        &app.api
            .get("/api/v1/identity/me/export", Some(&shopper.access))
            .await
            .expect(200),
    );
    no_store(&app.api.get("/api/v1/orders", Some(&shopper.access)).await.expect(200));
    no_store(&app.api.get("/api/v1/cart", Some(&shopper.access)).await.expect(200));
    let staff = app.staff(&[Role::Support]).await;
    no_store(
        &app.api
            .get("/api/v1/identity/staff/customers?phone=0771234567", Some(&staff))
            .await
            .expect(200),
    );
    let catalogue = app.api.get("/api/v1/catalog/categories", None).await.expect(200);
    assert_ne!(catalogue.header("cache-control"), Some("no-store"));
}
