//! Identity's HTTP handlers.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use pola_core::{
    Error,
    auth::{Customer, Jwks, Realm},
    error::Problem,
    extract::Json,
};

use crate::{
    Identity,
    model::{CustomerProfile, Grant, LogoutRequest, RegisterRequest, TokenRequest, TokenResponse},
    store,
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
        Grant::Password { username, password } => identity.login(realm, &username, password).await?,
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
#[utoipa::path(post, path = "/api/v1/identity/staff/token", tag = "identity",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "invalid_grant, invalid_request or unsupported_grant_type", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_token(State(identity): AppState, Json(request): Json<TokenRequest>) -> Result<Json<TokenResponse>, Error> {
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

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(get, path = "/api/v1/identity/jwks.json", tag = "identity",
    responses((status = 200, description = "Key set", body = Jwks)))]
pub async fn jwks(State(identity): AppState) -> Json<Jwks> {
    Json(identity.keys.jwks())
}
