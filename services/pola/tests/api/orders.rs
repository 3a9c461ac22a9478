//! Checkout, idempotency, history, cancellation and the status machine.

use futures::future::join_all;
use pola_core::auth::Role;
use pola_inventory::{client::InventoryClient, model::StockItem};
use pola_orders::model::{PlaceOrder, RequestedLine};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{SendReply, spawn_app, uuid};

#[tokio::test]
async fn replaying_a_checkout_returns_the_same_order_and_sells_once() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Dimbula", 100_000, 10).await;
    let shopper = app.shopper().await;
    let body = json!({"lines": [{"variant_id": tea.variant, "quantity": 1}]});
    let place = |body: serde_json::Value| {
        app.api
            .request(reqwest::Method::POST, "/api/v1/orders")
            .bearer_auth(&shopper.access)
            .header("Idempotency-Key", "checkout-7f3a")
            .json(&body)
            .send_reply()
    };

    let first = place(body.clone()).await.expect(201);
    let replies = join_all((0..5).map(|_| place(body.clone()))).await;
    for reply in replies {
        let reply = reply.expect(201);
        assert_eq!(reply.get("id"), first.get("id"));
        assert_eq!(reply.header("idempotent-replayed"), Some("true"));
    }
    assert_eq!(app.available(tea.product, tea.variant).await, 9);

    let other = place(json!({"lines": [{"variant_id": tea.variant, "quantity": 2}]}))
        .await
        .expect_problem(422);
    assert_eq!(other.body["type"], "https://pola.lk/problems/idempotency-key-reused");
    assert_eq!(app.available(tea.product, tea.variant).await, 9);
    let history = app.api.get("/api/v1/orders", Some(&shopper.access)).await.expect(200);
    assert_eq!(history.get("items").as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_order() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Uva", 100_000, 10).await;
    let shopper = app.shopper().await;
    let body = json!({"lines": [{"variant_id": tea.variant, "quantity": 2}]});
    let replies = join_all((0..8).map(|_| {
        app.api
            .request(reqwest::Method::POST, "/api/v1/orders")
            .bearer_auth(&shopper.access)
            .header("Idempotency-Key", "same-key")
            .json(&body)
            .send_reply()
    }))
    .await;
    let ids: std::collections::HashSet<String> = replies.into_iter().map(|r| r.expect(201).get("id").to_string()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.available(tea.product, tea.variant).await, 8);
}

#[tokio::test]
async fn a_checkout_without_an_idempotency_key_is_refused() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    app.api
        .post("/api/v1/orders", Some(&shopper.access), json!({}))
        .await
        .expect_problem(400);
    let bad = app
        .api
        .request(reqwest::Method::POST, "/api/v1/orders")
        .bearer_auth(&shopper.access)
        .header("Idempotency-Key", "has spaces in it")
        .json(&json!({}))
        .send_reply()
        .await;
    bad.expect_problem(400);
}

#[tokio::test]
async fn an_empty_cart_or_an_archived_product_cannot_be_checked_out() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Kelani valley", 30_000, 10).await;
    let shopper = app.shopper().await;
    let empty = app.checkout(&shopper.access, json!({})).await.expect_problem(422);
    assert_eq!(empty.body["type"], "https://pola.lk/problems/empty-cart");
    app.api
        .post(
            &format!("/api/v1/catalog/products/{}/archive", tea.product),
            Some(&staff),
            json!({}),
        )
        .await
        .expect(200);
    app.buy_now(&shopper.access, tea.variant, 1).await.expect_problem(422);
    assert_eq!(app.count(app.orders.pool(), "orders").await, 0);
}

#[tokio::test]
async fn cancelling_before_payment_returns_the_stock_once_and_a_repeat_answers_the_same() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Ruhuna low-grown", 45_000, 5).await;
    let shopper = app.shopper().await;
    let order = app.buy_now(&shopper.access, tea.variant, 3).await.expect(201);
    let id = uuid(order.get("id"));
    assert_eq!(app.available(tea.product, tea.variant).await, 2);
    let cancelled = app
        .api
        .post(&format!("/api/v1/orders/{id}/cancel"), Some(&shopper.access), json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled.get("status"), "cancelled");
    assert_eq!(app.available(tea.product, tea.variant).await, 5);
    let again = app
        .api
        .post(&format!("/api/v1/orders/{id}/cancel"), Some(&shopper.access), json!({}))
        .await
        .expect(200);
    assert_eq!(again.get("status"), "cancelled");
    assert_eq!(app.available(tea.product, tea.variant).await, 5);

    // A cancellation that died after its status change and before the stock's return: repeating
    // it puts the stock back.
    let order = app.buy_now(&shopper.access, tea.variant, 2).await.expect(201);
    let id = uuid(order.get("id"));
    sqlx::query("UPDATE orders SET status = 'cancelled' WHERE id = ?")
        .bind(id)
        .execute(app.orders.pool())
        .await
        .expect("status set");
    assert_eq!(app.available(tea.product, tea.variant).await, 3);
    app.api
        .post(&format!("/api/v1/orders/{id}/cancel"), Some(&shopper.access), json!({}))
        .await
        .expect(200);
    assert_eq!(app.available(tea.product, tea.variant).await, 5);
}

#[tokio::test]
async fn one_customer_cannot_see_or_cancel_anothers_order() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Galle", 45_000, 5).await;
    let owner = app.shopper().await;
    let intruder = app.shopper().await;
    let order = app.buy_now(&owner.access, tea.variant, 1).await.expect(201);
    let id = uuid(order.get("id"));
    app.api
        .get(&format!("/api/v1/orders/{id}"), Some(&intruder.access))
        .await
        .expect_problem(404);
    app.api
        .post(&format!("/api/v1/orders/{id}/cancel"), Some(&intruder.access), json!({}))
        .await
        .expect_problem(404);
    let theirs = app.api.get("/api/v1/orders", Some(&intruder.access)).await.expect(200);
    assert_eq!(theirs.get("items").as_array().map(Vec::len), Some(0));
    app.api
        .get(&format!("/api/v1/orders/{id}"), Some(&owner.access))
        .await
        .expect(200);
}

#[tokio::test]
async fn staff_move_an_order_through_its_life_and_illegal_moves_are_refused() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let finance = app.staff(&[Role::Finance]).await;
    let support = app.staff(&[Role::Support]).await;
    let fulfilment = app.staff(&[Role::Fulfilment]).await;
    let tea = app.tea(&staff, "Matale", 45_000, 5).await;
    let shopper = app.shopper().await;
    let order = app.buy_for_delivery(&shopper.access, tea.variant, 1).await.expect(201);
    let id = uuid(order.get("id"));
    let step = |name: &str| format!("/api/v1/fulfilment/orders/{id}/{name}");

    app.api
        .post(&step("pack"), Some(&support), json!({}))
        .await
        .expect_problem(403);
    app.api
        .post(&step("pack"), Some(&fulfilment), json!({}))
        .await
        .expect_problem(409);
    app.api
        .post(
            &step("ship"),
            Some(&fulfilment),
            json!({"courier": "manual", "waybill": "WB1"}),
        )
        .await
        .expect_problem(409);
    app.api
        .post(&step("pack"), Some(&shopper.access), json!({}))
        .await
        .expect_problem(404);
    app.fulfil(id, &finance, &fulfilment).await;
    app.api
        .post(&step("pack"), Some(&fulfilment), json!({}))
        .await
        .expect_problem(409);
    let refunds = format!("/api/v1/payments/staff/orders/{id}/refunds");
    app.api
        .post(&refunds, Some(&fulfilment), json!({"reason": "Customer changed their mind"}))
        .await
        .expect_problem(403);
    // A bank transfer is refunded by hand: finance says which transfer gave it back.
    app.api
        .post(&refunds, Some(&finance), json!({"reason": "Customer changed their mind"}))
        .await
        .expect_problem(422);
    app.api
        .post(
            &refunds,
            Some(&finance),
            json!({"reason": "Customer changed their mind", "reference": "CMB-REFUND-1"}),
        )
        .await
        .expect(200);
    let done = app
        .api
        .get(&format!("/api/v1/orders/{id}"), Some(&shopper.access))
        .await
        .expect(200);
    let steps: Vec<&str> = done
        .get("history")
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["to"].as_str().expect("status"))
        .collect();
    assert_eq!(
        steps,
        ["pending_payment", "paid", "packed", "shipped", "delivered", "refunded"]
    );
    assert_eq!(
        done.get("shipment")["waybill"],
        format!("WB-{}", &id.simple().to_string()[24..])
    );
    app.api
        .post(&format!("/api/v1/orders/{id}/cancel"), Some(&shopper.access), json!({}))
        .await
        .expect_problem(409);
}

#[tokio::test]
async fn order_history_pages_newest_first() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Kandy", 10_000, 50).await;
    let shopper = app.shopper().await;
    let mut placed = vec![];
    for _ in 0..5 {
        let order = app.buy_now(&shopper.access, tea.variant, 1).await.expect(201);
        placed.push(order.get("id").clone());
    }
    placed.reverse();
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/orders?limit=2&cursor={c}"),
            None => "/api/v1/orders?limit=2".to_owned(),
        };
        let page = app.api.get(&path, Some(&shopper.access)).await.expect(200);
        seen.extend(page.get("items").as_array().expect("items").iter().map(|o| o["id"].clone()));
        match page.get("next_cursor").as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, placed);
}

/// Leaves what a process killed between the sale and the order insert leaves: the key's row,
/// and the units sold to its order id, but no order.
async fn die_after_selling(
    app: &crate::harness::TestApp,
    customer: Uuid,
    key: &str,
    request: &PlaceOrder,
    age: chrono::Duration,
) -> Uuid {
    use sha2::Digest;
    let order = Uuid::now_v7();
    let hash = sha2::Sha256::digest(serde_json::to_vec(request).expect("json"));
    sqlx::query(
        "INSERT INTO idempotency_keys (customer_id, idem_key, request_hash, order_id, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(customer)
    .bind(key)
    .bind(&hash[..])
    .bind(order)
    .bind(chrono::Utc::now() - age)
    .execute(app.orders.pool())
    .await
    .expect("key row");
    let lines = request.lines.as_ref().expect("lines");
    let items: Vec<StockItem> = lines
        .iter()
        .map(|l| StockItem {
            variant_id: l.variant_id,
            quantity: u32::try_from(l.quantity).expect("quantity"),
        })
        .collect();
    app.inventory.commit(order, &[], &items).await.expect("sold");
    order
}

#[tokio::test]
async fn a_retry_after_a_crash_between_sale_and_order_completes_the_same_order_once() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Crash-tested", 10_000, 5).await;
    let customer = Uuid::now_v7();
    let request = PlaceOrder {
        lines: Some(vec![RequestedLine {
            variant_id: tea.variant,
            quantity: 2,
        }]),
        delivery: None,
        codes: None,
        cash_on_delivery: false,
        business: None,
    };
    let order = die_after_selling(&app, customer, "retry-me", &request, chrono::Duration::zero()).await;
    assert_eq!(app.available(tea.product, tea.variant).await, 3);

    let retry = app
        .api
        .request(reqwest::Method::POST, "/api/v1/orders")
        .bearer_auth(app.customer_token(customer))
        .header("Idempotency-Key", "retry-me")
        .json(&request)
        .send_reply()
        .await
        .expect(201);
    assert_eq!(uuid(retry.get("id")), order);
    assert_eq!(
        app.available(tea.product, tea.variant).await,
        3,
        "the retry sold nothing more"
    );
}

#[tokio::test]
async fn a_checkout_abandoned_after_selling_gives_its_stock_back() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Abandoned", 10_000, 5).await;
    let request = PlaceOrder {
        lines: Some(vec![RequestedLine {
            variant_id: tea.variant,
            quantity: 2,
        }]),
        delivery: None,
        codes: None,
        cash_on_delivery: false,
        business: None,
    };
    die_after_selling(&app, Uuid::now_v7(), "old", &request, chrono::Duration::minutes(10)).await;
    die_after_selling(&app, Uuid::now_v7(), "recent", &request, chrono::Duration::zero()).await;
    assert_eq!(app.available(tea.product, tea.variant).await, 1);

    let reaped = app
        .orders
        .reap_abandoned_checkouts(std::time::Duration::from_secs(120))
        .await
        .expect("reaped");
    assert_eq!(reaped, 1, "only the old one: the recent one may still be retried");
    assert_eq!(app.available(tea.product, tea.variant).await, 3);
    assert_eq!(app.count(app.orders.pool(), "idempotency_keys").await, 1);
    assert_eq!(
        app.orders
            .reap_abandoned_checkouts(std::time::Duration::from_secs(120))
            .await
            .expect("reaped"),
        0
    );
}
