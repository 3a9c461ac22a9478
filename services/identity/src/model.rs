//! Identity's types and rules: validated inputs, no I/O.

pub mod staff;

use chrono::{DateTime, Utc};
pub use pola_contracts::identity::{Contact, Preferences};
use pola_core::FieldError;
pub use pola_core::Language;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An email address, trimmed and lower-cased so that one mailbox is one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // The same spelling the blind index is made of.
        let email = pola_pii::normalize::email(raw).ok_or("must be an email address")?;
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address");
        };
        let valid = !local.is_empty()
            && email.len() <= 254
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !domain.contains('@');
        if valid {
            Ok(Self(email))
        } else {
            Err("must be an email address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 10 to 128 characters. Only ever hashed, never stored or logged.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        match raw.chars().count() {
            0..10 => Err("must be at least 10 characters"),
            10..=128 => Ok(Self(raw)),
            _ => Err("must be at most 128 characters"),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A person's name as they want to be addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err("must be 1 to 100 characters");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Sri Lankan mobile number in E.164 (`+947XXXXXXXX`), from any common spelling:
/// `0771234567`, `077 123 4567`, `94771234567`, `+94 77 123 4567`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match pola_pii::normalize::phone(raw) {
            Some(e164) if e164.starts_with("+947") => Ok(Self(e164)),
            _ => Err("must be a Sri Lankan mobile number, e.g. 077 123 4567"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Sri Lankan National Identity Card number in its 12-digit form, from either the old
/// (`851230456V`) or the new (`198512300456`) spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic(String);

impl Nic {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        pola_pii::normalize::nic(raw)
            .map(Self)
            .ok_or("must be a Sri Lankan NIC number: 9 digits and V or X, or 12 digits")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `POST /api/v1/identity/register`
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "nimal@example.lk", "password": "a long passphrase", "name": "Nimal Perera", "phone": "077 123 4567", "nic": "851230456V"}))]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub name: String,
    pub phone: Option<String>,
    /// National Identity Card number, old or new form (optional; lets support find you).
    pub nic: Option<String>,
    /// The language of the shop's emails and SMS: `en` (default), `si` or `ta`.
    #[serde(default)]
    pub language: Language,
}

/// A registration that passed validation.
pub struct NewCustomer {
    pub email: Email,
    pub password: Password,
    pub name: PersonName,
    pub phone: Option<Phone>,
    pub nic: Option<Nic>,
    pub language: Language,
}

impl RegisterRequest {
    pub fn validate(self) -> Result<NewCustomer, Vec<FieldError>> {
        let mut errors = vec![];
        let mut check = |field: &str, r: Result<(), &str>| {
            if let Err(m) = r {
                errors.push(FieldError::new(field, m));
            }
        };
        let email = Email::parse(&self.email);
        check("email", email.as_ref().map(|_| ()).map_err(|e| *e));
        let password = Password::parse(self.password);
        check("password", password.as_ref().map(|_| ()).map_err(|e| *e));
        let name = PersonName::parse(&self.name);
        check("name", name.as_ref().map(|_| ()).map_err(|e| *e));
        let phone = self.phone.as_deref().map(Phone::parse).transpose();
        check("phone", phone.as_ref().map(|_| ()).map_err(|e| *e));
        let nic = self.nic.as_deref().map(Nic::parse).transpose();
        check("nic", nic.as_ref().map(|_| ()).map_err(|e| *e));
        match (email, password, name, phone, nic) {
            (Ok(email), Ok(password), Ok(name), Ok(phone), Ok(nic)) if errors.is_empty() => Ok(NewCustomer {
                email,
                password,
                name,
                phone,
                nic,
                language: self.language,
            }),
            _ => Err(errors),
        }
    }
}

/// A customer's profile: in full for the customer, masked for staff (`n***@example.lk`,
/// `N*** P***`, `+94 77 *** **67`, `*********456`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "email": "nimal@example.lk", "name": "Nimal Perera", "phone": "+94771234567", "nic": "198512300456", "registered_at": "2026-11-22T05:00:00Z"}))]
pub struct CustomerProfile {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub nic: Option<String>,
    pub registered_at: DateTime<Utc>,
}

/// `POST /api/v1/identity/me/erase`: the password again, so that a stolen access token cannot
/// erase an account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EraseRequest {
    pub password: String,
}

/// `GET /api/v1/identity/me/export`: everything Pola holds about the customer (PDPA No. 9 of
/// 2022, right of access and portability).
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerExport {
    pub exported_at: DateTime<Utc>,
    pub profile: CustomerProfile,
    /// Sign-ins (refresh-token families).
    pub sessions: Vec<crate::store::Session>,
    /// When staff revealed a field of the customer's data, and why.
    pub staff_access: Vec<StaffAccess>,
    /// What other services hold (`orders`), by section.
    #[schema(value_type = Object)]
    pub services: std::collections::BTreeMap<&'static str, serde_json::Value>,
}

/// A reveal, as the customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffAccess {
    pub field: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A field of a customer's personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PiiField {
    Email,
    Name,
    Phone,
    Nic,
}

impl PiiField {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiField::Email => "email",
            PiiField::Name => "name",
            PiiField::Phone => "phone",
            PiiField::Nic => "nic",
        }
    }
}

/// `GET /api/v1/identity/staff/customers`: exactly one of the look-ups.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerSearch {
    /// Email address, any case.
    pub email: Option<String>,
    /// Phone number, any common Sri Lankan spelling.
    pub phone: Option<String>,
    /// NIC number, old or new form.
    pub nic: Option<String>,
}

/// `POST /api/v1/identity/staff/customers/{id}/reveal`
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"field": "phone", "reason": "Customer called about order 0193a6c2; calling back"}))]
pub struct RevealRequest {
    pub field: PiiField,
    /// Why (10 to 500 characters); kept in the audit trail.
    pub reason: String,
}

/// A revealed field.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revealed {
    pub field: PiiField,
    pub value: Option<String>,
}

/// `POST /api/v1/identity/token` (RFC 6749 §4.3 and §6, as JSON).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "password", "username": "nimal@example.lk", "password": "a long passphrase"}))]
pub struct TokenRequest {
    /// `password` or `refresh_token`.
    pub grant_type: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
    /// Staff only: the authenticator app's six-digit code (or a recovery code).
    #[serde(default)]
    pub code: Option<String>,
}

/// A grant the token endpoint understands.
pub enum Grant {
    Password {
        username: String,
        password: String,
        code: Option<String>,
    },
    RefreshToken(String),
}

impl TokenRequest {
    pub fn grant(self) -> Result<Grant, (&'static str, &'static str)> {
        match self.grant_type.as_str() {
            "password" => match (self.username, self.password) {
                (Some(username), Some(password)) => Ok(Grant::Password {
                    username,
                    password,
                    code: self.code,
                }),
                _ => Err(("invalid_request", "username and password are required")),
            },
            "refresh_token" => self
                .refresh_token
                .map(Grant::RefreshToken)
                .ok_or(("invalid_request", "refresh_token is required")),
            _ => Err(("unsupported_grant_type", "grant_type must be password or refresh_token")),
        }
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSJ9…", "token_type": "Bearer", "expires_in": 300, "refresh_token": "rt_9sQk…"}))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// `POST /api/v1/identity/logout`
#[derive(Debug, Deserialize, ToSchema)]
pub struct LogoutRequest {
    pub refresh_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_every_common_spelling_become_e164() {
        for spelling in [
            "0771234567",
            "077 123 4567",
            "94771234567",
            "+94 77 123 4567",
            "0094771234567",
        ] {
            assert_eq!(Phone::parse(spelling).expect(spelling).as_str(), "+94771234567", "{spelling}");
        }
        for bad in ["12345", "0112345678", "+1 555 123 4567", "07712345678"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Kamala@Example.LK ").expect("valid").as_str(),
            "kamala@example.lk"
        );
        for bad in ["", "no-at-sign", "a@b", "a b@c.lk", "@x.lk", "a@.lk"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registration_reports_every_bad_field() {
        let request = RegisterRequest {
            email: "nope".into(),
            password: "short".into(),
            name: " ".into(),
            phone: Some("123".into()),
            nic: Some("123".into()),
            language: Language::Si,
        };
        let errors = request.validate().err().expect("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "name", "phone", "nic"]);
    }
}

/// How a reset reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResetChannel {
    /// A link to the email on the account.
    Email,
    /// A six-digit code to the phone on the account.
    Sms,
}

impl ResetChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetChannel::Email => "email",
            ResetChannel::Sms => "sms",
        }
    }
}

/// `POST /api/v1/identity/password-reset`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "nimal@example.lk", "channel": "email"}))]
pub struct PasswordResetRequest {
    /// The account's email or phone number.
    pub username: String,
    pub channel: ResetChannel,
}

/// `POST /api/v1/identity/password-reset/confirm`: the link's `token`, or the `username` and the
/// SMS `code`; and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: Option<String>,
    pub username: Option<String>,
    pub code: Option<String>,
    pub password: String,
}
