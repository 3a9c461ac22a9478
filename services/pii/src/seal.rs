//! Sealing one field with a data key: AES-256-GCM, the field's place as associated data.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use uuid::Uuid;

use crate::{DataKey, PiiError};

/// The format byte in front of every sealed value.
const FORMAT: u8 = 1;

/// Where a sealed value lives; it opens only there.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub record: Uuid,
}

impl Place<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("{}|{}|{}", self.table, self.column, self.record).into_bytes()
    }
}

/// AES-256-GCM of `plaintext` under `key` with `aad`: a format byte, a random nonce, the ciphertext.
pub fn encrypt(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::fill(&mut nonce);
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encrypts any message under 64 GiB");
    let mut out = Vec::with_capacity(1 + nonce.len() + sealed.len());
    out.push(FORMAT);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens what [`encrypt`] made with the same key and `aad`.
pub fn decrypt(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, PiiError> {
    let (&format, rest) = sealed.split_first().ok_or(PiiError::Corrupt)?;
    if format != FORMAT || rest.len() < 12 + 16 {
        return Err(PiiError::Corrupt);
    }
    let (nonce, ciphertext) = rest.split_at(12);
    let nonce = Nonce::try_from(nonce).map_err(|_| PiiError::Corrupt)?;
    Aes256Gcm::new(key.into())
        .decrypt(&nonce, Payload { msg: ciphertext, aad })
        .map_err(|_| PiiError::Corrupt)
}

/// Seals `plaintext` for `place`.
pub fn seal(key: &DataKey, place: Place<'_>, plaintext: &str) -> Vec<u8> {
    encrypt(key.bytes(), &place.aad(), plaintext.as_bytes())
}

/// Opens a value sealed for `place`; fails if it was sealed for another place or key.
pub fn open(key: &DataKey, place: Place<'_>, sealed: &[u8]) -> Result<String, PiiError> {
    let bytes = decrypt(key.bytes(), &place.aad(), sealed)?;
    String::from_utf8(bytes).map_err(|_| PiiError::Corrupt)
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    fn key(byte: u8) -> DataKey {
        DataKey(Zeroizing::new([byte; 32]))
    }

    #[test]
    fn a_sealed_field_opens_only_in_its_place_with_its_key() {
        let record = Uuid::now_v7();
        let place = Place {
            table: "customers",
            column: "email",
            record,
        };
        let sealed = seal(&key(1), place, "nimal@example.lk");
        assert!(!sealed.windows(5).any(|w| w == b"nimal"), "no clear text in the sealed value");
        assert_eq!(open(&key(1), place, &sealed).expect("opens"), "nimal@example.lk");
        assert!(open(&key(2), place, &sealed).is_err(), "another key");
        assert!(
            open(
                &key(1),
                Place {
                    column: "phone",
                    ..place
                },
                &sealed
            )
            .is_err(),
            "another column"
        );
        assert!(
            open(
                &key(1),
                Place {
                    record: Uuid::now_v7(),
                    ..place
                },
                &sealed
            )
            .is_err(),
            "another row"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&key(1), place, &tampered).is_err(), "a flipped bit");
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let place = Place {
            table: "customers",
            column: "name",
            record: Uuid::now_v7(),
        };
        assert_ne!(seal(&key(1), place, "Kamala"), seal(&key(1), place, "Kamala"));
    }
}
