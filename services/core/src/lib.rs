//! Pola's shared foundation: configuration, databases, errors, authentication, money, paging,
//! telemetry and the HTTP plumbing every service uses.

pub mod audit;
pub mod auth;
pub mod client;
pub mod clock;
pub mod config;
pub mod db;
pub mod districts;
pub mod error;
pub mod events;
pub mod extract;
pub mod http;
pub mod language;
pub mod money;
pub mod pagination;
pub mod password;
pub mod personal;
pub mod redact;
pub mod site;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token;

pub use error::{Error, FieldError, Result};
pub use language::Language;
pub use money::{Currency, Money};

/// A new time-ordered public id (UUIDv7): sorts by creation time, so keyset paging by id is
/// paging by age.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Installs ring as the process's TLS crypto provider (for the HTTP clients' rustls), once;
/// a provider installed earlier stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An enum stored (and sent) as text: `as_str`, `parse`, and reading it back from a row, where
/// an unknown value is an error.
#[macro_export]
macro_rules! stored_as_text {
    ($t:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = String;

            fn try_from(s: String) -> Result<Self, String> {
                <$t>::parse(&s).ok_or_else(|| format!("unknown {} `{s}`", stringify!($t)))
            }
        }
    };
}
