//! Keys in HashiCorp Vault, through `vaultrs`: the transit engine makes data keys (`datakey`),
//! unwraps them (`decrypt`) and rewraps them after a rotation (`rewrap`); the wrapped data keys
//! live in KV v2 (`<kv_mount>/<kv_prefix>/<subject>`), so destroying one there (`delete_metadata`,
//! every version) shreds the subject's data in every database copy and backup. The blind-index
//! keys are the HMAC keys of an exportable transit key. Pola signs in with AppRole and signs in
//! again when its token is refused.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use pola_core::config::VaultConfig;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use uuid::Uuid;
use vaultrs::{
    api::transit::{
        requests::{DataKeyType, ExportKeyType, ExportVersion},
        responses::ReadKeyData,
    },
    client::{VaultClient, VaultClientSettingsBuilder},
    error::ClientError,
    kv2, transit,
};
use zeroize::Zeroizing;

use crate::{BlindKey, BlindKeys, DataKey, KeyService, PiiError, wrapped_version};

/// What KV v2 holds for each subject.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    wrapped: String,
}

/// Keys kept by Vault.
pub struct VaultKeys {
    config: VaultConfig,
    /// Signed in, or not yet.
    client: RwLock<Option<Arc<VaultClient>>>,
}

fn vault_error(e: ClientError) -> PiiError {
    match e {
        ClientError::APIError { code: 404, .. } => PiiError::Erased,
        ClientError::APIError { code: 400, .. } => PiiError::Corrupt,
        e => PiiError::Unavailable(describe(&e)),
    }
}

/// The error with its causes: they say why (refused connection, timeout, TLS); the top one
/// does not.
fn describe(e: &ClientError) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    if let ClientError::APIError { code, errors } = e {
        message = format!("{message} ({code}: {})", errors.join("; "));
    }
    message
}

fn key_versions(data: ReadKeyData) -> impl Iterator<Item = u32> {
    let versions: Vec<String> = match data {
        ReadKeyData::Symmetric(keys) => keys.into_keys().collect(),
        ReadKeyData::Asymmetric(keys) => keys.into_keys().collect(),
    };
    versions.into_iter().filter_map(|v| v.parse().ok())
}

impl VaultKeys {
    pub fn new(config: &VaultConfig) -> anyhow::Result<Self> {
        pola_core::install_crypto_provider();
        Ok(Self {
            config: config.clone(),
            client: RwLock::new(None),
        })
    }

    /// A client with a token: the current one, or (when `fresh` or none yet) after an AppRole
    /// sign-in.
    async fn client(&self, fresh: bool) -> Result<Arc<VaultClient>, PiiError> {
        if !fresh && let Some(client) = &*self.client.read().await {
            return Ok(client.clone());
        }
        let mut slot = self.client.write().await;
        let settings = |token: &str| {
            let mut builder = VaultClientSettingsBuilder::default();
            builder
                .address(&self.config.addr)
                .token(token)
                .timeout(Some(Duration::from_millis(self.config.timeout_ms)));
            if let Some(ca) = &self.config.ca_cert {
                builder.ca_certs(vec![ca.display().to_string()]);
            }
            let settings = builder.build().map_err(|e| PiiError::Unavailable(e.to_string()))?;
            VaultClient::new(settings).map_err(vault_error)
        };
        let anonymous = settings("")?;
        let auth = vaultrs::auth::approle::login(
            &anonymous,
            &self.config.approle_mount,
            &self.config.role_id,
            self.config.secret_id.expose_secret(),
        )
        .await
        .map_err(|e| PiiError::Unavailable(format!("AppRole sign-in: {}", describe(&e))))?;
        let client = Arc::new(settings(&auth.client_token)?);
        tracing::info!(vault.addr = %self.config.addr, "signed in to Vault with AppRole");
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Runs `op` with a signed-in client; a refused token (403) signs in again, once.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, PiiError>
    where
        F: Fn(Arc<VaultClient>) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        match op(self.client(false).await?).await {
            Err(ClientError::APIError { code: 403, .. }) => op(self.client(true).await?).await.map_err(vault_error),
            other => other.map_err(vault_error),
        }
    }

    fn path(&self, subject: Uuid) -> String {
        format!("{}/{subject}", self.config.kv_prefix)
    }

    async fn latest(&self, key: &str) -> Result<u32, PiiError> {
        let mount = &self.config.transit_mount;
        let read = self
            .call(|c| async move { transit::key::read(&*c, mount, key).await })
            .await?;
        key_versions(read.keys).max().ok_or(PiiError::UnknownKeyVersion(0))
    }

    /// Stores `wrapped` for `subject`; a previous version of it is destroyed, so no key
    /// wrapped by an old key-encryption key stays behind in KV.
    async fn store(&self, subject: Uuid, wrapped: &str) -> Result<(), PiiError> {
        let (mount, path) = (&self.config.kv_mount, &self.path(subject));
        let stored = &StoredKey {
            wrapped: wrapped.to_owned(),
        };
        let written = self.call(|c| async move { kv2::set(&*c, mount, path, stored).await }).await?;
        if written.version > 1 {
            let old: Vec<u64> = (1..written.version).collect();
            self.call(|c| {
                let old = old.clone();
                async move { kv2::destroy_versions(&*c, mount, path, old).await }
            })
            .await?;
        }
        Ok(())
    }

    /// The string fields of the KV v2 secret at `path` (under `kv_mount`): other services'
    /// secrets, such as a payment gateway's, kept with the keys.
    pub async fn read_secrets(&self, path: &str) -> Result<HashMap<String, String>, PiiError> {
        let mount = &self.config.kv_mount;
        self.call(|c| async move { kv2::read(&*c, mount, path).await }).await
    }

    async fn wrapped(&self, subject: Uuid) -> Result<String, PiiError> {
        let (mount, path) = (&self.config.kv_mount, &self.path(subject));
        let stored: StoredKey = self.call(|c| async move { kv2::read(&*c, mount, path).await }).await?;
        Ok(stored.wrapped)
    }
}

fn decode_key(plaintext: &str) -> Result<DataKey, PiiError> {
    DataKey::from_slice(&Zeroizing::new(STANDARD.decode(plaintext).map_err(|_| PiiError::Corrupt)?))
}

#[async_trait]
impl KeyService for VaultKeys {
    async fn create_data_key(&self, subject: Uuid) -> Result<(DataKey, u32), PiiError> {
        let (mount, key) = (&self.config.transit_mount, &self.config.key);
        let made = self
            .call(|c| async move { transit::generate::data_key(&*c, mount, key, DataKeyType::Plaintext, None).await })
            .await?;
        let plaintext = Zeroizing::new(made.plaintext.ok_or(PiiError::Corrupt)?);
        let data_key = decode_key(&plaintext)?;
        let version = wrapped_version(&made.ciphertext).ok_or(PiiError::Corrupt)?;
        self.store(subject, &made.ciphertext).await?;
        Ok((data_key, version))
    }

    async fn data_key(&self, subject: Uuid) -> Result<DataKey, PiiError> {
        let wrapped = &self.wrapped(subject).await?;
        let (mount, key) = (&self.config.transit_mount, &self.config.key);
        let opened = self
            .call(|c| async move { transit::data::decrypt(&*c, mount, key, wrapped, None).await })
            .await?;
        decode_key(&Zeroizing::new(opened.plaintext))
    }

    async fn rewrap(&self, subject: Uuid) -> Result<u32, PiiError> {
        let wrapped = &self.wrapped(subject).await?;
        let (mount, key) = (&self.config.transit_mount, &self.config.key);
        let rewrapped = self
            .call(|c| async move { transit::data::rewrap(&*c, mount, key, wrapped, None).await })
            .await?
            .ciphertext;
        self.store(subject, &rewrapped).await?;
        wrapped_version(&rewrapped).ok_or(PiiError::Corrupt)
    }

    async fn destroy(&self, subject: Uuid) -> Result<(), PiiError> {
        let (mount, path) = (&self.config.kv_mount, &self.path(subject));
        match self
            .call(|c| async move { kv2::delete_metadata(&*c, mount, path).await })
            .await
        {
            Err(PiiError::Erased) => Ok(()),
            other => other,
        }
    }

    async fn current_version(&self) -> Result<u32, PiiError> {
        self.latest(&self.config.key).await
    }

    async fn rotate(&self) -> Result<u32, PiiError> {
        let (mount, key) = (&self.config.transit_mount, &self.config.key);
        self.call(|c| async move { transit::key::rotate(&*c, mount, key).await })
            .await?;
        self.latest(key).await
    }

    async fn blind_index_keys(&self) -> Result<BlindKeys, PiiError> {
        let (mount, key) = (&self.config.transit_mount, &self.config.blind_index_key);
        let exported = self
            .call(|c| async move { transit::key::export(&*c, mount, key, ExportKeyType::HmacKey, ExportVersion::All).await })
            .await?;
        let keys: HashMap<String, String> = exported.keys;
        let keys = keys
            .into_iter()
            .map(|(version, encoded)| {
                let version = version.parse().map_err(|_| PiiError::Corrupt)?;
                let bytes = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| PiiError::Corrupt)?);
                let key: [u8; 32] = bytes[..].try_into().map_err(|_| PiiError::Corrupt)?;
                Ok((version, BlindKey(Zeroizing::new(key))))
            })
            .collect::<Result<_, PiiError>>()?;
        BlindKeys::new(keys)
    }

    async fn rotate_blind_index(&self) -> Result<u32, PiiError> {
        let (mount, key) = (&self.config.transit_mount, &self.config.blind_index_key);
        self.call(|c| async move { transit::key::rotate(&*c, mount, key).await })
            .await?;
        self.latest(key).await
    }
}
