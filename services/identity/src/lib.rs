//! Identity: customers and staff, passwords, and the tokens every other service trusts.

pub mod api;
pub mod client;
pub mod model;
pub mod personal;
pub mod reset;
pub mod staff;
pub mod store;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use pola_core::{
    Error,
    auth::{Realm, Role, TokenKeys},
    config::AuthConfig,
    db::is_duplicate_key,
    password::PasswordHashing,
    personal::PersonalData,
};
use sha2::{Digest, Sha256};
use sqlx::{MySqlPool, migrate::Migrator};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use pola_pii::KeyService;

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
    pii: Arc<dyn KeyService>,
    /// Other services' parts of a customer's data export.
    elsewhere: Vec<Arc<dyn PersonalData>>,
}

impl Identity {
    pub fn new(
        pool: MySqlPool,
        keys: TokenKeys,
        config: AuthConfig,
        pii: Arc<dyn KeyService>,
        elsewhere: Vec<Arc<dyn PersonalData>>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool,
            keys,
            hashing: PasswordHashing::new(&config)?,
            config,
            pii,
            elsewhere,
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
            .routes(routes!(api::staff::start_session))
            .routes(routes!(api::staff::session_token))
            .routes(routes!(api::staff::end_session))
            .routes(routes!(api::staff::begin_enrolment))
            .routes(routes!(api::staff::confirm_enrolment))
            .routes(routes!(api::staff::accounts, api::staff::add_account))
            .routes(routes!(api::staff::update_account))
            .routes(routes!(api::staff::reset_two_factor))
            .routes(routes!(api::me))
            .routes(routes!(api::preferences, api::set_preferences))
            .routes(routes!(api::request_password_reset))
            .routes(routes!(api::confirm_password_reset))
            .routes(routes!(api::export))
            .routes(routes!(api::erase))
            .routes(routes!(api::search_customers))
            .routes(routes!(api::staff_customer))
            .routes(routes!(api::reveal))
            .routes(routes!(api::reveals))
            .routes(routes!(api::jwks))
            .route("/internal/v1/identity/contact", axum::routing::post(api::internal::contact))
            .route(
                "/internal/v1/identity/reset-secret",
                axum::routing::post(api::internal::reset_secret),
            )
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

    /// The customer an email or a phone number (in any common spelling) names, with their
    /// password hash; none for an erased account, or a phone number on more than one account.
    async fn customer_account(&self, username: &str) -> Result<Option<(Uuid, String)>, Error> {
        let lookup = match (Email::parse(username), model::Phone::parse(username)) {
            (Ok(email), _) => (store::Lookup::Email, email.as_str().to_owned()),
            (_, Ok(phone)) => (store::Lookup::Phone, phone.as_str().to_owned()),
            _ => return Ok(None),
        };
        Ok(match &self.find(lookup.0, &lookup.1, 2, true).await?[..] {
            [(id, Some(hash))] => Some((*id, hash.clone())),
            _ => None,
        })
    }

    /// The customer an email or phone number names (see `customer_account`).
    pub(crate) async fn customer_by_username(&self, username: &str) -> Result<Option<Uuid>, Error> {
        Ok(self.customer_account(username).await?.map(|(id, _)| id))
    }

    /// Checks a password login (customers: email or phone; staff: email) and starts a new
    /// refresh-token family.
    pub async fn login(
        &self,
        realm: Realm,
        username: &str,
        password: String,
        code: Option<&str>,
    ) -> Result<TokenResponse, Error> {
        let invalid = || invalid_grant("The email, phone number or password is wrong.");
        let account = match realm {
            Realm::Staff => {
                let id = self.staff_grant(username, password, code).await.map_err(|e| match e {
                    Error::Unauthorized(_) => {
                        invalid_grant("The email, password or code is wrong, or the account is locked for a while.")
                    }
                    e => e,
                })?;
                let roles = store::staff_roles(&self.pool, id).await?.unwrap_or_default();
                return self.start_family(realm, id, roles).await;
            }
            Realm::Customer => self
                .customer_account(username)
                .await?
                .map(|(id, password_hash)| store::Account {
                    id,
                    password_hash,
                    roles: vec![],
                }),
        };
        let Some(account) = account else {
            self.hashing.verify_dummy(password).await?;
            return Err(invalid());
        };
        if !self.hashing.verify(password, account.password_hash).await? {
            return Err(invalid());
        }
        self.start_family(realm, account.id, account.roles).await
    }

    /// A new refresh-token family for a subject that just signed in, and its first tokens.
    async fn start_family(&self, realm: Realm, subject: Uuid, roles: Vec<Role>) -> Result<TokenResponse, Error> {
        let (refresh_token, hash) = new_refresh_token();
        store::insert_refresh_token(&self.pool, &hash, pola_core::new_id(), realm, subject, self.refresh_expiry()).await?;
        self.tokens(realm, subject, roles, refresh_token)
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
    let token = pola_core::token::random::<32>("rt");
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
