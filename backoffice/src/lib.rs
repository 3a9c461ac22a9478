//! The back-office: the pages staff work the shop with all day, server-rendered over the staff
//! JSON API (the same one curl reaches), as the staff member signed in: a page can do nothing
//! their roles could not do through the API, and the API writes the audit trail.
//!
//! Served under `/backoffice/` only to requests that came through the edge's staff listener
//! (open to the VPN ranges only); anything else is told there is nothing here. Staff sign in
//! with email, password and an authenticator app's code into a server-side session (identity
//! keeps it; the browser holds an opaque id in an HttpOnly, SameSite=Strict cookie), which ends
//! at sign-out, after half an hour idle or ten hours in all. Every form carries a CSRF token
//! bound to the session.

mod desk;
mod pages;
mod templates;

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use minijinja::Environment;
use pola_core::{auth::LISTENER_HEADER, config::BackofficeConfig};
use pola_storefront::{
    assets::Assets,
    client::{ApiClient, ApiError},
};

pub use crate::desk::{Desk, Staffer};

pub const SERVICE: &str = "backoffice";

/// The roles that work orders (the orders and payments APIs say the same).
const ORDER_ROLES: [pola_core::auth::Role; 3] = [
    pola_core::auth::Role::Fulfilment,
    pola_core::auth::Role::Finance,
    pola_core::auth::Role::Support,
];

/// Where the back-office lives on the staff listener.
pub const PREFIX: &str = "/backoffice";

/// The staff's web app.
pub struct Backoffice {
    api: Arc<dyn ApiClient>,
    templates: Environment<'static>,
    assets: Arc<Assets>,
    /// Keys the CSRF tokens (derive it from the signing key, so every process agrees).
    csrf_key: [u8; 32],
    secure_cookies: bool,
}

impl Backoffice {
    pub fn new(api: Arc<dyn ApiClient>, config: &BackofficeConfig, csrf_key: [u8; 32]) -> anyhow::Result<Arc<Self>> {
        let mut assets = Assets::under("/backoffice/assets");
        assets.add(
            "desk.css",
            include_bytes!("../assets/desk.css").to_vec(),
            "text/css; charset=utf-8",
        );
        let assets = Arc::new(assets);
        Ok(Arc::new(Self {
            api,
            templates: templates::environment(assets.clone())?,
            assets,
            csrf_key,
            secure_cookies: config.secure_cookies,
        }))
    }

    /// The pages, each refused (404) unless the request came through the staff listener.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/backoffice", get(pages::to_dashboard))
            .route("/backoffice/", get(pages::dashboard))
            .route("/backoffice/sign-in", get(pages::sign_in_page).post(pages::sign_in))
            .route("/backoffice/sign-out", post(pages::sign_out))
            .route("/backoffice/enrol", get(pages::enrol_page).post(pages::enrol))
            .route("/backoffice/orders", get(pages::orders::list))
            .route("/backoffice/orders/{id}", get(pages::orders::order))
            .route("/backoffice/orders/{id}/pick-list", get(pages::orders::pick_list))
            .route("/backoffice/orders/{id}/address", post(pages::orders::reveal))
            .route("/backoffice/orders/{id}/{action}", post(pages::orders::act))
            .route("/backoffice/catalogue", get(pages::catalogue::list))
            .route("/backoffice/catalogue/export.csv", get(pages::catalogue::export))
            .route("/backoffice/catalogue/import", post(pages::catalogue::import))
            .route(
                "/backoffice/catalogue/products/{id}",
                get(pages::catalogue::product).post(pages::catalogue::save_product),
            )
            .route("/backoffice/catalogue/variants/{id}", post(pages::catalogue::save_variant))
            .route(
                "/backoffice/catalogue/products/{id}/variants",
                post(pages::catalogue::add_variant),
            )
            .route(
                "/backoffice/catalogue/products/{id}/pictures",
                post(pages::catalogue::add_picture)
                    .layer(axum::extract::DefaultBodyLimit::max(pages::catalogue::PICTURE_FORM_LIMIT)),
            )
            .route(
                "/backoffice/catalogue/products/{id}/pictures/{picture}",
                post(pages::catalogue::change_picture),
            )
            .route("/backoffice/payments", get(pages::payments::list))
            .route("/backoffice/payments/remittances", post(pages::payments::import_remittance))
            .route(
                "/backoffice/promotions",
                get(pages::promotions::list).post(pages::promotions::create),
            )
            .route("/backoffice/promotions/plans", post(pages::promotions::create_plan))
            .route(
                "/backoffice/promotions/{id}",
                get(pages::promotions::promotion).post(pages::promotions::change),
            )
            .route("/backoffice/stock", get(pages::stock::list))
            .route("/backoffice/stock/ledger", get(pages::stock::ledger))
            .route(
                "/backoffice/stock/variants/{id}",
                get(pages::stock::variant).post(pages::stock::count),
            )
            .route("/backoffice/customers", get(pages::customers::list))
            .route("/backoffice/customers/{id}", get(pages::customers::customer))
            .route("/backoffice/customers/{id}/reveal", post(pages::customers::reveal))
            .route("/backoffice/support", get(pages::support::list))
            .route("/backoffice/support/{id}", get(pages::support::ticket))
            .route("/backoffice/support/{id}/messages", post(pages::support::reply))
            .route("/backoffice/support/{id}/state", post(pages::support::change_state))
            .route("/backoffice/reports", get(pages::reports::list))
            .route("/backoffice/reports/{name}", get(pages::reports::report))
            .route("/backoffice/reports/{name}/csv", get(pages::reports::csv))
            .route("/backoffice/system", get(pages::system::overview))
            .route("/backoffice/system/route", get(pages::system::route))
            .route("/backoffice/system/traces/{id}", get(pages::system::trace))
            .route("/backoffice/system/logs", get(pages::system::logs))
            .route("/backoffice/staff", get(pages::staff::list).post(pages::staff::create))
            .route("/backoffice/staff/{id}", post(pages::staff::update))
            .route(
                "/backoffice/staff/{id}/reset-two-factor",
                post(pages::staff::reset_two_factor),
            )
            .route("/backoffice/audit", get(pages::staff::audit))
            .route("/backoffice/assets/{file}", get(serve_asset))
            .layer(middleware::from_fn_with_state(self.clone(), finish_page))
            .layer(middleware::from_fn(staff_listener_only))
            .with_state(self.clone())
    }
}

/// `GET /backoffice/assets/{file}`
async fn serve_asset(
    State(office): State<Arc<Backoffice>>,
    pola_core::extract::Path(file): pola_core::extract::Path<String>,
) -> Response {
    office.assets.serve(&file)
}

/// Nothing of the back-office answers a request that did not come through the staff listener:
/// the same bare 404 as any unknown address.
async fn staff_listener_only(request: Request, next: Next) -> Response {
    if request.headers().get(LISTENER_HEADER).is_some_and(|v| v == "staff") {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "a back-office request did not come through the staff listener: refused");
        StatusCode::NOT_FOUND.into_response()
    }
}

/// What can go wrong on a page.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// The staff member's roles do not allow this page or action.
    #[error("forbidden")]
    Forbidden,
    /// A form without this session's CSRF token.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("the form could not be read")]
    BadForm,
    /// Not signed in (or the session ended): to the sign-in page, then back to `.0`.
    #[error("not signed in")]
    SignIn(String),
    /// Signed in with a password, but no authenticator app yet.
    #[error("enrolment needed")]
    Enrol,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl IntoResponse for Error {
    /// A placeholder that [`finish_page`] turns into a page (or a redirect to sign in).
    fn into_response(self) -> Response {
        let status = match &self {
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Forbidden | Error::Csrf => StatusCode::FORBIDDEN,
            Error::BadForm => StatusCode::BAD_REQUEST,
            Error::SignIn(_) | Error::Enrol => StatusCode::SEE_OTHER,
            Error::Api(ApiError::Refused(problem)) => {
                StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Error::Api(ApiError::Unavailable(_)) | Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

/// The back-office's own files only; no inline script; forms post only here; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Turns failures into pages (or redirects) and puts the security headers on every answer.
async fn finish_page(State(office): State<Arc<Backoffice>>, request: Request, next: Next) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut response = next.run(request).await;
    if let Some(error) = response.extensions_mut().remove::<Arc<Error>>() {
        response = pages::error_page(&office, &error, response.status(), &path);
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Staff pages hold customers' orders: never stored, by any cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
