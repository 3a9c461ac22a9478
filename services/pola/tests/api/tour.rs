//! The README's five-minute tour, and a cart that outlives tokens and devices.

use pola_core::auth::Role;
use serde_json::json;

use crate::harness::{spawn_app, uuid};

#[tokio::test]
async fn the_readme_tour_works_from_registration_to_order_history() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Admin]).await;
    let tea = app.tea(&staff, "Dimbula broken orange pekoe", 120_000, 10).await;

    // Register and sign in.
    let registered = app
        .api
        .post("/api/v1/identity/register", None, json!({"email": "Nimal@Example.LK", "password": "a long passphrase", "name": "Nimal Perera", "phone": "077 123 4567"}))
        .await
        .expect(201);
    assert_eq!(registered.get("email"), "nimal@example.lk");
    assert_eq!(registered.get("phone"), "+94771234567");
    let tokens = app.login("nimal@example.lk", "a long passphrase").await;
    assert_eq!(tokens.get("token_type"), "Bearer");
    let access = tokens.get("access_token").as_str().expect("token").to_owned();
    let refresh = tokens.get("refresh_token").as_str().expect("token").to_owned();

    // Browse and search.
    let page = app
        .api
        .get("/api/v1/catalog/products?q=dimbula&limit=5", None)
        .await
        .expect(200);
    let found = &page.get("items")[0];
    assert_eq!(uuid(&found["id"]), tea.product);
    assert_eq!(found["price"], json!({"amount_minor": 120_000, "currency": "LKR"}));
    assert_eq!(found["stock_available"], 10);
    let product = app
        .api
        .get(&format!("/api/v1/catalog/products/{}", tea.product), None)
        .await
        .expect(200);
    assert_eq!(uuid(&product.get("variants")[0]["id"]), tea.variant);

    // Add to the cart, sign out, sign in again: the cart is still there.
    let cart = app.add_to_cart(&access, tea.variant, 2).await.expect(201);
    assert_eq!(cart.get("total")["amount_minor"], 240_000);
    app.api
        .post("/api/v1/identity/logout", None, json!({"refresh_token": refresh}))
        .await
        .expect(204);
    let refused = app
        .api
        .post(
            "/api/v1/identity/token",
            None,
            json!({"grant_type": "refresh_token", "refresh_token": refresh}),
        )
        .await;
    refused.clone().expect_problem(400);
    assert_eq!(refused.body["error"], "invalid_grant");
    let again = app.login("nimal@example.lk", "a long passphrase").await;
    let access = again.get("access_token").as_str().expect("token").to_owned();
    let cart = app.api.get("/api/v1/cart", Some(&access)).await.expect(200);
    assert_eq!(cart.get("lines")[0]["quantity"], 2);
    assert_eq!(uuid(&cart.get("lines")[0]["variant_id"]), tea.variant);

    // Check out; the cart empties, the order is in the history.
    let order = app.checkout(&access, json!({})).await.expect(201);
    assert_eq!(order.get("status"), "pending_payment");
    assert_eq!(order.get("total")["amount_minor"], 240_000);
    assert_eq!(order.get("lines")[0]["quantity"], 2);
    let cart = app.api.get("/api/v1/cart", Some(&access)).await.expect(200);
    assert_eq!(cart.get("lines").as_array().map(Vec::len), Some(0));
    let history = app.api.get("/api/v1/orders", Some(&access)).await.expect(200);
    assert_eq!(history.get("items")[0]["id"], *order.get("id"));
    assert_eq!(history.get("items")[0]["item_count"], 2);
    let detail = app
        .api
        .get(&format!("/api/v1/orders/{}", uuid(order.get("id"))), Some(&access))
        .await
        .expect(200);
    assert_eq!(detail.get("history")[0]["to"], "pending_payment");
    assert_eq!(app.available(tea.product, tea.variant).await, 8);
}

#[tokio::test]
async fn a_cart_survives_token_expiry_and_a_sign_in_from_another_device() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Uva highlands", 90_000, 5).await;
    let shopper = app.shopper().await;
    let cart = app.add_to_cart(&shopper.access, tea.variant, 1).await.expect(201);
    let cart_id = cart.get("id").clone();

    // The access token expires: the API says so, and a refresh gets a working token.
    let me = app.api.get("/api/v1/identity/me", Some(&shopper.access)).await.expect(200);
    let expired = app.expired_token(uuid(me.get("id")));
    app.api.get("/api/v1/cart", Some(&expired)).await.expect_problem(401);
    let refreshed = app
        .api
        .post(
            "/api/v1/identity/token",
            None,
            json!({"grant_type": "refresh_token", "refresh_token": shopper.refresh}),
        )
        .await
        .expect(200);
    let access = refreshed.get("access_token").as_str().expect("token");
    assert_eq!(
        app.api.get("/api/v1/cart", Some(access)).await.expect(200).get("id"),
        &cart_id
    );

    // Another device signs in with the password: same cart.
    let phone = app.login(&shopper.email, &shopper.password).await;
    let cart = app
        .api
        .get("/api/v1/cart", phone.get("access_token").as_str())
        .await
        .expect(200);
    assert_eq!(cart.get("id"), &cart_id);
    assert_eq!(cart.get("lines")[0]["quantity"], 1);
}
