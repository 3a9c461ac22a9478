//! Calling another Pola service over HTTP, when it runs in another process: its internal API
//! (`/internal/v1/…`), with a shared service token, a timeout, retries and a circuit breaker.
//!
//! Every internal call is idempotent by design (lookups, "set this reservation to", "sell to
//! this order id"), so a call that failed in transit is retried. A problem document that comes
//! back is passed on as the same error, with its extension members, so that a 409 from the
//! inventory service reaches the customer as the same 409.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{
    Error,
    http::{X_REQUEST_ID, current_request_id},
};

/// The header that carries the service token on internal calls.
pub const SERVICE_TOKEN_HEADER: &str = "x-pola-service-token";

/// Attempts per call, the first included.
const ATTEMPTS: u32 = 3;
/// Failures in a row that open the breaker.
const BREAKER_THRESHOLD: u32 = 5;
/// How long an open breaker fails calls at once before letting one through again.
const BREAKER_OPEN_FOR: Duration = Duration::from_secs(10);

/// A client for one remote service.
#[derive(Debug)]
pub struct ServiceClient {
    service: &'static str,
    base: String,
    token: SecretString,
    http: reqwest::Client,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl ServiceClient {
    pub fn new(service: &'static str, base: &str, token: SecretString, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            service,
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: {
                crate::install_crypto_provider();
                reqwest::Client::builder().timeout(timeout).build()?
            },
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
        })
    }

    fn unavailable(&self) -> Error {
        Error::Unavailable(format!("The {} service is not answering; try again shortly.", self.service))
    }

    fn breaker_open(&self) -> bool {
        let mut open = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        match *open {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                // Half-open: let this call through; its outcome closes or reopens the breaker.
                *open = None;
                false
            }
            None => false,
        }
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
            return;
        }
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= BREAKER_THRESHOLD {
            *self.open_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + BREAKER_OPEN_FOR);
            self.failures.store(0, Ordering::Relaxed);
            tracing::warn!(service = self.service, "circuit breaker open: failing calls at once for 10 s");
        }
    }

    /// POSTs `body` to `path` and reads the JSON answer.
    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, Error> {
        if self.breaker_open() {
            return Err(self.unavailable());
        }
        let url = format!("{}{path}", self.base);
        for attempt in 1..=ATTEMPTS {
            let mut request = self
                .http
                .post(&url)
                .header(SERVICE_TOKEN_HEADER, self.token.expose_secret())
                .json(body);
            // The same request id on both sides, so that one search finds the whole request.
            if let Some(id) = current_request_id() {
                request = request.header(X_REQUEST_ID.as_str(), id);
            }
            let sent = request.send().await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    self.record(true);
                    let text = response.text().await.map_err(|e| Error::Internal(e.into()))?;
                    // An empty body (204) reads as JSON null.
                    let text = if text.is_empty() { "null" } else { text.as_str() };
                    return serde_json::from_str(text).map_err(|e| Error::Internal(e.into()));
                }
                Ok(response) if response.status().is_client_error() => {
                    self.record(true);
                    return Err(passed_on(response).await);
                }
                Ok(response) => {
                    tracing::warn!(
                        service = self.service,
                        http.status = response.status().as_u16(),
                        attempt,
                        "internal call failed"
                    );
                    // A 503 is a service that answered: busy, or its site switching. It is
                    // retried like any transient failure, but it does not open the breaker,
                    // which would keep failing calls for 10 s after the switch is over.
                    self.record(response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE);
                }
                Err(e) => {
                    tracing::warn!(service = self.service, error = %e, attempt, "internal call failed");
                    self.record(false);
                }
            }
            if attempt < ATTEMPTS && !self.breaker_open() {
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt * attempt))).await;
            } else {
                break;
            }
        }
        Err(self.unavailable())
    }
}

/// A remote 4xx, as our own error: same status, detail and extension members.
async fn passed_on(response: reqwest::Response) -> Error {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_REQUEST);
    let body: Map<String, Value> = response.json().await.unwrap_or_default();
    let detail = body
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("The request was refused.")
        .to_owned();
    let code = body
        .get("type")
        .and_then(Value::as_str)
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or("conflict")
        .to_owned();
    match status {
        StatusCode::CONFLICT => {
            let extra = body
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "type" | "title" | "status" | "detail" | "request_id" | "errors"))
                .collect();
            Error::Conflict {
                code: code.into(),
                detail,
                extra,
            }
        }
        StatusCode::NOT_FOUND => Error::NotFound(detail),
        _ => Error::Status { status, detail },
    }
}

/// Admits a call to an internal endpoint: the service token must match. When this process has
/// no token configured, internal endpoints do not exist (404).
#[derive(Debug, Clone, Copy)]
pub struct InternalCall;

/// The configured service token, put into request extensions by the router.
#[derive(Debug, Clone)]
pub struct ServiceToken(pub Option<SecretString>);

impl<S: Send + Sync> FromRequestParts<S> for InternalCall {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let Some(ServiceToken(Some(expected))) = parts.extensions.get::<ServiceToken>() else {
            return Err(Error::NotFound("No such endpoint.".into()));
        };
        let given = parts
            .headers
            .get(SERVICE_TOKEN_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected.expose_secret().as_bytes()) {
            Ok(InternalCall)
        } else {
            Err(Error::NotFound("No such endpoint.".into()))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;

    /// A server that accepts connections and drops them at once, counting them.
    async fn dropping_server() -> (String, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let addr = listener.local_addr().expect("an address");
        let accepted = Arc::new(AtomicU32::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        (format!("http://{addr}"), accepted)
    }

    #[tokio::test]
    async fn failing_calls_are_retried_then_the_breaker_stops_calling() {
        let (base, accepted) = dropping_server().await;
        let client = ServiceClient::new("inventory", &base, "token".into(), Duration::from_secs(1)).expect("client");
        let body = serde_json::json!({});
        let call = || client.post::<_, Value>("/internal/v1/inventory/availability", &body);

        assert!(matches!(call().await, Err(Error::Unavailable(_))));
        assert_eq!(accepted.load(Ordering::SeqCst), ATTEMPTS, "every attempt reached the server");
        assert!(matches!(call().await, Err(Error::Unavailable(_))));
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            BREAKER_THRESHOLD,
            "the breaker opened at the threshold"
        );
        assert!(matches!(call().await, Err(Error::Unavailable(_))));
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            BREAKER_THRESHOLD,
            "an open breaker does not call"
        );
    }

    #[test]
    fn the_service_token_is_compared_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret-and-more"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
