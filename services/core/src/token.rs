//! Opaque values the platform hands to clients — random tokens, MACs, sealed cookies — as
//! base64url behind a tag of letters: `cs_…`.
//!
//! The tag is not decoration. The WAF's SQL-injection check (libinjection, CRS rule 942100)
//! reads a value that begins with a digit followed by `--` as a number and an SQL comment:
//! about one bare 32-byte base64url token in 15,000 does, and the form or cookie carrying it is
//! refused with 403. Behind a tag of letters the value reads as one word. The edge's suite
//! checks tokens of this shape against the CRS.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// `bytes` as `{tag}_{base64url}`. `tag` is lowercase ASCII letters.
pub fn encode(tag: &str, bytes: &[u8]) -> String {
    debug_assert!(!tag.is_empty() && tag.bytes().all(|b| b.is_ascii_lowercase()), "tag {tag:?}");
    format!("{tag}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `N` random bytes, encoded with `tag`.
pub fn random<const N: usize>(tag: &str) -> String {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    encode(tag, &bytes)
}

/// The bytes of a value made by [`encode`] with `tag`; `None` for any other value.
pub fn decode(tag: &str, value: &str) -> Option<Vec<u8>> {
    let encoded = value.strip_prefix(tag)?.strip_prefix('_')?;
    URL_SAFE_NO_PAD.decode(encoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_decodes_only_with_its_own_tag() {
        let value = encode("cs", b"\x00\xffsecret");
        assert!(value.starts_with("cs_"), "{value}");
        assert_eq!(decode("cs", &value).as_deref(), Some(&b"\x00\xffsecret"[..]));
        assert_eq!(decode("ss", &value), None, "another tag");
        assert_eq!(decode("c", &value), None, "a shorter tag");
        assert_eq!(decode("cs", value.trim_start_matches("cs_")), None, "no tag");
        assert_eq!(decode("cs", "cs_not*base64"), None);
    }

    #[test]
    fn random_values_differ_and_carry_their_tag() {
        let (a, b) = (random::<32>("rt"), random::<32>("rt"));
        assert_ne!(a, b);
        assert_eq!(decode("rt", &a).map(|bytes| bytes.len()), Some(32));
    }
}
