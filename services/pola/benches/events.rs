//! How fast events move (`make bench`): the relay from outbox to RabbitMQ, outbox → RabbitMQ →
//! a consumer end to end, and the notification worker sending welcome emails to a real SMTP
//! server (aiosmtpd).
//!
//! Against the bench MariaDB (durable), the bench RabbitMQ node and an aiosmtpd that
//! `scripts/bench.sh` starts: `POLA_BENCH_DATABASE_URL`, `POLA_BENCH_AMQP_URL`,
//! `POLA_BENCH_SMTP_PORT`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use async_trait::async_trait;
use pola::Services;
use pola_core::{
    auth::TokenKeys,
    config::Config,
    db::connect_server,
    events::{
        self, Envelope,
        consume::{self, Failure, Handler, Subscription},
        relay::Relay,
    },
};
use pola_identity::model::RegisterRequest;
use secrecy::SecretString;
use sqlx::{AssertSqlSafe, Executor};
use tokio::sync::watch;
use uuid::Uuid;

/// The bench's own event.
#[derive(serde::Serialize)]
struct Tick {
    n: usize,
}

impl events::Event for Tick {
    fn kind(&self) -> &'static str {
        "bench.tick"
    }
}

#[derive(Default)]
struct Count(AtomicUsize);

#[async_trait]
impl Handler for Count {
    async fn handle(&self, _: &Envelope) -> Result<(), Failure> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> anyhow::Result<bool>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while !done().await? {
        anyhow::ensure!(started.elapsed() < limit, "{what} did not finish in {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(started.elapsed())
}

fn rate(n: usize, took: Duration) -> String {
    format!("{:.0}/s ({n} in {:.2} s)", n as f64 / took.as_secs_f64(), took.as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let events_n: usize = env("BENCH_EVENTS_N", "20000").parse()?;
    let emails_n: usize = env("BENCH_EMAILS_N", "2000").parse()?;
    let mut config = Config::default();
    config.database.url = SecretString::from(env("POLA_BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3327"));
    config.database.prefix = "benchev".into();
    config.database.max_connections = 16;
    config.pii.keyring_dir = std::env::temp_dir().join(format!("pola-bench-events-{}", Uuid::now_v7().simple()));
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    config.events.amqp_url = Some(SecretString::from(env(
        "POLA_BENCH_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5675/%2f",
    )));
    config.events.exchange = format!("pola.bench.{}", Uuid::now_v7().simple());
    config.events.relay_idle_ms = 5;
    config.notifications.smtp.port = env("POLA_BENCH_SMTP_PORT", "2526").parse()?;
    config.notifications.queue = format!("bench-notifications-{}", Uuid::now_v7().simple());

    let mut server = connect_server(&config.database)
        .await
        .context("the bench MariaDB (make bench starts it)")?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'benchev\\_%'")
            .fetch_all(&mut server)
            .await?;
    for name in names {
        server.execute(AssertSqlSafe(format!("DROP DATABASE `{name}`"))).await?;
    }
    let services = Services::connect(&config, TokenKeys::generate(&config.auth.issuer)?, true).await?;
    let (identity, orders) = (
        services.identity.clone().context("identity runs here")?,
        services.orders.clone().context("orders runs here")?,
    );
    let outbox = orders.pool().clone();

    // 1. The relay: events already in an outbox, published with confirms and marked sent.
    for chunk in (0..events_n).collect::<Vec<_>>().chunks(500) {
        let mut tx = outbox.begin().await?;
        for &n in chunk {
            events::record(&mut tx, &Tick { n }).await?;
        }
        tx.commit().await?;
    }
    let counted = Arc::new(Count::default());
    let (stop, stopped) = watch::channel(false);
    let subscription = Subscription {
        queue: format!("bench-{}", Uuid::now_v7().simple()),
        bindings: vec!["bench.#".into()],
    };
    // The consumer's queue exists before the first event is published.
    consume::declare(&config.events, &subscription).await?;
    let relay = Relay::new(config.events.clone(), vec![("orders", outbox.clone())]);
    tokio::spawn(relay.run(stopped.clone()));
    let relayed = until("the relay", Duration::from_secs(300), async || {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(&outbox)
            .await?;
        Ok(left == 0)
    })
    .await?;
    println!(
        "events relayed, outbox → RabbitMQ (confirmed, marked sent): {}",
        rate(events_n, relayed)
    );

    // 2. End to end: the same events consumed (inbox claim, handler, ack) from the queue they
    // wait in, then the relay and the consumer together on fresh events.
    let started = Instant::now();
    tokio::spawn(consume::run(
        config.events.clone(),
        subscription.clone(),
        outbox.clone(),
        counted.clone(),
        stopped.clone(),
    ));
    until("the consumer", Duration::from_secs(300), async || {
        Ok(counted.0.load(Ordering::Relaxed) >= events_n)
    })
    .await?;
    println!(
        "events consumed from RabbitMQ (inbox, ack): {}",
        rate(events_n, started.elapsed())
    );
    let started = Instant::now();
    for chunk in (0..events_n).collect::<Vec<_>>().chunks(500) {
        let mut tx = outbox.begin().await?;
        for &n in chunk {
            events::record(&mut tx, &Tick { n }).await?;
        }
        tx.commit().await?;
    }
    until("outbox → consumer", Duration::from_secs(300), async || {
        Ok(counted.0.load(Ordering::Relaxed) >= 2 * events_n)
    })
    .await?;
    println!(
        "events written, relayed and consumed together, outbox → RabbitMQ → consumer: {}",
        rate(events_n, started.elapsed())
    );

    // 3. The notification worker: welcome emails for customers who registered while it was
    // away, sent to aiosmtpd once it starts.
    for i in 0..emails_n {
        let request = RegisterRequest {
            email: format!("bench-{i}@example.lk"),
            password: "benchmark passphrase".into(),
            name: format!("Bench Shopper {i}"),
            phone: None,
            nic: None,
            language: Default::default(),
        };
        identity
            .register(request.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?)
            .await?;
    }
    let notify = config.clone();
    let sent_pool = pola_core::db::connect_service(
        &config.database,
        pola_notifications::SERVICE,
        &pola_notifications::MIGRATOR,
        true,
    )
    .await?;
    // Every welcome waits in the worker's queue before the clock starts.
    consume::declare(&notify.events, &pola_notifications::subscription(&notify.notifications)).await?;
    let relay = Relay::new(config.events.clone(), vec![("identity", identity.pool().clone())]);
    tokio::spawn(relay.run(stopped.clone()));
    until("the welcomes queued", Duration::from_secs(300), async || {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(identity.pool())
            .await?;
        Ok(left == 0)
    })
    .await?;
    let started = Instant::now();
    let clients = services.identity_client.as_ref().zip(services.order_briefs.as_ref());
    let (identity_client, order_briefs) = clients.context("identity and orders run here")?;
    pola::start_notifications(&notify, identity_client, order_briefs, true, stopped.clone()).await?;
    until("the welcome emails", Duration::from_secs(600), async || {
        let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'")
            .fetch_one(&sent_pool)
            .await?;
        Ok(sent >= i64::try_from(emails_n)?)
    })
    .await?;
    println!(
        "notification worker, welcome emails sent over SMTP (contact opened, rendered, sent, recorded): {}",
        rate(emails_n, started.elapsed())
    );
    let _ = stop.send(true);
    Ok(())
}
