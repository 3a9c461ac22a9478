//! `pola`: every Pola service in one binary.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pola::{Placement, ServiceName, Services};
use pola_core::{
    auth::{Role, TokenKeys},
    config::Config,
};
use pola_identity::store::Pass;

/// Pola, a self-hosted shop: run the services, prepare the databases, seed a demo shop, and
/// manage staff accounts.
///
/// Configuration is read from the TOML file given with --config (or POLA_CONFIG), then from
/// POLA_… environment variables, e.g. POLA_DATABASE__URL=mysql://root@127.0.0.1:3307 or
/// POLA_HTTP__ADDR=0.0.0.0:8080 (two underscores between levels). See README.md for every key.
#[derive(Debug, Parser)]
#[command(name = "pola", version)]
struct Cli {
    /// The configuration file (TOML). Without it, built-in defaults and the environment apply.
    #[arg(long, global = true, env = "POLA_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (all services, or those named with --only) until Ctrl-C or SIGTERM.
    ///
    /// Applies pending database migrations first unless --no-migrate is given, and creates the
    /// token signing key file if it does not exist.
    Serve {
        /// Serve only these services, comma-separated: identity,catalog,inventory,cart,orders,payments.
        /// What they need runs in this process too, unless its URL is configured
        /// (POLA_SERVICES__CATALOG_URL, …_INVENTORY_URL, …_CART_URL, with POLA_SERVICES__INTERNAL_TOKEN).
        #[arg(long, value_delimiter = ',')]
        only: Vec<ServiceName>,
        /// Do not apply migrations; fail if the databases are missing.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Create every service's database if needed and apply pending migrations, then exit.
    Migrate,
    /// Fill the catalog and stock with a demo shop (once: does nothing if products exist).
    Seed {
        /// Seed the Sri Lankan demo shop. (Required, so that seeding is never an accident.)
        #[arg(long, required = true)]
        demo: bool,
        /// How many products to create.
        #[arg(long, default_value_t = 10_000)]
        products: usize,
        /// How many orders of the last year to write as the shop's history (once: not when
        /// there are orders), for "customers also bought" to learn from.
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
    },
    /// Manage staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Manage the keys that protect customers' personal data.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Run a worker until Ctrl-C or SIGTERM.
    Worker {
        #[command(subcommand)]
        worker: Worker,
    },
    /// Both sites at a glance: which database takes writes, GTID positions, replication lag and
    /// threads, semi-sync (and silent fallbacks to async), and the edge's active site. Exits 2
    /// when no site or more than one site takes writes.
    Status {
        /// A site's database, NAME=URL (repeat for each site). Default: `[backoffice] sites`, else this=database.url.
        #[arg(long = "site")]
        sites: Vec<pola::status::SiteUrl>,
        /// The edge's admin listener (host:port), to show its active site.
        #[arg(long)]
        edge: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Events: what is parked after failing every retry; sending recent events again.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// A staff report, read from the standby site's databases (never the primary unless
    /// --allow-primary): sales, top-products, low-stock, stock-value, payments, cod-owed, refunds,
    /// promotions, customers, cohorts, abandoned-carts, support.
    Report {
        /// Which report.
        #[arg(value_parser = |s: &str| s.parse::<pola_reporting::Report>())]
        name: pola_reporting::Report,
        /// First day, in Colombo (YYYY-MM-DD). Default 30 days before --to.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day, in Colombo, included. Default today.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Sales: day, week, month, district, category or method.
        #[arg(long, default_value = "day", value_parser = |s: &str| s.parse::<pola_reporting::SalesBy>())]
        by: pola_reporting::SalesBy,
        /// Top products: how many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Low stock: at most this many units left to sell.
        #[arg(long, default_value_t = 5)]
        threshold: i64,
        /// Abandoned carts: untouched for at least this many hours.
        #[arg(long, default_value_t = 24)]
        idle_hours: u32,
        /// text (a table), csv or json.
        #[arg(long, default_value = "text")]
        format: ReportFormat,
        /// Run on the primary when no replica answers.
        #[arg(long)]
        allow_primary: bool,
    },
    /// APM in OpenSearch (apm.url): its index templates and retention.
    Apm {
        #[command(subcommand)]
        command: ApmCommand,
    },
    /// "Customers also bought": rebuild it from orders, and measure how well it suggests.
    Recommendations {
        #[command(subcommand)]
        command: RecommendationsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ApmCommand {
    /// Installs (or updates) the index templates of traces, logs and metrics, and the retention
    /// policy where OpenSearch has index state management. Safe to run again.
    Setup,
    /// Deletes APM indices older than apm.retention_days (where OpenSearch has no index state
    /// management to do it; the alert worker also runs it daily).
    Prune,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
enum RecommendationsCommand {
    /// Reads every purchase from orders and counts everything afresh, with a progress bar:
    /// what the event consumer missed is recorded, what was undone is forgotten.
    Rebuild,
    /// Measures suggestions offline on the shop's purchases: trained on the first 80% by date,
    /// each product of each later purchase with two or more is held out in turn, and a hit is
    /// finding it among the suggestions for the rest of its basket — against the same number of
    /// bestsellers.
    Evaluate {
        /// Suggestions shown (hit@k).
        #[arg(long, default_value_t = 6)]
        k: usize,
    },
}

#[derive(Debug, Subcommand)]
enum Worker {
    /// Email and SMS to customers and staff, from events (`notifications` queue). Needs
    /// events.amqp_url; reaches identity and orders over HTTP where services.identity_url and
    /// services.orders_url say (with services.internal_token), else runs them in its process.
    Notifications,
    /// Alerts for the on-call staff (`[alerts]`): errors, latency, replication, semi-sync,
    /// outboxes, parked events, WAF blocks, the edge's site and disks, checked against APM in
    /// OpenSearch (apm.url) and RabbitMQ, told through the notification worker. Run one.
    Alerts,
    /// The managers' daily summary of the reports (`notifications.manager_emails`), read on
    /// the standby site at `reporting.summary_at` Colombo time and emailed by the notification
    /// worker. Each day's summary is sent once, however many run.
    Summary {
        /// Send one day's summary now (default yesterday's) and stop.
        #[arg(long)]
        once: bool,
        /// The day (`2026-12-02`, Colombo), with --once.
        #[arg(long, requires = "once")]
        date: Option<chrono::NaiveDate>,
    },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// The parking queue (dead letters) of a consumer.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
        /// The consumer's queue.
        #[arg(long, global = true, default_value = "notifications")]
        queue: String,
    },
    /// After a failover: send again every event relayed in the last minutes, on the new primary.
    /// The lost site's broker took with it what no worker had consumed yet; consumers' inboxes
    /// make the ones already handled no-ops, so each is handled once.
    Republish {
        /// How far back, in minutes (events.republish_window_minutes, default 15).
        #[arg(long)]
        minutes: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// One line per parked event: id, type, attempts, last error.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One parked event in full (JSON), with its last error.
    Show { id: String },
    /// Send parked events back to their queue, with their attempts counted afresh.
    Replay {
        /// The event to replay.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Replay every parked event.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new key-encryption key current, then rewrap every customer's data key with it,
    /// with a progress bar. Sign-ins and reads go on meanwhile. If it stops half-way, run it
    /// again with --resume to finish without starting another rotation.
    Rotate {
        /// Only rewrap the data keys an earlier, interrupted rotation left behind.
        #[arg(long)]
        resume: bool,
    },
    /// Make a new blind-index key current. Running servers re-index every customer in the
    /// background; sign-ins and staff search match either key meanwhile. With --wait, this
    /// command re-indexes itself, with a progress bar.
    RotateBlindIndex {
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Create a staff account; prints its id.
    Create {
        /// Sign-in email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Staff")]
        name: String,
        /// A role (admin, catalog, support, finance); repeat for several.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// The password (at least 10 characters). Prefer the environment variable, which does
        /// not show in the process list.
        #[arg(long, env = "POLA_STAFF_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role `{s}`; roles are admin, catalog, support, finance"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    pola_core::install_crypto_provider();
    let config = Config::load(cli.config.as_deref())?;
    // A report's answer is its standard output; its log lines go beside it. Servers and workers
    // ship their telemetry to OpenSearch (apm.url); one-off commands only log.
    let (output, service) = match cli.command {
        Command::Report { .. } => (pola_core::telemetry::LogOutput::Stderr, None),
        Command::Serve { .. } => (pola_core::telemetry::LogOutput::Stdout, Some("pola-serve")),
        Command::Worker { worker: Worker::Alerts } => (pola_core::telemetry::LogOutput::Stdout, Some("pola-alerts")),
        Command::Worker { .. } => (pola_core::telemetry::LogOutput::Stdout, Some("pola-worker")),
        _ => (pola_core::telemetry::LogOutput::Stdout, None),
    };
    let no_apm = pola_apm::ApmConfig::default();
    let apm = if service.is_some() { &config.apm } else { &no_apm };
    pola_core::telemetry::init_telemetry(&config.log, apm, service.unwrap_or("pola"), output);
    match cli.command {
        Command::Serve { only, no_migrate } => serve(&config, &only, !no_migrate).await,
        Command::Migrate => {
            connect(&config, true).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed {
            demo: _,
            products,
            orders,
        } => {
            let services = connect(&config, true).await?;
            let (catalog, inventory) = services
                .catalog
                .as_deref()
                .zip(services.inventory.as_deref())
                .context("all services run here")?;
            pola::seed::demo(catalog, inventory, &config, products).await?;
            let written = pola::history::seed(&services, orders).await?;
            if written.orders > 0 {
                println!(
                    "seeded a history of {} orders, {} support tickets and {} abandoned carts",
                    written.orders, written.tickets, written.carts
                );
                rebuild(&services).await?;
            }
            Ok(())
        }
        Command::Recommendations {
            command: RecommendationsCommand::Rebuild,
        } => rebuild(&connect(&config, true).await?).await,
        Command::Recommendations {
            command: RecommendationsCommand::Evaluate { k },
        } => {
            let services = connect(&config, true).await?;
            let orders = services.orders_client.as_deref().context("all services run here")?;
            let min_support = config.recommendations.min_support;
            let mut baskets = vec![];
            let mut after = None;
            loop {
                let page = orders.purchases(after, 5_000).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                let Some(last) = page.last() else { break };
                after = Some(last.order_id);
                baskets.extend(page);
            }
            baskets.sort_by_key(|b| b.placed_at);
            let baskets: Vec<Vec<uuid::Uuid>> = baskets.into_iter().map(|b| b.products).collect();
            let (train, test) = baskets.split_at(baskets.len() * 4 / 5);
            let rate = pola_recommendations::model::evaluate(train, test, k, min_support);
            println!(
                "hit@{k} on {} held-out products of {} later purchases: co-purchases {:.1}%, bestsellers {:.1}% ({:.1}×); trained on {} purchases, minimum support {min_support}",
                rate.cases,
                test.iter().filter(|b| b.len() >= 2).count(),
                100.0 * rate.rate(),
                100.0 * rate.baseline_rate(),
                rate.rate() / rate.baseline_rate().max(f64::MIN_POSITIVE),
                train.len(),
            );
            Ok(())
        }
        Command::Keys { command } => {
            let services = connect(&config, true).await?;
            let identity = services.identity.as_deref().context("all services run here")?;
            keys(identity, command).await.map_err(|e| anyhow::anyhow!("{e}"))
        }
        Command::Worker {
            worker: Worker::Notifications,
        } => {
            let needs = [ServiceName::Identity, ServiceName::Orders];
            let placement = Placement::needing(&config, &needs);
            let over_http = placement.remote.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            let services = connect_placed(&config, true, placement).await?;
            let (identity, orders) = services
                .identity_client
                .as_ref()
                .zip(services.order_briefs.as_ref())
                .context("the notification worker reaches identity and orders here or over HTTP")?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let tasks = pola::start_notifications(&config, identity, orders, true, stopped).await?;
            tracing::info!(over_http, "notification worker running");
            shutdown_signal().await;
            tracing::info!("stopping: finishing the deliveries in hand");
            let _ = stop.send(true);
            for task in tasks {
                task.await?;
            }
            Ok(())
        }
        Command::Worker {
            worker: Worker::Summary { once: true, date },
        } => {
            let date = date.unwrap_or_else(|| pola::summary::yesterday(chrono::Utc::now()));
            pola::summary::send(&config, date).await
        }
        Command::Worker {
            worker: Worker::Summary { once: false, .. },
        } => {
            let at = config.reporting.summary_time().map_err(|e| anyhow::anyhow!(e))?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let worker = tokio::spawn({
                let config = config.clone();
                async move { pola::summary::run(&config, at, stopped).await }
            });
            tracing::info!(%at, "daily summary worker running");
            shutdown_signal().await;
            let _ = stop.send(true);
            worker.await?
        }
        Command::Worker { worker: Worker::Alerts } => {
            anyhow::ensure!(config.apm.url.is_some(), "the alert worker reads APM: set apm.url");
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let worker = tokio::spawn({
                let config = config.clone();
                async move { pola::alerts::run(&config, stopped).await }
            });
            tracing::info!("alert worker running");
            shutdown_signal().await;
            let _ = stop.send(true);
            worker.await?
        }
        Command::Apm {
            command: ApmCommand::Setup,
        } => {
            let report = pola_apm::setup::setup(&config.apm).await?;
            println!("index templates: {}", report.templates.join(", "));
            match report.policy {
                Some(policy) => println!(
                    "retention: the ISM policy {policy} deletes indices after {} days",
                    config.apm.retention_days
                ),
                None => println!(
                    "retention: OpenSearch has no index state management; `pola apm prune` deletes indices after {} days",
                    config.apm.retention_days
                ),
            }
            Ok(())
        }
        Command::Apm {
            command: ApmCommand::Prune,
        } => {
            let deleted = pola_apm::setup::prune(&config.apm).await?;
            println!(
                "deleted {} indices older than {} days: {}",
                deleted.len(),
                config.apm.retention_days,
                deleted.join(", ")
            );
            Ok(())
        }
        Command::Report {
            name,
            from,
            to,
            by,
            limit,
            threshold,
            idle_hours,
            format,
            allow_primary,
        } => {
            let to = to.unwrap_or_else(|| chrono::Utc::now().with_timezone(&pola_core::clock::colombo()).date_naive());
            let from = from.unwrap_or(to - chrono::Duration::days(30));
            let request = pola_reporting::Request {
                by,
                limit,
                threshold,
                idle_hours,
                ..pola_reporting::Request::new(name, pola_reporting::Period { from, to })
            };
            let reporting = pola_reporting::Reporting::new(&config)?.allowing_primary(allow_primary);
            let table = pola_reporting::run(&reporting, &request).await;
            reporting.close().await;
            let table = table?;
            match format {
                ReportFormat::Text => print!("{}", table.text()),
                ReportFormat::Csv => print!("{}", table.csv()?),
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&table.json())?),
            }
            Ok(())
        }
        Command::Status { sites, edge, json } => {
            let sites = match sites.is_empty() {
                true => pola::status::configured_sites(&config),
                false => sites,
            };
            let report = pola::status::report(&sites, edge.as_deref()).await;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&report)?),
                false => print!("{}", report.render()),
            }
            if report.writable_sites() != 1 {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Events {
            command: EventsCommand::Dlq { command, queue },
        } => dlq(&config, &queue, command).await,
        Command::Events {
            command: EventsCommand::Republish { minutes },
        } => {
            let window = std::time::Duration::from_secs(60 * minutes.unwrap_or(config.events.republish_window_minutes));
            let services = connect(&config, false).await?;
            for (service, pool) in services.outboxes() {
                let events = pola_core::events::relay::republish(&pool, window).await?;
                println!("{service}: {events} events to send again");
                tracing::warn!(
                    service,
                    events,
                    window_secs = window.as_secs(),
                    "recent events marked for sending again"
                );
            }
            Ok(())
        }
        Command::Staff {
            command:
                StaffCommand::Create {
                    email,
                    name,
                    roles,
                    password,
                },
        } => {
            let services = connect(&config, true).await?;
            let id = services
                .identity
                .as_deref()
                .context("all services run here")?
                .create_staff(&email, &name, &roles, password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{id}");
            Ok(())
        }
    }
}

async fn keys(identity: &pola_identity::Identity, command: KeysCommand) -> Result<(), pola_core::Error> {
    match command {
        KeysCommand::Rotate { resume } => {
            if !resume {
                let version = identity.rotate_key_encryption_key().await?;
                println!("key-encryption key version {version} is now current");
            }
            run_pass(identity, Pass::Rewrap, "rewrapping", "data keys").await
        }
        KeysCommand::RotateBlindIndex { wait } => {
            let version = identity.rotate_blind_index_key().await?;
            println!("blind-index key version {version} is now current");
            if wait {
                run_pass(identity, Pass::Reindex, "re-indexing", "customers").await
            } else {
                println!("running servers re-index in the background");
                Ok(())
            }
        }
    }
}

/// Runs `pass` to the end with a progress bar.
async fn run_pass(identity: &pola_identity::Identity, pass: Pass, doing: &str, what: &str) -> Result<(), pola_core::Error> {
    let left = identity.left(pass).await?;
    let bar = indicatif::ProgressBar::new(u64::try_from(left).unwrap_or(0)).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {doing} [{{bar:40}}] {{pos}}/{{len}} {what}, {{per_sec}}, {{eta}} left"
        ))
        .map_err(|e| pola_core::Error::Internal(e.into()))?
        .progress_chars("=> "),
    );
    loop {
        let done = identity.step(pass, 500).await?;
        bar.inc(done);
        if done == 0 {
            break;
        }
    }
    bar.finish();
    let still = identity.left(pass).await?;
    println!("{} {what} done; {still} left on older versions", bar.position());
    Ok(())
}

/// Rebuilds "customers also bought" from every purchase, with a progress bar.
async fn rebuild(services: &Services) -> anyhow::Result<()> {
    let recommendations = services.recommendations.as_ref().context("all services run here")?;
    let orders = services.orders_client.as_deref().context("all services run here")?;
    let err = |e: pola_core::Error| anyhow::anyhow!("{e}");
    let total = orders.count_purchases().await.map_err(err)?;
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template("{spinner} learning [{bar:40}] {pos}/{len} purchases, {per_sec}, {eta} left")?
            .progress_chars("=> "),
    );
    let done = recommendations.rebuild(orders, |n| bar.inc(n)).await.map_err(err)?;
    bar.finish();
    println!(
        "recommendations rebuilt from {} purchases; {} undone since forgotten",
        done.purchases, done.forgotten
    );
    Ok(())
}

/// Every service, in this process.
async fn connect(config: &Config, migrate: bool) -> anyhow::Result<Services> {
    connect_placed(config, migrate, Placement::plan(config, &[])).await
}

async fn connect_placed(config: &Config, migrate: bool, placement: Placement) -> anyhow::Result<Services> {
    let keys = TokenKeys::load_or_create(&config.auth.signing_key_file, &config.auth.issuer)
        .with_context(|| format!("token signing key {}", config.auth.signing_key_file.display()))?;
    Services::connect_placed(config, keys, migrate, placement).await
}

async fn serve(config: &Config, only: &[ServiceName], migrate: bool) -> anyhow::Result<()> {
    let placement = Placement::plan(config, only);
    let names = |list: &[ServiceName]| list.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
    let (routed, local, remote) = (names(&placement.routed), names(&placement.local), names(&placement.remote));
    let services = connect_placed(config, migrate, placement).await?;
    let running = pola::start(config, &services).await?;
    tracing::info!(http.addr = %running.addr, services.routed = %routed, services.local = %local, services.remote = %remote, "pola is serving");
    shutdown_signal().await;
    tracing::info!("shutting down: leaving the edge's pool, then finishing requests in flight");
    running.stop(std::time::Duration::from_millis(config.http.drain_ms)).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    drop(ctrl_c.await);
}

async fn dlq(config: &Config, queue: &str, command: DlqCommand) -> anyhow::Result<()> {
    use pola_core::events::parking::visit;
    match command {
        DlqCommand::List { limit } => {
            let (parked, _) = visit(&config.events, queue, limit, |_| false).await?;
            for p in &parked {
                println!(
                    "{}  {:<24} attempts {:<3} {}",
                    p.id,
                    p.kind,
                    p.attempts,
                    p.error.as_deref().unwrap_or("")
                );
            }
            eprintln!("{} parked in {queue}.parking", parked.len());
        }
        DlqCommand::Show { id } => {
            let (parked, _) = visit(&config.events, queue, usize::MAX, |_| false).await?;
            let found = parked
                .iter()
                .find(|p| p.id == id)
                .with_context(|| format!("{id} is not parked in {queue}.parking"))?;
            println!("{}", serde_json::to_string_pretty(found)?);
        }
        DlqCommand::Replay { id, all } => {
            let (_, replayed) = visit(&config.events, queue, usize::MAX, |p| {
                all || id.as_deref() == Some(p.id.as_str())
            })
            .await?;
            anyhow::ensure!(replayed > 0, "nothing replayed: no such event parked in {queue}.parking");
            println!("{replayed} replayed to {queue}");
        }
    }
    Ok(())
}
