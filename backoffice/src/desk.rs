//! One request from a staff member's browser: the session cookie, the CSRF token bound to it,
//! and the API called as them.

use std::sync::Arc;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderName, HeaderValue, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use http::Method;
use pola_core::auth::{LISTENER_HEADER, Role};
use pola_identity::model::staff::{SESSION_HEADER, SessionState, SessionToken, StaffAccount};
use pola_storefront::client::{ApiReply, ApiRequest};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::{Backoffice, Error, PREFIX};

/// The session cookie: identity's opaque session id (`ss_…`) once signed in, before that a
/// random id (`an_…`) that the sign-in form's CSRF token is bound to.
pub const COOKIE: &str = "pola_staff";

/// A request, before knowing who sent it.
#[derive(Debug, Clone)]
pub struct Desk {
    id: String,
    /// The answer sets the cookie (a new visitor, or a sign-in or sign-out).
    set_cookie: bool,
    /// The client's address, the request id and trace, and the listener, for the API.
    forwarded: HeaderMap,
    /// This page's path and query.
    pub path: String,
}

impl Desk {
    fn read(parts: &Parts) -> Self {
        let found = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|text| Cookie::split_parse(text).flatten())
            .find(|c| c.name() == COOKIE && (c.value().starts_with("ss_") || c.value().starts_with("an_")))
            .map(|c| c.value().to_owned());
        let mut forwarded = HeaderMap::new();
        for name in [
            HeaderName::from_static("x-forwarded-for"),
            pola_core::http::X_REQUEST_ID.clone(),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static(LISTENER_HEADER),
        ] {
            if let Some(value) = parts.headers.get(&name) {
                forwarded.insert(name, value.clone());
            }
        }
        Self {
            set_cookie: found.is_none(),
            id: found.unwrap_or_else(anonymous_id),
            forwarded,
            path: parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        }
    }

    /// A desk for an error page: no session, and no cookie set by the answer.
    pub fn anonymous(path: &str) -> Self {
        Self {
            id: anonymous_id(),
            set_cookie: false,
            forwarded: HeaderMap::new(),
            path: path.to_owned(),
        }
    }

    /// Identity's session id, when signed in (or enrolling).
    pub fn session(&self) -> Option<&str> {
        self.id.starts_with("ss_").then_some(self.id.as_str())
    }

    /// Signed in: the cookie now holds `session`.
    pub fn signed_in(&mut self, session: String) {
        self.id = session;
        self.set_cookie = true;
    }

    /// Signed out: a new anonymous id (so the old CSRF tokens no longer count).
    pub fn signed_out(&mut self) {
        self.id = anonymous_id();
        self.set_cookie = true;
    }
}

fn anonymous_id() -> String {
    pola_core::token::random::<24>("an")
}

impl<S: Send + Sync> FromRequestParts<S> for Desk {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Desk::read(parts))
    }
}

/// A signed-in staff member, with a fresh access token for this request's API calls.
pub struct Staffer {
    pub desk: Desk,
    pub account: StaffAccount,
    token: String,
}

impl Staffer {
    /// Whether they hold one of `roles` (an admin holds them all).
    pub fn has(&self, roles: &[Role]) -> bool {
        let held = &self.account.roles.0;
        held.contains(&Role::Admin) || roles.iter().any(|r| held.contains(r))
    }

    /// Their access token, for a call the helpers do not cover.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// 403 unless they hold one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Error> {
        if self.has(roles) {
            Ok(())
        } else {
            tracing::warn!(staff.id = %self.account.id, path = %self.desk.path, "a back-office page was refused to a staff member without its role");
            Err(Error::Forbidden)
        }
    }
}

impl Backoffice {
    /// Calls the API with the request's forwarded headers, as `token`'s holder (if any).
    pub(crate) async fn send(&self, desk: &Desk, mut request: ApiRequest, token: Option<&str>) -> Result<ApiReply, Error> {
        request.headers.extend(desk.forwarded.clone());
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, &format!("Bearer {token}"));
        }
        Ok(self.api.send(request).await?)
    }

    /// Calls one of identity's session endpoints for the desk's session.
    pub(crate) async fn session_call(
        &self,
        desk: &Desk,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<ApiReply, Error> {
        let session = desk.session().ok_or_else(|| Error::SignIn(desk.path.clone()))?;
        let request = ApiRequest::new(method, path)
            .json(body)
            .header(HeaderName::from_static(SESSION_HEADER), session);
        self.send(desk, request, None).await
    }

    /// The signed-in staff member; to the sign-in page when the session ended, to enrolment
    /// when it has no authenticator yet.
    pub async fn staffer(&self, desk: Desk) -> Result<Staffer, Error> {
        let reply = self
            .session_call(
                &desk,
                Method::POST,
                "/api/v1/identity/staff/sessions/current/token",
                serde_json::json!({}),
            )
            .await?;
        if reply.status == http::StatusCode::UNAUTHORIZED {
            return Err(Error::SignIn(desk.path));
        }
        let live: SessionToken = reply.into_result()?;
        match (live.state, live.access_token) {
            (SessionState::Active, Some(token)) => Ok(Staffer {
                desk,
                account: live.staff,
                token,
            }),
            _ => Err(Error::Enrol),
        }
    }

    /// `GET` of a staff API resource as the staff member.
    pub(crate) async fn get<T: DeserializeOwned>(&self, staffer: &Staffer, path: &str) -> Result<T, Error> {
        let request = ApiRequest::new(Method::GET, path);
        Ok(self.send(&staffer.desk, request, Some(&staffer.token)).await?.into_result()?)
    }

    /// A write to the staff API as the staff member; the reply, refused or not.
    pub(crate) async fn write(
        &self,
        staffer: &Staffer,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<ApiReply, Error> {
        let request = ApiRequest::new(method, path).json(body);
        self.send(&staffer.desk, request, Some(&staffer.token)).await
    }

    /// The CSRF token of the desk's forms: an HMAC of its cookie's id.
    pub(crate) fn csrf_token(&self, desk: &Desk) -> String {
        pola_core::token::encode("cs", &self.mac(desk).finalize().into_bytes())
    }

    fn mac(&self, desk: &Desk) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf_key).expect("HMAC takes any key");
        mac.update(b"backoffice csrf\0");
        mac.update(desk.id.as_bytes());
        mac
    }

    /// A form's fields as `T`, after checking its CSRF token (`csrf`, compared in constant time).
    pub(crate) fn form<T: DeserializeOwned>(&self, desk: &Desk, body: &[u8]) -> Result<T, Error> {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| Error::BadForm)?;
        let token = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
        self.check_csrf(desk, token.unwrap_or_default())?;
        serde_urlencoded::from_bytes(body).map_err(|_| Error::BadForm)
    }

    /// 403 unless `token` is the desk's CSRF token.
    pub(crate) fn check_csrf(&self, desk: &Desk, token: &str) -> Result<(), Error> {
        let valid = pola_core::token::decode("cs", token).is_some_and(|bytes| self.mac(desk).verify_slice(&bytes).is_ok());
        if !valid {
            tracing::warn!(path = %desk.path, "a back-office form without its CSRF token was refused");
            return Err(Error::Csrf);
        }
        Ok(())
    }

    /// Sets the session cookie on `response` when it changed.
    pub(crate) fn keep(&self, desk: &Desk, response: &mut Response) {
        if !desk.set_cookie {
            return;
        }
        // No Max-Age: the server decides when a session ends; the browser forgets it on exit.
        let cookie = Cookie::build((COOKIE, desk.id.clone()))
            .path(PREFIX)
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure_cookies)
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }

    /// A redirect after a form (303), keeping the cookie.
    pub(crate) fn redirect(&self, desk: &Desk, to: &str) -> Response {
        let mut response = Redirect::to(to).into_response();
        self.keep(desk, &mut response);
        response
    }
}

/// Why the API refused a write, for the page to show again with it: its problem for a 4xx other
/// than 403 (a 403, and any failure, is the error page).
pub fn refusal(reply: ApiReply) -> Result<serde_json::Value, Error> {
    let status = reply.status;
    match reply.into_problem() {
        pola_storefront::client::ApiError::Refused(problem)
            if status.is_client_error() && status != http::StatusCode::FORBIDDEN =>
        {
            Ok(serde_json::to_value(&*problem).unwrap_or_default())
        }
        e => Err(e.into()),
    }
}

/// The office, as handlers take it.
pub type Office = axum::extract::State<Arc<Backoffice>>;
