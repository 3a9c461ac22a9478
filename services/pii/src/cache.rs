//! Unwrapped keys kept in memory for a short time: a customer's second request does not call
//! the key service again, and while the key service is unreachable what is cached still opens
//! until it expires. Keys are zeroed when they leave the cache.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use uuid::Uuid;

use crate::{BlindKeys, DataKey, KeyService, PiiError};

/// A [`KeyService`] that remembers what it unwrapped for `ttl`.
pub struct CachedKeys {
    inner: Arc<dyn KeyService>,
    ttl: Duration,
    max_keys: usize,
    data_keys: Mutex<HashMap<Uuid, (DataKey, Instant)>>,
    blind: Mutex<Option<(BlindKeys, Instant)>>,
    /// When a look-up that found nothing last made the blind-index keys be asked for again.
    blind_refreshed: Mutex<Option<Instant>>,
}

impl CachedKeys {
    pub fn new(inner: Arc<dyn KeyService>, ttl: Duration, max_keys: usize) -> Self {
        Self {
            inner,
            ttl,
            max_keys,
            data_keys: Mutex::new(HashMap::new()),
            blind: Mutex::new(None),
            blind_refreshed: Mutex::new(None),
        }
    }

    fn remember(&self, subject: Uuid, key: &DataKey) {
        let now = Instant::now();
        let mut keys = self.data_keys.lock().expect("the key cache lock is never poisoned");
        if keys.len() >= self.max_keys {
            keys.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
            if keys.len() >= self.max_keys {
                keys.clear();
            }
        }
        keys.insert(subject, (key.clone(), now));
    }

    fn cached(&self, subject: Uuid) -> Option<DataKey> {
        let mut keys = self.data_keys.lock().expect("the key cache lock is never poisoned");
        match keys.get(&subject) {
            Some((key, at)) if at.elapsed() < self.ttl => Some(key.clone()),
            Some(_) => {
                keys.remove(&subject);
                None
            }
            None => None,
        }
    }

    fn forget_blind_keys(&self) {
        *self.blind.lock().expect("the key cache lock is never poisoned") = None;
    }
}

#[async_trait]
impl KeyService for CachedKeys {
    async fn create_data_key(&self, subject: Uuid) -> Result<(DataKey, u32), PiiError> {
        let (key, version) = self.inner.create_data_key(subject).await?;
        self.remember(subject, &key);
        Ok((key, version))
    }

    async fn data_key(&self, subject: Uuid) -> Result<DataKey, PiiError> {
        if let Some(key) = self.cached(subject) {
            return Ok(key);
        }
        let key = self.inner.data_key(subject).await?;
        self.remember(subject, &key);
        Ok(key)
    }

    async fn rewrap(&self, subject: Uuid) -> Result<u32, PiiError> {
        self.inner.rewrap(subject).await
    }

    async fn destroy(&self, subject: Uuid) -> Result<(), PiiError> {
        self.data_keys
            .lock()
            .expect("the key cache lock is never poisoned")
            .remove(&subject);
        self.inner.destroy(subject).await
    }

    async fn current_version(&self) -> Result<u32, PiiError> {
        self.inner.current_version().await
    }

    async fn rotate(&self) -> Result<u32, PiiError> {
        self.inner.rotate().await
    }

    async fn blind_index_keys(&self) -> Result<BlindKeys, PiiError> {
        if let Some((keys, at)) = &*self.blind.lock().expect("the key cache lock is never poisoned")
            && at.elapsed() < self.ttl
        {
            return Ok(keys.clone());
        }
        let keys = self.inner.blind_index_keys().await?;
        *self.blind.lock().expect("the key cache lock is never poisoned") = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }

    async fn refresh_blind_index_keys(&self) -> Result<BlindKeys, PiiError> {
        let refresh = {
            let mut refreshed = self.blind_refreshed.lock().expect("the key cache lock is never poisoned");
            let due = !refreshed.is_some_and(|at| at.elapsed() < BLIND_REFRESH_MIN);
            if due {
                *refreshed = Some(Instant::now());
            }
            due
        };
        if refresh {
            self.forget_blind_keys();
        }
        self.blind_index_keys().await
    }

    async fn rotate_blind_index(&self) -> Result<u32, PiiError> {
        let version = self.inner.rotate_blind_index().await?;
        self.forget_blind_keys();
        Ok(version)
    }
}

/// Look-ups that find nothing ask the key service again at most this often: a rotation by
/// another process is seen within seconds, and a flood of failed sign-ins does not reach Vault.
const BLIND_REFRESH_MIN: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::LocalKeyring;

    #[tokio::test]
    async fn a_cached_key_outlives_its_file_until_it_expires_but_not_its_destruction() {
        let dir = std::env::temp_dir().join(format!("pola-cache-{}", Uuid::now_v7().simple()));
        let keyring = Arc::new(LocalKeyring::open(&dir).expect("created"));
        let cache = CachedKeys::new(keyring.clone(), Duration::from_millis(200), 10);
        let (kept, shredded) = (Uuid::now_v7(), Uuid::now_v7());
        cache.create_data_key(kept).await.expect("a key");
        cache.create_data_key(shredded).await.expect("a key");

        // Gone from the keyring behind the cache's back (as if another process erased it).
        keyring.destroy(kept).await.expect("destroyed");
        cache.data_key(kept).await.expect("still cached");
        // Destroyed through the cache: gone at once.
        cache.destroy(shredded).await.expect("destroyed");
        assert!(matches!(cache.data_key(shredded).await, Err(PiiError::Erased)));

        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(matches!(cache.data_key(kept).await, Err(PiiError::Erased)), "expired");
        let _ = std::fs::remove_dir_all(dir);
    }
}
#[cfg(test)]
mod refresh {
    use super::*;
    use crate::keyring::LocalKeyring;

    #[tokio::test]
    async fn a_rotation_by_another_process_is_seen_on_refresh() {
        let dir = std::env::temp_dir().join(format!("pola-cache-{}", Uuid::now_v7().simple()));
        let server = CachedKeys::new(
            Arc::new(LocalKeyring::open(&dir).expect("created")),
            Duration::from_secs(300),
            10,
        );
        let command = LocalKeyring::open(&dir).expect("opened");
        assert_eq!(server.blind_index_keys().await.expect("keys").current(), 1);
        command.rotate_blind_index().await.expect("rotated");
        assert_eq!(server.blind_index_keys().await.expect("keys").current(), 1, "cached");
        assert_eq!(server.refresh_blind_index_keys().await.expect("keys").current(), 2);
        command.rotate_blind_index().await.expect("rotated");
        assert_eq!(
            server.refresh_blind_index_keys().await.expect("keys").current(),
            2,
            "at most one refresh a second"
        );
        tokio::time::sleep(BLIND_REFRESH_MIN).await;
        assert_eq!(server.refresh_blind_index_keys().await.expect("keys").current(), 3);
        let _ = std::fs::remove_dir_all(dir);
    }
}
