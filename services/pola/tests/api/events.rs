//! Events through a real RabbitMQ: recorded with their change, relayed in order, handled once,
//! retried, parked and replayed; a broker restart in the middle of a burst loses and doubles
//! nothing.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use pola_core::{
    auth::Role,
    events::{
        Envelope,
        consume::{self, Failure, Handler, Subscription},
        parking,
    },
    testing::test_amqp_url,
};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::harness::{OwnBroker, TestApp, spawn_app_with, thousand_orders_across_a_broker_restart, uuid, with_events};

/// A consumer that remembers what it handled, and fails the events of some customers on demand.
#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<Envelope>>,
    calls: Mutex<HashMap<Uuid, u32>>,
    failing_customers: Mutex<HashSet<Uuid>>,
    /// Customers whose events meet a database that is switching roles, this many more times.
    switching_customers: Mutex<HashMap<Uuid, u32>>,
}

impl Recorder {
    fn handled(&self) -> Vec<Envelope> {
        self.handled.lock().expect("unpoisoned").clone()
    }

    /// Waits until `done` holds for what was handled: a bound on liveness, not a timing. The
    /// whole suite on two cores once took over a minute to relay a burst of a thousand orders.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Envelope]) -> bool) -> Vec<Envelope> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let handled = self.handled();
            if done(&handled) {
                return handled;
            }
            assert!(Instant::now() < deadline, "{what}: only {} events handled", handled.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, event: &Envelope) -> Result<(), Failure> {
        *self.calls.lock().expect("unpoisoned").entry(event.id).or_default() += 1;
        let customer = event.data["customer_id"].as_str().and_then(|s| s.parse().ok());
        if customer.is_some_and(|c| self.failing_customers.lock().expect("unpoisoned").contains(&c)) {
            return Err(Failure::Retry(anyhow::anyhow!("the mail server is away")));
        }
        let switching = customer.is_some_and(|c| {
            let mut switching = self.switching_customers.lock().expect("unpoisoned");
            switching.get_mut(&c).is_some_and(|left| {
                let now = *left > 0;
                *left = left.saturating_sub(1);
                now
            })
        });
        if switching {
            // What a look-up meets while the sites switch: the same error the services return.
            return Err(Failure::from(pola_core::Error::NotWritable));
        }
        self.handled.lock().expect("unpoisoned").push(event.clone());
        Ok(())
    }
}

/// A consumer of every event on the app's exchange, into `recorder`, until the sender drops;
/// its queue exists when this returns.
async fn consumer(app: &TestApp, recorder: &Arc<Recorder>) -> (watch::Sender<bool>, String) {
    let queue = format!("test-{}", Uuid::now_v7().simple());
    let (stop, stopped) = watch::channel(false);
    let subscription = Subscription {
        queue: queue.clone(),
        bindings: vec!["#".into()],
    };
    consume::declare(&app.config.events, &subscription).await.expect("declared");
    tokio::spawn(consume::run(
        app.config.events.clone(),
        subscription,
        app.orders.pool().clone(),
        recorder.clone(),
        stopped,
    ));
    (stop, queue)
}

fn of_order(handled: &[Envelope], order: Uuid) -> Vec<String> {
    handled
        .iter()
        .filter(|e| e.data["order_id"] == json!(order))
        .map(|e| e.kind.clone())
        .collect()
}

#[tokio::test]
async fn an_orders_life_is_published_once_per_change_in_order_and_carries_no_personal_data() {
    let app = spawn_app_with(with_events(test_amqp_url())).await;
    let recorder = Arc::new(Recorder::default());
    let (_stop, _) = consumer(&app, &recorder).await;
    let (staff, finance, fulfilment) = (
        app.staff(&[Role::Catalog]).await,
        app.staff(&[Role::Finance]).await,
        app.staff(&[Role::Fulfilment]).await,
    );
    let tea = app.tea(&staff, "Uva", 95_000, 6).await;
    let shopper = app.shopper().await;
    let order = uuid(
        app.buy_for_delivery(&shopper.access, tea.variant, 1)
            .await
            .expect(201)
            .get("id"),
    );
    app.fulfil(order, &finance, &fulfilment).await;

    let handled = recorder
        .wait_for("the order's life", |h| {
            of_order(h, order).len() == 5 && h.iter().any(|e| e.kind == "stock.low")
        })
        .await;
    assert_eq!(
        of_order(&handled, order),
        [
            "order.placed",
            "order.paid",
            "order.packed",
            "order.shipped",
            "order.delivered"
        ]
    );
    let placed = handled.iter().find(|e| e.kind == "order.placed").expect("placed");
    assert_eq!(placed.version, 1);
    // Rs 950 of tea and Rs 350 to deliver it in Colombo.
    assert_eq!(placed.data["total_minor"], 130_000);
    let low = handled.iter().find(|e| e.kind == "stock.low").expect("stock.low");
    assert_eq!(
        (&low.data["variant_id"], &low.data["available"]),
        (&json!(tea.variant), &json!(5))
    );
    let registered: Vec<_> = handled.iter().filter(|e| e.kind == "customer.registered").collect();
    assert_eq!(registered.len(), 1);
    let everything = serde_json::to_string(&handled).expect("json");
    for personal in [shopper.email.as_str(), "Test Shopper", "Test Staff"] {
        assert!(!everything.contains(personal), "{personal} travelled in an event");
    }
    // Once each, though the relay and the consumer both run on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.handled().len(), handled.len());
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_retried_then_parked_and_can_be_replayed() {
    let app = spawn_app_with(with_events(test_amqp_url())).await;
    let recorder = Arc::new(Recorder::default());
    let (_stop, queue) = consumer(&app, &recorder).await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Nuwara Eliya", 80_000, 50).await;
    let customer = Uuid::now_v7();
    recorder.failing_customers.lock().expect("unpoisoned").insert(customer);
    let token = app.customer_token(customer);
    for quantity in [1, 2] {
        app.buy_now(&token, tea.variant, quantity).await.expect(201);
    }

    // Tried, retried after 50 ms and 100 ms, then parked with its last error.
    let deadline = Instant::now() + Duration::from_secs(30);
    let parked = loop {
        let (parked, _) = parking::visit(&app.config.events, &queue, 10, |_| false)
            .await
            .expect("the parking queue");
        if parked.len() == 2 {
            break parked;
        }
        assert!(Instant::now() < deadline, "never parked: {parked:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        parked.iter().all(|p| p.kind == "order.placed" && p.attempts == 3),
        "{parked:?}"
    );
    assert_eq!(parked[0].error.as_deref(), Some("the mail server is away"));
    let ids: Vec<Uuid> = parked.iter().map(|p| p.id.parse().expect("an id")).collect();
    for id in &ids {
        assert_eq!(recorder.calls.lock().expect("unpoisoned")[id], 3);
    }
    // Listing took nothing away.
    let (again, _) = parking::visit(&app.config.events, &queue, 10, |_| false)
        .await
        .expect("listed");
    assert_eq!(again.len(), 2);

    // The mail server is back: one replayed on its own, then the rest.
    recorder.failing_customers.lock().expect("unpoisoned").clear();
    let first = parked[0].id.clone();
    let (_, replayed) = parking::visit(&app.config.events, &queue, 10, |p| p.id == first)
        .await
        .expect("replayed");
    assert_eq!(replayed, 1);
    recorder
        .wait_for("the replayed event", |h| h.iter().any(|e| e.id == ids[0]))
        .await;
    let (left, replayed) = parking::visit(&app.config.events, &queue, 10, |_| true)
        .await
        .expect("replayed");
    assert_eq!((left.len(), replayed), (1, 1));
    let handled = recorder
        .wait_for("every event", |h| ids.iter().all(|id| h.iter().any(|e| e.id == *id)))
        .await;
    for id in &ids {
        assert_eq!(handled.iter().filter(|e| e.id == *id).count(), 1);
    }
    let (empty, _) = parking::visit(&app.config.events, &queue, 10, |_| false)
        .await
        .expect("listed");
    assert!(empty.is_empty());
}

#[tokio::test]
async fn a_look_up_that_meets_a_database_switching_roles_is_retried_until_it_passes_and_never_parked() {
    let app = spawn_app_with(with_events(test_amqp_url())).await;
    let recorder = Arc::new(Recorder::default());
    let (_stop, queue) = consumer(&app, &recorder).await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Kandy", 70_000, 50).await;
    let customer = Uuid::now_v7();
    // Three times the two retries a failing delivery gets before it is parked.
    recorder.switching_customers.lock().expect("unpoisoned").insert(customer, 6);
    let order = uuid(
        app.buy_now(&app.customer_token(customer), tea.variant, 1)
            .await
            .expect(201)
            .get("id"),
    );

    let handled = recorder
        .wait_for("the order placed, once the database takes writes again", |h| {
            of_order(h, order).contains(&"order.placed".to_owned())
        })
        .await;
    assert_eq!(of_order(&handled, order), ["order.placed"], "handled once");
    let placed = handled.iter().find(|e| e.data["order_id"] == json!(order)).expect("placed");
    assert_eq!(
        recorder.calls.lock().expect("unpoisoned")[&placed.id],
        7,
        "six transient failures, then done"
    );
    let (parked, _) = parking::visit(&app.config.events, &queue, 10, |_| false)
        .await
        .expect("the parking queue");
    assert!(parked.is_empty(), "nothing parked: {parked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_in_a_burst_of_a_thousand_orders_loses_and_doubles_nothing() {
    let broker = Arc::new(tokio::task::spawn_blocking(OwnBroker::start).await.expect("started"));
    let app = Arc::new(spawn_app_with(with_events(broker.url())).await);
    let recorder = Arc::new(Recorder::default());
    let (_stop, _) = consumer(&app, &recorder).await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Dimbula", 30_000, 100_000).await;

    let placed: HashSet<Uuid> = thousand_orders_across_a_broker_restart(&app, tea.variant, None, &broker)
        .await
        .into_iter()
        .collect();

    let handled = recorder
        .wait_for("a thousand orders", |h| {
            h.iter().filter(|e| e.kind == "order.placed").count() >= 1000
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let handled_orders: Vec<Uuid> = recorder
        .handled()
        .iter()
        .filter(|e| e.kind == "order.placed")
        .map(|e| e.data["order_id"].as_str().expect("an id").parse().expect("a uuid"))
        .collect();
    assert_eq!(handled_orders.len(), 1000, "none doubled");
    assert_eq!(handled_orders.into_iter().collect::<HashSet<_>>(), placed, "none lost");
    drop((handled, broker));
}
