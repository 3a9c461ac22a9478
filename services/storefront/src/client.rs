//! How the storefront reaches the shop: through the same public JSON API the mobile apps use,
//! as the customer whose browser asked (their access token, their guest cart token): a call into
//! the API's router in this process, without a socket. The web shop can do nothing the
//! customer's own tokens could not, so one customer never sees another's data through a page.
//! (An HTTP implementation, for pages served apart from the API, is yet to come.)

use async_trait::async_trait;
use axum::{Router, body::Body};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use pola_core::error::Problem;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

/// The guest cart's token, as the cart API sends and takes it.
pub const CART_TOKEN: &str = "x-cart-token";

/// The largest API answer a page reads (a page of products, an order, a data export).
const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// One call to the API.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path and query, `/api/v1/catalog/products?category=tea`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Option<Value>,
    /// A body that is not JSON (a CSV file), with its content type.
    pub raw: Option<(&'static str, axum::body::Bytes)>,
}

impl ApiRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: None,
            raw: None,
        }
    }

    /// A body of another type than JSON.
    pub fn raw(mut self, content_type: &'static str, bytes: axum::body::Bytes) -> Self {
        self.raw = Some((content_type, bytes));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
        self
    }
}

/// What the API answered.
#[derive(Debug, Clone)]
pub struct ApiReply {
    pub status: StatusCode,
    /// A new guest cart token, when the API just made a cart.
    pub cart_token: Option<String>,
    /// The body read as JSON (null when it is not JSON).
    pub body: Value,
    /// The body as it came (a CSV file).
    pub bytes: axum::body::Bytes,
}

impl ApiReply {
    /// The body as `T` when the call succeeded; a problem (or an unreadable body) otherwise.
    pub fn into_result<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        if !self.status.is_success() {
            return Err(self.into_problem());
        }
        serde_json::from_value(self.body).map_err(|e| ApiError::Unavailable(format!("an unreadable API answer: {e}")))
    }

    /// The problem the API answered with.
    pub fn into_problem(self) -> ApiError {
        match serde_json::from_value::<Problem>(self.body) {
            Ok(problem) => ApiError::Refused(Box::new(problem)),
            Err(_) if self.status.is_server_error() => ApiError::Unavailable(format!("the API answered {}", self.status)),
            Err(_) => ApiError::Unavailable(format!("the API answered {} without a problem", self.status)),
        }
    }
}

/// A call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API refused, with its reason (validation, not found, out of stock, …).
    #[error("the API refused: {}", .0.title)]
    Refused(Box<Problem>),
    /// The API could not be reached or failed.
    #[error("the API is unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    /// The HTTP status the API answered with, for a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Refused(problem) => Some(problem.status),
            ApiError::Unavailable(_) => None,
        }
    }
}

/// The API, however it is reached.
#[async_trait]
pub trait ApiClient: Send + Sync {
    async fn send(&self, request: ApiRequest) -> Result<ApiReply, ApiError>;
}

/// The API's router in this process.
pub struct InProcessApi(pub Router);

#[async_trait]
impl ApiClient for InProcessApi {
    async fn send(&self, request: ApiRequest) -> Result<ApiReply, ApiError> {
        let mut builder = http::Request::builder().method(request.method).uri(&request.path);
        if let Some(headers) = builder.headers_mut() {
            headers.extend(request.headers);
        }
        let body = match (&request.body, request.raw) {
            (Some(json), _) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(json).map_err(|e| ApiError::Unavailable(e.to_string()))?)
            }
            (None, Some((content_type, bytes))) => {
                builder = builder.header(http::header::CONTENT_TYPE, content_type);
                Body::from(bytes)
            }
            (None, None) => Body::empty(),
        };
        let http_request = builder.body(body).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let response = match self.0.clone().oneshot(http_request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let cart_token = cart_token(response.headers());
        let bytes = axum::body::to_bytes(response.into_body(), MAX_REPLY_BYTES)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(ApiReply {
            status,
            cart_token,
            body: parse_body(&bytes),
            bytes,
        })
    }
}

fn cart_token(headers: &HeaderMap) -> Option<String> {
    headers.get(CART_TOKEN).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}
