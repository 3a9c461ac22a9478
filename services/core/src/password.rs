//! Argon2id password hashing, off the async runtime: a hash takes tens of milliseconds of CPU.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::config::AuthConfig;

/// Hashes and verifies passwords with the configured cost.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
    /// A hash of nothing anyone knows, with the configured cost, for `verify_dummy`.
    dummy: std::sync::Arc<str>,
}

impl PasswordHashing {
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let mut this = Self {
            params,
            dummy: "".into(),
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
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            this.argon2()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await?
    }

    /// Whether `password` matches `phc`. The parameters come from the stored hash, so hashes made
    /// with an older cost still verify.
    pub async fn verify(&self, password: String, phc: String) -> anyhow::Result<bool> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let hash = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            Ok(this.argon2().verify_password(password.as_bytes(), &hash).is_ok())
        })
        .await?
    }

    /// Burns the time of one verification, so that an unknown user takes as long as a known one.
    pub async fn verify_dummy(&self, password: String) {
        // The result is meaningless by design; only the time spent matters.
        let _ = self.verify(password, self.dummy.to_string()).await;
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
}
