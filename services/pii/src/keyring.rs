//! The local keyring: a file of versioned key-encryption keys and blind-index keys, the embedded
//! default behind [`KeyService`] (production points at Vault transit instead). The file is
//! written whole to a temporary file and renamed, with mode 0600.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use zeroize::Zeroizing;

use crate::{BlindKey, DataKey, KeyService, PiiError, WrappedKey, seal};

/// Associated data of a wrapped data key: a wrapped key cannot pass for anything else.
const WRAP_AAD: &[u8] = b"pola-data-key";

#[derive(Default, Serialize, Deserialize)]
struct Versions {
    current: u32,
    /// Base64 keys by version.
    keys: BTreeMap<u32, String>,
}

impl Versions {
    fn add(&mut self) -> u32 {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::fill(&mut key[..]);
        self.current += 1;
        self.keys.insert(self.current, STANDARD.encode(&key[..]));
        self.current
    }

    fn get(&self, version: u32) -> Result<Zeroizing<[u8; 32]>, PiiError> {
        let encoded = self.keys.get(&version).ok_or(PiiError::UnknownKeyVersion(version))?;
        let bytes = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| PiiError::Corrupt)?);
        let key: [u8; 32] = bytes[..].try_into().map_err(|_| PiiError::Corrupt)?;
        Ok(Zeroizing::new(key))
    }
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    key_encryption: Versions,
    blind_index: Versions,
}

/// Versioned keys in a local file. Every process that uses the file sees another's rotation:
/// each operation first re-reads the file if it changed on disk.
pub struct LocalKeyring {
    path: PathBuf,
    file: RwLock<(File, Option<SystemTime>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl LocalKeyring {
    /// Reads the keyring, or creates it with one key of each kind.
    pub fn load_or_create(path: &Path) -> Result<Self, PiiError> {
        let file = if path.exists() {
            serde_json::from_slice(&std::fs::read(path)?).map_err(|_| PiiError::Corrupt)?
        } else {
            let mut file = File::default();
            file.key_encryption.add();
            file.blind_index.add();
            write(path, &file)?;
            file
        };
        Ok(Self {
            path: path.to_owned(),
            file: RwLock::new((file, modified(path))),
        })
    }

    /// The keys, re-read first if another process changed the file.
    async fn current(&self) -> Result<tokio::sync::RwLockReadGuard<'_, (File, Option<SystemTime>)>, PiiError> {
        let on_disk = modified(&self.path);
        if self.file.read().await.1 != on_disk {
            let reread: File = serde_json::from_slice(&std::fs::read(&self.path)?).map_err(|_| PiiError::Corrupt)?;
            *self.file.write().await = (reread, on_disk);
        }
        Ok(self.file.read().await)
    }
}

fn write(path: &Path, file: &File) -> Result<(), PiiError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut out = options.open(&temporary)?;
    out.write_all(&serde_json::to_vec_pretty(file).map_err(|_| PiiError::Corrupt)?)?;
    out.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

fn wrap(version: u32, kek: &[u8; 32], data_key: &[u8; 32]) -> WrappedKey {
    WrappedKey(format!(
        "pola:v{version}:{}",
        STANDARD.encode(seal::encrypt(kek, WRAP_AAD, data_key))
    ))
}

#[async_trait]
impl KeyService for LocalKeyring {
    async fn generate_data_key(&self) -> Result<(DataKey, WrappedKey), PiiError> {
        let guard = self.current().await?;
        let file = &guard.0;
        let version = file.key_encryption.current;
        let kek = file.key_encryption.get(version)?;
        let mut data_key = Zeroizing::new([0u8; 32]);
        rand::fill(&mut data_key[..]);
        let wrapped = wrap(version, &kek, &data_key);
        Ok((DataKey(data_key), wrapped))
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, PiiError> {
        let version = wrapped.version().ok_or(PiiError::Corrupt)?;
        let encoded = wrapped.0.splitn(3, ':').nth(2).ok_or(PiiError::Corrupt)?;
        let sealed = STANDARD.decode(encoded).map_err(|_| PiiError::Corrupt)?;
        let kek = self.current().await?.0.key_encryption.get(version)?;
        let bytes = Zeroizing::new(seal::decrypt(&kek, WRAP_AAD, &sealed)?);
        let key: [u8; 32] = bytes[..].try_into().map_err(|_| PiiError::Corrupt)?;
        Ok(DataKey(Zeroizing::new(key)))
    }

    async fn rewrap(&self, wrapped: &WrappedKey) -> Result<WrappedKey, PiiError> {
        let data_key = self.unwrap(wrapped).await?;
        let guard = self.current().await?;
        let file = &guard.0;
        let version = file.key_encryption.current;
        let kek = file.key_encryption.get(version)?;
        Ok(wrap(version, &kek, data_key.bytes()))
    }

    async fn blind_index_key(&self) -> Result<BlindKey, PiiError> {
        let guard = self.current().await?;
        let file = &guard.0;
        Ok(BlindKey(file.blind_index.get(file.blind_index.current)?))
    }

    async fn current_version(&self) -> Result<u32, PiiError> {
        Ok(self.current().await?.0.key_encryption.current)
    }

    async fn rotate(&self) -> Result<u32, PiiError> {
        drop(self.current().await?);
        let mut guard = self.file.write().await;
        let version = guard.0.key_encryption.add();
        write(&self.path, &guard.0)?;
        guard.1 = modified(&self.path);
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::seal::{Place, open, seal};

    fn temporary() -> PathBuf {
        std::env::temp_dir()
            .join(format!("pola-keyring-{}", Uuid::now_v7().simple()))
            .join("keyring.json")
    }

    #[tokio::test]
    async fn a_data_key_survives_a_reload_and_a_rotation_and_rewraps_to_the_new_version() {
        let path = temporary();
        let keyring = LocalKeyring::load_or_create(&path).expect("created");
        let (key, wrapped) = keyring.generate_data_key().await.expect("a key");
        let place = Place {
            table: "customers",
            column: "email",
            record: Uuid::now_v7(),
        };
        let sealed = seal(&key, place, "nimal@example.lk");
        assert_eq!(wrapped.version(), Some(1));

        let reloaded = LocalKeyring::load_or_create(&path).expect("read back");
        assert_eq!(reloaded.rotate().await.expect("rotated"), 2);
        assert_eq!(reloaded.current_version().await.expect("a version"), 2);
        let unwrapped = reloaded.unwrap(&wrapped).await.expect("old versions still unwrap");
        assert_eq!(open(&unwrapped, place, &sealed).expect("opens"), "nimal@example.lk");
        let rewrapped = reloaded.rewrap(&wrapped).await.expect("rewrapped");
        assert_eq!(rewrapped.version(), Some(2));
        let again = reloaded.unwrap(&rewrapped).await.expect("unwraps");
        assert_eq!(open(&again, place, &sealed).expect("opens"), "nimal@example.lk");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(path.parent().expect("a folder"));
    }

    #[tokio::test]
    async fn a_rotation_by_another_process_is_seen() {
        let path = temporary();
        let server = LocalKeyring::load_or_create(&path).expect("created");
        let command = LocalKeyring::load_or_create(&path).expect("read");
        let (_, old) = server.generate_data_key().await.expect("a key");
        // File times can be coarse: make sure the rotation is a visible change.
        std::thread::sleep(std::time::Duration::from_millis(20));
        command.rotate().await.expect("rotated");
        let rewrapped = command.rewrap(&old).await.expect("rewrapped");
        assert_eq!(rewrapped.version(), Some(2));
        server.unwrap(&rewrapped).await.expect("the server unwraps the new version");
        assert_eq!(server.current_version().await.expect("a version"), 2);
        let _ = std::fs::remove_dir_all(path.parent().expect("a folder"));
    }

    #[tokio::test]
    async fn a_wrapped_key_from_another_keyring_or_tampered_does_not_unwrap() {
        let (a, b) = (temporary(), temporary());
        let mine = LocalKeyring::load_or_create(&a).expect("created");
        let theirs = LocalKeyring::load_or_create(&b).expect("created");
        let (_, wrapped) = theirs.generate_data_key().await.expect("a key");
        assert!(mine.unwrap(&wrapped).await.is_err());
        let unknown = WrappedKey(wrapped.0.replacen("v1", "v9", 1));
        assert!(matches!(mine.unwrap(&unknown).await, Err(PiiError::UnknownKeyVersion(9))));
        for path in [a, b] {
            let _ = std::fs::remove_dir_all(path.parent().expect("a folder"));
        }
    }
}
