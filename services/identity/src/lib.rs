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

use crate::model::{Email, PersonName, TokenResponse};

/// The database this service owns: `<prefix>_identity`.
pub const SERVICE: &str = "identity";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The identity service.
pub struct Identity {
    pool: MySqlPool,
    keys: TokenKeys,
    hashing: PasswordHashing,
    config: AuthConfig,
}

impl Identity {
    pub fn new(pool: MySqlPool, keys: TokenKeys, config: AuthConfig) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool,
            keys,
            hashing: PasswordHashing::new(&config)?,
            config,
        }))
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
        let invalid = || Error::OAuth {
            status: http_bad_request(),
            error: "invalid_grant",
            description: "The email or password is wrong.".into(),
        };
        let Ok(email) = Email::parse(username) else {
            return Err(invalid());
        };
        let Some(account) = store::account_by_email(&self.pool, realm, email.as_str()).await? else {
            self.hashing.verify_dummy(password).await;
            return Err(invalid());
        };
        if !self.hashing.verify(password, account.password_hash).await? {
            return Err(invalid());
        }
        self.issue(realm, account.id, account.roles, pola_core::new_id(), None).await
    }

    /// Trades a refresh token for a new pair.
    async fn refresh(&self, realm: Realm, refresh_token: &str) -> Result<TokenResponse, Error> {
        let (next, next_hash) = new_refresh_token();
        let expires_at = self.refresh_expiry();
        match store::rotate_refresh_token(&self.pool, realm, &hash_token(refresh_token), &next_hash, expires_at).await? {
            store::Rotation::Rotated { subject } => {
                let roles = match realm {
                    Realm::Customer => vec![],
                    Realm::Staff => store::staff_roles(&self.pool, subject).await?.unwrap_or_default(),
                };
                self.issue(realm, subject, roles, Uuid::nil(), Some(next)).await
            }
            store::Rotation::Invalid => Err(invalid_refresh("The refresh token is invalid or has expired.")),
            store::Rotation::Reused => {
                tracing::warn!(auth.realm = ?realm, "refresh token reuse detected; its family is revoked");
                Err(invalid_refresh("The refresh token was already used; sign in again."))
            }
        }
    }

    fn refresh_expiry(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(i64::try_from(self.config.refresh_token_ttl_secs).unwrap_or(i64::MAX / 2))
    }

    /// Signs an access token; stores a refresh token in `family` unless one was already stored
    /// (`stored_refresh`).
    async fn issue(
        &self,
        realm: Realm,
        subject: Uuid,
        roles: Vec<Role>,
        family: Uuid,
        stored_refresh: Option<String>,
    ) -> Result<TokenResponse, Error> {
        let ttl = Duration::from_secs(self.config.access_token_ttl_secs);
        let access_token = self.keys.issue(realm, subject, roles, ttl)?;
        let refresh_token = match stored_refresh {
            Some(token) => token,
            None => {
                let (token, hash) = new_refresh_token();
                store::insert_refresh_token(&self.pool, &hash, family, realm, subject, self.refresh_expiry()).await?;
                token
            }
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl.as_secs(),
            refresh_token,
        })
    }
}

fn http_bad_request() -> axum::http::StatusCode {
    axum::http::StatusCode::BAD_REQUEST
}

fn invalid_refresh(description: &str) -> Error {
    Error::OAuth {
        status: http_bad_request(),
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
