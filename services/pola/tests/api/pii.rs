//! Personal data: sealed everywhere it is stored or logged, found by blind index, masked for
//! staff (reveals audited), exported and erased on request, shredded in old backups too, keys
//! rotated under load, and what happens when Vault goes away.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use aho_corasick::AhoCorasick;
use base64::{Engine, engine::general_purpose::STANDARD};
use pola::Services;
use pola_core::{
    auth::Role,
    config::{PiiBackend, VaultConfig},
    testing::{TestDatabases, test_server_url},
};
use pola_identity::store::Pass;
use pola_orders::Viewer;
use pola_pii::testing::{FakeVault, ROLE_ID, SECRET_ID};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    harness::{OnSale, TestApp, email, spawn_app, spawn_app_with, uuid},
    readme::{Pola, TourCustomer, prepare, remove, run_tour},
};

const PASSWORD: &str = "kottu roti at midnight";

/// A random Sri Lankan mobile number, as typed (`07x xxx xxxx`).
fn mobile() -> String {
    format!("077 {:03} {:04}", rand::random_range(0..1000), rand::random_range(0..10000))
}

/// A random old-form NIC (born 1970–1999) and its 12-digit form.
fn nic() -> (String, String) {
    let (year, day, serial, check) = (
        rand::random_range(70..100),
        rand::random_range(1..366) + if rand::random() { 500 } else { 0 },
        rand::random_range(0..1000),
        rand::random_range(0..10),
    );
    (
        format!("{year:02}{day:03}{serial:03}{check}V"),
        format!("19{year:02}{day:03}0{serial:03}{check}"),
    )
}

/// Registers a customer with a phone and a NIC and signs them in; their access token.
async fn register(app: &TestApp, email: &str, name: &str, phone: &str, nic: &str) -> (Uuid, String) {
    let reply = app
        .api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": email, "password": PASSWORD, "name": name, "phone": phone, "nic": nic}),
        )
        .await
        .expect(201);
    let token = app
        .login(email, PASSWORD)
        .await
        .get("access_token")
        .as_str()
        .expect("a token")
        .to_owned();
    (uuid(reply.get("id")), token)
}

fn delivery(name: &str, phone: &str, line1: &str) -> Value {
    json!({"recipient": name, "phone": phone, "line1": line1, "city": "Kandy", "postal_code": "20000"})
}

async fn buy_delivered(app: &TestApp, token: &str, tea: OnSale, address: Value) -> Uuid {
    let reply = app
        .checkout(
            token,
            json!({"lines": [{"variant_id": tea.variant, "quantity": 1}], "delivery": address}),
        )
        .await
        .expect(201);
    uuid(reply.get("id"))
}

async fn erase(app: &TestApp, token: &str, password: &str) -> pola_core::testing::Reply {
    app.api
        .post("/api/v1/identity/me/erase", Some(token), json!({"password": password}))
        .await
}

/// Kamala and Nimal, each with an order delivered to their address.
struct Two {
    kamala: Uuid,
    kamala_email: String,
    kamala_token: String,
    kamala_order: Uuid,
    nimal: Uuid,
    nimal_email: String,
    nimal_token: String,
    nimal_order: Uuid,
}

async fn two_customers_with_orders(app: &TestApp) -> Two {
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Delivered tea", 10_000, 10).await;
    let (kamala_email, nimal_email) = (email(), email());
    let (kamala, kamala_token) = register(app, &kamala_email, "Kamala Perera", &mobile(), &nic().0).await;
    let (nimal, nimal_token) = register(app, &nimal_email, "Nimal Silva", &mobile(), &nic().0).await;
    let kamala_address = delivery("Kamala Perera", "0712345678", "7 Temple Road");
    let kamala_order = buy_delivered(app, &kamala_token, tea, kamala_address).await;
    let nimal_order = buy_delivered(app, &nimal_token, tea, delivery("Nimal Silva", "0712345679", "9 Lake Drive")).await;
    Two {
        kamala,
        kamala_email,
        kamala_token,
        kamala_order,
        nimal,
        nimal_email,
        nimal_token,
        nimal_order,
    }
}

#[tokio::test]
async fn a_customer_exports_and_erases_their_own_data_and_no_one_elses() {
    let app = spawn_app().await;
    let Two {
        kamala_email,
        kamala,
        kamala_token,
        kamala_order: order,
        nimal_token,
        ..
    } = two_customers_with_orders(&app).await;

    let export = app
        .api
        .get("/api/v1/identity/me/export", Some(&kamala_token))
        .await
        .expect(200);
    assert_eq!(export.get("profile")["email"], json!(kamala_email));
    assert_eq!(
        export.get("services")["orders"][0]["delivery"]["line1"],
        json!("7 Temple Road")
    );
    assert_eq!(
        export.get("services")["orders"][0]["delivery"]["phone"],
        json!("+94712345678")
    );
    assert!(!export.get("sessions").as_array().expect("sessions").is_empty());
    let theirs = app
        .api
        .get("/api/v1/identity/me/export", Some(&nimal_token))
        .await
        .expect(200);
    let text = theirs.body.to_string();
    assert!(!text.contains(&kamala_email) && !text.contains("Temple Road"), "{text}");

    // Erasure acts on the token's own account (no request can name another one), and needs
    // that account's password.
    erase(&app, &nimal_token, "someone else's password").await.expect_problem(403);
    erase(&app, &kamala_token, "a wrong password").await.expect_problem(403);
    app.api.get("/api/v1/identity/me", Some(&kamala_token)).await.expect(200);

    erase(&app, &kamala_token, PASSWORD).await.expect(204);
    let keyring = app.config.pii.keyring_dir.join("data-keys");
    assert!(!keyring.join(kamala.to_string()).exists(), "the data key is destroyed");
    app.api
        .get("/api/v1/identity/me", Some(&kamala_token))
        .await
        .expect_problem(410);
    app.api
        .get("/api/v1/identity/me/export", Some(&kamala_token))
        .await
        .expect_problem(410);
    erase(&app, &kamala_token, PASSWORD).await.expect_problem(410);
    let refused = app
        .api
        .post(
            "/api/v1/identity/token",
            None,
            json!({"grant_type": "password", "username": kamala_email, "password": PASSWORD}),
        )
        .await
        .expect_problem(400);
    assert_eq!(refused.get("error"), &json!("invalid_grant"));

    // The order keeps its facts for the accounts; the address is gone with the key.
    let kept = app
        .api
        .get(&format!("/api/v1/orders/{order}"), Some(&kamala_token))
        .await
        .expect(200);
    // Rs 100 of goods and Rs 450 to deliver them.
    assert_eq!(kept.get("total")["amount_minor"], json!(55_000));
    assert_eq!(kept.get("personal_data_erased"), &json!(true));
    assert_eq!(kept.get("delivery"), &Value::Null);
    let sealed: Vec<Option<Vec<u8>>> = sqlx::query_scalar("SELECT email_sealed FROM customers WHERE id = ?")
        .bind(kamala)
        .fetch_all(app.identity.pool())
        .await
        .expect("the row");
    assert_eq!(sealed, vec![None], "the row keeps its id only");

    // The email can register again, as a new account.
    let again = app
        .api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": kamala_email, "password": PASSWORD, "name": "Kamala Perera"}),
        )
        .await
        .expect(201);
    assert_ne!(uuid(again.get("id")), kamala);
    app.api.get("/api/v1/identity/me", Some(&nimal_token)).await.expect(200);
}

#[tokio::test]
async fn staff_find_customers_by_nic_or_phone_see_them_masked_and_every_reveal_is_audited() {
    let app = spawn_app().await;
    let customer_email = format!("kamala.{}@gmail.com", Uuid::now_v7().simple());
    let (kamala, kamala_token) = register(&app, &customer_email, "Kamala Perera", "0771234567", "851230456V").await;
    register(&app, &email(), "Someone Else", "0779876543", "199012300457").await;
    let support = app.staff(&[Role::Support]).await;
    let catalog = app.staff(&[Role::Catalog]).await;
    let admin = app.staff(&[Role::Admin]).await;

    for query in [
        "nic=198512300456",
        "nic=851230456v",
        "nic=%20851230456V",
        "phone=%2B94%2077%20123%204567",
        "phone=94771234567",
    ] {
        let found = app
            .api
            .get(&format!("/api/v1/identity/staff/customers?{query}"), Some(&support))
            .await
            .expect(200);
        assert_eq!(
            found.body,
            json!([{
                "id": kamala, "email": format!("k***@gmail.com"), "name": "K*** P***", "phone": "+94 77 *** **67",
                "nic": "*********456", "registered_at": found.body[0]["registered_at"]
            }]),
            "{query}"
        );
    }
    app.api
        .get("/api/v1/identity/staff/customers?nic=853670456V", Some(&support))
        .await
        .expect_problem(422);
    app.api
        .get(
            "/api/v1/identity/staff/customers?nic=198512300456&phone=0771234567",
            Some(&support),
        )
        .await
        .expect_problem(422);
    app.api
        .get("/api/v1/identity/staff/customers?nic=198512300456", Some(&catalog))
        .await
        .expect_problem(403);
    app.api
        .get("/api/v1/identity/staff/customers?nic=198512300456", Some(&kamala_token))
        .await
        .expect_problem(401);

    let reveal = format!("/api/v1/identity/staff/customers/{kamala}/reveal");
    app.api
        .post(
            &reveal,
            Some(&catalog),
            json!({"field": "phone", "reason": "I am curious about it"}),
        )
        .await
        .expect_problem(403);
    app.api
        .post(&reveal, Some(&support), json!({"field": "phone", "reason": "why"}))
        .await
        .expect_problem(422);
    assert_eq!(
        app.count(app.identity.pool(), "pii_reveals").await,
        0,
        "refused reveals leave no row and show nothing"
    );
    let shown = app
        .api
        .post(
            &reveal,
            Some(&support),
            json!({"field": "phone", "reason": "Customer called about a late delivery"}),
        )
        .await
        .expect(200);
    assert_eq!(shown.body, json!({"field": "phone", "value": "+94771234567"}));
    let request_id = shown.header("x-request-id").expect("a request id").to_owned();

    let audit = app
        .api
        .get(&format!("/api/v1/identity/staff/customers/{kamala}/reveals"), Some(&admin))
        .await
        .expect(200);
    let rows = audit.body.as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            &rows[0]["field"],
            &rows[0]["reason"],
            &rows[0]["request_id"],
            &rows[0]["customer_id"]
        ),
        (
            &json!("phone"),
            &json!("Customer called about a late delivery"),
            &json!(request_id),
            &json!(kamala)
        )
    );
    app.api
        .get(&format!("/api/v1/identity/staff/customers/{kamala}/reveals"), Some(&support))
        .await
        .expect_problem(403);
    for change in ["UPDATE pii_reveals SET reason = 'nothing to see'", "DELETE FROM pii_reveals"] {
        let refused = sqlx::query(change).execute(app.identity.pool()).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("append-only")),
            "{change} must be refused"
        );
    }
    assert_eq!(app.count(app.identity.pool(), "pii_reveals").await, 1);

    // The customer sees who looked, and why, in their export.
    let export = app
        .api
        .get("/api/v1/identity/me/export", Some(&kamala_token))
        .await
        .expect(200);
    assert_eq!(
        export.get("staff_access")[0]["reason"],
        json!("Customer called about a late delivery")
    );
}

#[tokio::test]
async fn a_key_rotation_under_a_steady_stream_of_logins_fails_none_and_resumes_after_a_stop() {
    let app = spawn_app().await;
    let mut customers = vec![];
    for _ in 0..24 {
        let (email, phone) = (email(), mobile());
        register(&app, &email, "Steady Shopper", &phone, &nic().0).await;
        customers.push((email, phone));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (logins, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut streams = vec![];
    for worker in 0..4 {
        let (api, customers) = (app.api.clone(), customers.clone());
        let (stop, logins, failures) = (stop.clone(), logins.clone(), failures.clone());
        streams.push(tokio::spawn(async move {
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let (email, phone) = &customers[i % customers.len()];
                // By email and by phone, alternately; then the profile, which needs the data key.
                let username = if i % 2 == 0 { email } else { phone };
                let token = api
                    .post(
                        "/api/v1/identity/token",
                        None,
                        json!({"grant_type": "password", "username": username, "password": PASSWORD}),
                    )
                    .await;
                let me = match token.status {
                    200 => {
                        api.get("/api/v1/identity/me", token.get("access_token").as_str())
                            .await
                            .status
                    }
                    status => status,
                };
                logins.fetch_add(1, Ordering::Relaxed);
                if me != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                i += 4;
            }
        }));
    }

    assert_eq!(app.identity.rotate_key_encryption_key().await.expect("rotated"), 2);
    assert_eq!(app.identity.left(Pass::Rewrap).await.expect("counted"), 24);
    // Stopped after one step, as a killed `pola keys rotate` would be; then resumed.
    assert_eq!(app.identity.step(Pass::Rewrap, 5).await.expect("a step"), 5);
    assert_eq!(app.identity.left(Pass::Rewrap).await.expect("counted"), 19);
    tokio::time::sleep(Duration::from_millis(300)).await;
    while app.identity.step(Pass::Rewrap, 4).await.expect("a step") > 0 {}
    // And the blind-index key: look-ups find every customer while their indexes are remade.
    assert_eq!(app.identity.rotate_blind_index_key().await.expect("rotated"), 2);
    assert_eq!(app.identity.step(Pass::Reindex, 7).await.expect("a step"), 7);
    tokio::time::sleep(Duration::from_millis(300)).await;
    while app.identity.step(Pass::Reindex, 4).await.expect("a step") > 0 {}
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for stream in streams {
        stream.await.expect("the stream ran");
    }

    assert!(logins.load(Ordering::Relaxed) > 20, "a steady stream: {logins:?}");
    assert_eq!(failures.load(Ordering::Relaxed), 0, "of {logins:?} sign-ins");
    assert_eq!(app.identity.left(Pass::Rewrap).await.expect("counted"), 0);
    assert_eq!(app.identity.left(Pass::Reindex).await.expect("counted"), 0);
    let keyring = app.config.pii.keyring_dir.join("data-keys");
    for entry in std::fs::read_dir(&keyring).expect("the data keys") {
        let wrapped = std::fs::read_to_string(entry.expect("an entry").path()).expect("a key");
        assert!(wrapped.starts_with("pola:v2:"), "still on an old version: {wrapped}");
    }
}

#[tokio::test]
async fn with_vault_gone_cached_keys_still_open_for_their_ttl_and_registrations_get_a_clear_503() {
    let mut vault = FakeVault::start();
    let addr = vault.url();
    let app = spawn_app_with(|config| {
        config.pii.backend = PiiBackend::Vault;
        config.pii.cache_ttl_secs = 5;
        config.pii.vault = VaultConfig {
            addr,
            role_id: ROLE_ID.into(),
            secret_id: SECRET_ID.into(),
            timeout_ms: 1000,
            ..VaultConfig::default()
        };
    })
    .await;
    let kamala_email = email();
    let (kamala, token) = register(&app, &kamala_email, "Kamala Perera", "0771234567", "851230456V").await;
    // The data key was cached while registering, so by now at the latest.
    let cached_at = std::time::Instant::now();
    let wrapped = vault
        .kv(&format!("pola/data-keys/{kamala}"))
        .expect("the wrapped key is in Vault's KV");
    assert!(wrapped["wrapped"].as_str().expect("a string").starts_with("vault:v1:"));

    vault.stop();
    let me = app.api.get("/api/v1/identity/me", Some(&token)).await.expect(200);
    assert_eq!(me.get("email"), &json!(kamala_email), "the cached data key still opens");
    app.login(&kamala_email, PASSWORD).await;
    app.login("+94 77 123 4567", PASSWORD).await;
    let customers = app.count(app.identity.pool(), "customers").await;
    let refused = app
        .api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": email(), "password": PASSWORD, "name": "Nimal Silva"}),
        )
        .await
        .expect_problem(503);
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert!(refused.get("detail").as_str().expect("a detail").contains("try again"));
    assert_eq!(
        app.count(app.identity.pool(), "customers").await,
        customers,
        "nothing half-written"
    );

    tokio::time::sleep(Duration::from_secs(5).saturating_sub(cached_at.elapsed()) + Duration::from_millis(300)).await;
    app.api.get("/api/v1/identity/me", Some(&token)).await.expect_problem(503);

    vault.restart();
    app.api.get("/api/v1/identity/me", Some(&token)).await.expect(200);
    app.api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": email(), "password": PASSWORD, "name": "Nimal Silva"}),
        )
        .await
        .expect(201);
}

/// The test MariaDB's port, from its URL.
fn test_port() -> String {
    test_server_url()
        .rsplit(':')
        .next()
        .expect("a port")
        .trim_end_matches('/')
        .to_owned()
}

fn mariadb_tool(tool: &str, port: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(tool)
        .args(["-h127.0.0.1", &format!("-P{port}"), "-uroot"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
    assert!(
        output.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Every spelling a value might be found in: in any case, hex, base64.
fn spellings(value: &str) -> Vec<String> {
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    vec![value.to_owned(), hex, STANDARD.encode(value)]
}

/// Asserts that none of `values` shows in `haystack` in any spelling: a value and its hex in any
/// case, its base64 as it is. One pass over the haystack (binary logs run to hundreds of MB).
fn assert_absent(source: &str, haystack: &[u8], values: &[String]) {
    let (any_case, exact): (Vec<_>, Vec<_>) = values
        .iter()
        .flat_map(|value| {
            spellings(value)
                .into_iter()
                .enumerate()
                .map(move |(i, spelling)| (i < 2, value, spelling))
        })
        .partition(|(any_case, _, _)| *any_case);
    for (ascii_case_insensitive, patterns) in [(true, any_case), (false, exact)] {
        let searcher = AhoCorasick::builder()
            .ascii_case_insensitive(ascii_case_insensitive)
            .build(patterns.iter().map(|(_, _, spelling)| spelling))
            .expect("a searcher");
        if let Some(found) = searcher.find(haystack) {
            let (_, value, spelling) = &patterns[found.pattern().as_usize()];
            panic!("{source} holds {value:?} as {spelling:?}");
        }
    }
}

#[test]
fn after_the_readme_tour_no_dump_binary_log_or_server_log_holds_personal_data_in_clear() {
    let port = test_port();
    let status = String::from_utf8(mariadb_tool("mariadb", &port, &["-N", "-e", "SHOW MASTER STATUS"])).expect("text");
    let first_binlog = status
        .split_whitespace()
        .next()
        .expect("the test MariaDB keeps a binary log (make test starts it with one)")
        .to_owned();

    let databases = TestDatabases::new();
    let pola = Pola::new(&databases);
    prepare(&pola);
    let server = pola.serve();
    let run = Uuid::now_v7().simple().to_string();
    let people = [
        ("Tharindu Wickramasinghe", "Kandy Road"),
        ("Fathima Rizwan", "Marine Drive"),
        ("Selvarajah Thevanesan", "Hospital Road"),
    ];
    let mut secrets = vec![];
    for (i, (name, street)) in people.iter().enumerate() {
        let email = format!(
            "{}.{run}@example.lk",
            name.split(' ').next().expect("a first name").to_lowercase()
        );
        let phone = mobile();
        let (nic_old, nic_new) = nic();
        let address = format!("{} {street}", 100 + i);
        run_tour(
            &server.addr,
            &TourCustomer {
                email: &email,
                name,
                phone: &phone,
                nic: &nic_old,
                address: &address,
            },
        );
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        secrets.extend([
            email,
            name.to_string(),
            name.split(' ').nth(1).expect("a surname").to_owned(),
            phone.clone(),
            digits.clone(),
            format!("+94{}", &digits[1..]),
            nic_old,
            nic_new,
            address,
            street.to_string(),
        ]);
    }
    let logs = server.logs.clone();
    drop(server);
    let logs = logs.lock().expect("unpoisoned").join("\n");
    assert!(logs.contains("customer registered"), "the server's log is read");

    let names = String::from_utf8(mariadb_tool(
        "mariadb",
        &port,
        &["-N", "-e", &format!("SHOW DATABASES LIKE '{}\\_%'", databases.config.prefix)],
    ))
    .expect("text");
    let mut dump_args = vec!["--hex-blob", "--single-transaction", "--databases"];
    dump_args.extend(names.split_whitespace());
    assert!(dump_args.len() >= 8, "every service's database: {names}");
    let dump = mariadb_tool("mariadb-dump", &port, &dump_args);
    // The method finds what is there: the demo shop's products.
    assert!(String::from_utf8_lossy(&dump).contains("Batik"), "the dump has the catalog");

    let binlog_dir = pola.dir.join("binlog");
    std::fs::create_dir_all(&binlog_dir).expect("a folder");
    let prefix = format!("{}/", binlog_dir.display());
    mariadb_tool(
        "mariadb-binlog",
        &port,
        &[
            "--read-from-remote-server",
            "--raw",
            "--to-last-log",
            &format!("--result-file={prefix}"),
            &first_binlog,
        ],
    );
    let mut raw = vec![];
    for entry in std::fs::read_dir(&binlog_dir).expect("the binary logs") {
        raw.extend(std::fs::read(entry.expect("a file").path()).expect("readable"));
    }
    let decoded = mariadb_tool(
        "mariadb-binlog",
        &port,
        &[
            "--read-from-remote-server",
            "--to-last-log",
            "-vv",
            "--base64-output=decode-rows",
            &first_binlog,
        ],
    );
    assert!(
        String::from_utf8_lossy(&decoded).contains("Batik"),
        "the binary log has the seeding"
    );

    assert_absent("the dump", &dump, &secrets);
    assert_absent("the binary log", &raw, &secrets);
    assert_absent("the decoded binary log", &decoded, &secrets);
    assert_absent("the server log", logs.as_bytes(), &secrets);
    remove(&pola.dir);
}

/// A private MariaDB instance of its own, removed when dropped.
struct Instance {
    name: String,
    port: u16,
}

impl Instance {
    fn start() -> Self {
        let port = pola_core::testing::free_port();
        let name = format!("restore-{}", Uuid::now_v7().simple());
        let status = Command::new("bash")
            .arg(script())
            .args(["start", &name, &port.to_string(), "fast"])
            .status()
            .expect("the script runs");
        assert!(status.success(), "a fresh MariaDB starts");
        Self { name, port }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).args(["stop", &self.name]).status();
        let _ = std::fs::remove_dir_all(repo().join("var").join(&self.name));
    }
}

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script() -> std::path::PathBuf {
    repo().join("scripts/mariadb.sh")
}

#[tokio::test]
async fn an_erased_customer_stays_unreadable_in_a_backup_from_before_the_erasure() {
    let app = spawn_app().await;
    let Two {
        kamala,
        kamala_token,
        kamala_order,
        nimal,
        nimal_email,
        nimal_order,
        ..
    } = two_customers_with_orders(&app).await;

    // The backup: every database of the customers' personal data, as it is now.
    let prefix = &app.config.database.prefix;
    let backup = mariadb_tool(
        "mariadb-dump",
        &test_port(),
        &[
            "--single-transaction",
            "--hex-blob",
            "--databases",
            &format!("{prefix}_identity"),
            &format!("{prefix}_orders"),
        ],
    );

    erase(&app, &kamala_token, PASSWORD).await.expect(204);

    // Restored into a fresh instance, with the same key service.
    let instance = Instance::start();
    let mut load = Command::new("mariadb")
        .args(["-h127.0.0.1", &format!("-P{}", instance.port), "-uroot"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mariadb runs");
    std::io::Write::write_all(&mut load.stdin.take().expect("stdin"), &backup).expect("the backup loads");
    assert!(load.wait().expect("mariadb ends").success(), "the backup loads");
    let mut config = app.config.clone();
    config.database.url = format!("mysql://root@127.0.0.1:{}", instance.port).into();
    let restored = Services::connect(&config, app.keys.clone(), true)
        .await
        .expect("the restored databases");
    let (identity, orders) = (
        restored.identity.clone().expect("here"),
        restored.orders.clone().expect("here"),
    );

    let row: Option<Vec<u8>> = sqlx::query_scalar("SELECT email_sealed FROM customers WHERE id = ?")
        .bind(kamala)
        .fetch_one(identity.pool())
        .await
        .expect("the backup has the erased customer's row");
    assert!(row.is_some(), "sealed data from before the erasure is in the backup");
    assert!(
        matches!(identity.profile(kamala).await, Err(pola_core::Error::Gone(_))),
        "but it cannot be opened: the data key is gone"
    );
    let order = orders.customer_order(kamala, kamala_order).await.expect("the order");
    assert!(order.personal_data_erased && order.delivery.is_none());
    assert_eq!(order.total.amount_minor, 55_000, "the accounting facts stay");

    assert_eq!(
        identity.profile(nimal).await.expect("another customer opens").email,
        nimal_email
    );
    let order = orders.customer_order(nimal, nimal_order).await.expect("the order");
    assert_eq!(order.delivery.expect("the address opens").line1, "9 Lake Drive");
    let staff_view = orders
        .open(
            pola_orders::store::order(orders.pool(), nimal_order, None)
                .await
                .expect("read")
                .expect("there"),
            Viewer::Staff,
        )
        .await
        .expect("opened");
    assert_eq!(staff_view.delivery.expect("masked").phone, "+94 71 *** **79");
}
