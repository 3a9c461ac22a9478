//! Identity: customers and staff, passwords, and the tokens every other service trusts.

pub mod api;
pub mod model;
pub mod store;

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use pola_core::{
    Error,
    auth::{Realm, Role, TokenKeys},
    config::AuthConfig,
    db::is_duplicate_key,
    password::PasswordHashing,
};
use sha2::{Digest, Sha256};
use sqlx::{MySqlPool, migrate::Migrator};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use pola_pii::{
    KeyService, PiiError, WrappedKey, blind_index,
    seal::{Place, open, seal},
};

use crate::model::{CustomerProfile, Email, PersonName, TokenResponse};

/// The database this service owns: `<prefix>_identity`.
pub const SERVICE: &str = "identity";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The identity service.
pub struct Identity {
    pool: MySqlPool,
    keys: TokenKeys,
    hashing: PasswordHashing,
    config: AuthConfig,
    pii: Arc<dyn KeyService>,
}

/// The failures of the key service a client sees: 503 when it cannot be reached.
fn pii_error(e: PiiError) -> Error {
    match e {
        PiiError::Unavailable(_) => Error::Unavailable("Personal data cannot be read or written right now.".into()),
        e => Error::Internal(e.into()),
    }
}

impl Identity {
    pub fn new(pool: MySqlPool, keys: TokenKeys, config: AuthConfig, pii: Arc<dyn KeyService>) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool,
            keys,
            hashing: PasswordHashing::new(&config)?,
            config,
            pii,
        }))
    }

    /// Registers a customer: a new data key seals their email, name and phone; the email and
    /// phone are found again through blind indexes. Nothing personal is stored in clear.
    pub async fn register(&self, new: model::NewCustomer) -> Result<CustomerProfile, Error> {
        let blind = self.pii.blind_index_key().await.map_err(pii_error)?;
        let (data_key, wrapped) = self.pii.generate_data_key().await.map_err(pii_error)?;
        let id = pola_core::new_id();
        let place = |column| Place {
            table: "customers",
            column,
            record: id,
        };
        let phone = new.phone.as_ref().map(|p| p.as_str());
        let sealed = store::SealedCustomer {
            id,
            email_index: blind_index(&blind, "email", new.email.as_str()),
            phone_index: phone.map(|p| blind_index(&blind, "phone", p)),
            data_key: wrapped.0,
            email_sealed: seal(&data_key, place("email"), new.email.as_str()),
            name_sealed: seal(&data_key, place("name"), new.name.as_str()),
            phone_sealed: phone.map(|p| seal(&data_key, place("phone"), p)),
        };
        let hash = self.hashing.hash(new.password.into_inner()).await?;
        store::insert_customer(&self.pool, &sealed, &hash).await.map_err(|e| {
            if is_duplicate_key(&e, "uq_customers_email") {
                Error::conflict("email-taken", "An account with this email already exists; sign in instead.")
            } else {
                e.into()
            }
        })?;
        tracing::info!(customer.id = %id, "customer registered");
        Ok(CustomerProfile {
            id,
            email: new.email.as_str().to_owned(),
            name: new.name.as_str().to_owned(),
            phone: phone.map(str::to_owned),
        })
    }

    /// Makes a new key-encryption key version current (`pola keys rotate`). Data keys wrapped by
    /// the old one keep working until `rewrap_batch` has moved them.
    pub async fn rotate_key_encryption_key(&self) -> Result<u32, Error> {
        let version = self.pii.rotate().await.map_err(pii_error)?;
        tracing::info!(pii.key_version = version, "key-encryption key rotated");
        Ok(version)
    }

    /// How many data keys are still wrapped by an older key-encryption key version.
    pub async fn keys_to_rewrap(&self) -> Result<i64, Error> {
        let current = self.pii.current_version().await.map_err(pii_error)?;
        Ok(store::count_keys_to_rewrap(&self.pool, current).await?)
    }

    /// Rewraps up to `limit` data keys still wrapped by an older key version; returns how many it
    /// did (0 when none are left). Each row is its own step, so a rotation stopped half-way
    /// resumes where it stopped, and sign-ins and reads go on meanwhile (the data key itself,
    /// and so every sealed field, stays the same).
    pub async fn rewrap_batch(&self, limit: u32) -> Result<u64, Error> {
        let current = self.pii.current_version().await.map_err(pii_error)?;
        let mut done = 0;
        for (id, wrapped) in store::keys_to_rewrap(&self.pool, current, limit).await? {
            let rewrapped = self.pii.rewrap(&WrappedKey(wrapped.clone())).await.map_err(pii_error)?;
            if store::replace_data_key(&self.pool, id, &wrapped, &rewrapped.0).await? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// A customer's profile, opened with their data key.
    pub async fn profile(&self, id: Uuid) -> Result<CustomerProfile, Error> {
        let row = store::sealed_customer(&self.pool, id)
            .await?
            .ok_or_else(|| Error::not_found("No such customer."))?;
        let data_key = self.pii.unwrap(&WrappedKey(row.data_key)).await.map_err(pii_error)?;
        let place = |column| Place {
            table: "customers",
            column,
            record: id,
        };
        let open_field = |column, sealed: &[u8]| open(&data_key, place(column), sealed).map_err(pii_error);
        Ok(CustomerProfile {
            id,
            email: open_field("email", &row.email_sealed)?,
            name: open_field("name", &row.name_sealed)?,
            phone: row.phone_sealed.as_deref().map(|p| open_field("phone", p)).transpose()?,
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The service's routes, with their OpenAPI descriptions.
    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::register))
            .routes(routes!(api::token))
            .routes(routes!(api::logout))
            .routes(routes!(api::staff_token))
            .routes(routes!(api::me))
            .routes(routes!(api::jwks))
            .with_state(self.clone())
    }

    /// Creates a staff account (the `pola staff create` command).
    pub async fn create_staff(&self, email: &str, name: &str, roles: &[Role], password: String) -> Result<Uuid, Error> {
        let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
        let name = PersonName::parse(name).map_err(|m| Error::field("name", m))?;
        let password = model::Password::parse(password).map_err(|m| Error::field("password", m))?;
        if roles.is_empty() {
            return Err(Error::field("roles", "at least one role is needed"));
        }
        let hash = self.hashing.hash(password.into_inner()).await?;
        let id = pola_core::new_id();
        store::insert_staff(&self.pool, id, email.as_str(), name.as_str(), roles, &hash)
            .await
            .map_err(|e| {
                if is_duplicate_key(&e, "uq_staff_email") {
                    Error::conflict("email-taken", "A staff member with this email exists.")
                } else {
                    e.into()
                }
            })?;
        Ok(id)
    }

    /// Checks a password login and starts a new refresh-token family.
    async fn login(&self, realm: Realm, username: &str, password: String) -> Result<TokenResponse, Error> {
        let invalid = || invalid_grant("The email, phone number or password is wrong.");
        let account = match realm {
            Realm::Staff => match Email::parse(username) {
                Ok(email) => store::staff_by_email(&self.pool, email.as_str()).await?,
                Err(_) => None,
            },
            // Customers sign in with their email or their phone number, in any common spelling.
            Realm::Customer => {
                let lookup = match (Email::parse(username), model::Phone::parse(username)) {
                    (Ok(email), _) => Some((store::Lookup::Email, "email", email.as_str().to_owned())),
                    (_, Ok(phone)) => Some((store::Lookup::Phone, "phone", phone.as_str().to_owned())),
                    _ => None,
                };
                match lookup {
                    Some((lookup, kind, value)) => {
                        let blind = self.pii.blind_index_key().await.map_err(pii_error)?;
                        store::customer_by_index(&self.pool, lookup, &blind_index(&blind, kind, &value)).await?
                    }
                    None => None,
                }
            }
        };
        let Some(account) = account else {
            self.hashing.verify_dummy(password).await;
            return Err(invalid());
        };
        if !self.hashing.verify(password, account.password_hash).await? {
            return Err(invalid());
        }
        let (refresh_token, hash) = new_refresh_token();
        store::insert_refresh_token(
            &self.pool,
            &hash,
            pola_core::new_id(),
            realm,
            account.id,
            self.refresh_expiry(),
        )
        .await?;
        self.tokens(realm, account.id, account.roles, refresh_token)
    }

    /// Trades a refresh token for a new pair in the same family.
    async fn refresh(&self, realm: Realm, refresh_token: &str) -> Result<TokenResponse, Error> {
        let (next, next_hash) = new_refresh_token();
        let presented = hash_token(refresh_token);
        match store::rotate_refresh_token(&self.pool, realm, &presented, &next_hash, self.refresh_expiry()).await? {
            store::Rotation::Rotated { subject } => {
                let roles = match realm {
                    Realm::Customer => vec![],
                    Realm::Staff => store::staff_roles(&self.pool, subject).await?.unwrap_or_default(),
                };
                self.tokens(realm, subject, roles, next)
            }
            store::Rotation::Invalid => Err(invalid_grant("The refresh token is invalid or has expired.")),
            store::Rotation::Reused => {
                tracing::warn!(auth.realm = ?realm, "refresh token reuse detected; its family is revoked");
                Err(invalid_grant("The refresh token was already used; sign in again."))
            }
        }
    }

    fn refresh_expiry(&self) -> chrono::DateTime<Utc> {
        let ttl = i64::try_from(self.config.refresh_token_ttl_secs).unwrap_or(i64::MAX / 2);
        Utc::now() + chrono::Duration::seconds(ttl)
    }

    /// The token response: a new access token beside the (already stored) refresh token.
    fn tokens(&self, realm: Realm, subject: Uuid, roles: Vec<Role>, refresh_token: String) -> Result<TokenResponse, Error> {
        let ttl = Duration::from_secs(self.config.access_token_ttl_secs);
        Ok(TokenResponse {
            access_token: self.keys.issue(realm, subject, roles, ttl)?,
            token_type: "Bearer",
            expires_in: ttl.as_secs(),
            refresh_token,
        })
    }
}

/// RFC 6749's `invalid_grant`, as a 400 problem.
fn invalid_grant(description: &str) -> Error {
    Error::OAuth {
        status: axum::http::StatusCode::BAD_REQUEST,
        error: "invalid_grant",
        description: description.into(),
    }
}

/// A new opaque refresh token and its hash (only the hash is stored).
fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = format!("rt_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
