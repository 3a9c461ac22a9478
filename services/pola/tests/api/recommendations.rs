//! "Customers also bought", against a real MariaDB and RabbitMQ: learnt from order events as
//! orders are paid (here, accepted for cash on delivery) and undone, rebuilt in full from
//! orders, and asked for through the public API.

use std::time::{Duration, Instant};

use pola_core::{auth::Role, testing::Reply};
use serde_json::json;
use uuid::Uuid;

use crate::{
    harness::{OnSale, Shopper, TestApp, spawn_app, uuid},
    notifications::shop,
};

/// An order of `basket`, one of each, accepted for cash on delivery.
pub(crate) async fn buy(app: &TestApp, shopper: &Shopper, basket: &[OnSale]) -> Uuid {
    let lines: Vec<_> = basket
        .iter()
        .map(|p| json!({"variant_id": p.variant, "quantity": 1}))
        .collect();
    let request = json!({"lines": lines, "cash_on_delivery": true,
        "delivery": {"recipient": "Nimal Perera", "phone": "077 123 4567", "line1": "12 Galle Road", "city": "Colombo 03"}});
    let order = uuid(app.checkout(&shopper.access, request).await.expect(201).get("id"));
    app.confirm_cod(&shopper.access, order).await;
    order
}

/// The products suggested beside `products`, in order.
async fn suggested(app: &TestApp, products: &[OnSale], limit: usize) -> Vec<Uuid> {
    let ids: Vec<String> = products.iter().map(|p| p.product.to_string()).collect();
    let reply = app
        .api
        .get(
            &format!("/api/v1/recommendations?products={}&limit={limit}", ids.join(",")),
            None,
        )
        .await
        .expect(200);
    reply
        .get("products")
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| uuid(&p["id"]))
        .collect()
}

fn ids(products: &[OnSale]) -> Vec<Uuid> {
    products.iter().map(|p| p.product).collect()
}

async fn purchases_recorded(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(DISTINCT order_id) FROM purchases")
        .fetch_one(app.recommendations.pool())
        .await
        .expect("counted")
}

#[tokio::test]
async fn customers_also_bought_learns_from_purchases_forgets_undone_ones_and_leaves_out_what_cannot_be_bought() {
    let shop = shop().await;
    let app = &shop.app;
    let staff = app.staff(&[Role::Catalog]).await;
    let mut teas = vec![];
    for name in ["Kokis tea", "Kavum tea", "Aluwa tea", "Plain tea", "New season tea"] {
        teas.push(app.tea(&staff, name, 50_000, 100).await);
    }
    let [kokis, kavum, aluwa, plain, fresh] = teas[..] else {
        unreachable!()
    };
    let shopper = app.shopper().await;
    for _ in 0..3 {
        buy(app, &shopper, &[kokis, kavum, aluwa]).await;
    }
    for _ in 0..4 {
        buy(app, &shopper, &[plain]).await;
    }
    buy(app, &shopper, &[kokis, plain]).await;
    // Bought together twice more, then cancelled: those two no longer count.
    for _ in 0..2 {
        let undone = buy(app, &shopper, &[plain, fresh]).await;
        app.api
            .post(&format!("/api/v1/orders/{undone}/cancel"), Some(&shopper.access), json!({}))
            .await
            .expect(200);
    }

    // The worker learns from the events: ten orders confirmed, two of them cancelled.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let handled: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE done")
            .fetch_one(app.recommendations.pool())
            .await
            .expect("counted");
        if handled == 12 {
            break;
        }
        assert!(Instant::now() < deadline, "{handled} events handled, not 12");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(purchases_recorded(app).await, 8);

    // Kavum and aluwa go with kokis; plain tea was bought with it once (below the minimum
    // support of two) but is the tea category's bestseller, so it fills in.
    assert_eq!(suggested(app, &[kokis], 3).await, ids(&[kavum, aluwa, plain]));
    // Out of stock: left out.
    app.set_stock(&staff, aluwa.variant, 0).await;
    assert_eq!(suggested(app, &[kokis], 3).await, ids(&[kavum, plain]));
    // A cart's products are never suggested to it, even one named twice.
    assert_eq!(suggested(app, &[kokis, kavum], 3).await, ids(&[plain]));
    assert_eq!(suggested(app, &[kokis, plain, kokis], 3).await, ids(&[kavum]));
    // A new product, never bought (its two orders were cancelled): its category's bestsellers.
    assert_eq!(suggested(app, &[fresh], 3).await, ids(&[plain, kokis, kavum]));

    // Rebuilt in full from orders, it says the same; a purchase the worker missed is found,
    // and one whose undoing it missed is forgotten.
    let before = suggested(app, &[kokis], 3).await;
    let pool = app.recommendations.pool();
    let kept: Uuid = sqlx::query_scalar("SELECT order_id FROM purchases LIMIT 1")
        .fetch_one(pool)
        .await
        .expect("an order");
    sqlx::query("DELETE FROM purchases WHERE order_id = ?")
        .bind(kept)
        .execute(pool)
        .await
        .expect("deleted");
    sqlx::query(
        "INSERT INTO purchases (order_id, product_id, placed_at, recorded_at) VALUES (?, ?, NOW(6), NOW(6) - INTERVAL 1 HOUR)",
    )
    .bind(Uuid::now_v7())
    .bind(kokis.product)
    .execute(pool)
    .await
    .expect("inserted");
    let rebuilt = app
        .recommendations
        .rebuild(app.orders_client.as_ref(), |_| {})
        .await
        .expect("rebuilt");
    assert_eq!((rebuilt.purchases, rebuilt.forgotten), (8, 1));
    assert_eq!(purchases_recorded(app).await, 8);
    assert_eq!(suggested(app, &[kokis], 3).await, before);
}

#[tokio::test]
async fn suggestions_refuse_bad_input_and_answer_for_unknown_products() {
    let app = spawn_app().await;
    let ask = |query: &str| {
        let path = format!("/api/v1/recommendations{query}");
        let api = &app.api;
        async move { api.get(&path, None).await }
    };
    let field = |reply: Reply| reply.get("errors")[0]["field"].as_str().expect("a field").to_owned();
    ask("").await.expect_problem(400);
    assert_eq!(field(ask("?products=kokis").await.expect_problem(422)), "products");
    let known = Uuid::now_v7();
    assert_eq!(
        field(ask(&format!("?products={known}&limit=0")).await.expect_problem(422)),
        "limit"
    );
    assert_eq!(
        field(ask(&format!("?products={known}&limit=13")).await.expect_problem(422)),
        "limit"
    );
    let nothing = ask(&format!("?products={known}")).await.expect(200);
    assert_eq!(nothing.get("products"), &json!([]), "no purchases yet: nothing to suggest");
}
