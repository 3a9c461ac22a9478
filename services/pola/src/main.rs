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
use secrecy::ExposeSecret;

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
        /// A site's database, NAME=URL (repeat for each site). Default: this=database.url.
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
    /// "Customers also bought": how well it suggests.
    Recommendations {
        #[command(subcommand)]
        command: RecommendationsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RecommendationsCommand {
    /// Measures suggestions offline on the demo shop's order history: trained on its first 80%
    /// of orders, each product of each later order with two or more is held out in turn, and a
    /// hit is finding it among the suggestions for the rest of its order — against the same
    /// number of bestsellers.
    Evaluate {
        /// Orders in the history.
        #[arg(long, default_value_t = 50_000)]
        orders: usize,
        /// Products in the demo shop.
        #[arg(long, default_value_t = 10_000)]
        products: usize,
        /// Suggestions shown (hit@k).
        #[arg(long, default_value_t = 6)]
        k: usize,
        /// Orders two products must share before one is suggested for the other.
        #[arg(long, default_value_t = 2)]
        min_support: u32,
    },
}

#[derive(Debug, Subcommand)]
enum Worker {
    /// Email and SMS to customers and staff, from events (`notifications` queue). Needs
    /// events.amqp_url, and runs identity and orders in its process to open what it sends.
    Notifications,
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
    pola_core::telemetry::init_logging(&config.log);
    match cli.command {
        Command::Serve { only, no_migrate } => serve(&config, &only, !no_migrate).await,
        Command::Migrate => {
            connect(&config, true).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed { demo: _, products } => {
            let services = connect(&config, true).await?;
            let (catalog, inventory) = services
                .catalog
                .as_deref()
                .zip(services.inventory.as_deref())
                .context("all services run here")?;
            pola::seed::demo(catalog, inventory, &config, products).await
        }
        Command::Recommendations {
            command:
                RecommendationsCommand::Evaluate {
                    orders,
                    products,
                    k,
                    min_support,
                },
        } => {
            let baskets = pola::baskets::demo_baskets(products, orders, 2026);
            let (train, test) = baskets.split_at(orders * 4 / 5);
            let rate = pola_recommendations::model::evaluate(train, test, k, min_support);
            println!(
                "hit@{k} on {} held-out products of {} later orders: co-purchases {:.1}%, bestsellers {:.1}% ({:.1}×); trained on {} orders, minimum support {min_support}",
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
            let services = connect(&config, true).await?;
            let (identity, orders) = services
                .identity
                .as_ref()
                .zip(services.orders.as_ref())
                .context("the notification worker needs identity and orders in its process")?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let tasks = pola::start_notifications(&config, identity, orders, true, stopped).await?;
            tracing::info!("notification worker running");
            shutdown_signal().await;
            tracing::info!("stopping: finishing the deliveries in hand");
            let _ = stop.send(true);
            for task in tasks {
                task.await?;
            }
            Ok(())
        }
        Command::Status { sites, edge, json } => {
            let sites = match sites.is_empty() {
                true => vec![pola::status::SiteUrl {
                    name: "this".into(),
                    url: config.database.url.expose_secret().to_owned(),
                }],
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
    tracing::info!("shutting down: finishing requests in flight");
    running.stop().await
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
