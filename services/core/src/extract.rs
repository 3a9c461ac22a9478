//! `Json`, `Path` and `Query` that reject with our problem+json instead of axum's plain text.
//! The bare axum extractors are banned by clippy's `disallowed-types` (see `clippy.toml`).
#![expect(clippy::disallowed_types, reason = "this module is where the wrappers are made")]

use axum::{
    extract::{FromRequest, FromRequestParts, rejection::*},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::Error;

/// A JSON body. Rejections: 400 malformed, 413 too large, 415 wrong content type, 422 wrong shape.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; a malformed id is a 404, since no resource has that name.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

/// Query parameters; a malformed one is a 400.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        Error::Status {
            status: r.status(),
            // A parser's message can quote the client's input; personal data is not echoed.
            detail: crate::redact::redact(&r.body_text()).into_owned(),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(_: PathRejection) -> Self {
        Error::NotFound("No resource has that id.".into())
    }
}

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::BadRequest(crate::redact::redact(&r.body_text()).into_owned())
    }
}
