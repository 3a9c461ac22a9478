//! Local stand-ins for what cannot run here, speaking the real wire protocols so that the code
//! under test is production's client code (feature `testing`):
//!
//! - [`MerchantApi`]: PayHere's merchant API as its documentation describes it — `POST
//!   /merchant/v1/oauth/token` (Basic app-id:app-secret, `grant_type=client_credentials`),
//!   `GET /merchant/v1/payment/search?order_id=` and `POST /merchant/v1/payment/refund`
//!   (`payment_id`, `description`, an optional `amount`), answering `{status, msg, data}`.
//!   The hosted checkout and its signed notifications come from `payhere-sim` (PyPI), a third
//!   party's stand-in; this covers what it lacks.
//! - [`KoombiyoApi`]: a courier modelled on Koombiyo's merchant API (form POSTs with `apikey`:
//!   `Waybils/users`, `Addorders/users`, `Orderhistory/users`).
//! - [`Simulator`]: `payhere-sim serve` (PyPI), PayHere's checkout page, which checks our form
//!   and `hash` and sends notifications signed by its own code; and [`signed`], a notification
//!   built by its `build()`.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

/// A payment PayHere holds.
#[derive(Debug, Clone)]
pub struct HeldPayment {
    pub order_id: String,
    pub payment_id: String,
    /// `RECEIVED`, `REFUNDED`, `PARTIALLY REFUNDED`, `CHARGEBACK`.
    pub status: String,
    pub amount_minor: i64,
    pub refunded_minor: i64,
    pub currency: String,
}

/// A refund PayHere made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeRefund {
    pub payment_id: String,
    /// None: the whole payment.
    pub amount_minor: Option<i64>,
    pub description: String,
}

#[derive(Default)]
struct MerchantState {
    app_id: String,
    app_secret: String,
    tokens: Vec<String>,
    payments: Vec<HeldPayment>,
    refunds: Vec<MadeRefund>,
    /// Answer every API call with 503 (PayHere down).
    down: bool,
}

/// PayHere's merchant API, on a loopback port.
#[derive(Clone)]
pub struct MerchantApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<MerchantState>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MerchantApi {
    pub async fn start(app_id: &str, app_secret: &str) -> Self {
        let state = Arc::new(Mutex::new(MerchantState {
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/merchant/v1/oauth/token", post(token))
            .route("/merchant/v1/payment/search", get(search))
            .route("/merchant/v1/payment/refund", post(refund))
            .with_state(state.clone());
        let addr = serve(app).await;
        Self { addr, state }
    }

    /// `api_url` for `[payments.payhere]`.
    pub fn url(&self) -> String {
        format!("http://{}/merchant/v1", self.addr)
    }

    /// A payment PayHere took (whether or not it notified anyone).
    pub fn take_payment(&self, order_id: &str, payment_id: &str, amount_minor: i64) {
        lock(&self.state).payments.push(HeldPayment {
            order_id: order_id.to_owned(),
            payment_id: payment_id.to_owned(),
            status: "RECEIVED".into(),
            amount_minor,
            refunded_minor: 0,
            currency: "LKR".into(),
        });
    }

    pub fn refunds(&self) -> Vec<MadeRefund> {
        lock(&self.state).refunds.clone()
    }

    pub fn payment(&self, payment_id: &str) -> Option<HeldPayment> {
        lock(&self.state)
            .payments
            .iter()
            .find(|p| p.payment_id == payment_id)
            .cloned()
    }

    /// Forgets every access token it issued (PayHere expiring them early).
    pub fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

type Shared = State<Arc<Mutex<MerchantState>>>;

fn answer(status: i32, msg: &str, data: Value) -> Response {
    axum::Json(json!({"status": status, "msg": msg, "data": data})).into_response()
}

async fn token(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = lock(&state);
    if state.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let expected = format!("Basic {}", STANDARD.encode(format!("{}:{}", state.app_id, state.app_secret)));
    let grant = form_urlencoded::parse(&body).any(|(k, v)| k == "grant_type" && v == "client_credentials");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) || !grant {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    let token = uuid::Uuid::new_v4().to_string();
    state.tokens.push(token.clone());
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 599, "scope": "SANDBOX"})).into_response()
}

/// The bearer token is one it issued, or the status to answer instead.
fn authorised(state: &MerchantState, headers: &HeaderMap) -> Result<(), StatusCode> {
    if state.down {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(t) if state.tokens.iter().any(|known| known == t) => Ok(()),
        _ => Err(StatusCode::UNAUTHORIZED),
    }
}

fn rupees(minor: i64) -> Value {
    json!(minor as f64 / 100.0)
}

async fn search(State(state): Shared, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let state = lock(&state);
    if let Err(refused) = authorised(&state, &headers) {
        return refused.into_response();
    }
    let order = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "order_id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let found: Vec<Value> = state
        .payments
        .iter()
        .filter(|p| p.order_id == order)
        .map(|p| {
            json!({"payment_id": p.payment_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(p.payment_id)),
                   "order_id": p.order_id, "date": "2026-12-02 10:00:00", "description": "Pola order",
                   "status": p.status, "currency": p.currency, "amount": rupees(p.amount_minor),
                   "customer": {"fist_name": "Test", "last_name": "Customer", "email": "", "phone": ""},
                   "amount_detail": {"currency": p.currency, "gross": rupees(p.amount_minor)},
                   "payment_method": {"method": "VISA", "card_customer_name": "T Customer", "card_no": "************4564"},
                   "items": null})
        })
        .collect();
    if found.is_empty() {
        return answer(-1, "No payments found", Value::Null);
    }
    answer(1, &format!("Payments with order_id:{order}"), Value::Array(found))
}

async fn refund(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = lock(&state);
    if let Err(refused) = authorised(&state, &headers) {
        return refused.into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let payment_id = request["payment_id"].as_str().unwrap_or_default().to_owned();
    let description = request["description"].as_str().unwrap_or_default().to_owned();
    let amount = request["amount"].as_f64().map(|a| (a * 100.0).round() as i64);
    if description.is_empty() {
        return answer(-1, "Description is required", Value::Null);
    }
    let Some(payment) = state.payments.iter_mut().find(|p| p.payment_id == payment_id) else {
        return answer(-1, "Invalid payment ID", Value::Null);
    };
    let left = payment.amount_minor - payment.refunded_minor;
    let take = amount.unwrap_or(left);
    if payment.status == "CHARGEBACK" || take <= 0 || take > left {
        return answer(-1, "The payment cannot be refunded for that amount", Value::Null);
    }
    payment.refunded_minor += take;
    payment.status = if payment.refunded_minor == payment.amount_minor {
        "REFUNDED".into()
    } else {
        "PARTIALLY REFUNDED".into()
    };
    state.refunds.push(MadeRefund {
        payment_id,
        amount_minor: amount,
        description,
    });
    let id = 560_034_010_000 + state.refunds.len() as u64;
    answer(1, "Successfully processed the refund", json!(id))
}

/// A parcel the courier was given.
#[derive(Debug, Clone)]
pub struct BookedParcel {
    pub waybill: String,
    pub order_no: String,
    pub receiver_name: String,
    pub receiver_phone: String,
    pub cod: String,
}

#[derive(Default)]
struct CourierState {
    api_key: String,
    next_waybill: u64,
    parcels: Vec<BookedParcel>,
    /// Status history per waybill: (status id, words).
    history: HashMap<String, Vec<(String, String)>>,
}

/// A Koombiyo-style courier, on a loopback port.
#[derive(Clone)]
pub struct KoombiyoApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<CourierState>>,
}

impl KoombiyoApi {
    pub async fn start(api_key: &str) -> Self {
        let state = Arc::new(Mutex::new(CourierState {
            api_key: api_key.to_owned(),
            next_waybill: 10_023_400,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/api/Waybils/users", post(waybills))
            .route("/api/Addorders/users", post(add_order))
            .route("/api/Orderhistory/users", post(order_history))
            .with_state(state.clone());
        let addr = serve(app).await;
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn parcels(&self) -> Vec<BookedParcel> {
        lock(&self.state).parcels.clone()
    }

    /// The courier moves a parcel on: `6`/`Delivered`, or words like `Returned to client`.
    pub fn update(&self, waybill: &str, status_id: &str, words: &str) {
        lock(&self.state)
            .history
            .entry(waybill.to_owned())
            .or_default()
            .push((status_id.to_owned(), words.to_owned()));
    }
}

type Courier = State<Arc<Mutex<CourierState>>>;

/// The form's fields, if its `apikey` is the account's.
fn courier_form(state: &CourierState, body: &[u8]) -> Option<HashMap<String, String>> {
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    (form.get("apikey") == Some(&state.api_key)).then_some(form)
}

async fn waybills(State(state): Courier, body: Bytes) -> Response {
    let mut state = lock(&state);
    if courier_form(&state, &body).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    state.next_waybill += 1;
    axum::Json(json!({"waybills": [{"waybill_id": state.next_waybill.to_string()}]})).into_response()
}

async fn add_order(State(state): Courier, body: Bytes) -> Response {
    let mut state = lock(&state);
    let Some(form) = courier_form(&state, &body) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let waybill = field("orderWaybillid");
    if waybill.is_empty() || field("receiverName").is_empty() || field("receiverPhone").is_empty() {
        return axum::Json(json!({"status": "error", "message": "Required fields are missing"})).into_response();
    }
    if state.parcels.iter().any(|p| p.waybill == waybill) {
        return axum::Json(json!({"status": "error", "message": "Waybill already used"})).into_response();
    }
    state.parcels.push(BookedParcel {
        waybill: waybill.clone(),
        order_no: field("orderNo"),
        receiver_name: field("receiverName"),
        receiver_phone: field("receiverPhone"),
        cod: field("getCod"),
    });
    state
        .history
        .entry(waybill)
        .or_default()
        .push(("1".into(), "Processing".into()));
    axum::Json(json!({"status": "success", "message": "Order added successfully"})).into_response()
}

async fn order_history(State(state): Courier, body: Bytes) -> Response {
    let state = lock(&state);
    let Some(form) = courier_form(&state, &body) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let waybill = form.get("waybillid").cloned().unwrap_or_default();
    let history: Vec<Value> = state
        .history
        .get(&waybill)
        .into_iter()
        .flatten()
        .map(|(id, words)| json!({"status_id": id, "status": words, "date": "2026-12-02 10:00:00", "comments": ""}))
        .collect();
    axum::Json(json!({"order_history": history})).into_response()
}

/// `payhere-sim serve` on its own port: PayHere's hosted checkout as a third party implements it.
pub struct Simulator {
    pub port: u16,
    child: std::process::Child,
    http: reqwest::Client,
}

impl Simulator {
    /// [`Simulator::start`] from async code: the wait for its port runs off the runtime.
    pub async fn started(merchant_id: &str, merchant_secret: &str) -> Self {
        let (merchant_id, merchant_secret) = (merchant_id.to_owned(), merchant_secret.to_owned());
        tokio::task::spawn_blocking(move || Self::start(&merchant_id, &merchant_secret))
            .await
            .expect("payhere-sim starts")
    }

    /// Starts payhere-sim on a port of its own and waits until it listens (a blocking wait:
    /// from async code, [`Simulator::started`]).
    pub fn start(merchant_id: &str, merchant_secret: &str) -> Self {
        let port = pola_core::testing::free_port();
        let child = std::process::Command::new(pola_core::testing::venv_python())
            .args([
                "-m",
                "payhere_sim",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .env("PAYHERE_MERCHANT_ID", merchant_id)
            .env("PAYHERE_MERCHANT_SECRET", merchant_secret)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("payhere-sim starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "payhere-sim did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        pola_core::install_crypto_provider();
        Self {
            port,
            child,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
        }
    }

    /// `checkout_url` for `[payments.payhere]`.
    pub fn checkout_url(&self) -> String {
        format!("http://127.0.0.1:{}/pay/checkout", self.port)
    }

    /// What a customer's browser does: posts the checkout form to `action`, then chooses
    /// `outcome` (`success`, `failed`, `pending`) on the payment page, which makes the simulator
    /// send its signed notification. The result page, or the checkout's refusal (an error).
    pub async fn pay(&self, action: &str, fields: &Value, outcome: &str) -> Result<String, String> {
        let form: Vec<(String, String)> = fields
            .as_object()
            .expect("fields")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        let posted = self
            .http
            .post(action)
            .form(&form)
            .send()
            .await
            .expect("the simulator answers");
        if posted.status() != StatusCode::SEE_OTHER {
            return Err(posted.text().await.unwrap_or_default());
        }
        let page = posted
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("a payment page")
            .to_owned();
        let done = self
            .http
            .post(format!("http://127.0.0.1:{}{page}/complete", self.port))
            .form(&[("outcome", outcome), ("method", "VISA")])
            .send()
            .await
            .expect("the simulator answers");
        Ok(done.text().await.unwrap_or_default())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A notification as `payhere-sim` builds one (`payhere_sim.build`): signed with
/// `merchant_secret` by its code, not ours. `extra` are keyword arguments of `build`
/// (`status`, `payment_id`, `currency`, `bad_signature`, …) as Python literals.
pub fn signed(
    merchant_id: &str,
    merchant_secret: &str,
    order_id: &str,
    amount: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut call = format!(
        "build(merchant_id={merchant_id:?}, merchant_secret={merchant_secret:?}, order_id={order_id:?}, amount={amount:?}"
    );
    for (name, literal) in extra {
        call.push_str(&format!(", {name}={literal}"));
    }
    call.push(')');
    let output = std::process::Command::new(pola_core::testing::venv_python())
        .args([
            "-c",
            &format!("import json; from payhere_sim import build; print(json.dumps({call}))"),
        ])
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let fields: serde_json::Map<String, Value> = serde_json::from_slice(&output.stdout).expect("the fields");
    fields
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect()
}
