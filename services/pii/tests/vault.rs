//! The Vault backend through `vaultrs`, against the stand-in Vault server.

use std::time::Duration;

use pola_core::config::VaultConfig;
use pola_pii::{
    KeyService, PiiError,
    cache::CachedKeys,
    seal::{Place, open, seal},
    testing::{FakeVault, ROLE_ID, SECRET_ID},
    vault::VaultKeys,
};
use uuid::Uuid;

fn config(vault: &FakeVault) -> VaultConfig {
    VaultConfig {
        addr: vault.url(),
        role_id: ROLE_ID.into(),
        secret_id: SECRET_ID.into(),
        timeout_ms: 1000,
        ..VaultConfig::default()
    }
}

fn place(subject: Uuid) -> Place<'static> {
    Place {
        table: "customers",
        column: "email",
        record: subject,
    }
}

#[tokio::test]
async fn data_keys_are_made_kept_rewrapped_and_shredded_in_vault() {
    let vault = FakeVault::start();
    let keys = VaultKeys::new(&config(&vault)).expect("a client");
    let subject = Uuid::now_v7();
    let (key, version) = keys.create_data_key(subject).await.expect("a data key");
    assert_eq!(version, 1);
    let sealed = seal(&key, place(subject), "kamala@gmail.com");
    let stored = vault.kv(&format!("pola/data-keys/{subject}")).expect("stored in KV");
    assert!(
        stored["wrapped"].as_str().expect("a string").starts_with("vault:v1:"),
        "{stored}"
    );

    assert_eq!(keys.rotate().await.expect("rotated"), 2);
    assert_eq!(keys.current_version().await.expect("a version"), 2);
    let opened = keys.data_key(subject).await.expect("v1 still unwraps");
    assert_eq!(open(&opened, place(subject), &sealed).expect("opens"), "kamala@gmail.com");
    assert_eq!(keys.rewrap(subject).await.expect("rewrapped"), 2);
    let versions = vault.kv_versions(&format!("pola/data-keys/{subject}"));
    assert_eq!(versions.len(), 1, "the old wrapped version is destroyed: {versions:?}");
    assert!(versions[0]["wrapped"].as_str().expect("a string").starts_with("vault:v2:"));
    let opened = keys.data_key(subject).await.expect("v2 unwraps");
    assert_eq!(open(&opened, place(subject), &sealed).expect("opens"), "kamala@gmail.com");

    let blind = keys.blind_index_keys().await.expect("blind keys");
    assert_eq!(blind.current(), 1);
    assert_eq!(keys.rotate_blind_index().await.expect("rotated"), 2);
    let rotated = keys.blind_index_keys().await.expect("blind keys");
    assert_eq!(
        rotated.candidates("email", "kamala@gmail.com")[1],
        blind.index("email", "kamala@gmail.com")
    );

    keys.destroy(subject).await.expect("destroyed");
    keys.destroy(subject).await.expect("destroying twice is fine");
    assert!(matches!(keys.data_key(subject).await, Err(PiiError::Erased)));
    assert!(vault.kv_versions(&format!("pola/data-keys/{subject}")).is_empty());
}

#[tokio::test]
async fn a_revoked_token_signs_in_again_and_bad_credentials_are_unavailable() {
    let vault = FakeVault::start();
    let keys = VaultKeys::new(&config(&vault)).expect("a client");
    let subject = Uuid::now_v7();
    keys.create_data_key(subject).await.expect("a data key");
    assert_eq!(vault.calls("login"), 1);
    vault.revoke_tokens();
    keys.data_key(subject).await.expect("signs in again and reads");
    assert_eq!(vault.calls("login"), 2);

    let wrong = VaultKeys::new(&VaultConfig {
        secret_id: "wrong".into(),
        ..config(&vault)
    })
    .expect("a client");
    assert!(matches!(wrong.data_key(subject).await, Err(PiiError::Unavailable(_))));
}

#[tokio::test]
async fn while_vault_is_away_cached_keys_open_until_they_expire_and_new_keys_fail() {
    let mut vault = FakeVault::start();
    let inner = std::sync::Arc::new(VaultKeys::new(&config(&vault)).expect("a client"));
    let keys = CachedKeys::new(inner, Duration::from_millis(800), 100);
    let (known, unknown) = (Uuid::now_v7(), Uuid::now_v7());
    keys.create_data_key(known).await.expect("a data key");
    keys.blind_index_keys().await.expect("blind keys");
    let before = vault.calls("kv-read");

    vault.stop();
    keys.data_key(known).await.expect("cached");
    keys.blind_index_keys().await.expect("cached");
    assert_eq!(vault.calls("kv-read"), before, "served from memory");
    assert!(matches!(keys.create_data_key(unknown).await, Err(PiiError::Unavailable(_))));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(matches!(keys.data_key(known).await, Err(PiiError::Unavailable(_))), "expired");

    vault.restart();
    keys.data_key(known).await.expect("back");
    assert!(
        matches!(keys.data_key(unknown).await, Err(PiiError::Erased)),
        "nothing was stored for the failed one"
    );
}
