//! The services in separate processes: a front that serves cart and orders and reaches catalog
//! and inventory over their internal API, as `pola serve --only cart,orders` with
//! `services.catalog_url` and `services.inventory_url` set.

use pola::ServiceName;
use pola_core::auth::Role;
use serde_json::json;

use crate::harness::{SendReply, spawn_app, uuid};

#[tokio::test]
async fn cart_and_orders_in_another_process_sell_through_the_internal_api() {
    let mut app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Split-brewed", 20_000, 3).await;
    let dearer = app.tea(&staff, "Split-steeped", 30_000, 3).await;
    let front = app
        .front(
            &[ServiceName::Cart, ServiceName::Orders],
            &[ServiceName::Catalog, ServiceName::Inventory, ServiceName::Promotions],
        )
        .await;
    assert_eq!(front.services.placement().local, [ServiceName::Cart, ServiceName::Orders]);
    assert!(front.services.promotions.is_none(), "prices come over the internal API");
    assert!(front.services.catalog.is_none() && front.services.inventory.is_none());
    let token = app.customer_token(uuid::Uuid::now_v7());

    // Through the front: the cart reserves at inventory, checkout sells there.
    let add = |quantity: i64| {
        front.api.post(
            "/api/v1/cart/lines",
            Some(&token),
            json!({"variant_id": tea.variant, "quantity": quantity}),
        )
    };
    let cart = add(2).await.expect(201);
    assert_eq!(cart.get("lines")[0]["title"], "Split-brewed (Pure Ceylon, 100)");
    assert_eq!(app.available(tea.product, tea.variant).await, 1);
    let short = add(5).await.expect_problem(409);
    assert_eq!(short.body["available"], 3, "inventory's 409 reaches the customer whole");
    let order = front
        .api
        .request(reqwest::Method::POST, "/api/v1/orders")
        .bearer_auth(&token)
        .header("Idempotency-Key", "split-1")
        .json(&json!({}))
        .send_reply()
        .await
        .expect(201);
    assert_eq!(order.get("total")["amount_minor"], 40_000);
    assert_eq!(app.available(tea.product, tea.variant).await, 1);
    front.api.get("/api/v1/catalog/products", None).await.expect_problem(404);
    // A product page's unit prices: every variant priced by promotions' process in one call,
    // in the order asked.
    let prices = front
        .api
        .get(
            &format!("/api/v1/cart/prices?variants={},{}", dearer.variant, tea.variant),
            Some(&token),
        )
        .await
        .expect(200);
    let pays: Vec<&serde_json::Value> = prices
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| &p["pays"]["amount_minor"])
        .collect();
    assert_eq!(pays, [30_000, 20_000], "{}", prices.body);

    // The internal API needs the service token.
    let internal = app
        .api
        .post("/internal/v1/catalog/variants", None, json!({"ids": [tea.variant]}))
        .await;
    internal.expect_problem(404);

    // Inventory's process goes away: the front says so with a 503, and stays up.
    app.stop().await;
    let down = front
        .api
        .post(
            "/api/v1/cart/lines",
            Some(&token),
            json!({"variant_id": tea.variant, "quantity": 1}),
        )
        .await;
    let down = down.expect_problem(503);
    assert!(down.header("retry-after").is_some());
    front.api.get("/healthz", None).await.expect(200);
    let orders = front.api.get("/api/v1/orders", Some(&token)).await.expect(200);
    assert_eq!(uuid(&orders.get("items")[0]["id"]), uuid(order.get("id")));
}

#[tokio::test]
async fn identity_alone_gathers_a_customers_orders_for_their_export_over_the_internal_api() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Exported", 20_000, 3).await;
    let front = app.front(&[ServiceName::Identity], &[ServiceName::Orders]).await;
    assert_eq!(front.services.placement().local, [ServiceName::Identity]);
    assert_eq!(front.services.placement().remote, [ServiceName::Orders]);

    let email = crate::harness::email();
    front
        .api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": email, "password": "a long passphrase", "name": "Split Shopper"}),
        )
        .await
        .expect(201);
    let token = front
        .api
        .post(
            "/api/v1/identity/token",
            None,
            json!({"grant_type": "password", "username": email, "password": "a long passphrase"}),
        )
        .await
        .expect(200)
        .get("access_token")
        .as_str()
        .expect("a token")
        .to_owned();
    let address = json!({"recipient": "Split Shopper", "phone": "0771234567", "line1": "3 Station Road", "city": "Galle"});
    let order = app
        .checkout(
            &token,
            json!({"lines": [{"variant_id": tea.variant, "quantity": 1}], "delivery": address}),
        )
        .await
        .expect(201);
    let export = front.api.get("/api/v1/identity/me/export", Some(&token)).await.expect(200);
    assert_eq!(export.get("services")["orders"][0]["id"], order.get("id").clone());
    assert_eq!(export.get("services")["orders"][0]["delivery"]["line1"], "3 Station Road");
}
