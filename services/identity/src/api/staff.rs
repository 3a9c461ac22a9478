//! Staff sessions (the back-office's sign-in) and staff accounts (admin).

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, State},
    http::{HeaderMap, StatusCode, request::Parts},
};
use pola_core::{
    Error,
    auth::{Staff, StaffEntrance, client_ip},
    error::Problem,
    extract::{Json, Path},
};
use uuid::Uuid;

use crate::{
    Identity,
    model::staff::{
        Enrolment, EnrolmentCode, NewStaff, RecoveryCodes, SESSION_HEADER, SessionStarted, SessionToken, StaffAccount,
        StaffSignIn, StaffUpdate,
    },
};

type AppState = State<Arc<Identity>>;

/// The session id a request carries in `x-staff-session`, through the staff listener.
pub struct SessionId(String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        StaffEntrance::from_request_parts(parts, state).await?;
        parts
            .headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(|v| SessionId(v.to_owned()))
            .ok_or_else(|| Error::Unauthorized(format!("Send the session in `{SESSION_HEADER}`.")))
    }
}

/// Sign a staff member in to the back-office: email, password and the authenticator's code. An
/// account without an authenticator yet gets a session that may only enrol one.
#[utoipa::path(post, path = "/api/v1/identity/staff/sessions", tags = ["identity", "staff"],
    request_body = StaffSignIn,
    responses(
        (status = 201, description = "Signed in", body = SessionStarted),
        (status = 401, description = "Wrong email, password or code, or the account is locked", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_session(
    _: StaffEntrance,
    State(identity): AppState,
    headers: HeaderMap,
    Json(sign_in): Json<StaffSignIn>,
) -> Result<(StatusCode, Json<SessionStarted>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(identity.start_session(sign_in, &client_ip(&headers)).await?),
    ))
}

/// The session's staff member and a fresh access token (the session counts as used).
#[utoipa::path(post, path = "/api/v1/identity/staff/sessions/current/token", tags = ["identity", "staff"],
    params(("x-staff-session" = String, Header, description = "The session id")),
    responses(
        (status = 200, description = "The session is live", body = SessionToken),
        (status = 401, description = "The session ended, timed out or never was", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn session_token(State(identity): AppState, session: SessionId) -> Result<Json<SessionToken>, Error> {
    Ok(Json(identity.session_token(&session.0).await?))
}

/// Sign out: the session ends at once.
#[utoipa::path(delete, path = "/api/v1/identity/staff/sessions/current", tags = ["identity", "staff"],
    params(("x-staff-session" = String, Header, description = "The session id")),
    responses((status = 204, description = "Signed out (also when the session had ended)")))]
pub async fn end_session(State(identity): AppState, session: SessionId) -> Result<StatusCode, Error> {
    identity.end_session(&session.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new TOTP secret for an enrolling session, to show as a QR code.
#[utoipa::path(post, path = "/api/v1/identity/staff/sessions/current/totp", tags = ["identity", "staff"],
    params(("x-staff-session" = String, Header, description = "The session id")),
    responses(
        (status = 200, description = "A secret to enrol", body = Enrolment),
        (status = 409, description = "Already enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn begin_enrolment(State(identity): AppState, session: SessionId) -> Result<Json<Enrolment>, Error> {
    Ok(Json(identity.begin_enrolment(&session.0).await?))
}

/// Confirm the secret with the app's first code; answers the recovery codes, once.
#[utoipa::path(post, path = "/api/v1/identity/staff/sessions/current/totp/confirm", tags = ["identity", "staff"],
    params(("x-staff-session" = String, Header, description = "The session id")),
    request_body = EnrolmentCode,
    responses(
        (status = 200, description = "Enrolled; the session is active", body = RecoveryCodes),
        (status = 422, description = "Not the app's current code", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_enrolment(
    State(identity): AppState,
    session: SessionId,
    Json(code): Json<EnrolmentCode>,
) -> Result<Json<RecoveryCodes>, Error> {
    Ok(Json(identity.confirm_enrolment(&session.0, &code.code).await?))
}

/// Every staff account (admin).
#[utoipa::path(get, path = "/api/v1/identity/staff/accounts", tags = ["identity", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Accounts", body = Vec<StaffAccount>)))]
pub async fn accounts(State(identity): AppState, staff: Staff) -> Result<Json<Vec<StaffAccount>>, Error> {
    Ok(Json(identity.staff_accounts(&staff).await?))
}

/// Create a staff account (admin); it enrols an authenticator app at its first sign-in.
#[utoipa::path(post, path = "/api/v1/identity/staff/accounts", tags = ["identity", "staff"],
    security(("staff" = [])),
    request_body = NewStaff,
    responses(
        (status = 201, description = "Created", body = StaffAccount),
        (status = 409, description = "The email is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_account(
    State(identity): AppState,
    staff: Staff,
    Json(new): Json<NewStaff>,
) -> Result<(StatusCode, Json<StaffAccount>), Error> {
    Ok((StatusCode::CREATED, Json(identity.add_staff(&staff, new).await?)))
}

/// Change a staff member's roles, or disable or re-enable the account (admin).
#[utoipa::path(patch, path = "/api/v1/identity/staff/accounts/{id}", tags = ["identity", "staff"],
    security(("staff" = [])),
    request_body = StaffUpdate,
    responses((status = 200, description = "Updated", body = StaffAccount)))]
pub async fn update_account(
    State(identity): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(update): Json<StaffUpdate>,
) -> Result<Json<StaffAccount>, Error> {
    Ok(Json(identity.update_staff(&staff, id, update).await?))
}

/// Make a staff member enrol a new authenticator app at their next sign-in (admin).
#[utoipa::path(post, path = "/api/v1/identity/staff/accounts/{id}/reset-two-factor", tags = ["identity", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Their secret is gone and their sessions ended", body = StaffAccount)))]
pub async fn reset_two_factor(
    State(identity): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<StaffAccount>, Error> {
    Ok(Json(identity.reset_two_factor(&staff, id).await?))
}
