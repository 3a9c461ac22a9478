//! Staff accounts, two-factor sign-in (RFC 6238 TOTP) and back-office sessions: types and rules.

use chrono::{DateTime, Utc};
use pola_core::auth::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Totp};
use utoipa::ToSchema;
use uuid::Uuid;

/// The header that carries a back-office session's opaque id to identity's session endpoints.
pub const SESSION_HEADER: &str = "x-staff-session";

/// The name authenticator apps show above the codes.
const ISSUER: &str = "Pola back-office";

/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// A TOTP secret: 160 random bits, as RFC 4226 recommends.
pub struct TotpSecret(pub [u8; 20]);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 20];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    fn totp(&self, account: &str) -> Totp {
        // SHA-1, six digits, 30-second steps, one step of clock drift either way: what every
        // authenticator app does by default.
        Builder::new()
            .with_secret(self.0)
            .with_account_name(account)
            .with_issuer(Some(ISSUER))
            .build()
            .expect("a 160-bit secret with the default parameters is valid")
    }

    /// A secret as an app is given it, in base32 (tests play the authenticator app with it).
    pub fn from_base32(base32: &str) -> Option<Self> {
        let secret = totp_rs::Secret::try_from_base32(base32).ok()?;
        <[u8; 20]>::try_from(secret.as_ref()).ok().map(Self)
    }

    /// The `otpauth://` URI the QR code carries.
    pub fn uri(&self, account: &str) -> String {
        self.totp(account)
            .to_url()
            .expect("an account name without a colon makes a URL")
    }

    /// The secret in base32, for typing into an app by hand.
    pub fn base32(&self) -> String {
        self.totp("").secret().to_base32()
    }

    /// The time step `code` belongs to, if it is right at `now` (one step of drift either way)
    /// and newer than `last_step`: a code is accepted once (RFC 6238 §5.2).
    pub fn check(&self, code: &str, now: DateTime<Utc>, last_step: Option<i64>) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let now = u64::try_from(now.timestamp()).ok()?;
        let step = i64::try_from(self.totp("").check(&code, now)?).ok()?;
        (last_step.is_none_or(|last| step > last)).then_some(step)
    }

    /// The code of the step holding `at` (tests and the harness sign in with it).
    pub fn code_at(&self, at: DateTime<Utc>) -> String {
        self.totp("").generate(u64::try_from(at.timestamp()).unwrap_or(0)).to_string()
    }
}

/// A new recovery code (`xxxxx-xxxxx`, 50 bits) and its hash.
pub fn new_recovery_code() -> (String, [u8; 32]) {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let code: String = (0..10)
        .map(|i| {
            let c = char::from(ALPHABET[usize::from(rand::random::<u8>()) % ALPHABET.len()]);
            if i == 5 { format!("-{c}") } else { c.to_string() }
        })
        .collect();
    let hash = recovery_code_hash(&code);
    (code, hash)
}

/// The hash a recovery code is stored as (spaces, dashes and case ignored).
pub fn recovery_code_hash(code: &str) -> [u8; 32] {
    let normalised: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normalised.as_bytes()).into()
}

/// A code as typed: six digits from the app, or a recovery code.
pub enum SecondFactor<'a> {
    Totp(&'a str),
    Recovery(&'a str),
}

impl<'a> SecondFactor<'a> {
    pub fn parse(code: &'a str) -> Self {
        let digits = code.chars().filter(|c| !c.is_whitespace()).count();
        if digits == 6 && code.chars().all(|c| c.is_ascii_digit() || c.is_whitespace()) {
            SecondFactor::Totp(code)
        } else {
            SecondFactor::Recovery(code)
        }
    }
}

/// A new opaque session id (what the browser's cookie holds) and its stored hash.
pub fn new_session_id() -> (String, [u8; 32]) {
    let id = pola_core::token::random::<32>("ss");
    let hash = session_hash(&id);
    (id, hash)
}

pub fn session_hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Where a back-office session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Password right, no TOTP secret yet: the session may only enrol one.
    Enrolling,
    /// Fully signed in.
    Active,
}

pola_core::stored_as_text!(SessionState {
    Enrolling => "enrolling",
    Active => "active",
});

/// `POST /api/v1/identity/staff/sessions`
#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffSignIn {
    pub email: String,
    pub password: String,
    /// The six-digit code from the authenticator app, or one of the recovery codes. Not needed
    /// by an account that has not enrolled yet (its session may only enrol).
    #[serde(default)]
    pub code: Option<String>,
}

/// A staff member as the back-office shows them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct StaffAccount {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub roles: RoleList,
    /// A TOTP secret is enrolled.
    pub enrolled: bool,
    /// Signing in is refused until then after repeated failures.
    pub locked_until: Option<DateTime<Utc>>,
    /// The account may no longer sign in.
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Roles as stored (`admin,catalog`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct RoleList(pub Vec<Role>);

impl TryFrom<String> for RoleList {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, String> {
        stored
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Role::parse(s).ok_or_else(|| format!("unknown role `{s}`")))
            .collect::<Result<_, _>>()
            .map(RoleList)
    }
}

impl RoleList {
    pub fn stored(&self) -> String {
        self.0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }
}

/// A session that started (`201`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionStarted {
    /// The opaque session id; send it back in `x-staff-session`.
    pub session: String,
    pub state: SessionState,
}

/// A live session's staff member and a fresh access token for their work.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionToken {
    pub state: SessionState,
    pub staff: StaffAccount,
    /// A staff access token (none while enrolling).
    pub access_token: Option<String>,
    pub expires_in: u64,
}

/// A TOTP secret offered for enrolment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Enrolment {
    /// For typing into an app by hand.
    pub secret: String,
    /// What the QR code carries.
    pub otpauth_uri: String,
}

/// `POST …/totp/confirm`: the first code from the app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EnrolmentCode {
    pub code: String,
}

/// Enrolment confirmed: the recovery codes, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `POST /api/v1/identity/staff/accounts` (admin).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewStaff {
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// The first password, handed over out of band.
    pub password: String,
}

/// `PATCH /api/v1/identity/staff/accounts/{id}` (admin).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StaffUpdate {
    pub roles: Option<Vec<Role>>,
    /// True to stop the account signing in (its sessions end); false to let it again.
    pub disabled: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_accepted_in_its_step_and_the_neighbours_and_only_once() {
        let secret = TotpSecret::generate();
        let now = Utc::now();
        let code = secret.code_at(now);
        let step = secret.check(&code, now, None).expect("the current code");
        assert!(secret.check(&code, now, Some(step)).is_none(), "a used code is refused");
        let late = now + chrono::Duration::seconds(30);
        assert!(secret.check(&code, late, None).is_some(), "one step of drift is allowed");
        let later = now + chrono::Duration::seconds(95);
        assert!(secret.check(&code, later, None).is_none(), "three steps later it is stale");
        assert!(secret.check("000000x", now, None).is_none());
    }

    #[test]
    fn the_uri_names_the_issuer_and_the_account() {
        let secret = TotpSecret([7; 20]);
        let uri = secret.uri("ops@pola.lk");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={}", secret.base32())), "{uri}");
        assert!(uri.contains("issuer=Pola"), "{uri}");
        assert_eq!(TotpSecret::from_base32(&secret.base32()).map(|s| s.0), Some([7; 20]));
    }

    #[test]
    fn recovery_codes_hash_the_same_however_typed() {
        let (code, hash) = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(recovery_code_hash(&code.to_uppercase().replace('-', " ")), hash);
        assert!(matches!(SecondFactor::parse("123 456"), SecondFactor::Totp(_)));
        assert!(matches!(SecondFactor::parse(&code), SecondFactor::Recovery(_)));
    }
}
