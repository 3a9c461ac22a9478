//! Starting the app and talking to it in the terms of the shop.

use std::time::Duration;

use std::sync::Arc;

use pola::{Placement, Running, ServiceName, Services};
use pola_cart::Cart;
use pola_core::{
    auth::{Claims, Realm, Role, TokenKeys},
    config::Config,
    testing::{Api, Reply, TestDatabases, test_auth_config},
};
use pola_identity::{
    Identity,
    model::staff::{StaffSignIn, TotpSecret},
};
use pola_inventory::Inventory;
use pola_orders::Orders;
use pola_payments::Payments;
use serde_json::{Value, json};
use uuid::Uuid;

/// A running app with its own databases, every service in it.
/// The password of the staff members tests create.
pub const STAFF_PASSWORD: &str = "staff password 123";

pub struct TestApp {
    /// The shop as customers and staff reach it: through the edge's listeners when the suite
    /// runs behind one (`POLA_TEST_EDGE`), else straight.
    pub api: Api,
    /// The app itself, as its health checks and Prometheus reach it (never through the edge).
    pub ops: Api,
    pub keys: TokenKeys,
    pub config: Config,
    pub identity: Arc<Identity>,
    pub inventory: Arc<Inventory>,
    pub cart: Arc<Cart>,
    pub orders: Arc<Orders>,
    pub payments: Arc<Payments>,
    pub promotions: Arc<pola_promotions::Promotions>,
    pub recommendations: Arc<pola_recommendations::Recommendations>,
    pub support: Arc<pola_support::Support>,
    pub orders_client: Arc<dyn pola_orders::client::OrdersClient>,
    /// The edge the API is reached through, if any: stopped before the server.
    _edge: Option<EdgeFront>,
    // Dropped after the server, so that the databases outlive every request.
    running: Option<Running>,
    _databases: TestDatabases,
}

/// A signed-in customer.
#[derive(Debug, Clone)]
pub struct Shopper {
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

/// A variant on sale, with stock.
#[derive(Debug, Clone, Copy)]
pub struct OnSale {
    pub product: Uuid,
    pub variant: Uuid,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn(std::env::var_os("POLA_TEST_EDGE"), adjust).await
}

/// A test app behind a `pola-edge` in any run (the back-office answers only through the edge's
/// staff listener): `POLA_TEST_EDGE`'s, else the workspace's debug build, which `cargo test
/// --workspace` builds (alone: `cargo build -p pola-edge`).
pub async fn spawn_app_behind_edge() -> TestApp {
    spawn_app_behind_edge_with(|_| {}).await
}

pub async fn spawn_app_behind_edge_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let binary = std::env::var_os("POLA_TEST_EDGE").unwrap_or_else(|| {
        let built = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/pola-edge");
        assert!(built.exists(), "{} is missing: cargo build -p pola-edge", built.display());
        built.into_os_string()
    });
    spawn(Some(binary), adjust).await
}

async fn spawn(edge_binary: Option<std::ffi::OsString>, adjust: impl FnOnce(&mut Config)) -> TestApp {
    // Errors the app logs show up with the failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into()))
        .with_test_writer()
        .try_init();
    let databases = TestDatabases::new();
    let mut config = Config::default();
    config.database = databases.config.clone();
    config.auth = test_auth_config();
    // Where customers (and PayHere's notifications) reach the shop is known before it starts:
    // the edge's public listener (a port the edge process binds), or the app's own listener,
    // bound here and handed to it.
    let listener = pola::listen("127.0.0.1:0".parse().expect("an address")).expect("a free port");
    let public_port = match edge_binary {
        Some(_) => pola_core::testing::free_port(),
        None => listener.local_addr().expect("bound").port(),
    };
    config.http.addr = listener.local_addr().expect("bound");
    config.notifications.shop_url = format!("http://127.0.0.1:{public_port}");
    config.services.internal_token = Some("test-service-token".into());
    config.pii.keyring_dir = std::env::temp_dir()
        .join(format!("pola-test-{}", databases.config.prefix))
        .join("pii");
    // A queue of its own, for when a test turns events on.
    config.recommendations.queue = format!("recommendations-{}", databases.config.prefix);
    // Tests read what they changed at once; the read model's own test turns it on.
    config.catalog.read_model_ttl_ms = 0;
    // No edge checks a test app: it stops at once unless a test says otherwise.
    config.http.drain_ms = 0;
    adjust(&mut config);
    let keys = TokenKeys::generate(&config.auth.issuer).expect("a key");
    let services = Services::connect(&config, keys.clone(), true)
        .await
        .expect("the test MariaDB (make test starts it)");
    let running = pola::start_on(listener, &config, &services).await.expect("the app starts");
    let here = "every service runs in a test app";
    let edge = edge_binary.map(|binary| EdgeFront::start(binary.as_ref(), running.addr, public_port));
    TestApp {
        api: match &edge {
            Some(edge) => Api::new(edge.public.clone()).with_staff_listener(edge.staff.clone()),
            None => Api::new(format!("http://{}", running.addr)),
        },
        ops: Api::new(format!("http://{}", running.addr)),
        _edge: edge,
        keys,
        config,
        identity: services.identity.clone().expect(here),
        inventory: services.inventory.clone().expect(here),
        cart: services.cart.clone().expect(here),
        orders: services.orders.clone().expect(here),
        payments: services.payments.clone().expect(here),
        promotions: services.promotions.clone().expect(here),
        recommendations: services.recommendations.clone().expect(here),
        support: services.support.clone().expect(here),
        orders_client: services.orders_client.clone().expect(here),
        running: Some(running),
        _databases: databases,
    }
}

/// Events on to a RabbitMQ exchange of this test's own, quick retries.
pub fn with_events(amqp_url: String) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.events.amqp_url = Some(amqp_url.into());
        config.events.exchange = format!("pola.test.{}", Uuid::now_v7().simple());
        config.events.relay_idle_ms = 20;
        config.events.retry_delays_ms = vec![50, 100];
        config.inventory.low_stock_threshold = 5;
    }
}

/// A `pola-edge` process in front of a test app (`POLA_TEST_EDGE` names the binary; `make test`
/// runs the suite a second time so): its WAF on at the default paranoia level, the limits and the
/// micro-cache out of the way, customer routes on the public listener and staff ones on the
/// staff listener (as in production), and a patient upstream
/// connect: a debug build of the edge shares two cores with the app, its test client, MariaDB
/// and the other tests, and 200 buyers at once otherwise see 1 s connects time out. A request the WAF refuses
/// fails its test unless the test expected it to be refused as bad input (`expect_problem`);
/// when the edge stops, a WAF match on a request it let through fails the test too.
struct EdgeFront {
    child: std::process::Child,
    dir: std::path::PathBuf,
    public: String,
    staff: String,
}

impl EdgeFront {
    fn start(binary: &std::path::Path, upstream: std::net::SocketAddr, public_port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("pola-test-edge-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let port = || std::net::SocketAddr::from(([127, 0, 0, 1], pola_core::testing::free_port()));
        let public = std::net::SocketAddr::from(([127, 0, 0, 1], public_port));
        let (staff, admin) = (port(), port());
        let config = format!(
            "[listen]\npublic = \"{public}\"\nstaff = \"{staff}\"\nadmin = \"{admin}\"\n\n\
             [staff]\nvpn_ranges = [\"127.0.0.0/8\"]\n\n\
             [site]\nstate_file = \"{state}\"\n\n\
             [limits]\nper_ip_per_sec = 1000000\nper_token_per_sec = 1000000\nauth_per_ip_per_min = 1000000\n\n\
             [upstream]\nconnect_timeout_ms = 5000\n\n\
             [waf]\nwork_dir = \"{waf}\"\n\n[cache]\nenabled = false\n\n[log]\nfilter = \"info\"\n\n\
             [[pools]]\nname = \"pola\"\nprefixes = [\"/\"]\ndc = [\"{upstream}\"]\n",
            state = dir.join("site.json").display(),
            waf = dir.join("waf").display(),
        );
        std::fs::write(dir.join("edge.toml"), config).expect("written");
        let log = std::fs::File::create(dir.join("edge.log")).expect("a log");
        let child = std::process::Command::new(binary)
            .args(["serve", "--config"])
            .arg(dir.join("edge.toml"))
            .stdout(log.try_clone().expect("a handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(public).is_err() {
            assert!(std::time::Instant::now() < deadline, "pola-edge did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            dir,
            public: format!("http://{public}"),
            staff: format!("http://{staff}"),
        }
    }
}

impl Drop for EdgeFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(self.dir.join("edge.log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&self.dir);
        if std::thread::panicking() {
            let tail: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("\"level\":\"INFO\"") || l.contains("\"status\":5"))
                .rev()
                .take(20)
                .collect();
            eprintln!("pola-edge's log, its last warnings and errors:\n{}", tail.join("\n"));
            return;
        }
        let waf = |action: &str| -> Vec<&str> {
            log.lines()
                .filter(|l| l.contains("\"target\":\"waf\"") && l.contains(&format!("\"action\":\"{action}\"")))
                .collect()
        };
        for blocked in waf("blocked") {
            eprintln!("refused by the edge's WAF, as the test expected: {blocked}");
        }
        let passed = waf("detected");
        if !passed.is_empty() {
            panic!("the edge's WAF matched requests it let through:\n{}", passed.join("\n"));
        }
    }
}

/// A unique email for this run.
pub fn email() -> String {
    format!("shopper-{}@example.lk", Uuid::now_v7().simple())
}

/// A second process in front of a test app, serving only some services and reaching the
/// others over HTTP.
pub struct Front {
    pub api: Api,
    pub services: Services,
    _running: Running,
}

impl TestApp {
    /// Stops the server (the databases stay), draining for `http.drain_ms` first.
    pub async fn stop(&mut self) {
        if let Some(stopping) = self.stopping() {
            stopping.await.expect("stopped");
        }
    }

    /// Starts stopping the server as SIGTERM does (draining first), in the background.
    pub fn stopping(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let running = self.running.take()?;
        let drain = std::time::Duration::from_millis(self.config.http.drain_ms);
        Some(tokio::spawn(async move { running.stop(drain).await.expect("stopped") }))
    }

    /// Starts another process on the same databases that serves `only`, reaching this app for
    /// `remote` services through their internal API.
    pub async fn front(&self, only: &[ServiceName], remote: &[ServiceName]) -> Front {
        let mut config = self.config.clone();
        config.http.addr = "127.0.0.1:0".parse().expect("an address");
        // Services reach each other directly, never through the edge.
        let base = self.running.as_ref().map(|r| format!("http://{}", r.addr));
        for service in remote {
            match service {
                ServiceName::Catalog => config.services.catalog_url = base.clone(),
                ServiceName::Inventory => config.services.inventory_url = base.clone(),
                ServiceName::Cart => config.services.cart_url = base.clone(),
                ServiceName::Orders => config.services.orders_url = base.clone(),
                ServiceName::Identity => config.services.identity_url = base.clone(),
                ServiceName::Promotions => config.services.promotions_url = base.clone(),
                _ => panic!("{service:?} has no internal API"),
            }
        }
        config.validate().expect("a valid split configuration");
        let placement = Placement::plan(&config, only);
        let services = Services::connect_placed(&config, self.keys.clone(), false, placement)
            .await
            .expect("connected");
        let running = pola::start(&config, &services).await.expect("the front starts");
        Front {
            api: Api::new(format!("http://{}", running.addr)),
            services,
            _running: running,
        }
    }

    /// Registers and signs in a new customer.
    pub async fn shopper(&self) -> Shopper {
        let email = email();
        let password = "kottu roti at midnight".to_owned();
        self.api
            .post(
                "/api/v1/identity/register",
                None,
                json!({"email": email, "password": password, "name": "Test Shopper"}),
            )
            .await
            .expect(201);
        let tokens = self.login(&email, &password).await;
        Shopper {
            email,
            password,
            access: tokens.get("access_token").as_str().expect("a token").to_owned(),
            refresh: tokens.get("refresh_token").as_str().expect("a token").to_owned(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.api
            .post(
                "/api/v1/identity/token",
                None,
                json!({"grant_type": "password", "username": email, "password": password}),
            )
            .await
            .expect(200)
    }

    /// An access token for a customer id, without an account (for load tests of other services).
    pub fn customer_token(&self, customer: Uuid) -> String {
        self.keys
            .issue(Realm::Customer, customer, vec![], Duration::from_secs(600))
            .expect("a token")
    }

    /// A staff member with `roles`, enrolled with an authenticator app (played by `totp`) and
    /// signed in through the staff token endpoint with password and code.
    pub async fn staff(&self, roles: &[Role]) -> String {
        let email = format!("staff-{}@pola.lk", Uuid::now_v7().simple());
        self.identity
            .create_staff(&email, "Test Staff", roles, STAFF_PASSWORD.into())
            .await
            .expect("staff created");
        let secret = self.enrol(&email).await;
        let reply = self
            .api
            .post(
                "/api/v1/identity/staff/token",
                None,
                json!({"grant_type": "password", "username": email, "password": STAFF_PASSWORD,
                       "code": secret.code_at(chrono::Utc::now())}),
            )
            .await
            .expect(200);
        reply.get("access_token").as_str().expect("a token").to_owned()
    }

    /// Enrols `email`'s authenticator app as the back-office does, and answers its secret (the
    /// code of enrolment's time step is used up: sign in with a later one or wait a step).
    pub async fn enrol(&self, email: &str) -> TotpSecret {
        let sign_in = StaffSignIn {
            email: email.into(),
            password: STAFF_PASSWORD.into(),
            code: None,
        };
        let session = self
            .identity
            .start_session(sign_in, "127.0.0.1")
            .await
            .expect("a session")
            .session;
        let offered = self.identity.begin_enrolment(&session).await.expect("a secret");
        let secret = TotpSecret::from_base32(&offered.secret).expect("base32");
        // Enrol with the previous step's code, so that the current one is still unused (once
        // more if a step boundary passed between making the code and checking it).
        let mut enrolled = Err(None);
        for _ in 0..2 {
            let earlier = secret.code_at(chrono::Utc::now() - chrono::Duration::seconds(30));
            enrolled = self.identity.confirm_enrolment(&session, &earlier).await.map_err(Some);
            if enrolled.is_ok() {
                break;
            }
        }
        enrolled.expect("enrolled");
        self.identity.end_session(&session).await.expect("signed out");
        secret
    }

    /// Creates the categories and product types the tests use.
    pub async fn basics(&self, staff: &str) {
        for (slug, parent) in [
            ("clothing", None),
            ("batik", Some("clothing")),
            ("tea", None),
            ("gifts", None),
        ] {
            let reply = self
                .api
                .post(
                    "/api/v1/catalog/categories",
                    Some(staff),
                    json!({"slug": slug, "name": slug, "parent": parent}),
                )
                .await;
            assert!(matches!(reply.status, 201 | 409), "{reply:?}");
        }
        for body in [
            json!({"code": "shirt", "name": "Shirt", "attributes": [
                {"code": "size", "name": "Size", "kind": "enum", "values": ["S", "M", "L"]},
                {"code": "colour", "name": "Colour", "kind": "enum", "values": ["Indigo", "Maroon"]}]}),
            json!({"code": "tea", "name": "Tea", "attributes": [
                {"code": "flavour", "name": "Flavour", "kind": "enum", "values": ["Pure Ceylon", "Cinnamon"]},
                {"code": "weight", "name": "Weight", "kind": "number", "unit": "g"}]}),
            json!({"code": "gift_box", "name": "Gift box", "attributes": []}),
        ] {
            let reply = self.api.post("/api/v1/catalog/product-types", Some(staff), body).await;
            assert!(matches!(reply.status, 201 | 409), "{reply:?}");
        }
    }

    /// A tea with one 100 g variant priced `price_minor`, with `stock` units in Colombo.
    pub async fn tea(&self, staff: &str, name: &str, price_minor: i64, stock: i64) -> OnSale {
        self.basics(staff).await;
        let sku = format!("TEA-{}", Uuid::now_v7().simple()).to_uppercase();
        let reply = self
            .api
            .post(
                "/api/v1/catalog/products",
                Some(staff),
                json!({"name": name, "description": "Estate tea", "kind": "product", "category": "tea", "product_type": "tea",
                       "variants": [{"sku": sku, "price_minor": price_minor, "attributes": {"flavour": "Pure Ceylon", "weight": 100}}]}),
            )
            .await
            .expect(201);
        let on_sale = OnSale {
            product: uuid(reply.get("id")),
            variant: uuid(&reply.get("variants")[0]["id"]),
        };
        self.set_stock(staff, on_sale.variant, stock).await;
        on_sale
    }

    pub async fn set_stock(&self, staff: &str, variant: Uuid, on_hand: i64) {
        self.api
            .put(
                &format!("/api/v1/inventory/variants/{variant}/stock"),
                Some(staff),
                json!({"location": "colombo", "on_hand": on_hand, "reason": "test stock"}),
            )
            .await
            .expect(200);
    }

    /// Units of `variant` available now, as the catalog shows them.
    pub async fn available(&self, product: Uuid, variant: Uuid) -> i64 {
        let reply = self
            .api
            .get(&format!("/api/v1/catalog/products/{product}"), None)
            .await
            .expect(200);
        reply
            .get("variants")
            .as_array()
            .expect("variants")
            .iter()
            .find(|v| uuid(&v["id"]) == variant)
            .expect("the variant")["stock_available"]
            .as_i64()
            .expect("a number")
    }

    /// Takes an order through its life: paid by a bank transfer `finance` confirms, then
    /// packed, shipped (with a courier without an API) and delivered by `fulfilment`.
    pub async fn fulfil(&self, order: Uuid, finance: &str, fulfilment: &str) {
        self.fulfil_to_shipped(order, finance, fulfilment).await;
        self.api
            .post(
                &format!("/api/v1/fulfilment/orders/{order}/delivered"),
                Some(fulfilment),
                json!({}),
            )
            .await
            .expect(200);
    }

    /// Paid by a bank transfer `finance` confirms, packed and shipped (waybill `WB-…`).
    pub async fn fulfil_to_shipped(&self, order: Uuid, finance: &str, fulfilment: &str) {
        let view = self
            .api
            .get(&format!("/api/v1/payments/staff/orders/{order}"), Some(finance))
            .await
            .expect(200);
        let total = view.get("payment")["total"]["amount_minor"].clone();
        let short = &order.simple().to_string()[24..];
        self.api
            .post(
                &format!("/api/v1/payments/staff/orders/{order}/bank-transfer"),
                Some(finance),
                json!({"amount_minor": total, "slip_reference": format!("SLIP-{short}")}),
            )
            .await
            .expect(200);
        for (step, body) in [
            ("pack", json!({})),
            ("ship", json!({"courier": "manual", "waybill": format!("WB-{short}")})),
        ] {
            self.api
                .post(&format!("/api/v1/fulfilment/orders/{order}/{step}"), Some(fulfilment), body)
                .await
                .expect(200);
        }
    }

    /// Places an order with a fresh idempotency key.
    pub async fn checkout(&self, token: &str, body: Value) -> Reply {
        self.api
            .request(reqwest::Method::POST, "/api/v1/orders")
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(&body)
            .send_reply()
            .await
    }

    /// Accepts `order` for cash on delivery, as its customer.
    pub async fn confirm_cod(&self, token: &str, order: Uuid) {
        self.api
            .post(&format!("/api/v1/payments/orders/{order}/cod"), Some(token), json!({}))
            .await
            .expect(200);
    }

    /// "Buy now": an order of one line, with a fresh idempotency key.
    pub async fn buy_now(&self, token: &str, variant: Uuid, quantity: i64) -> Reply {
        self.checkout(token, json!({"lines": [{"variant_id": variant, "quantity": quantity}]}))
            .await
    }

    /// "Buy now" of one line, delivered to an address in Colombo.
    pub async fn buy_for_delivery(&self, token: &str, variant: Uuid, quantity: i64) -> Reply {
        self.checkout(
            token,
            json!({"lines": [{"variant_id": variant, "quantity": quantity}],
                   "delivery": {"recipient": "Nimal Perera", "phone": "077 123 4567", "line1": "12 Galle Road", "city": "Colombo 03"}}),
        )
        .await
    }

    /// Makes delivery free from the first rupee, and cash on delivery free of charge, through
    /// the staff API.
    pub async fn deliver_free(&self, staff: &str) {
        let path = "/api/v1/promotions/delivery-rules";
        let mut rules = self.api.get(path, Some(staff)).await.expect(200).body;
        rules["free_from_minor"] = json!(0);
        rules["cod_surcharge_minor"] = json!(0);
        self.api
            .request_as(reqwest::Method::PUT, path, Some(staff))
            .json(&rules)
            .send_reply()
            .await
            .expect(200);
    }

    pub async fn add_to_cart(&self, token: &str, variant: Uuid, quantity: i64) -> Reply {
        self.api
            .post(
                "/api/v1/cart/lines",
                Some(token),
                json!({"variant_id": variant, "quantity": quantity}),
            )
            .await
    }

    /// An access token for `customer` that expired five minutes ago, validly signed.
    pub fn expired_token(&self, customer: Uuid) -> String {
        let now = chrono::Utc::now().timestamp();
        self.keys
            .sign(&Claims {
                iss: "pola".into(),
                aud: "pola-customer".into(),
                sub: customer,
                iat: now - 600,
                exp: now - 300,
                roles: vec![],
            })
            .expect("signed")
    }

    /// Counts rows in a service's database, to show that bad requests changed nothing.
    pub async fn count(&self, pool: &sqlx::MySqlPool, table: &'static str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(pool)
            .await
            .expect("a count")
    }
}

pub use pola_core::testing::{OwnBroker, SendReply};

pub fn uuid(value: &Value) -> Uuid {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {value}"))
}

/// A burst of 1,000 "buy now" orders of `variant` (8 buyers of 125, with `token`, or each buyer a
/// customer of its own) while `broker` is stopped and started again a third of the way in; the
/// ids of the orders placed.
pub async fn thousand_orders_across_a_broker_restart(
    app: &Arc<TestApp>,
    variant: Uuid,
    token: Option<&str>,
    broker: &Arc<OwnBroker>,
) -> Vec<Uuid> {
    let placed = Arc::new(std::sync::Mutex::new(vec![]));
    let buyers: Vec<_> = (0..8)
        .map(|_| {
            let (app, placed) = (app.clone(), placed.clone());
            let token = token.map_or_else(|| app.customer_token(Uuid::now_v7()), str::to_owned);
            tokio::spawn(async move {
                for _ in 0..125 {
                    let order = app.buy_now(&token, variant, 1).await.expect(201);
                    placed.lock().expect("unpoisoned").push(uuid(order.get("id")));
                }
            })
        })
        .collect();
    while placed.lock().expect("unpoisoned").len() < 330 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restarting = broker.clone();
    tokio::task::spawn_blocking(move || {
        restarting.stop();
        restarting.restart();
    })
    .await
    .expect("restarted");
    for buyer in buyers {
        buyer.await.expect("a buyer");
    }
    let placed = placed.lock().expect("unpoisoned").clone();
    assert_eq!(placed.len(), 1000);
    placed
}
