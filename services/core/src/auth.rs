//! Access tokens: short-lived Ed25519-signed JWTs, verified by every service with the public key
//! (published as a JWKS). Customers and staff are separate realms, told apart by `aud`, so a
//! customer token never opens a staff endpoint.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use axum::{extract::FromRequestParts, http::request::Parts};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Error;

/// Which population a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Realm {
    Customer,
    Staff,
}

impl Realm {
    fn audience(self) -> &'static str {
        match self {
            Realm::Customer => "pola-customer",
            Realm::Staff => "pola-staff",
        }
    }
}

/// What a staff member may do. `admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Catalog,
    Support,
    Finance,
    /// Pick, pack and ship.
    Fulfilment,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Catalog, Role::Support, Role::Finance, Role::Fulfilment];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Catalog => "catalog",
            Role::Support => "support",
            Role::Finance => "finance",
            Role::Fulfilment => "fulfilment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

/// A JSON Web Key Set with the public half of the signing key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public key (RFC 8037 OKP).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub key_use: String,
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    inner: Arc<KeysInner>,
}

struct KeysInner {
    seed: [u8; 32],
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_x: String,
    issuer: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("kid", &self.inner.kid)
            .finish_non_exhaustive()
    }
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 §7): the DER is this plus the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl TokenKeys {
    /// A fresh random key.
    pub fn generate(issuer: &str) -> anyhow::Result<Self> {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self::from_seed(seed, issuer)
    }

    fn from_seed(seed: [u8; 32], issuer: &str) -> anyhow::Result<Self> {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let public_x = URL_SAFE_NO_PAD.encode(public);
        let decoding = DecodingKey::from_ed_components(&public_x)?;
        // The key id is derived from the public key, so it changes exactly when the key does.
        let kid = public_x.chars().take(16).collect();
        Ok(Self {
            inner: Arc::new(KeysInner {
                seed,
                kid,
                encoding: EncodingKey::from_ed_der(&der),
                decoding,
                public_x,
                issuer: issuer.to_owned(),
            }),
        })
    }

    /// Reads the PEM key file, or creates it (mode 0600) when it does not exist.
    pub fn load_or_create(path: &Path, issuer: &str) -> anyhow::Result<Self> {
        if path.exists() {
            let pem = std::fs::read_to_string(path)?;
            return Self::from_pem(&pem, issuer);
        }
        let keys = Self::generate(issuer)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_private(path, keys.to_pem().as_bytes())?;
        tracing::info!(path = %path.display(), "created a new token signing key");
        Ok(keys)
    }

    pub fn from_pem(pem: &str, issuer: &str) -> anyhow::Result<Self> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body.trim())?;
        let seed = der
            .strip_prefix(&PKCS8_ED25519_PREFIX)
            .and_then(|s| <[u8; 32]>::try_from(s).ok())
            .ok_or_else(|| anyhow::anyhow!("not a PKCS#8 Ed25519 private key"))?;
        Self::from_seed(seed, issuer)
    }

    pub fn to_pem(&self) -> String {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&self.inner.seed);
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
    }

    /// Signs an access token for `sub` valid for `ttl`.
    pub fn issue(&self, realm: Realm, sub: Uuid, roles: Vec<Role>, ttl: Duration) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            iss: self.inner.issuer.clone(),
            aud: realm.audience().to_owned(),
            sub,
            iat: now,
            exp: now + i64::try_from(ttl.as_secs())?,
            roles,
        })
    }

    /// Signs arbitrary claims (tests use it to make expired tokens).
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.inner.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.inner.encoding)?)
    }

    /// Verifies signature, issuer, audience and expiry (no leeway: a token lives as long as it says).
    pub fn verify(&self, token: &str, realm: Realm) -> Result<Claims, Error> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[realm.audience()]);
        validation.set_issuer(&[&self.inner.issuer]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "access token refused");
                Error::Unauthorized("The access token is invalid or has expired.".into())
            })
    }

    /// A secret of its own for `purpose`, derived from the signing key (which every process of
    /// the shop shares): for keyed hashes that must agree across processes and sites.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::new()
            .chain_update(b"pola derived key\0")
            .chain_update(purpose.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.inner.seed)
            .finalize()
            .into()
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: self.inner.public_x.clone(),
                kid: self.inner.kid.clone(),
                alg: "EdDSA".into(),
                key_use: "sig".into(),
            }],
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

fn bearer(parts: &Parts) -> Result<Option<&str>, Error> {
    let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Some(t.trim()))
        .ok_or_else(|| Error::Unauthorized("Use `Authorization: Bearer <access token>`.".into()))
}

/// The header the edge sets on every request it forwards: the listener it came in on
/// (`public` or `staff`). The edge overwrites whatever a client sent in it.
pub const LISTENER_HEADER: &str = "x-pola-listener";

/// A request that came in through the edge's staff listener (open only to the VPN ranges).
/// Anything else is told there is no such endpoint, as the public listener would say: a staff
/// token or password is worth nothing outside the VPN.
#[derive(Debug, Clone, Copy)]
pub struct StaffEntrance;

impl<S: Send + Sync> FromRequestParts<S> for StaffEntrance {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        if parts.headers.get(LISTENER_HEADER).is_some_and(|v| v == "staff") {
            Ok(StaffEntrance)
        } else {
            tracing::warn!("a staff request did not come through the staff listener: refused");
            Err(Error::NotFound("No such endpoint.".into()))
        }
    }
}

/// The client's address as the edge forwarded it, or `direct`.
pub fn client_ip(headers: &http::HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
        .map_or_else(|| "direct".to_owned(), |ip| ip.to_string())
}

fn keys(parts: &Parts) -> Result<&TokenKeys, Error> {
    parts
        .extensions
        .get::<TokenKeys>()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("TokenKeys extension missing from the router")))
}

/// A signed-in customer. Rejects with 401 when the token is missing, forged, expired or not a
/// customer's.
#[derive(Debug, Clone, Copy)]
pub struct Customer {
    pub id: Uuid,
}

impl<S: Send + Sync> FromRequestParts<S> for Customer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let token = bearer(parts)?.ok_or_else(|| Error::Unauthorized("Sign in first: this needs an access token.".into()))?;
        let claims = keys(parts)?.verify(token, Realm::Customer)?;
        Ok(Customer { id: claims.sub })
    }
}

/// A customer if a token is sent, a guest if none is. A bad token is still a 401: a client that
/// sends one expects to be signed in, and must not silently become a guest.
#[derive(Debug, Clone, Copy)]
pub struct MaybeCustomer(pub Option<Customer>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeCustomer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        if parts.headers.contains_key(http::header::AUTHORIZATION) {
            Customer::from_request_parts(parts, state)
                .await
                .map(|c| MaybeCustomer(Some(c)))
        } else {
            Ok(MaybeCustomer(None))
        }
    }
}

/// A signed-in staff member with their roles.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: Uuid,
    pub roles: Vec<Role>,
    /// The address the request came from, as the edge saw it (`x-forwarded-for`); `direct`
    /// for a call that did not pass the edge.
    pub client_ip: String,
}

impl Staff {
    /// 403 unless the staff member has `role` (or is an admin).
    pub fn require(&self, role: Role) -> Result<(), Error> {
        self.require_any(&[role])
    }

    /// 403 unless the staff member has one of `roles` (or is an admin).
    pub fn require_any(&self, roles: &[Role]) -> Result<(), Error> {
        if self.roles.contains(&Role::Admin) || roles.iter().any(|r| self.roles.contains(r)) {
            Ok(())
        } else {
            let names: Vec<String> = roles.iter().map(|r| format!("`{r}`")).collect();
            Err(Error::Forbidden(format!("This needs the {} role.", names.join(" or "))))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        StaffEntrance::from_request_parts(parts, state).await?;
        let token = bearer(parts)?.ok_or_else(|| Error::Unauthorized("This needs a staff access token.".into()))?;
        let claims = keys(parts)?.verify(token, Realm::Staff)?;
        Ok(Staff {
            id: claims.sub,
            roles: claims.roles,
            client_ip: client_ip(&parts.headers),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_in_its_own_realm() {
        let keys = TokenKeys::generate("pola").expect("keys");
        let id = Uuid::now_v7();
        let token = keys
            .issue(Realm::Customer, id, vec![], Duration::from_secs(60))
            .expect("sign");
        assert_eq!(keys.verify(&token, Realm::Customer).expect("valid").sub, id);
        assert!(keys.verify(&token, Realm::Staff).is_err());
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let keys = TokenKeys::generate("pola").expect("keys");
        let other = TokenKeys::generate("pola").expect("keys");
        let now = chrono::Utc::now().timestamp();
        let expired = keys
            .sign(&Claims {
                iss: "pola".into(),
                aud: "pola-customer".into(),
                sub: Uuid::now_v7(),
                iat: now - 120,
                exp: now - 60,
                roles: vec![],
            })
            .expect("sign");
        assert!(keys.verify(&expired, Realm::Customer).is_err());
        let forged = other
            .issue(Realm::Customer, Uuid::now_v7(), vec![], Duration::from_secs(60))
            .expect("sign");
        assert!(keys.verify(&forged, Realm::Customer).is_err());
    }

    #[test]
    fn the_pem_round_trips() {
        let keys = TokenKeys::generate("pola").expect("keys");
        let again = TokenKeys::from_pem(&keys.to_pem(), "pola").expect("parse");
        assert_eq!(keys.jwks().keys[0].x, again.jwks().keys[0].x);
    }
}
