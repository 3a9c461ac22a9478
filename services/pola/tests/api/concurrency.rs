//! Many buyers for the last units: never oversold, every loser a clean 409.

use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use pola_core::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::harness::{TestApp, spawn_app, spawn_app_with};

/// (on_hand, reserved) summed over locations, and units sold, straight from inventory's tables.
async fn stock_rows(app: &TestApp, variant: Uuid) -> (i64, i64, i64) {
    let pool = app.inventory.pool();
    let (on_hand, reserved): (i64, i64) =
        sqlx::query_as("SELECT CAST(SUM(on_hand) AS SIGNED), CAST(SUM(reserved) AS SIGNED) FROM stock WHERE variant_id = ?")
            .bind(variant)
            .fetch_one(pool)
            .await
            .expect("stock");
    let sold: Option<i64> =
        sqlx::query_scalar("SELECT CAST(SUM(quantity) AS SIGNED) FROM sales WHERE variant_id = ? AND returned_at IS NULL")
            .bind(variant)
            .fetch_one(pool)
            .await
            .expect("sales");
    (on_hand, reserved, sold.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_for_fifty_units_make_exactly_fifty_orders() {
    let app = Arc::new(spawn_app().await);
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Last flush of the season", 250_000, 50).await;

    let attempts = (0..200).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            let token = app.customer_token(Uuid::now_v7());
            app.buy_now(&token, tea.variant, 1).await
        })
    });
    let replies: Vec<_> = join_all(attempts).await.into_iter().map(|r| r.expect("task")).collect();
    let placed = replies.iter().filter(|r| r.status == 201).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!(placed, 50, "{:?}", replies.iter().find(|r| !matches!(r.status, 201 | 409)));
    assert_eq!(
        refused.len(),
        150,
        "{:?}",
        replies.iter().find(|r| !matches!(r.status, 201 | 409))
    );
    for reply in refused {
        reply.clone().expect_problem(409);
        assert_eq!(reply.body["type"], "https://pola.lk/problems/out-of-stock");
    }
    assert_eq!(stock_rows(&app, tea.variant).await, (0, 0, 50));
    assert_eq!(app.count(app.orders.pool(), "orders").await, 50);
    assert_eq!(app.available(tea.product, tea.variant).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn carts_whose_reservations_expire_mid_checkout_never_oversell() {
    let app = Arc::new(
        spawn_app_with(|c| {
            c.inventory.reservation_ttl_secs = 1;
            c.inventory.sweep_interval_secs = 1;
        })
        .await,
    );
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Silver tips", 900_000, 50).await;

    // Each buyer puts one unit in a cart, dawdles for up to two seconds (so that many
    // reservations expire and are swept while others check out), then checks out.
    let attempts = (0..200u64).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let token = app.customer_token(Uuid::now_v7());
            let added = app.add_to_cart(&token, tea.variant, 1).await;
            assert!(matches!(added.status, 201 | 409), "{added:?}");
            tokio::time::sleep(Duration::from_millis(i * 10 % 2000)).await;
            let body = if added.status == 201 {
                json!({})
            } else {
                json!({"lines": [{"variant_id": tea.variant, "quantity": 1}]})
            };
            app.checkout(&token, body).await
        })
    });
    let replies: Vec<_> = join_all(attempts).await.into_iter().map(|r| r.expect("task")).collect();
    let placed = replies.iter().filter(|r| r.status == 201).count() as i64;
    assert!(
        replies.iter().all(|r| matches!(r.status, 201 | 409)),
        "{:?}",
        replies.iter().find(|r| !matches!(r.status, 201 | 409))
    );
    assert!(placed <= 50 && placed > 0, "{placed} orders");

    let (on_hand, _, sold) = stock_rows(&app, tea.variant).await;
    assert_eq!(sold, placed);
    assert_eq!(on_hand, 50 - placed);
    assert_eq!(app.count(app.orders.pool(), "orders").await, placed);

    // Once every reservation has run out, nothing stays held.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.inventory.sweep().await.expect("sweep");
    assert_eq!(stock_rows(&app, tea.variant).await, (50 - placed, 0, placed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_never_goes_below_zero_when_staff_recount_during_checkouts() {
    let app = Arc::new(spawn_app().await);
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Recounted", 10_000, 30).await;
    let buyers = (0..60).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            let token = app.customer_token(Uuid::now_v7());
            app.buy_now(&token, tea.variant, 1).await.status
        })
    });
    let recount = {
        let app = app.clone();
        let staff = staff.clone();
        tokio::spawn(async move { app.set_stock(&staff, tea.variant, 10).await })
    };
    let statuses: Vec<u16> = join_all(buyers).await.into_iter().map(|r| r.expect("task")).collect();
    recount.await.expect("recount");
    assert!(statuses.iter().all(|s| matches!(s, 201 | 409)), "{statuses:?}");
    let (on_hand, reserved, _) = stock_rows(&app, tea.variant).await;
    assert!(on_hand >= 0 && reserved == 0, "on_hand {on_hand}, reserved {reserved}");
}

#[tokio::test]
async fn a_short_sale_in_a_batch_leaves_the_others_sold_and_a_repeated_order_sells_once() {
    use pola_inventory::{
        model::StockItem,
        store::{Sale, commit_batch},
    };
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Batched", 10_000, 5).await;
    let sale = |order: Uuid, quantity: u32| Sale {
        order,
        consume: vec![],
        items: vec![StockItem {
            variant_id: tea.variant,
            quantity,
        }],
    };
    let (first, repeated) = (Uuid::now_v7(), Uuid::now_v7());
    let batch = [
        sale(first, 2),
        sale(Uuid::now_v7(), 4),
        sale(repeated, 1),
        sale(repeated, 1),
        sale(Uuid::now_v7(), 2),
    ];
    let results = commit_batch(app.inventory.pool(), &batch, 5).await.expect("committed");
    let sold: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(sold, [true, false, true, true, true]);
    let Err(shortage) = &results[1] else {
        panic!("the second sale is short")
    };
    assert_eq!(shortage[0].available, 3);
    // 2 + 1 (the repeated order once) + 2 = 5: nothing left, nothing oversold.
    assert_eq!(stock_rows(&app, tea.variant).await, (0, 0, 5));
}
