//! Password reset: a link by email or a six-digit code by SMS, short-lived and single use.
//!
//! Asking never says whether an account exists (the answer is always the same), and an account
//! gets at most [`RESETS_PER_HOUR`] resets an hour; the edge limits each address too. The secret
//! is stored hashed (with the reset's id) to check what comes back, and sealed with the
//! customer's data key so that the notification worker can send it: the event names the reset,
//! never the secret. A code takes [`CODE_ATTEMPTS`] wrong tries before it is spent. Using a reset
//! sets the password, spends every other reset of the account and signs out every session.

use chrono::{Duration, Utc};
use pola_core::Error;
use pola_pii::seal::{Place, open, seal};
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    Identity,
    model::{Password, PasswordResetConfirm, PasswordResetRequest, ResetChannel},
    store::{self, StoredReset},
};

pub const RESETS_PER_HOUR: i64 = 3;
pub const CODE_ATTEMPTS: i32 = 5;
/// How long a link or code works.
pub use pola_contracts::identity::RESET_LIFETIME as LIFETIME;
/// What the notification worker sends.
pub use pola_contracts::identity::ResetSecret;

fn place(id: Uuid) -> Place<'static> {
    Place {
        table: "password_resets",
        column: "secret",
        record: id,
    }
}

fn secret_hash(reset: Uuid, secret: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(reset.as_bytes());
    hasher.update(secret.as_bytes());
    hasher.finalize().to_vec()
}

fn invalid() -> Error {
    Error::Unprocessable {
        code: "reset-invalid",
        detail: "This reset link or code is wrong, used or expired; ask for a new one.".into(),
    }
}

impl Identity {
    /// Starts a reset if the account exists and may have one; answers the same either way.
    pub async fn request_password_reset(&self, request: PasswordResetRequest) -> Result<(), Error> {
        let Some(customer) = self.customer_by_username(&request.username).await? else {
            tracing::info!("password reset asked for an unknown account");
            return Ok(());
        };
        let since = Utc::now() - Duration::hours(1);
        if store::resets_since(&self.pool, customer, since).await? >= RESETS_PER_HOUR {
            tracing::warn!(customer.id = %customer, "password reset refused: too many this hour");
            return Ok(());
        }
        let id = pola_core::new_id();
        let secret = match request.channel {
            // The link's token names its reset, so that it can be found and then checked.
            ResetChannel::Email => {
                format!("{}.{}", id.simple(), pola_core::token::random::<32>("rs"))
            }
            ResetChannel::Sms => format!("{:06}", rand::rng().random_range(0..1_000_000)),
        };
        let key = self.pii.data_key(customer).await.map_err(Error::from)?;
        let reset = StoredReset {
            id,
            customer_id: customer,
            channel: request.channel.as_str().to_owned(),
            secret_hash: secret_hash(id, &secret),
            secret_sealed: Some(seal(&key, place(id), &secret)),
            attempts: 0,
        };
        store::insert_reset(&self.pool, &reset, Utc::now() + LIFETIME).await?;
        tracing::info!(customer.id = %customer, reset.id = %id, channel = request.channel.as_str(), "password reset asked");
        Ok(())
    }

    /// The secret of a reset still usable, opened for the notification worker.
    pub async fn reset_secret(&self, customer: Uuid, reset: Uuid) -> Result<Option<ResetSecret>, Error> {
        let Some(stored) = store::live_reset(&self.pool, reset).await? else {
            return Ok(None);
        };
        let Some(sealed) = stored.secret_sealed.filter(|_| stored.customer_id == customer) else {
            return Ok(None);
        };
        let key = self.pii.data_key(customer).await.map_err(Error::from)?;
        let secret = open(&key, place(reset), &sealed).map_err(Error::from)?;
        Ok(Some(match stored.channel.as_str() {
            "sms" => ResetSecret::Code(secret),
            _ => ResetSecret::Link(secret),
        }))
    }

    /// Sets a new password with a link's token, or an account's code.
    pub async fn confirm_password_reset(&self, confirm: PasswordResetConfirm) -> Result<(), Error> {
        let password = Password::parse(confirm.password).map_err(|m| Error::field("password", m))?;
        let reset = match (confirm.token, confirm.username, confirm.code) {
            (Some(token), None, None) => {
                let id = token
                    .split('.')
                    .next()
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .ok_or_else(invalid)?;
                let reset = store::live_reset(&self.pool, id).await?.ok_or_else(invalid)?;
                if reset.channel != "email" || !constant_time_eq(&secret_hash(id, &token), &reset.secret_hash) {
                    return Err(invalid());
                }
                reset
            }
            (None, Some(username), Some(code)) => {
                let customer = self.customer_by_username(&username).await?.ok_or_else(invalid)?;
                let reset = store::newest_live_reset(&self.pool, customer, "sms")
                    .await?
                    .ok_or_else(invalid)?;
                let given = secret_hash(reset.id, code.trim());
                if !constant_time_eq(&given, &reset.secret_hash) {
                    store::wrong_code(&self.pool, reset.id, CODE_ATTEMPTS).await?;
                    return Err(invalid());
                }
                reset
            }
            _ => return Err(Error::field("token", "give either a token, or a username and a code")),
        };
        let hash = self.hashing.hash(password.into_inner()).await?;
        if !store::use_reset(&self.pool, &reset, &hash).await? {
            return Err(invalid());
        }
        tracing::info!(customer.id = %reset.customer_id, reset.id = %reset.id, "password reset used; every session signed out");
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
