//! A browser's session, kept in the browser: one cookie holding the customer's tokens and guest
//! cart token, sealed with AES-256-GCM under a key derived from the shop's signing key (so both
//! sites, and every process, read it), HttpOnly and SameSite=Lax (Lax, not Strict: a customer
//! coming back from PayHere's checkout is a top-level navigation from another site and must
//! arrive signed in). Nothing server-side to replicate or lose when the sites switch.
//!
//! Forms carry a CSRF token: an HMAC of the session's random id, so a page from another site can
//! neither read nor forge it, and it changes when the session does (sign-in, sign-out).

use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pola_session";
/// The language cookie's name (not secret, but HttpOnly all the same).
pub const LANGUAGE_COOKIE: &str = "pola_lang";

/// Associated data of every sealed session: a session opens only as a session.
const AAD: &[u8] = b"pola storefront session v1";

/// Tags of the cookie's sealed session and of the CSRF tokens (see `pola_core::token`).
const COOKIE_TAG: &str = "sf";
const CSRF_TAG: &str = "cs";

/// How long a browser keeps its session (and its guest cart): 30 days.
const MAX_AGE_DAYS: i64 = 30;

/// What a browser's session holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// Random, new with every sign-in and sign-out: CSRF tokens are bound to it.
    pub id: String,
    /// The customer's access token, when signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    /// The customer's refresh token, when signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
    /// A guest's cart token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<String>,
    /// A message for the next page (a string catalogue key), shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<String>,
}

impl Session {
    /// A new anonymous session.
    pub fn new() -> Self {
        Self {
            id: random_id(),
            ..Self::default()
        }
    }

    pub fn signed_in(&self) -> bool {
        self.access.is_some()
    }

    /// Starts a signed-in session with new tokens: a new id (so CSRF tokens from before no
    /// longer count), the guest cart token kept until the cart is merged.
    pub fn sign_in(&mut self, access: String, refresh: String) {
        self.id = random_id();
        self.access = Some(access);
        self.refresh = Some(refresh);
    }

    /// Forgets the customer: a new anonymous session (the cart stays with the account).
    pub fn sign_out(&mut self) {
        *self = Self::new();
    }
}

fn random_id() -> String {
    pola_core::token::random::<16>("sid")
}

/// Seals and opens sessions, and makes and checks CSRF tokens.
#[derive(Clone)]
pub struct Sessions {
    key: [u8; 32],
    secure: bool,
}

impl Sessions {
    /// `secure`: the shop is served over TLS, so cookies are `Secure`.
    pub fn new(key: [u8; 32], secure: bool) -> Self {
        Self { key, secure }
    }

    /// The session in a cookie's value; `None` when it was not sealed by this shop (or is
    /// damaged), so the browser starts afresh.
    pub fn open(&self, value: &str) -> Option<Session> {
        let sealed = pola_core::token::decode(COOKIE_TAG, value)?;
        let json = pola_pii::seal::decrypt(&self.key, AAD, &sealed).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The session as a cookie.
    pub fn cookie(&self, session: &Session) -> Cookie<'static> {
        let json = serde_json::to_vec(session).expect("a session serialises");
        let value = pola_core::token::encode(COOKIE_TAG, &pola_pii::seal::encrypt(&self.key, AAD, &json));
        self.cookie_named(SESSION_COOKIE, value)
    }

    /// The language cookie.
    pub fn language_cookie(&self, code: &str) -> Cookie<'static> {
        self.cookie_named(LANGUAGE_COOKIE, code.to_owned())
    }

    fn cookie_named(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::days(MAX_AGE_DAYS))
            .build()
    }

    /// The CSRF token of `session`'s forms.
    pub fn csrf_token(&self, session: &Session) -> String {
        pola_core::token::encode(CSRF_TAG, &self.mac(session).finalize().into_bytes())
    }

    /// Whether `token` is `session`'s CSRF token (compared in constant time).
    pub fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        pola_core::token::decode(CSRF_TAG, token).is_some_and(|bytes| self.mac(session).verify_slice(&bytes).is_ok())
    }

    fn mac(&self, session: &Session) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"csrf\0");
        mac.update(session.id.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new([7; 32], true)
    }

    #[test]
    fn a_sealed_session_opens_only_with_the_same_key() {
        let mut session = Session::new();
        session.sign_in("access".into(), "refresh".into());
        let cookie = sessions().cookie(&session);
        assert_eq!(sessions().open(cookie.value()), Some(session));
        assert_eq!(Sessions::new([8; 32], true).open(cookie.value()), None);
        assert!(cookie.http_only().unwrap_or(false));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert!(cookie.secure().unwrap_or(false));
        assert!(
            !cookie.value().contains("access"),
            "the tokens are not readable in the cookie"
        );
    }

    #[test]
    fn a_tampered_session_does_not_open() {
        let cookie = sessions().cookie(&Session::new());
        let mut value = cookie.value().to_owned();
        let last = value.pop().expect("a value");
        value.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(sessions().open(&value), None);
        assert_eq!(sessions().open("not a session"), None);
    }

    #[test]
    fn a_csrf_token_is_bound_to_its_session() {
        let sessions = sessions();
        let mut session = Session::new();
        let token = sessions.csrf_token(&session);
        assert!(sessions.csrf_ok(&session, &token));
        assert!(!sessions.csrf_ok(&Session::new(), &token), "another session's token");
        assert!(!sessions.csrf_ok(&session, ""), "no token");
        assert!(!sessions.csrf_ok(&session, "forged"), "a forged token");
        session.sign_in("a".into(), "r".into());
        assert!(!sessions.csrf_ok(&session, &token), "a token from before signing in");
    }
}
