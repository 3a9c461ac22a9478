//! Argon2id password hashing, off the async runtime and bounded: a hash takes tens of
//! milliseconds of a core and `argon2_memory_kib` (19 MiB) of memory, so hashes run on at most
//! `hashing_slots` threads at once, a short queue absorbs a burst, and beyond it a request is
//! shed with 503 at once. Unbounded, 500 wrong-password sign-ins at once held 500 × 19 MiB on
//! 500 blocking threads, and the memory stayed with the allocator afterwards.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::{Error, config::AuthConfig};

/// Hashes and verifies passwords with the configured cost, a few at a time.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
    /// A hash of nothing anyone knows, with the configured cost, for `verify_dummy`.
    dummy: Arc<str>,
    gate: Arc<Gate>,
}

/// How many hashes run and wait.
#[derive(Debug)]
struct Gate {
    slots: Semaphore,
    /// Requests waiting for a slot now.
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
}

impl Gate {
    fn new(config: &AuthConfig) -> Self {
        let slots = match config.hashing_slots {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        Self {
            slots: Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            queue: config.hashing_queue,
            wait: Duration::from_millis(config.hashing_wait_ms),
        }
    }

    /// Runs `work` on the blocking pool once a slot is free; `Busy` when the queue is full or
    /// the wait runs out.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let permit = if waiting >= self.queue {
            None
        } else {
            tokio::time::timeout(self.wait, self.slots.acquire())
                .await
                .ok()
                .and_then(Result::ok)
        };
        let now_waiting = self.waiting.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("password_hashing_waiting").set(now_waiting as f64);
        let Some(_permit) = permit else {
            metrics::counter!("password_hashing_shed_total").increment(1);
            return Err(Error::Busy("Too many sign-ins at once; try again in a moment.".into()));
        };
        tokio::task::spawn_blocking(work).await.map_err(|e| Error::Internal(e.into()))
    }
}

impl PasswordHashing {
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let mut this = Self {
            params,
            dummy: "".into(),
            gate: Arc::new(Gate::new(config)),
        };
        let dummy = this
            .argon2()
            .hash_password(crate::new_id().as_bytes())
            .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
        this.dummy = dummy.to_string().into();
        Ok(this)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        let this = self.clone();
        self.gate
            .run(move || {
                this.argon2()
                    .hash_password(password.as_bytes())
                    .map(|h| h.to_string())
                    .map_err(|e| Error::Internal(anyhow::anyhow!("hashing a password: {e}")))
            })
            .await?
    }

    /// Whether `password` matches `phc`. The parameters come from the stored hash, so hashes made
    /// with an older cost still verify.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, Error> {
        let this = self.clone();
        self.gate
            .run(move || {
                let hash = PasswordHash::new(&phc).map_err(|e| Error::Internal(anyhow::anyhow!("stored hash: {e}")))?;
                Ok(this.argon2().verify_password(password.as_bytes(), &hash).is_ok())
            })
            .await?
    }

    /// Burns the time of one verification, so that an unknown user takes as long as a known
    /// one; under a flood it is shed like any other (or an unknown user would answer faster).
    pub async fn verify_dummy(&self, password: String) -> Result<(), Error> {
        // The result is meaningless by design; only the time spent matters.
        self.verify(password, self.dummy.to_string()).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        let hashing = PasswordHashing::new(&config).expect("params");
        let hash = hashing.hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(hashing.verify("correct horse".into(), hash.clone()).await.expect("verify"));
        assert!(!hashing.verify("wrong horse".into(), hash).await.expect("verify"));
    }

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_hashing_is_refused_at_once_as_busy() {
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            hashing_slots: 1,
            hashing_queue: 2,
            hashing_wait_ms: 60_000,
            ..AuthConfig::default()
        };
        let hashing = PasswordHashing::new(&config).expect("params");
        // Hold the only slot, and fill the queue with two waiters.
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let gate = hashing.gate.clone();
            tokio::spawn(async move { gate.run(move || held.blocking_recv()).await })
        };
        while hashing.gate.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let hashing = hashing.clone();
                tokio::spawn(async move { hashing.hash("in the queue".into()).await })
            })
            .collect();
        while hashing.gate.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let shed = hashing.verify_dummy("one too many".into()).await;
        assert!(matches!(shed, Err(Error::Busy(_))), "{shed:?}");
        release.send(()).expect("the holder waits");
        holder.await.expect("joined").expect("ran").expect("released");
        for waiter in waiters {
            assert!(waiter.await.expect("joined").expect("hashed").starts_with("$argon2id$"));
        }
    }
}
