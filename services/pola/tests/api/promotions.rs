//! Promotions as customers and staff meet them: limits exact under concurrency, uses given
//! back, prices that say why, memberships, delivery quotes and audited staff writes.

use std::collections::HashMap;

use futures::future::join_all;
use pola_core::auth::Role;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use uuid::Uuid;

use pola_core::testing::Reply;

use crate::harness::{OnSale, SendReply, TestApp, spawn_app, spawn_app_with, uuid};

/// Creates a promotion through the staff API; its id.
pub(crate) async fn promotion(app: &TestApp, staff: &str, body: Value) -> Uuid {
    uuid(
        app.api
            .post("/api/v1/promotions", Some(staff), body)
            .await
            .expect(201)
            .get("id"),
    )
}

/// A checkout of `quantity` of `tea` (no delivery), with `codes`.
async fn buy(app: &TestApp, token: &str, tea: OnSale, quantity: i64, codes: &[&str]) -> Reply {
    app.checkout(
        token,
        json!({"lines": [{"variant_id": tea.variant, "quantity": quantity}], "codes": codes}),
    )
    .await
}

/// The promotion's live uses as its limit counts them (its row), and as its recorded uses do.
async fn uses(app: &TestApp, staff: &str, id: Uuid) -> (i64, i64) {
    let counted: i64 = sqlx::query_scalar("SELECT uses FROM promotions WHERE id = ?")
        .bind(id)
        .fetch_one(app.promotions.pool())
        .await
        .expect("the promotion's row");
    let usage = app
        .api
        .get(&format!("/api/v1/promotions/{id}/usage"), Some(staff))
        .await
        .expect(200);
    (counted, usage.get("uses").as_i64().expect("uses"))
}

fn discounted(order: &Value, code: &str) -> bool {
    order["adjustments"]
        .as_array()
        .is_some_and(|a| a.iter().any(|adj| adj["code"] == code))
}

#[tokio::test]
async fn two_hundred_customers_race_for_a_code_limited_to_fifty_and_exactly_fifty_get_it() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Raced", 100_000, 1_000).await;
    let id = promotion(
        &app,
        &staff,
        json!({"name": "Fifty lucky", "code": "LUCKY50", "kind": "percent_off", "value": 10, "applies_to": "order", "usage_limit": 50}),
    )
    .await;
    let customers: Vec<String> = (0..200).map(|_| app.customer_token(Uuid::now_v7())).collect();
    let replies = join_all(customers.iter().map(|token| buy(&app, token, tea, 1, &["lucky50"]))).await;
    let mut won = 0;
    let mut lost = vec![];
    for (token, reply) in customers.iter().zip(replies) {
        match reply.status {
            201 => {
                assert!(discounted(&reply.body, "LUCKY50"), "{}", reply.body);
                assert_eq!(reply.get("total")["amount_minor"], 90_000);
                won += 1;
            }
            409 => {
                let problem = reply.expect_problem(409);
                assert_eq!(problem.get("type"), "https://pola.lk/problems/promotion-unavailable");
                assert_eq!(problem.get("code"), "LUCKY50", "the problem names the code");
                assert_eq!(problem.get("reason"), "used-up");
                lost.push(token);
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((won, lost.len()), (50, 150));
    assert_eq!(uses(&app, &staff, id).await, (50, 50));
    // The others check out without it.
    let again = join_all(lost.iter().map(|token| buy(&app, token, tea, 1, &[]))).await;
    for reply in again {
        assert_eq!(reply.expect(201).get("total")["amount_minor"], 100_000);
    }
    assert_eq!(app.available(tea.product, tea.variant).await, 800);
}

#[tokio::test]
async fn one_customer_s_twenty_parallel_checkouts_use_a_once_per_customer_code_once() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Once", 50_000, 100).await;
    let id = promotion(
        &app,
        &staff,
        json!({"name": "Once each", "code": "ONCE", "kind": "amount_off", "value": 100, "applies_to": "order", "per_customer_limit": 1,
               "usage_limit": 1000}),
    )
    .await;
    let token = app.customer_token(Uuid::now_v7());
    let replies = join_all((0..20).map(|_| buy(&app, &token, tea, 1, &["ONCE"]))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    for reply in replies.into_iter().filter(|r| r.status == 409) {
        assert_eq!(reply.expect_problem(409).get("reason"), "customer-limit-reached");
    }
    // The refused checkouts moved the global counter too, then gave it back with the rest.
    assert_eq!(uses(&app, &staff, id).await, (1, 1));
    // Another customer still may.
    let other = app.customer_token(Uuid::now_v7());
    assert!(discounted(
        &buy(&app, &other, tea, 1, &["once"]).await.expect(201).body,
        "ONCE"
    ));
}

#[tokio::test]
async fn a_money_budget_is_never_overspent_by_parallel_checkouts() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Budgeted", 95_000, 100).await;
    // 10% of Rs 950 is Rs 95: ten orders spend Rs 950 of Rs 1,000, an eleventh would overspend.
    let id = promotion(
        &app,
        &staff,
        json!({"name": "Small budget", "code": "BUDGET", "kind": "percent_off", "value": 10, "applies_to": "order", "budget": 1000}),
    )
    .await;
    let customers: Vec<String> = (0..30).map(|_| app.customer_token(Uuid::now_v7())).collect();
    let replies = join_all(customers.iter().map(|token| buy(&app, token, tea, 1, &["BUDGET"]))).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(won, 10);
    for reply in replies.into_iter().filter(|r| r.status != 201) {
        assert_eq!(reply.expect_problem(409).get("reason"), "budget-exhausted");
    }
    let view = app
        .api
        .get(&format!("/api/v1/promotions/{id}"), Some(&staff))
        .await
        .expect(200);
    assert_eq!(view.get("cost")["amount_minor"], 95_000);
    assert_eq!(view.get("uses"), 10);
    let spent: i64 = sqlx::query_scalar("SELECT spent_minor FROM promotions WHERE id = ?")
        .bind(id)
        .fetch_one(app.promotions.pool())
        .await
        .expect("spent");
    assert_eq!(spent, 95_000);
}

/// What the random mix did to one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Placed,
    Cancelled,
    Expired,
    Refunded,
}

#[tokio::test]
async fn after_a_thousand_random_checkouts_cancellations_expiries_and_refunds_the_uses_are_the_orders_that_hold_them() {
    // The test expires the orders it ages itself: the payments jobs' own round (every 30 s) took
    // one of them first on a busy CI machine.
    let app = spawn_app_with(|config| config.payments.jobs_interval_secs = 3600).await;
    let staff = app.staff(&[Role::Catalog]).await;
    let finance = app.staff(&[Role::Finance]).await;
    app.deliver_free(&staff).await;
    let tea = app.tea(&staff, "Mixed", 20_000, 100_000).await;
    let id = promotion(
        &app,
        &staff,
        json!({"name": "Mix", "code": "MIX", "kind": "percent_off", "value": 5, "applies_to": "order", "usage_limit": 100000}),
    )
    .await;
    let customers: Vec<String> = (0..40).map(|_| app.customer_token(Uuid::now_v7())).collect();
    let mut rng = StdRng::seed_from_u64(14);
    let mut orders: HashMap<Uuid, (usize, Fate)> = HashMap::new();
    let mut operations = 0;
    while operations < 1_000 {
        // A round: twenty checkouts and cancellations at once, then expiries and refunds.
        let mut checkouts = vec![];
        let mut cancels = vec![];
        for _ in 0..20 {
            let live: Vec<Uuid> = orders
                .iter()
                .filter(|(_, (_, fate))| *fate == Fate::Placed)
                .map(|(id, _)| *id)
                .collect();
            if live.is_empty() || rng.random_bool(0.6) {
                checkouts.push(rng.random_range(0..customers.len()));
            } else {
                let order = live[rng.random_range(0..live.len())];
                if !cancels.contains(&order) {
                    cancels.push(order);
                }
            }
        }
        let placing = join_all(checkouts.iter().map(|c| buy(&app, &customers[*c], tea, 1, &["MIX"])));
        let cancel_paths: Vec<(String, &String)> = cancels
            .iter()
            .map(|order| (format!("/api/v1/orders/{order}/cancel"), &customers[orders[order].0]))
            .collect();
        let cancelling = join_all(
            cancel_paths
                .iter()
                .map(|(path, customer)| app.api.post(path, Some(customer.as_str()), json!({}))),
        );
        let (placed, cancelled) = tokio::join!(placing, cancelling);
        for (customer, reply) in checkouts.iter().zip(placed) {
            let reply = reply.expect(201);
            assert!(discounted(&reply.body, "MIX"));
            orders.insert(uuid(reply.get("id")), (*customer, Fate::Placed));
        }
        for (order, reply) in cancels.iter().zip(cancelled) {
            reply.expect(200);
            orders.get_mut(order).expect("known").1 = Fate::Cancelled;
        }
        operations += checkouts.len() + cancels.len();
        let live: Vec<Uuid> = orders
            .iter()
            .filter(|(_, (_, fate))| *fate == Fate::Placed)
            .map(|(id, _)| *id)
            .collect();
        // Some expire unpaid.
        let expiring: Vec<Uuid> = live.iter().filter(|_| rng.random_bool(0.08)).copied().collect();
        for order in &expiring {
            sqlx::query("UPDATE orders SET created_at = created_at - INTERVAL 2 HOUR WHERE id = ?")
                .bind(order)
                .execute(app.orders.pool())
                .await
                .expect("aged");
        }
        if !expiring.is_empty() {
            assert_eq!(app.payments.expire_unpaid().await.expect("expired"), expiring.len());
        }
        for order in &expiring {
            orders.get_mut(order).expect("known").1 = Fate::Expired;
        }
        operations += expiring.len();
        // One is paid by bank transfer and refunded in full.
        if let Some(order) = live
            .iter()
            .find(|o| !expiring.contains(o))
            .copied()
            .filter(|_| rng.random_bool(0.3))
        {
            refund_by_bank_transfer(&app, &customers[orders[&order].0], &finance, order).await;
            orders.get_mut(&order).expect("known").1 = Fate::Refunded;
            operations += 1;
        }
    }
    let held = orders.values().filter(|(_, fate)| *fate == Fate::Placed).count() as i64;
    let fates: Vec<Fate> = orders.values().map(|(_, f)| *f).collect();
    for fate in [Fate::Cancelled, Fate::Expired, Fate::Refunded] {
        assert!(fates.contains(&fate), "the mix had no {fate:?}");
    }
    assert_eq!(
        uses(&app, &staff, id).await,
        (held, held),
        "{} orders, {held} holding a use",
        orders.len()
    );
    // And the orders service agrees on which orders stand.
    let standing: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE status NOT IN ('cancelled', 'refunded', 'returned') AND JSON_CONTAINS(pricing, '\"MIX\"', '$.codes')",
    )
    .fetch_one(app.orders.pool())
    .await
    .expect("count");
    assert_eq!(standing, held);
}

/// The customer chooses a bank transfer, finance confirms it and then refunds all of it.
async fn refund_by_bank_transfer(app: &TestApp, customer: &str, finance: &str, order: Uuid) {
    app.api
        .post(
            &format!("/api/v1/payments/orders/{order}/bank-transfer"),
            Some(customer),
            json!({}),
        )
        .await
        .expect(200);
    let total = app
        .api
        .get(&format!("/api/v1/orders/{order}"), Some(customer))
        .await
        .expect(200)
        .get("total")["amount_minor"]
        .clone();
    app.api
        .post(
            &format!("/api/v1/payments/staff/orders/{order}/bank-transfer"),
            Some(finance),
            json!({"amount_minor": total, "slip_reference": format!("SLIP-{}", order.simple())}),
        )
        .await
        .expect(200);
    app.api
        .post(
            &format!("/api/v1/payments/staff/orders/{order}/refunds"),
            Some(finance),
            json!({"amount_minor": total, "reason": "Changed their mind", "reference": format!("RF-{}", order.simple())}),
        )
        .await
        .expect(200);
}

#[tokio::test]
async fn the_cart_and_the_order_say_what_each_promotion_took_and_why_a_code_did_not_apply() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Explained", 100_000, 50).await;
    promotion(
        &app,
        &staff,
        json!({"name": "Tea week", "kind": "percent_off", "value": 10, "eligibility": {"product_ids": [tea.product]}}),
    )
    .await;
    promotion(
        &app,
        &staff,
        json!({"name": "Rs 500 off Rs 5,000", "code": "BIG500", "kind": "amount_off", "value": 500, "applies_to": "order",
               "eligibility": {"min_spend": 5000}}),
    )
    .await;
    promotion(
        &app,
        &staff,
        json!({"name": "Past", "code": "OLDIE", "kind": "percent_off", "value": 50, "starts_at": "2025-01-01", "ends_at": "2025-02-01"}),
    )
    .await;
    let token = app.shopper().await.access;
    app.add_to_cart(&token, tea.variant, 3).await.expect(201);
    let cart = app
        .api
        .request_as(reqwest::Method::PUT, "/api/v1/cart/codes", Some(&token))
        .json(&json!({"codes": ["big500", "oldie", "nosuch"]}))
        .send_reply()
        .await
        .expect(200);
    assert_eq!(cart.get("codes"), &json!(["BIG500", "OLDIE", "NOSUCH"]));
    let rejected: Vec<(String, String)> = cart
        .get("rejected_codes")
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap_or("").into(),
                r["reason"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    // Rs 3,000 less 10% is Rs 2,700: below the Rs 5,000 minimum.
    assert!(
        rejected.contains(&("BIG500".into(), "min-spend-not-met".into())),
        "{rejected:?}"
    );
    assert!(rejected.contains(&("OLDIE".into(), "expired".into())), "{rejected:?}");
    assert!(rejected.contains(&("NOSUCH".into(), "unknown".into())), "{rejected:?}");
    let adjustments = cart.get("adjustments").as_array().expect("a list");
    assert_eq!(adjustments.len(), 1);
    assert_eq!(adjustments[0]["label"], "Tea week");
    assert_eq!(adjustments[0]["kind"], "percent_off");
    assert_eq!(adjustments[0]["amount"]["amount_minor"], -30_000);
    assert_eq!(cart.get("total")["amount_minor"], 270_000);
    // 270000 × 18 / 118 = 41186.44
    assert_eq!(cart.get("vat")["amount"]["amount_minor"], 41_186);

    // A delivery quote for the cart: Kandy, 3 × 250 g in the first kilogram.
    let quote = app.api.get("/api/v1/cart?district=kandy", Some(&token)).await.expect(200);
    assert_eq!(quote.get("delivery_charge")["zone"], "island");
    assert_eq!(quote.get("delivery_fee")["amount_minor"], 45_000);
    assert_eq!(quote.get("total")["amount_minor"], 315_000);
    app.api
        .get("/api/v1/cart?district=Atlantis", Some(&token))
        .await
        .expect_problem(422);

    // Checking out with a code that does not apply is refused, naming it; without it, the order
    // keeps the adjustments as they were.
    let refused = app
        .checkout(
            &token,
            json!({"delivery": {"recipient": "Kamala", "phone": "0771234567", "line1": "1 Hill St", "city": "Kandy"}}),
        )
        .await
        .expect_problem(409);
    assert!(
        ["BIG500", "OLDIE", "NOSUCH"].contains(&refused.get("code").as_str().unwrap_or("")),
        "{}",
        refused.body
    );
    let order = app
        .checkout(
            &token,
            json!({"codes": [], "delivery": {"recipient": "Kamala", "phone": "0771234567", "line1": "1 Hill St", "city": "Kandy"}}),
        )
        .await
        .expect(201);
    assert_eq!(order.get("total")["amount_minor"], 315_000);
    assert_eq!(order.get("delivery_fee")["amount_minor"], 45_000);
    assert_eq!(order.get("adjustments")[0]["amount"]["amount_minor"], -30_000);
    assert_eq!(order.get("lines")[0]["discount"]["amount_minor"], -30_000);
    // 315000 × 18 / 118 = 48050.85
    assert_eq!(order.get("vat")["amount"]["amount_minor"], 48_051);
    assert_eq!(order.get("vat")["rate_percent"], "18");
    let id = uuid(order.get("id"));
    let again = app.api.get(&format!("/api/v1/orders/{id}"), Some(&token)).await.expect(200);
    assert_eq!(again.get("adjustments"), order.get("adjustments"), "stored as it was");
    assert_eq!(again.get("delivery").get("district"), Some(&json!("Kandy")));
}

#[tokio::test]
async fn a_first_order_code_holds_for_one_order_and_comes_back_when_it_is_cancelled() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Welcome", 100_000, 50).await;
    promotion(
        &app,
        &staff,
        json!({"name": "Welcome", "code": "WELCOME", "kind": "amount_off", "value": 200, "applies_to": "order",
               "eligibility": {"customer_groups": ["first_order"]}}),
    )
    .await;
    let token = app.customer_token(Uuid::now_v7());
    // Two first orders at once: one is the first.
    let both = join_all((0..2).map(|_| buy(&app, &token, tea, 1, &["WELCOME"]))).await;
    let placed: Vec<&Reply> = both.iter().filter(|r| r.status == 201).collect();
    assert_eq!(placed.len(), 1, "{:?}", both.iter().map(|r| &r.body).collect::<Vec<_>>());
    let refused = both.iter().find(|r| r.status == 409).expect("one refused");
    assert_eq!(refused.body["reason"], "not-for-this-customer");
    let first = uuid(placed[0].get("id"));
    app.api
        .post(&format!("/api/v1/orders/{first}/cancel"), Some(&token), json!({}))
        .await
        .expect(200);
    assert!(discounted(
        &buy(&app, &token, tea, 1, &["welcome"]).await.expect(201).body,
        "WELCOME"
    ));
}

#[tokio::test]
async fn a_paid_membership_gives_member_prices_until_it_is_refunded() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let finance = app.staff(&[Role::Finance]).await;
    app.deliver_free(&staff).await;
    let tea = app.tea(&staff, "Member's", 100_000, 50).await;
    let plus = app.tea(&staff, "Pola Plus", 250_000, 1_000).await;
    let plan = app
        .api
        .post(
            "/api/v1/promotions/plans",
            Some(&staff),
            json!({"slug": "pola-plus", "name": "Pola Plus", "variant_id": plus.variant, "months": 12}),
        )
        .await
        .expect(201);
    assert_eq!(plan.get("members"), 0);
    promotion(
        &app,
        &staff,
        json!({"name": "Member price", "kind": "percent_off", "value": 15, "eligibility": {"product_ids": [tea.product], "customer_groups": ["plan:pola-plus"]}}),
    )
    .await;
    let token = app.customer_token(Uuid::now_v7());
    app.add_to_cart(&token, tea.variant, 1).await.expect(201);
    let price = |cart: &Reply| cart.get("total")["amount_minor"].as_i64().expect("a total");
    assert_eq!(price(&app.api.get("/api/v1/cart", Some(&token)).await.expect(200)), 100_000);

    let bought = uuid(app.buy_now(&token, plus.variant, 1).await.expect(201).get("id"));
    assert_eq!(
        price(&app.api.get("/api/v1/cart", Some(&token)).await.expect(200)),
        100_000,
        "not a member until paid"
    );
    let total = 250_000;
    app.api
        .post(
            &format!("/api/v1/payments/orders/{bought}/bank-transfer"),
            Some(&token),
            json!({}),
        )
        .await
        .expect(200);
    app.api
        .post(
            &format!("/api/v1/payments/staff/orders/{bought}/bank-transfer"),
            Some(&finance),
            json!({"amount_minor": total, "slip_reference": "PLUS-1"}),
        )
        .await
        .expect(200);
    let memberships = app.api.get("/api/v1/promotions/memberships", Some(&token)).await.expect(200);
    assert_eq!(memberships.body[0]["plan"], "pola-plus");
    assert_eq!(price(&app.api.get("/api/v1/cart", Some(&token)).await.expect(200)), 85_000);

    app.api
        .post(
            &format!("/api/v1/payments/staff/orders/{bought}/refunds"),
            Some(&finance),
            json!({"amount_minor": total, "reason": "Cancelled the plan", "reference": "RF-PLUS-1"}),
        )
        .await
        .expect(200);
    assert_eq!(price(&app.api.get("/api/v1/cart", Some(&token)).await.expect(200)), 100_000);
    assert_eq!(
        app.api
            .get("/api/v1/promotions/memberships", Some(&token))
            .await
            .expect(200)
            .body,
        json!([])
    );
}

#[tokio::test]
async fn staff_writes_to_promotions_are_checked_by_role_and_field_and_each_leaves_an_audit_row() {
    let app = spawn_app().await;
    let catalog = app.staff(&[Role::Catalog]).await;
    let support = app.staff(&[Role::Support]).await;
    let body = json!({"name": "Avurudu", "code": "AVURUDU25", "kind": "percent_off", "value": 25, "applies_to": "order",
                      "starts_at": "2027-04-13", "ends_at": "2027-04-16T00:00"});
    app.api
        .post("/api/v1/promotions", Some(&support), body.clone())
        .await
        .expect_problem(403);
    let created = app
        .api
        .post("/api/v1/promotions", Some(&catalog), body.clone())
        .await
        .expect(201);
    assert_eq!(created.get("starts_at"), "2027-04-13T00:00:00+05:30", "Colombo's midnight");
    app.api
        .post("/api/v1/promotions", Some(&catalog), body)
        .await
        .expect_problem(409);
    let bad = app
        .api
        .post(
            "/api/v1/promotions",
            Some(&catalog),
            json!({"name": "", "kind": "percent_off", "value": 150.555, "usage_limit": 0, "starts_at": "tomorrow"}),
        )
        .await
        .expect_problem(422);
    let fields: Vec<&str> = bad
        .get("errors")
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for field in ["name", "value", "usage_limit", "starts_at"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let id = uuid(created.get("id"));
    let paused = app
        .api
        .request_as(reqwest::Method::PATCH, &format!("/api/v1/promotions/{id}"), Some(&catalog))
        .json(&json!({"active": false}))
        .send_reply()
        .await
        .expect(200);
    assert_eq!(paused.get("active"), false);
    let codes = app
        .api
        .post(
            &format!("/api/v1/promotions/{id}/codes"),
            Some(&catalog),
            json!({"count": 25, "prefix": "sms-"}),
        )
        .await
        .expect(201);
    // An automatic promotion takes no codes: it applies without them.
    let automatic = promotion(&app, &catalog, json!({"name": "Everyone", "kind": "free_delivery"})).await;
    app.api
        .post(
            &format!("/api/v1/promotions/{automatic}/codes"),
            Some(&catalog),
            json!({"count": 1}),
        )
        .await
        .expect_problem(409);
    assert_eq!(codes.get("codes").as_array().expect("codes").len(), 25);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM staff_audit WHERE entity_id = ? ORDER BY created_at, id")
        .bind(id.to_string())
        .fetch_all(app.promotions.pool())
        .await
        .expect("audit rows");
    assert_eq!(actions, ["promotion.create", "promotion.change", "promotion.codes"]);
    let rewrite = sqlx::query("UPDATE staff_audit SET action = 'nothing'")
        .execute(app.promotions.pool())
        .await;
    assert!(rewrite.is_err(), "the audit trail is append-only");
}

#[tokio::test]
async fn bulk_codes_are_each_used_once_and_a_paused_promotion_is_refused_at_checkout() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Bulk", 100_000, 50).await;
    let id = promotion(
        &app,
        &staff,
        json!({"name": "SMS blast", "kind": "amount_off", "value": 100, "applies_to": "order", "automatic": false}),
    )
    .await;
    let codes = app
        .api
        .post(
            &format!("/api/v1/promotions/{id}/codes"),
            Some(&staff),
            json!({"count": 3, "prefix": "SMS-"}),
        )
        .await
        .expect(201);
    let code = codes.get("codes")[0].as_str().expect("a code").to_owned();
    let (a, b) = (app.customer_token(Uuid::now_v7()), app.customer_token(Uuid::now_v7()));
    let typed = [code.as_str()];
    let both = join_all([&a, &b].map(|t| buy(&app, t, tea, 1, &typed))).await;
    assert_eq!(both.iter().filter(|r| r.status == 201).count(), 1, "one use per bulk code");
    let second = codes.get("codes")[1].as_str().expect("a code").to_owned();
    app.api
        .request_as(reqwest::Method::PATCH, &format!("/api/v1/promotions/{id}"), Some(&staff))
        .json(&json!({"active": false}))
        .send_reply()
        .await
        .expect(200);
    let typed = [second.as_str()];
    let refused = buy(&app, &a, tea, 1, &typed).await.expect_problem(409);
    assert_eq!(refused.get("reason"), "paused");
}

#[tokio::test]
async fn a_business_gets_a_tax_invoice_with_each_supply_s_vat_and_no_one_else_does() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Invoiced", 100_000, 10).await;
    let buyer = app.shopper().await;
    let delivery = json!({"recipient": "Accounts", "phone": "0112345678", "line1": "7 Flower Road", "city": "Kandy"});
    app.checkout(
        &buyer.access,
        json!({"lines": [{"variant_id": tea.variant, "quantity": 2}], "delivery": delivery,
               "business": {"name": "Lanka Tea Traders", "vat_number": "134567891-8000"}}),
    )
    .await
    .expect_problem(422);
    let order = app
        .checkout(
            &buyer.access,
            json!({"lines": [{"variant_id": tea.variant, "quantity": 2}], "delivery": delivery,
                   "business": {"name": "Lanka Tea Traders (Pvt) Ltd", "vat_number": "134567891 7000"}}),
        )
        .await
        .expect(201);
    let id = uuid(order.get("id"));
    let invoice = app
        .api
        .get(&format!("/api/v1/orders/{id}/tax-invoice"), Some(&buyer.access))
        .await
        .expect(200);
    assert_eq!(invoice.get("title"), "Tax Invoice");
    assert_eq!(invoice.get("purchaser")["vat_number"], "134567891-7000");
    assert_eq!(invoice.get("purchaser")["address"], "7 Flower Road, Kandy");
    // Rs 2,000 of tea and Rs 450 to Kandy: VAT 245000 × 18 / 118 = 37372.88 → 37373, split by
    // largest remainder: goods 30508.57 → 30509, delivery 6864.43 → 6864.
    let lines = invoice.get("lines").as_array().expect("lines");
    let figures: Vec<(i64, i64, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["value_excluding_vat"]["amount_minor"].as_i64().unwrap_or(0),
                l["vat"]["amount_minor"].as_i64().unwrap_or(0),
                l["total"]["amount_minor"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(figures, [(169_491, 30_509, 200_000), (38_136, 6_864, 45_000)]);
    assert_eq!(invoice.get("vat")["amount_minor"], 37_373);
    assert_eq!(invoice.get("value_excluding_vat")["amount_minor"], 207_627);
    assert_eq!(invoice.get("vat_rate_percent"), "18");

    // Not for an order without a business, nor for another customer.
    let plain = uuid(app.buy_now(&buyer.access, tea.variant, 1).await.expect(201).get("id"));
    app.api
        .get(&format!("/api/v1/orders/{plain}/tax-invoice"), Some(&buyer.access))
        .await
        .expect_problem(404);
    let other = app.shopper().await;
    app.api
        .get(&format!("/api/v1/orders/{id}/tax-invoice"), Some(&other.access))
        .await
        .expect_problem(404);
}
