//! Paying, refunding and delivering orders, against a real MariaDB, `payhere-sim` (a third
//! party's stand-in for PayHere's checkout and its signed notifications), and local stand-ins
//! for PayHere's merchant API and a Koombiyo-style courier (`pola_payments::testing`).

#![expect(clippy::disallowed_types, reason = "payhere-sim's hooks are a plain axum server")]

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::{get, post},
};
use futures::future::join_all;
use pola_core::{
    auth::Role,
    config::{Config, CourierConfig, CourierKind, PayHereConfig},
};
use pola_orders::Viewer;
use pola_payments::testing::{KoombiyoApi, MerchantApi, Simulator, signed};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{OnSale, SendReply, Shopper, TestApp, spawn_app_behind_edge_with, spawn_app_with, uuid};

pub(crate) const MERCHANT_ID: &str = "1221149";
pub(crate) const SECRET: &str = "NDA0MjQ0ODQ3OTIxNTk1NDgzNjQ2ODEyNTg1MDg3MjEwNTg1";
const NOTIFY: &str = "/api/v1/payments/payhere/notify";
const APP_ID: &str = "4OVx33RVOPg4DzdZUzq4A94D2";
const APP_SECRET: &str = "8n4VCj25MXp4JLDFyvsE9h4a8";
const COURIER_KEY: &str = "koombiyo-test-key";

/// Configures the shop to take PayHere through `sim` (its merchant API at `merchant`) and to
/// ship with Koombiyo at `courier` as well as by hand. Notifications come to the shop's public
/// address (`notifications.shop_url`: the edge's, when there is one).
pub fn take_payments(config: &mut Config, sim: &Simulator, merchant: &MerchantApi, courier: &KoombiyoApi) {
    let shop = config.notifications.shop_url.clone();
    config.payments.payhere = Some(PayHereConfig {
        merchant_id: MERCHANT_ID.into(),
        merchant_secret: Some(SECRET.into()),
        checkout_url: sim.checkout_url(),
        api_url: Some(merchant.url()),
        app_id: Some(APP_ID.into()),
        app_secret: Some(APP_SECRET.into()),
        vault_path: None,
        notify_url: format!("{shop}{NOTIFY}"),
        return_url: format!("{shop}/account/orders/{{order_id}}"),
        cancel_url: format!("{shop}/account/orders/{{order_id}}?payment=cancelled"),
        timeout_ms: 5000,
    });
    config.payments.couriers.push(CourierConfig {
        code: "koombiyo".into(),
        name: "Koombiyo Delivery".into(),
        kind: CourierKind::Koombiyo,
        api_url: Some(courier.url()),
        api_key: Some(COURIER_KEY.into()),
        tracking_url: Some("https://koombiyodelivery.lk/Track/track_id?id={waybill}".into()),
    });
}

/// A form's fields, in order.
type Form = Vec<(String, String)>;

/// A shop that takes PayHere payments (through payhere-sim), with PayHere's merchant API and a
/// Koombiyo courier standing by. The payments jobs run only when a test runs them.
pub struct PayingShop {
    pub(crate) app: TestApp,
    pub(crate) sim: Simulator,
    pub(crate) merchant: MerchantApi,
    courier: KoombiyoApi,
    pub(crate) catalog: String,
    pub(crate) finance: String,
    pub(crate) fulfilment: String,
}

pub(crate) async fn paying_shop() -> PayingShop {
    paying_shop_with(|_| {}).await
}

async fn paying_shop_with(adjust: impl FnOnce(&mut Config)) -> PayingShop {
    paying_shop_at(false, adjust).await
}

/// A paying shop behind an edge in any run (for the back-office's browser tests).
pub(crate) async fn paying_shop_behind_edge() -> PayingShop {
    paying_shop_at(true, |_| {}).await
}

async fn paying_shop_at(behind_edge: bool, adjust: impl FnOnce(&mut Config)) -> PayingShop {
    let sim = Simulator::started(MERCHANT_ID, SECRET).await;
    let merchant = MerchantApi::start(APP_ID, APP_SECRET).await;
    let courier = KoombiyoApi::start(COURIER_KEY).await;
    let configure = |config: &mut Config| {
        take_payments(config, &sim, &merchant, &courier);
        // Tests run the payments jobs themselves.
        config.payments.jobs_interval_secs = 3600;
        adjust(config);
    };
    let app = match behind_edge {
        true => spawn_app_behind_edge_with(configure).await,
        false => spawn_app_with(configure).await,
    };
    let catalog = app.staff(&[Role::Catalog]).await;
    let finance = app.staff(&[Role::Finance]).await;
    let fulfilment = app.staff(&[Role::Fulfilment]).await;
    // This shop delivers everything free and charges nothing for cash on delivery, so that
    // what is paid is what the goods cost: these tests are about money moving, the promotions
    // tests about how prices are made.
    app.deliver_free(&catalog).await;
    PayingShop {
        app,
        sim,
        merchant,
        courier,
        catalog,
        finance,
        fulfilment,
    }
}

impl PayingShop {
    /// A customer's order of `quantity` of `tea`, delivered to Colombo, waiting for payment.
    pub(crate) async fn order(&self, shopper: &Shopper, tea: OnSale, quantity: i64) -> Uuid {
        uuid(
            self.app
                .buy_for_delivery(&shopper.access, tea.variant, quantity)
                .await
                .expect(201)
                .get("id"),
        )
    }

    /// The same, placed to be paid on delivery.
    pub(crate) async fn order_cod(&self, shopper: &Shopper, tea: OnSale, quantity: i64) -> Uuid {
        let request = json!({"lines": [{"variant_id": tea.variant, "quantity": quantity}], "cash_on_delivery": true,
            "delivery": {"recipient": "Nimal Perera", "phone": "077 123 4567", "line1": "12 Galle Road", "city": "Colombo 03"}});
        uuid(self.app.checkout(&shopper.access, request).await.expect(201).get("id"))
    }

    /// The signed form for PayHere, as the customer's app gets it.
    pub(crate) async fn payhere(&self, shopper: &Shopper, order: Uuid) -> Value {
        self.app
            .api
            .post(
                &format!("/api/v1/payments/orders/{order}/payhere"),
                Some(&shopper.access),
                json!({}),
            )
            .await
            .expect(200)
            .body
    }

    /// Posts a notification as PayHere does.
    pub(crate) async fn notify(&self, fields: &[(String, String)]) -> pola_core::testing::Reply {
        self.app
            .api
            .request(reqwest::Method::POST, NOTIFY)
            .form(fields)
            .send_reply()
            .await
    }

    pub(crate) async fn status(&self, order: Uuid) -> String {
        let owned = self
            .app
            .orders
            .order(order, Viewer::Staff)
            .await
            .expect("read")
            .expect("the order");
        owned.order.status.as_str().to_owned()
    }

    async fn staff_view(&self, order: Uuid) -> Value {
        self.app
            .api
            .get(&format!("/api/v1/payments/staff/orders/{order}"), Some(&self.finance))
            .await
            .expect(200)
            .body
    }

    /// The order's events in its service's outbox, by type.
    async fn events(&self, order: Uuid) -> Vec<String> {
        sqlx::query_scalar("SELECT type FROM outbox WHERE JSON_VALUE(data, '$.order_id') = ? ORDER BY occurred_at, id")
            .bind(order.to_string())
            .fetch_all(self.app.orders.pool())
            .await
            .expect("the outbox")
    }

    async fn payments_rows(&self) -> i64 {
        self.app.count(self.app.payments.pool(), "payments").await
    }
}

#[tokio::test]
async fn a_customer_pays_with_payhere_through_its_checkout_page_and_the_order_is_paid_once() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Nuwara Eliya", 120_050, 5).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 2).await;

    let form = shop.payhere(&shopper, order).await;
    let fields = &form["fields"];
    assert_eq!(form["action"], shop.sim.checkout_url());
    assert_eq!(fields["amount"], "2401.00");
    assert_eq!(fields["currency"], "LKR");
    assert_eq!(fields["order_id"], order.to_string());
    assert_eq!(fields["merchant_id"], MERCHANT_ID);
    assert_eq!(
        (fields["first_name"].as_str(), fields["last_name"].as_str()),
        (Some("Test"), Some("Shopper"))
    );
    assert_eq!(fields["city"], "Colombo 03");
    // payhere-sim checks the form and its hash with its own code: a wrong hash is a 400 page.
    let page = shop
        .sim
        .pay(form["action"].as_str().expect("a URL"), fields, "success")
        .await
        .expect("payhere-sim takes the checkout");
    assert!(page.contains("HTTP 200"), "the notification was not taken: {page}");
    assert_eq!(shop.status(order).await, "paid");

    let mine = shop
        .app
        .api
        .get(&format!("/api/v1/payments/orders/{order}"), Some(&shopper.access))
        .await
        .expect(200);
    assert_eq!(mine.get("method"), "payhere");
    let payments = mine.get("payments").as_array().expect("payments");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "succeeded");
    assert_eq!(payments[0]["amount"]["amount_minor"], 240_100);
    assert_eq!(payments[0]["instrument"], "VISA");
    assert!(mine.get("pay_by").is_null(), "paid: nothing to pay by");
    assert_eq!(shop.events(order).await, ["order.placed", "order.paid"]);
    // Paid: nothing more to pay.
    shop.app
        .api
        .post(
            &format!("/api/v1/payments/orders/{order}/payhere"),
            Some(&shopper.access),
            json!({}),
        )
        .await
        .expect_problem(409);
}

/// payhere-sim's `check`: forged, underpaid and wrong-currency notifications change nothing; a
/// success pays; a repeat, a late pending and a late failure change nothing; simultaneous
/// copies act once; a chargeback is recorded. Its hooks: a new order through the API, and the
/// order's state as finance sees it (status and money only).
#[tokio::test]
async fn payhere_sim_s_own_checks_of_the_notify_handler_all_pass() {
    let shop = Arc::new(paying_shop().await);
    let tea = shop.app.tea(&shop.catalog, "Kandy", 45_000, 100).await;
    let shopper = Arc::new(shop.app.shopper().await);
    let hooks = Router::new()
        .route(
            "/new-order",
            post(move |State((shop, shopper)): State<(Arc<PayingShop>, Arc<Shopper>)>| async move {
                let order = shop.order(&shopper, tea, 1).await;
                shop.payhere(&shopper, order).await;
                Json(json!({"order_id": order.to_string(), "amount": "450.00", "currency": "LKR"}))
            }),
        )
        .route(
            "/probe/{id}",
            get(|State((shop, _)): State<(Arc<PayingShop>, Arc<Shopper>)>, Path(id): Path<Uuid>| async move {
                let view = shop.staff_view(id).await;
                let money: Vec<Value> = view["payment"]["payments"]
                    .as_array()
                    .expect("payments")
                    .iter()
                    .filter(|p| p["status"] == "succeeded" || p["status"] == "charged_back")
                    .map(|p| json!({"reference": p["reference"], "status": p["status"], "outcome": p["outcome"], "amount": p["amount"]}))
                    .collect();
                Json(json!({"status": shop.status(id).await, "money": money, "events": shop.events(id).await}))
            }),
        )
        .with_state((shop.clone(), shopper.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let hooks_at = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, hooks).await });

    let notify_url = format!("{}{NOTIFY}", shop.app.api.base);
    let check = tokio::process::Command::new(pola_core::testing::venv_python())
        .args(["-m", "payhere_sim", "check", &notify_url])
        .args(["--new-order", &format!("http://{hooks_at}/new-order")])
        .args(["--probe", &format!("http://{hooks_at}/probe/{{order_id}}")])
        .args(["--race-copies", "20"])
        .env("PAYHERE_MERCHANT_ID", MERCHANT_ID)
        .env("PAYHERE_MERCHANT_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("payhere-sim runs");
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "payhere-sim check failed:\n{said}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(said.contains("10 passed"), "{said}");
}

#[tokio::test]
async fn forged_misdirected_and_mismatched_notifications_change_no_money_and_no_order() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Dimbula", 99_900, 10).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 1).await;
    shop.payhere(&shopper, order).await;
    let id = order.to_string();
    let (rows, events) = (shop.payments_rows().await, shop.events(order).await);

    let cases: Vec<(&str, Form, u16)> = vec![
        (
            "forged signature",
            signed(MERCHANT_ID, SECRET, &id, "999.00", &[("bad_signature", "True")]),
            400,
        ),
        ("another merchant", signed("9999999", SECRET, &id, "999.00", &[]), 400),
        (
            "another merchant's secret",
            signed(MERCHANT_ID, "not-our-secret", &id, "999.00", &[]),
            400,
        ),
        ("less than the total", signed(MERCHANT_ID, SECRET, &id, "9.99", &[]), 200),
        ("more than the total", signed(MERCHANT_ID, SECRET, &id, "9990.00", &[]), 200),
        (
            "another currency",
            signed(MERCHANT_ID, SECRET, &id, "999.00", &[("currency", "'USD'")]),
            200,
        ),
        (
            "an unknown order",
            signed(MERCHANT_ID, SECRET, &Uuid::now_v7().to_string(), "999.00", &[]),
            200,
        ),
        // An attack, signed or not: the edge's firewall may refuse it first.
        (
            "not an order id",
            signed(MERCHANT_ID, SECRET, "1' OR '1'='1", "999.00", &[]),
            200,
        ),
    ];
    let mut reached = 0;
    for (case, fields, status) in cases {
        let reply = shop.notify(&fields).await;
        let by_the_firewall = reply.status == 403 && reply.body["type"] == "https://pola.lk/problems/firewall";
        if by_the_firewall && case == "not an order id" && std::env::var_os("POLA_TEST_EDGE").is_some() {
            continue;
        }
        reached += 1;
        if status == 400 {
            let reply = reply.expect_problem(400);
            assert!(!reply.body.to_string().contains(SECRET), "{case}");
        } else {
            // Signed by PayHere for us: acknowledged (or it keeps sending), and ignored.
            assert_eq!(reply.status, 200, "{case}: {}", reply.body);
        }
        assert_eq!(shop.status(order).await, "pending_payment", "{case}");
        assert_eq!(shop.payments_rows().await, rows, "{case}");
        assert_eq!(shop.events(order).await, events, "{case}");
    }
    // A body that is not a form, and a form with a field twice.
    let json_body = shop.app.api.post(NOTIFY, None, json!({"order_id": id})).await;
    json_body.expect_problem(415);
    let mut twice = signed(MERCHANT_ID, SECRET, &id, "999.00", &[]);
    twice.push(("status_code".into(), "2".into()));
    shop.notify(&twice).await.expect_problem(400);
    assert_eq!(shop.status(order).await, "pending_payment");

    // Every one is on record, and finance sees the signed ones that did not match.
    let logged = shop.app.count(shop.app.payments.pool(), "payment_notifications").await;
    assert_eq!(
        logged,
        reached + 1,
        "each one that reached Pola, and the one with a field twice"
    );
    let exceptions = shop
        .app
        .api
        .get("/api/v1/payments/staff/exceptions", Some(&shop.finance))
        .await
        .expect(200);
    let refused = exceptions.get("refused_notifications").as_array().expect("a list");
    assert_eq!(refused.len(), 3, "{refused:#?}");
    // Nor does a success for exactly the total, after all that, pay twice.
    let good = signed(MERCHANT_ID, SECRET, &id, "999.00", &[("payment_id", "'320025071278'")]);
    shop.notify(&good).await.expect(200);
    shop.notify(&good).await.expect(200);
    let late = signed(
        MERCHANT_ID,
        SECRET,
        &id,
        "999.00",
        &[("payment_id", "'320025071278'"), ("status", "'pending'")],
    );
    shop.notify(&late).await.expect(200);
    assert_eq!(shop.status(order).await, "paid");
    assert_eq!(shop.events(order).await, ["order.placed", "order.paid"]);
    let view = shop.staff_view(order).await;
    assert_eq!(view["payment"]["payments"][0]["status"], "succeeded", "{view}");
}

#[tokio::test]
async fn two_hundred_copies_of_one_success_at_once_make_one_payment_one_change_and_one_event() {
    let shop = Arc::new(paying_shop().await);
    let tea = shop.app.tea(&shop.catalog, "Uva", 75_000, 10).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 1).await;
    shop.payhere(&shopper, order).await;
    let fields = Arc::new(signed(
        MERCHANT_ID,
        SECRET,
        &order.to_string(),
        "750.00",
        &[("payment_id", "'320099990001'")],
    ));
    let replies = join_all((0..200).map(|_| {
        let (shop, fields) = (shop.clone(), fields.clone());
        tokio::spawn(async move { shop.notify(&fields).await.status })
    }))
    .await;
    let statuses: Vec<u16> = replies.into_iter().map(|r| r.expect("a sender")).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(shop.payments_rows().await, 1);
    assert_eq!(shop.events(order).await, ["order.placed", "order.paid"]);
    let history = shop
        .app
        .orders
        .order(order, Viewer::Staff)
        .await
        .expect("read")
        .expect("the order");
    assert_eq!(history.order.history.len(), 2, "one change: {:?}", history.order.history);
}

#[tokio::test]
async fn a_customer_who_closed_the_tab_is_found_by_asking_payhere() {
    let shop = paying_shop_with(|config| config.payments.reconcile_after_minutes = 0).await;
    let tea = shop.app.tea(&shop.catalog, "Ruhuna", 52_000, 5).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 1).await;
    shop.payhere(&shopper, order).await;
    // PayHere took the money; its notification never came (the tab closed, the network lost it).
    shop.merchant.take_payment(&order.to_string(), "320027150501", 52_000);
    // An early token is refused once: the API signs in again.
    shop.merchant.expire_tokens();
    shop.app.payments.run_jobs().await;
    assert_eq!(shop.status(order).await, "paid");
    let history = shop
        .app
        .orders
        .order(order, Viewer::Staff)
        .await
        .expect("read")
        .expect("the order");
    assert_eq!(history.order.history[1].actor, "system:retrieval");
    // Asking again changes nothing.
    shop.app.payments.reconcile_order(order).await.expect("asked");
    assert_eq!(shop.events(order).await, ["order.placed", "order.paid"]);
}

#[tokio::test]
async fn a_payment_after_the_window_closed_is_refunded_and_its_stock_is_never_sold_twice() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Sabaragamuwa", 30_000, 2).await;
    let (late, next) = (shop.app.shopper().await, shop.app.shopper().await);
    let order = shop.order(&late, tea, 2).await;
    shop.payhere(&late, order).await;
    assert_eq!(shop.app.available(tea.product, tea.variant).await, 0);
    // Thirty-one minutes later, nothing has arrived.
    sqlx::query("UPDATE orders SET created_at = created_at - INTERVAL 31 MINUTE WHERE id = ?")
        .bind(order)
        .execute(shop.app.orders.pool())
        .await
        .expect("aged");
    assert_eq!(shop.app.payments.expire_unpaid().await.expect("expired"), 1);
    assert_eq!(shop.status(order).await, "cancelled");
    assert_eq!(shop.app.available(tea.product, tea.variant).await, 2);
    let theirs = shop.order(&next, tea, 2).await;
    // Then the late customer's payment goes through after all.
    shop.merchant.take_payment(&order.to_string(), "320011112222", 60_000);
    let paid = signed(
        MERCHANT_ID,
        SECRET,
        &order.to_string(),
        "600.00",
        &[("payment_id", "'320011112222'")],
    );
    shop.notify(&paid).await.expect(200);

    assert_eq!(shop.status(order).await, "cancelled", "a cancelled order stays cancelled");
    let view = shop.staff_view(order).await;
    let payment = &view["payment"]["payments"][0];
    assert_eq!(payment["outcome"], "refunded", "{view}");
    assert!(payment["flag"].as_str().expect("a flag").contains("cancelled"));
    assert_eq!(view["payment"]["refunds"][0]["status"], "done", "{view}");
    assert_eq!(shop.merchant.refunds().len(), 1);
    assert_eq!(shop.merchant.payment("320011112222").expect("held").status, "REFUNDED");
    // The stock went to the next customer, once.
    assert_eq!(shop.app.available(tea.product, tea.variant).await, 0);
    shop.app.buy_now(&next.access, tea.variant, 1).await.expect_problem(409);
    assert_eq!(shop.status(theirs).await, "pending_payment");
    // The refund is not sent twice, whatever runs again.
    shop.notify(&paid).await.expect(200);
    shop.app.payments.run_jobs().await;
    assert_eq!(shop.merchant.refunds().len(), 1);
}

#[tokio::test]
async fn a_second_payment_for_a_paid_order_is_refunded_and_a_chargeback_is_flagged() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Galle", 25_000, 5).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 1).await;
    shop.payhere(&shopper, order).await;
    let id = order.to_string();
    for payment in ["320000000001", "320000000002"] {
        shop.merchant.take_payment(&id, payment, 25_000);
        let fields = signed(MERCHANT_ID, SECRET, &id, "250.00", &[("payment_id", &format!("'{payment}'"))]);
        shop.notify(&fields).await.expect(200);
    }
    assert_eq!(shop.status(order).await, "paid");
    let view = shop.staff_view(order).await;
    let outcomes: Vec<&str> = view["payment"]["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| p["outcome"].as_str().expect("an outcome"))
        .collect();
    assert_eq!(outcomes, ["applied", "refunded"]);
    assert_eq!(shop.merchant.refunds()[0].payment_id, "320000000002");

    let chargeback = signed(
        MERCHANT_ID,
        SECRET,
        &id,
        "250.00",
        &[("payment_id", "'320000000001'"), ("status", "'chargedback'")],
    );
    shop.notify(&chargeback).await.expect(200);
    let exceptions = shop
        .app
        .api
        .get("/api/v1/payments/staff/exceptions", Some(&shop.finance))
        .await
        .expect(200);
    let flags: Vec<&str> = exceptions
        .get("flagged_payments")
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["flag"].as_str().expect("a flag"))
        .collect();
    assert!(flags.iter().any(|f| f.starts_with("charged back")), "{flags:?}");
    assert!(flags.iter().any(|f| f.starts_with("paid twice")), "{flags:?}");
    // A customer sees their payments, never finance's notes.
    let mine = shop
        .app
        .api
        .get(&format!("/api/v1/payments/orders/{order}"), Some(&shopper.access))
        .await
        .expect(200);
    assert!(
        mine.get("payments")
            .as_array()
            .expect("payments")
            .iter()
            .all(|p| p["flag"].is_null())
    );
}

#[tokio::test]
async fn finance_refunds_in_part_and_in_full_never_more_than_was_paid_and_each_is_audited() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Matale", 100_000, 5).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 1).await;
    shop.payhere(&shopper, order).await;
    shop.merchant.take_payment(&order.to_string(), "320055550001", 100_000);
    let paid = signed(
        MERCHANT_ID,
        SECRET,
        &order.to_string(),
        "1000.00",
        &[("payment_id", "'320055550001'")],
    );
    shop.notify(&paid).await.expect(200);
    let path = format!("/api/v1/payments/staff/orders/{order}/refunds");
    let support = shop.app.staff(&[Role::Support]).await;
    shop.app
        .api
        .post(&path, Some(&support), json!({"amount_minor": 100, "reason": "Damaged box"}))
        .await
        .expect_problem(403);
    shop.app
        .api
        .post(&path, Some(&shop.finance), json!({"amount_minor": 100, "reason": "no"}))
        .await
        .expect_problem(422);
    let partial = shop
        .app
        .api
        .post(
            &path,
            Some(&shop.finance),
            json!({"amount_minor": 30_000, "reason": "One packet arrived torn"}),
        )
        .await
        .expect(200);
    assert_eq!(partial.get("refunds")[0]["status"], "done");
    assert_eq!(
        partial.get("order_status"),
        "paid",
        "a partial refund leaves the order as it is"
    );
    assert_eq!(shop.merchant.refunds()[0].amount_minor, Some(30_000));

    // Two refunds of what is left, at once: one of them.
    let both = join_all((0..2).map(|_| {
        shop.app.api.post(
            &path,
            Some(&shop.finance),
            json!({"amount_minor": 70_000, "reason": "Customer returned it all"}),
        )
    }))
    .await;
    let mut statuses: Vec<u16> = both.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{both:?}");
    assert_eq!(shop.status(order).await, "refunded");
    let held = shop.merchant.payment("320055550001").expect("held");
    assert_eq!((held.refunded_minor, held.status.as_str()), (100_000, "REFUNDED"));
    shop.app
        .api
        .post(&path, Some(&shop.finance), json!({"reason": "Once more, by mistake"}))
        .await
        .expect_problem(409);
    let view = shop.staff_view(order).await;
    let audit: Vec<(&str, &str)> = view["audit"]
        .as_array()
        .expect("the audit trail")
        .iter()
        .map(|a| (a["action"].as_str().expect("an action"), a["result"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(audit.len(), 5, "{audit:?}");
    assert!(audit.iter().all(|(action, _)| *action == "refund"));
    assert_eq!(audit.iter().filter(|(_, result)| *result == "ok").count(), 2, "{audit:?}");
    assert!(audit.iter().all(|(_, result)| !result.is_empty()), "{audit:?}");
    // Neither the actions nor their results can be changed or removed, by payments' own user.
    for statement in [
        "UPDATE staff_actions SET reason = 'nothing'",
        "DELETE FROM staff_actions",
        "UPDATE staff_action_results SET result = 'ok'",
        "DELETE FROM staff_action_results",
    ] {
        let refused = sqlx::query(statement).execute(shop.app.payments.pool()).await;
        let message = refused.expect_err("refused").to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
    // The customer heard of each refund.
    assert_eq!(
        shop.events(order).await.iter().filter(|e| *e == "payment.refunded").count(),
        0,
        "payment events live in payments' outbox"
    );
    let refunded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE type = 'payment.refunded'")
        .fetch_one(shop.app.payments.pool())
        .await
        .expect("counted");
    assert_eq!(refunded, 2);
}

#[tokio::test]
async fn cash_on_delivery_confirms_at_once_within_its_ceiling_and_not_for_those_whose_parcels_come_back() {
    let shop = paying_shop_with(|config| config.payments.cod_max_minor = 1_000_000).await;
    let tea = shop.app.tea(&shop.catalog, "Hantane", 400_000, 20).await;
    let shopper = shop.app.shopper().await;
    let small = shop.order_cod(&shopper, tea, 2).await;
    let large = shop.order_cod(&shopper, tea, 3).await;
    let cod = |order: Uuid| format!("/api/v1/payments/orders/{order}/cod");
    let refused = shop
        .app
        .api
        .post(&cod(large), Some(&shopper.access), json!({}))
        .await
        .expect_problem(422);
    assert!(
        refused.get("detail").as_str().expect("a detail").contains("10,000.00"),
        "{}",
        refused.body
    );
    let confirmed = shop
        .app
        .api
        .post(&cod(small), Some(&shopper.access), json!({}))
        .await
        .expect(200);
    assert_eq!(confirmed.get("order_status"), "confirmed");
    assert_eq!(
        shop.app
            .api
            .post(&cod(small), Some(&shopper.access), json!({}))
            .await
            .expect(200)
            .body,
        confirmed.body
    );
    // No address, no cash on delivery: not as the order is placed, nor after.
    let no_address = json!({"lines": [{"variant_id": tea.variant, "quantity": 1}], "cash_on_delivery": true});
    shop.app.checkout(&shopper.access, no_address).await.expect_problem(422);
    let pickup = uuid(shop.app.buy_now(&shopper.access, tea.variant, 1).await.expect(201).get("id"));
    shop.app
        .api
        .post(&cod(pickup), Some(&shopper.access), json!({}))
        .await
        .expect_problem(409);
    // An order placed to be paid now is not switched to cash on delivery (its charge differs).
    let online = shop.order(&shopper, tea, 1).await;
    let switched = shop
        .app
        .api
        .post(&cod(online), Some(&shopper.access), json!({}))
        .await
        .expect_problem(409);
    assert_eq!(switched.get("type"), "https://pola.lk/problems/priced-to-pay-now");
    // Another customer's order is nobody's business.
    let intruder = shop.app.shopper().await;
    shop.app
        .api
        .post(&cod(large), Some(&intruder.access), json!({}))
        .await
        .expect_problem(404);

    // Two parcels that came back, and cash on delivery is off for this customer.
    let step = |order: Uuid, name: &str| format!("/api/v1/fulfilment/orders/{order}/{name}");
    let mut failed = vec![small];
    let second = shop.order_cod(&shopper, tea, 1).await;
    shop.app
        .api
        .post(&cod(second), Some(&shopper.access), json!({}))
        .await
        .expect(200);
    failed.push(second);
    for order in &failed {
        shop.app
            .api
            .post(&step(*order, "pack"), Some(&shop.fulfilment), json!({}))
            .await
            .expect(200);
        shop.app
            .api
            .post(
                &step(*order, "ship"),
                Some(&shop.fulfilment),
                json!({"courier": "manual", "waybill": format!("M-{}", &order.simple().to_string()[26..])}),
            )
            .await
            .expect(200);
        shop.app
            .api
            .post(
                &step(*order, "delivery-failed"),
                Some(&shop.fulfilment),
                json!({"reason": "Nobody at home twice"}),
            )
            .await
            .expect(200);
    }
    let third = shop.order_cod(&shopper, tea, 1).await;
    shop.app
        .api
        .post(&cod(third), Some(&shopper.access), json!({}))
        .await
        .expect_problem(422);
    // They can still pay another way, for an order placed to be paid now.
    let third = shop.order(&shopper, tea, 1).await;
    shop.app
        .api
        .post(
            &format!("/api/v1/payments/orders/{third}/bank-transfer"),
            Some(&shopper.access),
            json!({}),
        )
        .await
        .expect(200);
}

#[tokio::test]
async fn a_courier_delivers_cash_on_delivery_and_its_remittance_report_settles_what_it_owes() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Badulla", 150_000, 10).await;
    let shopper = shop.app.shopper().await;
    let step = |order: Uuid, name: &str| format!("/api/v1/fulfilment/orders/{order}/{name}");
    let mut waybills = vec![];
    let mut orders = vec![];
    for quantity in [1, 2] {
        let order = shop.order_cod(&shopper, tea, quantity).await;
        shop.app.confirm_cod(&shopper.access, order).await;
        shop.app
            .api
            .post(&step(order, "pack"), Some(&shop.fulfilment), json!({}))
            .await
            .expect(200);
        let shipped = shop
            .app
            .api
            .post(&step(order, "ship"), Some(&shop.fulfilment), json!({"courier": "koombiyo"}))
            .await
            .expect(200);
        let waybill = shipped.get("shipment")["waybill"].as_str().expect("a waybill").to_owned();
        assert_eq!(
            shipped.get("shipment")["tracking_url"],
            format!("https://koombiyodelivery.lk/Track/track_id?id={waybill}")
        );
        waybills.push(waybill);
        orders.push(order);
    }
    let parcels = shop.courier.parcels();
    assert_eq!(
        parcels.iter().map(|p| p.cod.as_str()).collect::<Vec<_>>(),
        ["1500.00", "3000.00"]
    );
    assert_eq!(parcels[0].receiver_phone, "+94771234567");
    // The customer follows the parcel.
    let theirs = shop
        .app
        .api
        .get(&format!("/api/v1/orders/{}", orders[0]), Some(&shopper.access))
        .await
        .expect(200);
    assert_eq!(theirs.get("shipment")["waybill"], waybills[0].as_str());

    // The courier delivers both; Pola hears it by asking.
    for waybill in &waybills {
        shop.courier.update(waybill, "6", "Delivered");
    }
    assert_eq!(shop.app.payments.track_parcels().await.expect("tracked"), 2);
    assert_eq!(shop.status(orders[1]).await, "delivered");
    let owed = shop
        .app
        .api
        .get("/api/v1/payments/staff/cod-owed", Some(&shop.finance))
        .await
        .expect(200);
    assert_eq!(owed.body[0]["courier"], "koombiyo");
    assert_eq!(owed.body[0]["owed"]["amount_minor"], 450_000);

    let import = |csv: String| {
        shop.app
            .api
            .request_as(
                reqwest::Method::POST,
                "/api/v1/payments/staff/cod-remittances?courier=koombiyo",
                Some(&shop.finance),
            )
            .header("content-type", "text/csv")
            .body(csv)
            .send_reply()
    };
    // A file with bad rows changes nothing, and says which rows.
    let bad = import(format!("Waybill,COD Amount\n{},1500.00\n,20\nKB9,abc\n", waybills[0]))
        .await
        .expect_problem(422);
    let rows: Vec<&str> = bad
        .get("errors")
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a row"))
        .collect();
    assert_eq!(rows, ["row 3", "row 4"]);
    let report = format!(
        "Waybill,COD Amount\n{},1500.00\n{},2000.00\nKB000404,900.00\n",
        waybills[0], waybills[1]
    );
    let imported = import(report.clone()).await.expect(200);
    assert_eq!(imported.get("matched")["amount_minor"], 350_000);
    let verdicts: Vec<&str> = imported
        .get("exceptions")
        .as_array()
        .expect("exceptions")
        .iter()
        .map(|e| e["verdict"].as_str().expect("a verdict"))
        .collect();
    assert_eq!(verdicts, ["amount_differs", "unknown_waybill"]);
    import(report).await.expect_problem(409);
    let owed = shop
        .app
        .api
        .get("/api/v1/payments/staff/cod-owed", Some(&shop.finance))
        .await
        .expect(200);
    assert_eq!(owed.body[0]["owed"]["amount_minor"], 100_000, "{}", owed.body);
    assert_eq!(owed.body[0]["items"][0]["order_id"], orders[1].to_string());
}

#[tokio::test]
async fn a_bank_transfer_is_confirmed_by_finance_or_expires_and_the_stock_comes_back() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Haputale", 80_000, 3).await;
    let shopper = shop.app.shopper().await;
    let paid = shop.order(&shopper, tea, 1).await;
    let unpaid = shop.order(&shopper, tea, 2).await;
    for order in [paid, unpaid] {
        let told = shop
            .app
            .api
            .post(
                &format!("/api/v1/payments/orders/{order}/bank-transfer"),
                Some(&shopper.access),
                json!({}),
            )
            .await
            .expect(200);
        assert!(told.get("reference").as_str().expect("a reference").starts_with("POLA-"));
        assert!(told.get("account_number").is_string());
    }
    let confirm = format!("/api/v1/payments/staff/orders/{paid}/bank-transfer");
    shop.app
        .api
        .post(
            &confirm,
            Some(&shop.finance),
            json!({"amount_minor": 70_000, "slip_reference": "CMB-1"}),
        )
        .await
        .expect_problem(422);
    shop.app
        .api
        .post(
            &confirm,
            Some(&shop.fulfilment),
            json!({"amount_minor": 80_000, "slip_reference": "CMB-1"}),
        )
        .await
        .expect_problem(403);
    shop.app
        .api
        .post(
            &confirm,
            Some(&shop.finance),
            json!({"amount_minor": 80_000, "slip_reference": "CMB-1"}),
        )
        .await
        .expect(200);
    assert_eq!(shop.status(paid).await, "paid");

    // Past the payment window, a bank transfer still has its days.
    sqlx::query("UPDATE orders SET created_at = created_at - INTERVAL 2 HOUR WHERE id = ?")
        .bind(unpaid)
        .execute(shop.app.orders.pool())
        .await
        .expect("aged");
    assert_eq!(shop.app.payments.expire_unpaid().await.expect("run"), 0);
    sqlx::query("UPDATE checkouts SET pay_by = NOW(6) - INTERVAL 1 MINUTE WHERE order_id = ?")
        .bind(unpaid)
        .execute(shop.app.payments.pool())
        .await
        .expect("overdue");
    assert_eq!(shop.app.payments.expire_unpaid().await.expect("run"), 1);
    assert_eq!(shop.status(unpaid).await, "cancelled");
    assert_eq!(shop.app.available(tea.product, tea.variant).await, 2);
    // A transfer that arrives now is not taken: finance returns it by hand.
    shop.app
        .api
        .post(
            &format!("/api/v1/payments/staff/orders/{unpaid}/bank-transfer"),
            Some(&shop.finance),
            json!({"amount_minor": 160_000, "slip_reference": "CMB-2"}),
        )
        .await
        .expect_problem(409);
}

#[tokio::test]
async fn a_failed_delivery_goes_out_again_or_comes_back_and_its_stock_is_on_sale_again() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Ella", 60_000, 4).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 3).await;
    shop.app.fulfil_to_shipped(order, &shop.finance, &shop.fulfilment).await;
    let step = |name: &str| format!("/api/v1/fulfilment/orders/{order}/{name}");
    shop.app
        .api
        .post(&step("returned"), Some(&shop.fulfilment), json!({}))
        .await
        .expect_problem(409);
    shop.app
        .api
        .post(
            &step("delivery-failed"),
            Some(&shop.fulfilment),
            json!({"reason": "Address not found"}),
        )
        .await
        .expect(200);
    // Out again, with the same waybill.
    let again = shop
        .app
        .api
        .post(&step("ship"), Some(&shop.fulfilment), json!({"courier": "manual"}))
        .await
        .expect(200);
    assert!(
        again.get("shipment")["waybill"]
            .as_str()
            .expect("a waybill")
            .starts_with("WB-")
    );
    shop.app
        .api
        .post(
            &step("delivery-failed"),
            Some(&shop.fulfilment),
            json!({"reason": "Refused at the door"}),
        )
        .await
        .expect(200);
    assert_eq!(shop.app.available(tea.product, tea.variant).await, 1);
    shop.app
        .api
        .post(&step("returned"), Some(&shop.fulfilment), json!({}))
        .await
        .expect(200);
    assert_eq!(shop.status(order).await, "returned");
    assert_eq!(shop.app.available(tea.product, tea.variant).await, 4);
    // Paid by transfer: finance refunds it by hand, and the order is refunded.
    shop.app
        .api
        .post(
            &format!("/api/v1/payments/staff/orders/{order}/refunds"),
            Some(&shop.finance),
            json!({"reason": "Parcel came back", "reference": "CMB-RF-9"}),
        )
        .await
        .expect(200);
    assert_eq!(shop.status(order).await, "refunded");
    assert_eq!(
        shop.app.available(tea.product, tea.variant).await,
        4,
        "returned once, not twice"
    );
    let steps: Vec<String> = shop.events(order).await;
    assert_eq!(
        steps,
        [
            "order.placed",
            "order.paid",
            "order.packed",
            "order.shipped",
            "order.delivery_failed",
            "order.shipped",
            "order.delivery_failed",
            "order.returned",
            "order.refunded"
        ]
    );
}

#[tokio::test]
async fn another_customer_s_order_cannot_be_paid_or_seen_and_the_window_says_when_it_closes() {
    let shop = paying_shop().await;
    let tea = shop.app.tea(&shop.catalog, "Lunugala", 20_000, 5).await;
    let (owner, intruder) = (shop.app.shopper().await, shop.app.shopper().await);
    let order = shop.order(&owner, tea, 1).await;
    for path in ["payhere", "cod", "bank-transfer"] {
        shop.app
            .api
            .post(
                &format!("/api/v1/payments/orders/{order}/{path}"),
                Some(&intruder.access),
                json!({}),
            )
            .await
            .expect_problem(404);
    }
    shop.app
        .api
        .get(&format!("/api/v1/payments/orders/{order}"), Some(&intruder.access))
        .await
        .expect_problem(404);
    shop.app
        .api
        .get(&format!("/api/v1/payments/staff/orders/{order}"), Some(&owner.access))
        .await
        .expect_problem(404);
    let mine = shop
        .app
        .api
        .get(&format!("/api/v1/payments/orders/{order}"), Some(&owner.access))
        .await
        .expect(200);
    let pay_by: chrono::DateTime<chrono::Utc> = mine.get("pay_by").as_str().expect("a time").parse().expect("a time");
    let left = pay_by - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(29) && left <= chrono::Duration::minutes(30),
        "{left}"
    );
}

/// In production the merchant secret lives in Vault, not in `pola.toml`: read at start from
/// KV v2 (`payments.payhere.vault_path`), and the checkout it signs is taken by payhere-sim.
#[tokio::test]
async fn payhere_s_secrets_are_read_from_vault_when_the_configuration_says_so() {
    use pola_core::config::{PiiBackend, VaultConfig};
    let vault = pola_pii::testing::FakeVault::start();
    vault.put_kv("pola/payhere", json!({"merchant_secret": SECRET, "app_secret": APP_SECRET}));
    let addr = vault.url();
    let shop = paying_shop_with(|config| {
        config.pii.backend = PiiBackend::Vault;
        config.pii.vault = VaultConfig {
            addr,
            role_id: pola_pii::testing::ROLE_ID.into(),
            secret_id: pola_pii::testing::SECRET_ID.into(),
            ..VaultConfig::default()
        };
        let payhere = config.payments.payhere.as_mut().expect("PayHere");
        payhere.merchant_secret = None;
        payhere.app_secret = None;
        payhere.vault_path = Some("pola/payhere".into());
    })
    .await;
    assert!(
        !format!("{:?}", shop.app.config).contains(SECRET),
        "never in the configuration"
    );
    let tea = shop.app.tea(&shop.catalog, "Knuckles", 64_000, 3).await;
    let shopper = shop.app.shopper().await;
    let order = shop.order(&shopper, tea, 1).await;
    let form = shop.payhere(&shopper, order).await;
    shop.sim
        .pay(form["action"].as_str().expect("a URL"), &form["fields"], "success")
        .await
        .expect("payhere-sim takes the hash made with the secret from Vault");
    assert_eq!(shop.status(order).await, "paid");
    assert!(vault.calls("kv-read") >= 1);
}

/// `pola serve --only payments` with orders and identity in another process: every call to them
/// goes through their internal API (`HttpOrders`, `HttpIdentity`), the same moves as in one.
#[tokio::test]
async fn payments_in_a_process_of_its_own_move_orders_through_the_internal_api() {
    let shop = paying_shop().await;
    let front = shop
        .app
        .front(
            &[pola::ServiceName::Payments],
            &[pola::ServiceName::Orders, pola::ServiceName::Identity],
        )
        .await;
    assert_eq!(front.services.placement().local, [pola::ServiceName::Payments]);
    assert!(front.services.orders.is_none() && front.services.identity.is_none());
    let tea = shop.app.tea(&shop.catalog, "Split Uva", 33_000, 5).await;
    let shopper = shop.app.shopper().await;
    let (cod, online) = (shop.order_cod(&shopper, tea, 1).await, shop.order(&shopper, tea, 2).await);

    let confirmed = front
        .api
        .post(
            &format!("/api/v1/payments/orders/{cod}/cod"),
            Some(&shopper.access),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(confirmed.get("order_status"), "confirmed");
    let form = front
        .api
        .post(
            &format!("/api/v1/payments/orders/{online}/payhere"),
            Some(&shopper.access),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(form.get("fields")["first_name"], "Test", "identity's contact, over HTTP");
    let intruder = shop.app.shopper().await;
    front
        .api
        .post(
            &format!("/api/v1/payments/orders/{online}/payhere"),
            Some(&intruder.access),
            json!({}),
        )
        .await
        .expect_problem(404);
    let paid = signed(
        MERCHANT_ID,
        SECRET,
        &online.to_string(),
        "660.00",
        &[("payment_id", "'320077770001'")],
    );
    let reply = front
        .api
        .request(reqwest::Method::POST, NOTIFY)
        .form(&paid)
        .send_reply()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(shop.status(online).await, "paid");
    assert_eq!(shop.events(online).await, ["order.placed", "order.paid"]);
}
