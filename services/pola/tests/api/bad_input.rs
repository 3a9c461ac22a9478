//! Bad input gets a clear 4xx problem document and changes nothing.

use pola_core::auth::{Realm, Role, TokenKeys};
use serde_json::json;

use crate::harness::{SendReply, TestApp, spawn_app};

/// Rows that a wrongly accepted request would have added.
async fn footprint(app: &TestApp) -> [i64; 4] {
    [
        app.count(app.cart.pool(), "cart_lines").await,
        app.count(app.inventory.pool(), "reservations").await,
        app.count(app.orders.pool(), "orders").await,
        app.count(app.orders.pool(), "idempotency_keys").await,
    ]
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_are_refused_without_effect() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Dimbula", 10_000, 10).await;
    let shopper = app.shopper().await;
    let before = footprint(&app).await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.api
            .request(reqwest::Method::POST, "/api/v1/cart/lines")
            .bearer_auth(&shopper.access)
            .header("content-type", content_type)
            .body(body)
            .send_reply()
    };

    post(b"{\"variant_id\": ".to_vec(), "application/json")
        .await
        .expect_problem(400);
    post(
        json!({"variant_id": tea.variant, "quantity": 1}).to_string().into_bytes(),
        "text/plain",
    )
    .await
    .expect_problem(415);
    let mut huge = br#"{"variant_id": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge.extend(br#""}"#);
    post(huge, "application/json").await.expect_problem(413);
    post(
        json!({"variant_id": "not-a-uuid", "quantity": 1}).to_string().into_bytes(),
        "application/json",
    )
    .await
    .expect_problem(422);
    for quantity in [0, -1, 101] {
        let reply = post(
            json!({"variant_id": tea.variant, "quantity": quantity})
                .to_string()
                .into_bytes(),
            "application/json",
        )
        .await
        .expect_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "quantity", "{quantity}");
    }
    let unknown = post(
        json!({"variant_id": uuid::Uuid::now_v7(), "quantity": 1})
            .to_string()
            .into_bytes(),
        "application/json",
    )
    .await
    .expect_problem(422);
    assert_eq!(unknown.body["errors"][0]["field"], "variant_id");

    let order = |body: serde_json::Value| app.checkout(&shopper.access, body);
    order(json!({"lines": [{"variant_id": tea.variant, "quantity": 0}]}))
        .await
        .expect_problem(422);
    order(json!({"lines": [{"variant_id": uuid::Uuid::now_v7(), "quantity": 1}]}))
        .await
        .expect_problem(422);
    order(json!({"lines": []})).await.expect_problem(422);
    order(json!({"lines": [{"variant_id": tea.variant, "quantity": 1}], "coupon": "FREE"}))
        .await
        .expect_problem(422);

    assert_eq!(footprint(&app).await, before);
    assert_eq!(app.available(tea.product, tea.variant).await, 10);
}

#[tokio::test]
async fn out_of_range_queries_are_refused() {
    let app = spawn_app().await;
    for query in [
        "limit=100000",
        "limit=0",
        "limit=-1",
        "cursor=garbage!",
        "min_price=-5",
        "min_price=500&max_price=100",
        "q=a",
        "attr=size",
        "category=nowhere",
    ] {
        let reply = app.api.get(&format!("/api/v1/catalog/products?{query}"), None).await;
        assert!(matches!(reply.status, 400 | 422), "{query}: {reply:?}");
        let status = reply.status;
        reply.expect_problem(status);
    }
    let shopper = app.shopper().await;
    app.api
        .get("/api/v1/orders?limit=100000", Some(&shopper.access))
        .await
        .expect_problem(422);
}

#[tokio::test]
async fn expired_forged_and_misdirected_tokens_are_refused() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let before = footprint(&app).await;
    let me = app.api.get("/api/v1/identity/me", Some(&shopper.access)).await.expect(200);
    let id = crate::harness::uuid(me.get("id"));
    let expired = app.expired_token(id);
    let forger = TokenKeys::generate("pola").expect("a key");
    let forged = forger
        .issue(Realm::Customer, id, vec![], std::time::Duration::from_secs(60))
        .expect("signed");
    let staff_realm = app
        .keys
        .issue(Realm::Staff, id, vec![Role::Admin], std::time::Duration::from_secs(60))
        .expect("signed");
    let mut tampered = shopper.access.clone();
    tampered.pop();
    for token in [expired, forged, staff_realm, tampered, "not.a.jwt".into()] {
        let reply = app.api.get("/api/v1/cart", Some(&token)).await.expect_problem(401);
        assert!(reply.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")));
        app.checkout(&token, json!({})).await.expect_problem(401);
    }
    let basic = app
        .api
        .request(reqwest::Method::GET, "/api/v1/orders")
        .header("Authorization", "Basic YWxhZGRpbjpvcGVu")
        .send_reply()
        .await;
    basic.expect_problem(401);
    assert_eq!(footprint(&app).await, before);
}

#[tokio::test]
async fn unknown_endpoints_and_methods_are_problems_too() {
    let app = spawn_app().await;
    app.api.get("/api/v1/nowhere", None).await.expect_problem(404);
    // The app's own answer (the edge's public listener has no such route for DELETE at all).
    app.ops.delete("/api/v1/catalog/categories", None).await.expect_problem(405);
    app.api
        .get("/api/v1/catalog/products/not-a-uuid", None)
        .await
        .expect_problem(404);
    app.api
        .get(&format!("/api/v1/catalog/products/{}", uuid::Uuid::now_v7()), None)
        .await
        .expect_problem(404);
}
