//! The persistent cart: guests, merging, stock held, and privacy.

use pola_core::auth::Role;
use serde_json::json;

use crate::harness::{SendReply, spawn_app, uuid};

#[tokio::test]
async fn a_guest_cart_merges_into_the_customers_cart_on_sign_in() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Nuwara Eliya", 80_000, 20).await;
    let other = app.tea(&staff, "Ruhuna", 60_000, 20).await;

    // A guest adds tea and gets a cart token, in the body and as a header.
    let guest = app
        .api
        .post("/api/v1/cart/lines", None, json!({"variant_id": tea.variant, "quantity": 2}))
        .await
        .expect(201);
    let token = guest.get("cart_token").as_str().expect("a cart token").to_owned();
    assert_eq!(guest.header("x-cart-token"), Some(token.as_str()));
    let again = app
        .api
        .request(reqwest::Method::POST, "/api/v1/cart/lines")
        .header("X-Cart-Token", &token)
        .json(&json!({"variant_id": other.variant, "quantity": 1}))
        .send_reply()
        .await
        .expect(201);
    assert_eq!(again.get("lines").as_array().map(Vec::len), Some(2));

    // The customer already has one of the same tea; after signing in the carts merge.
    let shopper = app.shopper().await;
    app.add_to_cart(&shopper.access, tea.variant, 1).await.expect(201);
    let merged = app
        .api
        .request(reqwest::Method::GET, "/api/v1/cart")
        .bearer_auth(&shopper.access)
        .header("X-Cart-Token", &token)
        .send_reply()
        .await
        .expect(200);
    let mut lines: Vec<(uuid::Uuid, i64)> = merged
        .get("lines")
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| (uuid(&l["variant_id"]), l["quantity"].as_i64().expect("quantity")))
        .collect();
    lines.sort();
    let mut expected = vec![(tea.variant, 3), (other.variant, 1)];
    expected.sort();
    assert_eq!(lines, expected);
    assert_eq!(merged.get("total")["amount_minor"], 3 * 80_000 + 60_000);

    // The guest cart is gone; the stock held matches the merged cart.
    let gone = app
        .api
        .request(reqwest::Method::GET, "/api/v1/cart")
        .header("X-Cart-Token", &token)
        .send_reply()
        .await
        .expect(200);
    assert_eq!(gone.get("lines").as_array().map(Vec::len), Some(0));
    assert_eq!(app.available(tea.product, tea.variant).await, 17);
    assert_eq!(app.available(other.product, other.variant).await, 19);
}

#[tokio::test]
async fn adding_more_than_is_available_is_a_409_that_says_how_many_can_be_had() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Kandy mid-grown", 50_000, 3).await;
    let first = app.shopper().await;
    let second = app.shopper().await;

    let short = app.add_to_cart(&first.access, tea.variant, 5).await.expect_problem(409);
    assert_eq!(short.body["available"], 3);
    assert_eq!(short.body["type"], "https://pola.lk/problems/out-of-stock");
    app.add_to_cart(&first.access, tea.variant, 3).await.expect(201);
    let none = app.add_to_cart(&second.access, tea.variant, 1).await.expect_problem(409);
    assert_eq!(none.body["available"], 0);
    assert_eq!(app.available(tea.product, tea.variant).await, 0);
}

#[tokio::test]
async fn changing_and_removing_lines_moves_the_stock_held() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Sabaragamuwa", 40_000, 5).await;
    let shopper = app.shopper().await;
    let cart = app.add_to_cart(&shopper.access, tea.variant, 2).await.expect(201);
    let line = uuid(&cart.get("lines")[0]["id"]);
    assert_eq!(app.available(tea.product, tea.variant).await, 3);
    let updated = app
        .api
        .patch(
            &format!("/api/v1/cart/lines/{line}"),
            Some(&shopper.access),
            json!({"quantity": 4}),
        )
        .await
        .expect(200);
    assert_eq!(updated.get("lines")[0]["quantity"], 4);
    assert_eq!(app.available(tea.product, tea.variant).await, 1);
    app.api
        .patch(
            &format!("/api/v1/cart/lines/{line}"),
            Some(&shopper.access),
            json!({"quantity": 6}),
        )
        .await
        .expect_problem(409);
    assert_eq!(
        app.available(tea.product, tea.variant).await,
        1,
        "a refused change keeps what was held"
    );
    app.api
        .delete(&format!("/api/v1/cart/lines/{line}"), Some(&shopper.access))
        .await
        .expect(200);
    assert_eq!(app.available(tea.product, tea.variant).await, 5);
}

#[tokio::test]
async fn one_customer_cannot_see_or_change_anothers_cart() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Uda Pussellawa", 70_000, 10).await;
    let owner = app.shopper().await;
    let intruder = app.shopper().await;
    let cart = app.add_to_cart(&owner.access, tea.variant, 2).await.expect(201);
    let line = uuid(&cart.get("lines")[0]["id"]);

    app.api
        .patch(
            &format!("/api/v1/cart/lines/{line}"),
            Some(&intruder.access),
            json!({"quantity": 1}),
        )
        .await
        .expect_problem(404);
    app.api
        .delete(&format!("/api/v1/cart/lines/{line}"), Some(&intruder.access))
        .await
        .expect_problem(404);
    app.api
        .patch(&format!("/api/v1/cart/lines/{line}"), None, json!({"quantity": 1}))
        .await
        .expect_problem(404);
    let theirs = app.api.get("/api/v1/cart", Some(&intruder.access)).await.expect(200);
    assert_eq!(theirs.get("lines").as_array().map(Vec::len), Some(0));
    let mine = app.api.get("/api/v1/cart", Some(&owner.access)).await.expect(200);
    assert_eq!(mine.get("lines")[0]["quantity"], 2);
}

/// A guest adding `quantity` of `variant` to a new cart from `address` (as the edge would name it,
/// and, behind the edge, as the connection really comes from).
async fn guest_adds(
    app: &crate::harness::TestApp,
    address: [u8; 4],
    variant: uuid::Uuid,
    quantity: u32,
) -> pola_core::testing::Reply {
    let address = std::net::IpAddr::from(address);
    reqwest::Client::builder()
        .local_address(address)
        .build()
        .expect("a client")
        .post(format!("{}/api/v1/cart/lines", app.api.base))
        .header("x-forwarded-for", address.to_string())
        .json(&json!({"variant_id": variant, "quantity": quantity}))
        .send_reply()
        .await
}

#[tokio::test]
async fn guest_carts_from_one_address_cannot_hold_a_products_last_units_beyond_the_bound() {
    let app = spawn_app().await;
    let limits = app.config.cart.clone();
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Hoarded Dimbula", 90_000, 100).await;
    let hoarder = [127, 0, 0, 7];

    // The attack that held a whole product: ten guest carts of 100 units each, from one address.
    let too_many = guest_adds(&app, hoarder, tea.variant, 100).await.expect_problem(409);
    assert_eq!(too_many.body["type"], "https://pola.lk/problems/cart-limit");
    let mut held = 0;
    for _ in 0..10 {
        let reply = guest_adds(&app, hoarder, tea.variant, limits.guest_max_per_variant).await;
        match reply.status {
            201 => held += limits.guest_max_per_variant,
            _ => {
                let reply = reply.expect_problem(409);
                assert_eq!(reply.body["type"], "https://pola.lk/problems/hold-limit", "{}", reply.body);
            }
        }
    }
    assert_eq!(held, limits.address_max_per_variant, "one address holds at most its bound");
    let left = 100 - i64::from(held);
    assert_eq!(app.available(tea.product, tea.variant).await, left);

    // Everybody else can still have the rest: a guest elsewhere, and a signed-in customer on the
    // same address (an account is the unit there, not the address).
    guest_adds(&app, [127, 0, 0, 8], tea.variant, 10).await.expect(201);
    let shopper = app.shopper().await;
    app.add_to_cart(&shopper.access, tea.variant, 40).await.expect(201);
    assert_eq!(app.available(tea.product, tea.variant).await, left - 50);

    // A large line holds its units for a short time only.
    let ttl: Vec<i64> =
        sqlx::query_scalar("SELECT TIMESTAMPDIFF(SECOND, created_at, expires_at) FROM reservations ORDER BY created_at")
            .fetch_all(app.inventory.pool())
            .await
            .expect("holds");
    let short = i64::try_from(limits.short_hold_secs).expect("small");
    assert!(
        ttl.iter().filter(|t| **t <= short).count() >= 3,
        "the lines of 10 and 40 hold briefly: {ttl:?}"
    );

    // What addresses hold is in the metrics (without the addresses).
    let metrics = app.ops.get("/metrics", None).await.expect(200);
    let text = metrics.body.as_str().expect("text");
    assert!(text.contains("inventory_holds_over_limit_total{limit=\"variant\"}"), "{text}");
    assert!(text.contains("inventory_units_held_per_holder"), "{text}");
}
