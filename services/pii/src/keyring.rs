//! The local keyring: the embedded default behind [`KeyService`] (production points at Vault).
//! A folder holds `keyring.json` (versioned key-encryption and blind-index keys) and
//! `data-keys/<subject>` (each subject's data key, wrapped). Files are written whole to a
//! temporary file, synced and renamed, with mode 0600 in a 0700 folder.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{BlindKey, BlindKeys, DataKey, KeyService, PiiError, seal, wrapped_version};

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

/// Versioned keys in a local folder. Every process that uses the folder sees another's
/// rotation: each operation first re-reads `keyring.json` if it changed on disk.
pub struct LocalKeyring {
    file_path: PathBuf,
    data_keys: PathBuf,
    file: RwLock<(File, Option<Stamp>)>,
}

/// What identifies one version of the file: every write renames a new file into place, so its
/// inode changes even when two writes land within one tick of the file system's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(Option<SystemTime>, u64);

fn modified(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = metadata.len();
    Some(Stamp(metadata.modified().ok(), inode))
}

/// Associated data of a wrapped data key: it unwraps only as `subject`'s data key.
fn wrap_aad(subject: Uuid) -> Vec<u8> {
    format!("pola-data-key|{subject}").into_bytes()
}

impl LocalKeyring {
    /// Opens the keyring in `dir`, or creates it with one key of each kind.
    pub fn open(dir: &Path) -> Result<Self, PiiError> {
        let file_path = dir.join("keyring.json");
        let data_keys = dir.join("data-keys");
        create_private_dir(&data_keys)?;
        let file = if file_path.exists() {
            serde_json::from_slice(&std::fs::read(&file_path)?).map_err(|_| PiiError::Corrupt)?
        } else {
            let mut file = File::default();
            file.key_encryption.add();
            file.blind_index.add();
            write_private(&file_path, &serde_json::to_vec_pretty(&file).map_err(|_| PiiError::Corrupt)?)?;
            file
        };
        Ok(Self {
            file: RwLock::new((file, modified(&file_path))),
            file_path,
            data_keys,
        })
    }

    /// The keys, re-read first if another process changed the file.
    async fn current(&self) -> Result<tokio::sync::RwLockReadGuard<'_, (File, Option<Stamp>)>, PiiError> {
        let on_disk = modified(&self.file_path);
        if self.file.read().await.1 != on_disk {
            let reread: File = serde_json::from_slice(&std::fs::read(&self.file_path)?).map_err(|_| PiiError::Corrupt)?;
            *self.file.write().await = (reread, on_disk);
        }
        Ok(self.file.read().await)
    }

    fn data_key_path(&self, subject: Uuid) -> PathBuf {
        self.data_keys.join(subject.to_string())
    }

    /// Wraps `data_key` for `subject` by the current key-encryption key and stores it.
    async fn store(&self, subject: Uuid, data_key: &DataKey) -> Result<u32, PiiError> {
        let (version, wrapped) = {
            let guard = self.current().await?;
            let versions = &guard.0.key_encryption;
            let kek = versions.get(versions.current)?;
            let sealed = seal::encrypt(&kek, &wrap_aad(subject), data_key.bytes());
            (
                versions.current,
                format!("pola:v{}:{}", versions.current, STANDARD.encode(sealed)),
            )
        };
        let path = self.data_key_path(subject);
        tokio::task::spawn_blocking(move || write_private(&path, wrapped.as_bytes()))
            .await
            .map_err(|e| PiiError::Io(std::io::Error::other(e)))??;
        Ok(version)
    }

    /// Changes `keyring.json` with `change`, under the write lock, and writes it back.
    async fn update<T>(&self, change: impl FnOnce(&mut File) -> T) -> Result<T, PiiError> {
        drop(self.current().await?);
        let mut guard = self.file.write().await;
        let out = change(&mut guard.0);
        write_private(
            &self.file_path,
            &serde_json::to_vec_pretty(&guard.0).map_err(|_| PiiError::Corrupt)?,
        )?;
        guard.1 = modified(&self.file_path);
        Ok(out)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), PiiError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), PiiError> {
    Ok(std::fs::create_dir_all(dir)?)
}

/// Writes `bytes` to `path` whole (temporary file, sync, rename, sync the folder), mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PiiError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension(format!("tmp-{}", Uuid::now_v7().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut out = options.open(&temporary)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[async_trait]
impl KeyService for LocalKeyring {
    async fn create_data_key(&self, subject: Uuid) -> Result<(DataKey, u32), PiiError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::fill(&mut bytes[..]);
        let data_key = DataKey(bytes);
        let version = self.store(subject, &data_key).await?;
        Ok((data_key, version))
    }

    async fn data_key(&self, subject: Uuid) -> Result<DataKey, PiiError> {
        let wrapped = match tokio::fs::read_to_string(self.data_key_path(subject)).await {
            Ok(wrapped) => wrapped,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PiiError::Erased),
            Err(e) => return Err(e.into()),
        };
        let version = wrapped_version(&wrapped).ok_or(PiiError::Corrupt)?;
        let encoded = wrapped.splitn(3, ':').nth(2).ok_or(PiiError::Corrupt)?;
        let sealed = STANDARD.decode(encoded).map_err(|_| PiiError::Corrupt)?;
        let kek = self.current().await?.0.key_encryption.get(version)?;
        DataKey::from_slice(&Zeroizing::new(seal::decrypt(&kek, &wrap_aad(subject), &sealed)?))
    }

    async fn rewrap(&self, subject: Uuid) -> Result<u32, PiiError> {
        let data_key = self.data_key(subject).await?;
        self.store(subject, &data_key).await
    }

    async fn destroy(&self, subject: Uuid) -> Result<(), PiiError> {
        match tokio::fs::remove_file(self.data_key_path(subject)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(std::fs::File::open(&self.data_keys)?.sync_all()?),
        }
    }

    async fn current_version(&self) -> Result<u32, PiiError> {
        Ok(self.current().await?.0.key_encryption.current)
    }

    async fn rotate(&self) -> Result<u32, PiiError> {
        self.update(|file| file.key_encryption.add()).await
    }

    async fn blind_index_keys(&self) -> Result<BlindKeys, PiiError> {
        let guard = self.current().await?;
        let versions = &guard.0.blind_index;
        let keys = versions
            .keys
            .keys()
            .map(|&v| Ok((v, BlindKey(versions.get(v)?))))
            .collect::<Result<_, PiiError>>()?;
        BlindKeys::new(keys)
    }

    async fn rotate_blind_index(&self) -> Result<u32, PiiError> {
        self.update(|file| file.blind_index.add()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{Place, open, seal};

    fn temporary() -> PathBuf {
        std::env::temp_dir().join(format!("pola-keyring-{}", Uuid::now_v7().simple()))
    }

    #[tokio::test]
    async fn a_data_key_survives_a_reload_and_a_rotation_and_rewraps_to_the_new_version() {
        let dir = temporary();
        let keyring = LocalKeyring::open(&dir).expect("created");
        let subject = Uuid::now_v7();
        let (key, version) = keyring.create_data_key(subject).await.expect("a key");
        let place = Place {
            table: "customers",
            column: "email",
            record: subject,
        };
        let sealed = seal(&key, place, "nimal@example.lk");
        assert_eq!(version, 1);

        let reloaded = LocalKeyring::open(&dir).expect("read back");
        assert_eq!(reloaded.rotate().await.expect("rotated"), 2);
        assert_eq!(reloaded.current_version().await.expect("a version"), 2);
        let unwrapped = reloaded.data_key(subject).await.expect("old versions still unwrap");
        assert_eq!(open(&unwrapped, place, &sealed).expect("opens"), "nimal@example.lk");
        assert_eq!(reloaded.rewrap(subject).await.expect("rewrapped"), 2);
        let stored = std::fs::read_to_string(dir.join("data-keys").join(subject.to_string())).expect("stored");
        assert!(stored.starts_with("pola:v2:"), "{stored}");
        let again = reloaded.data_key(subject).await.expect("unwraps");
        assert_eq!(open(&again, place, &sealed).expect("opens"), "nimal@example.lk");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| std::fs::metadata(path).expect("exists").permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join("keyring.json")), 0o600);
            assert_eq!(mode(&dir.join("data-keys")), 0o700);
            assert_eq!(mode(&dir.join("data-keys").join(subject.to_string())), 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_destroyed_data_key_is_gone_for_good_and_others_stay() {
        let dir = temporary();
        let keyring = LocalKeyring::open(&dir).expect("created");
        let (gone, kept) = (Uuid::now_v7(), Uuid::now_v7());
        keyring.create_data_key(gone).await.expect("a key");
        keyring.create_data_key(kept).await.expect("a key");
        keyring.destroy(gone).await.expect("destroyed");
        keyring.destroy(gone).await.expect("destroying twice is fine");
        assert!(matches!(keyring.data_key(gone).await, Err(PiiError::Erased)));
        keyring.data_key(kept).await.expect("the other key stays");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_rotation_by_another_process_is_seen() {
        let dir = temporary();
        let server = LocalKeyring::open(&dir).expect("created");
        let command = LocalKeyring::open(&dir).expect("read");
        let subject = Uuid::now_v7();
        server.create_data_key(subject).await.expect("a key");
        command.rotate().await.expect("rotated");
        command.rotate_blind_index().await.expect("rotated");
        assert_eq!(command.rewrap(subject).await.expect("rewrapped"), 2);
        server.data_key(subject).await.expect("the server unwraps the new version");
        assert_eq!(server.current_version().await.expect("a version"), 2);
        assert_eq!(server.blind_index_keys().await.expect("keys").current(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_wrapped_key_moved_to_another_subject_or_keyring_does_not_unwrap() {
        let (a, b) = (temporary(), temporary());
        let mine = LocalKeyring::open(&a).expect("created");
        let theirs = LocalKeyring::open(&b).expect("created");
        let (one, two) = (Uuid::now_v7(), Uuid::now_v7());
        theirs.create_data_key(one).await.expect("a key");
        mine.create_data_key(one).await.expect("a key");
        let copy = |from: &Path, subject: Uuid, to: &Path, as_subject: Uuid| {
            std::fs::copy(
                from.join("data-keys").join(subject.to_string()),
                to.join("data-keys").join(as_subject.to_string()),
            )
            .expect("copied");
        };
        copy(&a, one, &a, two);
        assert!(matches!(mine.data_key(two).await, Err(PiiError::Corrupt)), "another subject");
        copy(&b, one, &a, one);
        assert!(matches!(mine.data_key(one).await, Err(PiiError::Corrupt)), "another keyring");
        for dir in [a, b] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
