//! The `pola` binary's library: wiring every service into one process, and the commands.

pub mod alerts;
pub mod audit;
pub mod baskets;
pub mod history;
pub mod ops;
pub mod pictures;
pub mod seed;
pub mod status;
pub mod summary;

use std::{net::SocketAddr, str::FromStr, sync::Arc};

use anyhow::Context;
use axum::Router;
use pola_cart::{
    Cart,
    client::{CartClient, HttpCart},
};
use pola_catalog::{
    Catalog,
    client::{CatalogClient, HttpCatalog},
};
use pola_core::{
    auth::TokenKeys,
    client::{ServiceClient, ServiceToken},
    config::Config,
    db::connect_service,
};
use pola_core::{personal::PersonalData, site::Writable};
use pola_identity::{
    Identity,
    client::{HttpIdentity, IdentityClient},
};
use pola_inventory::{
    Inventory,
    client::{HttpInventory, InventoryClient},
};
use pola_orders::{
    Orders,
    client::{HttpOrderBriefs, HttpOrders, OrderBriefs, OrdersClient},
};
use pola_payments::Payments;
use pola_pii::KeyService;
use pola_promotions::{
    Promotions,
    client::{HttpPromotions, PromotionsClient},
};
use pola_recommendations::Recommendations;
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
    Payments,
    Promotions,
    /// The web shop's pages, over this process's public API (so the API's services run here).
    Storefront,
    /// "Customers also bought", learning from order events when events are configured.
    Recommendations,
    /// The staff's pages, over this process's staff API (so the API's services run here).
    Backoffice,
    /// Customers' tickets and the desk that answers them.
    Support,
}

impl ServiceName {
    pub const ALL: [ServiceName; 11] = [
        ServiceName::Identity,
        ServiceName::Catalog,
        ServiceName::Inventory,
        ServiceName::Cart,
        ServiceName::Orders,
        ServiceName::Payments,
        ServiceName::Promotions,
        ServiceName::Storefront,
        ServiceName::Recommendations,
        ServiceName::Backoffice,
        ServiceName::Support,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Identity => pola_identity::SERVICE,
            ServiceName::Catalog => pola_catalog::SERVICE,
            ServiceName::Inventory => pola_inventory::SERVICE,
            ServiceName::Cart => pola_cart::SERVICE,
            ServiceName::Orders => pola_orders::SERVICE,
            ServiceName::Payments => pola_payments::SERVICE,
            ServiceName::Promotions => pola_promotions::SERVICE,
            ServiceName::Storefront => pola_storefront::SERVICE,
            ServiceName::Recommendations => pola_recommendations::SERVICE,
            ServiceName::Backoffice => pola_backoffice::SERVICE,
            ServiceName::Support => pola_support::SERVICE,
        }
    }
}

impl FromStr for ServiceName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ServiceName::ALL.into_iter().find(|n| n.as_str() == s).ok_or_else(|| {
            format!("unknown service `{s}`; the services are identity, catalog, inventory, cart, orders, payments, promotions, storefront, recommendations, backoffice, support")
        })
    }
}

impl ServiceName {
    /// The services this one calls.
    fn needs(self) -> &'static [ServiceName] {
        match self {
            // Identity asks orders for a customer's orders in their data export.
            ServiceName::Identity => &[ServiceName::Orders],
            ServiceName::Inventory => &[],
            ServiceName::Catalog => &[ServiceName::Inventory],
            ServiceName::Cart => &[ServiceName::Catalog, ServiceName::Inventory, ServiceName::Promotions],
            ServiceName::Orders => &[
                ServiceName::Catalog,
                ServiceName::Inventory,
                ServiceName::Cart,
                ServiceName::Promotions,
            ],
            ServiceName::Promotions => &[],
            // Payments moves orders along, and asks identity for the gateway's contact fields.
            ServiceName::Payments => &[ServiceName::Orders, ServiceName::Identity],
            // The pages call the API of this process.
            ServiceName::Storefront | ServiceName::Backoffice => &[],
            // Tickets name the customer's orders.
            ServiceName::Support => &[ServiceName::Orders],
            // Suggestions are shown as the catalog lists products; purchases are read from orders.
            ServiceName::Recommendations => &[ServiceName::Catalog, ServiceName::Orders],
        }
    }

    fn url(self, config: &Config) -> Option<&str> {
        match self {
            ServiceName::Catalog => config.services.catalog_url.as_deref(),
            ServiceName::Inventory => config.services.inventory_url.as_deref(),
            ServiceName::Cart => config.services.cart_url.as_deref(),
            ServiceName::Orders => config.services.orders_url.as_deref(),
            ServiceName::Identity => config.services.identity_url.as_deref(),
            ServiceName::Promotions => config.services.promotions_url.as_deref(),
            ServiceName::Payments
            | ServiceName::Storefront
            | ServiceName::Recommendations
            | ServiceName::Backoffice
            | ServiceName::Support => None,
        }
    }
}

/// Which services run in this process and which are reached over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Served here: routes, OpenAPI, internal endpoints.
    pub routed: Vec<ServiceName>,
    /// Running here: the routed ones, and what they need that has no URL configured.
    pub local: Vec<ServiceName>,
    /// Reached over HTTP at their configured URLs.
    pub remote: Vec<ServiceName>,
}

impl Placement {
    /// `only` empty means every service.
    pub fn plan(config: &Config, only: &[ServiceName]) -> Self {
        let routed = if only.is_empty() {
            ServiceName::ALL.to_vec()
        } else {
            only.to_vec()
        };
        let mut local = routed.clone();
        let mut remote = vec![];
        let mut i = 0;
        while i < local.len() {
            for &need in local[i].needs() {
                if local.contains(&need) || remote.contains(&need) {
                    continue;
                }
                if need.url(config).is_some() {
                    remote.push(need);
                } else {
                    local.push(need);
                }
            }
            i += 1;
        }
        Self { routed, local, remote }
    }

    /// A worker's placement: it serves nothing, and reaches the services it `needs` over HTTP
    /// where their URL is configured, else runs them in its own process.
    pub fn needing(config: &Config, needs: &[ServiceName]) -> Self {
        let (remote, local) = needs.iter().partition(|need| need.url(config).is_some());
        Self {
            routed: vec![],
            local,
            remote,
        }
    }
}

/// The services this process runs, each connected to its own database (`None` for those it
/// does not run), and the signing key.
pub struct Services {
    pub identity: Option<Arc<Identity>>,
    pub catalog: Option<Arc<Catalog>>,
    pub inventory: Option<Arc<Inventory>>,
    pub cart: Option<Arc<Cart>>,
    pub orders: Option<Arc<Orders>>,
    pub payments: Option<Arc<Payments>>,
    pub promotions: Option<Arc<Promotions>>,
    pub recommendations: Option<Arc<Recommendations>>,
    pub support: Option<Arc<pola_support::Support>>,
    /// Orders as the services here that need them reach them (here, or over HTTP).
    pub orders_client: Option<Arc<dyn OrdersClient>>,
    /// Orders as the notification worker tells them (here, or over HTTP).
    pub order_briefs: Option<Arc<dyn OrderBriefs>>,
    /// Identity as the services here that need it reach it (here, or over HTTP).
    pub identity_client: Option<Arc<dyn IdentityClient>>,
    pub keys: TokenKeys,
    placement: Placement,
}

impl Services {
    /// The databases whose outboxes hold events: those of the services here that record any.
    pub fn outboxes(&self) -> Vec<(&'static str, sqlx::MySqlPool)> {
        let mut outboxes = vec![];
        if let Some(catalog) = &self.catalog {
            outboxes.push((pola_catalog::SERVICE, catalog.pool().clone()));
        }
        if let Some(identity) = &self.identity {
            outboxes.push((pola_identity::SERVICE, identity.pool().clone()));
        }
        if let Some(inventory) = &self.inventory {
            outboxes.push((pola_inventory::SERVICE, inventory.pool().clone()));
        }
        if let Some(orders) = &self.orders {
            outboxes.push((pola_orders::SERVICE, orders.pool().clone()));
        }
        if let Some(payments) = &self.payments {
            outboxes.push((pola_payments::SERVICE, payments.pool().clone()));
        }
        if let Some(support) = &self.support {
            outboxes.push((pola_support::SERVICE, support.pool().clone()));
        }
        outboxes
    }

    /// Runs every service in this process (the commands, and the tests).
    pub async fn connect(config: &Config, keys: TokenKeys, migrate: bool) -> anyhow::Result<Self> {
        Self::connect_placed(config, keys, migrate, Placement::plan(config, &[])).await
    }

    /// Connects the services `placement` runs here to their databases (with `migrate`, creating
    /// the databases and applying pending migrations first), and clients for the remote ones.
    pub async fn connect_placed(config: &Config, keys: TokenKeys, migrate: bool, placement: Placement) -> anyhow::Result<Self> {
        let db = &config.database;
        let here = |name| placement.local.contains(&name);
        let remote = |name: ServiceName| -> anyhow::Result<ServiceClient> {
            let url = name.url(config).context("no URL for a remote service")?;
            let token = config
                .services
                .internal_token
                .clone()
                .context("services.internal_token is not set")?;
            ServiceClient::new(name.as_str(), url, token, config.services.timeout())
        };
        let pool = |name, migrator| connect_service(db, name, migrator, migrate);

        let inventory = match here(ServiceName::Inventory) {
            true => Some(Inventory::new(
                pool(pola_inventory::SERVICE, &pola_inventory::MIGRATOR).await?,
                config.inventory.clone(),
            )),
            false => None,
        };
        let inventory_client: Option<Arc<dyn InventoryClient>> = match &inventory {
            Some(local) => Some(local.clone()),
            None if placement.remote.contains(&ServiceName::Inventory) => {
                Some(Arc::new(HttpInventory(remote(ServiceName::Inventory)?)))
            }
            None => None,
        };
        let needs_inventory = || inventory_client.clone().context("inventory is neither here nor remote");

        let catalog = match here(ServiceName::Catalog) {
            true => Some(Catalog::new(
                pool(pola_catalog::SERVICE, &pola_catalog::MIGRATOR).await?,
                needs_inventory()?,
                &config.catalog,
            )),
            false => None,
        };
        let catalog_client: Option<Arc<dyn CatalogClient>> = match &catalog {
            Some(local) => Some(local.clone()),
            None if placement.remote.contains(&ServiceName::Catalog) => {
                Some(Arc::new(HttpCatalog(remote(ServiceName::Catalog)?)))
            }
            None => None,
        };
        let needs_catalog = || catalog_client.clone().context("catalog is neither here nor remote");

        let promotions = match here(ServiceName::Promotions) {
            true => Some(Promotions::new(
                pool(pola_promotions::SERVICE, &pola_promotions::MIGRATOR).await?,
            )),
            false => None,
        };
        let promotions_client: Option<Arc<dyn PromotionsClient>> = match &promotions {
            Some(local) => Some(local.clone()),
            None if placement.remote.contains(&ServiceName::Promotions) => {
                Some(Arc::new(HttpPromotions(remote(ServiceName::Promotions)?)))
            }
            None => None,
        };
        let needs_promotions = || promotions_client.clone().context("promotions are neither here nor remote");

        let cart = match here(ServiceName::Cart) {
            true => Some(Cart::new(
                pool(pola_cart::SERVICE, &pola_cart::MIGRATOR).await?,
                needs_catalog()?,
                needs_inventory()?,
                needs_promotions()?,
                config.cart.clone(),
                keys.derive_key("cart client address"),
            )),
            false => None,
        };
        let cart_client: Option<Arc<dyn CartClient>> = match &cart {
            Some(local) => Some(local.clone()),
            None if placement.remote.contains(&ServiceName::Cart) => Some(Arc::new(HttpCart(remote(ServiceName::Cart)?))),
            None => None,
        };

        // One key service (and one cache of unwrapped keys) for the services here that seal.
        let pii: Option<Arc<dyn KeyService>> =
            match here(ServiceName::Identity) || here(ServiceName::Orders) || here(ServiceName::Support) {
                true => Some(pola_pii::open(&config.pii).await?),
                false => None,
            };
        let needs_pii = || pii.clone().context("no key service");

        let orders = match here(ServiceName::Orders) {
            true => Some(Orders::new(
                pool(pola_orders::SERVICE, &pola_orders::MIGRATOR).await?,
                needs_catalog()?,
                needs_inventory()?,
                cart_client.context("cart is neither here nor remote")?,
                needs_promotions()?,
                needs_pii()?,
                config.tax.clone(),
            )),
            false => None,
        };
        let identity = match here(ServiceName::Identity) {
            true => {
                // Other services' parts of a customer's data export.
                let orders: Arc<dyn PersonalData> = match &orders {
                    Some(local) => local.clone(),
                    None => Arc::new(HttpOrders(remote(ServiceName::Orders)?)),
                };
                Some(Identity::new(
                    pool(pola_identity::SERVICE, &pola_identity::MIGRATOR).await?,
                    keys.clone(),
                    config.auth.clone(),
                    needs_pii()?,
                    vec![orders],
                )?)
            }
            false => None,
        };
        let orders_client: Option<Arc<dyn OrdersClient>> = match &orders {
            Some(local) => Some(Arc::new(local.clone())),
            None if placement.remote.contains(&ServiceName::Orders) => Some(Arc::new(HttpOrders(remote(ServiceName::Orders)?))),
            None => None,
        };
        let order_briefs: Option<Arc<dyn OrderBriefs>> = match &orders {
            Some(local) => Some(local.clone()),
            None if placement.remote.contains(&ServiceName::Orders) => {
                Some(Arc::new(HttpOrderBriefs(remote(ServiceName::Orders)?)))
            }
            None => None,
        };
        let needs_orders = || orders_client.clone().context("orders are neither here nor remote");
        let identity_client: Option<Arc<dyn IdentityClient>> = match &identity {
            Some(local) => Some(local.clone()),
            None if placement.remote.contains(&ServiceName::Identity) => {
                Some(Arc::new(HttpIdentity(remote(ServiceName::Identity)?)))
            }
            None => None,
        };
        let payments = match here(ServiceName::Payments) {
            true => Some(Payments::new(
                pool(pola_payments::SERVICE, &pola_payments::MIGRATOR).await?,
                needs_orders()?,
                identity_client.clone().context("identity is neither here nor remote")?,
                payments_config(config).await?,
            )?),
            false => None,
        };
        let recommendations = match here(ServiceName::Recommendations) {
            true => Some(Recommendations::new(
                pool(pola_recommendations::SERVICE, &pola_recommendations::MIGRATOR).await?,
                needs_catalog()?,
                config.recommendations.clone(),
            )),
            false => None,
        };
        let support = match here(ServiceName::Support) {
            true => Some(pola_support::Support::new(
                pool(pola_support::SERVICE, &pola_support::MIGRATOR).await?,
                needs_orders()?,
                needs_pii()?,
                Arc::new(pola_core::clock::SystemClock),
            )),
            false => None,
        };
        Ok(Self {
            identity,
            catalog,
            inventory,
            cart,
            orders,
            payments,
            promotions,
            recommendations,
            support,
            orders_client,
            order_briefs,
            identity_client,
            keys,
            placement,
        })
    }

    /// The services here that keep an audit trail of staff writes.
    pub fn trails(&self) -> Vec<Arc<dyn pola_core::audit::Trail>> {
        let table = |service: &'static str, pool: &sqlx::MySqlPool| -> Arc<dyn pola_core::audit::Trail> {
            Arc::new(pola_core::audit::Table {
                service,
                pool: pool.clone(),
            })
        };
        let mut trails = vec![];
        if let Some(identity) = &self.identity {
            trails.push(table(pola_identity::SERVICE, identity.pool()));
        }
        if let Some(catalog) = &self.catalog {
            trails.push(table(pola_catalog::SERVICE, catalog.pool()));
        }
        if let Some(inventory) = &self.inventory {
            trails.push(table(pola_inventory::SERVICE, inventory.pool()));
        }
        if let Some(orders) = &self.orders {
            trails.push(table(pola_orders::SERVICE, orders.pool()));
        }
        if let Some(promotions) = &self.promotions {
            trails.push(table(pola_promotions::SERVICE, promotions.pool()));
        }
        if let Some(support) = &self.support {
            trails.push(table(pola_support::SERVICE, support.pool()));
        }
        if let Some(payments) = &self.payments {
            trails
                .push(Arc::new(pola_payments::trail::PaymentsTrail(payments.pool().clone())) as Arc<dyn pola_core::audit::Trail>);
        }
        trails
    }

    /// The databases of the services running here.
    pub fn pools(&self) -> impl Iterator<Item = sqlx::MySqlPool> + '_ {
        [
            self.identity.as_ref().map(|s| s.pool()),
            self.catalog.as_ref().map(|s| s.pool()),
            self.inventory.as_ref().map(|s| s.pool()),
            self.cart.as_ref().map(|s| s.pool()),
            self.orders.as_ref().map(|s| s.pool()),
            self.payments.as_ref().map(|s| s.pool()),
            self.promotions.as_ref().map(|s| s.pool()),
            self.recommendations.as_ref().map(|s| s.pool()),
            self.support.as_ref().map(|s| s.pool()),
        ]
        .into_iter()
        .flatten()
        .cloned()
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The HTTP app: the routes of the routed services, their OpenAPI document at
    /// `/api/v1/openapi.json` with a browsable UI at `/api/v1/docs`, health, readiness
    /// (every local database) and metrics, and the web shop's pages when the storefront is
    /// routed here.
    pub fn router(&self, config: &Config, writable: Writable, in_flight: pola_core::http::InFlight) -> anyhow::Result<Router> {
        let routed = |name| self.placement.routed.contains(&name);
        let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi());
        let local = [
            (ServiceName::Identity, self.identity.as_ref().map(|s| s.router())),
            (ServiceName::Catalog, self.catalog.as_ref().map(|s| s.router())),
            (ServiceName::Inventory, self.inventory.as_ref().map(|s| s.router())),
            (ServiceName::Cart, self.cart.as_ref().map(|s| s.router())),
            (ServiceName::Orders, self.orders.as_ref().map(|s| s.router())),
            (ServiceName::Payments, self.payments.as_ref().map(|s| s.router())),
            (ServiceName::Promotions, self.promotions.as_ref().map(|s| s.router())),
            (
                ServiceName::Recommendations,
                self.recommendations.as_ref().map(|s| s.router()),
            ),
            (ServiceName::Support, self.support.as_ref().map(|s| s.router())),
        ];
        for (name, service) in local {
            let Some(routes) = service else { continue };
            if routed(name) {
                api = api.merge(routes);
            }
        }
        let trails = self.trails();
        if !trails.is_empty() {
            api = api.merge(audit::router(Arc::new(trails)));
        }
        api = api.merge(status::router(status::configured_sites(config)));
        if routed(ServiceName::Backoffice) {
            // Reports read the standby site's databases, not this process's services.
            api = api.merge(pola_reporting::api::router(Arc::new(pola_reporting::Reporting::new(config)?)));
            // The SREs' pages read APM's OpenSearch.
            api = api.merge(ops::router(Arc::new(ops::Ops::new(&config.apm)?)));
        }
        let (router, openapi) = api.split_for_parts();
        let router = router.merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", openapi));
        let token = ServiceToken(config.services.internal_token.clone());
        let finish = |router: Router| {
            pola_core::http::finish(
                router,
                &config.http,
                self.keys.clone(),
                token.clone(),
                writable.clone(),
                in_flight.clone(),
            )
        };
        if !routed(ServiceName::Storefront) && !routed(ServiceName::Backoffice) {
            return Ok(finish(router));
        }
        // The pages call the API as a mobile app or curl would: here, the finished API app
        // itself (its request ids, limits and read-only refusals included), without a socket.
        let backend: Arc<dyn pola_storefront::client::ApiClient> =
            Arc::new(pola_storefront::client::InProcessApi(finish(router.clone())));
        let mut pages = router;
        if routed(ServiceName::Storefront) {
            let payhere_origin = config
                .payments
                .payhere
                .as_ref()
                .and_then(|p| reqwest::Url::parse(&p.checkout_url).ok())
                .map(|url| url.origin().ascii_serialization());
            let shop = pola_storefront::Storefront::new(
                backend.clone(),
                config.storefront.clone(),
                &config.notifications.shop_url,
                payhere_origin.into_iter().collect(),
                self.keys.derive_key("storefront session"),
            )?;
            pages = pages.merge(shop.router());
        }
        if routed(ServiceName::Backoffice) {
            let office = pola_backoffice::Backoffice::new(backend, &config.backoffice, self.keys.derive_key("backoffice csrf"))?;
            pages = pages.merge(office.router());
        }
        Ok(finish(pages))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pola API",
        description = "Pola, a Sri Lankan shop: identity, catalog, inventory, cart, orders, payments, promotions and recommendations. Errors are RFC 9457 problem documents (`application/problem+json`). Money is integer cents of LKR.",
        version = "1.0.0"
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "identity", description = "Accounts and tokens"),
        (name = "catalog", description = "Products, variants, categories and product types"),
        (name = "inventory", description = "Stock per variant and location (staff)"),
        (name = "cart", description = "The persistent cart, for customers and guests"),
        (name = "orders", description = "Checkout, order history and status"),
        (name = "payments", description = "Paying an order (PayHere, cash on delivery, bank transfer), refunds and cash remittances"),
        (name = "fulfilment", description = "Packing, shipping and delivering orders (staff)"),
        (name = "recommendations", description = "\"Customers also bought\", from purchases"),
        (name = "support", description = "Customers' tickets about their orders and accounts, and the desk that answers them"),
        (name = "promotions", description = "Promotions and codes, membership plans, delivery fees and VAT rates: how every price is made"),
        (name = "staff", description = "Staff only: served on the edge's staff listener (the VPN), never on the public one, and only with a staff access token"),
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
        components.add_security_scheme(
            "staff",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A staff access token from /api/v1/identity/staff/token, through the staff listener",
                    ))
                    .build(),
            ),
        );
    }
}

/// The payments configuration with PayHere's secrets read from Vault when `vault_path` says
/// so (`merchant_secret` and `app_secret` in the KV v2 secret there).
async fn payments_config(config: &Config) -> anyhow::Result<pola_core::config::PaymentsConfig> {
    let mut payments = config.payments.clone();
    let Some(payhere) = payments.payhere.as_mut() else {
        return Ok(payments);
    };
    let Some(path) = payhere.vault_path.clone() else {
        return Ok(payments);
    };
    let vault = pola_pii::vault::VaultKeys::new(&config.pii.vault)?;
    let secrets = vault
        .read_secrets(&path)
        .await
        .with_context(|| format!("reading PayHere's secrets from Vault at {path}"))?;
    payhere.merchant_secret = Some(
        secrets
            .get("merchant_secret")
            .with_context(|| format!("no merchant_secret in Vault at {path}"))?
            .clone()
            .into(),
    );
    if let Some(app_secret) = secrets.get("app_secret") {
        payhere.app_secret = Some(app_secret.clone().into());
    }
    tracing::info!(vault.path = %path, "PayHere's secrets read from Vault");
    Ok(payments)
}

/// Starts the notification worker: events into email and SMS, until `stop`. It opens customers'
/// contacts and orders through `identity` and `orders` (in this process, or over HTTP).
pub async fn start_notifications(
    config: &Config,
    identity: &Arc<dyn IdentityClient>,
    orders: &Arc<dyn OrderBriefs>,
    migrate: bool,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    anyhow::ensure!(
        config.events.amqp_url.is_some(),
        "events.amqp_url is not set: there are no events to consume"
    );
    let pool = pola_core::db::connect_service(
        &config.database,
        pola_notifications::SERVICE,
        &pola_notifications::MIGRATOR,
        migrate,
    )
    .await?;
    let notifications = Arc::new(pola_notifications::Notifications::new(
        pool.clone(),
        config.notifications.clone(),
        identity.clone(),
        orders.clone(),
    )?);
    let subscription = pola_notifications::subscription(&config.notifications);
    pola_core::events::consume::declare(&config.events, &subscription).await?;
    Ok(vec![
        notifications.spawn_waiting_sms_sender(stop.clone()),
        tokio::spawn(pola_core::events::consume::run(
            config.events.clone(),
            subscription,
            pool,
            notifications,
            stop,
        )),
    ])
}

/// Starts keeping "customers also bought" current from order events, until `stop`.
pub async fn start_learning(
    config: &Config,
    recommendations: &Arc<Recommendations>,
    orders: &Arc<dyn OrdersClient>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let subscription = pola_recommendations::learn::subscription(&config.recommendations);
    // Declared now, so that what the relay publishes from here on waits for the consumer; a
    // broker away now does not stop the server (the consumer declares it when it connects, and
    // a rebuild catches up on what was published before).
    if let Err(e) = pola_core::events::consume::declare(&config.events, &subscription).await {
        tracing::warn!(queue = %subscription.queue, error = %format!("{e:#}"), "cannot declare the recommendations queue yet");
    }
    let learner = pola_recommendations::learn::Learner {
        recommendations: recommendations.clone(),
        orders: orders.clone(),
    };
    tokio::spawn(pola_core::events::consume::run(
        config.events.clone(),
        subscription,
        recommendations.pool().clone(),
        Arc::new(learner),
        stop,
    ))
}

/// A running HTTP server.
pub struct Running {
    /// Where it listens (the real port when port 0 was asked for).
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    in_flight: pola_core::http::InFlight,
}

impl Running {
    /// Drains for `drain` (`/readyz` answers 503 while requests are still served, so that the
    /// edge stops sending any), then stops accepting, finishes requests in flight (and work
    /// whose client went away, for up to 10 s), and stops the background tasks.
    pub async fn stop(self, drain: std::time::Duration) -> anyhow::Result<()> {
        if !drain.is_zero() {
            tracing::info!(
                drain_ms = drain.as_millis(),
                "draining: readyz answers 503 until the edge stops sending here"
            );
            self.in_flight.drain(drain).await;
        }
        self.shutdown.send_replace(true);
        self.task.await??;
        let left = self.in_flight.finish(std::time::Duration::from_secs(10)).await;
        if left > 0 {
            tracing::warn!(
                unfinished = left,
                "stopping with work unfinished; the reaper returns its stock"
            );
        }
        for task in self.background {
            task.await?;
        }
        Ok(())
    }
}

/// A listening socket with a queue of 4096 connections not yet accepted (the kernel caps it at
/// `net.core.somaxconn`). The standard 128 overflowed when an edge opened a thousand
/// connections at once while the process was busy, and the kernel reset the connections that
/// did not fit (the edge's 502s in the sign-in flood test).
/// A listener on `addr` (port 0: a free one), as `pola serve` binds it.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Starts serving `services` on `config.http.addr`, with the reservation sweeper, the
/// abandoned-checkout reaper and the payments jobs running.
pub async fn start(config: &Config, services: &Services) -> anyhow::Result<Running> {
    let listener = listen(config.http.addr).with_context(|| format!("binding {}", config.http.addr))?;
    start_on(listener, config, services).await
}

/// The same on a listener bound already (a test binds port 0 and knows its port before it
/// starts the app, with no moment when another process could take it).
pub async fn start_on(listener: TcpListener, config: &Config, services: &Services) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let (shutdown, mut stopped) = watch::channel(false);
    // Every service here uses the same server: any pool tells whether this site takes writes.
    let pool = services.pools().next().context("no service runs here")?;
    let (writable, watcher) = pola_core::site::watch(pool, shutdown.subscribe()).await;
    let in_flight = pola_core::http::InFlight::default();
    let app = services.router(config, writable, in_flight.clone())?;
    let mut background = vec![watcher];
    if let Some(inventory) = &services.inventory {
        background.push(inventory.spawn_sweeper(shutdown.subscribe()));
    }
    if let Some(orders) = &services.orders {
        background.push(orders.spawn_reaper(shutdown.subscribe()));
    }
    if let Some(payments) = &services.payments {
        background.push(payments.spawn_jobs(shutdown.subscribe()));
    }
    if let Some(identity) = &services.identity {
        background.push(identity.spawn_reindexer(shutdown.subscribe()));
    }
    if let Some(support) = &services.support {
        background.push(support.spawn_overdue_watch(shutdown.subscribe()));
    }
    if let Some((recommendations, orders)) = services.recommendations.as_ref().zip(services.orders_client.as_ref())
        && config.events.amqp_url.is_some()
    {
        background.push(start_learning(config, recommendations, orders, shutdown.subscribe()).await);
    }
    if let Some(catalog) = &services.catalog
        && config.events.amqp_url.is_some()
        && config.catalog.read_model_ttl_ms > 0
    {
        let cleared_by = pola_catalog::read_model::CLEARED_BY.map(String::from).to_vec();
        let follow = pola_core::events::follow::run(
            config.events.clone(),
            "catalog-read-model",
            cleared_by,
            catalog.read_model(),
            shutdown.subscribe(),
        );
        background.push(tokio::spawn(follow));
    }
    if config.events.amqp_url.is_some() && config.events.relay {
        let relay = pola_core::events::relay::Relay::new(config.events.clone(), services.outboxes());
        background.push(tokio::spawn(relay.run(shutdown.subscribe())));
    }
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
        in_flight,
    })
}
