//! The README's commands, run for real: `pola migrate`, `pola seed`, `pola staff create` and
//! `pola serve` as processes of the built binary, and the five-minute tour's shell block, as a
//! newcomer would paste it, against that server.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
};

use pola_core::testing::{TestDatabases, test_server_url};

/// The `pola` binary with a test's environment: its databases, keys, a free port, and PayHere's
/// checkout (payhere-sim) for its sandbox merchant.
pub struct Pola {
    env: Vec<(&'static str, String)>,
    pub dir: PathBuf,
    _payhere: pola_payments::testing::Simulator,
}

impl Pola {
    pub fn new(databases: &TestDatabases) -> Self {
        let dir = std::env::temp_dir().join(format!("pola-readme-{}", uuid::Uuid::now_v7().simple()));
        let (merchant, secret) = ("1221149", "pola-readme-sandbox-secret");
        let payhere = pola_payments::testing::Simulator::start(merchant, secret);
        let port = pola_core::testing::free_port();
        let shop = format!("http://127.0.0.1:{port}");
        Self {
            env: vec![
                ("POLA_PAYMENTS__PAYHERE__MERCHANT_ID", merchant.into()),
                ("POLA_PAYMENTS__PAYHERE__MERCHANT_SECRET", secret.into()),
                ("POLA_PAYMENTS__PAYHERE__CHECKOUT_URL", payhere.checkout_url()),
                (
                    "POLA_PAYMENTS__PAYHERE__NOTIFY_URL",
                    format!("{shop}/api/v1/payments/payhere/notify"),
                ),
                (
                    "POLA_PAYMENTS__PAYHERE__RETURN_URL",
                    format!("{shop}/account/orders/{{order_id}}"),
                ),
                (
                    "POLA_PAYMENTS__PAYHERE__CANCEL_URL",
                    format!("{shop}/account/orders/{{order_id}}"),
                ),
                ("POLA_DATABASE__URL", test_server_url()),
                ("POLA_DATABASE__PREFIX", databases.config.prefix.clone()),
                ("POLA_AUTH__SIGNING_KEY_FILE", dir.join("key.pem").display().to_string()),
                ("POLA_PII__KEYRING_DIR", dir.join("pii").display().to_string()),
                ("POLA_AUTH__ARGON2_MEMORY_KIB", "64".into()),
                ("POLA_AUTH__ARGON2_ITERATIONS", "1".into()),
                ("POLA_HTTP__ADDR", format!("127.0.0.1:{port}")),
                ("POLA_LOG__FORMAT", "json".into()),
                // Everything a server logs, down to debug, is checked for personal data.
                ("RUST_LOG", "debug,sqlx=warn,hyper=info,reqwest=info".into()),
            ],
            dir,
            _payhere: payhere,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pola"));
        command.args(args).envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    /// Runs a command to the end; its standard output.
    pub fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> String {
        let output = self.command(args).envs(extra.iter().copied()).output().expect("pola runs");
        assert!(
            output.status.success(),
            "pola {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `pola serve`, once it logs where it listens; every log line it writes is kept.
    pub fn serve(&self) -> Server {
        let mut child = self
            .command(&["serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("piped");
        let logs = Arc::new(Mutex::new(vec![]));
        let (found, addr) = std::sync::mpsc::channel();
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "pola is serving"
                {
                    let _ = found.send(event["http.addr"].as_str().map(str::to_owned));
                }
                kept.lock().expect("unpoisoned").push(line);
            }
        });
        let addr = addr
            .recv_timeout(std::time::Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("serve logs where it listens");
        Server { child, addr, logs }
    }
}

/// A running `pola serve`, stopped with SIGTERM when the test ends, however it ends.
pub struct Server {
    child: Child,
    pub addr: String,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A customer for the tour: the values of its first lines.
pub struct TourCustomer<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub phone: &'a str,
    pub nic: &'a str,
    pub address: &'a str,
}

pub const NIMAL: TourCustomer<'static> = TourCustomer {
    email: "nimal@example.lk",
    name: "Nimal Perera",
    phone: "077 123 4567",
    nic: "851230456V",
    address: "12 Galle Road",
};

/// Runs the tour against `addr` as `customer`; its standard output.
pub fn run_tour(addr: &str, customer: &TourCustomer<'_>) -> String {
    let who = format!(
        "EMAIL={} NAME='{}' PHONE='{}' NIC={} ADDRESS='{}'",
        customer.email, customer.name, customer.phone, customer.nic, customer.address
    );
    let script = pola_core::testing::readme_block("## A five-minute tour")
        .replace("API=http://127.0.0.1:8080", &format!("API=http://{addr}"))
        .replace(
            "EMAIL=nimal@example.lk NAME='Nimal Perera' PHONE='077 123 4567' NIC=851230456V ADDRESS='12 Galle Road'",
            &who,
        );
    assert!(script.contains(&who), "the tour names its customer in one line");
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the tour failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("\"pending_payment\""),
        "no order in the tour's output:\n{stdout}"
    );
    assert!(stdout.contains("\n204\n"), "logout did not answer 204:\n{stdout}");
    assert!(
        stdout.contains("\"order_status\": \"paid\"") && stdout.contains("\"instrument\": \"VISA\""),
        "the tour's PayHere payment did not go through:\n{stdout}"
    );
    stdout
}

/// Migrates and seeds a small demo shop.
pub fn prepare(pola: &Pola) {
    assert!(pola.run(&["migrate"], &[]).contains("migrations applied"));
    assert!(
        pola.run(&["seed", "--demo", "--products", "300"], &[])
            .contains("seeded 300 products")
    );
}

pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_readme_tour_runs_against_a_real_pola_process() {
    let databases = TestDatabases::new();
    let pola = Pola::new(&databases);
    prepare(&pola);
    assert!(
        pola.run(&["seed", "--demo"], &[]).contains("not seeding"),
        "a second seed changes nothing"
    );
    let staff = pola.run(
        &["staff", "create", "--email", "admin@pola.lk", "--role", "admin"],
        &[("POLA_STAFF_PASSWORD", "a staff passphrase")],
    );
    assert!(staff.trim().parse::<uuid::Uuid>().is_ok(), "{staff}");

    let server = pola.serve();
    let addr = server.addr.clone();
    let stdout = run_tour(&addr, &NIMAL);
    assert!(
        stdout.contains("\"line1\": \"12 Galle Road\""),
        "the customer sees their address:\n{stdout}"
    );

    // Key rotations from the command line while the server runs: the tour's customer still
    // signs in and reads their profile.
    let rotated = pola.run(&["keys", "rotate"], &[]);
    assert!(
        rotated.contains("version 2 is now current") && rotated.contains("1 data keys done; 0 left"),
        "{rotated}"
    );
    let resumed = pola.run(&["keys", "rotate", "--resume"], &[]);
    assert!(
        resumed.contains("0 data keys done; 0 left") && !resumed.contains("now current"),
        "{resumed}"
    );
    let reindexed = pola.run(&["keys", "rotate-blind-index", "--wait"], &[]);
    assert!(
        reindexed.contains("blind-index key version 2 is now current") && reindexed.contains("1 customers done; 0 left"),
        "{reindexed}"
    );
    let me = format!(
        "curl -sf http://{addr}/api/v1/identity/me -H \"authorization: Bearer $(curl -sf http://{addr}/api/v1/identity/token \
           -H 'content-type: application/json' \
           -d '{{\"grant_type\":\"password\",\"username\":\"0771234567\",\"password\":\"a long passphrase\"}}' | jq -r .access_token)\""
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &me])
        .output()
        .expect("bash runs");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Nimal Perera"), "{output:?}");

    drop(server);
    remove(&pola.dir);
}
