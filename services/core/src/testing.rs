//! Test harness (feature `testing`): private databases per test on the test MariaDB, and a
//! small typed HTTP client. The test MariaDB is the one `make test` starts; a test that cannot
//! reach it fails loudly rather than skipping.

use reqwest::{Method, RequestBuilder, header::HeaderMap};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::{
    config::{AuthConfig, DatabaseConfig},
    db::connect_server,
};

/// Where the test MariaDB listens: `POLA_TEST_DATABASE_URL`, default `mysql://root@127.0.0.1:3317`.
pub fn test_server_url() -> String {
    std::env::var("POLA_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3317".into())
}

/// A loopback port nothing listens on (for a server a test starts), from 10000–19999: outside
/// the kernel's ephemeral range (32768–60999), where a server binding port 0 or an outgoing
/// connection could take it between this call and the server's bind (an edge's staff listener
/// once found its port taken by another test's app, and the test talked to that app), and below
/// the ports `OwnBroker` uses. Test binaries that run at once are given ranges of their own in
/// `POLA_TEST_PORTS` (`first-last`, by `scripts/test-all.sh`), so one never takes a port another
/// has handed out and not yet bound. Never one of the ports browsers refuse to open
/// ([`BROWSERS_REFUSE`]).
pub fn free_port() -> u16 {
    // A port is free again once it is released, before its user binds it: never hand one out
    // twice in a process (two of a test's processes were given the same one).
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    static RANGE: std::sync::LazyLock<std::ops::RangeInclusive<u16>> = std::sync::LazyLock::new(|| {
        let Ok(range) = std::env::var("POLA_TEST_PORTS") else {
            return 10_000..=19_999;
        };
        let parsed = range
            .split_once('-')
            .and_then(|(first, last)| Some(first.parse().ok()?..=last.parse().ok()?));
        match parsed {
            Some(range) if range.end() >= range.start() && *range.start() > 1024 => range,
            _ => panic!("POLA_TEST_PORTS={range:?}: expected first-last, above 1024"),
        }
    });
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (first, count) = (*RANGE.start(), RANGE.end() - RANGE.start() + 1);
    loop {
        let port = first + rand::random::<u16>() % count;
        if !given.contains(&port) && !BROWSERS_REFUSE.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            given.push(port);
            return port;
        }
    }
}

/// Ports above 1024 that Chromium (and Firefox) will not open, whatever listens there
/// (`ERR_UNSAFE_PORT`): a browser test whose edge listened on 10080 saw no page at all.
pub const BROWSERS_REFUSE: [u16; 19] = [
    1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
];

/// The test RabbitMQ (`make test` starts a private node on 5674).
pub fn test_amqp_url() -> String {
    std::env::var("POLA_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5674/%2f".into())
}

/// The test OpenSearch node (`make test` starts a private one on 9250).
pub fn test_opensearch_url() -> String {
    std::env::var("POLA_TEST_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9250".into())
}

/// A set of databases only this test uses (`t<random>_<service>`), dropped when it goes away.
#[derive(Debug)]
pub struct TestDatabases {
    pub config: DatabaseConfig,
}

impl TestDatabases {
    pub fn new() -> Self {
        let suffix: u64 = rand::random();
        Self {
            config: DatabaseConfig {
                url: SecretString::from(test_server_url()),
                prefix: format!("t{suffix:016x}"),
                max_connections: 20,
                // Production answers 503 after 5 s without a connection, and that is right for a
                // shop. A test's 200 buyers of one variant at once, on a CI machine busy with a
                // second lane, queue on that row's lock for longer: in one CI run the last adds
                // to a cart waited more than 10 s, and the test saw 503 instead of what it tests.
                acquire_timeout_secs: 30,
            },
        }
    }

    async fn drop_all(config: &DatabaseConfig) -> anyhow::Result<()> {
        let mut conn = connect_server(config).await?;
        let pattern = format!("{}\\_%", config.prefix);
        // The test's runtime is blocked while this runs: a background task of its app (a relay
        // mid-transaction) cannot finish, and its locks would keep DROP DATABASE waiting for
        // ever. Its connections go first.
        conn.execute("SET SESSION lock_wait_timeout = 20").await?;
        let holders: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM information_schema.processlist WHERE db LIKE ? AND id <> CONNECTION_ID()")
                .bind(&pattern)
                .fetch_all(&mut conn)
                .await?;
        for id in holders {
            let _ = conn.execute(AssertSqlSafe(format!("KILL CONNECTION {id}"))).await;
        }
        let names: Vec<String> =
            sqlx::query_scalar("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?")
                .bind(pattern)
                .fetch_all(&mut conn)
                .await?;
        for name in names {
            conn.execute(AssertSqlSafe(format!("DROP DATABASE `{name}`"))).await?;
        }
        conn.close().await?;
        Ok(())
    }
}

impl Default for TestDatabases {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        // Drop runs inside (or after) the test's runtime, which cannot be blocked on; a thread with
        // its own small runtime does the clean-up.
        let config = self.config.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(Self::drop_all(&config))
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop test databases: {e}");
        }
    }
}

/// Authentication settings for tests: a cheap Argon2 cost, so hundreds of customers register
/// fast, and a queue long enough for all of them at once.
pub fn test_auth_config() -> AuthConfig {
    AuthConfig {
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        hashing_queue: 10_000,
        ..AuthConfig::default()
    }
}

/// A client for one running app. Staff requests (a staff token, or the staff sign-in) go to
/// `staff_base` when the app is behind an edge (its staff listener); straight to the app they
/// carry the marker the staff listener would add.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub staff_base: Option<String>,
    pub client: reqwest::Client,
}

/// A response with its body read: JSON when it is JSON, else a string.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The body's `field`, panicking with the whole reply when it is missing (tests only).
    pub fn get(&self, field: &str) -> &Value {
        self.body
            .get(field)
            .unwrap_or_else(|| panic!("no `{field}` in reply {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        self
    }

    /// Asserts a problem+json reply with this status. Through the edge (`POLA_TEST_EDGE`), a
    /// request that is bad in itself (400, 413, 415, 422) may instead be refused by the edge's
    /// firewall before it reaches the app: that refusal counts.
    #[track_caller]
    pub fn expect_problem(self, status: u16) -> Self {
        let by_the_firewall = self.body["type"] == "https://pola.lk/problems/firewall" && self.status == 403;
        if by_the_firewall && [400, 413, 415, 422].contains(&status) && std::env::var_os("POLA_TEST_EDGE").is_some() {
            return self;
        }
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem document: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert!(self.body["request_id"].is_string(), "no request id: {}", self.body);
        self
    }
}

impl Api {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            staff_base: None,
            client: {
                crate::install_crypto_provider();
                reqwest::Client::new()
            },
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Behind an edge, staff requests go to `staff` (its staff listener).
    pub fn with_staff_listener(mut self, staff: impl Into<String>) -> Self {
        self.staff_base = Some(staff.into());
        self
    }

    /// A request with `token`, sent the way a customer's or a staff member's would be.
    pub fn request_as(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let staff = path.starts_with("/api/v1/identity/staff/") || token.is_some_and(is_staff_token);
        let request = match (staff, &self.staff_base) {
            (true, Some(base)) => self.client.request(method, format!("{base}{path}")),
            (true, None) => self.request(method, path).header(crate::auth::LISTENER_HEADER, "staff"),
            (false, _) => self.request(method, path),
        };
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request_as(Method::GET, path, token).send_reply().await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request_as(Method::POST, path, token).json(&body).send_reply().await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request_as(Method::PATCH, path, token).json(&body).send_reply().await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request_as(Method::PUT, path, token).json(&body).send_reply().await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request_as(Method::DELETE, path, token).send_reply().await
    }
}

/// Whether `token` is a staff access token (read, not verified: the app verifies it).
pub fn is_staff_token(token: &str) -> bool {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|claims| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).ok())
        .and_then(|claims| serde_json::from_slice::<Value>(&claims).ok())
        .is_some_and(|claims| claims["aud"] == "pola-staff")
}

/// Sends a request and reads the whole reply.
pub trait SendReply {
    fn send_reply(self) -> impl Future<Output = Reply> + Send;
}

impl SendReply for RequestBuilder {
    async fn send_reply(self) -> Reply {
        let response = self.send().await.expect("the app answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body }
    }
}

/// The first ```sh block after `heading` in the repository's README: what a newcomer pastes.
pub fn readme_block(heading: &str) -> String {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find(heading).expect("the README section")..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let end = start + section[start..].find("```").expect("the block's end");
    section[start..end].to_owned()
}

/// An axum app served on its own thread and runtime, for stand-ins of other systems (Vault, an
/// upstream): `stop` drops the runtime, so every open connection closes as it would if the
/// process had been killed; `restart` serves the same app on the same port again.
pub struct ThreadServer {
    pub addr: std::net::SocketAddr,
    app: axum::Router,
    running: Option<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl ThreadServer {
    /// Serves `app` on a free loopback port.
    pub fn start(app: axum::Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let mut server = Self {
            addr: listener.local_addr().expect("an address"),
            app,
            running: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: std::net::TcpListener) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = self.app.clone();
        listener.set_nonblocking(true).expect("non-blocking");
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_background();
        });
        self.running = Some((stop, thread));
    }

    /// Goes away: the port refuses connections and open ones close.
    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            let _ = stop.send(());
            thread.join().expect("the server's thread ends");
        }
    }

    /// Comes back on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let listener = std::net::TcpListener::bind(self.addr).expect("the same port");
        self.serve(listener);
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A field of `/proc/<pid>/status` in MiB (`VmRSS`: resident now; `VmHWM`: the most ever).
pub fn process_memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field");
    kib / 1024.0
}

/// What a flood of sign-ins got back.
#[derive(Debug, Default)]
pub struct Flood {
    /// How many answers of each status.
    pub answers: std::collections::BTreeMap<u16, u32>,
    /// 503s without a Retry-After.
    pub without_retry_after: u32,
    pub took: std::time::Duration,
}

/// `n` wrong-password sign-ins at `{base}/api/v1/identity/token` all at once, each from its own
/// loopback address (127.1.x.y), as many clients behind their own addresses would: half for
/// `known` (an account), half for addresses nobody registered. Both cost a password hash.
pub async fn sign_in_flood(base: &str, known: &str, n: u32) -> Flood {
    let started = std::time::Instant::now();
    let sign_ins: Vec<_> = (0..n)
        .map(|i| {
            let address = std::net::IpAddr::from([
                127,
                1,
                u8::try_from(i / 200).expect("at most 51,000 addresses"),
                u8::try_from(i % 200 + 1).expect("small"),
            ]);
            crate::install_crypto_provider();
            let http = reqwest::Client::builder()
                .local_address(address)
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .expect("a client");
            let username = if i % 2 == 0 {
                known.to_owned()
            } else {
                format!("nobody-{i}@example.lk")
            };
            let url = format!("{base}/api/v1/identity/token");
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .json(&serde_json::json!({"grant_type": "password", "username": username, "password": "a wrong guess"}))
                    .send()
                    .await
                    .expect("an answer");
                (response.status().as_u16(), response.headers().contains_key("retry-after"))
            })
        })
        .collect();
    let mut flood = Flood::default();
    for sign_in in sign_ins {
        let (status, retry_after) = sign_in.await.expect("sent");
        *flood.answers.entry(status).or_default() += 1;
        flood.without_retry_after += u32::from(status == 503 && !retry_after);
    }
    flood.took = started.elapsed();
    flood
}

/// A RabbitMQ node of this test's own (`scripts/rabbitmq.sh`), stopped and removed at the end.
pub struct OwnBroker {
    name: String,
    port: u16,
}

impl OwnBroker {
    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rabbitmq.sh")
    }

    fn run(&self, args: &[&str]) {
        let status = std::process::Command::new("bash")
            .arg(Self::script())
            .args(args)
            .status()
            .expect("bash runs");
        assert!(status.success(), "rabbitmq.sh {args:?}");
    }

    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Its distribution and epmd ports are 10000 and 20000 above: keep them in range.
        let port = 20_000 + port % 10_000;
        let broker = Self {
            name: format!("test-rabbitmq-{}", uuid::Uuid::now_v7().simple()),
            port,
        };
        broker.restart();
        broker
    }

    pub fn restart(&self) {
        self.run(&["start", &self.name, &self.port.to_string()]);
    }

    pub fn stop(&self) {
        self.run(&["stop", &self.name]);
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
        let var = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../var")
            .join(&self.name);
        let _ = std::fs::remove_dir_all(var);
    }
}

/// The private Python with Pola's stand-ins from PyPI (aiosmtpd, payhere-sim), installed by
/// `scripts/python.sh` when missing.
pub fn venv_python() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = std::process::Command::new("bash")
        .arg(root.join("scripts/python.sh"))
        .output()
        .expect("scripts/python.sh runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// aiosmtpd on its own port, keeping messages in a Maildir; stopped (as a crash would) and
/// started again on the same port on demand.
pub struct MailServer {
    /// The SMTP port.
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl MailServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("pola-mail-{}", uuid::Uuid::now_v7().simple()));
        // aiosmtpd makes the Maildir (with its tmp, new and cur) if it does not exist.
        std::fs::create_dir_all(&dir).expect("a folder");
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
        };
        server.restart();
        server
    }

    pub fn restart(&mut self) {
        let child = std::process::Command::new(venv_python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(self.dir.join("Maildir"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, as it arrived.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("Maildir/new")) else {
            return vec![];
        };
        entries.filter_map(|e| std::fs::read(e.ok()?.path()).ok()).collect()
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
