//! The `pola` binary's library: wiring every service into one process, and the commands.

pub mod seed;

use std::{net::SocketAddr, str::FromStr, sync::Arc};

use anyhow::Context;
use axum::Router;
use pola_cart::Cart;
use pola_catalog::Catalog;
use pola_core::{auth::TokenKeys, config::Config, db::connect_service};
use pola_identity::Identity;
use pola_inventory::Inventory;
use pola_orders::Orders;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

/// A service `pola serve --only` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceName {
    Identity,
    Catalog,
    Inventory,
    Cart,
    Orders,
}

impl ServiceName {
    pub const ALL: [ServiceName; 5] = [
        ServiceName::Identity,
        ServiceName::Catalog,
        ServiceName::Inventory,
        ServiceName::Cart,
        ServiceName::Orders,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Identity => pola_identity::SERVICE,
            ServiceName::Catalog => pola_catalog::SERVICE,
            ServiceName::Inventory => pola_inventory::SERVICE,
            ServiceName::Cart => pola_cart::SERVICE,
            ServiceName::Orders => pola_orders::SERVICE,
        }
    }
}

impl FromStr for ServiceName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ServiceName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown service `{s}`; the services are identity, catalog, inventory, cart, orders"))
    }
}

/// Every service, connected to its database.
pub struct Services {
    pub identity: Arc<Identity>,
    pub catalog: Arc<Catalog>,
    pub inventory: Arc<Inventory>,
    pub cart: Arc<Cart>,
    pub orders: Arc<Orders>,
    pub keys: TokenKeys,
}

impl Services {
    /// Connects every service to its own database; with `migrate`, creates the databases and
    /// applies pending migrations first.
    pub async fn connect(config: &Config, keys: TokenKeys, migrate: bool) -> anyhow::Result<Self> {
        let db = &config.database;
        let pool = |name, migrator| connect_service(db, name, migrator, migrate);
        let inventory = Inventory::new(
            pool(pola_inventory::SERVICE, &pola_inventory::MIGRATOR).await?,
            config.inventory.clone(),
        );
        let catalog = Catalog::new(pool(pola_catalog::SERVICE, &pola_catalog::MIGRATOR).await?, inventory.clone());
        let cart = Cart::new(
            pool(pola_cart::SERVICE, &pola_cart::MIGRATOR).await?,
            catalog.clone(),
            inventory.clone(),
        );
        let orders = Orders::new(
            pool(pola_orders::SERVICE, &pola_orders::MIGRATOR).await?,
            catalog.clone(),
            inventory.clone(),
            cart.clone(),
        );
        let identity = Identity::new(
            pool(pola_identity::SERVICE, &pola_identity::MIGRATOR).await?,
            keys.clone(),
            config.auth.clone(),
        )?;
        Ok(Self {
            identity,
            catalog,
            inventory,
            cart,
            orders,
            keys,
        })
    }

    /// The HTTP app: the routes of the `only` services (all when empty), their OpenAPI document at
    /// `/api/v1/openapi.json` with a browsable UI at `/api/v1/docs`, and health, readiness and
    /// metrics.
    pub fn router(&self, config: &Config, only: &[ServiceName]) -> Router {
        let wanted = |name| only.is_empty() || only.contains(&name);
        let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi());
        if wanted(ServiceName::Identity) {
            api = api.merge(self.identity.router());
        }
        if wanted(ServiceName::Catalog) {
            api = api.merge(self.catalog.router());
        }
        if wanted(ServiceName::Inventory) {
            api = api.merge(self.inventory.router());
        }
        if wanted(ServiceName::Cart) {
            api = api.merge(self.cart.router());
        }
        if wanted(ServiceName::Orders) {
            api = api.merge(self.orders.router());
        }
        let (router, openapi) = api.split_for_parts();
        let router = router.merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", openapi));
        let pools = vec![
            ("identity", self.identity.pool().clone()),
            ("catalog", self.catalog.pool().clone()),
            ("inventory", self.inventory.pool().clone()),
            ("cart", self.cart.pool().clone()),
            ("orders", self.orders.pool().clone()),
        ];
        pola_core::http::finish(router, &config.http, self.keys.clone(), pools)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pola API",
        description = "Pola, a Sri Lankan shop: identity, catalog, inventory, cart and orders. Errors are RFC 9457 problem documents (`application/problem+json`). Money is integer cents of LKR.",
        version = "1.0.0"
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "identity", description = "Accounts and tokens"),
        (name = "catalog", description = "Products, variants, categories and product types"),
        (name = "inventory", description = "Stock per variant and location (staff)"),
        (name = "cart", description = "The persistent cart, for customers and guests"),
        (name = "orders", description = "Checkout, order history and status"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// A running HTTP server.
pub struct Running {
    /// Where it listens (the real port when port 0 was asked for).
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, finishes requests in flight, and stops the background tasks.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.send_replace(true);
        self.task.await??;
        for task in self.background {
            task.await?;
        }
        Ok(())
    }
}

/// Starts serving `services` on `config.http.addr`, with the reservation sweeper and the
/// abandoned-checkout reaper running.
pub async fn start(config: &Config, services: &Services, only: &[ServiceName]) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.http.addr)
        .await
        .with_context(|| format!("binding {}", config.http.addr))?;
    let addr = listener.local_addr()?;
    let app = services.router(config, only);
    let (shutdown, mut stopped) = watch::channel(false);
    let background = vec![
        services.inventory.spawn_sweeper(shutdown.subscribe()),
        services.orders.spawn_reaper(shutdown.subscribe()),
    ];
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // Either a stop request or the sender going away ends the server.
                let _ = stopped.changed().await;
            })
            .await
    });
    Ok(Running {
        addr,
        shutdown,
        task,
        background,
    })
}
