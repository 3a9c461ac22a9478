//! The one error type handlers return, rendered as RFC 9457 `application/problem+json`.
//!
//! A 4xx carries a detail written for the client; a 5xx carries nothing but the request id, and
//! its cause is logged once, here, where the response is made.

use std::borrow::Cow;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::http::current_request_id;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field that failed validation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Name of the field, as the client sent it (`lines[0].quantity`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What went wrong, as far as the client needs to know.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// It existed and was removed for good (an erased customer's personal data).
    #[error("gone: {0}")]
    Gone(String),
    /// A state conflict the client can act on; `code` becomes the problem type's last segment,
    /// `extra` its extension members (for example what stock is available).
    #[error("conflict: {detail}")]
    Conflict {
        code: Cow<'static, str>,
        detail: String,
        extra: Map<String, Value>,
    },
    /// The request is well-formed but cannot be processed (RFC 9110 422).
    #[error("unprocessable: {detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// An OAuth 2.0 token endpoint error (RFC 6749 §5.2): `error` is `invalid_grant` and friends.
    #[error("oauth error {error}: {description}")]
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// Errors that arrive with their status already decided (extractor rejections).
    #[error("{status}: {detail}")]
    Status { status: StatusCode, detail: String },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Work this process bounds (password hashing) is at its limit: the request is shed at
    /// once, counted, and not logged one by one (a flood would flood the log too).
    #[error("busy: {0}")]
    Busy(String),
    /// This site's database takes no writes (a replica, or a fenced primary) or went away: the
    /// sites are switching, which takes seconds, so the client is told to retry in one.
    #[error("the database is not taking writes")]
    NotWritable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => Error::Unavailable("the database is busy".into()),
            // The database went away, or became a read-only replica, under the request: the
            // site is switching; the transaction did not commit, and the client may retry.
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %e, "the database is unreachable");
                Error::NotWritable
            }
            e if crate::db::is_read_only(&e) => {
                tracing::warn!(error = %e, "the database is read-only");
                Error::NotWritable
            }
            e => Error::Internal(e.into()),
        }
    }
}

impl Error {
    /// A failure that passes by itself: a database switching roles or away for a moment (the
    /// connection dropped, `read_only`), a pool or a service busy or briefly unreachable, work
    /// shed under load. Whoever meets one retries with back-off, however long it lasts; it is
    /// never parked or refused for good (as Pingora's errors carry a retry flag).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Busy(_) | Error::NotWritable)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict {
            code: Cow::Borrowed(code),
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Validation(_) | Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Gone(_) => StatusCode::GONE,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::OAuth { status, .. } | Error::Status { status, .. } => *status,
            Error::Unavailable(_) | Error::Busy(_) | Error::NotWritable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn problem_type(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Error::BadRequest(_) => "bad-request",
            Error::Validation(_) => "validation",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not-found",
            Error::Gone(_) => "gone",
            Error::Conflict { code, .. } => return code.clone(),
            Error::Unprocessable { code, .. } => code,
            Error::OAuth { error, .. } => error,
            Error::Status { status, .. } => match *status {
                StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
                StatusCode::UNPROCESSABLE_ENTITY => "validation",
                _ => "bad-request",
            },
            Error::Unavailable(_) | Error::NotWritable => "unavailable",
            Error::Busy(_) => "busy",
            Error::Internal(_) => "internal",
        })
    }
}

/// The problem document (RFC 9457) every error response carries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "https://pola.lk/problems/out-of-stock",
    "title": "Conflict",
    "status": 409,
    "detail": "Only 2 of SKU BATIK-M-BLUE are available",
    "request_id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d"
}))]
pub struct Problem {
    /// A URI naming the kind of problem; its last segment is a stable code.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    pub status: u16,
    /// What happened, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Quote this when you contact support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field errors, for validation problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 §3.2).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Problem {
    /// A problem of kind `code` (`https://pola.lk/problems/<code>`), titled by its status: what
    /// the services and the edge answer alike.
    pub fn new(status: StatusCode, code: &str, detail: Option<String>, request_id: Option<String>) -> Self {
        Self {
            kind: format!("https://pola.lk/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            request_id,
            errors: vec![],
            extra: Map::new(),
        }
    }

    /// The stable code at the end of the problem's type (`out-of-stock`).
    pub fn code(&self) -> &str {
        self.kind.rsplit('/').next().unwrap_or_default()
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let kind = self.problem_type();
        let switching = matches!(self, Error::NotWritable);
        let shed = matches!(self, Error::Busy(_));
        let request_id = current_request_id();
        // A refused change while the sites switch is expected: the site watch logs the switch.
        if status.is_server_error() && !switching && !shed {
            // The one place a 5xx is logged; the client sees only the request id.
            tracing::error!(error = ?self, http.status = status.as_u16(), "request failed");
        }
        let mut extra = Map::new();
        let (detail, errors) = match self {
            Error::Internal(_) => (Some("Something went wrong on our side.".to_owned()), vec![]),
            Error::NotWritable => (
                Some("The shop is not taking changes for a moment (it is switching sites); try again in a second.".to_owned()),
                vec![],
            ),
            Error::Validation(errors) => (Some("Some fields are not valid.".to_owned()), errors),
            Error::Conflict { detail, extra: e, .. } => {
                extra = e;
                (Some(detail), vec![])
            }
            Error::OAuth { error, description, .. } => {
                extra.insert("error".into(), Value::from(error));
                extra.insert("error_description".into(), Value::from(description.clone()));
                (Some(description), vec![])
            }
            Error::BadRequest(d)
            | Error::Unauthorized(d)
            | Error::Forbidden(d)
            | Error::NotFound(d)
            | Error::Gone(d)
            | Error::Unavailable(d)
            | Error::Busy(d)
            | Error::Unprocessable { detail: d, .. }
            | Error::Status { detail: d, .. } => (Some(d), vec![]),
        };
        let problem = Problem {
            errors,
            extra,
            ..Problem::new(status, &kind, detail, request_id)
        };
        let mut response = problem_response(status, &problem);
        if switching || shed {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}
