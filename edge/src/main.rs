//! `pola-edge serve` runs the edge; `pola-edge site activate dc|dr` and `pola-edge status` talk
//! to a running edge's admin listener.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pola_edge::{config::EdgeConfig, site::Site};

/// mimalloc for Rust's allocations; the `override` feature gives the C and C++ libraries
/// (libmodsecurity, libstdc++) its malloc and free too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "pola-edge", about = "Pola's edge: the only way in, for customers and staff")]
struct Cli {
    /// The configuration file (TOML). Environment: POLA_EDGE_<SECTION>__<KEY> overrides it.
    #[arg(long, global = true, env = "POLA_EDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve: the public, staff and admin listeners.
    Serve,
    /// The running edge's state: active site, members' health.
    Status,
    /// Choose the site that serves.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SiteCommand {
    /// Send all traffic to `dc` or `dr` from now on (kept across restarts).
    Activate { site: Site },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = EdgeConfig::load(cli.config.as_deref())?;
    pola_core::install_crypto_provider();
    match cli.command {
        Command::Serve => {
            pola_core::telemetry::init_telemetry(&config.log, &config.apm, "pola-edge", pola_core::telemetry::LogOutput::Stdout);
            let server = pola_edge::server(config.clone())?;
            tracing::info!(
                public = %config.listen.public,
                staff = %config.listen.staff,
                admin = %config.listen.admin,
                "pola-edge is serving"
            );
            server.run_forever()
        }
        Command::Status => admin(&config, reqwest::Method::GET, "/status", None),
        Command::Site {
            command: SiteCommand::Activate { site },
        } => admin(
            &config,
            reqwest::Method::POST,
            "/site/activate",
            Some(serde_json::json!({ "site": site })),
        ),
    }
}

/// Calls the running edge's admin listener and prints its answer.
fn admin(config: &EdgeConfig, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let url = format!("http://{}{path}", config.listen.admin);
        let mut request = reqwest::Client::new().request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("the edge's admin listener at {url}"))?;
        let status = response.status();
        let text = response.text().await?;
        println!("{text}");
        anyhow::ensure!(status.is_success(), "the edge answered {status}");
        Ok(())
    })
}
