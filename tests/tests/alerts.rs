//! `pola worker alerts` on both sites of the `local` inventory, against the sites' own APM indices
//! in a real OpenSearch: each alert fires once when its cause comes and resolves once when it
//! goes — a failing upstream (both sites' `pola serve` killed), a stopped replica, a parked event, a
//! burst of attacks on the WAF, and a switchover to DR and back.

use std::{
    collections::BTreeMap,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use lapin::{
    Connection, ConnectionProperties,
    options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
};
use pola_core::events::Envelope;
use pola_e2e::{ONE_AT_A_TIME, Site, Sites, root};
use uuid::Uuid;

/// Every `alert.*` event published on the sites' exchange, as the notification worker gets them.
#[derive(Clone, Default)]
struct Told(Arc<Mutex<Vec<Envelope>>>);

impl Told {
    async fn listen() -> (Self, Connection) {
        let connection = Connection::connect(&pola_core::testing::test_amqp_url(), ConnectionProperties::default())
            .await
            .expect("the test broker");
        let channel = connection.create_channel().await.expect("a channel");
        let queue = format!("alerts-e2e-{}", Uuid::now_v7().simple());
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("a queue");
        channel
            .exchange_declare(
                "pola.events".into(),
                lapin::ExchangeKind::Topic,
                lapin::options::ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the events exchange");
        channel
            .queue_bind(
                queue.as_str().into(),
                "pola.events".into(),
                "alert.*".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bound");
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "alerts-e2e".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consuming");
        let told = Told::default();
        let keep = told.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                if let Ok(event) = serde_json::from_slice::<Envelope>(&delivery.data) {
                    keep.0.lock().expect("unpoisoned").push(event);
                }
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
        });
        (told, connection)
    }

    /// How many times each key fired and resolved so far.
    fn counts(&self) -> BTreeMap<String, (usize, usize)> {
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for event in self.0.lock().expect("unpoisoned").iter() {
            let key = event.data["alert"]["key"].as_str().unwrap_or_default().to_owned();
            let e = counts.entry(key).or_default();
            match event.kind.as_str() {
                "alert.fired" => e.0 += 1,
                _ => e.1 += 1,
            }
        }
        counts
    }

    /// Every change told so far, in order, with its figures: what a failure shows.
    fn timeline(&self) -> String {
        self.0
            .lock()
            .expect("unpoisoned")
            .iter()
            .map(|event| {
                let alert = &event.data["alert"];
                format!(
                    "{} {} {}: {} ({})\n",
                    event.occurred_at.format("%H:%M:%S%.3f"),
                    event.kind,
                    alert["key"].as_str().unwrap_or_default(),
                    alert["title"].as_str().unwrap_or_default(),
                    alert["detail"].as_str().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// After a few more rounds of checks under steady traffic (which must change nothing, and
    /// long enough for each of `allowed` that fired to resolve), the counts, once each of
    /// `caused` fired and resolved exactly that many times since `since`, each of `allowed`
    /// at most twice each way and as often as it fired, and nothing else changed.
    async fn settled(
        &self,
        sites: &Sites,
        since: &BTreeMap<String, (usize, usize)>,
        caused: &[(&str, usize)],
        allowed: &[&str],
    ) -> BTreeMap<String, (usize, usize)> {
        let start = Instant::now();
        loop {
            browse(sites).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let counts = self.counts();
            let open = allowed
                .iter()
                .any(|k| counts.get(*k).is_some_and(|(fired, resolved)| fired != resolved));
            let waited = start.elapsed();
            if waited > Duration::from_secs(240) || (waited > Duration::from_secs(15) && !open) {
                break;
            }
        }
        let now = self.counts();
        let timeline = self.timeline();
        for (key, (fired, resolved)) in &now {
            let (was_fired, was_resolved) = since.get(key).copied().unwrap_or_default();
            let change = (fired - was_fired, resolved - was_resolved);
            match caused.iter().find(|(k, _)| k == key) {
                Some((_, times)) => assert_eq!(change, (*times, *times), "{key}:\n{timeline}"),
                None if allowed.contains(&key.as_str()) => {
                    assert!(change.0 <= 2 && change.0 == change.1, "{key}:\n{timeline}");
                }
                None => assert_eq!(change, (0, 0), "{key} was not caused:\n{timeline}"),
            }
        }
        for (key, _) in caused {
            assert!(now.contains_key(*key), "{key} was never told:\n{timeline}");
        }
        now
    }

    /// Waits until each of `keys` has fired `fired` times and resolved `resolved` times.
    async fn until(&self, keys: &[&str], fired: usize, resolved: usize, what: &str, mut meanwhile: impl AsyncFnMut()) {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let counts = self.counts();
            if keys
                .iter()
                .all(|k| counts.get(*k).is_some_and(|c| c.0 >= fired && c.1 >= resolved))
            {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {counts:#?}\n{}", self.timeline());
            meanwhile().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A few catalogue reads through the edge: the traffic rates are judged on.
async fn browse(sites: &Sites) {
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let _ = client
            .get(format!("{}/api/v1/catalog/products?limit=5", sites.edge()))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_alert_fires_once_when_its_cause_comes_and_resolves_once_when_it_goes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let sites = Sites::up("alerts").await;
    let (told, _connection) = Told::listen().await;
    let parked_queue = format!("alerts-e2e-{}", Uuid::now_v7().simple());
    let log = std::fs::File::create(sites.dir.join("pola-alerts.log")).expect("a log file");
    let mut worker = tokio::process::Command::new(root().join("target/debug/pola"))
        .arg("--config")
        .arg(sites.dir.join("dc/pola.toml"))
        .args(["worker", "alerts"])
        .env("POLA_ALERTS__INTERVAL_SECS", "2")
        .env("POLA_ALERTS__WINDOW_MINUTES", "1")
        .env("POLA_ALERTS__RESOLVE_AFTER_SECS", "6")
        .env("POLA_ALERTS__MIN_REQUESTS", "5")
        .env("POLA_ALERTS__WAF_BLOCKS_PER_MINUTE", "10")
        .env("POLA_ALERTS__QUEUES", format!("[\"{parked_queue}\"]"))
        .stdout(log.try_clone().expect("the log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the alert worker starts");
    browse(&sites).await;

    // A failing upstream: every pola serve of both sites dies, and the edge answers 5xx (it may
    // also leave DC, which cannot serve, and come back: that is told too). The playbook brings
    // them back.
    let start = told.counts();
    for site in [Site::Dc, Site::Dr] {
        for process in ["pola-serve", "pola-serve-2"] {
            sites.kill(site, process);
        }
    }
    told.until(&["errors:pola-edge"], 1, 0, "the errors alert", async || browse(&sites).await)
        .await;
    sites.playbook("site.yml", &[]).await;
    // Rates are judged over the last minute: the failures leave it as good traffic goes on.
    told.until(&["errors:pola-edge"], 1, 1, "the errors alert's resolution", async || {
        browse(&sites).await
    })
    .await;
    let failed = told.settled(&sites, &start, &[("errors:pola-edge", 1)], &["edge_site"]).await;

    // Then, at once: DR stops replicating, an event is parked, an attacker bursts at the WAF.
    let dr = sites.db(Site::Dr).await;
    sqlx::query("STOP SLAVE").execute(&dr).await.expect("replication stops");
    let events = events_config();
    let (connection, channel) = pola_core::events::broker::connect(&events, "alerts-e2e")
        .await
        .expect("the broker");
    pola_core::events::broker::declare_queue(&channel, &events, &parked_queue, &[])
        .await
        .expect("the queue and its parking");
    // What a consumer parks: an event it could not handle, with its attempts spent.
    let refused = Envelope {
        id: Uuid::now_v7(),
        kind: "order.placed".into(),
        occurred_at: chrono::Utc::now(),
        version: 99,
        data: serde_json::json!({}),
    };
    pola_core::events::broker::publish_confirmed(
        &channel,
        "",
        &pola_core::events::broker::parking_queue(&parked_queue),
        &serde_json::to_vec(&refused).expect("json"),
        pola_core::events::broker::properties(&refused.id.to_string(), &refused.kind, FieldTable::default()),
    )
    .await
    .expect("parked");
    pola_core::events::broker::close(&connection, "done").await;
    let client = reqwest::Client::new();
    for _ in 0..15 {
        let attack = client
            .get(format!("{}/api/v1/catalog/products", sites.edge()))
            .query(&[("q", "1' OR '1'='1' UNION SELECT password FROM staff --")])
            .send()
            .await
            .expect("the edge answers");
        assert_eq!(attack.status(), 403, "the WAF stops it");
    }
    let parked = format!("parked:{parked_queue}");
    let causes = ["replication:dr", parked.as_str(), "waf"];
    told.until(&causes, 1, 0, "the replication, parked and WAF alerts", async || {
        browse(&sites).await
    })
    .await;

    // They go: DR replicates again, the parked event is replayed, the attacker has left.
    sqlx::query("START SLAVE").execute(&dr).await.expect("replication starts");
    let replayed = std::process::Command::new(root().join("target/debug/pola"))
        .arg("--config")
        .arg(sites.dir.join("dc/pola.toml"))
        .args(["events", "dlq", "--queue", &parked_queue, "replay", "--all"])
        .stdout(Stdio::null())
        .status()
        .expect("pola events dlq replay runs");
    assert!(replayed.success());
    told.until(&causes, 1, 1, "their resolutions", async || browse(&sites).await)
        .await;
    let caused: Vec<(&str, usize)> = causes.iter().map(|k| (*k, 1)).collect();
    let before = told.settled(&sites, &failed, &caused, &[]).await;

    // A switchover moves the edge to DR (fires), and back (resolves).
    sites.playbook("switchover.yml", &[]).await;
    let moved = before.get("edge_site").map_or(0, |c| c.0);
    told.until(&["edge_site"], moved + 1, moved, "the edge's move to DR", async || {
        browse(&sites).await
    })
    .await;
    sites.playbook("switchover.yml", &[]).await;
    told.until(&["edge_site"], moved + 1, moved + 1, "the edge's move back", async || {
        browse(&sites).await
    })
    .await;
    // While a standby is promoted it does not replicate: that may be told too, once each way.
    told.settled(&sites, &before, &[("edge_site", 1)], &["replication:dc", "replication:dr"])
        .await;
    let _ = worker.kill().await;
    println!("{}", told.timeline());
}

/// The events settings the sites use (their RabbitMQ is the test broker).
fn events_config() -> pola_core::config::EventsConfig {
    pola_core::config::EventsConfig {
        amqp_url: Some(pola_core::testing::test_amqp_url().into()),
        ..Default::default()
    }
}
