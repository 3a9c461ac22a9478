//! Personal data (issue 3, first step): keys, sealed fields, blind indexes and the normalisation
//! that look-ups need. Nothing here is wired into the services yet.
//!
//! - Every customer gets a data key; it seals their fields (AES-256-GCM) with the table, column
//!   and record id as associated data, so a sealed value moved to another row does not open.
//! - Data keys are stored only wrapped by a key-encryption key of a [`KeyService`]: the local
//!   [`keyring::LocalKeyring`] (a file of versioned keys) now, Vault transit later, behind the
//!   same trait. Destroying a customer's wrapped key shreds their data everywhere it was copied.
//! - Exact look-ups (login by email or phone, staff search by NIC) go through blind indexes:
//!   keyed HMACs of the normalised value.

pub mod keyring;
pub mod normalize;
pub mod seal;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// What can go wrong with personal data.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
    #[error("no key-encryption key version {0}")]
    UnknownKeyVersion(u32),
    #[error("a wrapped key or sealed value is malformed or was tampered with")]
    Corrupt,
    #[error("keyring file: {0}")]
    Io(#[from] std::io::Error),
}

/// A data key in clear. Zeroed when dropped; never printed.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// A data key wrapped by a key-encryption key: `pola:v<version>:<base64>` (the shape of Vault
/// transit's `vault:v<version>:…`), safe to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey(pub String);

impl WrappedKey {
    /// The key-encryption key version that wrapped it.
    pub fn version(&self) -> Option<u32> {
        let mut parts = self.0.splitn(3, ':');
        let (_, version) = (parts.next()?, parts.next()?);
        version.strip_prefix('v')?.parse().ok()
    }
}

/// The key for blind indexes, in clear. Zeroed when dropped.
pub struct BlindKey(Zeroizing<[u8; 32]>);

/// Where data keys come from and are unwrapped.
#[async_trait]
pub trait KeyService: Send + Sync {
    /// A fresh data key, in clear and wrapped by the current key-encryption key.
    async fn generate_data_key(&self) -> Result<(DataKey, WrappedKey), PiiError>;
    /// The data key inside `wrapped`.
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, PiiError>;
    /// `wrapped` re-wrapped by the current key-encryption key (for key rotation).
    async fn rewrap(&self, wrapped: &WrappedKey) -> Result<WrappedKey, PiiError>;
    /// The current blind-index key.
    async fn blind_index_key(&self) -> Result<BlindKey, PiiError>;
    /// The current key-encryption key version: new and rewrapped keys carry it.
    async fn current_version(&self) -> Result<u32, PiiError>;
    /// Makes a new key-encryption key version current; returns it. Keys wrapped by older
    /// versions still unwrap until they are rewrapped.
    async fn rotate(&self) -> Result<u32, PiiError>;
}

/// A blind index: HMAC-SHA256 of the normalised value, under `kind` (`email`, `phone`, `nic`) so
/// that equal strings of different kinds do not collide.
pub fn blind_index(key: &BlindKey, kind: &str, normalized: &str) -> [u8; 32] {
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

    #[test]
    fn a_blind_index_depends_on_key_kind_and_value() {
        let key = BlindKey(Zeroizing::new([7; 32]));
        let other = BlindKey(Zeroizing::new([8; 32]));
        let a = blind_index(&key, "email", "nimal@example.lk");
        assert_eq!(a, blind_index(&key, "email", "nimal@example.lk"));
        assert_ne!(a, blind_index(&key, "phone", "nimal@example.lk"));
        assert_ne!(a, blind_index(&key, "email", "kamala@example.lk"));
        assert_ne!(a, blind_index(&other, "email", "nimal@example.lk"));
    }

    #[test]
    fn the_version_is_read_from_a_wrapped_key() {
        assert_eq!(WrappedKey("pola:v3:abcd".into()).version(), Some(3));
        assert_eq!(WrappedKey("vault:v12:abcd".into()).version(), Some(12));
        assert_eq!(WrappedKey("garbage".into()).version(), None);
    }

    #[test]
    fn keys_never_print() {
        let key = DataKey(Zeroizing::new([1; 32]));
        assert_eq!(format!("{key:?}"), "DataKey([redacted])");
    }
}
