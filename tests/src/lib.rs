//! End-to-end tests across processes: both sites of the `local` Ansible inventory (a MariaDB and
//! a `pola serve` per site, the edge in front), brought up and switched by the same playbooks and
//! commands the runbooks give SREs, with shoppers checking out through the edge meanwhile.
//!
//! Needs what `make test` provides: the debug build of `pola` and `pola-edge`, Ansible under
//! `var/ansible` (scripts/ansible.sh) and the test RabbitMQ node (`POLA_TEST_AMQP_URL`).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sqlx::{MySqlPool, mysql::MySqlPoolOptions};
use uuid::Uuid;

/// One test's two sites at a time: they share the machine's two cores, and times (RTO) are only
/// worth printing when nothing else runs.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The checkout's root folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("a parent").to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    Dc,
    Dr,
}

impl Site {
    pub fn name(self) -> &'static str {
        match self {
            Site::Dc => "dc",
            Site::Dr => "dr",
        }
    }
}

/// Both sites and the edge, from `ansible/inventories/local`, in a folder and on ports of their
/// own. Dropping it stops every process it started (and keeps the folder if the test failed).
pub struct Sites {
    pub dir: PathBuf,
    vars: PathBuf,
    pub db_port: [u16; 2],
    pub app_port: [u16; 2],
    pub edge_port: u16,
    pub edge_admin_port: u16,
}

impl Sites {
    /// Runs `site.yml` for a fresh pair of sites named `name`.
    pub async fn up(name: &str) -> Sites {
        Sites::up_with(name, json!({})).await
    }

    /// The same, with `overrides` of the playbooks' variables (`pola_ports` merged key by key).
    pub async fn up_with(name: &str, overrides: Value) -> Sites {
        pola_core::install_crypto_provider();
        let dir = root().join("var/e2e").join(name);
        stop_processes(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the test's folder");
        let port = pola_core::testing::free_port;
        let amqp_url = pola_core::testing::test_amqp_url();
        let mq_port: u16 = amqp_url
            .rsplit(':')
            .next()
            .and_then(|tail| tail.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("POLA_TEST_AMQP_URL names a port");
        let sites = Sites {
            vars: dir.join("vars.json"),
            db_port: [port(), port()],
            app_port: [port(), port()],
            edge_port: port(),
            edge_admin_port: port(),
            dir,
        };
        let mut vars = json!({
            "pola_var": sites.dir,
            "pola_profile": "debug",
            "pola_seed_products": 20,
            "pola_seed_orders": 0,
            "pola_worker_notifications": false,
            // Tests that need the alert worker run their own.
            "pola_ops_site": "none",
            "rabbitmq_manage": false,
            "edge_per_ip_per_sec": 5000,
            "pola_apm_url": pola_core::testing::test_opensearch_url(),
            // Each test's telemetry apart from the others' (alerts judge what is in theirs).
            "pola_apm_prefix": format!("e2e-{}", name.replace('_', "-")),
            "pola_ports": {
                "dc_db": sites.db_port[0], "dr_db": sites.db_port[1],
                "dc_app": sites.app_port[0], "dr_app": sites.app_port[1],
                "dc_app_2": port(), "dr_app_2": port(),
                "edge_public": sites.edge_port, "edge_staff": port(), "edge_admin": sites.edge_admin_port,
                "mq": mq_port,
            },
        });
        for (key, value) in overrides.as_object().expect("an object of variables") {
            match (vars.get_mut(key), value) {
                (Some(Value::Object(base)), Value::Object(more)) => base.extend(more.clone()),
                _ => {
                    vars[key] = value.clone();
                }
            }
        }
        std::fs::write(&sites.vars, serde_json::to_vec_pretty(&vars).expect("json")).expect("vars.json");
        for binary in ["pola", "pola-edge"] {
            let path = root().join("target/debug").join(binary);
            assert!(
                path.exists(),
                "{} is missing: build it first (make test does)",
                path.display()
            );
        }
        sites.playbook("site.yml", &[]).await;
        sites
    }

    /// Runs `ansible/playbooks/<playbook>` against the `local` inventory exactly as the runbooks
    /// say, plus this test's folder and ports; panics with its output if it fails. Returns how
    /// long it took.
    pub async fn playbook(&self, playbook: &str, extra: &[&str]) -> Duration {
        self.playbook_said(playbook, extra).await.0
    }

    /// The same, also returning what the playbook printed.
    pub async fn playbook_said(&self, playbook: &str, extra: &[&str]) -> (Duration, String) {
        let (succeeded, took, text, log) = self.run_playbook(playbook, extra).await;
        assert!(
            succeeded,
            "{playbook} {extra:?} failed after {took:?}; its output ({}):\n{}",
            log.display(),
            tail(&text, 60)
        );
        (took, text)
    }

    /// Runs a playbook that must refuse (fail); its output.
    pub async fn playbook_refused(&self, playbook: &str, extra: &[&str]) -> String {
        let (succeeded, _, text, log) = self.run_playbook(playbook, extra).await;
        assert!(
            !succeeded,
            "{playbook} {extra:?} went through; it should have refused ({}):\n{}",
            log.display(),
            tail(&text, 60)
        );
        text
    }

    async fn run_playbook(&self, playbook: &str, extra: &[&str]) -> (bool, Duration, String, PathBuf) {
        let ansible = root().join("var/ansible/bin/ansible-playbook");
        assert!(ansible.exists(), "{} is missing: run scripts/ansible.sh", ansible.display());
        let log = self.dir.join(format!("{playbook}.log"));
        let started = Instant::now();
        let output = tokio::process::Command::new(&ansible)
            .current_dir(root())
            .args(["-i", "ansible/inventories/local", &format!("ansible/playbooks/{playbook}")])
            .args(extra)
            .arg("-e")
            .arg(format!("@{}", self.vars.display()))
            .env("ANSIBLE_NOCOLOR", "1")
            // Each task's duration in the log, as the runbooks' "expected duration" quotes.
            .env("ANSIBLE_CALLBACKS_ENABLED", "ansible.posix.profile_tasks")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("ansible-playbook runs");
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        std::fs::write(&log, &text).expect("the playbook's log");
        (output.status.success(), took, text, log)
    }

    /// The file where the playbooks keep the current primary's name.
    pub fn primary_file(&self) -> PathBuf {
        self.dir.join("primary-site")
    }

    fn mariadb_dir(&self, site: Site) -> PathBuf {
        self.dir.join(site.name()).join("mariadb")
    }

    /// SIGKILL to a site's mariadbd: what a power cut looks like to its clients.
    pub fn kill_db(&self, site: Site) {
        let pid = std::fs::read_to_string(self.mariadb_dir(site).join("mariadbd.pid")).expect("mariadbd's pid");
        let status = std::process::Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "mariadbd {pid} could not be killed");
    }

    /// SIGKILL to one of a site's processes (`pola-serve`, `pola-worker`, by its pid file).
    pub fn kill(&self, site: Site, process: &str) {
        let pidfile = self.dir.join(site.name()).join(format!("{process}.pid"));
        let pid = std::fs::read_to_string(&pidfile).unwrap_or_else(|e| panic!("{}: {e}", pidfile.display()));
        let status = std::process::Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "{process} {pid} could not be killed");
    }

    /// A root connection pool to a site's database.
    pub async fn db(&self, site: Site) -> MySqlPool {
        let port = self.db_port[site as usize];
        MySqlPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&format!("mysql://root@127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("the {} database on {port}: {e}", site.name()))
    }

    pub fn edge(&self) -> String {
        format!("http://127.0.0.1:{}", self.edge_port)
    }

    pub fn app(&self, site: Site) -> String {
        format!("http://127.0.0.1:{}", self.app_port[site as usize])
    }

    /// `pola status` for both sites and the edge, as an SRE runs it: its output and exit code.
    pub async fn status(&self) -> (String, i32) {
        let output = tokio::process::Command::new(root().join("target/debug/pola"))
            .arg("status")
            .args([
                "--site",
                &format!("dc=mysql://pola:pola-local-only@127.0.0.1:{}", self.db_port[0]),
            ])
            .args([
                "--site",
                &format!("dr=mysql://pola:pola-local-only@127.0.0.1:{}", self.db_port[1]),
            ])
            .args(["--edge", &format!("127.0.0.1:{}", self.edge_admin_port)])
            .output()
            .await
            .expect("pola status runs");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            output.status.code().unwrap_or(-1),
        )
    }
}

impl Drop for Sites {
    fn drop(&mut self) {
        stop_processes(&self.dir);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Stops every process of the sites under `dir` (scripts/sites.sh, as `make stop` does).
fn stop_processes(dir: &Path) {
    let stopped = std::process::Command::new(root().join("scripts/sites.sh"))
        .arg("stop")
        .arg(dir)
        .stdout(Stdio::null())
        .status();
    assert!(
        stopped.is_ok_and(|s| s.success()) || std::thread::panicking(),
        "scripts/sites.sh stop {} failed",
        dir.display()
    );
}

/// A shop ready for the load: signed-in shoppers, a plentiful variant and a scarce one.
pub struct Shop {
    pub tokens: Vec<String>,
    pub plentiful: Uuid,
    pub scarce: Uuid,
    /// Units of the scarce variant for sale at the start.
    pub scarce_units: i64,
}

impl Shop {
    /// Fresh sites named `name` (DC primary) with a shop open at DC.
    pub async fn up(name: &str, shoppers: usize, scarce_units: i64) -> (Sites, Shop) {
        let sites = Sites::up(name).await;
        let shop = Shop::open(&sites, Site::Dc, shoppers, scarce_units).await;
        (sites, shop)
    }

    /// Registers `shoppers` customers at the primary's `pola serve` (the edge limits sign-ups per
    /// address), and sets the stock of two single-location variants.
    pub async fn open(sites: &Sites, primary: Site, shoppers: usize, scarce_units: i64) -> Shop {
        let db = sites.db(primary).await;
        let variants: Vec<Uuid> = sqlx::query_scalar(
            "SELECT s.variant_id FROM pola_inventory.stock s JOIN pola_catalog.variants v ON v.id = s.variant_id \
             WHERE v.status = 'active' GROUP BY s.variant_id HAVING COUNT(*) = 1 ORDER BY s.variant_id LIMIT 2",
        )
        .fetch_all(&db)
        .await
        .expect("variants");
        assert_eq!(variants.len(), 2, "the demo shop has two stocked variants");
        for (variant, units) in [(variants[0], 1_000_000), (variants[1], scarce_units)] {
            sqlx::query("UPDATE pola_inventory.stock SET on_hand = ?, reserved = 0 WHERE variant_id = ?")
                .bind(units)
                .bind(variant)
                .execute(&db)
                .await
                .expect("stock set");
        }
        let http = reqwest::Client::new();
        let app = sites.app(primary);
        let mut tokens = vec![];
        for _ in 0..shoppers {
            let email = format!("{}@e2e.pola.lk", Uuid::now_v7().simple());
            let password = "kottu roti at midnight";
            let registered = http
                .post(format!("{app}/api/v1/identity/register"))
                .json(&json!({"email": email, "password": password, "name": "Site Shopper"}))
                .send()
                .await
                .expect("register");
            assert_eq!(
                registered.status(),
                201,
                "registration: {}",
                registered.text().await.unwrap_or_default()
            );
            let token: Value = http
                .post(format!("{app}/api/v1/identity/token"))
                .json(&json!({"grant_type": "password", "username": email, "password": password}))
                .send()
                .await
                .expect("sign in")
                .json()
                .await
                .expect("tokens");
            tokens.push(token["access_token"].as_str().expect("an access token").to_owned());
        }
        Shop {
            tokens,
            plentiful: variants[0],
            scarce: variants[1],
            scarce_units,
        }
    }
}

/// An order the client was told exists (201, or 200 for a replay of its key).
#[derive(Debug, Clone)]
pub struct Ack {
    pub order: Uuid,
    pub variant: Uuid,
    /// When the attempt that got the answer was sent, and when the answer came.
    pub sent: Instant,
    pub answered: Instant,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub acks: Vec<Ack>,
    /// Definite refusals (out of stock): the client's request was answered, and nothing sold.
    pub refused: usize,
    /// Requests still without an answer after `Load::GIVE_UP` of retries with the same key.
    pub failed: Vec<String>,
    /// Attempts answered 5xx or not at all, then retried.
    pub retries: usize,
}

impl Outcome {
    /// The longest time between two acknowledgements answered within `from..to`: how long
    /// checkouts could not complete.
    pub fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let mut times: Vec<Instant> = self
            .acks
            .iter()
            .map(|a| a.answered)
            .filter(|t| (from..to).contains(t))
            .collect();
        times.sort();
        times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
    }
}

/// Shoppers checking out through the edge, one after another, each with a fresh
/// Idempotency-Key retried until it gets an answer, as the mobile app does.
pub struct Load {
    stop: Arc<AtomicBool>,
    outcome: Arc<Mutex<Outcome>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// How long one checkout is retried before the app shows an error.
    pub const GIVE_UP: Duration = Duration::from_secs(90);

    pub fn start(sites: &Sites, shop: &Shop) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a client");
        let tasks = shop
            .tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let (stop, outcome, http) = (stop.clone(), outcome.clone(), http.clone());
                let (url, token) = (format!("{}/api/v1/orders", sites.edge()), token.clone());
                // Every other checkout tries for the scarce variant, until it is gone.
                let variants = [shop.plentiful, shop.scarce];
                tokio::spawn(async move {
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let variant = variants[n % 2];
                        checkout(&http, &url, &token, variant, &outcome).await;
                    }
                })
            })
            .collect();
        Load { stop, outcome, tasks }
    }

    /// Starts the load and waits until `warm` checkouts are acknowledged.
    pub async fn running(sites: &Sites, shop: &Shop, warm: usize) -> Load {
        let load = Load::start(sites, shop);
        load.until_acked_after(Instant::now(), warm).await;
        load
    }

    /// Acknowledged orders so far.
    pub fn acks(&self) -> usize {
        self.outcome.lock().expect("outcome").acks.len()
    }

    /// When the first checkout sent after `since` was acknowledged.
    pub fn first_ack_after(&self, since: Instant) -> Option<Instant> {
        let outcome = self.outcome.lock().expect("outcome");
        outcome.acks.iter().filter(|a| a.sent > since).map(|a| a.answered).min()
    }

    /// Waits until `more` checkouts sent after `since` are acknowledged (panics after 60 s).
    pub async fn until_acked_after(&self, since: Instant, more: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let count = self
                .outcome
                .lock()
                .expect("outcome")
                .acks
                .iter()
                .filter(|a| a.sent > since)
                .count();
            if count >= more {
                return;
            }
            assert!(Instant::now() < deadline, "only {count} checkouts succeeded in 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Lets every checkout in hand finish (with its retries), then returns what happened.
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("a shopper");
        }
        std::mem::take(&mut *self.outcome.lock().expect("outcome"))
    }
}

async fn checkout(http: &reqwest::Client, url: &str, token: &str, variant: Uuid, outcome: &Mutex<Outcome>) {
    let key = Uuid::now_v7().to_string();
    let body = json!({"lines": [{"variant_id": variant, "quantity": 1}]});
    let started = Instant::now();
    loop {
        let sent = Instant::now();
        let answer = http
            .post(url)
            .bearer_auth(token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        let wait = match answer {
            Ok(response) if response.status().is_success() => {
                let order: Value = response.json().await.unwrap_or_default();
                let order = order["id"].as_str().and_then(|id| id.parse().ok()).expect("an order id");
                outcome.lock().expect("outcome").acks.push(Ack {
                    order,
                    variant,
                    sent,
                    answered: Instant::now(),
                });
                return;
            }
            Ok(response) if response.status() == 409 => {
                outcome.lock().expect("outcome").refused += 1;
                return;
            }
            Ok(response) if response.status().is_server_error() || response.status() == 429 => {
                // Retry-After, as the app honours it; at most a second.
                let after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1u64);
                Duration::from_secs(after.min(1))
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                outcome.lock().expect("outcome").failed.push(format!("{status}: {text}"));
                return;
            }
            // The edge or the connection went away: try again soon.
            Err(_) => Duration::from_millis(100),
        };
        if started.elapsed() > Load::GIVE_UP {
            outcome
                .lock()
                .expect("outcome")
                .failed
                .push(format!("no answer for key {key} in {:?}", Load::GIVE_UP));
            return;
        }
        outcome.lock().expect("outcome").retries += 1;
        tokio::time::sleep(wait).await;
    }
}

/// What the surviving primary says about the orders the clients were told about.
#[derive(Debug)]
pub struct Audit {
    /// Acknowledged orders missing from the database.
    pub lost: Vec<Uuid>,
    /// Units of the scarce variant in orders.
    pub scarce_ordered: i64,
    /// Units of it sold (not returned) in inventory.
    pub scarce_sold: i64,
    /// What inventory has left of it.
    pub scarce_on_hand: i64,
    pub orders_in_db: usize,
}

impl Audit {
    pub async fn of(db: &MySqlPool, acks: &[Ack], shop: &Shop) -> Audit {
        let stored: HashSet<Uuid> = sqlx::query_scalar("SELECT id FROM pola_orders.orders")
            .fetch_all(db)
            .await
            .expect("orders")
            .into_iter()
            .collect();
        let lost = acks.iter().map(|a| a.order).filter(|o| !stored.contains(o)).collect();
        let sum = |sql: &'static str| async move {
            sqlx::query_scalar::<_, Option<i64>>(sql)
                .bind(shop.scarce)
                .fetch_one(db)
                .await
                .expect("a sum")
                .unwrap_or(0)
        };
        Audit {
            lost,
            scarce_ordered: sum("SELECT CAST(SUM(quantity) AS SIGNED) FROM pola_orders.order_lines WHERE variant_id = ?").await,
            scarce_sold: sum(
                "SELECT CAST(SUM(quantity) AS SIGNED) FROM pola_inventory.sales WHERE variant_id = ? AND returned_at IS NULL",
            )
            .await,
            scarce_on_hand: sum("SELECT CAST(SUM(on_hand) AS SIGNED) FROM pola_inventory.stock WHERE variant_id = ?").await,
            orders_in_db: stored.len(),
        }
    }

    /// No acknowledged order lost; the scarce variant's units add up and none was sold twice.
    pub fn assert_sound(&self, shop: &Shop) {
        assert!(self.lost.is_empty(), "acknowledged orders lost: {:?}", self.lost);
        assert!(self.scarce_on_hand >= 0, "negative stock: {self:?}");
        assert_eq!(
            self.scarce_sold + self.scarce_on_hand,
            shop.scarce_units,
            "sold and left do not add up to what there was: {self:?}"
        );
        assert_eq!(self.scarce_ordered, self.scarce_sold, "ordered and sold differ: {self:?}");
    }
}
