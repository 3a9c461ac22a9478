//! Personal data: keys, sealed fields, blind indexes, masks and the normalisation look-ups need.
//!
//! - Every customer (a *subject*) has a data key; it seals their fields (AES-256-GCM) with the
//!   table, column and record id as associated data, so a sealed value moved to another row does
//!   not open.
//! - Data keys live in the [`KeyService`], wrapped by its key-encryption key — never in the
//!   databases. Destroying a subject's data key there (crypto-shredding) makes their data
//!   unreadable everywhere the databases were copied: the DR replica and every old backup.
//!   Backends: the local [`keyring::LocalKeyring`] (a folder of versioned keys, the default) and
//!   [`vault::VaultKeys`] (Vault transit wraps, KV v2 holds the wrapped keys), both behind
//!   [`cache::CachedKeys`], which keeps unwrapped keys in memory for a short, configured time.
//! - Exact look-ups (login by email or phone, staff search by NIC) go through blind indexes:
//!   keyed HMACs of the normalised value, under versioned keys that can be rotated.

pub mod cache;
pub mod keyring;
pub mod mask;
pub mod normalize;
pub mod seal;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vault;

use std::sync::Arc;

use async_trait::async_trait;
use pola_core::config::{PiiBackend, PiiConfig};
use uuid::Uuid;
use zeroize::Zeroizing;

/// What can go wrong with personal data.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
    #[error("the subject's data key does not exist: their personal data was erased")]
    Erased,
    #[error("no key-encryption key version {0}")]
    UnknownKeyVersion(u32),
    #[error("a wrapped key or sealed value is malformed or was tampered with")]
    Corrupt,
    #[error("keyring: {0}")]
    Io(#[from] std::io::Error),
}

/// What a client sees: 503 when the key service cannot be reached (nothing was written), 410
/// when the data was erased; the cause goes to the log, never to the client.
impl From<PiiError> for pola_core::Error {
    fn from(e: PiiError) -> Self {
        match e {
            PiiError::Unavailable(cause) => {
                tracing::warn!(pii.cause = %cause, "the key service is unavailable");
                pola_core::Error::Unavailable("Personal data cannot be read or written right now; try again in a moment.".into())
            }
            PiiError::Erased => pola_core::Error::Gone("This customer's personal data was erased.".into()),
            e => pola_core::Error::Internal(e.into()),
        }
    }
}

/// A data key in clear. Zeroed when dropped; never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A data key from its 32 bytes (as a key service hands them back).
    fn from_slice(bytes: &[u8]) -> Result<Self, PiiError> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| PiiError::Corrupt)?;
        Ok(Self(Zeroizing::new(key)))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// The version of the key-encryption key in a wrapped key `<prefix>:v<version>:<base64>` (the
/// shape of Vault transit's `vault:v1:…`).
fn wrapped_version(wrapped: &str) -> Option<u32> {
    let mut parts = wrapped.splitn(3, ':');
    let (_, version) = (parts.next()?, parts.next()?);
    version.strip_prefix('v')?.parse().ok()
}

/// One blind-index key, in clear. Zeroed when dropped.
#[derive(Clone)]
pub struct BlindKey(Zeroizing<[u8; 32]>);

/// Every blind-index key version still in use; new indexes are made with the current one, and
/// look-ups try each (while a rotation re-indexes, rows carry either).
#[derive(Clone)]
pub struct BlindKeys {
    /// Newest first.
    keys: Vec<(u32, BlindKey)>,
}

impl BlindKeys {
    fn new(mut keys: Vec<(u32, BlindKey)>) -> Result<Self, PiiError> {
        keys.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        if keys.is_empty() {
            return Err(PiiError::UnknownKeyVersion(0));
        }
        Ok(Self { keys })
    }

    /// The current version.
    pub fn current(&self) -> u32 {
        self.keys[0].0
    }

    /// The index of `normalized` under the current key.
    pub fn index(&self, kind: &str, normalized: &str) -> [u8; 32] {
        blind_index(&self.keys[0].1, kind, normalized)
    }

    /// The index of `normalized` under every key version, current first: what a look-up matches.
    pub fn candidates(&self, kind: &str, normalized: &str) -> Vec<[u8; 32]> {
        self.keys.iter().map(|(_, key)| blind_index(key, kind, normalized)).collect()
    }
}

/// Where data keys are made, kept, unwrapped and destroyed.
#[async_trait]
pub trait KeyService: Send + Sync {
    /// A new data key for `subject`, stored wrapped by the current key-encryption key, and the
    /// version that wrapped it. Returns only once the wrapped key is stored for good.
    async fn create_data_key(&self, subject: Uuid) -> Result<(DataKey, u32), PiiError>;
    /// `subject`'s data key; [`PiiError::Erased`] if it was destroyed (or never made).
    async fn data_key(&self, subject: Uuid) -> Result<DataKey, PiiError>;
    /// Re-wraps `subject`'s data key by the current key-encryption key (the data key itself,
    /// and so every sealed field, stays the same); returns that version.
    async fn rewrap(&self, subject: Uuid) -> Result<u32, PiiError>;
    /// Destroys `subject`'s data key for good. Destroying a missing key is not an error.
    async fn destroy(&self, subject: Uuid) -> Result<(), PiiError>;
    /// The current key-encryption key version.
    async fn current_version(&self) -> Result<u32, PiiError>;
    /// Makes a new key-encryption key version current; returns it. Keys wrapped by older
    /// versions still unwrap until they are rewrapped.
    async fn rotate(&self) -> Result<u32, PiiError>;
    /// The blind-index keys.
    async fn blind_index_keys(&self) -> Result<BlindKeys, PiiError>;
    /// The blind-index keys as the key service has them now, for a look-up that found nothing
    /// (another process may have rotated them). A cache may answer from memory if it asked
    /// very recently.
    async fn refresh_blind_index_keys(&self) -> Result<BlindKeys, PiiError> {
        self.blind_index_keys().await
    }
    /// Makes a new blind-index key version current; returns it.
    async fn rotate_blind_index(&self) -> Result<u32, PiiError>;
}

/// The key service `config` names, behind the in-memory cache of unwrapped keys.
pub async fn open(config: &PiiConfig) -> anyhow::Result<Arc<dyn KeyService>> {
    use anyhow::Context;
    let inner: Arc<dyn KeyService> = match config.backend {
        PiiBackend::Keyring => Arc::new(
            keyring::LocalKeyring::open(&config.keyring_dir)
                .with_context(|| format!("PII keyring {}", config.keyring_dir.display()))?,
        ),
        PiiBackend::Vault => Arc::new(vault::VaultKeys::new(&config.vault).context("Vault client for PII keys")?),
    };
    Ok(Arc::new(cache::CachedKeys::new(
        inner,
        config.cache_ttl(),
        config.cache_max_keys,
    )))
}

/// A blind index: HMAC-SHA256 of the normalised value, under `kind` (`email`, `phone`, `nic`) so
/// that equal strings of different kinds do not collide.
fn blind_index(key: &BlindKey, kind: &str, normalized: &str) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key.0[..]).expect("HMAC takes any key length");
    mac.update(kind.as_bytes());
    mac.update(&[0]);
    mac.update(normalized.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> BlindKey {
        BlindKey(Zeroizing::new([byte; 32]))
    }

    #[test]
    fn a_blind_index_depends_on_key_kind_and_value() {
        let a = blind_index(&key(7), "email", "nimal@example.lk");
        assert_eq!(a, blind_index(&key(7), "email", "nimal@example.lk"));
        assert_ne!(a, blind_index(&key(7), "phone", "nimal@example.lk"));
        assert_ne!(a, blind_index(&key(7), "email", "kamala@example.lk"));
        assert_ne!(a, blind_index(&key(8), "email", "nimal@example.lk"));
    }

    #[test]
    fn look_ups_try_every_blind_key_version_newest_first() {
        let keys = BlindKeys::new(vec![(1, key(1)), (2, key(2))]).expect("keys");
        assert_eq!(keys.current(), 2);
        let candidates = keys.candidates("phone", "+94771234567");
        assert_eq!(
            candidates,
            vec![
                keys.index("phone", "+94771234567"),
                blind_index(&key(1), "phone", "+94771234567")
            ]
        );
    }

    #[test]
    fn the_version_is_read_from_a_wrapped_key() {
        assert_eq!(wrapped_version("pola:v3:abcd"), Some(3));
        assert_eq!(wrapped_version("vault:v12:abcd"), Some(12));
        assert_eq!(wrapped_version("garbage"), None);
    }

    #[test]
    fn keys_never_print() {
        let key = DataKey(Zeroizing::new([1; 32]));
        assert_eq!(format!("{key:?}"), "DataKey([redacted])");
    }
}
