//! Storefront: the shop's web pages for customers, server-rendered in English, Sinhala and
//! Tamil over the same JSON API the mobile apps use (see `client.rs`). Every page and form works
//! without JavaScript; a small script only makes some of them quicker. Forms carry CSRF tokens,
//! the session lives in a sealed HttpOnly cookie, and the pages allow no inline script.

pub mod api;
pub mod assets;
pub mod client;
pub mod i18n;
pub mod model;
pub mod session;
pub mod support;
pub mod templates;

use std::sync::Arc;

use axum::{
    Router,
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use http::Method;
use minijinja::{Environment, Value, context, value::Serde};
use pola_core::{Language, config::StorefrontConfig};
use serde::de::DeserializeOwned;
use serde_json::json;
use uuid::Uuid;

use crate::{
    assets::Assets,
    client::{ApiClient, ApiError, ApiReply, ApiRequest, CART_TOKEN},
    session::{LANGUAGE_COOKIE, SESSION_COOKIE, Session, Sessions},
};

pub const SERVICE: &str = "storefront";

/// The web shop.
pub struct Storefront {
    api: Arc<dyn ApiClient>,
    templates: Environment<'static>,
    sessions: Sessions,
    assets: Arc<Assets>,
    /// Where customers reach the shop (`https://pola.lk`): canonical addresses and the sitemap.
    public_url: String,
    /// The Content-Security-Policy of every answer, made once (forms may also post to
    /// PayHere's checkout).
    csp: HeaderValue,
}

impl Storefront {
    /// `session_key` seals sessions (derive it from the shop's signing key, so that every
    /// process and both sites open the same cookies).
    pub fn new(
        api: Arc<dyn ApiClient>,
        config: StorefrontConfig,
        public_url: &str,
        form_targets: Vec<String>,
        session_key: [u8; 32],
    ) -> anyhow::Result<Arc<Self>> {
        let assets = Arc::new(Assets::load(config.fonts_dir.as_deref()));
        Ok(Arc::new(Self {
            api,
            templates: templates::environment(assets.clone())?,
            sessions: Sessions::new(session_key, config.secure_cookies),
            assets,
            public_url: public_url.trim_end_matches('/').to_owned(),
            csp: HeaderValue::from_str(&content_security_policy(&form_targets))?,
        }))
    }

    /// The pages. Every answer carries the shop's Content-Security-Policy; failures become pages
    /// in the customer's language.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(api::home))
            .route("/categories/{slug}", get(api::category))
            .route("/search", get(api::search))
            .route("/products/{id}", get(api::product))
            .route("/cart", get(api::cart))
            .route("/cart/lines", post(api::add_to_cart))
            .route("/cart/lines/{id}", post(api::change_cart_line))
            .route("/cart/codes", post(api::apply_codes))
            .route("/checkout", get(api::checkout).post(api::place_order))
            .route("/account", get(api::account))
            .route("/account/sign-in", get(api::sign_in_page).post(api::sign_in))
            .route("/account/sign-up", get(api::sign_up_page).post(api::sign_up))
            .route("/account/sign-out", post(api::sign_out))
            .route("/account/orders/{id}", get(api::order))
            .route("/account/support", get(support::support).post(support::open_ticket))
            .route("/account/support/{id}", get(support::ticket).post(support::reply))
            .route("/account/preferences", post(api::save_preferences))
            .route("/account/data.json", get(api::export_data))
            .route("/account/erase", post(api::erase_account))
            .route(
                "/account/forgot-password",
                get(api::forgot_password_page).post(api::forgot_password),
            )
            .route("/reset-password", get(api::reset_password_page).post(api::reset_password))
            .route("/help/{page}", get(api::help))
            .route("/language", post(api::choose_language))
            .route("/robots.txt", get(api::robots))
            .route("/sitemap.xml", get(api::sitemap))
            .route("/assets/{file}", get(assets::serve_asset))
            .layer(middleware::from_fn_with_state(self.clone(), finish_page))
            .with_state(self.clone())
    }

    /// Calls the API as the visitor: their access token (refreshed once when it has expired),
    /// their guest cart token, their address and request id. A new cart token or new tokens
    /// go into the session.
    async fn call(&self, visit: &mut Visit, request: ApiRequest) -> Result<ApiReply, ApiError> {
        let reply = self.api.send(self.as_visitor(visit, request.clone())).await?;
        let reply = match (reply.status, visit.session.refresh.clone()) {
            (StatusCode::UNAUTHORIZED, Some(refresh)) if visit.session.access.is_some() => {
                self.refresh(visit, refresh).await?;
                self.api.send(self.as_visitor(visit, request)).await?
            }
            _ => reply,
        };
        if let Some(token) = &reply.cart_token
            && !visit.session.signed_in()
        {
            visit.session.cart = Some(token.clone());
            visit.dirty = true;
        }
        Ok(reply)
    }

    fn as_visitor(&self, visit: &Visit, mut request: ApiRequest) -> ApiRequest {
        request.headers.extend(visit.forwarded.clone());
        if let Some(access) = &visit.session.access {
            request = request.header(header::AUTHORIZATION, &format!("Bearer {access}"));
        }
        if let Some(cart) = &visit.session.cart {
            request = request.header(http::HeaderName::from_static(CART_TOKEN), cart);
        }
        request
    }

    /// New tokens for an expired access token; a refused refresh signs the visitor out.
    async fn refresh(&self, visit: &mut Visit, refresh: String) -> Result<(), ApiError> {
        let request = ApiRequest::new(Method::POST, "/api/v1/identity/token")
            .json(json!({"grant_type": "refresh_token", "refresh_token": refresh}));
        let reply = self.api.send(request).await?;
        visit.dirty = true;
        match reply.into_result::<model::Tokens>() {
            Ok(tokens) => {
                visit.session.access = Some(tokens.access_token);
                visit.session.refresh = Some(tokens.refresh_token);
            }
            Err(ApiError::Refused(_)) => visit.session.sign_out(),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// `GET` of an API resource as `T`.
    async fn get<T: DeserializeOwned>(&self, visit: &mut Visit, path: &str) -> Result<T, Error> {
        Ok(self.call(visit, ApiRequest::new(Method::GET, path)).await?.into_result()?)
    }

    /// "Customers also bought" beside `products`: none when there are no products.
    async fn suggestions(&self, visit: &mut Visit, products: &[Uuid]) -> Vec<serde_json::Value> {
        if products.is_empty() {
            return vec![];
        }
        let ids: Vec<String> = products.iter().map(Uuid::to_string).collect();
        let path = format!("/api/v1/recommendations?products={}&limit=6", ids.join(","));
        let mut found: serde_json::Value = self.optional(visit, &path).await;
        match found["products"].take() {
            serde_json::Value::Array(products) => products,
            _ => vec![],
        }
    }

    /// What a page can do without (suggestions, offers, promotion prices): what the API says
    /// at `path`, or nothing when it cannot answer.
    async fn optional<T: DeserializeOwned + Default>(&self, visit: &mut Visit, path: &str) -> T {
        self.get(visit, path).await.unwrap_or_else(|e| {
            tracing::warn!(path, error = %e, "left out of the page");
            T::default()
        })
    }

    /// A page: `template` with `page`'s values and those every page has.
    fn page(&self, visit: &mut Visit, template: &str, page: Value) -> Result<Response, Error> {
        let flash = visit.session.flash.take();
        if flash.is_some() {
            visit.dirty = true;
        }
        let ctx = context! { lang => Value::from(Serde(&visit.language.code())), csrf => Value::from(Serde(&self.sessions.csrf_token(&visit.session))), signed_in => Value::from(Serde(&visit.session.signed_in())), path => Value::from(Serde(&&visit.path)), canonical => Value::from(Serde(&format!("{}{}", self.public_url, visit.canonical_path()))), public_url => Value::from(Serde(&&self.public_url)), flash => Value::from(Serde(&flash)), ..page };
        let html = self
            .templates
            .get_template(template)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Unavailable(format!("template {template}: {e:#}")))?;
        let mut response = axum::response::Html(html).into_response();
        self.keep(visit, &mut response);
        Ok(response)
    }

    /// A redirect after a form (303: the browser follows with a GET).
    fn redirect(&self, visit: &Visit, to: &str) -> Response {
        let mut response = Redirect::to(to).into_response();
        self.keep(visit, &mut response);
        response
    }

    /// Sets the session and language cookies on `response` when they changed.
    fn keep(&self, visit: &Visit, response: &mut Response) {
        let headers = response.headers_mut();
        let mut set = |cookie: cookie::Cookie<'static>| {
            if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
                headers.append(header::SET_COOKIE, value);
            }
        };
        if visit.dirty {
            set(self.sessions.cookie(&visit.session));
        }
        if visit.language_chosen {
            set(self.sessions.language_cookie(visit.language.code()));
        }
    }

    /// A form's fields as `T`, after checking its CSRF token (`csrf`).
    fn form<T: DeserializeOwned>(&self, visit: &Visit, body: &[u8]) -> Result<T, Error> {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| Error::BadForm)?;
        let token = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
        if !token.is_some_and(|t| self.sessions.csrf_ok(&visit.session, t)) {
            return Err(Error::Csrf);
        }
        serde_urlencoded::from_bytes(body).map_err(|_| Error::BadForm)
    }
}

/// One request from a browser: its language, its session and what to pass on to the API.
pub struct Visit {
    pub language: Language,
    pub session: Session,
    /// The session changed: the answer sets its cookie.
    dirty: bool,
    /// The customer picked a language with `?lang=`: the answer remembers it.
    language_chosen: bool,
    /// The address the browser came from and the request id, for the API's logs and limits.
    forwarded: HeaderMap,
    /// This page's path and query.
    pub path: String,
}

impl Visit {
    fn read(parts: &Parts, sessions: &Sessions) -> Self {
        let mut session = None;
        let mut cookie_language = None;
        for header in parts.headers.get_all(header::COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for cookie in cookie::Cookie::split_parse(text).flatten() {
                match cookie.name() {
                    SESSION_COOKIE => session = sessions.open(cookie.value()),
                    LANGUAGE_COOKIE => cookie_language = i18n::parse_code(cookie.value()),
                    _ => {}
                }
            }
        }
        let asked = parts.uri.query().and_then(|q| {
            form_pairs(q)
                .into_iter()
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| i18n::parse_code(&v))
        });
        let browser = || {
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(i18n::from_accept_language)
        };
        let language = asked.or(cookie_language).or_else(browser).unwrap_or_default();
        let mut forwarded = HeaderMap::new();
        for name in [
            http::HeaderName::from_static("x-forwarded-for"),
            pola_core::http::X_REQUEST_ID.clone(),
            http::HeaderName::from_static("traceparent"),
        ] {
            if let Some(value) = parts.headers.get(&name) {
                forwarded.insert(name, value.clone());
            }
        }
        let dirty = session.is_none();
        Self {
            language,
            session: session.unwrap_or_else(Session::new),
            dirty,
            language_chosen: asked.is_some_and(|a| Some(a) != cookie_language),
            forwarded,
            path: parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        }
    }

    /// This page's address without the visitor's choices that do not change what it shows to
    /// a search engine (`lang` aside, every query parameter counts).
    fn canonical_path(&self) -> String {
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let kept: Vec<(String, String)> = form_pairs(query).into_iter().filter(|(k, _)| k != "lang").collect();
        match kept.is_empty() {
            true => path.to_owned(),
            false => format!("{path}?{}", serde_urlencoded::to_string(kept).unwrap_or_default()),
        }
    }
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

impl FromRequestParts<Arc<Storefront>> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, shop: &Arc<Storefront>) -> Result<Self, Self::Rejection> {
        Ok(Visit::read(parts, &shop.sessions))
    }
}

/// What can go wrong on a page; each becomes a page in the customer's language.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// A form without this session's CSRF token.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("the form could not be read")]
    BadForm,
    /// The API refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl IntoResponse for Error {
    /// A placeholder that [`finish_page`] turns into the error page.
    fn into_response(self) -> Response {
        let status = match &self {
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Csrf => StatusCode::FORBIDDEN,
            Error::BadForm => StatusCode::BAD_REQUEST,
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

/// The Content-Security-Policy of every page: the shop's own files only, no inline script or
/// style, forms posted only to the shop (and to PayHere's checkout, configured), no framing.
fn content_security_policy(form_targets: &[String]) -> String {
    let mut form_action = "'self'".to_owned();
    for origin in form_targets {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// Turns failures into pages and puts the security headers on every answer.
async fn finish_page(State(shop): State<Arc<Storefront>>, request: Request, next: Next) -> Response {
    // The visit (its session opened) is read again only for an error page: handlers read
    // their own, and most answers are not errors.
    let (uri, request_headers) = (request.uri().clone(), request.headers().clone());
    let mut response = next.run(request).await;
    if let Some(error) = response.extensions_mut().remove::<Arc<Error>>() {
        let mut head = http::Request::new(());
        *head.uri_mut() = uri;
        *head.headers_mut() = request_headers;
        let (head, ()) = head.into_parts();
        let mut visit = Visit::read(&head, &shop.sessions);
        response = error_page(&shop, &mut visit, &error, response.status());
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, shop.csp.clone());
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages carry a CSRF token and the visitor's cart: never kept by a shared cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    }
    response
}

fn error_page(shop: &Storefront, visit: &mut Visit, error: &Error, status: StatusCode) -> Response {
    let key = match error {
        Error::NotFound => "error.not_found",
        Error::Csrf => "error.csrf",
        Error::BadForm => "error.bad_form",
        Error::Api(ApiError::Refused(problem)) if problem.status == 404 => "error.not_found",
        Error::Api(ApiError::Refused(_)) => "error.refused",
        Error::Api(ApiError::Unavailable(_)) | Error::Unavailable(_) => "error.unavailable",
    };
    let request_id = match error {
        Error::Api(ApiError::Refused(problem)) => problem.request_id.clone(),
        _ => None,
    };
    if status.is_server_error() {
        tracing::error!(error = %error, "a page failed");
    }
    let page = context! { message => Value::from(Serde(&key)), status => Value::from(Serde(&status.as_u16())), request_id => Value::from(Serde(&request_id)) };
    match shop.page(visit, "error.html", page) {
        Ok(mut response) => {
            *response.status_mut() = status;
            response
        }
        Err(_) => status.into_response(),
    }
}
