//! A stand-in for the parts of HashiCorp Vault Pola uses (no Vault server can be installed
//! where the tests run), speaking Vault's HTTP API with the request and response shapes of its
//! documentation: AppRole login, transit `datakey`, `decrypt`, `rewrap`, key read, rotate and
//! HMAC-key export, and KV v2 write, read, destroy and metadata delete. Tokens are checked; the
//! transit keys really encrypt. It runs on its own thread and runtime, so that [`FakeVault::stop`]
//! closes every connection, as a Vault that went away would.

#![expect(
    clippy::disallowed_types,
    reason = "a stand-in server speaks Vault's API with axum's own extractors"
)]
#![expect(clippy::result_large_err, reason = "a refused call's answer is the handler's early return")]

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::seal;

pub const ROLE_ID: &str = "pola-role";
pub const SECRET_ID: &str = "pola-secret";

#[derive(Default)]
struct Vault {
    tokens: HashSet<String>,
    /// Transit keys by name: version n is `[n - 1]`.
    transit: HashMap<String, Vec<[u8; 32]>>,
    /// KV v2 secrets by path: every version, `None` once destroyed.
    kv: HashMap<String, Vec<Option<Value>>>,
    /// Calls by endpoint, for tests that count round trips.
    calls: HashMap<&'static str, u64>,
}

type Shared = Arc<Mutex<Vault>>;

/// A request body as JSON, whatever its content type says (clients do not all send one).
struct Body(Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Body(value)),
            Err(_) if bytes.is_empty() => Ok(Body(Value::Null)),
            Err(e) => Err(errors(StatusCode::BAD_REQUEST, &format!("failed to parse JSON input: {e}"))),
        }
    }
}

/// A running (or stopped) fake Vault.
pub struct FakeVault {
    pub addr: SocketAddr,
    state: Shared,
    server: pola_core::testing::ThreadServer,
}

impl FakeVault {
    /// Starts on a free loopback port with transit keys `pola-pii` and `pola-blind-index`.
    pub fn start() -> Self {
        let state: Shared = Arc::default();
        {
            let mut vault = state.lock().expect("unpoisoned");
            for name in ["pola-pii", "pola-blind-index"] {
                vault.transit.insert(name.into(), vec![random_key()]);
            }
        }
        let server = pola_core::testing::ThreadServer::start(router(state.clone()));
        Self {
            addr: server.addr,
            state,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Goes away: the port refuses connections and open ones close. The keys are kept.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Comes back on the same port.
    pub fn restart(&mut self) {
        self.server.restart();
    }

    /// Revokes every token (as a token expiring would): the next call must sign in again.
    pub fn revoke_tokens(&self) {
        self.state.lock().expect("unpoisoned").tokens.clear();
    }

    /// How many calls `endpoint` (`login`, `datakey`, `decrypt`, `rewrap`, `kv-read`, …) got.
    pub fn calls(&self, endpoint: &str) -> u64 {
        self.state
            .lock()
            .expect("unpoisoned")
            .calls
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Writes a KV v2 secret, as an operator would (`vault kv put secret/<path> …`).
    pub fn put_kv(&self, path: &str, data: Value) {
        let mut vault = self.state.lock().expect("unpoisoned");
        vault.kv.entry(path.to_owned()).or_default().push(Some(data));
    }

    /// The stored value at a KV v2 path (latest live version), as Vault holds it.
    pub fn kv(&self, path: &str) -> Option<Value> {
        let vault = self.state.lock().expect("unpoisoned");
        vault.kv.get(path)?.last()?.clone()
    }

    /// Every live KV v2 version under `prefix`, for checks that nothing old stays behind.
    pub fn kv_versions(&self, prefix: &str) -> Vec<Value> {
        let vault = self.state.lock().expect("unpoisoned");
        vault
            .kv
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .flat_map(|(_, versions)| versions.iter().flatten().cloned())
            .collect()
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    key
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/auth/approle/login", post(login))
        .route("/v1/transit/datakey/{kind}/{name}", post(datakey))
        .route("/v1/transit/decrypt/{name}", post(decrypt))
        .route("/v1/transit/rewrap/{name}", post(rewrap))
        .route("/v1/transit/keys/{name}", get(read_key))
        .route("/v1/transit/keys/{name}/rotate", post(rotate))
        .route("/v1/transit/export/{kind}/{name}", get(export))
        .route("/v1/secret/data/{*path}", post(kv_write).get(kv_read))
        .route("/v1/secret/destroy/{*path}", post(kv_destroy))
        .route("/v1/secret/metadata/{*path}", axum::routing::delete(kv_delete_metadata))
        .fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            errors(StatusCode::NOT_FOUND, &format!("unsupported path: {method} {uri}"))
        })
        .with_state(state)
}

/// Vault's error body.
fn errors(status: StatusCode, message: &str) -> Response {
    let errors: Vec<&str> = if message.is_empty() { vec![] } else { vec![message] };
    (status, Json(json!({ "errors": errors }))).into_response()
}

/// Vault's response envelope around `data`.
fn ok(data: Value) -> Response {
    Json(json!({
        "request_id": Uuid::new_v4(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": null,
    }))
    .into_response()
}

/// Counts the call and checks the token: `Err` is the 403 Vault answers.
fn enter<'a>(
    state: &'a Shared,
    headers: &HeaderMap,
    endpoint: &'static str,
) -> Result<std::sync::MutexGuard<'a, Vault>, Response> {
    let mut vault = state.lock().expect("unpoisoned");
    *vault.calls.entry(endpoint).or_default() += 1;
    let token = headers.get("x-vault-token").and_then(|t| t.to_str().ok()).unwrap_or("");
    if vault.tokens.contains(token) {
        Ok(vault)
    } else {
        Err(errors(StatusCode::FORBIDDEN, "permission denied"))
    }
}

async fn login(State(state): State<Shared>, Body(body): Body) -> Response {
    let mut vault = state.lock().expect("unpoisoned");
    *vault.calls.entry("login").or_default() += 1;
    if body["role_id"] != ROLE_ID || body["secret_id"] != SECRET_ID {
        return errors(StatusCode::BAD_REQUEST, "invalid role or secret ID");
    }
    let token = format!("hvs.{}", Uuid::new_v4().simple());
    vault.tokens.insert(token.clone());
    Json(json!({
        "request_id": Uuid::new_v4(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": null,
        "wrap_info": null,
        "warnings": null,
        "auth": {
            "client_token": token,
            "accessor": Uuid::new_v4().simple().to_string(),
            "policies": ["default", "pola-pii"],
            "token_policies": ["default", "pola-pii"],
            "metadata": { "role_name": "pola" },
            "lease_duration": 1200,
            "renewable": true,
            "entity_id": Uuid::new_v4(),
            "token_type": "service",
            "orphan": true,
        },
    }))
    .into_response()
}

fn wrap(vault: &Vault, name: &str, plaintext: &[u8]) -> Option<(String, usize)> {
    let versions = vault.transit.get(name)?;
    let version = versions.len();
    let sealed = seal::encrypt(&versions[version - 1], name.as_bytes(), plaintext);
    Some((format!("vault:v{version}:{}", STANDARD.encode(sealed)), version))
}

fn unwrap(vault: &Vault, name: &str, ciphertext: &str) -> Result<Vec<u8>, Response> {
    let invalid = || errors(StatusCode::BAD_REQUEST, "invalid ciphertext");
    let versions = vault
        .transit
        .get(name)
        .ok_or_else(|| errors(StatusCode::BAD_REQUEST, "encryption key not found"))?;
    let version = crate::wrapped_version(ciphertext).ok_or_else(invalid)? as usize;
    let key = versions.get(version.wrapping_sub(1)).ok_or_else(invalid)?;
    let encoded = ciphertext.splitn(3, ':').nth(2).ok_or_else(invalid)?;
    let sealed = STANDARD.decode(encoded).map_err(|_| invalid())?;
    seal::decrypt(key, name.as_bytes(), &sealed).map_err(|_| invalid())
}

async fn datakey(State(state): State<Shared>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Response {
    let vault = match enter(&state, &headers, "datakey") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    let key = random_key();
    let Some((ciphertext, version)) = wrap(&vault, &name, &key) else {
        return errors(StatusCode::BAD_REQUEST, "encryption key not found");
    };
    let plaintext = (kind == "plaintext").then(|| STANDARD.encode(key));
    ok(json!({ "plaintext": plaintext, "ciphertext": ciphertext, "key_version": version }))
}

async fn decrypt(State(state): State<Shared>, headers: HeaderMap, Path(name): Path<String>, Body(body): Body) -> Response {
    let vault = match enter(&state, &headers, "decrypt") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    match unwrap(&vault, &name, body["ciphertext"].as_str().unwrap_or("")) {
        Ok(plaintext) => ok(json!({ "plaintext": STANDARD.encode(plaintext) })),
        Err(refused) => refused,
    }
}

async fn rewrap(State(state): State<Shared>, headers: HeaderMap, Path(name): Path<String>, Body(body): Body) -> Response {
    let vault = match enter(&state, &headers, "rewrap") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    let plaintext = match unwrap(&vault, &name, body["ciphertext"].as_str().unwrap_or("")) {
        Ok(plaintext) => plaintext,
        Err(refused) => return refused,
    };
    let (ciphertext, version) = wrap(&vault, &name, &plaintext).expect("the key exists: it just decrypted");
    ok(json!({ "ciphertext": ciphertext, "key_version": version }))
}

async fn read_key(State(state): State<Shared>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    let vault = match enter(&state, &headers, "key-read") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    let Some(versions) = vault.transit.get(&name) else {
        return errors(StatusCode::NOT_FOUND, "");
    };
    let created = chrono::Utc::now().timestamp();
    let keys: serde_json::Map<String, Value> = (1..=versions.len()).map(|v| (v.to_string(), json!(created))).collect();
    ok(json!({
        "type": "aes256-gcm96",
        "deletion_allowed": false,
        "derived": false,
        "exportable": name == "pola-blind-index",
        "allow_plaintext_backup": false,
        "keys": keys,
        "latest_version": versions.len(),
        "min_available_version": 0,
        "min_decryption_version": 1,
        "min_encryption_version": 0,
        "name": name,
        "supports_encryption": true,
        "supports_decryption": true,
        "supports_derivation": true,
        "supports_signing": false,
        "imported": false,
    }))
}

async fn rotate(State(state): State<Shared>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    let mut vault = match enter(&state, &headers, "rotate") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    match vault.transit.get_mut(&name) {
        Some(versions) => {
            versions.push(random_key());
            StatusCode::NO_CONTENT.into_response()
        }
        None => errors(StatusCode::BAD_REQUEST, "key not found"),
    }
}

async fn export(State(state): State<Shared>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Response {
    let vault = match enter(&state, &headers, "export") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    let Some(versions) = vault
        .transit
        .get(&name)
        .filter(|_| kind == "hmac-key" && name == "pola-blind-index")
    else {
        return errors(StatusCode::BAD_REQUEST, "key is not exportable");
    };
    // Transit's HMAC key of a version is its own key, distinct from the encryption key.
    let keys: serde_json::Map<String, Value> = versions
        .iter()
        .enumerate()
        .map(|(i, key)| {
            use hmac::{Hmac, Mac};
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
            mac.update(b"hmac-key");
            let derived: [u8; 32] = mac.finalize().into_bytes().into();
            ((i + 1).to_string(), json!(STANDARD.encode(derived)))
        })
        .collect();
    ok(json!({ "name": name, "type": "aes256-gcm96", "keys": keys }))
}

fn metadata(version: usize, destroyed: bool) -> Value {
    json!({
        "created_time": chrono::Utc::now().to_rfc3339(),
        "custom_metadata": null,
        "deletion_time": "",
        "destroyed": destroyed,
        "version": version,
    })
}

async fn kv_write(State(state): State<Shared>, headers: HeaderMap, Path(path): Path<String>, Body(body): Body) -> Response {
    let mut vault = match enter(&state, &headers, "kv-write") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    if !body["data"].is_object() {
        return errors(StatusCode::BAD_REQUEST, "no data provided");
    }
    let versions = vault.kv.entry(path).or_default();
    versions.push(Some(body["data"].clone()));
    ok(metadata(versions.len(), false))
}

async fn kv_read(State(state): State<Shared>, headers: HeaderMap, Path(path): Path<String>) -> Response {
    let vault = match enter(&state, &headers, "kv-read") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    match vault
        .kv
        .get(&path)
        .and_then(|versions| Some((versions.len(), versions.last()?.clone()?)))
    {
        Some((version, data)) => ok(json!({ "data": data, "metadata": metadata(version, false) })),
        None => errors(StatusCode::NOT_FOUND, ""),
    }
}

async fn kv_destroy(State(state): State<Shared>, headers: HeaderMap, Path(path): Path<String>, Body(body): Body) -> Response {
    let mut vault = match enter(&state, &headers, "kv-destroy") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    let destroy: Vec<usize> = body["versions"]
        .as_array()
        .map(|v| v.iter().filter_map(|n| n.as_u64()).map(|n| n as usize).collect())
        .unwrap_or_default();
    if let Some(versions) = vault.kv.get_mut(&path) {
        for version in destroy {
            if let Some(slot) = versions.get_mut(version.wrapping_sub(1)) {
                *slot = None;
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn kv_delete_metadata(State(state): State<Shared>, headers: HeaderMap, Path(path): Path<String>) -> Response {
    let mut vault = match enter(&state, &headers, "kv-delete") {
        Ok(vault) => vault,
        Err(refused) => return refused,
    };
    vault.kv.remove(&path);
    StatusCode::NO_CONTENT.into_response()
}
