//! Identity's HTTP handlers.

pub mod staff;

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use pola_core::{
    Error,
    auth::{Customer, Jwks, Realm, Staff, StaffEntrance},
    error::Problem,
    extract::{Json, Path, Query},
};
use uuid::Uuid;

use crate::{
    Identity,
    model::{
        CustomerExport, CustomerProfile, CustomerSearch, Email, EraseRequest, Grant, LogoutRequest, Nic, PasswordResetConfirm,
        PasswordResetRequest, Preferences, RegisterRequest, RevealRequest, Revealed, TokenRequest, TokenResponse,
    },
    store::{self, Lookup},
};

type AppState = State<Arc<Identity>>;

/// Register a customer account.
#[utoipa::path(post, path = "/api/v1/identity/register", tag = "identity",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = CustomerProfile),
        (status = 409, description = "The email is already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(identity): AppState,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<CustomerProfile>), Error> {
    let new = request.validate().map_err(Error::Validation)?;
    Ok((StatusCode::CREATED, Json(identity.register(new).await?)))
}

async fn grant(identity: &Identity, realm: Realm, request: TokenRequest) -> Result<Json<TokenResponse>, Error> {
    let grant = request.grant().map_err(|(error, description)| Error::OAuth {
        status: StatusCode::BAD_REQUEST,
        error,
        description: description.into(),
    })?;
    let response = match grant {
        Grant::Password {
            username,
            password,
            code,
        } => identity.login(realm, &username, password, code.as_deref()).await?,
        Grant::RefreshToken(token) => identity.refresh(realm, &token).await?,
    };
    Ok(Json(response))
}

/// Sign a customer in (`grant_type=password`) or refresh their tokens (`grant_type=refresh_token`).
///
/// Errors follow RFC 6749 §5.2: the problem document carries `error` (`invalid_grant`,
/// `invalid_request`, `unsupported_grant_type`) and `error_description`.
#[utoipa::path(post, path = "/api/v1/identity/token", tag = "identity",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "invalid_grant, invalid_request or unsupported_grant_type", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn token(State(identity): AppState, Json(request): Json<TokenRequest>) -> Result<Json<TokenResponse>, Error> {
    grant(&identity, Realm::Customer, request).await
}

/// Sign a staff member in, or refresh their tokens. Same shape as the customer token endpoint.
#[utoipa::path(post, path = "/api/v1/identity/staff/token", tags = ["identity", "staff"],
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "invalid_grant, invalid_request or unsupported_grant_type", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_token(
    _: StaffEntrance,
    State(identity): AppState,
    Json(request): Json<TokenRequest>,
) -> Result<Json<TokenResponse>, Error> {
    grant(&identity, Realm::Staff, request).await
}

/// Sign out: revokes the refresh token and every token refreshed from the same sign-in. The
/// access token stays valid until it expires (minutes); drop it.
#[utoipa::path(post, path = "/api/v1/identity/logout", tag = "identity",
    request_body = LogoutRequest,
    responses((status = 204, description = "Signed out (also when the token was unknown)")))]
pub async fn logout(State(identity): AppState, Json(request): Json<LogoutRequest>) -> Result<StatusCode, Error> {
    let hash = crate::hash_token(&request.refresh_token);
    if store::revoke_family_of(&identity.pool, &hash).await? {
        tracing::info!("refresh token family revoked on logout");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in customer's profile.
#[utoipa::path(get, path = "/api/v1/identity/me", tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Profile", body = CustomerProfile),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(State(identity): AppState, customer: Customer) -> Result<Json<CustomerProfile>, Error> {
    Ok(Json(identity.profile(customer.id).await?))
}

/// Ask for a password reset: a link by email, or a six-digit code by SMS, valid 15 minutes.
/// The answer is the same whether or not the account exists.
#[utoipa::path(post, path = "/api/v1/identity/password-reset", tag = "identity",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the account exists, a link or code is on its way"),
        (status = 422, description = "Not a valid request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_password_reset(
    State(identity): AppState,
    Json(request): Json<PasswordResetRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), Error> {
    identity.request_password_reset(request).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"status": "If the account exists, a link or code is on its way."})),
    ))
}

/// Set a new password with a reset link's token, or with the account's email or phone and the
/// SMS code. Every session of the account is signed out.
#[utoipa::path(post, path = "/api/v1/identity/password-reset/confirm", tag = "identity",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "The new password is set"),
        (status = 422, description = "Wrong, used or expired link or code, or a weak password", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_password_reset(
    State(identity): AppState,
    Json(confirm): Json<PasswordResetConfirm>,
) -> Result<StatusCode, Error> {
    identity.confirm_password_reset(confirm).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How the signed-in customer wants to hear from the shop: language, email, SMS.
#[utoipa::path(get, path = "/api/v1/identity/me/preferences", tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Preferences", body = Preferences),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn preferences(State(identity): AppState, customer: Customer) -> Result<Json<Preferences>, Error> {
    Ok(Json(identity.preferences(customer.id).await?))
}

/// Change how the signed-in customer hears from the shop.
#[utoipa::path(put, path = "/api/v1/identity/me/preferences", tag = "identity",
    security(("bearer" = [])),
    request_body = Preferences,
    responses(
        (status = 200, description = "Saved", body = Preferences),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a language the shop writes in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_preferences(
    State(identity): AppState,
    customer: Customer,
    Json(preferences): Json<Preferences>,
) -> Result<Json<Preferences>, Error> {
    Ok(Json(identity.set_preferences(customer.id, preferences).await?))
}

/// Download everything Pola holds about the signed-in customer, as JSON (PDPA right of access).
#[utoipa::path(get, path = "/api/v1/identity/me/export", tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The customer's data", body = CustomerExport),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The account was erased", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The key service cannot be reached", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(State(identity): AppState, customer: Customer) -> Result<Json<CustomerExport>, Error> {
    Ok(Json(identity.export(customer.id).await?))
}

/// Erase the signed-in customer's account and personal data (PDPA right to erasure). Needs the
/// password again. The customer's data key is destroyed, so their data cannot be read from any
/// copy or backup; orders keep their amounts and items for accounting. The email can register
/// again.
#[utoipa::path(post, path = "/api/v1/identity/me/erase", tag = "identity",
    security(("bearer" = [])),
    request_body = EraseRequest,
    responses(
        (status = 204, description = "Erased"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Already erased", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The key service cannot be reached; nothing was erased", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn erase(
    State(identity): AppState,
    customer: Customer,
    Json(request): Json<EraseRequest>,
) -> Result<StatusCode, Error> {
    identity.erase(customer.id, request.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Find customers by email, phone or NIC (staff with `support`, `fulfilment`, `finance` or
/// `admin`); personal data comes back masked.
#[utoipa::path(get, path = "/api/v1/identity/staff/customers", tags = ["identity", "staff"],
    security(("staff" = [])),
    params(CustomerSearch),
    responses(
        (status = 200, description = "Matches, masked", body = [CustomerProfile]),
        (status = 403, description = "Needs the support role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not exactly one valid look-up", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn search_customers(
    State(identity): AppState,
    staff: Staff,
    Query(search): Query<CustomerSearch>,
) -> Result<Json<Vec<CustomerProfile>>, Error> {
    let field = |name: &str, message: &str| Error::field(name, message);
    let (lookup, value) = match (search.email, search.phone, search.nic) {
        (Some(email), None, None) => (
            Lookup::Email,
            Email::parse(&email).map_err(|m| field("email", m))?.as_str().to_owned(),
        ),
        (None, Some(phone), None) => (
            Lookup::Phone,
            // Any Sri Lankan spelling: the same E.164 the customer's number was indexed as.
            pola_pii::normalize::phone(&phone).ok_or_else(|| field("phone", "must be a phone number"))?,
        ),
        (None, None, Some(nic)) => (
            Lookup::Nic,
            Nic::parse(&nic).map_err(|m| field("nic", m))?.as_str().to_owned(),
        ),
        _ => return Err(Error::field("email", "give exactly one of email, phone or nic")),
    };
    Ok(Json(identity.search(&staff, lookup, &value).await?))
}

/// One customer, masked (staff with `support`, `fulfilment`, `finance` or `admin`).
#[utoipa::path(get, path = "/api/v1/identity/staff/customers/{id}", tags = ["identity", "staff"],
    security(("staff" = [])),
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer, masked", body = CustomerProfile),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Erased", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_customer(
    State(identity): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<CustomerProfile>, Error> {
    Ok(Json(identity.staff_profile(&staff, id).await?))
}

/// Reveal one field of a customer's personal data (staff with `support` or `admin`), giving a
/// reason. Every reveal is written to an append-only audit trail with the request id.
#[utoipa::path(post, path = "/api/v1/identity/staff/customers/{id}/reveal", tags = ["identity", "staff"],
    security(("staff" = [])),
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = RevealRequest,
    responses(
        (status = 200, description = "The field in clear", body = Revealed),
        (status = 403, description = "Needs the support role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason given", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reveal(
    State(identity): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<RevealRequest>,
) -> Result<Json<Revealed>, Error> {
    Ok(Json(identity.reveal(&staff, id, request.field, &request.reason).await?))
}

/// The audit trail of reveals of one customer's data (staff with `admin`).
#[utoipa::path(get, path = "/api/v1/identity/staff/customers/{id}/reveals", tags = ["identity", "staff"],
    security(("staff" = [])),
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "Reveals, oldest first", body = [store::Reveal]),
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reveals(State(identity): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<Vec<store::Reveal>>, Error> {
    Ok(Json(identity.reveals(&staff, id).await?))
}

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(get, path = "/api/v1/identity/jwks.json", tag = "identity",
    responses((status = 200, description = "Key set", body = Jwks)))]
pub async fn jwks(State(identity): AppState) -> Json<Jwks> {
    Json(identity.keys.jwks())
}

/// Internal API: what other Pola processes call through `client::HttpIdentity`. Not in the
/// public OpenAPI document; admitted only with the service token.
pub mod internal {
    use std::sync::Arc;

    use axum::extract::State;
    use pola_core::{Error, client::InternalCall, extract::Json};

    use crate::{
        Identity,
        client::{ContactQuery, ResetQuery},
        model::Contact,
        reset::ResetSecret,
    };

    /// A customer's contact, for a payment gateway's checkout and the notification worker.
    pub async fn contact(
        State(identity): State<Arc<Identity>>,
        _: InternalCall,
        Json(query): Json<ContactQuery>,
    ) -> Result<Json<Option<Contact>>, Error> {
        Ok(Json(identity.contact(query.customer).await?))
    }

    /// The secret of a password reset still pending, for the notification worker to send.
    pub async fn reset_secret(
        State(identity): State<Arc<Identity>>,
        _: InternalCall,
        Json(query): Json<ResetQuery>,
    ) -> Result<Json<Option<ResetSecret>>, Error> {
        Ok(Json(identity.reset_secret(query.customer, query.reset).await?))
    }
}
